//! History in bulk (issue 24): the customers, products, orders, shipments and consents a
//! shop already has, read from a file ([`files`]) and stored as history.
//!
//! History is history: an imported order is stored with its `order_placed` event on the
//! customer's timeline but no job, so no programme hears of it — no confirmation, no
//! thanks, no segment entered, nothing about the past. It feeds what reads the store:
//! scores, CLV and RFM, the calendar (a lifespan that ends next month, an anniversary), the
//! customer's first-purchase date, and (with `points`) loyalty points as they were earned.
//! Every item is keyed (a customer by id, an order by number, a shipment status by parcel,
//! status and time), so importing the same file again adds nothing.

pub mod files;
pub mod run;

use aftercare_domain::loyalty::LoyaltyConfig;
use aftercare_domain::{
    Consent, CustomerRecord, EmailAddress, ExternalId, FieldError, OrderRecord, ProductRecord,
    ShipmentEventRecord,
};
use aftercare_store::CustomerId;
use aftercare_store::Tx;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::connectors::{CustomerUpdate, LineProduct, merged_customer};
use crate::ingest::IngestError;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Customers.
    Customers,
    /// Products.
    Products,
    /// Orders (with their lines).
    Orders,
    /// Carrier status events of shipments.
    Shipments,
    /// Consent decisions.
    Consents,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Customers,
        Kind::Products,
        Kind::Orders,
        Kind::Shipments,
        Kind::Consents,
    ];

    /// The kind named `s` (as on the command line).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Products => "products",
            Kind::Orders => "orders",
            Kind::Shipments => "shipments",
            Kind::Consents => "consents",
        }
    }
}

/// One consent decision in a file: the customer and the API's consent fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentLine {
    /// The customer.
    pub customer_external_id: ExternalId,
    /// Service or marketing.
    pub purpose: aftercare_domain::Purpose,
    /// The channel.
    pub channel: aftercare_domain::Channel,
    /// Given or withdrawn.
    pub granted: bool,
    /// Where it was given.
    pub source: String,
    /// When.
    pub at: Timestamp,
}

/// One item of history.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A whole customer record in Aftercare's own fields (replaces the stored one).
    Customer(Box<CustomerRecord>),
    /// What a platform's export says of a customer (merged onto the stored one).
    CustomerUpdate(Box<CustomerUpdate>),
    /// A product.
    Product(Box<ProductRecord>),
    /// An order.
    Order {
        /// The order; its `customer_external_id` may be replaced by the customer the
        /// email finds.
        order: OrderRecord,
        /// What the order says of its customer.
        customer: Option<Box<CustomerUpdate>>,
        /// The customer's email, when the file knows the customer only by it (Shopify's
        /// order export): the stored customer with this email, if any, is the one.
        email: Option<EmailAddress>,
        /// The lines' products, made when unknown.
        products: Vec<LineProduct>,
    },
    /// A shipment status.
    Shipment(Box<ShipmentEventRecord>),
    /// A consent decision.
    Consent(Box<ConsentLine>),
}

/// What an import has stored so far, so an order's products are not looked up again line
/// after line. Clear it when a transaction is rolled back.
#[derive(Debug, Default)]
pub struct Cache {
    /// Products known to exist, with the earliest time they are marked as seen since.
    products: std::collections::HashMap<String, Timestamp>,
}

impl Cache {
    /// Forgets everything (the transaction that stored it was rolled back).
    pub fn clear(&mut self) {
        self.products.clear();
    }
}

/// What storing an item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Something new.
    Added,
    /// Already there (or the same again).
    Known,
}

/// The customer an item is about, and the field that names them.
fn customer_of(item: &Item) -> Option<(&str, &'static str)> {
    match item {
        Item::Customer(c) => Some((c.external_id.as_str(), "external_id")),
        Item::CustomerUpdate(u) => u
            .external_id
            .as_ref()
            .map(|id| (id.as_str(), "external_id")),
        Item::Order { order, .. } => {
            Some((order.customer_external_id.as_str(), "customer_external_id"))
        }
        Item::Consent(c) => Some((c.customer_external_id.as_str(), "customer_external_id")),
        Item::Product(_) | Item::Shipment(_) => None,
    }
}

