//! `aftercare worker`: the engine only. Run several against PostgreSQL to share the work.

use std::sync::Arc;

use aftercare_domain::SystemClock;

use crate::app;
use crate::config::Config;

/// Runs until Ctrl-C or SIGTERM, finishing the job in hand.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    engine.run(app::shutdown_signal()).await;
    Ok(())
}
