//! Customers' contracts (RE1, RT1), upserted by the brand and read by the calendar.

use crate::CustomerId;
use aftercare_domain::ContractRecord;
use jiff::Timestamp;

use super::Tx;
use crate::{Result, StoreError, micros};

impl Tx {
    /// Stores a contract of `customer_id`, replacing it when its number is known. A number
    /// that belongs to another customer changes nothing ([`Tx::contract_owner`] tells whose
    /// it is).
    pub async fn upsert_contract(
        &mut self,
        record: &ContractRecord,
        customer_id: CustomerId,
        now: Timestamp,
    ) -> Result<()> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::Corrupt(format!("contract: {e}")))?;
        on_tx!(self, c => sqlx::query(
            "INSERT INTO contracts (external_id, customer_id, product_sku, starts_on, ends_on,
                                    cancelled_at, record, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (external_id) DO UPDATE SET product_sku = excluded.product_sku,
                 starts_on = excluded.starts_on, ends_on = excluded.ends_on,
                 cancelled_at = excluded.cancelled_at, record = excluded.record,
                 updated_at = excluded.updated_at
             WHERE contracts.customer_id = excluded.customer_id",
        )
        .bind(record.external_id.as_str())
        .bind(customer_id)
        .bind(record.product_sku.as_deref())
        .bind(record.starts_on.to_string())
        .bind(record.ends_on.map(|d| d.to_string()))
        .bind(record.cancelled_at.map(micros))
        .bind(json)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The customer a contract number belongs to, if it is known.
    pub async fn contract_owner(&mut self, external_id: &str) -> Result<Option<CustomerId>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT customer_id FROM contracts WHERE external_id = $1",
        )
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// The running contracts (not cancelled, with an end date) of customers with ids in
    /// `first..=last`, by customer.
    pub async fn contracts_of_customers(
        &mut self,
        first: CustomerId,
        last: CustomerId,
    ) -> Result<Vec<(CustomerId, ContractRecord)>> {
        let rows: Vec<(CustomerId, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, record FROM contracts
             WHERE customer_id BETWEEN $1 AND $2 AND cancelled_at IS NULL AND ends_on IS NOT NULL
             ORDER BY customer_id, ends_on",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(customer, json)| {
                serde_json::from_str(&json)
                    .map(|r| (customer, r))
                    .map_err(|e| {
                        StoreError::Corrupt(format!("contract of customer {customer}: {e}"))
                    })
            })
            .collect()
    }
}
