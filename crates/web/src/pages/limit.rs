//! Rate limiting of the customer pages: each client address gets a burst of 60 requests and
//! then 2 a second (governor's GCRA, in memory per process). A link is a key, so guessing
//! tokens or hammering a form gets a friendly 429 page with `Retry-After` instead of work.
//! Behind a reverse proxy every customer shares the proxy's address, so the limit is per
//! process and generous; put a per-client limit in the proxy as well.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use governor::clock::DefaultClock;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Requests a client may make at once.
const BURST: u32 = 60;
/// Requests a client may make per minute after the burst.
const PER_MINUTE: u32 = 120;

type Limiter = RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>;

/// The limiter the page routes share.
#[derive(Debug, Clone)]
pub struct PageLimiter {
    limiter: Arc<Limiter>,
    checks: Arc<AtomicU64>,
}

impl Default for PageLimiter {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Arc::new(RateLimiter::hashmap(quota)),
            checks: Arc::default(),
        }
    }
}

/// The middleware: a request over the client's limit gets 429 and is not handled.
pub async fn limit(State(limiter): State<PageLimiter>, request: Request, next: Next) -> Response {
    let Some(ConnectInfo(addr)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return next.run(request).await;
    };
    // Forget quiet clients now and then, so the table does not grow without end.
    if limiter.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
        limiter.limiter.retain_recent();
    }
    if limiter.limiter.check_key(&addr.ip()).is_ok() {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Html(
            "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Even geduld</title></head><body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5\"><h1>Even geduld</h1><p>Er kwamen veel verzoeken tegelijk binnen. Probeer het over een minuut opnieuw.</p><h2 lang=\"en\">One moment</h2><p lang=\"en\">Many requests arrived at once. Please try again in a minute.</p></body></html>",
        ),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
