//! WooCommerce's webhooks (REST API v3 resources, as WooCommerce documents them, topic in
//! `X-WC-Webhook-Topic`) mapped onto Aftercare's records.
//!
//! - A customer with an account is known by WooCommerce's customer id (`"25"`); a guest by
//!   `guest-` and the billing email, since WooCommerce gives a guest no id.
//! - An order by its number (`number`), its id kept beside it.
//! - `order.updated` with status `cancelled` cancels the order, `refunded` records a return,
//!   `completed` records a shipment when the order carries tracking (the WooCommerce
//!   Shipment Tracking extension's `_wc_shipment_tracking_items`); without tracking, the
//!   shipping platform (Sendcloud, MyParcel) reports the parcel.
//! - WooCommerce's core has no marketing consent; the newsletter plugin's own webhook (or the
//!   API) sets it.

use aftercare_domain::{ExternalId, FieldError, ShipmentStatus};
use jiff::Timestamp;
use serde::Deserialize;

use super::{
    Change, CustomerUpdate, LineProduct, Mapped, OrderRef, carrier_key, carrier_shipment, cents,
    country_locale, email_of, order_record, parse_body, phone_of, postal_address, split_line,
    time_zone,
};

/// The topics mapped; any other is answered 200 and ignored.
pub const TOPICS: &[&str] = &[
    "order.created",
    "order.updated",
    "customer.created",
    "customer.updated",
];

#[derive(Debug, Default, Deserialize)]
struct Address {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    address_1: Option<String>,
    #[serde(default)]
    address_2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    postcode: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    billing: Option<Address>,
    #[serde(default)]
    shipping: Option<Address>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    product_id: Option<u64>,
    #[serde(default)]
    variation_id: Option<u64>,
    quantity: u32,
    #[serde(default)]
    sku: Option<String>,
    /// The line's total after discounts, as text.
    total: String,
    /// The line's total before discounts, as text.
    #[serde(default)]
    subtotal: Option<String>,
    /// The VAT on `total`.
    #[serde(default)]
    total_tax: Option<String>,
    /// The VAT on `subtotal`.
    #[serde(default)]
    subtotal_tax: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    date_created_gmt: Option<String>,
    #[serde(default)]
    date_modified_gmt: Option<String>,
    #[serde(default)]
    date_completed_gmt: Option<String>,
    #[serde(default)]
    customer_id: u64,
    #[serde(default)]
    billing: Address,
    #[serde(default)]
    shipping: Address,
    #[serde(default)]
    coupon_lines: Vec<CouponLine>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    meta_data: Vec<Meta>,
}

/// What one WooCommerce delivery on `topic` asks.
pub fn map(topic: &str, body: &[u8], now: Timestamp) -> Result<Mapped, FieldError> {
    match topic {
        "order.created" | "order.updated" => {
            let order: Order = parse_body(body)?;
            let number = number(&order);
            let modified = gmt(&order.date_modified_gmt, "date_modified_gmt")?
                .unwrap_or(now)
                .min(now);
            let known = OrderRef::Number(number.clone());
            match order.status.as_deref().unwrap_or("pending") {
                // Paid (or being fulfilled): the order, and its parcels once completed.
                "processing" => Ok(Mapped::Changes(vec![order_change(&order, now)?])),
                "completed" => {
                    let mut changes = vec![order_change(&order, now)?];
                    let at = gmt(&order.date_completed_gmt, "date_completed_gmt")?
                        .unwrap_or(modified)
                        .min(now);
                    for (tracking, carrier) in tracking_items(&order) {
                        changes.push(Change::Shipment {
                            order: known.clone(),
                            shipment: carrier_shipment(
                                &tracking,
                                &carrier,
                                ShipmentStatus::HandedOver,
                                at,
                            )?,
                        });
                    }
                    Ok(Mapped::Changes(changes))
                }
                "cancelled" | "failed" => Ok(Mapped::Changes(vec![Change::Cancelled {
                    order: known,
                    at: modified,
                }])),
                "refunded" => Ok(Mapped::Changes(vec![Change::Return {
                    order: known,
                    at: modified,
                    items: None,
                }])),
                // Not paid yet (iDEAL or Bancontact still open, a bank transfer awaited):
                // nothing until it is.
                status @ ("pending" | "on-hold" | "checkout-draft") => Ok(Mapped::Ignored(
                    format!("order {number} is {status}: not paid yet"),
                )),
                _ => Ok(Mapped::Changes(vec![Change::KnownOrder { order: known }])),
            }
        }
        "customer.created" | "customer.updated" => {
            let c: Customer = parse_body(body)?;
            let address = c
                .shipping
                .as_ref()
                .filter(|a| has_street(a))
                .or(c.billing.as_ref());
            let mut update = customer_from(address, &external_id(&c.id.to_string())?)?;
            if let Some(e) = email_of(c.email.as_deref(), "email")? {
                update.email = Some(e);
            }
            update.first_name = nonempty(&c.first_name).or(update.first_name);
            update.last_name = nonempty(&c.last_name).or(update.last_name);
            Ok(Mapped::Changes(vec![Change::Customer(update)]))
        }
        other => Ok(Mapped::Ignored(format!(
            "topic {other} is not one Aftercare follows"
        ))),
    }
}

