//! Tracked links (issue 6): a message whose programme step sets `track_clicks = true` has
//! each web link in its text rewritten to `/c/{token}`, a signed redirect. Following it
//! counts the click and sends the customer on with `302 Found`; an expired redirect still
//! leads to its address (it is stored, not taken from the link) but counts nothing; a
//! changed one gets the friendly page and goes nowhere — it is no open redirect.
//!
//! Opens are counted only when the brand sets `track_opens = true`: HTML emails then load a
//! 1×1 image from `/o/{token}`. The image is the same for every request; only a valid,
//! unexpired token is counted.

use aftercare_engine::links::{LinkError, Page};
use aftercare_engine::worker::CLICK_LINKS;
use aftercare_store::MessageId;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::common::link_problem;
use crate::AppState;
use crate::error::ApiError;

/// `GET /c/{token}`.
pub async fn follow(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let (subject, count) = match app.engine.links().verify(Page::Click, &token, now) {
        Ok(subject) => (subject, true),
        // The signature held; only the time ran out.
        Err(LinkError::Expired) => match token.split('.').next().and_then(|s| s.parse().ok()) {
            Some(subject) => (subject, false),
            None => return link_problem(&app, LinkError::Invalid),
        },
        Err(e) => return link_problem(&app, e),
    };
    let (message, position) = (MessageId(subject / CLICK_LINKS), subject % CLICK_LINKS);
    let position = i32::try_from(position).unwrap_or(-1);
    let mut tx = app.store.begin().await?;
    let Some(url) = tx.tracked_link(message, position).await? else {
        return link_problem(&app, LinkError::Invalid);
    };
    if count {
        tx.record_click(message, position, now).await?;
    }
    tx.commit().await?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    let location = HeaderValue::from_str(&url).map_err(|_| {
        ApiError::Internal(format!(
            "tracked link {message}/{position} is not a header value"
        ))
    })?;
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// `GET /o/{token}`: the open-tracking pixel.
pub async fn open(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    if let Ok(message) = app.engine.links().verify(Page::Open, &token, now) {
        let mut tx = app.store.begin().await?;
        tx.record_open(MessageId(message), now).await?;
        tx.commit().await?;
    }
    let mut response = (StatusCode::OK, PIXEL).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
