//! Signed outgoing webhooks: how Aftercare calls the brand's and its partners' systems
//! (the carrier adapter now; SMS and push providers later).
//!
//! Every request carries `Aftercare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over
//! "<t>.<body>">`, the scheme Stripe uses, so the receiver checks both who sent it and that
//! it is fresh ([`verify`]). Targets on loopback, private, link-local or otherwise internal
//! addresses are refused unless configured explicitly (no SSRF): literal addresses are
//! checked before connecting, and names are checked by the resolver itself, so a name that
//! resolves to an internal address later (DNS rebinding) is refused too.
//!
//! What it does not do: retries (the engine's job queue retries with backoff and jitter,
//! and sets a job aside after too many failures).
//!
//! Requirements: PX2 (changes passed on to the carrier).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// The request header with the signature.
pub const SIGNATURE_HEADER: &str = "Aftercare-Signature";

/// Why a webhook call failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The target is not allowed (internal address) or not a URL: retrying will not help.
    #[error("webhook target refused: {0}")]
    Target(String),
    /// The receiver answered 4xx: it understood and said no.
    #[error("the receiver refused ({status}): {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// Network trouble, a timeout or a 5xx: retry later.
    #[error("webhook call failed, may succeed later: {0}")]
    Transient(String),
}

impl WebhookError {
    /// Whether the receiver answered 500: it failed on this very request (a crash handling
    /// it), unlike a gateway, an overload or the network, which are about the receiver.
    pub fn failed_on_request(&self) -> bool {
        matches!(self, Self::Transient(m) if m.starts_with("500 "))
    }

    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `at`.
pub fn signature(secret: &[u8], at: Timestamp, body: &[u8]) -> String {
    let t = at.as_second();
    let sig = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// Whether `header` is a valid signature of `body`, made within `tolerance` of `now` (a
/// receiver's check; constant-time on the signature).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (t, v1) else {
        return false;
    };
    let age = (now.as_second() - t).unsigned_abs();
    if age > tolerance.as_secs() {
        return false;
    }
    mac(secret, t, body).verify_slice(&sig).is_ok()
}

/// Whether an address is internal: loopback, private (RFC 1918, unique local), link-local,
/// carrier-grade NAT, unspecified, multicast or documentation.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves names and refuses internal addresses.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
                return Err(
                    format!("{host} resolves to an internal address ({})", bad.ip()).into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How a platform's API is signed in to.
#[derive(Debug, Clone, Copy)]
pub enum ApiAuth<'a> {
    /// A header and its value (Shopify's `X-Shopify-Access-Token`).
    Header(&'a str, &'a str),
    /// HTTP basic auth (WooCommerce's consumer key and secret).
    Basic(&'a str, &'a str),
}

/// Calls webhooks.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_internal: bool,
}

