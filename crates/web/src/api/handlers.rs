//! The API's handlers: parse, call the engine's ingest inside one transaction, answer.

use aftercare_domain::{
    CancellationRecord, Consent, CustomerRecord, EventRecord, ExternalId, MessageState,
    OrderRecord, ProductRecord, ShipmentEventRecord,
};
use aftercare_engine::ingest;
use aftercare_store::MessageId;
use aftercare_store::{Message, MessageFilter};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::answers::*;
use super::extract::{ApiPath, ApiQuery, Caller, JsonBody, RawJson, page_limit};
use crate::error::ApiError;
use crate::{AppState, idempotent_write};

type ApiResult = Result<Response, ApiError>;

fn created(is_new: bool) -> StatusCode {
    if is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Insert or replace a customer by `external_id`.
#[utoipa::path(post, path = "/v1/customers", request_body = CustomerRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "Created", body = Upserted), (status = 200, description = "Replaced", body = Upserted)),
    security(("bearer" = [])))]
pub async fn upsert_customer(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<CustomerRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/customers",
        body.raw,
        |tx, now| {
            let (_, is_new) = ingest::upsert_customer(tx, &body.value, now).await?;
            (
                created(is_new),
                answer(Upserted {
                    external_id: body.value.external_id.to_string(),
                    created: is_new,
                }),
            )
        }
    )
}

/// Insert or replace a product by `sku`.
#[utoipa::path(post, path = "/v1/products", request_body = ProductRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 200, description = "Stored", body = ProductStored)),
    security(("bearer" = [])))]
pub async fn upsert_product(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<ProductRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/products",
        body.raw,
        |tx, now| {
            ingest::upsert_product(tx, &body.value, now).await?;
            (
                StatusCode::OK,
                answer(ProductStored {
                    sku: body.value.sku.to_string(),
                }),
            )
        }
    )
}

/// Create an order; it triggers `order_placed`. A known order number changes nothing.
#[utoipa::path(post, path = "/v1/orders", request_body = OrderRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "Created", body = OrderStored), (status = 200, description = "Already known", body = OrderStored)),
    security(("bearer" = [])))]
pub async fn create_order(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<OrderRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/orders",
        body.raw,
        |tx, now| {
            let (_, is_new) = ingest::create_order(tx, &body.value, now).await?;
            (
                created(is_new),
                answer(OrderStored {
                    external_id: body.value.external_id.to_string(),
                    created: is_new,
                    total_cents: body.value.total_cents(),
                }),
            )
        }
    )
}

/// Insert or replace a customer's contract by its number (RE1, RT1). The calendar announces
/// a running contract's end as `contract_ending` 60 days ahead; a cancelled one is not.
#[utoipa::path(post, path = "/v1/contracts", request_body = aftercare_domain::ContractRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "Created", body = Upserted), (status = 200, description = "Replaced", body = Upserted)),
    security(("bearer" = [])))]
pub async fn upsert_contract(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<aftercare_domain::ContractRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/contracts",
        body.raw,
        |tx, now| {
            let is_new = ingest::upsert_contract(tx, &body.value, now).await?;
            (
                created(is_new),
                answer(Upserted {
                    external_id: body.value.external_id.to_string(),
                    created: is_new,
                }),
            )
        }
    )
}

/// Record a carrier status event for a shipment (PX1).
#[utoipa::path(post, path = "/v1/shipment-events", request_body = ShipmentEventRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "Recorded", body = ShipmentEventStored), (status = 200, description = "Seen before", body = ShipmentEventStored)),
    security(("bearer" = [])))]
pub async fn post_shipment_event(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<ShipmentEventRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/shipment-events",
        body.raw,
        |tx, now| {
            let is_new = ingest::record_shipment_event(tx, &body.value, now).await?;
            (
                created(is_new),
                answer(ShipmentEventStored {
                    shipment_id: body.value.shipment_id.to_string(),
                    recorded: is_new,
                }),
            )
        }
    )
}

/// A batch of generic events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// 1 to 1,000 events; stored all or none.
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<EventRecord>,
}

/// Post up to 1,000 events at once; all are stored or none. For remarketing on behaviour
/// (CH3): `product_viewed` with `properties.sku` naming a product of the catalogue, and
/// `checkout_started` with `checkout`, `lines` (`sku`, `name`, `quantity`, `price_cents`),
/// `total_cents`, `currency` and `url` back to the cart.
#[utoipa::path(post, path = "/v1/events", request_body = EventBatch,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 202, description = "Accepted", body = EventsAccepted)),
    security(("bearer" = [])))]
