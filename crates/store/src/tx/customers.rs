//! Customers: upserts, look-ups, a page of them, and their order stats.

use super::*;
use crate::CustomerId;

impl Tx {
    /// Inserts or replaces a customer by external id; returns the id and whether it is new.
    pub async fn upsert_customer(
        &mut self,
        record: &CustomerRecord,
        now: Timestamp,
    ) -> Result<(CustomerId, bool)> {
        let mut stored = self.upsert_customers(&[record], now).await?;
        stored
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("customer {}", record.external_id)))
    }

    /// Inserts or replaces customers by external id in multi-row statements (a bulk
    /// import's batch: each external id at most once); returns each one's id and whether it
    /// is new, in the records' order.
    pub async fn upsert_customers(
        &mut self,
        records: &[&CustomerRecord],
        now: Timestamp,
    ) -> Result<Vec<(CustomerId, bool)>> {
        let mut ids = std::collections::HashMap::with_capacity(records.len());
        // Eight binds a customer: well inside both backends' bind limits.
        for chunk in records.chunks(500) {
            let email = |r: &CustomerRecord| r.email.as_ref().map(|e| e.as_str().to_lowercase());
            let last_name = |r: &CustomerRecord| r.last_name.as_deref().map(str::to_lowercase);
            let postcode = |r: &CustomerRecord| {
                r.postal_address
                    .as_ref()
                    .map(|a| a.postcode.replace(' ', "").to_uppercase())
            };
            const UPDATE: &str = " ON CONFLICT (external_id) DO UPDATE SET email = excluded.email,
                       last_name = excluded.last_name, postcode = excluded.postcode,
                       record = excluded.record, updated_at = excluded.updated_at,
                       time_zone = excluded.time_zone
                     RETURNING external_id, id, created_at";
            let rows: Vec<(String, CustomerId, i64)> = match self {
                // Arrays: one statement text whatever the batch's size (issue 24's import).
                Tx::Postgres(c) => {
                    let col =
                        |f: &dyn Fn(&CustomerRecord) -> Option<String>| -> Vec<Option<String>> {
                            chunk.iter().map(|r| f(r)).collect()
                        };
                    let sql = format!(
                        "INSERT INTO customers (external_id, email, last_name, postcode, record, created_at, updated_at, time_zone)
                         SELECT x, e, l, p, r, $6, $6, z
                         FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $7::TEXT[])
                              AS c (x, e, l, p, r, z){UPDATE}"
                    );
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(
                            chunk
                                .iter()
                                .map(|r| r.external_id.as_str())
                                .collect::<Vec<_>>(),
                        )
                        .bind(col(&email))
                        .bind(col(&last_name))
                        .bind(col(&postcode))
                        .bind(chunk.iter().map(|r| to_json(*r)).collect::<Vec<_>>())
                        .bind(micros(now))
                        .bind(
                            chunk
                                .iter()
                                .map(|r| r.time_zone.as_str())
                                .collect::<Vec<_>>(),
                        )
                        .fetch_all(&mut **c)
                        .await?
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO customers (external_id, email, last_name, postcode, record, created_at, updated_at, time_zone) ",
                    );
                    q.push_values(chunk, |mut row, record| {
                        row.push_bind(record.external_id.as_str())
                            .push_bind(email(record))
                            .push_bind(last_name(record))
                            .push_bind(postcode(record))
                            .push_bind(to_json(*record))
                            .push_bind(micros(now))
                            .push_bind(micros(now))
                            .push_bind(record.time_zone.as_str());
                    });
                    q.push(UPDATE);
                    q.build_query_as().fetch_all(&mut **c).await?
                }
            };
            ids.extend(rows.into_iter().map(|(external_id, id, created_at)| {
                (external_id, (id, created_at == micros(now)))
            }));
        }
        records
            .iter()
            .map(|r| {
                ids.get(r.external_id.as_str())
                    .copied()
                    .ok_or_else(|| StoreError::NotFound(format!("customer {}", r.external_id)))
            })
            .collect()
    }

    /// Replaces a known customer's record (e.g. after a `tag` step).
    pub async fn update_customer_record(
        &mut self,
        id: CustomerId,
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
    pub async fn order_stats(&mut self, customer_id: CustomerId) -> Result<OrderStats> {
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

    /// The customers with these external ids (those that exist), in one statement per
    /// thousand: a bulk import's batch looks its customers up at once.
    pub async fn customers_by_external_ids(
        &mut self,
        external_ids: &[&str],
    ) -> Result<Vec<StoredCustomer>> {
        let mut found = Vec::with_capacity(external_ids.len());
        for chunk in external_ids.chunks(1000) {
            let rows: Vec<CustomerRow> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT id, record, created_at, updated_at FROM customers WHERE external_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_as().fetch_all(&mut *c).await?
            });
            for row in rows {
                found.push(StoredCustomer::try_from(row)?);
            }
        }
        Ok(found)
    }

    /// The external id of the first customer with this email address (stored in lower
    /// case), if any.
    pub async fn customer_id_by_email(&mut self, email: &str) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT external_id FROM customers WHERE email = $1 ORDER BY id LIMIT 1",
        )
        .bind(email.to_lowercase())
        .fetch_optional(&mut *c)
        .await?))
    }

    /// A customer by internal id.
    pub async fn customer(&mut self, id: CustomerId) -> Result<StoredCustomer> {
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
        after_id: CustomerId,
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
}
