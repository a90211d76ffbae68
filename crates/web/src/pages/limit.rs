//! Rate limiting of the customer pages: each client address gets a burst of 60 requests and
//! then 2 a second (governor's GCRA, in memory per process). A link is a key, so guessing
//! tokens or hammering a form gets a friendly 429 page with `Retry-After` instead of work.
//! Behind a reverse proxy listed in `trusted_proxies`, the client is the last address in
//! `X-Forwarded-For` that is not itself a trusted proxy (anything further left is what the
//! client claims, and is ignored); from any other peer the header is ignored. The limit is
//! per process: with several `serve` processes a client may make that many times the
//! requests.

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
    trusted: Arc<[ipnet::IpNet]>,
}

impl Default for PageLimiter {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl PageLimiter {
    /// A limiter that believes `X-Forwarded-For` from the `trusted` proxies only.
    pub fn new(trusted: Vec<ipnet::IpNet>) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Arc::new(RateLimiter::hashmap(quota)),
            checks: Arc::default(),
            trusted: trusted.into(),
        }
    }

    /// The client behind a request from `peer`.
    fn client(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
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
    let client = limiter.client(addr.ip(), request.headers());
    if limiter
        .limiter
        .check_key(&crate::server::client_key(client))
        .is_ok()
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_last_untrusted_hop_and_only_a_trusted_proxy_is_believed() {
        let limiter = PageLimiter::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Through the brand's proxy (10.0.0.5): the address it saw.
        let h = forwarded("198.51.100.7, 203.0.113.9");
        assert_eq!(limiter.client(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // Two trusted proxies in a row: the first untrusted one from the right.
        let h = forwarded("198.51.100.7, 203.0.113.9, 10.0.0.7");
        assert_eq!(limiter.client(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // Straight from the internet, the header is the client's own claim: ignored.
        assert_eq!(limiter.client(ip("203.0.113.50"), &h), ip("203.0.113.50"));
        // Garbage stops the walk at the last good address.
        let h = forwarded("nonsense, 10.0.0.9");
        assert_eq!(limiter.client(ip("10.0.0.5"), &h), ip("10.0.0.9"));
        assert_eq!(
            PageLimiter::default().client(ip("10.0.0.5"), &h),
            ip("10.0.0.5")
        );
    }
}
