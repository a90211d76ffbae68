//! The demo's stand-in carrier (mounted with the outbox, in demo mode only): it receives the
//! carrier adapter's signed webhook, checks the signature with the carrier's configured
//! secret, and accepts the change (a move to a Saturday it refuses) — so a delivery change
//! in the demo travels the same path it does with a real carrier.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// `POST /demo/carrier/{carrier}`.
pub async fn receive(
    State(app): State<AppState>,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = app
        .engine
        .tracking()
        .carriers
        .get(&carrier)
        .and_then(|c| c.webhook_secret.clone())
    else {
        return (StatusCode::NOT_FOUND, "unknown carrier").into_response();
    };
    let signature = headers
        .get(aftercare_channels::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fresh = std::time::Duration::from_secs(300);
    if !aftercare_channels::webhook::verify(
        secret.as_bytes(),
        signature,
        &body,
        app.clock.now(),
        fresh,
    ) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let change: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // Like real carriers, the stand-in does not deliver on Saturdays everywhere: a move to a
    // Saturday is refused, which shows the refusal path (the customer is told at once).
    let saturday = change["change"]["kind"] == "other_day"
        && change["change"]["date"]
            .as_str()
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            .is_some_and(|d| d.weekday() == jiff::civil::Weekday::Saturday);
    if saturday {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "no Saturday delivery at this address",
        )
            .into_response();
    }
    tracing::debug!(carrier, change = %change["change"], "Demo carrier accepted a delivery change.");
    axum::Json(json!({"accepted": true, "reference": format!("DEMO-{}", change["id"])}))
        .into_response()
}
