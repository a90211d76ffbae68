//! Products, orders, shipments and generic events as the API accepts them.
//!
//! Requirements: PP1 (orders), PP2/PI1 (product tips), RE1 (lifespan, successor),
//! PX1 (carrier status events), PX5 (click & collect).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::customer::ExternalId;
use crate::error::FieldError;
use crate::text;

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRecord {
    /// Stock keeping unit, the product's id.
    pub sku: ExternalId,
    /// Name as shown to customers.
    #[schema(max_length = 200, format = "required-line")]
    pub name: String,
    /// Category, e.g. `running-shoes`.
    #[schema(max_length = 64, format = "required-line")]
    pub category: String,
    /// Price in cents.
    #[schema(minimum = 0)]
    pub price_cents: i64,
    /// ISO 4217 currency, default EUR.
    #[serde(default = "default_currency")]
    #[schema(pattern = "^[A-Z]{3}$", default = "EUR")]
    pub currency: String,
    /// Expected lifespan in days (RE1), e.g. 365 for a running shoe.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36_500)]
    pub lifespan_days: Option<u32>,
    /// Tips for using the product (PP2, PI1), one per entry.
    #[serde(default)]
    #[schema(max_items = 20, inline, value_type = Vec<TipText>)]
    pub tips: Vec<String>,
    /// The sku that replaces this product (RE1).
    #[serde(default)]
    pub successor_sku: Option<ExternalId>,
    /// The name and tips in other languages (`{"en": {"name": "…", "tips": ["…"]}}`), so an
    /// English customer reads about the product in English (issue 23 point 6). `nl-BE` not
    /// given here takes `nl-NL`'s (never the other way round), any other locale not given the
    /// record's own ([`ProductRecord::in_locale`]); a part not given takes the record's own
    /// name or tips.
    #[serde(
        default,
        skip_serializing_if = "ProductTranslations::is_empty",
        deserialize_with = "translations_object"
    )]
    pub translations: ProductTranslations,
}

/// `translations` only as the schema says: an object of objects (or null), never the array
/// form serde would otherwise take for a struct.
fn translations_object<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<ProductTranslations, D::Error> {
    type Objects = BTreeMap<String, Option<serde_json::Map<String, serde_json::Value>>>;
    let objects = <Objects as Deserialize>::deserialize(d)?;
    serde_json::to_value(objects)
        .and_then(serde_json::from_value)
        .map_err(serde::de::Error::custom)
}

/// A product's name and tips per locale; every part is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductTranslations {
    /// Dutch as written in the Netherlands.
    #[serde(default, rename = "nl-NL", skip_serializing_if = "Option::is_none")]
    pub nl_nl: Option<ProductText>,
    /// Dutch as written in Flanders.
    #[serde(default, rename = "nl-BE", skip_serializing_if = "Option::is_none")]
    pub nl_be: Option<ProductText>,
    /// English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<ProductText>,
    /// French as written in Belgium.
    #[serde(default, rename = "fr-BE", skip_serializing_if = "Option::is_none")]
    pub fr_be: Option<ProductText>,
}

impl ProductTranslations {
    /// The text for `locale`, if given.
    pub fn get(&self, locale: crate::customer::Locale) -> Option<&ProductText> {
        use crate::customer::Locale;
        match locale {
            Locale::NlNl => self.nl_nl.as_ref(),
            Locale::NlBe => self.nl_be.as_ref(),
            Locale::En => self.en.as_ref(),
            Locale::FrBe => self.fr_be.as_ref(),
        }
    }

    /// Whether no locale has a text.
    pub fn is_empty(&self) -> bool {
        crate::customer::Locale::ALL
            .iter()
            .all(|l| self.get(*l).is_none())
    }
}

/// A product's name and tips in one language.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductText {
    /// Name as shown to customers of this language.
    #[serde(default)]
    #[schema(max_length = 200, format = "required-line")]
    pub name: Option<String>,
    /// Tips in this language; empty keeps the record's own.
    #[serde(default)]
    #[schema(max_items = 20, inline, value_type = Vec<TipText>)]
    pub tips: Vec<String>,
}

/// A product tip as the OpenAPI document describes it (free text, at most 1,000 characters).
#[doc(hidden)]
pub struct TipText;

crate::text::string_schema!(
    TipText,
    min = 0,
    max = 1_000,
    pattern = crate::text::TEXT_PATTERN,
    example = "Loop ze eerst een paar keer kort in."
);

