//! Audiences and campaigns over the API (issue 21), for shops that automate them and for
//! the team's own reporting and BI tools — the same checks, audit and figures as the admin
//! UI, which calls the same engine functions.
//!
//! - `PUT /v1/audiences/{id}` saves an audience (a new version when its definition
//!   changed), `GET` gives it with its live count and a sample, `DELETE` removes one that
//!   nothing still going reads.
//! - `POST /v1/campaigns` makes a draft (`Idempotency-Key` honoured),
//!   `GET /v1/campaigns/{id}/dry-run` says how many would get it and why the others would
//!   not, `POST …/schedule` and `POST …/cancel` move it on, `DELETE` removes a draft.
//! - `GET /v1/campaigns/{id}` gives one with its results — recipients, held out, messages by
//!   state and why not sent, clicks, orders credited to a message in the attribution window
//!   and their value, personal codes issued and used, and the treated group against the
//!   holdout with 95% intervals.
//!
//! An audience's count and a dry run read every customer (tens of seconds at a million):
//! they are worked out in the background and shared with the admin pages. A request waits
//! at most three seconds for them; until they are there it gets 202 with `Retry-After`,
//! and once they are, they come with the moment they were made (`counted_at`, `as_of`).
//!
//! A value the engine refuses is 422 naming the field; a campaign or audience in a state
//! that does not allow the step (scheduling what is not a draft, deleting an audience a
//! programme enters by) is 409 with the reason. Nothing is changed by a refusal.

use aftercare_domain::FieldError;
use aftercare_engine::campaigns::{Draft, Refusal, parse_audience};
use aftercare_store::CampaignId;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{
    AudienceReport, Audiences, CampaignDryRun, CampaignReport, CampaignResults, CampaignUplift,
    Campaigns, Interval, Problem, ReasonCount, Working,
};
use super::extract::{ApiPath, Caller, JsonBody};
use crate::error::ApiError;
use crate::{AppState, idempotent_write};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// A refusal as the API answers it: a step the state does not allow is 409, a value that is
/// not acceptable 422 naming its field.
fn refused(r: Refusal) -> ApiError {
    if r.field == "state" {
        conflict("campaign_state", r)
    } else {
        FieldError::new(r.field, r.reason).into()
    }
}

fn conflict(code: &'static str, r: Refusal) -> ApiError {
    ApiError::Refused {
        status: StatusCode::CONFLICT,
        code,
        field: r.field,
        detail: r.reason,
    }
}

fn who(caller: &Caller) -> String {
    format!("api:{}", caller.token_name)
}

async fn campaign_by_id(app: &AppState, id: i64) -> Result<aftercare_store::Campaign, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let campaign = match tx.campaign(CampaignId(id)).await {
        Ok(c) => c,
        Err(aftercare_store::StoreError::NotFound(_)) => {
            return Err(ApiError::NotFound(format!("no campaign with id {id}")));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok(campaign)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// A step the engine checks (schedule, cancel, delete) on a campaign that exists.
async fn campaign_step<F, Fut>(app: &AppState, id: i64, step: F) -> Result<(), ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Result<(), Refusal>, aftercare_engine::EngineError>>,
{
    campaign_by_id(app, id).await?;
    step().await.map_err(internal)?.map_err(refused)
}

async fn report(
    app: &AppState,
    c: aftercare_store::Campaign,
    with_results: bool,
) -> Result<CampaignReport, ApiError> {
    let results = if !with_results || c.state == aftercare_store::CampaignState::Draft {
        None
    } else {
        let r = app.engine.campaign_results(&c).await.map_err(internal)?;
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
        id: c.id.into(),
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
    let campaign = campaign_by_id(&app, id).await?;
    Ok(Json(report(&app, campaign, true).await?).into_response())
}

/// A campaign to make: a template sent once to an audience on a day at a local time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Autumn offer for loyal runners", "template": "early_access",
    "audience": "loyal-runners", "class": "promotional", "channels": ["email"],
    "send_on": "2027-10-03", "local_time": "10:00", "holdout_percent": 10,
    "attribution_days": 7, "coupon_pool": "early-access"}))]
