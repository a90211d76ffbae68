//! Delivering a message: suppression, policy (send, hold or block), rendering, SMTP.

use super::*;
use aftercare_store::CampaignState;
use aftercare_store::CustomerId;
use aftercare_store::MessageContent;
use aftercare_store::MessageId;

/// At most this many links per message are tracked; a redirect's subject is the message id
/// times this plus the link's position.
pub const CLICK_LINKS: i64 = 1_000;

impl Engine {
    /// Renders and sends one message.
    pub(super) async fn deliver(&self, job: &Job) -> Result<(), EngineError> {
        let programmes = self.programmes();
        let mut tx = self.store.begin().await?;
        let message = tx.message(MessageId(job.ref_id)).await?;
        tx.lock_customer(message.customer_id).await?;
        // The time is read once the customer is ours: what another worker decided while this
        // one waited for the lock lies before it, never after.
        let now = self.clock.now();
        match message.state {
            MessageState::Planned => {}
            MessageState::Sending => {
                debug!(
                    message_id = %message.id,
                    "Resuming a delivery that was interrupted."
                );
            }
            _ => return self.finish(tx, job).await,
        }
        if message.state == MessageState::Planned
            && let Some(programme) = &message.programme_id
            && tx.programme_paused(programme).await?
        {
            return self.hold_while_paused(tx, job).await;
        }
        // A campaign's message (no enrolment, no programme) goes only while its campaign
        // was not cancelled (issue 21).
        let campaign = if crate::campaigns::is_campaign_message(&message) {
            tx.campaign_of_message(message.id).await?
        } else {
            None
        };
        if message.state == MessageState::Planned
            && campaign
                .as_ref()
                .is_some_and(|c| c.state == CampaignState::Cancelled)
        {
            return self
                .end_message(
                    tx,
                    job,
                    &message,
                    MessageState::Blocked,
                    "blocked: the campaign was cancelled",
                )
                .await;
        }
        let customer = tx.customer(message.customer_id).await?;
        let enrolment = match message.enrolment_id {
            Some(id) => Some(tx.enrolment(id).await?),
            None => None,
        };
        // The data the steps share: the coupon the policy checks, and what the template shows.
        let mut context = match &enrolment {
            Some(e) => Tx::enrolment_context(e)?,
            None => serde_json::Value::Null,
        };
        // A campaign that hands out personal codes: the code an earlier attempt issued (a
        // retry shows the same one, and the policy checks its real end), or the pool a new
        // one comes from. A pool taken out of the configuration since stops a message that
        // has no code yet rather than send a blank one.
        let campaign_pool = campaign.as_ref().and_then(|c| c.coupon_pool.as_deref());
        let issued = match campaign_pool {
            Some(_) => tx.coupon_of_message(message.id).await?,
            None => None,
        };
        let pool = match (campaign_pool, &issued) {
            (Some(id), None) => match self.loyalty.pool(id) {
                Some(pool) => Some(pool),
                None => {
                    let reason = format!(
                        "blocked: the campaign's coupon pool '{id}' is no longer configured"
                    );
                    return self
                        .end_message(tx, job, &message, MessageState::Blocked, &reason)
                        .await;
                }
            },
            _ => None,
        };
        // Suppression (policy step 2): the customer left the programme or reached its goal.
        if let Some(e) = &enrolment
            && e.state == EnrolmentState::Exited
        {
            let reason = crate::interpret::suppressed(e.exit_reason.as_deref());
            return self
                .end_message(tx, job, &message, MessageState::Blocked, &reason)
                .await;
        }

        // Policy (docs/DESIGN.md, steps 1 and 3–8) decides for a message not yet under way.
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
                .map(|c| PastContact {
                    // A contact stamped after `now` (another machine's clock a little
                    // ahead) still happened: it counts as now, not as not yet.
                    at: c.at.min(now),
                    class: c.class,
                    channel: c.channel,
                    topic: Topic::of(&c.topic),
                })
                .collect();
            let programme = enrolment
                .as_ref()
                .and_then(|e| programmes.version(&e.programme_id, e.programme_version));
            let (moment, repeat_days) =
                crate::interpret::policy_terms(programme, &message.step_key);
            let intent = Intent {
                class: message.class,
                priority: message.priority,
                channel: message.channel,
                planned_at: message.planned_at,
                // A campaign's code: the one issued, or a new one valid from now.
                coupon_valid_until: match (&issued, pool) {
                    (Some(coupon), _) => Some(coupon.valid_until),
                    (None, Some(pool)) => Some(now + pool.validity()),
                    (None, None) => crate::loyalty::coupon_valid_until(&context),
                },
                topic: Topic::of(message.topic.as_deref().unwrap_or(&message.template)),
                repeat_days,
                moment,
            };
            match policy::decide(&intent, &customer.record, &history, now, &self.policy) {
                Decision::Send { .. } => {}
                Decision::Hold { until, reason } => {
                    tx.transition_message_coded(
                        message.id,
                        MessageState::Planned,
                        MessageState::Planned,
                        Some(reason.code),
                        &reason.sentence,
                        now,
                    )
                    .await?;
                    tx.reschedule_job(job.id, &self.worker_id, until).await?;
                    return Ok(tx.commit().await?);
                }
                Decision::Block { reason } => {
                    tx.transition_message_coded(
                        message.id,
                        MessageState::Planned,
                        MessageState::Blocked,
                        Some(reason.code),
                        &reason.sentence,
                        now,
                    )
                    .await?;
                    return self.finish(tx, job).await;
                }
            }
        }
        let recipient = recipient.unwrap_or_default();
        // The provider said this address bounced hard: nothing more goes to it (issue 6).
        if message.channel == aftercare_domain::Channel::Email
            && let Some((_, detail, at)) = tx.email_suppression(&recipient).await?
        {
            let reason = format!(
                "blocked: {recipient} bounced permanently on {} ({detail}); a new address lifts it",
                at.strftime("%Y-%m-%d")
            );
            return self
                .end_message(tx, job, &message, MessageState::Blocked, &reason)
                .await;
        }