impl WebhookClient {
    /// A client; `allow_internal` lets targets on loopback or private networks through.
    pub fn new(allow_internal: bool) -> Self {
        // TLS through rustls with the ring provider (as lettre uses), not aws-lc.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Aftercare-Webhook/1");
        if !allow_internal {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Self {
            http: builder.build().expect("a webhook HTTP client"),
            allow_internal,
        }
    }

    fn check(&self, url: &str) -> Result<reqwest::Url, WebhookError> {
        let url =
            reqwest::Url::parse(url).map_err(|e| WebhookError::Target(format!("{url}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Target(format!("{url}: not http(s)")));
        }
        if !self.allow_internal {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| is_internal(*ip)) {
                return Err(WebhookError::Target(format!(
                    "{url}: {ip} is an internal address (set allow_private_targets to allow it)"
                )));
            }
            if url.host_str() == Some("localhost") {
                return Err(WebhookError::Target(format!(
                    "{url}: localhost is internal (set allow_private_targets to allow it)"
                )));
            }
        }
        Ok(url)
    }

    async fn answer(response: reqwest::Response) -> Result<String, WebhookError> {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let short: String = body.chars().take(500).collect();
        if status.is_success() {
            Ok(body)
        } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            Err(WebhookError::Refused {
                status: status.as_u16(),
                body: short,
            })
        } else {
            Err(WebhookError::Transient(format!("{status}: {short}")))
        }
    }

    /// POSTs `body` as JSON, signed with `secret` at `now`; the answer's body on 2xx.
    /// `idempotency_key` lets the receiver recognise a retry.
    pub async fn post_json(
        &self,
        url: &str,
        secret: &[u8],
        body: &serde_json::Value,
        idempotency_key: &str,
        now: Timestamp,
    ) -> Result<String, WebhookError> {
        let url = self.check(url)?;
        let bytes = serde_json::to_vec(body).map_err(|e| WebhookError::Target(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(secret, now, &bytes))
            .header("Idempotency-Key", idempotency_key)
            .body(bytes)
            .send()
            .await
            .map_err(|e| send_error(&e))?;
        Self::answer(response).await
    }

    /// POSTs `body` as JSON to a platform's API with its own authentication (a token
    /// header, or HTTP basic auth); the answer's body on 2xx. The same address checks and
    /// error classes as a webhook.
    pub async fn post_api(
        &self,
        url: &str,
        auth: ApiAuth<'_>,
        body: &serde_json::Value,
    ) -> Result<String, WebhookError> {
        let url = self.check(url)?;
        let request = self.http.post(url).json(body);
        let request = match auth {
            ApiAuth::Header(name, value) => request.header(name, value),
            ApiAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let response = request.send().await.map_err(|e| send_error(&e))?;
        Self::answer(response).await
    }

    /// GETs `url` with `query` from a platform's API with its own authentication; the
    /// answer's body on 2xx. The same address checks and error classes as a webhook.
    pub async fn get_api(
        &self,
        url: &str,
        auth: ApiAuth<'_>,
        query: &[(&str, &str)],
    ) -> Result<String, WebhookError> {
        let url = self.check(url)?;
        let request = self.http.get(url).query(query);
        let request = match auth {
            ApiAuth::Header(name, value) => request.header(name, value),
            ApiAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let response = request.send().await.map_err(|e| send_error(&e))?;
        Self::answer(response).await
    }

    /// GETs `url` with `query`, signed (over an empty body) with `secret` at `now`; the
    /// answer parsed as JSON.
    pub async fn get_json(
        &self,
        url: &str,
        secret: &[u8],
        query: &[(&str, &str)],
        now: Timestamp,
    ) -> Result<serde_json::Value, WebhookError> {
        let url = self.check(url)?;
        let response = self
            .http
            .get(url)
            .query(query)
            .header(SIGNATURE_HEADER, signature(secret, now, b""))
            .send()
            .await
            .map_err(|e| send_error(&e))?;
        let body = Self::answer(response).await?;
        serde_json::from_str(&body)
            .map_err(|e| WebhookError::Transient(format!("the answer is not JSON: {e}")))
    }
}

/// A failed request: refused by the resolver's check (permanent), or network trouble.
fn send_error(e: &reqwest::Error) -> WebhookError {
    let chain = error_chain(e);
    if chain.contains("resolves to an internal address") {
        WebhookError::Target(chain)
    } else {
        WebhookError::Transient(chain)
    }
}

/// An error with its causes, so "error sending request" says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not() {
        let now: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let sig = signature(b"s3cret-s3cret-s3cret", now, b"{\"a\":1}");
        let tol = Duration::from_secs(300);
        assert!(verify(
            b"s3cret-s3cret-s3cret",
            &sig,
            b"{\"a\":1}",
            now,
            tol
        ));
        assert!(!verify(
            b"s3cret-s3cret-s3cret",
            &sig,
            b"{\"a\":2}",
            now,
            tol
        ));
        assert!(!verify(b"other-secret-here", &sig, b"{\"a\":1}", now, tol));
        let later = now + jiff::SignedDuration::from_mins(6);
        assert!(!verify(
            b"s3cret-s3cret-s3cret",
            &sig,
            b"{\"a\":1}",
            later,
            tol
        ));
        assert!(!verify(b"s3cret-s3cret-s3cret", "t=1,v1=zz", b"", now, tol));
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2a00:1450:4001::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allowed() {
        let now: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let client = WebhookClient::new(false);
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost:9/x",
            "http://[::1]:9/x",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let e = client
                .post_json(url, b"k", &serde_json::json!({}), "k1", now)
                .await
                .unwrap_err();
            assert!(matches!(e, WebhookError::Target(_)), "{url}: {e}");
        }
        // Allowed: the call is made (and fails to connect, which is transient).
        let e = WebhookClient::new(true)
            .post_json(
                "http://127.0.0.1:9/x",
                b"k",
                &serde_json::json!({}),
                "k1",
                now,
            )
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
    }
}
