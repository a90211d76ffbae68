//! Calls a programme's `webhook` step makes to the brand's systems: stored once per
//! enrolment step, then delivered by a `webhook` job (`pending` → `delivered` | `refused`).

use crate::EnrolmentId;
use jiff::Timestamp;

use super::Tx;
use crate::{CallState, Result, StoreError, from_micros, micros};

/// A stored call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingWebhook {
    /// Its id (the receiver's `Idempotency-Key` is `webhook-{id}`).
    pub id: i64,
    /// The enrolment whose step made it; none for a call no step makes (an accepted
    /// retention offer).
    pub enrolment_id: Option<EnrolmentId>,
    /// The configured target's name.
    pub target: String,
    /// The JSON body.
    pub payload: serde_json::Value,
    /// Where it is.
    pub state: CallState,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the step made it.
    pub created_at: Timestamp,
}

type Row = (
    i64,
    Option<EnrolmentId>,
    String,
    String,
    CallState,
    Option<String>,
    i64,
);

impl Tx {
    /// Stores a call for an enrolment step; `None` when the step stored one before.
    pub async fn insert_outgoing_webhook(
        &mut self,
        enrolment_id: EnrolmentId,
        step_key: &str,
        target: &str,
        payload: &serde_json::Value,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO outgoing_webhooks (enrolment_id, step_key, target, payload, state, created_at)
             VALUES ($1, $2, $3, $4, $6, $5)
             ON CONFLICT (enrolment_id, step_key) DO NOTHING RETURNING id",
        )
        .bind(enrolment_id)
        .bind(step_key)
        .bind(target)
        .bind(payload.to_string())
        .bind(micros(now))
        .bind(CallState::Pending)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// A stored call.
    pub async fn outgoing_webhook(&mut self, id: i64) -> Result<OutgoingWebhook> {
        let row: Option<Row> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, enrolment_id, target, payload, state, last_error, created_at
             FROM outgoing_webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        let row = row.ok_or_else(|| StoreError::NotFound(format!("outgoing webhook {id}")))?;
        Ok(OutgoingWebhook {
            id: row.0,
            enrolment_id: row.1,
            target: row.2,
            payload: serde_json::from_str(&row.3)
                .map_err(|e| StoreError::Corrupt(format!("outgoing webhook {id}: {e}")))?,
            state: row.4,
            last_error: row.5,
            created_at: from_micros(row.6)?,
        })
    }

    /// Records what became of a call (`delivered` or `refused`), or the last failure of one
    /// that stays `pending` for a retry.
    pub async fn settle_outgoing_webhook(
        &mut self,
        id: i64,
        state: CallState,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let done = (state != CallState::Pending).then_some(micros(now));
        on_tx!(self, c => sqlx::query(
            "UPDATE outgoing_webhooks SET state = $1, last_error = $2, done_at = $3 WHERE id = $4",
        )
        .bind(state)
        .bind(error)
        .bind(done)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }
}