        // The campaign's personal code, issued once, with the message's content in one
        // transaction; found again when the delivery is tried again.
        let coupon = match (issued, pool, &campaign) {
            (Some(coupon), _, _) => Some(coupon),
            (None, Some(pool), Some(c)) => {
                let reason = format!("campaign '{}'", c.name);
                let coupon =
                    crate::loyalty::issue_coupon(&mut tx, pool, Some(customer.id), &reason, now)
                        .await?;
                tx.tie_coupon_to_message(coupon.id, message.id).await?;
                Some(coupon)
            }
            _ => None,
        };
        if let Some(coupon) = &coupon {
            context = serde_json::json!({"coupon": crate::loyalty::coupon_json(coupon)});
        }
        let renderer = self.renderer();
        let data = self
            .message_data(&mut tx, &message, customer.id, &context, now, &renderer)
            .await?;
        let input = data.input(&customer.record, &context);
        let (expires, unsubscribe) = (data.expires, data.unsubscribe.clone());
        // Click tracking, when the step asks for it: each web link in the text becomes a
        // signed redirect that counts the click (links valid as long as the message's).
        // A campaign's links are always counted: clicks are how it is credited with orders.
        let tracks_clicks = crate::campaigns::is_campaign_message(&message)
            || enrolment.as_ref().is_some_and(|e| {
                programmes
                    .version(&e.programme_id, e.programme_version)
                    .and_then(|p| p.steps.iter().find(|s| s.id == message.step_key))
                    .is_some_and(|s| matches!(&s.action, Action::Send(send) if send.track_clicks))
            });
        let mut tracked_links = Vec::new();
        let mut track = |url: &str| -> Option<String> {
            let position = i64::try_from(tracked_links.len()).ok()?;
            if !tracks_clicks || position >= CLICK_LINKS {
                return None;
            }
            // Stored as a valid, ASCII-only address (IDNA host, percent-encoded path), so it
            // can be a `Location` header; what does not parse is left as it is, untracked.
            let address = url::Url::parse(url).ok()?;
            tracked_links.push(address.as_str().to_string());
            Some(
                self.links
                    .url(Page::Click, message.id.0 * CLICK_LINKS + position, expires),
            )
        };
        let rendered = match renderer.render_tracked(&message.template, &input, &mut track) {
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
        for (position, url) in (0..).zip(&tracked_links) {
            tx.track_link(message.id, position, url).await?;
        }
        let brand = renderer.brand();
        let header_id = format!("msg-{}@{}", message.id, brand.message_id_domain);
        match message.channel {
            aftercare_domain::Channel::Letter => {
                return self
                    .queue_for_print(tx, job, &message, &customer.record, rendered, header_id)
                    .await;
            }
            aftercare_domain::Channel::Sms | aftercare_domain::Channel::Push => {
                return self
                    .send_by_provider(tx, job, &message, &customer.record, rendered, header_id)
                    .await;
            }
            aftercare_domain::Channel::Portal => {
                return self
                    .place_in_portal(tx, job, &message, rendered, header_id)
                    .await;
            }
            aftercare_domain::Channel::Email => {}
        }
        let content = MessageContent {
            recipient: &recipient,
            subject: &rendered.subject,
            body_text: &rendered.text,
            body_html: &rendered.html,
            greeting: &rendered.greeting,
            header_message_id: &header_id,
        };
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
        self.mark_sending(tx, &message, &content, &reason).await?;

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
                    list_unsubscribe: unsubscribe.clone(),
                };
                mailer
                    .send(&email)
                    .await
                    .map(|()| format!("accepted by the SMTP server for {recipient}"))
            }
        };
        let outcome = match outcome {
            Ok(reason) => Attempted::Accepted(reason),
            Err(e) if e.is_transient() => Attempted::Transient(e.to_string()),
            Err(e) => Attempted::Refused(format!("failed after {} attempt(s): {e}", job.attempts)),
        };
        self.settle(
            job,
            &message,
            outcome,
            Exhausted::Fail,
            backoff(job.attempts),
        )
        .await
    }

    /// Stores a rendered message's content, marks it `sending` (with `reason`) and commits:
    /// from here on a worker that dies leaves it `sending`, and the next attempt repeats it
    /// with the same id.
    pub(super) async fn mark_sending(
        &self,
        mut tx: Tx,
        message: &aftercare_store::Message,
        content: &MessageContent<'_>,
        reason: &str,
    ) -> Result<(), EngineError> {
        tx.start_sending(message.id, message.state, content, reason, self.clock.now())
            .await?;
        Ok(tx.commit().await?)
    }

    /// Records how an attempt to hand over a `sending` message went: accepted → `sent`; a
    /// transient failure → back to `planned`, retried after `retry_in` until `MAX_ATTEMPTS`
    /// (then `failed`, or a dead letter the team can retry); a refusal → `failed`.
    pub(super) async fn settle(
        &self,
        job: &Job,
        message: &aftercare_store::Message,
        outcome: Attempted,
        exhausted: Exhausted,
        retry_in: SignedDuration,
    ) -> Result<(), EngineError> {
        // Accepted: recorded with whatever other lanes handed over meanwhile, in one
        // transaction (`settle.rs`).
        if let Attempted::Accepted(reason) = outcome {
            self.settle_accepted(job, message.id, reason).await?;
            return Ok(());
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // What becomes of the message, and of its job.
        enum Then<'a> {
            Retry(&'a str),
            Bury(&'a str),
            Finish,
        }
        let (to, reason, then) = match &outcome {
            Attempted::Accepted(reason) => (MessageState::Sent, reason.clone(), Then::Finish),
            Attempted::Transient(e) if job.attempts < MAX_ATTEMPTS => (
                MessageState::Planned,
                format!("will retry: {e}"),
                Then::Retry(e),
            ),
            Attempted::Transient(e) if exhausted == Exhausted::DeadLetter => (
                MessageState::Planned,
                format!(
                    "dead letter after {} attempts: {e}; retry it from the outbox once the provider is back",
                    job.attempts
                ),
                Then::Bury(e),
            ),
            Attempted::Transient(e) => (
                MessageState::Failed,
                format!("failed after {} attempt(s): {e}", job.attempts),
                Then::Finish,
            ),
            Attempted::Refused(reason) => (MessageState::Failed, reason.clone(), Then::Finish),
        };
        tx.transition_message(message.id, MessageState::Sending, to, &reason, now)
            .await?;
        match then {
            Then::Retry(e) => {
                warn!(message_id = %message.id, error = %e, "Handing over failed; retrying.");
                let due = now.checked_add(retry_in).unwrap_or(now);
                if tx.retry_job(job.id, &self.worker_id, due, e).await? {
                    tx.commit().await?;
                }
                Ok(())
            }
            Then::Bury(e) => {
                error!(message_id = %message.id, error = %e, "Handing over failed too often; the message is a dead letter.");
                if tx.bury_job(job.id, &self.worker_id, e, now).await? {
                    tx.commit().await?;
                }
                Ok(())
            }
            Then::Finish => {
                debug!(message_id = %message.id, template = %message.template, state = to.as_str(), "Message settled.");
                self.finish(tx, job).await
            }
        }
    }
}

/// How an attempt to hand a message over went.
#[derive(Debug)]
pub(super) enum Attempted {
    /// The server or provider took it; the reason says who.
    Accepted(String),
    /// It may work later: the network, a timeout, a 4xx SMTP reply or a 5xx.
    Transient(String),
    /// Retrying will not help; the reason, in full.
    Refused(String),
}

/// What becomes of a message that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exhausted {
    /// It fails (email: the SMTP server keeps saying no).
    Fail,
    /// It waits on the dead-letter list for the team (SMS and push: the provider is down).
    DeadLetter,
}

