//! Shop and shipping platforms connected without code (issue 24): what Shopify,
//! WooCommerce, Sendcloud and MyParcel send, mapped onto Aftercare's own records and
//! ingested the way the API ingests them.
//!
//! Mapping is sans-I/O: [`shopify::map`], [`woocommerce::map`], [`shipping::sendcloud`] and
//! [`shipping::myparcel`] turn one delivery's topic and body into [`Change`]s (or say why
//! it changes nothing); [`apply`] carries them out inside the caller's transaction, so a
//! delivery is stored whole or not at all. Verifying the platform's signature and keeping
//! each delivery once is the web layer's part (`/hooks/<platform>`).
//!
//! What a platform sends is merged onto what Aftercare knows, never replacing what only
//! Aftercare holds: a customer's birth date, gender and attributes from elsewhere stay; a
//! product's lifespan, tips and translations stay; a consent the customer changed in
//! Aftercare after the platform's own decision is not overwritten by that older decision.
//!
//! Requirements: PP1 (orders in), PX1 (carrier status in), CH2 (consent per channel).

pub mod codes;
pub mod shipping;
pub mod shopify;
pub mod woocommerce;

use std::collections::BTreeMap;

use aftercare_domain::{
    Channel, Consent, CustomerRecord, EmailAddress, ExternalId, FieldError, Locale, OrderLine,
    OrderRecord, PhoneNumber, PostalAddress, ProductRecord, Purpose, ShipmentEventRecord,
    ShipmentStatus, TimeZoneName,
};
use aftercare_store::Tx;
use jiff::Timestamp;
use serde_json::json;

use crate::ingest::{self, IngestError};

/// A connected platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Shopify (shop).
    Shopify,
    /// WooCommerce (shop).
    WooCommerce,
    /// Sendcloud (shipping).
    Sendcloud,
    /// MyParcel (shipping).
    MyParcel,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 4] = [
        Platform::Shopify,
        Platform::WooCommerce,
        Platform::Sendcloud,
        Platform::MyParcel,
    ];

    /// The lower-case name used in paths (`/hooks/shopify`) and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::WooCommerce => "woocommerce",
            Platform::Sendcloud => "sendcloud",
            Platform::MyParcel => "myparcel",
        }
    }

    /// The platform named `name`, if connected ones include it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// What a customer's record says according to a platform; `None` leaves what Aftercare
/// knows as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerUpdate {
    /// The customer's id (the platform's customer id).
    pub external_id: Option<ExternalId>,
    /// Email address.
    pub email: Option<EmailAddress>,
    /// Mobile number.
    pub phone: Option<PhoneNumber>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The language the customer chose in the shop (overrides the stored one).
    pub locale: Option<Locale>,
    /// The language the address's country suggests: only for a customer Aftercare does
    /// not know yet (never undoing a French-speaking Belgian's choice).
    pub guessed_locale: Option<Locale>,
    /// The time zone the address's country suggests, likewise only for a new customer.
    pub time_zone: Option<TimeZoneName>,
    /// Postal address, when it could be read as street, number and postcode.
    pub postal_address: Option<PostalAddress>,
    /// Attributes to set (tags and the platform's own fields).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Consent decisions with the time the platform says they were made.
    pub consents: Vec<Consent>,
    /// Consent decisions the platform gives no time for: they only fill a channel without
    /// a decision (a stale "subscribed" must not outrank a later unsubscribe).
    pub consents_without_time: Vec<Consent>,
}

/// An order line as the platform names it; its product is made when Aftercare does not
/// know the sku yet.
#[derive(Debug, Clone, PartialEq)]
pub struct LineProduct {
    /// The sku.
    pub sku: ExternalId,
    /// The name on the line.
    pub name: String,
    /// Price per item before discounts.
    pub price_cents: i64,
}

/// Which order a platform means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// By Aftercare's own order number (`external_id`).
    Number(String),
    /// By the platform's own order id (kept when the order came in).
    PlatformId(String),
    /// By a shipment's tracking code Aftercare already knows.
    Tracking(String),
    /// As a shipping platform names it: the shop's order number (with or without Shopify's
    /// `#`) if Aftercare knows it, else the tracking code of a shipment it knows.
    Shipping {
        /// The order number the platform was given, if any.
        number: Option<String>,
        /// The parcel's tracking code.
        tracking: String,
    },
}

