//! Idempotency-Key claims and the answers replayed to retries.

use super::*;

impl Tx {
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
}
