//! Running an enrolment's steps up to the next wait, and what the steps of an event's
//! programmes would say at once (the cancellation API's retention offer).

use super::*;
use crate::interpret::{Effect, End, Next, Resume, Run, Standing, plan_send, resume};
use crate::programme::Programme;
use aftercare_store::EnrolmentId;

/// What running an enrolment's steps came to.
pub(super) enum Advanced {
    /// The steps ran up to a wait or the end.
    Done,
    /// The programme is paused: nothing ran.
    Paused,
}

impl Engine {
    /// Runs an enrolment's steps up to the next wait or the end.
    pub(super) async fn run_steps(&self, job: &Job) -> Result<(), EngineError> {
        let mut tx = self.store.begin().await?;
        let enrolment = tx.enrolment(EnrolmentId(job.ref_id)).await?;
        tx.lock_customer(enrolment.customer_id).await?;
        // Read after the lock, as in `deliver`.
        let now = self.clock.now();
        // Waits count from when the step was due, so a late worker does not shift the plan.
        let due = job.run_at;
        match self.advance(&mut tx, &enrolment, due, now, None).await? {
            Advanced::Paused => self.hold_while_paused(tx, job).await,
            Advanced::Done => self.finish(tx, job).await,
        }
    }

    /// Runs `enrolment`'s steps from where it stands up to the next wait or the end, in `tx`
    /// with the customer locked: the step job's work, which routing also does at once when
    /// an event enrols a customer whose first step is due (one transaction and no job per
    /// enrolment; issue 22). `due` is when the steps fell due; `paused` is the set of paused
    /// programmes when the caller read it in this transaction already.
    pub(super) async fn advance(
        &self,
        tx: &mut Tx,
        enrolment: &aftercare_store::Enrolment,
        due: jiff::Timestamp,
        now: jiff::Timestamp,
        paused: Option<&std::collections::HashSet<String>>,
    ) -> Result<Advanced, EngineError> {
        let programmes = self.programmes();
        let Some(programme) =
            programmes.version(&enrolment.programme_id, enrolment.programme_version)
        else {
            let reason = format!(
                "programme '{}' version {} is no longer known",
                enrolment.programme_id, enrolment.programme_version
            );
            warn!(enrolment_id = %enrolment.id, %reason, "Stopping an enrolment.");
            exit(tx, enrolment, &reason, now).await?;
            return Ok(Advanced::Done);
        };
        let standing = match enrolment.state {
            EnrolmentState::Active => Standing::Active,
            EnrolmentState::Holdout => Standing::Holdout,
            EnrolmentState::Waiting => Standing::Waiting {
                deadline: enrolment.wait_deadline,
            },
            EnrolmentState::Completed | EnrolmentState::Exited | EnrolmentState::Unknown => {
                Standing::Done
            }
        };
        let index = match resume(programme, standing, enrolment.step_index, now) {
            Resume::From(index) => index,
            Resume::Complete(index) => {
                tx.update_enrolment(enrolment.id, EnrolmentState::Completed, index, now)
                    .await?;
                return Ok(Advanced::Done);
            }
            Resume::Nothing => return Ok(Advanced::Done),
        };
        let is_paused = match paused {
            Some(set) => set.contains(&enrolment.programme_id),
            None => tx.programme_paused(&enrolment.programme_id).await?,
        };
        if is_paused {
            return Ok(Advanced::Paused);
        }
        let mut customer = tx.customer(enrolment.customer_id).await?;
        let mut context = Tx::enrolment_context(enrolment)?;
        let mut run = Run::new(programme, index, due, customer.record.time_zone.zone());
        let end = loop {
            match run.advance() {
                Next::Holds(condition) => {
                    let data = condition_data(tx, &customer, &context, condition, now).await?;
                    run.answer(condition.evaluate(&data).unwrap_or_else(|e| {
                        debug!(enrolment_id = %enrolment.id, error = %e, "Condition failed; taking the else branch.");
                        false
                    }));
                }
                Next::Date(expression) => {
                    let data = condition_data(tx, &customer, &context, expression, now).await?;
                    run.answer_date(expression.evaluate_date(&data)
                        .inspect_err(|e| debug!(enrolment_id = %enrolment.id, error = %e, "No date to wait for; going on at once."))
                        .ok());
                }
                Next::Do(effect) => {
                    self.apply(
                        tx,
                        effect,
                        enrolment,
                        programme,
                        &mut customer,
                        &mut context,
                        due,
                        now,
                    )
                    .await?;
                }
                Next::End(end) => break end,
            }
        };
        match end {
            End::Timer { index, at } => {
                tx.insert_job(JobKind::Step, enrolment.id, follow_up_at(due, at, now), now)
                    .await?;
                tx.update_enrolment(enrolment.id, EnrolmentState::Active, index, now)
                    .await?;
            }
            End::Park {
                index,
                event,
                matching,
                deadline,
            } => {
                let expected = matching.and_then(|k| context.get(k)).map(json_text);
                tx.set_enrolment_waiting(
                    enrolment.id,
                    index,
                    event,
                    expected.as_deref(),
                    deadline,
                    now,
                )
                .await?;
                tx.insert_job(JobKind::Step, enrolment.id, deadline, now)
                    .await?;
            }
            End::Completed { index } => {
                tx.update_enrolment(enrolment.id, EnrolmentState::Completed, index, now)
                    .await?;
            }
            End::Stopped { index } => {
                tx.update_enrolment(enrolment.id, EnrolmentState::Active, index, now)
                    .await?;
            }
        }
        Ok(Advanced::Done)
    }

