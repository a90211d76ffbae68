//! Content experiments (issue 21): the winner applied per send step, and each variant's
//! outcomes.

use jiff::Timestamp;

use super::Tx;
use crate::{Result, micros};

/// One message of an experiment and what became of its enrolment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VariantOutcome {
    /// The send step.
    pub step_key: String,
    /// The variant.
    pub variant: String,
    /// The message was sent.
    pub sent: bool,
    /// Its links were clicked.
    pub clicked: bool,
    /// The enrolment's goal window has closed or its goal was reached.
    pub settled: bool,
    /// The goal was reached.
    pub converted: bool,
    /// Orders in the goal window, in cents.
    pub revenue_cents: i64,
}

impl Tx {
    /// The variant chosen as a send step's winner, if one was.
    pub async fn experiment_winner(
        &mut self,
        programme_id: &str,
        step_id: &str,
    ) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT variant FROM experiment_winners WHERE programme_id = $1 AND step_id = $2",
        )
        .bind(programme_id)
        .bind(step_id)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Every chosen winner of a programme: (step, variant, by, at).
    pub async fn experiment_winners(
        &mut self,
        programme_id: &str,
    ) -> Result<Vec<(String, String, String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT step_id, variant, chosen_by, chosen_at FROM experiment_winners WHERE programme_id = $1",
        )
        .bind(programme_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Applies a winner; false when the step already has one.
    pub async fn set_experiment_winner(
        &mut self,
        programme_id: &str,
        step_id: &str,
        variant: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO experiment_winners (programme_id, step_id, variant, chosen_by, chosen_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (programme_id, step_id) DO NOTHING",
        )
        .bind(programme_id)
        .bind(step_id)
        .bind(variant)
        .bind(by)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n > 0)
    }

    /// Every message of a programme's experiments with its enrolment's outcome.
    pub async fn variant_outcomes(
        &mut self,
        programme_id: &str,
        now: Timestamp,
    ) -> Result<Vec<VariantOutcome>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT m.step_key, m.variant, m.state = 'sent' AS sent,
                    EXISTS (SELECT 1 FROM link_clicks k WHERE k.message_id = m.id) AS clicked,
                    (e.goal_deadline IS NOT NULL AND (e.goal_deadline <= $2 OR e.goal_reached_at IS NOT NULL)) AS settled,
                    e.goal_reached_at IS NOT NULL AS converted,
                    CAST(COALESCE((SELECT SUM(o.total_cents) FROM orders o WHERE o.customer_id = e.customer_id
                        AND o.placed_at > e.started_at AND o.placed_at <= e.goal_deadline), 0) AS BIGINT) AS revenue_cents
             FROM messages m JOIN enrolments e ON e.id = m.enrolment_id
             WHERE m.programme_id = $1 AND m.variant IS NOT NULL",
        )
        .bind(programme_id)
        .bind(micros(now))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Takes a step's winner back, so the split resumes; false when it had none.
    pub async fn clear_experiment_winner(
        &mut self,
        programme_id: &str,
        step_id: &str,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "DELETE FROM experiment_winners WHERE programme_id = $1 AND step_id = $2",
        )
        .bind(programme_id)
        .bind(step_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n > 0)
    }
}
