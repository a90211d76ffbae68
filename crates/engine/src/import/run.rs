//! Running an import: a file's entries ([`super::files`]) stored in transactions of
//! [`BATCH`] items, each recording how far the file got, so an interrupted import resumes
//! after the last committed line and importing the same file again adds nothing. A line that
//! cannot be stored is reported as `file:line: field: reason` and the rest goes in.
//!
//! Two doors use it: `aftercare import FILE` on the command line, and `POST /v1/imports`,
//! whose upload is stored and imported by the `import` job a slice at a time ([`SLICE`]
//! batches per run, then the job runs again), with the report written in the same
//! transaction as each batch, so a worker killed mid-way loses nothing and counts nothing
//! twice.

use std::io::Read;

use aftercare_domain::FieldError;
use aftercare_domain::loyalty::LoyaltyConfig;
use aftercare_store::{ImportState, Job, NewUpload, Tx};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::files::{Format, Read1, entries};
use super::{Cache, Item, Kind, Stored, apply, apply_batch};
use crate::Engine;
use crate::ingest::IngestError;
use crate::worker::EngineError;

/// Items stored per transaction.
pub const BATCH: usize = 500;
/// Rejected lines a report keeps word for word (the rest are counted), so a file of bad
/// lines does not fill the memory.
pub const KEPT_REJECTS: usize = 1000;
/// Batches an `import` job stores before it hands over to its next run: well inside a
/// job's lease even when every line of a batch goes in its own transaction.
pub const SLICE: usize = 4;

/// How to import a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Read and check every line; store nothing.
    pub dry_run: bool,
    /// Earn imported orders' points.
    pub points: bool,
    /// Ignore how far an earlier run of the file got.
    pub from_start: bool,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Items read from the file (after a resumed import's skipped lines).
    pub read: u64,
    /// Stored new.
    pub added: u64,
    /// Already there.
    pub known: u64,
    /// Skipped on purpose (a cancelled order).
    pub skipped: u64,
    /// Lines that could not be stored, the first [`KEPT_REJECTS`] of them as
    /// `file:line: field: reason`.
    pub rejected: Vec<String>,
    /// How many lines could not be stored.
    pub rejected_count: u64,
    /// The line an interrupted import resumed after, if it did.
    pub resumed_after: Option<u64>,
}

impl Report {
    fn reject(&mut self, name: &str, line: u64, e: &FieldError) {
        self.rejected_count += 1;
        if self.rejected.len() < KEPT_REJECTS {
            self.rejected
                .push(format!("{name}:{line}: {}: {}", e.field, e.reason));
        }
    }

    fn count(&mut self, outcomes: &[Stored]) {
        for o in outcomes {
            match o {
                Stored::Added => self.added += 1,
                Stored::Known => self.known += 1,
            }
        }
    }
}

/// The file being imported.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Its name in reports.
    pub name: &'a str,
    /// Its key for the checkpoint (a file's kind, size, time and start; an upload's id).
    pub key: &'a str,
    /// What it holds.
    pub kind: Kind,
    /// How it is written.
    pub format: Format,
    /// The upload whose report is kept with each batch, if it is one.
    pub upload: Option<i64>,
}

/// Whether a run got to the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The whole file is read.
    Yes,
    /// It stopped after `max_batches`; run it again to go on.
    Not,
}

