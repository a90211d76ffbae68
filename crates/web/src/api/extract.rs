//! Reading requests: JSON bodies with a size limit, UTF-8 and field-naming errors; bearer
//! tokens; Idempotency-Key claims and replays.

use aftercare_store::{IdempotencyClaim, Tx};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A JSON body parsed into `T`, with the raw bytes kept for the idempotency hash.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The body as received.
    pub raw: Bytes,
    /// Its share of the bodies being held at once, given back when the request is done.
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// A JSON body as received, not parsed yet: for the signed webhooks, which check the
/// signature over the raw bytes before they spend anything on parsing them.
#[derive(Debug)]
pub struct RawJson {
    /// The body as received.
    pub raw: Bytes,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// How many bytes of request bodies the server holds at once, over all requests (issue 19):
/// 512 slow clients each sending 2 MiB cannot make it hold 1 GiB. A body counts for what
/// its `Content-Length` says (2 MiB when it does not say), so 32 of the largest at once.
pub const BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// How long a request waits for its share of the budget before it is told to come back.
const BODY_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn body_budget() -> &'static std::sync::Arc<tokio::sync::Semaphore> {
    static BUDGET: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    BUDGET
        .get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_BYTES / 1024)))
}

/// Reads a JSON request's body within the size limit and the server's body budget.
async fn read_json(req: Request) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    read_limited(req, MAX_BODY_BYTES).await
}

/// Reads a request's body of at most `max` bytes within the server's body budget.
pub(crate) async fn read_limited(
    req: Request,
    max: usize,
) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    // A body's share is what it says it will be (the most, when it does not say).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::TooLarge(max));
    }
    let kib = u32::try_from(declared.unwrap_or(max).div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let permit = tokio::time::timeout(
        BODY_BUDGET_WAIT,
        body_budget().clone().acquire_many_owned(kib),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or(ApiError::Busy)?;
    let raw = axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| ApiError::TooLarge(max))?;
    Ok((raw, permit))
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (raw, budget) = read_json(req).await?;
        Ok(Self {
            raw,
            _budget: budget,
        })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (raw, budget) = read_json(req).await?;
        let value = parse_json(&raw)?;
        Ok(Self {
            value,
            raw,
            _budget: budget,
        })
    }
}

/// Parses JSON, naming the field that is wrong.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(raw).map_err(|e| ApiError::MalformedBody {
        field: String::new(),
        reason: format!(
            "the body is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(error) => {
            // JSON has one kind of number: `3.0` is the integer 3 (as JSON Schema reads
            // it), which serde refuses for an integer field. Only when the body did not
            // parse is it read again with such numbers made integers, so the usual case
            // parses once.
            if let Some(value) = integral_numbers(text)
                .and_then(|normalised| serde_json::from_value::<T>(normalised).ok())
            {
                return Ok(value);
            }
            return Err(malformed(error));
        }
    };
    de.end().map_err(|e| ApiError::MalformedBody {
        field: String::new(),
        reason: format!("trailing data after the JSON value: {e}"),
    })?;
    Ok(value)
}

/// A body that did not parse, as the error that names the field.
fn malformed(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = if path == "." { String::new() } else { path };
    // serde_json appends " at line L column C"; keep it, it helps with large bodies.
    // serde quotes the value it could not take; a 2 MB string is not sent back whole.
    let mut reason = shorten(&inner.to_string(), 300);
    if let Some(missing) = reason.strip_prefix("missing field `") {
        let name = missing.split('`').next().unwrap_or_default();
        let full = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
        reason = format!("the field '{full}' is required");
        return ApiError::MalformedBody {
            field: full,
            reason,
        };
    }
    if field.is_empty() {
        reason = format!("the body is not valid JSON: {reason}");
    }
    ApiError::MalformedBody { field, reason }
}

/// `text` cut to at most `max` characters, with an ellipsis where it was cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The body as a JSON value with every number that is a whole number written as an
/// integer (`3.0` → `3`), or `None` when there is none to change or it is not JSON.
fn integral_numbers(text: &str) -> Option<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // Within ±2^53 a float holds every whole number exactly.
                if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                    *value = serde_json::Value::from(f as i64);
                    return true;
                }
                false
            }
            // Every element is walked: `count` consumes the whole iterator.
            serde_json::Value::Array(items) => {
                items.iter_mut().map(walk).filter(|c| *c).count() > 0
            }
            serde_json::Value::Object(map) => map.values_mut().map(walk).filter(|c| *c).count() > 0,
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    walk(&mut value).then_some(value)
}

