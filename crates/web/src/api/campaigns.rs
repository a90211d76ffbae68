//! Campaign results over the API (issue 21), for the team's own reporting and BI tools:
//! `GET /v1/campaigns` lists the campaigns made in the admin UI, `GET /v1/campaigns/{id}`
//! gives one with its results — the same figures as its admin page: recipients, held out,
//! messages by state and why not sent, clicks, orders credited to a message in the
//! attribution window and their value, personal codes issued and used, and the treated
//! group against the holdout with 95% intervals. Campaigns are made, scheduled and cancelled
//! in the admin UI, where the dry run and the checks are.

use super::answers::{CampaignReport, CampaignResults, CampaignUplift, Campaigns, Interval};
use super::extract::{ApiPath, Caller};
use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

async fn report(
    app: &AppState,
    c: aftercare_store::Campaign,
    with_results: bool,
) -> Result<CampaignReport, ApiError> {
    let results = if !with_results || c.state == aftercare_store::CampaignState::Draft {
        None
    } else {
        let r = app
            .engine
            .campaign_results(&c)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Some(CampaignResults {
            recipients: r.recipients,
            held_out: r.holdout,
            messages: r.states,
            reasons: r.reasons,
            clicked: r.clicked,
            attributed_orders: r.attributed_orders,
            attributed_revenue_cents: r.attributed_revenue_cents,
            codes_issued: r.codes_issued,
            codes_used: r.codes_used,
            uplift: r.uplift.map(|u| CampaignUplift {
                treated: u.treated.n,
                treated_rate: u.treated.rate,
                holdout: u.holdout.n,
                holdout_rate: u.holdout.rate,
                conversion_uplift: u.conversion_uplift,
                conversion_interval: Interval {
                    low: u.conversion_ci.0,
                    high: u.conversion_ci.1,
                },
                revenue_uplift_euros: u.revenue_uplift,
                revenue_interval_euros: Interval {
                    low: u.revenue_ci.0,
                    high: u.revenue_ci.1,
                },
            }),
        })
    };
    Ok(CampaignReport {
        id: c.id,
        channels: c.channels.split(',').map(str::to_string).collect(),
        name: c.name,
        template: c.template,
        audience: c.audience_id,
        audience_version: c.audience_version,
        class: c.class,
        send_on: c.send_on,
        local_time: c.local_time,
        holdout_share: c.holdout,
        attribution_days: c.attribution_days,
        coupon_pool: c.coupon_pool,
        state: c.state.to_string(),
        planned_at: c.planned_at.map(|t| t.to_string()),
        results,
    })
}

/// Every campaign, newest first, without results.
#[utoipa::path(get, path = "/v1/campaigns",
    responses((status = 200, description = "The campaigns, newest first, without `results`", body = Campaigns)),
    security(("bearer" = [])))]
pub async fn list_campaigns(
    State(app): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let mut campaigns = tx.campaigns().await?;
    tx.commit().await?;
    campaigns.sort_by_key(|c| std::cmp::Reverse(c.id));
    let mut out = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        out.push(report(&app, c, false).await?);
    }
    Ok(Json(Campaigns { campaigns: out }).into_response())
}

/// One campaign with its results so far.
#[utoipa::path(get, path = "/v1/campaigns/{id}",
    params(("id" = i64, Path, description = "The campaign's id (as in the admin UI's address)")),
    responses((status = 200, description = "The campaign; `results` once it is no longer a draft", body = CampaignReport)),
    security(("bearer" = [])))]
pub async fn get_campaign(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let campaign = match tx.campaign(id).await {
        Ok(c) => c,
        Err(aftercare_store::StoreError::NotFound(_)) => {
            return Err(ApiError::NotFound(format!("no campaign with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok(Json(report(&app, campaign, true).await?).into_response())
}