impl Engine {
    /// A retention offer's accept page, open until the offer's last day (RT1); `None` when
    /// the event carries no stored offer.
    pub(crate) fn offer_link(
        &self,
        context: &serde_json::Value,
        fallback: jiff::Timestamp,
    ) -> Option<String> {
        let id = context.pointer("/offer/id").and_then(|v| v.as_i64())?;
        let until = context
            .pointer("/offer/valid_until")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<jiff::Timestamp>().ok())
            .unwrap_or(fallback);
        Some(self.links.url(Page::Offer, id, until))
    }
}

/// What a message's template is rendered with besides the customer and the enrolment's
/// data: the order in context and its products, what is new to the customer, successors,
/// recommendations, picks, and the signed links to the customer's pages.
pub(crate) struct MessageData {
    order: Option<aftercare_store::StoredOrder>,
    products: Vec<aftercare_domain::ProductRecord>,
    new_skus: Option<Vec<String>>,
    successors: Vec<aftercare_domain::ProductRecord>,
    recommendations: Vec<aftercare_domain::ProductRecord>,
    picks: Vec<(aftercare_domain::ProductRecord, bool)>,
    links: serde_json::Value,
    /// Until when the message's links are valid.
    pub(crate) expires: jiff::Timestamp,
    /// The one-click unsubscribe link (marketing email only).
    pub(crate) unsubscribe: Option<String>,
}

