//! The worker: claims due jobs and runs them — routing events to programmes, running
//! enrolment steps, and delivering messages.
//!
//! Jobs are rows with a lease, so any number of workers (on PostgreSQL, on several
//! machines) share the work; a worker that dies leaves its leases to expire and another
//! picks the jobs up. Each job's effects commit in the same transaction that deletes it.
//! Delivery is the one step that talks to the outside world: the message is marked
//! `sending` (with its rendered content and a stable `Message-ID`) before the SMTP
//! conversation and `sent` after; a worker killed in between leaves it `sending`, and the
//! next claim sends it again with the same `Message-ID`.
//!
//! The job kinds live in their own files: `route` (events), `steps` (enrolments),
//! `calendar` (occasions) and `deliver` (messages); the `carrier` job (delivery changes)
//! lives in `crate::tracking`.
//!
//! [`Engine::run_once`] runs one batch and returns [`Ran::Idle`] when there was nothing
//! due, so tests step the engine with a [`aftercare_domain::ManualClock`].
//!
//! Requirements: FR1 (always-on programmes), PP1–PP4.

use aftercare_store::CustomerId;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aftercare_channels::email::{EmailMessage, SmtpMailer};
use aftercare_channels::webhook::WebhookClient;
use aftercare_domain::delivery::TrackingConfig;
use aftercare_domain::loyalty::LoyaltyConfig;
use aftercare_domain::policy::{self, Decision, Intent, PastContact, PolicyConfig, Topic};
use aftercare_domain::{Clock, MessageState};
use aftercare_store::{
    Enrolment, EnrolmentState, Job, JobKind, NewEnrolment, NewEvent, NewMessage, Store, StoreError,
    StoredCustomer, Tx, micros,
};
use jiff::SignedDuration;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use std::collections::{HashMap, HashSet};

use crate::links::{LinkSigner, Page};
use crate::occasions::{Occasion, PastOrder, occasions_on};
use crate::programme::{Action, OCCASIONS, Programme, Reentry, occasion_event};
use crate::render::{RenderInput, Renderer};
use crate::versions::Programmes;

mod calendar;
pub use calendar::{Lease, PART_SPAN};
mod deliver;
mod print;
mod provider;
mod settle;
mod shop_codes;
mod webhook;
pub use deliver::CLICK_LINKS;
pub use print::PrintFiles;
pub use provider::{ReceiptError, ReceiptStatus};
mod route;
mod steps;
mod throwaway;
pub use throwaway::THROWAWAY_TARGET;

/// What went wrong running a job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A print batch's files could not be made.
    #[error("print batch: {0}")]
    Print(String),
    /// Recording a group of handed-over messages failed; they stay `sending` for a retry.
    #[error("recording handed-over messages: {0}")]
    Settle(String),
}

/// The outcome of [`Engine::run_once`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// This many jobs ran.
    Worked(usize),
    /// Nothing was due.
    Idle,
}

/// Where delivered email goes.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A real SMTP server.
    Smtp(SmtpMailer),
    /// No SMTP server: messages are kept in the built-in outbox only (demo mode).
    OutboxOnly,
}

/// The engine: programmes, templates, a store and a clock.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    programmes: Arc<std::sync::RwLock<Arc<Programmes>>>,
    pub(crate) renderer: Arc<crate::content::LiveRenderer>,
    check_context: Arc<crate::programme::CheckContext>,
    delivery: Delivery,
    worker_id: String,
    wake: Arc<Notify>,
    batch_size: i64,
    concurrency: usize,
    lease: SignedDuration,
    calendar_span: i64,
    policy: PolicyConfig,
    loyalty: Arc<LoyaltyConfig>,
    retention: Arc<aftercare_domain::retention::RetentionConfig>,
    links: Arc<LinkSigner>,
    tracking: Arc<TrackingConfig>,
    webhooks: WebhookClient,
    print: Arc<aftercare_domain::print::PrintConfig>,
    webhook_targets:
        Arc<std::collections::BTreeMap<String, aftercare_domain::webhooks::WebhookTarget>>,
    feedback_secret: Option<Arc<str>>,
    channels: Arc<aftercare_domain::webhooks::ChannelProviders>,
    pub(crate) pickup_cache: Arc<crate::tracking::PickupCache>,
    settles: Arc<settle::Settles>,
    track_opens: bool,
    consent_webhook: Option<Arc<str>>,
    shop_codes: Option<Arc<aftercare_domain::webhooks::ShopCodes>>,
    housekeeping: Arc<crate::housekeeping::HousekeepingConfig>,
    scores: Arc<crate::scores::ScoresConfig>,
    attribution: Arc<crate::reports::AttributionConfig>,
}

