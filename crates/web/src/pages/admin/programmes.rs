//! Programmes: the list with status (live or paused), enrolments, goal conversion of
//! treated against holdout; a programme's page with its steps as a readable flow, its
//! stored versions and the difference between them, and pause / resume for editors
//! (audited). The programme files stay the source of truth: the UI only pauses.
//!
//! Requirements: FR1 (always-on programmes), RT2 (goals against holdout).

use std::collections::BTreeMap;

use aftercare_engine::programme::{Action, Programme, Reentry, Wait};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde_json::{Value, json};

use super::auth::{Role, Team, urlencoding};
use super::{AdminResult, CsrfForm, not_found, page};
use crate::AppState;

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// `GET /admin/programmes`.
pub async fn list(State(app): State<AppState>, team: Team) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let paused: BTreeMap<String, (jiff::Timestamp, String)> = tx
        .paused_programmes()
        .await?
        .into_iter()
        .map(|(id, at, by)| (id, (at, by)))
        .collect();
    let report = tx.enrolment_report().await?;
    let outcomes = tx.goal_outcomes(app.clock.now()).await?;
    let drafts = tx.drafts(aftercare_store::Content::Programme).await?;
    tx.commit().await?;
    let programmes = app.engine.programmes();
    // Programmes begun in the editor, not yet published.
    let begun: Vec<&String> = drafts
        .iter()
        .filter(|d| programmes.current().get(d).is_none())
        .collect();
    let existing: Vec<&String> = programmes.current().programmes.keys().collect();
    let mut rows = Vec::new();
    for p in programmes.current().programmes.values() {
        let (mut enrolled, mut held_out) = (0, 0);
        for (id, total, holdout, _) in &report {
            if id == &p.id {
                enrolled = *total;
                held_out = *holdout;
            }
        }
        // Per enrolment whose goal window closed: (programme, holdout, converted, revenue).
        let (mut treated, mut treated_goal, mut held, mut held_goal) = (0, 0, 0, 0);
        for (pid, holdout, converted, _) in &outcomes {
            if pid == &p.id {
                if *holdout {
                    held += 1;
                    held_goal += i64::from(*converted);
                } else {
                    treated += 1;
                    treated_goal += i64::from(*converted);
                }
            }
        }
        let conv = percent(treated_goal, treated);
        let hold = percent(held_goal, held);
        rows.push(json!({
            "id": p.id, "name": p.name, "version": p.version, "trigger": p.trigger_event,
            "paused": paused.contains_key(&p.id), "draft": p.draft, "enrolled": enrolled, "held_out": held_out,
            "goal": p.goal.as_ref().map(|g| g.event.clone()),
            "conversion": conv.map(|c| format!("{c:.1}%")), "holdout_conversion": hold.map(|c| format!("{c:.1}%")),
            "uplift": conv.zip(hold).map(|(c, h)| format!("{:+.1} pt", c - h)),
        }));
    }
    page(
        &team,
        "programmes.html",
        json!({"section": "programmes", "programmes": rows, "begun": begun,
               "existing": existing, "can_edit": team.role >= Role::Editor}),
    )
}

/// `POST /admin/programmes` (editor): begins a new programme as a draft copied from an
/// existing one, and opens it in the programme editor; refused (422) naming the field.
pub async fn begin(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<super::BeginForm>,
) -> AdminResult {
    let (id, from) = form.checked(&team)?;
    let outcome = app.engine.begin_programme(id, from, &team.username).await;
    super::begun(
        &team,
        outcome,
        &format!("/admin/programmes/{}/edit", urlencoding(id)),
    )
}

