//! Transactions: every read and write the engine and the API make, on either backend.

use aftercare_domain::{
    CustomerRecord, MessageState, OrderRecord, ProductRecord, ShipmentEventRecord,
};
use jiff::Timestamp;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::records::{CustomerRow, MessageRow, OrderRow, ProductRow, json, to_json};
use crate::{
    Enrolment, IdempotencyClaim, Message, MessageFilter, MessageTransition, NewEnrolment, NewEvent,
    NewMessage, OrderStats, Result, StoreError, StoredCustomer, StoredEvent, StoredOrder,
    enrolment_state, micros,
};

/// A transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tx::Sqlite(_) => "Tx(sqlite)",
            Tx::Postgres(_) => "Tx(postgres)",
        })
    }
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per backend.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

mod admin;
mod clicks;
mod contracts;
mod feedback;
mod loyalty;
mod print;
mod scores;
mod surveys;
mod tracking;
mod webhooks;
pub use admin::{AuditEntry, Pause, TeamSession, TeamUser};
pub use loyalty::{Coupon, NewCoupon, NewEntry, RedeemOutcome, Redemption, Referral};
pub use print::PrintBatch;
pub use scores::{AlsoBought, DeadJob, Scores};
pub use surveys::{Answer, SurveyResult};
pub use tracking::{StoredDeliveryChange, StoredShipment};
pub use webhooks::OutgoingWebhook;

const ENROLMENT_COLUMNS: &str =
    "id, programme_id, programme_version, customer_id, trigger_event_id,
    state, step_index, context, holdout, wait_event, wait_match, wait_deadline, goal_event,
    goal_deadline, goal_reached_at, exit_reason, started_at";

