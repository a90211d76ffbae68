//! SMS and app push (CH1): posted to the brand's provider as a signed webhook — the target
//! `[channels] sms` or `push` names in `[webhooks]` — with the message's `Message-ID` as the
//! `Idempotency-Key`, so a provider recognises the repeat after an interrupted attempt.
//!
//! The message is `sending` while the POST is under way and `sent` once the provider took
//! it (2xx). A network error, timeout or 5xx puts it back to `planned` and the job retries
//! with exponential backoff and jitter; after ten attempts (about six hours) the job goes to the
//! dead-letter list (the message stays `planned`, with the last error as its reason), where
//! the team can retry it once the provider is back. A 4xx, or a target the client may not
//! reach, fails the message at once. The provider later reports what became of it on
//! `POST /v1/channel-status`, signed with the same secret (see [`Engine::record_receipt`]).
//!
//! An SMS carries the template's short text and is blocked, not cut, when it needs more
//! parts than `[channels] sms_max_parts` (`aftercare_domain::sms`).

use aftercare_domain::webhooks::ChannelProviders;
use aftercare_domain::{Channel, CustomerRecord};

use super::deliver::{Attempted, Exhausted};
use super::*;
use crate::render::Rendered;

/// What a provider may report about a message it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// The phone or the app has it.
    Delivered,
    /// The provider gave up: a wrong number, an app removed, a phone off for days.
    Failed,
}

