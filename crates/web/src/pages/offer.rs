//! The retention offer's page (RT1): the mail sent at a cancellation links here with a
//! signed link that lasts as long as the offer; the page shows the offer in the customer's
//! language and address form, and one button accepts it. Accepting happens once
//! ([`aftercare_engine::retention::accept`]): a second click, a replayed form or a lapsed
//! offer changes nothing. The shop hears of it by the `[retention] webhook`.

use aftercare_domain::retention::RetentionOffer;
use aftercare_engine::links::Page;
use aftercare_engine::retention::Acceptance;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::common::{link_problem, page, render};
use crate::AppState;
use crate::error::ApiError;
use aftercare_store::OfferState;

/// `GET /p/offer/{token}`: the offer, with its accept button, or what became of it.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let id = match app.engine.links().verify(Page::Offer, &token, now) {
        Ok(id) => id,
        Err(e) => return link_problem(&app, e),
    };
    let mut tx = app.store.begin_read().await?;
    let offer = match tx.retention_offer(id).await {
        Ok(o) => o,
        Err(aftercare_store::StoreError::NotFound(_)) => {
            return link_problem(&app, aftercare_engine::links::LinkError::Invalid);
        }
        Err(e) => return Err(e.into()),
    };
    let record = tx.customer(offer.customer_id).await?.record;
    tx.commit().await?;
    let locale = super::common::language(&app, record.locale);
    let formal = super::common::formal(&app, &record);
    let text = |key: &str| {
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_value(offer.terms[key].clone()).unwrap_or_default();
        RetentionOffer::text(&map, locale).to_string()
    };
    let last_day = offer
        .valid_until
        .to_zoned_datetime(record.time_zone.zone())
        .date();
    let state = if offer.state == OfferState::Accepted {
        "accepted"
    } else if offer.valid_until < now {
        "lapsed"
    } else {
        "open"
    };
    let html = render(
        "offer.html",
        json!({"lang": locale.tag(), "formal": formal,
               "t": super::common::words(&app, locale, formal, "offer"),
               "brand": app.engine.renderer().brand_for(locale),
               "token": token, "csrf": app.engine.links().csrf(&token),
               "state": state, "title": text("title"), "description": text("description"),
               "last_day": aftercare_domain::commerce::format_date(last_day, locale)}),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// The accept form.
#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    csrf: String,
}

/// `POST /p/offer/{token}`: accept the offer (once), then show what became of it.
pub async fn accept(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let id = match app.engine.links().verify(Page::Offer, &token, now) {
        Ok(id) => id,
        Err(e) => return link_problem(&app, e),
    };
    let back = format!("/p/offer/{token}");
    if !app.engine.links().check_csrf(&token, &form.csrf) {
        // A stale or forged form: show the offer again, nothing accepted.
        return Ok(Redirect::to(&back).into_response());
    }
    let mut tx = app.store.begin().await?;
    let outcome = match app.engine.accept_retention_offer(&mut tx, id, now).await {
        Ok(outcome) => outcome,
        Err(aftercare_engine::ingest::IngestError::Store(
            aftercare_store::StoreError::NotFound(_),
        )) => {
            return link_problem(&app, aftercare_engine::links::LinkError::Invalid);
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    if outcome == Acceptance::Accepted {
        app.engine.wake();
    }
    Ok(Redirect::to(&back).into_response())
}
