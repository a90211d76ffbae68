//! Shopify's webhooks (REST payloads, as Shopify documents them for each topic in
//! `X-Shopify-Topic`) mapped onto Aftercare's records.
//!
//! - A Shopify customer is known by Shopify's customer id (`external_id` = `"706405506930370084"`).
//! - An order by its name as the customer sees it (`"#1001"`); Shopify's order id is kept
//!   beside it, since fulfilments and refunds name only that.
//! - A line's product by its sku (the variant id, `shopify-variant-<id>`, when the variant
//!   has none); a product Aftercare does not know yet is made from the line.
//! - Tags become `attributes.tags`; a tag written `key:value` also sets `attributes.key`.
//! - Email and SMS marketing consent with the time Shopify says they were given, never
//!   undoing a later decision taken in Aftercare.

use aftercare_domain::{Channel, ExternalId, FieldError, ProductRecord, ShipmentStatus};
use jiff::Timestamp;
use serde::Deserialize;

use super::{
    Change, CustomerUpdate, LineProduct, Mapped, OrderRef, Platform, carrier_key, carrier_shipment,
    cents, consent, country_locale, email_of, language_locale, order_record, parse_body, phone_of,
    postal_address, slug, split_line, tag_attributes, time_zone,
};

/// The topics mapped; any other is answered 200 and ignored.
pub const TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "fulfillments/create",
    "fulfillments/update",
    "refunds/create",
    "customers/create",
    "customers/update",
    "products/create",
    "products/update",
    "customers/redact",
];

