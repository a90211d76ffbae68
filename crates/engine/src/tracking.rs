//! What the tracking page does (PX2, PX5, PX6): a delivery change is stored with a job in one
//! transaction and passed on to the carrier by the carrier adapter — a signed outgoing
//! webhook (`aftercare_channels::webhook`) — by the worker, retried with backoff and jitter
//! while the carrier is unreachable. The carrier's answer settles it (`confirmed` or
//! `refused`) and becomes an event (`delivery_changed`, `delivery_change_refused`) that the
//! library's `delivery-change` programme confirms to the customer. A fitting booking and a
//! recycling return are stored and become events the same way.
//!
//! The adapter's payload (version 1), POSTed as JSON with `Aftercare-Signature` and an
//! `Idempotency-Key` of `delivery-change-<id>`:
//!
//! ```json
//! {"type": "delivery_change", "version": 1, "id": 7, "carrier": "postnl",
//!  "shipment": "3S000000001", "order": "W1001", "requested_at": "2026-03-02T10:00:00Z",
//!  "change": {"kind": "pickup_point", "point": {"id": "NL-1017-01", "name": "…", …}},
//!  "recipient": {"name": "Anna de Vries", "street": "Keizersgracht", "house_number": "1",
//!                "postcode": "1015 AA", "city": "Amsterdam", "country": "NL"}}
//! ```
//!
//! A 2xx answer confirms; a 4xx (other than 408/429) refuses, its body kept as the reason;
//! anything else is retried. Pick-up points come from the carrier's lookup URL (a signed GET
//! with `postcode` and `country`, answering a JSON list of points) or, without one, from
//! the configured list.
//!
//! Requirements: PX2, PX5, PX6.

use aftercare_channels::webhook::WebhookError;
use aftercare_domain::delivery::{DeliveryChange, PickupPoint, nearest_points};
use aftercare_store::CustomerId;
use aftercare_store::{
    ChangeState, Job, JobKind, StoreError, StoredDeliveryChange, StoredOrder, StoredShipment, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tracing::{debug, warn};

use crate::ingest::append_event;
use crate::{Engine, EngineError};

/// How many pick-up points the page offers.
const POINTS_OFFERED: usize = 5;
/// A change the carrier could not be reached for this often is given up.
const MAX_CARRIER_ATTEMPTS: i32 = 12;

/// Stores a change the customer asked for and queues it for the carrier, in `tx`; `None`
/// when this form (`nonce`) was submitted before.
pub async fn request_change(
    tx: &mut Tx,
    customer_id: CustomerId,
    shipment: &StoredShipment,
    change: &DeliveryChange,
    nonce: &str,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let detail = serde_json::to_value(change).unwrap_or_default();
    let id = tx
        .insert_delivery_change(
            shipment.id,
            customer_id,
            change.kind().as_str(),
            &detail,
            nonce,
            now,
        )
        .await?;
    if let Some(id) = id {
        tx.insert_job(JobKind::Carrier, id, now, now).await?;
    }
    Ok(id)
}

/// Books a fitting slot for a click & collect order (PX5) and records `appointment_booked`;
/// `false` when someone else has the slot.
pub async fn book_fitting(
    tx: &mut Tx,
    order: &StoredOrder,
    store: &aftercare_domain::delivery::StoreLocation,
    slot: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    if !tx
        .book_appointment(&store.id, slot, order.id, order.customer_id, now)
        .await?
    {
        return Ok(false);
    }
    let properties = json!({
        "order_external_id": order.record.external_id,
        "store_id": store.id,
        "store_name": store.name,
        "store_address": store.address,
        "slot": slot.to_string(),
        "slot_time": jiff::tz::TimeZone::get(&store.time_zone)
            .map(|z| slot.to_zoned_datetime(z).strftime("%H:%M").to_string())
            .unwrap_or_default(),
    });
    let source = format!("appointment:{}:{}", order.id, slot.as_second());
    append_event(
        tx,
        order.customer_id,
        "appointment_booked",
        now,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    Ok(true)
}

/// Records a free recycling return for an order's worn-out product (PX6) and the
/// `recycling_requested` event; `false` when it was asked for before.
pub async fn request_recycling(
    tx: &mut Tx,
    order: &StoredOrder,
    now: Timestamp,
) -> Result<bool, StoreError> {
    if !tx
        .request_recycling(order.id, order.customer_id, now)
        .await?
    {
        return Ok(false);
    }
    let properties = json!({"order_external_id": order.record.external_id});
    let source = format!("recycling:{}", order.id);
    append_event(
        tx,
        order.customer_id,
        "recycling_requested",
        now,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    Ok(true)
}

/// How long a carrier's answer for a postcode is reused: pick-up points change rarely, and a
/// page view should not wait for the carrier each time (issue 8).
const PICKUP_FRESH: SignedDuration = SignedDuration::from_mins(15);
/// How long a failed lookup is not tried again (the configured list is offered meanwhile),
/// so a carrier that is down does not slow every page by its timeout.
const PICKUP_RETRY: SignedDuration = SignedDuration::from_mins(1);
/// At most this many postcodes are remembered; beyond it the memory starts afresh.
const PICKUP_ENTRIES: usize = 10_000;

/// Carrier, postcode and country.
type PickupKey = (String, String, String);
/// When the carrier answered, and what (`None`: it failed).
type PickupAnswer = (Timestamp, Option<Vec<PickupPoint>>);

/// The carriers' recent pick-up point answers, on the engine's clock.
#[derive(Debug, Default)]
pub struct PickupCache {
    entries: std::sync::Mutex<std::collections::HashMap<PickupKey, PickupAnswer>>,
}

impl PickupCache {
    /// The answer for `key` if it is still fresh at `now`: `Some(None)` for a recent failure.
    fn get(&self, key: &PickupKey, now: Timestamp) -> Option<Option<Vec<PickupPoint>>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, points) = entries.get(key)?;
        let fresh = if points.is_some() {
            PICKUP_FRESH
        } else {
            PICKUP_RETRY
        };
        (now < *at + fresh).then(|| points.clone())
    }

    fn put(&self, key: PickupKey, now: Timestamp, points: Option<Vec<PickupPoint>>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= PICKUP_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (now, points));
    }
}

