//! Products of the catalogue.

use super::*;
use crate::CustomerId;

impl Tx {
    /// Counts a product as in the catalogue since `at` at the latest (an imported product
    /// is not new: inspiration shows what is).
    pub async fn product_seen_since(&mut self, sku: &str, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE products SET first_seen_at = $1 WHERE sku = $2 AND first_seen_at > $1",
        )
        .bind(micros(at))
        .bind(sku)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Inserts or replaces a product.
    pub async fn upsert_product(&mut self, record: &ProductRecord, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO products (sku, category, record, updated_at, first_seen_at)
             VALUES ($1, $2, $3, $4, $4)
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

    /// IN1: up to `limit` products the customer has never ordered, for inspiration: those
    /// that came into the catalogue since `new_since` first (flagged `true`), then those in
    /// a category the customer buys in, newest first.
    pub async fn catalogue_picks(
        &mut self,
        customer_id: CustomerId,
        new_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<(ProductRecord, bool)>> {
        let rows: Vec<(String, i64)> = on_tx!(self, c => sqlx::query_as(
            "WITH owned AS (
                 SELECT DISTINCT l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id
                 WHERE o.customer_id = $1),
             familiar AS (
                 SELECT DISTINCT p.category FROM products p JOIN owned ON owned.sku = p.sku)
             SELECT p.record,
                    CAST(CASE WHEN p.first_seen_at >= $2 THEN 1 ELSE 0 END AS BIGINT) AS is_new
             FROM products p
             WHERE p.sku NOT IN (SELECT sku FROM owned)
             ORDER BY is_new DESC,
                      CASE WHEN p.category IN (SELECT category FROM familiar) THEN 0 ELSE 1 END,
                      p.first_seen_at DESC, p.sku
             LIMIT $3",
        )
        .bind(customer_id)
        .bind(micros(new_since))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(record, is_new)| Ok((json(&record)?, is_new == 1)))
            .collect()
    }
}