/// Imports `stream` (the file `source`) into `engine`'s store, adding to `report`; stops
/// after `max_batches` committed batches when given.
pub async fn run(
    engine: &Engine,
    source: Source<'_>,
    stream: Box<dyn Read + Send>,
    options: Options,
    report: &mut Report,
    max_batches: Option<usize>,
) -> Result<Finished, EngineError> {
    let now = engine.clock().now();
    let store = engine.store();
    let resume = if options.dry_run || options.from_start {
        None
    } else {
        let mut tx = store.begin_read().await?;
        let at = tx.import_checkpoint(source.key).await?;
        tx.commit().await?;
        at.map(|l| l as u64)
    };
    // (An upload's slices each go on from the last; that is not a resumed import.)
    if source.upload.is_none() {
        report.resumed_after = resume;
    }
    let loyalty = options.points.then(|| engine.loyalty().clone());
    // The checkpoint is the last line read: running the file again goes on from there
    // (a rejected line is reported once; `from_start` reads it again).
    let mut last_read = resume.unwrap_or(0);
    let mut pending = Pending {
        engine,
        source,
        loyalty: loyalty.as_ref(),
        batch: Vec::with_capacity(BATCH),
        cache: Cache::default(),
    };
    let mut batches = 0;
    for (line, entry) in entries(source.kind, source.format, stream, now) {
        if resume.is_some_and(|r| line <= r) {
            continue;
        }
        if !options.dry_run && max_batches.is_some_and(|m| batches >= m) {
            return Ok(Finished::Not);
        }
        report.read += 1;
        last_read = line;
        match entry {
            Err(e) => report.reject(source.name, line, &e),
            Ok(Read1::Skip(_)) => report.skipped += 1,
            Ok(Read1::Item(item)) if options.dry_run => {
                if let Err(e) = check(&item, now) {
                    report.reject(source.name, line, &e);
                }
            }
            Ok(Read1::Item(item)) => {
                pending.batch.push((line, *item));
                if pending.batch.len() >= BATCH {
                    pending.store(report, last_read).await?;
                    batches += 1;
                }
            }
        }
    }
    if !options.dry_run {
        pending.store(report, last_read).await?;
    }
    Ok(Finished::Yes)
}

/// What a dry run can check without the store.
fn check(item: &Item, now: Timestamp) -> Result<(), FieldError> {
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    match item {
        Item::Customer(c) => c.validate(today),
        Item::Product(p) => p.validate(),
        Item::Order { order, .. } => order.validate(),
        Item::Shipment(s) => s.validate(),
        Item::CustomerUpdate(_) | Item::Consent(_) => Ok(()),
    }
}

/// Records how far the file got — and for an upload what it did — in `tx`.
async fn checkpoint(
    tx: &mut Tx,
    source: Source<'_>,
    line: u64,
    report: &Report,
    now: Timestamp,
) -> Result<(), EngineError> {
    tx.set_import_checkpoint(source.key, line as i64, now)
        .await?;
    if let Some(id) = source.upload {
        let json = serde_json::to_string(report).unwrap_or_default();
        tx.set_upload_progress(id, ImportState::Running, &json, None, now)
            .await?;
    }
    Ok(())
}

/// The items read and not yet stored, and what storing them needs.
struct Pending<'a> {
    engine: &'a Engine,
    source: Source<'a>,
    loyalty: Option<&'a LoyaltyConfig>,
    batch: Vec<(u64, Item)>,
    cache: Cache,
}

impl Pending<'_> {
    /// Stores a batch in one transaction with the checkpoint (the last line read, stored,
    /// skipped or rejected); when an item is refused, the batch is stored again item by item
    /// so only that item is left out.
    async fn store(&mut self, report: &mut Report, line: u64) -> Result<(), EngineError> {
        let Pending {
            engine,
            source,
            loyalty,
            batch,
            cache,
        } = self;
        let (engine, source, loyalty) = (*engine, *source, *loyalty);
        let now = engine.clock().now();
        let mut tx = engine.store().begin().await?;
        let items: Vec<&Item> = batch.iter().map(|(_, item)| item).collect();
        match apply_batch(&mut tx, &items, loyalty, cache, now).await {
            Ok(outcomes) => {
                let mut after = report.clone();
                after.count(&outcomes);
                checkpoint(&mut tx, source, line, &after, now).await?;
                tx.commit().await?;
                *report = after;
                batch.clear();
                return Ok(());
            }
            Err(IngestError::Invalid(_)) => {}
            Err(IngestError::Store(e)) => return Err(e.into()),
        }
        drop(tx);
        // What the rolled-back transaction stored is not stored.
        cache.clear();
        for (line, item) in batch.iter() {
            let mut tx = engine.store().begin().await?;
            match apply(&mut tx, item, loyalty, cache, now).await {
                Ok(stored) => {
                    tx.commit().await?;
                    report.count(&[stored]);
                }
                Err(IngestError::Invalid(e)) => {
                    drop(tx);
                    cache.clear();
                    report.reject(source.name, *line, &e);
                }
                Err(IngestError::Store(e)) => return Err(e.into()),
            }
        }
        let mut tx = engine.store().begin().await?;
        checkpoint(&mut tx, source, line, report, now).await?;
        tx.commit().await?;
        batch.clear();
        Ok(())
    }
}

