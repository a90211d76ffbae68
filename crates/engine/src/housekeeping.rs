//! Housekeeping (issue 22 point 5): the tables that would grow forever are trimmed once a
//! day by the calendar job, in small transactions, so a million-customer store stays the
//! size of what it needs. What is kept and for how long is `[housekeeping]`.
//!
//! - Idempotency keys go after `idempotency_key_days`: a retry comes within minutes, not
//!   weeks (Stripe keeps its keys a day).
//! - Jobs set aside after failing too often go after `dead_job_days`; the admin UI lists
//!   them until then.
//! - Received shop and shipping webhooks, with their payloads, go after
//!   `hook_delivery_days`: the platforms retry for two days, and a rejected one can be
//!   replayed until then.
//! - Events go after `event_days`, except the ones an enrolment started from (its timeline
//!   names them) and those still waiting to be routed.
//!
//! - What messages said and to whom (recipient, subject, bodies) and what events carried
//!   go after `personal_data_days` (two years by default; GDPR's storage limitation): the
//!   rows stay, so the band, the reports and the timeline still count them.
//! - The admin UI's finished simulations go after `simulation_days`, and customers'
//!   worked-out years (the contact calendar's) a day after they were last asked for.
//!
//! Orders, messages and their decisions stay: the band counts a year of messages, scores
//! read every order, and the customer's record goes only with the customer (erasure).

use aftercare_store::{Prune, Store};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// `[housekeeping]`: how long what grows forever is kept, in days (0 keeps it for ever).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HousekeepingConfig {
    /// Idempotency keys and their stored answers.
    pub idempotency_key_days: u32,
    /// Jobs set aside after failing too often.
    pub dead_job_days: u32,
    /// Received webhooks of shop and shipping platforms, with their payloads.
    pub hook_delivery_days: u32,
    /// Events that started no enrolment.
    pub event_days: u32,
    /// Messages' content and recipient, and events' properties (the rows stay).
    pub personal_data_days: u32,
    /// The admin UI's finished simulations (a draft simulated longer ago is simulated
    /// again before it is published).
    pub simulation_days: u32,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            idempotency_key_days: 7,
            dead_job_days: 90,
            hook_delivery_days: 90,
            event_days: 730,
            personal_data_days: 730,
            simulation_days: 90,
        }
    }
}

/// Rows removed per transaction.
const CHUNK: i64 = 5_000;

/// How many rows each kind lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Idempotency keys.
    pub idempotency_keys: u64,
    /// Jobs set aside.
    pub dead_jobs: u64,
    /// Received webhooks.
    pub hook_deliveries: u64,
    /// Events.
    pub events: u64,
    /// Messages whose content was cleared.
    pub message_contents: u64,
    /// Events whose properties were cleared.
    pub event_properties: u64,
    /// Finished simulations.
    pub simulations: u64,
    /// Customers' worked-out years (a cache: a day after they were last asked for).
    pub projections: u64,
}

/// Removes what `config` no longer keeps at `now`, [`CHUNK`] rows per transaction (a
/// worker killed half-way leaves the rest for the next day).
pub async fn prune(
    store: &Store,
    config: &HousekeepingConfig,
    now: Timestamp,
) -> Result<Pruned, EngineError> {
    let mut pruned = Pruned::default();
    for (what, days, count) in [
        (
            Prune::IdempotencyKeys,
            config.idempotency_key_days,
            &mut pruned.idempotency_keys,
        ),
        (Prune::DeadJobs, config.dead_job_days, &mut pruned.dead_jobs),
        (
            Prune::HookDeliveries,
            config.hook_delivery_days,
            &mut pruned.hook_deliveries,
        ),
        (Prune::Events, config.event_days, &mut pruned.events),
        (
            Prune::MessageContent,
            config.personal_data_days,
            &mut pruned.message_contents,
        ),
        (
            Prune::EventProperties,
            config.personal_data_days,
            &mut pruned.event_properties,
        ),
        (
            Prune::Simulations,
            config.simulation_days,
            &mut pruned.simulations,
        ),
        (Prune::Projections, 1, &mut pruned.projections),
    ] {
        if days == 0 {
            continue;
        }
        let before = now - SignedDuration::from_hours(24 * i64::from(days));
        loop {
            let mut tx = store.begin().await?;
            let n = tx.prune(what, before, CHUNK).await?;
            tx.commit().await?;
            *count += n;
            if n < CHUNK.unsigned_abs() {
                break;
            }
        }
    }
    Ok(pruned)
}