/// Refuses items about a customer whose personal data was erased: old history must not
/// fill their record again (the shop posting them anew through the API does).
async fn refuse_erased(tx: &mut Tx, items: &[&Item]) -> Result<(), IngestError> {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| customer_of(i).map(|(id, _)| id))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let erased = tx.erased_among(&ids).await?;
    if let Some((id, field)) = items
        .iter()
        .filter_map(|i| customer_of(i))
        .find(|(id, _)| erased.iter().any(|e| e == id))
    {
        return Err(FieldError::new(
            field,
            format!("the customer '{id}' had their personal data erased; their history is not imported again"),
        )
        .into());
    }
    Ok(())
}

/// Stores `item` as history inside `tx`; `points` earns an order's loyalty points as of
/// its date. An item about an erased customer is refused.
pub async fn apply(
    tx: &mut Tx,
    item: &Item,
    points: Option<&LoyaltyConfig>,
    cache: &mut Cache,
    now: Timestamp,
) -> Result<Stored, IngestError> {
    refuse_erased(tx, &[item]).await?;
    apply_one(tx, item, points, cache, now).await
}

async fn apply_one(
    tx: &mut Tx,
    item: &Item,
    points: Option<&LoyaltyConfig>,
    cache: &mut Cache,
    now: Timestamp,
) -> Result<Stored, IngestError> {
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    match item {
        Item::Customer(record) => {
            record.validate(today)?;
            // The file's record replaces the stored one, but a consent decision made since
            // (an unsubscribe) is not undone by an older one in the file.
            let mut record = record.as_ref().clone();
            if let Some(stored) = tx
                .customer_by_external_id(record.external_id.as_str())
                .await?
            {
                let from_file = CustomerUpdate {
                    consents: std::mem::take(&mut record.consents),
                    ..Default::default()
                };
                record.consents = stored.record.consents;
                crate::connectors::merge_into(&mut record, &from_file, false);
            }
            let (_, created) = tx.upsert_customer(&record, now).await?;
            Ok(if created {
                Stored::Added
            } else {
                Stored::Known
            })
        }
        Item::CustomerUpdate(update) => {
            let (record, created) = merged_customer(tx, update, "customer").await?;
            record.validate(today)?;
            tx.upsert_customer(&record, now).await?;
            Ok(if created {
                Stored::Added
            } else {
                Stored::Known
            })
        }
        Item::Product(product) => {
            product.validate()?;
            let known = tx.product(product.sku.as_str()).await?.is_some();
            tx.upsert_product(product, now).await?;
            // A product of the catalogue the shop already has is not new.
            tx.product_seen_since(product.sku.as_str(), Timestamp::UNIX_EPOCH)
                .await?;
            Ok(if known { Stored::Known } else { Stored::Added })
        }
        Item::Order {
            order,
            customer,
            email,
            products,
        } => {
            order_history(
                tx,
                order,
                customer.as_deref(),
                email.as_ref(),
                products,
                points,
                cache,
                now,
            )
            .await
        }
        Item::Shipment(event) => {
            event.validate()?;
            let order = tx
                .order_by_external_id(event.order_external_id.as_str())
                .await?
                .ok_or_else(|| {
                    FieldError::new(
                        "order_external_id",
                        format!("no order with external_id '{}'", event.order_external_id),
                    )
                })?;
            let new = tx.record_shipment_event(event, order.id, now).await?;
            Ok(if new { Stored::Added } else { Stored::Known })
        }
        Item::Consent(line) => {
            let consent = Consent {
                purpose: line.purpose,
                channel: line.channel,
                granted: line.granted,
                source: line.source.clone(),
                at: line.at,
            };
            consent.validate()?;
            if tx
                .customer_by_external_id(line.customer_external_id.as_str())
                .await?
                .is_none()
            {
                return Err(FieldError::new(
                    "customer_external_id",
                    format!(
                        "no customer with external_id '{}'",
                        line.customer_external_id
                    ),
                )
                .into());
            }
            let update = CustomerUpdate {
                external_id: Some(line.customer_external_id.clone()),
                consents: vec![consent],
                ..Default::default()
            };
            let (record, _) = merged_customer(tx, &update, "customer_external_id").await?;
            tx.upsert_customer(&record, now).await?;
            Ok(Stored::Known)
        }
    }
}

