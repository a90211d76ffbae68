//! Driving the fast simulator ([`crate::simulator`]) for `aftercare simulate`
//! and the admin UI: a generated shop, made and run household by household on every core,
//! or the customers in a store, read a page at a time and run the same way.

use aftercare_store::CustomerId;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::simulator::{FastSimulator, Household, Input, Kept, MODEL_SAMPLE, Setup, Tally};
use aftercare_engine::reports::SimulationReport;
use jiff::{SignedDuration, Timestamp};

use crate::shop;

/// Households handed to a thread at a time.
const BLOCK: usize = 256;
/// Customers read from the store at a time.
const PAGE: i64 = 20_000;

/// What the simulator needs to know of the brand: its programmes and settings.
#[derive(Debug, Clone, Copy)]
pub struct Brand<'a> {
    /// The programmes, checked.
    pub library: &'a aftercare_engine::programme::Library,
    /// `[policy]`.
    pub policy: &'a aftercare_domain::policy::PolicyConfig,
    /// `[loyalty]`.
    pub loyalty: &'a aftercare_domain::loyalty::LoyaltyConfig,
    /// `[retention]`: the offers a cancellation in the generated shop is made.
    pub retention: &'a aftercare_domain::retention::RetentionConfig,
    /// How the brand addresses a customer whose record does not say.
    pub address_form: aftercare_domain::AddressForm,
    /// One-off campaigns to send during the run (issue 21).
    pub campaigns: &'a [crate::simulator::Campaign],
}

/// The run: how long, and whether to keep every message and enrolment.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Days simulated from the start.
    pub days: i64,
    /// Keep every message and enrolment (for a log, a calendar or a comparison).
    pub keep: bool,
}

fn setup<'a>(
    run: Run,
    brand: Brand<'a>,
    products: &'a [aftercare_domain::ProductRecord],
    start: Timestamp,
) -> Setup<'a> {
    Setup {
        library: brand.library,
        policy: brand.policy,
        loyalty: brand.loyalty,
        products,
        from: start,
        to: start + SignedDuration::from_hours(24 * run.days),
        keep_messages: run.keep,
        address_form: brand.address_form,
        active_since: start,
        campaigns: brand.campaigns,
    }
}

/// Runs households `0..count` (made by `household`) on every core and adds them up.
/// `progress` hears how many are done (after `done_before`); `kept` gets the kept
/// messages and enrolments a block at a time.
fn run_parallel(
    sim: &FastSimulator<'_>,
    count: usize,
    household: &(dyn Fn(usize) -> Option<Household> + Sync),
    done_before: usize,
    progress: &(dyn Fn(u64) + Sync),
    kept: &mut dyn FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<Tally> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(done_before);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Kept>(threads * 2);
    let tallies = std::thread::scope(|scope| -> anyhow::Result<Vec<Tally>> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let sender = sender.clone();
                let (next, done) = (&next, &done);
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    loop {
                        let first = next.fetch_add(BLOCK, Ordering::Relaxed);
                        if first >= count {
                            break;
                        }
                        let last = (first + BLOCK).min(count);
                        for index in first..last {
                            if let Some(h) = household(index) {
                                sim.run(h, &mut tally);
                            }
                        }
                        let block = std::mem::take(&mut tally.kept);
                        if !(block.messages.is_empty() && block.enrolments.is_empty())
                            && sender.send(block).is_err()
                        {
                            break;
                        }
                        let n = done.fetch_add(last - first, Ordering::Relaxed) + last - first;
                        progress(n as u64);
                    }
                    tally
                })
            })
            .collect();
        drop(sender);
        for block in receiver {
            kept(block)?;
        }
        // A thread that panicked fails the run: a report short of its customers would look
        // like a result.
        workers
            .into_iter()
            .map(|w| {
                w.join().map_err(|_| {
                    anyhow::anyhow!("a simulation thread failed (see the panic above)")
                })
            })
            .collect()
    })?;
    let mut all = Tally::default();
    for t in tallies {
        all.merge(t);
    }
    Ok(all)
}

