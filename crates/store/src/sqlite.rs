//! SQLite specifics: WAL, a busy timeout, foreign keys, and job claiming by
//! `UPDATE … RETURNING` (SQLite has one writer at a time, so no row locks are needed).

use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Job, Result, micros};

pub(crate) async fn connect(url: &str, durable: bool) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode is durable against process crashes (the WAL is written before
        // commit returns); only a power loss can lose the last transactions.
        .synchronous(if durable {
            SqliteSynchronous::Normal
        } else {
            SqliteSynchronous::Off
        })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let in_memory = url.contains(":memory:");
    Ok(SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { 8 })
        .connect_with(options)
        .await?)
}

/// The claim of due jobs on SQLite: the oldest due first, in the order of
/// `jobs_due_in_order`; simulations and projections are left to the workers' side tasks
/// ([`crate::Store::claim_side_job`]). Public for the test that reads its query plan.
#[doc(hidden)]
pub const CLAIM: &str = "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE run_at <= $3 AND dead_at IS NULL AND (locked_until IS NULL OR locked_until <= $3)
                        AND kind NOT IN ('simulation', 'projection')
                      ORDER BY run_at, id LIMIT $4)
         RETURNING id, kind, ref_id, run_at, attempts";

/// The claim of the oldest due simulation, found through `jobs_ref (kind, ref_id)`: the few
/// rows of its kind, never the message jobs.
#[doc(hidden)]
pub const CLAIM_SIMULATION: &str =
    "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE kind = 'simulation' AND run_at <= $3 AND dead_at IS NULL
                        AND (locked_until IS NULL OR locked_until <= $3)
                      ORDER BY run_at, id LIMIT $4)
         RETURNING id, kind, ref_id, run_at, attempts";

/// The claim of the oldest due projection, found the same way.
#[doc(hidden)]
pub const CLAIM_PROJECTION: &str =
    "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE kind = 'projection' AND run_at <= $3 AND dead_at IS NULL
                        AND (locked_until IS NULL OR locked_until <= $3)
                      ORDER BY run_at, id LIMIT $4)
         RETURNING id, kind, ref_id, run_at, attempts";

pub(crate) async fn claim_jobs(
    pool: &SqlitePool,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    lane: crate::Lane,
) -> Result<Vec<Job>> {
    let (sql, limit) = match lane {
        crate::Lane::Main(limit) => (CLAIM, limit),
        crate::Lane::Simulation => (CLAIM_SIMULATION, 1),
        crate::Lane::Projection => (CLAIM_PROJECTION, 1),
    };
    sqlx::query_as::<_, crate::records::JobRow>(sql)
        .bind(micros(lease_until))
        .bind(worker)
        .bind(micros(now))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
}
