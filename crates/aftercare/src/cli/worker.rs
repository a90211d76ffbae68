//! `aftercare worker`: the engine only, and the admin UI's simulations and contact calendars
//! beside it. Run several against PostgreSQL to share the work.

use std::sync::Arc;

use aftercare_domain::SystemClock;

use crate::app;
use crate::config::Config;

/// Runs until Ctrl-C or SIGTERM, finishing the job in hand.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    // The admin UI's simulations and calendars run beside the lanes (issue 22).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut side = stopped.clone();
    let side_jobs = tokio::spawn(aftercare_lab::trial::run_side_jobs(
        engine.clone(),
        async move {
            let _ = side.wait_for(|s| *s).await;
        },
    ));
    engine.run(app::shutdown_signal()).await;
    let _ = stop.send(true);
    let _ = side_jobs.await;
    Ok(())
}
