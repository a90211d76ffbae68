//! `POST /hooks/<platform>`: the shop and shipping platforms' webhooks, verified the way
//! each platform signs them, kept once per delivery with the raw payload, mapped by the
//! engine's [`connectors`](aftercare_engine::connectors) and ingested in one transaction.
//!
//! | platform | checked | delivery id |
//! |---|---|---|
//! | Shopify | `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the body | `X-Shopify-Webhook-Id` |
//! | WooCommerce | `X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the body | `X-WC-Webhook-Delivery-ID` and the body's SHA-256 |
//! | Sendcloud | `Sendcloud-Signature`: hex HMAC-SHA256 of the body | the body's SHA-256 |
//! | MyParcel | `X-MyParcel-Authorization`: the account's API key, base64 | the body's SHA-256 |
//!
//! Answers: a bad or missing signature is 401 and changes nothing; a platform that is not
//! configured is 404; a repeat of a delivery already applied or ignored is 200 and changes
//! nothing; an unknown topic is 200, kept as `ignored`; a payload that does not map is 422
//! naming the field, kept as `rejected` so it can be replayed after a fix
//! (`POST /v1/hook-deliveries/{id}/replay`) — and a platform's own retry of it is tried
//! again. WooCommerce's ping when a webhook is saved (`webhook_id=…`, no topic) is 200.

use aftercare_engine::connectors::{self, Mapped, Platform};
use aftercare_engine::ingest::IngestError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use aftercare_store::HookState;

/// A secret whose `Debug` does not show it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct HookSecret(pub String);

impl std::fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSecret(***)")
    }
}

/// `[connectors.shopify]`, `[connectors.woocommerce]`, `[connectors.sendcloud]`: the secret
/// the platform signs its webhooks with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedConnector {
    /// Shopify: the app's client secret (or the shop's webhook signing secret);
    /// WooCommerce: the webhook's secret; Sendcloud: the integration's secret key.
    pub secret: HookSecret,
}

/// `[connectors.myparcel]`: MyParcel signs nothing but sends the account's API key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyParcelConnector {
    /// The MyParcel account's API key.
    pub api_key: HookSecret,
}

/// `[connectors]`: the platforms whose webhooks are accepted; one not configured answers 404.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connectors {
    /// Shopify.
    #[serde(default)]
    pub shopify: Option<SignedConnector>,
    /// WooCommerce.
    #[serde(default)]
    pub woocommerce: Option<SignedConnector>,
    /// Sendcloud.
    #[serde(default)]
    pub sendcloud: Option<SignedConnector>,
    /// MyParcel.
    #[serde(default)]
    pub myparcel: Option<MyParcelConnector>,
    /// The `[webhooks]` target told of consent the customer changes in Aftercare
    /// (`customer.consent_changed`), so the shop's marketing list agrees.
    #[serde(default)]
    pub consent_webhook: Option<String>,
    /// The shop in which every code Aftercare issues is created too.
    #[serde(default)]
    pub shop_codes: Option<aftercare_domain::webhooks::ShopCodes>,
}

impl Connectors {
    /// Checks every configured secret is long enough to be one, and the shop for codes
    /// (`plain_http`: its address may be http, as `[tracking] allow_private_targets` allows
    /// calls inside a private network).
    pub fn validate(&self, plain_http: bool) -> Result<(), String> {
        let short = |s: &HookSecret| s.0.trim().len() < 16;
        for (name, c) in [
            ("shopify", &self.shopify),
            ("woocommerce", &self.woocommerce),
            ("sendcloud", &self.sendcloud),
        ] {
            if c.as_ref().is_some_and(|c| short(&c.secret)) {
                return Err(format!(
                    "connectors.{name}.secret: must be the platform's secret, at least 16 characters"
                ));
            }
        }
        if let Some(shop) = &self.shop_codes {
            shop.check(plain_http).map_err(|e| e.to_string())?;
        }
        if self.myparcel.as_ref().is_some_and(|c| short(&c.api_key)) {
            return Err(
                "connectors.myparcel.api_key: must be the account's API key, at least 16 characters"
                    .into(),
            );
        }
        Ok(())
    }
}

