//! The simulator in the browser: run `simulate` — a generated shop through the programme
//! library on a virtual clock, on a throw-away database, sending nothing — for the library as
//! it is, or side by side with a changed programme pasted into the form, and see contacts
//! per customer against the band (FR1), per channel and class (CH1), what each programme did
//! and why messages were blocked. The programme files stay the source of truth: a change is
//! only simulated, never saved.
//!
//! Each run is the lab's ([`aftercare_lab::trial::simulate`]): a throw-away engine beside
//! the live one. One simulation runs at a time; the last ten are kept in memory with who
//! started them, and each start is in the audit log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aftercare_engine::reports::SimulationReport;
pub use aftercare_lab::trial::{LiveContent, ProgrammeChange, SimulationRequest};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team};
use super::dashboards::band_chart;
use super::{AdminResult, Lang, html, not_found, page, render};
use crate::AppState;

/// How far a simulation is, in days.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Records `done` of `total` days.
    pub fn set(&self, done: u64, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }

    /// (days done, days).
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// The most runs kept.
const KEPT: usize = 10;

/// Simulations started from the UI, newest first.
#[derive(Clone, Default)]
pub struct Runs {
    inner: Arc<Mutex<RunList>>,
}

#[derive(Default)]
struct RunList {
    next_id: u64,
    runs: Vec<Run>,
}

struct Run {
    id: u64,
    by: String,
    started_at: Timestamp,
    customers: usize,
    days: i64,
    seed: u64,
    change: Option<String>,
    /// The changed programme's text exactly, to know which draft this run simulated.
    draft: Option<ProgrammeChange>,
    baseline: Arc<Progress>,
    changed: Option<Arc<Progress>>,
    state: RunState,
}

enum RunState {
    Running,
    Done(Box<SimulationReport>, Option<Box<SimulationReport>>),
    Failed(String),
}

/// The days a simulation must cover before its draft may be published: the band is yearly.
pub const YEAR_DAYS: i64 = 365;

/// What the simulator knows of a programme's draft (issue 21: draft → simulate → publish).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DraftSimulation {
    /// No run of exactly this text is kept.
    Missing,
    /// The newest run of it (its number) is still going.
    Running(u64),
    /// The newest run of it failed.
    Failed(u64),
    /// The newest run of it covered fewer days than a year.
    Short {
        /// The run.
        id: u64,
        /// Its days.
        days: i64,
    },
    /// The newest run of it covered a year: with the draft against the library as it is.
    Done {
        /// The run.
        id: u64,
        /// Customers above the band with the draft, and without it.
        above_band: (usize, usize),
        /// Customers above the attention ceiling with the draft, and without it.
        above_ceiling: (usize, usize),
        /// Share of active, marketing-consented customers in the band, with the draft.
        in_band: f64,
    },
}

impl DraftSimulation {
    /// The run it was found in, if any.
    pub fn run(&self) -> Option<u64> {
        match *self {
            Self::Missing => None,
            Self::Running(id) | Self::Failed(id) => Some(id),
            Self::Short { id, .. } | Self::Done { id, .. } => Some(id),
        }
    }

    /// Why the draft may not be published yet, in the team's language, as a sentence to
    /// follow the field name (`simulation: …`); `None` when it may:
    /// a year was simulated with it and it put nobody above the band or the ceiling who
    /// was not there without it.
    pub fn refusal(&self, lang: Lang) -> Option<String> {
        match *self {
            Self::Missing => Some(lang.pick(
                "simulate this draft over a year first with \u{201c}Simulate this draft beside the library as it is\u{201d}, then publish",
                "simuleer dit concept eerst over een jaar met \u{201c}Dit concept simuleren naast de huidige bibliotheek\u{201d} en publiceer dan",
            ).into()),
            Self::Running(id) => Some(match lang {
                Lang::En => format!("simulation {id} of this draft is still running; publish when it is done"),
                Lang::Nl => format!("simulatie {id} van dit concept loopt nog; publiceer als ze klaar is"),
            }),
            Self::Failed(id) => Some(match lang {
                Lang::En => format!("simulation {id} of this draft failed; simulate it again"),
                Lang::Nl => format!("simulatie {id} van dit concept is mislukt; simuleer het opnieuw"),
            }),
            Self::Short { id, days } => Some(match lang {
                Lang::En => format!("simulation {id} covered {days} days; the band is yearly, so simulate at least {YEAR_DAYS}"),
                Lang::Nl => format!("simulatie {id} besloeg {days} dagen; de bandbreedte geldt per jaar, dus simuleer er minstens {YEAR_DAYS}"),
            }),
            Self::Done { id, above_band: (with, without), .. } if with > without => Some(match lang {
                Lang::En => format!("in simulation {id} this draft put {with} customers above the yearly band (without it: {without})"),
                Lang::Nl => format!("in simulatie {id} bracht dit concept {with} klanten boven de jaarlijkse bandbreedte (zonder: {without})"),
            }),
            Self::Done { id, above_ceiling: (with, without), .. } if with > without => Some(match lang {
                Lang::En => format!("in simulation {id} this draft put {with} customers above the attention ceiling (without it: {without})"),
                Lang::Nl => format!("in simulatie {id} bracht dit concept {with} klanten boven het aandachtsplafond (zonder: {without})"),
            }),
            Self::Done { .. } => None,
        }
    }
}

