//! `aftercare insight clv --transactions FILE --calibration-end DATE [--json]`: fits the
//! customer-lifetime models to a transaction file (CSV `customer,date,amount`, or the CDNOW
//! text format) and prints the parameters — BG/NBD `r, alpha, a, b, log_likelihood` and
//! Gamma-Gamma `p, q, gamma` — and the customers worth the most over the next year.
//! `insight rfm --transactions FILE --as-of DATE` scores every customer and counts the
//! segments; `insight recs --order-lines FILE` prints the "also bought" rules; `insight
//! uplift` compares each programme's treated customers with its holdout, from the database.
//! On a terminal, long runs show a spinner per stage and a bar while valuing customers.
//!
//! Requirements: WB1, RT2, OF2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aftercare_insight::clv::{self, BgNbd, GammaGamma};
use aftercare_insight::{rfm, transactions};
use serde_json::json;

/// `insight` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Customer lifetime value: BG/NBD and Gamma-Gamma fitted to a transaction file.
    Clv(ClvArgs),
    /// RFM scores and segments from a transaction file.
    Rfm(RfmArgs),
    /// "Bought this, also bought" rules from an order-lines file.
    Recs(RecsArgs),
    /// Each programme's goal conversion and revenue against its holdout, from the database.
    Uplift(UpliftArgs),
    /// Cohorts, repeat-purchase rates and revenue from existing customers (RT2); from a
    /// transaction file, or from the database with referral and loyalty figures.
    Retention(RetentionArgs),
    /// Survey results from the database: NPS, CSAT, and the Pulse gap per driver by segment
    /// and by month.
    Pulse(UpliftArgs),
}

/// Options of `insight retention`.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// A transaction file instead of the database.
    #[arg(long, requires = "as_of")]
    pub transactions: Option<PathBuf>,
    /// The day to measure at (default: today).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `insight uplift`.
