//! Aftercare's web layer: the JSON API v1 ([`api`]) and server-rendered pages ([`pages`]):
//! the customers' branded pages and the team's admin UI ([`pages::admin`]).
//!
//! [`serve`] takes a bound listener and a shutdown future, so tests run the real server on
//! a random port. Errors go through one table in [`error`] to RFC 9457 problem+json.
//!
//! Requirements: PX1 (shipment events in), PP1 (orders in), FR1 (timelines show every
//! decision's reason, also in the admin UI), PX2–PX6 (the tracking page).

#![recursion_limit = "256"]

pub mod api;
pub mod error;
pub mod figures;
pub mod hooks;
pub mod metrics;
pub mod pages;
pub mod server;

use std::future::Future;
use std::sync::Arc;

use aftercare_domain::Clock;
use aftercare_engine::Engine;
use aftercare_store::Store;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use api::extract::{Scope, hash_token};
pub use server::ServerLimits;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The engine (woken after writes; its renderer makes greetings).
    pub engine: Engine,
    /// Recently verified API tokens.
    pub tokens: Arc<api::extract::TokenCache>,
    /// The shop and shipping platforms whose webhooks are accepted (`[connectors]`).
    pub connectors: Arc<hooks::Connectors>,
    /// The last `/metrics` scrape, served again for a few seconds.
    pub metrics: Arc<metrics::Cache>,
    /// Figures worked out in the background (the dashboards, audience counts, dry runs),
    /// shared by the admin pages and the API.
    pub figures: Arc<figures::Figures>,
}

/// Options for the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// Mount the built-in outbox pages (demo mode).
    pub outbox_page: bool,
    /// Mount the demo's stand-in carrier (demo mode).
    pub stand_in_carrier: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the pages' rate limit).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connection caps and timeouts (`[server]`).
    pub limits: ServerLimits,
    /// The platforms whose webhooks `/hooks/<platform>` accepts (`[connectors]`).
    pub connectors: hooks::Connectors,
}

/// The whole router.
pub fn router(state: AppState, options: WebOptions) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics::metrics))
        .route("/hooks/{platform}", axum::routing::post(hooks::receive))
        .merge(api::routes())
        .merge(pages::customer_routes(pages::limit::PageLimiter::new(
            options.trusted_proxies.clone(),
        )))
        .merge(pages::admin::routes());
    if options.outbox_page {
        router = router.merge(pages::outbox_routes());
    }
    if options.stand_in_carrier {
        router = router.merge(pages::stand_in_carrier_routes());
    }
    let deadline = std::time::Duration::from_secs(options.limits.request_timeout_seconds);
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            deadline,
            server::request_deadline,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn health(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, error::ApiError> {
    let jobs = app.store.count(aftercare_store::Table::Jobs).await?;
    Ok(axum::Json(
        serde_json::json!({"status": "ok", "pending_jobs": jobs}),
    ))
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::NotFound(format!("nothing at {}", uri.path()))
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::MethodNotAllowed
}

/// Serves HTTP on `listener` until `shutdown` completes, within `options.limits`; each
/// request carries the client's address (`ConnectInfo`) for the rate limiters.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    options: WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = options.limits.clone();
    let trusted = options.trusted_proxies.clone();
    server::serve(listener, router(state, options), limits, trusted, shutdown).await
}