pub async fn post_events(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<EventBatch>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/events",
        body.raw,
        |tx, now| {
            let accepted = ingest::record_events(tx, &body.value.events, now).await?;
            let duplicates = body.value.events.len() - accepted;
            (
                StatusCode::ACCEPTED,
                answer(EventsAccepted {
                    accepted,
                    duplicates,
                }),
            )
        }
    )
}

/// Record a consent decision for a customer — e.g. an unsubscribe. It takes effect at once,
/// also for messages already queued: consent is checked again when a message is due.
#[utoipa::path(post, path = "/v1/customers/{external_id}/consents", request_body = Consent,
    params(("external_id" = ExternalId, Path, description = "The brand's customer id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 200, description = "Recorded", body = ConsentRecorded)),
    security(("bearer" = [])))]
pub async fn post_consent(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
    body: JsonBody<Consent>,
) -> ApiResult {
    // The key is scoped by the real path: the same key for two customers is two requests.
    let route = format!("POST /v1/customers/{external_id}/consents");
    idempotent_write!(app, headers, caller, &route, body.raw, |tx, now| {
        let consent = &body.value;
        consent.validate()?;
        if consent.at > now {
            return Err(
                aftercare_domain::FieldError::new("at", "must not be in the future").into(),
            );
        }
        let mut customer = tx
            .customer_by_external_id(external_id.as_str())
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("no customer with external_id '{external_id}'"))
            })?;
        customer.record.consents.push(consent.clone());
        tx.update_customer_record(customer.id, &customer.record, now)
            .await?;
        let current = customer
            .record
            .consent(consent.purpose, consent.channel)
            .map(|c| c.granted);
        (
            StatusCode::OK,
            answer(ConsentRecorded {
                external_id: external_id.to_string(),
                purpose: consent.purpose,
                channel: consent.channel,
                granted: current,
            }),
        )
    })
}

/// Record a cancellation request and answer with the retention offer at once (RT1).
#[utoipa::path(post, path = "/v1/cancellations", request_body = CancellationRecord,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, description = "Recorded; `offers` holds what the customer is offered now", body = CancellationAnswer)),
    security(("bearer" = [])))]
pub async fn post_cancellation(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody<CancellationRecord>,
) -> ApiResult {
    idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/cancellations",
        body.raw,
        |tx, now| {
            let c = &body.value;
            let aftercare_engine::retention::RecordedCancellation {
                customer,
                offer: made,
                properties: event,
            } = aftercare_engine::retention::record_cancellation(
                tx,
                app.engine.retention(),
                c,
                now,
            )
            .await?;
            let offers: Vec<Offer> = app
                .engine
                .immediate_messages(tx, "cancellation_requested", &customer, &event, now)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .into_iter()
                .map(|(programme, template, r)| Offer {
                    programme: programme.to_string(),
                    template: template.to_string(),
                    subject: r.subject,
                    text: r.text,
                    html: r.html,
                })
                .collect();
            let retention_offer = made.map(|m| {
                let locale = customer.record.locale;
                RetentionOfferAnswer {
                    id: m.id,
                    offer: m.offer.id.clone(),
                    kind: m.offer.kind,
                    title: aftercare_domain::retention::RetentionOffer::text(
                        &m.offer.title,
                        locale,
                    )
                    .to_string(),
                    description: aftercare_domain::retention::RetentionOffer::text(
                        &m.offer.description,
                        locale,
                    )
                    .to_string(),
                    terms: m.offer.terms(),
                    valid_until: m.valid_until.to_string(),
                    accept_url: app.engine.links().url(
                        aftercare_engine::links::Page::Offer,
                        m.id,
                        m.valid_until,
                    ),
                }
            });
            (
                StatusCode::CREATED,
                answer(CancellationAnswer {
                    customer_external_id: c.customer_external_id.to_string(),
                    retention_offer,
                    offers,
                }),
            )
        }
    )
}

/// One entry of a customer's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// `event` or `message`.
    pub kind: &'static str,
    /// When.
    pub at: String,
    /// Event type or message template.
    pub what: String,
    /// Message state and reason, or event properties.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// How many of a customer's latest orders, events and messages one read returns.
const CUSTOMER_READ_ITEMS: i64 = 50;