#[derive(Debug, clap::Args)]
pub struct UpliftArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `insight rfm`.
#[derive(Debug, clap::Args)]
pub struct RfmArgs {
    /// The transactions: CSV `customer,date,amount` (header optional) or CDNOW text.
    #[arg(long)]
    pub transactions: PathBuf,
    /// The day to score at (YYYY-MM-DD); later purchases are ignored.
    #[arg(long)]
    pub as_of: jiff::civil::Date,
    /// Print JSON (every customer's scores) instead of the segment table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `insight recs`.
#[derive(Debug, clap::Args)]
pub struct RecsArgs {
    /// Order lines: CSV `order,sku` (header optional).
    #[arg(long)]
    pub order_lines: PathBuf,
    /// Fewest orders with both products for a rule.
    #[arg(long, default_value_t = 2)]
    pub min_pair_orders: u64,
    /// Least confidence for a rule.
    #[arg(long, default_value_t = 0.05)]
    pub min_confidence: f64,
    /// How many rules to print (all with --json).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `insight clv`.
#[derive(Debug, clap::Args)]
pub struct ClvArgs {
    /// The transactions: CSV `customer,date,amount` (header optional) or CDNOW text.
    #[arg(long)]
    pub transactions: PathBuf,
    /// The last day of the calibration period (YYYY-MM-DD); later purchases are ignored.
    #[arg(long)]
    pub calibration_end: jiff::civil::Date,
    /// How many of the most valuable customers to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a subcommand; exit 0, or 2 with the reason on stderr.
pub fn run(command: Command, config: &crate::config::Config) -> ExitCode {
    let result = match command {
        Command::Clv(args) => clv_report(&args),
        Command::Rfm(args) => rfm_report(&args),
        Command::Recs(args) => recs_report(&args),
        Command::Uplift(args) => block_on(uplift_report(&args, config)),
        Command::Pulse(args) => block_on(pulse_report(&args, config)),
        Command::Retention(args) => block_on(retention_report(&args, config)),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &std::path::Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{flag}: cannot read {}: {e}", path.display()))
}

/// The `--transactions` file, read and parsed; errors name the flag, the file and the line.
fn read_transactions(path: &std::path::Path) -> anyhow::Result<Vec<transactions::Transaction>> {
    let text = read(path, "--transactions")?;
    transactions::parse(&text)
        .map_err(|e| anyhow::anyhow!("--transactions: {}: {e}", path.display()))
}

/// Runs a report that reads the database.
fn block_on(
    report: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<String> {
    tokio::runtime::Runtime::new()?.block_on(report)
}

fn rfm_report(args: &RfmArgs) -> anyhow::Result<String> {
    let step = super::spinner("Reading transactions");
    let rows = read_transactions(&args.transactions)?;
    step.set_message("Scoring customers");
    let mut per: std::collections::BTreeMap<&str, (jiff::civil::Date, f64, f64)> =
        std::collections::BTreeMap::new();
    let mut days: std::collections::BTreeSet<(&str, jiff::civil::Date)> =
        std::collections::BTreeSet::new();
    for t in rows.iter().filter(|t| t.date <= args.as_of) {
        let e = per.entry(t.customer.as_str()).or_insert((t.date, 0.0, 0.0));
        e.0 = e.0.max(t.date);
        e.2 += t.amount;
        if days.insert((t.customer.as_str(), t.date)) {
            e.1 += 1.0;
        }
    }
    let inputs: Vec<rfm::RfmInput> = per
        .values()
        .map(|(last, frequency, monetary)| rfm::RfmInput {
            recency_days: (args.as_of - *last).get_days() as f64,
            frequency: *frequency,
            monetary: *monetary,
        })
        .collect();
    let scores = rfm::score(&inputs);
    step.finish_and_clear();
    if args.json {
        let customers: Vec<_> = per
            .keys()
            .zip(&scores)
            .map(|(id, s)| json!({"customer": id, "r": s.r, "f": s.f, "m": s.m, "segment": s.segment}))
            .collect();
        return Ok(serde_json::to_string_pretty(
            &json!({"as_of": args.as_of.to_string(), "customers": customers}),
        )?);
    }
    let mut counts: std::collections::BTreeMap<rfm::Segment, usize> =
        std::collections::BTreeMap::new();
    for s in &scores {
        *counts.entry(s.segment).or_default() += 1;
    }
    let mut out = format!("{} customers scored at {}.\n\n", scores.len(), args.as_of);
    for (segment, n) in counts {
        out.push_str(&format!(
            "  {:<20} {n:>8}  {:>5.1}%\n",
            segment.as_str(),
            100.0 * n as f64 / scores.len().max(1) as f64
        ));
    }
    Ok(out)
}

fn recs_report(args: &RecsArgs) -> anyhow::Result<String> {
    let step = super::spinner("Reading order lines");
    let text = read(&args.order_lines, "--order-lines")?;
    let mut baskets: std::collections::BTreeMap<&str, Vec<String>> =
        std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((order, sku)) = line.split_once(',') else {
            anyhow::bail!("--order-lines: line {}: expected order,sku", i + 1);
        };
        if i == 0 && (order.trim() == "order" || order.trim() == "order_id") {
            continue;
        }
        baskets
            .entry(order.trim())
            .or_default()
            .push(sku.trim().trim_matches('"').to_string());
    }
    let min = aftercare_insight::recs::Minimums {
        pair_orders: args.min_pair_orders,
        confidence: args.min_confidence,
        ..Default::default()
    };
    step.set_message("Counting pairs");
    let mut rules = aftercare_insight::recs::rules(baskets.values().map(Vec::as_slice), min);
    step.finish_and_clear();
    if args.json {
        return Ok(serde_json::to_string_pretty(
            &json!({"orders": baskets.len(), "rules": rules}),
        )?);
    }
    rules.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let mut out = format!(
        "{} orders, {} rules (at least {} orders with both, confidence ≥ {}, lift ≥ 1).\n\n  {:<16} {:<16} {:>7} {:>8} {:>10} {:>6}\n",
        baskets.len(),
        rules.len(),
        args.min_pair_orders,
        args.min_confidence,
        "bought",
        "also bought",
        "orders",
        "support",
        "confidence",
        "lift"
    );
    for r in rules.iter().take(args.top) {
        out.push_str(&format!(
            "  {:<16} {:<16} {:>7} {:>8.4} {:>10.3} {:>6.2}\n",
            r.antecedent, r.consequent, r.pair_orders, r.support, r.confidence, r.lift
        ));
    }
    Ok(out)
}

fn clv_report(args: &ClvArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let step = super::spinner("Reading transactions");
    let rows = read_transactions(&args.transactions)?;
    let histories = transactions::summarise(&rows, args.calibration_end);
    let only: Vec<clv::History> = histories.iter().map(|(_, h)| *h).collect();
    step.set_message("Fitting BG/NBD");
    let model = BgNbd::fit(&only)?;
    step.set_message("Fitting Gamma-Gamma");
    let spend = GammaGamma::fit(&only)?;
    step.finish_and_clear();
    // A year ahead in weeks, in months of 52/12 weeks, discounted at 1% a month.
    let bar = super::counter("Valuing customers", histories.len());
    let mut valued: Vec<(&str, f64, f64, f64)> = histories
        .iter()
        .map(|(id, h)| {
            bar.inc(1);
            (
                id.as_str(),
                model.expected_purchases(h, 52.0),
                model.p_alive(h),
                clv::lifetime_value(&model, &spend, h, 12, 52.0 / 12.0, 0.01),
            )
        })
        .collect();
    bar.finish_and_clear();
    valued.sort_by(|a, b| b.3.total_cmp(&a.3));
    valued.truncate(args.top);
    let repeaters = only.iter().filter(|h| h.frequency > 0.0).count();
    if args.json {
        let top: Vec<_> = valued
            .iter()
            .map(|(id, e, alive, value)| json!({"customer": id, "expected_purchases_52w": e, "p_alive": alive, "clv_12m": value}))
            .collect();
        return Ok(serde_json::to_string_pretty(&json!({
            "transactions": rows.len(),
            "customers": only.len(),
            "repeat_customers": repeaters,
            "calibration_end": args.calibration_end.to_string(),
            "bgnbd": model,
            "gamma_gamma": spend,
            "top": top,
            "seconds": started.elapsed().as_secs_f64(),
        }))?);
    }
    let mut out = format!(
        "{} transactions, {} customers ({} with repeat purchases) up to {}.\n\n\
         BG/NBD       r = {:.4}  alpha = {:.4}  a = {:.4}  b = {:.4}  log-likelihood = {:.1}\n\
         Gamma-Gamma  p = {:.4}  q = {:.4}  gamma = {:.4}  log-likelihood = {:.1}\n\n\
         Most valuable over the next 12 months (1% a month discount):\n",
        rows.len(),
        only.len(),
        repeaters,
        args.calibration_end,
        model.r,
        model.alpha,
        model.a,
        model.b,
        model.log_likelihood,
        spend.p,
        spend.q,
        spend.gamma,
        spend.log_likelihood
    );
    out.push_str(&format!(
        "  {:<12} {:>10} {:>8} {:>10}\n",
        "customer", "purchases", "P(alive)", "value"
    ));
    for (id, e, alive, value) in &valued {
        out.push_str(&format!(
            "  {id:<12} {e:>10.2} {alive:>8.2} {value:>10.2}\n"
        ));
    }
    out.push_str(&format!("\n({:.2} s)", started.elapsed().as_secs_f64()));
    Ok(out)
}

async fn uplift_report(
    args: &UpliftArgs,
    config: &crate::config::Config,
) -> anyhow::Result<String> {
    use aftercare_domain::Clock;
    let store = aftercare_store::Store::open(&config.database_url).await?;
    let all =
        aftercare_engine::reports::uplifts(&store, aftercare_domain::SystemClock.now()).await?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&all)?);
    }
    if all.is_empty() {
        return Ok("No programme with a goal and a holdout has finished goal windows yet.".into());
    }
    let mut out = format!(
        "{:<22} {:>8} {:>7} {:>8} {:>7} {:>22} {:>24}\n",
        "programme",
        "treated",
        "rate",
        "holdout",
        "rate",
        "uplift (95% CI)",
        "revenue/customer (95% CI)"
    );
    for (p, u) in &all {
        out.push_str(&format!(
            "{:<22} {:>8} {:>6.1}% {:>8} {:>6.1}% {:>+6.1} ({:>+5.1}, {:>+5.1}) pt {:>+8.2} ({:>+7.2}, {:>+7.2})\n",
            p,
            u.treated.n,
            100.0 * u.treated.rate,
            u.holdout.n,
            100.0 * u.holdout.rate,
            100.0 * u.conversion_uplift,
            100.0 * u.conversion_ci.0,
            100.0 * u.conversion_ci.1,
            u.revenue_uplift,
            u.revenue_ci.0,
            u.revenue_ci.1
        ));
    }
    Ok(out)
}

async fn retention_report(
    args: &RetentionArgs,
    config: &crate::config::Config,
) -> anyhow::Result<String> {
    use aftercare_domain::Clock;
    use aftercare_insight::retention::{WINDOWS, retention};
    let now = aftercare_domain::SystemClock.now();
    let as_of = args
        .as_of
        .unwrap_or_else(|| now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    let mut extra = serde_json::Map::new();
    let report = match &args.transactions {
        Some(path) => {
            let rows = read_transactions(path)?;
            retention(
                rows.iter().map(|t| (t.customer.as_str(), t.date, t.amount)),
                as_of,
            )
        }
        None => {
            let store = aftercare_store::Store::open(&config.database_url).await?;
            // Measured at the end of the day asked for, or now.
            let at = match args.as_of {
                Some(day) => {
                    day.tomorrow()?
                        .to_zoned_datetime(jiff::tz::TimeZone::UTC)?
                        .timestamp()
                        - jiff::SignedDuration::from_micros(1)
                }
                None => now,
            };
            let full = aftercare_engine::reports::retention_report(&store, at).await?;
            let referrals: serde_json::Map<String, serde_json::Value> = full
                .referrals
                .into_iter()
                .map(|(state, n)| (state, n.into()))
                .collect();
            extra.insert("referrals".into(), referrals.into());
            extra.insert(
                "loyalty_engaged_share".into(),
                full.loyalty_engaged_share.into(),
            );
            full.retention
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(map) = v.as_object_mut() {
            map.extend(extra);
        }
        return Ok(serde_json::to_string_pretty(&v)?);
    }
    let pct = |r: Option<f64>| r.map_or("    –".to_string(), |r| format!("{:>4.0}%", 100.0 * r));
    let mut out = format!(
        "{} customers at {as_of}. Repeat purchase within {} / {} / {} days: {} {} {}. Revenue of the last year from existing customers: {:.0}%.\n\n  {:<8} {:>9} {:>6} {:>6} {:>6} {:>12}\n",
        report.customers,
        WINDOWS[0],
        WINDOWS[1],
        WINDOWS[2],
        pct(report.repeat_rate[0]),
        pct(report.repeat_rate[1]),
        pct(report.repeat_rate[2]),
        100.0 * report.revenue_from_existing_last_year,
        "cohort",
        "customers",
        "90d",
        "180d",
        "365d",
        "revenue/cust"
    );
    for c in &report.cohorts {
        out.push_str(&format!(
            "  {:<8} {:>9} {:>6} {:>6} {:>6} {:>12.2}\n",
            c.month,
            c.customers,
            pct(c.repeat_rate[0]),
            pct(c.repeat_rate[1]),
            pct(c.repeat_rate[2]),
            c.revenue_per_customer
        ));
    }
    for (k, v) in extra {
        out.push_str(&format!("\n{k}: {v}"));
    }
    Ok(out)
}

async fn pulse_report(args: &UpliftArgs, config: &crate::config::Config) -> anyhow::Result<String> {
    let store = aftercare_store::Store::open(&config.database_url).await?;
    let report = aftercare_engine::reports::pulse(&store).await?;
    let (nps_by, csat_by, gaps, by_month) = (
        &report.nps,
        &report.csat,
        &report.pulse_gap,
        &report.pulse_gap_by_month,
    );
    if args.json {
        return Ok(serde_json::to_string_pretty(&report)?);
    }
    let mut out = String::from("NPS (points, 95% interval, answers):\n");
    for (segment, n) in nps_by {
        out.push_str(&format!(
            "  {segment:<16} {:>+6.1} ({:>+6.1}, {:>+6.1}) n={}\n",
            n.score, n.ci.0, n.ci.1, n.n
        ));
    }
    out.push_str("\nCSAT (mean 1–5, satisfied share, answers):\n");
    for (segment, c) in csat_by {
        out.push_str(&format!(
            "  {segment:<16} {:>4.2} {:>5.1}% n={}\n",
            c.mean,
            100.0 * c.satisfied,
            c.n
        ));
    }
    for (title, table) in [
        (
            "Pulse gap by segment (importance − evaluation; above 0 the brand falls short)",
            gaps,
        ),
        ("Pulse gap by month", by_month),
    ] {
        out.push_str(&format!("\n{title}:\n"));
        for (group, drivers) in table {
            for (driver, g) in drivers {
                let ci = g.ci.map_or("      –".to_string(), |(lo, hi)| {
                    format!("({lo:>+5.2}, {hi:>+5.2})")
                });
                out.push_str(&format!(
                    "  {group:<16} {driver:<16} {:>4.2} − {:>4.2} = {:>+5.2} {ci} n={}\n",
                    g.importance, g.evaluation, g.gap, g.n
                ));
            }
        }
    }
    Ok(out)
}