/// Path parameters parsed into `T`; a parameter that does not parse is a 400
/// problem+json naming it (`invalid_parameter`), never axum's plain-text answer.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                let field = axum::extract::RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|params| {
                        params
                            .iter()
                            .map(|(name, _)| name.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                Err(ApiError::BadParameter {
                    field,
                    reason: rejection.body_text(),
                })
            }
        }
    }
}

/// Query parameters parsed into `T`; a bad one is a 400 problem+json naming it.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let field = e.path().to_string();
            ApiError::BadParameter {
                field: if field == "." { "query".into() } else { field },
                reason: e.into_inner().to_string(),
            }
        })
    }
}

/// A list's `limit` parameter: 50 when absent, else 1 to 500.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadParameter {
            field: "limit".into(),
            reason: "must be between 1 and 500".into(),
        });
    }
    Ok(limit)
}

/// The caller, known by a valid bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's id: idempotency keys are scoped by it, since names need not be unique.
    pub token_id: i64,
    /// The token's name.
    pub token_name: String,
    /// What the token may do.
    pub scopes: Vec<Scope>,
}

/// What an API token may do (issue 21): a token is made with the scopes its user needs
/// (`aftercare token create --scope shop`), so the shop's token cannot export or erase
/// customers and a dashboard's cannot write.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    /// Everything (tokens made before scopes existed).
    All,
    /// Read everything under `/v1` but a customer's export: customers, messages, audiences,
    /// campaigns, imports, received webhooks, dead jobs.
    Read,
    /// What the shop sends and asks at checkout: customers, products, orders, shipments,
    /// events, consents, contracts, cancellations, loyalty, coupons, referrals, returns,
    /// history imports.
    Shop,
    /// Audiences and campaigns: write them, dry-run, schedule, cancel.
    Campaigns,
    /// GDPR requests: a customer's export and erasure.
    Privacy,
    /// Running it: dead jobs and their retry, received webhooks and their replay, `/metrics`.
    Operations,
    /// `/metrics` alone (counts, no personal data): for the monitoring system's scraper.
    Metrics,
}

impl Scope {
    /// Every scope but `all`, in the order they are named.
    pub const NARROW: [Scope; 6] = [
        Scope::Read,
        Scope::Shop,
        Scope::Campaigns,
        Scope::Privacy,
        Scope::Operations,
        Scope::Metrics,
    ];

