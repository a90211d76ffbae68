//! `aftercare insight clv --transactions FILE --calibration-end DATE [--json]`: fits the
//! customer-lifetime models to a transaction file (CSV `customer,date,amount`, or the CDNOW
//! text format) and prints the parameters — BG/NBD `r, alpha, a, b, log_likelihood` and
//! Gamma-Gamma `p, q, gamma` — and the customers worth the most over the next year.
//!
//! Requirements: WB1, RT2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aftercare_insight::clv::{self, BgNbd, GammaGamma};
use aftercare_insight::transactions;
use serde_json::json;

/// `insight` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Customer lifetime value: BG/NBD and Gamma-Gamma fitted to a transaction file.
    Clv(ClvArgs),
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
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Clv(args) => match clv_report(&args) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn clv_report(args: &ClvArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&args.transactions).map_err(|e| {
        anyhow::anyhow!(
            "--transactions: cannot read {}: {e}",
            args.transactions.display()
        )
    })?;
    let rows = transactions::parse(&text)
        .map_err(|e| anyhow::anyhow!("--transactions: {}: {e}", args.transactions.display()))?;
    let histories = transactions::summarise(&rows, args.calibration_end);
    let only: Vec<clv::History> = histories.iter().map(|(_, h)| *h).collect();
    let model = BgNbd::fit(&only)?;
    let spend = GammaGamma::fit(&only)?;
    // A year ahead in weeks, in months of 52/12 weeks, discounted at 1% a month.
    let mut valued: Vec<(&str, f64, f64, f64)> = histories
        .iter()
        .map(|(id, h)| {
            (
                id.as_str(),
                model.expected_purchases(h, 52.0),
                model.p_alive(h),
                clv::lifetime_value(&model, &spend, h, 12, 52.0 / 12.0, 0.01),
            )
        })
        .collect();
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