/// A step in words.
pub(super) fn describe(p: &Programme, index: usize) -> Value {
    let step = &p.steps[index];
    let target = |t: &Option<String>| t.clone().unwrap_or_else(|| "next".into());
    let what = match &step.action {
        Action::Send(s) => format!(
            "send '{}' ({}, priority {}) by {}{}",
            s.template,
            s.class.as_str(),
            s.priority.as_str(),
            s.channels
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", then "),
            if s.variants.is_empty() {
                String::new()
            } else {
                format!(
                    "; an experiment: {}",
                    s.variants
                        .iter()
                        .map(|v| match v.wait {
                            Some(wait) => format!("{} ('{}', {wait:#} later)", v.name, v.template),
                            None => format!("{} ('{}')", v.name, v.template),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        Action::Wait(Wait::For(span)) => format!("wait {span:#}"),
        Action::Wait(Wait::UntilTime(t)) => {
            format!("wait until {} local time", t.strftime("%H:%M"))
        }
        Action::Wait(Wait::UntilDate { date, offset, at }) => format!(
            "wait until {}{} at {}",
            date.source(),
            offset.map(|o| format!(" {o:#}")).unwrap_or_default(),
            at.strftime("%H:%M")
        ),
        Action::WaitFor(w) => format!(
            "wait for '{}'{} up to {:#}: on the event go to {}, on time-out to {}",
            w.event,
            w.matching
                .as_deref()
                .map(|m| format!(" with the same {m}"))
                .unwrap_or_default(),
            w.timeout,
            target(&w.on_event),
            target(&w.on_timeout)
        ),
        Action::Branch {
            condition,
            then,
            otherwise,
        } => format!(
            "if {} go to {}, else to {}",
            condition.source(),
            target(then),
            target(otherwise)
        ),
        Action::Tag(tag) => format!("tag '{tag}'"),
        Action::Set { attribute, value } => format!("set {attribute} = {value}"),
        Action::GrantPoints { points, reason } => format!("grant {points} points ({reason})"),
        Action::IssueCoupon { pool } => format!("issue a coupon from pool '{pool}'"),
        Action::Survey(kind) => format!("send the {kind:?} survey").to_lowercase(),
        Action::Webhook { target, event } => format!(
            "call the webhook '{target}'{}",
            event
                .as_deref()
                .map(|e| format!(" with the event '{e}'"))
                .unwrap_or_default()
        ),
        Action::Exit => "exit".to_string(),
    };
    json!({"id": step.id, "what": what})
}

/// `GET /admin/programmes/{id}`.
pub async fn show(State(app): State<AppState>, team: Team, Path(id): Path<String>) -> AdminResult {
    let programmes = app.engine.programmes();
    let Some(p) = programmes.current().get(&id) else {
        return Err(not_found(
            &team,
            &format!("{}: {id}", team.lang.pick("No programme", "Geen programma")),
        ));
    };
    let mut tx = app.store.begin_read().await?;
    let pause = tx
        .paused_programmes()
        .await?
        .into_iter()
        .find(|(pid, _, _)| pid == &id);
    let versions: Vec<(String, i32, String)> = tx
        .programme_versions()
        .await?
        .into_iter()
        .filter(|(pid, _, _)| pid == &id)
        .collect();
    let audit = tx.audit_log(Some(&format!("programme:{id}")), 20).await?;
    tx.commit().await?;
    // Content experiments (issue 21): each variant against the first, with intervals.
    let experiments: Vec<Value> = aftercare_engine::experiments::experiments(
        &app.store,
        p,
        app.clock.now(),
    )
    .await?
    .into_iter()
    .map(|e| {
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        json!({
            "step": e.step, "winner": e.winner, "leader": e.leader, "has_goal": e.has_goal,
            "variants": e.variants.iter().enumerate().map(|(i, v)| json!({
                "name": v.name, "template": v.template, "sent": v.sent, "clicked": v.clicked,
                "settled": v.settled, "converted": v.converted, "rate": pct(v.rate),
                "interval": format!("{} … {}", pct(v.interval.0), pct(v.interval.1)),
                "vs_first": (i > 0).then(|| v.vs_first.as_ref().map(|d| json!({
                    "diff": format!("{:+.1} pt", 100.0 * d.diff),
                    "ci": format!("{:+.1} … {:+.1} pt", 100.0 * d.interval.0, 100.0 * d.interval.1),
                }))).flatten(),
            })).collect::<Vec<_>>(),
        })
    })
    .collect();
    let mut version_rows = Vec::new();
    for (i, (_, version, text)) in versions.iter().enumerate() {
        let diff = i
            .checked_sub(1)
            .and_then(|j| versions.get(j))
            .map(|(_, old, old_text)| {
                aftercare_engine::versions::diff(
                    old_text,
                    text,
                    &format!("version {old}"),
                    &format!("version {version}"),
                )
            });
        version_rows.push(json!({"version": version, "diff": diff}));
    }
    version_rows.reverse();
    let steps: Vec<Value> = (0..p.steps.len()).map(|i| describe(p, i)).collect();
    let reentry = match &p.reentry {
        Reentry::Always => "always".to_string(),
        Reentry::Once => "once ever".to_string(),
        Reentry::After(span) => format!("after {span:#}"),
    };
    let audit: Vec<Value> = audit
        .iter()
        .map(|a| json!({"at": a.at.strftime("%Y-%m-%d %H:%M UTC").to_string(), "who": a.username, "action": a.action}))
        .collect();
    page(
        &team,
        "programme.html",
        json!({
            "section": "programmes", "id": p.id, "name": p.name, "version": p.version,
            "requirements": p.requirements, "trigger": p.trigger_event,
            "entry": p.entry.as_ref().map(|c| c.source().to_string()), "exit_on": p.exit_on.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "goal": p.goal.as_ref().map(|g| format!("{} within {:#}", g.event, g.within)),
            "holdout": format!("{:.0}%", p.holdout * 100.0), "reentry": reentry, "steps": steps,
            "source": p.text, "versions": version_rows, "audit": audit, "experiments": experiments,
            "draft": p.draft,
            "paused": pause.as_ref().map(|(_, at, by)| json!({"at": at.strftime("%Y-%m-%d %H:%M UTC").to_string(), "by": by})),
            "can_edit": team.role >= Role::Editor,
        }),
    )
}

async fn set_paused(
    app: AppState,
    team: Team,
    id: String,
    csrf: &str,
    paused: bool,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(csrf)?;
    if app.engine.programmes().current().get(&id).is_none() {
        return Err(not_found(
            &team,
            &format!("{}: {id}", team.lang.pick("No programme", "Geen programma")),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let changed = if paused {
        tx.pause_programme(&id, &team.username, now).await?
    } else {
        tx.resume_programme(&id).await?
    };
    if changed {
        let (before, after) = if paused {
            ("live", "paused")
        } else {
            ("paused", "live")
        };
        tx.audit(
            &team.username,
            if paused {
                "programme.pause"
            } else {
                "programme.resume"
            },
            &format!("programme:{id}"),
            Some(&json!({"status": before}).to_string()),
            Some(&json!({"status": after}).to_string()),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    app.engine.wake();
    Ok(Redirect::to(&format!("/admin/programmes/{}", urlencoding(&id))).into_response())
}

/// The form that applies an experiment's winner.
#[derive(Debug, serde::Deserialize)]
pub struct WinnerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    variant: String,
}

/// `POST /admin/programmes/{id}/winner` (editor): applies the variant the intervals single
/// out as the step's winner (audited); refused, changing nothing, for any other. Without a
/// variant it takes the applied winner back, and the split resumes.
pub async fn winner(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<WinnerForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    // An empty variant takes the applied winner back (the split resumes).
    let outcome = if form.variant.is_empty() {
        app.engine
            .resume_split(&id, &form.step, &team.username)
            .await
    } else {
        app.engine
            .apply_winner(&id, &form.step, &form.variant, &team.username)
            .await
    };
    match outcome {
        Ok(Ok(())) => {
            Ok(Redirect::to(&format!("/admin/programmes/{}", urlencoding(&id))).into_response())
        }
        Ok(Err(refusal)) => Err(super::AdminError::page(super::problem(
            team.lang,
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            team.lang
                .pick("Winner not applied", "Winnaar niet toegepast"),
            &refusal.to_string(),
        ))),
        Err(e) => Err(super::AdminError::Api(crate::error::ApiError::Internal(
            e.to_string(),
        ))),
    }
}

/// `POST /admin/programmes/{id}/pause` (editor).
pub async fn pause(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    set_paused(app, team, id, &form.csrf, true).await
}

/// `POST /admin/programmes/{id}/resume` (editor).
pub async fn resume(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    set_paused(app, team, id, &form.csrf, false).await
}
