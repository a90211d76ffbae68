//! `aftercare simulate`: a generated shop run through the programme library on a virtual
//! clock, and a report of what it did: per programme the enrolments, holdouts, goals and
//! messages; why messages were blocked; and relationship and promotional contacts per
//! customer against the yearly band of 7 to 9 (FR1). Runs on a throw-away SQLite file; nothing is sent.
//!
//! By default the fast simulator runs ([`aftercare_lab::simulator`]): the same
//! programmes and policy, in memory, customer by customer on every core — a year of a
//! million customers in under a minute. `--exact` runs the engine itself instead (the same
//! store, jobs and worker as `serve`), which shows the truth at the price of speed (about
//! a thousand customers); the admin UI's simulator always does.

use aftercare_store::CustomerId;
use std::collections::BTreeMap;
use std::sync::Arc;

use aftercare_domain::{Clock, ManualClock, SystemClock};
pub use aftercare_engine::reports::{ProgrammeReport, SimulationReport as Report};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::SignedDuration;

use crate::app;
use crate::config::Config;
use aftercare_lab::fastsim::{self, Brand, Run};
use aftercare_lab::simulator::Kept;

/// Options of `simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many days to simulate.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// How many customers the generated shop has.
    #[arg(long, default_value_t = 1000)]
    pub customers: usize,
    /// Seed for the generated shop.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write every planned message as one JSON line to this file.
    #[arg(long)]
    pub log: Option<std::path::PathBuf>,
    /// Print this customer's calendar for the simulated period.
    #[arg(long)]
    pub customer: Option<String>,
    /// Run the engine itself (store, jobs, worker) instead of the fast in-memory
    /// simulator: exactly what `serve` would do, for shops of up to a few thousand.
    #[arg(long)]
    pub exact: bool,
    /// Simulate the customers in the configured database (their records, orders and the
    /// last year's contacts) instead of a generated shop: what the programmes' calendar and
    /// models bring them in the coming days, with no new orders or brand events.
    #[arg(long, conflicts_with_all = ["exact", "customers", "seed"])]
    pub store: bool,
    /// The day the simulated period begins (UTC; default today), so a run can be repeated
    /// exactly on another day.
    #[arg(long)]
    pub start: Option<jiff::civil::Date>,
}

/// The library, or what is wrong with it.
pub fn library(config: &Config) -> anyhow::Result<aftercare_engine::programme::Library> {
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

/// The brand as the fast simulator needs it: programmes and settings, no campaigns.
pub fn brand<'a>(
    config: &'a Config,
    library: &'a aftercare_engine::programme::Library,
) -> Brand<'a> {
    Brand {
        library,
        policy: &config.policy,
        loyalty: &config.loyalty,
        retention: &config.retention,
        address_form: config.brand.default_address_form,
        campaigns: &[],
    }
}

fn size(args: &Args) -> aftercare_lab::shop::Size {
    aftercare_lab::shop::Size {
        customers: args.customers,
        seed: args.seed,
    }
}

fn fast_run(args: &Args) -> Run {
    Run {
        days: args.days,
        keep: args.log.is_some() || args.customer.is_some(),
    }
}

/// [`fastsim::simulate_fast`] on the configured programmes and settings: a generated shop
/// of `args.customers` from `args.seed`, on every core.
pub fn simulate_fast(
    args: &Args,
    config: &Config,
    start: jiff::Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    let library = library(config)?;
    fastsim::simulate_fast(
        size(args),
        fast_run(args),
        brand(config, &library),
        start,
        progress,
        kept,
    )
}

/// [`fastsim::simulate_store`] on the configured database, programmes and settings.
pub async fn simulate_store(
    args: &Args,
    config: &Config,
    start: jiff::Timestamp,
    progress: &(dyn Fn(u64) + Sync),
    kept: impl FnMut(Kept) -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    let library = library(config)?;
    let store = aftercare_store::Store::open(&config.database_url).await?;
    fastsim::simulate_store(
        &store,
        fast_run(args),
        brand(config, &library),
        start,
        progress,
        kept,
    )
    .await
}

/// The start of today (UTC), where a simulation begins: the same all day, so runs on one
/// day give the same report. (A timestamp cannot be rounded to days; rounding it failed and
/// fell back to the current second.)
fn today() -> jiff::Timestamp {
    let now = SystemClock.now();
    now.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .start_of_day()
        .map_or(now, |z| z.timestamp())
}

/// Where the simulation begins: `--start`, or the start of today.
fn start_of(args: &Args) -> jiff::Timestamp {
    args.start
        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map_or_else(today, |z| z.timestamp())
}

