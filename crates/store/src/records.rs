//! Rows as stored, and their conversion into domain types.

use crate::CustomerId;
use crate::EnrolmentId;
use crate::MessageId;
use aftercare_domain::policy::Priority;
use aftercare_domain::{
    Channel, CustomerRecord, MessageClass, MessageState, OrderRecord, ProductRecord,
};
use jiff::Timestamp;
use serde::Serialize;

use crate::{EnrolmentState, JobKind, Result, StoreError, from_micros};

/// A leased job: an event to route, an enrolment step to run, a message to deliver.
#[derive(Debug, Clone)]
pub struct Job {
    /// Row id.
    pub id: crate::JobId,
    /// What the job does.
    pub kind: JobKind,
    /// The event, enrolment or message id the job is about.
    pub ref_id: i64,
    /// When the job was due.
    pub run_at: Timestamp,
    /// How many times it has been claimed, this claim included.
    pub attempts: i32,
}

/// A job as stored (its time in µs, its kind by name).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    id: crate::JobId,
    kind: String,
    ref_id: i64,
    run_at: i64,
    attempts: i32,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self> {
        Ok(Job {
            id: r.id,
            kind: JobKind::from(r.kind),
            ref_id: r.ref_id,
            run_at: from_micros(r.run_at)?,
            attempts: r.attempts,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CustomerRow {
    pub id: CustomerId,
    pub record: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A customer with its internal id.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCustomer {
    /// Internal id.
    #[serde(skip)]
    pub id: CustomerId,
    /// The record as last upserted.
    #[serde(flatten)]
    pub record: CustomerRecord,
    /// First stored.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl TryFrom<CustomerRow> for StoredCustomer {
    type Error = StoreError;
    fn try_from(row: CustomerRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            record: json(&row.record)?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    // Serialising our own types to a String cannot fail (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProductRow {
    pub record: String,
}

impl TryFrom<ProductRow> for ProductRecord {
    type Error = StoreError;
    fn try_from(row: ProductRow) -> Result<Self> {
        json(&row.record)
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub id: crate::OrderId,
    pub customer_id: CustomerId,
    pub record: String,
}

/// An order with its internal ids.
#[derive(Debug, Clone, Serialize)]
pub struct StoredOrder {
    /// Internal id.
    #[serde(skip)]
    pub id: crate::OrderId,
    /// The customer's internal id.
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// The order as received.
    #[serde(flatten)]
    pub record: OrderRecord,
}

impl TryFrom<OrderRow> for StoredOrder {
    type Error = StoreError;
    fn try_from(row: OrderRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            customer_id: row.customer_id,
            record: json(&row.record)?,
        })
    }
}

/// An event from the append-only log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    /// Internal id.
    pub id: crate::EventId,
    /// The customer's internal id.
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened.
    #[serde(skip)]
    #[sqlx(try_from = "crate::Micros")]
    pub occurred_at: Timestamp,
    /// The properties as JSON text.
    #[serde(skip)]
    pub properties: String,
    /// The sender's own id, if given.
    pub source_id: Option<String>,
}

impl StoredEvent {
    /// The properties as JSON.
    pub fn properties_json(&self) -> Result<serde_json::Value> {
        json(&self.properties)
    }
}

/// An event to append with [`crate::Tx::insert_events`].
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The sender's own id; a repeat is skipped.
    pub source_id: Option<&'a str>,
    /// The customer's internal id.
    pub customer_id: CustomerId,
    /// Event type.
    pub event_type: &'a str,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Properties.
    pub properties: &'a serde_json::Value,
}

/// A customer's run through one programme version.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    /// Internal id.
    pub id: EnrolmentId,
    /// Programme id.
    pub programme_id: String,
    /// The version it started on and finishes on.
    pub programme_version: i32,
    /// The customer's internal id.
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// The event that started it.
    pub trigger_event_id: crate::EventId,
    /// Where it stands.
    pub state: EnrolmentState,
    /// The next step to run (or the `wait_for` step being waited on).
    pub step_index: i32,
    /// Data the steps share (the trigger's properties), as JSON text.
    #[serde(skip)]
    pub context: String,
    /// In the holdout group.
    pub holdout: bool,
    /// The event a `wait_for` waits for.
    pub wait_event: Option<String>,
    /// The value the event's matching property must have.
    pub wait_match: Option<String>,
    /// When the `wait_for` times out.
    #[serde(skip)]
    pub wait_deadline: Option<Timestamp>,
    /// The goal's event.
    pub goal_event: Option<String>,
    /// Until when the goal counts.
    #[serde(skip)]
    pub goal_deadline: Option<Timestamp>,
    /// When the goal was reached.
    #[serde(skip)]
    pub goal_reached_at: Option<Timestamp>,
    /// Why it left early.
    pub exit_reason: Option<String>,
    /// When it started.
    #[serde(skip)]
    pub started_at: Timestamp,
}

/// An enrolment as stored (times in µs, the state by name).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EnrolmentRow {
    id: EnrolmentId,
    programme_id: String,
    programme_version: i32,
    customer_id: CustomerId,
    trigger_event_id: crate::EventId,
    state: String,
    step_index: i32,
    context: String,
    holdout: bool,
    wait_event: Option<String>,
    wait_match: Option<String>,
    wait_deadline: Option<i64>,
    goal_event: Option<String>,
    goal_deadline: Option<i64>,
    goal_reached_at: Option<i64>,
    exit_reason: Option<String>,
    started_at: i64,
}