/// How long a claimed job stays with its worker; a dead worker's jobs return after it.
/// Longer than the SMTP timeout, so a live worker never loses a job mid-send.
pub const DEFAULT_LEASE: SignedDuration = SignedDuration::from_secs(120);
/// How often a running worker looks for templates and programmes published since it
/// loaded them.
const CONTENT_EVERY: SignedDuration = SignedDuration::from_secs(5);
/// How often a paused programme's held steps and messages look again.
pub const PAUSE_RECHECK: SignedDuration = SignedDuration::from_mins(15);
const MAX_ATTEMPTS: i32 = 10;
/// A job that fails this often (about a day of backoff) is set aside for the team.
const MAX_JOB_ATTEMPTS: i32 = 30;
/// When a job scheduled by work that fell due at `cause_due` falls due: at `at`, or — when
/// that is already now — at `cause_due`, so the follow-up keeps its cause's place in the
/// queue. Under a backlog an order's confirmation then goes out before later orders are
/// routed, instead of behind all of them (issue 22: the queue drains depth first).
pub(crate) fn follow_up_at(
    cause_due: jiff::Timestamp,
    at: jiff::Timestamp,
    now: jiff::Timestamp,
) -> jiff::Timestamp {
    if at > now { at } else { cause_due.min(at) }
}

/// How often a running worker records that it is alive.
pub const HEARTBEAT_EVERY: SignedDuration = SignedDuration::from_secs(10);