    /// Parses a comma-separated list; an unknown scope is named with the known ones.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        use strum::VariantNames;
        let scopes: Vec<Scope> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|_| {
                    format!(
                        "unknown scope '{s}'; the scopes are {}",
                        Scope::VARIANTS.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if scopes.is_empty() {
            return Err(format!(
                "name at least one scope: {}",
                Scope::VARIANTS.join(", ")
            ));
        }
        Ok(scopes)
    }

    /// Whether this scope lets a caller make a `method` request to `route`, the route's
    /// template as the router matched it (`/v1/customers/{external_id}/export`), never the
    /// raw path, so no customer id can pass for another route. A route not named here is
    /// open to `all` only: a new route must be given its scope.
    pub fn allows(self, method: &axum::http::Method, route: &str) -> bool {
        use axum::http::Method;
        let read = *method == Method::GET || *method == Method::HEAD;
        let privacy = route == "/v1/customers/{external_id}/export"
            || (*method == Method::DELETE && route == "/v1/customers/{external_id}");
        let campaigns = route == "/v1/audiences"
            || route.starts_with("/v1/audiences/")
            || route == "/v1/campaigns"
            || route.starts_with("/v1/campaigns/");
        let operations = route == "/v1/dead-jobs"
            || route.starts_with("/v1/dead-jobs/")
            || route == "/v1/hook-deliveries"
            || route.starts_with("/v1/hook-deliveries/");
        let shop = if read {
            matches!(
                route,
                "/v1/coupons/{code}"
                    | "/v1/customers/{external_id}/loyalty"
                    | "/v1/imports"
                    | "/v1/imports/{id}"
            )
        } else {
            matches!(
                route,
                "/v1/customers"
                    | "/v1/customers/{external_id}/consents"
                    | "/v1/customers/{external_id}/points"
                    | "/v1/customers/{external_id}/rewards"
                    | "/v1/customers/{external_id}/coupons"
                    | "/v1/products"
                    | "/v1/orders"
                    | "/v1/shipment-events"
                    | "/v1/events"
                    | "/v1/contracts"
                    | "/v1/cancellations"
                    | "/v1/coupon-pools/{pool}/codes"
                    | "/v1/coupons/{code}/redemptions"
                    | "/v1/referrals"
                    | "/v1/returns"
                    | "/v1/imports"
            )
        };
        // The API's own description, for whoever integrates with any scope.
        let spec = read && route == "/v1/openapi.json";
        let known_read = read && route.starts_with("/v1/");
        match self {
            Scope::All => true,
            Scope::Read => known_read && !privacy,
            Scope::Shop => shop || spec,
            Scope::Campaigns => campaigns || spec,
            Scope::Privacy => privacy || spec,
            Scope::Operations => operations || route == "/metrics" || spec,
            Scope::Metrics => route == "/metrics",
        }
    }
}

/// The stored form of an API token: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verified tokens, remembered briefly so that each request does not cost a database
/// round trip. A revoked token stops working within [`TOKEN_CACHE_TTL`].
#[derive(Debug, Default)]
pub struct TokenCache {
    verified: std::sync::Mutex<std::collections::HashMap<String, (Caller, Timestamp)>>,
}

/// How long a verified token is trusted without asking the store again.
pub const TOKEN_CACHE_TTL: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

impl TokenCache {
    fn get(&self, hash: &str, now: Timestamp) -> Option<Caller> {
        let map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|(_, at)| now.duration_since(*at) < TOKEN_CACHE_TTL && *at <= now)
            .map(|(caller, _)| caller.clone())
    }

    fn put(&self, hash: String, caller: Caller, now: Timestamp) {
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(hash, (caller, now));
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization header: send 'Authorization: Bearer <token>' (create one with `aftercare token create`)"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be 'Bearer <token>'",
            ))?;
        let hash = hash_token(token);
        let now = state.clock.now();
        let caller = match state.tokens.get(&hash, now) {
            Some(caller) => caller,
            None => {
                let mut tx = state.store.begin_read().await?;
                let token = tx.api_token(&hash).await?;
                tx.commit().await?;
                let (token_id, token_name, scopes) =
                    token.ok_or(ApiError::Unauthorized("the bearer token is not valid"))?;
                // A scope this version does not know (written by a newer one) allows nothing;
                // the others still apply.
                let known: Vec<Scope> = scopes
                    .split(',')
                    .filter_map(|name| match name.trim().parse() {
                        Ok(scope) => Some(scope),
                        Err(_) => {
                            tracing::warn!(token = %token_name, scope = %name, "A token has a scope this version does not know; it allows nothing.");
                            None
                        }
                    })
                    .collect();
                let caller = Caller {
                    token_id,
                    token_name,
                    scopes: known,
                };
                state.tokens.put(hash, caller.clone(), now);
                caller
            }
        };
        let (method, path) = (&parts.method, parts.uri.path());
        // The route's template, as the router matched it (no customer id can pose as a route).
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or("", axum::extract::MatchedPath::as_str);
        if !caller.scopes.iter().any(|s| s.allows(method, route)) {
            let needed: Vec<&str> = Scope::NARROW
                .into_iter()
                .filter(|s| s.allows(method, route))
                .map(<&str>::from)
                .collect();
            let has: Vec<&str> = caller.scopes.iter().map(|s| s.into()).collect();
            return Err(ApiError::Refused {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "token_scope",
                field: "Authorization",
                detail: format!(
                    "this token (scopes: {}) may not {method} {path}; that needs a token with the scope {} (aftercare token create --scope …)",
                    has.join(", "),
                    needed.join(" or ")
                ),
            });
        }
        Ok(caller)
    }
}

/// An Idempotency-Key for one caller and route.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    key: String,
}

