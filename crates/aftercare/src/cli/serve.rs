//! `aftercare serve`: the API, the pages and the worker in one process.

use std::sync::Arc;

use aftercare_domain::SystemClock;
use aftercare_web::WebOptions;
use anyhow::Context;
use tracing::info;

use crate::app;
use crate::config::Config;

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also serve the built-in outbox page at /outbox (shows personal data without sign-in).
    #[arg(long)]
    pub outbox_page: bool,
    /// Serve the API and pages only, leaving the jobs to `aftercare worker` processes.
    #[arg(long)]
    pub no_worker: bool,
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    info!(address = %config.listen, "Aftercare is listening.");
    app::run_server(
        engine,
        listener,
        WebOptions {
            outbox_page: args.outbox_page,
            stand_in_carrier: false,
            trusted_proxies: config.trusted_proxies.clone(),
            limits: config.server.clone(),
            connectors: config.connectors.clone(),
        },
        !args.no_worker,
        app::shutdown_signal(),
    )
    .await
}