impl Runs {
    /// What the newest kept run of exactly this change found.
    pub fn of_draft(&self, change: &ProgrammeChange) -> DraftSimulation {
        let list = self.lock();
        let Some(run) = list.runs.iter().find(|r| r.draft.as_ref() == Some(change)) else {
            return DraftSimulation::Missing;
        };
        match &run.state {
            RunState::Running => DraftSimulation::Running(run.id),
            RunState::Failed(_) => DraftSimulation::Failed(run.id),
            RunState::Done(..) if run.days < YEAR_DAYS => DraftSimulation::Short {
                id: run.id,
                days: run.days,
            },
            RunState::Done(baseline, changed) => {
                let with = changed.as_deref().unwrap_or(baseline);
                DraftSimulation::Done {
                    id: run.id,
                    above_band: (with.above_band, baseline.above_band),
                    above_ceiling: (with.above_ceiling, baseline.above_ceiling),
                    in_band: with.active_marketing_in_band,
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunList> {
        // A panic while holding the lock leaves plain data behind; go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, id: u64, state: RunState) {
        if let Some(run) = self.lock().runs.iter_mut().find(|r| r.id == id) {
            run.state = state;
        }
    }
}

/// The simulator form.
#[derive(Debug, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    customers: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    programme: String,
    #[serde(default)]
    text: String,
}

/// `?programme=ID` fills the form with that programme's text.
#[derive(Debug, Deserialize)]
pub struct Prefill {
    programme: Option<String>,
}

fn run_rows(runs: &Runs, lang: Lang) -> Vec<Value> {
    runs.lock()
        .runs
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "by": r.by, "started_at": r.started_at.strftime("%Y-%m-%d %H:%M").to_string(),
                "customers": r.customers, "days": r.days, "seed": r.seed, "change": r.change,
                "state": match r.state {
                    RunState::Running => lang.pick("running", "bezig"),
                    RunState::Done(..) => lang.pick("done", "klaar"),
                    RunState::Failed(_) => lang.pick("failed", "mislukt"),
                },
            })
        })
        .collect()
}

/// `GET /admin/simulator`.
pub async fn form(
    State(app): State<AppState>,
    team: Team,
    Extension(runs): Extension<Runs>,
    Query(prefill): Query<Prefill>,
) -> AdminResult {
    let library = app.engine.programmes();
    let programmes = library.current();
    let wanted = prefill.programme.as_deref().map(str::trim);
    let chosen = wanted.and_then(|id| programmes.get(id));
    // A programme being edited is simulated as its draft (issue 21: draft → simulate →
    // publish), also one begun in the editor and not live yet.
    let draft = match wanted {
        Some(id) => {
            let mut tx = app.store.begin_read().await?;
            let d = tx.draft(aftercare_store::Content::Programme, id).await?;
            tx.commit().await?;
            d.map(|d| d.definition)
        }
        None => None,
    };
    let id = match (chosen, &draft) {
        (Some(p), _) => p.id.clone(),
        (None, Some(_)) => wanted.unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    let form = json!({
        "customers": "200", "days": "365", "seed": "7",
        "programme": id,
        "text": draft.or_else(|| chosen.map(|p| p.text.clone())).unwrap_or_default(),
    });
    form_page(&app, &team, &runs, form, &[], StatusCode::OK)
}

fn form_page(
    app: &AppState,
    team: &Team,
    runs: &Runs,
    form: Value,
    errors: &[String],
    status: StatusCode,
) -> AdminResult {
    let mut ids: Vec<String> = app
        .engine
        .programmes()
        .current()
        .programmes
        .keys()
        .cloned()
        .collect();
    // A programme begun in the editor is not in the library yet: it is added.
    if let Some(id) = form["programme"].as_str()
        && !id.is_empty()
        && !ids.iter().any(|i| i == id)
    {
        ids.push(id.to_string());
    }
    let body = render(
        team.lang,
        Some(team),
        "simulator.html",
        json!({
            "section": "simulator", "form": form,
            "errors": errors, "programmes": ids, "runs": run_rows(runs, team.lang),
            "can_run": team.role >= Role::Editor,
        }),
    )?;
    Ok(html(status, body))
}

/// Parses the form; errors name the field and the reason.
fn parse(form: &StartForm, lang: Lang) -> Result<(usize, i64, u64), Vec<String>> {
    let mut errors = Vec::new();
    let mut number = |field: &str, value: &str, min: i64, max: i64| -> i64 {
        match value.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                errors.push(match lang {
                    Lang::En => format!("{field}: a whole number from {min} to {max}"),
                    Lang::Nl => format!("{field}: een heel getal van {min} tot en met {max}"),
                });
                min
            }
        }
    };
    let customers = number("customers", &form.customers, 10, 5000);
    let days = number("days", &form.days, 7, 730);
    let seed = number("seed", &form.seed, 0, i64::from(u32::MAX));
    if errors.is_empty() {
        Ok((
            usize::try_from(customers).unwrap_or(10),
            days,
            u64::try_from(seed).unwrap_or(0),
        ))
    } else {
        Err(errors)
    }
}

