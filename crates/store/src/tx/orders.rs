//! Orders and their shipments.

use super::*;
use crate::CustomerId;

impl Tx {
    /// Stores a new order and its lines; `None` when its external id already exists.
    pub async fn insert_order(
        &mut self,
        record: &OrderRecord,
        customer_id: CustomerId,
        now: Timestamp,
    ) -> Result<Option<crate::OrderId>> {
        let stored = self.insert_orders(&[(record, customer_id)], now).await?;
        Ok(stored.first().map(|(_, id)| *id))
    }

    /// Of these order numbers, the ones already stored (one statement per thousand).
    pub async fn known_orders(
        &mut self,
        external_ids: &[&str],
    ) -> Result<std::collections::HashSet<String>> {
        let mut known = std::collections::HashSet::new();
        for chunk in external_ids.chunks(1000) {
            let rows: Vec<String> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new("SELECT external_id FROM orders WHERE external_id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_scalar().fetch_all(&mut *c).await?
            });
            known.extend(rows);
        }
        Ok(known)
    }

    /// Stores orders with their lines in a few multi-row statements (one order is
    /// [`Tx::insert_order`]); returns `(order number, id)` of those stored (an order number
    /// stored before is skipped).
    pub async fn insert_orders(
        &mut self,
        orders: &[(&OrderRecord, CustomerId)],
        now: Timestamp,
    ) -> Result<Vec<(String, crate::OrderId)>> {
        let mut stored: Vec<(String, crate::OrderId)> = Vec::with_capacity(orders.len());
        // Eight binds an order and five a line: well inside both backends' bind limits.
        for chunk in orders.chunks(500) {
            let method =
                |r: &OrderRecord| to_json(&r.delivery_method).trim_matches('"').to_string();
            const CONFLICT: &str =
                " ON CONFLICT (external_id) DO NOTHING RETURNING external_id, id";
            let rows: Vec<(String, crate::OrderId)> = match self {
                // Arrays: one statement text whatever the batch's size (issue 24's import).
                Tx::Postgres(c) => {
                    let sql = format!(
                        "INSERT INTO orders (external_id, customer_id, placed_at, total_cents, currency,
                                             delivery_method, record, created_at)
                         SELECT x, c, p, t, cu, d, r, $8
                         FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[],
                                     $6::TEXT[], $7::TEXT[]) AS o (x, c, p, t, cu, d, r){CONFLICT}"
                    );
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(
                            chunk
                                .iter()
                                .map(|(r, _)| r.external_id.as_str())
                                .collect::<Vec<_>>(),
                        )
                        .bind(chunk.iter().map(|(_, c)| c.0).collect::<Vec<_>>())
                        .bind(
                            chunk
                                .iter()
                                .map(|(r, _)| micros(r.placed_at))
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            chunk
                                .iter()
                                .map(|(r, _)| r.total_cents())
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            chunk
                                .iter()
                                .map(|(r, _)| r.currency.as_str())
                                .collect::<Vec<_>>(),
                        )
                        .bind(chunk.iter().map(|(r, _)| method(r)).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|(r, _)| to_json(*r)).collect::<Vec<_>>())
                        .bind(micros(now))
                        .fetch_all(&mut **c)
                        .await?
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO orders (external_id, customer_id, placed_at, total_cents, currency,
                                             delivery_method, record, created_at) ",
                    );
                    q.push_values(chunk, |mut row, (record, customer_id)| {
                        row.push_bind(record.external_id.as_str())
                            .push_bind(*customer_id)
                            .push_bind(micros(record.placed_at))
                            .push_bind(record.total_cents())
                            .push_bind(&record.currency)
                            .push_bind(method(record))
                            .push_bind(to_json(*record))
                            .push_bind(micros(now));
                    });
                    q.push(CONFLICT);
                    q.build_query_as().fetch_all(&mut **c).await?
                }
            };
            stored.extend(rows);
        }
        let ids: std::collections::HashMap<&str, crate::OrderId> =
            stored.iter().map(|(e, id)| (e.as_str(), *id)).collect();
        let lines: Vec<(crate::OrderId, i32, &aftercare_domain::OrderLine)> = orders
            .iter()
            .filter_map(|(record, _)| Some((ids.get(record.external_id.as_str())?, record)))
            .flat_map(|(id, record)| {
                record
                    .lines
                    .iter()
                    .enumerate()
                    .map(move |(n, line)| (*id, i32::try_from(n).unwrap_or(i32::MAX), line))
            })
            .collect();
        for chunk in lines.chunks(1000) {
            match self {
                Tx::Postgres(c) => {
                    sqlx::query(
                        "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents)
                         SELECT * FROM unnest($1::BIGINT[], $2::INT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[])",
                    )
                    .bind(chunk.iter().map(|(id, _, _)| id.0).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, n, _)| *n).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, _, l)| l.sku.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, _, l)| i64::from(l.quantity)).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, _, l)| l.unit_price_cents).collect::<Vec<_>>())
                    .execute(&mut **c)
                    .await?;
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents) ",
                    );
                    q.push_values(chunk, |mut row, (id, n, line)| {
                        row.push_bind(*id)
                            .push_bind(*n)
                            .push_bind(line.sku.as_str())
                            .push_bind(i64::from(line.quantity))
                            .push_bind(line.unit_price_cents);
                    });
                    q.build().execute(&mut **c).await?;
                }
            }
        }
        Ok(stored)
    }

    /// An order by internal id.
    pub async fn order_by_id(&mut self, id: crate::OrderId) -> Result<StoredOrder> {
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
        customer_id: CustomerId,
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
        customer_id: CustomerId,
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
        order_id: crate::OrderId,
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
}
