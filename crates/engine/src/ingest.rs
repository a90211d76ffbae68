//! Ingest: accepting what the shop, carrier and helpdesk send, inside the caller's
//! transaction. Each accepted change appends an event and schedules the job that routes it
//! to programmes, in that same transaction: nothing accepted is lost, nothing doubles.
//!
//! Requirements: PP1 (orders), PX1 (carrier status events).

use aftercare_domain::{
    CustomerRecord, EventRecord, FieldError, OrderRecord, ProductRecord, ShipmentEventRecord,
    ShipmentStatus,
};
use aftercare_store::CustomerId;
use aftercare_store::{JobKind, NewEvent, StoreError, Tx};
use jiff::Timestamp;
use serde_json::json;

/// Why input was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A field is wrong; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Most events in one batch.
pub const MAX_EVENT_BATCH: usize = 1000;

/// Inserts or replaces a customer; returns the id and whether it is new. A customer who
/// enters a segment (`attributes.segment` changes) gets a `segment_entered` event. A
/// customer whose data was erased and whom the shop posts again is a customer again.
pub async fn upsert_customer(
    tx: &mut Tx,
    record: &CustomerRecord,
    now: Timestamp,
) -> Result<(CustomerId, bool), IngestError> {
    record.validate(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())?;
    let segment = |r: &CustomerRecord| {
        r.attributes
            .get("segment")
            .and_then(|s| s.as_str())
            .map(str::to_string)
    };
    let stored = tx
        .customer_by_external_id(record.external_id.as_str())
        .await?;
    // Only an erased record has neither email nor phone left to reach; the mark is looked
    // for then, not on every order's customer.
    if stored
        .as_ref()
        .is_some_and(|c| c.record.email.is_none() && c.record.phone.is_none())
    {
        tx.unmark_erased(record.external_id.as_str()).await?;
    }
    let previous = stored.and_then(|c| segment(&c.record));
    let (id, created) = tx.upsert_customer(record, now).await?;
    if let Some(entered) = segment(record)
        && Some(&entered) != previous.as_ref()
    {
        let properties = json!({"segment": entered, "previous": previous});
        append_event(tx, id, "segment_entered", now, &properties, None, now).await?;
    }
    Ok((id, created))
}

/// Inserts or replaces a product.
pub async fn upsert_product(
    tx: &mut Tx,
    record: &ProductRecord,
    now: Timestamp,
) -> Result<(), IngestError> {
    record.validate()?;
    if let Some(successor) = &record.successor_sku
        && successor == &record.sku
    {
        return Err(
            FieldError::new("successor_sku", "must differ from the product's own sku").into(),
        );
    }
    Ok(tx.upsert_product(record, now).await?)
}

/// The customer a record names in `customer_external_id`, or an error naming that field.
async fn customer_named(
    tx: &mut Tx,
    external_id: &aftercare_domain::ExternalId,
) -> Result<aftercare_store::StoredCustomer, IngestError> {
    Ok(tx
        .customer_by_external_id(external_id.as_str())
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "customer_external_id",
                format!("no customer with external_id '{external_id}'"),
            )
        })?)
}

/// Stores a customer's contract (RE1, RT1); `true` when it is new. The customer must exist,
/// and so must the product when one is named; a contract number is one customer's.
pub async fn upsert_contract(
    tx: &mut Tx,
    record: &aftercare_domain::ContractRecord,
    now: Timestamp,
) -> Result<bool, IngestError> {
    record.validate()?;
    let customer = customer_named(tx, &record.customer_external_id).await?;
    if let Some(sku) = &record.product_sku
        && tx.product(sku).await?.is_none()
    {
        return Err(FieldError::new("product_sku", format!("no product with sku '{sku}'")).into());
    }
    let owner = tx.contract_owner(record.external_id.as_str()).await?;
    if owner.is_some_and(|o| o != customer.id) {
        return Err(FieldError::new(
            "customer_external_id",
            format!(
                "contract '{}' belongs to another customer",
                record.external_id
            ),
        )
        .into());
    }
    tx.upsert_contract(record, customer.id, now).await?;
    Ok(owner.is_none())
}

