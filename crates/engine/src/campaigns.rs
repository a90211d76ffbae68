//! Saved audiences and one-off campaigns (issue 21).
//!
//! An **audience** is a condition on `customer` and `stats` — the data model programmes
//! use, in CEL, type-checked the same way — saved under a name and versioned. A
//! **campaign** sends one template once to an audience on a day at a local time (in each
//! customer's own time zone) with a holdout. It goes through exactly what a programme's
//! message goes through: the message is planned and delivered by the same `deliver` job, so
//! consent, suppression, caps, the yearly band, the attention ceiling, quiet hours, DQ1/DQ2
//! and the channel choice all apply; a campaign cannot put a customer above the band.
//!
//! Scheduling pins the audience's version and plans a `campaign` job at the first moment
//! the send time is reached anywhere (UTC+14). That job walks the customers in id order, a
//! page per transaction (the page's cursor commits with its recipients, so a worker killed
//! mid-way resumes where the last page ended and nobody is planned twice — recipients are
//! unique per campaign and customer), and for each member records them as held out (a
//! stable share, as for programmes) or plans their message with a `deliver` job at their
//! local send time. A dry run evaluates the audience and asks the policy about every member
//! (a sample of [`DRY_RUN_SAMPLE`] in a large audience, scaled up and said so) as of the send
//! time, without writing anything. Results count what was sent, held and blocked and why,
//! clicks, and the orders in the attribution window — credited to the message after a send,
//! and compared with the holdout (uplift with 95% intervals).
//!
//! A campaign with a coupon pool gives each recipient their own code: `deliver` issues it
//! once the policy lets the message go, in the transaction that stores the message's
//! content, tied to the message so a retried delivery shows the same code; its validity
//! starts then (DQ1 is asked with it). Creating the campaign keeps a template that shows a
//! code and a pool together.

use std::collections::{BTreeMap, HashMap};

use aftercare_domain::policy::{self, Decision, Intent, PastContact, Reach, Topic};
use aftercare_domain::{Channel, MessageClass};
use aftercare_store::{
    Campaign, CampaignId, CampaignMessage, CampaignState, CustomerId, Job, JobKind,
    PlannedRecipient, StoredCustomer, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::condition::{Condition, Data};
use crate::worker::{Engine, EngineError, in_holdout, stats_of};

/// Customers read per page when an audience is evaluated or a campaign planned.
pub const PAGE: i64 = 1_000;
/// At most this many members are asked about in a dry run; a larger audience is sampled.
pub const DRY_RUN_SAMPLE: usize = 5_000;

/// Checks an audience's definition: a condition that reads only `customer` and `stats`.
pub fn parse_audience(definition: &str) -> Result<Condition, String> {
    let definition = definition.trim();
    if definition.is_empty() {
        return Err("write a condition on customer and stats, e.g. stats.orders_count >= 2".into());
    }
    // Which variables first: `order.total` should say there is no order, not no `total`.
    let variables = Condition::variables_of(definition)?;
    for var in ["order", "products", "event", "recommendations"] {
        if variables.iter().any(|v| v == var) {
            return Err(format!(
                "an audience reads customer and stats only, not '{var}' (there is no order or event when a campaign is planned)"
            ));
        }
    }
    Condition::parse(definition)
}

/// An audience counted: how many customers match of how many, and a few who do.
#[derive(Debug, Clone, Default)]
pub struct Count {
    /// Customers who match.
    pub members: u64,
    /// Customers looked at.
    pub customers: u64,
    /// The first matching customers: (id, name for the team).
    pub sample: Vec<(String, String)>,
    /// Members whose own send moment of the campaign counted for has passed already, and
    /// the time zone of one of them.
    pub passed: (u64, Option<String>),
}

/// What a dry run found.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DryRun {
    /// Customers in the audience.
    pub audience: u64,
    /// Of which held out.
    pub holdout: u64,
    /// Members the policy was asked about (all, or a sample).
    pub asked: u64,
    /// Would get it at the send time (scaled to the audience when sampled).
    pub would_send: u64,
    /// Would be held back, by the policy's reason code: (count, an example sentence).
    pub held: BTreeMap<String, (u64, String)>,
    /// Would not get it, by reason code.
    pub blocked: BTreeMap<String, (u64, String)>,
    /// By channel, of those who would get it.
    pub channels: BTreeMap<String, u64>,
    /// Whether the figures are scaled up from a sample.
    pub sampled: bool,
}

