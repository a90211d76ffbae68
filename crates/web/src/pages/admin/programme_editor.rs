//! The programme editor (issue 21): the CRM team changes a programme's trigger, steps,
//! waits, conditions, goal and holdout as TOML in a draft, beside the draft's steps as a
//! readable flow, `check`'s findings with their line, and the difference from the live
//! version; simulates the draft in the simulator (the form is filled with it) and
//! publishes it as the programme's next immutable version — refused, changing nothing, while
//! it has a finding or until a simulation of exactly this draft over a year is done and put
//! nobody above the band or the attention ceiling who was not there without it (the runs
//! are kept in the store). New enrolments start on the published version in every running worker
//! within seconds; customers already enrolled finish on theirs. Any stored version can be
//! made the live one again. A new programme is begun from the list as a copy of an existing
//! one with its own id and version 1, and goes through the same cycle. Every change is
//! audited.

use aftercare_engine::content::ContentError;
use aftercare_engine::programme::parse_programme;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team, urlencoding};
use super::simulator::{DraftSimulation, ProgrammeChange};
use super::{AdminError, AdminResult, CsrfForm, NoteForm, VersionForm, html, not_found, render};
use crate::AppState;
use aftercare_store::Content;

fn stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Api(crate::error::ApiError::Internal(e.to_string()))
}

fn unknown(team: &Team, id: &str) -> AdminError {
    not_found(
        team,
        &format!("{}: {id}", team.lang.pick("No programme", "Geen programma")),
    )
}

