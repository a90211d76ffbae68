//! Daily relationship scores per customer (WB1, RT2), and the order rows they are made of.

use crate::CustomerId;
use jiff::Timestamp;
use serde::Serialize;

use super::Tx;
use crate::{Result, micros};

/// A customer's scores as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Scores {
    /// The customer (internal id).
    #[serde(skip)]
    pub customer_id: CustomerId,
    /// Recency score 1–5.
    pub rfm_r: i32,
    /// Frequency score 1–5.
    pub rfm_f: i32,
    /// Monetary score 1–5.
    pub rfm_m: i32,
    /// The named RFM segment.
    pub rfm_segment: String,
    /// Probability the customer is still active (BG/NBD), when the model could be fitted.
    pub p_alive: Option<f64>,
    /// Expected purchases in the next 90 days.
    pub expected_purchases_90d: Option<f64>,
    /// Value of the next 12 months, in cents.
    pub clv_12m_cents: Option<i64>,
}

/// A job set aside after failing too often (a dead letter).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeadJob {
    /// The job's id (retry it with `POST /v1/dead-jobs/{id}/retry`).
    pub id: crate::JobId,
    /// `event`, `step`, `deliver`, `calendar` or `referral`.
    pub kind: String,
    /// The event, enrolment, message or referral it is about.
    pub ref_id: i64,
    /// How often it was tried.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was set aside.
    #[serde(skip)]
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub dead_at: Option<Timestamp>,
}

/// A stored "also bought" rule (OF2).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AlsoBought {
    /// The product bought.
    pub sku: String,
    /// The product also bought.
    pub other_sku: String,
    /// Orders with both.
    pub pair_orders: i64,
    /// Share of all orders with both.
    pub support: f64,
    /// Share of `sku`'s orders that also have `other_sku`.
    pub confidence: f64,
    /// How much more likely `other_sku` is with `sku` than in general.
    pub lift: f64,
}

