//! The engine itself run through a generated shop on a virtual clock — `aftercare simulate
//! --exact` and the admin UI's simulator: exactly what `serve` would do, store, jobs and
//! worker, for shops of up to a few thousand customers — and its report, the same one the
//! fast simulator gives.

use aftercare_store::CustomerId;
use std::collections::BTreeMap;
use std::sync::Arc;

use aftercare_domain::ManualClock;
use aftercare_domain::policy::PolicyConfig;
use aftercare_engine::Engine;
use aftercare_engine::reports::{ProgrammeReport, SimulationReport};
use jiff::{SignedDuration, Timestamp};

use crate::shop;

/// Runs the generated shop `size` through `engine` for `days` from `start`, after a year of
/// history imported before it, on `clock`, and reports. `progress` hears (days done, days)
/// as the simulation goes. The engine's store should be empty.
pub async fn simulate(
    engine: &Engine,
    clock: &Arc<ManualClock>,
    size: shop::Size,
    days: i64,
    start: Timestamp,
    policy: &PolicyConfig,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<SimulationReport> {
    let end = start + SignedDuration::from_hours(24 * days);
    let history_from = start - SignedDuration::from_hours(24 * 365);
    clock.set(history_from);
    let store = engine.store().clone();
    let plan = shop::plan(size.seed, size.customers, history_from, start, end);
    shop::load(&store, &plan, start).await?;
    shop::import_history(engine, &plan.actions, start).await?;
    shop::run_live(engine, clock, &plan.actions, start, end, |done, total| {
        progress(done / 86_400, total / 86_400);
    })
    .await?;

    let uplifts = aftercare_engine::reports::uplifts(&store, end).await?;
    let mut tx = store.begin_read().await?;
    let mut programmes: BTreeMap<String, ProgrammeReport> = BTreeMap::new();
    for p in engine.programmes().current().programmes.keys() {
        programmes.insert(p.clone(), ProgrammeReport::default());
    }
    for (id, enrolled, held_out, goals) in tx.enrolment_report().await? {
        let uplift = uplifts.get(&id).copied();
        let r = programmes.entry(id).or_default();
        (r.enrolled, r.held_out, r.goals_reached) = (enrolled, held_out, goals);
        r.uplift = uplift;
    }
    for (id, state, n) in tx.message_report().await? {
        programmes
            .entry(id.unwrap_or_else(|| "(none)".into()))
            .or_default()
            .messages
            .insert(state, n);
    }
    let blocked = tx.blocked_reasons().await?;
    let held = tx.planned_reasons().await?;
    let by_customer: BTreeMap<CustomerId, i64> = tx
        .contacts_by_customer(start, end)
        .await?
        .into_iter()
        .collect();
    let mut customers = Vec::new();
    let mut after = CustomerId(0);
    loop {
        let page = tx.customers_page(after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        customers.extend(page);
    }
    let total_customers = customers.len();
    customers.retain(|c| c.created_at <= start);
    let joined_during = total_customers - customers.len();
    let mut active_marketing = Vec::new();
    for c in &customers {
        let consented = c.record.email.is_some()
            && c.record
                .consent(
                    aftercare_domain::Purpose::Marketing,
                    aftercare_domain::Channel::Email,
                )
                .is_some_and(|x| x.granted);
        let active = tx
            .order_stats(c.id)
            .await?
            .last_order_at
            .is_some_and(|t| t >= start);
        if consented && active {
            active_marketing.push(c.id);
        }
    }
    let sent = tx.sent_by_channel_class(start, end, start).await?;
    let attention_sent = tx.attention_contacts(start, end).await?;
    let moment_programmes: std::collections::HashSet<String> = engine
        .programmes()
        .current()
        .programmes
        .values()
        .filter(|p| p.moment.is_some())
        .map(|p| p.id.clone())
        .collect();
    let moments_squeezed: i64 = tx
        .squeezed_by_programme()
        .await?
        .into_iter()
        .filter(|(id, _)| moment_programmes.contains(id))
        .map(|(_, n)| n)
        .sum();
    tx.commit().await?;
    let counted = customers.len().max(1) as f64;
    let by_channel_class = sent
        .into_iter()
        .map(
            |(channel, class, messages)| aftercare_engine::reports::ChannelClass {
                per_customer: messages as f64 * 365.0 / days.max(1) as f64 / counted,
                channel,
                class,
                messages,
            },
        )
        .collect();
    let scale = 365.0 / days.max(1) as f64;
    let yearly = |n: i64| (n as f64 * scale).round() as i64;
    let mut per_count: BTreeMap<i64, usize> = BTreeMap::new();
    let band = i64::from(policy.band_min)..=i64::from(policy.band_max);
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let (mut in_band, mut above) = (0, 0);
    for c in &customers {
        let n = yearly(by_customer.get(&c.id).copied().unwrap_or(0));
        *per_count.entry(n).or_default() += 1;
        let bucket = aftercare_engine::reports::contacts_bucket(n);
        in_band += usize::from(band.contains(&n));
        above += usize::from(n > *band.end());
        *histogram.entry(bucket.to_string()).or_default() += 1;
    }
    // The attention each customer paid, and the same message again within the window.
    let mut paid: BTreeMap<CustomerId, Vec<(&str, jiff::Timestamp)>> = BTreeMap::new();
    for (customer, topic, at) in &attention_sent {
        paid.entry(*customer)
            .or_default()
            .push((topic.as_str(), *at));
    }
    let window = SignedDuration::from_hours(24 * i64::from(policy.repeat_days));
    let mut attention_histogram: BTreeMap<String, usize> = BTreeMap::new();
    let (mut above_ceiling, mut repeats) = (0, 0);
    for c in &customers {
        let sent = paid.remove(&c.id).unwrap_or_default();
        let n = yearly(i64::try_from(sent.len()).unwrap_or(i64::MAX));
        *attention_histogram
            .entry(aftercare_engine::reports::attention_bucket(n))
            .or_default() += 1;
        above_ceiling +=
            usize::from(policy.attention_max > 0 && n > i64::from(policy.attention_max));
        repeats += aftercare_engine::reports::repeats_within(sent, window);
    }
    let active_in_band = active_marketing
        .iter()
        .filter(|id| band.contains(&yearly(by_customer.get(id).copied().unwrap_or(0))))
        .count();
    Ok(SimulationReport {
        days,
        customers: customers.len(),
        joined_during,
        programmes,
        blocked,
        held,
        contacts_histogram: histogram,
        contacts_per_customer: per_count,
        band: (policy.band_min, policy.band_max),
        by_channel_class,
        in_band: in_band as f64 / customers.len().max(1) as f64,
        active_marketing_customers: active_marketing.len(),
        active_marketing_in_band: active_in_band as f64 / active_marketing.len().max(1) as f64,
        above_band: above,
        attention_histogram,
        attention_max: policy.attention_max,
        above_ceiling,
        repeats,
        repeat_days: policy.repeat_days,
        moments_squeezed,
    })
}
