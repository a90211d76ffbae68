//! Loyalty, coupons and referrals inside the engine's transactions.
//!
//! Points are earned when the worker routes an `order_placed` event (per euro, plus the
//! N-th order bonus), when it routes an action event named in `[loyalty.actions]` (a
//! review, a survey answer), and by a programme's `grant_points` step; an `order_returned`
//! event reverses that order's points. Every entry carries a key (`order:1042`,
//! `action:<event id>`, …), so routing an event twice earns nothing twice. Coupons are issued
//! from configured pools with random codes from an unambiguous alphabet. A referral gives the
//! new customer their code at sign-up (for the first order, RF1), moves from pending to
//! ordered on that first order, and a `referral` job at the end of the return period issues
//! the referrer's; each side gets a `referral_converted` event with its `role`, which the
//! referral programme answers with a message.
//!
//! Requirements: LY1, LY2, OF3, RF1, DQ1.

use aftercare_domain::loyalty::{
    self, CODE_ALPHABET, CouponPoolConfig, EntryKind, Identity, LedgerEntry, LoyaltyConfig,
    ReferralRefusal, RewardKind,
};
use aftercare_domain::{CustomerRecord, FieldError};
use aftercare_store::CustomerId;
use aftercare_store::{
    Coupon, JobKind, NewCoupon, NewEntry, Referral, ReferralState, Result, Store, StoreError,
    StoredCustomer, StoredEvent, Tx,
};
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use serde::Serialize;
use serde_json::json;

use crate::ingest::append_event;

/// Stores every configured pool's terms, so codes can reference them.
pub async fn sync_pools(store: &Store, config: &LoyaltyConfig, now: Timestamp) -> Result<()> {
    let mut tx = store.begin().await?;
    for pool in &config.pools {
        tx.upsert_coupon_pool(pool, now).await?;
    }
    tx.commit().await
}

/// Applies an event's loyalty effects, inside the routing transaction.
pub async fn on_event(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer: &StoredCustomer,
    event: &StoredEvent,
    now: Timestamp,
) -> Result<()> {
    let at = event.occurred_at;
    let props = event.properties_json()?;
    let order = props.get("order_external_id").and_then(|v| v.as_str());
    match (event.event_type.as_str(), order) {
        ("order_placed", Some(order)) => {
            let total = props
                .get("total_cents")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            earn_for_order(tx, config, customer.id, order, total, at, now).await?;
            referral_order_placed(tx, config, customer.id, order, at, now).await?;
        }
        (kind @ ("order_returned" | "order_cancelled"), Some(order)) => {
            reverse_order(tx, customer.id, order, at, now).await?;
            if let Some(r) = tx.referral_of(customer.id).await?
                && r.order_external_id.as_deref() == Some(order)
                && r.state == ReferralState::Ordered
            {
                let what = if kind == "order_returned" {
                    "returned"
                } else {
                    "cancelled"
                };
                let reason = format!("void: the first order {order} was {what}");
                tx.update_referral(r.id, ReferralState::Void, None, None, &reason, now)
                    .await?;
            }
        }
        (other, _) => {
            if let Some(points) = config.actions.get(other) {
                let key = format!("action:{}", event.id);
                let reason = other.replace('_', " ");
                let entry = NewEntry {
                    kind: EntryKind::Earn,
                    points: *points,
                    at,
                    expires_at: config.expiry(at),
                    lot: None,
                    order_external_id: None,
                    reason: &reason,
                    key: &key,
                };
                tx.append_entry(customer.id, &entry, now).await?;
            }
        }
    }
    Ok(())
}

/// Points for an order: per euro, plus the N-th order bonus (keys `order:<id>` and
/// `order-bonus:<id>`, so a repeat earns nothing). Also used when history is imported.
pub async fn earn_for_order(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer_id: CustomerId,
    order: &str,
    total_cents: i64,
    at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    let number = tx.orders_up_to(customer_id, at).await?;
    for (i, (points, why)) in config
        .order_points(total_cents, number)
        .into_iter()
        .enumerate()
    {
        let key = if i == 0 {
            format!("order:{order}")
        } else {
            format!("order-bonus:{order}")
        };
        let reason = format!("{why} {order}");
        let entry = NewEntry {
            kind: EntryKind::Earn,
            points,
            at,
            expires_at: config.expiry(at),
            lot: None,
            order_external_id: Some(order),
            reason: &reason,
            key: &key,
        };
        tx.append_entry(customer_id, &entry, now).await?;
    }
    Ok(())
}