/// Stores an order and schedules its `order_placed` event; returns the order id and whether
/// it is new (a repeat of a known order number changes nothing).
pub async fn create_order(
    tx: &mut Tx,
    record: &OrderRecord,
    now: Timestamp,
) -> Result<(aftercare_store::OrderId, bool), IngestError> {
    record.validate()?;
    let customer = customer_named(tx, &record.customer_external_id).await?;
    for (i, line) in record.lines.iter().enumerate() {
        if tx.product(line.sku.as_str()).await?.is_none() {
            return Err(FieldError::new(
                format!("lines[{i}].sku"),
                format!("no product with sku '{}'", line.sku),
            )
            .into());
        }
    }
    let Some(order_id) = tx.insert_order(record, customer.id, now).await? else {
        let existing = tx
            .order_by_external_id(record.external_id.as_str())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("order {}", record.external_id)))?;
        return Ok((existing.id, false));
    };
    let properties = json!({
        "order_external_id": record.external_id,
        "total_cents": record.total_cents(),
        "delivery_method": record.delivery_method,
    });
    append_event(
        tx,
        customer.id,
        "order_placed",
        record.placed_at,
        &properties,
        None,
        now,
    )
    .await?;
    Ok((order_id, true))
}

/// Records that an order came back: an `order_returned` event, which reverses the order's
/// points and voids a referral it would have rewarded. `false` when already recorded.
pub async fn record_return(
    tx: &mut Tx,
    order_external_id: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<bool, IngestError> {
    if at > now {
        return Err(FieldError::new("at", "must not be in the future").into());
    }
    let order = order_named(tx, order_external_id).await?;
    if at < order.record.placed_at {
        return Err(FieldError::new("at", "must not be before the order was placed").into());
    }
    order_event(tx, &order, "order_returned", "return", at, now).await
}

/// Records that the shop cancelled an order: an `order_cancelled` event, which reverses
/// the order's points and voids a referral it would have rewarded, like a return.
/// `false` when already recorded.
pub async fn record_cancelled_order(
    tx: &mut Tx,
    order_external_id: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<bool, IngestError> {
    let order = order_named(tx, order_external_id).await?;
    let at = at.max(order.record.placed_at);
    order_event(tx, &order, "order_cancelled", "cancelled", at, now).await
}

/// The order with this number, or an error naming `order_external_id`.
async fn order_named(
    tx: &mut Tx,
    order_external_id: &str,
) -> Result<aftercare_store::StoredOrder, IngestError> {
    Ok(tx
        .order_by_external_id(order_external_id)
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "order_external_id",
                format!("no order with external_id '{order_external_id}'"),
            )
        })?)
}

/// An event about a whole order, once per order (`<source>:<number>`); `false` when
/// recorded before.
async fn order_event(
    tx: &mut Tx,
    order: &aftercare_store::StoredOrder,
    event_type: &str,
    source: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<bool, IngestError> {
    let number = order.record.external_id.as_str();
    let properties = json!({"order_external_id": number});
    let source = format!("{source}:{number}");
    let id = append_event(
        tx,
        order.customer_id,
        event_type,
        at,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    Ok(id.is_some())
}

/// Records a carrier status event and schedules `shipment_<status>`; `false` for a repeat.
pub async fn record_shipment_event(
    tx: &mut Tx,
    record: &ShipmentEventRecord,
    now: Timestamp,
) -> Result<bool, IngestError> {
    record.validate()?;
    let order = tx
        .order_by_external_id(record.order_external_id.as_str())
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "order_external_id",
                format!("no order with external_id '{}'", record.order_external_id),
            )
        })?;
    if !tx.record_shipment_event(record, order.id, now).await? {
        return Ok(false);
    }
    let properties = json!({
        "order_external_id": record.order_external_id,
        "shipment_id": record.shipment_id,
        "carrier": record.carrier,
        "status": record.status,
        "location": record.location,
    });
    let event_type = format!("shipment_{}", record.status.as_str());
    // A parcel is handed over, delivered or picked up once: the same news from a second
    // source (the shop and its shipping platform, a carrier sending it again with a new
    // time) starts no second message. A failed attempt or a new day out for delivery is
    // news each time.
    let once = matches!(
        record.status,
        ShipmentStatus::LabelCreated
            | ShipmentStatus::HandedOver
            | ShipmentStatus::Delivered
            | ShipmentStatus::ReadyForPickup
            | ShipmentStatus::PickedUp
            | ShipmentStatus::Returned
    )
    .then(|| format!("shipment:{}:{}", record.shipment_id, record.status.as_str()));
    append_event(
        tx,
        order.customer_id,
        &event_type,
        record.at,
        &properties,
        once.as_deref(),
        now,
    )
    .await?;
    Ok(true)
}