    /// Applies one step's effect to the store, in the step job's transaction.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        tx: &mut Tx,
        effect: Effect<'_>,
        enrolment: &aftercare_store::Enrolment,
        programme: &Programme,
        customer: &mut StoredCustomer,
        context: &mut serde_json::Value,
        due: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<(), EngineError> {
        match effect {
            Effect::Send { step, send } => {
                let (_, products) = order_in_context(tx, context).await?;
                let categories: Vec<&str> = products.iter().map(|p| p.category.as_str()).collect();
                // A content experiment (issue 21): the customer's variant, or the winner
                // once the team chose one.
                let winner = if send.variants.is_empty() {
                    None
                } else {
                    tx.experiment_winner(&programme.id, &step.id).await?
                };
                let variant = send.variant_for(
                    &programme.id,
                    &step.id,
                    customer.record.external_id.as_str(),
                    winner.as_deref(),
                );
                let (choice, reason) = plan_send(
                    programme,
                    step,
                    send,
                    variant,
                    &customer.record,
                    aftercare_domain::policy::Reach::unknown(),
                    &categories,
                    &self.policy,
                );
                let priority = send.priority;
                let topic = crate::interpret::topic(&send.template, context);
                let planned_at =
                    crate::interpret::send_at(variant, due, &customer.record.time_zone.zone());
                let message = NewMessage {
                    customer_id: enrolment.customer_id,
                    enrolment_id: Some(enrolment.id),
                    step_key: &step.id,
                    programme_id: Some(&programme.id),
                    template: variant.map_or(&send.template, |v| &v.template),
                    class: send.class,
                    priority,
                    channel: choice.channel,
                    planned_at,
                    reason: &reason,
                    topic: &topic,
                    variant: variant.map(|v| v.name.as_str()),
                };
                // The delivery keeps the step's place in the queue (`follow_up_at`), or
                // waits for its variant's later moment.
                let run_at = if planned_at > due {
                    planned_at
                } else {
                    due.min(now)
                };
                if let Some(message_id) = tx.insert_message(&message, now).await? {
                    tx.insert_job(JobKind::Deliver, message_id, run_at, now)
                        .await?;
                }
            }
            Effect::Tag(tag) => {
                let tags = customer
                    .record
                    .attributes
                    .entry("tags".to_string())
                    .or_insert_with(|| serde_json::json!([]));
                if let Some(list) = tags.as_array_mut()
                    && !list.iter().any(|t| t.as_str() == Some(tag))
                {
                    list.push(tag.into());
                    tx.update_customer_record(customer.id, &customer.record, now)
                        .await?;
                }
            }
            Effect::Set { attribute, value } => {
                if customer.record.attributes.get(attribute) != Some(value) {
                    customer
                        .record
                        .attributes
                        .insert(attribute.to_string(), value.clone());
                    tx.update_customer_record(customer.id, &customer.record, now)
                        .await?;
                }
            }
            Effect::GrantPoints {
                step,
                points,
                reason,
            } => {
                let key = format!("programme:{}:{}", enrolment.id, step.id);
                crate::loyalty::grant(tx, &self.loyalty, customer.id, points, reason, &key, now)
                    .await?;
            }
            Effect::Webhook {
                step,
                target,
                event,
            } => {
                let payload = serde_json::json!({
                    "event": event,
                    "programme": programme.id,
                    "version": programme.version,
                    "step": step.id,
                    "enrolment": enrolment.id,
                    "customer": {"external_id": customer.record.external_id.as_str()},
                    "data": context,
                    "at": due.max(now).to_string(),
                });
                if let Some(call) = tx
                    .insert_outgoing_webhook(enrolment.id, &step.id, target, &payload, now)
                    .await?
                {
                    tx.insert_job(JobKind::Webhook, call, due.min(now), now)
                        .await?;
                }
            }
            Effect::IssueCoupon { step, pool } => match self.loyalty.pool(pool) {
                Some(pool) => {
                    let reason = format!("programme '{}' step '{}'", programme.id, step.id);
                    let coupon = crate::loyalty::issue_coupon(
                        tx,
                        pool,
                        Some(customer.id),
                        &reason,
                        due.max(now),
                    )
                    .await?;
                    if let Some(map) = context.as_object_mut() {
                        map.insert("coupon".into(), crate::loyalty::coupon_json(&coupon));
                    }
                    tx.set_enrolment_context(enrolment.id, context).await?;
                }
                None => {
                    warn!(enrolment_id = %enrolment.id, %pool, "Coupon pool no longer configured; going on without a coupon.");
                }
            },
            Effect::Survey(kind) => {
                let segment = customer
                    .record
                    .attributes
                    .get("segment")
                    .and_then(|s| s.as_str())
                    .unwrap_or("all")
                    .to_string();
                let id = tx
                    .create_survey_response(customer.id, kind.as_str(), &segment, now)
                    .await?;
                if let Some(map) = context.as_object_mut() {
                    map.insert(
                        "survey".into(),
                        serde_json::json!({"id": id, "kind": kind.as_str()}),
                    );
                }
                tx.set_enrolment_context(enrolment.id, context).await?;
            }
        }
        Ok(())
    }