/// A campaign's results.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Recipients, held out or not.
    pub recipients: u64,
    /// Held out.
    pub holdout: u64,
    /// Messages by state.
    pub states: BTreeMap<String, u64>,
    /// Blocked or held messages by the policy's reason code.
    pub reasons: BTreeMap<String, u64>,
    /// Messages whose links were clicked.
    pub clicked: u64,
    /// Orders in the attribution window after a sent message (credited to it), and their
    /// value in cents.
    pub attributed_orders: u64,
    /// Value of those orders in cents.
    pub attributed_revenue_cents: i64,
    /// Treated (everyone not held out, sent or not) against the holdout: orders in the window
    /// after the planned send.
    pub uplift: Option<aftercare_insight::uplift::Uplift>,
    /// Personal codes the messages carried (a campaign with a coupon pool).
    pub codes_issued: u64,
    /// Of which used in an order.
    pub codes_used: u64,
}

/// When a campaign goes out for a customer in `zone`: its day at its local time.
pub fn local_send(c: &Campaign, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    let date: jiff::civil::Date = c.send_on.parse().ok()?;
    let time: jiff::civil::Time = c.local_time.parse().ok()?;
    date.to_datetime(time)
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The first moment a campaign's send time is reached anywhere (UTC+14).
pub fn first_send(c: &Campaign) -> Option<Timestamp> {
    let earliest = jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(14));
    local_send(c, &earliest)
}

/// The audience version a scheduled campaign pinned, as a condition (`None` when it no
/// longer loads).
pub async fn pinned_audience(
    tx: &mut Tx,
    c: &Campaign,
) -> Result<Option<Condition>, aftercare_store::StoreError> {
    let definition = tx
        .audience_versions(&c.audience_id)
        .await?
        .into_iter()
        .find(|v| v.version == c.audience_version)
        .map(|v| v.definition);
    Ok(definition.and_then(|d| parse_audience(&d).ok()))
}

/// A campaign as the team fills it in, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// What the team calls it.
    pub name: String,
    /// The template it sends.
    pub template: String,
    /// Its audience's id.
    pub audience_id: String,
    /// `promotional`, `relationship` or `service`.
    pub class: String,
    /// Channels in order of preference, comma-separated.
    pub channels: String,
    /// The day (`YYYY-MM-DD`).
    pub send_on: String,
    /// The local time (`HH:MM`).
    pub local_time: String,
    /// The holdout in percent, 0–50.
    pub holdout_percent: String,
    /// The attribution window in days, 1–90.
    pub attribution_days: String,
    /// The coupon pool each recipient gets a personal code from; empty for none.
    pub coupon_pool: String,
}

/// Why a campaign was not accepted: the field and the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Refusal {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        field,
        reason: reason.into(),
    }
}

/// A member of an audience and what the policy reads of them.
struct Member {
    customer: StoredCustomer,
}

