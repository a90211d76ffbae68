//! Running an enrolment's steps up to the next wait, and what the steps of an event's
//! programmes would say at once (the cancellation API's retention offer).

use super::*;

impl Engine {
    /// Runs an enrolment's steps up to the next wait or the end.
    pub(super) async fn run_steps(&self, job: &Job) -> Result<(), EngineError> {
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
        if tx.programme_paused(&enrolment.programme_id).await? {
            return self.hold_while_paused(tx, job).await;
        }
        let mut customer = tx.customer(enrolment.customer_id).await?;
        let mut context = Tx::enrolment_context(&enrolment)?;
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
                    // CH2: the channel for this customer and this order's products.
                    let (_, products) = order_in_context(&mut tx, &context).await?;
                    let categories: Vec<&str> =
                        products.iter().map(|p| p.category.as_str()).collect();
                    let choice = policy::choose_channel(
                        &send.channels,
                        send.class,
                        &customer.record,
                        &categories,
                        &self.policy,
                    );
                    let reason = planned_reason(&programme.id, &step.id, &choice.reason);
                    let priority = format!("{:?}", send.priority).to_lowercase();
                    let message = NewMessage {
                        customer_id: enrolment.customer_id,
                        enrolment_id: Some(enrolment.id),
                        step_key: &step.id,
                        programme_id: Some(&programme.id),
                        template: &send.template,
                        class: send.class,
                        priority: &priority,
                        channel: choice.channel,
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
                    let date = match wait {
                        Wait::UntilDate { date, .. } => {
                            let data = condition_data(&mut tx, &customer, &context, now).await?;
                            date.evaluate_date(&data)
                                .inspect_err(|e| debug!(enrolment_id = enrolment.id, step = %step.id, error = %e, "No date to wait for; going on at once."))
                                .ok()
                        }
                        _ => None,
                    };
                    let run_at = wait_end(wait, due, &zone, date);
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
                Action::GrantPoints { points, reason } => {
                    let key = format!("programme:{}:{}", enrolment.id, step.id);
                    crate::loyalty::grant(
                        &mut tx,
                        &self.loyalty,
                        customer.id,
                        *points,
                        reason,
                        &key,
                        now,
                    )
                    .await?;
                    index += 1;
                }
                Action::Webhook { target, event } => {
                    let payload = serde_json::json!({
                        "event": event.clone().unwrap_or_else(|| format!("{}.{}", programme.id, step.id)),
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
                        tx.insert_job(job_kind::WEBHOOK, call, due.max(now), now)
                            .await?;
                    }
                    index += 1;
                }
                Action::IssueCoupon { pool } => {
                    match self.loyalty.pool(pool) {
                        Some(pool) => {
                            let reason = format!("programme '{}' step '{}'", programme.id, step.id);
                            let coupon = crate::loyalty::issue_coupon(
                                &mut tx,
                                pool,
                                Some(customer.id),
                                &reason,
                                due.max(now),
                            )
                            .await?;
                            if let Some(map) = context.as_object_mut() {
                                map.insert("coupon".into(), crate::loyalty::coupon_json(&coupon));
                            }
                            tx.set_enrolment_context(enrolment.id, &context).await?;
                        }
                        None => {
                            warn!(enrolment_id = enrolment.id, %pool, "Coupon pool no longer configured; going on without a coupon.");
                        }
                    }
                    index += 1;
                }
                Action::Survey(kind) => {
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
                    tx.set_enrolment_context(enrolment.id, &context).await?;
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
                links: &serde_json::Value::Null,
            };
            if let Ok(rendered) = self.renderer.render(&send.template, &input) {
                out.push((programme.id.clone(), send.template.clone(), rendered));
            }
        }
        out
    }
}
