//! Calendar occasions, computed for one customer on one local date: birthdays, customer
//! and purchase anniversaries, the end of a product's expected lifespan (RE1),
//! inactivity measured against the customer's own usual interval between orders (WB1), and
//! a monthly moment on the day of the month the customer joined (always-on filler, FR1),
//! the birthdays of household members (PE1), and contracts ending (stored with
//! `POST /v1/contracts`, announced as `contract_ending`, RE1).
//!
//! Pure functions: the worker's hourly calendar job calls [`occasions_on`] for each
//! customer whose local date has just begun (after 06:00 local), and stores each occasion
//! as an event with a source id that makes it happen once — also across daylight-saving
//! changes and restarts. A birthday on 29 February is celebrated on 28 February in other
//! years.
//!
//! Requirements: SU1, SG2, RE1, WB1.

use std::collections::HashMap;
use std::hash::BuildHasher;

use aftercare_domain::{ContractRecord, CustomerRecord, ProductRecord};
use jiff::civil::Date;
use serde_json::json;

/// An order as the calendar needs it.
#[derive(Debug, Clone)]
pub struct PastOrder {
    /// Order number.
    pub external_id: String,
    /// The local date it was placed.
    pub placed_on: Date,
    /// The skus on it.
    pub skus: Vec<String>,
}

/// One occasion for one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Occasion {
    /// `birthday`, `customer_anniversary`, …
    pub kind: &'static str,
    /// Makes the occasion happen once.
    pub source_id: String,
    /// The event's properties.
    pub properties: serde_json::Value,
}

/// Days without an order, as a multiple of the customer's usual interval, that count as
/// inactive.
pub const INACTIVITY_FACTOR: f64 = 2.0;
/// The usual interval assumed for a customer with a single order.
pub const DEFAULT_INTERVAL_DAYS: f64 = 120.0;
/// Never call a customer inactive sooner than this.
pub const MIN_INACTIVE_DAYS: f64 = 30.0;
/// A stored contract is announced this many days before it ends.
pub const CONTRACT_NOTICE_DAYS: i32 = 60;

/// How many whole years ago `original` fell on `today`'s month and day, if it did.
/// 29 February counts on 28 February in years without one.
pub fn anniversary(original: Date, today: Date) -> Option<i16> {
    let years = today.year() - original.year();
    if years < 0 {
        return None;
    }
    let same_day = (original.month(), original.day()) == (today.month(), today.day());
    let leap_fallback = original.month() == 2
        && original.day() == 29
        && today.month() == 2
        && today.day() == 28
        && !today.in_leap_year();
    (same_day || leap_fallback).then_some(years)
}

/// The occasion kinds a caller wants (of [`crate::programme::OCCASIONS`]), as flags: the
/// fast simulator asks about them millions of times a year, and hashing a name each time
/// was a noticeable part of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted(u16);

impl Wanted {
    fn bit(kind: &str) -> Option<u16> {
        crate::programme::OCCASIONS
            .iter()
            .position(|k| *k == kind)
            .map(|i| 1 << i)
    }

    /// Whether `kind` is wanted.
    pub fn contains(&self, kind: &str) -> bool {
        Self::bit(kind).is_some_and(|b| self.0 & b != 0)
    }

    /// Whether no kind is wanted.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl<'a> FromIterator<&'a str> for Wanted {
    fn from_iter<I: IntoIterator<Item = &'a str>>(kinds: I) -> Self {
        Wanted(
            kinds
                .into_iter()
                .filter_map(Self::bit)
                .fold(0, |a, b| a | b),
        )
    }
}