/// One thing a delivery asks of Aftercare.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert or merge a customer.
    Customer(CustomerUpdate),
    /// Something the customer did in the shop (a checkout started): the customer merged,
    /// then the event recorded once by its source id.
    Behaviour {
        /// The customer as the platform names them.
        customer: CustomerUpdate,
        /// The event type.
        event_type: &'static str,
        /// When.
        at: Timestamp,
        /// What the programmes and templates read as `event`.
        properties: serde_json::Value,
        /// Records it once.
        source_id: String,
    },
    /// Insert or merge a product.
    Product(ProductRecord),
    /// Create an order (a known number changes nothing), its customer merged first and
    /// its unknown products made from its lines.
    Order {
        /// The customer as the order names them.
        customer: CustomerUpdate,
        /// The order.
        order: OrderRecord,
        /// The platform's own id for it, when it differs from the number.
        platform_id: Option<String>,
        /// Names and prices of the lines' products.
        products: Vec<LineProduct>,
        /// Discount codes used on it, with what each took off (cents).
        codes: Vec<(String, i64)>,
    },
    /// A shipment's status.
    Shipment {
        /// The order it belongs to.
        order: OrderRef,
        /// The status.
        shipment: ShipmentUpdate,
    },
    /// An order the platform updated: nothing to do whether Aftercare knows it or not (an
    /// order placed before the shop was connected starts nothing).
    KnownOrder {
        /// The order.
        order: OrderRef,
    },
    /// Goods came back (refund with lines): points reversed, a referral void — when the
    /// whole order came back; a partial refund leaves both.
    Return {
        /// The order.
        order: OrderRef,
        /// When.
        at: Timestamp,
        /// How many items came back, when the platform says.
        items: Option<u32>,
    },
    /// The customer's personal data erased (a privacy request forwarded by the shop).
    Erase {
        /// The customer.
        customer: ExternalId,
    },
    /// The shop cancelled the order: an `order_cancelled` event, points reversed.
    Cancelled {
        /// The order.
        order: OrderRef,
        /// When.
        at: Timestamp,
    },
}

/// A shipment's status as a platform reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentUpdate {
    /// The tracking code (or the platform's own id for a parcel without one yet).
    pub tracking: ExternalId,
    /// Whether `tracking` is the carrier's code (MyParcel and Sendcloud link by it).
    pub carrier_code: bool,
    /// The platform's id for the shipment (Shopify's fulfilment), so a tracking code added
    /// later updates the same shipment instead of making a second one.
    pub platform_id: Option<String>,
    /// Carrier key, e.g. `postnl`.
    pub carrier: String,
    /// The status.
    pub status: ShipmentStatus,
    /// When the platform recorded it.
    pub at: Timestamp,
}

/// What one delivery maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// Changes to make, in order.
    Changes(Vec<Change>),
    /// Nothing to do, and why (an unknown topic, a status Aftercare does not follow).
    Ignored(String),
}

/// Carries out `changes` inside `tx`; a line per change saying what it did.
pub async fn apply(
    tx: &mut Tx,
    platform: Platform,
    changes: &[Change],
    now: Timestamp,
) -> Result<Vec<String>, IngestError> {
    let mut done = Vec::with_capacity(changes.len());
    for change in changes {
        done.push(apply_one(tx, platform, change, now).await?);
    }
    Ok(done)
}