type HmacSha256 = Hmac<Sha256>;

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether `signature` (decoded) is the HMAC-SHA256 of `body` with `secret`, compared in
/// constant time.
fn hmac_matches(secret: &str, body: &[u8], signature: Option<Vec<u8>>) -> bool {
    let Some(signature) = signature else {
        return false;
    };
    // Trimmed as `validate` reads it: a secret pasted with a trailing newline still signs.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.trim().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn base64_of(s: Option<&str>) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s?).ok()
}

/// Checks the delivery is the platform's, the way the platform proves it.
fn verify(
    platform: Platform,
    connectors: &Connectors,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let missing = || not_configured(platform);
    let ok = match platform {
        Platform::Shopify => {
            let c = connectors.shopify.as_ref().ok_or_else(missing)?;
            hmac_matches(
                &c.secret.0,
                body,
                base64_of(header(headers, "x-shopify-hmac-sha256")),
            )
        }
        Platform::WooCommerce => {
            let c = connectors.woocommerce.as_ref().ok_or_else(missing)?;
            hmac_matches(
                &c.secret.0,
                body,
                base64_of(header(headers, "x-wc-webhook-signature")),
            )
        }
        Platform::Sendcloud => {
            let c = connectors.sendcloud.as_ref().ok_or_else(missing)?;
            let signature =
                header(headers, "sendcloud-signature").and_then(|s| hex::decode(s).ok());
            hmac_matches(&c.secret.0, body, signature)
        }
        Platform::MyParcel => {
            let c = connectors.myparcel.as_ref().ok_or_else(missing)?;
            let given = header(headers, "x-myparcel-authorization").map(|v| {
                v.strip_prefix("basic ")
                    .or_else(|| v.strip_prefix("Basic "))
                    .unwrap_or(v)
                    .trim()
            });
            match base64_of(given) {
                Some(key) => bool::from(key.ct_eq(c.api_key.0.trim().as_bytes())),
                None => false,
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(match platform {
            Platform::Shopify => {
                "X-Shopify-Hmac-Sha256 does not sign this body with the configured secret"
            }
            Platform::WooCommerce => {
                "X-WC-Webhook-Signature does not sign this body with the configured secret"
            }
            Platform::Sendcloud => {
                "Sendcloud-Signature does not sign this body with the configured secret"
            }
            Platform::MyParcel => "X-MyParcel-Authorization is not the configured API key",
        }))
    }
}

/// The delivery's id and topic.
fn identify(
    platform: Platform,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, String), ApiError> {
    let hashed = || format!("sha256:{}", hex::encode(Sha256::digest(body)));
    let required = |name: &str| {
        header(headers, name).map(str::to_string).ok_or_else(|| {
            ApiError::Invalid(aftercare_domain::FieldError::new(
                name,
                "the platform sends this header with every webhook",
            ))
        })
    };
    Ok(match platform {
        Platform::Shopify => (
            header(headers, "x-shopify-webhook-id")
                .or_else(|| header(headers, "x-shopify-event-id"))
                .map(str::to_string)
                .unwrap_or_else(hashed),
            required("x-shopify-topic")?,
        ),
        // WooCommerce's delivery id is a hash of the webhook and the second it was sent,
        // so two deliveries of one webhook in the same second share it: the body's hash
        // tells them apart (a retry sends the same body).
        Platform::WooCommerce => (
            match header(headers, "x-wc-webhook-delivery-id") {
                Some(id) => format!("{id}:{}", &hashed()[7..23]),
                None => hashed(),
            },
            required("x-wc-webhook-topic")?,
        ),
        Platform::Sendcloud => (hashed(), "parcel_status_changed".into()),
        Platform::MyParcel => (
            hashed(),
            header(headers, "x-myparcel-hook")
                .unwrap_or("shipment_status_change")
                .to_string(),
        ),
    })
}

/// The engine's mapping for `platform`.
pub fn map(
    platform: Platform,
    topic: &str,
    body: &[u8],
    now: jiff::Timestamp,
) -> Result<Mapped, aftercare_domain::FieldError> {
    match platform {
        Platform::Shopify => connectors::shopify::map(topic, body, now),
        Platform::WooCommerce => connectors::woocommerce::map(topic, body, now),
        Platform::Sendcloud => connectors::shipping::sendcloud(body, now),
        Platform::MyParcel => connectors::shipping::myparcel(body, now),
    }
}

/// `POST /hooks/{platform}`.
pub async fn receive(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let platform = Platform::parse(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no platform called {name}")))?;
    // WooCommerce pings a webhook's address when it is saved: no topic, `webhook_id=<n>`.
    if platform == Platform::WooCommerce
        && header(&headers, "x-wc-webhook-topic").is_none()
        && body.starts_with(b"webhook_id=")
    {
        if app.connectors.woocommerce.is_none() {
            return Err(not_configured(platform));
        }
        return Ok((StatusCode::OK, Json(json!({"ping": "ok"}))).into_response());
    }
    verify(platform, &app.connectors, &headers, &body)?;
    let (delivery_id, topic) = identify(platform, &headers, &body)?;
    let payload = String::from_utf8_lossy(&body).into_owned();
    process(&app, platform, &delivery_id, &topic, &payload, false).await
}

fn not_configured(platform: Platform) -> ApiError {
    ApiError::NotFound(format!(
        "no connector for {} is configured",
        platform.as_str()
    ))
}

/// Maps and applies one delivery (a new one, a platform's retry, or a replay), keeping
/// its outcome; the answer the platform (or the team) gets. The delivery is stored first,
/// in its own transaction, so a failure while applying it (the store, a crash) loses
/// nothing: it stays `received` and is tried again by the platform's retry or a replay.
pub(crate) async fn process(
    app: &AppState,
    platform: Platform,
    delivery_id: &str,
    topic: &str,
    payload: &str,
    replay: bool,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let p = platform.as_str();
    let mut tx = app.store.begin().await?;
    if !replay
        && let Some(seen) = tx.hook_delivery(p, delivery_id).await?
        && matches!(seen.state, HookState::Applied | HookState::Ignored)
    {
        return Ok((
            StatusCode::OK,
            Json(json!({"delivery": seen.id, "state": seen.state, "repeat": true})),
        )
            .into_response());
    }
    let id = tx
        .record_hook_delivery(p, delivery_id, topic, HookState::Received, "", payload, now)
        .await?;
    tx.commit().await?;
    let mut tx = app.store.begin().await?;
    let outcome = match map(platform, topic, payload.as_bytes(), now) {
        Err(field) => Err(field),
        Ok(Mapped::Ignored(why)) => Ok((HookState::Ignored, vec![why])),
        Ok(Mapped::Changes(changes)) => {
            match connectors::apply(&mut tx, platform, &changes, now).await {
                Ok(done) => Ok((HookState::Applied, done)),
                Err(IngestError::Invalid(field)) => Err(field),
                Err(IngestError::Store(e)) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok((state, done)) => {
            let detail = done.join("; ");
            tx.set_hook_delivery_state(id, state, &detail).await?;
            tx.commit().await?;
            if state == HookState::Applied {
                app.engine.wake();
            } else {
                tracing::info!(platform = p, topic, %detail, "Webhook ignored.");
            }
            Ok((
                StatusCode::OK,
                Json(json!({"delivery": id, "state": state, "detail": done})),
            )
                .into_response())
        }
        Err(field) => {
            // Nothing of the delivery is kept but the delivery itself, to replay later.
            drop(tx);
            let mut tx = app.store.begin().await?;
            let detail = field.to_string();
            tx.set_hook_delivery_state(id, HookState::Rejected, &detail)
                .await?;
            tx.commit().await?;
            tracing::warn!(platform = p, topic, %detail, "Webhook rejected.");
            Err(ApiError::Invalid(field))
        }
    }
}
