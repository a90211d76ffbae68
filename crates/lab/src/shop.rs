//! A generated shop running through the engine on a virtual clock: the demo builds on it,
//! and `aftercare simulate` reports what a year of it does.
//!
//! History before the programmes "went live" is imported as it happened (its events enrol
//! nobody); after that, every order, carrier status and brand event is applied at its
//! moment while the clock moves an hour at a time and the engine runs.

use std::sync::Arc;

use aftercare_domain::{CustomerRecord, ManualClock, ProductRecord};
use aftercare_engine::{Engine, ingest};
use aftercare_store::{JobKind, Store, Tx};
use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::demo_data::{self, PageAction, ShopAction};

/// What the generated shop has and does.
#[derive(Debug)]
pub struct ShopPlan {
    /// The customers.
    pub customers: Vec<CustomerRecord>,
    /// The products.
    pub catalogue: Vec<ProductRecord>,
    /// Everything that happens, in time order.
    pub actions: Vec<(Timestamp, ShopAction)>,
    /// The last order number used.
    pub last_order: usize,
}

/// One customer's part of the shop: the customer, the friend they may bring (a referral),
/// and everything both do, drawn from the customer's own random stream. A shop of any size
/// is generated customer by customer (in parallel, for the fast simulator), and the same
/// seed gives the same customer whatever the shop's size.
#[derive(Debug)]
pub struct Unit {
    /// The customer first, then the friend they referred, if any.
    pub customers: Vec<CustomerRecord>,
    /// Everything that happens to them, in time order.
    pub actions: Vec<(Timestamp, ShopAction)>,
}

/// Orders numbers of the `index`-th customer's unit start at `index * ORDERS_PER_UNIT`.
pub const ORDERS_PER_UNIT: usize = 1_000;

/// The `index`-th customer's unit of a shop with `seed`, who joined before `joined_by`,
/// active from `from` until `until`.
pub fn unit(
    seed: u64,
    index: usize,
    catalogue: &[ProductRecord],
    from: Timestamp,
    joined_by: Timestamp,
    until: Timestamp,
) -> Unit {
    unit_from(seed, index, catalogue, from, joined_by, until, from)
}

/// [`unit`] without what happens before `details_from` that only the engine's history
/// stores (the brand's announcements, carrier statuses, tracking-page visits): the fast
/// simulator ignores them, so it need not make them. Orders, returns, referrals and claims
/// stay, and so does every random draw.
pub fn unit_from(
    seed: u64,
    index: usize,
    catalogue: &[ProductRecord],
    from: Timestamp,
    joined_by: Timestamp,
    until: Timestamp,
    details_from: Timestamp,
) -> Unit {
    // SplitMix64 of the seed and the index: neighbouring customers get unrelated streams.
    let mut z = seed
        .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let mut rng = StdRng::seed_from_u64(z ^ (z >> 31));
    let c = demo_data::customer(
        &mut rng,
        index,
        from - SignedDuration::from_hours(24 * 700),
        joined_by.max(from),
    );
    let mut actions: Vec<(Timestamp, ShopAction)> = Vec::new();
    let mut seq = index * ORDERS_PER_UNIT;
    let last_seq = seq + ORDERS_PER_UNIT - 2;
    // The customer buys as a Poisson process at their own pace (a mean gap of one to
    // eight months) and may drop out after any purchase (5–35% each time): the
    // buy-till-you-die pattern real shops show, which the lifetime models expect.
    let mean_gap_days = 30.0 * 8f64.powf(rng.random::<f64>());
    let dropout = rng.random_range(0.05..0.35);
    let mut t = from + SignedDuration::from_secs(rng.random_range(0..(24 * 3600 * 120)));
    while t < until - SignedDuration::from_hours(6) && seq < last_seq {
        seq += 1;
        actions.extend(demo_data::order_maybe_shipped(
            &mut rng,
            seq,
            &c.external_id,
            t,
            catalogue,
            48.0,
            t >= details_from - SignedDuration::from_hours(24 * 7),
        ));
        if rng.random_bool(dropout) {
            break;
        }
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let gap_days = (-u.ln() * mean_gap_days).max(1.0);
        t += SignedDuration::from_secs_f64(gap_days * 86_400.0);
    }
    actions.extend(demo_data::brand_activity(
        &mut rng,
        index,
        &c,
        from,
        until,
        details_from,
    ));
    actions.extend(demo_data::reward_claim(&mut rng, &c, from, until));
    actions.extend(demo_data::referral(
        &mut rng, index, &c, &mut seq, from, until, catalogue,
    ));
    actions.retain(|(t, _)| *t < until);
    actions.sort_by_key(|(t, _)| *t);
    let mut customers = vec![c];
    for (_, a) in &actions {
        if let ShopAction::NewCustomer(friend) = a {
            customers.push((**friend).clone());
        }
    }
    Unit { customers, actions }
}

