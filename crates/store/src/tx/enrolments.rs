//! Enrolments: a customer's run through a programme, its waits, goals and exits, and the planned messages an event settles.

use super::*;
use crate::CustomerId;
use crate::EnrolmentId;
use crate::MessageId;

impl Tx {
    /// Enrols a customer; `None` if this trigger already enrolled them in this programme.
    pub async fn insert_enrolment(
        &mut self,
        e: &NewEnrolment<'_>,
        now: Timestamp,
    ) -> Result<Option<EnrolmentId>> {
        let state = if e.holdout {
            EnrolmentState::Holdout
        } else {
            EnrolmentState::Active
        };
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO enrolments (programme_id, programme_version, customer_id, trigger_event_id,
                                     state, step_index, context, started_at, updated_at, holdout,
                                     goal_event, goal_deadline)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7, $8, $9, $10)
             ON CONFLICT (programme_id, customer_id, trigger_event_id) DO NOTHING RETURNING id",
        )
        .bind(e.programme_id)
        .bind(e.programme_version)
        .bind(e.customer_id)
        .bind(e.trigger_event_id)
        .bind(state.as_str())
        .bind(to_json(e.context))
        .bind(micros(now))
        .bind(e.holdout)
        .bind(e.goal.map(|(event, _)| event))
        .bind(e.goal.map(|(_, deadline)| micros(deadline)))
        .fetch_optional(&mut *c)
        .await?))
    }

    /// An enrolment by id.
    pub async fn enrolment(&mut self, id: EnrolmentId) -> Result<Enrolment> {
        let sql = format!("SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE id = $1");
        let row: Option<EnrolmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("enrolment {id}")))?
            .try_into()
    }

    /// A customer's enrolments that are still running, or whose goal can still be reached
    /// at `at`.
    pub async fn open_enrolments(
        &mut self,
        customer_id: CustomerId,
        at: Timestamp,
    ) -> Result<Vec<Enrolment>> {
        let sql = format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments
             WHERE customer_id = $1 AND (state IN ('active', 'waiting', 'holdout')
                   OR (goal_reached_at IS NULL AND goal_deadline >= $2))
             ORDER BY id"
        );
        let rows: Vec<EnrolmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .bind(micros(at))
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(Enrolment::try_from).collect()
    }

    /// A customer's enrolments, newest first.
    pub async fn enrolments_of_customer(
        &mut self,
        customer_id: CustomerId,
        limit: i64,
    ) -> Result<Vec<Enrolment>> {
        let sql = format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE customer_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<EnrolmentRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(Enrolment::try_from).collect()
    }

    /// When the customer last entered the programme, if ever.
    pub async fn last_enrolment_start(
        &mut self,
        programme_id: &str,
        customer_id: CustomerId,
    ) -> Result<Option<Timestamp>> {
        let last: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT MAX(started_at) FROM enrolments WHERE programme_id = $1 AND customer_id = $2",
        )
        .bind(programme_id)
        .bind(customer_id)
        .fetch_one(&mut *c)
        .await?);
        last.map(crate::from_micros).transpose()
    }

    /// Moves an enrolment to `step_index` in `state`, clearing any wait.
    pub async fn update_enrolment(
        &mut self,
        id: EnrolmentId,
        state: EnrolmentState,
        step_index: i32,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = $1, step_index = $2, updated_at = $3,
                                   wait_event = NULL, wait_match = NULL, wait_deadline = NULL
             WHERE id = $4",
        )
        .bind(state.as_str())
        .bind(step_index)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Parks an enrolment on a `wait_for` step until `event` (matching `wait_match`) or `deadline`.
    pub async fn set_enrolment_waiting(
        &mut self,
        id: EnrolmentId,
        step_index: i32,
        event: &str,
        wait_match: Option<&str>,
        deadline: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = 'waiting', step_index = $1, wait_event = $2, wait_match = $3,
                                   wait_deadline = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(step_index)
        .bind(event)
        .bind(wait_match)
        .bind(micros(deadline))
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Ends an enrolment early with a reason.
    pub async fn exit_enrolment(
        &mut self,
        id: EnrolmentId,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE enrolments SET state = 'exited', exit_reason = $1, updated_at = $2,
                                   wait_event = NULL, wait_match = NULL, wait_deadline = NULL
             WHERE id = $3",
        )
        .bind(reason)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Records that an enrolment's goal was reached at `at`.
    pub async fn reach_goal(&mut self, id: EnrolmentId, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE enrolments SET goal_reached_at = $1 WHERE id = $2 AND goal_reached_at IS NULL")
            .bind(micros(at))
            .bind(id)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Drops an enrolment's pending step jobs (its timers), unless a worker holds one.
    pub async fn cancel_step_jobs(&mut self, enrolment_id: EnrolmentId) -> Result<u64> {
        Ok(
            on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE kind = $2 AND ref_id = $1 AND locked_by IS NULL")
            .bind(enrolment_id)
            .bind(JobKind::Step.as_str())
            .execute(&mut *c).await?.rows_affected()),
        )
    }

    /// Blocks an enrolment's messages that have not gone out yet, with a reason.
    pub async fn block_planned_messages(
        &mut self,
        enrolment_id: EnrolmentId,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let ids: Vec<MessageId> = on_tx!(self, c => sqlx::query_scalar(
            // `state || ''`: by the enrolment's key, not by every planned message (SQLite plans
            // without statistics).
            "SELECT id FROM messages WHERE enrolment_id = $1 AND state || '' = 'planned'",
        )
        .bind(enrolment_id)
        .fetch_all(&mut *c)
        .await?);
        let mut blocked = 0;
        for id in ids {
            if self
                .transition_message(
                    id,
                    MessageState::Planned,
                    MessageState::Blocked,
                    reason,
                    now,
                )
                .await?
            {
                blocked += 1;
            }
        }
        Ok(blocked)
    }

    /// A customer's messages not yet sent, with their enrolment's programme, version, state
    /// (the programme version says its goal) and data (JSON text, for a `matching` exit).
    pub async fn planned_messages_of_customer(
        &mut self,
        customer_id: CustomerId,
    ) -> Result<Vec<(MessageId, String, i32, EnrolmentState, String)>> {
        let rows: Vec<(MessageId, String, i32, String, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT m.id, e.programme_id, e.programme_version, e.state, e.context FROM messages m
             JOIN enrolments e ON e.id = m.enrolment_id
             WHERE m.customer_id = $1 AND m.state = 'planned'",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(m, p, v, state, context)| {
                (m, p, v, EnrolmentState::named(state.as_str()), context)
            })
            .collect())
    }

    /// The enrolment's shared data.
    pub fn enrolment_context(enrolment: &Enrolment) -> Result<serde_json::Value> {
        json(&enrolment.context)
    }

    /// Replaces the data an enrolment's steps share (e.g. after `issue_coupon`).
    pub async fn set_enrolment_context(
        &mut self,
        id: EnrolmentId,
        context: &serde_json::Value,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE enrolments SET context = $1 WHERE id = $2")
            .bind(to_json(context))
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }
}