impl Engine {
    /// An engine; `worker_id` names this process in job leases.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        programmes: Arc<Programmes>,
        renderer: Arc<Renderer>,
        delivery: Delivery,
        worker_id: String,
    ) -> Self {
        Self {
            store,
            clock,
            programmes: Arc::new(std::sync::RwLock::new(programmes)),
            renderer: Arc::new(crate::content::LiveRenderer::new(renderer)),
            check_context: Arc::default(),
            delivery,
            worker_id,
            wake: Arc::new(Notify::new()),
            batch_size: 50,
            concurrency: 1,
            lease: DEFAULT_LEASE,
            calendar_span: PART_SPAN,
            policy: PolicyConfig::default(),
            loyalty: Arc::new(LoyaltyConfig::default()),
            retention: Arc::default(),
            links: Arc::new(LinkSigner::new(&random_hex(), "http://127.0.0.1:8080")),
            tracking: Arc::new(TrackingConfig::default()),
            webhooks: WebhookClient::new(false),
            print: Arc::default(),
            webhook_targets: Arc::default(),
            feedback_secret: None,
            channels: Arc::default(),
            pickup_cache: Arc::default(),
            settles: Arc::default(),
            track_opens: false,
            consent_webhook: None,
            shop_codes: None,
            housekeeping: Arc::default(),
            scores: Arc::default(),
            attribution: Arc::default(),
        }
    }

    /// Sets how many customers' jobs run side by side (default 1: one job at a time). A
    /// batch claims four times as many jobs, so every lane has work.
    pub fn with_concurrency(mut self, lanes: usize) -> Self {
        self.concurrency = lanes.max(1);
        self.batch_size = i64::try_from(self.concurrency * 4).unwrap_or(50).max(50);
        self
    }

    /// Sets which orders are credited to a message (`[attribution]`).
    pub fn with_attribution(mut self, config: crate::reports::AttributionConfig) -> Self {
        self.attribution = Arc::new(config);
        self
    }

    /// Which orders are credited to a message.
    pub fn attribution(&self) -> &crate::reports::AttributionConfig {
        &self.attribution
    }

    /// Sets how long what grows forever is kept (`[housekeeping]`).
    pub fn with_housekeeping(mut self, config: crate::housekeeping::HousekeepingConfig) -> Self {
        self.housekeeping = Arc::new(config);
        self
    }

    /// Sets how the daily scores are made (`[scores]`).
    pub fn with_scores(mut self, config: crate::scores::ScoresConfig) -> Self {
        self.scores = Arc::new(config);
        self
    }

    /// Sets how long a claimed job stays leased (default [`DEFAULT_LEASE`]).
    pub fn with_lease(mut self, lease: SignedDuration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how many customers one part of a zone's daily calendar scan covers (default
    /// [`PART_SPAN`]; tests make it small to see several parts).
    pub fn with_calendar_span(mut self, customers: i64) -> Self {
        self.calendar_span = customers.max(1);
        self
    }

    /// Sets the policy (default [`PolicyConfig::default`]).
    pub fn with_policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the secret the mail provider signs its bounce and complaint feedback with.
    pub fn with_feedback_secret(mut self, secret: Option<String>) -> Self {
        self.feedback_secret = secret.map(Arc::from);
        self
    }

    /// Puts a pixel that records opens in every HTML email (off by default: privacy first,
    /// and mail apps that load images ahead make the count unreliable).
    pub fn with_open_tracking(mut self, on: bool) -> Self {
        self.track_opens = on;
        self
    }

    /// The mail provider's feedback secret, when feedback is configured.
    pub fn feedback_secret(&self) -> Option<&str> {
        self.feedback_secret.as_deref()
    }

    /// The name this process leases jobs under.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// How long a claimed job stays leased.
    pub fn lease(&self) -> SignedDuration {
        self.lease
    }

    /// The policy in force.
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    /// Sets the loyalty rules, coupon pools and referral settings (default
    /// [`LoyaltyConfig::default`]).
    pub fn with_loyalty(mut self, loyalty: LoyaltyConfig) -> Self {
        self.loyalty = Arc::new(loyalty);
        self
    }

    /// Sets the carriers, stores and local content of the tracking page (default: none);
    /// `allow_private_targets` in it also lets webhooks reach internal addresses.
    pub fn with_tracking(mut self, tracking: TrackingConfig) -> Self {
        self.webhooks = WebhookClient::new(tracking.allow_private_targets);
        self.tracking = Arc::new(tracking);
        self
    }

    /// The tracking page's carriers, stores and content.
    pub fn tracking(&self) -> &TrackingConfig {
        &self.tracking
    }

    /// The client for outgoing webhooks.
    pub fn webhooks(&self) -> &WebhookClient {
        &self.webhooks
    }

    /// Sets how customer links are signed and where they point.
    pub fn with_links(mut self, links: LinkSigner) -> Self {
        self.links = Arc::new(links);
        self
    }

    /// The signer of customer links.
    pub fn links(&self) -> &LinkSigner {
        &self.links
    }

    /// The loyalty rules.
    pub fn loyalty(&self) -> &LoyaltyConfig {
        &self.loyalty
    }

    /// Sets the `[webhooks]` target told of consent the customer changes in Aftercare
    /// (`[connectors] consent_webhook`).
    pub fn with_consent_webhook(mut self, target: Option<String>) -> Self {
        self.consent_webhook = target.map(Arc::from);
        self
    }

    /// The target told of consent changes, if any.
    pub fn consent_webhook(&self) -> Option<&str> {
        self.consent_webhook.as_deref()
    }

    /// Sets the retention offers made at cancellation (`[retention]`, RT1).
    pub fn with_retention(
        mut self,
        retention: aftercare_domain::retention::RetentionConfig,
    ) -> Self {
        self.retention = Arc::new(retention);
        self
    }

    /// The retention offers.
    pub fn retention(&self) -> &aftercare_domain::retention::RetentionConfig {
        &self.retention
    }

    /// Accepts a retention offer once (RT1), telling the shop through `[retention] webhook`.
    pub async fn accept_retention_offer(
        &self,
        tx: &mut Tx,
        id: i64,
        now: jiff::Timestamp,
    ) -> Result<crate::retention::Acceptance, crate::ingest::IngestError> {
        crate::retention::accept(
            tx,
            &self.retention,
            |t| self.webhook_targets.contains_key(t),
            id,
            now,
        )
        .await
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// What checking a programme needs besides its file (the template editor re-checks
    /// every programme against a draft).
    pub fn check_context(&self) -> &crate::programme::CheckContext {
        &self.check_context
    }

    /// Sets what checking a programme needs besides its file.
    pub fn with_check_context(mut self, ctx: crate::programme::CheckContext) -> Self {
        self.check_context = Arc::new(ctx);
        self
    }

    /// The programmes: the current library and every version enrolments are on.
    pub fn programmes(&self) -> Arc<Programmes> {
        self.programmes
            .read()
            .map_or_else(|e| e.into_inner().clone(), |p| p.clone())
    }

    /// Replaces the programmes every job uses from now on (a reload, issue 21).
    pub(crate) fn set_programmes(&self, programmes: Programmes) {
        let mut current = self
            .programmes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(programmes);
    }

    /// Wakes an idle [`Engine::run`] loop, e.g. after the API accepted new work.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims and runs one batch of due jobs: one customer's jobs one after another, in the
    /// order they were due, and up to [`Engine::with_concurrency`] customers side by side
    /// (jobs about no customer each on their own). Decisions about one customer are also
    /// serialised across workers ([`Tx::lock_customer`]).
    pub async fn run_once(&self) -> Result<Ran, EngineError> {
        let now = self.clock.now();
        let lease_until = now.checked_add(self.lease).unwrap_or(now);
        let jobs = self
            .store
            .claim_jobs(&self.worker_id, now, lease_until, self.batch_size)
            .await?;
        if jobs.is_empty() {
            return Ok(Ran::Idle);
        }
        let count = jobs.len();
        if self.concurrency <= 1 || count == 1 {
            for job in jobs {
                self.run_guarded(&job, now).await?;
            }
            return Ok(Ran::Worked(count));
        }
        let customers: HashMap<aftercare_store::JobId, CustomerId> =
            self.store.job_customers(&jobs).await?.into_iter().collect();
        // Jobs come sorted by when they were due; each customer's keep that order.
        let mut groups: Vec<Vec<Job>> = Vec::new();
        let mut group_of: HashMap<CustomerId, usize> = HashMap::new();
        for job in jobs {
            match customers.get(&job.id) {
                Some(c) => {
                    let g = *group_of.entry(*c).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(job);
                }
                None => groups.push(vec![job]),
            }
        }
        let queue = Arc::new(std::sync::Mutex::new(
            groups
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency.min(count) {
            let (engine, queue) = (self.clone(), queue.clone());
            lanes.spawn(async move {
                loop {
                    let Some(group) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                        return Ok::<(), EngineError>(());
                    };
                    for job in group {
                        engine.run_guarded(&job, now).await?;
                    }
                }
            });
        }
        let mut failed = None;
        while let Some(lane) = lanes.join_next().await {
            match lane {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(e),
                Err(e) => error!(error = %e, "A worker lane stopped unexpectedly."),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(Ran::Worked(count)),
        }
    }

    /// Runs one claimed job; a failure is recorded on the job (retried with backoff, or set
    /// aside after too many attempts) rather than returned.
    async fn run_guarded(&self, job: &Job, now: jiff::Timestamp) -> Result<(), EngineError> {
        let Err(e) = self.run_job(job).await else {
            return Ok(());
        };
        // Only while this worker holds the job: one that lost its lease (and failed for
        // that) leaves the job to the worker that took it.
        let mut tx = self.store.begin().await?;
        let held = if job.attempts >= MAX_JOB_ATTEMPTS {
            error!(job_id = i64::from(job.id), kind = %job.kind, error = %e, "Job failed too often; setting it aside.");
            tx.bury_job(job.id, &self.worker_id, &e.to_string(), now)
                .await?
        } else {
            warn!(job_id = i64::from(job.id), kind = %job.kind, error = %e, "Job failed; it will be retried.");
            let delay = backoff(job.attempts);
            tx.retry_job(
                job.id,
                &self.worker_id,
                self.clock.now().checked_add(delay).unwrap_or(now),
                &e.to_string(),
            )
            .await?
        };
        if held {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Runs batches until nothing is due at the clock's current time.
    pub async fn run_until_idle(&self) -> Result<usize, EngineError> {
        let mut total = 0;
        while let Ran::Worked(n) = self.run_once().await? {
            total += n;
        }
        Ok(total)
    }

    /// Runs until `shutdown` completes; finishes the job in hand before returning.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (stop, wake) = (stop.clone(), self.wake.clone());
            tokio::spawn(async move {
                shutdown.await;
                stop.store(true, Ordering::SeqCst);
                wake.notify_one();
            });
        }
        info!(worker = %self.worker_id, "Worker started.");
        let started = self.clock.now();
        let mut jobs_done = 0_i64;
        let mut last_beat: Option<jiff::Timestamp> = None;
        let mut last_look: Option<jiff::Timestamp> = None;
        while !stop.load(Ordering::SeqCst) {
            let now = self.clock.now();
            // Issue 21: a template or programme published in the admin UI reaches every
            // worker.
            if last_look.is_none_or(|b| now.duration_since(b) >= CONTENT_EVERY || now < b) {
                if let Err(e) = self.refresh_content().await {
                    warn!(error = %e, "Looking for changed templates and programmes failed.");
                }
                last_look = Some(now);
            }
            if last_beat.is_none_or(|b| now.duration_since(b) >= HEARTBEAT_EVERY || now < b) {
                match self.heartbeat(started, jobs_done, now).await {
                    Ok(()) => last_beat = Some(now),
                    Err(e) => warn!(error = %e, "Recording the worker's heartbeat failed."),
                }
            }
            match self.run_once().await {
                Ok(Ran::Worked(n)) => {
                    jobs_done += i64::try_from(n).unwrap_or(i64::MAX);
                    continue;
                }
                Ok(Ran::Idle) => {}
                Err(e) => warn!(error = %e, "Claiming jobs failed; trying again shortly."),
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), self.wake.notified()).await;
        }
        info!(worker = %self.worker_id, "Worker stopped.");
    }

    /// Tells the store this worker is alive (`/metrics` shows it), with its jobs so far.
    async fn heartbeat(
        &self,
        started: jiff::Timestamp,
        jobs_done: i64,
        now: jiff::Timestamp,
    ) -> Result<(), EngineError> {
        let mut tx = self.store.begin().await?;
        tx.heartbeat(&self.worker_id, started, jobs_done, now)
            .await?;
        Ok(tx.commit().await?)
    }

    async fn run_job(&self, job: &Job) -> Result<(), EngineError> {
        match &job.kind {
            JobKind::Event => self.route_event(job).await,
            JobKind::Step => self.run_steps(job).await,
            JobKind::Deliver => self.deliver(job).await,
            JobKind::Calendar => self.run_calendar(job).await,
            JobKind::CalendarPart => self.run_calendar_part(job).await,
            JobKind::Scores => self.run_scores(job).await,
            JobKind::Carrier => self.pass_on_change(job).await,
            JobKind::Webhook => self.call_webhook(job).await,
            JobKind::Campaign => self.plan_campaign(job).await,
            JobKind::Import => self.import_upload(job).await,
            JobKind::ShopCodes => self.create_shop_codes(job).await,
            // Never claimed by the lanes (`claim_jobs` leaves side jobs out): the lab runs
            // them beside the work (`aftercare_lab::trial::run_side_jobs`).
            JobKind::Simulation | JobKind::Projection => Ok(()),
            JobKind::Referral => {
                let mut tx = self.store.begin().await?;
                crate::loyalty::settle_referral(
                    &mut tx,
                    &self.loyalty,
                    job.ref_id,
                    self.clock.now(),
                )
                .await?;
                self.finish(tx, job).await
            }
            // Written by a newer version: set aside with the dead jobs, where the team sees
            // it and can retry it (`POST /v1/dead-jobs/{id}/retry`) once a worker that knows
            // the kind runs, instead of failing every claim.
            JobKind::Unknown(other) => {
                warn!(
                    job_id = i64::from(job.id),
                    kind = %other,
                    "Unknown job kind; setting it aside."
                );
                let mut tx = self.store.begin().await?;
                if tx
                    .bury_job(
                        job.id,
                        &self.worker_id,
                        &format!("unknown job kind '{other}' (written by a newer version?)"),
                        self.clock.now(),
                    )
                    .await?
                {
                    tx.commit().await?;
                }
                Ok(())
            }
        }
    }

    /// Ends a message in `to` (blocked or failed) with `reason` and finishes its job.
    pub(crate) async fn end_message(
        &self,
        mut tx: Tx,
        job: &Job,
        message: &aftercare_store::Message,
        to: MessageState,
        reason: &str,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        tx.transition_message(message.id, message.state, to, reason, now)
            .await?;
        self.finish(tx, job).await
    }

    /// Holds a job of a paused programme: it runs again after [`PAUSE_RECHECK`], so a resumed
    /// programme picks up where it stood within minutes, and nothing is dropped.
    pub(crate) async fn hold_while_paused(&self, mut tx: Tx, job: &Job) -> Result<(), EngineError> {
        let next = self.clock.now() + PAUSE_RECHECK;
        if !tx.reschedule_job(job.id, &self.worker_id, next).await? {
            return Ok(());
        }
        debug!(job_id = i64::from(job.id), "Held: the programme is paused.");
        Ok(tx.commit().await?)
    }

    pub(crate) async fn finish(&self, mut tx: Tx, job: &Job) -> Result<(), EngineError> {
        if !tx.finish_job(job.id, &self.worker_id).await? {
            // Dropping the transaction rolls back this run's effects; the holder redoes them.
            warn!(
                job_id = i64::from(job.id),
                "Lost the lease on a job; another worker has it."
            );
            return Ok(());
        }
        Ok(tx.commit().await?)
    }
}

/// Ends an enrolment early: cancels its timers and blocks what it had planned.
pub(crate) async fn exit(
    tx: &mut Tx,
    e: &Enrolment,
    reason: &str,
    now: jiff::Timestamp,
) -> Result<(), StoreError> {
    tx.cancel_step_jobs(e.id).await?;
    tx.exit_enrolment(e.id, reason, now).await?;
    tx.block_planned_messages(e.id, &format!("blocked: {reason}"), now)
        .await?;
    debug!(programme = %e.programme_id, enrolment_id = %e.id, reason, "Enrolment ended early.");
    Ok(())
}

/// A JSON value as text for matching (`"W1"` and `W1` are the same order number).
pub fn json_text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The next moment the local clock shows `time`, from `local` on (now, if it shows it
/// already; DST-correct: a time that does not exist that day moves forward, as jiff's
/// compatible disambiguation does).
pub(crate) fn next_local_time(
    local: &jiff::ZonedDateTime,
    time: jiff::civil::Time,
) -> Option<jiff::Timestamp> {
    let today = local.with().time(time).build().ok()?;
    if today.timestamp() >= local.timestamp() {
        return Some(today.timestamp());
    }
    let tomorrow = local.date().tomorrow().ok()?;
    tomorrow
        .to_datetime(time)
        .to_zoned_datetime(local.time_zone().clone())
        .ok()
        .map(|z| z.timestamp())
}

/// Whether a customer falls in a programme's holdout share: stable for the pair, so the
/// same customer is always in or out (the first 8 bytes of SHA-256 over both ids).
pub fn in_holdout(programme_id: &str, customer_external_id: &str, share: f64) -> bool {
    use sha2::{Digest, Sha256};
    if share <= 0.0 {
        return false;
    }
    let digest = Sha256::digest(format!("{programme_id}\0{customer_external_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    #[allow(clippy::cast_precision_loss)]
    let position = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    position < share
}

/// The order an enrolment is about (its context's `order_external_id`) and its products.
async fn order_in_context(
    tx: &mut Tx,
    context: &serde_json::Value,
) -> Result<
    (
        Option<aftercare_store::StoredOrder>,
        Vec<aftercare_domain::ProductRecord>,
    ),
    EngineError,
> {
    let order = match context.get("order_external_id").and_then(|v| v.as_str()) {
        Some(ext) => tx.order_by_external_id(ext).await?,
        None => None,
    };
    let products = match &order {
        Some(o) => tx.order_products(&o.record).await?,
        // A product the customer looked at (`product_viewed`, CH3).
        None => match context.get("sku").and_then(|v| v.as_str()) {
            Some(sku) => tx.product(sku).await?.into_iter().collect(),
            None => Vec::new(),
        },
    };
    Ok((order, products))
}

/// The SKUs the customer of `order` ordered before it.
pub(crate) async fn bought_before(
    tx: &mut Tx,
    order: &aftercare_store::StoredOrder,
) -> Result<HashSet<String>, EngineError> {
    Ok(tx
        .orders_of_customers(order.customer_id, order.customer_id)
        .await?
        .into_iter()
        .filter(|o| o.id != order.id && o.record.placed_at < order.record.placed_at)
        .flat_map(|o| {
            o.record
                .lines
                .into_iter()
                .map(|l| l.sku.as_str().to_string())
        })
        .collect())
}

/// OF2: up to three products from the day's "also bought" rules for `products`, best lift
/// first, leaving out the basket and what the customer owns. The also-bought message and
/// the condition that decides whether it has anything to say read the same list.
pub(crate) async fn recommendations(
    tx: &mut Tx,
    customer_id: CustomerId,
    products: &[aftercare_domain::ProductRecord],
) -> Result<Vec<aftercare_domain::ProductRecord>, EngineError> {
    let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
    let rules: Vec<aftercare_insight::recs::Rule> = tx
        .also_bought_rules(&skus)
        .await?
        .into_iter()
        .map(|r| aftercare_insight::recs::Rule {
            antecedent: r.sku,
            consequent: r.other_sku,
            pair_orders: u64::try_from(r.pair_orders).unwrap_or(0),
            support: r.support,
            confidence: r.confidence,
            lift: r.lift,
        })
        .collect();
    let owned: HashSet<String> = tx.owned_skus(customer_id).await?.into_iter().collect();
    let mut out = Vec::new();
    for rule in aftercare_insight::recs::recommend(&rules, &skus, &owned, 3) {
        out.extend(tx.product(&rule.consequent).await?);
    }
    Ok(out)
}

/// What `condition` sees: customer, order, products, event and computed stats, and the
/// recommendations when it reads them.
async fn condition_data(
    tx: &mut Tx,
    customer: &StoredCustomer,
    context: &serde_json::Value,
    condition: &crate::condition::Condition,
    now: jiff::Timestamp,
) -> Result<serde_json::Value, EngineError> {
    let stats = tx.order_stats(customer.id).await?;
    // Daily scores (WB1, RT2); before the first run every customer counts as active.
    let scores = tx.scores(customer.id).await?;
    let points = aftercare_domain::loyalty::replay(&tx.ledger(customer.id).await?).balance(now);
    let stats_json = stats_of(&customer.record, &stats, scores.as_ref(), points, now).to_json();
    let (order, products) = order_in_context(tx, context).await?;
    let order_json = match &order {
        Some(o) => {
            let before = bought_before(tx, o).await?;
            let before: HashSet<&str> = before.iter().map(String::as_str).collect();
            Some(crate::condition::order_json(&o.record, &before))
        }
        None => None,
    };
    let recommendations = if condition.uses("recommendations") {
        recommendations(tx, customer.id, &products).await?
    } else {
        Vec::new()
    };
    Ok(serde_json::json!({
        "customer": customer.record,
        "order": order_json,
        "products": products.iter().map(crate::condition::product_json).collect::<Vec<_>>(),
        "event": context,
        "stats": stats_json,
        "recommendations": recommendations.iter().map(crate::condition::product_json).collect::<Vec<_>>(),
    }))
}

/// What conditions read as `stats` for a customer, from their order figures, daily scores
/// (before the first run every customer counts as active) and points balance.
pub(crate) fn stats_of(
    customer: &aftercare_domain::CustomerRecord,
    stats: &aftercare_store::OrderStats,
    scores: Option<&aftercare_store::Scores>,
    points_balance: i64,
    now: jiff::Timestamp,
) -> crate::condition::Stats {
    let days = |t: Option<jiff::Timestamp>| t.map(|t| (micros(now) - micros(t)) / 86_400_000_000);
    let since = customer
        .customer_since
        .map(|d| {
            d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
        })
        .transpose()
        .ok()
        .flatten()
        .or(stats.first_order_at);
    crate::condition::Stats {
        orders_count: stats.orders_count,
        total_spent_cents: stats.total_spent_cents,
        points_balance,
        days_since_last_order: days(stats.last_order_at),
        days_as_customer: days(since),
        rfm_segment: Some(
            scores
                .map_or("new_customers", |s| s.rfm_segment.as_str())
                .to_string(),
        ),
        p_alive: scores.and_then(|s| s.p_alive).unwrap_or(1.0),
        expected_purchases_90d: scores.and_then(|s| s.expected_purchases_90d).unwrap_or(0.0),
        clv_12m_cents: scores.and_then(|s| s.clv_12m_cents).unwrap_or(0),
    }
}

/// A job's wait before its next try: 30 s, 1 min, 2 min, … capped at an hour.
pub(crate) fn backoff(attempts: i32) -> SignedDuration {
    doubling(
        SignedDuration::from_secs(30),
        attempts,
        SignedDuration::from_hours(1),
    )
}

/// The one backoff every retry uses: `first` after the first attempt, doubling with each
/// attempt after it, never above `cap`.
pub(crate) fn doubling(
    first: SignedDuration,
    attempts: i32,
    cap: SignedDuration,
) -> SignedDuration {
    let exp = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(30);
    first.checked_mul(1 << exp).map_or(cap, |d| d.min(cap))
}

/// 32 random bytes as hex text: a link secret nobody configured, a form nonce.
pub fn random_hex() -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One doubling function gives both schedules: jobs (30 s up to an hour) and a shop code
    /// the shop failed on (2 minutes up to about eight and a half hours).
    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_their_cap() {
        let secs = |d: SignedDuration| d.as_secs();
        assert_eq!(secs(backoff(0)), 30);
        assert_eq!(secs(backoff(1)), 30);
        assert_eq!(secs(backoff(2)), 60);
        assert_eq!(secs(backoff(7)), 1920);
        assert_eq!(secs(backoff(8)), 3600);
        assert_eq!(secs(backoff(i32::MAX)), 3600);
        let mins = |tries| shop_codes::wait_after(tries).as_mins();
        assert_eq!(mins(-1), 2);
        assert_eq!(mins(0), 2);
        assert_eq!(mins(1), 4);
        assert_eq!(mins(shop_codes::MAX_TRIES), 512);
        assert_eq!(mins(i32::MAX), 512);
    }
}
