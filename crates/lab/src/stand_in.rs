//! The stand-in carrier: it receives the carrier adapter's signed webhook at
//! `/demo/carrier/{carrier}`, checks the signature with the carrier's configured secret, and
//! accepts the change (a move to a Saturday it refuses) — so a delivery change in the demo,
//! a simulation or a contact calendar travels the same path it does with a real carrier.
//! The demo server mounts [`answer`] beside its outbox; a throw-away run serves it on a
//! loopback port of its own ([`serve`]).

use aftercare_domain::delivery::TrackingConfig;
use aftercare_engine::Engine;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;
use tokio::net::TcpListener;

/// The path the stand-in carrier answers on.
pub const ROUTE: &str = "/demo/carrier/{carrier}";

/// The stand-in carrier's answer to a delivery change for `carrier` posted with `headers`
/// and `body` at `now`.
pub fn answer(
    tracking: &TrackingConfig,
    carrier: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Response {
    let Some(secret) = tracking
        .carriers
        .get(carrier)
        .and_then(|c| c.webhook_secret.clone())
    else {
        return (StatusCode::NOT_FOUND, "unknown carrier").into_response();
    };
    let signature = headers
        .get(aftercare_channels::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fresh = std::time::Duration::from_secs(300);
    if !aftercare_channels::webhook::verify(secret.as_bytes(), signature, body, now, fresh) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let change: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
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
    tracing::debug!(carrier, change = %change["change"], "The stand-in carrier accepted a delivery change.");
    axum::Json(json!({"accepted": true, "reference": format!("DEMO-{}", change["id"])}))
        .into_response()
}

/// For a run with no carrier of its own: binds a loopback port for the stand-in carrier and
/// points `tracking` at it (the demo's carriers, [`crate::demo_tracking`]). Serve it with
/// [`serve`] once the engine is built. `None` when carriers are configured.
pub async fn bind(tracking: &mut TrackingConfig) -> std::io::Result<Option<TcpListener>> {
    if !tracking.carriers.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    *tracking = crate::demo_tracking::tracking(&url);
    Ok(Some(listener))
}

/// Serves the stand-in carrier for `engine`'s carriers on `listener` in the background,
/// until the returned guard is dropped.
#[must_use = "the stand-in carrier stops when this is dropped"]
pub fn serve(engine: &Engine, listener: TcpListener) -> StandInCarrier {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = axum::Router::new()
        .route(ROUTE, axum::routing::post(receive))
        .with_state(engine.clone());
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "The stand-in carrier stopped.");
        }
    });
    StandInCarrier { _stop: stop }
}

async fn receive(
    State(engine): State<Engine>,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        engine.tracking(),
        &carrier,
        &headers,
        &body,
        engine.clock().now(),
    )
}

/// Keeps a stand-in carrier served; dropping it closes its listener.
#[derive(Debug)]
pub struct StandInCarrier {
    _stop: tokio::sync::oneshot::Sender<()>,
}
