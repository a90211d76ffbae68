//! What the API answers: one type per success body. The handlers build these and the
//! OpenAPI document describes the same types, so an answer cannot drift from its schema.
//! Errors are [`Problem`]s (RFC 9457).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An error, as RFC 9457 problem+json.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `https://aftercare.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short title of the class of mistake.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, in a sentence.
    pub detail: String,
    /// A stable snake_case code, e.g. `invalid_field`, `malformed_body`, `unauthorized`.
    pub code: String,
    /// The field, header or parameter the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A customer or contract stored by its external id.
#[derive(Debug, Serialize, ToSchema)]
pub struct Upserted {
    /// The id it is stored under.
    pub external_id: String,
    /// `true` when it is new, `false` when it replaced what was there.
    pub created: bool,
}

/// A product stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductStored {
    /// Its sku.
    pub sku: String,
}

/// An order stored (or already known).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderStored {
    /// The order number.
    pub external_id: String,
    /// `false` when the order number was known: nothing changed.
    pub created: bool,
    /// The sum of the lines, in cents.
    pub total_cents: i64,
}

/// A carrier status event recorded (or seen before).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentEventStored {
    /// The shipment.
    pub shipment_id: String,
    /// `false` for a repeat.
    pub recorded: bool,
}

/// A batch of events accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsAccepted {
    /// Events stored.
    pub accepted: usize,
    /// Events whose `id` was seen before, skipped.
    pub duplicates: usize,
}

/// A consent decision recorded, and the consent now in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecorded {
    /// The customer.
    pub external_id: String,
    /// The purpose.
    pub purpose: aftercare_domain::Purpose,
    /// The channel.
    pub channel: aftercare_domain::Channel,
    /// Whether consent is given now for this purpose and channel.
    pub granted: Option<bool>,
}

/// A retention offer shown at once (RT1).
#[derive(Debug, Serialize, ToSchema)]
pub struct Offer {
    /// The programme it comes from.
    pub programme: String,
    /// The template.
    pub template: String,
    /// The subject, rendered for the customer.
    pub subject: String,
    /// The text, rendered for the customer.
    pub text: String,
    /// The HTML, rendered for the customer.
    pub html: String,
}

/// A cancellation request recorded, with what the customer is offered now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancellationAnswer {
    /// The customer.
    pub customer_external_id: String,
    /// The offer that fits the reason and product given (RT1), for the shop to show on its
    /// cancellation page with the accept link; absent when none fits.
    pub retention_offer: Option<RetentionOfferAnswer>,
    /// The messages the programmes send at once, rendered (the retention offer's mail).
    pub offers: Vec<Offer>,
}

/// The retention offer made at a cancellation (RT1).
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionOfferAnswer {
    /// The stored offer's id.
    pub id: i64,
    /// The offer's id in `[retention]`.
    pub offer: String,
    /// What the shop does when it is accepted.
    pub kind: aftercare_domain::retention::OfferKind,
    /// The offer in a few words, in the customer's language.
    pub title: String,
    /// What it means, in the customer's language.
    pub description: String,
    /// What the shop carries out: `offer`, `kind` and `percent`, `months`, `plan` or `sku`.
    #[schema(value_type = Object)]
    pub terms: Value,
    /// Its last moment (RFC 3339).
    pub valid_until: String,
    /// The signed page where the customer accepts it with one click.
    pub accept_url: String,
}

/// A customer with the latest orders, timeline and messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRead {
    /// The customer as stored, with `created_at` and `updated_at`.
    #[schema(value_type = Object)]
    pub customer: Value,
    /// How messages greet this customer.
    pub greeting: String,
    /// The latest 50 orders.
    #[schema(value_type = Vec<Object>)]
    pub orders: Value,
    /// Events and messages, newest first.
    pub timeline: Vec<super::handlers::TimelineEntry>,
    /// The latest 50 messages, without their bodies.
    pub messages: Vec<aftercare_store::Message>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// Newest first, without their bodies; page on with `before` = the last id.
    pub messages: Vec<aftercare_store::Message>,
}

