//! Saved audiences (versioned conditions) and one-off campaigns with their recipients
//! (issue 21), and what audience evaluation reads for a page of customers at once.

use crate::CustomerId;
use crate::MessageId;
use aftercare_domain::policy::Priority;
use jiff::Timestamp;

use super::Tx;
use crate::{CampaignState, OrderStats, Result, Scores, StoreError, from_micros, micros};

/// A saved audience: a condition on the customer and their stats.
#[derive(Debug, Clone)]
pub struct Audience {
    /// Its id (a slug).
    pub id: String,
    /// What the team calls it.
    pub name: String,
    /// The current version, from 1.
    pub version: i32,
    /// The condition (CEL).
    pub definition: String,
    /// Who saved it last.
    pub updated_by: String,
    /// When.
    pub updated_at: Timestamp,
}

/// One version of an audience's definition.
#[derive(Debug, Clone)]
pub struct AudienceVersion {
    /// Its number.
    pub version: i32,
    /// The condition.
    pub definition: String,
    /// Who wrote it.
    pub author: String,
    /// When.
    pub created_at: Timestamp,
}

/// A campaign as stored.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Its id.
    pub id: crate::CampaignId,
    /// What the team calls it.
    pub name: String,
    /// The template it sends.
    pub template: String,
    /// Its audience.
    pub audience_id: String,
    /// The audience's version it was (or will be) sent to.
    pub audience_version: i32,
    /// `marketing` or `relationship`.
    pub class: String,
    /// Channels in order of preference, comma-separated.
    pub channels: String,
    /// The day it goes out (`YYYY-MM-DD`), in each customer's time zone.
    pub send_on: String,
    /// The local time it goes out (`HH:MM`).
    pub local_time: String,
    /// The share held out, 0–0.5.
    pub holdout: f64,
    /// Days after the send in which an order counts for it.
    pub attribution_days: i32,
    /// Where it is.
    pub state: CampaignState,
    /// The last customer id its planning has passed.
    pub cursor_id: CustomerId,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// When its planning finished.
    pub planned_at: Option<Timestamp>,
    /// The coupon pool each recipient gets a personal code from, if any.
    pub coupon_pool: Option<String>,
}

/// A campaign to store.
#[derive(Debug, Clone)]
pub struct NewCampaign<'a> {
    /// What the team calls it.
    pub name: &'a str,
    /// The template.
    pub template: &'a str,
    /// The audience and its version.
    pub audience: (&'a str, i32),
    /// `marketing` or `relationship`.
    pub class: &'a str,
    /// Channels, comma-separated.
    pub channels: &'a str,
    /// The day.
    pub send_on: &'a str,
    /// The local time.
    pub local_time: &'a str,
    /// The holdout share.
    pub holdout: f64,
    /// The attribution window in days.
    pub attribution_days: i32,
    /// The coupon pool each recipient gets a code from, if any.
    pub coupon_pool: Option<&'a str>,
    /// Who.
    pub created_by: &'a str,
}

/// A member a page of a campaign's planning reached.
#[derive(Debug, Clone)]
pub struct PlannedRecipient {
    /// The customer.
    pub customer_id: CustomerId,
    /// Held out (no message).
    pub holdout: bool,
    /// Their local send time.
    pub planned_for: Timestamp,
    /// The channel chosen for them.
    pub channel: aftercare_domain::Channel,
}

/// What every message of a campaign shares.
#[derive(Debug, Clone)]
pub struct CampaignMessage<'a> {
    /// Its step key (`campaign-<id>`).
    pub step_key: &'a str,
    /// The template.
    pub template: &'a str,
    /// The class.
    pub class: aftercare_domain::MessageClass,
    /// The priority.
    pub priority: Priority,
    /// Why it was made, in words.
    pub reason: &'a str,
    /// What it is about.
    pub topic: &'a str,
}

/// One recipient's outcome for a campaign's results.
#[derive(Debug, Clone)]
pub struct RecipientOutcome {
    /// Held out.
    pub holdout: bool,
    /// The message's state, when one was made.
    pub state: Option<String>,
    /// Why it was blocked or held (the policy's code), if it was.
    pub reason_code: Option<String>,
    /// Its links were clicked.
    pub clicked: bool,
    /// Orders in the attribution window after the planned send.
    pub orders: i64,
    /// Their value in cents.
    pub revenue_cents: i64,
    /// Orders in the window after the message's first click — after its sending, for a
    /// letter — credited to it.
    pub orders_credited: i64,
    /// Their value in cents.
    pub revenue_credited_cents: i64,
}

