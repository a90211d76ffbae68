//! Routing an event: goals it reaches, enrolments it ends, `wait_for` steps it answers,
//! and the programmes it starts (with their entry condition, re-entry rule and holdout).

use super::steps::Advanced;
use super::*;
use crate::interpret::{self, Open, Routed, Standing, route, settled, start};

impl Engine {
    /// Applies an event to the customer's programmes: goals it reaches, enrolments it ends
    /// (exit events), `wait_for` steps it answers, and programmes it starts.
    pub(super) async fn route_event(&self, job: &Job) -> Result<(), EngineError> {
        let programmes = self.programmes();
        let mut tx = self.store.begin().await?;
        let event = tx.event(aftercare_store::EventId(job.ref_id)).await?;
        tx.lock_customer(event.customer_id).await?;
        // Read after the lock, as in `deliver`.
        let now = self.clock.now();
        let cause_due = job.run_at;
        let at = event.occurred_at;
        let mut context = event.properties_json()?;
        if let Some(map) = context.as_object_mut() {
            map.insert("event_type".into(), event.event_type.clone().into());
        }
        let customer = tx.customer(event.customer_id).await?;
        let event_type = event.event_type.as_str();
        crate::loyalty::on_event(&mut tx, &self.loyalty, &customer, &event, now).await?;

        for e in tx.open_enrolments(customer.id, at).await? {
            if e.trigger_event_id == event.id {
                continue;
            }
            let Some(programme) = programmes.version(&e.programme_id, e.programme_version) else {
                continue;
            };
            let standing = match e.state {
                EnrolmentState::Active => Standing::Active,
                EnrolmentState::Holdout => Standing::Holdout,
                EnrolmentState::Waiting => Standing::Waiting {
                    deadline: e.wait_deadline,
                },
                EnrolmentState::Completed | EnrolmentState::Exited | EnrolmentState::Unknown => {
                    Standing::Done
                }
            };
            let enrolment_context = Tx::enrolment_context(&e)?;
            let open = Open {
                context: &enrolment_context,
                programme,
                standing,
                step: e.step_index,
                started_at: e.started_at,
                goal: e.goal_event.as_deref().zip(e.goal_deadline),
                goal_reached: e.goal_reached_at.is_some(),
                wait_match: e.wait_match.as_deref(),
            };
            match route(&open, event_type, &context, at) {
                Routed::Goal {
                    exit: leave,
                    complete,
                } => {
                    tx.reach_goal(e.id, at).await?;
                    debug!(programme = %e.programme_id, enrolment_id = %e.id, holdout = e.holdout, "Goal reached.");
                    if let Some(reason) = leave {
                        exit(&mut tx, &e, &reason, now).await?;
                    } else if complete {
                        tx.cancel_step_jobs(e.id).await?;
                        tx.update_enrolment(e.id, EnrolmentState::Completed, e.step_index, now)
                            .await?;
                    }
                }
                Routed::Exit(reason) => exit(&mut tx, &e, &reason, now).await?,
                Routed::Answered { step } => {
                    tx.cancel_step_jobs(e.id).await?;
                    tx.update_enrolment(e.id, EnrolmentState::Active, step, now)
                        .await?;
                    tx.insert_job(JobKind::Step, e.id, follow_up_at(cause_due, now, now), now)
                        .await?;
                }
                Routed::Nothing => {}
            }
        }

        // Messages still queued from enrolments that already ran their last step stop too:
        // an exit event or a reached goal means the matter is settled (DQ3).
        for (message_id, programme_id, version, state, enrolment_context) in
            tx.planned_messages_of_customer(customer.id).await?
        {
            let Some(programme) = programmes.version(&programme_id, version) else {
                continue;
            };
            let enrolment_context: serde_json::Value =
                serde_json::from_str(&enrolment_context).unwrap_or_default();
            let Some(reason) = settled(
                programme,
                state == EnrolmentState::Exited,
                event_type,
                &context,
                &enrolment_context,
            ) else {
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

        let mut due_now = Vec::new();
        let triggered: Vec<_> = programmes.current().triggered_by(event_type).collect();
        // One look at the pauses for all the event's programmes.
        let paused: std::collections::HashSet<String> = if triggered.is_empty() {
            Default::default()
        } else {
            tx.paused_programmes()
                .await?
                .into_iter()
                .map(|(id, _, _)| id)
                .collect()
        };
        for programme in triggered {
            if programme.draft {
                debug!(programme = %programme.id, customer_id = customer.id.0, "Not enrolled: the programme is a draft.");
                continue;
            }
            if paused.contains(&programme.id) {
                debug!(programme = %programme.id, customer_id = customer.id.0, "Not enrolled: the programme is paused.");
                continue;
            }
            if !self.may_enter(&mut tx, programme, &customer, at).await? {
                continue;
            }
            if let Some(entry) = &programme.entry {
                let data = condition_data(&mut tx, &customer, &context, entry, now).await?;
                match entry.evaluate(&data) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        debug!(programme = %programme.id, error = %e, "Entry condition failed; not enrolling.");
                        continue;
                    }
                }
            }
            // A saved audience (issue 21): only its members, as it stands now.
            if programme.audience.is_some() {
                let Some(audience) = &programme.audience_condition else {
                    debug!(programme = %programme.id, "Not enrolled: the programme's audience is not saved.");
                    continue;
                };
                let data = condition_data(&mut tx, &customer, &context, audience, now).await?;
                if !audience.evaluate(&data).unwrap_or(false) {
                    continue;
                }
            }
            let holdout = in_holdout(
                &programme.id,
                customer.record.external_id.as_str(),
                programme.holdout,
            );
            let zone = customer.record.time_zone.zone();
            let (goal, run_at) = start(programme, holdout, &zone, at, now);
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
            debug!(programme = %programme.id, customer_id = customer.id.0, enrolment_id = %enrolment_id, holdout, "Customer enrolled.");
            let first = follow_up_at(cause_due, run_at, now);
            if first <= now {
                due_now.push((enrolment_id, first));
            } else {
                tx.insert_job(JobKind::Step, enrolment_id, first, now)
                    .await?;
            }
        }
        // First steps due at once run here, in this transaction, rather than as jobs of their
        // own — after every enrolment is made, in the order they were, as the jobs would
        // have run; a paused programme's wait as a job.
        for (enrolment_id, first) in due_now {
            let enrolment = tx.enrolment(enrolment_id).await?;
            if let Advanced::Paused = self
                .advance(&mut tx, &enrolment, first, now, Some(&paused))
                .await?
            {
                tx.insert_job(JobKind::Step, enrolment_id, first, now)
                    .await?;
            }
        }
        self.finish(tx, job).await
    }

    /// Whether the programme's re-entry rule ([`interpret::may_enter`]) lets the customer in
    /// again at `at`.
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
        Ok(interpret::may_enter(
            programme,
            last,
            &customer.record.time_zone.zone(),
            at,
        ))
    }
}