/// Reverses what an order earned: one `reverse` entry per earning lot of the order.
pub async fn reverse_order(
    tx: &mut Tx,
    customer_id: CustomerId,
    order: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    tx.lock_customer(customer_id).await?;
    let ledger = tx.ledger(customer_id).await?;
    let earned: Vec<&LedgerEntry> = ledger
        .iter()
        .filter(|e| e.kind == EntryKind::Earn && e.order_external_id.as_deref() == Some(order))
        .collect();
    for lot in earned {
        let key = format!("reverse:{}", lot.id);
        let reason = format!("order {order} returned");
        let entry = NewEntry {
            kind: EntryKind::Reverse,
            points: -lot.points,
            at,
            expires_at: None,
            lot: Some(lot.id),
            order_external_id: Some(order),
            reason: &reason,
            key: &key,
        };
        tx.append_entry(customer_id, &entry, now).await?;
    }
    Ok(())
}

/// Grants points (a programme's `grant_points`, or the team's adjustment with `adjust`).
pub async fn grant(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer_id: CustomerId,
    points: i64,
    reason: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<i64>> {
    let entry = NewEntry {
        kind: EntryKind::Earn,
        points,
        at: now,
        expires_at: config.expiry(now),
        lot: None,
        order_external_id: None,
        reason,
        key,
    };
    tx.append_entry(customer_id, &entry, now).await
}

/// Writes `expire` entries for lots whose date passed since the last run. Returns the
/// number of entries written.
pub async fn expire_points(store: &Store, now: Timestamp) -> Result<usize> {
    const CURSOR: &str = "points_expiry";
    let mut tx = store.begin().await?;
    let after = tx.cursor(CURSOR).await?.unwrap_or(Timestamp::UNIX_EPOCH);
    let mut written = 0;
    for customer_id in tx.customers_with_points_expiring(after, now).await? {
        tx.lock_customer(customer_id).await?;
        let standing = loyalty::replay(&tx.ledger(customer_id).await?);
        for lot in standing.due_to_expire(now) {
            let key = format!("expire:{}", lot.entry_id);
            let entry = NewEntry {
                kind: EntryKind::Expire,
                points: -lot.remaining,
                at: lot.expires_at.unwrap_or(now),
                expires_at: None,
                lot: Some(lot.entry_id),
                order_external_id: None,
                reason: "points expired",
                key: &key,
            };
            if tx.append_entry(customer_id, &entry, now).await?.is_some() {
                written += 1;
            }
        }
    }
    tx.set_cursor(CURSOR, now).await?;
    tx.commit().await?;
    Ok(written)
}

/// A new random code for a pool: its prefix, then eight characters from the alphabet.
pub fn new_code(prefix: Option<&str>) -> String {
    let mut rng = rand::rng();
    let indexes: Vec<usize> = (0..8)
        .map(|_| rng.random_range(0..CODE_ALPHABET.len()))
        .collect();
    loyalty::format_code(prefix, &indexes)
}

/// Issues a code from `pool` (to one customer, or to anyone when `customer_id` is `None`),
/// valid from `now` for the pool's `valid_days`.
pub async fn issue_coupon(
    tx: &mut Tx,
    pool: &CouponPoolConfig,
    customer_id: Option<CustomerId>,
    reason: &str,
    now: Timestamp,
) -> Result<Coupon> {
    let valid_until = now + pool.validity();
    // 31^8 codes per prefix: a clash is rare, and a clash only means another draw.
    for _ in 0..16 {
        let display = new_code(pool.prefix.as_deref());
        let code = loyalty::normalise_code(&display).unwrap_or_default();
        let new = NewCoupon {
            code: &code,
            display_code: &display,
            pool,
            customer_id,
            valid_from: now,
            valid_until,
            source: "issued",
            reason,
        };
        if let Some(coupon) = tx.insert_coupon(&new, now).await? {
            return Ok(coupon);
        }
    }
    Err(StoreError::Conflict(format!(
        "pool '{}': no free code after 16 draws",
        pool.id
    )))
}

/// The coupon as programmes and templates see it (`coupon.code`, `coupon.value`, …).
pub fn coupon_json(coupon: &Coupon) -> serde_json::Value {
    let value = loyalty::CouponValue::from_parts(&coupon.value_kind, coupon.value)
        .map(|v| v.describe())
        .unwrap_or_default();
    let valid_until = coupon.valid_until.to_string();
    json!({
        "code": coupon.display_code,
        "pool": coupon.pool_id,
        "value": value,
        "value_kind": coupon.value_kind,
        "amount": coupon.value,
        "min_order_cents": coupon.min_order_cents,
        "valid_until": valid_until,
    })
}

/// Writes a coupon's `value` (as made by [`coupon_json`]) in the customer's language:
/// "€ 10,00" in Dutch, "€10.00" in English.
pub fn localise_coupon(coupon: &mut serde_json::Value, locale: aftercare_domain::Locale) {
    let kind = coupon.get("value_kind").and_then(|k| k.as_str());
    let amount = coupon.get("amount").and_then(|a| a.as_i64());
    if let (Some(kind), Some(amount)) = (kind, amount)
        && let Some(value) = loyalty::CouponValue::from_parts(kind, amount)
    {
        coupon["value"] = value.describe_in(locale).into();
    }
}

/// What a claimed reward gave.
#[derive(Debug, Clone, Serialize)]
pub struct Claimed {
    /// The reward's id.
    pub reward: String,
    /// Points spent.
    pub points: i64,
    /// The coupon, for coupon rewards.
    pub coupon: Option<serde_json::Value>,
    /// The balance after.
    pub balance: i64,
}

/// Spends points on a reward. Refuses (naming the field) when the reward is unknown, the
/// tier is not reached or the balance is too low. `key` makes a retry harmless.
pub async fn claim_reward(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer_id: CustomerId,
    reward_id: &str,
    key: &str,
    now: Timestamp,
) -> Result<std::result::Result<Claimed, FieldError>> {
    let Some(reward) = config.reward(reward_id) else {
        return Ok(Err(FieldError::new(
            "reward",
            format!("no reward '{reward_id}'"),
        )));
    };
    tx.lock_customer(customer_id).await?;
    let locale = tx.customer(customer_id).await?.record.locale;
    let ledger = tx.ledger(customer_id).await?;
    let balance = loyalty::replay(&ledger).balance(now);
    if let Some(needed) = &reward.tier {
        let standing = loyalty::tier(&ledger, &config.tiers, config.tier_period_days, now);
        if !config.tier_allows(standing.tier.as_deref(), Some(needed)) {
            return Ok(Err(FieldError::new(
                "reward",
                format!("'{}' needs the {needed} tier", reward.name),
            )));
        }
    }
    let entry_key = format!("reward:{key}");
    // A claim with a key seen before (a retry, a double click) spends and issues nothing.
    if tx.entry_exists(customer_id, &entry_key).await? {
        return Ok(Ok(Claimed {
            reward: reward.id.clone(),
            points: 0,
            coupon: None,
            balance,
        }));
    }
    if balance < reward.points {
        return Ok(Err(FieldError::new(
            "reward",
            format!(
                "'{}' costs {} points; the balance is {balance}",
                reward.name, reward.points
            ),
        )));
    }
    // Every claim is an entry (0 points for a free reward), so the key guards them all.
    let entry = NewEntry {
        kind: EntryKind::Redeem,
        points: -reward.points,
        at: now,
        expires_at: None,
        lot: None,
        order_external_id: None,
        reason: &reward.name,
        key: &entry_key,
    };
    tx.append_entry(customer_id, &entry, now).await?;
    let coupon = match (
        reward.kind,
        reward.pool.as_deref().and_then(|p| config.pool(p)),
    ) {
        (RewardKind::Coupon, Some(pool)) => {
            let c = issue_coupon(
                tx,
                pool,
                Some(customer_id),
                &format!("reward: {}", reward.name),
                now,
            )
            .await?;
            Some(coupon_json(&c))
        }
        _ => None,
    };
    let properties = json!({"reward": reward.id, "name": reward.name_in(locale), "kind": reward.kind, "coupon": coupon});
    append_event(
        tx,
        customer_id,
        "reward_claimed",
        now,
        &properties,
        None,
        now,
    )
    .await?;
    Ok(Ok(Claimed {
        reward: reward.id.clone(),
        points: reward.points,
        coupon,
        balance: balance - reward.points,
    }))
}

/// A customer's personal referral code, made on first use.
pub async fn referral_code(tx: &mut Tx, customer_id: CustomerId, now: Timestamp) -> Result<String> {
    if let Some(code) = tx.referral_code(customer_id).await? {
        return Ok(code);
    }
    for _ in 0..16 {
        let code = loyalty::normalise_code(&new_code(None)).unwrap_or_default();
        if tx.insert_referral_code(customer_id, &code, now).await? {
            return Ok(code);
        }
    }
    Err(StoreError::Conflict(
        "no free referral code after 16 draws".into(),
    ))
}

fn identity(record: &CustomerRecord, payment_fingerprint: Option<&str>) -> Identity {
    Identity {
        email: record.email.as_ref().map(|e| e.as_str().to_lowercase()),
        phone: record.phone.as_ref().map(|p| p.as_str().to_string()),
        address: record.postal_address.as_ref().map(|a| {
            format!(
                "{}|{}{}",
                a.postcode.replace(' ', "").to_uppercase(),
                a.house_number.trim(),
                a.house_number_addition
                    .as_deref()
                    .unwrap_or("")
                    .trim()
                    .to_uppercase()
            )
        }),
        payment_fingerprint: payment_fingerprint.map(str::to_string),
    }
}

/// Registers that `referred` came through `code`. Refuses self-referral (same email, phone,
/// address or payment fingerprint), customers who already ordered, and referrers at their
/// yearly cap; the refusal is also stored, so the team sees it.
pub async fn register_referral(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    code: &str,
    referred: &StoredCustomer,
    referrer_fingerprint: Option<&str>,
    payment_fingerprint: Option<&str>,
    now: Timestamp,
) -> Result<std::result::Result<Referral, (FieldError, Option<ReferralRefusal>)>> {
    let Some(code) = loyalty::normalise_code(code) else {
        return Ok(Err((
            FieldError::new("referral_code", "is not a code"),
            None,
        )));
    };
    let Some(referrer_id) = tx.referrer_by_code(&code).await? else {
        return Ok(Err((
            FieldError::new(
                "referral_code",
                format!("no customer has the code '{code}'"),
            ),
            None,
        )));
    };
    let referrer = tx.customer(referrer_id).await?;
    let refusal = if referrer.id == referred.id {
        Some(ReferralRefusal::SelfReferral("customer"))
    } else if let Some(what) = loyalty::same_person(
        &identity(&referrer.record, referrer_fingerprint),
        &identity(&referred.record, payment_fingerprint),
    ) {
        Some(ReferralRefusal::SelfReferral(what))
    } else if tx.order_stats(referred.id).await?.orders_count > 0 {
        Some(ReferralRefusal::NotNew)
    } else {
        let year_ago = now - SignedDuration::from_hours(24 * 365);
        let rewarded = tx.rewarded_referrals_since(referrer.id, year_ago).await?;
        let cap = config.referral.max_per_referrer_per_year;
        (rewarded >= i64::from(cap)).then_some(ReferralRefusal::CapReached(cap))
    };
    if let Some(refusal) = refusal {
        return Ok(Err((
            FieldError::new("referral_code", refusal.sentence()),
            Some(refusal),
        )));
    }
    let reason = format!("referred by {}", referrer.record.external_id.as_str());
    match tx
        .insert_referral(referrer.id, referred.id, &reason, now)
        .await?
    {
        Some(r) => {
            // RF1: the new customer's €10 is for their first order, so it comes now; the
            // referrer's waits until that order is past the return period.
            reward_side(tx, config, &r, referred, &referrer, "referred", now).await?;
            Ok(Ok(r))
        }
        None => Ok(Err((
            FieldError::new(
                "customer_external_id",
                "this customer was already referred by someone",
            ),
            None,
        ))),
    }
}

/// On a referred customer's first order: the referral waits for the return period.
async fn referral_order_placed(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer_id: CustomerId,
    order: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    let Some(r) = tx.referral_of(customer_id).await? else {
        return Ok(());
    };
    if r.state != ReferralState::Pending {
        return Ok(());
    }
    let qualifies_at =
        at + SignedDuration::from_hours(24 * i64::from(config.referral.return_period_days));
    let reason = format!(
        "first order {order}; rewards after the {}-day return period",
        config.referral.return_period_days
    );
    tx.update_referral(
        r.id,
        ReferralState::Ordered,
        Some(order),
        Some(qualifies_at),
        &reason,
        now,
    )
    .await?;
    tx.insert_job(JobKind::Referral, r.id, qualifies_at.max(now), now)
        .await?;
    Ok(())
}

/// One side's €10 (RF1): a code from the reward pool and a `referral_converted` event with
/// its `role` (`referred` or `referrer`), which the referral programme answers; the event's
/// source key makes a repeat harmless.
async fn reward_side(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    r: &Referral,
    side: &StoredCustomer,
    other: &StoredCustomer,
    role: &str,
    now: Timestamp,
) -> Result<()> {
    let Some(pool) = config.pool(&config.referral.reward_pool) else {
        return Err(StoreError::NotFound(format!(
            "coupon pool '{}'",
            config.referral.reward_pool
        )));
    };
    let reason = format!("referral {}: {role}", r.id);
    let coupon = issue_coupon(tx, pool, Some(side.id), &reason, now).await?;
    let properties = json!({
        "referral_id": r.id,
        "role": role,
        "other_first_name": other.record.first_name,
        "coupon": coupon_json(&coupon),
    });
    let source = format!("referral:{}:{role}", r.id);
    append_event(
        tx,
        side.id,
        "referral_converted",
        now,
        &properties,
        Some(&source),
        now,
    )
    .await?;
    Ok(())
}

/// The `referral` job: when the return period has passed and the order stands, the
/// referrer gets a code and a `referral_converted` event (which the referral programme
/// answers); the new customer had theirs at sign-up.
pub async fn settle_referral(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    referral_id: i64,
    now: Timestamp,
) -> Result<()> {
    let r = tx.referral(referral_id).await?;
    if r.state != ReferralState::Ordered {
        return Ok(());
    }
    let year_ago = now - SignedDuration::from_hours(24 * 365);
    let cap = config.referral.max_per_referrer_per_year;
    if tx.rewarded_referrals_since(r.referrer_id, year_ago).await? >= i64::from(cap) {
        let refusal = ReferralRefusal::CapReached(cap);
        tx.update_referral(
            r.id,
            ReferralState::Void,
            None,
            None,
            &format!("void: {}", refusal.sentence()),
            now,
        )
        .await?;
        return Ok(());
    }
    let referrer = tx.customer(r.referrer_id).await?;
    let referred = tx.customer(r.referred_id).await?;
    reward_side(tx, config, &r, &referrer, &referred, "referrer", now).await?;
    tx.update_referral(
        r.id,
        ReferralState::Rewarded,
        None,
        None,
        "both sides rewarded (the new customer at sign-up)",
        now,
    )
    .await?;
    Ok(())
}

/// A customer's loyalty at a glance: for the API and the loyalty page.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Points to spend now.
    pub balance: i64,
    /// The tier reached.
    pub tier: Option<String>,
    /// Points earned in the tier period.
    pub earned_in_period: i64,
    /// The next tier's name.
    pub next_tier: Option<String>,
    /// Points still needed for it.
    pub points_to_next_tier: Option<i64>,
    /// Points that expire within 30 days.
    pub expiring_within_30_days: i64,
    /// The ledger, newest first.
    pub history: Vec<LedgerEntry>,
    /// Rewards with whether they can be claimed now.
    pub rewards: Vec<serde_json::Value>,
    /// The customer's coupons.
    pub coupons: Vec<serde_json::Value>,
    /// The personal referral code and link.
    pub referral_code: String,
    /// The shop's link with the code.
    pub referral_link: String,
    /// Referrals made and where they stand.
    pub referrals: Vec<Referral>,
}

