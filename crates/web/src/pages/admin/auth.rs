//! Who may use the admin UI: team accounts with argon2id password hashes, server-side
//! sessions behind an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when served over
//! HTTPS; only a hash of the cookie is stored), a CSRF token per session that every form
//! carries, roles (viewer < editor < admin), and sign-in rate limiting per account and per
//! client address.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aftercare_domain::FieldError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use governor::clock::DefaultClock;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use rand::RngCore;

use super::{AdminError, Lang, problem};
use crate::AppState;
use crate::api::extract::hash_token;

/// The session cookie's name.
pub const COOKIE: &str = "aftercare_team";
/// How long a session lasts from sign-in.
pub const SESSION_HOURS: i64 = 12;
/// The shortest password `user create` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What a team member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also pauses programmes, fixes customer data, retries dead letters.
    Editor,
    /// Also erases customers.
    Admin,
}

impl Role {
    /// Parses `viewer`, `editor` or `admin`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(FieldError::new(
                "role",
                format!("'{other}' is not one of viewer, editor, admin"),
            )),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// Hashes a new password with argon2id (the crate's recommended parameters); a password
/// shorter than [`MIN_PASSWORD_CHARS`] is refused.
pub fn hash_password(password: &str) -> Result<String, FieldError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| FieldError::new("password", format!("could not make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FieldError::new("password", format!("could not be hashed: {e}")))
}

/// Whether `password` matches the stored argon2 hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown accounts so that a wrong name takes as
/// long as a wrong password (no account discovery by timing).
pub(super) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("no account has this password").unwrap_or_default())
}

/// A fresh random token (hex).
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
pub(super) fn session_cookie(app: &AppState, token: Option<&str>) -> String {
    let builder = Cookie::build((COOKIE, token.unwrap_or("").to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/admin")
        .secure(app.engine.links().is_https());
    let cookie = match token {
        Some(_) => builder.max_age(cookie::time::Duration::hours(SESSION_HOURS)),
        None => builder.max_age(cookie::time::Duration::ZERO),
    };
    cookie.build().to_string()
}

/// The session cookie a request carries.
pub(super) fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// A signed-in team member, taken from the session cookie. A request without a live
/// session is sent to the sign-in page (and back afterwards).
#[derive(Debug, Clone)]
pub struct Team {
    /// Sign-in name (what the audit log records).
    pub username: String,
    /// Role.
    pub role: Role,
    /// The UI language.
    pub lang: Lang,
    /// The session's CSRF token.
    pub csrf: String,
    /// The hash of the session cookie.
    pub(super) token_hash: String,
}

impl Team {
    /// Refuses (403) a team member below `role`.
    pub fn require(&self, role: Role) -> Result<(), AdminError> {
        if self.role >= role {
            return Ok(());
        }
        Err(AdminError::page(problem(
            self.lang,
            StatusCode::FORBIDDEN,
            self.lang
                .pick("Your role may not do this", "Jouw rol mag dit niet doen"),
            self.lang.pick(
                &format!(
                    "This needs the role {}; you are {}. Nothing was changed.",
                    role.as_str(),
                    self.role.as_str()
                ),
                &format!(
                    "Hiervoor is de rol {} nodig; jij bent {}. Er is niets veranderd.",
                    role.as_str(),
                    self.role.as_str()
                ),
            ),
        )))
    }

    /// Refuses (403) a form without this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), AdminError> {
        use subtle::ConstantTimeEq;
        // Constant time, so the token cannot be found byte by byte.
        if bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes())) {
            return Ok(());
        }
        Err(AdminError::page(problem(
            self.lang,
            StatusCode::FORBIDDEN,
            self.lang.pick("This form was not accepted", "Dit formulier is niet aangenomen"),
            self.lang.pick(
                "It did not come from this session (missing or wrong CSRF token). Nothing was changed; open the page again and retry.",
                "Het kwam niet uit deze sessie (CSRF-token ontbreekt of klopt niet). Er is niets veranderd; open de pagina opnieuw en probeer het nog eens.",
            ),
        )))
    }
}

impl FromRequestParts<AppState> for Team {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let to_sign_in = |parts: &Parts| {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/admin".into());
            let next = if parts.method == axum::http::Method::GET {
                next
            } else {
                "/admin".into()
            };
            Redirect::to(&format!("/admin/sign-in?next={}", urlencoding(&next))).into_response()
        };
        let Some(token) = cookie_token(parts) else {
            return Err(to_sign_in(parts));
        };
        let token_hash = hash_token(&token);
        let session = async {
            let mut tx = app.store.begin_read().await?;
            let s = tx.team_session(&token_hash, app.clock.now()).await?;
            tx.commit().await?;
            Ok::<_, aftercare_store::StoreError>(s)
        }
        .await
        .map_err(|e| crate::error::ApiError::from(e).into_response())?;
        let Some(session) = session else {
            return Err(to_sign_in(parts));
        };
        Ok(Team {
            role: Role::parse(&session.user.role).unwrap_or(Role::Viewer),
            lang: Lang::parse(&session.user.language),
            username: session.user.username,
            csrf: session.csrf,
            token_hash,
        })
    }
}

