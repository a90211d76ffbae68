//! The JSON API, version 1. Every write honours `Idempotency-Key`; every error is
//! problem+json naming the field; every route but `/health` needs a bearer token.
//! The OpenAPI document is generated from these handlers and served at `/v1/openapi.json`.

pub mod answers;
mod campaigns;
mod deliveries;
pub mod extract;
#[cfg(test)]
mod fuzz;
mod handlers;
mod imports;
mod loyalty;
pub mod openapi;
mod privacy;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Every documented route, declared once: the router and the OpenAPI document's paths come
/// from this one list (utoipa-axum), so a route cannot be served without being documented
/// or documented without being served.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(handlers::upsert_customer))
        .routes(routes!(handlers::get_customer, privacy::erase_customer))
        .routes(routes!(privacy::export_customer))
        .routes(routes!(handlers::post_consent))
        .routes(routes!(handlers::upsert_product))
        .routes(routes!(handlers::create_order))
        .routes(routes!(handlers::post_shipment_event))
        .routes(routes!(handlers::post_events))
        .routes(routes!(handlers::post_email_feedback))
        .routes(routes!(handlers::post_bounce_mail))
        .routes(routes!(handlers::post_channel_status))
        .routes(routes!(handlers::upsert_contract))
        .routes(routes!(handlers::post_cancellation))
        .routes(routes!(loyalty::get_loyalty))
        .routes(routes!(loyalty::post_points))
        .routes(routes!(loyalty::post_reward))
        .routes(routes!(loyalty::post_customer_coupon))
        .routes(routes!(loyalty::get_coupon))
        .routes(routes!(loyalty::post_redemption))
        .routes(routes!(loyalty::post_import))
        .routes(routes!(loyalty::post_referral))
        .routes(routes!(loyalty::post_return))
        .routes(routes!(handlers::list_dead_jobs))
        .routes(routes!(handlers::retry_dead_job))
        .routes(routes!(handlers::list_messages))
        .routes(routes!(handlers::get_message))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::get_delivery))
        .routes(routes!(deliveries::replay_delivery))
        .routes(routes!(
            imports::upload_history,
            imports::list_history_imports
        ))
        .routes(routes!(imports::get_history_import))
        .routes(routes!(
            campaigns::list_campaigns,
            campaigns::create_campaign
        ))
        .routes(routes!(campaigns::get_campaign, campaigns::delete_campaign))
        .routes(routes!(campaigns::dry_run_campaign))
        .routes(routes!(campaigns::schedule_campaign))
        .routes(routes!(campaigns::cancel_campaign))
        .routes(routes!(campaigns::list_audiences))
        .routes(routes!(
            campaigns::get_audience,
            campaigns::put_audience,
            campaigns::delete_audience
        ))
}

/// The `/v1` routes, and the document itself at `/v1/openapi.json`.
pub fn routes() -> Router<AppState> {
    let (router, _) = documented().split_for_parts();
    router.route("/v1/openapi.json", get(openapi::document))
}