fn default_currency() -> String {
    "EUR".into()
}

fn check_currency(currency: &str) -> Result<(), FieldError> {
    if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(FieldError::new(
            "currency",
            format!("'{currency}' is not an ISO 4217 code such as EUR"),
        ))
    }
}

impl ProductRecord {
    /// The product as a customer of `locale` reads it: the name and tips given for that
    /// locale, else those of the locale it also reads (`nl-BE` reads `nl-NL`'s, never the
    /// other way round: a `nl-BE` entry is the Flemish variant of the record's own Dutch),
    /// else the record's own.
    pub fn in_locale(&self, locale: crate::customer::Locale) -> std::borrow::Cow<'_, Self> {
        let text = self
            .translations
            .get(locale)
            .or_else(|| locale.also_reads().and_then(|l| self.translations.get(l)));
        match text {
            Some(t) if t.name.is_some() || !t.tips.is_empty() => {
                let mut product = self.clone();
                if let Some(name) = &t.name {
                    product.name.clone_from(name);
                }
                if !t.tips.is_empty() {
                    product.tips.clone_from(&t.tips);
                }
                std::borrow::Cow::Owned(product)
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        text::required_line("name", &self.name, 200)?;
        text::required_line("category", &self.category, 64)?;
        if self.tips.len() > 20 {
            return Err(FieldError::new("tips", "must have at most 20 tips"));
        }
        for (i, tip) in self.tips.iter().enumerate() {
            text::text(&format!("tips[{i}]"), tip, 1_000)?;
        }
        if self.price_cents < 0 {
            return Err(FieldError::new("price_cents", "must not be negative"));
        }
        for locale in crate::customer::Locale::ALL {
            let Some(t) = self.translations.get(locale) else {
                continue;
            };
            let field = format!("translations.{}", locale.tag());
            if let Some(name) = &t.name {
                text::required_line(&format!("{field}.name"), name, 200)?;
            }
            if t.tips.len() > 20 {
                return Err(FieldError::new(
                    format!("{field}.tips"),
                    "must have at most 20 tips",
                ));
            }
            for (i, tip) in t.tips.iter().enumerate() {
                text::text(&format!("{field}.tips[{i}]"), tip, 1_000)?;
            }
        }
        if self.lifespan_days == Some(0) {
            return Err(FieldError::new("lifespan_days", "must be at least 1 day"));
        }
        if self.lifespan_days.is_some_and(|d| d > 36_500) {
            return Err(FieldError::new(
                "lifespan_days",
                "must be at most 36,500 days (100 years)",
            ));
        }
        check_currency(&self.currency)
    }
}

/// How an order reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// Delivered at the customer's address.
    #[default]
    Home,
    /// Collected at a carrier's pick-up point.
    PickupPoint,
    /// Collected in one of the brand's stores (PX5).
    ClickAndCollect,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// The product.
    pub sku: ExternalId,
    /// How many.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: u32,
    /// Price per item in cents, after discounts.
    #[schema(minimum = 0)]
    pub unit_price_cents: i64,
}

/// An order as the shop sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    /// The shop's order number.
    pub external_id: ExternalId,
    /// The customer who placed it.
    pub customer_external_id: ExternalId,
    /// When it was placed.
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: Timestamp,
    /// ISO 4217 currency, default EUR.
    #[serde(default = "default_currency")]
    #[schema(pattern = "^[A-Z]{3}$", default = "EUR")]
    pub currency: String,
    /// Home, pick-up point or click & collect.
    #[serde(default)]
    pub delivery_method: DeliveryMethod,
    /// The store a click & collect order is collected at (`[[tracking.stores]]` id, PX5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, format = "one-line")]
    pub store_id: Option<String>,
    /// The lines; at least one.
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<OrderLine>,
}

impl OrderRecord {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_currency(&self.currency)?;
        if let Some(store) = &self.store_id {
            text::line("store_id", store, 64)?;
        }
        if self.lines.is_empty() {
            return Err(FieldError::new("lines", "must have at least one line"));
        }
        if self.lines.len() > 500 {
            return Err(FieldError::new("lines", "must have at most 500 lines"));
        }
        for (i, line) in self.lines.iter().enumerate() {
            if !(1..=1_000_000).contains(&line.quantity) {
                return Err(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "must be between 1 and 1,000,000",
                ));
            }
            if line.unit_price_cents < 0 {
                return Err(FieldError::new(
                    format!("lines[{i}].unit_price_cents"),
                    "must not be negative",
                ));
            }
        }
        Ok(())
    }

    /// The order total in cents.
    pub fn total_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.unit_price_cents.saturating_mul(i64::from(l.quantity)))
            .sum()
    }
}