impl Engine {
    /// The pick-up points to offer near `postcode`: from the carrier's lookup when it has
    /// one and answers (remembered for 15 minutes; a failure for a minute), else from the
    /// configured list; nearest first.
    pub async fn pickup_points(
        &self,
        carrier: &str,
        postcode: &str,
        country: &str,
    ) -> Vec<PickupPoint> {
        let Some(config) = self.tracking().carriers.get(carrier) else {
            return Vec::new();
        };
        let now = self.clock().now();
        let key = (
            carrier.to_string(),
            postcode.to_string(),
            country.to_string(),
        );
        match self.pickup_cache.get(&key, now) {
            Some(Some(points)) => return nearest_points(&points, postcode, POINTS_OFFERED),
            Some(None) => return nearest_points(&config.pickup_points, postcode, POINTS_OFFERED),
            None => {}
        }
        if let (Some(url), Some(secret)) = (&config.pickup_points_url, &config.webhook_secret) {
            let query = [("postcode", postcode), ("country", country)];
            match self
                .webhooks()
                .get_json(url, secret.as_bytes(), &query, self.clock().now())
                .await
                .and_then(|v| {
                    serde_json::from_value::<Vec<PickupPoint>>(v)
                        .map_err(|e| WebhookError::Transient(format!("pick-up points: {e}")))
                }) {
                Ok(points) => {
                    let offered = nearest_points(&points, postcode, POINTS_OFFERED);
                    self.pickup_cache.put(key, now, Some(points));
                    return offered;
                }
                Err(e) => {
                    warn!(carrier, error = %e, "Pick-up point lookup failed; using the configured list.");
                    self.pickup_cache.put(key, now, None);
                }
            }
        }
        nearest_points(&config.pickup_points, postcode, POINTS_OFFERED)
    }

