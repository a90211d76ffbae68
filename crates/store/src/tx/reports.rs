//! Figures for the reports and dashboards.

use super::*;

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
    /// the yearly band counts, FR1) were sent in `[from, to)`: (customer id, count).
    pub async fn contacts_by_customer(
        &mut self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COUNT(*) FROM messages
             WHERE state = 'sent' AND class IN ('relationship', 'promotional') AND sent_at >= $1 AND sent_at < $2
             GROUP BY customer_id",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&mut *c)
        .await?))
    }
}