/// A customer's contract, e.g. a subscription or a lease (RE1, RT1): the calendar announces
/// its end as `contract_ending`, 60 days ahead, unless it was cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractRecord {
    /// The brand's contract number.
    pub external_id: ExternalId,
    /// Whose contract it is.
    pub customer_external_id: ExternalId,
    /// What the customer calls it, e.g. "Loopabonnement".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, format = "one-line")]
    pub name: Option<String>,
    /// The product it is for, if any (the renewal offer can name its successor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128, format = "one-line")]
    pub product_sku: Option<String>,
    /// The first day it runs.
    #[schema(value_type = String, format = Date)]
    pub starts_on: jiff::civil::Date,
    /// The last day it runs; none for a contract without an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub ends_on: Option<jiff::civil::Date>,
    /// When the customer cancelled it, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
}

impl ContractRecord {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(ends_on) = self.ends_on
            && ends_on < self.starts_on
        {
            return Err(FieldError::new(
                "ends_on",
                format!("{ends_on} is before starts_on ({})", self.starts_on),
            ));
        }
        if let Some(name) = &self.name {
            text::line("name", name, 200)?;
        }
        if let Some(sku) = &self.product_sku {
            text::line("product_sku", sku, 128)?;
        }
        Ok(())
    }
}

/// A carrier's status for a shipment (PX1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// The label exists; the parcel is not yet with the carrier.
    LabelCreated,
    /// The carrier has the parcel.
    HandedOver,
    /// On its way.
    InTransit,
    /// With the driver today.
    OutForDelivery,
    /// Delivered.
    Delivered,
    /// Waiting at a pick-up point or store.
    ReadyForPickup,
    /// Collected by the customer.
    PickedUp,
    /// A delivery attempt failed.
    DeliveryFailed,
    /// Sent back to the brand.
    Returned,
}

impl ShipmentStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LabelCreated => "label_created",
            Self::HandedOver => "handed_over",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::PickedUp => "picked_up",
            Self::DeliveryFailed => "delivery_failed",
            Self::Returned => "returned",
        }
    }
}

/// A status event from the carrier for one shipment of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentEventRecord {
    /// The shipment's id (e.g. the tracking code).
    pub shipment_id: ExternalId,
    /// The order it belongs to.
    pub order_external_id: ExternalId,
    /// Carrier name, e.g. `postnl`, `bpost`, `dhl`.
    #[schema(max_length = 64, format = "required-line")]
    pub carrier: String,
    /// The new status.
    pub status: ShipmentStatus,
    /// When the carrier recorded it.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Where, if the carrier says.
    #[serde(default)]
    #[schema(max_length = 200, format = "one-line")]
    pub location: Option<String>,
    /// Start of the delivery window the carrier expects, if it gives one (PX1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expected_from: Option<Timestamp>,
    /// End of that window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expected_until: Option<Timestamp>,
}

impl ShipmentEventRecord {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        text::required_line("carrier", &self.carrier, 64)?;
        if let Some(location) = &self.location {
            text::line("location", location, 200)?;
        }
        if let (Some(from), Some(until)) = (self.expected_from, self.expected_until)
            && until < from
        {
            return Err(FieldError::new(
                "expected_until",
                "must not be before expected_from",
            ));
        }
        Ok(())
    }
}

/// Event types Aftercare itself emits; custom types must not start with these.
pub const BUILT_IN_EVENT_TYPES: &[&str] = &[
    "order_placed",
    "shipment_label_created",
    "shipment_handed_over",
    "shipment_in_transit",
    "shipment_out_for_delivery",
    "shipment_delivered",
    "shipment_ready_for_pickup",
    "shipment_picked_up",
    "shipment_delivery_failed",
    "shipment_returned",
    "customer_created",
    "case_opened",
    "case_resolved",
    "contract_ending",
    "cancellation_requested",
    "survey_answered",
    "referral_converted",
    "order_returned",
    "order_cancelled",
    "reward_claimed",
    "likely_lapsing",
    "offer_published",
    "product_launched",
    "cocreation_opened",
    "segment_entered",
    "delivery_changed",
    "delivery_change_refused",
    "appointment_booked",
    "recycling_requested",
    "retention_offer_accepted",
];

