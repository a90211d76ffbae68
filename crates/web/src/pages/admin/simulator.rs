//! The simulator in the browser: run `simulate` — a generated shop through the programme
//! library on a virtual clock, on a throw-away database, sending nothing — for the library as
//! it is, or side by side with a changed programme pasted into the form, and see contacts
//! per customer against the band (FR1), per channel and class (CH1), what each programme did
//! and why messages were blocked. The programme files stay the source of truth: a change is
//! only simulated, never saved.
//!
//! Each run is a `simulation` job that a worker runs beside its work (issue 22: not in the
//! serving process), with the lab's throw-away engines ([`aftercare_lab::trial::simulate`]).
//! The runs are kept in the store — who started them, how far a worker is, what they found —
//! so every `serve` process shows the same; one runs at a time, and each start is in the
//! audit log.

use aftercare_engine::reports::SimulationReport;
pub use aftercare_lab::trial::ProgrammeChange;
use aftercare_store::{JobKind, NewSimulation, Simulation};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team};
use super::dashboards::band_chart;
use super::{AdminResult, Lang, html, not_found, page, render};
use crate::AppState;

/// The most runs listed.
const LISTED: i64 = 10;

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

impl DraftSimulation {
    /// What `run` — the newest kept run of exactly a draft, if any — found.
    pub fn of(run: Option<&Simulation>) -> DraftSimulation {
        let Some(run) = run else {
            return DraftSimulation::Missing;
        };
        let id = u64::try_from(run.id).unwrap_or(0);
        if run.finished_at.is_none() {
            return DraftSimulation::Running(id);
        }
        let Some(baseline) = run.report.as_deref().and_then(read_report) else {
            return DraftSimulation::Failed(id);
        };
        if run.error.is_some() {
            return DraftSimulation::Failed(id);
        }
        let changed = match run.changed_report.as_deref().map(read_report) {
            None => None,
            Some(Some(report)) => Some(report),
            Some(None) => return DraftSimulation::Failed(id),
        };
        if run.days < YEAR_DAYS {
            return DraftSimulation::Short { id, days: run.days };
        }
        let with = changed.as_ref().unwrap_or(&baseline);
        DraftSimulation::Done {
            id,
            above_band: (with.above_band, baseline.above_band),
            above_ceiling: (with.above_ceiling, baseline.above_ceiling),
            in_band: with.active_marketing_in_band,
        }
    }
}

/// What the newest kept run of exactly this change found.
pub async fn of_draft(
    tx: &mut aftercare_store::Tx,
    change: &ProgrammeChange,
) -> aftercare_store::Result<DraftSimulation> {
    let run = tx
        .simulation_of_draft(&change.programme_id, &change.text)
        .await?;
    Ok(DraftSimulation::of(run.as_ref()))
}