/// The occasions of `customer` on local date `today`, limited to the `wanted` kinds.
pub fn occasions_on<S: BuildHasher>(
    today: Date,
    customer: &CustomerRecord,
    orders: &[PastOrder],
    contracts: &[ContractRecord],
    products: &HashMap<String, ProductRecord, S>,
    wanted: &Wanted,
) -> Vec<Occasion> {
    let id = customer.external_id.as_str();
    let mut out = Vec::new();
    let mut push = |kind: &'static str, key: String, properties: serde_json::Value| {
        if wanted.contains(kind) {
            out.push(Occasion {
                kind,
                source_id: format!("occasion:{kind}:{id}:{key}"),
                properties,
            });
        }
    };
    // Each kind is worked out only when wanted (the fast simulator calls this a lot).
    let wants = |kind: &str| wanted.contains(kind);
    if let Some(birth) = customer.birth_date
        && let Some(age) = anniversary(birth, today).filter(|a| *a > 0)
        && wants("birthday")
    {
        push(
            "birthday",
            today.to_string(),
            json!({"age": age, "occasion_date": today.to_string()}),
        );
    }
    if let Some(since) = customer.customer_since
        && let Some(years) = anniversary(since, today).filter(|y| *y > 0)
        && wants("customer_anniversary")
    {
        push(
            "customer_anniversary",
            today.to_string(),
            json!({"years": years, "occasion_date": today.to_string()}),
        );
    }
    if let Some(first) = orders.iter().map(|o| o.placed_on).min()
        && let Some(years) = anniversary(first, today).filter(|y| *y > 0)
        && wants("purchase_anniversary")
    {
        push(
            "purchase_anniversary",
            today.to_string(),
            json!({"years": years, "occasion_date": today.to_string()}),
        );
    }
    let lifespans = if wants("lifespan_end") { orders } else { &[] };
    for order in lifespans {
        for sku in &order.skus {
            let Some(product) = products.get(sku) else {
                continue;
            };
            let Some(days) = product.lifespan_days else {
                continue;
            };
            // Once per product: only the latest purchase of it (or its successor) reaches
            // the end of its lifespan (RE1, issue 23 point 2).
            let bought_again = orders.iter().any(|later| {
                later.placed_on > order.placed_on
                    && later.placed_on <= today
                    && later.skus.iter().any(|s| {
                        s == sku
                            || product
                                .successor_sku
                                .as_ref()
                                .is_some_and(|n| n.as_str() == s.as_str())
                    })
            });
            if bought_again {
                continue;
            }
            if order
                .placed_on
                .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
                .ok()
                == Some(today)
            {
                push(
                    "lifespan_end",
                    format!("{}:{sku}", order.external_id),
                    json!({
                        "order_external_id": order.external_id,
                        "sku": sku,
                        // In the customer's language (issue 23 point 6).
                        "product_name": product.in_locale(customer.locale).name,
                        "category": product.category,
                        "lifespan_days": days,
                        // The lifespan in whole months, for the words "nine months" or
                        // "a year" (issue 23: never "a year" for a 180-day product).
                        "lifespan_months": (f64::from(days) / 30.44).round() as i64,
                        "successor_sku": product.successor_sku,
                        "successor_name": product
                            .successor_sku
                            .as_ref()
                            .and_then(|s| products.get(s.as_str()))
                            .map(|p| p.in_locale(customer.locale).name.clone()),
                        "occasion_date": today.to_string(),
                    }),
                );
            }
        }
    }
    // Household members' birthdays (PE1): `attributes.household_members` is a list of
    // `{first_name, birth_date, relation}`.
    let members = customer
        .attributes
        .get("household_members")
        .and_then(|m| m.as_array());
    let members = members.filter(|_| wants("household_birthday"));
    for member in members.into_iter().flatten() {
        let name = member
            .get("first_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let birth: Option<Date> = member
            .get("birth_date")
            .and_then(|v| v.as_str())
            .and_then(|d| d.parse().ok());
        if let Some(age) = birth.and_then(|b| anniversary(b, today)).filter(|a| *a > 0)
            && !name.is_empty()
        {
            push(
                "household_birthday",
                format!("{}:{name}", today),
                json!({"member_first_name": name, "age": age, "relation": member.get("relation"), "occasion_date": today.to_string()}),
            );
        }
    }
    // Contracts (RE1, RT1): each running contract is announced once per end date, from
    // CONTRACT_NOTICE_DAYS before it ends (or the day it is stored, when that is later), as
    // `contract_ending` with `ends_on`.
    for contract in contracts
        .iter()
        .filter(|c| c.cancelled_at.is_none())
        .filter(|_| wants("contract_end"))
    {
        let Some(ends_on) = contract.ends_on else {
            continue;
        };
        let days_left = (ends_on - today).get_days();
        if (0..=CONTRACT_NOTICE_DAYS).contains(&days_left) {
            let contract_id = contract.external_id.as_str();
            push(
                "contract_end",
                format!("{contract_id}:{ends_on}"),
                json!({"contract_id": contract_id, "ends_on": ends_on.to_string(),
                       "name": contract.name, "product_sku": contract.product_sku,
                       "days_left": days_left, "occasion_date": today.to_string()}),
            );
        }
    }
    // Once a month, on the day of the month the customer joined (spreads filler evenly).
    let anchor = customer
        .customer_since
        .or_else(|| orders.iter().map(|o| o.placed_on).min());
    if let Some(anchor) = anchor
        && anchor < today
        && today.day() == anchor.day().min(today.days_in_month())
        && wants("monthly")
    {
        push(
            "monthly",
            format!("{}-{:02}", today.year(), today.month()),
            json!({"occasion_date": today.to_string()}),
        );
    }
    if wants("inactive")
        && let Some(Inactivity {
            last,
            usual,
            threshold,
        }) = inactivity(orders)
    {
        let since_last = (today - last).get_days() as f64;
        if since_last >= threshold {
            push(
                "inactive",
                last.to_string(),
                json!({
                    "days_since_last_order": since_last as i64,
                    "usual_interval_days": usual.round() as i64,
                    "occasion_date": today.to_string(),
                }),
            );
        }
    }
    out
}

