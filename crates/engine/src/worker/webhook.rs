//! A programme's `webhook` step calls the brand's own system: the step stores the call (once
//! per enrolment step) with a `webhook` job; the job POSTs it signed (HMAC-SHA256 over
//! timestamp and body, `Idempotency-Key: webhook-{id}` so the receiver can recognise a
//! retry). A refusal (4xx) or a target the client may not reach (an internal address
//! without `allow_private_targets`) ends the call as `refused`; anything else is retried
//! with backoff and jitter, and after `MAX_WEBHOOK_ATTEMPTS` the job goes to the dead-letter
//! list, where the team sees the last error and can retry it.

use aftercare_domain::webhooks::WebhookTarget;

use super::*;
use aftercare_store::CallState;

/// Attempts (about a day with backoff) before a call is set aside for the team.
const MAX_WEBHOOK_ATTEMPTS: i32 = 12;

impl Engine {
    /// Sets the systems `webhook` steps may call (`[webhooks]`).
    pub fn with_webhook_targets(
        mut self,
        targets: std::collections::BTreeMap<String, WebhookTarget>,
    ) -> Self {
        self.webhook_targets = Arc::new(targets);
        self
    }

    /// Makes one stored call (job kind `webhook`).
    pub(super) async fn call_webhook(&self, job: &Job) -> Result<(), EngineError> {
        let mut tx = self.store.begin().await?;
        let call = tx.outgoing_webhook(job.ref_id).await?;
        if call.state != CallState::Pending {
            return self.finish(tx, job).await;
        }
        let Some(target) = self.webhook_targets.get(&call.target).cloned() else {
            let reason = format!("the target '{}' is no longer in [webhooks]", call.target);
            tx.settle_outgoing_webhook(
                call.id,
                CallState::Refused,
                Some(&reason),
                self.clock.now(),
            )
            .await?;
            warn!(webhook = call.id, %reason, "Webhook not made.");
            return self.finish(tx, job).await;
        };
        tx.commit().await?;
        let outcome = self
            .webhooks
            .post_json(
                &target.url,
                target.secret.as_bytes(),
                &call.payload,
                &format!("webhook-{}", call.id),
                self.clock.now(),
            )
            .await;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        match outcome {
            Ok(_) => {
                tx.settle_outgoing_webhook(call.id, CallState::Delivered, None, now)
                    .await?;
                debug!(webhook = call.id, target = %call.target, "Webhook delivered.");
                self.finish(tx, job).await
            }
            Err(e) if e.is_transient() => {
                let error = e.to_string();
                tx.settle_outgoing_webhook(call.id, CallState::Pending, Some(&error), now)
                    .await?;
                let held = if job.attempts >= MAX_WEBHOOK_ATTEMPTS {
                    error!(webhook = call.id, target = %call.target, %error, "Webhook failed too often; setting it aside.");
                    tx.bury_job(job.id, &self.worker_id, &error, now).await?
                } else {
                    warn!(webhook = call.id, target = %call.target, %error, "Webhook failed; retrying.");
                    let due = now
                        .checked_add(crate::tracking::with_jitter(job.attempts))
                        .unwrap_or(now);
                    tx.retry_job(job.id, &self.worker_id, due, &error).await?
                };
                if held {
                    tx.commit().await?;
                }
                Ok(())
            }
            Err(e) => {
                let error = e.to_string();
                warn!(webhook = call.id, target = %call.target, %error, "Webhook refused.");
                tx.settle_outgoing_webhook(call.id, CallState::Refused, Some(&error), now)
                    .await?;
                self.finish(tx, job).await
            }
        }
    }
}
