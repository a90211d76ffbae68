//! Products of the catalogue.

use super::*;

impl Tx {
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
}
