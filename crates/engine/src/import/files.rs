//! Reading history files, streaming (one item in memory at a time, so a 10 GB file works):
//!
//! - **JSON Lines in Aftercare's own fields**, one record per line, the API's record for the
//!   kind (`CustomerRecord`, `ProductRecord`, `OrderRecord`, `ShipmentEventRecord`, and for
//!   consents `{"customer_external_id", "purpose", "channel", "granted", "source", "at"}`).
//! - **Shopify's customer export** (`customers_export.csv`): `Customer ID`, names, email,
//!   phone, default address, `Accepts Email Marketing`, `Accepts SMS Marketing`, `Tags` (the
//!   older export's `Accepts Marketing`, `Address1`, … too).
//! - **Shopify's order export** (`orders_export.csv`): one row per order line, the order's own
//!   columns on its first row; a customer is found by the email (import the customer export
//!   first, so orders join the customers Shopify's webhooks will name), else made from the
//!   order's billing name and shipping address. Cancelled orders are skipped.
//!
//! - **CSV in Aftercare's own fields**: the JSON record's field names as the header, a dot
//!   for a nested field (`postal_address.postcode`, `attributes.shoe_size`); an empty cell is
//!   an absent field. Orders take one row per line (`sku`, `quantity`, `unit_price_cents`),
//!   consecutive rows with the same `external_id` being one order; a product's `tips` are
//!   separated by `|`; a customer's consents are `consents.<purpose>.<channel>` columns of
//!   `yes`/`no` with `consents_at` (when the customer decided, required with them) and
//!   `consents_source` (default `import`).
//! - **WooCommerce's order export** (the CSV of the order export plugins shops use,
//!   WebToffee's "Order Export & Order Import" and the Customer/Order CSV Import Suite): one
//!   row per order with `order_number`, `order_date` (the shop's local time), `status`,
//!   `customer_id` (0 for a guest), `billing_*` and `shipping_*`, and the lines as
//!   `line_item_1`, `line_item_2`, … cells of `name:…|sku:…|quantity:…|total:…|tax:…`. Only
//!   paid orders (`processing`, `completed`) are history; the rest are skipped. Totals are
//!   written with their VAT, as the customer paid them.
//!
//! The format is told by the first line: `{` is JSON Lines, a header with `Customer ID` or
//! `Accepts Email Marketing` is Shopify's customer export, one with `Lineitem quantity`
//! Shopify's order export, one with `line_item_1` or `order_number` WooCommerce's, and one
//! naming the kind's own key field (`external_id`, `sku`, `shipment_id`,
//! `customer_external_id`) Aftercare's CSV. A CSV whose header has more semicolons than
//! commas (a Dutch spreadsheet's) is read with `;` between fields.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use aftercare_domain::{Channel, ExternalId, FieldError, PostalAddress};
use jiff::Timestamp;

use super::{ConsentLine, Item, Kind};
use crate::connectors::{
    CustomerUpdate, LineProduct, Platform, consent, country_locale, email_of, order_record,
    phone_of, postal_address, slug, split_line, tag_attributes, time_zone,
};

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines in Aftercare's own fields.
    JsonLines,
    /// Shopify's customer export.
    ShopifyCustomers,
    /// Shopify's order export.
    ShopifyOrders,
    /// CSV in Aftercare's own field names.
    OwnCsv,
    /// WooCommerce's order export.
    WooCommerceOrders,
}

impl Format {
    const ALL: [Format; 5] = [
        Format::JsonLines,
        Format::ShopifyCustomers,
        Format::ShopifyOrders,
        Format::OwnCsv,
        Format::WooCommerceOrders,
    ];

    /// Its name in an upload's record.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::JsonLines => "jsonl",
            Format::ShopifyCustomers => "shopify-customers",
            Format::ShopifyOrders => "shopify-orders",
            Format::OwnCsv => "csv",
            Format::WooCommerceOrders => "woocommerce-orders",
        }
    }

    /// The format named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What the first line of a file for `kind` says it is.
    pub fn detect(kind: Kind, first_line: &str) -> Result<Self, String> {
        let line = first_line.trim_start_matches('\u{feff}').trim();
        if line.starts_with('{') {
            return Ok(Format::JsonLines);
        }
        let shopify_customers = line.contains("Customer ID")
            || line.contains("Accepts Email Marketing")
            || (line.contains("First Name") && line.contains("Total Orders"));
        let shopify_orders = line.contains("Lineitem quantity");
        let lower = line.to_lowercase();
        let columns: Vec<&str> = lower
            .split([',', ';'])
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let has = |name: &str| columns.contains(&name);
        let woocommerce_orders = has("line_item_1") || (has("order_number") && has("status"));
        let own = match kind {
            Kind::Customers => has("external_id"),
            Kind::Products => has("sku"),
            Kind::Orders => has("external_id") && has("customer_external_id"),
            Kind::Shipments => has("shipment_id"),
            Kind::Consents => has("customer_external_id") && has("purpose"),
        };
        match kind {
            Kind::Customers if shopify_customers => Ok(Format::ShopifyCustomers),
            Kind::Orders if shopify_orders => Ok(Format::ShopifyOrders),
            Kind::Orders if woocommerce_orders => Ok(Format::WooCommerceOrders),
            _ if own => Ok(Format::OwnCsv),
            _ => Err(format!(
                "the first line is neither a JSON record nor the header of a {} file Aftercare reads (its own CSV fields, Shopify's customer or order export, WooCommerce's order export)",
                kind.as_str()
            )),
        }
    }
}