async fn apply_one(
    tx: &mut Tx,
    platform: Platform,
    change: &Change,
    now: Timestamp,
) -> Result<String, IngestError> {
    match change {
        Change::Customer(update) => {
            let (id, created) = merge_customer(tx, update, "customer", now).await?;
            Ok(format!(
                "customer {id} {}",
                if created { "created" } else { "updated" }
            ))
        }
        Change::Behaviour {
            customer,
            event_type,
            at,
            properties,
            source_id,
        } => {
            let (id, _) = merge_customer(tx, customer, "customer", now).await?;
            let stored = tx
                .customer_by_external_id(&id)
                .await?
                .ok_or_else(|| FieldError::new("customer", "was not stored"))?;
            let new =
                ingest::record_internal_event(tx, stored.id, event_type, *at, properties, source_id)
                    .await?;
            Ok(format!(
                "{event_type} of customer {id} {}",
                if new { "recorded" } else { "seen before" }
            ))
        }
        Change::Product(product) => {
            let merged = merge_product(tx, product).await?;
            ingest::upsert_product(tx, &merged, now).await?;
            Ok(format!("product {} stored", product.sku))
        }
        Change::Order {
            customer,
            order,
            platform_id,
            products,
            codes,
        } => {
            let mut customer = customer.clone();
            customer.external_id = Some(order.customer_external_id.clone());
            merge_customer(tx, &customer, "customer", now).await?;
            for (i, line) in products.iter().enumerate() {
                if tx.product(line.sku.as_str()).await?.is_none() {
                    let product = product_from_line(line, &order.currency);
                    ingest::upsert_product(tx, &product, now)
                        .await
                        .map_err(|e| at_field(e, &format!("line_items[{i}]")))?;
                }
            }
            if let Some(pid) = platform_id {
                tx.set_platform_id(platform.as_str(), "order", pid, order.external_id.as_str())
                    .await?;
            }
            let (_, created) = ingest::create_order(tx, order, now).await?;
            let mut said = format!(
                "order {} {}",
                order.external_id,
                if created { "created" } else { "already known" }
            );
            for note in redeem_codes(tx, order, codes, now).await? {
                said.push_str("; ");
                said.push_str(&note);
            }
            Ok(said)
        }
        Change::Shipment { order, shipment } => {
            let number = order_number(tx, platform, order).await?;
            let p = platform.as_str();
            // The shipment as first reported keeps its id (a fulfilment that got its
            // tracking code later is the same parcel; a shipping platform reporting that
            // code speaks of it too).
            let tracking = shipment.tracking.as_str();
            let by_code = if shipment.carrier_code {
                tx.platform_id("carrier", "shipment", tracking).await?
            } else {
                None
            };
            let shipment_id = match (&shipment.platform_id, by_code) {
                (Some(pid), by_code) => match tx.platform_id(p, "shipment", pid).await? {
                    Some(known) => known,
                    None => {
                        let id = by_code.unwrap_or_else(|| tracking.to_string());
                        tx.set_platform_id(p, "shipment", pid, &id).await?;
                        id
                    }
                },
                (None, Some(known)) => known,
                (None, None) => tracking.to_string(),
            };
            if shipment.carrier_code {
                tx.set_platform_id("carrier", "tracking", tracking, &number)
                    .await?;
                tx.set_platform_id("carrier", "shipment", tracking, &shipment_id)
                    .await?;
            }
            let event = ShipmentEventRecord {
                shipment_id: ExternalId::parse(&shipment_id)
                    .map_err(|reason| FieldError::new("tracking_number", reason))?,
                order_external_id: ExternalId::parse(&number)
                    .map_err(|reason| FieldError::new("order", reason))?,
                carrier: shipment.carrier.clone(),
                status: shipment.status,
                at: shipment.at.min(now),
                location: None,
                expected_from: None,
                expected_until: None,
            };
            let recorded = ingest::record_shipment_event(tx, &event, now).await?;
            Ok(format!(
                "shipment {} of order {number}: {} {}",
                event.shipment_id,
                event.status.as_str(),
                if recorded { "recorded" } else { "seen before" }
            ))
        }
        Change::KnownOrder { order } => Ok(match known_order(tx, platform, order).await? {
            Some(number) => format!("order {number} is known: nothing to change"),
            None => "an order Aftercare does not know (placed before the shop was connected, or its creation is still to come): nothing done".into(),
        }),
        Change::Return { order, at, items } => {
            let Some(number) = known_order(tx, platform, order).await? else {
                return Ok("a refund of an order Aftercare does not know: nothing to reverse".into());
            };
            if let Some(items) = items
                && let Some(stored) = tx.order_by_external_id(&number).await?
            {
                let bought: u32 = stored.record.lines.iter().map(|l| l.quantity).sum();
                if *items < bought {
                    return Ok(format!(
                        "a partial refund of order {number} ({items} of {bought} items): points and referral stay"
                    ));
                }
            }
            let recorded = ingest::record_return(tx, &number, (*at).min(now), now).await?;
            Ok(format!(
                "return of order {number} {}",
                if recorded { "recorded" } else { "seen before" }
            ))
        }
        Change::Cancelled { order, at } => {
            let Some(number) = known_order(tx, platform, order).await? else {
                return Ok("a cancelled order Aftercare does not know: nothing to do".into());
            };
            let recorded = ingest::record_cancelled_order(tx, &number, (*at).min(now), now).await?;
            Ok(format!(
                "cancellation of order {number} {}",
                if recorded { "recorded" } else { "seen before" }
            ))
        }
        Change::Erase { customer } => {
            let Some(stored) = tx.customer_by_external_id(customer.as_str()).await? else {
                return Ok(format!(
                    "customer {customer} is not known: nothing to erase"
                ));
            };
            let blocked =
                crate::privacy::erase_customer(tx, &stored, platform.as_str(), now).await?;
            Ok(format!(
                "customer {customer} erased ({blocked} queued message(s) blocked)"
            ))
        }
    }
}

/// Prefixes a field error's path (`lines[0].sku` → `line_items[0].…`) so it names the
/// platform's field.
fn at_field(e: IngestError, prefix: &str) -> IngestError {
    match e {
        IngestError::Invalid(f) => {
            IngestError::Invalid(FieldError::new(format!("{prefix}.{}", f.field), f.reason))
        }
        other => other,
    }
}

