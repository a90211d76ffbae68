//! Driving the fast simulator ([`aftercare_engine::simulator`]) for `aftercare simulate`:
//! a generated shop, made and run household by household on every core, or the customers
//! in the configured database, read a page at a time and run the same way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aftercare_engine::simulator::{
    FastSimulator, Household, Input, Kept, MODEL_SAMPLE, Setup, Tally,
};
use jiff::{SignedDuration, Timestamp};

use crate::app;
use crate::cli::simulate::{Args, Report};
use crate::config::Config;
use crate::shop;

/// Households handed to a thread at a time.
const BLOCK: usize = 256;
/// Customers read from the store at a time.
const PAGE: i64 = 20_000;

/// The library, or what is wrong with it.
fn library(config: &Config) -> anyhow::Result<aftercare_engine::programme::Library> {
    let (library, _) = app::load_programmes(config).map_err(|findings| {
        anyhow::anyhow!(
            "the programme folder has mistakes: {}",
            findings
                .iter()
                .map(|f| format!("{}:{}: {}", f.file.display(), f.line, f.reason))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    Ok(library)
}

fn setup<'a>(
    args: &Args,
    config: &'a Config,
    library: &'a aftercare_engine::programme::Library,
    products: &'a [aftercare_domain::ProductRecord],
    start: Timestamp,
) -> Setup<'a> {
    Setup {
        library,
        policy: &config.policy,
        loyalty: &config.loyalty,
        products,
        from: start,
        to: start + SignedDuration::from_hours(24 * args.days),
        keep_messages: args.log.is_some() || args.customer.is_some(),
        address_form: config.brand.default_address_form,
        active_since: start,
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

/// Runs a generated shop of `args.customers` through the fast simulator for `args.days`
/// from `start` (after a year of history), on every core. `progress` hears the customers
/// done; `kept` gets every message and enrolment when a log or calendar is asked for, a
/// block of customers at a time.
pub fn simulate_fast(
    args: &Args,
    config: &Config,
    start: Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    mut kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    let library = library(config)?;
    let catalogue = crate::demo_data::products();
    let setup = setup(args, config, &library, &catalogue, start);
    let history_from = start - SignedDuration::from_hours(24 * 365);
    let household = |index: usize| {
        shop::household(
            shop::unit_from(
                args.seed,
                index,
                &catalogue,
                history_from,
                start,
                setup.to,
                start,
            ),
            &config.retention,
            &catalogue,
        )
    };
    let sample: Vec<_> = (0..args.customers.min(MODEL_SAMPLE))
        .map(household)
        .collect();
    let sim = FastSimulator::new(&setup, &sample);
    drop(sample);
    let tally = run_parallel(
        &sim,
        args.customers,
        &|i| Some(household(i)),
        0,
        progress,
        &mut kept,
    )?;
    Ok(tally.report(&setup))
}

/// Runs the customers in the configured database through the fast simulator for
/// `args.days` from `start`: each with their orders and last year's contacts as history,
/// and nothing new happening but what the programmes' calendar and the lifetime model bring
/// (occasions, filler, likely lapsing). The store is only read.
pub async fn simulate_store(
    args: &Args,
    config: &Config,
    start: Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    mut kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    let library = library(config)?;
    let store = aftercare_store::Store::open(&config.database_url).await?;
    let mut tx = store.begin_read().await?;
    let products = tx.products().await?;
    tx.commit().await?;
    let mut setup = setup(args, config, &library, &products, start);
    // Nobody orders in a projection: active is an order in the year before it.
    setup.active_since = start - SignedDuration::from_hours(24 * 365);
    let year_ago = start - SignedDuration::from_hours(24 * 366);
    let mut sim: Option<FastSimulator<'_>> = None;
    let mut all = Tally::default();
    let (mut after, mut done) = (0, 0);
    loop {
        let mut tx = store.begin_read().await?;
        let customers = tx.customers_page(after, PAGE).await?;
        let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
            break;
        };
        let (first, last) = (first.id, last.id);
        after = last;
        let mut inputs: std::collections::HashMap<i64, Vec<(Timestamp, usize, Input)>> =
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