/// Clicks on one tracked link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkClicks {
    /// The link.
    pub url: String,
    /// Clicks counted.
    pub clicks: i64,
}

/// One message with every state change.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageRead {
    /// The message, with its bodies.
    pub message: aftercare_store::Message,
    /// Its state changes with their reasons, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub transitions: Value,
    /// Clicks per tracked link.
    pub clicks: Vec<LinkClicks>,
    /// Opens counted (when the brand counts them).
    pub opens: i64,
}

/// A job set aside after failing too often.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadJob {
    /// Its id, for `POST /v1/dead-jobs/{id}/retry`.
    pub id: i64,
    /// What it does.
    pub kind: String,
    /// What it is about.
    pub ref_id: i64,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub last_error: Option<String>,
    /// Since when it is dead.
    pub dead_since: Option<String>,
}

/// Dead jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadJobs {
    /// The jobs.
    pub dead_jobs: Vec<DeadJob>,
}

/// A dead job queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    /// The job.
    pub id: i64,
    /// Always `true`.
    pub queued: bool,
}

/// A provider's delivery report recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptRecorded {
    /// The message's id as the provider knows it.
    pub id: String,
    /// The message's state now.
    pub state: aftercare_domain::MessageState,
}

/// Points added (or not, for a repeated key).
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsAdded {
    /// `false` when the key was used before.
    pub added: bool,
    /// The balance now.
    pub balance: i64,
}

/// A code redeemed (or this redemption seen before).
#[derive(Debug, Serialize, ToSchema)]
pub struct Redeemed {
    /// The code as printed.
    pub code: String,
    /// What it took off the order, in cents.
    pub discount_cents: i64,
    /// The order it was used for.
    pub order_external_id: String,
    /// Uses so far.
    pub uses: i64,
    /// Uses allowed.
    pub max_uses: i64,
}

/// Codes added to a pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolCodes {
    /// The pool.
    pub pool: String,
    /// Codes made, when Aftercare made them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<Vec<String>>,
    /// Codes imported, when the shop sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<usize>,
}

/// A return recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnRecorded {
    /// The order.
    pub order_external_id: String,
    /// `false` when it was recorded before.
    pub recorded: bool,
}

/// A value as the body of an answer (the idempotent writes store it for replays).
pub fn answer(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A campaign and, once it is no longer a draft, its results.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignReport {
    /// Its id.
    pub id: i64,
    /// What the team calls it.
    pub name: String,
    /// The template it sends.
    pub template: String,
    /// Its audience's id.
    pub audience: String,
    /// The audience's version it went to (for a draft, the version when it was made;
    /// scheduling pins the one current then).
    pub audience_version: i32,
    /// `promotional`, `relationship` or `service`.
    pub class: String,
    /// Channels in order of preference.
    pub channels: Vec<String>,
    /// The day (`YYYY-MM-DD`) it goes out, in each customer's own time zone.
    pub send_on: String,
    /// The local time (`HH:MM`).
    pub local_time: String,
    /// The share held out, 0 to 0.5.
    pub holdout_share: f64,
    /// Days after a message in which an order counts for it.
    pub attribution_days: i32,
    /// The coupon pool each recipient's own code comes from, if any.
    pub coupon_pool: Option<String>,
    /// `draft`, `scheduled`, `planning`, `planned` or `cancelled`.
    pub state: String,
    /// When its planning finished (RFC 3339).
    pub planned_at: Option<String>,
    /// Its results: not in the list, and not for a draft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<CampaignResults>,
}

/// What a campaign brought so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignResults {
    /// Customers it reached, held out or not.
    pub recipients: u64,
    /// Of which held out.
    pub held_out: u64,
    /// Messages by state (`planned`, `sent`, `blocked`, …).
    pub messages: std::collections::BTreeMap<String, u64>,
    /// Messages not sent (or not yet), by the policy's reason code.
    pub reasons: std::collections::BTreeMap<String, u64>,
    /// Messages whose links were clicked.
    pub clicked: u64,
    /// Orders in the attribution window credited to a message.
    pub attributed_orders: u64,
    /// Their value in cents.
    pub attributed_revenue_cents: i64,
    /// Personal codes the sent messages carried.
    pub codes_issued: u64,
    /// Of which used in an order.
    pub codes_used: u64,
    /// Everyone meant to get it against the holdout; none while either group is empty.
    pub uplift: Option<CampaignUplift>,
}

