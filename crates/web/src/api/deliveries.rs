//! The platforms' webhook deliveries as kept by `/hooks/<platform>` (issue 24): listed for
//! the team, and a rejected one replayed after its cause is fixed (a product added, a
//! mapping corrected in a new release).

use aftercare_engine::connectors::Platform;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, Caller, page_limit};
use crate::AppState;
use crate::error::ApiError;
use aftercare_store::HookState;

/// A platform's webhook delivery (the list leaves its payload out).
#[derive(Debug, Serialize, ToSchema)]
pub struct HookDelivery {
    /// Its id.
    pub id: i64,
    /// `shopify`, `woocommerce`, `sendcloud` or `myparcel`.
    pub platform: String,
    /// The platform's delivery id (the body's SHA-256 where it sends none).
    pub delivery_id: String,
    /// The platform's topic, e.g. `orders/create`.
    pub topic: String,
    /// `received` (stored, being applied or interrupted), `applied`, `ignored` or `rejected`.
    pub state: String,
    /// What was done, why it was ignored, or the field and reason it was rejected for.
    pub detail: String,
    /// When it last arrived (RFC 3339).
    pub received_at: String,
    /// How often it arrived.
    pub attempts: i32,
    /// The body as received (only when one delivery is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// Deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookDeliveries {
    /// The deliveries.
    pub deliveries: Vec<HookDelivery>,
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Mapped and ingested.
    Applied,
    /// Nothing to do (an unknown topic, a status Aftercare does not follow).
    Ignored,
    /// Did not map; kept for a replay.
    Rejected,
    /// Stored and not yet applied (being applied, or the process stopped meanwhile).
    Received,
}

impl From<DeliveryState> for HookState {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Applied => HookState::Applied,
            DeliveryState::Ignored => HookState::Ignored,
            DeliveryState::Rejected => HookState::Rejected,
            DeliveryState::Received => HookState::Received,
        }
    }
}

/// Which deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only this state.
    #[param(inline)]
    pub state: Option<DeliveryState>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn answer(d: aftercare_store::HookDelivery, with_payload: bool) -> HookDelivery {
    HookDelivery {
        id: d.id,
        platform: d.platform,
        delivery_id: d.delivery_id,
        topic: d.topic,
        state: d.state.to_string(),
        detail: d.detail,
        received_at: d.received_at.to_string(),
        attempts: d.attempts,
        payload: with_payload.then_some(d.payload),
    }
}

/// The shop and shipping platforms' webhook deliveries, newest first.
#[utoipa::path(get, path = "/v1/hook-deliveries", params(DeliveryQuery),
    responses((status = 200, description = "Deliveries", body = HookDeliveries)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(app): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit)?;
    let mut tx = app.store.begin_read().await?;
    let deliveries = tx
        .hook_deliveries(query.state.map(HookState::from), limit)
        .await?;
    tx.commit().await?;
    Ok(Json(HookDeliveries {
        deliveries: deliveries.into_iter().map(|d| answer(d, false)).collect(),
    })
    .into_response())
}

/// One delivery with the payload as received.
#[utoipa::path(get, path = "/v1/hook-deliveries/{id}",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses((status = 200, description = "The delivery", body = HookDelivery)),
    security(("bearer" = [])))]
pub async fn get_delivery(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let delivery = tx
        .hook_delivery_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery with id {id}")))?;
    tx.commit().await?;
    Ok(Json(answer(delivery, true)).into_response())
}

/// Map and apply a rejected (or interrupted) delivery again, after fixing why; answers as
/// the platform's own delivery is answered: 200 with what was done, or 422 naming the
/// field. An applied or ignored delivery is not replayed (409): its data may be older
/// than what came since. Audited.
#[utoipa::path(post, path = "/v1/hook-deliveries/{id}/replay",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses((status = 200, description = "Applied or ignored"),
              (status = 409, description = "Already applied or ignored"),
              (status = 422, description = "Still does not map")),
    security(("bearer" = [])))]
pub async fn replay_delivery(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin().await?;
    let delivery = tx
        .hook_delivery_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery with id {id}")))?;
    if matches!(delivery.state, HookState::Applied | HookState::Ignored) {
        return Err(ApiError::Conflict(format!(
            "delivery {id} was {} already; only a rejected or interrupted one is replayed",
            delivery.state
        )));
    }
    tx.audit(
        &format!("api:{}", caller.token_name),
        "hook_delivery.replay",
        &format!("hook_delivery:{id}"),
        None,
        None,
        app.clock.now(),
    )
    .await?;
    tx.commit().await?;
    let platform = Platform::parse(&delivery.platform)
        .ok_or_else(|| ApiError::NotFound(format!("no platform called {}", delivery.platform)))?;
    crate::hooks::process(
        &app,
        platform,
        &delivery.delivery_id,
        &delivery.topic,
        &delivery.payload,
        true,
    )
    .await
}