/// Stores a batch of items as history inside `tx`, as [`apply`] would one after another,
/// but with the common order — a customer already stored and the file saying nothing more
/// of them (their first-purchase date moved earlier when this order is), products already
/// met in this import, no points — written in bulk: the batch's customers
/// and known order numbers looked up in one statement each, and the new orders, their
/// lines and their events written with multi-row statements (issue 24's bulk path). Any
/// other item goes through [`apply`]. On a refused item the error is returned and the
/// caller stores the batch again item by item.
pub async fn apply_batch(
    tx: &mut Tx,
    items: &[&Item],
    points: Option<&LoyaltyConfig>,
    cache: &mut Cache,
    now: Timestamp,
) -> Result<Vec<Stored>, IngestError> {
    refuse_erased(tx, items).await?;
    if !items.is_empty() && items.iter().all(|i| matches!(i, Item::Customer(_))) {
        return customers_batch(tx, items, now).await;
    }
    let order_numbers: Vec<&str> = items
        .iter()
        .filter_map(|item| match item {
            Item::Order { order, .. } => Some(order.external_id.as_str()),
            _ => None,
        })
        .collect();
    if order_numbers.is_empty() || points.is_some() {
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            outcomes.push(apply_one(tx, item, points, cache, now).await?);
        }
        return Ok(outcomes);
    }
    let mut known = tx.known_orders(&order_numbers).await?;
    let customer_ids: Vec<&str> = items
        .iter()
        .filter_map(|item| match item {
            Item::Order { order, .. } => Some(order.customer_external_id.as_str()),
            _ => None,
        })
        .collect();
    let mut customers: std::collections::HashMap<String, aftercare_store::StoredCustomer> = tx
        .customers_by_external_ids(&customer_ids)
        .await?
        .into_iter()
        .map(|c| (c.record.external_id.as_str().to_string(), c))
        .collect();
    let mut outcomes = Vec::with_capacity(items.len());
    let mut bulk: Vec<(&OrderRecord, CustomerId)> = Vec::new();
    let mut since_moved = std::collections::BTreeSet::new();
    for item in items {
        let fast = match item {
            Item::Order {
                order,
                customer,
                email: _,
                products: _,
            } => {
                order.validate()?;
                if order.placed_at > now {
                    return Err(FieldError::new("placed_at", "must not be in the future").into());
                }
                if known.contains(order.external_id.as_str()) {
                    outcomes.push(Stored::Known);
                    continue;
                }
                let nothing_more = customer.as_deref().is_none_or(|c| {
                    *c == CustomerUpdate {
                        external_id: c.external_id.clone(),
                        ..Default::default()
                    }
                });
                let products_known = order
                    .lines
                    .iter()
                    .all(|l| cache.products.contains_key(l.sku.as_str()));
                match customers.get_mut(order.customer_external_id.as_str()) {
                    Some(c) if nothing_more && products_known => {
                        // The first purchase makes the customer's anniversary.
                        let placed_on = order
                            .placed_at
                            .to_zoned_datetime(c.record.time_zone.zone())
                            .date();
                        if c.record.customer_since.is_none_or(|d| d > placed_on) {
                            c.record.customer_since = Some(placed_on);
                            since_moved.insert(c.record.external_id.as_str().to_string());
                        }
                        // A product is new from the first sale of it the shop had.
                        for line in &order.lines {
                            let sku = line.sku.as_str();
                            if cache.products.get(sku).is_none_or(|m| order.placed_at < *m) {
                                tx.product_seen_since(sku, order.placed_at).await?;
                                cache.products.insert(sku.to_string(), order.placed_at);
                            }
                        }
                        Some((order, c.id))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match fast {
            Some((order, customer_id)) => {
                known.insert(order.external_id.as_str().to_string());
                bulk.push((order, customer_id));
                outcomes.push(Stored::Added);
            }
            None => {
                // The item reads its customer from the store: what moved is written first.
                write_customers(tx, &mut since_moved, &customers, now).await?;
                outcomes.push(apply_one(tx, item, points, cache, now).await?);
                // What the item changed of its customer is read again when needed.
                if let Item::Order { order, .. } = item {
                    known.insert(order.external_id.as_str().to_string());
                    let id = order.customer_external_id.as_str();
                    if let Some(c) = tx.customer_by_external_id(id).await? {
                        customers.insert(id.to_string(), c);
                    }
                }
            }
        }
    }
    write_customers(tx, &mut since_moved, &customers, now).await?;
    let stored = tx.insert_orders(&bulk, now).await?;
    let stored: std::collections::HashSet<&str> = stored.iter().map(|(e, _)| e.as_str()).collect();
    let properties: Vec<(CustomerId, Timestamp, serde_json::Value, String)> = bulk
        .iter()
        .filter(|(order, _)| stored.contains(order.external_id.as_str()))
        .map(|(order, customer_id)| {
            (
                *customer_id,
                order.placed_at,
                history_properties(order),
                format!("import:order:{}", order.external_id),
            )
        })
        .collect();
    let events: Vec<aftercare_store::NewEvent<'_>> = properties
        .iter()
        .map(
            |(customer_id, at, properties, source)| aftercare_store::NewEvent {
                source_id: Some(source),
                customer_id: *customer_id,
                event_type: "order_placed",
                occurred_at: *at,
                properties,
            },
        )
        .collect();
    tx.insert_events(&events, now).await?;
    Ok(outcomes)
}

/// Writes the customers named in `moved` (and forgets the names).
async fn write_customers(
    tx: &mut Tx,
    moved: &mut std::collections::BTreeSet<String>,
    customers: &std::collections::HashMap<String, aftercare_store::StoredCustomer>,
    now: Timestamp,
) -> Result<(), IngestError> {
    if moved.is_empty() {
        return Ok(());
    }
    let records: Vec<&CustomerRecord> = moved
        .iter()
        .filter_map(|id| customers.get(id).map(|c| &c.record))
        .collect();
    tx.upsert_customers(&records, now).await?;
    moved.clear();
    Ok(())
}

/// A batch of whole customer records, as [`apply`] stores them one by one (the file's record
/// replaces the stored one, but keeps consent decisions made since), in multi-row
/// statements; a customer named twice in the batch is written once, as the second line
/// left it.
async fn customers_batch(
    tx: &mut Tx,
    items: &[&Item],
    now: Timestamp,
) -> Result<Vec<Stored>, IngestError> {
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Customer(r) => Some(r.external_id.as_str()),
            _ => None,
        })
        .collect();
    let stored: std::collections::HashMap<String, CustomerRecord> = tx
        .customers_by_external_ids(&ids)
        .await?
        .into_iter()
        .map(|c| (c.record.external_id.as_str().to_string(), c.record))
        .collect();
    let mut pending: std::collections::HashMap<String, CustomerRecord> =
        std::collections::HashMap::new();
    let mut write_order: Vec<String> = Vec::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let Item::Customer(record) = item else {
            continue;
        };
        record.validate(today)?;
        let id = record.external_id.as_str().to_string();
        let mut record = record.as_ref().clone();
        if let Some(base) = pending.get(&id).or_else(|| stored.get(&id)) {
            let from_file = CustomerUpdate {
                consents: std::mem::take(&mut record.consents),
                ..Default::default()
            };
            record.consents = base.consents.clone();
            crate::connectors::merge_into(&mut record, &from_file, false);
        }
        let known = stored.contains_key(&id) || pending.contains_key(&id);
        outcomes.push(if known { Stored::Known } else { Stored::Added });
        if !pending.contains_key(&id) {
            write_order.push(id.clone());
        }
        pending.insert(id, record);
    }
    let records: Vec<&CustomerRecord> = write_order
        .iter()
        .filter_map(|id| pending.get(id))
        .collect();
    tx.upsert_customers(&records, now).await?;
    Ok(outcomes)
}