/// The treated group against the holdout: orders in the window after the planned send.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignUplift {
    /// Customers meant to get it.
    pub treated: u64,
    /// Share of them who ordered in the window.
    pub treated_rate: f64,
    /// Customers held out.
    pub holdout: u64,
    /// Share of them who ordered in the window.
    pub holdout_rate: f64,
    /// Treated rate minus holdout rate.
    pub conversion_uplift: f64,
    /// Its 95% interval.
    pub conversion_interval: Interval,
    /// Treated minus holdout revenue per customer, in euros (not cents: an average).
    pub revenue_uplift_euros: f64,
    /// Its 95% interval.
    pub revenue_interval_euros: Interval,
}

/// A saved audience: a condition on `customer` and `stats` (CEL), versioned.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceReport {
    /// Its id (a slug).
    pub id: String,
    /// What the team calls it.
    pub name: String,
    /// The condition, in CEL over `customer` and `stats`.
    pub definition: String,
    /// The current version, from 1; saving the same definition again keeps it.
    pub version: i32,
    /// Who saved it last (`api:<token name>` for the API).
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: String,
    /// Customers who match now (only when one audience is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<u64>,
    /// Customers looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers: Option<u64>,
    /// The first matching customers' `external_id`s, up to 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<Vec<String>>,
    /// When the count was made (RFC 3339): counts are worked out in the background, as on
    /// the admin page; one older than five minutes is answered while a newer one is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub counted_at: Option<String>,
}

/// Figures still being worked out in the background (an audience's count, a dry run: they
/// read every customer); ask again after `retry_after_seconds` (also in `Retry-After`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Working {
    /// Always `working`.
    #[schema(pattern = "^working$")]
    pub status: String,
    /// What is being worked out.
    pub detail: String,
    /// Seconds to wait before asking again.
    pub retry_after_seconds: u64,
}

/// The saved audiences, by id (without their counts; ask for one to get them).
#[derive(Debug, Serialize, ToSchema)]
pub struct Audiences {
    /// The audiences.
    pub audiences: Vec<AudienceReport>,
}

/// How many customers a reason applies to, with one of its sentences.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonCount {
    /// Customers (scaled up when the run was sampled).
    pub count: u64,
    /// What the policy said for one of them.
    pub example: String,
}

/// What a campaign would do if it went now, as of each member's own send time: nothing is
/// written.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDryRun {
    /// Customers in the audience now.
    pub audience: u64,
    /// Of which held out.
    pub held_out: u64,
    /// Members the policy was asked about: all, or a sample of 5,000 in a larger audience.
    pub asked: u64,
    /// Whether the figures below are scaled up from that sample.
    pub sampled: bool,
    /// Would get it.
    pub would_send: u64,
    /// Would be held back (sent later), by the policy's reason code.
    pub held: std::collections::BTreeMap<String, ReasonCount>,
    /// Would not get it, by the policy's reason code (no consent, the band, a cap, …).
    pub blocked: std::collections::BTreeMap<String, ReasonCount>,
    /// Of those who would get it, by channel.
    pub channels: std::collections::BTreeMap<String, u64>,
    /// When the dry run was made (RFC 3339): dry runs are worked out in the background; one
    /// older than two minutes is answered while a newer one is made, and a change to the
    /// draft or its audience makes a new one at once.
    #[schema(format = DateTime)]
    pub as_of: String,
}

/// The campaigns, newest first (without their results; ask for one to get them).
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaigns {
    /// The campaigns.
    pub campaigns: Vec<CampaignReport>,
}

/// A 95% interval.
#[derive(Debug, Serialize, ToSchema)]
pub struct Interval {
    /// Its low end.
    pub low: f64,
    /// Its high end.
    pub high: f64,
}
