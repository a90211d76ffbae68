//! Shipments as the tracking page shows them, the delivery changes customers ask for,
//! fitting appointments and recycling requests (PX1–PX6).

use crate::CustomerId;
use jiff::Timestamp;
use serde::Serialize;

use super::Tx;
use crate::{ChangeState, Result, StoreError, from_micros, micros};

/// A shipment with its current status and the carrier's expected window.
#[derive(Debug, Clone, Serialize)]
pub struct StoredShipment {
    /// Internal id (the subject of tracking links).
    pub id: i64,
    /// The carrier's tracking code.
    pub external_id: String,
    /// The order's internal id.
    #[serde(skip)]
    pub order_id: crate::OrderId,
    /// Carrier key, e.g. `postnl`.
    pub carrier: String,
    /// The latest status.
    pub status: String,
    /// When the carrier recorded it.
    pub status_at: Timestamp,
    /// Start of the expected delivery window.
    pub expected_from: Option<Timestamp>,
    /// End of it.
    pub expected_until: Option<Timestamp>,
}

type ShipmentRow = (
    i64,
    String,
    crate::OrderId,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn shipment(row: ShipmentRow) -> Result<StoredShipment> {
    Ok(StoredShipment {
        id: row.0,
        external_id: row.1,
        order_id: row.2,
        carrier: row.3,
        status: row.4,
        status_at: from_micros(row.5)?,
        expected_from: row.6.map(from_micros).transpose()?,
        expected_until: row.7.map(from_micros).transpose()?,
    })
}

const SHIPMENT_COLUMNS: &str =
    "id, external_id, order_id, carrier, status, status_at, expected_from, expected_until";

/// A delivery change and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredDeliveryChange {
    /// Internal id.
    pub id: i64,
    /// The shipment.
    pub shipment_id: i64,
    /// The customer who asked.
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// `other_day`, `neighbour`, `safe_place`, `pickup_point`.
    pub kind: String,
    /// The change as JSON (the domain's `DeliveryChange`).
    pub detail: serde_json::Value,
    /// Where it is.
    pub state: ChangeState,
    /// When the customer asked.
    pub requested_at: Timestamp,
    /// When the carrier answered.
    pub settled_at: Option<Timestamp>,
    /// What the carrier said.
    pub carrier_reply: Option<String>,
}