/// An imported order's `order_placed` properties.
fn history_properties(order: &OrderRecord) -> serde_json::Value {
    json!({
        "order_external_id": order.external_id,
        "total_cents": order.total_cents(),
        "delivery_method": order.delivery_method,
        "imported": true,
    })
}

/// The stored id of the order's customer, merged with what the file says of them and with
/// the order as their first purchase when it is (their anniversary); a customer the file says
/// nothing more of and whose first purchase is earlier is not written again.
async fn order_customer(
    tx: &mut Tx,
    order: &OrderRecord,
    customer: Option<&CustomerUpdate>,
    now: Timestamp,
) -> Result<CustomerId, IngestError> {
    let id = order.customer_external_id.as_str();
    let says_more = customer.is_some_and(|c| {
        *c != CustomerUpdate {
            external_id: c.external_id.clone(),
            ..Default::default()
        }
    });
    let stored = tx.customer_by_external_id(id).await?;
    if let Some(stored) = &stored
        && !says_more
    {
        let placed_on = order
            .placed_at
            .to_zoned_datetime(stored.record.time_zone.zone())
            .date();
        if stored.record.customer_since.is_some_and(|d| d <= placed_on) {
            return Ok(stored.id);
        }
    }
    if stored.is_none() && customer.is_none() {
        // Aftercare's own order lines name a customer that must exist, as the API's do.
        return Err(FieldError::new(
            "customer_external_id",
            format!("no customer with external_id '{id}'"),
        )
        .into());
    }
    let mut update = customer.cloned().unwrap_or_default();
    // What an order says of its customer (a billing name, a shipping address that may be a
    // gift's or a pick-up point's) only fills what the customer's record lacks.
    if let Some(stored) = &stored {
        let r = &stored.record;
        if r.email.is_some() {
            update.email = None;
        }
        if r.phone.is_some() {
            update.phone = None;
        }
        if r.first_name.is_some() || r.last_name.is_some() {
            update.first_name = None;
            update.last_name = None;
        }
        if r.postal_address.is_some() {
            update.postal_address = None;
        }
    }
    update.external_id = Some(order.customer_external_id.clone());
    let (mut record, _) = merged_customer(tx, &update, "customer").await?;
    // The first purchase makes the customer's anniversary.
    let placed_on = order
        .placed_at
        .to_zoned_datetime(record.time_zone.zone())
        .date();
    if record.customer_since.is_none_or(|d| d > placed_on) {
        record.customer_since = Some(placed_on);
    }
    record.validate(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())?;
    Ok(tx.upsert_customer(&record, now).await?.0)
}