/// The order's number if Aftercare knows the order, else `None`.
async fn known_order(
    tx: &mut Tx,
    platform: Platform,
    order: &OrderRef,
) -> Result<Option<String>, IngestError> {
    match order_number(tx, platform, order).await {
        Ok(number) if tx.order_by_external_id(&number).await?.is_some() => Ok(Some(number)),
        Ok(_) | Err(IngestError::Invalid(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The order a carrier's tracking code belongs to: a shipment Aftercare stored under it,
/// or a parcel a platform reported with it.
async fn order_of_tracking(tx: &mut Tx, code: &str) -> Result<Option<String>, IngestError> {
    if let Some(shipment) = tx.shipment_by_external_id(code).await? {
        return Ok(Some(
            tx.order_by_id(shipment.order_id)
                .await?
                .record
                .external_id
                .to_string(),
        ));
    }
    Ok(tx.platform_id("carrier", "tracking", code).await?)
}

async fn order_number(
    tx: &mut Tx,
    platform: Platform,
    order: &OrderRef,
) -> Result<String, IngestError> {
    match order {
        OrderRef::Number(n) => Ok(n.clone()),
        OrderRef::PlatformId(id) => tx
            .platform_id(platform.as_str(), "order", id)
            .await?
            .ok_or_else(|| {
                FieldError::new(
                    "order_id",
                    format!(
                        "no order with {} id {id} is known yet",
                        platform_name(platform)
                    ),
                )
                .into()
            }),
        OrderRef::Shipping { number, tracking } => {
            if let Some(n) = number {
                for candidate in [n.clone(), format!("#{n}")] {
                    if tx.order_by_external_id(&candidate).await?.is_some() {
                        return Ok(candidate);
                    }
                }
            }
            if let Some(shipment) = tx.shipment_by_external_id(tracking).await? {
                return Ok(tx
                    .order_by_id(shipment.order_id)
                    .await?
                    .record
                    .external_id
                    .to_string());
            }
            Err(FieldError::new(
                "parcel.order_number",
                format!(
                    "no order {} and no shipment {tracking} is known",
                    number.as_deref().unwrap_or("(none given)")
                ),
            )
            .into())
        }
        OrderRef::Tracking(code) => order_of_tracking(tx, code).await?.ok_or_else(|| {
            FieldError::new(
                "barcode",
                format!("no shipment with tracking code {code} is known yet (the shop's fulfilment names it)"),
            )
            .into()
        }),
    }
}

fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Shopify => "Shopify",
        Platform::WooCommerce => "WooCommerce",
        Platform::Sendcloud => "Sendcloud",
        Platform::MyParcel => "MyParcel",
    }
}

/// Merges `update` onto the stored customer (or a new one) and upserts it; `field` names
/// the payload's part in errors.
/// The codes Aftercare issued that an order used at the shop's checkout, recorded as
/// redeemed by that order — once, whether the order or the shop's own redemption call
/// comes first (the same order again changes nothing). A code the shop made itself is not
/// Aftercare's to record; one Aftercare would have refused (used up, expired, another
/// customer's) is noted, since the shop took it anyway.
async fn redeem_codes(
    tx: &mut Tx,
    order: &OrderRecord,
    codes: &[(String, i64)],
    now: Timestamp,
) -> Result<Vec<String>, IngestError> {
    let mut notes = Vec::new();
    if codes.is_empty() {
        return Ok(notes);
    }
    let customer = tx
        .customer_by_external_id(order.customer_external_id.as_str())
        .await?
        .map(|c| c.id);
    let discounts: i64 = codes.iter().map(|(_, d)| *d).sum();
    let before = order.total_cents() + discounts;
    for (raw, _) in codes {
        let Some(code) = aftercare_domain::loyalty::normalise_code(raw) else {
            continue;
        };
        let outcome = tx
            .redeem_coupon(
                &code,
                customer,
                order.external_id.as_str(),
                before,
                order.placed_at.min(now),
            )
            .await?;
        match outcome {
            aftercare_store::RedeemOutcome::Redeemed(..) => {
                notes.push(format!("code {code} redeemed"));
            }
            aftercare_store::RedeemOutcome::AlreadyByThisOrder(..) => {}
            aftercare_store::RedeemOutcome::Refused(_) => notes.push(format!(
                "code {code} was taken by the shop though Aftercare would refuse it (used up, expired or another customer's)"
            )),
            aftercare_store::RedeemOutcome::Unknown => {}
        }
    }
    Ok(notes)
}

async fn merge_customer(
    tx: &mut Tx,
    update: &CustomerUpdate,
    field: &str,
    now: Timestamp,
) -> Result<(String, bool), IngestError> {
    let (record, _) = merged_customer(tx, update, field).await?;
    let (_, created) = ingest::upsert_customer(tx, &record, now)
        .await
        .map_err(|e| at_field(e, field))?;
    Ok((record.external_id.to_string(), created))
}

/// The stored customer (or a new one) with `update` laid over it, read under the row's
/// lock; whether it is new.
pub(crate) async fn merged_customer(
    tx: &mut Tx,
    update: &CustomerUpdate,
    field: &str,
) -> Result<(CustomerRecord, bool), IngestError> {
    let Some(id) = &update.external_id else {
        return Err(FieldError::new(field, "names no customer id").into());
    };
    let mut existing = tx.customer_by_external_id(id.as_str()).await?;
    if let Some(c) = &existing {
        // Read again under the row's lock, so an unsubscribe committed meanwhile is merged,
        // not overwritten (PostgreSQL; SQLite holds the write lock already).
        tx.lock_customer(c.id).await?;
        existing = tx.customer_by_external_id(id.as_str()).await?;
    }
    let mut record: CustomerRecord = match &existing {
        Some(c) => c.record.clone(),
        None => serde_json::from_value(json!({ "external_id": id }))
            .map_err(|e| FieldError::new(field, e.to_string()))?,
    };
    merge_into(&mut record, update, existing.is_none());
    Ok((record, existing.is_none()))
}

/// `update` laid over `record` (pure, so it is tested without a store); `is_new` when
/// Aftercare did not know the customer before.
pub fn merge_into(record: &mut CustomerRecord, update: &CustomerUpdate, is_new: bool) {
    if update.email.is_some() {
        record.email = update.email.clone();
    }
    if update.phone.is_some() {
        record.phone = update.phone.clone();
    }
    if update.first_name.is_some() {
        record.first_name = update.first_name.clone();
    }
    if update.last_name.is_some() {
        record.last_name = update.last_name.clone();
        // The platform has one last-name field: a prefix kept apart before is in it now.
        record.name_prefix = None;
    }
    if let Some(locale) = update.locale {
        record.locale = locale;
    } else if is_new && let Some(locale) = update.guessed_locale {
        record.locale = locale;
    }
    if is_new && let Some(zone) = &update.time_zone {
        record.time_zone = zone.clone();
    }
    if update.postal_address.is_some() {
        record.postal_address = update.postal_address.clone();
    }
    for (k, v) in &update.attributes {
        record.attributes.insert(k.clone(), v.clone());
    }
    for consent in &update.consents_without_time {
        if !record
            .consents
            .iter()
            .any(|c| c.purpose == consent.purpose && c.channel == consent.channel)
        {
            record.consents.push(consent.clone());
        }
    }
    for consent in &update.consents {
        let latest = record
            .consents
            .iter()
            .filter(|c| c.purpose == consent.purpose && c.channel == consent.channel)
            .max_by_key(|c| c.at);
        match latest {
            // The same decision, or one made later (e.g. an unsubscribe in Aftercare after
            // the shop's opt-in): kept as it is.
            Some(l) if l.granted == consent.granted || l.at >= consent.at => {}
            _ => {
                record
                    .consents
                    .retain(|c| !(c.purpose == consent.purpose && c.channel == consent.channel));
                record.consents.push(consent.clone());
            }
        }
    }
}

/// The stored product with what the platform says laid over it: Aftercare's own fields
/// (lifespan, tips, successor, translations, a category set in Aftercare) stay.
async fn merge_product(tx: &mut Tx, product: &ProductRecord) -> Result<ProductRecord, IngestError> {
    let Some(existing) = tx.product(product.sku.as_str()).await? else {
        return Ok(product.clone());
    };
    let mut merged = existing;
    merged.name = product.name.clone();
    merged.price_cents = product.price_cents;
    merged.currency = product.currency.clone();
    if product.category != "general" {
        merged.category = product.category.clone();
    }
    Ok(merged)
}

// ----- shared helpers for the platforms' formats ---------------------------------------

/// A platform's JSON body as `T`; what does not fit is an error naming the field's path
/// (`line_items[0].quantity`).
pub(crate) fn parse_body<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}

/// An email address, or none when the field is empty.
pub(crate) fn email_of(s: Option<&str>, field: &str) -> Result<Option<EmailAddress>, FieldError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => EmailAddress::parse(s)
            .map(Some)
            .map_err(|r| FieldError::new(field, r)),
    }
}

