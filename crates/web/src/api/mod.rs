//! The JSON API, version 1. Every write honours `Idempotency-Key`; every error is
//! problem+json naming the field; every route but `/health` needs a bearer token.
//! The OpenAPI document is generated from these handlers and served at `/v1/openapi.json`.

pub mod answers;
pub mod extract;
#[cfg(test)]
mod fuzz;
mod handlers;
mod loyalty;
pub mod openapi;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// The `/v1` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", post(handlers::upsert_customer))
        .route("/v1/customers/{external_id}", get(handlers::get_customer))
        .route(
            "/v1/customers/{external_id}/consents",
            post(handlers::post_consent),
        )
        .route("/v1/products", post(handlers::upsert_product))
        .route("/v1/orders", post(handlers::create_order))
        .route("/v1/shipment-events", post(handlers::post_shipment_event))
        .route("/v1/events", post(handlers::post_events))
        .route("/v1/email-feedback", post(handlers::post_email_feedback))
        .route("/v1/email-feedback/dsn", post(handlers::post_bounce_mail))
        .route("/v1/channel-status", post(handlers::post_channel_status))
        .route("/v1/contracts", post(handlers::upsert_contract))
        .route("/v1/cancellations", post(handlers::post_cancellation))
        .route(
            "/v1/customers/{external_id}/loyalty",
            get(loyalty::get_loyalty),
        )
        .route(
            "/v1/customers/{external_id}/points",
            post(loyalty::post_points),
        )
        .route(
            "/v1/customers/{external_id}/rewards",
            post(loyalty::post_reward),
        )
        .route(
            "/v1/customers/{external_id}/coupons",
            post(loyalty::post_customer_coupon),
        )
        .route("/v1/coupons/{code}", get(loyalty::get_coupon))
        .route(
            "/v1/coupons/{code}/redemptions",
            post(loyalty::post_redemption),
        )
        .route("/v1/coupon-pools/{pool}/codes", post(loyalty::post_import))
        .route("/v1/referrals", post(loyalty::post_referral))
        .route("/v1/returns", post(loyalty::post_return))
        .route("/v1/dead-jobs", get(handlers::list_dead_jobs))
        .route("/v1/dead-jobs/{id}/retry", post(handlers::retry_dead_job))
        .route("/v1/messages", get(handlers::list_messages))
        .route("/v1/messages/{id}", get(handlers::get_message))
        .route("/v1/openapi.json", get(openapi::document))
}
