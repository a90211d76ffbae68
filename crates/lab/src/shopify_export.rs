//! The generated shop written as Shopify writes its exports (`customers_export.csv`,
//! `orders_export.csv`: one row per order line, the order's own columns on its first row),
//! so the demo — or any test of a size — can be fed through `aftercare import` the way a
//! real shop's history is (issue 24).

use std::path::Path;

use aftercare_domain::{CustomerRecord, ProductRecord};
use anyhow::Context;
use jiff::Timestamp;

use crate::demo_data::ShopAction;

const CUSTOMER_HEADER: &[&str] = &[
    "Customer ID",
    "First Name",
    "Last Name",
    "Email",
    "Accepts Email Marketing",
    "Default Address Company",
    "Default Address Address1",
    "Default Address Address2",
    "Default Address City",
    "Default Address Province Code",
    "Default Address Country Code",
    "Default Address Zip",
    "Default Address Phone",
    "Phone",
    "Accepts SMS Marketing",
    "Total Spent",
    "Total Orders",
    "Note",
    "Tax Exempt",
    "Tags",
];

const ORDER_HEADER: &[&str] = &[
    "Name",
    "Email",
    "Financial Status",
    "Currency",
    "Total",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Lineitem discount",
    "Billing Name",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping City",
    "Shipping Zip",
    "Shipping Country",
    "Cancelled at",
    "Id",
];

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Customer rows.
    pub customers: usize,
    /// Orders (one row per line).
    pub orders: usize,
    /// Order rows.
    pub lines: usize,
}

/// Writes `customers` and the orders among `actions` before `until` into `dir`.
pub fn write(
    dir: &Path,
    customers: &[CustomerRecord],
    catalogue: &[ProductRecord],
    actions: &[(Timestamp, ShopAction)],
    until: Timestamp,
) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let mut out = csv::Writer::from_path(dir.join("customers_export.csv"))?;
    out.write_record(CUSTOMER_HEADER)?;
    let mut all: Vec<&CustomerRecord> = customers.iter().collect();
    for (_, a) in actions.iter().filter(|(t, _)| *t < until) {
        if let ShopAction::NewCustomer(c) = a {
            all.push(c);
        }
    }
    for c in &all {
        let marketing = |channel| {
            c.consent(aftercare_domain::Purpose::Marketing, channel)
                .map(|k| if k.granted { "yes" } else { "no" })
                .unwrap_or("no")
        };
        let a = c.postal_address.as_ref();
        let street = a.map(|a| format!("{} {}", a.street, a.house_number));
        let last = match (&c.name_prefix, &c.last_name) {
            (Some(p), Some(l)) => format!("{p} {l}"),
            (None, Some(l)) => l.clone(),
            _ => String::new(),
        };
        let tags = c
            .attributes
            .get("segment")
            .and_then(|s| s.as_str())
            .map(|s| format!("segment:{s}"))
            .unwrap_or_default();
        out.write_record([
            c.external_id.as_str(),
            c.first_name.as_deref().unwrap_or(""),
            &last,
            c.email.as_ref().map(|e| e.as_str()).unwrap_or(""),
            marketing(aftercare_domain::Channel::Email),
            "",
            street.as_deref().unwrap_or(""),
            a.and_then(|a| a.house_number_addition.as_deref())
                .unwrap_or(""),
            a.map(|a| a.city.as_str()).unwrap_or(""),
            "",
            a.map(|a| a.country.as_str()).unwrap_or(""),
            a.map(|a| a.postcode.as_str()).unwrap_or(""),
            "",
            c.phone.as_ref().map(|p| p.as_str()).unwrap_or(""),
            marketing(aftercare_domain::Channel::Sms),
            "",
            "",
            "",
            "no",
            &tags,
        ])?;
    }
    out.flush()?;
    let by_id: std::collections::HashMap<&str, &CustomerRecord> =
        all.iter().map(|c| (c.external_id.as_str(), *c)).collect();
    let names: std::collections::HashMap<&str, &str> = catalogue
        .iter()
        .map(|p| (p.sku.as_str(), p.name.as_str()))
        .collect();
    let mut out = csv::Writer::from_path(dir.join("orders_export.csv"))?;
    out.write_record(ORDER_HEADER)?;
    let mut written = Written {
        customers: all.len(),
        orders: 0,
        lines: 0,
    };
    for (_, a) in actions.iter().filter(|(t, _)| *t < until) {
        let ShopAction::Order(o) = a else { continue };
        let c = by_id.get(o.customer_external_id.as_str());
        let email = c
            .and_then(|c| c.email.as_ref())
            .map(|e| e.as_str())
            .unwrap_or("");
        let created = o
            .placed_at
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%Y-%m-%d %H:%M:%S %z")
            .to_string();
        let total = format!("{:.2}", o.total_cents() as f64 / 100.0);
        let billing = c
            .map(|c| {
                [c.first_name.as_deref(), c.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let a = c.and_then(|c| c.postal_address.as_ref());
        let street = a.map(|a| format!("{} {}", a.street, a.house_number));
        for (i, line) in o.lines.iter().enumerate() {
            let first = i == 0;
            let price = format!("{:.2}", line.unit_price_cents as f64 / 100.0);
            let quantity = line.quantity.to_string();
            let pick = |v: &str| if first { v.to_string() } else { String::new() };
            out.write_record([
                o.external_id.as_str().to_string(),
                email.to_string(),
                pick("paid"),
                pick(&o.currency),
                pick(&total),
                created.clone(),
                quantity,
                names
                    .get(line.sku.as_str())
                    .copied()
                    .unwrap_or("")
                    .to_string(),
                price,
                line.sku.as_str().to_string(),
                "0.00".to_string(),
                pick(&billing),
                pick(street.as_deref().unwrap_or("")),
                pick(
                    a.and_then(|a| a.house_number_addition.as_deref())
                        .unwrap_or(""),
                ),
                pick(a.map(|a| a.city.as_str()).unwrap_or("")),
                pick(a.map(|a| a.postcode.as_str()).unwrap_or("")),
                pick(a.map(|a| a.country.as_str()).unwrap_or("")),
                String::new(),
                pick(o.external_id.as_str()),
            ])?;
            written.lines += 1;
        }
        written.orders += 1;
    }
    out.flush()?;
    Ok(written)
}
