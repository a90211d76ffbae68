//! Audiences and campaigns (issue 21): saved segments with a live count, a sample of who is
//! in them and their history; one-off campaigns from the form to a dry run (how many would
//! get it, how many are held out, who would be held back or blocked and why), scheduling,
//! cancelling, and results (sent, held, blocked, clicks, orders credited and uplift against
//! the holdout with 95% intervals). Everything goes through the engine
//! (`engine/src/campaigns.rs`), which checks, audits and plans; this only shows and asks.

use aftercare_engine::campaigns::{Draft, Refusal, parse_audience};
use aftercare_store::CampaignId;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team, urlencoding};
use super::{AdminError, AdminResult, CsrfForm, html, not_found, render};
use crate::AppState;
use aftercare_store::CampaignState;

fn stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Api(crate::error::ApiError::Internal(e.to_string()))
}

/// The audience form.
#[derive(Debug, Default, Deserialize)]
pub struct AudienceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    definition: String,
}

async fn audiences_page(
    app: &AppState,
    team: &Team,
    status: StatusCode,
    form: Option<(&AudienceForm, &Refusal)>,
) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let audiences = tx.audiences().await?;
    tx.commit().await?;
    let rows: Vec<Value> = audiences
        .iter()
        .map(|a| {
            json!({"id": a.id, "name": a.name, "version": a.version, "definition": a.definition,
                        "by": a.updated_by, "at": stamp(a.updated_at)})
        })
        .collect();
    let ctx = json!({
        "section": "campaigns", "audiences": rows, "can_edit": team.role >= Role::Editor,
        "form": form.map(|(f, _)| json!({"id": f.id, "name": f.name, "definition": f.definition})),
        "error": form.map(|(_, r)| r.to_string()),
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "audiences.html", ctx)?,
    ))
}

/// `GET /admin/audiences`.
pub async fn audiences(State(app): State<AppState>, team: Team) -> AdminResult {
    audiences_page(&app, &team, StatusCode::OK, None).await
}

/// `POST /admin/audiences` (editor): saves an audience, new or its next version.
pub async fn save_audience(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<AudienceForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    match app
        .engine
        .save_audience(&form.id, &form.name, &form.definition, &team.username)
        .await
        .map_err(internal)?
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/admin/audiences/{}", urlencoding(form.id.trim())))
                .into_response(),
        ),
        Err(refusal) => {
            // Back to the audience's own page when it exists, else the list with the form.
            let mut tx = app.store.begin_read().await?;
            let exists = tx.audience(form.id.trim()).await?.is_some();
            tx.commit().await?;
            if exists {
                audience_page(
                    &app,
                    &team,
                    form.id.trim(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((Some(&form), &refusal)),
                )
                .await
            } else {
                audiences_page(
                    &app,
                    &team,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((&form, &refusal)),
                )
                .await
            }
        }
    }
}

/// Figures worked out in the background as a page shows them: the figures with `age` (the
/// minutes since), `working` while none are there yet, or `error`.
fn with_age(looked: &crate::figures::Looked, now: jiff::Timestamp) -> Value {
    match (&looked.figures, looked.working, &looked.failed) {
        (Some((figures, at)), _, _) => {
            let mut v = figures.as_ref().clone();
            v["age"] = json!(now.duration_since(*at).as_mins().max(0));
            v["renewing"] = json!(looked.working);
            v
        }
        (None, true, _) => json!({"working": true}),
        (None, false, Some(e)) => json!({"error": e}),
        (None, false, None) => json!({"working": true}),
    }
}