pub struct CampaignDraft {
    /// What the team calls it.
    #[schema(max_length = 120, format = "required-line")]
    pub name: String,
    /// The template it sends.
    #[schema(max_length = 100, format = "required-line")]
    pub template: String,
    /// The audience's id.
    #[schema(max_length = 60, format = "required-line")]
    pub audience: String,
    /// `promotional`, `relationship` or `service` (a campaign is never transactional); the
    /// policy treats it as such (consent, caps, the band).
    #[schema(max_length = 20, format = "required-line")]
    pub class: String,
    /// Channels in order of preference: `email`, `sms`, `push`, `letter`, `portal`.
    #[schema(min_items = 1, max_items = 5)]
    pub channels: Vec<String>,
    /// The day (`YYYY-MM-DD`), in each customer's own time zone.
    #[schema(max_length = 10, format = "required-line")]
    pub send_on: String,
    /// The local time (`HH:MM`).
    #[schema(max_length = 5, format = "required-line")]
    pub local_time: String,
    /// The share held out to measure uplift, in percent, 0 to 50.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 50)]
    pub holdout_percent: f64,
    /// Days after a message in which an order counts for it, 1 to 90 (default 7).
    #[serde(default = "seven")]
    #[schema(minimum = 1, maximum = 90)]
    pub attribution_days: i32,
    /// The coupon pool each recipient's own code comes from: required when the template
    /// shows `{{ coupon.code }}`, refused when it does not.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub coupon_pool: Option<String>,
}

fn seven() -> i32 {
    7
}

/// Make a campaign as a draft (audited). It sends nothing until it is scheduled; look at
/// its dry run first.
#[utoipa::path(post, path = "/v1/campaigns", request_body = CampaignDraft,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "The draft", body = CampaignReport),
              (status = 422, description = "A value is not acceptable: an unknown template, audience or pool, a channel the template cannot go on; `field` names it", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_campaign(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<CampaignDraft>,
) -> Result<Response, ApiError> {
    let d = &body.value;
    let draft = Draft {
        name: d.name.clone(),
        template: d.template.clone(),
        audience_id: d.audience.clone(),
        class: d.class.clone(),
        channels: d.channels.join(","),
        send_on: d.send_on.clone(),
        local_time: d.local_time.clone(),
        holdout_percent: d.holdout_percent.to_string(),
        attribution_days: d.attribution_days.to_string(),
        coupon_pool: d.coupon_pool.clone().unwrap_or_default(),
    };
    if d.channels.iter().any(|c| c.contains(',')) {
        return Err(FieldError::new("channels", "one channel per item").into());
    }
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/campaigns",
        body.raw,
        |tx, now| {
            let id = app
                .engine
                .create_campaign_in(tx, &draft, &who(&caller), now)
                .await
                .map_err(internal)?
                .map_err(refused)?;
            let campaign = tx.campaign(id).await?;
            let report = report(&app, campaign, false).await?;
            (
                StatusCode::CREATED,
                serde_json::to_value(report).map_err(internal)?,
            )
        }
    )
}