type ChangeRow = (
    i64,
    i64,
    CustomerId,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

fn change(row: ChangeRow) -> Result<StoredDeliveryChange> {
    Ok(StoredDeliveryChange {
        id: row.0,
        shipment_id: row.1,
        customer_id: row.2,
        kind: row.3,
        detail: serde_json::from_str(&row.4)
            .map_err(|e| StoreError::Corrupt(format!("delivery change {}: {e}", row.0)))?,
        state: ChangeState::named(&row.5),
        requested_at: from_micros(row.6)?,
        settled_at: row.7.map(from_micros).transpose()?,
        carrier_reply: row.8,
    })
}

const CHANGE_COLUMNS: &str =
    "id, shipment_id, customer_id, kind, detail, state, requested_at, settled_at, carrier_reply";

impl Tx {
    /// A shipment by internal id.
    pub async fn shipment(&mut self, id: i64) -> Result<StoredShipment> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE id = $1");
        let row: Option<ShipmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        shipment(row.ok_or_else(|| StoreError::NotFound(format!("shipment {id}")))?)
    }

    /// A customer's shipments, newest first.
    pub async fn shipments_of_customer(
        &mut self,
        customer_id: CustomerId,
        limit: i64,
    ) -> Result<Vec<StoredShipment>> {
        let columns = SHIPMENT_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM shipments s JOIN orders o ON o.id = s.order_id
             WHERE o.customer_id = $1 ORDER BY s.id DESC LIMIT $2"
        );
        let rows: Vec<ShipmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(shipment).collect()
    }

    /// A shipment by the carrier's tracking code.
    pub async fn shipment_by_external_id(&mut self, ext: &str) -> Result<Option<StoredShipment>> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE external_id = $1");
        let row: Option<ShipmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(ext)
            .fetch_optional(&mut *c)
            .await?);
        row.map(shipment).transpose()
    }

    /// A shipment's status events, oldest first: (status, carrier time, location).
    pub async fn shipment_history(
        &mut self,
        shipment_id: i64,
    ) -> Result<Vec<(String, Timestamp, Option<String>)>> {
        let rows: Vec<(String, i64, Option<String>)> = on_tx!(self, c => sqlx::query_as(
            "SELECT status, at, location FROM shipment_events WHERE shipment_id = $1 ORDER BY at, id",
        )
        .bind(shipment_id)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(s, at, l)| Ok((s, from_micros(at)?, l)))
            .collect()
    }

    /// The newest home-delivery shipment, preferring one not yet out for delivery (the demo
    /// shows its page).
    pub async fn latest_changeable_shipment(&mut self) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT s.id FROM shipments s JOIN orders o ON o.id = s.order_id
             WHERE o.delivery_method = 'home'
             ORDER BY CASE WHEN s.status IN ('label_created', 'handed_over', 'in_transit') THEN 0 ELSE 1 END,
                      s.status_at DESC
             LIMIT 1",
        )
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Stores a delivery change; `None` when this `nonce` (one form) was stored before.
    pub async fn insert_delivery_change(
        &mut self,
        shipment_id: i64,
        customer_id: CustomerId,
        kind: &str,
        detail: &serde_json::Value,
        nonce: &str,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO delivery_changes (shipment_id, customer_id, kind, detail, state, nonce, requested_at)
             VALUES ($1, $2, $3, $4, $7, $5, $6)
             ON CONFLICT (nonce) DO NOTHING RETURNING id",
        )
        .bind(shipment_id)
        .bind(customer_id)
        .bind(kind)
        .bind(detail.to_string())
        .bind(nonce)
        .bind(micros(now))
        .bind(ChangeState::Requested)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// One delivery change.
    pub async fn delivery_change(&mut self, id: i64) -> Result<StoredDeliveryChange> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM delivery_changes WHERE id = $1");
        let row: Option<ChangeRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        change(row.ok_or_else(|| StoreError::NotFound(format!("delivery change {id}")))?)
    }

    /// A shipment's delivery changes, newest first.
    pub async fn delivery_changes(
        &mut self,
        shipment_id: i64,
    ) -> Result<Vec<StoredDeliveryChange>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM delivery_changes WHERE shipment_id = $1 ORDER BY id DESC"
        );
        let rows: Vec<ChangeRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(shipment_id)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(change).collect()
    }

    /// Records the carrier's answer to a requested change; `false` if it was settled before.
    pub async fn settle_delivery_change(
        &mut self,
        id: i64,
        state: ChangeState,
        reply: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE delivery_changes SET state = $2, carrier_reply = $3, settled_at = $4
             WHERE id = $1 AND state = $5",
        )
        .bind(id)
        .bind(state)
        .bind(reply)
        .bind(micros(now))
        .bind(ChangeState::Requested)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Books a fitting slot for an order (replacing its earlier booking); `false` when the
    /// slot is taken.
    pub async fn book_appointment(
        &mut self,
        store_id: &str,
        slot: Timestamp,
        order_id: crate::OrderId,
        customer_id: CustomerId,
        now: Timestamp,
    ) -> Result<bool> {
        on_tx!(self, c => sqlx::query("DELETE FROM appointments WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO appointments (store_id, slot_at, order_id, customer_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id, slot_at) DO NOTHING",
        )
        .bind(store_id)
        .bind(micros(slot))
        .bind(order_id)
        .bind(customer_id)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// The taken slots of a store from `from` on.
    pub async fn taken_slots(&mut self, store_id: &str, from: Timestamp) -> Result<Vec<Timestamp>> {
        let rows: Vec<i64> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT slot_at FROM appointments WHERE store_id = $1 AND slot_at >= $2",
        )
        .bind(store_id)
        .bind(micros(from))
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(from_micros).collect()
    }

    /// An order's booked fitting: (store, slot).
    pub async fn appointment_for_order(
        &mut self,
        order_id: crate::OrderId,
    ) -> Result<Option<(String, Timestamp)>> {
        let row: Option<(String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT store_id, slot_at FROM appointments WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(s, at)| Ok((s, from_micros(at)?))).transpose()
    }

    /// Records a recycling return for an order; `false` when it was asked for before.
    pub async fn request_recycling(
        &mut self,
        order_id: crate::OrderId,
        customer_id: CustomerId,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO recycling_requests (order_id, customer_id, requested_at)
             VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(customer_id)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// When a recycling return was asked for this order.
    pub async fn recycling_requested_at(
        &mut self,
        order_id: crate::OrderId,
    ) -> Result<Option<Timestamp>> {
        let at: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT requested_at FROM recycling_requests WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_optional(&mut *c)
        .await?);
        at.map(from_micros).transpose()
    }
}