/// Stores a batch of generic events, all or none; returns how many were new (an event
/// whose `id` was seen before is skipped). Validates every event before storing any.
pub async fn record_events(
    tx: &mut Tx,
    events: &[EventRecord],
    now: Timestamp,
) -> Result<usize, IngestError> {
    if events.is_empty() {
        return Err(FieldError::new("events", "must contain at least one event").into());
    }
    if events.len() > MAX_EVENT_BATCH {
        return Err(FieldError::new(
            "events",
            format!(
                "must contain at most {MAX_EVENT_BATCH} events, got {}",
                events.len()
            ),
        )
        .into());
    }
    let mut customers = std::collections::HashMap::new();
    let mut customer_ids = Vec::with_capacity(events.len());
    let mut properties = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let within = |e: FieldError| e.within(&format!("events[{i}]"));
        event.validate().map_err(within)?;
        if event.event_type == "order_placed" || event.event_type.starts_with("shipment_") {
            return Err(within(FieldError::new(
                "type",
                format!(
                    "'{}' is recorded through POST /v1/orders or /v1/shipment-events",
                    event.event_type
                ),
            ))
            .into());
        }
        // Every cancellation is answered with its fitting offer (RT1), so it has one door.
        if event.event_type == "cancellation_requested" {
            return Err(within(FieldError::new(
                "type",
                "'cancellation_requested' is recorded through POST /v1/cancellations",
            ))
            .into());
        }
        // A product looked at (CH3) names a product of the catalogue, so what is said of
        // it is true.
        if event.event_type == "product_viewed" {
            let sku = event.properties.get("sku").and_then(|s| s.as_str());
            let known = match sku {
                Some(sku) => tx.product(sku).await?.is_some(),
                None => false,
            };
            if !known {
                return Err(within(FieldError::new(
                    "properties.sku",
                    match sku {
                        Some(sku) => format!("no product with sku '{sku}' in the catalogue"),
                        None => "a product_viewed event names the product's sku".to_string(),
                    },
                ))
                .into());
            }
        }
        let external = event.customer_external_id.as_str();
        let customer_id = match customers.get(external) {
            Some(id) => *id,
            None => {
                let customer = tx.customer_by_external_id(external).await?.ok_or_else(|| {
                    within(FieldError::new(
                        "customer_external_id",
                        format!("no customer with external_id '{external}'"),
                    ))
                })?;
                customers.insert(external.to_string(), customer.id);
                customer.id
            }
        };
        customer_ids.push(customer_id);
        properties.push(serde_json::to_value(&event.properties).unwrap_or_default());
    }
    let rows: Vec<NewEvent<'_>> = events
        .iter()
        .zip(customer_ids)
        .zip(&properties)
        .map(|((event, customer_id), properties)| NewEvent {
            source_id: event.id.as_ref().map(|id| id.as_str()),
            customer_id,
            event_type: &event.event_type,
            occurred_at: event.at,
            properties,
        })
        .collect();
    let ids = tx.insert_events(&rows, now).await?;
    tx.insert_jobs(JobKind::Event, &ids, now, now).await?;
    Ok(ids.len())
}

/// Appends an event the system itself observed (a survey answered on a page), with a
/// source id so it is recorded once; `false` when it was already.
pub async fn record_internal_event(
    tx: &mut Tx,
    customer_id: CustomerId,
    event_type: &str,
    at: Timestamp,
    properties: &serde_json::Value,
    source_id: &str,
) -> Result<bool, StoreError> {
    Ok(append_event(
        tx,
        customer_id,
        event_type,
        at,
        properties,
        Some(source_id),
        at,
    )
    .await?
    .is_some())
}

pub(crate) async fn append_event(
    tx: &mut Tx,
    customer_id: CustomerId,
    event_type: &str,
    at: Timestamp,
    properties: &serde_json::Value,
    source_id: Option<&str>,
    now: Timestamp,
) -> Result<Option<aftercare_store::EventId>, StoreError> {
    let id = tx
        .insert_event(customer_id, event_type, at, properties, source_id, now)
        .await?;
    if let Some(id) = id {
        tx.insert_job(JobKind::Event, id, now, now).await?;
    }
    Ok(id)
}