impl Tx {
    /// Every enrolment with a goal whose window has closed or whose goal was reached, as
    /// (programme, holdout, converted, revenue in cents from orders in the window).
    pub async fn goal_outcomes(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<(String, bool, bool, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT e.programme_id, e.holdout, e.goal_reached_at IS NOT NULL AS converted,
                    CAST(COALESCE(SUM(o.total_cents), 0) AS BIGINT) AS revenue
             FROM enrolments e
             LEFT JOIN orders o ON o.customer_id = e.customer_id
                  AND o.placed_at > e.started_at AND o.placed_at <= e.goal_deadline
             WHERE e.goal_deadline IS NOT NULL
               AND (e.goal_deadline <= $1 OR e.goal_reached_at IS NOT NULL)
             GROUP BY e.id, e.programme_id, e.holdout, e.goal_reached_at
             ORDER BY e.programme_id",
        )
        .bind(micros(now))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Referrals by state (pending, ordered, rewarded, void).
    pub async fn referral_counts(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT state, COUNT(*) FROM referrals GROUP BY state ORDER BY state",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Customers who did something with their points since `since` beyond buying: earned
    /// for an action, a programme or the team, or spent on a reward.
    pub async fn loyalty_engaged_since(&mut self, since: Timestamp) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(DISTINCT customer_id) FROM loyalty_entries
             WHERE at > $1 AND (kind = 'redeem' OR (kind = 'earn' AND entry_key NOT LIKE 'order%'))",
        )
        .bind(micros(since))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Jobs set aside after failing too often, newest first: (id, kind, ref id, attempts,
    /// last error, dead since).
    pub async fn dead_jobs(&mut self, limit: i64) -> Result<Vec<DeadJob>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, kind, ref_id, attempts, last_error, dead_at FROM jobs
             WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Puts a dead job back in the queue, due at `now`, with its attempts reset; `false`
    /// when there is no dead job with this id.
    pub async fn revive_job(&mut self, id: crate::JobId, now: Timestamp) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET dead_at = NULL, attempts = 0, run_at = $1, locked_until = NULL,
                 locked_by = NULL WHERE id = $2 AND dead_at IS NOT NULL",
        )
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Every order's products as (order id, sku), by order.
    pub async fn order_baskets(&mut self) -> Result<Vec<(i64, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT order_id, sku FROM order_lines ORDER BY order_id, sku",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Replaces every "also bought" rule.
    pub async fn replace_also_bought(&mut self, rules: &[AlsoBought]) -> Result<()> {
        on_tx!(self, c => sqlx::query("DELETE FROM also_bought").execute(&mut *c).await?.rows_affected());
        for r in rules {
            on_tx!(self, c => sqlx::query(
                "INSERT INTO also_bought (sku, other_sku, pair_orders, support, confidence, lift)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.sku)
            .bind(&r.other_sku)
            .bind(r.pair_orders)
            .bind(r.support)
            .bind(r.confidence)
            .bind(r.lift)
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
        Ok(())
    }

    /// The rules whose product is one of `skus`.
    pub async fn also_bought_rules(&mut self, skus: &[&str]) -> Result<Vec<AlsoBought>> {
        let mut out = Vec::new();
        for sku in skus {
            let rows: Vec<AlsoBought> = on_tx!(self, c => sqlx::query_as(
                "SELECT sku, other_sku, pair_orders, support, confidence, lift FROM also_bought
                 WHERE sku = $1",
            )
            .bind(*sku)
            .fetch_all(&mut *c)
            .await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// Every product the customer ever ordered.
    pub async fn owned_skus(&mut self, customer_id: CustomerId) -> Result<Vec<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT DISTINCT l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id
             WHERE o.customer_id = $1",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// A stored setting.
    pub async fn setting(&mut self, name: &str) -> Result<Option<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Stores a setting, replacing its value.
    pub async fn put_setting(&mut self, name: &str, value: &str) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Every order as (customer, placed_at µs, total cents), by customer and time.
    pub async fn order_rows(&mut self) -> Result<Vec<(CustomerId, Timestamp, i64)>> {
        let rows: Vec<(CustomerId, crate::Micros, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, placed_at, total_cents FROM orders ORDER BY customer_id, placed_at",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, at, cents)| Ok((id, at.at()?, cents)))
            .collect()
    }

    /// Customers by how many relationship and promotional messages (the contacts the yearly
    /// band counts, FR1) were sent to them in `(from, to]`, counting only customers who were
    /// already customers at `customers_at` (created, or with an order, by then): (contacts,
    /// customers), zero included, by contacts. A letter counts from its place in the print
    /// queue, as the policy counts it.
    pub async fn contact_histogram(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        customers_at: Timestamp,
    ) -> Result<Vec<(i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT n, COUNT(*) FROM (
                 SELECT (SELECT COUNT(*) FROM messages m
                         WHERE m.customer_id = c.id
                           AND (m.state = 'sent' OR (m.state = 'sending' AND m.print_queued_at IS NOT NULL))
                           AND m.class IN ('relationship', 'promotional')
                           AND COALESCE(m.print_queued_at, m.sent_at) > $1
                           AND COALESCE(m.print_queued_at, m.sent_at) <= $2) AS n
                 FROM customers c
                 WHERE c.created_at <= $3
                    OR EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.placed_at <= $3)
             ) t GROUP BY n ORDER BY n",
        )
        .bind(micros(from))
        .bind(micros(to))
        .bind(micros(customers_at))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Messages sent in `(from, to]` to the customers [`Tx::contact_histogram`] counts, by
    /// channel and class: (channel, class, messages).
    pub async fn sent_by_channel_class(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        customers_at: Timestamp,
    ) -> Result<Vec<(String, String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT m.channel, m.class, COUNT(*) FROM messages m JOIN customers c ON c.id = m.customer_id
             WHERE m.state = 'sent' AND m.sent_at > $1 AND m.sent_at <= $2
               AND (c.created_at <= $3
                    OR EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.placed_at <= $3))
             GROUP BY m.channel, m.class ORDER BY m.channel, m.class",
        )
        .bind(micros(from))
        .bind(micros(to))
        .bind(micros(customers_at))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Scored customers per RFM segment: (segment, customers, mean P(alive) where known,
    /// summed 12-month value in cents where known).
    pub async fn segment_summary(
        &mut self,
    ) -> Result<Vec<(String, i64, Option<f64>, Option<i64>)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT rfm_segment, COUNT(*), AVG(p_alive), CAST(SUM(clv_12m_cents) AS BIGINT)
             FROM customer_scores GROUP BY rfm_segment ORDER BY rfm_segment",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Scored customers by tenth of P(alive) (0 = below 0.1 … 9 = 0.9 and up): (tenth,
    /// customers); customers without a model estimate are left out.
    pub async fn p_alive_tenths(&mut self) -> Result<Vec<(i64, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT CAST(CASE WHEN p_alive < 0.1 THEN 0 WHEN p_alive < 0.2 THEN 1
                              WHEN p_alive < 0.3 THEN 2 WHEN p_alive < 0.4 THEN 3
                              WHEN p_alive < 0.5 THEN 4 WHEN p_alive < 0.6 THEN 5
                              WHEN p_alive < 0.7 THEN 6 WHEN p_alive < 0.8 THEN 7
                              WHEN p_alive < 0.9 THEN 8 ELSE 9 END AS BIGINT) AS tenth, COUNT(*)
             FROM customer_scores WHERE p_alive IS NOT NULL GROUP BY tenth ORDER BY tenth",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// A customer's scores, if computed.
    pub async fn scores(&mut self, customer_id: CustomerId) -> Result<Option<Scores>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, rfm_r, rfm_f, rfm_m, rfm_segment, p_alive, expected_purchases_90d,
                    clv_12m_cents FROM customer_scores WHERE customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Stores a customer's scores, replacing the previous ones; returns the previous
    /// probability of being active.
    pub async fn put_scores(&mut self, s: &Scores, now: Timestamp) -> Result<Option<f64>> {
        Ok(self
            .put_many_scores(std::slice::from_ref(s), now)
            .await?
            .pop()
            .flatten())
    }

    /// Stores many customers' scores (issue 22: a million in about two thousand statements),
    /// replacing the previous ones; returns each one's previous probability of being
    /// active, in the order given. Each customer at most once.
    pub async fn put_many_scores(
        &mut self,
        scores: &[Scores],
        now: Timestamp,
    ) -> Result<Vec<Option<f64>>> {
        let mut previous = Vec::with_capacity(scores.len());
        // 9 values a row: well inside both backends' limit on bound values.
        for chunk in scores.chunks(1000) {
            let ids: Vec<i64> = chunk.iter().map(|s| i64::from(s.customer_id)).collect();
            let before: Vec<(CustomerId, Option<f64>)> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT customer_id, p_alive FROM customer_scores WHERE customer_id IN (",
                );
                let mut list = q.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_as().fetch_all(&mut *c).await?
            });
            let before: std::collections::HashMap<CustomerId, Option<f64>> =
                before.into_iter().collect();
            previous.extend(
                chunk
                    .iter()
                    .map(|s| before.get(&s.customer_id).copied().flatten()),
            );
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO customer_scores (customer_id, rfm_r, rfm_f, rfm_m, rfm_segment,
                         p_alive, expected_purchases_90d, clv_12m_cents, computed_at) ",
                );
                q.push_values(chunk, |mut row, s| {
                    row.push_bind(s.customer_id)
                        .push_bind(s.rfm_r)
                        .push_bind(s.rfm_f)
                        .push_bind(s.rfm_m)
                        .push_bind(&s.rfm_segment)
                        .push_bind(s.p_alive)
                        .push_bind(s.expected_purchases_90d)
                        .push_bind(s.clv_12m_cents)
                        .push_bind(micros(now));
                });
                q.push(
                    " ON CONFLICT (customer_id) DO UPDATE SET rfm_r = excluded.rfm_r,
                         rfm_f = excluded.rfm_f, rfm_m = excluded.rfm_m,
                         rfm_segment = excluded.rfm_segment, p_alive = excluded.p_alive,
                         expected_purchases_90d = excluded.expected_purchases_90d,
                         clv_12m_cents = excluded.clv_12m_cents, computed_at = excluded.computed_at",
                );
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(previous)
    }
}