pub(crate) const MESSAGE_COLUMNS: &str =
    "m.id, m.customer_id, c.external_id, m.enrolment_id, m.step_key,
    m.programme_id, m.template, m.class, m.channel, m.state, m.reason, m.planned_at, m.sent_at,
    m.recipient, m.subject, m.body_text, m.body_html, m.greeting, m.header_message_id, m.attempts,
    m.priority";

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    // ----- idempotency -----------------------------------------------------------------

    /// Claims `key` for `scope`. Run this first in the transaction: it is a write, so on
    /// SQLite it takes the write lock at once, and on PostgreSQL a concurrent twin waits
    /// for this transaction and then sees its answer.
    pub async fn claim_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<IdempotencyClaim> {
        let inserted = on_tx!(self, c => sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idem_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        if inserted == 1 {
            return Ok(IdempotencyClaim::New);
        }
        let (hash, status, response): (String, Option<i32>, Option<String>) = on_tx!(self, c =>
            sqlx::query_as(
                "SELECT request_hash, status, response FROM idempotency_keys
                 WHERE scope = $1 AND idem_key = $2",
            )
            .bind(scope)
            .bind(key)
            .fetch_one(&mut *c)
            .await?);
        if hash != request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        match (status, response) {
            (Some(status), Some(response)) => Ok(IdempotencyClaim::Replay {
                status: u16::try_from(status).unwrap_or(200),
                response,
            }),
            // The first request with this key has not committed its answer yet.
            _ => Ok(IdempotencyClaim::InProgress),
        }
    }

    /// Stores the answer for a claimed key.
    pub async fn finish_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE idempotency_keys SET status = $1, response = $2 WHERE scope = $3 AND idem_key = $4",
        )
        .bind(i32::from(status))
        .bind(response)
        .bind(scope)
        .bind(key)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    // ----- customers -------------------------------------------------------------------

    /// Inserts or replaces a customer by external id; returns the id and whether it is new.
    pub async fn upsert_customer(
        &mut self,
        record: &CustomerRecord,
        now: Timestamp,
    ) -> Result<(i64, bool)> {
        let (id, created_at): (i64, i64) = on_tx!(self, c => sqlx::query_as(
            "INSERT INTO customers (external_id, email, last_name, postcode, record, created_at, updated_at, time_zone)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
             ON CONFLICT (external_id) DO UPDATE SET email = excluded.email,
                 last_name = excluded.last_name, postcode = excluded.postcode,
                 record = excluded.record, updated_at = excluded.updated_at,
                 time_zone = excluded.time_zone
             RETURNING id, created_at",
        )
        .bind(record.external_id.as_str())
        .bind(record.email.as_ref().map(|e| e.as_str().to_lowercase()))
        .bind(record.last_name.as_deref().map(str::to_lowercase))
        .bind(record.postal_address.as_ref().map(|a| a.postcode.replace(' ', "").to_uppercase()))
        .bind(to_json(record))
        .bind(micros(now))
        .bind(record.time_zone.as_str())
        .fetch_one(&mut *c)
        .await?);
        Ok((id, created_at == micros(now)))
    }

    /// Replaces a known customer's record (e.g. after a `tag` step).
    pub async fn update_customer_record(
        &mut self,
        id: i64,
        record: &CustomerRecord,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE customers SET record = $1, updated_at = $2 WHERE id = $3")
            .bind(to_json(record))
            .bind(micros(now))
            .bind(id)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// What a customer's orders add up to.
    pub async fn order_stats(&mut self, customer_id: i64) -> Result<OrderStats> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT COUNT(*) AS orders_count, CAST(COALESCE(SUM(total_cents), 0) AS BIGINT) AS total_spent_cents,
                    MAX(placed_at) AS last_order_at, MIN(placed_at) AS first_order_at
             FROM orders WHERE customer_id = $1",
        )
        .bind(customer_id)
        .fetch_one(&mut *c)
        .await?))
    }

    /// A customer by the brand's id.
    pub async fn customer_by_external_id(
        &mut self,
        external_id: &str,
    ) -> Result<Option<StoredCustomer>> {
        let row: Option<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers WHERE external_id = $1",
        )
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(StoredCustomer::try_from).transpose()
    }

    /// A customer by internal id.
    pub async fn customer(&mut self, id: i64) -> Result<StoredCustomer> {
        let row: Option<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("customer {id}")))?
            .try_into()
    }

    /// Customers in id order, `limit` at a time after `after_id`.
    pub async fn customers_page(
        &mut self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredCustomer>> {
        let rows: Vec<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredCustomer::try_from).collect()
    }

    // ----- products --------------------------------------------------------------------

    /// Inserts or replaces a product.
    pub async fn upsert_product(&mut self, record: &ProductRecord, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO products (sku, category, record, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sku) DO UPDATE SET category = excluded.category,
                 record = excluded.record, updated_at = excluded.updated_at",
        )
        .bind(record.sku.as_str())
        .bind(&record.category)
        .bind(to_json(record))
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// A product by sku.
    pub async fn product(&mut self, sku: &str) -> Result<Option<ProductRecord>> {
        let row: Option<ProductRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT record FROM products WHERE sku = $1",
        )
        .bind(sku)
        .fetch_optional(&mut *c)
        .await?);
        row.map(ProductRecord::try_from).transpose()
    }

    // ----- orders and shipments --------------------------------------------------------

    /// Stores a new order and its lines; `None` when its external id already exists.
    pub async fn insert_order(
        &mut self,
        record: &OrderRecord,
        customer_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let id: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO orders (external_id, customer_id, placed_at, total_cents, currency,
                                 delivery_method, record, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (external_id) DO NOTHING RETURNING id",
        )
        .bind(record.external_id.as_str())
        .bind(customer_id)
        .bind(micros(record.placed_at))
        .bind(record.total_cents())
        .bind(&record.currency)
        .bind(to_json(&record.delivery_method).trim_matches('"').to_string())
        .bind(to_json(record))
        .bind(micros(now))
        .fetch_optional(&mut *c)
        .await?);
        let Some(id) = id else { return Ok(None) };
        for (line_no, line) in record.lines.iter().enumerate() {
            on_tx!(self, c => sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(i32::try_from(line_no).unwrap_or(i32::MAX))
            .bind(line.sku.as_str())
            .bind(i64::from(line.quantity))
            .bind(line.unit_price_cents)
            .execute(&mut *c).await?.rows_affected());
        }
        Ok(Some(id))
    }

    /// An order by internal id.
    pub async fn order_by_id(&mut self, id: i64) -> Result<StoredOrder> {
        let row: Option<OrderRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, record FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?
            .try_into()
    }

    /// An order by the shop's order number.
    pub async fn order_by_external_id(&mut self, external_id: &str) -> Result<Option<StoredOrder>> {
        let row: Option<OrderRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, record FROM orders WHERE external_id = $1",
        )
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(StoredOrder::try_from).transpose()
    }

    /// A customer's latest order with its products (what a preview shows), if any.
    pub async fn latest_order_with_products(
        &mut self,
        customer_id: i64,
    ) -> Result<Option<(StoredOrder, Vec<ProductRecord>)>> {
        let Some(order) = self
            .orders_of_customer(customer_id, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let products = self.order_products(&order.record).await?;
        Ok(Some((order, products)))
    }

    /// The products on an order, in line order (lines whose product is gone are skipped).
    pub async fn order_products(&mut self, order: &OrderRecord) -> Result<Vec<ProductRecord>> {
        let mut products = Vec::with_capacity(order.lines.len());
        for line in &order.lines {
            products.extend(self.product(line.sku.as_str()).await?);
        }
        Ok(products)
    }

    /// A customer's orders, newest first.
    pub async fn orders_of_customer(
        &mut self,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredOrder>> {
        let rows: Vec<OrderRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, record FROM orders WHERE customer_id = $1
             ORDER BY placed_at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredOrder::try_from).collect()
    }

    /// Records a carrier status event; returns `false` when the same event was seen before.
    /// The shipment's current status follows the latest event by carrier time.
    pub async fn record_shipment_event(
        &mut self,
        event: &ShipmentEventRecord,
        order_id: i64,
        now: Timestamp,
    ) -> Result<bool> {
        let status = event.status.as_str();
        let shipment_id: i64 = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO shipments (external_id, order_id, carrier, status, status_at, created_at, expected_from, expected_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (external_id) DO UPDATE SET
                 status = CASE WHEN excluded.status_at >= shipments.status_at THEN excluded.status ELSE shipments.status END,
                 status_at = CASE WHEN excluded.status_at >= shipments.status_at THEN excluded.status_at ELSE shipments.status_at END,
                 expected_from = COALESCE(excluded.expected_from, shipments.expected_from),
                 expected_until = COALESCE(excluded.expected_until, shipments.expected_until)
             RETURNING id",
        )
        .bind(event.shipment_id.as_str())
        .bind(order_id)
        .bind(&event.carrier)
        .bind(status)
        .bind(micros(event.at))
        .bind(micros(now))
        .bind(event.expected_from.map(micros))
        .bind(event.expected_until.map(micros))
        .fetch_one(&mut *c)
        .await?);
        let inserted = on_tx!(self, c => sqlx::query(
            "INSERT INTO shipment_events (shipment_id, status, at, location, received_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shipment_id, status, at) DO NOTHING",
        )
        .bind(shipment_id)
        .bind(status)
        .bind(micros(event.at))
        .bind(event.location.as_deref())
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(inserted == 1)
    }

    // ----- events ----------------------------------------------------------------------

    /// Appends an event; `None` when `source_id` was stored before.
    pub async fn insert_event(
        &mut self,
        customer_id: i64,
        event_type: &str,
        occurred_at: Timestamp,
        properties: &serde_json::Value,
        source_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO events (source_id, customer_id, event_type, occurred_at, received_at, properties)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source_id) DO NOTHING RETURNING id",
        )
        .bind(source_id)
        .bind(customer_id)
        .bind(event_type)
        .bind(micros(occurred_at))
        .bind(micros(now))
        .bind(to_json(properties))
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Appends many events in one statement; returns the ids of those stored (an event
    /// whose `source_id` was stored before is skipped).
    pub async fn insert_events(
        &mut self,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(events.len());
        // Six binds per row; stay well inside SQLite's and PostgreSQL's bind limits.
        for chunk in events.chunks(1000) {
            let chunk_ids: Vec<i64> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO events (source_id, customer_id, event_type, occurred_at, received_at, properties) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(e.source_id)
                        .push_bind(e.customer_id)
                        .push_bind(e.event_type)
                        .push_bind(micros(e.occurred_at))
                        .push_bind(micros(now))
                        .push_bind(to_json(e.properties));
                });
                q.push(" ON CONFLICT (source_id) DO NOTHING RETURNING id");
                q.build_query_scalar().fetch_all(&mut *c).await?
            });
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }

    /// An event by id.
    pub async fn event(&mut self, id: i64) -> Result<StoredEvent> {
        let row: Option<StoredEvent> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, event_type, occurred_at, properties, source_id FROM events WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("event {id}")))
    }

    /// A customer's events, newest first.
    pub async fn events_of_customer(
        &mut self,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, event_type, occurred_at, properties, source_id FROM events
             WHERE customer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?))
    }

    // ----- enrolments ------------------------------------------------------------------

    /// Enrols a customer; `None` if this trigger already enrolled them in this programme.
    pub async fn insert_enrolment(
        &mut self,
        e: &NewEnrolment<'_>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let state = if e.holdout {
            enrolment_state::HOLDOUT
        } else {
            enrolment_state::ACTIVE
        };
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO enrolments (programme_id, programme_version, customer_id, trigger_event_id,
                                     state, step_index, context, started_at, updated_at, holdout,
                                     goal_event, goal_deadline)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7, $8, $9, $10)
             ON CONFLICT (programme_id, customer_id, trigger_event_id) DO NOTHING RETURNING id",
        )
        .bind(e.programme_id)
        .bind(e.programme_version)
        .bind(e.customer_id)
        .bind(e.trigger_event_id)
        .bind(state)
        .bind(to_json(e.context))
        .bind(micros(now))
        .bind(e.holdout)
        .bind(e.goal.map(|(event, _)| event))
        .bind(e.goal.map(|(_, deadline)| micros(deadline)))
        .fetch_optional(&mut *c)
        .await?))
    }

    /// An enrolment by id.
    pub async fn enrolment(&mut self, id: i64) -> Result<Enrolment> {
        let sql = format!("SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE id = $1");
        let row: Option<Enrolment> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("enrolment {id}")))
    }

    /// A customer's enrolments that are still running, or whose goal can still be reached
    /// at `at`.
    pub async fn open_enrolments(
        &mut self,
        customer_id: i64,
        at: Timestamp,
    ) -> Result<Vec<Enrolment>> {
        let sql = format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments
             WHERE customer_id = $1 AND (state IN ('active', 'waiting', 'holdout')
                   OR (goal_reached_at IS NULL AND goal_deadline >= $2))
             ORDER BY id"
        );
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .bind(micros(at))
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// A customer's enrolments, newest first.
    pub async fn enrolments_of_customer(
        &mut self,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<Enrolment>> {
        let sql = format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE customer_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// When the customer last entered the programme (µs), if ever.
    pub async fn last_enrolment_start(
        &mut self,
        programme_id: &str,
        customer_id: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT MAX(started_at) FROM enrolments WHERE programme_id = $1 AND customer_id = $2",
        )
        .bind(programme_id)
        .bind(customer_id)
        .fetch_one(&mut *c)
        .await?))
    }

    /// Moves an enrolment to `step_index` in `state`, clearing any wait.
    pub async fn update_enrolment(
        &mut self,
        id: i64,
        state: &str,
        step_index: i32,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = $1, step_index = $2, updated_at = $3,
                                   wait_event = NULL, wait_match = NULL, wait_deadline = NULL
             WHERE id = $4",
        )
        .bind(state)
        .bind(step_index)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Parks an enrolment on a `wait_for` step until `event` (matching `wait_match`) or `deadline`.
    pub async fn set_enrolment_waiting(
        &mut self,
        id: i64,
        step_index: i32,
        event: &str,
        wait_match: Option<&str>,
        deadline: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = 'waiting', step_index = $1, wait_event = $2, wait_match = $3,
                                   wait_deadline = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(step_index)
        .bind(event)
        .bind(wait_match)
        .bind(micros(deadline))
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Ends an enrolment early with a reason.
    pub async fn exit_enrolment(&mut self, id: i64, reason: &str, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = 'exited', exit_reason = $1, updated_at = $2,
                                   wait_event = NULL, wait_match = NULL, wait_deadline = NULL
             WHERE id = $3",
        )
        .bind(reason)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Records that an enrolment's goal was reached at `at`.
    pub async fn reach_goal(&mut self, id: i64, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE enrolments SET goal_reached_at = $1 WHERE id = $2 AND goal_reached_at IS NULL")
            .bind(micros(at))
            .bind(id)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Drops an enrolment's pending step jobs (its timers), unless a worker holds one.
    pub async fn cancel_step_jobs(&mut self, enrolment_id: i64) -> Result<u64> {
        Ok(
            on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE kind = 'step' AND ref_id = $1 AND locked_by IS NULL")
            .bind(enrolment_id)
            .execute(&mut *c).await?.rows_affected()),
        )
    }

    /// Blocks an enrolment's messages that have not gone out yet, with a reason.
    pub async fn block_planned_messages(
        &mut self,
        enrolment_id: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let ids: Vec<i64> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT id FROM messages WHERE enrolment_id = $1 AND state = 'planned'",
        )
        .bind(enrolment_id)
        .fetch_all(&mut *c)
        .await?);
        let mut blocked = 0;
        for id in ids {
            if self
                .transition_message(
                    id,
                    MessageState::Planned,
                    MessageState::Blocked,
                    reason,
                    now,
                )
                .await?
            {
                blocked += 1;
            }
        }
        Ok(blocked)
    }

    /// A customer's messages not yet sent, with their enrolment's programme, version, state
    /// and goal event.
    #[allow(clippy::type_complexity)]
    pub async fn planned_messages_of_customer(
        &mut self,
        customer_id: i64,
    ) -> Result<Vec<(i64, String, i32, String, Option<String>)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT m.id, e.programme_id, e.programme_version, e.state, e.goal_event FROM messages m
             JOIN enrolments e ON e.id = m.enrolment_id
             WHERE m.customer_id = $1 AND m.state = 'planned'",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// The enrolment's shared data.
    pub fn enrolment_context(enrolment: &Enrolment) -> Result<serde_json::Value> {
        json(&enrolment.context)
    }

    /// Replaces the data an enrolment's steps share (e.g. after `issue_coupon`).
    pub async fn set_enrolment_context(
        &mut self,
        id: i64,
        context: &serde_json::Value,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE enrolments SET context = $1 WHERE id = $2")
            .bind(to_json(context))
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    // ----- calendar ---------------------------------------------------------------------

    /// Every time zone customers live in.
    pub async fn customer_time_zones(&mut self) -> Result<Vec<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT DISTINCT time_zone FROM customers ORDER BY time_zone")
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// The latest local date scanned for occasions in a time zone (`YYYY-MM-DD`).
    pub async fn last_calendar_scan(&mut self, time_zone: &str) -> Result<Option<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT MAX(local_date) FROM calendar_scans WHERE time_zone = $1")
            .bind(time_zone)
            .fetch_one(&mut *c)
            .await?),
        )
    }

    /// Records that a time zone's local date was scanned.
    pub async fn mark_calendar_scanned(
        &mut self,
        time_zone: &str,
        local_date: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO calendar_scans (time_zone, local_date, scanned_at) VALUES ($1, $2, $3)
             ON CONFLICT (time_zone, local_date) DO NOTHING",
        )
        .bind(time_zone)
        .bind(local_date)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Customers in one time zone, `limit` at a time after `after_id`.
    pub async fn customers_in_zone(
        &mut self,
        time_zone: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredCustomer>> {
        let rows: Vec<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers
             WHERE time_zone = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(time_zone)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredCustomer::try_from).collect()
    }

    /// Order lines of customers with ids in `from..=to`: (customer id, order number,
    /// placed at µs, sku).
    pub async fn order_lines_of_customers(
        &mut self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, i64, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT o.customer_id, o.external_id, o.placed_at, l.sku FROM orders o
             JOIN order_lines l ON l.order_id = o.id
             WHERE o.customer_id BETWEEN $1 AND $2 ORDER BY o.customer_id, o.placed_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?))
    }

    /// The orders of customers with ids in `from..=to`, by customer, oldest first.
    pub async fn orders_of_customers(&mut self, from: i64, to: i64) -> Result<Vec<StoredOrder>> {
        let rows: Vec<OrderRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, record FROM orders WHERE customer_id BETWEEN $1 AND $2
             ORDER BY customer_id, placed_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredOrder::try_from).collect()
    }

    /// The contacts since `since` of customers with ids in `from..=to` — messages sent,
    /// and letters queued for print — as (customer id, at µs, class, channel), by customer,
    /// oldest first. A letter the policy let go counts from the moment it joined the print
    /// queue, not only once its batch is posted: otherwise a second message could pass the
    /// caps and the band in between.
    pub async fn contacts_of_customers(
        &mut self,
        from: i64,
        to: i64,
        since: Timestamp,
    ) -> Result<Vec<(i64, i64, String, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COALESCE(sent_at, print_queued_at) AS at, class, channel
             FROM messages
             WHERE customer_id BETWEEN $1 AND $2
               AND ((state = 'sent' AND sent_at >= $3)
                    OR (state = 'sending' AND print_queued_at >= $3))
             ORDER BY customer_id, at",
        )
        .bind(from)
        .bind(to)
        .bind(micros(since))
        .fetch_all(&mut *c)
        .await?))
    }

    /// One customer's [`Self::contacts_of_customers`]: (at µs, class, channel), oldest first.
    pub async fn recent_contacts(
        &mut self,
        customer_id: i64,
        since: Timestamp,
    ) -> Result<Vec<(i64, String, String)>> {
        Ok(self
            .contacts_of_customers(customer_id, customer_id, since)
            .await?
            .into_iter()
            .map(|(_, at, class, channel)| (at, class, channel))
            .collect())
    }

    /// Every product.
    pub async fn products(&mut self) -> Result<Vec<ProductRecord>> {
        let rows: Vec<ProductRow> = on_tx!(self, c => sqlx::query_as("SELECT record FROM products ORDER BY sku")
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(ProductRecord::try_from).collect()
    }

    /// Schedules the hourly calendar job unless it exists.
    pub async fn ensure_calendar_job(&mut self, run_at: Timestamp, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO jobs (kind, ref_id, run_at, created_at) VALUES ('calendar', 0, $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(micros(run_at))
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Moves a recurring job to its next run, releasing the lease.
    pub async fn reschedule_job(
        &mut self,
        id: i64,
        worker: &str,
        run_at: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET run_at = $1, locked_until = NULL, locked_by = NULL, attempts = 0, last_error = NULL
             WHERE id = $2 AND locked_by = $3",
        )
        .bind(micros(run_at))
        .bind(id)
        .bind(worker)
        .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    // ----- reports ----------------------------------------------------------------------

    /// Per programme: enrolments, of which held out, and goals reached.
    pub async fn enrolment_report(&mut self) -> Result<Vec<(String, i64, i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, COUNT(*),
                    CAST(SUM(CASE WHEN holdout THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(SUM(CASE WHEN goal_reached_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT)
             FROM enrolments GROUP BY programme_id ORDER BY programme_id",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Per programme and message state: how many messages.
    pub async fn message_report(&mut self) -> Result<Vec<(Option<String>, String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, state, COUNT(*) FROM messages GROUP BY programme_id, state ORDER BY programme_id, state",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every message still planned, by its reason (for a held one, why it waits).
    pub async fn planned_reasons(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT reason, COUNT(*) AS n FROM messages WHERE state = 'planned' GROUP BY reason ORDER BY n DESC",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every blocked message's reason, with how often it occurred.
    pub async fn blocked_reasons(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT reason, COUNT(*) AS n FROM messages WHERE state = 'blocked' GROUP BY reason ORDER BY n DESC",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Per customer with any, how many relationship and promotional messages (the contacts
    /// the yearly band counts, FR1) were sent in `[from, to)`: (customer id, count).
    pub async fn contacts_by_customer(
        &mut self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COUNT(*) FROM messages
             WHERE state = 'sent' AND class IN ('relationship', 'promotional') AND sent_at >= $1 AND sent_at < $2
             GROUP BY customer_id",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&mut *c)
        .await?))
    }

    // ----- programme versions ----------------------------------------------------------

    /// The stored definition of a programme version.
    pub async fn programme_version(
        &mut self,
        programme_id: &str,
        version: i32,
    ) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT definition FROM programme_versions WHERE programme_id = $1 AND version = $2",
        )
        .bind(programme_id)
        .bind(version)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Stores a programme version the first time it is seen.
    pub async fn insert_programme_version(
        &mut self,
        programme_id: &str,
        version: i32,
        definition: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_versions (programme_id, version, definition, first_seen)
             VALUES ($1, $2, $3, $4) ON CONFLICT (programme_id, version) DO NOTHING",
        )
        .bind(programme_id)
        .bind(version)
        .bind(definition)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Every stored programme version: (id, version, definition).
    pub async fn programme_versions(&mut self) -> Result<Vec<(String, i32, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, version, definition FROM programme_versions ORDER BY programme_id, version",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    // ----- jobs ------------------------------------------------------------------------

    /// Schedules a job of `kind` about `ref_id` at `run_at`.
    pub async fn insert_job(
        &mut self,
        kind: &str,
        ref_id: i64,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO jobs (kind, ref_id, run_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind)
        .bind(ref_id)
        .bind(micros(run_at))
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Schedules one job of `kind` per id, all at `run_at`, in one statement.
    pub async fn insert_jobs(
        &mut self,
        kind: &str,
        ref_ids: &[i64],
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        for chunk in ref_ids.chunks(1000) {
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO jobs (kind, ref_id, run_at, created_at) ");
                q.push_values(chunk, |mut row, id| {
                    row.push_bind(kind).push_bind(*id).push_bind(micros(run_at)).push_bind(micros(now));
                });
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(())
    }

    /// Deletes a finished job if `worker` still holds its lease; `false` if it lost it.
    pub async fn finish_job(&mut self, id: i64, worker: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
            .bind(id)
            .bind(worker)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Drops pending jobs of `kind` due before `before`: used when importing history, so
    /// that events from before the programmes went live enrol nobody.
    pub async fn discard_jobs_before(&mut self, kind: &str, before: Timestamp) -> Result<u64> {
        Ok(
            on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE kind = $1 AND run_at < $2 AND locked_by IS NULL")
            .bind(kind)
            .bind(micros(before))
            .execute(&mut *c).await?.rows_affected()),
        )
    }

    /// Sets a job aside for good after too many failures, keeping its last error.
    pub async fn bury_job(&mut self, id: i64, error: &str, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET dead_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2 WHERE id = $3",
        )
        .bind(micros(now))
        .bind(error)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Releases a job to run again at `run_at`, keeping the error.
    pub async fn retry_job(&mut self, id: i64, run_at: Timestamp, error: &str) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET run_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2 WHERE id = $3",
        )
        .bind(micros(run_at))
        .bind(error)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    // ----- messages --------------------------------------------------------------------

    /// Creates a planned message; `None` if this enrolment's step already created one.
    pub async fn insert_message(
        &mut self,
        m: &NewMessage<'_>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let id: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO messages (customer_id, enrolment_id, step_key, programme_id, template,
                                   class, channel, state, reason, planned_at, priority)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'planned', $8, $9, $10)
             ON CONFLICT (enrolment_id, step_key) DO NOTHING RETURNING id",
        )
        .bind(m.customer_id)
        .bind(m.enrolment_id)
        .bind(m.step_key)
        .bind(m.programme_id)
        .bind(m.template)
        .bind(m.class.as_str())
        .bind(m.channel.as_str())
        .bind(m.reason)
        .bind(micros(m.planned_at))
        .bind(m.priority)
        .fetch_optional(&mut *c)
        .await?);
        if let Some(id) = id {
            self.insert_transition(id, None, MessageState::Planned, None, m.reason, now)
                .await?;
        }
        Ok(id)
    }

    async fn insert_transition(
        &mut self,
        id: i64,
        from: Option<MessageState>,
        to: MessageState,
        code: Option<&str>,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(from.map(MessageState::as_str))
        .bind(to.as_str())
        .bind(code)
        .bind(reason)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Moves a message from `from` to `to` with a reason; `false` if it was not in `from`.
    pub async fn transition_message(
        &mut self,
        id: i64,
        from: MessageState,
        to: MessageState,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        self.transition_message_coded(id, from, to, None, reason, now)
            .await
    }

    /// [`Tx::transition_message`] with a stable reason code (a policy decision's).
    pub async fn transition_message_coded(
        &mut self,
        id: i64,
        from: MessageState,
        to: MessageState,
        code: Option<&str>,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let sent_at = (to == MessageState::Sent).then_some(micros(now));
        let attempt = i32::from(to == MessageState::Sending);
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE messages SET state = $1, reason = $2, sent_at = COALESCE($3, sent_at),
                                 attempts = attempts + $4
             WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(sent_at)
        .bind(attempt)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
        if n == 1 {
            self.insert_transition(id, Some(from), to, code, reason, now)
                .await?;
        }
        Ok(n == 1)
    }

    /// Stores what a message looks like as sent.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_message_content(
        &mut self,
        id: i64,
        recipient: &str,
        subject: &str,
        body_text: &str,
        body_html: &str,
        greeting: &str,
        header_message_id: &str,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE messages SET recipient = $1, subject = $2, body_text = $3, body_html = $4,
                                 greeting = $5, header_message_id = $6 WHERE id = $7",
        )
        .bind(recipient)
        .bind(subject)
        .bind(body_text)
        .bind(body_html)
        .bind(greeting)
        .bind(header_message_id)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// A message by id.
    pub async fn message(&mut self, id: i64) -> Result<Message> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN customers c ON c.id = m.customer_id WHERE m.id = $1"
        );
        let row: Option<MessageRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("message {id}")))?
            .try_into()
    }

    /// The message whose `Message-ID` header is `header_id` (`msg-<id>@<domain>`), if any.
    pub async fn message_by_header_id(&mut self, header_id: &str) -> Result<Option<Message>> {
        let Some(id) = header_id
            .strip_prefix("msg-")
            .and_then(|rest| rest.split('@').next())
            .and_then(|n| n.parse::<i64>().ok())
        else {
            return Ok(None);
        };
        match self.message(id).await {
            Ok(m) if m.header_message_id.as_deref() == Some(header_id) => Ok(Some(m)),
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Notes something about a message in `state` on its timeline (and as its reason)
    /// without changing its state; `false` if it is not in `state`.
    pub async fn note_message(
        &mut self,
        id: i64,
        state: MessageState,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("UPDATE messages SET reason = $1 WHERE id = $2 AND state = $3")
            .bind(reason)
            .bind(id)
            .bind(state.as_str())
            .execute(&mut *c)
            .await?
            .rows_affected());
        if n == 1 {
            self.insert_transition(id, Some(state), state, None, reason, now)
                .await?;
        }
        Ok(n == 1)
    }

    /// Every message (of one customer, or of all), oldest first, read a page at a time.
    pub async fn all_messages(&mut self, customer_id: Option<i64>) -> Result<Vec<Message>> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .messages(&MessageFilter {
                    customer_id,
                    before_id: before,
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page);
        }
        all.reverse();
        Ok(all)
    }

    /// Messages matching `filter`, newest first.
    pub async fn messages(&mut self, filter: &MessageFilter) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN customers c ON c.id = m.customer_id
             WHERE ($1 IS NULL OR m.customer_id = $1) AND ($2 IS NULL OR m.state = $2)
               AND ($3 IS NULL OR m.id < $3) AND ($5 IS NULL OR m.channel = $5)
               AND ($6 IS NULL OR m.programme_id = $6)
             ORDER BY m.id DESC LIMIT $4"
        );
        let rows: Vec<MessageRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(filter.customer_id)
            .bind(filter.state.map(MessageState::as_str))
            .bind(filter.before_id)
            .bind(filter.limit.clamp(1, 500))
            .bind(filter.channel.map(|c| c.as_str()))
            .bind(filter.programme_id.as_deref())
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(Message::try_from).collect()
    }

    /// A message's state changes, oldest first.
    pub async fn message_transitions(&mut self, id: i64) -> Result<Vec<MessageTransition>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT from_state, to_state, code, reason, at FROM message_transitions
             WHERE message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await?))
    }

    // ----- API tokens ------------------------------------------------------------------

    /// Stores a token's hash under a name.
    pub async fn insert_api_token(
        &mut self,
        name: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// The id and name of the live token with this hash.
    pub async fn api_token(&mut self, token_hash: &str) -> Result<Option<(i64, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&mut *c)
        .await?))
    }
}