/// What the shop sees a customer do before they order (CH3), for remarketing on behaviour:
/// `checkout_started` (a cart taken to the checkout, with `checkout`, `lines` of
/// `{sku, name, quantity, price_cents}`, `total_cents`, `currency` and `url` back to it)
/// comes from Shopify's checkouts or is posted to `POST /v1/events` by the shop; programmes
/// may use them without declaring them as custom events.
pub const BEHAVIOUR_EVENT_TYPES: &[&str] = &["checkout_started", "product_viewed"];

/// A customer asks to cancel a subscription or contract (RT1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationRecord {
    /// Who wants to cancel.
    pub customer_external_id: ExternalId,
    /// When they asked.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The contract or subscription, if the shop has several.
    #[serde(default)]
    pub contract_external_id: Option<ExternalId>,
    /// The reason the customer chose on the shop's form; it decides the offer (RT1).
    /// Not given counts as `other`.
    #[serde(default)]
    pub reason_code: Option<crate::retention::CancellationReason>,
    /// The product (SKU) the subscription is for; an offer can fit its category.
    #[serde(default)]
    pub product_sku: Option<ExternalId>,
    /// The reason in the customer's own words.
    #[serde(default)]
    #[schema(max_length = 2000, format = "text")]
    pub reason: Option<String>,
}

impl CancellationRecord {
    /// The reason code; not given counts as `other`.
    pub fn reason(&self) -> crate::retention::CancellationReason {
        self.reason_code
            .unwrap_or(crate::retention::CancellationReason::Other)
    }

    /// Checks what serde cannot: the reason is free text of at most 2,000 characters.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(reason) = &self.reason {
            text::text("reason", reason, 2_000)?;
        }
        Ok(())
    }
}

/// A generic event posted by the shop, helpdesk or app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    /// The sender's own id for this event; a repeat with the same id is stored once.
    #[serde(default)]
    pub id: Option<ExternalId>,
    /// What happened, in snake_case: `case_opened`, `review_written`, …
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$")]
    pub event_type: String,
    /// Who it happened to.
    pub customer_external_id: ExternalId,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Anything else: at most 16 KiB as JSON, 8 levels deep, strings of at most 2,000
    /// characters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: BTreeMap<String, serde_json::Value>,
}

impl EventRecord {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        let t = &self.event_type;
        let ok = (1..=64).contains(&t.len())
            && t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(FieldError::new(
                "type",
                format!(
                    "'{t}' must be snake_case: 1 to 64 lower-case letters, digits or '_', starting with a letter"
                ),
            ));
        }
        text::json_object("properties", &self.properties)
    }
}

/// An amount in cents as the customer's language writes it: "€ 1.129,95" (nl) or
/// "€1,129.95" (en).
pub fn format_euros(cents: i64, locale: crate::Locale) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let (euros, rest) = (cents / 100, cents % 100);
    let separator = match locale {
        crate::Locale::En => ',',
        crate::Locale::NlNl | crate::Locale::NlBe => '.',
        // French groups thousands with a (no-break) space.
        crate::Locale::FrBe => '\u{a0}',
    };
    let digits = euros.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(separator);
        }
        grouped.push(c);
    }
    match locale {
        crate::Locale::En => format!("{sign}€{grouped}.{rest:02}"),
        crate::Locale::NlNl | crate::Locale::NlBe => format!("{sign}€ {grouped},{rest:02}"),
        crate::Locale::FrBe => format!("{sign}{grouped},{rest:02}\u{a0}€"),
    }
}

/// A date as the customer's language writes it: "2 maart 2026", "2 March 2026", "1er mars 2026".
pub fn format_date(date: jiff::civil::Date, locale: crate::Locale) -> String {
    const NL: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const FR: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let month = usize::try_from(date.month() - 1).unwrap_or(0);
    match locale {
        crate::Locale::En => format!("{} {} {}", date.day(), EN[month], date.year()),
        crate::Locale::NlNl | crate::Locale::NlBe => {
            format!("{} {} {}", date.day(), NL[month], date.year())
        }
        // "1er mars 2026", "2 mars 2026".
        crate::Locale::FrBe if date.day() == 1 => format!("1er {} {}", FR[month], date.year()),
        crate::Locale::FrBe => format!("{} {} {}", date.day(), FR[month], date.year()),
    }
}