/// A unit as the fast simulator takes it: each action addressed to the member it
/// concerns, a tracking-page action as the event it leads to.
pub fn household(
    unit: Unit,
    retention: &aftercare_domain::retention::RetentionConfig,
    catalogue: &[aftercare_domain::ProductRecord],
) -> crate::simulator::Household {
    use crate::simulator::{Household, Input};
    // Most households are one customer: everything is theirs.
    let alone = unit.customers.len() == 1;
    let who_is = |id: &str| {
        unit.customers
            .iter()
            .position(|c| !alone && c.external_id.as_str() == id)
            .unwrap_or(0)
    };
    let mut orders: Vec<(String, usize)> = Vec::new();
    // Shipment, owner, and the carrier's expected delivery so far.
    let mut shipments: Vec<(String, usize, Option<Timestamp>)> = Vec::new();
    let owner = |list: &[(String, usize)], id: &str| {
        list.iter().find(|(k, _)| k == id).map_or(0, |(_, w)| *w)
    };
    let mut inputs = Vec::with_capacity(unit.actions.len());
    for (at, action) in unit.actions {
        let (who, input) = match action {
            ShopAction::Order(o) => {
                let who = who_is(o.customer_external_id.as_str());
                if !alone {
                    orders.push((o.external_id.as_str().to_string(), who));
                }
                (who, Input::Order(o))
            }
            ShopAction::Shipment(s) => {
                let who = owner(&orders, s.order_external_id.as_str());
                let id = s.shipment_id.as_str();
                match shipments.iter_mut().find(|(k, _, _)| k == id) {
                    Some(known) => known.2 = s.expected_from.or(known.2),
                    None => shipments.push((id.to_string(), who, s.expected_from)),
                }
                (who, Input::Shipment(s))
            }
            ShopAction::Event(e) => (who_is(e.customer_external_id.as_str()), Input::Event(e)),
            // The same offer the engine would make (RT1), not stored.
            ShopAction::Cancellation(c) => {
                let category = c.product_sku.as_ref().and_then(|sku| {
                    catalogue
                        .iter()
                        .find(|p| &p.sku == sku)
                        .map(|p| p.category.as_str())
                });
                let offer =
                    aftercare_engine::retention::fitting(retention, &c, category).map(|o| {
                        let until =
                            c.at + SignedDuration::from_hours(24 * i64::from(retention.valid_days));
                        aftercare_engine::retention::offer_json(o, None, until)
                    });
                let properties = aftercare_engine::retention::event_properties(&c, offer);
                let event = aftercare_domain::EventRecord {
                    id: None,
                    event_type: "cancellation_requested".into(),
                    customer_external_id: c.customer_external_id.clone(),
                    at: c.at,
                    properties: serde_json::from_value(properties).unwrap_or_default(),
                };
                (who_is(c.customer_external_id.as_str()), Input::Event(event))
            }
            ShopAction::NewCustomer(c) => (who_is(c.external_id.as_str()), Input::Joined),
            ShopAction::Referral { referrer, referred } => (
                who_is(referrer.as_str()),
                Input::Referred(who_is(referred.as_str())),
            ),
            ShopAction::Return(order) => (
                owner(&orders, order.as_str()),
                Input::Return(order.as_str().to_string()),
            ),
            ShopAction::ClaimReward { customer, reward } => {
                (who_is(customer.as_str()), Input::ClaimReward(reward))
            }
            ShopAction::Page { shipment, action } => {
                let (who, expected) = shipments
                    .iter()
                    .find(|(k, _, _)| k == shipment.as_str())
                    .map_or((0, None), |(_, w, e)| (*w, *e));
                // The stand-in carrier refuses a move to a Saturday, as `page_action` asks it.
                let zone = unit.customers[who].time_zone.zone();
                let saturday = || {
                    aftercare_domain::delivery::expected_day(expected, Some(at), &zone)
                        .map(aftercare_domain::delivery::next_delivery_day)
                        .is_some_and(|d| d.weekday() == jiff::civil::Weekday::Saturday)
                };
                let event = match action {
                    PageAction::ChangeDelivery(0) if saturday() => "delivery_change_refused",
                    PageAction::ChangeDelivery(_) => "delivery_changed",
                    PageAction::BookFitting => "appointment_booked",
                    PageAction::Recycle => "recycling_requested",
                };
                (who, Input::Page(event))
            }
        };
        inputs.push((at, who, input));
    }
    Household {
        customers: unit.customers,
        inputs,
    }
}