impl TryFrom<EnrolmentRow> for Enrolment {
    type Error = StoreError;
    fn try_from(r: EnrolmentRow) -> Result<Self> {
        Ok(Enrolment {
            id: r.id,
            programme_id: r.programme_id,
            programme_version: r.programme_version,
            customer_id: r.customer_id,
            trigger_event_id: r.trigger_event_id,
            state: EnrolmentState::named(&r.state),
            step_index: r.step_index,
            context: r.context,
            holdout: r.holdout,
            wait_event: r.wait_event,
            wait_match: r.wait_match,
            wait_deadline: r.wait_deadline.map(from_micros).transpose()?,
            goal_event: r.goal_event,
            goal_deadline: r.goal_deadline.map(from_micros).transpose()?,
            goal_reached_at: r.goal_reached_at.map(from_micros).transpose()?,
            exit_reason: r.exit_reason,
            started_at: from_micros(r.started_at)?,
        })
    }
}

/// A new enrolment.
#[derive(Debug, Clone)]
pub struct NewEnrolment<'a> {
    /// Programme id.
    pub programme_id: &'a str,
    /// Programme version.
    pub programme_version: i32,
    /// The customer's internal id.
    pub customer_id: CustomerId,
    /// The triggering event.
    pub trigger_event_id: crate::EventId,
    /// The trigger's properties.
    pub context: &'a serde_json::Value,
    /// In the holdout group.
    pub holdout: bool,
    /// The goal's event and deadline.
    pub goal: Option<(&'a str, Timestamp)>,
}

/// What a customer's orders add up to, for conditions.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct OrderStats {
    /// Number of orders.
    pub orders_count: i64,
    /// Sum of order totals in cents.
    pub total_spent_cents: i64,
    /// The latest order.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub last_order_at: Option<Timestamp>,
    /// The first order.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub first_order_at: Option<Timestamp>,
}

/// A message to be created by a `send` step.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The customer's internal id.
    pub customer_id: CustomerId,
    /// The enrolment that sends it.
    pub enrolment_id: Option<EnrolmentId>,
    /// Unique within the enrolment (the step's id), so a repeated step stores one message.
    pub step_key: &'a str,
    /// Programme id.
    pub programme_id: Option<&'a str>,
    /// Template name.
    pub template: &'a str,
    /// Message class.
    pub class: MessageClass,
    /// How urgent it is.
    pub priority: Priority,
    /// Channel.
    pub channel: Channel,
    /// When it is planned to go out.
    pub planned_at: Timestamp,
    /// Why it was created, in words.
    pub reason: &'a str,
    /// What it is about: its template, and the household member it is about (issue 23).
    pub topic: &'a str,
    /// The content experiment's variant it is (issue 21), if its step has one.
    pub variant: Option<&'a str>,
}