/// A customer with orders, timeline and messages.
#[utoipa::path(get, path = "/v1/customers/{external_id}",
    params(("external_id" = ExternalId, Path, description = "The brand's customer id")),
    responses((status = 200, description = "The customer", body = CustomerRead)),
    security(("bearer" = [])))]
pub async fn get_customer(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(external_id): ApiPath<aftercare_domain::ExternalId>,
) -> ApiResult {
    let mut tx = app.store.begin_read().await?;
    let customer = tx
        .customer_by_external_id(external_id.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("no customer with external_id '{external_id}'"))
        })?;
    // The latest of each, so one read stays small (issue 19); every message in full is at
    // `GET /v1/messages/{id}`, and all of a customer's messages page through
    // `GET /v1/messages?customer=…`.
    let orders = tx
        .orders_of_customer(customer.id, CUSTOMER_READ_ITEMS)
        .await?;
    let events = tx
        .events_of_customer(customer.id, CUSTOMER_READ_ITEMS)
        .await?;
    let messages: Vec<Message> = tx
        .messages(&MessageFilter {
            customer_id: Some(customer.id),
            limit: CUSTOMER_READ_ITEMS,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(Message::without_bodies)
        .collect();
    // Each message's decisions, oldest first: "held back: quiet hours…", then "sent".
    let mut histories = Vec::with_capacity(messages.len());
    for m in &messages {
        let mut history = Vec::new();
        for t in tx.message_transitions(m.id).await? {
            history.push(json!({"state": t.to_state, "code": t.code, "reason": t.reason, "at": t.at.to_string()}));
        }
        histories.push(history);
    }
    tx.commit().await?;
    let greeting = app.engine.renderer().greeting(&customer.record);
    let mut timeline: Vec<(i64, TimelineEntry)> = Vec::new();
    for e in &events {
        let at = e.occurred_at;
        timeline.push((
            at.as_microsecond(),
            TimelineEntry {
                kind: "event",
                at: at.to_string(),
                what: e.event_type.clone(),
                detail: e.properties_json()?,
            },
        ));
    }
    for (m, history) in messages.iter().zip(histories) {
        let at = m.sent_at.unwrap_or(m.planned_at);
        timeline.push((at.as_microsecond(), TimelineEntry {
            kind: "message",
            at: at.to_string(),
            what: m.template.clone(),
            detail: json!({"id": m.id, "state": m.state, "reason": m.reason, "subject": m.subject, "history": history}),
        }));
    }
    timeline.sort_by_key(|t| std::cmp::Reverse(t.0));
    let answer = CustomerRead {
        customer: answer(&customer),
        greeting: greeting.line,
        orders: answer(&orders),
        timeline: timeline.into_iter().map(|(_, t)| t).collect(),
        messages,
    };
    Ok(Json(answer).into_response())
}

/// Filters for listing messages.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only this state.
    #[param(inline, value_type = Option<MessageState>)]
    pub state: Option<String>,
    /// Only this customer (external id).
    #[param(value_type = Option<ExternalId>)]
    pub customer: Option<String>,
    /// Only messages with a lower id (paging: the last id of the page before).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// List messages, newest first.
#[utoipa::path(get, path = "/v1/messages", params(MessageQuery),
    responses((status = 200, description = "Messages", body = MessageList)),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(app): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<MessageQuery>,
) -> ApiResult {
    let state = match query.state.as_deref() {
        None => None,
        Some(s) => Some(
            MessageState::parse(s).ok_or_else(|| ApiError::BadParameter {
                field: "state".into(),
                reason: format!("'{s}' is not one of planned, sending, sent, blocked, failed"),
            })?,
        ),
    };
    let limit = page_limit(query.limit)?;
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::BadParameter {
            field: "before".into(),
            reason: "must be a message id, 1 or more".into(),
        });
    }
    let mut tx = app.store.begin_read().await?;
    let customer_id = match &query.customer {
        None => None,
        Some(ext) => Some(
            tx.customer_by_external_id(ext)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no customer with external_id '{ext}'")))?
                .id,
        ),
    };
    let messages = tx
        .messages(&MessageFilter {
            customer_id,
            state,
            before_id: query.before,
            limit,
            ..Default::default()
        })
        .await?;
    tx.commit().await?;
    let messages: Vec<Message> = messages.into_iter().map(Message::without_bodies).collect();
    Ok(Json(MessageList { messages }).into_response())
}

/// One message with every state change and its reason.
#[utoipa::path(get, path = "/v1/messages/{id}",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, description = "The message", body = MessageRead)),
    security(("bearer" = [])))]