/// What a line (or an order's rows) of a file gives.
#[derive(Debug)]
pub enum Read1 {
    /// An item to store.
    Item(Box<Item>),
    /// Nothing to store, and why (a cancelled order).
    Skip(String),
}

/// One entry: the line it starts on, and what it gives or why it could not be read.
pub type Entry = (u64, Result<Read1, FieldError>);

/// The entries of a file of `kind` in `format`, read as they are asked for.
pub fn entries<R: Read + Send + 'static>(
    kind: Kind,
    format: Format,
    reader: R,
    now: Timestamp,
) -> Box<dyn Iterator<Item = Entry> + Send> {
    match format {
        Format::JsonLines => Box::new(json_lines(kind, std::io::BufReader::new(reader))),
        Format::ShopifyCustomers => Box::new(CsvRows::new(reader).map(move |(line, row)| {
            (
                line,
                row.and_then(|r| shopify_customer(&r, now))
                    .map(|c| Read1::Item(Box::new(Item::CustomerUpdate(Box::new(c))))),
            )
        })),
        Format::ShopifyOrders => Box::new(Grouped {
            rows: CsvRows::new(reader).peekable(),
            key: "name",
            map: Box::new(move |rows| shopify_order(rows, now)),
        }),
        Format::OwnCsv if kind == Kind::Orders => Box::new(Grouped {
            rows: CsvRows::new(reader).peekable(),
            key: "external_id",
            map: Box::new(|rows| own_order(rows).map(|i| Read1::Item(Box::new(i)))),
        }),
        Format::OwnCsv => Box::new(CsvRows::new(reader).map(move |(line, row)| {
            (
                line,
                row.and_then(|r| own_item(kind, &r))
                    .map(|i| Read1::Item(Box::new(i))),
            )
        })),
        Format::WooCommerceOrders => Box::new(
            CsvRows::new(reader)
                .map(move |(line, row)| (line, row.and_then(|r| woocommerce_order(&r, now)))),
        ),
    }
}

fn json_lines<R: BufRead>(kind: Kind, reader: R) -> impl Iterator<Item = Entry> {
    reader.lines().enumerate().filter_map(move |(i, line)| {
        let n = i as u64 + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some((n, Err(FieldError::new("line", e.to_string())))),
        };
        if line.trim().is_empty() {
            return None;
        }
        // A file saved with a byte-order mark has it before the first record.
        let line = if n == 1 {
            line.trim_start_matches('\u{feff}')
        } else {
            line.as_str()
        };
        Some((n, json_item(kind, line).map(|i| Read1::Item(Box::new(i)))))
    })
}

fn json_item(kind: Kind, line: &str) -> Result<Item, FieldError> {
    let body = line.as_bytes();
    Ok(match kind {
        Kind::Customers => Item::Customer(Box::new(crate::connectors::parse_body(body)?)),
        Kind::Products => Item::Product(Box::new(crate::connectors::parse_body(body)?)),
        Kind::Orders => Item::Order {
            order: crate::connectors::parse_body(body)?,
            customer: None,
            email: None,
            products: Vec::new(),
        },
        Kind::Shipments => Item::Shipment(Box::new(crate::connectors::parse_body(body)?)),
        Kind::Consents => Item::Consent(Box::new(crate::connectors::parse_body::<ConsentLine>(
            body,
        )?)),
    })
}

/// A CSV row by column name (names as in the header, compared without case).
type Row = HashMap<String, String>;

/// A CSV file's rows by column name, with `;` between fields when the header has more
/// semicolons than commas (as a spreadsheet set to Dutch saves it).
struct CsvRows<R: Read> {
    reader: csv::Reader<std::io::BufReader<R>>,
    headers: Option<Vec<String>>,
    record: csv::StringRecord,
}

