//! Loyalty ledger, coupons and referrals in the store (LY1, OF3, RF1, DQ1).
//!
//! The ledger is append-only; every entry has a key unique per customer, so a repeated
//! earn adds nothing. A coupon is redeemed by one conditional `UPDATE … RETURNING`, which
//! both SQLite (one writer) and PostgreSQL (row lock, conditions re-checked after waiting)
//! run atomically: a single-use code is redeemed once, whatever the concurrency.

use crate::CustomerId;
use crate::MessageId;
use aftercare_domain::loyalty::{CouponPoolConfig, CouponTerms, EntryKind, LedgerEntry};
use jiff::Timestamp;
use serde::Serialize;

use super::Tx;
use crate::records::to_json;
use crate::{JobKind, ReferralState, Result, StoreError, from_micros, micros};

/// A ledger entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// What it does.
    pub kind: EntryKind,
    /// Signed points.
    pub points: i64,
    /// When it happened.
    pub at: Timestamp,
    /// When positive points expire.
    pub expires_at: Option<Timestamp>,
    /// The lot an expiry or reversal is about.
    pub lot: Option<i64>,
    /// The order, if any.
    pub order_external_id: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
    /// Unique per customer: a repeat with the same key adds nothing.
    pub key: &'a str,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    kind: String,
    points: i64,
    at: i64,
    expires_at: Option<i64>,
    lot_id: Option<i64>,
    order_external_id: Option<String>,
    reason: String,
}

impl EntryRow {
    fn into_entry(self) -> Result<LedgerEntry> {
        Ok(LedgerEntry {
            id: self.id,
            kind: EntryKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("ledger entry kind '{}'", self.kind)))?,
            points: self.points,
            at: from_micros(self.at)?,
            expires_at: self.expires_at.map(from_micros).transpose()?,
            lot: self.lot_id,
            order_external_id: self.order_external_id,
            reason: self.reason,
        })
    }
}

const ENTRY_COLUMNS: &str = "id, kind, points, at, expires_at, lot_id, order_external_id, reason";

/// A coupon code as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Coupon {
    /// Internal id.
    #[serde(skip)]
    pub id: i64,
    /// The normalised code (upper case, no dashes).
    #[serde(skip)]
    pub code: String,
    /// The code as the customer reads it.
    #[serde(rename = "code")]
    pub display_code: String,
    /// Its pool.
    pub pool_id: String,
    /// The one customer it is for (internal id).
    #[serde(skip)]
    pub customer_id: Option<CustomerId>,
    /// `amount_cents` or `percent`.
    pub value_kind: String,
    /// The amount or percentage.
    pub value: i64,
    /// The least order total.
    pub min_order_cents: i64,
    /// Valid from.
    #[serde(skip)]
    #[sqlx(try_from = "crate::Micros")]
    pub valid_from: Timestamp,
    /// Valid until, exclusive.
    #[serde(skip)]
    #[sqlx(try_from = "crate::Micros")]
    pub valid_until: Timestamp,
    /// How often it can be used.
    pub max_uses: i32,
    /// How often it was used.
    pub uses: i32,
    /// `issued` or `imported`.
    pub source: String,
    /// Why it was issued.
    pub reason: String,
    /// What became of it in the shop (`[connectors.shop_codes]`), `None` while not yet.
    #[serde(skip)]
    pub shop_state: Option<String>,
    /// The shop's reason for a refusal, or its last answer while the code waits.
    #[serde(skip)]
    pub shop_note: Option<String>,
    /// Tries the shop failed on this code while it took others.
    #[serde(skip)]
    pub shop_tries: i32,
}

impl Coupon {
    /// Its terms, for [`CouponTerms::refusal`].
    pub fn terms(&self) -> Result<CouponTerms> {
        Ok(CouponTerms {
            customer_id: self.customer_id.map(i64::from),
            min_order_cents: self.min_order_cents,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            max_uses: i64::from(self.max_uses),
            uses: i64::from(self.uses),
        })
    }
}

const COUPON_COLUMNS: &str = "id, code, display_code, pool_id, customer_id, value_kind, value,
    min_order_cents, valid_from, valid_until, max_uses, uses, source, reason, shop_state, shop_note,
    shop_tries";