type AudienceRow = (String, String, i32, String, String, i64);

fn audience(row: AudienceRow) -> Result<Audience> {
    let (id, name, version, definition, updated_by, at) = row;
    Ok(Audience {
        id,
        name,
        version,
        definition,
        updated_by,
        updated_at: from_micros(at)?,
    })
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: crate::CampaignId,
    name: String,
    template: String,
    audience_id: String,
    audience_version: i32,
    class: String,
    channels: String,
    send_on: String,
    local_time: String,
    holdout: f64,
    attribution_days: i32,
    state: String,
    cursor_id: CustomerId,
    created_by: String,
    created_at: i64,
    planned_at: Option<i64>,
    coupon_pool: Option<String>,
}

const CAMPAIGN_COLUMNS: &str =
    "id, name, template, audience_id, audience_version, class, channels, send_on, local_time,
    holdout, attribution_days, state, cursor_id, created_by, created_at, planned_at, coupon_pool";

fn campaign(row: CampaignRow) -> Result<Campaign> {
    Ok(Campaign {
        id: row.id,
        name: row.name,
        template: row.template,
        audience_id: row.audience_id,
        audience_version: row.audience_version,
        class: row.class,
        channels: row.channels,
        send_on: row.send_on,
        local_time: row.local_time,
        holdout: row.holdout,
        attribution_days: row.attribution_days,
        state: CampaignState::named(&row.state),
        cursor_id: row.cursor_id,
        created_by: row.created_by,
        created_at: from_micros(row.created_at)?,
        planned_at: row.planned_at.map(from_micros).transpose()?,
        coupon_pool: row.coupon_pool,
    })
}

impl Tx {
    /// Every saved audience, by name.
    pub async fn audiences(&mut self) -> Result<Vec<Audience>> {
        let rows: Vec<AudienceRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, name, version, definition, updated_by, updated_at FROM audiences ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(audience).collect()
    }

    /// One audience.
    pub async fn audience(&mut self, id: &str) -> Result<Option<Audience>> {
        let row: Option<AudienceRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, name, version, definition, updated_by, updated_at FROM audiences WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(audience).transpose()
    }