impl MessageData {
    /// The renderer's input for `customer` with the enrolment's data `context`.
    pub(crate) fn input<'a>(
        &'a self,
        customer: &'a aftercare_domain::CustomerRecord,
        context: &'a serde_json::Value,
    ) -> RenderInput<'a> {
        RenderInput {
            customer,
            order: self.order.as_ref().map(|o| &o.record),
            products: &self.products,
            event: context,
            recommendations: &self.recommendations,
            successors: &self.successors,
            picks: &self.picks,
            new_skus: self.new_skus.as_deref(),
            links: &self.links,
        }
    }
}

impl Engine {
    /// Gathers what `message` is rendered with, as its delivery does (the template editor's
    /// trial renders a draft with it for real messages too).
    pub(crate) async fn message_data(
        &self,
        tx: &mut Tx,
        message: &aftercare_store::Message,
        customer_id: CustomerId,
        context: &serde_json::Value,
        now: jiff::Timestamp,
        renderer: &Renderer,
    ) -> Result<MessageData, EngineError> {
        let (order, products) = order_in_context(tx, context).await?;
        let new_skus = match &order {
            Some(o) => {
                let before = bought_before(tx, o).await?;
                let before: std::collections::HashSet<&str> =
                    before.iter().map(String::as_str).collect();
                Some(crate::condition::new_skus(&o.record, &before))
            }
            None => None,
        };
        // Successors by name, not SKU (issue 23 point 2).
        let mut successors = Vec::new();
        for sku in products.iter().filter_map(|p| {
            p.successor_sku
                .as_ref()
                .map(aftercare_domain::ExternalId::as_str)
        }) {
            successors.extend(tx.product(sku).await?);
        }
        let recommendations = if renderer.template_uses(&message.template, "recommendations") {
            super::recommendations(tx, customer_id, &products).await?
        } else {
            Vec::new()
        };
        // IN1: what is new in the catalogue (the last 90 days) and what the customer has not
        // tried yet, for inspiration.
        let picks = if renderer.template_uses(&message.template, "picks") {
            tx.catalogue_picks(customer_id, now - SignedDuration::from_hours(24 * 90), 3)
                .await?
        } else {
            Vec::new()
        };
        // Links in a message stay valid for 90 days.
        let expires = now + SignedDuration::from_hours(24 * 90);
        // Marketing can be stopped from every non-transactional email, for two years. (Only
        // email carries the email unsubscribe link; the portal has the preferences link.)
        let unsubscribe = (message.class != aftercare_domain::MessageClass::Transactional
            && message.channel == aftercare_domain::Channel::Email)
            .then(|| {
                let until = now + SignedDuration::from_hours(24 * 730);
                self.links.url(Page::Unsubscribe, customer_id, until)
            });
        // A survey invitation links to its response for 30 days (MQ1, MQ2).
        let survey = context
            .pointer("/survey/id")
            .and_then(|v| v.as_i64())
            .map(|id| {
                let until = now + SignedDuration::from_hours(24 * 30);
                self.links.url(Page::Survey, id, until)
            });
        let offer = self.offer_link(context, expires);
        // Shipping messages link to the shipment's tracking page (PX1, PX2).
        let tracking = match context.get("shipment_id").and_then(|v| v.as_str()) {
            Some(ext) => tx
                .shipment_by_external_id(ext)
                .await?
                .map(|s| self.links.url(Page::Tracking, s.id, expires)),
            None => None,
        };
        let links = serde_json::json!({
            "tracking": tracking,
            "loyalty": self.links.url(Page::Loyalty, customer_id, expires),
            "unsubscribe": unsubscribe,
            "survey": survey,
            "offer": offer,
            "preferences": self.links.url(Page::Preferences, customer_id, expires),
            // Opens are counted only when the brand turned it on (`track_opens`), by email.
            "open": (self.track_opens && message.channel == aftercare_domain::Channel::Email)
                .then(|| self.links.url(Page::Open, message.id, expires)),
            // Every message can be read again on the customer's page (not a letter's).
            "inbox": (message.channel != aftercare_domain::Channel::Letter)
                .then(|| self.links.url(Page::Inbox, customer_id, expires)),
        });
        Ok(MessageData {
            order,
            products,
            new_skus,
            successors,
            recommendations,
            picks,
            links,
            expires,
            unsubscribe,
        })
    }
}