/// A coupon to create in the shop, with its customer there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShopCode {
    /// Internal id.
    pub id: i64,
    /// As the customer reads it.
    pub display_code: String,
    /// Its pool.
    pub pool_id: String,
    /// `amount_cents`, `percent` or `gift`.
    pub value_kind: String,
    /// The amount or percentage.
    pub value: i64,
    /// The least an order must total.
    pub min_order_cents: i64,
    /// Valid from.
    #[sqlx(try_from = "crate::Micros")]
    pub valid_from: Timestamp,
    /// Valid until, exclusive.
    #[sqlx(try_from = "crate::Micros")]
    pub valid_until: Timestamp,
    /// How often it can still be used.
    pub uses_left: i32,
    /// The customer it is for, by their id in the shop.
    pub customer_external_id: Option<String>,
    /// Their email address.
    pub email: Option<String>,
    /// Tries the shop failed on this code while it took others.
    pub shop_tries: i32,
    /// When the shop last failed on it.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub shop_tried_at: Option<Timestamp>,
}

/// A coupon to store.
#[derive(Debug, Clone)]
pub struct NewCoupon<'a> {
    /// Normalised code.
    pub code: &'a str,
    /// As the customer reads it.
    pub display_code: &'a str,
    /// The pool's terms.
    pub pool: &'a CouponPoolConfig,
    /// The one customer it is for.
    pub customer_id: Option<CustomerId>,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// `issued` or `imported`.
    pub source: &'a str,
    /// Why.
    pub reason: &'a str,
}

/// A redemption as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Redemption {
    /// Internal id.
    pub id: i64,
    /// The order.
    pub order_external_id: String,
    /// The order's total.
    pub order_total_cents: i64,
    /// The discount given.
    pub discount_cents: i64,
    /// When.
    #[serde(skip)]
    #[sqlx(try_from = "crate::Micros")]
    pub redeemed_at: Timestamp,
}

/// What an attempt to redeem a code did.
#[derive(Debug, Clone)]
pub enum RedeemOutcome {
    /// Redeemed now.
    Redeemed(Coupon, Redemption),
    /// This order had redeemed it before (a retry): the same answer.
    AlreadyByThisOrder(Coupon, Redemption),
    /// Not redeemed; the coupon as it stands says why.
    Refused(Coupon),
    /// No such code.
    Unknown,
}

/// A referral as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Referral {
    /// Internal id.
    pub id: i64,
    /// The existing customer who referred.
    #[serde(skip)]
    pub referrer_id: CustomerId,
    /// The new customer.
    #[serde(skip)]
    pub referred_id: CustomerId,
    /// Where it is.
    pub state: ReferralState,
    /// The new customer's first order.
    pub order_external_id: Option<String>,
    /// When the return period of that order ends.
    #[serde(skip)]
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub qualifies_at: Option<Timestamp>,
    /// Why it is in this state.
    pub reason: String,
}

const REFERRAL_COLUMNS: &str =
    "id, referrer_id, referred_id, state, order_external_id, qualifies_at, reason";

impl Tx {
    /// Serialises everything decided about one customer: reading a balance and spending from
    /// it, and a worker's policy decision (issue 22), so two transactions — two workers, or
    /// the API and a worker — never decide about the same customer at once, and each sees
    /// what the other committed. On PostgreSQL the customer's row is locked until commit
    /// (`FOR UPDATE`); on SQLite every writing transaction holds the one write lock from its
    /// start (`BEGIN IMMEDIATE`), so there is nothing more to take.
    pub async fn lock_customer(&mut self, customer_id: CustomerId) -> Result<()> {
        if let Tx::Postgres(t) = self {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT id FROM customers WHERE id = $1 FOR UPDATE")
                    .bind(customer_id)
                    .fetch_optional(&mut **t)
                    .await?;
            if found.is_none() {
                return Err(StoreError::NotFound(format!("customer {customer_id}")));
            }
        }
        Ok(())
    }

