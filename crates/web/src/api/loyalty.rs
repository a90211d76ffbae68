//! Loyalty, coupons, referrals and returns over the API (LY1, LY2, OF3, RF1, DQ1).
//!
//! Redeeming a code is one atomic store operation: of any number of concurrent requests for
//! a single-use code, one gets 201 and the others 409 `coupon_used`; the same order
//! redeeming again (a retry) gets the first answer. Refusals are problem+json with a stable
//! code (`coupon_expired`, `coupon_not_yours`, `self_referral`, …) and change nothing.

use aftercare_domain::loyalty::{self, CouponRefusal, EntryKind};
use aftercare_domain::{FieldError, text};
use aftercare_engine::ingest;
use aftercare_engine::loyalty as engine_loyalty;
use aftercare_store::{NewCoupon, NewEntry, RedeemOutcome, StoredCustomer, Tx};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::answers::*;
use super::extract::{ApiPath, ApiQuery, Caller, JsonBody};
use crate::error::ApiError;
use crate::{AppState, idempotent_write};

type ApiResult = Result<Response, ApiError>;

async fn customer(tx: &mut Tx, external_id: &str, field: &str) -> Result<StoredCustomer, ApiError> {
    tx.customer_by_external_id(external_id)
        .await?
        .ok_or_else(|| {
            if field.is_empty() {
                ApiError::NotFound(format!("no customer with external_id '{external_id}'"))
            } else {
                FieldError::new(
                    field,
                    format!("no customer with external_id '{external_id}'"),
                )
                .into()
            }
        })
}

fn refused(refusal: &CouponRefusal) -> ApiError {
    let status = match refusal {
        CouponRefusal::OtherCustomer => StatusCode::FORBIDDEN,
        CouponRefusal::UsedUp => StatusCode::CONFLICT,
        CouponRefusal::Expired(_) => StatusCode::GONE,
        CouponRefusal::NotYetValid(_) | CouponRefusal::BelowMinimum(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    ApiError::Refused {
        status,
        code: refusal.code(),
        field: "code",
        detail: refusal.sentence(),
    }
}

fn code_of(raw: &str) -> Result<String, ApiError> {
    loyalty::normalise_code(raw).ok_or_else(|| ApiError::BadParameter {
        field: "code".into(),
        reason: "must be 1 to 64 letters and digits (dashes and spaces are ignored)".into(),
    })
}

/// A customer's points, tier, rewards, coupons and referral link, derived from the ledger.
#[utoipa::path(get, path = "/v1/customers/{external_id}/loyalty",
    params(("external_id" = aftercare_domain::ExternalId, Path, description = "The brand's customer id")),
    responses((status = 200, description = "Balance, tier, history, rewards, coupons, referral link", body = serde_json::Value)),
    security(("bearer" = [])))]
pub async fn get_loyalty(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
) -> ApiResult {
    let now = app.clock.now();
    // A write transaction: the first look makes the customer's referral code.
    let mut tx = app.store.begin().await?;
    let c = customer(&mut tx, external_id.as_str(), "").await?;
    let summary = engine_loyalty::summary(&mut tx, app.engine.loyalty(), c.id, now).await?;
    tx.commit().await?;
    Ok(Json(summary).into_response())
}

/// A points entry posted by the shop or the team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsRequest {
    /// `earn` (positive) or `adjust` (either sign, a correction by the team).
    #[schema(pattern = "^(earn|adjust)$")]
    pub kind: String,
    /// Points.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub points: i64,
    /// What the customer reads in their history.
    #[schema(max_length = 200, format = "required-line")]
    pub reason: String,
    /// Unique per customer: the same key twice adds nothing.
    #[schema(max_length = 200, format = "required-line")]
    pub key: String,
}

/// Add an earn or adjust entry to a customer's ledger; a repeated `key` adds nothing.
#[utoipa::path(post, path = "/v1/customers/{external_id}/points", request_body = PointsRequest,
    params(("external_id" = aftercare_domain::ExternalId, Path, description = "The brand's customer id")),
    responses((status = 201, description = "Added", body = PointsAdded), (status = 200, description = "Key seen before; nothing added", body = PointsAdded)),
    security(("bearer" = [])))]
