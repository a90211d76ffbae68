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

/// Claims up to `limit` due jobs other than simulations, or with no limit the oldest due
/// simulation (the workers' side task, [`crate::Store::claim_simulation`]).
pub(crate) async fn claim_jobs(
    pool: &PgPool,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: Option<i64>,
) -> Result<Vec<Job>> {
    let sql = if limit.is_some() {
        "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE run_at <= $3 AND dead_at IS NULL AND (locked_until IS NULL OR locked_until <= $3)
                        AND kind <> 'simulation'
                      ORDER BY run_at, id LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, ref_id, run_at, attempts"
    } else {
        "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE kind = 'simulation' AND run_at <= $3 AND dead_at IS NULL
                        AND (locked_until IS NULL OR locked_until <= $3)
                      ORDER BY run_at, id LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, ref_id, run_at, attempts"
    };
    sqlx::query_as::<_, crate::records::JobRow>(sql)
        .bind(micros(lease_until))
        .bind(worker)
        .bind(micros(now))
        .bind(limit.unwrap_or(1))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
}