/// `POST /admin/simulator`: checks the form and the change, then starts the run.
pub async fn start(
    State(app): State<AppState>,
    team: Team,
    Extension(runs): Extension<Runs>,
    Form(form): Form<StartForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let again = |errors: Vec<String>, status: StatusCode| {
        let echo = json!({"customers": form.customers, "days": form.days, "seed": form.seed,
            "programme": form.programme, "text": form.text});
        form_page(&app, &team, &runs, echo, &errors, status)
    };
    let (customers, days, seed) = match parse(&form, team.lang) {
        Ok(v) => v,
        Err(errors) => return again(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let change = if form.text.trim().is_empty() {
        None
    } else {
        let programme_id = form.programme.trim().to_string();
        if programme_id.is_empty() {
            return again(
                vec![
                    team.lang
                        .pick(
                            "programme: choose the programme the text replaces",
                            "programme: kies het programma dat de tekst vervangt",
                        )
                        .into(),
                ],
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        let change = ProgrammeChange {
            programme_id,
            text: form.text.replace("\r\n", "\n"),
        };
        if let Err(findings) = app
            .engine
            .check_simulated_programme(&change.programme_id, &change.text)
        {
            let errors = findings
                .into_iter()
                .map(|f| format!("text: line {}, column {}: {}", f.line, f.column, f.reason))
                .collect();
            return again(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Some(change)
    };
    let now = app.clock.now();
    let live = LiveContent::of(&app.engine).await?;
    let request = SimulationRequest {
        customers,
        days,
        seed,
        start: now.round(jiff::Unit::Day).unwrap_or(now),
        change: change.clone(),
        live,
    };
    let (id, baseline, changed) =
        {
            let mut list = runs.lock();
            if list
                .runs
                .iter()
                .any(|r| matches!(r.state, RunState::Running))
            {
                drop(list);
                return again(
                    vec![team.lang.pick(
                    "simulator: another simulation is still running; wait for it to finish",
                    "simulator: er loopt nog een simulatie; wacht tot die klaar is",
                ).into()],
                    StatusCode::CONFLICT,
                );
            }
            list.next_id += 1;
            let id = list.next_id;
            let baseline = Arc::new(Progress::default());
            let changed = change.as_ref().map(|_| Arc::new(Progress::default()));
            list.runs.insert(
                0,
                Run {
                    id,
                    by: team.username.clone(),
                    started_at: now,
                    customers,
                    days,
                    seed,
                    change: change.as_ref().map(|c| c.programme_id.clone()),
                    draft: change.clone(),
                    baseline: baseline.clone(),
                    changed: changed.clone(),
                    state: RunState::Running,
                },
            );
            list.runs.truncate(KEPT);
            (id, baseline, changed)
        };
    let mut tx = app.store.begin().await?;
    tx.audit(
        &team.username,
        "simulation.start",
        &format!("simulation:{id}"),
        None,
        Some(
            &json!({"customers": customers, "days": days, "seed": seed,
            "change": change.as_ref().map(|c| &c.programme_id)})
            .to_string(),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let background = runs.clone();
    tokio::spawn(async move {
        let as_is = SimulationRequest {
            change: None,
            ..request.clone()
        };
        let engine = app.engine.clone();
        let run = |request: SimulationRequest, progress: Arc<Progress>| {
            let engine = engine.clone();
            async move {
                aftercare_lab::trial::simulate(&engine, &request, &|done, total| {
                    progress.set(done, total);
                })
                .await
                .map_err(|e| format!("{e:#}"))
            }
        };
        let state = match run(as_is, baseline).await {
            Err(e) => RunState::Failed(e),
            Ok(base) => match (request.change.is_some(), changed) {
                (true, Some(progress)) => match run(request, progress).await {
                    Ok(other) => RunState::Done(Box::new(base), Some(Box::new(other))),
                    Err(e) => RunState::Failed(e),
                },
                _ => RunState::Done(Box::new(base), None),
            },
        };
        background.finish(id, state);
    });
    Ok(Redirect::to(&format!("/admin/simulator/{id}")).into_response())
}

fn percent(share: f64) -> String {
    format!("{:.0}%", 100.0 * share)
}

/// One simulation's figures for the page.
fn report_view(lang: Lang, title: &str, r: &SimulationReport) -> Value {
    let histogram: Vec<(i64, i64)> = r
        .contacts_per_customer
        .iter()
        .map(|(c, n)| (*c, i64::try_from(*n).unwrap_or(i64::MAX)))
        .collect();
    let (bars, chart) = band_chart(
        lang,
        &format!(
            "{title}: {}",
            lang.pick(
                "customers by contacts a year",
                "klanten naar contacten per jaar"
            )
        ),
        lang.pick(
            "relationship and promotional contacts a year",
            "relatie- en promotiecontacten per jaar",
        ),
        &histogram,
        r.band,
    );
    json!({
        "title": title, "chart": chart, "customers": r.customers, "joined_during": r.joined_during,
        "band": format!("{}–{}", r.band.0, r.band.1), "in_band": percent(r.in_band),
        "above_band": r.above_band, "active": r.active_marketing_customers,
        "active_in_band": percent(r.active_marketing_in_band),
        "bars": bars.iter().map(|(l, n, _)| json!({"label": l, "customers": n})).collect::<Vec<_>>(),
        "channels": r.by_channel_class.iter().map(|c| json!({"channel": c.channel, "class": c.class,
            "messages": c.messages, "per_customer": format!("{:.2}", c.per_customer)})).collect::<Vec<_>>(),
        "blocked": r.blocked.iter().take(12).map(|(reason, n)| json!({"reason": reason, "n": n})).collect::<Vec<_>>(),
        "attention": r.attention_histogram.iter().map(|(bucket, n)| json!({"bucket": bucket, "customers": n})).collect::<Vec<_>>(),
        "attention_max": r.attention_max, "above_ceiling": r.above_ceiling,
        "repeats": r.repeats, "repeat_days": r.repeat_days, "moments_squeezed": r.moments_squeezed,
    })
}

/// Per programme: the figures of the library as it is and, with a change, of the change.
fn programme_rows(base: &SimulationReport, changed: Option<&SimulationReport>) -> Vec<Value> {
    let figures = |r: &SimulationReport, id: &str| {
        r.programmes.get(id).map(|p| {
            let m = |s: &str| p.messages.get(s).copied().unwrap_or(0);
            json!({"enrolled": p.enrolled, "held_out": p.held_out, "goals": p.goals_reached,
                "sent": m("sent"), "blocked": m("blocked") + m("failed")})
        })
    };
    let mut ids: std::collections::BTreeSet<&String> = base.programmes.keys().collect();
    if let Some(c) = changed {
        ids.extend(c.programmes.keys());
    }
    ids.into_iter()
        .map(|id| {
            json!({"id": id, "base": figures(base, id),
                "changed": changed.and_then(|c| figures(c, id))})
        })
        .collect()
}

/// `GET /admin/simulator/{id}`.
pub async fn show(
    team: Team,
    Extension(runs): Extension<Runs>,
    Path(id): Path<u64>,
) -> AdminResult {
    let lang = team.lang;
    let list = runs.lock();
    let Some(run) = list.runs.iter().find(|r| r.id == id) else {
        drop(list);
        return Err(not_found(
            &team,
            lang.pick(
                "No such simulation (the last ten are kept).",
                "Die simulatie bestaat niet (de laatste tien worden bewaard).",
            ),
        ));
    };
    let progress = |p: &Progress| {
        let (done, total) = p.get();
        json!({"done": done, "total": total})
    };
    let mut ctx = json!({
        "section": "simulator", "id": run.id, "by": run.by,
        "started_at": run.started_at.strftime("%Y-%m-%d %H:%M").to_string(),
        "customers": run.customers, "days": run.days, "seed": run.seed, "change": run.change,
        "baseline_progress": progress(&run.baseline),
        "changed_progress": run.changed.as_deref().map(progress),
    });
    match &run.state {
        RunState::Running => ctx["running"] = true.into(),
        RunState::Failed(e) => ctx["error"] = e.clone().into(),
        RunState::Done(base, changed) => {
            let as_is = lang.pick("Library as it is", "Bibliotheek zoals ze is");
            let mut reports = vec![report_view(lang, as_is, base)];
            if let (Some(c), Some(id)) = (changed, &run.change) {
                let title = match lang {
                    Lang::En => format!("With the change to {id}"),
                    Lang::Nl => format!("Met de wijziging in {id}"),
                };
                reports.push(report_view(lang, &title, c));
            }
            ctx["reports"] = reports.into();
            ctx["programmes"] = programme_rows(base, changed.as_deref()).into();
        }
    }
    drop(list);
    page(&team, "simulation.html", ctx)
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(customers: &str, days: &str, seed: &str) -> StartForm {
        StartForm {
            customers: customers.into(),
            days: days.into(),
            seed: seed.into(),
            ..StartForm::default()
        }
    }

    #[test]
    fn the_form_names_each_bad_field_and_its_range() {
        assert_eq!(parse(&form("200", "365", "7"), Lang::En), Ok((200, 365, 7)));
        let errors = parse(&form("9", "a year", "-1"), Lang::En).unwrap_err();
        assert_eq!(
            errors,
            [
                "customers: a whole number from 10 to 5000",
                "days: a whole number from 7 to 730",
                "seed: a whole number from 0 to 4294967295",
            ]
        );
    }

    fn report(above_band: usize, above_ceiling: usize) -> Box<SimulationReport> {
        Box::new(SimulationReport {
            days: 365,
            customers: 10,
            joined_during: 0,
            programmes: Default::default(),
            blocked: Vec::new(),
            held: Vec::new(),
            contacts_histogram: Default::default(),
            contacts_per_customer: Default::default(),
            band: (7, 9),
            by_channel_class: Vec::new(),
            in_band: 1.0,
            active_marketing_customers: 10,
            active_marketing_in_band: 1.0,
            above_band,
            attention_histogram: Default::default(),
            attention_max: 18,
            above_ceiling,
            repeats: 0,
            repeat_days: 28,
            moments_squeezed: 0,
        })
    }

    fn run(id: u64, days: i64, text: &str, state: RunState) -> Run {
        Run {
            id,
            by: "eva".into(),
            started_at: Timestamp::UNIX_EPOCH,
            customers: 10,
            days,
            seed: 3,
            change: Some("p".into()),
            draft: Some(ProgrammeChange {
                programme_id: "p".into(),
                text: text.into(),
            }),
            baseline: Arc::default(),
            changed: None,
            state,
        }
    }

    #[test]
    fn only_a_finished_year_of_exactly_the_draft_lets_it_be_published() {
        let runs = Runs::default();
        let draft = ProgrammeChange {
            programme_id: "p".into(),
            text: "version = 2".into(),
        };
        assert_eq!(runs.of_draft(&draft), DraftSimulation::Missing);
        let done = || RunState::Done(report(0, 1), Some(report(0, 1)));
        // Newest first, as the list keeps them.
        runs.lock().runs = vec![run(3, 365, "version = 2 # other", done())];
        assert_eq!(runs.of_draft(&draft), DraftSimulation::Missing);
        runs.lock()
            .runs
            .insert(0, run(4, 30, "version = 2", done()));
        assert!(matches!(
            runs.of_draft(&draft),
            DraftSimulation::Short { id: 4, days: 30 }
        ));
        runs.lock()
            .runs
            .insert(0, run(5, 365, "version = 2", RunState::Running));
        assert_eq!(runs.of_draft(&draft), DraftSimulation::Running(5));
        runs.lock().runs[0].state = done();
        let found = runs.of_draft(&draft);
        assert!(
            matches!(found, DraftSimulation::Done { id: 5, .. }),
            "{found:?}"
        );
        assert_eq!(found.refusal(Lang::En), None);
        // More customers above the ceiling with the draft than without: refused.
        runs.lock().runs[0].state = RunState::Done(report(0, 1), Some(report(0, 2)));
        let refusal = runs.of_draft(&draft).refusal(Lang::En).unwrap();
        assert!(
            refusal.contains("2 customers above the attention ceiling (without it: 1)"),
            "{refusal}"
        );
    }
}