impl<R: Read> CsvRows<R> {
    fn new(reader: R) -> Self {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        let head = reader.fill_buf().unwrap_or_default();
        let header = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let count = |c: u8| header.iter().filter(|b| **b == c).count();
        let delimiter = if count(b';') > count(b',') {
            b';'
        } else {
            b','
        };
        let reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .delimiter(delimiter)
            .from_reader(reader);
        Self {
            reader,
            headers: None,
            record: csv::StringRecord::new(),
        }
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = (u64, Result<Row, FieldError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Some((line, Err(FieldError::new("row", e.to_string()))));
                }
                Ok(true) => {}
            }
            let line = self.record.position().map(|p| p.line()).unwrap_or(0);
            let Some(headers) = &self.headers else {
                self.headers = Some(
                    self.record
                        .iter()
                        .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
                        .collect(),
                );
                continue;
            };
            if self.record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let row = headers
                .iter()
                .zip(self.record.iter())
                .map(|(h, v)| (h.clone(), v.trim().to_string()))
                .collect();
            return Some((line, Ok(row)));
        }
    }
}

/// The first non-empty of `names` in `row`. A number a spreadsheet was told to keep as
/// text (`'+31612345678`, `'2000`) loses its quote; `'s-Hertogenbosch` keeps it.
fn col<'r>(row: &'r Row, names: &[&str]) -> Option<&'r str> {
    names.iter().find_map(|n| {
        let v = row.get(*n).map(String::as_str).filter(|v| !v.is_empty())?;
        Some(match v.strip_prefix('\'') {
            Some(rest)
                if !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '+' || c == ' ') =>
            {
                rest
            }
            _ => v,
        })
    })
}

fn yes(value: Option<&str>) -> Option<bool> {
    match value?.to_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// A customer's id as the platform gives it, or a guest's made from the email.
fn id_or_guest(
    id: Option<&str>,
    email: &Option<aftercare_domain::EmailAddress>,
    field: &str,
    neither: FieldError,
) -> Result<ExternalId, FieldError> {
    match (id, email) {
        (Some(id), _) => ExternalId::parse(id).map_err(|r| FieldError::new(field, r)),
        (None, Some(e)) => crate::connectors::guest_id(e.as_str()),
        (None, None) => Err(neither),
    }
}

fn shopify_customer(row: &Row, now: Timestamp) -> Result<CustomerUpdate, FieldError> {
    let email = email_of(col(row, &["email"]), "Email")?;
    // (Spreadsheets keep a long number whole when it is written with a leading quote.)
    let id = id_or_guest(
        col(row, &["customer id"]),
        &email,
        "Customer ID",
        FieldError::new("Customer ID", "a customer needs an id or an email"),
    )?;
    let country = col(row, &["default address country code", "country code"]);
    let address = address(
        col(row, &["default address address1", "address1"]),
        col(row, &["default address address2", "address2"]),
        col(row, &["default address zip", "zip"]),
        col(row, &["default address city", "city"]),
        country,
    );
    let mut update = CustomerUpdate {
        external_id: Some(id),
        email,
        phone: phone_of(col(row, &["phone", "default address phone"])),
        first_name: col(row, &["first name"]).map(str::to_string),
        last_name: col(row, &["last name"]).map(str::to_string),
        guessed_locale: country_locale(country),
        time_zone: time_zone(country),
        postal_address: address,
        ..Default::default()
    };
    if let Some(tags) = col(row, &["tags"]) {
        tag_attributes(tags, &mut update.attributes);
    }
    // The export gives no time for a consent: it only fills a channel without a decision.
    for (channel, names) in [
        (
            Channel::Email,
            &["accepts email marketing", "accepts marketing"][..],
        ),
        (Channel::Sms, &["accepts sms marketing"][..]),
    ] {
        if let Some(granted) = yes(col(row, names)) {
            update
                .consents_without_time
                .push(consent(channel, granted, now, Platform::Shopify));
        }
    }
    Ok(update)
}

fn address(
    line1: Option<&str>,
    line2: Option<&str>,
    zip: Option<&str>,
    city: Option<&str>,
    country: Option<&str>,
) -> Option<PostalAddress> {
    postal_address(line1?, line2.unwrap_or(""), zip?, city?, country?)
}

/// Makes an item of a group of rows.
type GroupMap = Box<dyn Fn(&[Row]) -> Result<Read1, FieldError> + Send>;

/// Consecutive rows with the same `key` column are one item (an order of a file with a row
/// per order line).
struct Grouped<R: Read> {
    rows: std::iter::Peekable<CsvRows<R>>,
    key: &'static str,
    map: GroupMap,
}

impl<R: Read> Iterator for Grouped<R> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let (line, first) = self.rows.next()?;
        let first = match first {
            Ok(r) => r,
            Err(e) => return Some((line, Err(e))),
        };
        let name = first.get(self.key).cloned().unwrap_or_default();
        let mut rows = vec![first];
        let mut broken: Option<(u64, FieldError)> = None;
        loop {
            match self.rows.peek() {
                Some((_, Ok(next)))
                    if !name.is_empty()
                        && next.get(self.key).map(String::as_str) == Some(name.as_str()) =>
                {
                    if let Some((_, Ok(row))) = self.rows.next() {
                        rows.push(row);
                    }
                }
                // A row that cannot be read in the middle of an order: the whole order is
                // refused (with its rows after it), not stored short of a line.
                Some((_, Err(_))) if broken.is_none() && !name.is_empty() => {
                    if let Some((at, Err(e))) = self.rows.next() {
                        broken = Some((at, e));
                    }
                }
                _ => break,
            }
        }
        if let Some((at, e)) = broken {
            return Some((
                line,
                Err(FieldError::new(
                    e.field,
                    format!("line {at} of order {name} cannot be read: {}", e.reason),
                )),
            ));
        }
        Some((line, (self.map)(&rows)))
    }
}