/// What a draft would do if it went now, writing nothing: the audience counted, the holdout
/// set apart, and the policy asked about every member (a sample of 5,000 in a larger
/// audience, scaled up) as of their own send time. Worked out in the background (it reads
/// every customer): fresh for two minutes, then answered as it was (`as_of` says when)
/// while a newer one is made; a change to the draft or its audience makes a new one.
#[utoipa::path(get, path = "/v1/campaigns/{id}/dry-run",
    params(("id" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "The dry run", body = CampaignDryRun),
              (status = 202, description = "Still being worked out: ask again after `Retry-After` seconds", body = Working,
               headers(("Retry-After" = u64, description = "Seconds to wait"))),
              (status = 422, description = "Its audience's definition no longer reads (`field` is `audience`)", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "It is no longer a draft, or its audience no longer exists", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn dry_run_campaign(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let c = campaign_by_id(&app, id).await?;
    if c.state != aftercare_store::CampaignState::Draft {
        return Err(refused(Refusal {
            field: "state",
            reason: format!(
                "it is {}; its results are at GET /v1/campaigns/{id}",
                c.state
            ),
        }));
    }
    let mut tx = app.store.begin_read().await?;
    let audience = tx.audience(&c.audience_id).await?;
    tx.commit().await?;
    let Some(audience) = audience else {
        return Err(refused(Refusal {
            field: "state",
            reason: format!("its audience '{}' no longer exists", c.audience_id),
        }));
    };
    let condition =
        parse_audience(&audience.definition).map_err(|e| FieldError::new("audience", e))?;
    let looked = crate::figures::dry_run(&app, &c, &audience, condition).await;
    let Some((figures, at)) = looked.figures else {
        return match looked.failed {
            Some(e) => Err(internal(e)),
            None => Ok(working(&format!("the dry run of campaign {id}"))),
        };
    };
    let run: aftercare_engine::campaigns::DryRun =
        serde_json::from_value(figures.as_ref().clone()).map_err(internal)?;
    let reasons = |m: std::collections::BTreeMap<String, (u64, String)>| {
        m.into_iter()
            .map(|(code, (count, example))| (code, ReasonCount { count, example }))
            .collect()
    };
    Ok(Json(CampaignDryRun {
        audience: run.audience,
        held_out: run.holdout,
        asked: run.asked,
        sampled: run.sampled,
        would_send: run.would_send,
        held: reasons(run.held),
        blocked: reasons(run.blocked),
        channels: run.channels,
        as_of: at.to_string(),
    })
    .into_response())
}

/// 202 for figures still being worked out, with when to ask again.
fn working(what: &str) -> Response {
    const AGAIN: u64 = 5;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Working {
            status: "working".into(),
            detail: format!("{what} is being worked out"),
            retry_after_seconds: AGAIN,
        }),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(AGAIN),
    );
    response
}