/// Derives the summary from the ledger (never from a stored balance).
pub async fn summary(
    tx: &mut Tx,
    config: &LoyaltyConfig,
    customer_id: CustomerId,
    now: Timestamp,
) -> Result<Summary> {
    let ledger = tx.ledger(customer_id).await?;
    let standing = loyalty::replay(&ledger);
    let balance = standing.balance(now);
    let tier = loyalty::tier(&ledger, &config.tiers, config.tier_period_days, now);
    let expiring = standing.expiring(now, now + SignedDuration::from_hours(24 * 30));
    let rewards = config
        .rewards
        .iter()
        .map(|r| {
            let tier_ok = config.tier_allows(tier.tier.as_deref(), r.tier.as_deref());
            json!({"id": r.id, "name": r.name, "names": r.names, "points": r.points, "kind": r.kind,
                   "tier": r.tier, "claimable": tier_ok && balance >= r.points})
        })
        .collect();
    let coupons = tx
        .customer_coupons(customer_id)
        .await?
        .iter()
        .map(|c| {
            let mut v = coupon_json(c);
            v["uses"] = json!(c.uses);
            v["max_uses"] = json!(c.max_uses);
            v
        })
        .collect();
    let code = referral_code(tx, customer_id, now).await?;
    let mut history = ledger;
    history.reverse();
    Ok(Summary {
        balance,
        tier: tier.tier,
        earned_in_period: tier.earned_in_period,
        next_tier: tier.next.as_ref().map(|(n, _)| n.clone()),
        points_to_next_tier: tier.next.map(|(_, p)| p),
        expiring_within_30_days: expiring,
        history,
        rewards,
        coupons,
        referral_link: format!("{}{code}", config.referral.link_base),
        referral_code: code,
        referrals: tx.referrals_by(customer_id).await?,
    })
}

/// The validity end of the coupon an enrolment's context carries (set by `issue_coupon`, or
/// in a `referral_converted` event), for the policy's DQ1 check and the simulator's log.
pub fn coupon_valid_until(context: &serde_json::Value) -> Option<jiff::Timestamp> {
    context
        .pointer("/coupon/valid_until")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
}
