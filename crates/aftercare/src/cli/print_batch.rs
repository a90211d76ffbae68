//! `aftercare print-batch --date D --out DIR`: the print partner's batch of day `D` —
//! closed now if its cut-off has passed and the worker has not closed it yet — written as
//! `letters.pdf` (one A4 page per letter), `addresses.csv` and `manifest.json` (counts,
//! days and SHA-256 checksums). Asking again writes the same files.
//!
//! Requirements: CH1 (the letterbox).

use std::path::PathBuf;
use std::sync::Arc;

use aftercare_domain::SystemClock;
use aftercare_engine::Engine;
use anyhow::Context;

use crate::app;
use crate::config::Config;

/// Options of `print-batch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch's day (YYYY-MM-DD, in the print partner's time zone).
    #[arg(long)]
    pub date: jiff::civil::Date,
    /// The folder to write the files to (made when missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the day's batch; says what it wrote.
pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    let summary = write_batch(&engine, args.date, &args.out).await?;
    println!("{summary}");
    Ok(())
}

/// Closes (when due) and writes the batch of `date` into `out`; the summary in words.
pub async fn write_batch(
    engine: &Engine,
    date: jiff::civil::Date,
    out: &std::path::Path,
) -> anyhow::Result<String> {
    let print = engine.print();
    let batch = match engine.close_print_batch(date).await? {
        Some(batch) => batch,
        None => {
            let mut tx = engine.store().begin_read().await?;
            let waiting = tx.letters_waiting().await?;
            tx.commit().await?;
            anyhow::bail!(
                "--date: no batch for {date}: its cut-off ({} {}) {}; {waiting} letter(s) waiting",
                print.cut_off.strftime("%H:%M"),
                print.time_zone,
                if waiting > 0 {
                    "has not passed yet"
                } else {
                    "passed with no letters"
                }
            );
        }
    };
    let files = engine.print_files(&batch).await?;
    std::fs::create_dir_all(out).with_context(|| format!("--out: making {}", out.display()))?;
    for (name, bytes) in [
        ("letters.pdf", &files.pdf),
        ("addresses.csv", &files.csv),
        ("manifest.json", &files.manifest),
    ] {
        let path = out.join(name);
        std::fs::write(&path, bytes)
            .with_context(|| format!("--out: writing {}", path.display()))?;
    }
    Ok(format!(
        "Print batch {} for {} ({}, posted {}): {} letter(s) in {}.",
        batch.id,
        batch.partner,
        batch.day,
        batch.posted_on,
        batch.letters,
        out.display()
    ))
}