pub async fn get_message(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let id = id
        .parse()
        .map(MessageId)
        .map_err(|_| ApiError::NotFound(format!("no message with id '{id}'")))?;
    let mut tx = app.store.begin_read().await?;
    let message = tx.message(id).await?;
    let transitions = tx.message_transitions(id).await?;
    let clicks: Vec<LinkClicks> = tx
        .link_clicks(id)
        .await?
        .into_iter()
        .map(|(url, clicks)| LinkClicks { url, clicks })
        .collect();
    let opens = tx.opens(id).await?;
    tx.commit().await?;
    Ok(Json(MessageRead {
        message,
        transitions: answer(&transitions),
        clicks,
        opens,
    })
    .into_response())
}

/// Jobs set aside after failing too often (dead letters), newest first, with the last error.
#[utoipa::path(get, path = "/v1/dead-jobs",
    responses((status = 200, description = "Dead jobs", body = DeadJobs)),
    security(("bearer" = [])))]
pub async fn list_dead_jobs(State(app): State<AppState>, _caller: Caller) -> ApiResult {
    let mut tx = app.store.begin_read().await?;
    let jobs = tx.dead_jobs(500).await?;
    tx.commit().await?;
    let dead_jobs: Vec<DeadJob> = jobs
        .into_iter()
        .map(|j| DeadJob {
            dead_since: j.dead_at.map(|t| t.to_string()),
            id: j.id.into(),
            kind: j.kind,
            ref_id: j.ref_id,
            attempts: j.attempts.into(),
            last_error: j.last_error,
        })
        .collect();
    Ok(Json(DeadJobs { dead_jobs }).into_response())
}

/// Put a dead job back in the queue at once, its attempts reset (after fixing the cause).
#[utoipa::path(post, path = "/v1/dead-jobs/{id}/retry",
    params(("id" = i64, Path, description = "The dead job's id")),
    responses((status = 202, description = "Queued again", body = Requeued)),
    security(("bearer" = [])))]
pub async fn retry_dead_job(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    if !tx.revive_job(aftercare_store::JobId(id), now).await? {
        return Err(ApiError::NotFound(format!("no dead job with id {id}")));
    }
    tx.commit().await?;
    app.engine.wake();
    Ok((StatusCode::ACCEPTED, Json(Requeued { id, queued: true })).into_response())
}

/// Feedback from the mail provider, mapped onto `bounce` and `complaint` items.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBatch {
    /// The items.
    pub events: Vec<aftercare_engine::feedback::Feedback>,
}

/// The mail provider's bounces and complaints (issue 6). Signed, not bearer-authenticated:
/// `Aftercare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with
/// `email_feedback_secret`, at most five minutes old. A permanent bounce suppresses the
/// address; a complaint withdraws marketing email consent at once; a soft bounce changes
/// nothing. A bad signature or a bad item changes nothing.
#[utoipa::path(post, path = "/v1/email-feedback", request_body = FeedbackBatch,
    responses((status = 200, description = "Applied", body = serde_json::Value)))]
pub async fn post_email_feedback(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: RawJson,
) -> ApiResult {
    let now = app.clock.now();
    // The signature first: an unsigned body costs no parsing.
    check_feedback_signature(&app, &headers, &body.raw, now)?;
    let batch: FeedbackBatch = super::extract::parse_json(&body.raw)?;
    apply_feedback(&app, &batch.events, now).await
}

/// A bounce mail (an RFC 3464 delivery status notification) as the mail server received it,
/// forwarded by the brand's inbound mail hook; signed like `/v1/email-feedback`. Each failed
/// recipient is a bounce (permanent for a 5.x.x status), applied the same way.
#[utoipa::path(post, path = "/v1/email-feedback/dsn", request_body(content = String, content_type = "message/rfc822"),
    responses((status = 200, description = "Applied", body = serde_json::Value)))]
pub async fn post_bounce_mail(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let now = app.clock.now();
    check_feedback_signature(&app, &headers, &body, now)?;
    let items = aftercare_engine::feedback::from_dsn(&body, now)?;
    apply_feedback(&app, &items, now).await
}

