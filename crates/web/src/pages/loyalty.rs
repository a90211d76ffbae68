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
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{link_problem, linked_customer, page, render};
use crate::AppState;
use crate::error::ApiError;

/// The page's words per language; `{n}`, `{tier}` and `{value}` are filled in.
pub(crate) fn strings(locale: Locale) -> Value {
    match locale {
        Locale::En => json!({
            "title": "Your points", "hello": "Hello", "hello_formal": "Hello", "balance": "Your balance", "points": "points",
            "expiring": "{n} points expire within 30 days: use them in time.",
            "tier_is": "Your level: {tier}.", "no_tier": "You have not reached a level yet.",
            "to_next": "{n} more points to {tier}", "rewards": "Rewards", "claim": "Claim",
            "coupons": "Your codes", "used": "used", "valid_until": "valid until",
            "refer": "Give {value}, get {value}", "refer_text": "Share your link: your friend gets {value} off the first order, and so do you once it is in.",
            "your_link": "Your personal link", "your_code": "Or your code:",
            "share_subject": "A discount for you", "share_text": "A discount on your first order:",
            "share_email": "Share by email", "share_whatsapp": "Share on WhatsApp",
            "referred": "You brought {n} friend(s) so far. Thank you!",
            "history": "History", "date": "Date", "what": "What", "no_history": "Nothing yet: your first order earns points.",
            "contact": "Questions?", "claimed": "Done! Your reward is waiting for you.",
            "refused": "This reward is not available to you (yet): you need more points or a higher level.",
            "stale_form": "This page was open too long. Please try again."
        }),
        Locale::NlNl | Locale::NlBe => {
            let mut t = json!({
                "title": "Jouw punten", "hello": "Hallo", "hello_formal": "Goedendag", "balance": "Jouw saldo", "points": "punten",
                "expiring": "{n} punten vervallen binnen 30 dagen: gebruik ze op tijd.",
                "tier_is": "Jouw niveau: {tier}.", "no_tier": "Je hebt nog geen niveau bereikt.",
                "to_next": "Nog {n} punten tot {tier}", "rewards": "Beloningen", "claim": "Inwisselen",
                "coupons": "Jouw codes", "used": "gebruikt", "valid_until": "geldig tot",
                "refer": "Geef {value}, krijg {value}", "refer_text": "Deel je link: je vriend(in) krijgt {value} korting op de eerste bestelling, en jij ook zodra die binnen is.",
                "your_link": "Jouw persoonlijke link", "your_code": "Of jouw code:",
                "share_subject": "Korting voor jou", "share_text": "Korting op je eerste bestelling:",
                "share_email": "Delen via e-mail", "share_whatsapp": "Delen via WhatsApp",
                "referred": "Je bracht al {n} vriend(en) aan. Bedankt!",
                "history": "Geschiedenis", "date": "Datum", "what": "Wat", "no_history": "Nog niets: je eerste bestelling levert punten op.",
                "contact": "Vragen?", "claimed": "Gelukt! Je beloning staat klaar.",
                "refused": "Deze beloning is (nog) niet voor jou: je hebt meer punten of een hoger niveau nodig.",
                "stale_form": "Deze pagina stond te lang open. Probeer het opnieuw."
            });
            if locale == Locale::NlBe {
                t["referred"] = "Je bracht al {n} vriend(en) aan. Merci!".into();
                t["stale_form"] = "Deze pagina stond te lang open. Probeer het nog eens.".into();
            }
            t
        }
    }
}

/// Puts the summary in the customer's language: reward names, code values, and the
/// reasons the engine writes in the ledger ("order W1", "bonus for order number 3 W1",
/// "order W1 returned", "points expired").
fn localise(summary: &mut Value, locale: Locale) {
    let english = locale == Locale::En;
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
    if english {
        return;
    }
    if let Some(history) = summary["history"].as_array_mut() {
        for e in history {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            let words: Vec<&str> = reason.split(' ').collect();
            let dutch = match words.as_slice() {
                ["order", order] => format!("Bestelling {order}"),
                ["order", order, "returned"] => format!("Bestelling {order} retour"),
                ["bonus", "for", "order", "number", n, _] => {
                    format!("Bonus voor je {n}e bestelling")
                }
                ["points", "expired"] => "Punten vervallen".to_string(),
                ["review", "written"] => "Review geschreven".to_string(),
                ["survey", "answered"] => "Vragenlijst ingevuld".to_string(),
                _ => continue,
            };
            e["reason"] = dutch.into();
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
    let locale = customer.record.locale;
    let formal = super::common::formal(&app, &customer.record);
    let t = super::common::addressed(strings(locale), locale, formal);
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
    localise(&mut summary, locale);
    let summary = super::common::addressed(summary, locale, formal);
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
        Ok(id) => id,
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