impl IdempotencyKey {
    /// Reads the optional `Idempotency-Key` header.
    pub fn from_headers(
        headers: &HeaderMap,
        caller: &Caller,
        route: &str,
    ) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            // Visible ASCII and spaces inside, as the document's pattern says (a header
            // value may also carry tabs, which the pattern leaves out).
            .filter(|k| {
                !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (b' '..=b'~').contains(&b))
            })
            .ok_or(ApiError::BadIdempotencyKey(
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            ))?;
        Ok(Some(Self {
            scope: format!("token:{} {route}", caller.token_id),
            key: key.to_string(),
        }))
    }

    /// Claims the key as the transaction's first write; returns the stored answer on a retry.
    pub async fn claim(
        &self,
        tx: &mut Tx,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<Response>, ApiError> {
        let hash = hex(&Sha256::digest(body));
        match tx
            .claim_idempotency_key(&self.scope, &self.key, &hash, now)
            .await?
        {
            IdempotencyClaim::New => Ok(None),
            IdempotencyClaim::Mismatch => Err(ApiError::IdempotencyKeyReused),
            IdempotencyClaim::InProgress => Err(ApiError::KeyInProgress),
            IdempotencyClaim::Replay { status, response } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let mut r = (status, response).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                Ok(Some(r))
            }
        }
    }

    /// Stores the answer in the same transaction as the work.
    pub async fn finish(
        &self,
        tx: &mut Tx,
        status: StatusCode,
        body: &str,
    ) -> Result<(), ApiError> {
        Ok(tx
            .finish_idempotency_key(&self.scope, &self.key, status.as_u16(), body)
            .await?)
    }
}

