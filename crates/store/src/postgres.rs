//! PostgreSQL specifics: job claiming with `FOR UPDATE SKIP LOCKED`, so several
//! `aftercare worker` processes on several machines share the work without waiting on
//! each other or taking the same job.

use jiff::Timestamp;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::{Job, Result, micros};

pub(crate) async fn connect(url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?)
}

/// Claims up to `limit` due jobs for a worker's lanes, or the oldest due side job of a kind
/// ([`crate::Store::claim_side_job`]).
pub(crate) async fn claim_jobs(
    pool: &PgPool,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    lane: crate::Lane,
) -> Result<Vec<Job>> {
    // Each side kind as a literal, so the planner sees the few rows of that kind.
    let (limit, kind) = match lane {
        crate::Lane::Main(limit) => (limit, ""),
        crate::Lane::Simulation => (1, "kind = 'simulation' AND"),
        crate::Lane::Projection => (1, "kind = 'projection' AND"),
    };
    let sql = if kind.is_empty() {
        "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE run_at <= $3 AND dead_at IS NULL AND (locked_until IS NULL OR locked_until <= $3)
                        AND kind NOT IN ('simulation', 'projection')
                      ORDER BY run_at, id LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, ref_id, run_at, attempts"
            .to_string()
    } else {
        format!(
            "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM jobs
                          WHERE {kind} run_at <= $3 AND dead_at IS NULL
                            AND (locked_until IS NULL OR locked_until <= $3)
                          ORDER BY run_at, id LIMIT $4
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, ref_id, run_at, attempts"
        )
    };
    sqlx::query_as::<_, crate::records::JobRow>(sqlx::AssertSqlSafe(sql))
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