/// A stored report; `None` when it no longer reads (written by another version).
fn read_report(json: &str) -> Option<SimulationReport> {
    serde_json::from_str(json).ok()
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

/// When a stored run started, for the page.
fn at(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

fn run_rows(runs: &[Simulation], lang: Lang) -> Vec<Value> {
    runs.iter()
        .map(|r| {
            json!({
                "id": r.id, "by": r.started_by, "started_at": at(r.started_at),
                "customers": r.customers, "days": r.days, "seed": r.seed, "change": r.programme_id,
                "state": match (r.finished_at, &r.error, r.taken_at) {
                    (None, _, None) => lang.pick("waiting for a worker", "wacht op een worker"),
                    (None, _, Some(_)) => lang.pick("running", "bezig"),
                    (Some(_), None, _) => lang.pick("done", "klaar"),
                    (Some(_), Some(_), _) => lang.pick("failed", "mislukt"),
                },
            })
        })
        .collect()
}

/// `GET /admin/simulator`.
pub async fn form(
    State(app): State<AppState>,
    team: Team,
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
    form_page(&app, &team, form, &[], StatusCode::OK).await
}

async fn form_page(
    app: &AppState,
    team: &Team,
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
    let mut tx = app.store.begin_read().await?;
    let runs = tx.simulations(LISTED).await?;
    tx.commit().await?;
    let body = render(
        team.lang,
        Some(team),
        "simulator.html",
        json!({
            "section": "simulator", "form": form,
            "errors": errors, "programmes": ids, "runs": run_rows(&runs, team.lang),
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

/// `POST /admin/simulator`: checks the form and the change, then queues the run for a
/// worker.
pub async fn start(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<StartForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let echo = json!({"customers": form.customers, "days": form.days, "seed": form.seed,
        "programme": form.programme, "text": form.text});
    let (customers, days, seed) = match parse(&form, team.lang) {
        Ok(v) => v,
        Err(errors) => {
            return form_page(&app, &team, echo, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let change = if form.text.trim().is_empty() {
        None
    } else {
        let programme_id = form.programme.trim().to_string();
        if programme_id.is_empty() {
            let errors = [team
                .lang
                .pick(
                    "programme: choose the programme the text replaces",
                    "programme: kies het programma dat de tekst vervangt",
                )
                .to_string()];
            return form_page(&app, &team, echo, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        let change = ProgrammeChange {
            programme_id,
            text: form.text.replace("\r\n", "\n"),
        };
        if let Err(findings) = app
            .engine
            .check_simulated_programme(&change.programme_id, &change.text)
        {
            let errors: Vec<String> = findings
                .into_iter()
                .map(|f| format!("text: line {}, column {}: {}", f.line, f.column, f.reason))
                .collect();
            return form_page(&app, &team, echo, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Some(change)
    };
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let queued = tx
        .insert_simulation(
            &NewSimulation {
                started_by: &team.username,
                customers: i64::try_from(customers).unwrap_or(i64::MAX),
                days,
                seed: i64::try_from(seed).unwrap_or(i64::MAX),
                start_day: now.round(jiff::Unit::Day).unwrap_or(now),
                change: change
                    .as_ref()
                    .map(|c| (c.programme_id.as_str(), c.text.as_str())),
            },
            now,
        )
        .await?;
    let Some(id) = queued else {
        drop(tx);
        let errors = [team
            .lang
            .pick(
                "simulator: another simulation is still running; wait for it to finish",
                "simulator: er loopt nog een simulatie; wacht tot die klaar is",
            )
            .to_string()];
        return form_page(&app, &team, echo, &errors, StatusCode::CONFLICT).await;
    };
    tx.insert_job(JobKind::Simulation, id, now, now).await?;
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
    Ok(Redirect::to(&format!("/admin/simulator/{id}")).into_response())
}

/// `POST /admin/simulator/{id}/cancel` (editor): ends a queued or running simulation, so
/// the next may start; a worker running it stops at its next progress record.
pub async fn cancel(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<i64>,
    Form(form): Form<super::CsrfForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let now = app.clock.now();
    let why = match team.lang {
        Lang::En => format!("cancelled by {}", team.username),
        Lang::Nl => format!("geannuleerd door {}", team.username),
    };
    let mut tx = app.store.begin().await?;
    if tx.cancel_simulation(id, &why, now).await? {
        tx.audit(
            &team.username,
            "simulation.cancel",
            &format!("simulation:{id}"),
            None,
            None,
            now,
        )
        .await?;
        tx.commit().await?;
    }
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
pub async fn show(State(app): State<AppState>, team: Team, Path(id): Path<i64>) -> AdminResult {
    let lang = team.lang;
    let mut tx = app.store.begin_read().await?;
    let run = tx.simulation(id).await?;
    tx.commit().await?;
    let Some(run) = run else {
        return Err(not_found(
            &team,
            lang.pick("No such simulation.", "Die simulatie bestaat niet."),
        ));
    };
    let progress = |done: i64| json!({"done": done, "total": run.days});
    let mut ctx = json!({
        "section": "simulator", "id": run.id, "by": run.started_by,
        "started_at": at(run.started_at),
        "customers": run.customers, "days": run.days, "seed": run.seed, "change": run.programme_id,
        "baseline_progress": progress(run.baseline_done),
        "changed_progress": run.programme_id.as_ref().map(|_| progress(run.changed_done)),
    });
    let reports = (
        run.report.as_deref().map(read_report),
        run.changed_report.as_deref().map(read_report),
    );
    match (&run.finished_at, &run.error, reports) {
        (None, ..) => {
            ctx["running"] = true.into();
            ctx["waiting"] = run.taken_at.is_none().into();
            ctx["can_cancel"] = (team.role >= Role::Editor).into();
        }
        (_, Some(e), _) => ctx["error"] = e.clone().into(),
        (_, None, (Some(Some(base)), changed @ (None | Some(Some(_))))) => {
            let changed = changed.flatten();
            let as_is = lang.pick("Library as it is", "Bibliotheek zoals ze is");
            let mut reports = vec![report_view(lang, as_is, &base)];
            if let (Some(c), Some(id)) = (&changed, &run.programme_id) {
                let title = match lang {
                    Lang::En => format!("With the change to {id}"),
                    Lang::Nl => format!("Met de wijziging in {id}"),
                };
                reports.push(report_view(lang, &title, c));
            }
            ctx["reports"] = reports.into();
            ctx["programmes"] = programme_rows(&base, changed.as_ref()).into();
        }
        _ => {
            ctx["error"] = lang
                .pick(
                    "its report no longer reads (it was written by another version); simulate it again",
                    "het verslag is niet meer te lezen (een andere versie schreef het); simuleer opnieuw",
                )
                .into();
        }
    }
    page(&team, "simulation.html", ctx)
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

    fn report(above_band: usize, above_ceiling: usize) -> SimulationReport {
        SimulationReport {
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
        }
    }

    fn run(
        id: i64,
        days: i64,
        reports: Option<(&SimulationReport, &SimulationReport)>,
    ) -> Simulation {
        let json = |r: &SimulationReport| serde_json::to_string(r).unwrap();
        Simulation {
            id,
            started_by: "eva".into(),
            started_at: Timestamp::UNIX_EPOCH,
            customers: 10,
            days,
            seed: 3,
            start_day: Timestamp::UNIX_EPOCH,
            programme_id: Some("p".into()),
            change_text: Some("version = 2".into()),
            taken_at: Some(Timestamp::UNIX_EPOCH),
            taken_by: Some("w".into()),
            baseline_done: days,
            changed_done: days,
            report: reports.map(|(base, _)| json(base)),
            changed_report: reports.map(|(_, changed)| json(changed)),
            error: None,
            finished_at: reports.map(|_| Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn only_a_finished_year_of_the_draft_that_keeps_everyone_in_bounds_lets_it_be_published() {
        assert_eq!(DraftSimulation::of(None), DraftSimulation::Missing);
        let (ok, over) = (report(0, 1), report(0, 2));
        assert!(matches!(
            DraftSimulation::of(Some(&run(4, 30, Some((&ok, &ok))))),
            DraftSimulation::Short { id: 4, days: 30 }
        ));
        assert_eq!(
            DraftSimulation::of(Some(&run(5, 365, None))),
            DraftSimulation::Running(5)
        );
        let found = DraftSimulation::of(Some(&run(5, 365, Some((&ok, &ok)))));
        assert!(
            matches!(found, DraftSimulation::Done { id: 5, .. }),
            "{found:?}"
        );
        assert_eq!(found.refusal(Lang::En), None);
        // More customers above the ceiling with the draft than without: refused.
        let refusal = DraftSimulation::of(Some(&run(5, 365, Some((&ok, &over)))))
            .refusal(Lang::En)
            .unwrap();
        assert!(
            refusal.contains("2 customers above the attention ceiling (without it: 1)"),
            "{refusal}"
        );
        // A failed run, or one whose report no longer reads, is no licence either.
        let mut failed = run(6, 365, Some((&ok, &ok)));
        failed.error = Some("the changed programme has mistakes".into());
        assert_eq!(
            DraftSimulation::of(Some(&failed)),
            DraftSimulation::Failed(6)
        );
        let mut unreadable = run(7, 365, Some((&ok, &ok)));
        unreadable.changed_report = Some("{}".into());
        assert_eq!(
            DraftSimulation::of(Some(&unreadable)),
            DraftSimulation::Failed(7)
        );
    }
}