/// Runs an idempotent write: claims the key (if any), runs `work`, stores its answer,
/// commits. A retry with the same key and body gets the first answer and changes nothing.
#[macro_export]
#[doc(hidden)]
macro_rules! idempotent_write {
    ($state:expr, $headers:expr, $caller:expr, $route:expr, $raw:expr, |$tx:ident, $now:ident| $work:expr) => {{
        let key = $crate::api::extract::IdempotencyKey::from_headers(&$headers, &$caller, $route)?;
        let $now = $state.clock.now();
        let mut tx = $state.store.begin().await?;
        if let Some(k) = &key {
            if let Some(replay) = k.claim(&mut tx, &$raw, $now).await? {
                return Ok(replay);
            }
        }
        let (status, body): (axum::http::StatusCode, serde_json::Value) = {
            let $tx = &mut tx;
            $work
        };
        let text = body.to_string();
        if let Some(k) = &key {
            k.finish(&mut tx, status, &text).await?;
        }
        tx.commit().await?;
        $state.engine.wake();
        let mut response = axum::response::IntoResponse::into_response((status, text));
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: which scope opens which route. Every operation of the OpenAPI document,
    /// `/metrics` and the document itself are given a scope besides `all` (a new route left
    /// out fails here), and the table says which.
    #[test]
    fn each_scope_opens_only_its_routes() {
        use axum::http::Method;
        let routes: &[(&str, &str, &str)] = &[
            ("GET", "/v1/customers/{external_id}", "read"),
            ("POST", "/v1/customers", "shop"),
            ("DELETE", "/v1/customers/{external_id}", "privacy"),
            ("GET", "/v1/customers/{external_id}/export", "privacy"),
            ("POST", "/v1/customers/{external_id}/consents", "shop"),
            ("GET", "/v1/customers/{external_id}/loyalty", "read shop"),
            ("POST", "/v1/customers/{external_id}/points", "shop"),
            ("POST", "/v1/customers/{external_id}/rewards", "shop"),
            ("POST", "/v1/customers/{external_id}/coupons", "shop"),
            ("POST", "/v1/products", "shop"),
            ("POST", "/v1/orders", "shop"),
            ("POST", "/v1/shipment-events", "shop"),
            ("POST", "/v1/events", "shop"),
            ("POST", "/v1/contracts", "shop"),
            ("POST", "/v1/cancellations", "shop"),
            ("GET", "/v1/coupons/{code}", "read shop"),
            ("POST", "/v1/coupons/{code}/redemptions", "shop"),
            ("POST", "/v1/coupon-pools/{pool}/codes", "shop"),
            ("POST", "/v1/referrals", "shop"),
            ("POST", "/v1/returns", "shop"),
            ("POST", "/v1/imports", "shop"),
            ("GET", "/v1/imports", "read shop"),
            ("GET", "/v1/imports/{id}", "read shop"),
            ("GET", "/v1/messages", "read"),
            ("GET", "/v1/messages/{id}", "read"),
            ("GET", "/v1/audiences", "read campaigns"),
            ("GET", "/v1/audiences/{id}", "read campaigns"),
            ("PUT", "/v1/audiences/{id}", "campaigns"),
            ("DELETE", "/v1/audiences/{id}", "campaigns"),
            ("GET", "/v1/campaigns", "read campaigns"),
            ("POST", "/v1/campaigns", "campaigns"),
            ("GET", "/v1/campaigns/{id}", "read campaigns"),
            ("DELETE", "/v1/campaigns/{id}", "campaigns"),
            ("POST", "/v1/campaigns/{id}/schedule", "campaigns"),
            ("POST", "/v1/campaigns/{id}/cancel", "campaigns"),
            ("GET", "/v1/campaigns/{id}/dry-run", "read campaigns"),
            ("GET", "/v1/dead-jobs", "read operations"),
            ("POST", "/v1/dead-jobs/{id}/retry", "operations"),
            ("GET", "/v1/hook-deliveries", "read operations"),
            ("GET", "/v1/hook-deliveries/{id}", "read operations"),
            ("POST", "/v1/hook-deliveries/{id}/replay", "operations"),
            ("GET", "/metrics", "operations metrics"),
            (
                "GET",
                "/v1/openapi.json",
                "read shop campaigns privacy operations",
            ),
            // Not a route: open to `all` only.
            ("POST", "/v1/tokens", ""),
        ];
        for (method, route, opened_by) in routes {
            let method: Method = method.parse().unwrap();
            for scope in Scope::NARROW {
                let name: &str = scope.into();
                assert_eq!(
                    scope.allows(&method, route),
                    opened_by.split(' ').any(|s| s == name),
                    "{name} for {method} {route}"
                );
            }
            assert!(Scope::All.allows(&method, route));
        }
        // Every secured operation the document describes is in the table, so has a scope.
        let document = crate::api::openapi::document_value();
        for (route, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if operation.get("security").is_none() {
                    continue;
                }
                let method = method.to_uppercase();
                assert!(
                    routes.iter().any(|(m, r, _)| *m == method && r == route),
                    "{method} {route} has no scope in the table"
                );
            }
        }
        assert_eq!(
            Scope::parse_list("shop, read"),
            Ok(vec![Scope::Shop, Scope::Read])
        );
        assert!(Scope::parse_list("shop,everything").unwrap_err().contains(
            "unknown scope 'everything'; the scopes are all, read, shop, campaigns, privacy, operations, metrics"
        ));
        assert!(Scope::parse_list(" ").is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Line {
        quantity: u32,
        cents: i64,
    }

    #[test]
    fn a_whole_number_written_with_a_point_is_an_integer_and_a_fraction_is_refused() {
        let line: Line = parse_json(br#"{"quantity": 2.0, "cents": -1299.0}"#).unwrap();
        assert_eq!((line.quantity, line.cents), (2, -1299));
        match parse_json::<Line>(br#"{"quantity": 2.5, "cents": 1}"#) {
            Err(ApiError::MalformedBody { field, .. }) => assert_eq!(field, "quantity"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Line>(br#"{"quantity": 1e300, "cents": 1}"#) {
            Err(ApiError::MalformedBody { field, .. }) => assert_eq!(field, "quantity"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_idempotency_key_outside_the_documented_pattern_is_refused() {
        let caller = Caller {
            token_id: 1,
            token_name: "shop".into(),
            scopes: vec![Scope::All],
        };
        let key = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("idempotency-key", HeaderValue::from_str(value).unwrap());
            IdempotencyKey::from_headers(&headers, &caller, "POST /v1/contracts")
        };
        assert!(key("order 7 retry").unwrap().is_some());
        for bad in ["a\tb", &"k".repeat(256)] {
            assert!(
                matches!(key(bad), Err(ApiError::BadIdempotencyKey(_))),
                "{bad:?}"
            );
        }
    }
}
