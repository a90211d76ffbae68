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
use aftercare_store::MessageId;
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
        aftercare_lab::stand_in::ROUTE,
        axum::routing::post(demo_carrier::receive),
    )
}

/// The built-in outbox for a demo or a shop without SMTP (templates/outbox.html): the
/// latest messages, and one message with its history and both parts.
async fn outbox(State(app): State<AppState>) -> Result<Html<String>, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let messages = tx
        .messages(&MessageFilter {
            limit: 200,
            ..Default::default()
        })
        .await?;
    tx.commit().await?;
    let messages: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "at": m.sent_at.unwrap_or(m.planned_at).strftime("%Y-%m-%d %H:%M").to_string(),
                "customer": m.customer_external_id,
                "recipient": m.recipient,
                "subject": m.subject,
                "template": m.template,
                "state": m.state.as_str(),
                "reason": m.reason,
            })
        })
        .collect();
    Ok(Html(common::render(
        "outbox.html",
        serde_json::json!({ "messages": messages }),
    )?))
}

async fn outbox_message(
    State(app): State<AppState>,
    Path(id): Path<MessageId>,
) -> Result<Html<String>, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let m = tx.message(id).await?;
    let transitions = tx.message_transitions(id).await?;
    tx.commit().await?;
    let history: Vec<serde_json::Value> = transitions
        .iter()
        .map(|t| serde_json::json!({"from": t.from_state, "to": t.to_state, "reason": t.reason}))
        .collect();
    Ok(Html(common::render(
        "outbox.html",
        serde_json::json!({
            "message": {
                "id": id,
                "subject": m.subject,
                "recipient": m.recipient,
                "template": m.template,
                "state": m.state.as_str(),
                "text": m.body_text,
            },
            "history": history,
        }),
    )?))
}

async fn outbox_message_html(
    State(app): State<AppState>,
    Path(id): Path<MessageId>,
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