/// Uploads that may wait for a worker at once: each holds its file in the database until it
/// is imported, so a client that keeps uploading cannot fill the disk.
pub const MAX_WAITING_UPLOADS: i64 = 8;

/// Why an upload cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file is not one Aftercare reads.
    #[error("{0}")]
    Invalid(FieldError),
    /// [`MAX_WAITING_UPLOADS`] are waiting already.
    #[error("{0} imports are waiting to be imported; upload again when one is done")]
    Busy(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] aftercare_store::StoreError),
}

/// Stores an uploaded file as an import for the `import` job, in `tx`: its format told by
/// the first line (refused here, naming `body`, when it is none Aftercare reads). Returns
/// the upload's id.
pub async fn queue_upload(
    tx: &mut Tx,
    kind: Kind,
    body: &[u8],
    options: Options,
    created_by: &str,
    now: Timestamp,
) -> Result<i64, UploadError> {
    let first_line =
        String::from_utf8_lossy(body.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
    if first_line.trim().is_empty() {
        return Err(UploadError::Invalid(FieldError::new(
            "body",
            "the file is empty",
        )));
    }
    let format = Format::detect(kind, &first_line)
        .map_err(|e| UploadError::Invalid(FieldError::new("body", e)))?;
    let waiting = tx.uploads_waiting().await?;
    if waiting >= MAX_WAITING_UPLOADS {
        return Err(UploadError::Busy(waiting));
    }
    let id = tx
        .insert_upload(
            &NewUpload {
                kind: kind.as_str(),
                format: format.as_str(),
                options: &serde_json::to_string(&options).unwrap_or_default(),
                body,
                report: &serde_json::to_string(&Report::default()).unwrap_or_default(),
                created_by,
            },
            now,
        )
        .await?;
    tx.insert_job(aftercare_store::JobKind::Import, id, now, now)
        .await?;
    Ok(id)
}

impl Engine {
    /// The `import` job: the next slice of an uploaded file, then the job again until the
    /// file is read; the upload ends `done` with its report (or `failed`, when it can no
    /// longer be read as it was).
    pub(crate) async fn import_upload(&self, job: &Job) -> Result<(), EngineError> {
        let id = job.ref_id;
        let mut tx = self.store().begin().await?;
        let Some(upload) = tx.upload(id).await? else {
            return self.finish(tx, job).await;
        };
        if matches!(upload.state.as_str(), "done" | "failed") {
            return self.finish(tx, job).await;
        }
        let body = tx.upload_body(id).await?;
        drop(tx);
        let now = self.clock().now();
        let (kind, format) = match (Kind::parse(&upload.kind), Format::parse(&upload.format)) {
            (Some(k), Some(f)) => (k, f),
            _ => {
                let mut tx = self.store().begin().await?;
                tx.set_upload_progress(
                    id,
                    ImportState::Failed,
                    &upload.report,
                    Some("the upload's kind or format is unknown to this version"),
                    now,
                )
                .await?;
                return self.finish(tx, job).await;
            }
        };
        let options: Options = serde_json::from_str(&upload.options).unwrap_or_default();
        let mut report: Report = serde_json::from_str(&upload.report).unwrap_or_default();
        let name = format!("upload-{id}");
        let key = format!("upload:{id}");
        let source = Source {
            name: &name,
            key: &key,
            kind,
            format,
            upload: Some(id),
        };
        let stream: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(body));
        // Each slice goes on from the last committed line (a dry run stores nothing and
        // reads the whole file in one run).
        let options = Options {
            from_start: false,
            ..options
        };
        let finished = run(self, source, stream, options, &mut report, Some(SLICE)).await?;
        let mut tx = self.store().begin().await?;
        match finished {
            Finished::Yes => {
                let json = serde_json::to_string(&report).unwrap_or_default();
                tx.set_upload_progress(id, ImportState::Done, &json, None, self.clock().now())
                    .await?;
                self.finish(tx, job).await
            }
            Finished::Not => {
                // Again at once, under a new lease: the checkpoint says where.
                if tx
                    .reschedule_job(job.id, self.worker_id(), self.clock().now())
                    .await?
                {
                    tx.commit().await?;
                    self.wake();
                }
                Ok(())
            }
        }
    }
}
