//! PostgreSQL specifics: the pool, and job claims with `FOR UPDATE SKIP LOCKED`, so several
//! `aftercare worker` processes on several machines share the work without waiting on
//! each other or taking the same job.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::Result;

pub(crate) async fn connect(url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?)
}

/// The claim of due jobs for a worker's lanes; `SKIP LOCKED`, so workers never wait on
/// each other or take the same job.
pub(crate) const CLAIM: &str = claim_sql!(
    "kind NOT IN ('simulation', 'projection')",
    " FOR UPDATE SKIP LOCKED"
);
/// The side jobs' claims, each kind a literal so the planner sees the few rows of it.
pub(crate) const CLAIM_SIMULATION: &str =
    claim_sql!("kind = 'simulation'", " FOR UPDATE SKIP LOCKED");
pub(crate) const CLAIM_PROJECTION: &str =
    claim_sql!("kind = 'projection'", " FOR UPDATE SKIP LOCKED");
