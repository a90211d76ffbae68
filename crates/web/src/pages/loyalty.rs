//! The branded loyalty page (LY1, RF1): reached by a signed, expiring link from any message
//! (`{{ links.loyalty }}`), no login. It shows the balance, tier and progress, points about
//! to expire, rewards to claim, coupons, the personal referral link with share buttons, and
//! the history — all derived from the ledger. Server-rendered, works without JavaScript,
//! nl-NL / nl-BE / en, in the brand's colours.
//!
//! A tampered or expired link gets a friendly page and changes nothing; claiming a reward is
//! a form post with a CSRF token bound to the link and a nonce per page view, so a
//! double-click spends nothing twice. Responses are `no-store` and send no referrer, since
//! the link is the key.

use aftercare_domain::Locale;
use aftercare_engine::links::{LinkError, Page};
use aftercare_engine::loyalty as engine_loyalty;
use aftercare_store::CustomerId;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{link_problem, linked_customer, page, render};
use crate::AppState;
use crate::error::ApiError;

/// Puts the summary in the customer's language: reward names, code values, and the
/// reasons the engine writes in the ledger ("order W1", "bonus for order number 3 W1",
/// "order W1 returned", "points expired"), in the words file's `reasons`.
fn localise(summary: &mut Value, locale: Locale, t: &Value) {
    if let Some(rewards) = summary["rewards"].as_array_mut() {
        for r in rewards {
            if let Some(name) = r["names"].get(locale.tag()).cloned() {
                r["name"] = name;
            }
        }
    }
    if let Some(coupons) = summary["coupons"].as_array_mut() {
        for c in coupons {
            engine_loyalty::localise_coupon(c, locale);
        }
    }
    let reasons = &t["reasons"];
    let said = |key: &str, pairs: &[(&str, &str)]| {
        reasons[key].as_str().map(|text| {
            pairs.iter().fold(text.to_string(), |acc, (k, v)| {
                acc.replace(&format!("{{{k}}}"), v)
            })
        })
    };
    if let Some(history) = summary["history"].as_array_mut() {
        for e in history {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            let words: Vec<&str> = reason.split(' ').collect();
            let written = match words.as_slice() {
                ["order", order] => said("order", &[("order", order)]),
                ["order", order, "returned"] => said("returned", &[("order", order)]),
                ["bonus", "for", "order", "number", n, _] => said("bonus", &[("n", n)]),
                ["points", "expired"] => said("expired", &[]),
                ["review", "written"] => said("review", &[]),
                ["survey", "answered"] => said("survey", &[]),
                _ => None,
            };
            if let Some(written) = written {
                e["reason"] = written.into();
            }
        }
    }
}

/// Which notice to show after a claim.
#[derive(Debug, Deserialize)]
pub struct Notice {
    claimed: Option<String>,
    refused: Option<String>,
    stale: Option<String>,
}

/// `GET /p/loyalty/{token}`.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let customer = match linked_customer(&app, &mut tx, Page::Loyalty, &token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(&app, e),
    };
    let config = app.engine.loyalty();
    let summary = engine_loyalty::summary(&mut tx, config, customer.id, now).await?;
    tx.commit().await?;
    let locale = super::common::language(&app, customer.record.locale);
    let formal = super::common::formal(&app, &customer.record);
    let t = super::common::words(&app, locale, formal, "loyalty");
    let (text, is_error) = if notice.claimed.is_some() {
        (t["claimed"].clone(), false)
    } else if notice.refused.is_some() {
        (t["refused"].clone(), true)
    } else if notice.stale.is_some() {
        (t["stale_form"].clone(), true)
    } else {
        (Value::Null, false)
    };
    let referral_value = config
        .pool(&config.referral.reward_pool)
        .map(|p| p.value().describe_in(locale))
        .unwrap_or_default();
    let greeting = app.engine.renderer().greeting(&customer.record);
    let mut summary = serde_json::to_value(&summary)
        .map_err(|e| ApiError::Internal(format!("loyalty summary: {e}")))?;
    localise(&mut summary, locale, &t);
    let nonce = String::from_utf8(aftercare_engine::worker::random_hex()).unwrap_or_default();
    let html = render(
        "loyalty.html",
        json!({
            "lang": locale.tag(),
            "formal": formal,
            "zone": customer.record.time_zone,
            "t": t,
            "brand": app.engine.renderer().brand_for(locale),
            "first_name": greeting.addressed_as,
            "s": summary,
            "token": token,
            "csrf": app.engine.links().csrf(&token),
            "nonce": nonce,
            "notice": text,
            "notice_error": is_error,
            "referral_value": referral_value,
        }),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// The claim form.
#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    csrf: String,
    reward: String,
    nonce: String,
}

/// `POST /p/loyalty/{token}/claim`: spend points on a reward, then back to the page.
pub async fn claim(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<ClaimForm>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let links = app.engine.links();
    let customer_id = match links.verify(Page::Loyalty, &token, now) {
        Ok(id) => CustomerId(id),
        Err(e) => return link_problem(&app, e),
    };
    let back = format!("/p/loyalty/{token}");
    let nonce_ok = form.nonce.len() == 64 && form.nonce.chars().all(|c| c.is_ascii_hexdigit());
    if !links.check_csrf(&token, &form.csrf) || !nonce_ok {
        return link_problem(&app, LinkError::Invalid);
    }
    let mut tx = app.store.begin().await?;
    let key = format!("page:{}", form.nonce);
    let outcome = engine_loyalty::claim_reward(
        &mut tx,
        app.engine.loyalty(),
        customer_id,
        &form.reward,
        &key,
        now,
    )
    .await?;
    let target = match outcome {
        Ok(_) => {
            tx.commit().await?;
            app.engine.wake();
            format!("{back}?claimed=1")
        }
        // The reward's name never goes into the address: the notice only needs the outcome.
        Err(_) => format!("{back}?refused=1"),
    };
    Ok(Redirect::to(&target).into_response())
}
