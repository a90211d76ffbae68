//! Figures for the reports and dashboards.

use super::*;
use crate::CustomerId;
use crate::from_micros;

impl Tx {
    /// Per programme: enrolments, of which held out, and goals reached.
    pub async fn enrolment_report(&mut self) -> Result<Vec<(String, i64, i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, COUNT(*),
                    CAST(SUM(CASE WHEN holdout THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(SUM(CASE WHEN goal_reached_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT)
             FROM enrolments GROUP BY programme_id ORDER BY programme_id",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Per programme and message state: how many messages.
    pub async fn message_report(&mut self) -> Result<Vec<(Option<String>, String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, state, COUNT(*) FROM messages GROUP BY programme_id, state ORDER BY programme_id, state",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every message still planned, by its reason (for a held one, why it waits).
    pub async fn planned_reasons(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT reason, COUNT(*) AS n FROM messages WHERE state = 'planned' GROUP BY reason ORDER BY n DESC",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every blocked message's reason, with how often it occurred.
    pub async fn blocked_reasons(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT reason, COUNT(*) AS n FROM messages WHERE state = 'blocked' GROUP BY reason ORDER BY n DESC",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Per customer with any, how many relationship and promotional messages (the contacts
    /// the yearly band counts, FR1) were sent in `[from, to)`: (customer id, count). A
    /// letter counts from its place in the print queue, as the policy counts it.
    pub async fn contacts_by_customer(
        &mut self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(CustomerId, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COUNT(*) FROM messages
             WHERE (state = 'sent' OR (state = 'sending' AND print_queued_at IS NOT NULL))
               AND class IN ('relationship', 'promotional')
               AND COALESCE(print_queued_at, sent_at) >= $1 AND COALESCE(print_queued_at, sent_at) < $2
             GROUP BY customer_id",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every non-transactional message sent in `[from, to)` — the attention a customer paid
    /// (issue 23) — as (customer id, topic, sent at), by customer and time; a letter from
    /// its place in the print queue.
    pub async fn attention_contacts(
        &mut self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(CustomerId, String, Timestamp)>> {
        let rows: Vec<(CustomerId, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COALESCE(topic, template), COALESCE(print_queued_at, sent_at) AS at
             FROM messages
             WHERE (state = 'sent' OR (state = 'sending' AND print_queued_at IS NOT NULL))
               AND class <> 'transactional'
               AND COALESCE(print_queued_at, sent_at) >= $1 AND COALESCE(print_queued_at, sent_at) < $2
             ORDER BY customer_id, at",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(customer, topic, at)| Ok((customer, topic, from_micros(at)?)))
            .collect()
    }

    /// Per programme: messages not sent (blocked, or still held) whose last decision was
    /// the yearly band or the attention ceiling.
    pub async fn squeezed_by_programme(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT m.programme_id, COUNT(*) FROM messages m
             WHERE m.state IN ('blocked', 'planned') AND m.programme_id IS NOT NULL
               AND (SELECT t.code FROM message_transitions t WHERE t.message_id = m.id
                    ORDER BY t.id DESC LIMIT 1) IN ('band_reached', 'attention_ceiling')
             GROUP BY m.programme_id",
        )
        .fetch_all(&mut *c)
        .await?))
    }
}