/// Characters left as they are in an admin path or query value; `/` stays readable.
const PATH_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a path segment or query value.
pub(super) fn urlencoding(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SAFE).to_string()
}

type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, DefaultClock>;

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A username in its one spelling: surrounding white space removed, 1 to 64 characters,
/// none of them white space or control characters. `user create` stores this form, and
/// sign-in looks it up and counts attempts on it, so `' anna'`, `'anna '` and `'\tanna'`
/// are the same account with the same five tries.
pub fn parse_username(s: &str) -> Result<&str, FieldError> {
    let name = s.trim();
    if name.is_empty() || name.chars().count() > MAX_USERNAME_CHARS {
        return Err(FieldError::new(
            "username",
            "must be 1 to 64 characters without spaces",
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            "username",
            "must be 1 to 64 characters without spaces",
        ));
    }
    Ok(name)
}

/// Sign-in attempts: 20 per client address (an IPv6 client by its /64), then one every 6
/// seconds; 5 per account from one client, then one a minute; and 50 per account from all
/// clients together, then one every 6 seconds (in memory, per process). So one client
/// guessing locks out only itself, not the account's owner, while many clients together
/// still cannot guess fast. An account is only counted once its client is allowed, and only
/// under its canonical name ([`parse_username`], at most 64 characters), so a refused or
/// malformed attempt adds nothing; the tables forget quiet keys as they go.
#[derive(Debug, Clone)]
pub struct SignInLimiter {
    per_account: Arc<Keyed<String>>,
    per_account_client: Arc<Keyed<(String, IpAddr)>>,
    per_client: Arc<Keyed<IpAddr>>,
    checks: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for SignInLimiter {
    fn default() -> Self {
        let quota = |period: u64, burst: u32| {
            Quota::with_period(Duration::from_secs(period))
                .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            per_account: Arc::new(RateLimiter::hashmap(quota(6, 50))),
            per_account_client: Arc::new(RateLimiter::hashmap(quota(60, 5))),
            per_client: Arc::new(RateLimiter::hashmap(quota(6, 20))),
            checks: Arc::default(),
        }
    }
}

/// How often (in checks) the tables drop keys whose limit has fully recovered.
const FORGET_EVERY: u64 = 256;

impl SignInLimiter {
    /// Whether `client` may try to sign in now.
    pub fn allow_client(&self, client: Option<SocketAddr>) -> bool {
        self.forget_now_and_then();
        client.is_none_or(|c| {
            self.per_client
                .check_key(&crate::server::client_key(c.ip()))
                .is_ok()
        })
    }

    /// Whether another attempt on the account `username` (canonical, see
    /// [`parse_username`]) from `client` may be checked now.
    pub fn allow_account(&self, username: &str, client: Option<SocketAddr>) -> bool {
        let ip = client.map_or(IpAddr::from([0, 0, 0, 0]), |c| {
            crate::server::client_key(c.ip())
        });
        self.per_account_client
            .check_key(&(username.to_string(), ip))
            .is_ok()
            && self.per_account.check_key(&username.to_string()).is_ok()
    }

    fn forget_now_and_then(&self) {
        use std::sync::atomic::Ordering;
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.per_client.retain_recent();
            self.per_account_client.retain_recent();
            self.per_account.retain_recent();
        }
    }

    /// Keys held in the two tables (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.per_client.len() + self.per_account_client.len() + self.per_account.len()
    }

    /// Whether both tables are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The client address, when the server was started with connect info.
pub(super) fn client_addr(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn a_short_password_is_refused_naming_the_field() {
        let e = hash_password("short").unwrap_err();
        assert_eq!(e.field, "password");
    }

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        assert_eq!(Role::parse("editor").unwrap(), Role::Editor);
        assert_eq!(Role::parse("root").unwrap_err().field, "role");
    }

    #[test]
    fn the_sixth_quick_attempt_on_one_account_is_refused() {
        let limiter = SignInLimiter::default();
        let guesser: SocketAddr = "192.0.2.66:4000".parse().unwrap();
        let owner: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        for _ in 0..5 {
            assert!(limiter.allow_account("anna", Some(guesser)));
        }
        assert!(!limiter.allow_account("anna", Some(guesser)));
        assert!(limiter.allow_account("bert", Some(guesser)));
        // The guesser locked out only itself: Anna signs in from her own address.
        assert!(limiter.allow_account("anna", Some(owner)));
    }

    #[test]
    fn padded_spellings_of_a_username_are_the_same_account() {
        for spelling in [" victim", "victim ", "\tvictim", "victim\n", "  victim\t "] {
            assert_eq!(parse_username(spelling).unwrap(), "victim", "{spelling:?}");
        }
        for bad in ["", "   ", "vic tim", "vic\u{0}tim", &"x".repeat(65)] {
            assert_eq!(
                parse_username(bad).unwrap_err().field,
                "username",
                "{bad:?}"
            );
        }
        assert!(parse_username(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn a_refused_client_adds_no_account_key() {
        let limiter = SignInLimiter::default();
        let client: SocketAddr = "192.0.2.9:4000".parse().unwrap();
        for _ in 0..20 {
            assert!(limiter.allow_client(Some(client)));
        }
        assert!(!limiter.allow_client(Some(client)));
        assert_eq!(limiter.len(), 1, "only the client is counted");
    }
}