/// Schedule a draft (audited): its audience's current version is pinned, and it is planned
/// when its send time comes anywhere; every message then goes through the policy.
#[utoipa::path(post, path = "/v1/campaigns/{id}/schedule",
    params(("id" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "Scheduled", body = CampaignReport),
              (status = 409, description = "It is not a draft", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "Nobody is in its audience, or its day and time have passed (for some of its members); `field` names which", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn schedule_campaign(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let by = who(&caller);
    campaign_step(&app, id, || {
        app.engine.schedule_campaign(CampaignId(id), &by)
    })
    .await?;
    let campaign = campaign_by_id(&app, id).await?;
    Ok(Json(report(&app, campaign, false).await?).into_response())
}

/// Cancel a campaign (audited): it plans nobody more, and its messages not yet sent are
/// blocked when their time comes.
#[utoipa::path(post, path = "/v1/campaigns/{id}/cancel",
    params(("id" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "Cancelled", body = CampaignReport),
              (status = 409, description = "It is cancelled already", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn cancel_campaign(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let by = who(&caller);
    campaign_step(&app, id, || app.engine.cancel_campaign(CampaignId(id), &by)).await?;
    let campaign = campaign_by_id(&app, id).await?;
    Ok(Json(report(&app, campaign, true).await?).into_response())
}

/// Delete a draft (audited); a campaign past its draft is refused with 409: cancel it
/// instead, so its record stays.
#[utoipa::path(delete, path = "/v1/campaigns/{id}",
    params(("id" = i64, Path, description = "The campaign's id")),
    responses((status = 204, description = "Deleted"),
              (status = 409, description = "It is not a draft: cancel it instead", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn delete_campaign(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let by = who(&caller);
    campaign_step(&app, id, || app.engine.delete_campaign(CampaignId(id), &by)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn audience_report(a: aftercare_store::Audience) -> AudienceReport {
    AudienceReport {
        id: a.id,
        name: a.name,
        definition: a.definition,
        version: a.version,
        updated_by: a.updated_by,
        updated_at: a.updated_at.to_string(),
        members: None,
        customers: None,
        sample: None,
        counted_at: None,
    }
}

/// Every saved audience, by id, without counts.
#[utoipa::path(get, path = "/v1/audiences",
    responses((status = 200, description = "The audiences", body = Audiences)),
    security(("bearer" = [])))]
pub async fn list_audiences(
    State(app): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let mut audiences = tx.audiences().await?;
    tx.commit().await?;
    audiences.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(Audiences {
        audiences: audiences.into_iter().map(audience_report).collect(),
    })
    .into_response())
}

/// One audience with who is in it: the count (every customer is looked at, about a second
/// per 100,000: worked out in the background, fresh for five minutes, then answered as it
/// was while a newer one is made; `counted_at` says when) and the first ten members' ids.
#[utoipa::path(get, path = "/v1/audiences/{id}",
    params(("id" = String, Path, description = "The audience's id")),
    responses((status = 200, description = "The audience with `members`, `customers`, `sample` and `counted_at`", body = AudienceReport),
              (status = 202, description = "Its count is still being worked out: ask again after `Retry-After` seconds", body = Working,
               headers(("Retry-After" = u64, description = "Seconds to wait"))),
              (status = 422, description = "Its definition no longer reads (`field` is `definition`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_audience(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let audience = tx.audience(&id).await?;
    tx.commit().await?;
    let audience = audience.ok_or_else(|| ApiError::NotFound(format!("no audience '{id}'")))?;
    let condition =
        parse_audience(&audience.definition).map_err(|e| FieldError::new("definition", e))?;
    let looked = crate::figures::audience_count(&app, &audience, condition).await;
    let Some((count, at)) = looked.figures else {
        return match looked.failed {
            Some(e) => Err(internal(e)),
            None => Ok(working(&format!("the count of audience '{id}'"))),
        };
    };
    let mut report = audience_report(audience);
    report.members = count["members"].as_u64();
    report.customers = count["customers"].as_u64();
    report.sample = Some(
        count["sample"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .take(10)
                    .collect()
            })
            .unwrap_or_default(),
    );
    report.counted_at = Some(at.to_string());
    Ok(Json(report).into_response())
}

/// An audience to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Loyal runners",
    "definition": "stats.orders_count >= 3 && customer.locale.startsWith('nl')"}))]
pub struct AudienceRequest {
    /// What the team calls it.
    #[schema(max_length = 120, format = "required-line")]
    pub name: String,
    /// The condition, in CEL over `customer` and `stats` — the data programmes read;
    /// checked before it is saved.
    #[schema(min_length = 1, max_length = 4000)]
    pub definition: String,
}

/// Save an audience (audited): made when new, else a new version when its definition
/// changed (the same definition keeps its version). Programmes that enter by it follow it
/// in every running worker; a scheduled campaign keeps the version it pinned.
#[utoipa::path(put, path = "/v1/audiences/{id}", request_body = AudienceRequest,
    params(("id" = String, Path, description = "The audience's id: 1 to 60 of a-z, 0-9 and -")),
    responses((status = 201, description = "Made", body = AudienceReport),
              (status = 200, description = "Saved", body = AudienceReport),
              (status = 422, description = "The id, the name or the definition is not acceptable; `field` names which", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn put_audience(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBody<AudienceRequest>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let existed = tx.audience(id.trim()).await?.is_some();
    tx.commit().await?;
    app.engine
        .save_audience(&id, &body.value.name, &body.value.definition, &who(&caller))
        .await
        .map_err(internal)?
        .map_err(refused)?;
    let mut tx = app.store.begin_read().await?;
    let audience = tx.audience(id.trim()).await?;
    tx.commit().await?;
    let audience = audience.ok_or_else(|| ApiError::NotFound(format!("no audience '{id}'")))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(audience_report(audience))).into_response())
}

/// Delete an audience (audited) that nothing still going reads; its versions stay, so a
/// campaign sent to it still shows what it was.
#[utoipa::path(delete, path = "/v1/audiences/{id}",
    params(("id" = String, Path, description = "The audience's id")),
    responses((status = 204, description = "Deleted"),
              (status = 409, description = "A programme enters by it, or a draft or scheduled campaign sends to it; `detail` names which", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn delete_audience(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let exists = tx.audience(&id).await?.is_some();
    tx.commit().await?;
    if !exists {
        return Err(ApiError::NotFound(format!("no audience '{id}'")));
    }
    app.engine
        .delete_audience(&id, &who(&caller))
        .await
        .map_err(internal)?
        .map_err(|r| conflict("audience_in_use", r))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