/// A coupon used on an order.
#[derive(Debug, Deserialize)]
struct CouponLine {
    code: String,
    #[serde(default)]
    discount: Option<String>,
    #[serde(default)]
    discount_tax: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.trim().is_empty())
}

fn has_street(a: &Address) -> bool {
    a.address_1.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn external_id(s: &str) -> Result<ExternalId, FieldError> {
    ExternalId::parse(s).map_err(|r| FieldError::new("customer_id", r))
}

fn number(order: &Order) -> String {
    order
        .number
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| order.id.to_string())
}

/// WooCommerce's `*_gmt` times: UTC without an offset ("2017-03-22T19:28:02").
fn gmt(s: &Option<String>, field: &str) -> Result<Option<Timestamp>, FieldError> {
    let Some(s) = s.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let civil: jiff::civil::DateTime = s
        .parse()
        .map_err(|e| FieldError::new(field, format!("'{s}' is not a date and time: {e}")))?;
    civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| Some(z.timestamp()))
        .map_err(|e| FieldError::new(field, e.to_string()))
}

fn customer_from(address: Option<&Address>, id: &ExternalId) -> Result<CustomerUpdate, FieldError> {
    let a = address;
    let country = a.and_then(|a| a.country.as_deref());
    Ok(CustomerUpdate {
        external_id: Some(id.clone()),
        email: email_of(a.and_then(|a| a.email.as_deref()), "billing.email")?,
        phone: phone_of(a.and_then(|a| a.phone.as_deref())),
        first_name: a.and_then(|a| nonempty(&a.first_name)),
        last_name: a.and_then(|a| nonempty(&a.last_name)),
        guessed_locale: country_locale(country),
        time_zone: time_zone(country),
        postal_address: a.and_then(|a| {
            postal_address(
                a.address_1.as_deref()?,
                a.address_2.as_deref().unwrap_or(""),
                a.postcode.as_deref()?,
                a.city.as_deref()?,
                a.country.as_deref()?,
            )
        }),
        ..Default::default()
    })
}