/// A message a customer had, as the policy counts it: sent, or a letter queued for print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The customer's internal id.
    pub customer_id: CustomerId,
    /// When it went (or joined the print queue).
    pub at: Timestamp,
    /// Its class.
    pub class: MessageClass,
    /// Its channel.
    pub channel: Channel,
    /// What it was about (its template for messages from before topics were kept).
    pub topic: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContactRow {
    pub customer_id: CustomerId,
    pub at: i64,
    pub class: String,
    pub channel: String,
    pub topic: String,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> Result<Self> {
        let bad = |what: &str, v: &str| {
            StoreError::Corrupt(format!(
                "a message of customer {}: {what} '{v}'",
                r.customer_id
            ))
        };
        Ok(Self {
            at: from_micros(r.at)?,
            class: MessageClass::parse(&r.class).ok_or_else(|| bad("class", &r.class))?,
            channel: Channel::parse(&r.channel).ok_or_else(|| bad("channel", &r.channel))?,
            customer_id: r.customer_id,
            topic: r.topic,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub id: MessageId,
    pub customer_id: CustomerId,
    pub external_id: String,
    pub enrolment_id: Option<EnrolmentId>,
    pub step_key: String,
    pub programme_id: Option<String>,
    pub template: String,
    pub class: String,
    pub channel: String,
    pub state: String,
    pub reason: String,
    pub planned_at: i64,
    pub sent_at: Option<i64>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub greeting: Option<String>,
    pub header_message_id: Option<String>,
    pub attempts: i32,
    pub priority: String,
    pub topic: Option<String>,
}

/// A message and its current state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// Internal id.
    #[schema(value_type = i64)]
    pub id: MessageId,
    /// The customer's internal id.
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// The customer's external id.
    pub customer_external_id: String,
    /// The enrolment that created it.
    #[schema(value_type = Option<i64>)]
    pub enrolment_id: Option<EnrolmentId>,
    /// The step that created it.
    pub step_key: String,
    /// The programme that created it.
    pub programme_id: Option<String>,
    /// The template.
    pub template: String,
    /// The class.
    pub class: MessageClass,
    /// The channel.
    pub channel: Channel,
    /// The state.
    pub state: MessageState,
    /// Why it is in this state, in words.
    pub reason: String,
    /// When it is planned to go out.
    #[schema(value_type = String, format = DateTime)]
    pub planned_at: Timestamp,
    /// When the server accepted it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    /// The address it went to.
    pub recipient: Option<String>,
    /// The rendered subject.
    pub subject: Option<String>,
    /// The rendered text part (only in `GET /v1/messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The rendered HTML part (only in `GET /v1/messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_html: Option<String>,
    /// The greeting line used.
    pub greeting: Option<String>,
    /// The Message-ID header, stable across retries.
    pub header_message_id: Option<String>,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// How urgent it is.
    pub priority: Priority,
    /// What it is about (its template, and the household member it is about), which the
    /// policy does not repeat within its window; `None` for messages from before it was
    /// kept (their template stands in).
    #[serde(skip)]
    pub topic: Option<String>,
}

impl Message {
    /// The message without its rendered bodies, for lists: a page of 500 stays small.
    pub fn without_bodies(mut self) -> Self {
        self.body_text = None;
        self.body_html = None;
        self
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self> {
        let bad =
            |what: &str, v: &str| StoreError::Corrupt(format!("message {}: {what} '{v}'", r.id));
        Ok(Self {
            class: MessageClass::parse(&r.class).ok_or_else(|| bad("class", &r.class))?,
            channel: Channel::parse(&r.channel).ok_or_else(|| bad("channel", &r.channel))?,
            state: MessageState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?,
            planned_at: from_micros(r.planned_at)?,
            sent_at: r.sent_at.map(from_micros).transpose()?,
            id: r.id,
            customer_id: r.customer_id,
            customer_external_id: r.external_id,
            enrolment_id: r.enrolment_id,
            step_key: r.step_key,
            programme_id: r.programme_id,
            template: r.template,
            reason: r.reason,
            recipient: r.recipient,
            subject: r.subject,
            body_text: r.body_text,
            body_html: r.body_html,
            greeting: r.greeting,
            header_message_id: r.header_message_id,
            attempts: r.attempts,
            priority: Priority::parse(&r.priority),
            topic: r.topic,
        })
    }
}

/// One state change of a message, with its reason.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageTransition {
    /// The state before, if any.
    pub from_state: Option<String>,
    /// The state after.
    pub to_state: String,
    /// A stable code for policy decisions, e.g. `band_reached`, `quiet_hours`.
    pub code: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// When.
    #[serde(skip)]
    #[sqlx(try_from = "crate::Micros")]
    pub at: Timestamp,
}

/// Filters for listing messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only this customer (internal id).
    pub customer_id: Option<CustomerId>,
    /// Only this state.
    pub state: Option<MessageState>,
    /// Only ids below this (for paging newest first).
    pub before_id: Option<i64>,
    /// At most this many (capped at 500).
    pub limit: i64,
    /// Only this channel.
    pub channel: Option<aftercare_domain::Channel>,
    /// Only this programme's messages.
    pub programme_id: Option<String>,
}

/// The outcome of claiming an Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: do the work, then store the answer.
    New,
    /// Seen before with the same request: replay this answer.
    Replay {
        /// HTTP status.
        status: u16,
        /// Body as JSON text.
        response: String,
    },
    /// Seen before with a different request body.
    Mismatch,
    /// The first request with this key is still being processed (its answer is not stored).
    InProgress,
}