#[allow(clippy::too_many_arguments)]
async fn order_history(
    tx: &mut Tx,
    order: &OrderRecord,
    customer: Option<&CustomerUpdate>,
    email: Option<&EmailAddress>,
    products: &[LineProduct],
    points: Option<&LoyaltyConfig>,
    cache: &mut Cache,
    now: Timestamp,
) -> Result<Stored, IngestError> {
    order.validate()?;
    if order.placed_at > now {
        return Err(FieldError::new("placed_at", "must not be in the future").into());
    }
    if tx
        .order_by_external_id(order.external_id.as_str())
        .await?
        .is_some()
    {
        return Ok(Stored::Known);
    }
    let mut order = order.clone();
    // The customer the email finds, when the file names them only by it.
    if let Some(email) = email
        && tx
            .customer_by_external_id(order.customer_external_id.as_str())
            .await?
            .is_none()
        && let Some(id) = tx.customer_id_by_email(email.as_str()).await?
    {
        order.customer_external_id =
            ExternalId::parse(&id).map_err(|r| FieldError::new("email", r))?;
    }
    let customer_id = order_customer(tx, &order, customer, now).await?;
    for (i, line) in products.iter().enumerate() {
        if !cache.products.contains_key(line.sku.as_str())
            && tx.product(line.sku.as_str()).await?.is_none()
        {
            let product = crate::connectors::product_from_line(line, &order.currency);
            product
                .validate()
                .map_err(|e| FieldError::new(format!("lines[{i}].{}", e.field), e.reason))?;
            tx.upsert_product(&product, now).await?;
        }
    }
    for (i, line) in order.lines.iter().enumerate() {
        let sku = line.sku.as_str();
        let marked = cache.products.get(sku).copied();
        if marked.is_none() && tx.product(sku).await?.is_none() {
            return Err(FieldError::new(
                format!("lines[{i}].sku"),
                format!("no product with sku '{sku}'"),
            )
            .into());
        }
        if marked.is_none_or(|m| order.placed_at < m) {
            tx.product_seen_since(sku, order.placed_at).await?;
            cache.products.insert(sku.to_string(), order.placed_at);
        }
    }
    if tx.insert_order(&order, customer_id, now).await?.is_none() {
        return Ok(Stored::Known);
    }
    // On the timeline as it happened; no job, so no programme hears of it.
    let properties = history_properties(&order);
    let source = format!("import:order:{}", order.external_id);
    tx.insert_event(
        customer_id,
        "order_placed",
        order.placed_at,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    if let Some(config) = points {
        crate::loyalty::earn_for_order(
            tx,
            config,
            customer_id,
            order.external_id.as_str(),
            order.total_cents(),
            order.placed_at,
            now,
        )
        .await?;
    }
    Ok(Stored::Added)
}