/// When a customer counts as inactive: from the day the days since their last order reach
/// `threshold` (the usual interval between their orders times [`INACTIVITY_FACTOR`], at
/// least [`MIN_INACTIVE_DAYS`]); once per last order.
struct Inactivity {
    last: Date,
    usual: f64,
    threshold: f64,
}

fn inactivity(orders: &[PastOrder]) -> Option<Inactivity> {
    let first = orders.iter().map(|o| o.placed_on).min()?;
    let last = orders.iter().map(|o| o.placed_on).max()?;
    let mut dates: Vec<Date> = orders.iter().map(|o| o.placed_on).collect();
    dates.sort_unstable();
    dates.dedup();
    let usual = if dates.len() >= 2 {
        (last - first).get_days() as f64 / (dates.len() - 1) as f64
    } else {
        DEFAULT_INTERVAL_DAYS
    };
    Some(Inactivity {
        last,
        usual,
        threshold: (usual * INACTIVITY_FACTOR).max(MIN_INACTIVE_DAYS),
    })
}

/// The first date after `after` on which [`occasions_on`] may find one of the `wanted`
/// occasions for this customer that it has not found before: never later than a real one
/// (it may be earlier, when the date turns out to hold nothing), so visiting only these
/// dates finds every occasion a daily scan finds. `scanned` is the last date a scan ran
/// (none before the first): inactivity, found on every day once it starts and kept once
/// per last order, needs a visit only if no scan ran since it started. The fast simulator
/// calls it instead of scanning every day.
pub fn next_possible<S: BuildHasher>(
    after: Date,
    scanned: Option<Date>,
    customer: &CustomerRecord,
    orders: &[PastOrder],
    contracts: &[ContractRecord],
    products: &HashMap<String, ProductRecord, S>,
    wanted: &Wanted,
) -> Option<Date> {
    let tomorrow = after.tomorrow().ok()?;
    let mut best: Option<Date> = None;
    let mut consider = |d: Option<Date>| {
        if let Some(d) = d.filter(|d| *d > after) {
            best = Some(best.map_or(d, |b| b.min(d)));
        }
    };
    // The next time the month and day of `original` come round (28 February stands in
    // for 29 February in other years).
    let yearly = |original: Date| -> Option<Date> {
        (tomorrow.year()..=tomorrow.year() + 4).find_map(|y| {
            let exact = Date::new(y, original.month(), original.day()).ok();
            let fallback = (original.month() == 2 && original.day() == 29)
                .then(|| Date::new(y, 2, 28).ok())
                .flatten();
            [fallback, exact]
                .into_iter()
                .flatten()
                .find(|d| *d >= tomorrow)
        })
    };
    let first_order = orders.iter().map(|o| o.placed_on).min();
    if wanted.contains("birthday") {
        consider(customer.birth_date.and_then(yearly));
    }
    if wanted.contains("customer_anniversary") {
        consider(customer.customer_since.and_then(yearly));
    }
    if wanted.contains("purchase_anniversary") {
        consider(first_order.and_then(yearly));
    }
    if wanted.contains("household_birthday") {
        let members = customer
            .attributes
            .get("household_members")
            .and_then(|m| m.as_array());
        for member in members.into_iter().flatten() {
            let birth: Option<Date> = member
                .get("birth_date")
                .and_then(|v| v.as_str())
                .and_then(|d| d.parse().ok());
            consider(birth.and_then(yearly));
        }
    }
    if wanted.contains("lifespan_end") {
        for order in orders {
            for sku in &order.skus {
                let days = products.get(sku).and_then(|p| p.lifespan_days);
                consider(days.and_then(|days| {
                    order
                        .placed_on
                        .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
                        .ok()
                }));
            }
        }
    }
    if wanted.contains("contract_end") {
        for contract in contracts.iter().filter(|c| c.cancelled_at.is_none()) {
            if let Some(ends_on) = contract.ends_on {
                let opens = ends_on
                    .checked_sub(jiff::Span::new().days(CONTRACT_NOTICE_DAYS))
                    .unwrap_or(ends_on);
                consider((ends_on >= tomorrow).then_some(opens.max(tomorrow)));
            }
        }
    }
    if wanted.contains("monthly")
        && let Some(anchor) = customer.customer_since.or(first_order)
    {
        let in_month = |first: Date| {
            Date::new(
                first.year(),
                first.month(),
                anchor.day().min(first.days_in_month()),
            )
            .ok()
        };
        let this_month = tomorrow.first_of_month();
        let next_month = this_month.checked_add(jiff::Span::new().months(1)).ok();
        consider(
            in_month(this_month)
                .filter(|d| *d >= tomorrow)
                .or_else(|| next_month.and_then(in_month)),
        );
    }
    if wanted.contains("inactive")
        && let Some(i) = inactivity(orders)
        && let Ok(starts) = i
            .last
            .checked_add(jiff::Span::new().days(i.threshold.ceil() as i64))
    {
        if starts > after {
            consider(Some(starts));
        } else if scanned.is_none_or(|s| s < starts) {
            // Started before `after` with no scan since: the next day finds it.
            consider(Some(tomorrow));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn customer(birth: Option<Date>, since: Option<Date>) -> CustomerRecord {
        let mut c: CustomerRecord = serde_json::from_value(json!({"external_id": "C1"})).unwrap();
        c.birth_date = birth;
        c.customer_since = since;
        c
    }

    #[test]
    fn wanted_kinds_are_exactly_those_asked_for() {
        let w: Wanted = ["birthday", "contract_end", "no_such_kind"]
            .into_iter()
            .collect();
        assert!(w.contains("birthday") && w.contains("contract_end"));
        assert!(!w.contains("monthly") && !w.contains("no_such_kind"));
        assert!(!w.is_empty() && Wanted::default().is_empty());
        let every: Wanted = crate::programme::OCCASIONS.iter().copied().collect();
        assert!(
            crate::programme::OCCASIONS
                .iter()
                .all(|k| every.contains(k))
        );
    }

    fn all() -> Wanted {
        crate::programme::OCCASIONS
            .iter()
            .copied()
            .filter(|o| *o != "monthly")
            .collect()
    }

    #[test]
    fn the_monthly_moment_falls_on_the_joining_day_or_the_months_last_day() {
        let c = customer(None, Some(date(2026, 1, 31)));
        let wanted: Wanted = ["monthly"].into_iter().collect();
        let on = |d: Date| occasions_on(d, &c, &[], &[], &HashMap::new(), &wanted).len();
        assert_eq!(on(date(2026, 1, 31)), 0, "not on the joining day itself");
        assert_eq!(on(date(2026, 2, 28)), 1);
        assert_eq!(on(date(2026, 3, 30)), 0);
        assert_eq!(on(date(2026, 3, 31)), 1);
    }

    #[test]
    fn a_29_february_birthday_is_celebrated_once_a_year() {
        let c = customer(Some(date(2000, 2, 29)), None);
        let on = |d: Date| occasions_on(d, &c, &[], &[], &HashMap::new(), &all()).len();
        assert_eq!(on(date(2027, 2, 28)), 1, "non-leap year: 28 February");
        assert_eq!(on(date(2027, 3, 1)), 0);
        assert_eq!(on(date(2028, 2, 28)), 0, "leap year: not on the 28th");
        assert_eq!(on(date(2028, 2, 29)), 1);
    }

    #[test]
    fn a_stored_contract_is_announced_once_from_sixty_days_before_its_end() {
        let c = customer(None, None);
        let contract = |id: &str, cancelled: bool| -> ContractRecord {
            serde_json::from_value(json!({
                "external_id": id, "customer_external_id": "C1", "name": "Loopabonnement",
                "starts_on": "2025-07-01", "ends_on": "2026-06-30",
                "cancelled_at": cancelled.then_some("2026-03-01T10:00:00Z"),
            }))
            .unwrap()
        };
        let contracts = [contract("K-7", false), contract("K-8", true)];
        let on = |d: Date| occasions_on(d, &c, &[], &contracts, &HashMap::new(), &all());
        assert!(on(date(2026, 4, 30)).is_empty(), "61 days before: not yet");
        let found = on(date(2026, 5, 1));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "contract_end");
        assert_eq!(found[0].properties["ends_on"], "2026-06-30");
        assert_eq!(found[0].properties["days_left"], 60);
        // The same source id every day, so the calendar stores it once.
        assert_eq!(on(date(2026, 6, 30))[0].source_id, found[0].source_id);
        assert!(on(date(2026, 7, 1)).is_empty(), "over");
    }

    #[test]
    fn each_household_member_has_a_birthday() {
        let mut c = customer(None, None);
        c.attributes.insert(
            "household_members".into(),
            json!([
                {"first_name": "Sanne", "birth_date": "2014-05-04", "relation": "daughter"},
                {"first_name": "Bram", "birth_date": "2016-09-01", "relation": "son"},
                {"first_name": "", "birth_date": "2016-05-04"}
            ]),
        );
        let found = occasions_on(date(2026, 5, 4), &c, &[], &[], &HashMap::new(), &all());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].properties["member_first_name"], "Sanne");
        assert_eq!(found[0].properties["age"], 12);
    }

    #[test]
    fn anniversaries_count_whole_years() {
        let c = customer(None, Some(date(2023, 3, 29)));
        let found = occasions_on(date(2026, 3, 29), &c, &[], &[], &HashMap::new(), &all());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].properties["years"], 3);
        assert_eq!(
            found[0].source_id,
            "occasion:customer_anniversary:C1:2026-03-29"
        );
        assert!(
            occasions_on(date(2023, 3, 29), &c, &[], &[], &HashMap::new(), &all()).is_empty(),
            "not on the first day"
        );
    }

    #[test]
    fn lifespan_end_and_inactivity_follow_the_orders() {
        let c = customer(None, None);
        let mut products = HashMap::new();
        let shoe: ProductRecord = serde_json::from_value(json!({"sku": "S", "name": "Shoe", "category": "c", "price_cents": 1, "lifespan_days": 365})).unwrap();
        products.insert("S".to_string(), shoe);
        let orders = vec![
            PastOrder {
                external_id: "W1".into(),
                placed_on: date(2025, 1, 10),
                skus: vec!["S".into()],
            },
            PastOrder {
                external_id: "W2".into(),
                placed_on: date(2025, 3, 10),
                skus: vec![],
            },
        ];
        let kinds = |d: Date| {
            occasions_on(d, &c, &orders, &[], &products, &all())
                .into_iter()
                .map(|o| o.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(date(2026, 1, 10)),
            vec!["purchase_anniversary", "lifespan_end", "inactive"]
        );
        // Usual interval 59 days: inactive from 118 days after the last order.
        assert!(!kinds(date(2025, 7, 5)).contains(&"inactive"));
        assert!(kinds(date(2025, 7, 6)).contains(&"inactive"));
    }

    /// Issue 23 point 2: a product bought again (or its successor) does not reach the end
    /// of its lifespan a second time for the older purchase — one nudge per product.
    #[test]
    fn a_product_bought_again_or_replaced_by_its_successor_ends_its_lifespan_once() {
        let c = customer(None, None);
        let mut products = HashMap::new();
        for (sku, successor) in [("S", Some("T")), ("T", None)] {
            let p: ProductRecord =
                serde_json::from_value(json!({"sku": sku, "name": "Sock", "category": "c",
                "price_cents": 1, "lifespan_days": 180, "successor_sku": successor}))
                .unwrap();
            products.insert(sku.to_string(), p);
        }
        let order = |id: &str, on: Date, sku: &str| PastOrder {
            external_id: id.into(),
            placed_on: on,
            skus: vec![sku.into()],
        };
        let lifespans = |orders: &[PastOrder], d: Date| {
            occasions_on(d, &c, orders, &[], &products, &all())
                .into_iter()
                .filter(|o| o.kind == "lifespan_end")
                .map(|o| {
                    o.source_id
                        .rsplit(':')
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(":")
                })
                .collect::<Vec<_>>()
        };
        let first = order("W1", date(2026, 1, 1), "S");
        let end_of_first = date(2026, 6, 30);
        assert_eq!(
            lifespans(std::slice::from_ref(&first), end_of_first),
            vec!["S:W1"]
        );
        // Bought again in March: only the March pair's end counts.
        let again = order("W2", date(2026, 3, 1), "S");
        assert!(lifespans(&[first.clone(), again.clone()], end_of_first).is_empty());
        assert_eq!(
            lifespans(&[first.clone(), again], date(2026, 8, 28)),
            vec!["S:W2"]
        );
        // Its successor bought in March counts as bought again.
        let successor = order("W3", date(2026, 3, 1), "T");
        assert!(lifespans(&[first, successor], end_of_first).is_empty());
    }

    /// The fast simulator visits only the dates `next_possible` names: over customers with
    /// every kind of date (29 February included) and orders, those visits find exactly the
    /// occasions a daily scan finds.
    #[test]
    fn next_possible_dates_find_every_occasion_a_daily_scan_finds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let products: HashMap<String, ProductRecord> = HashMap::from([(
            "S".to_string(),
            serde_json::from_value(
                json!({"sku": "S", "name": "Shoe", "category": "running-shoes",
                "price_cents": 100, "lifespan_days": 200}),
            )
            .unwrap(),
        )]);
        let wanted: Wanted = crate::programme::OCCASIONS.iter().copied().collect();
        let day = |rng: &mut rand::rngs::StdRng, from: i16, to: i16| {
            let y = rng.random_range(from..to);
            if rng.random_bool(0.1) {
                Date::new(2024, 2, 29).unwrap()
            } else {
                Date::new(y, rng.random_range(1..13), rng.random_range(1..32).min(28)).unwrap()
            }
        };
        for _ in 0..200 {
            let mut c: CustomerRecord = serde_json::from_value(json!({
                "external_id": "C1", "email": "a@example.nl"}))
            .unwrap();
            c.birth_date = Some(day(&mut rng, 1950, 2000));
            c.customer_since = rng.random_bool(0.7).then(|| day(&mut rng, 2020, 2026));
            c.attributes.insert(
                "household_members".into(),
                json!([{"first_name": "Sanne", "birth_date": day(&mut rng, 2010, 2020).to_string()}]),
            );
            let orders: Vec<PastOrder> = (0..rng.random_range(0..4))
                .map(|i| PastOrder {
                    external_id: format!("W{i}"),
                    placed_on: day(&mut rng, 2024, 2027),
                    skus: vec!["S".into()],
                })
                .collect();
            let contracts: Vec<ContractRecord> = vec![serde_json::from_value(json!({
                "external_id": "K1", "customer_external_id": "C1", "name": "Plan", "starts_on": "2025-01-01",
                "ends_on": day(&mut rng, 2026, 2028).to_string()})).unwrap()];
            let start = Date::new(2026, 1, 1).unwrap();
            let end = Date::new(2027, 12, 31).unwrap();
            // Each occasion once, as the store's source ids and the simulator keep them.
            let once =
                |found: &mut Vec<Occasion>, seen: &mut std::collections::HashSet<String>, d| {
                    for o in occasions_on(d, &c, &orders, &contracts, &products, &wanted) {
                        if seen.insert(o.source_id.clone()) {
                            found.push(o);
                        }
                    }
                };
            let (mut daily, mut seen) = (Vec::new(), Default::default());
            let mut d = start;
            while d <= end {
                once(&mut daily, &mut seen, d);
                d = d.tomorrow().unwrap();
            }
            let (mut visited, mut seen) = (Vec::new(), Default::default());
            let (mut after, mut scanned) = (start.yesterday().unwrap(), None);
            while let Some(d) =
                next_possible(after, scanned, &c, &orders, &contracts, &products, &wanted)
                    .filter(|d| *d <= end)
            {
                once(&mut visited, &mut seen, d);
                (after, scanned) = (d, Some(d));
            }
            assert_eq!(visited, daily, "customer {c:?} orders {orders:?}");
        }
    }
}
