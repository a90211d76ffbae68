//! The demo's stand-in carrier (mounted with the outbox, in demo mode only): the lab's
//! ([`aftercare_lab::stand_in`]) on the demo server itself, for the demo's carriers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::AppState;

/// `POST /demo/carrier/{carrier}`.
pub async fn receive(
    State(app): State<AppState>,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    aftercare_lab::stand_in::answer(
        app.engine.tracking(),
        &carrier,
        &headers,
        &body,
        app.clock.now(),
    )
}
