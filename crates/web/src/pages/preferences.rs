//! The preferences page (signed link from every message's footer and from the
//! unsubscribe page, no login): marketing email on or off, fewer messages (the policy then
//! halves the customer's yearly band), marketing by post (opt-out), delivery updates and
//! offers by SMS when the brand has an SMS provider and the customer a number, the channel
//! they prefer (CH2), and the birthday the surprise programme uses.
//! Changes are consents with source `preferences_page` and take effect at once, also for
//! queued messages; a forged form changes nothing.
//!
//! Requirements: FR1 (relevant, not annoying: the customer sets the pace), SU1 (birthday).

use aftercare_domain::{Channel, Consent, Purpose};
use aftercare_engine::links::Page;
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

/// Which notice to show.
#[derive(Debug, Deserialize)]
pub struct Notice {
    saved: Option<String>,
    error: Option<String>,
}

/// `GET /p/preferences/{token}`.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let customer = match linked_customer(&app, &mut tx, Page::Preferences, &token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(&app, e),
    };
    tx.commit().await?;
    let r = &customer.record;
    let locale = super::common::language(&app, r.locale);
    let formal = super::common::formal(&app, r);
    let t = super::common::words(&app, locale, formal, "preferences");
    let (text, error) = if notice.saved.is_some() {
        (t["saved"].clone(), false)
    } else if notice.error.as_deref() == Some("preferred_channel") {
        (t["bad_channel"].clone(), true)
    } else if notice.error.is_some() {
        (t["bad_date"].clone(), true)
    } else {
        (Value::Null, false)
    };
    let html = render(
        "preferences.html",
        json!({
            "lang": locale.tag(), "formal": formal, "t": t, "brand": app.engine.renderer().brand_for(locale), "token": token,
            "csrf": app.engine.links().csrf(&token),
            "marketing": r.consent(Purpose::Marketing, Channel::Email).is_some_and(|c| c.granted),
            "fewer": r.attributes.get("contact_frequency").and_then(|f| f.as_str()) == Some("fewer"),
            // Post is opt-out: on unless the customer said no.
            "marketing_letter": r.consent(Purpose::Marketing, Channel::Letter).is_none_or(|c| c.granted),
            "preferred": r.attributes.get("preferred_channel").and_then(|f| f.as_str()).unwrap_or(""),
            // SMS, when the brand has a provider and the customer a number (CH1, CH2):
            // service texts unless turned off, marketing texts only when asked for.
            "sms_phone": sms_offered(&app, r).then(|| r.phone.as_ref().map(|p| p.as_str())),
            "service_sms": r.consent(Purpose::Service, Channel::Sms).is_none_or(|c| c.granted),
            "marketing_sms": r.consent(Purpose::Marketing, Channel::Sms).is_some_and(|c| c.granted),
            "birth_date": r.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            "notice": text, "notice_error": error,
            // The customer's inbox, for as long as this page's link would last (30 days).
            "inbox": format!("/p/inbox/{}", app.engine.links().token(
                Page::Inbox,
                customer.id,
                app.clock.now() + jiff::SignedDuration::from_hours(24 * 30),
            )),
        }),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// Whether the page offers SMS: the brand has an SMS provider and the customer a number.
fn sms_offered(app: &AppState, customer: &aftercare_domain::CustomerRecord) -> bool {
    app.engine.channels().sms.is_some() && customer.phone.is_some()
}

/// The form.
#[derive(Debug, Deserialize)]
pub struct PreferencesForm {
    csrf: String,
    marketing_email: Option<String>,
    marketing_letter: Option<String>,
    service_sms: Option<String>,
    marketing_sms: Option<String>,
    preferred_channel: Option<String>,
    frequency: Option<String>,
    birth_date: Option<String>,
}

/// `POST /p/preferences/{token}`: save, then back to the page.
pub async fn save(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<PreferencesForm>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let links = app.engine.links();
    let customer_id = match links.verify(Page::Preferences, &token, now) {
        Ok(id) => CustomerId(id),
        Err(e) => return link_problem(&app, e),
    };
    if !links.check_csrf(&token, &form.csrf) {
        // A forged form: the friendly page for a link that does not work (403).
        return link_problem(&app, aftercare_engine::links::LinkError::Invalid);
    }
    let back = format!("/p/preferences/{token}");
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let birth_date = match form.birth_date.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => match s.parse::<jiff::civil::Date>() {
            Ok(d) if d < today && d.year() >= 1900 => Some(d),
            _ => return Ok(Redirect::to(&format!("{back}?error=birth_date")).into_response()),
        },
    };
    // CH2: the channel the customer prefers, one of the offered ones.
    let preferred = match form.preferred_channel.as_deref().unwrap_or("") {
        "" => None,
        c @ ("email" | "letter" | "sms") => Some(c.to_string()),
        _ => {
            return Ok(Redirect::to(&format!("{back}?error=preferred_channel")).into_response());
        }
    };
    let mut tx = app.store.begin().await?;
    let mut customer = tx.customer(customer_id).await?;
    let record = &mut customer.record;
    if preferred.as_deref() == Some("sms") && !sms_offered(&app, record) {
        return Ok(Redirect::to(&format!("{back}?error=preferred_channel")).into_response());
    }
    // Email and marketing texts are opt-in, post and service texts opt-out: each change is
    // recorded as a consent with its source. SMS only when the page offered it.
    let granted = |purpose, channel, opt_out: bool| {
        record
            .consent(purpose, channel)
            .map_or(opt_out, |c| c.granted)
    };
    let mut choices = vec![
        (
            Purpose::Marketing,
            Channel::Email,
            form.marketing_email.is_some(),
            granted(Purpose::Marketing, Channel::Email, false),
        ),
        (
            Purpose::Marketing,
            Channel::Letter,
            form.marketing_letter.is_some(),
            granted(Purpose::Marketing, Channel::Letter, true),
        ),
    ];
    if sms_offered(&app, record) {
        choices.push((
            Purpose::Service,
            Channel::Sms,
            form.service_sms.is_some(),
            granted(Purpose::Service, Channel::Sms, true),
        ));
        choices.push((
            Purpose::Marketing,
            Channel::Sms,
            form.marketing_sms.is_some(),
            granted(Purpose::Marketing, Channel::Sms, false),
        ));
    }
    let mut changed = Vec::new();
    for (purpose, channel, wanted, current) in choices {
        if wanted != current {
            changed.push(Consent {
                purpose,
                channel,
                granted: wanted,
                source: "preferences_page".into(),
                at: now,
            });
        }
    }
    record.consents.extend(changed.iter().cloned());
    match preferred {
        Some(c) => {
            record
                .attributes
                .insert("preferred_channel".into(), json!(c));
        }
        None => {
            record.attributes.remove("preferred_channel");
        }
    }
    let fewer = form.frequency.as_deref() == Some("fewer");
    if fewer {
        record
            .attributes
            .insert("contact_frequency".into(), json!("fewer"));
    } else {
        record.attributes.remove("contact_frequency");
    }
    if birth_date.is_some() {
        record.birth_date = birth_date;
    }
    tx.update_customer_record(customer.id, &customer.record, now)
        .await?;
    aftercare_engine::privacy::tell_shop(
        &mut tx,
        app.engine.consent_webhook(),
        &customer.record,
        &changed,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}
