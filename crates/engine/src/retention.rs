//! Cancellations and their retention offer (RT1). A cancellation comes in through
//! `POST /v1/cancellations` only (a generic event of that type is refused), so every
//! cancellation is answered the same way: the offer that fits the reason and the product
//! ([`aftercare_domain::retention::choose`]) is stored, travels on the
//! `cancellation_requested` event as `offer` (the retention programme enrols only when there
//! is one, and its mail links to the accept page as `links.offer`), and the API answer
//! shows it at once. Accepting it on the signed page ([`accept`]) happens once: the offer
//! becomes `accepted`, the event `retention_offer_accepted` is recorded (the programme's
//! goal), and the `[retention] webhook` target hears of it by a signed, retried call.
//!
//! The fast simulator builds the same event with [`event_properties`], without storing.

use aftercare_domain::retention::{RetentionConfig, RetentionOffer, choose};
use aftercare_domain::{CancellationRecord, FieldError};
use aftercare_store::{JobKind, NewRetentionOffer, OfferState, StoredCustomer, Tx};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::ingest::{self, IngestError};

/// An offer as made to one customer.
#[derive(Debug, Clone)]
pub struct MadeOffer {
    /// The stored offer's id (the accept link's subject).
    pub id: i64,
    /// The offer from `[retention]`.
    pub offer: RetentionOffer,
    /// Its last moment.
    pub valid_until: Timestamp,
}

/// The offer as the event, the templates and the API answer carry it.
pub fn offer_json(offer: &RetentionOffer, id: Option<i64>, valid_until: Timestamp) -> Value {
    let mut terms = offer.terms();
    terms["id"] = json!(id);
    terms["title"] = json!(offer.title);
    terms["description"] = json!(offer.description);
    terms["valid_until"] = json!(valid_until.to_string());
    terms
}

/// The `cancellation_requested` event's properties: the reason (code and words), the
/// product and contract, and the offer when one fits.
pub fn event_properties(record: &CancellationRecord, offer: Option<Value>) -> Value {
    let mut properties = json!({ "reason_code": record.reason().as_str() });
    set_present(
        &mut properties,
        [
            ("reason", record.reason.as_deref()),
            (
                "product_sku",
                record.product_sku.as_ref().map(|s| s.as_str()),
            ),
            (
                "contract_external_id",
                record.contract_external_id.as_ref().map(|s| s.as_str()),
            ),
        ],
    );
    if let Some(offer) = offer {
        properties["offer"] = offer;
    }
    properties
}

/// The offer that fits `record`, for a product of `category`.
pub fn fitting<'a>(
    config: &'a RetentionConfig,
    record: &CancellationRecord,
    category: Option<&str>,
) -> Option<&'a RetentionOffer> {
    choose(&config.offers, record.reason(), category)
}

/// A recorded cancellation.
#[derive(Debug, Clone)]
pub struct RecordedCancellation {
    /// Who cancelled.
    pub customer: StoredCustomer,
    /// The offer made, when one fits.
    pub offer: Option<MadeOffer>,
    /// The `cancellation_requested` event's properties as recorded.
    pub properties: Value,
}

/// Sets `key` on `object` to each value that is there.
fn set_present<'a>(
    object: &mut Value,
    pairs: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
) {
    for (key, value) in pairs {
        if let Some(value) = value {
            object[key] = json!(value);
        }
    }
}

/// Records a cancellation: validates it, stores the fitting offer, and records the
/// `cancellation_requested` event with it.
pub async fn record_cancellation(
    tx: &mut Tx,
    config: &RetentionConfig,
    record: &CancellationRecord,
    now: Timestamp,
) -> Result<RecordedCancellation, IngestError> {
    record.validate()?;
    let customer = tx
        .customer_by_external_id(record.customer_external_id.as_str())
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "customer_external_id",
                format!(
                    "no customer with external_id '{}'",
                    record.customer_external_id
                ),
            )
        })?;
    // A product the catalogue does not know yet fits only the offers for any product.
    let category = match &record.product_sku {
        Some(sku) => tx.product(sku.as_str()).await?.map(|p| p.category),
        None => None,
    };
    let made = match fitting(config, record, category.as_deref()) {
        Some(offer) => {
            let valid_until =
                record.at.max(now) + SignedDuration::from_hours(24 * i64::from(config.valid_days));
            let terms = offer_json(offer, None, valid_until);
            let id = tx
                .insert_retention_offer(
                    &NewRetentionOffer {
                        customer_id: customer.id,
                        offer_key: &offer.id,
                        reason: record.reason().as_str(),
                        product_sku: record.product_sku.as_ref().map(|s| s.as_str()),
                        contract_external_id: record
                            .contract_external_id
                            .as_ref()
                            .map(|s| s.as_str()),
                        terms: &terms,
                        valid_until,
                    },
                    now,
                )
                .await?;
            Some(MadeOffer {
                id,
                offer: offer.clone(),
                valid_until,
            })
        }
        None => None,
    };
    let properties = event_properties(
        record,
        made.as_ref()
            .map(|m| offer_json(&m.offer, Some(m.id), m.valid_until)),
    );
    ingest::append_event(
        tx,
        customer.id,
        "cancellation_requested",
        record.at,
        &properties,
        None,
        now,
    )
    .await?;
    Ok(RecordedCancellation {
        customer,
        offer: made,
        properties,
    })
}

/// What became of an acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Accepted now: the event is recorded and the shop will hear of it.
    Accepted,
    /// Accepted before (a second click changes nothing).
    AlreadyAccepted,
    /// Past its last day.
    Lapsed,
}

/// Accepts offer `id` at `now`, once: records `retention_offer_accepted` and, when
/// `[retention] webhook` names a configured target, stores the signed call to it (made by
/// a `webhook` job, retried until it lands or goes to the dead-letter list).
pub async fn accept(
    tx: &mut Tx,
    config: &RetentionConfig,
    webhook_configured: impl Fn(&str) -> bool,
    id: i64,
    now: Timestamp,
) -> Result<Acceptance, IngestError> {
    let offer = tx.retention_offer(id).await?;
    if !tx.accept_retention_offer(id, now).await? {
        return Ok(if offer.state == OfferState::Accepted {
            Acceptance::AlreadyAccepted
        } else {
            Acceptance::Lapsed
        });
    }
    let customer = tx.customer(offer.customer_id).await?;
    let mut properties = json!({
        "offer_id": id,
        "offer": offer.terms,
        "reason_code": offer.reason,
    });
    set_present(
        &mut properties,
        [
            ("product_sku", offer.product_sku.as_deref()),
            (
                "contract_external_id",
                offer.contract_external_id.as_deref(),
            ),
        ],
    );
    ingest::record_internal_event(
        tx,
        offer.customer_id,
        "retention_offer_accepted",
        now,
        &properties,
        &format!("retention-offer:{id}"),
    )
    .await?;
    if let Some(target) = config.webhook.as_deref().filter(|t| webhook_configured(t)) {
        let payload = json!({
            "event": "retention.offer_accepted",
            "customer": {"external_id": customer.record.external_id.as_str()},
            "data": properties,
            "at": now.to_string(),
        });
        let call = tx
            .insert_outgoing_call("retention.offer_accepted", target, &payload, now)
            .await?;
        tx.insert_job(JobKind::Webhook, call, now, now).await?;
    }
    Ok(Acceptance::Accepted)
}