    /// Saves an audience: a new one at version 1, or its next version when the definition
    /// changed (a new name alone keeps the version). Returns the version.
    pub async fn save_audience(
        &mut self,
        id: &str,
        name: &str,
        definition: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<i32> {
        let current = self.audience(id).await?;
        let version = match &current {
            Some(a) if a.definition == definition => a.version,
            Some(a) => a.version + 1,
            // A deleted audience's versions stay (a campaign sent to one still names it):
            // made again under its id, it goes on from the last.
            None => {
                let last: Option<i32> = on_tx!(self, c => sqlx::query_scalar(
                    "SELECT MAX(version) FROM audience_versions WHERE audience_id = $1",
                )
                .bind(id)
                .fetch_one(&mut *c)
                .await?);
                last.unwrap_or(0) + 1
            }
        };
        if current.as_ref().is_none_or(|a| a.version != version) {
            on_tx!(self, c => sqlx::query(
                "INSERT INTO audience_versions (audience_id, version, definition, author, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(version)
            .bind(definition)
            .bind(by)
            .bind(micros(now))
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
        on_tx!(self, c => sqlx::query(
            "INSERT INTO audiences (id, name, version, definition, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = $2, version = $3, definition = $4, updated_by = $5, updated_at = $6",
        )
        .bind(id)
        .bind(name)
        .bind(version)
        .bind(definition)
        .bind(by)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(version)
    }

    /// Deletes an audience (its versions stay, for the campaigns sent to them).
    pub async fn delete_audience(&mut self, id: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM audiences WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// Deletes a campaign that is still a draft; `false` when it is not (any more).
    pub async fn delete_draft_campaign(&mut self, id: crate::CampaignId) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM campaigns WHERE id = $1 AND state = 'draft'")
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// Every version of an audience, newest first.
    pub async fn audience_versions(&mut self, id: &str) -> Result<Vec<AudienceVersion>> {
        let rows: Vec<(i32, String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT version, definition, author, created_at FROM audience_versions
             WHERE audience_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(version, definition, author, at)| {
                Ok(AudienceVersion {
                    version,
                    definition,
                    author,
                    created_at: from_micros(at)?,
                })
            })
            .collect()
    }

    /// Order figures of the customers with ids in `from..=to`, by customer.
    pub async fn order_stats_of_customers(
        &mut self,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<Vec<(CustomerId, OrderStats)>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(CustomerId, i64, i64, Option<i64>, Option<i64>)> = on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, COUNT(*), CAST(COALESCE(SUM(total_cents), 0) AS BIGINT), MAX(placed_at), MIN(placed_at)
             FROM orders WHERE customer_id BETWEEN $1 AND $2 GROUP BY customer_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, n, total, last, first)| {
                Ok((
                    id,
                    OrderStats {
                        orders_count: n,
                        total_spent_cents: total,
                        last_order_at: last.map(from_micros).transpose()?,
                        first_order_at: first.map(from_micros).transpose()?,
                    },
                ))
            })
            .collect()
    }

    /// The daily scores of the customers with ids in `from..=to`.
    pub async fn scores_of_customers(
        &mut self,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<Vec<Scores>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, rfm_r, rfm_f, rfm_m, rfm_segment, p_alive, expected_purchases_90d,
                    clv_12m_cents FROM customer_scores WHERE customer_id BETWEEN $1 AND $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Stores a campaign as a draft; returns its id.
    pub async fn insert_campaign(
        &mut self,
        c_: &NewCampaign<'_>,
        now: Timestamp,
    ) -> Result<crate::CampaignId> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO campaigns (name, template, audience_id, audience_version, class, channels, send_on,
                local_time, holdout, attribution_days, state, created_by, created_at, coupon_pool)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', $11, $12, $13) RETURNING id",
        )
        .bind(c_.name)
        .bind(c_.template)
        .bind(c_.audience.0)
        .bind(c_.audience.1)
        .bind(c_.class)
        .bind(c_.channels)
        .bind(c_.send_on)
        .bind(c_.local_time)
        .bind(c_.holdout)
        .bind(c_.attribution_days)
        .bind(c_.created_by)
        .bind(micros(now))
        .bind(c_.coupon_pool)
        .fetch_one(&mut *c)
        .await?))
    }

    /// One campaign.
    pub async fn campaign(&mut self, id: crate::CampaignId) -> Result<Campaign> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        let row: Option<CampaignRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        campaign(row.ok_or_else(|| StoreError::NotFound(format!("campaign {id}")))?)
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&mut self) -> Result<Vec<Campaign>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC");
        let rows: Vec<CampaignRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(campaign).collect()
    }

    /// Moves a campaign from one state to another (and its audience version, when
    /// scheduling pins it); false when it was not in `from`.
    pub async fn set_campaign_state(
        &mut self,
        id: crate::CampaignId,
        from: CampaignState,
        to: CampaignState,
        audience_version: Option<i32>,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE campaigns SET state = $3, audience_version = COALESCE($4, audience_version)
             WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(audience_version)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n > 0)
    }

    /// Blocks a cancelled campaign's messages that have not started going (with their
    /// transitions), so its page shows at once what will not go; their delivery jobs then
    /// find them blocked. Returns how many.
    pub async fn block_campaign_messages(
        &mut self,
        campaign_id: crate::CampaignId,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let planned = aftercare_domain::MessageState::Planned.as_str();
        let blocked = aftercare_domain::MessageState::Blocked.as_str();
        on_tx!(self, c => sqlx::query(
            "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at)
             SELECT m.id, $2, $3, 'campaign_cancelled', $4, $5
             FROM campaign_recipients r JOIN messages m ON m.id = r.message_id
             WHERE r.campaign_id = $1 AND m.state = $2",
        )
        .bind(campaign_id)
        .bind(planned)
        .bind(blocked)
        .bind(reason)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(on_tx!(self, c => sqlx::query(
            "UPDATE messages SET state = $3, reason = $4
             WHERE state = $2
               AND id IN (SELECT message_id FROM campaign_recipients WHERE campaign_id = $1)",
        )
        .bind(campaign_id)
        .bind(planned)
        .bind(blocked)
        .bind(reason)
        .execute(&mut *c)
        .await?
        .rows_affected()))
    }

    /// Records how far a campaign's planning got, and whether it is done.
    pub async fn advance_campaign(
        &mut self,
        id: crate::CampaignId,
        cursor_id: CustomerId,
        done_at: Option<Timestamp>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE campaigns SET cursor_id = $2, planned_at = $3,
                state = CASE WHEN $3 IS NULL THEN $4 ELSE $5 END
             WHERE id = $1 AND state IN ($6, $4)",
        )
        .bind(id)
        .bind(cursor_id)
        .bind(done_at.map(micros))
        .bind(CampaignState::Planning.as_str())
        .bind(CampaignState::Planned.as_str())
        .bind(CampaignState::Scheduled.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The campaign a message belongs to, if it belongs to one.
    pub async fn campaign_of_message(&mut self, message_id: MessageId) -> Result<Option<Campaign>> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns
             WHERE id = (SELECT campaign_id FROM campaign_recipients WHERE message_id = $1)"
        );
        let row: Option<CampaignRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(message_id)
            .fetch_optional(&mut *c)
            .await?);
        row.map(campaign).transpose()
    }

    /// How many personal codes a campaign's sent messages carried, and how many of those
    /// were used in an order.
    pub async fn campaign_codes(&mut self, campaign_id: crate::CampaignId) -> Result<(i64, i64)> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN k.uses > 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM campaign_recipients r JOIN coupons k ON k.message_id = r.message_id
             JOIN messages m ON m.id = r.message_id
             WHERE r.campaign_id = $1 AND m.state = 'sent'",
        )
        .bind(campaign_id)
        .fetch_one(&mut *c)
        .await?))
    }

    /// Each recipient's outcome: the message's state and reason, clicks, and orders in the
    /// attribution window (`window_us`) after the planned send and after the send itself.
    pub async fn campaign_outcomes(
        &mut self,
        campaign_id: crate::CampaignId,
        window_us: i64,
    ) -> Result<Vec<RecipientOutcome>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            bool,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
            i64,
            i64,
        )> = on_tx!(self, c => sqlx::query_as(
            "SELECT r.holdout, m.state,
                (SELECT t.code FROM message_transitions t WHERE t.message_id = m.id
                 ORDER BY t.id DESC LIMIT 1),
                (SELECT COUNT(*) FROM link_clicks k WHERE k.message_id = r.message_id),
                (SELECT COUNT(*) FROM orders o WHERE o.customer_id = r.customer_id
                   AND o.placed_at >= r.planned_for AND o.placed_at < r.planned_for + $2),
                (SELECT CAST(COALESCE(SUM(o.total_cents), 0) AS BIGINT) FROM orders o WHERE o.customer_id = r.customer_id
                   AND o.placed_at >= r.planned_for AND o.placed_at < r.planned_for + $2),
                (SELECT COUNT(*) FROM orders o WHERE o.customer_id = r.customer_id AND m.state = 'sent'
                   AND o.placed_at >= m.credited_from AND o.placed_at < m.credited_from + $2),
                (SELECT CAST(COALESCE(SUM(o.total_cents), 0) AS BIGINT) FROM orders o WHERE o.customer_id = r.customer_id
                   AND m.state = 'sent' AND o.placed_at >= m.credited_from AND o.placed_at < m.credited_from + $2)
             FROM campaign_recipients r LEFT JOIN (
                 SELECT m.id, m.state, m.sent_at,
                        CASE WHEN m.channel = 'letter' THEN m.sent_at
                             ELSE (SELECT MIN(k.at) FROM link_clicks k WHERE k.message_id = m.id) END AS credited_from
                 FROM messages m) m ON m.id = r.message_id
             WHERE r.campaign_id = $1",
        )
        .bind(campaign_id)
        .bind(window_us)
        .fetch_all(&mut *c)
        .await?);
        Ok(rows
            .into_iter()
            .map(
                |(holdout, state, reason_code, clicks, orders, revenue, after, after_revenue)| {
                    RecipientOutcome {
                        holdout,
                        state,
                        reason_code,
                        clicked: clicks > 0,
                        orders,
                        revenue_cents: revenue,
                        orders_credited: after,
                        revenue_credited_cents: after_revenue,
                    }
                },
            )
            .collect())
    }

    /// A campaign's messages: (customer id, message id, state, reason), by customer.
    pub async fn campaign_messages(
        &mut self,
        campaign_id: crate::CampaignId,
    ) -> Result<Vec<(CustomerId, i64, String, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT r.customer_id, m.id, m.state, m.reason FROM campaign_recipients r
             JOIN messages m ON m.id = r.message_id WHERE r.campaign_id = $1 ORDER BY r.customer_id",
        )
        .bind(campaign_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Records a page of a campaign's recipients and plans the messages of those not held
    /// out, each with its `deliver` job at their local send time — a handful of statements
    /// for the page, not several per customer. A customer already a recipient fails the
    /// whole page (it was planned by a worker that lost its lease), so nothing is planned
    /// twice. Returns how many messages were planned.
    pub async fn plan_campaign_page(
        &mut self,
        campaign_id: crate::CampaignId,
        recipients: &[PlannedRecipient],
        message: &CampaignMessage<'_>,
        now: Timestamp,
    ) -> Result<usize> {
        // Bind parameters stay far below both backends' limits (12 per message row).
        let treated: Vec<&PlannedRecipient> = recipients.iter().filter(|r| !r.holdout).collect();
        let mut planned: Vec<(i64, CustomerId, i64)> = Vec::with_capacity(treated.len());
        for chunk in treated.chunks(500) {
            let rows: Vec<(i64, CustomerId, i64)> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO messages (customer_id, enrolment_id, step_key, programme_id, template,
                                           class, channel, state, reason, planned_at, priority, topic) ",
                );
                q.push_values(chunk, |mut row, r| {
                    row.push_bind(r.customer_id)
                        .push_bind(None::<i64>)
                        .push_bind(message.step_key)
                        .push_bind(None::<String>)
                        .push_bind(message.template)
                        .push_bind(message.class.as_str())
                        .push_bind(r.channel.as_str())
                        .push_bind("planned")
                        .push_bind(message.reason)
                        .push_bind(micros(r.planned_for))
                        .push_bind(message.priority.as_str())
                        .push_bind(message.topic);
                });
                q.push(" RETURNING id, customer_id, planned_at");
                q.build_query_as().fetch_all(&mut *c).await?
            });
            planned.extend(rows);
        }
        // The recipients with their messages; a customer already a recipient fails the page
        // (and with it the messages above).
        let message_of: std::collections::HashMap<CustomerId, i64> = planned
            .iter()
            .map(|(id, customer, _)| (*customer, *id))
            .collect();
        for chunk in recipients.chunks(500) {
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO campaign_recipients (campaign_id, customer_id, holdout, message_id, planned_for) ",
                );
                q.push_values(chunk, |mut row, r| {
                    row.push_bind(campaign_id)
                        .push_bind(r.customer_id)
                        .push_bind(r.holdout)
                        .push_bind(message_of.get(&r.customer_id).copied())
                        .push_bind(micros(r.planned_for));
                });
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        for chunk in planned.chunks(1000) {
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at) ",
                );
                q.push_values(chunk, |mut row, (id, _, _)| {
                    row.push_bind(*id)
                        .push_bind(None::<String>)
                        .push_bind("planned")
                        .push_bind(None::<String>)
                        .push_bind(message.reason)
                        .push_bind(micros(now));
                });
                q.build().execute(&mut *c).await?.rows_affected()
            });
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO jobs (kind, ref_id, run_at, created_at) ");
                q.push_values(chunk, |mut row, (id, _, at)| {
                    row.push_bind(crate::JobKind::Deliver.as_str())
                        .push_bind(*id)
                        .push_bind(*at)
                        .push_bind(micros(now));
                });
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(planned.len())
    }

    /// Orders placed since `since`, each with the message it is credited to, if any: the
    /// customer's latest non-transactional message whose credit moment — its first click,
    /// or its sending for a letter — lies within `window_us` before the order.
    pub async fn credited_orders(
        &mut self,
        since: Timestamp,
        window_us: i64,
    ) -> Result<Vec<(i64, Option<i64>)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT o.total_cents, (
                 SELECT m.id FROM messages m
                 WHERE m.customer_id = o.customer_id AND m.state = 'sent' AND m.class <> 'transactional'
                   AND m.sent_at <= o.placed_at AND m.sent_at > o.placed_at - $2
                   AND (m.channel = 'letter' OR EXISTS (
                        SELECT 1 FROM link_clicks k WHERE k.message_id = m.id
                          AND k.at <= o.placed_at AND k.at > o.placed_at - $2))
                 ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)
             FROM orders o WHERE o.placed_at >= $1",
        )
        .bind(micros(since))
        .bind(window_us)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Non-transactional messages sent since `since` by where they came from — a programme,
    /// or a campaign's step key — with how many were clicked:
    /// (programme id, step key, sent, clicked).
    pub async fn sent_by_source(
        &mut self,
        since: Timestamp,
    ) -> Result<Vec<(Option<String>, String, i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT m.programme_id, CASE WHEN m.programme_id IS NULL THEN m.step_key ELSE '' END,
                    COUNT(*), COUNT(DISTINCT k.message_id)
             FROM messages m LEFT JOIN link_clicks k ON k.message_id = m.id
             WHERE m.state = 'sent' AND m.class <> 'transactional' AND m.sent_at >= $1
             GROUP BY 1, 2",
        )
        .bind(micros(since))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Where messages came from: (id, programme id, step key).
    pub async fn message_sources(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<String>, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let rows: Vec<(i64, Option<String>, String)> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new("SELECT id, programme_id, step_key FROM messages WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_as().fetch_all(&mut *c).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}