fn shopify_time(field: &str, s: &str) -> Result<Timestamp, FieldError> {
    // "2026-03-02 09:30:00 +0100", as the export writes it (RFC 3339 also accepted).
    jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", s)
        .and_then(|t| t.to_timestamp())
        .or_else(|_| s.parse::<Timestamp>())
        .map_err(|e| {
            FieldError::new(
                field,
                format!("'{s}' is not a time such as 2026-03-02 09:30:00 +0100: {e}"),
            )
        })
}

fn shopify_order(rows: &[Row], now: Timestamp) -> Result<Read1, FieldError> {
    let first = &rows[0];
    let name = col(first, &["name"]).ok_or_else(|| FieldError::new("Name", "must not be empty"))?;
    if col(first, &["cancelled at"]).is_some() {
        return Ok(Read1::Skip(format!("order {name} was cancelled")));
    }
    // Money that went back is not a sale (a partial refund still is).
    if let Some(status @ ("refunded" | "voided")) = col(first, &["financial status"]) {
        return Ok(Read1::Skip(format!("order {name} was {status}")));
    }
    let placed_at = shopify_time(
        "Created at",
        col(first, &["created at"])
            .ok_or_else(|| FieldError::new("Created at", "must not be empty"))?,
    )?;
    let email = email_of(col(first, &["email"]), "Email")?;
    let customer_id = match &email {
        Some(e) => crate::connectors::guest_id(e.as_str())?,
        None => {
            return Err(FieldError::new(
                "Email",
                "an order without an email cannot be linked to a customer",
            ));
        }
    };
    let country = col(first, &["shipping country", "billing country"]);
    let (first_name, last_name) = match col(first, &["billing name", "shipping name"]) {
        Some(n) => match n.split_once(' ') {
            Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string())),
            None => (None, Some(n.to_string())),
        },
        None => (None, None),
    };
    let customer = CustomerUpdate {
        external_id: Some(customer_id.clone()),
        email: email.clone(),
        phone: phone_of(col(first, &["phone", "shipping phone", "billing phone"])),
        first_name,
        last_name,
        guessed_locale: country_locale(country),
        time_zone: time_zone(country),
        postal_address: address(
            col(first, &["shipping address1", "billing address1"]),
            col(first, &["shipping address2", "billing address2"]),
            col(first, &["shipping zip", "billing zip"]),
            col(first, &["shipping city", "billing city"]),
            country,
        ),
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut products = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let field = |f: &str| format!("Lineitem {f} (row {})", i + 1);
        let quantity: u32 = col(row, &["lineitem quantity"])
            .ok_or_else(|| FieldError::new(field("quantity"), "must not be empty"))?
            .parse()
            .map_err(|_| FieldError::new(field("quantity"), "must be a whole number"))?;
        if quantity == 0 {
            return Err(FieldError::new(field("quantity"), "must be at least 1"));
        }
        let item_name = col(row, &["lineitem name"]).unwrap_or("").to_string();
        let sku = match col(row, &["lineitem sku"]) {
            Some(s) => s.to_string(),
            None => format!("shopify-line-{}", slug(&item_name, 100)),
        };
        let sku = ExternalId::parse(&sku).map_err(|r| FieldError::new(field("sku"), r))?;
        let price = crate::connectors::cents(
            &field("price"),
            col(row, &["lineitem price"]).unwrap_or("0"),
        )?;
        let discount = match col(row, &["lineitem discount"]) {
            Some(d) => crate::connectors::cents(&field("discount"), d)?,
            None => 0,
        };
        products.push(LineProduct {
            sku: sku.clone(),
            name: if item_name.is_empty() {
                sku.to_string()
            } else {
                item_name
            },
            price_cents: price,
        });
        lines.extend(split_line(
            sku,
            quantity,
            price * i64::from(quantity) - discount,
        ));
    }
    let order = order_record(
        name,
        &customer_id,
        placed_at.min(now),
        col(first, &["currency"]).unwrap_or("EUR"),
        lines,
    )?;
    Ok(platform_order(order, customer, email, products))
}

// ----- Aftercare's own CSV ---------------------------------------------------------------

/// Fields of Aftercare's records that are whole numbers or yes/no, so a CSV cell is read
/// as one (every other cell is text, as the JSON record has it).
const WHOLE_NUMBERS: &[&str] = &[
    "price_cents",
    "lifespan_days",
    "quantity",
    "unit_price_cents",
];
const YES_NO: &[&str] = &["granted"];
/// The columns of an order's line in Aftercare's own CSV.
const LINE_COLUMNS: &[&str] = &["sku", "quantity", "unit_price_cents"];