async fn audience_page(
    app: &AppState,
    team: &Team,
    id: &str,
    status: StatusCode,
    form: Option<(Option<&AudienceForm>, &Refusal)>,
) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let audience = tx.audience(id).await?;
    let versions = tx.audience_versions(id).await?;
    tx.commit().await?;
    let Some(audience) = audience else {
        return Err(not_found(
            team,
            &format!("{}: {id}", team.lang.pick("No audience", "Geen doelgroep")),
        ));
    };
    // Counting reads every customer (seconds on a large shop): worked out in the
    // background per version, shown with its age (issue 22).
    let count = match parse_audience(&audience.definition) {
        Ok(condition) => {
            let looked = crate::figures::audience_count(app, &audience, condition).await;
            let mut count = with_age(&looked, app.clock.now());
            if let Some(ids) = count.get("sample").and_then(Value::as_array).cloned() {
                let mut tx = app.store.begin_read().await?;
                let mut sample = Vec::new();
                for id in ids.iter().filter_map(Value::as_str) {
                    if let Some(c) = tx.customer_by_external_id(id).await? {
                        sample.push(json!({"id": id, "name": c.record.full_name()}));
                    }
                }
                tx.commit().await?;
                count["sample"] = json!(sample);
            }
            Some(count)
        }
        Err(_) => None,
    };
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"version": v.version, "definition": v.definition, "by": v.author, "at": stamp(v.created_at)}))
        .collect();
    let ctx = json!({
        "section": "campaigns", "id": audience.id, "name": audience.name, "version": audience.version,
        "definition": form.and_then(|(f, _)| f).map_or(audience.definition.clone(), |f| f.definition.clone()),
        "count": count, "versions": versions, "can_edit": team.role >= Role::Editor,
        "error": form.map(|(_, r)| r.to_string()),
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "audience.html", ctx)?,
    ))
}

/// `POST /admin/audiences/{id}/delete` (editor): gone, unless something still going
/// reads it (the page says what).
pub async fn delete_audience(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    match app
        .engine
        .delete_audience(&id, &team.username)
        .await
        .map_err(internal)?
    {
        Ok(()) => Ok(Redirect::to("/admin/audiences").into_response()),
        Err(refusal) => {
            audience_page(
                &app,
                &team,
                &id,
                StatusCode::CONFLICT,
                Some((None, &refusal)),
            )
            .await
        }
    }
}

/// `GET /admin/audiences/{id}`: the definition, its live count and a sample, its history.
pub async fn audience(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> AdminResult {
    audience_page(&app, &team, &id, StatusCode::OK, None).await
}

/// The campaign form, as [`Draft`] with the CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    channels: String,
    #[serde(default)]
    send_on: String,
    #[serde(default)]
    local_time: String,
    #[serde(default)]
    holdout_percent: String,
    #[serde(default)]
    attribution_days: String,
    #[serde(default)]
    coupon_pool: String,
}

async fn campaigns_page(
    app: &AppState,
    team: &Team,
    status: StatusCode,
    form: Option<(&CampaignForm, &Refusal)>,
) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let campaigns = tx.campaigns().await?;
    let audiences = tx.audiences().await?;
    tx.commit().await?;
    let renderer = app.engine.renderer();
    let mut templates: Vec<&String> = renderer.template_names().iter().collect();
    templates.sort();
    let rows: Vec<Value> = campaigns
        .iter()
        .map(|c| {
            json!({"id": c.id, "name": c.name, "template": c.template, "audience": c.audience_id,
                        "when": format!("{} {}", c.send_on, c.local_time), "state": c.state})
        })
        .collect();
    let tomorrow = app
        .clock
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .map(|d| d.to_string())
        .unwrap_or_default();
    let filled = form.map_or_else(
        || json!({"class": "promotional", "channels": "email", "send_on": tomorrow, "local_time": "10:00",
                  "holdout_percent": "10", "attribution_days": "14"}),
        |(f, _)| json!({"name": f.name, "template": f.template, "audience": f.audience, "class": f.class,
                        "channels": f.channels, "send_on": f.send_on, "local_time": f.local_time,
                        "holdout_percent": f.holdout_percent, "attribution_days": f.attribution_days,
                        "coupon_pool": f.coupon_pool}),
    );
    let ctx = json!({
        "section": "campaigns", "campaigns": rows, "templates": templates,
        "audiences": audiences.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
        "classes": aftercare_engine::campaigns::CLASSES.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "pools": app.engine.loyalty().pools.iter().map(|p| json!({"id": p.id, "name": p.name})).collect::<Vec<_>>(),
        "form": filled, "error": form.map(|(_, r)| r.to_string()),
        "can_edit": team.role >= Role::Editor,
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "campaigns.html", ctx)?,
    ))
}

/// `GET /admin/campaigns`.
pub async fn campaigns(State(app): State<AppState>, team: Team) -> AdminResult {
    campaigns_page(&app, &team, StatusCode::OK, None).await
}

