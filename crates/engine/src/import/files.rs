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
//! The format is told by the first line: `{` is JSON Lines, a header with `Customer ID` or
//! `Accepts Email Marketing` is Shopify's customer export, one with `Lineitem quantity`
//! Shopify's order export.

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
}

impl Format {
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
        match kind {
            Kind::Customers if shopify_customers => Ok(Format::ShopifyCustomers),
            Kind::Orders if shopify_orders => Ok(Format::ShopifyOrders),
            _ => Err(format!(
                "the first line is neither a JSON record nor the header of a {} export Aftercare reads (Shopify's customer or order export)",
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
pub fn entries<R: Read + 'static>(
    kind: Kind,
    format: Format,
    reader: R,
    now: Timestamp,
) -> Box<dyn Iterator<Item = Entry>> {
    match format {
        Format::JsonLines => Box::new(json_lines(kind, std::io::BufReader::new(reader))),
        Format::ShopifyCustomers => Box::new(ShopifyCsv::new(reader).map(move |(line, row)| {
            (
                line,
                row.and_then(|r| shopify_customer(&r, now))
                    .map(|c| Read1::Item(Box::new(Item::CustomerUpdate(Box::new(c))))),
            )
        })),
        Format::ShopifyOrders => Box::new(ShopifyOrders {
            rows: ShopifyCsv::new(reader).peekable(),
            now,
        }),
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

struct ShopifyCsv<R: Read> {
    reader: csv::Reader<R>,
    headers: Option<Vec<String>>,
    record: csv::StringRecord,
}

impl<R: Read> ShopifyCsv<R> {
    fn new(reader: R) -> Self {
        let reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(reader);
        Self {
            reader,
            headers: None,
            record: csv::StringRecord::new(),
        }
    }
}

impl<R: Read> Iterator for ShopifyCsv<R> {
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

fn shopify_customer(row: &Row, now: Timestamp) -> Result<CustomerUpdate, FieldError> {
    let email = email_of(col(row, &["email"]), "Email")?;
    let id = match col(row, &["customer id"]) {
        // Spreadsheets keep a long number whole when it is written with a leading quote.
        Some(id) => ExternalId::parse(id).map_err(|r| FieldError::new("Customer ID", r))?,
        None => match &email {
            Some(e) => crate::connectors::guest_id(e.as_str())?,
            None => {
                return Err(FieldError::new(
                    "Customer ID",
                    "a customer needs an id or an email",
                ));
            }
        },
    };
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

/// Shopify's order export: consecutive rows with the same `Name` are one order.
struct ShopifyOrders<R: Read> {
    rows: std::iter::Peekable<ShopifyCsv<R>>,
    now: Timestamp,
}

impl<R: Read> Iterator for ShopifyOrders<R> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let (line, first) = self.rows.next()?;
        let first = match first {
            Ok(r) => r,
            Err(e) => return Some((line, Err(e))),
        };
        let name = first.get("name").cloned().unwrap_or_default();
        let mut rows = vec![first];
        let mut broken: Option<(u64, FieldError)> = None;
        loop {
            match self.rows.peek() {
                Some((_, Ok(next)))
                    if !name.is_empty()
                        && next.get("name").map(String::as_str) == Some(name.as_str()) =>
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
        Some((line, shopify_order(&rows, self.now)))
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
    Ok(Read1::Item(Box::new(Item::Order {
        order,
        customer: Some(Box::new(customer)),
        email,
        products,
    })))
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
