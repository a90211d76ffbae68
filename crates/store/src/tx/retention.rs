//! Retention offers made at a cancellation (RT1): stored when made, `open` until the
//! customer accepts on the signed page (`accepted`, once) or the offer's last day passes.

use crate::CustomerId;
use jiff::Timestamp;

use super::Tx;
use crate::{CallState, OfferState, Result, StoreError, from_micros, micros};

/// An offer to store.
#[derive(Debug, Clone)]
pub struct NewRetentionOffer<'a> {
    /// The customer who asked to cancel.
    pub customer_id: CustomerId,
    /// The offer's id in `[retention]`.
    pub offer_key: &'a str,
    /// The reason given (`price`, `quality`, …).
    pub reason: &'a str,
    /// The product the subscription is for, if named.
    pub product_sku: Option<&'a str>,
    /// The contract, if named.
    pub contract_external_id: Option<&'a str>,
    /// The offer as made: kind, parameters, title and description.
    pub terms: &'a serde_json::Value,
    /// Its last moment.
    pub valid_until: Timestamp,
}

/// A stored offer.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionOfferRow {
    /// Its id (the accept link's subject).
    pub id: i64,
    /// The customer.
    pub customer_id: CustomerId,
    /// The offer's id in `[retention]`.
    pub offer_key: String,
    /// The reason given.
    pub reason: String,
    /// The product, if named.
    pub product_sku: Option<String>,
    /// The contract, if named.
    pub contract_external_id: Option<String>,
    /// The offer as made.
    pub terms: serde_json::Value,
    /// Where it is.
    pub state: OfferState,
    /// When it was made.
    pub created_at: Timestamp,
    /// Its last moment.
    pub valid_until: Timestamp,
    /// When the customer accepted it.
    pub accepted_at: Option<Timestamp>,
}

type Row = (
    i64,
    CustomerId,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

impl Tx {
    /// Stores an offer as made; returns its id.
    pub async fn insert_retention_offer(
        &mut self,
        offer: &NewRetentionOffer<'_>,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO retention_offers (customer_id, offer_key, reason, product_sku,
                 contract_external_id, terms, state, created_at, valid_until)
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8) RETURNING id",
        )
        .bind(offer.customer_id)
        .bind(offer.offer_key)
        .bind(offer.reason)
        .bind(offer.product_sku)
        .bind(offer.contract_external_id)
        .bind(offer.terms.to_string())
        .bind(micros(now))
        .bind(micros(offer.valid_until))
        .fetch_one(&mut *c)
        .await?))
    }

    /// A stored offer.
    pub async fn retention_offer(&mut self, id: i64) -> Result<RetentionOfferRow> {
        let row: Option<Row> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, offer_key, reason, product_sku, contract_external_id,
                    terms, state, created_at, valid_until, accepted_at
             FROM retention_offers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        let row = row.ok_or_else(|| StoreError::NotFound(format!("retention offer {id}")))?;
        Ok(RetentionOfferRow {
            id: row.0,
            customer_id: row.1,
            offer_key: row.2,
            reason: row.3,
            product_sku: row.4,
            contract_external_id: row.5,
            terms: serde_json::from_str(&row.6)
                .map_err(|e| StoreError::Corrupt(format!("retention offer {id}: {e}")))?,
            state: OfferState::named(&row.7),
            created_at: from_micros(row.8)?,
            valid_until: from_micros(row.9)?,
            accepted_at: row.10.map(from_micros).transpose()?,
        })
    }

    /// Accepts an open offer that still stands at `now`; false when it was accepted
    /// before or has lapsed (so a double click or a replayed form does nothing twice).
    pub async fn accept_retention_offer(&mut self, id: i64, now: Timestamp) -> Result<bool> {
        Ok(on_tx!(self, c => sqlx::query(
            "UPDATE retention_offers SET state = $3, accepted_at = $1
             WHERE id = $2 AND state = $4 AND valid_until >= $1",
        )
        .bind(micros(now))
        .bind(id)
        .bind(OfferState::Accepted)
        .bind(OfferState::Open)
        .execute(&mut *c)
        .await?
        .rows_affected())
            == 1)
    }

    /// Stores a call to the brand's system that no programme step makes (an accepted
    /// offer: `step_key` says what it is); returns its id for the `webhook` job.
    pub async fn insert_outgoing_call(
        &mut self,
        what: &str,
        target: &str,
        payload: &serde_json::Value,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO outgoing_webhooks (enrolment_id, step_key, target, payload, state, created_at)
             VALUES (NULL, $1, $2, $3, $5, $4) RETURNING id",
        )
        .bind(what)
        .bind(target)
        .bind(payload.to_string())
        .bind(micros(now))
        .bind(CallState::Pending)
        .fetch_one(&mut *c)
        .await?))
    }
}