pub async fn post_points(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
    body: JsonBody<PointsRequest>,
) -> ApiResult {
    let route = format!("POST /v1/customers/{external_id}/points");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        let r = &body.value;
        let kind = match r.kind.as_str() {
            "earn" => EntryKind::Earn,
            "adjust" => EntryKind::Adjust,
            _ => {
                return Err(FieldError::new(
                    "kind",
                    "must be earn or adjust (spending goes through rewards)",
                )
                .into());
            }
        };
        if kind == EntryKind::Earn && r.points <= 0 {
            return Err(FieldError::new("points", "must be above 0 to earn").into());
        }
        if r.points == 0 || r.points.abs() > 1_000_000 {
            return Err(FieldError::new("points", "must be non-zero and at most 1,000,000").into());
        }
        if r.reason.trim().is_empty() {
            return Err(
                FieldError::new("reason", "must say why, in words the customer may read").into(),
            );
        }
        text::line("reason", &r.reason, 200)?;
        text::required_line("key", &r.key, 200)?;
        let c = customer(tx, external_id.as_str(), "").await?;
        tx.lock_customer(c.id).await?;
        let config = app.engine.loyalty();
        let key = format!("api:{}", r.key);
        let entry = NewEntry {
            kind,
            points: r.points,
            at: now,
            expires_at: (r.points > 0).then(|| config.expiry(now)).flatten(),
            lot: None,
            order_external_id: None,
            reason: &r.reason,
            key: &key,
        };
        let added = tx.append_entry(c.id, &entry, now).await?;
        let balance = loyalty::replay(&tx.ledger(c.id).await?).balance(now);
        (
            if added.is_some() {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            answer(PointsAdded {
                added: added.is_some(),
                balance,
            }),
        )
    })
}

/// A reward claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The reward's id in `[loyalty.rewards]`.
    #[schema(max_length = 64, format = "required-line")]
    pub reward: String,
    /// Unique per customer: a retry with the same key spends nothing twice.
    #[schema(max_length = 200, format = "required-line")]
    pub key: String,
}

/// Spend points on a reward; coupon rewards answer with the new code.
#[utoipa::path(post, path = "/v1/customers/{external_id}/rewards", request_body = ClaimRequest,
    params(("external_id" = aftercare_domain::ExternalId, Path, description = "The brand's customer id")),
    responses((status = 201, description = "Claimed", body = serde_json::Value), (status = 422, description = "Unknown reward, tier not reached or too few points", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_reward(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
    body: JsonBody<ClaimRequest>,
) -> ApiResult {
    let route = format!("POST /v1/customers/{external_id}/rewards");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        text::required_line("reward", &body.value.reward, 64)?;
        text::required_line("key", &body.value.key, 200)?;
        let c = customer(tx, external_id.as_str(), "").await?;
        let claimed = engine_loyalty::claim_reward(
            tx,
            app.engine.loyalty(),
            c.id,
            &body.value.reward,
            &body.value.key,
            now,
        )
        .await??;
        (StatusCode::CREATED, json!(claimed))
    })
}

/// Issue a code to one customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The pool's id in `[loyalty.pools]`.
    #[schema(max_length = 64, format = "required-line")]
    pub pool: String,
    /// Why (shown to the team).
    #[serde(default)]
    #[schema(max_length = 200, format = "one-line")]
    pub reason: Option<String>,
}

/// Issue a code from a pool to a customer (e.g. by customer service).
#[utoipa::path(post, path = "/v1/customers/{external_id}/coupons", request_body = IssueRequest,
    params(("external_id" = aftercare_domain::ExternalId, Path, description = "The brand's customer id")),
    responses((status = 201, description = "Issued", body = serde_json::Value)),
    security(("bearer" = [])))]
pub async fn post_customer_coupon(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
    body: JsonBody<IssueRequest>,
) -> ApiResult {
    let route = format!("POST /v1/customers/{external_id}/coupons");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        text::required_line("pool", &body.value.pool, 64)?;
        if let Some(reason) = &body.value.reason {
            text::line("reason", reason, 200)?;
        }
        let Some(pool) = app.engine.loyalty().pool(&body.value.pool) else {
            return Err(
                FieldError::new("pool", format!("no coupon pool '{}'", body.value.pool)).into(),
            );
        };
        let c = customer(tx, external_id.as_str(), "").await?;
        let reason = body
            .value
            .reason
            .clone()
            .unwrap_or_else(|| "issued through the API".into());
        let coupon = engine_loyalty::issue_coupon(tx, pool, Some(c.id), &reason, now).await?;
        (StatusCode::CREATED, engine_loyalty::coupon_json(&coupon))
    })
}