/// A phone number Aftercare can read; a shop's free-text phone field that is not one is
/// left out rather than refusing the whole customer.
pub(crate) fn phone_of(s: Option<&str>) -> Option<PhoneNumber> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| PhoneNumber::parse(s).ok())
}

/// A money amount as the platforms write it ("199.00", "29.5", "7") in cents.
pub(crate) fn cents(field: &str, amount: &str) -> Result<i64, FieldError> {
    let bad = || FieldError::new(field, format!("'{amount}' is not an amount such as 19.95"));
    let amount = amount.trim();
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || whole.len() > 12
    {
        return Err(bad());
    }
    let mut frac: String = fraction.chars().take(3).collect();
    while frac.len() < 3 {
        frac.push('0');
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let milli: i64 = frac.parse().map_err(|_| bad())?;
    // Rounded half up to the cent.
    let value = whole * 100 + (milli + 5) / 10;
    Ok(if negative { -value } else { value })
}

/// The locale of the language a customer chose in the shop ("nl" in Belgium is Flemish;
/// French is written for Belgium), if Aftercare writes in it.
pub(crate) fn language_locale(language: Option<&str>, country: Option<&str>) -> Option<Locale> {
    let language = language?.trim().to_lowercase().replace('_', "-");
    let belgian = country.is_some_and(|c| c.trim().eq_ignore_ascii_case("BE"));
    match language.as_str() {
        l if l == "nl-be" || (l == "nl" && belgian) => Some(Locale::NlBe),
        l if l.starts_with("nl") => Some(Locale::NlNl),
        l if l.starts_with("fr") => Some(Locale::FrBe),
        l if l.starts_with("en") => Some(Locale::En),
        _ => None,
    }
}

/// The locale an address's country suggests (a guess: Flemish for Belgium).
pub(crate) fn country_locale(country: Option<&str>) -> Option<Locale> {
    match country?.trim().to_uppercase().as_str() {
        "NL" => Some(Locale::NlNl),
        "BE" => Some(Locale::NlBe),
        _ => None,
    }
}

/// The time zone of a country Aftercare's customers mostly live in.
pub(crate) fn time_zone(country: Option<&str>) -> Option<TimeZoneName> {
    let zone = match country?.trim().to_uppercase().as_str() {
        "NL" => "Europe/Amsterdam",
        "BE" => "Europe/Brussels",
        "LU" => "Europe/Luxembourg",
        "DE" => "Europe/Berlin",
        "FR" => "Europe/Paris",
        "GB" => "Europe/London",
        _ => return None,
    };
    TimeZoneName::parse(zone).ok()
}

/// An address line as shops take it ("Kortenburglaan 1b", "Rue de la Loi 16 bus 3") split
/// into street, number and addition; `None` when no house number can be found, so an
/// address that would not fit an envelope is not stored as if it did.
pub(crate) fn postal_address(
    line1: &str,
    line2: &str,
    postcode: &str,
    city: &str,
    country: &str,
) -> Option<PostalAddress> {
    let words: Vec<&str> = line1.split_whitespace().collect();
    // The number is the first word after the street's first that starts with a digit
    // ("2e Helmersstraat 4": the street itself may start with one).
    let at = 1 + words
        .iter()
        .skip(1)
        .position(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let street = words[..at].join(" ");
    let number_word = words[at];
    let digits: String = number_word
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let mut addition: Vec<String> = Vec::new();
    let rest_of_number = number_word[digits.len()..].trim_start_matches(['-', ' ']);
    if !rest_of_number.is_empty() {
        addition.push(rest_of_number.to_string());
    }
    addition.extend(words[at + 1..].iter().map(|w| w.to_string()));
    if !line2.trim().is_empty() {
        addition.push(line2.trim().to_string());
    }
    let addition = addition.join(" ");
    let address = PostalAddress {
        street,
        house_number: digits,
        house_number_addition: (!addition.is_empty()).then_some(addition),
        postcode: postcode.trim().to_uppercase(),
        city: city.trim().to_string(),
        country: country.trim().to_uppercase(),
    };
    address.validate().ok().map(|()| address)
}

/// A carrier as a platform names it ("PostNL", "DHL Parcel", "bpost") as Aftercare's key.
pub(crate) fn carrier_key(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let known = [
        ("postnl", "postnl"),
        ("dhl", "dhl"),
        ("dpd", "dpd"),
        ("bpost", "bpost"),
        ("gls", "gls"),
        ("ups", "ups"),
        ("fedex", "fedex"),
        ("budbee", "budbee"),
        ("trunkrs", "trunkrs"),
        ("homerr", "homerr"),
    ];
    known
        .iter()
        .find(|(k, _)| lower.starts_with(k))
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| {
            let key: String = lower
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect();
            if key.is_empty() {
                "unknown".into()
            } else {
                key
            }
        })
}

/// Shopify's tags ("VIP, segment:runner") as attributes: `tags` with all of them, and a
/// tag written `key:value` also as `key`.
pub(crate) fn tag_attributes(tags: &str, attributes: &mut BTreeMap<String, serde_json::Value>) {
    let tags: Vec<&str> = tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for tag in &tags {
        if let Some((k, v)) = tag.split_once(':')
            && !k.trim().is_empty()
            && k.trim() != "tags"
        {
            attributes.insert(k.trim().to_lowercase(), json!(v.trim()));
        }
    }
    attributes.insert("tags".into(), json!(tags));
}

/// `Running Shoes` → `running-shoes`, at most `max` characters.
pub(crate) fn slug(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(max).collect()
}

/// The product an order line names, as Aftercare makes it when it does not know the sku:
/// the line's name and price, category `general`.
pub(crate) fn product_from_line(line: &LineProduct, currency: &str) -> ProductRecord {
    ProductRecord {
        sku: line.sku.clone(),
        name: line.name.clone(),
        category: "general".into(),
        price_cents: line.price_cents.max(0),
        currency: currency.to_string(),
        lifespan_days: None,
        tips: Vec::new(),
        successor_sku: None,
        translations: Default::default(),
    }
}

/// A consent as the platform gives it, where it was given named after the platform.
pub(crate) fn consent(
    channel: Channel,
    granted: bool,
    at: Timestamp,
    platform: Platform,
) -> Consent {
    Consent {
        purpose: Purpose::Marketing,
        channel,
        granted,
        source: platform.as_str().to_string(),
        at,
    }
}

/// A line of `quantity` items costing `total` cents together, as lines of whole-cent unit
/// prices that add up to `total` exactly: a discount that does not divide over the items
/// is carried by some of them (`2 × 9.335` → `1 × 9.33` and `1 × 9.34`), so the order's
/// total is the shop's to the cent.
pub(crate) fn split_line(
    sku: ExternalId,
    quantity: u32,
    total: i64,
) -> Vec<(ExternalId, u32, i64)> {
    let total = total.max(0);
    let q = i64::from(quantity);
    let (unit, rest) = (total / q, total % q);
    if rest == 0 {
        return vec![(sku, quantity, unit)];
    }
    let rest = rest as u32;
    vec![(sku.clone(), quantity - rest, unit), (sku, rest, unit + 1)]
}

/// A customer known only by their email (a WooCommerce guest, a Shopify order export's
/// customer): `guest-` and a digest of the address, the same for every order of theirs,
/// without the address itself in an id that outlives an erasure.
pub fn guest_id(email: &str) -> Result<ExternalId, FieldError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    ExternalId::parse(&format!("guest-{hex}")).map_err(|r| FieldError::new("billing.email", r))
}

