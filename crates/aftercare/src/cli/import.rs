//! `aftercare import customers|products|orders|shipments|consents FILE`: a shop's history
//! in bulk, as history (issue 24): nothing imported starts a programme (see
//! `aftercare_engine::import`).
//!
//! The file is read as a stream (JSON Lines or CSV in Aftercare's own fields, Shopify's
//! customer and order exports or WooCommerce's order export, told apart by the first line) and stored in transactions of
//! [`BATCH`] items, each recording how far the file got; an interrupted import resumes
//! after the last committed line, and importing the same file again adds nothing. A line
//! that cannot be stored is reported as `file:line: field: reason` and the rest goes in.
//! `--dry-run` reads and checks every line and stores nothing.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use aftercare_domain::SystemClock;
use aftercare_engine::Engine;
use aftercare_engine::import::files::{Format, Read1, entries};
use aftercare_engine::import::{self, Item, Kind, Stored};
use aftercare_engine::ingest::IngestError;
use anyhow::Context;
use sha2::Digest;

use crate::app;
use crate::config::Config;

/// Items stored per transaction.
pub const BATCH: usize = 500;
/// Rejected lines a report keeps word for word (the rest are counted), so a file of bad
/// lines does not fill the memory.
pub const KEPT_REJECTS: usize = 1000;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// Customers.
    Customers,
    /// Products.
    Products,
    /// Orders.
    Orders,
    /// Shipment status events.
    Shipments,
    /// Consent decisions.
    Consents,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Customers => Kind::Customers,
            KindArg::Products => Kind::Products,
            KindArg::Orders => Kind::Orders,
            KindArg::Shipments => Kind::Shipments,
            KindArg::Consents => Kind::Consents,
        }
    }
}

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the file holds.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// The file: JSON Lines or CSV in Aftercare's own fields, Shopify's customer or order
    /// export, or WooCommerce's order export.
    pub file: PathBuf,
    /// Read and check every line; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Earn imported orders' loyalty points as of their dates.
    #[arg(long)]
    pub points: bool,
    /// Read the file from its first line even if an earlier run of it got further (after
    /// fixing what a rejected line needed, e.g. importing its customers); nothing is added
    /// twice.
    #[arg(long)]
    pub from_start: bool,
}

/// How to import a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Read and check every line; store nothing.
    pub dry_run: bool,
    /// Earn imported orders' points.
    pub points: bool,
    /// Ignore how far an earlier run of the file got.
    pub from_start: bool,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Items read from the file (after a resumed import's skipped lines).
    pub read: u64,
    /// Stored new.
    pub added: u64,
    /// Already there.
    pub known: u64,
    /// Skipped on purpose (a cancelled order), with the reason.
    pub skipped: u64,
    /// Lines that could not be stored, the first [`KEPT_REJECTS`] of them as
    /// `file:line: field: reason`.
    pub rejected: Vec<String>,
    /// How many lines could not be stored.
    pub rejected_count: u64,
    /// The line an interrupted import resumed after, if it did.
    pub resumed_after: Option<u64>,
}

/// Imports and prints the report; exit status 1 when a line was rejected.
pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    let options = Options {
        dry_run: args.dry_run,
        points: args.points,
        from_start: args.from_start,
    };
    let report = import_file(&engine, args.kind.into(), &args.file, options).await?;
    for line in &report.rejected {
        eprintln!("{line}");
    }
    if report.rejected_count > report.rejected.len() as u64 {
        eprintln!(
            "… and {} more rejected lines.",
            report.rejected_count - report.rejected.len() as u64
        );
    }
    if let Some(line) = report.resumed_after {
        println!("Resumed after line {line}, where the last import of this file stopped.");
    }
    let rejected = report.rejected_count;
    if args.dry_run {
        println!(
            "Dry run, nothing stored. {} read: {} could be stored, {} skipped, {} rejected.",
            report.read,
            report.read - report.skipped - rejected,
            report.skipped,
            rejected
        );
    } else {
        println!(
            "{} read: {} added, {} already there, {} skipped, {} rejected.",
            report.read, report.added, report.known, report.skipped, rejected
        );
    }
    if report.rejected_count > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Imports `file` as `kind` into `engine`'s store (or only checks it, `dry_run`).
