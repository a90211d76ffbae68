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
use aftercare_domain::policy::{self, Decision, Intent, PastContact, PolicyConfig};
use aftercare_domain::{Clock, MessageState};
use aftercare_store::{
    Enrolment, Job, NewEnrolment, NewEvent, NewMessage, Store, StoreError, StoredCustomer, Tx,
    enrolment_state, job_kind, micros,
};
use jiff::SignedDuration;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use std::collections::{HashMap, HashSet};

use crate::occasions::{Occasion, PastOrder, occasions_on};
use crate::programme::{Action, OCCASIONS, Programme, Reentry, Wait, occasion_event};
use crate::render::{RenderInput, Renderer};
use crate::versions::Programmes;

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
    programmes: Arc<Programmes>,
    renderer: Arc<Renderer>,
    delivery: Delivery,
    worker_id: String,
    wake: Arc<Notify>,
    batch_size: i64,
    lease: SignedDuration,
    policy: PolicyConfig,
}

/// How long a claimed job stays with its worker; a dead worker's jobs return after it.
/// Longer than the SMTP timeout, so a live worker never loses a job mid-send.
pub const DEFAULT_LEASE: SignedDuration = SignedDuration::from_secs(120);
const MAX_ATTEMPTS: i32 = 10;
/// A job that fails this often (about a day of backoff) is set aside for the team.
const MAX_JOB_ATTEMPTS: i32 = 30;

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
            programmes,
            renderer,
            delivery,
            worker_id,
            wake: Arc::new(Notify::new()),
            batch_size: 50,
            lease: DEFAULT_LEASE,
            policy: PolicyConfig::default(),
        }
    }

    /// Sets how long a claimed job stays leased (default [`DEFAULT_LEASE`]).
    pub fn with_lease(mut self, lease: SignedDuration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the policy (default [`PolicyConfig::default`]).
    pub fn with_policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
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

    /// The programmes: the current library and every version enrolments are on.
    pub fn programmes(&self) -> &Arc<Programmes> {
        &self.programmes
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
                let mut tx = self.store.begin().await?;
                if job.attempts >= MAX_JOB_ATTEMPTS {
                    error!(job_id = job.id, kind = %job.kind, error = %e, "Job failed too often; setting it aside.");
                    tx.bury_job(job.id, &e.to_string(), now).await?;
                } else {
                    warn!(job_id = job.id, kind = %job.kind, error = %e, "Job failed; it will be retried.");
                    let delay = backoff(job.attempts);
                    tx.retry_job(
                        job.id,
                        self.clock.now().checked_add(delay).unwrap_or(now),
                        &e.to_string(),
                    )
                    .await?;
                }
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
            job_kind::CALENDAR => self.run_calendar(job).await,
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

    /// What the programmes triggered by `event_type` will say to this customer at once:
    /// the first `send` of each, when no wait comes before it and the customer is not held
    /// out. The cancellation API answers with it, so the retention offer (RT1) is on the
    /// shop's page at the moment of cancellation, not only in the inbox.
    pub fn immediate_messages(
        &self,
        event_type: &str,
        customer: &aftercare_domain::CustomerRecord,
    ) -> Vec<(String, String, crate::render::Rendered)> {
        let mut out = Vec::new();
        for programme in self.programmes.current().triggered_by(event_type) {
            if in_holdout(
                &programme.id,
                customer.external_id.as_str(),
                programme.holdout,
            ) {
                continue;
            }
            let first_send = programme
                .steps
                .iter()
                .map(|s| &s.action)
                .take_while(|a| !matches!(a, Action::Wait(_) | Action::WaitFor(_) | Action::Exit))
                .find_map(|a| match a {
                    Action::Send(send) => Some(send),
                    _ => None,
                });
            let Some(send) = first_send else { continue };
            let input = RenderInput {
                customer,
                order: None,
                products: &[],
                event: &serde_json::Value::Null,
                recommendations: &[],
            };
            if let Ok(rendered) = self.renderer.render(&send.template, &input) {
                out.push((programme.id.clone(), send.template.clone(), rendered));
            }
        }
        out
    }

    /// Schedules the hourly calendar job if it is not there yet.
    pub async fn ensure_calendar(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.ensure_calendar_job(now, now).await?;
        Ok(tx.commit().await?)
    }

    /// Computes calendar occasions for every time zone whose local day has begun (06:00)
    /// and was not scanned yet, catching up at most three missed days; then reschedules
    /// itself for the next local 06:00 in any customer's time zone.
    async fn run_calendar(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let wanted: HashSet<&str> = OCCASIONS
            .iter()
            .copied()
            .filter(|o| self.programmes.current().uses_occasion(o))
            .collect();
        let mut tx = self.store.begin().await?;
        if !wanted.is_empty() {
            let products: HashMap<String, aftercare_domain::ProductRecord> = tx
                .products()
                .await?
                .into_iter()
                .map(|p| (p.sku.as_str().to_string(), p))
                .collect();
            for zone_name in tx.customer_time_zones().await? {
                let Ok(zone) = jiff::tz::TimeZone::get(&zone_name) else {
                    continue;
                };
                let local = now.to_zoned_datetime(zone.clone());
                if local.hour() < 6 {
                    continue;
                }
                let today = local.date();
                let last: Option<jiff::civil::Date> = tx
                    .last_calendar_scan(&zone_name)
                    .await?
                    .and_then(|d| d.parse().ok());
                let earliest = today
                    .checked_sub(jiff::Span::new().days(3))
                    .unwrap_or(today);
                let mut date = last
                    .and_then(|d| d.tomorrow().ok())
                    .map_or(today, |d| d.max(earliest));
                while date <= today {
                    let n = self
                        .scan_zone(&mut tx, &zone_name, &zone, date, &products, &wanted, now)
                        .await?;
                    tx.mark_calendar_scanned(&zone_name, &date.to_string(), now)
                        .await?;
                    debug!(zone = %zone_name, %date, occasions = n, "Calendar scanned.");
                    date = match date.tomorrow() {
                        Ok(d) => d,
                        Err(_) => break,
                    };
                }
            }
        }
        let next_hour = now
            .round(
                jiff::TimestampRound::new()
                    .smallest(jiff::Unit::Hour)
                    .mode(jiff::RoundMode::Trunc),
            )
            .ok()
            .and_then(|t| t.checked_add(SignedDuration::from_hours(1)).ok())
            .unwrap_or(now);
        // Next run: the first moment a customer's local day begins (06:00 there), or in an
        // hour when no customer has a zone yet.
        let six = jiff::civil::time(6, 0, 0, 0);
        let next_morning = tx
            .customer_time_zones()
            .await?
            .iter()
            .filter_map(|z| jiff::tz::TimeZone::get(z).ok())
            .filter_map(|zone| {
                let local = now.to_zoned_datetime(zone);
                next_local_time(&local, six)
                    .filter(|t| *t > now)
                    .or_else(|| {
                        let tomorrow = local.date().tomorrow().ok()?;
                        tomorrow
                            .to_datetime(six)
                            .to_zoned_datetime(local.time_zone().clone())
                            .ok()
                            .map(|z| z.timestamp())
                    })
            })
            .min();
        if tx
            .reschedule_job(job.id, &self.worker_id, next_morning.unwrap_or(next_hour))
            .await?
        {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Stores the occasions of every customer in one time zone on one local date.
    #[allow(clippy::too_many_arguments)]
    async fn scan_zone(
        &self,
        tx: &mut Tx,
        zone_name: &str,
        zone: &jiff::tz::TimeZone,
        date: jiff::civil::Date,
        products: &HashMap<String, aftercare_domain::ProductRecord>,
        wanted: &HashSet<&str>,
        now: jiff::Timestamp,
    ) -> Result<usize, EngineError> {
        let mut after = 0;
        let mut stored = 0;
        loop {
            let customers = tx.customers_in_zone(zone_name, after, 500).await?;
            let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
                break;
            };
            after = last.id;
            let mut orders: HashMap<i64, Vec<PastOrder>> = HashMap::new();
            for (customer_id, order, placed_at, sku) in
                tx.order_lines_of_customers(first.id, last.id).await?
            {
                let placed_on = aftercare_store::from_micros(placed_at)?
                    .to_zoned_datetime(zone.clone())
                    .date();
                let list = orders.entry(customer_id).or_default();
                match list.last_mut() {
                    Some(o) if o.external_id == order => o.skus.push(sku),
                    _ => list.push(PastOrder {
                        external_id: order,
                        placed_on,
                        skus: vec![sku],
                    }),
                }
            }
            let found: Vec<(i64, Occasion)> = customers
                .iter()
                .flat_map(|c| {
                    let past = orders.get(&c.id).map_or(&[][..], Vec::as_slice);
                    occasions_on(date, &c.record, past, products, wanted)
                        .into_iter()
                        .map(move |o| (c.id, o))
                })
                .collect();
            let event_types: Vec<String> =
                found.iter().map(|(_, o)| occasion_event(o.kind)).collect();
            let rows: Vec<NewEvent<'_>> = found
                .iter()
                .zip(&event_types)
                .map(|((customer_id, o), event_type)| NewEvent {
                    source_id: Some(&o.source_id),
                    customer_id: *customer_id,
                    event_type,
                    occurred_at: now,
                    properties: &o.properties,
                })
                .collect();
            let ids = tx.insert_events(&rows, now).await?;
            tx.insert_jobs(job_kind::EVENT, &ids, now, now).await?;
            stored += ids.len();
        }
        Ok(stored)
    }

    /// Applies an event to the customer's programmes: goals it reaches, enrolments it ends
    /// (exit events), `wait_for` steps it answers, and programmes it starts.
    async fn route_event(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let event = tx.event(job.ref_id).await?;
        let at = event.at()?;
        let mut context = event.properties_json()?;
        if let Some(map) = context.as_object_mut() {
            map.insert("event_type".into(), event.event_type.clone().into());
        }
        let customer = tx.customer(event.customer_id).await?;
        let event_type = event.event_type.as_str();

        for e in tx.open_enrolments(customer.id, at).await? {
            if e.trigger_event_id == event.id {
                continue;
            }
            let Some(programme) = self
                .programmes
                .version(&e.programme_id, e.programme_version)
            else {
                continue;
            };
            let running = e.state == enrolment_state::ACTIVE || e.state == enrolment_state::WAITING;
            let goal_open = e.goal_event.as_deref() == Some(event_type)
                && e.goal_reached_at.is_none()
                && e.goal_deadline.is_some_and(|d| micros(at) <= d)
                && micros(at) >= e.started_at;
            if goal_open {
                tx.reach_goal(e.id, at).await?;
                debug!(programme = %e.programme_id, enrolment_id = e.id, holdout = e.holdout, "Goal reached.");
                if running {
                    exit(&mut tx, &e, &format!("goal reached: {event_type}"), now).await?;
                } else if e.state == enrolment_state::HOLDOUT {
                    tx.cancel_step_jobs(e.id).await?;
                    tx.update_enrolment(e.id, enrolment_state::COMPLETED, e.step_index, now)
                        .await?;
                }
                continue;
            }
            if running && programme.exit_on.iter().any(|x| x == event_type) {
                exit(
                    &mut tx,
                    &e,
                    &format!("left the programme on {event_type}"),
                    now,
                )
                .await?;
                continue;
            }
            if e.state == enrolment_state::WAITING && e.wait_event.as_deref() == Some(event_type) {
                let step = usize::try_from(e.step_index)
                    .ok()
                    .and_then(|i| programme.steps.get(i));
                let Some(Action::WaitFor(wait)) = step.map(|s| &s.action) else {
                    continue;
                };
                let matches = match (&wait.matching, &e.wait_match) {
                    (Some(key), Some(expected)) => {
                        context.get(key).map(json_text).as_deref() == Some(expected.as_str())
                    }
                    _ => true,
                };
                if matches {
                    let target = jump(programme, wait.on_event.as_deref(), e.step_index);
                    tx.cancel_step_jobs(e.id).await?;
                    tx.update_enrolment(e.id, enrolment_state::ACTIVE, target, now)
                        .await?;
                    tx.insert_job(job_kind::STEP, e.id, now, now).await?;
                }
            }
        }

        // Messages still queued from enrolments that already ran their last step stop too:
        // an exit event or a reached goal means the matter is settled (DQ3).
        for (message_id, programme_id, version, state, goal_event) in
            tx.planned_messages_of_customer(customer.id).await?
        {
            let Some(programme) = self.programmes.version(&programme_id, version) else {
                continue;
            };
            let reason = if programme.exit_on.iter().any(|x| x == event_type)
                && state != enrolment_state::EXITED
            {
                format!("blocked: left the programme on {event_type}")
            } else if goal_event.as_deref() == Some(event_type) {
                format!("blocked: goal reached: {event_type}")
            } else {
                continue;
            };
            tx.transition_message(
                message_id,
                MessageState::Planned,
                MessageState::Blocked,
                &reason,
                now,
            )
            .await?;
        }

        for programme in self.programmes.current().triggered_by(event_type) {
            if !self.may_enter(&mut tx, programme, &customer, at).await? {
                continue;
            }
            if let Some(entry) = &programme.entry {
                let data = condition_data(&mut tx, &customer, &context, now).await?;
                match entry.evaluate(&data) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        debug!(programme = %programme.id, error = %e, "Entry condition failed; not enrolling.");
                        continue;
                    }
                }
            }
            let holdout = in_holdout(
                &programme.id,
                customer.record.external_id.as_str(),
                programme.holdout,
            );
            let zone = customer.record.time_zone.zone();
            let goal = programme.goal.as_ref().map(|g| {
                let deadline = at
                    .to_zoned_datetime(zone.clone())
                    .checked_add(g.within)
                    .map_or(at, |z| z.timestamp());
                (g.event.as_str(), deadline)
            });
            let new = NewEnrolment {
                programme_id: &programme.id,
                programme_version: programme.version,
                customer_id: customer.id,
                trigger_event_id: event.id,
                context: &context,
                holdout,
                goal,
            };
            let Some(enrolment_id) = tx.insert_enrolment(&new, now).await? else {
                continue;
            };
            debug!(programme = %programme.id, customer_id = customer.id, enrolment_id, holdout, "Customer enrolled.");
            // A holdout enrolment sends nothing; it only waits for its goal window to close.
            let run_at = match (holdout, goal) {
                (false, _) => now,
                (true, Some((_, deadline))) => deadline,
                (true, None) => now,
            };
            tx.insert_job(job_kind::STEP, enrolment_id, run_at, now)
                .await?;
        }
        self.finish(tx, job).await
    }

    /// Whether the programme's re-entry rule lets the customer in again at `at`.
    async fn may_enter(
        &self,
        tx: &mut Tx,
        programme: &Programme,
        customer: &StoredCustomer,
        at: jiff::Timestamp,
    ) -> Result<bool, EngineError> {
        let last = match programme.reentry {
            Reentry::Always => return Ok(true),
            _ => tx.last_enrolment_start(&programme.id, customer.id).await?,
        };
        let Some(last) = last else { return Ok(true) };
        Ok(match &programme.reentry {
            Reentry::Always => true,
            Reentry::Once => false,
            Reentry::After(span) => {
                let last = aftercare_store::from_micros(last)?;
                let zone = customer.record.time_zone.zone();
                last.to_zoned_datetime(zone)
                    .checked_add(*span)
                    .is_ok_and(|z| z.timestamp() <= at)
            }
        })
    }

    /// Runs an enrolment's steps up to the next wait or the end.
    async fn run_steps(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let enrolment = tx.enrolment(job.ref_id).await?;
        let Some(programme) = self
            .programmes
            .version(&enrolment.programme_id, enrolment.programme_version)
        else {
            let reason = format!(
                "programme '{}' version {} is no longer known",
                enrolment.programme_id, enrolment.programme_version
            );
            warn!(enrolment_id = enrolment.id, %reason, "Stopping an enrolment.");
            exit(&mut tx, &enrolment, &reason, now).await?;
            return self.finish(tx, job).await;
        };
        // Waits count from when the step was due, so a late worker does not shift the plan.
        let due = aftercare_store::from_micros(job.run_at)?;
        let mut index = enrolment.step_index;
        match enrolment.state.as_str() {
            enrolment_state::ACTIVE => {}
            enrolment_state::HOLDOUT => {
                tx.update_enrolment(enrolment.id, enrolment_state::COMPLETED, index, now)
                    .await?;
                return self.finish(tx, job).await;
            }
            enrolment_state::WAITING => {
                let deadline = enrolment
                    .wait_deadline
                    .map(aftercare_store::from_micros)
                    .transpose()?;
                if deadline.is_some_and(|d| d > now) {
                    return self.finish(tx, job).await;
                }
                let step = usize::try_from(index)
                    .ok()
                    .and_then(|i| programme.steps.get(i));
                let on_timeout = match step.map(|s| &s.action) {
                    Some(Action::WaitFor(w)) => w.on_timeout.as_deref(),
                    _ => None,
                };
                index = jump(programme, on_timeout, index);
            }
            _ => return self.finish(tx, job).await,
        }
        let mut customer = tx.customer(enrolment.customer_id).await?;
        let context = Tx::enrolment_context(&enrolment)?;
        let zone = customer.record.time_zone.zone();
        let mut state = enrolment_state::ACTIVE;
        let mut parked = false;
        for _ in 0..1000 {
            let Some(step) = usize::try_from(index)
                .ok()
                .and_then(|i| programme.steps.get(i))
            else {
                state = enrolment_state::COMPLETED;
                break;
            };
            match &step.action {
                Action::Send(send) => {
                    let reason =
                        format!("planned by programme '{}' step '{}'", programme.id, step.id);
                    let priority = format!("{:?}", send.priority).to_lowercase();
                    let message = NewMessage {
                        customer_id: enrolment.customer_id,
                        enrolment_id: Some(enrolment.id),
                        step_key: &step.id,
                        programme_id: Some(&programme.id),
                        template: &send.template,
                        class: send.class,
                        priority: &priority,
                        channel: send.channel(),
                        planned_at: due,
                        reason: &reason,
                    };
                    if let Some(message_id) = tx.insert_message(&message, now).await? {
                        tx.insert_job(job_kind::DELIVER, message_id, due.max(now), now)
                            .await?;
                    }
                    index += 1;
                }
                Action::Wait(wait) => {
                    let local = due.to_zoned_datetime(zone.clone());
                    let run_at = match wait {
                        Wait::For(span) => local.checked_add(*span).ok().map(|z| z.timestamp()),
                        Wait::UntilTime(time) => next_local_time(&local, *time),
                        Wait::UntilDate { date, offset, at } => {
                            let data = condition_data(&mut tx, &customer, &context, now).await?;
                            match date.evaluate_date(&data) {
                                Ok(d) => d
                                    .checked_add(offset.unwrap_or_default())
                                    .ok()
                                    .and_then(|d| d.to_datetime(*at).to_zoned_datetime(zone.clone()).ok())
                                    .map(|z| z.timestamp().max(due)),
                                Err(e) => {
                                    debug!(enrolment_id = enrolment.id, step = %step.id, error = %e, "No date to wait for; going on at once.");
                                    Some(due)
                                }
                            }
                        }
                    }
                    .unwrap_or(due);
                    index += 1;
                    tx.insert_job(job_kind::STEP, enrolment.id, run_at, now)
                        .await?;
                    break;
                }
                Action::WaitFor(wait) => {
                    let deadline = due
                        .to_zoned_datetime(zone.clone())
                        .checked_add(wait.timeout)
                        .map_or(due, |z| z.timestamp());
                    let expected = wait
                        .matching
                        .as_ref()
                        .and_then(|k| context.get(k))
                        .map(json_text);
                    tx.set_enrolment_waiting(
                        enrolment.id,
                        index,
                        &wait.event,
                        expected.as_deref(),
                        deadline,
                        now,
                    )
                    .await?;
                    tx.insert_job(job_kind::STEP, enrolment.id, deadline, now)
                        .await?;
                    parked = true;
                    break;
                }
                Action::Branch {
                    condition,
                    then,
                    otherwise,
                } => {
                    let data = condition_data(&mut tx, &customer, &context, now).await?;
                    let holds = condition.evaluate(&data).unwrap_or_else(|e| {
                        debug!(enrolment_id = enrolment.id, step = %step.id, error = %e, "Condition failed; taking the else branch.");
                        false
                    });
                    index = jump(
                        programme,
                        if holds {
                            then.as_deref()
                        } else {
                            otherwise.as_deref()
                        },
                        index,
                    );
                }
                Action::Tag(tag) => {
                    let tags = customer
                        .record
                        .attributes
                        .entry("tags".to_string())
                        .or_insert_with(|| serde_json::json!([]));
                    if let Some(list) = tags.as_array_mut()
                        && !list.iter().any(|t| t.as_str() == Some(tag))
                    {
                        list.push(tag.clone().into());
                        tx.update_customer_record(customer.id, &customer.record, now)
                            .await?;
                    }
                    index += 1;
                }
                Action::Set { attribute, value } => {
                    if customer.record.attributes.get(attribute) != Some(value) {
                        customer
                            .record
                            .attributes
                            .insert(attribute.clone(), value.clone());
                        tx.update_customer_record(customer.id, &customer.record, now)
                            .await?;
                    }
                    index += 1;
                }
                Action::Exit => {
                    state = enrolment_state::COMPLETED;
                    break;
                }
            }
        }
        if !parked {
            tx.update_enrolment(enrolment.id, state, index, now).await?;
        }
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
        let enrolment = match message.enrolment_id {
            Some(id) => Some(tx.enrolment(id).await?),
            None => None,
        };
        // Suppression (policy step 2): the customer left the programme or reached its goal.
        if let Some(e) = &enrolment
            && e.state == enrolment_state::EXITED
        {
            let reason = format!(
                "blocked: {}",
                e.exit_reason
                    .as_deref()
                    .unwrap_or("the customer left the programme")
            );
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

        // Policy (DESIGN.md steps 1 and 3–8) decides for a message not yet under way.
        let recipient = customer
            .record
            .email
            .as_ref()
            .map(|e| e.as_str().to_string());
        if message.state == MessageState::Planned {
            let year_ago = now - SignedDuration::from_hours(24 * 366);
            let history: Vec<PastContact> = tx
                .recent_contacts(customer.id, year_ago)
                .await?
                .into_iter()
                .filter_map(|(at, class, channel)| {
                    Some(PastContact {
                        at: aftercare_store::from_micros(at).ok()?,
                        class: aftercare_domain::MessageClass::parse(&class)?,
                        channel: aftercare_domain::Channel::parse(&channel)?,
                    })
                })
                .collect();
            let intent = Intent {
                class: message.class,
                priority: policy::Priority::parse(&message.priority),
                channel: message.channel,
                planned_at: message.planned_at,
            };
            match policy::decide(&intent, &customer.record, &history, now, &self.policy) {
                Decision::Send { .. } => {}
                Decision::Hold { until, reason } => {
                    tx.transition_message(
                        message.id,
                        MessageState::Planned,
                        MessageState::Planned,
                        &reason.sentence,
                        now,
                    )
                    .await?;
                    tx.reschedule_job(job.id, &self.worker_id, until).await?;
                    return Ok(tx.commit().await?);
                }
                Decision::Block { reason } => {
                    tx.transition_message(
                        message.id,
                        MessageState::Planned,
                        MessageState::Blocked,
                        &reason.sentence,
                        now,
                    )
                    .await?;
                    return self.finish(tx, job).await;
                }
            }
        }
        let recipient = recipient.unwrap_or_default();

        let context = match &enrolment {
            Some(e) => Tx::enrolment_context(e)?,
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
        let mut recommendations = Vec::new();
        if self
            .renderer
            .template_uses(&message.template, "recommendations")
        {
            let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
            for sku in tx.bought_together(&skus, customer.id, 3).await? {
                recommendations.extend(tx.product(&sku).await?);
            }
        }
        let input = RenderInput {
            customer: &customer.record,
            order: order.as_ref().map(|o| &o.record),
            products: &products,
            event: &context,
            recommendations: &recommendations,
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

/// Ends an enrolment early: cancels its timers and blocks what it had planned.
async fn exit(
    tx: &mut Tx,
    e: &Enrolment,
    reason: &str,
    now: jiff::Timestamp,
) -> Result<(), EngineError> {
    tx.cancel_step_jobs(e.id).await?;
    tx.exit_enrolment(e.id, reason, now).await?;
    tx.block_planned_messages(e.id, &format!("blocked: {reason}"), now)
        .await?;
    debug!(programme = %e.programme_id, enrolment_id = e.id, reason, "Enrolment ended early.");
    Ok(())
}

/// The step index a jump lands on: the named step, or the one after `from`.
fn jump(programme: &Programme, target: Option<&str>, from: i32) -> i32 {
    target
        .and_then(|t| programme.step_index(t))
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(from + 1)
}

/// A JSON value as text for matching (`"W1"` and `W1` are the same order number).
fn json_text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The next moment the local clock shows `time`, from `local` on (now, if it shows it
/// already; DST-correct: a time that does not exist that day moves forward, as jiff's
/// compatible disambiguation does).
fn next_local_time(
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

/// What conditions see: customer, order, products, event and computed stats.
async fn condition_data(
    tx: &mut Tx,
    customer: &StoredCustomer,
    context: &serde_json::Value,
    now: jiff::Timestamp,
) -> Result<serde_json::Value, EngineError> {
    let stats = tx.order_stats(customer.id).await?;
    let days = |us: Option<i64>| us.map(|us| (micros(now) - us) / 86_400_000_000);
    let mut stats_json = serde_json::json!({
        "orders_count": stats.orders_count,
        "total_spent_cents": stats.total_spent_cents,
    });
    if let Some(d) = days(stats.last_order_at) {
        stats_json["days_since_last_order"] = d.into();
    }
    let since = customer
        .record
        .customer_since
        .map(|d| {
            d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .map(|z| micros(z.timestamp()))
        })
        .transpose()
        .ok()
        .flatten()
        .or(stats.first_order_at);
    if let Some(d) = days(since) {
        stats_json["days_as_customer"] = d.into();
    }
    let order = match context.get("order_external_id").and_then(|v| v.as_str()) {
        Some(ext) => tx.order_by_external_id(ext).await?,
        None => None,
    };
    let mut products = Vec::new();
    if let Some(o) = &order {
        for line in &o.record.lines {
            products.extend(tx.product(line.sku.as_str()).await?);
        }
    }
    let order_json = order.map(|o| {
        let mut v = serde_json::to_value(&o.record).unwrap_or_default();
        v["total_cents"] = o.record.total_cents().into();
        v
    });
    Ok(serde_json::json!({
        "customer": customer.record,
        "order": order_json,
        "products": products,
        "event": context,
        "stats": stats_json,
    }))
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