/// `POST /admin/campaigns` (editor): a new campaign as a draft.
pub async fn create(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<CampaignForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let draft = Draft {
        name: form.name.clone(),
        template: form.template.clone(),
        audience_id: form.audience.clone(),
        class: form.class.clone(),
        channels: form.channels.clone(),
        send_on: form.send_on.clone(),
        local_time: form.local_time.clone(),
        holdout_percent: form.holdout_percent.clone(),
        attribution_days: form.attribution_days.clone(),
        coupon_pool: form.coupon_pool.clone(),
    };
    match app
        .engine
        .create_campaign(&draft, &team.username)
        .await
        .map_err(internal)?
    {
        Ok(id) => Ok(Redirect::to(&format!("/admin/campaigns/{id}")).into_response()),
        Err(refusal) => {
            campaigns_page(
                &app,
                &team,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((&form, &refusal)),
            )
            .await
        }
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        #[allow(clippy::cast_precision_loss)]
        let p = part as f64 * 100.0 / whole as f64;
        format!("{p:.1}%")
    }
}

const NO_CAMPAIGN: (&str, &str) = ("No campaign", "Campagne niet gevonden");

async fn campaign_page(
    app: &AppState,
    team: &Team,
    id: i64,
    status: StatusCode,
    error: Option<&Refusal>,
) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let c = match tx.campaign(CampaignId(id)).await {
        Ok(c) => c,
        Err(aftercare_store::StoreError::NotFound(_)) => {
            return Err(not_found(
                team,
                &format!("{}: {id}", team.lang.pick(NO_CAMPAIGN.0, NO_CAMPAIGN.1)),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let audience = tx.audience(&c.audience_id).await?;
    // A campaign past its draft went to the version it pinned, which stays when the
    // audience changes or is deleted.
    let pinned = tx
        .audience_versions(&c.audience_id)
        .await?
        .into_iter()
        .find(|v| v.version == c.audience_version);
    let audit = tx.audit_log(Some(&format!("campaign:{id}")), 20).await?;
    tx.commit().await?;
    let reason_rows = |m: &std::collections::BTreeMap<String, (u64, String)>| -> Vec<Value> {
        m.iter()
            .map(|(code, (n, example))| json!({"code": code, "n": n, "example": example}))
            .collect()
    };
    // A draft shows its dry run (worked out in the background per audience version, with
    // its age: it reads every customer); a scheduled or sent one its results.
    let dry_run = match (&audience, c.state) {
        (Some(a), CampaignState::Draft) => match parse_audience(&a.definition) {
            Ok(condition) => {
                let looked = crate::figures::dry_run(app, &c, a, condition).await;
                let looked = crate::figures::Looked {
                    figures: looked.figures.map(|(v, at)| {
                        let run: aftercare_engine::campaigns::DryRun =
                            serde_json::from_value(v.as_ref().clone()).unwrap_or_default();
                        let figures = json!({
                            "audience": run.audience, "holdout": run.holdout, "would_send": run.would_send,
                            "treated": run.audience - run.holdout, "sampled": run.sampled, "asked": run.asked,
                            "held": reason_rows(&run.held), "blocked": reason_rows(&run.blocked),
                            "channels": run.channels,
                        });
                        (std::sync::Arc::new(figures), at)
                    }),
                    ..looked
                };
                Some(with_age(&looked, app.clock.now()))
            }
            Err(e) => Some(json!({"error": e})),
        },
        _ => None,
    };
    let results = if c.state == CampaignState::Draft {
        None
    } else {
        let r = app.engine.campaign_results(&c).await.map_err(internal)?;
        let sent = r.states.get("sent").copied().unwrap_or(0);
        let uplift = r.uplift.as_ref().map(|u| {
            json!({
                "treated_n": u.treated.n, "treated_rate": format!("{:.1}%", u.treated.rate * 100.0),
                "holdout_n": u.holdout.n, "holdout_rate": format!("{:.1}%", u.holdout.rate * 100.0),
                "conversion": format!("{:+.1} pt", u.conversion_uplift * 100.0),
                "conversion_ci": format!("{:+.1} … {:+.1} pt", u.conversion_ci.0 * 100.0, u.conversion_ci.1 * 100.0),
                "revenue": format!("€ {:+.2}", u.revenue_uplift),
                "revenue_ci": format!("€ {:+.2} … {:+.2}", u.revenue_ci.0, u.revenue_ci.1),
            })
        });
        Some(json!({
            "recipients": r.recipients, "holdout": r.holdout, "sent": sent,
            "states": r.states, "reasons": r.reasons, "clicked": r.clicked,
            "click_rate": percent(r.clicked, sent),
            "orders": r.attributed_orders,
            "revenue": format!("€ {:.2}", r.attributed_revenue_cents as f64 / 100.0),
            "uplift": uplift,
            "codes_issued": r.codes_issued, "codes_used": r.codes_used,
        }))
    };
    let audit: Vec<Value> = audit
        .iter()
        .map(|a| json!({"at": stamp(a.at), "who": a.username, "action": a.action}))
        .collect();
    let ctx = json!({
        "section": "campaigns", "id": c.id, "name": c.name, "template": c.template,
        "audience": match (c.state, &audience, &pinned) {
            (CampaignState::Draft, Some(a), _) => Some(json!({"id": a.id, "name": a.name, "definition": a.definition, "exists": true})),
            (_, a, Some(v)) => Some(json!({"id": c.audience_id, "name": a.as_ref().map_or(c.audience_id.as_str(), |a| a.name.as_str()),
                                           "definition": v.definition, "exists": a.is_some()})),
            _ => None,
        },
        // A draft will go to the audience as it is when scheduled.
        "audience_version": match (c.state, &audience) {
            (CampaignState::Draft, Some(a)) => a.version,
            _ => c.audience_version,
        }, "class": c.class, "channels": c.channels,
        "send_on": c.send_on, "local_time": c.local_time,
        "holdout": format!("{:.0}%", c.holdout * 100.0), "attribution_days": c.attribution_days,
        "coupon_pool": c.coupon_pool.as_deref().map(|id| app.engine.loyalty().pool(id).map_or_else(|| id.to_string(), |p| p.name.clone())),
        "state": c.state, "planned_at": c.planned_at.map(stamp), "created_by": c.created_by,
        "dry_run": dry_run, "results": results, "audit": audit,
        "error": error.map(ToString::to_string), "can_edit": team.role >= Role::Editor,
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "campaign.html", ctx)?,
    ))
}

/// `GET /admin/campaigns/{id}`.
pub async fn show(State(app): State<AppState>, team: Team, Path(id): Path<String>) -> AdminResult {
    let id = super::numeric_id(&team, &id, NO_CAMPAIGN)?;
    campaign_page(&app, &team, id, StatusCode::OK, None).await
}

/// What an editor does to a campaign from its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Schedule,
    Cancel,
    Delete,
}

async fn act(app: AppState, team: Team, raw_id: &str, csrf: &str, what: Act) -> AdminResult {
    let id = super::numeric_id(&team, raw_id, NO_CAMPAIGN)?;
    team.require(Role::Editor)?;
    team.check_csrf(csrf)?;
    let outcome = match what {
        Act::Schedule => {
            app.engine
                .schedule_campaign(CampaignId(id), &team.username)
                .await
        }
        Act::Cancel => {
            app.engine
                .cancel_campaign(CampaignId(id), &team.username)
                .await
        }
        Act::Delete => {
            app.engine
                .delete_campaign(CampaignId(id), &team.username)
                .await
        }
    };
    match outcome {
        // A deleted draft has no page left: back to the list.
        Ok(Ok(())) if what == Act::Delete => Ok(Redirect::to("/admin/campaigns").into_response()),
        Ok(Ok(())) => Ok(Redirect::to(&format!("/admin/campaigns/{id}")).into_response()),
        Ok(Err(refusal)) => {
            let status = match what {
                Act::Delete => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            campaign_page(&app, &team, id, status, Some(&refusal)).await
        }
        Err(aftercare_engine::worker::EngineError::Store(
            aftercare_store::StoreError::NotFound(_),
        )) => Err(not_found(
            &team,
            &format!("{}: {id}", team.lang.pick(NO_CAMPAIGN.0, NO_CAMPAIGN.1)),
        )),
        Err(e) => Err(internal(e)),
    }
}

/// `POST /admin/campaigns/{id}/schedule` (editor).
pub async fn schedule(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    act(app, team, &id, &form.csrf, Act::Schedule).await
}

/// `POST /admin/campaigns/{id}/delete` (editor): a draft is gone; anything further along
/// is refused (cancel it instead).
pub async fn delete(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    act(app, team, &id, &form.csrf, Act::Delete).await
}

/// `POST /admin/campaigns/{id}/cancel` (editor).
pub async fn cancel(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    act(app, team, &id, &form.csrf, Act::Cancel).await
}