/// Why a receipt was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// No message has this `Message-ID`.
    #[error("no message with id '{0}'")]
    Unknown(String),
    /// The message did not go by SMS or push, or was never handed to the provider.
    #[error("message '{0}' was not handed to an SMS or push provider")]
    NotSent(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Sets the providers of SMS and app push (default: none).
    pub fn with_channels(mut self, channels: ChannelProviders) -> Self {
        self.channels = Arc::new(channels);
        self
    }

    /// The providers of SMS and app push.
    pub fn channels(&self) -> &ChannelProviders {
        &self.channels
    }

    /// The signing secret of the provider carrying `channel`.
    pub fn provider_secret(&self, channel: Channel) -> Option<&str> {
        let name = self.channels.target(channel)?;
        self.webhook_targets.get(name).map(|t| t.secret.as_str())
    }

    /// Posts one rendered SMS or push message to its provider.
    pub(super) async fn send_by_provider(
        &self,
        mut tx: Tx,
        job: &Job,
        message: &aftercare_store::Message,
        customer: &CustomerRecord,
        rendered: Rendered,
        header_id: String,
    ) -> Result<(), EngineError> {
        let channel = message.channel;
        let target = self.channels.target(channel).and_then(|name| {
            self.webhook_targets
                .get(name)
                .map(|t| (name.to_string(), t.clone()))
        });
        let Some((provider, target)) = target else {
            let reason = format!(
                "blocked: no {} provider is configured ([channels] {})",
                channel.as_str(),
                channel.as_str()
            );
            return self
                .end_message(tx, job, message, MessageState::Blocked, &reason)
                .await;
        };
        let Some(text) = rendered.short.clone() else {
            let reason = format!(
                "failed: template '{}' has no short text for {}",
                message.template,
                channel.as_str()
            );
            return self
                .end_message(tx, job, message, MessageState::Failed, &reason)
                .await;
        };
        let to = match channel {
            Channel::Sms => customer
                .phone
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            _ => customer.external_id.as_str().to_string(),
        };
        // The provider said this number cannot be reached for good (issue 6).
        if channel == Channel::Sms
            && let Some((detail, at)) = tx.phone_suppression(&to).await?
        {
            let reason = format!(
                "blocked: {to} could not be reached by SMS on {} ({detail}); a new number lifts it",
                at.strftime("%Y-%m-%d")
            );
            return self
                .end_message(tx, job, message, MessageState::Blocked, &reason)
                .await;
        }
        if channel == Channel::Sms {
            let length = aftercare_domain::sms::measure(&text);
            if length.parts > self.channels.sms_max_parts {
                let reason = format!(
                    "blocked: the SMS text needs {} parts ({} characters, {:?}); at most {} ([channels] sms_max_parts)",
                    length.parts, length.units, length.encoding, self.channels.sms_max_parts
                );
                return self
                    .end_message(tx, job, message, MessageState::Blocked, &reason)
                    .await;
            }
        }
        let content = aftercare_store::MessageContent {
            recipient: &to,
            subject: &rendered.subject,
            body_text: &text,
            body_html: "",
            greeting: &rendered.greeting,
            header_message_id: &header_id,
        };
        let reason = if message.state == MessageState::Planned {
            format!("posting to the {} provider '{provider}'", channel.as_str())
        } else {
            format!(
                "posting again to '{provider}' after an interrupted attempt (same Idempotency-Key)"
            )
        };
        self.mark_sending(tx, message, &content, &reason).await?;

        let mut payload = serde_json::json!({
            "type": format!("message.{}", channel.as_str()),
            "id": header_id,
            "to": to,
            "customer": customer.external_id,
            "class": message.class.as_str(),
            "locale": customer.locale.tag(),
            "text": text,
            "status_url": format!("{}/v1/channel-status", self.links.base_url()),
        });
        if channel == Channel::Push {
            payload["title"] = rendered.subject.clone().into();
        }
        let outcome = self
            .webhooks
            .post_json(
                &target.url,
                target.secret.as_bytes(),
                &payload,
                &header_id,
                self.clock.now(),
            )
            .await;
        let outcome = match outcome {
            Ok(_) => Attempted::Accepted(format!(
                "accepted by the {} provider '{provider}' for {to}",
                channel.as_str()
            )),
            Err(e) if e.is_transient() => Attempted::Transient(e.to_string()),
            Err(e) => {
                Attempted::Refused(format!("failed: the provider '{provider}' refused it: {e}"))
            }
        };
        let retry_in = crate::tracking::with_jitter(job.attempts);
        self.settle(job, message, outcome, Exhausted::DeadLetter, retry_in)
            .await
    }

    /// Places a rendered message in the customer's inbox on their branded page.
    pub(super) async fn place_in_portal(
        &self,
        mut tx: Tx,
        job: &Job,
        message: &aftercare_store::Message,
        rendered: Rendered,
        header_id: String,
    ) -> Result<(), EngineError> {
        tx.set_message_content(
            message.id,
            &aftercare_store::MessageContent {
                recipient: "",
                subject: &rendered.subject,
                body_text: &rendered.text,
                body_html: &rendered.html,
                greeting: &rendered.greeting,
                header_message_id: &header_id,
            },
        )
        .await?;
        tx.transition_message(
            message.id,
            message.state,
            MessageState::Sent,
            "placed in the customer's inbox on their page",
            self.clock.now(),
        )
        .await?;
        self.finish(tx, job).await
    }

    /// Records what the provider reports about the message with `Message-ID` `id`: delivered
    /// (noted on its timeline) or failed (the message becomes `failed`, and no longer counts
    /// as a contact; a `permanent` SMS failure also suppresses the number, so no SMS goes to
    /// it again until the customer's number changes). Returns the message's state afterwards.
    pub async fn record_receipt(
        &self,
        id: &str,
        status: ReceiptStatus,
        detail: &str,
        permanent: bool,
    ) -> Result<MessageState, ReceiptError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(message) = tx.message_by_header_id(id).await? else {
            return Err(ReceiptError::Unknown(id.to_string()));
        };
        if !matches!(message.channel, Channel::Sms | Channel::Push)
            || !matches!(message.state, MessageState::Sent | MessageState::Failed)
        {
            return Err(ReceiptError::NotSent(id.to_string()));
        }
        // The provider's words, in brackets after the sentence, when it gave any.
        let said = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        };
        let state = match (status, message.state) {
            (ReceiptStatus::Delivered, MessageState::Sent) => {
                let what = if message.channel == Channel::Sms {
                    "the phone"
                } else {
                    "the app"
                };
                tx.note_message(
                    message.id,
                    MessageState::Sent,
                    &format!("delivered to {what}, the provider reports{said}"),
                    now,
                )
                .await?;
                MessageState::Sent
            }
            (ReceiptStatus::Failed, MessageState::Sent) => {
                if permanent
                    && message.channel == Channel::Sms
                    && let Some(phone) = message.recipient.as_deref().filter(|p| !p.is_empty())
                {
                    let words = if detail.is_empty() {
                        "unreachable"
                    } else {
                        detail
                    };
                    tx.suppress_phone(phone, words, now).await?;
                }
                tx.transition_message(
                    message.id,
                    MessageState::Sent,
                    MessageState::Failed,
                    &format!("failed: the provider could not deliver it{said}"),
                    now,
                )
                .await?;
                MessageState::Failed
            }
            // A late or repeated report changes nothing.
            (_, state) => state,
        };
        tx.commit().await?;
        Ok(state)
    }
}
