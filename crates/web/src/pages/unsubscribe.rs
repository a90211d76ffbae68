//! One-click unsubscribe (RFC 8058) from every non-transactional email: the message's
//! `List-Unsubscribe` header and footer link point at `/u/{token}`, a signed link to the
//! customer. A mailbox provider's `POST` (body `List-Unsubscribe=One-Click`) withdraws the
//! customer's marketing email consent at once, also for messages already queued (consent is
//! checked again when a message is due). A `GET` — which link scanners also do — only shows
//! a confirmation page whose button posts; it never unsubscribes by itself. Repeating the
//! post changes nothing more.
//!
//! Requirements: FR1 (relevant, not annoying: stopping is one click), PP1–PP4 (service
//! messages continue).

use aftercare_domain::{Channel, Consent, Purpose};
use aftercare_engine::links::Page;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::common::{link_problem, linked_customer, page, render};
use crate::AppState;
use crate::error::ApiError;

async fn view(app: &AppState, token: &str, done: bool) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let mut customer = match linked_customer(app, &mut tx, Page::Unsubscribe, token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(app, e),
    };
    let customer_id = customer.id;
    if done {
        let already = customer
            .record
            .consent(Purpose::Marketing, Channel::Email)
            .is_some_and(|c| !c.granted);
        if !already {
            let consent = Consent {
                purpose: Purpose::Marketing,
                channel: Channel::Email,
                granted: false,
                source: "list_unsubscribe".into(),
                at: now,
            };
            customer.record.consents.push(consent.clone());
            tx.update_customer_record(customer.id, &customer.record, now)
                .await?;
            aftercare_engine::privacy::tell_shop(
                &mut tx,
                app.engine.consent_webhook(),
                &customer.record,
                &[consent],
                now,
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!(
            customer_id = customer_id.0,
            "Unsubscribed from marketing email."
        );
    }
    let locale = super::common::language(app, customer.record.locale);
    let formal = super::common::formal(app, &customer.record);
    let email = customer
        .record
        .email
        .as_ref()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    let preferences = app.engine.links().token(
        Page::Preferences,
        customer_id,
        app.clock.now() + jiff::SignedDuration::from_hours(24 * 30),
    );
    let html = render(
        "unsubscribe.html",
        json!({"lang": locale.tag(), "formal": formal,
               "t": super::common::words(app, locale, formal, "unsubscribe"), "brand": app.engine.renderer().brand_for(locale),
               "token": token, "email": email, "done": done,
               "preferences": format!("/p/preferences/{preferences}")}),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// `GET /u/{token}`: the confirmation page.
pub async fn confirm(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    view(&app, &token, false).await
}

/// `POST /u/{token}`: unsubscribe (one click from the mailbox, or the page's button).
pub async fn unsubscribe(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    view(&app, &token, true).await
}