/// A generated shop's size and seed: the same two give the same shop, at any size.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Customers at the start (referred friends join during it).
    pub customers: usize,
    /// The seed of every customer's own random stream.
    pub seed: u64,
}

/// Plans a shop of `customers` customers, who all joined before `joined_by`, active from
/// `from` until `until`: their units (see [`unit`]) together.
pub fn plan(
    seed: u64,
    customers: usize,
    from: Timestamp,
    joined_by: Timestamp,
    until: Timestamp,
) -> ShopPlan {
    let catalogue = demo_data::products();
    let mut all = Vec::with_capacity(customers);
    let mut actions: Vec<(Timestamp, ShopAction)> = Vec::new();
    for index in 0..customers {
        let u = unit(seed, index, &catalogue, from, joined_by, until);
        all.extend(u.customers.into_iter().take(1));
        actions.extend(u.actions);
    }
    actions.sort_by_key(|(t, _)| *t);
    ShopPlan {
        customers: all,
        catalogue,
        actions,
        last_order: customers * ORDERS_PER_UNIT,
    }
}

/// Stores the catalogue and the customers.
pub async fn load(store: &Store, plan: &ShopPlan, now: Timestamp) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    for p in &plan.catalogue {
        ingest::upsert_product(&mut tx, p, now).await?;
    }
    for c in &plan.customers {
        ingest::upsert_customer(&mut tx, c, now)
            .await
            .with_context(|| format!("customer {}", c.external_id))?;
    }
    Ok(tx.commit().await?)
}

/// Imports the actions before `until` as history: stored, earning loyalty points, but
/// enrolling nobody.
pub async fn import_history(
    engine: &Engine,
    actions: &[(Timestamp, ShopAction)],
    until: Timestamp,
) -> anyhow::Result<usize> {
    let split = actions.partition_point(|(t, _)| *t < until);
    let mut tx = engine.store().begin().await?;
    for (t, action) in &actions[..split] {
        // A history file holds no clicks on tracking pages: a change asked for then was
        // settled long ago, and passing it to the carrier now would write about the past.
        if matches!(action, ShopAction::Page { .. }) {
            continue;
        }
        apply(&mut tx, engine, action, *t).await?;
        // History earns its points as it happened (its events enrol nobody).
        let loyalty = engine.loyalty();
        match action {
            ShopAction::Order(o) => {
                if let Some(c) = tx
                    .customer_by_external_id(o.customer_external_id.as_str())
                    .await?
                {
                    aftercare_engine::loyalty::earn_for_order(
                        &mut tx,
                        loyalty,
                        c.id,
                        o.external_id.as_str(),
                        o.total_cents(),
                        *t,
                        *t,
                    )
                    .await?;
                }
            }
            ShopAction::Return(order) => {
                if let Some(o) = tx.order_by_external_id(order.as_str()).await? {
                    aftercare_engine::loyalty::reverse_order(
                        &mut tx,
                        o.customer_id,
                        order.as_str(),
                        *t,
                        *t,
                    )
                    .await?;
                }
            }
            _ => {}
        }
    }
    tx.discard_jobs_before(JobKind::Event, until).await?;
    tx.commit().await?;
    Ok(split)
}