/// The JSON object a row of Aftercare's own CSV stands for: a dotted column is a nested
/// field, an empty cell an absent one.
fn own_object(
    row: &Row,
    keep: impl Fn(&str) -> bool,
) -> Result<serde_json::Map<String, serde_json::Value>, FieldError> {
    use serde_json::Value;
    let mut object = serde_json::Map::new();
    let mut names: Vec<&String> = row.keys().filter(|n| keep(n)).collect();
    names.sort();
    for name in names {
        let Some(value) = col(row, &[name.as_str()]) else {
            continue;
        };
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let typed = if name.starts_with("attributes.") {
            Value::from(value)
        } else if WHOLE_NUMBERS.contains(&leaf) {
            Value::from(value.parse::<i64>().map_err(|_| {
                FieldError::new(name.as_str(), format!("'{value}' is not a whole number"))
            })?)
        } else if YES_NO.contains(&leaf) {
            Value::Bool(yes(Some(value)).ok_or_else(|| {
                FieldError::new(name.as_str(), format!("'{value}' is neither yes nor no"))
            })?)
        } else if name == "tips" {
            value
                .split('|')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Value::from)
                .collect()
        } else {
            Value::from(value)
        };
        let mut parts = name.split('.').peekable();
        let mut at = &mut object;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                at.insert(part.to_string(), typed);
                break;
            }
            let next = at
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Default::default()));
            at = next.as_object_mut().ok_or_else(|| {
                FieldError::new(
                    name.as_str(),
                    format!("'{part}' is a column of its own too"),
                )
            })?;
        }
    }
    Ok(object)
}

/// A customer's `consents.<purpose>.<channel>` columns as consent decisions.
fn own_consents(row: &Row) -> Result<Vec<serde_json::Value>, FieldError> {
    let mut names: Vec<&String> = row.keys().filter(|n| n.starts_with("consents.")).collect();
    names.sort();
    let mut consents = Vec::new();
    for name in names {
        let Some(value) = col(row, &[name.as_str()]) else {
            continue;
        };
        let bad = |reason: &str| FieldError::new(name.as_str(), reason);
        let (purpose, channel) = name["consents.".len()..]
            .split_once('.')
            .ok_or_else(|| bad("a consent column is named consents.<purpose>.<channel>"))?;
        let purpose: aftercare_domain::Purpose = serde_json::from_value(serde_json::json!(purpose))
            .map_err(|_| bad("the purpose is service or marketing"))?;
        let channel: Channel = serde_json::from_value(serde_json::json!(channel))
            .map_err(|_| bad("the channel is email, sms or letter"))?;
        let granted = yes(Some(value)).ok_or_else(|| bad("is yes or no"))?;
        let at = col(row, &["consents_at"]).ok_or_else(|| {
            FieldError::new(
                "consents_at",
                "when the customer made the consent decisions is needed with them",
            )
        })?;
        consents.push(serde_json::json!({
            "purpose": purpose, "channel": channel, "granted": granted,
            "source": col(row, &["consents_source"]).unwrap_or("import"), "at": at,
        }));
    }
    Ok(consents)
}

fn own_item(kind: Kind, row: &Row) -> Result<Item, FieldError> {
    let mut object = own_object(row, |n| !n.starts_with("consents"))?;
    if kind == Kind::Customers {
        let consents = own_consents(row)?;
        if !consents.is_empty() {
            object.insert("consents".into(), consents.into());
        }
    }
    json_item(kind, &serde_json::Value::Object(object).to_string())
}

fn own_order(rows: &[Row]) -> Result<Item, FieldError> {
    let mut order = own_object(&rows[0], |n| !LINE_COLUMNS.contains(&n))?;
    let lines = rows
        .iter()
        .map(|r| own_object(r, |n| LINE_COLUMNS.contains(&n)).map(serde_json::Value::Object))
        .collect::<Result<Vec<_>, _>>()?;
    order.insert("lines".into(), lines.into());
    json_item(Kind::Orders, &serde_json::Value::Object(order).to_string())
}

// ----- WooCommerce's order export ----------------------------------------------------------

/// A time as WooCommerce's exports write it: the shop's local time without an offset
/// ("2026-03-02 09:30:00"), read in `zone`; a time with an offset is read as it is.
fn woocommerce_time(
    field: &str,
    s: &str,
    zone: &jiff::tz::TimeZone,
) -> Result<Timestamp, FieldError> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let civil = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| jiff::fmt::strtime::parse(f, s).ok()?.to_datetime().ok());
    civil
        .and_then(|c| c.to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("'{s}' is not a date and time such as 2026-03-02 09:30:00"),
            )
        })
}