/// Runs the generated shop `size` through the fast simulator for `run.days` from `start`
/// (after a year of history), on every core. `progress` hears the
/// customers done; `kept` gets every message and enrolment when `run.keep` asks, a block
/// of customers at a time.
pub fn simulate_fast(
    size: shop::Size,
    run: Run,
    brand: Brand<'_>,
    start: Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    mut kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<SimulationReport> {
    let catalogue = crate::demo_data::products();
    let setup = setup(run, brand, &catalogue, start);
    let history_from = start - SignedDuration::from_hours(24 * 365);
    let household = |index: usize| {
        shop::household(
            shop::unit_from(
                size.seed,
                index,
                &catalogue,
                history_from,
                start,
                setup.to,
                start,
            ),
            brand.retention,
            &catalogue,
        )
    };
    let sample: Vec<_> = (0..size.customers.min(MODEL_SAMPLE))
        .map(household)
        .collect();
    let sim = FastSimulator::new(&setup, &sample);
    drop(sample);
    let tally = run_parallel(
        &sim,
        size.customers,
        &|i| Some(household(i)),
        0,
        progress,
        &mut kept,
    )?;
    Ok(tally.report(&setup))
}

/// The campaigns a projection of the store sends: `extra` and the store's campaigns that
/// are scheduled and not yet planned, on the audience version they pinned.
async fn scheduled_campaigns(
    tx: &mut aftercare_store::Tx,
    extra: &[crate::simulator::Campaign],
) -> anyhow::Result<Vec<crate::simulator::Campaign>> {
    let mut out = extra.to_vec();
    for c in tx.campaigns().await? {
        if c.state != aftercare_store::CampaignState::Scheduled {
            continue;
        }
        let audience = aftercare_engine::campaigns::pinned_audience(tx, &c).await?;
        if let Some(simulated) = audience.and_then(|a| crate::simulator::Campaign::stored(&c, a)) {
            out.push(simulated);
        }
    }
    Ok(out)
}

/// Runs the customers in `store` through the fast simulator for `run.days` from `start`:
/// each with their orders and last year's contacts as history, and nothing new happening
/// but what the programmes' calendar and the lifetime model bring (occasions, filler,
/// likely lapsing), and the campaigns scheduled in the store go out on their day. The store
/// is only read.
pub async fn simulate_store(
    store: &aftercare_store::Store,
    run: Run,
    brand: Brand<'_>,
    start: Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    mut kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<SimulationReport> {
    let mut tx = store.begin_read().await?;
    let products = tx.products().await?;
    let campaigns = scheduled_campaigns(&mut tx, brand.campaigns).await?;
    tx.commit().await?;
    let mut setup = setup(run, brand, &products, start);
    setup.campaigns = &campaigns;
    // Nobody orders in a projection: active is an order in the year before it.
    setup.active_since = start - SignedDuration::from_hours(24 * 365);
    let year_ago = start - SignedDuration::from_hours(24 * 366);
    let mut sim: Option<FastSimulator<'_>> = None;
    let mut all = Tally::default();
    let (mut after, mut done) = (CustomerId(0), 0);
    loop {
        let mut tx = store.begin_read().await?;
        let customers = tx.customers_page(after, PAGE).await?;
        let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
            break;
        };
        let (first, last) = (first.id, last.id);
        after = last;
        let mut inputs: std::collections::HashMap<CustomerId, Vec<(Timestamp, usize, Input)>> =
            std::collections::HashMap::new();
        for order in tx.orders_of_customers(first, last).await? {
            let at = order.record.placed_at;
            if at < start {
                let list = inputs.entry(order.customer_id).or_default();
                list.push((at, 0, Input::Order(order.record)));
            }
        }
        for contact in tx.contacts_of_customers(first, last, year_ago).await? {
            if contact.at < start {
                let list = inputs.entry(contact.customer_id).or_default();
                let topic = aftercare_domain::policy::Topic::of(&contact.topic);
                list.push((
                    contact.at,
                    0,
                    Input::Contacted(contact.class, contact.channel, topic),
                ));
            }
        }
        tx.commit().await?;
        let households: Vec<Household> = customers
            .into_iter()
            .filter(|c| c.created_at <= start)
            .map(|c| {
                let mut inputs = inputs.remove(&c.id).unwrap_or_default();
                inputs.sort_by_key(|(at, _, _)| *at);
                Household {
                    customers: vec![c.record],
                    inputs,
                }
            })
            .collect();
        let sim = match &sim {
            Some(sim) => sim,
            None => sim.insert(FastSimulator::new(
                &setup,
                &households[..households.len().min(MODEL_SAMPLE)],
            )),
        };
        let count = households.len();
        let slots: Vec<Mutex<Option<Household>>> = households
            .into_iter()
            .map(|h| Mutex::new(Some(h)))
            .collect();
        let take = |i: usize| slots[i].lock().ok().and_then(|mut h| h.take());
        let tally = tokio::task::block_in_place(|| {
            run_parallel(sim, count, &take, done, progress, &mut kept)
        })?;
        all.merge(tally);
        done += count;
    }
    Ok(all.report(&setup))
}