/// Runs the simulation and prints the report.
pub async fn run(args: Args, mut config: Config) -> anyhow::Result<()> {
    if !args.exact {
        return run_fast(&args, &config).await;
    }
    let file = std::env::temp_dir().join(format!("aftercare-simulate-{}.db", std::process::id()));
    config.database_url = format!("sqlite://{}", file.display());
    config.smtp_url = None;
    config.durable = false;
    let carrier = app::stand_in_carrier(&mut config).await?;
    let start = start_of(&args);
    let bar = ProgressBar::new(u64::try_from(args.days).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} days ({eta} left)")?
            .progress_chars("=> "),
    );
    bar.set_message("Simulating");
    let terminal = console_is_terminal();
    let last_month = std::sync::atomic::AtomicU64::new(0);
    let progress = |day: u64, days: u64| {
        if terminal {
            bar.set_position(day);
        } else if day / 30 != last_month.swap(day / 30, std::sync::atomic::Ordering::Relaxed) {
            eprintln!("Simulated {day} of {days} days.");
        }
    };
    let report = simulate(&args, &config, carrier, start, &progress).await;
    bar.finish_and_clear();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The fast simulator on a generated shop: prints the report, writes the log, prints the
/// customer's calendar.
async fn run_fast(args: &Args, config: &Config) -> anyhow::Result<()> {
    use std::io::Write;
    let start = start_of(args);
    let bar = ProgressBar::new(args.customers as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} customers ({eta} left)")?
            .progress_chars("=> "),
    );
    bar.set_message("Simulating");
    if !console_is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut log = match &args.log {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let mut calendar = Vec::new();
    let on_lines = |kept: aftercare_lab::simulator::Kept| {
        for m in kept.messages {
            let line = message_line(&m, &config.policy);
            if let Some(out) = log.as_mut() {
                writeln!(out, "{}", line.json)?;
            }
            if args.customer.as_deref() == Some(m.customer.as_str()) {
                calendar.push((m.planned_at, line.calendar));
            }
        }
        Ok(())
    };
    let progress = |done| bar.set_position(done);
    let report = if args.store {
        bar.set_length(0);
        simulate_store(args, config, start, &progress, on_lines).await?
    } else {
        tokio::task::block_in_place(|| simulate_fast(args, config, start, &progress, on_lines))?
    };
    bar.finish_and_clear();
    if let Some(mut out) = log {
        out.flush()?;
    }
    calendar.sort();
    for (_, line) in calendar {
        println!("{line}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// A message as a `--log` line and a `--customer` calendar line.
struct Line {
    json: serde_json::Value,
    calendar: String,
}

fn message_line(
    m: &aftercare_lab::simulator::MessageLine,
    policy: &aftercare_domain::policy::PolicyConfig,
) -> Line {
    let at = m.sent_at.unwrap_or(m.planned_at);
    let local = at
        .to_zoned_datetime(m.zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    let arrival = m
        .sent_at
        .map(|sent| aftercare_domain::policy::arrival(sent, m.channel, &m.zone, policy));
    let json = serde_json::json!({
        "customer": m.customer,
        "programme": m.programme,
        "template": m.template,
        "class": m.class,
        "channel": m.channel,
        "priority": m.priority,
        "planned_at": m.planned_at.to_string(),
        "local_time": local,
        "decision": m.decision,
        "reason": m.reason,
        "expected_arrival": arrival.map(|t| t.to_string()),
        "coupon_valid_until": m.coupon_valid_until.map(|t| t.to_string()),
        "greeting": m.greeting,
    });
    let calendar = format!(
        "{local:<24} {:<8} {:<22} {:<14} {}",
        m.decision,
        m.template,
        m.class.as_str(),
        m.reason
    );
    Line { json, calendar }
}

/// Runs a generated shop of `args.customers` through the programmes for `args.days` from
/// `start` (after a year of history before it), on a virtual clock, and reports
/// ([`aftercare_lab::exact::simulate`] on an engine built from `config`). `progress` hears
/// (days done, days) as the simulation goes.
pub async fn simulate(
    args: &Args,
    config: &Config,
    carrier: Option<tokio::net::TcpListener>,
    start: jiff::Timestamp,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<Report> {
    let history_from = start - SignedDuration::from_hours(24 * 365);
    let clock = Arc::new(ManualClock::new(history_from));
    let engine = app::build_engine(config, clock.clone()).await?;
    let _carrier = carrier.map(|listener| app::serve_stand_in_carrier(&engine, listener));
    let report = aftercare_lab::exact::simulate(
        &engine,
        &clock,
        size(args),
        args.days,
        start,
        &config.policy,
        progress,
    )
    .await?;
    if args.log.is_some() || args.customer.is_some() {
        let mut tx = engine.store().begin_read().await?;
        write_messages(&mut tx, args, &config.policy).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// Every message as one JSON line (`--log`), and one customer's calendar (`--customer`).
async fn write_messages(
    tx: &mut aftercare_store::Tx,
    args: &Args,
    policy: &aftercare_domain::policy::PolicyConfig,
) -> anyhow::Result<()> {
    use std::io::Write;
    let all = tx.all_messages(None).await?;
    let mut zones: BTreeMap<CustomerId, jiff::tz::TimeZone> = BTreeMap::new();
    let mut coupons: BTreeMap<aftercare_store::EnrolmentId, Option<jiff::Timestamp>> =
        BTreeMap::new();
    let mut log = match &args.log {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    for m in &all {
        let zone = match zones.get(&m.customer_id) {
            Some(z) => z.clone(),
            None => {
                let z = tx.customer(m.customer_id).await?.record.time_zone.zone();
                zones.insert(m.customer_id, z.clone());
                z
            }
        };
        let at = m.sent_at.unwrap_or(m.planned_at);
        // The code the message carried, from its enrolment's data (DQ1).
        let coupon = match m.enrolment_id {
            Some(e) => match coupons.get(&e) {
                Some(c) => *c,
                None => {
                    let enrolment = tx.enrolment(e).await?;
                    let c = aftercare_store::Tx::enrolment_context(&enrolment)
                        .ok()
                        .and_then(|ctx| aftercare_engine::loyalty::coupon_valid_until(&ctx));
                    coupons.insert(e, c);
                    c
                }
            },
            None => None,
        };
        // When it reaches the customer: at once, a letter after its working days in the post.
        let arrival = m
            .sent_at
            .map(|sent| aftercare_domain::policy::arrival(sent, m.channel, &zone, policy));
        let local = at
            .to_zoned_datetime(zone)
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string();
        let decision = match m.state {
            aftercare_domain::MessageState::Sent => "sent",
            aftercare_domain::MessageState::Blocked | aftercare_domain::MessageState::Failed => {
                "blocked"
            }
            _ => "held",
        };
        if let Some(out) = log.as_mut() {
            let line = serde_json::json!({
                "customer": m.customer_external_id,
                "programme": m.programme_id,
                "template": m.template,
                "class": m.class,
                "channel": m.channel,
                "priority": m.priority,
                "planned_at": m.planned_at.to_string(),
                "local_time": local,
                "decision": decision,
                "reason": m.reason,
                "expected_arrival": arrival.map(|t| t.to_string()),
                "coupon_valid_until": coupon.map(|t| t.to_string()),
                "greeting": m.greeting,
            });
            writeln!(out, "{line}")?;
        }
        if args.customer.as_deref() == Some(m.customer_external_id.as_str()) {
            println!(
                "{local:<24} {:<8} {:<22} {:<14} {}",
                decision,
                m.template,
                m.class.as_str(),
                m.reason
            );
        }
    }
    if let Some(mut out) = log {
        out.flush()?;
    }
    Ok(())
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn print_report(r: &Report) {
    println!(
        "Simulated {} days of a shop with {} customers (and {} who joined during it).\n",
        r.days, r.customers, r.joined_during
    );
    println!(
        "{:<24} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7}",
        "programme", "enrolled", "held out", "goals", "sent", "blocked", "failed"
    );
    for (id, p) in &r.programmes {
        let m = |s: &str| p.messages.get(s).copied().unwrap_or(0);
        println!(
            "{id:<24} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7}",
            p.enrolled,
            p.held_out,
            p.goals_reached,
            m("sent"),
            m("blocked"),
            m("failed")
        );
    }
    println!("\nSent, by channel and class (messages, and per customer per year):");
    for c in &r.by_channel_class {
        println!(
            "  {:<8} {:<14} {:>9} {:>7.1}",
            c.channel, c.class, c.messages, c.per_customer
        );
    }
    println!("\nBlocked, by reason:");
    for (reason, n) in &r.blocked {
        println!("  {n:>7}  {reason}");
    }
    if !r.held.is_empty() {
        println!("\nStill held back when the period ends, by reason:");
        for (reason, n) in &r.held {
            println!("  {n:>7}  {reason}");
        }
    }
    println!(
        "\nRelationship and promotional contacts per customer per year (target band 7–9, FR1):"
    );
    print_histogram(&r.contacts_histogram);
    println!(
        "\n{:.0}% of all customers are inside the band. Of the {} active ones (an order in the period;\nwith --store, in the year before it) with marketing consent and an email address, {:.1}% are;\n{} customer(s) in all are above it.",
        r.in_band * 100.0,
        r.active_marketing_customers,
        r.active_marketing_in_band * 100.0,
        r.above_band
    );
    println!(
        "\nAll messages beyond order and delivery news (service, relationship, promotional) per\ncustomer per year (attention ceiling {}):",
        r.attention_max
    );
    print_histogram(&r.attention_histogram);
    println!(
        "\n{} customer(s) above the attention ceiling; {} time(s) a customer got the same message\nagain within {} days; {} message(s) of a customer's own moment (birthday, anniversary,\ncomplaint, referral) kept back by the band or the ceiling.",
        r.above_ceiling, r.repeats, r.repeat_days, r.moments_squeezed
    );
}

/// Customers per bucket as bars 40 wide at the fullest bucket.
fn print_histogram(histogram: &BTreeMap<String, usize>) {
    let max = histogram.values().copied().max().unwrap_or(1).max(1);
    for (bucket, n) in histogram {
        let bar = "█".repeat((n * 40).div_ceil(max));
        println!("  {bucket:<13} {n:>6}  {bar}");
    }
}