/// A `line_item_N` cell: `key:value` pairs separated by `|`.
fn woocommerce_line(cell: &str) -> HashMap<String, String> {
    cell.split('|')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect()
}

fn woocommerce_order(row: &Row, now: Timestamp) -> Result<Read1, FieldError> {
    let number = col(row, &["order_number", "order_id"])
        .ok_or_else(|| FieldError::new("order_number", "must not be empty"))?;
    let status = col(row, &["status", "order_status"])
        .unwrap_or("completed")
        .to_lowercase();
    let status = status.trim_start_matches("wc-");
    // Only money received is a sale: pending, on-hold, failed, cancelled and refunded
    // orders are not history to learn from.
    if !matches!(status, "processing" | "completed") {
        return Ok(Read1::Skip(format!("order {number} is {status}")));
    }
    let country = col(row, &["shipping_country", "billing_country"]);
    let zone = time_zone(country).unwrap_or_default();
    let placed_at = woocommerce_time(
        "order_date",
        col(row, &["order_date", "date_created"])
            .ok_or_else(|| FieldError::new("order_date", "must not be empty"))?,
        &zone.zone(),
    )?;
    let email = email_of(
        col(row, &["billing_email", "customer_email"]),
        "billing_email",
    )?;
    // The same ids as WooCommerce's webhooks give: the account's number, or for a guest a
    // digest of the billing email.
    let customer_id = id_or_guest(
        col(row, &["customer_id", "customer_user"]).filter(|c| *c != "0"),
        &email,
        "customer_id",
        FieldError::new(
            "billing_email",
            "a guest order needs the billing email to know the customer by",
        ),
    )?;
    let side = if col(row, &["shipping_address_1"]).is_some() {
        "shipping"
    } else {
        "billing"
    };
    let part = |f: &str| col(row, &[format!("{side}_{f}").as_str()]).map(str::to_string);
    let customer = CustomerUpdate {
        external_id: Some(customer_id.clone()),
        email: email.clone(),
        phone: phone_of(col(row, &["billing_phone", "shipping_phone"])),
        first_name: col(row, &["billing_first_name", "shipping_first_name"]).map(str::to_string),
        last_name: col(row, &["billing_last_name", "shipping_last_name"]).map(str::to_string),
        guessed_locale: country_locale(country),
        time_zone: time_zone(country),
        postal_address: address(
            part("address_1").as_deref(),
            part("address_2").as_deref(),
            part("postcode").as_deref(),
            part("city").as_deref(),
            part("country").as_deref(),
        ),
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut products = Vec::new();
    for n in 1.. {
        let column = format!("line_item_{n}");
        let Some(cell) = col(row, &[column.as_str()]) else {
            break;
        };
        let item = woocommerce_line(cell);
        let get = |k: &str| item.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let field = |k: &str| format!("{column}.{k}");
        let sku = match (
            get("sku"),
            get("variation_id").filter(|v| *v != "0"),
            get("product_id"),
        ) {
            (Some(s), _, _) => s.to_string(),
            (_, Some(v), _) => format!("woocommerce-variation-{v}"),
            (_, _, Some(p)) => format!("woocommerce-product-{p}"),
            _ => {
                return Err(FieldError::new(
                    field("sku"),
                    "the line has neither a sku nor a product id",
                ));
            }
        };
        let sku = ExternalId::parse(&sku).map_err(|r| FieldError::new(field("sku"), r))?;
        let quantity: u32 = get("quantity")
            .ok_or_else(|| FieldError::new(field("quantity"), "must not be empty"))?
            .parse()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| {
                FieldError::new(field("quantity"), "must be a whole number of at least 1")
            })?;
        let amount = |k: &str| match get(k) {
            Some(a) => crate::connectors::cents(&field(k), a),
            None => Ok(0),
        };
        // WooCommerce's line totals leave the VAT out; the customer paid it.
        let total = crate::connectors::cents(
            &field("total"),
            get("total").ok_or_else(|| FieldError::new(field("total"), "must not be empty"))?,
        )? + amount("tax").and_then(|t| Ok(t + amount("total_tax")?))?;
        let before = match get("subtotal") {
            Some(_) => amount("subtotal")? + amount("subtotal_tax")?,
            None => total,
        };
        products.push(LineProduct {
            sku: sku.clone(),
            name: get("name").map_or_else(|| sku.to_string(), str::to_string),
            price_cents: before / i64::from(quantity),
        });
        lines.extend(split_line(sku, quantity, total));
    }
    if lines.is_empty() {
        return Err(FieldError::new(
            "line_item_1",
            "an order needs at least one line",
        ));
    }
    let order = order_record(
        number,
        &customer_id,
        placed_at.min(now),
        col(row, &["order_currency", "currency"]).unwrap_or("EUR"),
        lines,
    )?;
    Ok(platform_order(order, customer, email, products))
}