pub async fn import_file(
    engine: &Engine,
    kind: Kind,
    file: &std::path::Path,
    options: Options,
) -> anyhow::Result<Report> {
    let Options {
        dry_run,
        points,
        from_start,
    } = options;
    let name = file.display().to_string();
    let mut opened = std::fs::File::open(file).with_context(|| format!("opening {name}"))?;
    let meta = opened.metadata()?;
    let size = meta.len();
    // The file's key: its kind, size, modification time and first 64 KiB, so a new export
    // (even of the same size and start) is a new file, and the same file resumes.
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut head = Vec::with_capacity(65_536);
    (&mut opened).take(65_536).read_to_end(&mut head)?;
    let first_line =
        String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
    let format = Format::detect(kind, &first_line).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut key = sha2::Sha256::new();
    key.update(kind.as_str().as_bytes());
    key.update(size.to_le_bytes());
    key.update(modified.to_le_bytes());
    key.update(&head);
    let file_key = hex::encode(key.finalize());
    let bar = progress(size);
    let reader = std::io::Cursor::new(head).chain(std::io::BufReader::new(opened));
    let stream: Box<dyn Read> = Box::new(bar.wrap_read(reader));
    let now = engine.clock().now();
    let store = engine.store();
    let resume = if dry_run || from_start {
        None
    } else {
        let mut tx = store.begin_read().await?;
        let at = tx.import_checkpoint(&file_key).await?;
        tx.commit().await?;
        at.map(|l| l as u64)
    };
    let loyalty = points.then(|| engine.loyalty().clone());
    let mut report = Report {
        resumed_after: resume,
        ..Default::default()
    };
    // The checkpoint is the last line read: running the file again goes on from there
    // (a rejected line is reported once; `--from-start` reads it again).
    let mut last_read = resume.unwrap_or(0);
    let mut batch: Vec<(u64, Item)> = Vec::with_capacity(BATCH);
    let mut cache = import::Cache::default();
    let run = FileRun {
        name: &name,
        key: &file_key,
        loyalty: loyalty.as_ref(),
    };
    for (line, entry) in entries(kind, format, stream, now) {
        if resume.is_some_and(|r| line <= r) {
            continue;
        }
        report.read += 1;
        last_read = line;
        match entry {
            Err(e) => report.reject(&name, line, &e),
            Ok(Read1::Skip(_)) => report.skipped += 1,
            Ok(Read1::Item(item)) if dry_run => {
                if let Err(e) = check(&item, now) {
                    report.reject(&name, line, &e);
                }
            }
            Ok(Read1::Item(item)) => {
                batch.push((line, *item));
                if batch.len() >= BATCH {
                    store_batch(engine, &run, &mut batch, &mut cache, &mut report, last_read)
                        .await?;
                }
            }
        }
    }
    if !dry_run {
        store_batch(engine, &run, &mut batch, &mut cache, &mut report, last_read).await?;
    }
    bar.finish_and_clear();
    Ok(report)
}

/// The file being imported: its name in reports, its key for the checkpoint, and the
/// loyalty rules when its orders earn points.
struct FileRun<'a> {
    name: &'a str,
    key: &'a str,
    loyalty: Option<&'a aftercare_domain::loyalty::LoyaltyConfig>,
}

impl Report {
    fn reject(&mut self, name: &str, line: u64, e: &aftercare_domain::FieldError) {
        self.rejected_count += 1;
        if self.rejected.len() < KEPT_REJECTS {
            self.rejected
                .push(format!("{name}:{line}: {}: {}", e.field, e.reason));
        }
    }
}

/// What a dry run can check without the store.
fn check(item: &Item, now: jiff::Timestamp) -> Result<(), aftercare_domain::FieldError> {
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    match item {
        Item::Customer(c) => c.validate(today),
        Item::Product(p) => p.validate(),
        Item::Order { order, .. } => order.validate(),
        Item::Shipment(s) => s.validate(),
        Item::CustomerUpdate(_) | Item::Consent(_) => Ok(()),
    }
}

/// Stores a batch in one transaction with the checkpoint (the last line read, stored,
/// skipped or rejected); when an item is refused, the batch is stored again item by item
/// so only that item is left out.
async fn store_batch(
    engine: &Engine,
    file: &FileRun<'_>,
    batch: &mut Vec<(u64, Item)>,
    cache: &mut import::Cache,
    report: &mut Report,
    checkpoint: u64,
) -> anyhow::Result<()> {
    let (name, file_key, loyalty) = (file.name, file.key, file.loyalty);
    let now = engine.clock().now();
    let mut tx = engine.store().begin().await?;
    let items: Vec<&Item> = batch.iter().map(|(_, item)| item).collect();
    let (outcomes, refused) = match import::apply_batch(&mut tx, &items, loyalty, cache, now).await
    {
        Ok(outcomes) => (outcomes, false),
        Err(IngestError::Invalid(_)) => (Vec::new(), true),
        Err(IngestError::Store(e)) => return Err(e.into()),
    };
    if !refused {
        tx.set_import_checkpoint(file_key, checkpoint as i64, now)
            .await?;
        tx.commit().await?;
        count(report, &outcomes);
        batch.clear();
        return Ok(());
    }
    drop(tx);
    // What the rolled-back transaction stored is not stored.
    cache.clear();
    for (line, item) in batch.iter() {
        let mut tx = engine.store().begin().await?;
        match import::apply(&mut tx, item, loyalty, cache, now).await {
            Ok(stored) => {
                tx.commit().await?;
                count(report, &[stored]);
            }
            Err(IngestError::Invalid(e)) => {
                drop(tx);
                cache.clear();
                report.reject(name, *line, &e);
            }
            Err(IngestError::Store(e)) => return Err(e.into()),
        }
    }
    let mut tx = engine.store().begin().await?;
    tx.set_import_checkpoint(file_key, checkpoint as i64, now)
        .await?;
    tx.commit().await?;
    batch.clear();
    Ok(())
}

fn count(report: &mut Report, outcomes: &[Stored]) {
    for o in outcomes {
        match o {
            Stored::Added => report.added += 1,
            Stored::Known => report.known += 1,
        }
    }
}

fn progress(bytes: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(bytes);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} ({eta} left)")
    {
        bar.set_style(style);
    }
    bar
}
