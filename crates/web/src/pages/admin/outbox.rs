//! The outbox (messages by state, channel and programme), dead letters with retry for
//! editors (audited), the print partner's batches of letters to download (audited), and
//! the audit log itself.

use aftercare_domain::{Channel, MessageState};
use aftercare_store::MessageFilter;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team};
use super::{AdminError, AdminResult, CsrfForm, page, problem};
use crate::AppState;

/// Outbox filters; empty means all.
#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    programme: String,
}

fn bad_filter(team: &Team, field: &str, value: &str) -> AdminError {
    AdminError::page(problem(
        team.lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        team.lang.pick("Unknown filter", "Onbekend filter"),
        &format!(
            "{field}: '{value}' {}",
            team.lang
                .pick("is not a known value", "is geen bekende waarde")
        ),
    ))
}

const STATES: [&str; 5] = ["planned", "sending", "sent", "blocked", "failed"];
const CHANNELS: [&str; 5] = ["email", "sms", "push", "letter", "portal"];

/// `GET /admin/outbox?state=&channel=&programme=`.
pub async fn list(
    State(app): State<AppState>,
    team: Team,
    Query(q): Query<OutboxQuery>,
) -> AdminResult {
    let state = match q.state.as_str() {
        "" => None,
        s => Some(MessageState::parse(s).ok_or_else(|| bad_filter(&team, "state", s))?),
    };
    let channel = match q.channel.as_str() {
        "" => None,
        s => Some(Channel::parse(s).ok_or_else(|| bad_filter(&team, "channel", s))?),
    };
    let filter = MessageFilter {
        state,
        channel,
        programme_id: (!q.programme.is_empty()).then(|| q.programme.clone()),
        limit: 200,
        ..Default::default()
    };
    let mut tx = app.store.begin_read().await?;
    let messages = tx.messages(&filter).await?;
    let dead = tx.dead_jobs(100).await?;
    let batches = tx.print_batches(30).await?;
    let waiting = tx.letters_waiting().await?;
    tx.commit().await?;
    let print = app.engine.print();
    let batches: Vec<Value> = batches
        .iter()
        .map(|b| json!({"id": b.id, "partner": b.partner, "day": b.day, "posted_on": b.posted_on,
            "letters": b.letters, "created": b.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string()}))
        .collect();
    let rows: Vec<Value> = messages
        .iter()
        .map(|m| json!({
            "id": m.id, "at": m.sent_at.unwrap_or(m.planned_at).strftime("%Y-%m-%d %H:%M UTC").to_string(),
            "customer": m.customer_external_id, "recipient": m.recipient, "subject": m.subject,
            "template": m.template, "programme": m.programme_id, "channel": m.channel.as_str(),
            "state": m.state.as_str(), "reason": m.reason,
        }))
        .collect();
    let dead: Vec<Value> = dead
        .iter()
        .map(|d| json!({"id": d.id, "kind": d.kind, "ref_id": d.ref_id, "attempts": d.attempts, "error": d.last_error}))
        .collect();
    let library = app.engine.programmes();
    let programmes: Vec<&String> = library.current().programmes.keys().collect();
    page(
        &team,
        "outbox.html",
        json!({
            "section": "outbox", "messages": rows, "dead": dead, "states": STATES, "channels": CHANNELS,
            "programmes": programmes, "q": {"state": q.state, "channel": q.channel, "programme": q.programme},
            "can_edit": team.role >= Role::Editor, "batches": batches, "waiting": waiting,
            "cut_off": format!("{} {}", print.cut_off.strftime("%H:%M"), print.time_zone),
        }),
    )
}

/// `GET /admin/print-batches/{id}/{file}`: `letters.pdf`, `addresses.csv` or
/// `manifest.json`, made from the stored letters; every download is in the audit log (the
/// files hold names and addresses).
pub async fn print_file(
    State(app): State<AppState>,
    team: Team,
    Path((id, file)): Path<(String, String)>,
) -> AdminResult {
    let id = super::numeric_id(&team, &id, ("No print batch", "Geen printbatch"))?;
    let content_type = match file.as_str() {
        "letters.pdf" => "application/pdf",
        "addresses.csv" => "text/csv; charset=utf-8",
        "manifest.json" => "application/json",
        _ => return Err(super::not_found(&team, &file)),
    };
    let mut tx = app.store.begin().await?;
    let batch = match tx.print_batch(id).await {
        Ok(b) => b,
        Err(aftercare_store::StoreError::NotFound(what)) => {
            return Err(super::not_found(&team, &what));
        }
        Err(e) => return Err(e.into()),
    };
    tx.audit(
        &team.username,
        "print_batch.download",
        &format!("print_batch:{id}"),
        None,
        Some(&json!({"file": file}).to_string()),
        app.clock.now(),
    )
    .await?;
    tx.commit().await?;
    let files = app
        .engine
        .print_files(&batch)
        .await
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    let bytes = match file.as_str() {
        "letters.pdf" => files.pdf,
        "addresses.csv" => files.csv,
        _ => files.manifest,
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(content_type),
    );
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
        "attachment; filename=\"print-batch-{id}-{file}\""
    )) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `POST /admin/dead-jobs/{id}/retry` (editor).
pub async fn retry(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    let id = super::numeric_id(&team, &id, ("No job", "Geen taak"))?;
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    if tx.revive_job(aftercare_store::JobId(id), now).await? {
        tx.audit(
            &team.username,
            "job.retry",
            &format!("job:{id}"),
            Some("{\"state\":\"dead\"}"),
            Some("{\"state\":\"queued\"}"),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    app.engine.wake();
    Ok(Redirect::to("/admin/outbox").into_response())
}

/// `GET /admin/audit`.
pub async fn audit(State(app): State<AppState>, team: Team) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let entries = tx.audit_log(None, 500).await?;
    tx.commit().await?;
    let rows: Vec<Value> = entries
        .iter()
        .map(|a| {
            json!({"at": a.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(), "who": a.username,
            "action": a.action, "subject": a.subject, "before": a.before, "after": a.after})
        })
        .collect();
    page(
        &team,
        "audit.html",
        json!({"section": "audit", "entries": rows}),
    )
}