/// What an SMS or push provider reports about a message it took.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelStatus {
    /// The message's id as posted to the provider (its `Message-ID`, `msg-<n>@<domain>`).
    #[schema(max_length = 255, format = "required-line")]
    pub id: String,
    /// `delivered` or `failed`.
    #[schema(value_type = String, example = "delivered", pattern = "^(delivered|failed)$")]
    pub status: aftercare_engine::worker::ReceiptStatus,
    /// The provider's own words, e.g. "absent subscriber".
    #[serde(default)]
    #[schema(max_length = 1000, format = "text")]
    pub detail: String,
    /// For `failed`: the number (or app) will never be reachable, e.g. it does not exist.
    /// A permanently failed SMS number gets no more SMS until it changes.
    #[serde(default)]
    pub permanent: bool,
}

/// Delivery status from the SMS or push provider (issue 6), for a message Aftercare posted
/// to it. Signed like Aftercare's own calls: `Aftercare-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<body>">` with the secret of the provider's `[webhooks]` target, at
/// most five minutes old. `delivered` is noted on the message's timeline; `failed` fails
/// the message (it no longer counts as a contact). A repeated or late report changes
/// nothing; a bad signature or body changes nothing.
#[utoipa::path(post, path = "/v1/channel-status", request_body = ChannelStatus,
    responses((status = 200, description = "Recorded", body = ReceiptRecorded)))]
pub async fn post_channel_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: RawJson,
) -> ApiResult {
    let now = app.clock.now();
    // The signature is checked before anything is looked up, so an unsigned caller learns
    // nothing about which messages exist (issue 19): first against every provider's secret,
    // then the message must belong to the provider that signed.
    let refusal = "the Aftercare-Signature header does not sign this body with a provider's secret";
    let signed_by: Vec<aftercare_domain::Channel> = [
        aftercare_domain::Channel::Sms,
        aftercare_domain::Channel::Push,
    ]
    .into_iter()
    .filter(|channel| {
        app.engine.provider_secret(*channel).is_some_and(|secret| {
            check_signature(secret, &headers, &body.raw, now, refusal).is_ok()
        })
    })
    .collect();
    if signed_by.is_empty() {
        return Err(ApiError::Unauthorized(refusal));
    }
    // Only a signed body is parsed.
    let report: ChannelStatus = super::extract::parse_json(&body.raw)?;
    aftercare_domain::text::required_line("id", &report.id, 255)?;
    aftercare_domain::text::text("detail", &report.detail, 1000)?;
    let mut tx = app.store.begin_read().await?;
    let message = tx.message_by_header_id(&report.id).await?;
    tx.commit().await?;
    if !message.is_some_and(|m| signed_by.contains(&m.channel)) {
        return Err(ApiError::NotFound(format!(
            "no message with id '{}' from this provider",
            report.id
        )));
    }
    let state = app
        .engine
        .record_receipt(&report.id, report.status, &report.detail, report.permanent)
        .await
        .map_err(|e| match e {
            aftercare_engine::worker::ReceiptError::Store(e) => e.into(),
            other => ApiError::NotFound(other.to_string()),
        })?;
    Ok(Json(ReceiptRecorded {
        id: report.id.clone(),
        state,
    })
    .into_response())
}

/// The mail provider's signature over `body`, at most five minutes old.
fn check_feedback_signature(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
) -> Result<(), ApiError> {
    let Some(secret) = app.engine.feedback_secret() else {
        return Err(ApiError::Unauthorized(
            "email feedback is not configured (email_feedback_secret)",
        ));
    };
    check_signature(
        secret,
        headers,
        body,
        now,
        "the Aftercare-Signature header does not sign this body with the feedback secret",
    )
}

/// `Aftercare-Signature` over `body` with `secret`, at most five minutes old.
fn check_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
    refusal: &'static str,
) -> Result<(), ApiError> {
    let signature = headers
        .get(aftercare_channels::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if aftercare_channels::webhook::verify(
        secret.as_bytes(),
        signature,
        body,
        now,
        std::time::Duration::from_secs(300),
    ) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(refusal))
    }
}

async fn apply_feedback(
    app: &AppState,
    items: &[aftercare_engine::feedback::Feedback],
    now: jiff::Timestamp,
) -> ApiResult {
    let mut tx = app.store.begin().await?;
    let applied =
        match aftercare_engine::feedback::apply(&mut tx, items, app.engine.consent_webhook(), now)
            .await
        {
            Ok(a) => a,
            Err(aftercare_engine::feedback::FeedbackError::Invalid(e)) => return Err(e.into()),
            Err(aftercare_engine::feedback::FeedbackError::Store(e)) => return Err(e.into()),
        };
    tx.commit().await?;
    app.engine.wake();
    Ok((StatusCode::OK, Json(json!(applied))).into_response())
}
