//! Server-rendered pages: the customer's branded pages behind signed links ([`loyalty`],
//! [`tracking`], [`survey`], [`offer`], [`preferences`], [`unsubscribe`], [`inbox`]), the team's admin UI behind
//! a sign-in ([`admin`]), and the built-in outbox of
//! `aftercare demo` — every message as the customer sees it — with the demo's stand-in
//! carrier ([`demo_carrier`]), which are only mounted when the configuration enables them
//! (the demo does), because the outbox shows personal data without a sign-in.

pub mod admin;
pub mod clicks;
mod common;
pub mod demo_carrier;
pub mod inbox;
pub mod limit;
pub mod loyalty;
pub mod offer;
pub mod preferences;
pub mod survey;
pub mod tracking;
pub mod unsubscribe;

use aftercare_store::MessageFilter;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;

/// The customer pages behind signed links.
pub fn customer_routes(limiter: limit::PageLimiter) -> Router<AppState> {
    Router::new()
        .route("/p/loyalty/{token}", get(loyalty::show))
        .route(
            "/p/loyalty/{token}/claim",
            axum::routing::post(loyalty::claim),
        )
        .route("/p/survey/{token}", get(survey::show).post(survey::answer))
        .route("/p/offer/{token}", get(offer::show).post(offer::accept))
        .route(
            "/p/preferences/{token}",
            get(preferences::show).post(preferences::save),
        )
        .route("/p/inbox/{token}", get(inbox::show))
        .route("/p/inbox/{token}/{id}", get(inbox::message))
        .route("/p/tracking/{token}", get(tracking::show))
        .route(
            "/p/tracking/{token}/change",
            axum::routing::post(tracking::change),
        )
        .route(
            "/p/tracking/{token}/fitting",
            axum::routing::post(tracking::fitting),
        )
        .route(
            "/p/tracking/{token}/recycle",
            axum::routing::post(tracking::recycle),
        )
        .route("/c/{token}", get(clicks::follow))
        .route("/o/{token}", get(clicks::open))
        .route(
            "/u/{token}",
            get(unsubscribe::confirm).post(unsubscribe::unsubscribe),
        )
        .layer(axum::middleware::from_fn_with_state(limiter, limit::limit))
        // A customer page's form is a few fields: no slow client holds megabytes here.
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BODY_BYTES))
}

/// The largest form body a customer page takes.
pub const FORM_BODY_BYTES: usize = 16 * 1024;

/// The outbox routes, and the demo's stand-in carrier.
pub fn outbox_routes() -> Router<AppState> {
    Router::new()
        .route("/outbox", get(outbox))
        .route("/outbox/{id}", get(outbox_message))
        .route("/outbox/{id}/html", get(outbox_message_html))
}

/// The demo's stand-in carrier, which takes delivery changes when no carrier is configured.
pub fn stand_in_carrier_routes() -> Router<AppState> {
    Router::new().route(
        "/demo/carrier/{carrier}",
        axum::routing::post(demo_carrier::receive),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1d1d1b}table{border-collapse:collapse;width:100%}td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}th{background:#f4f4f1}.sent{color:#0b5d4b}.blocked,.failed{color:#a4262c}pre{white-space:pre-wrap;background:#f4f4f1;padding:1rem}iframe{width:100%;height:720px;border:1px solid #ddd}";

async fn outbox(State(app): State<AppState>) -> Result<Html<String>, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let messages = tx
        .messages(&MessageFilter {
            limit: 200,
            ..Default::default()
        })
        .await?;
    tx.commit().await?;
    let mut rows = String::new();
    for m in &messages {
        rows.push_str(&format!(
            "<tr><td><a href=\"/outbox/{id}\">{id}</a></td><td>{at}</td><td>{cust}</td><td>{to}</td><td>{subject}</td><td>{template}</td><td class=\"{state}\">{state}</td><td>{reason}</td></tr>",
            id = m.id,
            at = m.sent_at.unwrap_or(m.planned_at).strftime("%Y-%m-%d %H:%M"),
            cust = escape(&m.customer_external_id),
            to = escape(m.recipient.as_deref().unwrap_or("")),
            subject = escape(m.subject.as_deref().unwrap_or("")),
            template = escape(&m.template),
            state = m.state.as_str(),
            reason = escape(&m.reason),
        ));
    }
    Ok(Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Outbox · Aftercare</title><style>{STYLE}</style></head><body><h1>Outbox</h1><p>The latest {} messages, newest first. Open one to see it as the customer does.</p><table><thead><tr><th>#</th><th>Time (UTC)</th><th>Customer</th><th>To</th><th>Subject</th><th>Template</th><th>State</th><th>Reason</th></tr></thead><tbody>{rows}</tbody></table></body></html>",
        messages.len()
    )))
}

async fn outbox_message(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Html<String>, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let m = tx.message(id).await?;
    let transitions = tx.message_transitions(id).await?;
    tx.commit().await?;
    let history: String = transitions
        .iter()
        .map(|t| {
            format!(
                "<li>{} → <b>{}</b>: {}</li>",
                t.from_state.as_deref().unwrap_or("·"),
                t.to_state,
                escape(&t.reason)
            )
        })
        .collect();
    Ok(Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Message {id} · Aftercare</title><style>{STYLE}</style></head><body><p><a href=\"/outbox\">← Outbox</a></p><h1>{subject}</h1><p>To {to} · template <code>{template}</code> · <span class=\"{state}\">{state}</span></p><h2>History</h2><ul>{history}</ul><h2>HTML</h2><iframe src=\"/outbox/{id}/html\" title=\"HTML part\" sandbox></iframe><h2>Text</h2><pre>{text}</pre></body></html>",
        subject = escape(m.subject.as_deref().unwrap_or("(not rendered yet)")),
        to = escape(m.recipient.as_deref().unwrap_or("")),
        template = escape(&m.template),
        state = m.state.as_str(),
        text = escape(m.body_text.as_deref().unwrap_or("")),
    )))
}

async fn outbox_message_html(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let m = tx.message(id).await?;
    tx.commit().await?;
    Ok((
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src *; style-src 'unsafe-inline'",
        )],
        Html(m.body_html.unwrap_or_default()),
    )
        .into_response())
}