/// What the checkout asks about a code.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// The customer at the checkout, if known.
    #[param(value_type = Option<aftercare_domain::ExternalId>)]
    pub customer_external_id: Option<String>,
    /// The order's total so far, for the minimum and the discount.
    #[param(minimum = 0)]
    pub order_total_cents: Option<i64>,
}

/// Check a code without redeeming it: whether it applies and what it takes off.
#[utoipa::path(get, path = "/v1/coupons/{code}", params(("code" = String, Path, description = "The code as typed: 1 to 64 letters and digits; dashes and spaces are ignored", pattern = "^[ -]*([A-Za-z0-9][ -]*){1,64}$"), CheckQuery),
    responses((status = 200, description = "Known code; `redeemable` and `reason` say whether it applies, `discount_cents` what it takes off, `gift_sku` the product a gift code adds to the order for free, and `in_shop` what became of it in the shop (`[connectors.shop_codes]`: null while not yet tried; `waiting` with the shop's last answer as `note` and `tries`, the tries it failed on while it took other codes (refused after 8); else `state` `created`, `refused` with the shop's `note`, or set aside as `imported` (the shop made it), `used_up`, `expired` or `not_sent` (its message was blocked or failed))", body = serde_json::Value)),
    security(("bearer" = [])))]
pub async fn get_coupon(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(raw_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<CheckQuery>,
) -> ApiResult {
    let code = code_of(&raw_code)?;
    if q.order_total_cents.is_some_and(|t| t < 0) {
        return Err(ApiError::BadParameter {
            field: "order_total_cents".into(),
            reason: "must not be negative".into(),
        });
    }
    let now = app.clock.now();
    let mut tx = app.store.begin_read().await?;
    let coupon = tx
        .coupon_by_code(&code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no coupon with code '{raw_code}'")))?;
    let customer_id = match &q.customer_external_id {
        Some(id) => Some(customer(&mut tx, id, "customer_external_id").await?.id),
        None => None,
    };
    let refusal = coupon
        .terms()?
        .refusal(customer_id.map(i64::from), q.order_total_cents, now);
    let value = loyalty::CouponValue::from_parts(&coupon.value_kind, coupon.value);
    let discount = match (value, q.order_total_cents) {
        (Some(v), Some(total)) if refusal.is_none() => Some(v.discount_cents(total)),
        _ => None,
    };
    let mut body = engine_loyalty::coupon_json(&coupon);
    body["redeemable"] = json!(refusal.is_none());
    body["reason"] = json!(refusal.as_ref().map(|r| r.code()));
    body["detail"] = json!(refusal.as_ref().map(|r| r.sentence()));
    body["discount_cents"] = json!(discount);
    body["uses"] = json!(coupon.uses);
    body["max_uses"] = json!(coupon.max_uses);
    // A gift code adds a product to the order instead of taking money off (issue 23).
    body["gift_sku"] = json!(
        app.engine
            .loyalty()
            .pool(&coupon.pool_id)
            .and_then(|p| p.gift_sku.as_deref())
    );
    // What became of it in the shop (`[connectors.shop_codes]`): null while not yet tried,
    // `waiting` with the shop's last answer after a try it failed on.
    body["in_shop"] = match (&coupon.shop_state, &coupon.shop_note) {
        (Some(state), note) => json!({"state": state, "note": note}),
        (None, Some(note)) => json!({"state": "waiting", "note": note, "tries": coupon.shop_tries}),
        (None, None) => json!(null),
    };
    Ok(Json(body).into_response())
}

/// A redemption at checkout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The order the code is used on; the same order again gets the same answer.
    #[schema(max_length = 100, format = "required-line")]
    pub order_external_id: String,
    /// The order's total before the discount.
    #[schema(minimum = 0)]
    pub order_total_cents: i64,
    /// The customer, required for personal codes.
    #[serde(default)]
    #[schema(value_type = Option<aftercare_domain::ExternalId>)]
    pub customer_external_id: Option<String>,
}

/// Redeem a code, atomically: a single-use code is redeemed once, whatever the concurrency.
#[utoipa::path(post, path = "/v1/coupons/{code}/redemptions", request_body = RedeemRequest,
    params(("code" = String, Path, description = "The code as typed: 1 to 64 letters and digits; dashes and spaces are ignored", pattern = "^[ -]*([A-Za-z0-9][ -]*){1,64}$")),
    responses((status = 201, description = "Redeemed; `discount_cents` is what it takes off", body = Redeemed),
              (status = 200, description = "This order had redeemed it already", body = Redeemed),
              (status = 403, description = "Another customer's code", body = Problem, content_type = "application/problem+json"),
              (status = 410, description = "Expired", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_redemption(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(raw_code): ApiPath<String>,
    body: JsonBody<RedeemRequest>,
) -> ApiResult {
    let code = code_of(&raw_code)?;
    let route = format!("POST /v1/coupons/{code}/redemptions");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        let r = &body.value;
        if r.order_total_cents < 0 {
            return Err(FieldError::new("order_total_cents", "must not be negative").into());
        }
        text::required_line("order_external_id", &r.order_external_id, 100)?;
        let customer_id = match &r.customer_external_id {
            Some(id) => Some(customer(tx, id, "customer_external_id").await?.id),
            None => None,
        };
        match tx
            .redeem_coupon(
                &code,
                customer_id,
                &r.order_external_id,
                r.order_total_cents,
                now,
            )
            .await?
        {
            RedeemOutcome::Redeemed(coupon, redemption) => {
                (StatusCode::CREATED, redeemed(coupon, redemption))
            }
            RedeemOutcome::AlreadyByThisOrder(coupon, redemption) => {
                (StatusCode::OK, redeemed(coupon, redemption))
            }
            RedeemOutcome::Refused(coupon) => {
                let refusal = coupon
                    .terms()?
                    .refusal(customer_id.map(i64::from), Some(r.order_total_cents), now)
                    .unwrap_or(CouponRefusal::UsedUp);
                return Err(refused(&refusal));
            }
            RedeemOutcome::Unknown => {
                return Err(ApiError::NotFound(format!(
                    "no coupon with code '{raw_code}'"
                )));
            }
        }
    })
}

/// The answer to a redemption, new or seen before.
fn redeemed(coupon: aftercare_store::Coupon, redemption: aftercare_store::Redemption) -> Value {
    answer(Redeemed {
        code: coupon.display_code,
        discount_cents: redemption.discount_cents,
        order_external_id: redemption.order_external_id,
        uses: coupon.uses.into(),
        max_uses: coupon.max_uses.into(),
    })
}

/// Codes from the shop's own system, or new codes for anyone (e.g. for a flyer).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// 1 to 10,000 codes to import (or use `generate`).
    #[serde(default)]
    pub codes: Vec<String>,
    /// How many new codes for anyone to make, 1 to 10,000 (instead of `codes`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10_000)]
    pub generate: Option<u32>,
    /// Until when they are valid (default: the pool's `valid_days` from now).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_until: Option<Timestamp>,
}