    /// Passes a requested change on to the carrier (job kind `carrier`).
    pub(crate) async fn pass_on_change(&self, job: &Job) -> Result<(), EngineError> {
        let mut tx = self.store().begin().await?;
        let change = tx.delivery_change(job.ref_id).await?;
        if change.state != ChangeState::Requested {
            return self.finish(tx, job).await;
        }
        let shipment = tx.shipment(change.shipment_id).await?;
        let order = tx.order_by_id(shipment.order_id).await?;
        let customer = tx.customer(change.customer_id).await?;
        let Some((url, secret)) = self
            .tracking()
            .carriers
            .get(&shipment.carrier)
            .and_then(|c| Some((c.webhook_url.clone()?, c.webhook_secret.clone()?)))
        else {
            let reason = format!("no carrier adapter is configured for {}", shipment.carrier);
            settle(
                &mut tx,
                &change,
                &shipment,
                &order,
                false,
                &reason,
                self.clock().now(),
            )
            .await?;
            return self.finish(tx, job).await;
        };
        tx.commit().await?;

        let address = customer.record.postal_address.as_ref();
        let name = customer.record.full_name();
        let payload = json!({
            "type": "delivery_change",
            "version": 1,
            "id": change.id,
            "carrier": shipment.carrier,
            "shipment": shipment.external_id,
            "order": order.record.external_id,
            "requested_at": change.requested_at.to_string(),
            "change": change.detail,
            "recipient": {
                "name": name,
                "street": address.map(|a| a.street.as_str()),
                "house_number": address.map(|a| match &a.house_number_addition {
                    Some(add) => format!("{} {add}", a.house_number),
                    None => a.house_number.clone(),
                }),
                "postcode": address.map(|a| a.postcode.as_str()),
                "city": address.map(|a| a.city.as_str()),
                "country": address.map(|a| a.country.as_str()),
            },
        });
        let outcome = self
            .webhooks()
            .post_json(
                &url,
                secret.as_bytes(),
                &payload,
                &format!("delivery-change-{}", change.id),
                self.clock().now(),
            )
            .await;
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        match outcome {
            Ok(body) => {
                let reply: String = body.chars().take(500).collect();
                settle(&mut tx, &change, &shipment, &order, true, &reply, now).await?;
                debug!(
                    change_id = change.id,
                    "Delivery change confirmed by the carrier."
                );
                self.finish(tx, job).await
            }
            Err(e) if e.is_transient() && job.attempts < MAX_CARRIER_ATTEMPTS => {
                warn!(change_id = change.id, error = %e, "Carrier unreachable; retrying.");
                let due = now.checked_add(with_jitter(job.attempts)).unwrap_or(now);
                if tx
                    .retry_job(job.id, self.worker_id(), due, &e.to_string())
                    .await?
                {
                    tx.commit().await?;
                }
                Ok(())
            }
            Err(e) => {
                settle(
                    &mut tx,
                    &change,
                    &shipment,
                    &order,
                    false,
                    &e.to_string(),
                    now,
                )
                .await?;
                self.finish(tx, job).await
            }
        }
    }
}

/// Settles a change and records the event its confirmation programme starts from.
async fn settle(
    tx: &mut Tx,
    change: &StoredDeliveryChange,
    shipment: &StoredShipment,
    order: &StoredOrder,
    confirmed: bool,
    reply: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let state = if confirmed {
        ChangeState::Confirmed
    } else {
        ChangeState::Refused
    };
    if !tx
        .settle_delivery_change(change.id, state, reply, now)
        .await?
    {
        return Ok(());
    }
    let event = if confirmed {
        "delivery_changed"
    } else {
        "delivery_change_refused"
    };
    let properties = json!({
        "shipment_id": shipment.external_id,
        "order_external_id": order.record.external_id,
        "carrier": shipment.carrier,
        "change": change.detail,
        "reason": (!confirmed).then_some(reply),
    });
    let source = format!("delivery-change:{}", change.id);
    append_event(
        tx,
        change.customer_id,
        event,
        now,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    Ok(())
}

/// The worker's backoff plus up to a fifth more at random, so many calls to one system
/// that was down do not all return at the same second.
pub(crate) fn with_jitter(attempts: i32) -> SignedDuration {
    use rand::Rng;
    let base = crate::worker::backoff(attempts).as_secs();
    let extra = rand::rng().random_range(0..=base / 5);
    SignedDuration::from_secs(base + extra)
}
