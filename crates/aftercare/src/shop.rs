//! A generated shop running through the engine on a virtual clock: the demo builds on it,
//! and `aftercare simulate` reports what a year of it does.
//!
//! History before the programmes "went live" is imported as it happened (its events enrol
//! nobody); after that, every order, carrier status and brand event is applied at its
//! moment while the clock moves an hour at a time and the engine runs.

use std::sync::Arc;

use aftercare_domain::{CustomerRecord, ManualClock, ProductRecord};
use aftercare_engine::{Engine, ingest};
use aftercare_store::{Store, Tx, job_kind};
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

/// Plans a shop of `customers` customers, who all joined before `joined_by`, active from
/// `from` until `until`.
pub fn plan(
    seed: u64,
    customers: usize,
    from: Timestamp,
    joined_by: Timestamp,
    until: Timestamp,
) -> ShopPlan {
    let mut rng = StdRng::seed_from_u64(seed);
    let catalogue = demo_data::products();
    let customers = demo_data::customers(
        &mut rng,
        customers,
        from - SignedDuration::from_hours(24 * 700),
        joined_by.max(from),
    );
    let mut actions: Vec<(Timestamp, ShopAction)> = Vec::new();
    let mut seq = 0;
    for c in &customers {
        // Each customer buys as a Poisson process at their own pace (a mean gap of one to
        // eight months) and may drop out after any purchase (5–35% each time): the
        // buy-till-you-die pattern real shops show, which the lifetime models expect.
        let mean_gap_days = 30.0 * 8f64.powf(rng.random::<f64>());
        let dropout = rng.random_range(0.05..0.35);
        let mut t = from + SignedDuration::from_secs(rng.random_range(0..(24 * 3600 * 120)));
        while t < until - SignedDuration::from_hours(6) {
            seq += 1;
            actions.extend(demo_data::order_with_shipping(
                &mut rng,
                seq,
                &c.external_id,
                t,
                &catalogue,
                48.0,
            ));
            if rng.random_bool(dropout) {
                break;
            }
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            let gap_days = (-u.ln() * mean_gap_days).max(1.0);
            t += SignedDuration::from_secs_f64(gap_days * 86_400.0);
        }
    }
    actions.extend(demo_data::brand_activity(&mut rng, &customers, from, until));
    actions.extend(demo_data::reward_claims(&mut rng, &customers, from, until));
    actions.extend(demo_data::referrals(
        &mut rng, &customers, &mut seq, from, until, &catalogue,
    ));
    actions.retain(|(t, _)| *t < until);
    actions.sort_by_key(|(t, _)| *t);
    ShopPlan {
        customers,
        catalogue,
        actions,
        last_order: seq,
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
    tx.discard_jobs_before(job_kind::EVENT, until).await?;
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
        if now >= to {
            return Ok(());
        }
        let next_action = pending.peek().map(|(t, _)| *t);
        let next_job = engine.store().next_job_at(now).await?;
        let next = [next_action, next_job, Some(to)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(to);
        // Never stand still: a job due now that did not run would otherwise spin.
        now = next.max(now + SignedDuration::from_secs(1)).min(to);
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