/// Import codes made elsewhere into a pool, or generate codes for anyone; all are stored
/// or none. Generated codes are in the answer.
#[utoipa::path(post, path = "/v1/coupon-pools/{pool}/codes", request_body = ImportRequest,
    params(("pool" = String, Path, description = "The pool's id")),
    responses((status = 201, description = "Imported or generated", body = PoolCodes)),
    security(("bearer" = [])))]
pub async fn post_import(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(pool_id): ApiPath<String>,
    body: JsonBody<ImportRequest>,
) -> ApiResult {
    let route = format!("POST /v1/coupon-pools/{pool_id}/codes");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        let Some(pool) = app.engine.loyalty().pool(&pool_id) else {
            return Err(ApiError::NotFound(format!("no coupon pool '{pool_id}'")));
        };
        let r = &body.value;
        match (r.codes.len(), r.generate) {
            (0, None) | (1.., Some(_)) => {
                return Err(FieldError::new("codes", "give either codes or generate").into());
            }
            (n, None) if n > 10_000 => {
                return Err(FieldError::new("codes", "must hold 1 to 10,000 codes").into());
            }
            (_, Some(n)) if !(1..=10_000).contains(&n) => {
                return Err(FieldError::new("generate", "must be 1 to 10,000").into());
            }
            _ => {}
        }
        let valid_until = match r.valid_until {
            Some(t) if t <= now => {
                return Err(FieldError::new("valid_until", "must be in the future").into());
            }
            Some(t) => t,
            None => now + pool.validity(),
        };
        if r.generate.is_some() && r.valid_until.is_some() {
            return Err(FieldError::new(
                "valid_until",
                "applies to imported codes; generated ones last the pool's valid_days",
            )
            .into());
        }
        if let Some(n) = r.generate {
            let mut codes = Vec::new();
            for _ in 0..n {
                let c = engine_loyalty::issue_coupon(tx, pool, None, "generated for anyone", now)
                    .await?;
                codes.push(c.display_code);
            }
            (
                StatusCode::CREATED,
                answer(PoolCodes {
                    pool: pool_id.clone(),
                    generated: Some(codes),
                    imported: None,
                }),
            )
        } else {
            for (i, raw) in r.codes.iter().enumerate() {
                let field = format!("codes[{i}]");
                let Some(code) = loyalty::normalise_code(raw) else {
                    return Err(FieldError::new(field, "must be letters and digits").into());
                };
                let new = NewCoupon {
                    code: &code,
                    display_code: raw.trim(),
                    pool,
                    customer_id: None,
                    valid_from: now,
                    valid_until,
                    source: "imported",
                    reason: "imported",
                };
                if tx.insert_coupon(&new, now).await?.is_none() {
                    return Err(
                        FieldError::new(field, format!("code '{raw}' exists already")).into(),
                    );
                }
            }
            (
                StatusCode::CREATED,
                answer(PoolCodes {
                    pool: pool_id.clone(),
                    generated: None,
                    imported: Some(r.codes.len()),
                }),
            )
        }
    })
}