    /// What the programmes triggered by `event_type` will say to this customer at once:
    /// the first `send` of each, when no wait comes before it and the customer is not held
    /// out. The cancellation API answers with it, so the retention offer (RT1) is on the
    /// shop's page at the moment of cancellation, not only in the inbox.
    pub async fn immediate_messages(
        &self,
        tx: &mut Tx,
        event_type: &str,
        stored: &aftercare_store::StoredCustomer,
        event: &serde_json::Value,
        now: jiff::Timestamp,
    ) -> Result<Vec<(String, String, crate::render::Rendered)>, EngineError> {
        let programmes = self.programmes();
        let customer = &stored.record;
        let mut out = Vec::new();
        // What the shop shows on its own page: the offer's link, not the mail's footer.
        let links = serde_json::json!({"offer": self.offer_link(event, now),
            "unsubscribe": null, "preferences": null, "inbox": null, "open": null});
        for programme in programmes.current().triggered_by(event_type) {
            // Only what the worker would send: the entry condition holds.
            if let Some(entry) = &programme.entry {
                let data = super::condition_data(tx, stored, event, entry, now).await?;
                if entry.evaluate(&data) != Ok(true) {
                    tracing::debug!(programme = %programme.id, "Not said at once: the entry condition does not hold.");
                    continue;
                }
            }
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
                event,
                recommendations: &[],
                successors: &[],
                picks: &[],
                new_skus: None,
                links: &links,
            };
            match self.renderer().render(&send.template, &input) {
                Ok(rendered) => out.push((programme.id.clone(), send.template.clone(), rendered)),
                Err(e) => {
                    tracing::warn!(template = %send.template, error = %e, "Not said at once: the template does not render.")
                }
            }
        }
        Ok(out)
    }
}
