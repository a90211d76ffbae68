//! Signed, expiring links to a customer's branded pages (no login): loyalty, tracking,
//! surveys, preferences and one-click unsubscribe. A token is
//! `<subject id>.<expiry (unix s)>.<signature>` (the subject is the customer, the shipment
//! or the survey response); the signature is HMAC-SHA256 over the page's purpose, the
//! subject and the expiry, so a
//! loyalty link cannot open another customer's page or another kind of page, and a changed
//! expiry breaks it. Forms on those pages carry a CSRF token derived from the link token.
//!
//! What it does not do: rate limiting or rendering (the web layer does).
//!
//! Requirements: LY1 (the loyalty page), RF1 (the referral link on it), PX2 (tracking).

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signature bytes kept in a token (128 bits).
const SIG_BYTES: usize = 16;

/// Which page a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Points, tier, rewards and the referral link.
    Loyalty,
    /// One-click unsubscribe from marketing email (RFC 8058).
    Unsubscribe,
    /// A survey response (the subject is the response, not the customer).
    Survey,
    /// Consents, contact frequency and birthday.
    Preferences,
    /// A shipment's tracking page (the subject is the shipment).
    Tracking,
    /// The customer's inbox: portal messages and the emails they were sent.
    Inbox,
    /// A tracked link's redirect (the subject is message id × 1,000 + the link's position).
    Click,
    /// The open-tracking pixel of an email (the subject is the message), when configured.
    Open,
    /// A retention offer to accept with one click (the subject is the offer, RT1).
    Offer,
}

impl Page {
    /// The path segment and the signed purpose.
    pub fn as_str(self) -> &'static str {
        match self {
            Page::Loyalty => "loyalty",
            Page::Unsubscribe => "unsubscribe",
            Page::Survey => "survey",
            Page::Preferences => "preferences",
            Page::Tracking => "tracking",
            Page::Inbox => "inbox",
            Page::Click => "click",
            Page::Open => "open",
            Page::Offer => "offer",
        }
    }
}

/// Why a link does not open its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token, or the signature does not match (changed or forged).
    #[error("the link is not valid")]
    Invalid,
    /// Valid once, but past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks customer links.
