//! `aftercare migrate`: applies the embedded migrations to the configured database.

use aftercare_store::Store;
use anyhow::Context;

use crate::app::redact_url;
use crate::config::Config;

/// Migrates and reports.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("migrating {}", redact_url(&config.database_url)))?;
    println!(
        "Database {} is up to date ({:?}).",
        redact_url(&config.database_url),
        store.backend()
    );
    Ok(())
}
