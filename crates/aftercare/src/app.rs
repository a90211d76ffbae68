//! Wiring shared by the subcommands: open the store, load programmes and templates, build
//! the engine, and run the server and worker with a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use aftercare_channels::email::SmtpMailer;
use aftercare_domain::Clock;
use aftercare_engine::content::ContentError;
use aftercare_engine::programme::{self, CheckContext, Finding, Library};
use aftercare_engine::render::Renderer;
use aftercare_engine::versions::{self, SyncError};
use aftercare_engine::{Delivery, Engine};
use aftercare_store::Store;
use aftercare_web::{AppState, WebOptions};
use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;

/// Loads templates and programmes, returning every finding when something is wrong.
pub fn load_programmes(config: &Config) -> Result<(Library, Renderer), Vec<Finding>> {
    let renderer = Renderer::load_dir(&config.templates_dir, config.brand.clone())?;
    let library = programme::load_dir(&config.programmes_dir, &check_context(config, &renderer))?;
    Ok((library, renderer))
}

pub(crate) fn check_context(config: &Config, renderer: &Renderer) -> CheckContext {
    let settings = CheckContext {
        custom_events: config.custom_events.iter().cloned().collect(),
        coupon_pools: config.loyalty.pools.iter().map(|p| p.id.clone()).collect(),
        webhook_targets: config.webhooks.keys().cloned().collect(),
        providers: config.channels.providers(),
        ..CheckContext::default()
    };
    aftercare_engine::content::with_templates(&settings, renderer)
}

/// For `demo` and `simulate` when no carrier is configured: binds a loopback port for a
/// stand-in carrier and points the demo's carriers at it ([`aftercare_lab::stand_in`]), so
/// delivery changes travel the real adapter path. Serve it with [`serve_stand_in_carrier`]
/// once the engine is built.
pub async fn stand_in_carrier(config: &mut Config) -> anyhow::Result<Option<TcpListener>> {
    aftercare_lab::stand_in::bind(&mut config.tracking)
        .await
        .context("binding the stand-in carrier")
}

/// Serves the stand-in carrier on `listener` in the background, until the returned guard
/// is dropped.
#[must_use = "the stand-in carrier stops when this is dropped"]
pub fn serve_stand_in_carrier(engine: &Engine, listener: TcpListener) -> StandInCarrier {
    aftercare_lab::stand_in::serve(engine, listener)
}

pub use aftercare_lab::stand_in::StandInCarrier;

/// Opens the store (migrating it) and builds the engine; refuses invalid programmes.
pub async fn build_engine(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Engine> {
    let (library, renderer) = load_programmes(config).map_err(|findings| {
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the programmes have mistakes; fix them or run `aftercare check`:\n{}",
            lines.join("\n")
        )
    })?;
    let store = Store::open_with(&config.database_url, config.durable)
        .await
        .with_context(|| {
            format!(
                "opening the database at {}",
                redact_url(&config.database_url)
            )
        })?;
    let delivery = match &config.smtp_url {
        Some(url) => {
            let mut mailer = SmtpMailer::from_url(&url.0)
                .context("smtp_url")?
                .with_rate(config.smtp_rate_per_second);
            if let Some(dkim) = &config.dkim {
                mailer = mailer.with_dkim(dkim).context("dkim")?;
            }
            Delivery::Smtp(mailer)
        }
        None => Delivery::OutboxOnly,
    };
    let ctx = check_context(config, &renderer);
    let programmes = versions::sync(&store, library, &ctx, clock.now())
        .await
        .map_err(|e| match e {
            SyncError::Changed(_) => anyhow::anyhow!("the programmes have mistakes:\n{e}"),
            SyncError::Store(e) => anyhow::Error::new(e).context("storing programme versions"),
        })?;
    // The template files seed the stored versions; what the admin UI published stays live
    // unless a file changed since (issue 21).
    let (renderer, generation) =
        aftercare_engine::content::sync_templates(&store, renderer, clock.now())
            .await
            .map_err(|e| match e {
                ContentError::Store(e) => {
                    anyhow::Error::new(e).context("storing template versions")
                }
                e => anyhow::anyhow!("the live templates have mistakes:\n{e}"),
            })?;
    let worker_id = format!("{}-{}", hostname(), std::process::id());
    let lease = jiff::SignedDuration::from_secs(i64::from(config.job_lease_seconds));
    let engine = Engine::new(
        store,
        clock,
        Arc::new(programmes),
        Arc::new(renderer),
        delivery,
        worker_id,
    )
    .with_check_context(ctx)
    .with_templates_as_of(generation)
    .with_lease(lease)
    .with_concurrency(usize::try_from(config.job_lanes).unwrap_or(1))
    .with_policy(config.policy.clone())
    .with_loyalty(config.loyalty.clone())
    .with_retention(config.retention.clone())
    .with_housekeeping(config.housekeeping.clone())
    .with_scores(config.scores.clone())
    .with_attribution(config.attribution.clone())
    .with_consent_webhook(config.connectors.consent_webhook.clone())
    .with_shop_codes(config.connectors.shop_codes.clone())
    .with_tracking(config.tracking.clone())
    .with_print(config.print.clone())
    .with_webhook_targets(config.webhooks.clone())
    .with_channels(config.channels.clone())
    .with_feedback_secret(config.email_feedback_secret.as_ref().map(|s| s.0.clone()))
    .with_open_tracking(config.track_opens);
    let secret = match &config.link_secret {
        Some(s) => s.0.clone(),
        None => {
            let made =
                String::from_utf8(aftercare_engine::worker::random_hex()).unwrap_or_default();
            engine
                .store()
                .setting_or_insert("link_secret", &made)
                .await
                .context("storing the link secret")?
        }
    };
    let engine = engine.with_links(aftercare_engine::links::LinkSigner::new(
        secret.as_bytes(),
        &config.public_url,
    ));
    aftercare_engine::loyalty::sync_pools(engine.store(), engine.loyalty(), engine.clock().now())
        .await
        .context("storing coupon pools")?;
    engine
        .ensure_calendar()
        .await
        .context("scheduling the calendar")?;
    engine
        .ensure_shop_codes()
        .await
        .context("scheduling the shop's codes")?;
    Ok(engine)
}

/// Runs the HTTP server (and, with `with_worker`, the engine) until `shutdown`.
pub async fn run_server(
    engine: Engine,
    listener: TcpListener,
    options: WebOptions,
    with_worker: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let worker = with_worker.then(|| {
        let engine = engine.clone();
        let (mut rx, mut rx_side) = (rx.clone(), rx.clone());
        // The admin UI's simulations and calendars run beside the worker's lanes (issue 22).
        tokio::spawn(aftercare_lab::trial::run_side_jobs(
            engine.clone(),
            async move {
                let _ = rx_side.wait_for(|stop| *stop).await;
            },
        ));
        tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    });
    let state = AppState {
        store: engine.store().clone(),
        clock: engine.clock().clone(),
        engine: engine.clone(),
        tokens: Arc::default(),
        metrics: Arc::default(),
        figures: Arc::default(),
        connectors: Arc::new(options.connectors.clone()),
    };
    let mut rx_web = rx.clone();
    aftercare_web::serve(listener, state, options, async move {
        let _ = rx_web.wait_for(|stop| *stop).await;
    })
    .await
    .context("serving HTTP")?;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "aftercare".into())
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}