    /// A customer's ledger in entry order.
    pub async fn ledger(&mut self, customer_id: CustomerId) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM loyalty_entries WHERE customer_id = $1 ORDER BY id"
        );
        let rows: Vec<EntryRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// Appends an entry; `None` when an entry with the same key exists (nothing added).
    pub async fn append_entry(
        &mut self,
        customer_id: CustomerId,
        entry: &NewEntry<'_>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let id: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO loyalty_entries (customer_id, kind, points, at, expires_at, lot_id,
                 order_external_id, reason, entry_key, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (customer_id, entry_key) DO NOTHING RETURNING id",
        )
        .bind(customer_id)
        .bind(entry.kind.as_str())
        .bind(entry.points)
        .bind(micros(entry.at))
        .bind(entry.expires_at.map(micros))
        .bind(entry.lot)
        .bind(entry.order_external_id)
        .bind(entry.reason)
        .bind(entry.key)
        .bind(micros(now))
        .fetch_optional(&mut *c)
        .await?);
        Ok(id)
    }

    /// Whether the customer has an entry with this key.
    pub async fn entry_exists(&mut self, customer_id: CustomerId, key: &str) -> Result<bool> {
        let n: i64 = on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM loyalty_entries WHERE customer_id = $1 AND entry_key = $2",
        )
        .bind(customer_id)
        .bind(key)
        .fetch_one(&mut *c)
        .await?);
        Ok(n > 0)
    }

    /// Customers with points that expired after `after` and at or before `until`.
    pub async fn customers_with_points_expiring(
        &mut self,
        after: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<CustomerId>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT DISTINCT customer_id FROM loyalty_entries
             WHERE expires_at > $1 AND expires_at <= $2 AND points > 0 ORDER BY customer_id",
        )
        .bind(micros(after))
        .bind(micros(until))
        .fetch_all(&mut *c)
        .await?))
    }

    /// A periodic job's progress marker.
    pub async fn cursor(&mut self, name: &str) -> Result<Option<Timestamp>> {
        let at: Option<i64> = on_tx!(self, c => sqlx::query_scalar("SELECT until_at FROM job_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *c)
            .await?);
        at.map(from_micros).transpose()
    }

    /// Moves a periodic job's progress marker.
    pub async fn set_cursor(&mut self, name: &str, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO job_cursors (name, until_at) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET until_at = excluded.until_at",
        )
        .bind(name)
        .bind(micros(at))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    // ----- coupons ----------------------------------------------------------------------

    /// Stores a pool's current terms (codes keep the terms they were issued with).
    pub async fn upsert_coupon_pool(
        &mut self,
        pool: &CouponPoolConfig,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO coupon_pools (id, record, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
        )
        .bind(&pool.id)
        .bind(to_json(pool))
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Stores a coupon; `None` when the code is taken (nothing changed).
    pub async fn insert_coupon(
        &mut self,
        coupon: &NewCoupon<'_>,
        now: Timestamp,
    ) -> Result<Option<Coupon>> {
        let (kind, value) = coupon.pool.value().parts();
        let sql = format!(
            "INSERT INTO coupons (code, display_code, pool_id, customer_id, value_kind, value,
                 min_order_cents, valid_from, valid_until, max_uses, uses, source, reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13)
             ON CONFLICT (code) DO NOTHING RETURNING {COUPON_COLUMNS}"
        );
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(coupon.code)
            .bind(coupon.display_code)
            .bind(&coupon.pool.id)
            .bind(coupon.customer_id)
            .bind(kind)
            .bind(value)
            .bind(coupon.pool.min_order_cents)
            .bind(micros(coupon.valid_from))
            .bind(micros(coupon.valid_until))
            .bind(i32::try_from(coupon.pool.uses_per_code).unwrap_or(i32::MAX))
            .bind(coupon.source)
            .bind(coupon.reason)
            .bind(micros(now))
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Sets aside the coupons that are not to go to the shop, each with why: `imported`
    /// (made in the shop, it has them), `used_up`, `expired`, and `not_sent` (carried by a
    /// message that was blocked or failed). A write: call it in a writing transaction.
    pub async fn set_aside_coupons_for_shop(&mut self, now: Timestamp) -> Result<()> {
        for (state, condition) in [
            ("imported", "source = 'imported'"),
            ("used_up", "uses >= max_uses"),
            ("expired", "valid_until <= $1"),
            (
                "not_sent",
                "message_id IS NOT NULL AND EXISTS (SELECT 1 FROM messages m
                   WHERE m.id = coupons.message_id AND m.state IN ('blocked', 'failed'))",
            ),
        ] {
            let sql = format!(
                "UPDATE coupons SET shop_state = '{state}', shop_note = NULL
                 WHERE shop_state IS NULL AND ({condition})"
            );
            let reads_now = condition.contains("$1");
            on_tx!(self, c => {
                let q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                let q = if reads_now { q.bind(micros(now)) } else { q };
                q.execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(())
    }

    /// Up to `limit` coupons Aftercare issued that the shop does not have yet and that are
    /// not waiting after a failed try, oldest first, with their customer's id in the shop
    /// and email address, and the uses they have left (they go to the shop as often as they
    /// may still be used); run [`Tx::set_aside_coupons_for_shop`] first.
    pub async fn coupons_for_shop(&mut self, now: Timestamp, limit: i64) -> Result<Vec<ShopCode>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT k.id, k.display_code, k.pool_id, k.value_kind, k.value, k.min_order_cents,
                    k.valid_from, k.valid_until, k.max_uses - k.uses AS uses_left,
                    cu.external_id AS customer_external_id, cu.email, k.shop_tries,
                    k.shop_tried_at
             FROM coupons k LEFT JOIN customers cu ON cu.id = k.customer_id
             WHERE k.shop_state IS NULL AND (k.shop_retry_at IS NULL OR k.shop_retry_at <= $2)
             ORDER BY k.id LIMIT $1",
        )
        .bind(limit)
        .bind(micros(now))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Records what the shop made of a coupon: `created` or `refused`, with a note.
    pub async fn set_coupon_shop_state(
        &mut self,
        coupon_id: i64,
        state: &str,
        note: Option<&str>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE coupons SET shop_state = $2, shop_note = $3 WHERE id = $1")
            .bind(coupon_id)
            .bind(state)
            .bind(note)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Leaves a coupon the shop failed on at `now` waiting until `retry_at`, with the
    /// shop's answer; `counted` adds one to its tries (the shop answered about other codes
    /// meanwhile, so the trouble is this code's).
    pub async fn set_coupon_shop_wait(
        &mut self,
        coupon_id: i64,
        note: &str,
        now: Timestamp,
        retry_at: Timestamp,
        counted: bool,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE coupons SET shop_note = $2, shop_tried_at = $3, shop_retry_at = $4,
                    shop_tries = shop_tries + $5
             WHERE id = $1 AND shop_state IS NULL",
        )
        .bind(coupon_id)
        .bind(note)
        .bind(micros(now))
        .bind(micros(retry_at))
        .bind(i32::from(counted))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Makes sure the recurring `shop_codes` job exists, due at `run_at` — also when it had
    /// been set aside as dead.
    pub async fn ensure_shop_codes_job(&mut self, run_at: Timestamp, now: Timestamp) -> Result<()> {
        self.ensure_recurring_job(JobKind::ShopCodes, run_at, now)
            .await?;
        on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET dead_at = NULL, attempts = 0, last_error = NULL, run_at = $1
             WHERE kind = $2 AND dead_at IS NOT NULL",
        )
        .bind(micros(run_at))
        .bind(JobKind::ShopCodes.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The coupon issued for a message (a campaign's personal code), if one was.
    pub async fn coupon_of_message(&mut self, message_id: MessageId) -> Result<Option<Coupon>> {
        let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE message_id = $1");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(message_id)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Ties a coupon to the message it was issued for (at most one per message).
    pub async fn tie_coupon_to_message(
        &mut self,
        coupon_id: i64,
        message_id: MessageId,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE coupons SET message_id = $2 WHERE id = $1")
            .bind(coupon_id)
            .bind(message_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// A coupon by its normalised code.
    pub async fn coupon_by_code(&mut self, code: &str) -> Result<Option<Coupon>> {
        let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(code)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// A customer's coupons, newest first.
    pub async fn customer_coupons(&mut self, customer_id: CustomerId) -> Result<Vec<Coupon>> {
        let sql =
            format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE customer_id = $1 ORDER BY id DESC");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// Redeems a code for an order atomically; see [`RedeemOutcome`].
    pub async fn redeem_coupon(
        &mut self,
        code: &str,
        customer_id: Option<CustomerId>,
        order_external_id: &str,
        order_total_cents: i64,
        now: Timestamp,
    ) -> Result<RedeemOutcome> {
        let Some(before) = self.coupon_by_code(code).await? else {
            return Ok(RedeemOutcome::Unknown);
        };
        if let Some(previous) = self.redemption(before.id, order_external_id).await? {
            return Ok(RedeemOutcome::AlreadyByThisOrder(before, previous));
        }
        let sql = format!(
            "UPDATE coupons SET uses = uses + 1
             WHERE id = $1 AND uses < max_uses AND valid_from <= $2 AND valid_until > $2
               AND (customer_id IS NULL OR customer_id = $3) AND min_order_cents <= $4
             RETURNING {COUPON_COLUMNS}"
        );
        let updated: Option<Coupon> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(before.id)
            .bind(micros(now))
            .bind(customer_id)
            .bind(order_total_cents)
            .fetch_optional(&mut *c)
            .await?);
        let Some(coupon) = updated else {
            // Read again: a concurrent redeem may be why.
            let now_state = self.coupon_by_code(code).await?.unwrap_or(before);
            return Ok(RedeemOutcome::Refused(now_state));
        };
        let value =
            aftercare_domain::loyalty::CouponValue::from_parts(&coupon.value_kind, coupon.value)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("coupon value kind '{}'", coupon.value_kind))
                })?;
        let discount = value.discount_cents(order_total_cents);
        let redemption: Redemption = on_tx!(self, c => sqlx::query_as(
            "INSERT INTO coupon_redemptions (coupon_id, customer_id, order_external_id,
                 order_total_cents, discount_cents, redeemed_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, order_external_id, order_total_cents, discount_cents, redeemed_at",
        )
        .bind(coupon.id)
        .bind(customer_id)
        .bind(order_external_id)
        .bind(order_total_cents)
        .bind(discount)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?);
        Ok(RedeemOutcome::Redeemed(coupon, redemption))
    }

    async fn redemption(&mut self, coupon_id: i64, order: &str) -> Result<Option<Redemption>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, order_external_id, order_total_cents, discount_cents, redeemed_at
             FROM coupon_redemptions WHERE coupon_id = $1 AND order_external_id = $2",
        )
        .bind(coupon_id)
        .bind(order)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Every redemption of a coupon.
    pub async fn redemptions(&mut self, coupon_id: i64) -> Result<Vec<Redemption>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, order_external_id, order_total_cents, discount_cents, redeemed_at
             FROM coupon_redemptions WHERE coupon_id = $1 ORDER BY id",
        )
        .bind(coupon_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// How many orders the customer placed up to and including `at`.
    pub async fn orders_up_to(&mut self, customer_id: CustomerId, at: Timestamp) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM orders WHERE customer_id = $1 AND placed_at <= $2",
        )
        .bind(customer_id)
        .bind(micros(at))
        .fetch_one(&mut *c)
        .await?))
    }

    // ----- referrals --------------------------------------------------------------------

    /// A customer's personal referral code, if one was made.
    pub async fn referral_code(&mut self, customer_id: CustomerId) -> Result<Option<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT code FROM referral_codes WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Stores a customer's referral code; `false` when the code is taken.
    pub async fn insert_referral_code(
        &mut self,
        customer_id: CustomerId,
        code: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO referral_codes (customer_id, code, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(customer_id)
        .bind(code)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// The customer whose referral code this is.
    pub async fn referrer_by_code(&mut self, code: &str) -> Result<Option<CustomerId>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT customer_id FROM referral_codes WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Records a referral; `None` when the new customer already has one.
    pub async fn insert_referral(
        &mut self,
        referrer_id: CustomerId,
        referred_id: CustomerId,
        reason: &str,
        now: Timestamp,
    ) -> Result<Option<Referral>> {
        let sql = format!(
            "INSERT INTO referrals (referrer_id, referred_id, state, reason, created_at, updated_at)
             VALUES ($1, $2, $5, $3, $4, $4)
             ON CONFLICT (referred_id) DO NOTHING RETURNING {REFERRAL_COLUMNS}"
        );
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(referrer_id)
            .bind(referred_id)
            .bind(reason)
            .bind(micros(now))
            .bind(ReferralState::Pending)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// The referral that brought this customer, if any.
    pub async fn referral_of(&mut self, referred_id: CustomerId) -> Result<Option<Referral>> {
        let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referred_id = $1");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(referred_id)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// A referral by id.
    pub async fn referral(&mut self, id: i64) -> Result<Referral> {
        let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1");
        let row: Option<Referral> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("referral {id}")))
    }

    /// Referrals a customer made, newest first.
    pub async fn referrals_by(&mut self, referrer_id: CustomerId) -> Result<Vec<Referral>> {
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referrer_id = $1 ORDER BY id DESC"
        );
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(referrer_id)
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// Rewarded referrals of a referrer since `since`.
    pub async fn rewarded_referrals_since(
        &mut self,
        referrer_id: CustomerId,
        since: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM referrals WHERE referrer_id = $1 AND state = $3 AND updated_at > $2",
        )
        .bind(referrer_id)
        .bind(micros(since))
        .bind(ReferralState::Rewarded)
        .fetch_one(&mut *c)
        .await?))
    }

    /// Moves a referral on.
    pub async fn update_referral(
        &mut self,
        id: i64,
        state: ReferralState,
        order_external_id: Option<&str>,
        qualifies_at: Option<Timestamp>,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE referrals SET state = $1, order_external_id = COALESCE($2, order_external_id),
                 qualifies_at = COALESCE($3, qualifies_at), reason = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(state)
        .bind(order_external_id)
        .bind(qualifies_at.map(micros))
        .bind(reason)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }
}
