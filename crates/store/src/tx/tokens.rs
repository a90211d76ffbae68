//! API tokens, stored by their hash.

use super::*;

impl Tx {
    /// Stores a token's hash under a name, with its scopes (comma-separated).
    pub async fn insert_api_token(
        &mut self,
        name: &str,
        token_hash: &str,
        scopes: &str,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(scopes)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// The id, name and scopes (comma-separated) of the live token with this hash.
    pub async fn api_token(&mut self, token_hash: &str) -> Result<Option<(i64, String, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, name, scopes FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&mut *c)
        .await?))
    }
}
