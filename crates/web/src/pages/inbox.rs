//! The customer's inbox on their branded page (issue 6, CH1): every message placed there by
//! the `portal` channel, and the emails they were sent, newest first, behind a signed link
//! (`links.inbox` in every message). A message opens as the customer received it — the
//! brand's layout, served with the pages' strict headers. A message of another customer,
//! or one not sent, is not found; a changed or expired link gets the friendly page.
//!
//! Requirements: CH1 (the portal as a channel beside email, post, SMS and push).

use aftercare_domain::{Channel, MessageState};
use aftercare_engine::links::Page;
use aftercare_store::MessageId;
use aftercare_store::{MessageFilter, StoreError, StoredCustomer};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::common::{link_problem, linked_customer, page, render};
use crate::AppState;
use crate::error::ApiError;

/// Whether the customer can read `m` here: sent, by portal or email, with content.
fn readable(m: &aftercare_store::Message) -> bool {
    m.state == MessageState::Sent
        && matches!(m.channel, Channel::Portal | Channel::Email)
        && m.body_html.as_deref().is_some_and(|h| !h.is_empty())
}

/// The inbox page: the list of `messages`, or the notice that the asked-for one is `missing`.
fn inbox_page(
    app: &AppState,
    customer: &StoredCustomer,
    token: &str,
    messages: &[aftercare_store::Message],
    missing: bool,
) -> Result<Response, ApiError> {
    let locale = super::common::language(app, customer.record.locale);
    let formal = super::common::formal(app, &customer.record);
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
               "t": super::common::words(app, locale, formal, "inbox"),
               "brand": app.engine.renderer().brand_for(locale), "token": token, "messages": items,
               "missing": missing}),
    )?;
    let status = if missing {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok(page(status, html))
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
    let sent = tx
        .messages(&MessageFilter {
            customer_id: Some(customer.id),
            state: Some(MessageState::Sent),
            limit: 100,
            ..Default::default()
        })
        .await?;
    tx.commit().await?;
    let messages: Vec<_> = sent.into_iter().filter(readable).collect();
    inbox_page(&app, &customer, &token, &messages, false)
}

/// `GET /p/inbox/{token}/{id}`: one message, as the customer received it.
pub async fn message(
    State(app): State<AppState>,
    Path((token, id)): Path<(String, MessageId)>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let customer = match linked_customer(&app, &mut tx, Page::Inbox, &token).await? {
        Ok(c) => c,
        Err(e) => return link_problem(&app, e),
    };
    let found = match tx.message(id).await {
        Ok(m) if m.customer_id == customer.id && readable(&m) => m.body_html,
        Ok(_) | Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    match found {
        Some(html) => Ok(page(StatusCode::OK, html)),
        None => inbox_page(&app, &customer, &token, &[], true),
    }
}