/// A new customer who came through a referral link or code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    /// The code from the link.
    #[schema(max_length = 64, format = "required-line")]
    pub referral_code: String,
    /// The new customer (posted to /v1/customers first).
    #[schema(value_type = aftercare_domain::ExternalId)]
    pub customer_external_id: String,
    /// A fingerprint of the new customer's payment method, for the self-referral guard.
    #[serde(default)]
    #[schema(max_length = 200, format = "one-line")]
    pub payment_fingerprint: Option<String>,
    /// The referrer's payment fingerprint, when the shop knows it.
    #[serde(default)]
    #[schema(max_length = 200, format = "one-line")]
    pub referrer_payment_fingerprint: Option<String>,
}

/// Register a referral (RF1). Both get their reward once the new customer's first order is
/// past the return period. Self-referrals and existing customers are refused with a reason.
#[utoipa::path(post, path = "/v1/referrals", request_body = ReferralRequest,
    responses((status = 201, description = "Registered", body = serde_json::Value)),
    security(("bearer" = [])))]
pub async fn post_referral(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<ReferralRequest>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/referrals",
        body.raw,
        |tx, now| {
            let r = &body.value;
            text::required_line("referral_code", &r.referral_code, 64)?;
            for (field, value) in [
                ("payment_fingerprint", &r.payment_fingerprint),
                (
                    "referrer_payment_fingerprint",
                    &r.referrer_payment_fingerprint,
                ),
            ] {
                if let Some(value) = value {
                    text::line(field, value, 200)?;
                }
            }
            let referred = customer(tx, &r.customer_external_id, "customer_external_id").await?;
            match engine_loyalty::register_referral(
                tx,
                app.engine.loyalty(),
                &r.referral_code,
                &referred,
                r.referrer_payment_fingerprint.as_deref(),
                r.payment_fingerprint.as_deref(),
                now,
            )
            .await?
            {
                Ok(referral) => (StatusCode::CREATED, json!(referral)),
                Err((field_error, Some(refusal))) => {
                    return Err(ApiError::Refused {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code: refusal.code(),
                        field: "referral_code",
                        detail: field_error.reason,
                    });
                }
                Err((field_error, None)) => return Err(field_error.into()),
            }
        }
    )
}

/// A returned order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The order.
    #[schema(max_length = 128, format = "required-line")]
    pub order_external_id: String,
    /// When it was returned.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// Record a return: the order's points are reversed, and a referral it would have
/// rewarded is void.
#[utoipa::path(post, path = "/v1/returns", request_body = ReturnRequest,
    responses((status = 202, description = "Accepted", body = ReturnRecorded)),
    security(("bearer" = [])))]
pub async fn post_return(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<ReturnRequest>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/returns",
        body.raw,
        |tx, now| {
            text::required_line("order_external_id", &body.value.order_external_id, 128)?;
            let accepted =
                ingest::record_return(tx, &body.value.order_external_id, body.value.at, now)
                    .await?;
            (
                StatusCode::ACCEPTED,
                answer(ReturnRecorded {
                    order_external_id: body.value.order_external_id.clone(),
                    recorded: accepted,
                }),
            )
        }
    )
}
