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
//! [`Engine::run_once`] runs one batch and returns [`Ran::Idle`] when there was nothing
//! due, so tests step the engine with a [`aftercare_domain::ManualClock`].
//!
//! Requirements: FR1 (always-on programmes), PP1–PP4.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aftercare_channels::email::{EmailMessage, SmtpMailer};
use aftercare_domain::{Clock, MessageState, Purpose};
use aftercare_store::{Job, NewMessage, Store, StoreError, Tx, enrolment_state, job_kind};
use jiff::SignedDuration;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::programme::{Action, Library};
use crate::render::{RenderInput, Renderer};

/// What went wrong running a job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    library: Arc<Library>,
    renderer: Arc<Renderer>,
    delivery: Delivery,
    worker_id: String,
    wake: Arc<Notify>,
    batch_size: i64,
    lease: SignedDuration,
}

/// How long a claimed job stays with its worker; a dead worker's jobs return after it.
/// Longer than the SMTP timeout, so a live worker never loses a job mid-send.
pub const DEFAULT_LEASE: SignedDuration = SignedDuration::from_secs(120);
const MAX_ATTEMPTS: i32 = 10;

impl Engine {
    /// An engine; `worker_id` names this process in job leases.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        library: Arc<Library>,
        renderer: Arc<Renderer>,
        delivery: Delivery,
        worker_id: String,
    ) -> Self {
        Self {
            store,
            clock,
            library,
            renderer,
            delivery,
            worker_id,
            wake: Arc::new(Notify::new()),
            batch_size: 50,
            lease: DEFAULT_LEASE,
        }
    }

    /// Sets how long a claimed job stays leased (default [`DEFAULT_LEASE`]).
    pub fn with_lease(mut self, lease: SignedDuration) -> Self {
        self.lease = lease;
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The renderer.
    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    /// The programme library.
    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }

    /// Wakes an idle [`Engine::run`] loop, e.g. after the API accepted new work.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims and runs one batch of due jobs.
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
        for job in jobs {
            if let Err(e) = self.run_job(&job).await {
                warn!(job_id = job.id, kind = %job.kind, error = %e, "Job failed; it will be retried.");
                let delay = backoff(job.attempts);
                let mut tx = self.store.begin().await?;
                tx.retry_job(
                    job.id,
                    self.clock.now().checked_add(delay).unwrap_or(now),
                    &e.to_string(),
                )
                .await?;
                tx.commit().await?;
            }
        }
        Ok(Ran::Worked(count))
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
        while !stop.load(Ordering::SeqCst) {
            match self.run_once().await {
                Ok(Ran::Worked(_)) => continue,
                Ok(Ran::Idle) => {}
                Err(e) => warn!(error = %e, "Claiming jobs failed; trying again shortly."),
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), self.wake.notified()).await;
        }
        info!(worker = %self.worker_id, "Worker stopped.");
    }

    async fn run_job(&self, job: &Job) -> Result<(), EngineError> {
        match job.kind.as_str() {
            job_kind::EVENT => self.route_event(job).await,
            job_kind::STEP => self.run_steps(job).await,
            job_kind::DELIVER => self.deliver(job).await,
            other => {
                warn!(
                    job_id = job.id,
                    kind = other,
                    "Unknown job kind; dropping it."
                );
                let mut tx = self.store.begin().await?;
                tx.finish_job(job.id, &self.worker_id).await?;
                Ok(tx.commit().await?)
            }
        }
    }

    /// Enrols the event's customer in every programme the event triggers.
    async fn route_event(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let event = tx.event(job.ref_id).await?;
        let mut context = event.properties_json()?;
        if let Some(map) = context.as_object_mut() {
            map.insert("event_type".into(), event.event_type.clone().into());
        }
        for programme in self.library.triggered_by(&event.event_type) {
            if let Some(enrolment_id) = tx
                .insert_enrolment(
                    &programme.id,
                    programme.version,
                    event.customer_id,
                    event.id,
                    &context,
                    now,
                )
                .await?
            {
                debug!(programme = %programme.id, customer_id = event.customer_id, enrolment_id, "Customer enrolled.");
                tx.insert_job(job_kind::STEP, enrolment_id, now, now)
                    .await?;
            }
        }
        self.finish(tx, job).await
    }

    /// Runs an enrolment's steps up to the next wait or the end.
    async fn run_steps(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let enrolment = tx.enrolment(job.ref_id).await?;
        let programme = self.library.get(&enrolment.programme_id);
        let (Some(programme), enrolment_state::ACTIVE) = (programme, enrolment.state.as_str())
        else {
            return self.finish(tx, job).await;
        };
        let customer = tx.customer(enrolment.customer_id).await?;
        // Waits count from when the step was due, so a late worker does not shift the plan.
        let due = aftercare_store::from_micros(job.run_at)?;
        let mut index = usize::try_from(enrolment.step_index).unwrap_or(usize::MAX);
        let mut state = enrolment_state::ACTIVE;
        loop {
            let Some(step) = programme.steps.get(index) else {
                state = enrolment_state::COMPLETED;
                break;
            };
            index += 1;
            match &step.action {
                Action::Send(send) => {
                    let reason =
                        format!("planned by programme '{}' step '{}'", programme.id, step.id);
                    let message = NewMessage {
                        customer_id: enrolment.customer_id,
                        enrolment_id: Some(enrolment.id),
                        step_key: &step.id,
                        programme_id: Some(&programme.id),
                        template: &send.template,
                        class: send.class,
                        channel: send.channel,
                        planned_at: due,
                        reason: &reason,
                    };
                    if let Some(message_id) = tx.insert_message(&message, now).await? {
                        tx.insert_job(job_kind::DELIVER, message_id, due.max(now), now)
                            .await?;
                    }
                }
                Action::Wait(span) => {
                    let zone = customer.record.time_zone.zone();
                    let run_at = due
                        .to_zoned_datetime(zone)
                        .checked_add(*span)
                        .map(|z| z.timestamp())
                        .unwrap_or(due);
                    tx.insert_job(job_kind::STEP, enrolment.id, run_at, now)
                        .await?;
                    break;
                }
                Action::Exit => {
                    state = enrolment_state::COMPLETED;
                    break;
                }
            }
        }
        let step_index = i32::try_from(index).unwrap_or(i32::MAX);
        tx.update_enrolment(enrolment.id, state, step_index, now)
            .await?;
        self.finish(tx, job).await
    }

    /// Renders and sends one message.
    async fn deliver(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let message = tx.message(job.ref_id).await?;
        match message.state {
            MessageState::Planned => {}
            MessageState::Sending => {
                debug!(
                    message_id = message.id,
                    "Resuming a delivery that was interrupted."
                );
            }
            _ => return self.finish(tx, job).await,
        }
        let customer = tx.customer(message.customer_id).await?;

        // Consent (DESIGN.md policy step 1): marketing classes need marketing consent on
        // the channel; service messages stop when service consent was withdrawn.
        let purpose = if message.class.needs_marketing_consent() {
            Purpose::Marketing
        } else {
            Purpose::Service
        };
        let consent = customer.record.consent(purpose, message.channel);
        let blocked = match (message.class, consent) {
            (aftercare_domain::MessageClass::Transactional, _) => None,
            (_, Some(c)) if !c.granted => Some(format!(
                "blocked: {purpose:?} consent for {} withdrawn ({})",
                message.channel.as_str(),
                c.source
            )),
            (_, None) if purpose == Purpose::Marketing => Some(format!(
                "blocked: no marketing consent for {}",
                message.channel.as_str()
            )),
            _ => None,
        };
        let recipient = customer
            .record
            .email
            .as_ref()
            .map(|e| e.as_str().to_string());
        let blocked = blocked.or_else(|| {
            recipient
                .is_none()
                .then(|| "blocked: the customer has no email address".to_string())
        });
        if let Some(reason) = blocked {
            tx.transition_message(
                message.id,
                message.state,
                MessageState::Blocked,
                &reason,
                now,
            )
            .await?;
            return self.finish(tx, job).await;
        }
        let recipient = recipient.unwrap_or_default();

        let context = match message.enrolment_id {
            Some(id) => Tx::enrolment_context(&tx.enrolment(id).await?)?,
            None => serde_json::Value::Null,
        };
        let order = match context.get("order_external_id").and_then(|v| v.as_str()) {
            Some(ext) => tx.order_by_external_id(ext).await?,
            None => None,
        };
        let mut products = Vec::new();
        if let Some(order) = &order {
            for line in &order.record.lines {
                if let Some(p) = tx.product(line.sku.as_str()).await? {
                    products.push(p);
                }
            }
        }
        let input = RenderInput {
            customer: &customer.record,
            order: order.as_ref().map(|o| &o.record),
            products: &products,
            event: &context,
        };
        let rendered = match self.renderer.render(&message.template, &input) {
            Ok(r) => r,
            Err(e) => {
                tx.transition_message(
                    message.id,
                    message.state,
                    MessageState::Failed,
                    &format!("failed: {e}"),
                    now,
                )
                .await?;
                return self.finish(tx, job).await;
            }
        };
        let brand = self.renderer.brand();
        let header_id = format!("msg-{}@{}", message.id, brand.message_id_domain);
        tx.set_message_content(
            message.id,
            &recipient,
            &rendered.subject,
            &rendered.text,
            &rendered.html,
            &rendered.greeting,
            &header_id,
        )
        .await?;
        let reason = if message.state == MessageState::Planned {
            format!("sending to {recipient} (worker {})", self.worker_id)
        } else {
            // A worker died mid-send. Sent again with the same Message-ID, so a server that
            // did accept the first attempt can recognise the repeat.
            format!(
                "resending to {recipient} after an interrupted attempt (worker {})",
                self.worker_id
            )
        };
        tx.transition_message(
            message.id,
            message.state,
            MessageState::Sending,
            &reason,
            now,
        )
        .await?;
        tx.commit().await?;

        let outcome = match &self.delivery {
            Delivery::OutboxOnly => {
                Ok("kept in the built-in outbox (no SMTP server configured)".to_string())
            }
            Delivery::Smtp(mailer) => {
                let email = EmailMessage {
                    from_name: brand.name.clone(),
                    from_address: brand.sender_email.clone(),
                    reply_to: brand.reply_to.clone(),
                    to: recipient.clone(),
                    subject: rendered.subject,
                    text: rendered.text,
                    html: rendered.html,
                    message_id: header_id,
                    date: std::time::SystemTime::try_from(now).unwrap_or(std::time::UNIX_EPOCH),
                };
                mailer
                    .send(&email)
                    .await
                    .map(|()| format!("accepted by the SMTP server for {recipient}"))
            }
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        match outcome {
            Ok(reason) => {
                tx.transition_message(
                    message.id,
                    MessageState::Sending,
                    MessageState::Sent,
                    &reason,
                    now,
                )
                .await?;
                debug!(message_id = message.id, template = %message.template, "Message sent.");
                self.finish(tx, job).await
            }
            Err(e) if e.is_transient() && job.attempts < MAX_ATTEMPTS => {
                let reason = format!("will retry: {e}");
                tx.transition_message(
                    message.id,
                    MessageState::Sending,
                    MessageState::Planned,
                    &reason,
                    now,
                )
                .await?;
                tx.retry_job(
                    job.id,
                    now.checked_add(backoff(job.attempts)).unwrap_or(now),
                    &e.to_string(),
                )
                .await?;
                Ok(tx.commit().await?)
            }
            Err(e) => {
                let reason = format!("failed after {} attempt(s): {e}", job.attempts);
                tx.transition_message(
                    message.id,
                    MessageState::Sending,
                    MessageState::Failed,
                    &reason,
                    now,
                )
                .await?;
                self.finish(tx, job).await
            }
        }
    }

    async fn finish(&self, mut tx: Tx, job: &Job) -> Result<(), EngineError> {
        if !tx.finish_job(job.id, &self.worker_id).await? {
            // Dropping the transaction rolls back this run's effects; the holder redoes them.
            warn!(
                job_id = job.id,
                "Lost the lease on a job; another worker has it."
            );
            return Ok(());
        }
        Ok(tx.commit().await?)
    }
}

/// 30 s, 1 min, 2 min, … capped at an hour.
fn backoff(attempts: i32) -> SignedDuration {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    SignedDuration::from_secs((30 * 2i64.pow(exp)).min(3600))
}

#[allow(dead_code)]
fn _assert_send(e: &Engine) -> impl Future<Output = Result<Ran, EngineError>> + Send + '_ {
    e.run_once()
}