/// An order from a platform's export, with what it says of its customer and products.
fn platform_order(
    order: aftercare_domain::OrderRecord,
    customer: CustomerUpdate,
    email: Option<aftercare_domain::EmailAddress>,
    products: Vec<LineProduct>,
) -> Read1 {
    Read1::Item(Box::new(Item::Order {
        order,
        customer: Some(Box::new(customer)),
        email,
        products,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_order_export_groups_rows_by_name_and_names_a_bad_row() {
        let csv = "Name,Email,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Lineitem discount,Cancelled at\n\
                   #1001,anna@example.nl,paid,EUR,2026-03-02 09:30:00 +0100,1,Stride 4,129.95,LW-STRIDE-4,0,\n\
                   #1001,,,,,2,Sok,10.00,LW-SOCK,1.33,\n\
                   #1002,piet@example.nl,paid,EUR,2026-03-03 10:00:00 +0100,x,Sok,10.00,LW-SOCK,0,\n\
                   #1003,jan@example.nl,refunded,EUR,2026-03-04 10:00:00 +0100,1,Sok,10.00,LW-SOCK,0,2026-03-05 10:00:00 +0100\n";
        let got: Vec<Entry> = entries(
            Kind::Orders,
            Format::ShopifyOrders,
            std::io::Cursor::new(csv.as_bytes().to_vec()),
            now(),
        )
        .collect();
        assert_eq!(got.len(), 3);
        let (line, first) = &got[0];
        assert_eq!(*line, 2);
        let Ok(Read1::Item(item)) = first else {
            panic!("{first:?}")
        };
        let Item::Order { order, .. } = item.as_ref() else {
            panic!()
        };
        assert_eq!(order.external_id.as_str(), "#1001");
        assert_eq!(order.total_cents(), 12995 + 2000 - 133);
        let (line, bad) = &got[1];
        assert_eq!(*line, 4);
        assert_eq!(bad.as_ref().unwrap_err().field, "Lineitem quantity (row 1)");
        assert!(matches!(got[2].1, Ok(Read1::Skip(_))));
    }

    #[test]
    fn a_row_that_cannot_be_read_refuses_its_whole_order() {
        // The order's second row has a byte that is not UTF-8, as a spreadsheet saved in
        // Windows-1252 writes "é".
        let mut csv = b"Name,Email,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n\
                   #1001,anna@example.nl,EUR,2026-03-02 09:30:00 +0100,1,Stride,129.95,LW-STRIDE-4\n".to_vec();
        csv.extend_from_slice(
            b"#1001,anna@example.nl,EUR,2026-03-02 09:30:00 +0100,1,Caf\xe9 sok,10.00,LW-SOCK\n",
        );
        csv.extend_from_slice(
            b"#1002,piet@example.nl,EUR,2026-03-03 10:00:00 +0100,1,Sok,10.00,LW-SOCK\n",
        );
        let got: Vec<Entry> = entries(
            Kind::Orders,
            Format::ShopifyOrders,
            std::io::Cursor::new(csv),
            now(),
        )
        .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        let e = got[0].1.as_ref().unwrap_err();
        assert!(e.reason.contains("order #1001 cannot be read"), "{e:?}");
        assert!(matches!(got[1].1, Ok(Read1::Item(_))));
    }

    fn read(kind: Kind, text: &str) -> Vec<Entry> {
        let format = Format::detect(kind, text.lines().next().unwrap()).unwrap();
        entries(
            kind,
            format,
            std::io::Cursor::new(text.as_bytes().to_vec()),
            now(),
        )
        .collect()
    }

    fn item(entry: &Entry) -> &Item {
        match &entry.1 {
            Ok(Read1::Item(i)) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn own_csv_customers_read_nested_fields_consents_and_a_dutch_spreadsheet_s_semicolons() {
        let text = "external_id;email;first_name;postal_address.street;postal_address.house_number;postal_address.postcode;postal_address.city;postal_address.country;attributes.shoe_size;consents.marketing.email;consents_at\n\
                    C1;anna@example.nl;Anna;Kerkstraat;12;1012 AB;Amsterdam;NL;42;yes;2025-01-02T10:00:00Z\n\
                    C2;;;;;;;;;;\n\
                    C3;piet@example.nl;;;;;;;;no;\n";
        let got = read(Kind::Customers, text);
        assert_eq!(got.len(), 3, "{got:?}");
        let Item::Customer(c) = item(&got[0]) else {
            panic!()
        };
        assert_eq!(c.postal_address.as_ref().unwrap().postcode, "1012 AB");
        assert_eq!(c.attributes["shoe_size"], serde_json::json!("42"));
        assert_eq!(c.consents.len(), 1);
        assert!(c.consents[0].granted && c.consents[0].source == "import");
        let Item::Customer(c) = item(&got[1]) else {
            panic!()
        };
        assert!(
            c.email.is_none() && c.consents.is_empty(),
            "empty cells are absent"
        );
        let e = got[2].1.as_ref().unwrap_err();
        assert_eq!(e.field, "consents_at", "{e:?}");
    }

    #[test]
    fn own_csv_orders_are_grouped_by_number_and_a_bad_cell_names_its_column() {
        let text = "external_id,customer_external_id,placed_at,currency,sku,quantity,unit_price_cents\n\
                    W1,C1,2025-03-02T10:00:00Z,EUR,LW-STRIDE-4,1,12995\n\
                    W1,C1,2025-03-02T10:00:00Z,EUR,LW-SOCK,2,1000\n\
                    W2,C1,2025-04-02T10:00:00Z,EUR,LW-SOCK,two,1000\n";
        let got = read(Kind::Orders, text);
        assert_eq!(got.len(), 2);
        let Item::Order { order, .. } = item(&got[0]) else {
            panic!()
        };
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.total_cents(), 12995 + 2000);
        assert_eq!(
            (got[1].0, got[1].1.as_ref().unwrap_err().field.as_str()),
            (4, "quantity")
        );
        let products = read(
            Kind::Products,
            "sku,name,category,price_cents,lifespan_days,tips\nLW-1,Stride,running-shoes,12995,180,Eerst inlopen | Droog bewaren\n",
        );
        let Item::Product(p) = item(&products[0]) else {
            panic!()
        };
        assert_eq!((p.lifespan_days, p.tips.len()), (Some(180), 2));
    }

    #[test]
    fn a_woocommerce_order_export_row_is_an_order_with_vat_and_unpaid_orders_are_skipped() {
        let text = "order_id,order_number,order_date,status,order_currency,customer_id,billing_first_name,billing_last_name,billing_email,billing_phone,billing_address_1,billing_postcode,billing_city,billing_country,shipping_address_1,shipping_postcode,shipping_city,shipping_country,line_item_1,line_item_2\n\
                    71,1071,2026-03-02 09:30:00,wc-completed,EUR,0,Anna,Jansen,Anna@Example.nl,0612345678,Kerkstraat 12,1012 AB,Amsterdam,NL,,,,,name:Stride 4|product_id:36|sku:LW-STRIDE-4|quantity:1|total:107.40|tax:22.55,name:Sok|product_id:37|sku:|quantity:2|total:16.53|tax:3.47\n\
                    72,1072,2026-03-03 10:00:00,pending,EUR,5,Piet,Peters,piet@example.nl,,,,,,,,,,name:Sok|sku:LW-SOCK|quantity:1|total:8.26|tax:1.74,\n";
        let got = read(Kind::Orders, text);
        assert_eq!(got.len(), 2);
        let Item::Order {
            order,
            customer,
            products,
            ..
        } = item(&got[0])
        else {
            panic!()
        };
        assert_eq!(order.external_id.as_str(), "1071");
        assert_eq!(order.total_cents(), 12995 + 2000);
        assert_eq!(
            order.placed_at.to_string(),
            "2026-03-02T08:30:00Z",
            "Amsterdam time"
        );
        assert_eq!(products[1].sku.as_str(), "woocommerce-product-37");
        let c = customer.as_ref().unwrap();
        assert_eq!(
            c.external_id.as_ref().unwrap(),
            &crate::connectors::guest_id("anna@example.nl").unwrap(),
            "a guest is known by the same id as WooCommerce's webhooks give"
        );
        assert_eq!(c.postal_address.as_ref().unwrap().street, "Kerkstraat");
        assert!(matches!(got[1].1, Ok(Read1::Skip(_))));
    }

    #[test]
    fn a_quoted_phone_number_keeps_its_digits_and_a_place_name_its_apostrophe() {
        let row: Row = [
            ("phone".to_string(), "'+31612345678".to_string()),
            ("city".to_string(), "'s-Hertogenbosch".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(col(&row, &["phone"]), Some("+31612345678"));
        assert_eq!(col(&row, &["city"]), Some("'s-Hertogenbosch"));
    }

    #[test]
    fn json_lines_saved_with_a_byte_order_mark_read_from_the_first_line() {
        let text =
            "\u{feff}{\"sku\": \"A\", \"name\": \"A\", \"category\": \"x\", \"price_cents\": 1}\n";
        let got: Vec<Entry> = entries(
            Kind::Products,
            Format::JsonLines,
            std::io::Cursor::new(text.as_bytes().to_vec()),
            now(),
        )
        .collect();
        assert!(matches!(got[0].1, Ok(Read1::Item(_))), "{:?}", got[0]);
    }

    #[test]
    fn the_first_line_tells_the_format() {
        assert_eq!(
            Format::detect(Kind::Orders, "{\"external_id\": 1}"),
            Ok(Format::JsonLines)
        );
        assert_eq!(
            Format::detect(
                Kind::Customers,
                "\u{feff}Customer ID,First Name,Last Name,Email"
            ),
            Ok(Format::ShopifyCustomers)
        );
        assert!(Format::detect(Kind::Products, "Name,Email").is_err());
    }
}