impl Engine {
    /// The members among the customers after `after_id` (one page): the customers who
    /// match, and the last id looked at (`None` when there were no more).
    async fn audience_page(
        &self,
        tx: &mut Tx,
        condition: &Condition,
        after_id: CustomerId,
        now: Timestamp,
    ) -> Result<(Vec<Member>, Option<CustomerId>, u64), EngineError> {
        let customers = tx.customers_page(after_id, PAGE).await?;
        let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
            return Ok((Vec::new(), None, 0));
        };
        let (from, to) = (first.id, last.id);
        let stats: HashMap<CustomerId, aftercare_store::OrderStats> = tx
            .order_stats_of_customers(from, to)
            .await?
            .into_iter()
            .collect();
        let scores: HashMap<CustomerId, aftercare_store::Scores> = tx
            .scores_of_customers(from, to)
            .await?
            .into_iter()
            .map(|s| (s.customer_id, s))
            .collect();
        let reads_points = condition
            .stats_fields()
            .is_none_or(|f| f.iter().any(|f| f == "points_balance"));
        let looked = customers.len() as u64;
        let mut members = Vec::new();
        for customer in customers {
            let points = if reads_points {
                aftercare_domain::loyalty::replay(&tx.ledger(customer.id).await?).balance(now)
            } else {
                0
            };
            let none = aftercare_store::OrderStats {
                orders_count: 0,
                total_spent_cents: 0,
                last_order_at: None,
                first_order_at: None,
            };
            let s = stats_of(
                &customer.record,
                stats.get(&customer.id).unwrap_or(&none),
                scores.get(&customer.id),
                points,
                now,
            );
            let record = serde_json::to_value(&customer.record).unwrap_or(Value::Null);
            let holds = condition
                .holds_with(&[
                    ("customer", Data::Json(&record)),
                    ("stats", Data::Owned(s.to_json())),
                ])
                .unwrap_or(false);
            if holds {
                members.push(Member { customer });
            }
        }
        Ok((members, Some(to), looked))
    }

    /// Counts an audience over every customer, with the first `sample` members.
    pub async fn count_audience(
        &self,
        condition: &Condition,
        sample: usize,
    ) -> Result<Count, EngineError> {
        self.count_audience_for(condition, sample, None).await
    }

    /// [`Engine::count_audience`], also counting the members for whom `campaign`'s local
    /// send moment has passed.
    async fn count_audience_for(
        &self,
        condition: &Condition,
        sample: usize,
        campaign: Option<&Campaign>,
    ) -> Result<Count, EngineError> {
        let now = self.clock().now();
        let mut count = Count::default();
        let mut after = CustomerId(0);
        loop {
            let mut tx = self.store().begin_read().await?;
            let (members, last, looked) =
                self.audience_page(&mut tx, condition, after, now).await?;
            tx.commit().await?;
            count.customers += looked;
            count.members += members.len() as u64;
            if let Some(c) = campaign {
                for m in &members {
                    let zone = m.customer.record.time_zone.zone();
                    if local_send(c, &zone).is_some_and(|t| t <= now) {
                        count.passed.0 += 1;
                        count
                            .passed
                            .1
                            .get_or_insert_with(|| zone.iana_name().unwrap_or("UTC").to_string());
                    }
                }
            }
            for m in members
                .iter()
                .take(sample.saturating_sub(count.sample.len()))
            {
                let r = &m.customer.record;
                count
                    .sample
                    .push((r.external_id.as_str().to_string(), r.full_name()));
            }
            match last {
                Some(id) => after = id,
                None => return Ok(count),
            }
        }
    }

    /// The policy's answer for every member of a campaign's audience (or a sample) as of
    /// their send time, writing nothing.
    pub async fn dry_run(
        &self,
        c: &Campaign,
        condition: &Condition,
    ) -> Result<DryRun, EngineError> {
        let now = self.clock().now();
        let total = self.count_audience(condition, 0).await?.members;
        let stride = (total as usize).div_ceil(DRY_RUN_SAMPLE).max(1);
        let mut run = DryRun {
            audience: total,
            sampled: stride > 1,
            ..DryRun::default()
        };
        let class = class_of(&c.class);
        let channels = channels_of(&c.channels);
        let by_channel = channel_policy(&channels, self.policy());
        // A personal code would be issued at the send, valid for the pool's days.
        let code_validity = c
            .coupon_pool
            .as_deref()
            .and_then(|id| self.loyalty().pool(id))
            .map(aftercare_domain::loyalty::CouponPoolConfig::validity);
        let mut seen = 0usize;
        let mut after = CustomerId(0);
        loop {
            let mut tx = self.store().begin_read().await?;
            let (members, last, _) = self.audience_page(&mut tx, condition, after, now).await?;
            let Some(last) = last else {
                tx.commit().await?;
                break;
            };
            after = last;
            for m in members {
                seen += 1;
                let r = &m.customer.record;
                if in_holdout(&holdout_key(c.id), r.external_id.as_str(), c.holdout) {
                    run.holdout += 1;
                    continue;
                }
                if !(seen - 1).is_multiple_of(stride) {
                    continue;
                }
                run.asked += 1;
                let at = local_send(c, &r.time_zone.zone()).unwrap_or(now).max(now);
                let channel = campaign_channel(&channels, class, r, &by_channel);
                let history: Vec<PastContact> = tx
                    .recent_contacts(m.customer.id, at - SignedDuration::from_hours(24 * 366))
                    .await?
                    .into_iter()
                    .map(|p| PastContact {
                        at: p.at.min(at),
                        class: p.class,
                        channel: p.channel,
                        topic: Topic::of(&p.topic),
                    })
                    .collect();
                let intent = intent(c, class, channel, at, code_validity.map(|v| at + v));
                match policy::decide(&intent, r, &history, at, self.policy()) {
                    Decision::Send { channel } => {
                        run.would_send += 1;
                        *run.channels
                            .entry(channel.as_str().to_string())
                            .or_default() += 1;
                    }
                    Decision::Hold { reason, .. } => {
                        let e = run
                            .held
                            .entry(reason.code.to_string())
                            .or_insert((0, reason.sentence));
                        e.0 += 1;
                    }
                    Decision::Block { reason } => {
                        let e = run
                            .blocked
                            .entry(reason.code.to_string())
                            .or_insert((0, reason.sentence));
                        e.0 += 1;
                    }
                }
            }
            tx.commit().await?;
        }
        if run.sampled && run.asked > 0 {
            let treated = run.audience - run.holdout;
            let scale = |n: u64| (n as f64 * treated as f64 / run.asked as f64).round() as u64;
            run.would_send = scale(run.would_send);
            for v in run.held.values_mut().chain(run.blocked.values_mut()) {
                v.0 = scale(v.0);
            }
            for v in run.channels.values_mut() {
                *v = scale(*v);
            }
        }
        Ok(run)
    }

    /// Plans one page of a scheduled campaign (the `campaign` job): its members' messages
    /// and holdout, the cursor with them; the job comes back at once until every customer
    /// was looked at.
    pub(crate) async fn plan_campaign(&self, job: &Job) -> Result<(), EngineError> {
        let mut tx = self.store().begin().await?;
        let c = tx.campaign(CampaignId(job.ref_id)).await?;
        if c.state != CampaignState::Scheduled && c.state != CampaignState::Planning {
            return self.finish(tx, job).await;
        }
        let Some(condition) = pinned_audience(&mut tx, &c).await? else {
            tracing::error!(
                campaign = i64::from(c.id),
                "The campaign's audience no longer loads; it is cancelled."
            );
            tx.set_campaign_state(c.id, c.state, CampaignState::Cancelled, None)
                .await?;
            return self.finish(tx, job).await;
        };
        let now = self.clock().now();
        let (members, last, _) = self
            .audience_page(&mut tx, &condition, c.cursor_id, now)
            .await?;
        let Some(last) = last else {
            tx.advance_campaign(c.id, c.cursor_id, Some(now)).await?;
            return self.finish(tx, job).await;
        };
        let class = class_of(&c.class);
        let channels = channels_of(&c.channels);
        let by_channel = channel_policy(&channels, self.policy());
        let step_key = holdout_key(c.id);
        let reason = format!("campaign '{}'", c.name);
        let recipients: Vec<PlannedRecipient> = members
            .iter()
            .map(|m| {
                let r = &m.customer.record;
                PlannedRecipient {
                    customer_id: m.customer.id,
                    holdout: in_holdout(&step_key, r.external_id.as_str(), c.holdout),
                    planned_for: local_send(&c, &r.time_zone.zone()).unwrap_or(now).max(now),
                    channel: campaign_channel(&channels, class, r, &by_channel),
                }
            })
            .collect();
        let message = CampaignMessage {
            step_key: &step_key,
            template: &c.template,
            class,
            priority: policy::Priority::Low,
            reason: &reason,
            topic: &c.template,
        };
        tx.plan_campaign_page(c.id, &recipients, &message, now)
            .await?;
        tx.advance_campaign(c.id, last, None).await?;
        // The next page keeps this job's place in the queue, ahead of the deliveries it
        // planned: planning is not starved by the sending it causes.
        let place = job.run_at.min(now);
        tx.reschedule_job(job.id, self.worker_id(), place).await?;
        Ok(tx.commit().await?)
    }

    /// Checks and saves an audience (audited): a new one, or the next version of its
    /// definition. Returns the version; nothing is stored when a field is wrong.
    pub async fn save_audience(
        &self,
        id: &str,
        name: &str,
        definition: &str,
        by: &str,
    ) -> Result<Result<i32, Refusal>, EngineError> {
        let id = id.trim();
        if id.is_empty()
            || id.len() > 60
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Ok(Err(refuse("id", "1 to 60 of a-z, 0-9 and -")));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            return Ok(Err(refuse("name", "1 to 120 characters on one line")));
        }
        let definition = definition.trim();
        if definition.chars().count() > 4_000 {
            return Ok(Err(refuse("definition", "at most 4,000 characters")));
        }
        if let Err(e) = parse_audience(definition) {
            return Ok(Err(refuse("definition", e)));
        }
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        let before = tx.audience(id).await?;
        let version = tx.save_audience(id, name, definition, by, now).await?;
        // Programmes that enter by this audience follow it in every running worker.
        tx.log_content_change("save", &format!("audience:{id}"), version, by, now)
            .await?;
        tx.audit(
            by,
            "audience.save",
            &format!("audience:{id}"),
            before
                .map(|a| {
                    serde_json::json!({"version": a.version, "definition": a.definition})
                        .to_string()
                })
                .as_deref(),
            Some(&serde_json::json!({"version": version, "definition": definition}).to_string()),
            now,
        )
        .await?;
        tx.commit().await?;
        if let Err(e) = self.refresh_content().await {
            tracing::warn!(error = %e, "Reloading after an audience changed failed.");
        }
        Ok(Ok(version))
    }

    /// Deletes an audience (audited) that nothing still going reads: no programme enters
    /// by it and no campaign that is a draft or not yet planned sends to it. Its versions
    /// stay, so a campaign sent to it still shows what it was.
    pub async fn delete_audience(
        &self,
        id: &str,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let programmes = self.programmes();
        if let Some(p) = programmes
            .current()
            .programmes
            .values()
            .find(|p| p.audience.as_deref() == Some(id))
        {
            return Ok(Err(refuse(
                "audience",
                format!("programme '{}' enters by it; change that first", p.id),
            )));
        }
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        let Some(audience) = tx.audience(id).await? else {
            return Ok(Err(refuse("audience", format!("no audience '{id}'"))));
        };
        if let Some(c) = tx.campaigns().await?.into_iter().find(|c| {
            c.audience_id == id
                && matches!(
                    c.state,
                    CampaignState::Draft | CampaignState::Scheduled | CampaignState::Planning
                )
        }) {
            return Ok(Err(refuse(
                "audience",
                format!(
                    "campaign '{}' ({}) sends to it; delete or cancel that first",
                    c.name, c.state
                ),
            )));
        }
        tx.delete_audience(id).await?;
        tx.audit(
            by,
            "audience.delete",
            &format!("audience:{id}"),
            Some(
                &serde_json::json!({"version": audience.version, "definition": audience.definition})
                    .to_string(),
            ),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Deletes a campaign that is still a draft (audited); one that was scheduled is
    /// cancelled instead, so its record stays.
    pub async fn delete_campaign(
        &self,
        id: CampaignId,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        let c = tx.campaign(id).await?;
        if !tx.delete_draft_campaign(id).await? {
            return Ok(Err(refuse(
                "state",
                format!(
                    "it is {}; only a draft is deleted (cancel it instead)",
                    c.state
                ),
            )));
        }
        tx.audit(
            by,
            "campaign.delete",
            &format!("campaign:{id}"),
            Some(&serde_json::json!({"name": c.name, "template": c.template, "audience": c.audience_id}).to_string()),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Checks a campaign the team filled in and stores it as a draft (audited); returns
    /// its id. Nothing is stored when a field is wrong.
    pub async fn create_campaign(
        &self,
        d: &Draft,
        by: &str,
    ) -> Result<Result<CampaignId, Refusal>, EngineError> {
        let mut tx = self.store().begin().await?;
        let id = self
            .create_campaign_in(&mut tx, d, by, self.clock().now())
            .await?;
        if id.is_ok() {
            tx.commit().await?;
        }
        Ok(id)
    }

    /// [`Engine::create_campaign`] in the caller's transaction (the API's, which stores an
    /// `Idempotency-Key`'s answer with it); on a refusal the caller drops it.
    pub async fn create_campaign_in(
        &self,
        tx: &mut Tx,
        d: &Draft,
        by: &str,
        now: Timestamp,
    ) -> Result<Result<CampaignId, Refusal>, EngineError> {
        let name = d.name.trim();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            return Ok(Err(refuse("name", "1 to 120 characters on one line")));
        }
        if !self.renderer().template_names().contains(d.template.trim()) {
            return Ok(Err(refuse(
                "template",
                format!("no template '{}'", d.template.trim()),
            )));
        }
        let class = d.class.trim();
        if !CLASSES.iter().any(|c| c.as_str() == class) {
            return Ok(Err(refuse(
                "class",
                "promotional, relationship or service (a campaign is never transactional)",
            )));
        }
        let channels: Vec<&str> = d
            .channels
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if channels.is_empty() || channels.iter().any(|c| Channel::parse(c).is_none()) {
            return Ok(Err(refuse(
                "channels",
                "a list of email, sms, push, letter, portal",
            )));
        }
        for c in &channels {
            let channel = Channel::parse(c).unwrap_or(Channel::Email);
            if matches!(channel, Channel::Sms | Channel::Push)
                && !self.renderer().has_short_text(d.template.trim())
            {
                return Ok(Err(refuse(
                    "channels",
                    format!(
                        "{c} needs a short text in the template, and '{}' has none",
                        d.template.trim()
                    ),
                )));
            }
            if matches!(channel, Channel::Sms | Channel::Push)
                && !self.check_context().providers.contains(&channel)
            {
                return Ok(Err(refuse(
                    "channels",
                    format!("{c} needs a provider in [channels]"),
                )));
            }
        }
        if d.send_on.trim().parse::<jiff::civil::Date>().is_err() {
            return Ok(Err(refuse("send_on", "a date as YYYY-MM-DD")));
        }
        if d.local_time.trim().parse::<jiff::civil::Time>().is_err() {
            return Ok(Err(refuse("local_time", "a time as HH:MM")));
        }
        let holdout = match d.holdout_percent.trim().parse::<f64>() {
            Ok(p) if (0.0..=50.0).contains(&p) => p / 100.0,
            _ => return Ok(Err(refuse("holdout_percent", "a number from 0 to 50"))),
        };
        let days = match d.attribution_days.trim().parse::<i32>() {
            Ok(n) if (1..=90).contains(&n) => n,
            _ => {
                return Ok(Err(refuse(
                    "attribution_days",
                    "a whole number of days from 1 to 90",
                )));
            }
        };
        let coupon_pool = match self.check_coupon_pool(d.template.trim(), d.coupon_pool.trim()) {
            Ok(pool) => pool,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(audience) = tx.audience(d.audience_id.trim()).await? else {
            return Ok(Err(refuse(
                "audience",
                format!("no audience '{}'", d.audience_id.trim()),
            )));
        };
        let channels = channels.join(",");
        let new = aftercare_store::NewCampaign {
            name,
            template: d.template.trim(),
            audience: (&audience.id, audience.version),
            class,
            channels: &channels,
            send_on: d.send_on.trim(),
            local_time: d.local_time.trim(),
            holdout,
            attribution_days: days,
            coupon_pool,
            created_by: by,
        };
        let id = tx.insert_campaign(&new, now).await?;
        tx.audit(
            by,
            "campaign.create",
            &format!("campaign:{id}"),
            None,
            Some(&serde_json::json!({"name": name, "template": new.template, "audience": audience.id,
                "coupon_pool": coupon_pool}).to_string()),
            now,
        )
        .await?;
        Ok(Ok(id))
    }

    /// The coupon pool a campaign's recipients get their codes from: one that is
    /// configured, and given exactly when the template shows a coupon — a template that
    /// shows `{{ coupon.code }}` sent without one would print a blank code, and a code
    /// nobody sees is not worth issuing.
    pub(crate) fn check_coupon_pool<'p>(
        &self,
        template: &str,
        pool: &'p str,
    ) -> Result<Option<&'p str>, Refusal> {
        let shows = self.renderer().template_uses(template, "coupon");
        let pools = || {
            self.loyalty()
                .pools
                .iter()
                .map(|p| format!("{} ({})", p.id, p.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (pool, shows) {
            ("", false) => Ok(None),
            ("", true) => Err(refuse(
                "coupon_pool",
                format!(
                    "template '{template}' shows a coupon code: choose the pool each recipient's own code comes from: {}",
                    pools()
                ),
            )),
            (_, false) => Err(refuse(
                "coupon_pool",
                format!(
                    "template '{template}' shows no {{{{ coupon.code }}}}: a code nobody sees is not issued; leave the pool empty or choose a template that shows it"
                ),
            )),
            (id, true) => match self.loyalty().pool(id) {
                Some(_) => Ok(Some(id)),
                None => Err(refuse(
                    "coupon_pool",
                    format!("no pool '{id}'; configured are {}", pools()),
                )),
            },
        }
    }

    /// Schedules a draft (audited): its audience's current version is pinned and its
    /// planning job is due at the first moment its send time is reached anywhere.
    pub async fn schedule_campaign(
        &self,
        id: CampaignId,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let now = self.clock().now();
        // Checked on what is read now (the audience is counted outside the write, which
        // then moves the campaign only from draft: a second click changes nothing).
        let mut tx = self.store().begin_read().await?;
        let c = tx.campaign(id).await?;
        let audience = tx.audience(&c.audience_id).await?;
        tx.commit().await?;
        if c.state != CampaignState::Draft {
            return Ok(Err(refuse(
                "state",
                format!("it is {}, not a draft", c.state),
            )));
        }
        let Some(audience) = audience else {
            return Ok(Err(refuse("audience", "it no longer exists")));
        };
        let condition = match parse_audience(&audience.definition) {
            Ok(condition) => condition,
            Err(e) => return Ok(Err(refuse("audience", e))),
        };
        let Some(first) = first_send(&c) else {
            return Ok(Err(refuse("send_on", "not a day and time")));
        };
        // The last place on earth where the send time is still to come.
        let latest = jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(-12));
        if local_send(&c, &latest).is_none_or(|t| t <= now) {
            return Ok(Err(refuse("send_on", "that day and time have passed")));
        }
        // Somebody must be in it, and for each member the time must still be to come where
        // they live: a campaign at 10:00 never goes out at 14:40 local.
        let count = self.count_audience_for(&condition, 0, Some(&c)).await?;
        if count.members == 0 {
            return Ok(Err(refuse(
                "audience",
                format!("nobody is in '{}' now", c.audience_id),
            )));
        }
        if let (n @ 1.., Some(zone)) = count.passed {
            return Ok(Err(refuse(
                "local_time",
                format!(
                    "{} {} has already passed for {n} of its {} members (in {zone}, among others); choose a later time or day",
                    c.send_on, c.local_time, count.members
                ),
            )));
        }
        let mut tx = self.store().begin().await?;
        let moved = tx
            .set_campaign_state(
                id,
                CampaignState::Draft,
                CampaignState::Scheduled,
                Some(audience.version),
            )
            .await?;
        if !moved {
            return Ok(Err(refuse("state", "it is no longer a draft")));
        }
        tx.insert_job(JobKind::Campaign, id, first.max(now), now)
            .await?;
        tx.audit(
            by,
            "campaign.schedule",
            &format!("campaign:{id}"),
            Some(&serde_json::json!({"state": "draft"}).to_string()),
            Some(
                &serde_json::json!({"state": "scheduled", "audience_version": audience.version})
                    .to_string(),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake();
        Ok(Ok(()))
    }

    /// Cancels a campaign (audited): it plans nobody more, and its messages not yet sent
    /// are blocked when their time comes.
    pub async fn cancel_campaign(
        &self,
        id: CampaignId,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        let c = tx.campaign(id).await?;
        if c.state == CampaignState::Cancelled {
            return Ok(Err(refuse("state", "it is already cancelled")));
        }
        tx.set_campaign_state(id, c.state, CampaignState::Cancelled, None)
            .await?;
        // What has not started going is blocked now (a letter already in the print batch
        // goes: the batch is the printer's).
        tx.block_campaign_messages(id, "blocked: the campaign was cancelled", now)
            .await?;
        tx.audit(
            by,
            "campaign.cancel",
            &format!("campaign:{id}"),
            Some(&serde_json::json!({"state": c.state}).to_string()),
            Some(&serde_json::json!({"state": "cancelled"}).to_string()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// A campaign's results so far.
    pub async fn campaign_results(&self, c: &Campaign) -> Result<Results, EngineError> {
        let window = SignedDuration::from_hours(24 * i64::from(c.attribution_days.max(1)));
        let mut tx = self.store().begin_read().await?;
        let outcomes = tx
            .campaign_outcomes(c.id, window.as_micros().try_into().unwrap_or(i64::MAX))
            .await?;
        let (issued, used) = tx.campaign_codes(c.id).await?;
        tx.commit().await?;
        let mut results = Results {
            codes_issued: u64::try_from(issued).unwrap_or(0),
            codes_used: u64::try_from(used).unwrap_or(0),
            ..Results::default()
        };
        let (mut treated, mut held) = (
            aftercare_insight::uplift::Sums::default(),
            aftercare_insight::uplift::Sums::default(),
        );
        for o in outcomes {
            results.recipients += 1;
            #[allow(clippy::cast_precision_loss)]
            let revenue = o.revenue_cents as f64 / 100.0;
            if o.holdout {
                results.holdout += 1;
                held.add(o.orders > 0, revenue);
                continue;
            }
            treated.add(o.orders > 0, revenue);
            if let Some(state) = &o.state {
                *results.states.entry(state.clone()).or_default() += 1;
                if state != "sent"
                    && let Some(code) = &o.reason_code
                {
                    *results.reasons.entry(code.clone()).or_default() += 1;
                }
            }
            results.clicked += u64::from(o.clicked);
            results.attributed_orders += u64::try_from(o.orders_credited).unwrap_or(0);
            results.attributed_revenue_cents += o.revenue_credited_cents;
        }
        results.uplift = aftercare_insight::uplift::uplift_of(&treated, &held);
        Ok(results)
    }
}

/// Whether a message is a campaign's (no enrolment, no programme, the campaign's step key).
pub fn is_campaign_message(m: &aftercare_store::Message) -> bool {
    m.enrolment_id.is_none() && m.programme_id.is_none() && m.step_key.starts_with("campaign-")
}

/// The key a campaign's holdout and messages are stable under.
pub fn holdout_key(id: CampaignId) -> String {
    format!("campaign-{id}")
}

/// The classes a campaign may have: never transactional, which needs no consent and
/// counts toward no band — a campaign is never a way around them.
pub const CLASSES: [MessageClass; 3] = [
    MessageClass::Promotional,
    MessageClass::Relationship,
    MessageClass::Service,
];

/// A campaign's class (promotional unless it names another of [`CLASSES`]).
pub fn class_of(s: &str) -> MessageClass {
    CLASSES
        .into_iter()
        .find(|c| c.as_str() == s)
        .unwrap_or(MessageClass::Promotional)
}

/// A campaign's channels in order of preference (email when none parse).
pub fn channels_of(s: &str) -> Vec<Channel> {
    let parsed: Vec<Channel> = s
        .split(',')
        .filter_map(|c| Channel::parse(c.trim()))
        .collect();
    if parsed.is_empty() {
        vec![Channel::Email]
    } else {
        parsed
    }
}

/// The policy a campaign chooses its channels by: the brand's channel rules (CH2) may
/// reorder the campaign's own channels for a segment, never add one — a campaign the team
/// sends by email does not become a printed letter. A rule with none of them drops out.
pub fn channel_policy<'p>(
    channels: &[Channel],
    policy: &'p policy::PolicyConfig,
) -> std::borrow::Cow<'p, policy::PolicyConfig> {
    let narrowed: Vec<policy::ChannelRule> = policy
        .channel_rules
        .iter()
        .filter_map(|rule| {
            let kept: Vec<Channel> = rule
                .channels
                .iter()
                .copied()
                .filter(|c| channels.contains(c))
                .collect();
            (!kept.is_empty()).then(|| policy::ChannelRule {
                channels: kept,
                ..rule.clone()
            })
        })
        .collect();
    if narrowed == policy.channel_rules {
        return std::borrow::Cow::Borrowed(policy);
    }
    let mut owned = policy.clone();
    owned.channel_rules = narrowed;
    std::borrow::Cow::Owned(owned)
}

/// The channel a campaign's message to `customer` is planned on, by [`channel_policy`].
pub fn campaign_channel(
    channels: &[Channel],
    class: MessageClass,
    customer: &aftercare_domain::CustomerRecord,
    channel_policy: &policy::PolicyConfig,
) -> Channel {
    policy::choose_channel_for(
        channels,
        class,
        customer,
        Reach::unknown(),
        &[],
        channel_policy,
    )
    .channel
}

/// What the policy is asked about a campaign's message, as `deliver` asks it.
fn intent(
    c: &Campaign,
    class: MessageClass,
    channel: Channel,
    at: Timestamp,
    coupon_valid_until: Option<Timestamp>,
) -> Intent {
    let (moment, repeat_days) = crate::interpret::policy_terms(None, &holdout_key(c.id));
    Intent {
        class,
        priority: policy::Priority::Low,
        channel,
        planned_at: at,
        coupon_valid_until,
        topic: Topic::of(&c.template),
        repeat_days,
        moment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftercare_domain::CustomerRecord;
    use serde_json::json;

    #[test]
    fn a_channel_rule_reorders_a_campaign_s_channels_but_never_adds_a_letter() {
        let customer: CustomerRecord = serde_json::from_value(json!({
            "external_id": "C1", "email": "c@example.nl", "time_zone": "Europe/Amsterdam",
            "first_name": "Jan", "last_name": "de Vries",
            "attributes": {"segment": "letterbox"},
            "postal_address": {"street": "Kerkstraat", "house_number": "12",
                               "postcode": "1012 AB", "city": "Amsterdam", "country": "NL"},
            "consents": [{"purpose": "marketing", "channel": "email", "granted": true,
                          "source": "checkout", "at": "2020-01-01T00:00:00Z"}],
        }))
        .unwrap();
        let config = policy::PolicyConfig {
            channel_rules: vec![policy::ChannelRule {
                segment: Some("letterbox".into()),
                category: None,
                channels: vec![Channel::Letter],
                only: false,
            }],
            ..Default::default()
        };
        let class = MessageClass::Promotional;
        // The programme's way: the segment's rule puts the letter first.
        let chosen = policy::choose_channel_for(
            &[Channel::Email],
            class,
            &customer,
            Reach::unknown(),
            &[],
            &config,
        );
        assert_eq!(chosen.channel, Channel::Letter);
        // A campaign sent by email stays email; one by email or letter takes the rule's order.
        let email = [Channel::Email];
        let by = channel_policy(&email, &config);
        assert_eq!(
            campaign_channel(&email, class, &customer, &by),
            Channel::Email
        );
        let both = [Channel::Email, Channel::Letter];
        let by = channel_policy(&both, &config);
        assert!(
            matches!(by, std::borrow::Cow::Borrowed(_)),
            "nothing to narrow"
        );
        assert_eq!(
            campaign_channel(&both, class, &customer, &by),
            Channel::Letter
        );
    }
}