/// A day with its weekday: "dinsdag 3 maart 2026", "Tuesday 3 March 2026", "mardi 3 mars
/// 2026".
pub fn format_weekday_date(date: jiff::civil::Date, locale: crate::Locale) -> String {
    const NL: [&str; 7] = [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ];
    const EN: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    const FR: [&str; 7] = [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ];
    let i = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
    let name = match locale {
        crate::Locale::En => EN[i],
        crate::Locale::NlNl | crate::Locale::NlBe => NL[i],
        crate::Locale::FrBe => FR[i],
    };
    format!("{name} {}", format_date(date, locale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locale;

    /// Issue 23 point 9: amounts and dates as each language writes them, French included.
    #[test]
    fn amounts_and_dates_are_written_as_each_language_writes_them() {
        assert_eq!(format_euros(123_450, Locale::NlBe), "€ 1.234,50");
        assert_eq!(format_euros(123_450, Locale::En), "€1,234.50");
        assert_eq!(format_euros(123_450, Locale::FrBe), "1\u{a0}234,50\u{a0}€");
        assert_eq!(format_euros(-995, Locale::FrBe), "-9,95\u{a0}€");
        let day = |d| jiff::civil::date(2026, 3, d);
        assert_eq!(format_date(day(2), Locale::NlNl), "2 maart 2026");
        assert_eq!(format_date(day(2), Locale::En), "2 March 2026");
        assert_eq!(format_date(day(1), Locale::FrBe), "1er mars 2026");
        assert_eq!(
            format_date(jiff::civil::date(2026, 8, 15), Locale::FrBe),
            "15 août 2026"
        );
        assert_eq!(
            format_weekday_date(day(3), Locale::FrBe),
            "mardi 3 mars 2026"
        );
        assert_eq!(
            format_weekday_date(day(3), Locale::NlBe),
            "dinsdag 3 maart 2026"
        );
    }

    fn stride() -> ProductRecord {
        serde_json::from_value(serde_json::json!({
            "sku": "LW-STRIDE-4", "name": "Stride 4 hardloopschoen", "category": "running-shoes",
            "price_cents": 12995, "tips": ["Loop de eerste week korte rondjes."],
            "translations": {
                "nl-BE": {"name": "Stride 4 loopschoen"},
                "en": {"name": "Stride 4 running shoe", "tips": ["Keep to short runs at first."]}
            }
        }))
        .unwrap()
    }

    /// Issue 23 point 6: a product is named in the customer's language, a Flemish variant
    /// only for Flemish readers, and what a translation leaves out comes from the record.
    #[test]
    fn a_product_reads_in_the_customers_locale_and_a_flemish_variant_only_in_flanders() {
        let p = stride();
        assert_eq!(p.in_locale(Locale::NlBe).name, "Stride 4 loopschoen");
        assert_eq!(
            p.in_locale(Locale::NlBe).tips,
            ["Loop de eerste week korte rondjes."]
        );
        assert_eq!(p.in_locale(Locale::NlNl).name, "Stride 4 hardloopschoen");
        assert_eq!(p.in_locale(Locale::En).name, "Stride 4 running shoe");
        assert_eq!(
            p.in_locale(Locale::En).tips,
            ["Keep to short runs at first."]
        );
        // No French text: the record's own.
        assert_eq!(p.in_locale(Locale::FrBe).name, "Stride 4 hardloopschoen");
        // A Netherlands Dutch text serves Flemish readers who have none of their own.
        let mut q = stride();
        q.translations.nl_be = None;
        q.translations.nl_nl = Some(ProductText {
            name: Some("Stride 4 hardloopschoen (NL)".into()),
            tips: vec![],
        });
        assert_eq!(
            q.in_locale(Locale::NlBe).name,
            "Stride 4 hardloopschoen (NL)"
        );
    }

    #[test]
    fn a_bad_translated_tip_is_named_by_its_locale_and_place() {
        let mut p = stride();
        p.translations.en.as_mut().unwrap().tips = vec!["Keep\u{0} going".into()];
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "translations.en.tips[0]", "{e:?}");
        let mut p = stride();
        p.translations.fr_be = Some(ProductText {
            name: Some("x".repeat(201)),
            tips: vec![],
        });
        assert_eq!(p.validate().unwrap_err().field, "translations.fr-BE.name");
    }
}
