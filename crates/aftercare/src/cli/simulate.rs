//! `aftercare simulate`: a generated shop run through the programme library on a virtual
//! clock, and a report of what it did: per programme the enrolments, holdouts, goals and
//! messages; why messages were blocked; and relationship and promotional contacts per
//! customer against the yearly band of 7 to 9 (FR1). Runs on a throw-away SQLite file; nothing is sent.
//!
//! This is the engine itself at work (the same store, programmes and policy as `serve`),
//! so it shows the truth at the price of speed.

use std::collections::BTreeMap;
use std::sync::Arc;

use aftercare_domain::{Clock, ManualClock, SystemClock};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::SignedDuration;
use serde::Serialize;

use crate::app;
use crate::config::Config;
use crate::shop;

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
}

/// What a simulation did.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Days simulated.
    pub days: i64,
    /// Customers in the shop for the whole period (the band statistics count these).
    pub customers: usize,
    /// Customers who joined during the period (e.g. through a referral): not in the band
    /// statistics, since they were not customers for the whole period.
    pub joined_during: usize,
    /// Per programme.
    pub programmes: BTreeMap<String, ProgrammeReport>,
    /// Blocked messages by reason.
    pub blocked: Vec<(String, i64)>,
    /// Customers by number of relationship and promotional contacts in the period, scaled
    /// to a year.
    pub contacts_histogram: BTreeMap<String, usize>,
    /// Share of customers with 7 to 9 contacts (scaled to a year).
    pub in_band: f64,
    /// Customers who ordered in the period and have marketing consent and an email address.
    pub active_marketing_customers: usize,
    /// Share of those inside the band (FR1's target).
    pub active_marketing_in_band: f64,
    /// Customers above the band's top (should be none).
    pub above_band: usize,
}

/// One programme's figures.
#[derive(Debug, Default, Serialize)]
pub struct ProgrammeReport {
    /// Enrolments started.
    pub enrolled: i64,
    /// Of which in the holdout group.
    pub held_out: i64,
    /// Goals reached (treated and held out).
    pub goals_reached: i64,
    /// Goal conversion and revenue against the holdout, when the programme has both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplift: Option<aftercare_insight::uplift::Uplift>,
    /// Messages by state.
    pub messages: BTreeMap<String, i64>,
}

/// Runs the simulation and prints the report.
pub async fn run(args: Args, mut config: Config) -> anyhow::Result<()> {
    let file = std::env::temp_dir().join(format!("aftercare-simulate-{}.db", std::process::id()));
    config.database_url = format!("sqlite://{}", file.display());
    config.smtp_url = None;
    config.durable = false;
    let carrier = app::stand_in_carrier(&mut config).await?;
    let report = simulate(&args, &config, carrier).await;
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

async fn simulate(
    args: &Args,
    config: &Config,
    carrier: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Report> {
    let start = SystemClock
        .now()
        .round(jiff::Unit::Day)
        .unwrap_or_else(|_| SystemClock.now());
    let end = start + SignedDuration::from_hours(24 * args.days);
    let history_from = start - SignedDuration::from_hours(24 * 365);
    let clock = Arc::new(ManualClock::new(history_from));
    let engine = app::build_engine(config, clock.clone()).await?;
    if let Some(listener) = carrier {
        app::serve_stand_in_carrier(&engine, listener);
    }
    let store = engine.store().clone();
    let plan = shop::plan(args.seed, args.customers, history_from, start, end);
    shop::load(&store, &plan, start).await?;
    shop::import_history(&engine, &plan.actions, start).await?;
    let bar = ProgressBar::new(u64::try_from(args.days).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} days ({eta} left)")?
            .progress_chars("=> "),
    );
    bar.set_message("Simulating");
    let terminal = console_is_terminal();
    let mut last_day = 0;
    shop::run_live(&engine, &clock, &plan.actions, start, end, |done, total| {
        let (day, days) = (done / 86_400, total / 86_400);
        if terminal {
            bar.set_position(day);
        } else if day / 30 != last_day {
            last_day = day / 30;
            eprintln!("Simulated {day} of {days} days.");
        }
    })
    .await?;
    bar.finish_and_clear();

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
    if args.log.is_some() || args.customer.is_some() {
        write_messages(&mut tx, args).await?;
    }
    let blocked = tx.blocked_reasons().await?;
    let by_customer: BTreeMap<i64, i64> = tx
        .contacts_by_customer(start, end)
        .await?
        .into_iter()
        .collect();
    let mut customers = Vec::new();
    let mut after = 0;
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
            .is_some_and(|t| t >= start.as_microsecond());
        if consented && active {
            active_marketing.push(c.id);
        }
    }
    tx.commit().await?;
    let scale = 365.0 / args.days.max(1) as f64;
    let yearly = |n: i64| (n as f64 * scale).round() as i64;
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let (mut in_band, mut above) = (0, 0);
    for c in &customers {
        let n = yearly(by_customer.get(&c.id).copied().unwrap_or(0));
        let bucket = match n {
            0 => "00",
            1..=3 => "01-03",
            4..=6 => "04-06",
            7..=9 => "07-09 (band)",
            10..=12 => "10-12",
            _ => "13+",
        };
        in_band += usize::from((7..=9).contains(&n));
        above += usize::from(n > 9);
        *histogram.entry(bucket.to_string()).or_default() += 1;
    }
    let active_in_band = active_marketing
        .iter()
        .filter(|id| (7..=9).contains(&yearly(by_customer.get(id).copied().unwrap_or(0))))
        .count();
    Ok(Report {
        days: args.days,
        customers: customers.len(),
        joined_during,
        programmes,
        blocked,
        contacts_histogram: histogram,
        in_band: in_band as f64 / customers.len().max(1) as f64,
        active_marketing_customers: active_marketing.len(),
        active_marketing_in_band: active_in_band as f64 / active_marketing.len().max(1) as f64,
        above_band: above,
    })
}

/// Every message as one JSON line (`--log`), and one customer's calendar (`--customer`).
async fn write_messages(tx: &mut aftercare_store::Tx, args: &Args) -> anyhow::Result<()> {
    use std::io::Write;
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = tx
            .messages(&aftercare_store::MessageFilter {
                before_id: before,
                limit: 500,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        all.extend(page);
    }
    all.reverse();
    let mut zones: BTreeMap<i64, jiff::tz::TimeZone> = BTreeMap::new();
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
                "expected_arrival": m.sent_at.map(|t| t.to_string()),
                "coupon_valid_until": serde_json::Value::Null,
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
    println!("\nBlocked, by reason:");
    for (reason, n) in &r.blocked {
        println!("  {n:>7}  {reason}");
    }
    println!(
        "\nRelationship and promotional contacts per customer per year (target band 7–9, FR1):"
    );
    let max = r
        .contacts_histogram
        .values()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    for (bucket, n) in &r.contacts_histogram {
        let bar = "█".repeat((n * 40).div_ceil(max));
        println!("  {bucket:<13} {n:>6}  {bar}");
    }
    println!(
        "\n{:.0}% of all customers are inside the band. Of the {} who ordered in the period and have\nmarketing consent and an email address, {:.1}% are; {} customer(s) in all are above it.",
        r.in_band * 100.0,
        r.active_marketing_customers,
        r.active_marketing_in_band * 100.0,
        r.above_band
    );
}
