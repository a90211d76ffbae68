//! The mail provider's feedback: addresses that bounced hard are suppressed.

use jiff::Timestamp;

use super::Tx;
use crate::{Result, from_micros, micros};

impl Tx {
    /// Suppresses `email` (lower-cased) with what the provider said; the latest wins.
    pub async fn suppress_email(
        &mut self,
        email: &str,
        kind: &str,
        detail: &str,
        at: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO email_suppressions (email, kind, detail, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (email) DO UPDATE SET kind = excluded.kind, detail = excluded.detail, at = excluded.at",
        )
        .bind(email.to_lowercase())
        .bind(kind)
        .bind(detail)
        .bind(micros(at))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Why `email` is suppressed, if it is: (kind, detail, when).
    pub async fn email_suppression(
        &mut self,
        email: &str,
    ) -> Result<Option<(String, String, Timestamp)>> {
        let row: Option<(String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT kind, detail, at FROM email_suppressions WHERE email = $1",
        )
        .bind(email.to_lowercase())
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(k, d, at)| Ok((k, d, from_micros(at)?)))
            .transpose()
    }

    /// The customers (internal ids) with this email address.
    pub async fn customers_with_email(&mut self, email: &str) -> Result<Vec<i64>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT id FROM customers WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_all(&mut *c)
            .await?),
        )
    }
}
