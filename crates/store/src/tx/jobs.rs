//! Jobs: durable timers and work, claimed with a lease.

use super::*;
use crate::{JobId, MessageId};

impl Tx {
    /// Schedules a job of `kind` about `ref_id` at `run_at`.
    pub async fn insert_job(
        &mut self,
        kind: JobKind,
        ref_id: impl Into<i64>,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<JobId> {
        let ref_id: i64 = ref_id.into();
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO jobs (kind, ref_id, run_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(ref_id)
        .bind(micros(run_at))
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Schedules one job of `kind` per id, all at `run_at`, in one statement.
    pub async fn insert_jobs(
        &mut self,
        kind: JobKind,
        ref_ids: &[impl Into<i64> + Copy],
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        for chunk in ref_ids.chunks(1000) {
            match self {
                // One statement text whatever the number of jobs (issue 22: a text per size
                // was prepared anew and crowded the connection's statement cache).
                Tx::Postgres(c) => {
                    let ids: Vec<i64> = chunk.iter().map(|id| (*id).into()).collect();
                    sqlx::query(
                        "INSERT INTO jobs (kind, ref_id, run_at, created_at)
                         SELECT $1, id, $3, $4 FROM unnest($2::BIGINT[]) AS id",
                    )
                    .bind(kind.as_str())
                    .bind(ids)
                    .bind(micros(run_at))
                    .bind(micros(now))
                    .execute(&mut **c)
                    .await?;
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO jobs (kind, ref_id, run_at, created_at) ",
                    );
                    q.push_values(chunk, |mut row, id| {
                        row.push_bind(kind.as_str())
                            .push_bind((*id).into())
                            .push_bind(micros(run_at))
                            .push_bind(micros(now));
                    });
                    q.build().execute(&mut **c).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes a finished job if `worker` still holds its lease; `false` if it lost it.
    pub async fn finish_job(&mut self, id: JobId, worker: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
            .bind(id)
            .bind(worker)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Keeps a long job's lease until `until` (issue 22: the daily scores write a million
    /// customers in slices); `false` if `worker` no longer holds it, and the job must stop.
    pub async fn extend_lease(
        &mut self,
        id: JobId,
        worker: &str,
        until: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND locked_by = $3",
        )
        .bind(micros(until))
        .bind(id)
        .bind(worker)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Drops pending jobs of `kind` due before `before`: used when importing history, so
    /// that events from before the programmes went live enrol nobody.
    pub async fn discard_jobs_before(&mut self, kind: JobKind, before: Timestamp) -> Result<u64> {
        Ok(
            on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE kind = $1 AND run_at < $2 AND locked_by IS NULL")
            .bind(kind.as_str())
            .bind(micros(before))
            .execute(&mut *c).await?.rows_affected()),
        )
    }

    /// Sets a job `worker` holds aside for good after too many failures, keeping its last
    /// error; nothing when another worker took it meanwhile (the lease ran out), as with
    /// [`Tx::finish_job`].
    pub async fn bury_job(
        &mut self,
        id: JobId,
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET dead_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2
             WHERE id = $3 AND locked_by = $4",
        )
        .bind(micros(now))
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Releases a job `worker` holds to run again at `run_at`, keeping the error; nothing
    /// when another worker took it meanwhile.
    pub async fn retry_job(
        &mut self,
        id: JobId,
        worker: &str,
        run_at: Timestamp,
        error: &str,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET run_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2
             WHERE id = $3 AND locked_by = $4",
        )
        .bind(micros(run_at))
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }
}

/// A message a worker handed over, to be recorded `sent` with its job finished.
#[derive(Debug, Clone)]
pub struct Handed {
    /// The message's `deliver` job.
    pub job_id: JobId,
    /// The message, `sending` until now.
    pub message_id: MessageId,
    /// What the server or provider said, in words.
    pub reason: String,
}

impl Tx {
    /// Records many handed-over messages at once (issue 22: one transaction and a few
    /// multi-row statements for a group of deliveries, not three statements and a commit
    /// each): each job still leased by `worker` is finished and its message moves from
    /// `sending` to `sent`, with its transition. A job whose lease was lost is left alone,
    /// and so is its message: the worker that holds it now sends it again (as a single
    /// settle would). Returns the messages recorded as sent.
    pub async fn settle_handed(
        &mut self,
        worker: &str,
        handed: &[Handed],
        now: Timestamp,
    ) -> Result<Vec<MessageId>> {
        let mut sent = Vec::with_capacity(handed.len());
        // Three binds a message: far inside both backends' limits.
        for chunk in handed.chunks(300) {
            // On PostgreSQL each statement takes arrays, so it has one text whatever the
            // group's size: one prepared statement per connection (issue 22: a text per
            // size was prepared anew and crowded the connection's statement cache).
            let held: Vec<JobId> = match self {
                Tx::Postgres(c) => {
                    let ids: Vec<i64> = chunk.iter().map(|h| i64::from(h.job_id)).collect();
                    sqlx::query_scalar(
                        "DELETE FROM jobs WHERE locked_by = $1 AND id = ANY($2) RETURNING id",
                    )
                    .bind(worker)
                    .bind(ids)
                    .fetch_all(&mut **c)
                    .await?
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new("DELETE FROM jobs WHERE locked_by = ");
                    q.push_bind(worker).push(" AND id IN (");
                    let mut ids = q.separated(", ");
                    for h in chunk {
                        ids.push_bind(h.job_id);
                    }
                    q.push(") RETURNING id");
                    q.build_query_scalar().fetch_all(&mut **c).await?
                }
            };
            let held: std::collections::HashSet<JobId> = held.into_iter().collect();
            let mine: Vec<&Handed> = chunk.iter().filter(|h| held.contains(&h.job_id)).collect();
            if mine.is_empty() {
                continue;
            }
            let updated: Vec<MessageId> = match self {
                Tx::Postgres(c) => {
                    let ids: Vec<i64> = mine.iter().map(|h| i64::from(h.message_id)).collect();
                    let reasons: Vec<&str> = mine.iter().map(|h| h.reason.as_str()).collect();
                    sqlx::query_scalar(
                        "UPDATE messages SET state = $1, reason = v.reason, sent_at = $2
                         FROM unnest($3::BIGINT[], $4::TEXT[]) AS v(id, reason)
                         WHERE messages.id = v.id AND messages.state = $5
                         RETURNING messages.id",
                    )
                    .bind(MessageState::Sent.as_str())
                    .bind(micros(now))
                    .bind(ids)
                    .bind(reasons)
                    .bind(MessageState::Sending.as_str())
                    .fetch_all(&mut **c)
                    .await?
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new("WITH v(id, reason) AS (");
                    q.push_values(&mine, |mut row, h| {
                        row.push("CAST(")
                            .push_bind_unseparated(h.message_id)
                            .push_unseparated(" AS BIGINT)")
                            .push("CAST(")
                            .push_bind_unseparated(h.reason.as_str())
                            .push_unseparated(" AS TEXT)");
                    });
                    q.push(") UPDATE messages SET state = ")
                        .push_bind(MessageState::Sent.as_str())
                        .push(", reason = v.reason, sent_at = ")
                        .push_bind(micros(now))
                        .push(" FROM v WHERE messages.id = v.id AND messages.state = ")
                        .push_bind(MessageState::Sending.as_str())
                        .push(" RETURNING messages.id");
                    q.build_query_scalar().fetch_all(&mut **c).await?
                }
            };
            let updated: std::collections::HashSet<MessageId> = updated.into_iter().collect();
            let moved: Vec<&&Handed> = mine
                .iter()
                .filter(|h| updated.contains(&h.message_id))
                .collect();
            if !moved.is_empty() {
                match self {
                    Tx::Postgres(c) => {
                        let ids: Vec<i64> = moved.iter().map(|h| i64::from(h.message_id)).collect();
                        let reasons: Vec<&str> = moved.iter().map(|h| h.reason.as_str()).collect();
                        sqlx::query(
                            "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at)
                             SELECT v.id, $1, $2, NULL, v.reason, $3
                             FROM unnest($4::BIGINT[], $5::TEXT[]) AS v(id, reason)",
                        )
                        .bind(MessageState::Sending.as_str())
                        .bind(MessageState::Sent.as_str())
                        .bind(micros(now))
                        .bind(ids)
                        .bind(reasons)
                        .execute(&mut **c)
                        .await?;
                    }
                    Tx::Sqlite(c, _) => {
                        let mut q = sqlx::QueryBuilder::new(
                            "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at) ",
                        );
                        q.push_values(&moved, |mut row, h| {
                            row.push_bind(h.message_id)
                                .push_bind(MessageState::Sending.as_str())
                                .push_bind(MessageState::Sent.as_str())
                                .push_bind(None::<String>)
                                .push_bind(h.reason.as_str())
                                .push_bind(micros(now));
                        });
                        q.build().execute(&mut **c).await?;
                    }
                }
            }
            sent.extend(moved.iter().map(|h| h.message_id));
        }
        Ok(sent)
    }
}