#[derive(Debug, Deserialize)]
struct Address {
    #[serde(default)]
    address1: Option<String>,
    #[serde(default)]
    address2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    zip: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MarketingConsent {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    consent_updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    default_address: Option<Address>,
    #[serde(default)]
    email_marketing_consent: Option<MarketingConsent>,
    #[serde(default)]
    sms_marketing_consent: Option<MarketingConsent>,
    #[serde(default)]
    accepts_marketing: Option<bool>,
    #[serde(default)]
    accepts_marketing_updated_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

/// A discount code used on an order.
#[derive(Debug, Deserialize)]
struct DiscountCode {
    code: String,
    #[serde(default)]
    amount: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Allocation {
    amount: String,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    variant_id: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    name: Option<String>,
    quantity: u32,
    price: String,
    #[serde(default)]
    discount_allocations: Vec<Allocation>,
}

#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
    name: String,
    created_at: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer_locale: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    shipping_address: Option<Address>,
    #[serde(default)]
    billing_address: Option<Address>,
    #[serde(default)]
    discount_codes: Vec<DiscountCode>,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    test: bool,
}

#[derive(Debug, Deserialize)]
struct Fulfillment {
    id: u64,
    order_id: u64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    shipment_status: Option<String>,
    #[serde(default)]
    tracking_company: Option<String>,
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    order_id: u64,
    created_at: String,
    #[serde(default)]
    refund_line_items: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Variant {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    title: Option<String>,
    price: String,
}

#[derive(Debug, Deserialize)]
struct Product {
    title: String,
    #[serde(default)]
    product_type: Option<String>,
    #[serde(default)]
    variants: Vec<Variant>,
}

#[derive(Debug, Deserialize)]
struct RedactCustomer {
    id: u64,
}

/// A checkout (`checkouts/create`, `checkouts/update`): a cart the customer took to the
/// checkout and gave their email for.
#[derive(Debug, Deserialize)]
struct Checkout {
    token: String,
    created_at: String,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    #[serde(default)]
    customer_locale: Option<String>,
    #[serde(default)]
    buyer_accepts_marketing: Option<bool>,
    #[serde(default)]
    abandoned_checkout_url: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    total_price: Option<String>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    shipping_address: Option<Address>,
    #[serde(default)]
    billing_address: Option<Address>,
}

#[derive(Debug, Deserialize)]
struct Redact {
    customer: RedactCustomer,
}

/// What one Shopify delivery on `topic` asks; a body that does not map is an error naming
/// the field.
pub fn map(topic: &str, body: &[u8], now: Timestamp) -> Result<Mapped, FieldError> {
    match topic {
        // An order comes in from orders/create (or orders/paid, should create be lost);
        // a cancelled one, or an update of an order never seen (placed before the shop was
        // connected), starts nothing: no confirmation, no points for the past.
        "orders/create" | "orders/paid" | "orders/updated" | "orders/cancelled" => {
            let order: Order = parse_body(body)?;
            if order.test {
                return Ok(Mapped::Ignored(format!("{} is a test order", order.name)));
            }
            let cancelled = match &order.cancelled_at {
                Some(at) => Some(timestamp("cancelled_at", at)?),
                None if topic == "orders/cancelled" => Some(now),
                None => None,
            };
            if let Some(at) = cancelled {
                return Ok(Mapped::Changes(vec![Change::Cancelled {
                    order: OrderRef::Number(order.name.clone()),
                    at: at.min(now),
                }]));
            }
            if topic == "orders/updated" {
                return Ok(Mapped::Changes(vec![Change::KnownOrder {
                    order: OrderRef::Number(order.name.clone()),
                }]));
            }
            Ok(Mapped::Changes(vec![order_change(&order, now)?]))
        }
        "fulfillments/create" | "fulfillments/update" => fulfillment(parse_body(body)?, now),
        "refunds/create" => {
            let refund: Refund = parse_body(body)?;
            if refund.refund_line_items.is_empty() {
                return Ok(Mapped::Ignored(
                    "a refund without lines (shipping or a goodwill amount): no goods came back"
                        .into(),
                ));
            }
            let items = refund
                .refund_line_items
                .iter()
                .map(|l| l.get("quantity").and_then(|q| q.as_u64()).unwrap_or(0))
                .sum::<u64>();
            Ok(Mapped::Changes(vec![Change::Return {
                order: OrderRef::PlatformId(refund.order_id.to_string()),
                at: timestamp("created_at", &refund.created_at)?.min(now),
                items: Some(u32::try_from(items).unwrap_or(u32::MAX)),
            }]))
        }
        "customers/create" | "customers/update" => {
            let customer: Customer = parse_body(body)?;
            Ok(Mapped::Changes(vec![Change::Customer(customer_update(
                &customer, None, now,
            )?)]))
        }
        "products/create" | "products/update" => products(parse_body(body)?),
        "checkouts/create" | "checkouts/update" => checkout(parse_body(body)?, now),
        "customers/redact" => {
            let redact: Redact = parse_body(body)?;
            Ok(Mapped::Changes(vec![Change::Erase {
                customer: customer_id(redact.customer.id)?,
            }]))
        }
        "customers/data_request" => {
            let request: Redact = parse_body(body)?;
            let id = request.customer.id;
            Ok(Mapped::Ignored(format!(
                "a data request for customer {id}: send the shop what GET /v1/customers/{id}/export gives"
            )))
        }
        "shop/redact" => Ok(Mapped::Ignored(
            "the shop uninstalled the app: erase its data by stopping Aftercare and removing its database"
                .into(),
        )),
        other => Ok(Mapped::Ignored(format!("topic {other} is not one Aftercare follows"))),
    }
}

/// A checkout started: `checkout_started` once per checkout (Shopify sends an update for
/// every change to it; the first is the one with the customer's email), with its lines, total
/// and the link back to it, for the abandoned-checkout programme (CH3). A completed
/// checkout became an order and starts nothing; one without an email cannot be answered.
fn checkout(c: Checkout, now: Timestamp) -> Result<Mapped, FieldError> {
    if c.completed_at.is_some() {
        return Ok(Mapped::Ignored(format!(
            "checkout {} became an order",
            c.token
        )));
    }
    let email = email_of(c.email.as_deref(), "email")?;
    // Shopify's orders name the customer account; a checkout without one could not be
    // followed to its order, and its reminder might reach someone who bought.
    let Some(account) = &c.customer else {
        return Ok(Mapped::Ignored(format!(
            "checkout {} has no customer account yet",
            c.token
        )));
    };
    let started = timestamp("created_at", &c.created_at)?.min(now);
    let mut update = customer_update(account, c.customer_locale.as_deref(), now)?;
    if let Some(e) = email {
        update.email = Some(e);
    }
    if update.phone.is_none() {
        update.phone = phone_of(c.phone.as_deref());
    }
    if let Some(a) = c.shipping_address.as_ref().or(c.billing_address.as_ref()) {
        if update.postal_address.is_none() {
            update.postal_address = address_of(a);
        }
        from_country(&mut update, c.customer_locale.as_deref(), a);
    }
    // The box ticked at the checkout is a marketing consent given then.
    if c.buyer_accepts_marketing == Some(true) {
        update.consents.push(consent(
            aftercare_domain::Channel::Email,
            true,
            started,
            Platform::Shopify,
        ));
    }
    let mut lines = Vec::with_capacity(c.line_items.len());
    for (i, line) in c.line_items.iter().enumerate() {
        let sku = line_sku(line, i)?;
        let price = cents(&format!("line_items[{i}].price"), &line.price)?;
        lines.push(serde_json::json!({
            "sku": sku.as_str(),
            "name": line.title.clone().or_else(|| line.name.clone()).unwrap_or_else(|| sku.to_string()),
            "quantity": line.quantity,
            "price_cents": price,
        }));
    }
    if lines.is_empty() {
        return Ok(Mapped::Ignored(format!("checkout {} is empty", c.token)));
    }
    let total = match &c.total_price {
        Some(t) => Some(cents("total_price", t)?),
        None => None,
    };
    Ok(Mapped::Changes(vec![Change::Behaviour {
        customer: update,
        event_type: "checkout_started",
        at: started,
        properties: serde_json::json!({
            "checkout": c.token,
            "lines": lines,
            "total_cents": total,
            "currency": c.currency.as_deref().unwrap_or("EUR"),
            "url": c.abandoned_checkout_url,
        }),
        source_id: format!("shopify-checkout:{}", c.token),
    }]))
}

/// What an address's country (and the language chosen in the shop) says of a customer that
/// the update does not say yet: their language, a guess at it, their time zone.
fn from_country(update: &mut CustomerUpdate, language: Option<&str>, a: &Address) {
    let country = a.country_code.as_deref();
    if update.locale.is_none() {
        update.locale = language_locale(language, country);
    }
    if update.guessed_locale.is_none() {
        update.guessed_locale = country_locale(country);
    }
    if update.time_zone.is_none() {
        update.time_zone = time_zone(country);
    }
}

fn timestamp(field: &str, s: &str) -> Result<Timestamp, FieldError> {
    s.parse()
        .map_err(|e| FieldError::new(field, format!("'{s}' is not a time with its offset: {e}")))
}

fn customer_id(id: u64) -> Result<ExternalId, FieldError> {
    ExternalId::parse(&id.to_string()).map_err(|r| FieldError::new("customer.id", r))
}

fn customer_update(
    c: &Customer,
    order_locale: Option<&str>,
    now: Timestamp,
) -> Result<CustomerUpdate, FieldError> {
    let address = c.default_address.as_ref();
    let country = address.and_then(|a| a.country_code.as_deref());
    let mut update = CustomerUpdate {
        external_id: Some(customer_id(c.id)?),
        email: email_of(c.email.as_deref(), "customer.email")?,
        phone: phone_of(c.phone.as_deref()),
        first_name: c.first_name.clone().filter(|s| !s.trim().is_empty()),
        last_name: c.last_name.clone().filter(|s| !s.trim().is_empty()),
        locale: language_locale(c.locale.as_deref().or(order_locale), country),
        guessed_locale: country_locale(country),
        time_zone: time_zone(country),
        postal_address: address.and_then(address_of),
        ..Default::default()
    };
    if let Some(tags) = &c.tags {
        tag_attributes(tags, &mut update.attributes);
    }
    let updated = c
        .updated_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .unwrap_or(now);
    for (channel, marketing, field) in [
        (
            Channel::Email,
            &c.email_marketing_consent,
            "email_marketing_consent",
        ),
        (
            Channel::Sms,
            &c.sms_marketing_consent,
            "sms_marketing_consent",
        ),
    ] {
        let Some(m) = marketing else { continue };
        let granted = match m.state.as_deref() {
            Some("subscribed") => true,
            Some("unsubscribed" | "redacted") => false,
            // not_subscribed, pending (double opt-in not yet confirmed), invalid: no decision.
            _ => continue,
        };
        match &m.consent_updated_at {
            Some(s) => {
                let at = timestamp(&format!("{field}.consent_updated_at"), s)?;
                update
                    .consents
                    .push(consent(channel, granted, at.min(now), Platform::Shopify));
            }
            None => update.consents_without_time.push(consent(
                channel,
                granted,
                updated.min(now),
                Platform::Shopify,
            )),
        }
    }
    if c.email_marketing_consent.is_none()
        && let Some(accepts) = c.accepts_marketing
    {
        match &c.accepts_marketing_updated_at {
            Some(s) => {
                let at = timestamp("accepts_marketing_updated_at", s)?;
                update.consents.push(consent(
                    Channel::Email,
                    accepts,
                    at.min(now),
                    Platform::Shopify,
                ));
            }
            None => update.consents_without_time.push(consent(
                Channel::Email,
                accepts,
                updated.min(now),
                Platform::Shopify,
            )),
        }
    }
    Ok(update)
}

fn address_of(a: &Address) -> Option<aftercare_domain::PostalAddress> {
    postal_address(
        a.address1.as_deref()?,
        a.address2.as_deref().unwrap_or(""),
        a.zip.as_deref()?,
        a.city.as_deref()?,
        a.country_code.as_deref()?,
    )
}

fn line_sku(line: &LineItem, i: usize) -> Result<ExternalId, FieldError> {
    let sku = match (line.sku.as_deref().map(str::trim), line.variant_id) {
        (Some(s), _) if !s.is_empty() => s.to_string(),
        (_, Some(v)) => format!("shopify-variant-{v}"),
        _ => {
            return Err(FieldError::new(
                format!("line_items[{i}].sku"),
                "the line has neither a sku nor a variant id",
            ));
        }
    };
    ExternalId::parse(&sku).map_err(|r| FieldError::new(format!("line_items[{i}].sku"), r))
}

fn order_change(order: &Order, now: Timestamp) -> Result<Change, FieldError> {
    let Some(customer) = &order.customer else {
        return Err(FieldError::new(
            "customer",
            "the order has no customer (a guest checkout without an account cannot be linked)",
        ));
    };
    let mut update = customer_update(customer, order.customer_locale.as_deref(), now)?;
    // The order's own contact details are the newest the customer gave.
    if let Some(e) = email_of(order.email.as_deref(), "email")? {
        update.email = Some(e);
    }
    if update.phone.is_none() {
        update.phone = phone_of(order.phone.as_deref()).or_else(|| {
            phone_of(
                order
                    .shipping_address
                    .as_ref()
                    .and_then(|a| a.phone.as_deref()),
            )
        });
    }
    if let Some(a) = order
        .shipping_address
        .as_ref()
        .or(order.billing_address.as_ref())
    {
        if let Some(address) = address_of(a) {
            update.postal_address = Some(address);
        }
        from_country(&mut update, order.customer_locale.as_deref(), a);
    }
    let placed_at = timestamp("created_at", &order.created_at)?.min(now);
    let mut lines = Vec::with_capacity(order.line_items.len());
    let mut products = Vec::with_capacity(order.line_items.len());
    for (i, line) in order.line_items.iter().enumerate() {
        let sku = line_sku(line, i)?;
        let price = cents(&format!("line_items[{i}].price"), &line.price)?;
        let mut discount = 0;
        for (j, a) in line.discount_allocations.iter().enumerate() {
            discount += cents(
                &format!("line_items[{i}].discount_allocations[{j}].amount"),
                &a.amount,
            )?;
        }
        if line.quantity == 0 {
            return Err(FieldError::new(
                format!("line_items[{i}].quantity"),
                "must be at least 1",
            ));
        }
        let name = line
            .title
            .clone()
            .or_else(|| line.name.clone())
            .unwrap_or_else(|| sku.to_string());
        products.push(LineProduct {
            sku: sku.clone(),
            name,
            price_cents: price,
        });
        lines.extend(split_line(
            sku,
            line.quantity,
            price * i64::from(line.quantity) - discount,
        ));
    }
    let mut codes = Vec::with_capacity(order.discount_codes.len());
    for (i, d) in order.discount_codes.iter().enumerate() {
        let amount = match &d.amount {
            Some(a) => cents(&format!("discount_codes[{i}].amount"), a)?,
            None => 0,
        };
        codes.push((d.code.clone(), amount));
    }
    let customer_id = customer_id(customer.id)?;
    Ok(Change::Order {
        customer: update,
        order: order_record(
            &order.name,
            &customer_id,
            placed_at,
            order.currency.as_deref().unwrap_or("EUR"),
            lines,
        )?,
        platform_id: Some(order.id.to_string()),
        products,
        codes,
    })
}

fn fulfillment(f: Fulfillment, now: Timestamp) -> Result<Mapped, FieldError> {
    if matches!(f.status.as_deref(), Some("cancelled" | "error" | "failure")) {
        return Ok(Mapped::Ignored(format!(
            "fulfilment {} is {}",
            f.id,
            f.status.as_deref().unwrap_or_default()
        )));
    }
    // A fulfilment marked shipped without a carrier's status yet: handed over.
    let status = match f.shipment_status.as_deref() {
        None => ShipmentStatus::HandedOver,
        Some("label_printed" | "label_purchased") => ShipmentStatus::LabelCreated,
        Some("confirmed") => ShipmentStatus::HandedOver,
        Some("in_transit") => ShipmentStatus::InTransit,
        Some("out_for_delivery") => ShipmentStatus::OutForDelivery,
        Some("attempted_delivery" | "failure") => ShipmentStatus::DeliveryFailed,
        Some("ready_for_pickup") => ShipmentStatus::ReadyForPickup,
        Some("picked_up") => ShipmentStatus::PickedUp,
        Some("delivered") => ShipmentStatus::Delivered,
        Some(other) => {
            return Ok(Mapped::Ignored(format!(
                "shipment status {other} is not one Aftercare follows"
            )));
        }
    };
    let at = match f.updated_at.as_deref().or(f.created_at.as_deref()) {
        Some(s) => timestamp("updated_at", s)?.min(now),
        None => now,
    };
    let carrier = carrier_key(f.tracking_company.as_deref().unwrap_or("unknown"));
    let mut shipment = match f.tracking_number.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => carrier_shipment(t, &carrier, status, at)?,
        _ => {
            let mut s = carrier_shipment(
                &format!("shopify-fulfillment-{}", f.id),
                &carrier,
                status,
                at,
            )?;
            s.carrier_code = false;
            s
        }
    };
    shipment.platform_id = Some(f.id.to_string());
    Ok(Mapped::Changes(vec![Change::Shipment {
        order: OrderRef::PlatformId(f.order_id.to_string()),
        shipment,
    }]))
}

fn products(p: Product) -> Result<Mapped, FieldError> {
    let category = p
        .product_type
        .as_deref()
        .map(|t| slug(t, 64))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "general".into());
    let mut changes = Vec::new();
    for (i, v) in p.variants.iter().enumerate() {
        let sku = match (v.sku.as_deref().map(str::trim), v.id) {
            (Some(s), _) if !s.is_empty() => s.to_string(),
            (_, Some(id)) => format!("shopify-variant-{id}"),
            _ => continue,
        };
        let name = match v.title.as_deref() {
            Some(t) if t != "Default Title" && !t.trim().is_empty() => {
                format!("{} – {t}", p.title)
            }
            _ => p.title.clone(),
        };
        changes.push(Change::Product(ProductRecord {
            sku: ExternalId::parse(&sku)
                .map_err(|r| FieldError::new(format!("variants[{i}].sku"), r))?,
            name,
            category: category.clone(),
            price_cents: cents(&format!("variants[{i}].price"), &v.price)?.max(0),
            currency: "EUR".into(),
            lifespan_days: None,
            tips: Vec::new(),
            successor_sku: None,
            translations: Default::default(),
        }));
    }
    if changes.is_empty() {
        return Ok(Mapped::Ignored("a product without variants".into()));
    }
    Ok(Mapped::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-02T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_line_without_a_quantity_is_named_by_its_path() {
        let body = br##"{"id": 1, "name": "#1001", "created_at": "2026-03-01T10:00:00+01:00",
            "customer": {"id": 7}, "line_items": [{"sku": "A", "price": "1.00"}]}"##;
        let e = map("orders/create", body, now()).unwrap_err();
        assert_eq!(e.field, "line_items[0]");
        assert!(e.reason.contains("quantity"), "{}", e.reason);
    }

    #[test]
    fn a_discount_on_a_line_lowers_its_unit_price() {
        let body = br##"{"id": 1, "name": "#1001", "created_at": "2026-03-01T10:00:00+01:00",
            "customer": {"id": 7}, "line_items": [{"sku": "A", "quantity": 2, "price": "10.00",
            "discount_allocations": [{"amount": "4.00"}]}]}"##;
        let Mapped::Changes(changes) = map("orders/create", body, now()).unwrap() else {
            panic!()
        };
        let Change::Order { order, .. } = &changes[0] else {
            panic!()
        };
        assert_eq!(order.lines[0].unit_price_cents, 800);
        assert_eq!(order.total_cents(), 1600);
    }

