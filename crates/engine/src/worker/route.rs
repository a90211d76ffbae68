//! Routing an event: goals it reaches, enrolments it ends, `wait_for` steps it answers,
//! and the programmes it starts (with their entry condition, re-entry rule and holdout).

use super::*;

impl Engine {
    /// Applies an event to the customer's programmes: goals it reaches, enrolments it ends
    /// (exit events), `wait_for` steps it answers, and programmes it starts.
    pub(super) async fn route_event(&self, job: &Job) -> Result<(), EngineError> {
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
        crate::loyalty::on_event(&mut tx, &self.loyalty, &customer, &event, now).await?;

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
            if programme.draft {
                debug!(programme = %programme.id, customer_id = customer.id, "Not enrolled: the programme is a draft.");
                continue;
            }
            if tx.programme_paused(&programme.id).await? {
                debug!(programme = %programme.id, customer_id = customer.id, "Not enrolled: the programme is paused.");
                continue;
            }
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
}
