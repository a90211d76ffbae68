//! The customer's rights under the GDPR, for the shop's own systems and for requests the
//! shop forwards: everything about a customer as JSON (Art. 15 access, Art. 20
//! portability) and erasure (Art. 17), the same erasure as the admin UI's, audited.

use aftercare_domain::ExternalId;
use aftercare_store::MessageFilter;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::extract::{ApiPath, Caller};
use crate::AppState;
use crate::error::ApiError;

/// More than one customer ever has of anything.
const ALL: i64 = 1_000_000;

/// A customer erased.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    /// The customer's id (kept, without personal data).
    pub external_id: String,
    /// Always `true`.
    pub erased: bool,
    /// Queued messages blocked by the erasure.
    pub blocked_messages: u64,
}

/// Everything Aftercare holds about a customer, as JSON: the record with its consents,
/// orders, shipments, events, every message with its content and the reasons for each
/// decision, clicks and opens, programme enrolments, loyalty ledger, coupons and referral,
/// friends referred, running contracts, survey answers, changes asked on the tracking page,
/// appointments, retention offers, returns for recycling, calls made about them to the
/// shop's systems, and the scores worked out about them (RFM, the chance they are still a
/// customer, expected purchases, lifetime value) (GDPR Art. 15 and 20), read at one moment
/// of the store. Answers with `Content-Disposition: attachment`.
#[utoipa::path(get, path = "/v1/customers/{external_id}/export",
    params(("external_id" = ExternalId, Path, description = "The brand's customer id")),
    responses((status = 200, description = "Everything about the customer", body = Object)),
    security(("bearer" = [])))]
pub async fn export_customer(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(external_id): ApiPath<ExternalId>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    // One moment of the store throughout, so the parts agree.
    let mut tx = app.store.begin_snapshot().await?;
    let customer = customer_named(&mut tx, &external_id).await?;
    let id = customer.id;
    let orders = tx.orders_of_customer(id, ALL).await?;
    let shipments = tx.shipments_of_customer(id, ALL).await?;
    let mut events = Vec::new();
    for e in tx.events_of_customer(id, ALL).await? {
        events.push(json!({
            "type": e.event_type,
            "at": e.occurred_at.to_string(),
            "properties": e.properties_json()?,
        }));
    }
    let mut messages = Vec::new();
    for m in tx
        .messages(&MessageFilter {
            customer_id: Some(id),
            limit: ALL,
            ..Default::default()
        })
        .await?
    {
        let mut decisions = Vec::new();
        for t in tx.message_transitions(m.id).await? {
            decisions
                .push(json!({"state": t.to_state, "reason": t.reason, "at": t.at.to_string()}));
        }
        messages.push(json!({"message": m, "decisions": decisions}));
    }
    let enrolments = tx.enrolments_of_customer(id, ALL).await?;
    let ledger = tx.ledger(id).await?;
    let coupons = tx.customer_coupons(id).await?;
    let referral = tx.referral_of(id).await?;
    // What Aftercare worked out about the customer (profiling, Art. 15(1)(h)).
    let scores = tx.scores(id).await?;
    let contracts: Vec<_> = tx
        .contracts_of_customers(id, id)
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let engagement: Vec<_> = tx
        .engagement_of_customer(id)
        .await?
        .into_iter()
        .map(|(message, (clicks, opens))| json!({"message": message, "clicks": clicks, "opens": opens}))
        .collect();
    let referred: Vec<_> = tx
        .referrals_by(id)
        .await?
        .into_iter()
        // (Of the friend only what the referral did, not who they are.)
        .map(|r| json!({"state": r.state, "reason": r.reason}))
        .collect();
    let extras = tx.customer_export_extras(id).await?;
    tx.commit().await?;
    let mut body = json!({
        "exported_at": now.to_string(),
        "customer": customer,
        "orders": orders,
        "shipments": shipments,
        "events": events,
        "messages": messages,
        "enrolments": enrolments,
        "loyalty": {"ledger": ledger, "coupons": coupons, "referred_by": referral},
        "scores": scores,
        "contracts": contracts,
        "engagement": engagement,
        "referred": referred,
    });
    if let Some(object) = body.as_object_mut() {
        object.extend(extras);
    }
    let file = format!(
        "attachment; filename=\"customer-{}.json\"",
        sanitise(external_id.as_str())
    );
    let mut response = Json(body).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&file) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The customer with this id, or 404.
async fn customer_named(
    tx: &mut aftercare_store::Tx,
    external_id: &ExternalId,
) -> Result<aftercare_store::StoredCustomer, ApiError> {
    tx.customer_by_external_id(external_id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no customer with external_id '{external_id}'")))
}

/// An id as a file name: letters, digits, `-` and `_` only.
fn sanitise(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Erase a customer's personal data (GDPR Art. 17), as the admin UI does: the record keeps
/// only its id, language, time zone and first-purchase date; queued messages are blocked;
/// sent ones keep template and state without recipient or content. Audited with the
/// token's name. Erasing again changes nothing more.
#[utoipa::path(delete, path = "/v1/customers/{external_id}",
    params(("external_id" = ExternalId, Path, description = "The brand's customer id")),
    responses((status = 200, description = "Erased", body = Erased)),
    security(("bearer" = [])))]
pub async fn erase_customer(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(external_id): ApiPath<ExternalId>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let customer = customer_named(&mut tx, &external_id).await?;
    let blocked = aftercare_engine::privacy::erase_customer(
        &mut tx,
        &customer,
        &format!("api:{}", caller.token_name),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Erased {
        external_id: external_id.to_string(),
        erased: true,
        blocked_messages: blocked,
    })
    .into_response())
}
