//! The OpenAPI document, generated from the handlers and domain types.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{handlers, loyalty};

#[derive(OpenApi)]
#[openapi(
    info(title = "Aftercare API", version = "1", description = "Customers, products, orders, shipment status events and generic events in; messages and timelines out. Errors are RFC 9457 problem+json."),
    paths(handlers::upsert_customer, handlers::upsert_product, handlers::create_order, handlers::upsert_contract,
          handlers::post_shipment_event, handlers::post_events, handlers::post_cancellation, handlers::post_consent, handlers::get_customer,
          handlers::list_messages, handlers::get_message, handlers::list_dead_jobs, handlers::retry_dead_job,
          handlers::post_email_feedback, handlers::post_bounce_mail, handlers::post_channel_status,
          loyalty::get_loyalty, loyalty::post_points, loyalty::post_reward, loyalty::post_customer_coupon,
          loyalty::get_coupon, loyalty::post_redemption, loyalty::post_import, loyalty::post_referral,
          loyalty::post_return),
    components(schemas(aftercare_domain::CustomerRecord, aftercare_domain::ProductRecord,
                       aftercare_domain::OrderRecord, aftercare_domain::ContractRecord, aftercare_domain::ShipmentEventRecord,
                       aftercare_domain::EventRecord, aftercare_domain::CancellationRecord, handlers::EventBatch, handlers::TimelineEntry,
                       handlers::FeedbackBatch, aftercare_engine::feedback::Feedback, handlers::ChannelStatus,
                       aftercare_store::Message, loyalty::PointsRequest, loyalty::ClaimRequest,
                       loyalty::IssueRequest, loyalty::RedeemRequest, loyalty::ImportRequest,
                       loyalty::ReferralRequest, loyalty::ReturnRequest)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The OpenAPI 3.1 document for API v1.
pub async fn document(_caller: super::extract::Caller) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