fn order_change(order: &Order, now: Timestamp) -> Result<Change, FieldError> {
    let customer_id = if order.customer_id > 0 {
        external_id(&order.customer_id.to_string())?
    } else {
        let email = order
            .billing
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                FieldError::new(
                    "billing.email",
                    "a guest order needs the billing email to know the customer by",
                )
            })?;
        super::guest_id(&email)?
    };
    let address = if has_street(&order.shipping) {
        &order.shipping
    } else {
        &order.billing
    };
    let mut update = customer_from(Some(address), &customer_id)?;
    // The billing part carries the contact details; the shipping part the address.
    if let Some(e) = email_of(order.billing.email.as_deref(), "billing.email")? {
        update.email = Some(e);
    }
    update.phone = phone_of(order.billing.phone.as_deref()).or(update.phone);
    update.first_name = nonempty(&order.billing.first_name).or(update.first_name);
    update.last_name = nonempty(&order.billing.last_name).or(update.last_name);
    let placed_at = gmt(&order.date_created_gmt, "date_created_gmt")?
        .unwrap_or(now)
        .min(now);
    let mut lines = Vec::with_capacity(order.line_items.len());
    let mut products = Vec::with_capacity(order.line_items.len());
    for (i, line) in order.line_items.iter().enumerate() {
        let sku = match (
            line.sku.as_deref().map(str::trim),
            line.variation_id.filter(|v| *v > 0),
            line.product_id,
        ) {
            (Some(s), _, _) if !s.is_empty() => s.to_string(),
            (_, Some(v), _) => format!("woocommerce-variation-{v}"),
            (_, _, Some(p)) => format!("woocommerce-product-{p}"),
            _ => {
                return Err(FieldError::new(
                    format!("line_items[{i}].sku"),
                    "the line has neither a sku nor a product id",
                ));
            }
        };
        let sku = ExternalId::parse(&sku)
            .map_err(|r| FieldError::new(format!("line_items[{i}].sku"), r))?;
        if line.quantity == 0 {
            return Err(FieldError::new(
                format!("line_items[{i}].quantity"),
                "must be at least 1",
            ));
        }
        let q = i64::from(line.quantity);
        // WooCommerce's line totals leave the VAT out; the customer paid it.
        let tax = |field: &str, amount: &Option<String>| match amount {
            Some(t) => cents(&format!("line_items[{i}].{field}"), t),
            None => Ok(0),
        };
        let total = cents(&format!("line_items[{i}].total"), &line.total)?
            + tax("total_tax", &line.total_tax)?;
        let before = match &line.subtotal {
            Some(s) => {
                cents(&format!("line_items[{i}].subtotal"), s)?
                    + tax("subtotal_tax", &line.subtotal_tax)?
            }
            None => total,
        };
        products.push(LineProduct {
            sku: sku.clone(),
            name: line.name.clone().unwrap_or_else(|| sku.to_string()),
            price_cents: before / q,
        });
        lines.extend(split_line(sku, line.quantity, total));
    }
    let mut codes = Vec::with_capacity(order.coupon_lines.len());
    for (i, c) in order.coupon_lines.iter().enumerate() {
        let amount = |field: &str, a: &Option<String>| match a {
            Some(a) => cents(&format!("coupon_lines[{i}].{field}"), a),
            None => Ok(0),
        };
        // Like the lines, the customer saw the discount with its VAT.
        codes.push((
            c.code.clone(),
            amount("discount", &c.discount)? + amount("discount_tax", &c.discount_tax)?,
        ));
    }
    Ok(Change::Order {
        customer: update,
        order: order_record(
            &number(order),
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

/// `(tracking number, carrier key)` from the Shipment Tracking extension's meta data.
fn tracking_items(order: &Order) -> Vec<(String, String)> {
    order
        .meta_data
        .iter()
        .filter(|m| m.key == "_wc_shipment_tracking_items")
        .filter_map(|m| m.value.as_array())
        .flatten()
        .filter_map(|item| {
            let number = item.get("tracking_number")?.as_str()?.trim();
            if number.is_empty() {
                return None;
            }
            let provider = item
                .get("tracking_provider")
                .or_else(|| item.get("custom_tracking_provider"))
                .and_then(|p| p.as_str())
                .unwrap_or("unknown");
            Some((number.to_string(), carrier_key(provider)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_guest_is_known_by_the_billing_email() {
        let body = br#"{"id": 727, "number": "727", "status": "processing",
            "date_created_gmt": "2026-03-01T19:28:02", "customer_id": 0,
            "billing": {"first_name": "Anna", "last_name": "de Vries", "email": "Anna@Example.nl",
                        "address_1": "Dorpsstraat 4", "postcode": "1234 AB", "city": "Ede", "country": "NL"},
            "line_items": [{"name": "Sok", "product_id": 93, "quantity": 2, "sku": "", "total": "4.96",
                "total_tax": "1.04", "subtotal": "6.61", "subtotal_tax": "1.39"}],
            "coupon_lines": [{"id": 3, "code": "lw-abcd-efgh", "discount": "1.65", "discount_tax": "0.35"}]}"#;
        let Mapped::Changes(changes) = map("order.created", body, now()).unwrap() else {
            panic!()
        };
        let Change::Order {
            order,
            products,
            codes,
            ..
        } = &changes[0]
        else {
            panic!()
        };
        assert_eq!(codes, &[("lw-abcd-efgh".to_string(), 200)], "with its VAT");
        assert_eq!(
            order.customer_external_id,
            crate::connectors::guest_id(" ANNA@example.nl").unwrap()
        );
        assert!(!order.customer_external_id.as_str().contains("anna"));
        assert_eq!(order.lines[0].sku.as_str(), "woocommerce-product-93");
        assert_eq!(order.lines[0].unit_price_cents, 300);
        assert_eq!(products[0].price_cents, 400);
        assert_eq!(
            order.placed_at,
            "2026-03-01T19:28:02Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn a_completed_order_with_tracking_is_handed_over() {
        let body = br#"{"id": 727, "number": "727", "status": "completed", "customer_id": 5,
            "date_completed_gmt": "2026-03-02T08:00:00",
            "line_items": [{"sku": "A", "quantity": 1, "total": "10.00"}],
            "meta_data": [{"id": 1, "key": "_wc_shipment_tracking_items",
              "value": [{"tracking_provider": "PostNL", "tracking_number": "3SABC123"}]}]}"#;
        let Mapped::Changes(changes) = map("order.updated", body, now()).unwrap() else {
            panic!()
        };
        assert_eq!(changes.len(), 2);
        let Change::Shipment {
            shipment: event, ..
        } = &changes[1]
        else {
            panic!()
        };
        assert_eq!(
            (event.tracking.as_str(), event.carrier.as_str()),
            ("3SABC123", "postnl")
        );
    }
}