    #[test]
    fn a_discount_that_does_not_divide_keeps_the_total_to_the_cent() {
        let sku = ExternalId::parse("A").unwrap();
        let lines = split_line(sku, 2, 2000 - 133);
        assert_eq!(
            lines.iter().map(|(_, q, u)| (*q, *u)).collect::<Vec<_>>(),
            [(1, 933), (1, 934)]
        );
    }

    #[test]
    fn tags_become_attributes() {
        let body = br#"{"id": 7, "tags": "VIP, segment:runner"}"#;
        let Mapped::Changes(changes) = map("customers/update", body, now()).unwrap() else {
            panic!()
        };
        let Change::Customer(c) = &changes[0] else {
            panic!()
        };
        assert_eq!(c.attributes["segment"], json!("runner"));
        assert_eq!(c.attributes["tags"], json!(["VIP", "segment:runner"]));
    }

    #[test]
    fn an_unknown_topic_is_ignored() {
        assert!(matches!(
            map("app/uninstalled", b"{}", now()),
            Ok(Mapped::Ignored(_))
        ));
    }

    #[test]
    fn product_types_are_slugged_into_categories() {
        assert_eq!(slug("Running Shoes", 64), "running-shoes");
        assert_eq!(slug("  Socks & Co ", 64), "socks-co");
    }
}
