//! Provider feedback: email addresses that bounced hard and mobile numbers the SMS provider
//! could not reach for good are suppressed.

use crate::CustomerId;
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
    pub async fn customers_with_email(&mut self, email: &str) -> Result<Vec<CustomerId>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT id FROM customers WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// Suppresses a mobile number (as stored, `+31612345678`) with the provider's words.
    pub async fn suppress_phone(&mut self, phone: &str, detail: &str, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO phone_suppressions (phone, detail, at) VALUES ($1, $2, $3)
             ON CONFLICT (phone) DO UPDATE SET detail = excluded.detail, at = excluded.at",
        )
        .bind(phone)
        .bind(detail)
        .bind(micros(at))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Why a mobile number is suppressed, if it is: (detail, when).
    pub async fn phone_suppression(&mut self, phone: &str) -> Result<Option<(String, Timestamp)>> {
        let row: Option<(String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT detail, at FROM phone_suppressions WHERE phone = $1",
        )
        .bind(phone)
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(d, at)| Ok((d, from_micros(at)?))).transpose()
    }
}
