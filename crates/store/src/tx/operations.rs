//! What operations watches (`/metrics`, issue 22 point 7): the job queue by kind, messages
//! by state and channel, how long recently sent messages waited, and the workers'
//! heartbeats. Every figure is one aggregate query; none reads a customer.

use super::*;

/// The job queue of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFigures {
    /// The job kind (`event`, `step`, `deliver`, …).
    pub kind: String,
    /// Jobs waiting, due or not (not counting those set aside).
    pub queued: i64,
    /// Jobs whose time has come that no worker holds.
    pub due: i64,
    /// Jobs a worker holds right now.
    pub leased: i64,
    /// Jobs set aside after failing too often.
    pub dead: i64,
    /// When the longest-waiting due job fell due.
    pub oldest_due: Option<Timestamp>,
}

/// A worker process's last sign of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The worker's id (host and process).
    pub worker: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it last said it was alive.
    pub seen_at: Timestamp,
    /// Jobs it has run since it started.
    pub jobs_done: i64,
}

impl Tx {
    /// The job queue by kind at `now`.
    pub async fn job_figures(&mut self, now: Timestamp) -> Result<Vec<JobFigures>> {
        let rows: Vec<(String, i64, i64, i64, i64, Option<i64>)> = on_tx!(self, c => sqlx::query_as(
            "SELECT kind,
                    COUNT(*) FILTER (WHERE dead_at IS NULL),
                    COUNT(*) FILTER (WHERE dead_at IS NULL AND run_at <= $1
                                     AND (locked_until IS NULL OR locked_until <= $1)),
                    COUNT(*) FILTER (WHERE dead_at IS NULL AND locked_until > $1),
                    COUNT(*) FILTER (WHERE dead_at IS NOT NULL),
                    MIN(run_at) FILTER (WHERE dead_at IS NULL AND run_at <= $1
                                        AND (locked_until IS NULL OR locked_until <= $1))
             FROM jobs GROUP BY kind ORDER BY kind",
        )
        .bind(micros(now))
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(kind, queued, due, leased, dead, oldest)| {
                Ok(JobFigures {
                    kind,
                    queued,
                    due,
                    leased,
                    dead,
                    oldest_due: oldest.map(crate::from_micros).transpose()?,
                })
            })
            .collect()
    }

    /// How many messages there are, by state and channel.
    pub async fn message_figures(&mut self) -> Result<Vec<(String, String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT state, channel, COUNT(*) FROM messages GROUP BY state, channel ORDER BY 1, 2",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// How long each of the last `limit` messages sent since `since` waited between the time
    /// it was planned for and its sending, newest first.
    pub async fn send_waits(
        &mut self,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<jiff::SignedDuration>> {
        // Newest first through the (state, id) index; older ones are cut off in the filter.
        let rows: Vec<(i64, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT planned_at, sent_at FROM messages WHERE state = 'sent' AND sent_at >= $1
             ORDER BY id DESC LIMIT $2",
        )
        .bind(micros(since))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(planned, sent)| jiff::SignedDuration::from_micros((sent - planned).max(0)))
            .collect())
    }

    /// Records that `worker` is alive, with its jobs so far; forgets workers not seen for a
    /// week.
    pub async fn heartbeat(
        &mut self,
        worker: &str,
        started_at: Timestamp,
        jobs_done: i64,
        now: Timestamp,
    ) -> Result<()> {
        let week_ago = now - jiff::SignedDuration::from_hours(24 * 7);
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO worker_heartbeats (worker, started_at, seen_at, jobs_done)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at,
                                                    jobs_done = excluded.jobs_done",
            )
            .bind(worker)
            .bind(micros(started_at))
            .bind(micros(now))
            .bind(jobs_done)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM worker_heartbeats WHERE seen_at < $1")
                .bind(micros(week_ago))
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Every worker seen in the last week, by id.
    pub async fn heartbeats(&mut self) -> Result<Vec<Heartbeat>> {
        let rows: Vec<(String, i64, i64, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT worker, started_at, seen_at, jobs_done FROM worker_heartbeats ORDER BY worker",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(worker, started, seen, jobs_done)| {
                Ok(Heartbeat {
                    worker,
                    started_at: crate::from_micros(started)?,
                    seen_at: crate::from_micros(seen)?,
                    jobs_done,
                })
            })
            .collect()
    }
}

/// What housekeeping may remove, one table at a time and at most `limit` rows per call, so
/// no transaction holds its locks for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Idempotency keys (and their stored answers) made before the time.
    IdempotencyKeys,
    /// Jobs set aside after failing too often, before the time.
    DeadJobs,
    /// Shop and shipping webhooks received before the time, with their payloads.
    HookDeliveries,
    /// Events received before the time that started no enrolment and wait for no job.
    Events,
    /// What messages planned before the time say and to whom (recipient, subject, bodies,
    /// greeting): cleared, the rows stay.
    MessageContent,
    /// What events received before the time carried: cleared, the rows stay.
    EventProperties,
    /// The admin UI's simulations finished before the time.
    Simulations,
    /// Customers' worked-out years (the contact calendar's) last asked for before the time.
    Projections,
}

impl Tx {
    /// Removes up to `limit` rows of `what` older than `before`; returns how many went.
    pub async fn prune(&mut self, what: Prune, before: Timestamp, limit: i64) -> Result<u64> {
        let sql = match what {
            Prune::IdempotencyKeys => {
                "DELETE FROM idempotency_keys WHERE (scope, idem_key) IN
                   (SELECT scope, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)"
            }
            Prune::DeadJobs => {
                "DELETE FROM jobs WHERE id IN
                   (SELECT id FROM jobs WHERE dead_at IS NOT NULL AND dead_at < $1 LIMIT $2)"
            }
            Prune::HookDeliveries => {
                "DELETE FROM hook_deliveries WHERE id IN
                   (SELECT id FROM hook_deliveries WHERE received_at < $1 LIMIT $2)"
            }
            Prune::Events => {
                "DELETE FROM events WHERE id IN
                   (SELECT e.id FROM events e WHERE e.received_at < $1
                      AND NOT EXISTS (SELECT 1 FROM enrolments n WHERE n.trigger_event_id = e.id)
                      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $3 AND j.ref_id = e.id)
                    LIMIT $2)"
            }
            Prune::MessageContent => {
                "UPDATE messages SET recipient = NULL, subject = NULL, body_text = NULL,
                     body_html = NULL, greeting = NULL
                 WHERE id IN (SELECT id FROM messages
                    WHERE (body_text IS NOT NULL OR recipient IS NOT NULL) AND planned_at < $1
                    LIMIT $2)"
            }
            Prune::EventProperties => {
                "UPDATE events SET properties = '{}' WHERE id IN
                   (SELECT id FROM events WHERE properties <> '{}' AND received_at < $1 LIMIT $2)"
            }
            Prune::Simulations => {
                "DELETE FROM simulations WHERE id IN
                   (SELECT id FROM simulations WHERE finished_at < $1 LIMIT $2)"
            }
            Prune::Projections => {
                "DELETE FROM projections WHERE customer_id IN
                   (SELECT customer_id FROM projections WHERE requested_at < $1 LIMIT $2)"
            }
        };
        Ok(on_tx!(self, c => {
            let mut q = sqlx::query(sql).bind(micros(before)).bind(limit);
            if what == Prune::Events {
                q = q.bind(JobKind::Event.as_str());
            }
            q.execute(&mut *c).await?.rows_affected()
        }))
    }
}