/// Runs the engine from `from` to `to`, applying each action at its moment; the clock
/// jumps straight to the next action or the next due job, so a quiet night costs nothing
/// and every timer fires at its exact time. `progress` hears the simulated seconds done of
/// the total.
pub async fn run_live(
    engine: &Engine,
    clock: &Arc<ManualClock>,
    actions: &[(Timestamp, ShopAction)],
    from: Timestamp,
    to: Timestamp,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<()> {
    let start = actions.partition_point(|(t, _)| *t < from);
    let mut pending = actions[start..].iter().peekable();
    let total = u64::try_from((to - from).as_secs().max(0)).unwrap_or(0);
    let mut now = from;
    clock.set(now);
    loop {
        let mut tx = engine.store().begin().await?;
        while let Some((t, action)) = pending.next_if(|(t, _)| *t <= now) {
            apply(&mut tx, engine, action, *t).await?;
        }
        tx.commit().await?;
        engine.run_until_idle().await?;
        progress(
            u64::try_from((now - from).as_secs().max(0)).unwrap_or(0),
            total,
        );
        let next_action = pending.peek().map(|(t, _)| *t);
        let next_job = engine.store().next_job_at(now).await?;
        let next = [next_action, next_job]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(to);
        // Never stand still: a job due now that did not run would otherwise spin. (Only
        // then: an action a fraction of a second after `now` happens at its own time.)
        let next = if next > now {
            next
        } else {
            now + SignedDuration::from_secs(1)
        };
        // The period is `from..to`: what falls due at its end belongs to the next one (the
        // fast simulator stops there too).
        if next >= to {
            clock.set(to);
            progress(total, total);
            return Ok(());
        }
        now = next;
        clock.set(now);
    }
}

/// What a customer does on a tracking page, through the same engine calls the page makes.
async fn page_action(
    tx: &mut Tx,
    engine: &Engine,
    shipment: &str,
    action: PageAction,
    at: Timestamp,
) -> anyhow::Result<()> {
    use aftercare_domain::delivery::{self, DeliveryChange, SafePlace};
    use aftercare_engine::tracking;
    let Some(shipment) = tx.shipment_by_external_id(shipment).await? else {
        return Ok(());
    };
    let order = tx.order_by_id(shipment.order_id).await?;
    match action {
        PageAction::ChangeDelivery(kind) => {
            let customer = tx.customer(order.customer_id).await?;
            let zone = jiff::tz::TimeZone::get(customer.record.time_zone.as_str())
                .unwrap_or(jiff::tz::TimeZone::UTC);
            let day = delivery::expected_day(shipment.expected_from, Some(at), &zone)
                .map(delivery::next_delivery_day)
                .unwrap_or_else(|| at.to_zoned_datetime(zone.clone()).date());
            let postcode = customer
                .record
                .postal_address
                .as_ref()
                .map(|a| a.postcode.clone())
                .unwrap_or_default();
            let points = engine
                .tracking()
                .carriers
                .get(&shipment.carrier)
                .map(|c| delivery::nearest_points(&c.pickup_points, &postcode, 1))
                .unwrap_or_default();
            let change = match (kind, points.first()) {
                (1, Some(point)) => DeliveryChange::PickupPoint {
                    point: point.clone(),
                },
                (2, _) => DeliveryChange::Neighbour {
                    house_number: "12".into(),
                },
                (3, _) => DeliveryChange::SafePlace {
                    place: SafePlace::Shed,
                },
                _ => DeliveryChange::OtherDay { date: day },
            };
            let nonce = format!("sim:{}", shipment.external_id);
            tracking::request_change(tx, customer.id, &shipment, &change, &nonce, at).await?;
        }
        PageAction::BookFitting => {
            let Some(store) = engine.tracking().store(order.record.store_id.as_deref()) else {
                return Ok(());
            };
            for slot in store.slots(at, 14) {
                if tracking::book_fitting(tx, &order, store, slot, at).await? {
                    break;
                }
            }
        }
        PageAction::Recycle => {
            tracking::request_recycling(tx, &order, at).await?;
        }
    }
    Ok(())
}

/// Applies one action in a transaction, as the shop's systems would through the API.
pub async fn apply(
    tx: &mut Tx,
    engine: &Engine,
    action: &ShopAction,
    at: Timestamp,
) -> anyhow::Result<()> {
    match action {
        ShopAction::NewCustomer(c) => {
            ingest::upsert_customer(tx, c, at).await?;
        }
        ShopAction::Referral { referrer, referred } => {
            let (Some(referrer), Some(referred)) = (
                tx.customer_by_external_id(referrer.as_str()).await?,
                tx.customer_by_external_id(referred.as_str()).await?,
            ) else {
                return Ok(());
            };
            let code = aftercare_engine::loyalty::referral_code(tx, referrer.id, at).await?;
            // A refused referral (e.g. the referrer's cap) is the engine's answer, not an error.
            let _ = aftercare_engine::loyalty::register_referral(
                tx,
                engine.loyalty(),
                &code,
                &referred,
                None,
                None,
                at,
            )
            .await?;
        }
        ShopAction::Return(order) => {
            ingest::record_return(tx, order.as_str(), at, at).await?;
        }
        ShopAction::ClaimReward { customer, reward } => {
            if let Some(c) = tx.customer_by_external_id(customer.as_str()).await? {
                let key = format!("sim:{}:{reward}", at.as_second());
                // Too few points is an answer, not an error.
                let _ = aftercare_engine::loyalty::claim_reward(
                    tx,
                    engine.loyalty(),
                    c.id,
                    reward,
                    &key,
                    at,
                )
                .await?;
            }
        }
        ShopAction::Order(o) => {
            ingest::create_order(tx, o, at).await?;
        }
        ShopAction::Page { shipment, action } => {
            page_action(tx, engine, shipment.as_str(), *action, at).await?;
        }
        ShopAction::Shipment(s) => {
            ingest::record_shipment_event(tx, s, at).await?;
        }
        ShopAction::Event(e) => {
            ingest::record_events(tx, std::slice::from_ref(e), at).await?;
        }
        ShopAction::Cancellation(c) => {
            aftercare_engine::retention::record_cancellation(tx, engine.retention(), c, at).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_of_the_shop_has_every_kind_of_brand_event() {
        let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let until = from + SignedDuration::from_hours(24 * 365);
        let plan = plan(7, 300, from, from, until);
        let mut kinds = std::collections::BTreeMap::new();
        for (_, a) in &plan.actions {
            let kind = match a {
                ShopAction::Order(_) => "order".to_string(),
                ShopAction::Shipment(_) => "shipment".to_string(),
                ShopAction::Event(e) => e.event_type.clone(),
                ShopAction::Cancellation(_) => "cancellation_requested".to_string(),
                ShopAction::NewCustomer(_) => "new_customer".to_string(),
                ShopAction::Referral { .. } => "referral".to_string(),
                ShopAction::Return(_) => "return".to_string(),
                ShopAction::ClaimReward { .. } => "claim".to_string(),
                ShopAction::Page { .. } => "page".to_string(),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        for kind in [
            "order",
            "shipment",
            "offer_published",
            "product_launched",
            "cocreation_opened",
            "case_opened",
            "case_resolved",
            "cancellation_requested",
            "contract_ending",
            "new_customer",
            "referral",
            "page",
        ] {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) > 0,
                "{kind} missing: {kinds:?}"
            );
        }
    }
}
