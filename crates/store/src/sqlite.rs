//! SQLite specifics: WAL, a busy timeout, foreign keys, and job claiming by
//! `UPDATE … RETURNING` (SQLite has one writer at a time, so no row locks are needed).

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::Result;

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
/// ([`crate::Store::claim_side_job`]). SQLite has one writer at a time, so no row locks are
/// needed. Public for the test that reads its query plan.
#[doc(hidden)]
pub const CLAIM: &str = claim_sql!("kind NOT IN ('simulation', 'projection')", "");

/// The claim of the oldest due simulation, found through `jobs_ref (kind, ref_id)`: the few
/// rows of its kind, never the message jobs.
#[doc(hidden)]
pub const CLAIM_SIMULATION: &str = claim_sql!("kind = 'simulation'", "");

/// The claim of the oldest due projection, found the same way.
#[doc(hidden)]
pub const CLAIM_PROJECTION: &str = claim_sql!("kind = 'projection'", "");