#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
    base_url: String,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl LinkSigner {
    /// A signer with `secret`, making links under `base_url` (e.g. `https://care.shop.nl`).
    pub fn new(secret: &[u8], base_url: &str) -> Self {
        Self {
            secret: secret.to_vec(),
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, purpose: &str, subject: i64, expires: i64) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(format!("{purpose}|{subject}|{expires}").as_bytes());
        mac
    }

    /// Where the pages and the API are served, e.g. `https://care.shop.nl`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether pages are served over HTTPS (then cookies are marked `Secure`).
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// A token for `page` of `subject` (a customer's id, or a message's or shipment's for
    /// the pages about one), valid until `expires`.
    pub fn token(&self, page: Page, subject: impl Into<i64>, expires: Timestamp) -> String {
        let subject = subject.into();
        let expires = expires.as_second();
        let sig = self
            .mac(page.as_str(), subject, expires)
            .finalize()
            .into_bytes();
        format!("{subject}.{expires}.{}", hex::encode(&sig[..SIG_BYTES]))
    }

    /// The full link.
    pub fn url(&self, page: Page, subject: impl Into<i64>, expires: Timestamp) -> String {
        let prefix = match page {
            // Short, as it sits in a mail header.
            Page::Unsubscribe => "u".to_string(),
            Page::Click => "c".to_string(),
            Page::Open => "o".to_string(),
            other => format!("p/{}", other.as_str()),
        };
        format!(
            "{}/{prefix}/{}",
            self.base_url,
            self.token(page, subject, expires)
        )
    }

    /// The customer a token opens `page` for, at `now`.
    pub fn verify(&self, page: Page, token: &str, now: Timestamp) -> Result<i64, LinkError> {
        let mut parts = token.split('.');
        let (Some(subject), Some(expires), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Invalid);
        };
        let subject: i64 = subject.parse().map_err(|_| LinkError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        let sig = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
        if sig.len() != SIG_BYTES {
            return Err(LinkError::Invalid);
        }
        // One spelling per token: `+42`, `042` or upper-case hex are other strings that
        // would parse to the same values, so they are refused (issue 19).
        if token != format!("{subject}.{expires}.{}", hex::encode(&sig)) {
            return Err(LinkError::Invalid);
        }
        // Constant-time comparison of the kept bytes.
        self.mac(page.as_str(), subject, expires)
            .verify_truncated_left(&sig)
            .map_err(|_| LinkError::Invalid)?;
        if now.as_second() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(subject)
    }

    /// The CSRF token for forms on the page a link token opens.
    pub fn csrf(&self, token: &str) -> String {
        let mut mac = self.mac("csrf", 0, 0);
        mac.update(token.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..SIG_BYTES])
    }

    /// Whether `csrf` belongs to `token` (constant time).
    pub fn check_csrf(&self, token: &str, csrf: &str) -> bool {
        let Ok(given) = hex::decode(csrf) else {
            return false;
        };
        if hex::encode(&given) != csrf {
            return false; // one spelling: lower-case hex
        }
        let mut mac = self.mac("csrf", 0, 0);
        mac.update(token.as_bytes());
        given.len() == SIG_BYTES && mac.verify_truncated_left(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_link_opens_its_customers_page_until_it_expires() {
        let s = LinkSigner::new(b"secret", "https://care.example/");
        let t = s.token(Page::Loyalty, 42, at("2026-06-01T00:00:00Z"));
        assert_eq!(
            s.verify(Page::Loyalty, &t, at("2026-05-31T23:59:59Z")),
            Ok(42)
        );
        assert_eq!(
            s.verify(Page::Loyalty, &t, at("2026-06-01T00:00:00Z")),
            Err(LinkError::Expired)
        );
        assert!(
            s.url(Page::Loyalty, 42, at("2026-06-01T00:00:00Z"))
                .starts_with("https://care.example/p/loyalty/42.")
        );
    }

    #[test]
    fn a_changed_customer_expiry_or_signature_is_refused() {
        let s = LinkSigner::new(b"secret", "http://x");
        let now = at("2026-01-01T00:00:00Z");
        let t = s.token(Page::Loyalty, 42, at("2026-06-01T00:00:00Z"));
        let parts: Vec<&str> = t.split('.').collect();
        for forged in [
            format!("43.{}.{}", parts[1], parts[2]),
            format!(
                "42.{}.{}",
                parts[1].parse::<i64>().unwrap() + 86_400,
                parts[2]
            ),
            format!("42.{}.{}", parts[1], "0".repeat(32)),
            "42".to_string(),
            format!("{t}.extra"),
            // The same values spelt otherwise.
            format!("+42.{}.{}", parts[1], parts[2]),
            format!("042.{}.{}", parts[1], parts[2]),
            format!("42.+{}.{}", parts[1], parts[2]),
            format!("42.0{}.{}", parts[1], parts[2]),
            format!("42.{}.{}", parts[1], parts[2].to_uppercase()),
        ] {
            assert_eq!(
                s.verify(Page::Loyalty, &forged, now),
                Err(LinkError::Invalid),
                "{forged}"
            );
        }
        let other = LinkSigner::new(b"other", "http://x");
        assert_eq!(
            other.verify(Page::Loyalty, &t, now),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_link() {
        let s = LinkSigner::new(b"secret", "http://x");
        let a = s.token(Page::Loyalty, 1, at("2026-06-01T00:00:00Z"));
        let b = s.token(Page::Loyalty, 2, at("2026-06-01T00:00:00Z"));
        assert!(s.check_csrf(&a, &s.csrf(&a)));
        assert!(!s.check_csrf(&b, &s.csrf(&a)));
        assert!(!s.check_csrf(&a, "nonsense"));
        assert!(
            !s.check_csrf(&a, &s.csrf(&a).to_uppercase()),
            "one spelling"
        );
    }
}
