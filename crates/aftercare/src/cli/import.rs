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
use aftercare_engine::import::Kind;
use aftercare_engine::import::files::Format;
use aftercare_engine::import::run::{self, Source};
use anyhow::Context;
use sha2::Digest;

use crate::app;
use crate::config::Config;

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

pub use aftercare_engine::import::run::{Options, Report};

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
    let stream: Box<dyn Read + Send> = Box::new(bar.wrap_read(reader));
    let source = Source {
        name: &name,
        key: &file_key,
        kind,
        format,
        upload: None,
    };
    let mut report = Report::default();
    run::run(engine, source, stream, options, &mut report, None).await?;
    bar.finish_and_clear();
    Ok(report)
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