async fn edit_page(
    app: &AppState,
    team: &Team,
    id: &str,
    status: StatusCode,
    refused: Option<&[aftercare_engine::programme::Finding]>,
) -> AdminResult {
    let programmes = app.engine.programmes();
    let live = programmes.current().get(id);
    let mut tx = app.store.begin_read().await?;
    let draft = tx.draft(Content::Programme, id).await?;
    // A programme begun in the editor has no live version yet: its draft is all of it.
    if live.is_none() && draft.is_none() {
        return Err(unknown(team, id));
    }
    let history = tx.programme_history(id).await?;
    let changes = tx.content_changes(Content::Programme, id, 20).await?;
    let paused = tx.paused_programmes().await?;
    let simulated = match &draft {
        Some(d) => Some(
            super::simulator::of_draft(
                &mut tx,
                &ProgrammeChange {
                    programme_id: id.to_string(),
                    text: d.definition.clone(),
                },
            )
            .await?,
        ),
        None => None,
    };
    tx.commit().await?;
    let live_text = live.map_or("", |l| l.text.as_str());
    // Without a draft the live text is offered as the next version, ready to change.
    let next = history.last().map_or(1, |v| v.0 + 1);
    let offered = aftercare_engine::content::programme_header(live_text, None, None, next);
    let text = draft
        .as_ref()
        .map_or(offered.as_str(), |d| d.definition.as_str());
    let checked = app
        .engine
        .check_programme(id, text)
        .await
        .map_err(internal)?;
    // The draft's steps in words, when it loads (its version may still need raising).
    let ctx_file = std::path::PathBuf::from(format!("{id}.toml"));
    let loaded_anyway = match &checked.programme {
        Some(_) => None,
        None => parse_programme(&ctx_file, text, app.engine.check_context()).ok(),
    };
    let parsed = checked.programme.as_ref().or(loaded_anyway.as_ref());
    let flow: Vec<Value> = parsed
        .map(|p| {
            (0..p.steps.len())
                .map(|i| super::programmes::describe(p, i))
                .collect()
        })
        .unwrap_or_default();
    // A copy runs beside its original: active programmes (not paused, not drafts) on the
    // same trigger that send the same templates (variants' too), so a customer in both
    // would get those messages twice.
    let beside: Vec<Value> = parsed
        .map(|draft| {
            let sends =
                |p: &aftercare_engine::programme::Programme| -> std::collections::BTreeSet<String> {
                    p.steps
                        .iter()
                        .filter_map(|s| match &s.action {
                            aftercare_engine::programme::Action::Send(send) => Some(send),
                            _ => None,
                        })
                        .flat_map(|send| {
                            std::iter::once(send.template.clone())
                                .chain(send.variants.iter().map(|v| v.template.clone()))
                        })
                        .collect()
                };
            let mine = sends(draft);
            programmes
                .current()
                .programmes
                .values()
                .filter(|p| p.id != id && !p.draft && p.trigger_event == draft.trigger_event)
                .filter(|p| !paused.iter().any(|(paused_id, _, _)| *paused_id == p.id))
                .filter_map(|p| {
                    let shared: Vec<String> = sends(p).intersection(&mine).cloned().collect();
                    (!shared.is_empty()).then(|| {
                        json!({"id": p.id, "name": p.name, "trigger": p.trigger_event,
                               "templates": shared.join(", "), "one": shared.len() == 1})
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let findings: Vec<Value> = refused
        .unwrap_or(&checked.findings)
        .iter()
        .map(|f| json!({"line": f.line, "column": f.column, "reason": f.reason}))
        .collect();
    let diff = draft.as_ref().map(|d| {
        let live_name = live.map_or_else(
            || "nothing live yet".to_string(),
            |l| format!("live v{}", l.version),
        );
        aftercare_engine::versions::diff(live_text, &d.definition, &live_name, "draft")
    });
    let mut versions: Vec<Value> = history
        .iter()
        .map(|(v, _, origin, author, note, at)| {
            json!({"version": v, "origin": origin, "author": author, "note": note, "at": stamp(*at),
                   "live": live.is_some_and(|l| *v == l.version)})
        })
        .collect();
    versions.reverse();
    let changes: Vec<Value> = changes
        .iter()
        .map(|c| json!({"at": stamp(c.at), "kind": c.kind, "version": c.version, "by": c.by}))
        .collect();
    let simulation = simulated.map(|of| {
        // Why it may not be published yet, as a status line.
        let refusal = of.refusal(team.lang);
        let status = refusal.as_deref().map(|r| {
            let mut chars = r.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        });
        let text = status.unwrap_or_else(|| match of {
            DraftSimulation::Done {
                id,
                above_ceiling: (with, without),
                in_band,
                ..
            } => match team.lang {
                super::Lang::En => format!(
                    "Simulated over a year in simulation {id}: {:.1}% of active, consented customers in the band, nobody above it; {with} above the attention ceiling (without this draft: {without})",
                    in_band * 100.0
                ),
                super::Lang::Nl => format!(
                    "Over een jaar gesimuleerd in simulatie {id}: {:.1}% van de actieve klanten met toestemming binnen de bandbreedte, niemand erboven; {with} boven het aandachtsplafond (zonder dit concept: {without})",
                    in_band * 100.0
                ),
            },
            _ => String::new(),
        });
        json!({"ok": refusal.is_none(), "text": text, "run": of.run()})
    });
    let ctx = json!({
        "section": "programmes", "id": id, "simulation": simulation,
        "name": live.map(|l| l.name.clone())
            .or_else(|| checked.programme.as_ref().map(|p| p.name.clone()))
            .unwrap_or_else(|| id.to_string()),
        "live_version": live.map(|l| l.version),
        "text": text, "rows": text.lines().count().clamp(12, 60) + 2,
        "draft": draft.as_ref().map(|d| json!({"author": d.author, "at": stamp(d.updated_at)})),
        "findings": findings, "refused": refused.is_some(), "next_version": checked.next_version,
        "flow": flow, "diff": diff, "versions": versions, "changes": changes, "beside": beside,
        "can_edit": team.role >= Role::Editor,
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "programme_edit.html", ctx)?,
    ))
}

/// `GET /admin/programmes/{id}/edit`.
pub async fn show(State(app): State<AppState>, team: Team, Path(id): Path<String>) -> AdminResult {
    edit_page(&app, &team, &id, StatusCode::OK, None).await
}

/// The draft form.
#[derive(Debug, Deserialize)]
pub struct DraftForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    definition: String,
}

/// `POST /admin/programmes/{id}/edit` (editor): saves the draft (it may still have
/// findings: it is work in progress).
pub async fn save(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<DraftForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let live = app.engine.programmes().current().get(&id).is_some();
    if !super::live_or_begun(&app, Content::Programme, &id, live).await? {
        return Err(unknown(&team, &id));
    }
    let text = form.definition.replace("\r\n", "\n");
    if text.chars().count() > 100_000
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(AdminError::page(super::problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Not saved", "Niet bewaard"),
            "definition: at most 100,000 characters of text without control characters",
        )));
    }
    let back = format!("/admin/programmes/{}/edit", urlencoding(&id));
    super::keep_draft(&app, &team, Content::Programme, &id, Some(&text), &back).await
}

/// `POST /admin/programmes/{id}/publish` (editor): the draft becomes the next version, or
/// the page comes back with why not (422) and nothing changed.
pub async fn publish(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let note = super::publish_note(&team, &form.note)?;
    let definition = super::draft_to_publish(&app, &team, Content::Programme, &id).await?;
    // A draft with findings is refused for them first: simulating it would not help.
    let checked = app
        .engine
        .check_programme(&id, &definition)
        .await
        .map_err(internal)?;
    if !checked.findings.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return edit_page(&app, &team, &id, status, Some(&checked.findings)).await;
    }
    // Draft → simulate → publish: a year of this very text, against the band and ceiling.
    let mut tx = app.store.begin_read().await?;
    let simulated = super::simulator::of_draft(
        &mut tx,
        &ProgrammeChange {
            programme_id: id.clone(),
            text: definition.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    if let Some(why) = simulated.refusal(team.lang) {
        let finding = aftercare_engine::programme::Finding {
            file: format!("{id}.toml").into(),
            line: 0,
            column: 0,
            reason: format!("{}: {why}", team.lang.pick("simulation", "simulatie")),
        };
        return edit_page(&app, &team, &id, StatusCode::CONFLICT, Some(&[finding])).await;
    }
    let outcome = app
        .engine
        .publish_programme(&id, &definition, &team.username, note)
        .await
        .map(|_| ());
    let back = format!("/admin/programmes/{}", urlencoding(&id));
    let missing = unknown(&team, &id);
    after_change(&app, &team, &id, outcome, &back, missing).await
}

/// `POST /admin/programmes/{id}/discard` (editor): drops the draft.
pub async fn discard(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let back = format!("/admin/programmes/{}/edit", urlencoding(&id));
    super::keep_draft(&app, &team, Content::Programme, &id, None, &back).await
}

/// `POST /admin/programmes/{id}/make-live` (editor): a stored version is the one new
/// enrolments start on again.
pub async fn make_live(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<VersionForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let version = super::version_number(&team, &form.version)?;
    let outcome = app
        .engine
        .roll_back_programme(&id, version, &team.username)
        .await;
    let back = format!("/admin/programmes/{}/edit", urlencoding(&id));
    let missing = match &outcome {
        Err(ContentError::NotFound(what)) => not_found(&team, what),
        _ => unknown(&team, &id),
    };
    after_change(&app, &team, &id, outcome, &back, missing).await
}

/// To `back` after a publish or make-live; refused, the editor again with why (422);
/// `missing` when there is no such programme or version.
async fn after_change(
    app: &AppState,
    team: &Team,
    id: &str,
    outcome: Result<(), ContentError>,
    back: &str,
    missing: AdminError,
) -> AdminResult {
    match outcome {
        Ok(()) => Ok(Redirect::to(back).into_response()),
        Err(ContentError::Refused(findings)) => {
            edit_page(
                app,
                team,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&findings),
            )
            .await
        }
        Err(ContentError::NotFound(_)) => Err(missing),
        Err(e) => Err(internal(e)),
    }
}