/// An order record, its lines built from `(sku, quantity, unit price)`.
pub(crate) fn order_record(
    number: &str,
    customer: &ExternalId,
    placed_at: Timestamp,
    currency: &str,
    lines: Vec<(ExternalId, u32, i64)>,
) -> Result<OrderRecord, FieldError> {
    Ok(OrderRecord {
        external_id: ExternalId::parse(number).map_err(|r| FieldError::new("name", r))?,
        customer_external_id: customer.clone(),
        placed_at,
        currency: if currency.is_empty() {
            "EUR".into()
        } else {
            currency.to_uppercase()
        },
        delivery_method: Default::default(),
        store_id: None,
        lines: lines
            .into_iter()
            .map(|(sku, quantity, unit_price_cents)| OrderLine {
                sku,
                quantity,
                unit_price_cents,
            })
            .collect(),
    })
}

/// A shipment status reported under a carrier's tracking code.
pub(crate) fn carrier_shipment(
    tracking: &str,
    carrier: &str,
    status: ShipmentStatus,
    at: Timestamp,
) -> Result<ShipmentUpdate, FieldError> {
    Ok(ShipmentUpdate {
        tracking: ExternalId::parse(tracking).map_err(|r| FieldError::new("tracking_number", r))?,
        carrier_code: true,
        platform_id: None,
        carrier: carrier.to_string(),
        status,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_to_the_cent() {
        assert_eq!(cents("price", "199.00"), Ok(19900));
        assert_eq!(cents("price", "29.5"), Ok(2950));
        assert_eq!(cents("price", "7"), Ok(700));
        assert_eq!(cents("price", "0.005"), Ok(1));
        assert_eq!(cents("price", "-3.10"), Ok(-310));
        let e = cents("line_items[0].price", "12,50").unwrap_err();
        assert_eq!(e.field, "line_items[0].price");
    }

    #[test]
    fn an_address_line_is_split_into_street_number_and_addition() {
        let a = postal_address("Kortenburglaan 1b", "", "2231 je", "Doorn", "nl").unwrap();
        assert_eq!(
            (a.street.as_str(), a.house_number.as_str()),
            ("Kortenburglaan", "1")
        );
        assert_eq!(a.house_number_addition.as_deref(), Some("b"));
        assert_eq!(a.postcode, "2231 JE");
        let b = postal_address("Rue de la Loi 16 bus 3", "", "1000", "Brussel", "BE").unwrap();
        assert_eq!(b.street, "Rue de la Loi");
        assert_eq!(b.house_number_addition.as_deref(), Some("bus 3"));
        let c = postal_address("Dorpsstraat 4", "3-hoog", "1234 AB", "Ede", "NL").unwrap();
        assert_eq!(c.house_number_addition.as_deref(), Some("3-hoog"));
        assert!(postal_address("Postbus", "", "1234 AB", "Ede", "NL").is_none());
        assert!(postal_address("12 Main Street", "", "1234 AB", "Ede", "NL").is_none());
        let d = postal_address("2e Helmersstraat 4", "", "1054 CG", "Amsterdam", "NL").unwrap();
        assert_eq!(
            (d.street.as_str(), d.house_number.as_str()),
            ("2e Helmersstraat", "4")
        );
        assert!(
            postal_address("Dorpsstraat 4", "", "99", "Ede", "NL").is_none(),
            "a Dutch postcode must be four digits and two letters"
        );
    }

    #[test]
    fn language_and_country_give_the_locale() {
        assert_eq!(language_locale(Some("nl"), Some("BE")), Some(Locale::NlBe));
        assert_eq!(language_locale(Some("nl"), Some("NL")), Some(Locale::NlNl));
        assert_eq!(language_locale(Some("fr"), Some("BE")), Some(Locale::FrBe));
        assert_eq!(language_locale(Some("en-GB"), None), Some(Locale::En));
        assert_eq!(language_locale(Some("de"), Some("DE")), None);
        assert_eq!(language_locale(None, Some("BE")), None);
        assert_eq!(country_locale(Some("be")), Some(Locale::NlBe));
    }

    #[test]
    fn a_guessed_language_only_fills_a_new_customer() {
        let mut record: CustomerRecord =
            serde_json::from_value(json!({"external_id": "c1", "locale": "fr-BE"})).unwrap();
        let update = CustomerUpdate {
            guessed_locale: Some(Locale::NlBe),
            ..Default::default()
        };
        merge_into(&mut record, &update, false);
        assert_eq!(record.locale, Locale::FrBe);
        merge_into(&mut record, &update, true);
        assert_eq!(record.locale, Locale::NlBe);
    }

    #[test]
    fn a_consent_without_a_time_only_fills_an_empty_channel() {
        let mut record: CustomerRecord =
            serde_json::from_value(json!({"external_id": "c1"})).unwrap();
        let stale = CustomerUpdate {
            consents_without_time: vec![consent(
                Channel::Email,
                true,
                at("2026-03-09T10:00:00Z"),
                Platform::Shopify,
            )],
            ..Default::default()
        };
        merge_into(&mut record, &stale, false);
        assert!(record.consents[0].granted, "an empty channel is filled");
        record.consents[0].granted = false;
        merge_into(&mut record, &stale, false);
        assert!(!record.consents[0].granted, "a decision is never overruled");
    }

    #[test]
    fn carriers_are_keyed_as_aftercare_knows_them() {
        assert_eq!(carrier_key("PostNL"), "postnl");
        assert_eq!(carrier_key("DHL Parcel NL"), "dhl");
        assert_eq!(carrier_key("bpost"), "bpost");
        assert_eq!(carrier_key("Local Courier"), "local_courier");
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_older_platform_opt_in_does_not_undo_a_later_unsubscribe() {
        let mut record: CustomerRecord =
            serde_json::from_value(json!({"external_id": "c1"})).unwrap();
        record.consents.push(Consent {
            purpose: Purpose::Marketing,
            channel: Channel::Email,
            granted: false,
            source: "unsubscribe_link".into(),
            at: at("2026-03-05T10:00:00Z"),
        });
        let older = CustomerUpdate {
            consents: vec![consent(
                Channel::Email,
                true,
                at("2026-03-01T10:00:00Z"),
                Platform::Shopify,
            )],
            ..Default::default()
        };
        merge_into(&mut record, &older, false);
        assert_eq!(record.consents.len(), 1);
        assert!(!record.consents[0].granted);
        let newer = CustomerUpdate {
            consents: vec![consent(
                Channel::Email,
                true,
                at("2026-03-09T10:00:00Z"),
                Platform::Shopify,
            )],
            ..Default::default()
        };
        merge_into(&mut record, &newer, false);
        assert_eq!(record.consents.len(), 1);
        assert!(record.consents[0].granted);
        assert_eq!(record.consents[0].source, "shopify");
    }

    #[test]
    fn what_the_platform_does_not_say_is_kept() {
        let mut record: CustomerRecord = serde_json::from_value(json!({
            "external_id": "c1", "first_name": "Anna", "birth_date": "1990-05-04",
            "attributes": {"segment": "runner"}
        }))
        .unwrap();
        let update = CustomerUpdate {
            last_name: Some("de Vries".into()),
            attributes: [("tags".to_string(), json!(["vip"]))].into_iter().collect(),
            ..Default::default()
        };
        merge_into(&mut record, &update, false);
        assert_eq!(record.first_name.as_deref(), Some("Anna"));
        assert_eq!(
            record.birth_date.map(|d| d.to_string()).as_deref(),
            Some("1990-05-04")
        );
        assert_eq!(record.attributes["segment"], json!("runner"));
        assert_eq!(record.attributes["tags"], json!(["vip"]));
    }
}
