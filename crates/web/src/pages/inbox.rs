//! The customer's inbox on their branded page (issue 6, CH1): every message placed there by
//! the `portal` channel, and the emails they were sent, newest first, behind a signed link
//! (`links.inbox` in every message). A message opens as the customer received it — the
//! brand's layout, served with the pages' strict headers. A message of another customer,
//! or one not sent, is not found; a changed or expired link gets the friendly page.
//!
//! Requirements: CH1 (the portal as a channel beside email, post, SMS and push).

use aftercare_domain::{Channel, Locale, MessageState};
use aftercare_engine::links::Page;
use aftercare_store::{MessageFilter, Tx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::common::{link_problem, linked_customer, page, render};
use crate::AppState;
use crate::error::ApiError;

pub(crate) fn strings(locale: Locale) -> Value {
    if locale == Locale::En {
        json!({"title": "Your messages", "empty": "No messages yet. What we send you will be here too.",
               "portal": "In your inbox", "email": "By email", "missing": "This message is not in your inbox."})
    } else {
        json!({"title": "Jouw berichten", "empty": "Nog geen berichten. Wat we je sturen, staat hier ook.",
               "portal": "In je inbox", "email": "Per e-mail", "missing": "Dit bericht staat niet in je inbox."})
    }
}

/// The customer's messages that can be read here: sent, by portal or email, with content.
async fn readable(
    tx: &mut Tx,
    customer_id: i64,
) -> Result<Vec<aftercare_store::Message>, ApiError> {
    let sent = tx
        .messages(&MessageFilter {
            customer_id: Some(customer_id),
            state: Some(MessageState::Sent),
            limit: 100,
            ..Default::default()
        })
        .await?;
    Ok(sent
        .into_iter()
        .filter(|m| matches!(m.channel, Channel::Portal | Channel::Email))
        .filter(|m| m.body_html.as_deref().is_some_and(|h| !h.is_empty()))
        .collect())
}

/// `GET /p/inbox/{token}`: the list.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let customer = match linked_customer(&app, &mut tx, Page::Inbox, &token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(&app, e),
    };
    let messages = readable(&mut tx, customer.id).await?;
    tx.commit().await?;
    let locale = customer.record.locale;
    let formal = super::common::formal(&app, &customer.record);
    let items: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({"id": m.id, "subject": m.subject, "at": m.sent_at.unwrap_or(m.planned_at).to_string(),
                   "portal": m.channel == Channel::Portal})
        })
        .collect();
    let html = render(
        "inbox.html",
        json!({"lang": locale.tag(), "formal": formal, "zone": customer.record.time_zone.as_str(),
               "t": super::common::addressed(strings(locale), locale, formal),
               "brand": app.engine.renderer().brand(), "token": token, "messages": items}),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// `GET /p/inbox/{token}/{id}`: one message, as the customer received it.
pub async fn message(
    State(app): State<AppState>,
    Path((token, id)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let customer = match linked_customer(&app, &mut tx, Page::Inbox, &token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(&app, e),
    };
    let found = readable(&mut tx, customer.id)
        .await?
        .into_iter()
        .find(|m| m.id == id);
    tx.commit().await?;
    match found.and_then(|m| m.body_html) {
        Some(html) => Ok(page(StatusCode::OK, html)),
        None => {
            let locale = customer.record.locale;
            let formal = super::common::formal(&app, &customer.record);
            let html = render(
                "inbox.html",
                json!({"lang": locale.tag(), "formal": formal, "zone": customer.record.time_zone.as_str(),
                       "t": super::common::addressed(strings(locale), locale, formal),
                       "brand": app.engine.renderer().brand(), "token": token, "missing": true, "messages": []}),
            )?;
            Ok(page(StatusCode::NOT_FOUND, html))
        }
    }
}
