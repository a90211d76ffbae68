//! Loyalty, coupons and referrals: the rules that need no I/O.
//!
//! The points ledger is append-only; a balance, a tier and "points about to expire" are
//! derived by [`replay`]ing the entries, never stored as the truth. Points are earned in
//! *lots* (one per earning entry) that expire on their own date; spending takes the lot that
//! expires first, so a customer never loses points that could have been spent instead.
//! A return reverses the lot of that order; what was already spent becomes a debt that the
//! next lots pay off first.
//!
//! Coupon values, coupon pools (with the audience they serve, for the LY2 check), rewards
//! and referral settings are configured in `[loyalty]` of `aftercare.toml` ([`LoyaltyConfig`]).
//!
//! What it does not do: store entries, issue codes or decide when to send (the store, the
//! engine and the policy do).
//!
//! Requirements: LY1 (savings and rewards after a few orders), LY2 (loyal customers get what
//! new ones get), OF3 (exclusive offers for loyal customers), RF1 (€10 for both sides),
//! DQ1 (no code that is or will be expired: [`CouponPoolConfig::valid_days`] feeds the policy).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

/// What a ledger entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points earned (an order, an action, a programme's gift); always positive.
    Earn,
    /// Points spent on a reward; always negative.
    Redeem,
    /// Points whose lot reached its expiry date; always negative.
    Expire,
    /// A correction by the team; either sign.
    Adjust,
    /// Points of a returned order taken back; always negative.
    Reverse,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Earn => "earn",
            EntryKind::Redeem => "redeem",
            EntryKind::Expire => "expire",
            EntryKind::Adjust => "adjust",
            EntryKind::Reverse => "reverse",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            EntryKind::Earn,
            EntryKind::Redeem,
            EntryKind::Expire,
            EntryKind::Adjust,
            EntryKind::Reverse,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One stored ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// The entry's id; entries replay in id order.
    pub id: i64,
    /// What it does.
    pub kind: EntryKind,
    /// Signed points.
    #[schema(value_type = i64)]
    pub points: i64,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// When a positive entry's points expire.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// The lot (earning entry) an `expire` or `reverse` entry is about.
    pub lot: Option<i64>,
    /// The order it belongs to, if any.
    pub order_external_id: Option<String>,
    /// Why, in words the customer may see ("Order 1042", "Birthday").
    pub reason: String,
}

/// A lot: the points of one positive entry and what is left of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    /// The earning entry.
    pub entry_id: i64,
    /// Points earned.
    pub points: i64,
    /// Points not yet spent, expired or reversed.
    pub remaining: i64,
    /// When the remainder expires.
    pub expires_at: Option<Timestamp>,
}

/// The state of a customer's points, derived from the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// Lots in entry order.
    pub lots: Vec<Lot>,
    /// Points spent or reversed beyond what was available (paid off by the next lots).
    pub debt: i64,
}

impl Standing {
    /// Points the customer can spend at `now`: unexpired remainders minus debt.
    pub fn balance(&self, now: Timestamp) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.expires_at.is_none_or(|e| e > now))
            .map(|l| l.remaining)
            .sum::<i64>()
            - self.debt
    }

    /// Points that expire after `now` and no later than `until`.
    pub fn expiring(&self, now: Timestamp, until: Timestamp) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.expires_at.is_some_and(|e| e > now && e <= until))
            .map(|l| l.remaining)
            .sum()
    }

    /// Lots whose expiry has passed at `now` with points left: each needs an `expire` entry.
    pub fn due_to_expire(&self, now: Timestamp) -> Vec<&Lot> {
        self.lots
            .iter()
            .filter(|l| l.remaining > 0 && l.expires_at.is_some_and(|e| e <= now))
            .collect()
    }

    /// The lot an entry earned, if it still exists.
    pub fn lot(&self, entry_id: i64) -> Option<&Lot> {
        self.lots.iter().find(|l| l.entry_id == entry_id)
    }
}

/// Replays entries (in id order) into lots and debt.
pub fn replay(entries: &[LedgerEntry]) -> Standing {
    let mut standing = Standing::default();
    let mut sorted: Vec<&LedgerEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.id);
    for entry in sorted {
        if entry.points > 0 {
            // New points pay off debt first.
            let paid = entry.points.min(standing.debt);
            standing.debt -= paid;
            standing.lots.push(Lot {
                entry_id: entry.id,
                points: entry.points,
                remaining: entry.points - paid,
                expires_at: entry.expires_at,
            });
            continue;
        }
        let mut owed = -entry.points;
        // An expiry or reversal takes from its own lot first.
        if let Some(lot_id) = entry.lot
            && let Some(lot) = standing.lots.iter_mut().find(|l| l.entry_id == lot_id)
        {
            let take = owed.min(lot.remaining);
            lot.remaining -= take;
            owed -= take;
        }
        if entry.kind == EntryKind::Expire {
            // An expiry never reaches beyond its own lot.
            continue;
        }
        // Spend what expires first; lots without an expiry last.
        let mut order: Vec<usize> = (0..standing.lots.len())
            .filter(|&i| {
                let l = &standing.lots[i];
                l.remaining > 0 && l.expires_at.is_none_or(|e| e > entry.at)
            })
            .collect();
        order.sort_by_key(|&i| {
            let l = &standing.lots[i];
            (l.expires_at.is_none(), l.expires_at, l.entry_id)
        });
        for i in order {
            if owed == 0 {
                break;
            }
            let lot = &mut standing.lots[i];
            let take = owed.min(lot.remaining);
            lot.remaining -= take;
            owed -= take;
        }
        standing.debt += owed;
    }
    standing
}

/// A tier: reached when the points earned in the tier period reach the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The tier's name, e.g. "Gold".
    pub name: String,
    /// Points earned within the period needed.
    pub threshold: i64,
}

/// Where a customer stands among the tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TierStanding {
    /// The tier reached, if any.
    pub tier: Option<String>,
    /// Points earned in the period (earnings minus their reversals).
    pub earned_in_period: i64,
    /// The next tier and the points still needed for it.
    pub next: Option<(String, i64)>,
}

/// The tier for entries at `now`, counting earnings of the last `period_days`.
pub fn tier(
    entries: &[LedgerEntry],
    tiers: &[Tier],
    period_days: u32,
    now: Timestamp,
) -> TierStanding {
    let since = now - SignedDuration::from_hours(24 * i64::from(period_days));
    let earned: i64 = entries
        .iter()
        .filter(|e| e.at > since && e.at <= now)
        .filter(|e| matches!(e.kind, EntryKind::Earn | EntryKind::Reverse))
        .map(|e| e.points)
        .sum::<i64>()
        .max(0);
    let mut sorted: Vec<&Tier> = tiers.iter().collect();
    sorted.sort_by_key(|t| t.threshold);
    let reached = sorted.iter().rev().find(|t| earned >= t.threshold);
    let next = sorted.iter().find(|t| earned < t.threshold);
    TierStanding {
        tier: reached.map(|t| t.name.clone()),
        earned_in_period: earned,
        next: next.map(|t| (t.name.clone(), t.threshold - earned)),
    }
}

/// What a coupon is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponValue {
    /// A fixed amount off, in cents.
    AmountCents(i64),
    /// A percentage off (1–100).
    Percent(i64),
    /// A product given with the next order (the pool's `gift_sku`): a promised gift as a
    /// code the shop's checkout honours, once, for that customer (issue 23 point 5).
    Gift,
}

impl CouponValue {
    /// The discount on an order of `total_cents`; never more than the order.
    pub fn discount_cents(self, total_cents: i64) -> i64 {
        let raw = match self {
            CouponValue::AmountCents(c) => c,
            CouponValue::Percent(p) => total_cents * p / 100,
            CouponValue::Gift => 0,
        };
        raw.clamp(0, total_cents.max(0))
    }

    /// Stored as (kind, amount).
    pub fn parts(self) -> (&'static str, i64) {
        match self {
            CouponValue::AmountCents(c) => ("amount_cents", c),
            CouponValue::Percent(p) => ("percent", p),
            CouponValue::Gift => ("gift", 0),
        }
    }

    /// From the stored parts.
    pub fn from_parts(kind: &str, value: i64) -> Option<Self> {
        match kind {
            "amount_cents" => Some(CouponValue::AmountCents(value)),
            "percent" => Some(CouponValue::Percent(value)),
            "gift" => Some(CouponValue::Gift),
            _ => None,
        }
    }

    /// "€ 10,00" / "€10.00" or "15%", in the customer's language.
    pub fn describe_in(self, locale: crate::Locale) -> String {
        match self {
            CouponValue::AmountCents(c) => crate::commerce::format_euros(c, locale),
            // French sets the sign apart: "15 %".
            CouponValue::Percent(p) if locale == crate::Locale::FrBe => format!("{p}\u{a0}%"),
            CouponValue::Percent(p) => format!("{p}%"),
            CouponValue::Gift => match locale {
                crate::Locale::En => "a gift".into(),
                _ => "cadeau".into(),
            },
        }
    }

    /// "€10.00" or "15%", for the API and the team.
    pub fn describe(self) -> String {
        match self {
            CouponValue::AmountCents(c) => format!("€{}.{:02}", c / 100, c % 100),
            CouponValue::Percent(p) => format!("{p}%"),
            CouponValue::Gift => "gift".into(),
        }
    }
}

/// Whom a pool's codes are for; the LY2 check compares new and loyal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// New customers (a welcome or first-order offer).
    New,
    /// Existing, loyal customers (OF3).
    Loyal,
    /// Anyone (service recovery, referrals).
    Anyone,
}

/// A pool of coupon codes, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponPoolConfig {
    /// The pool's id, used by programmes (`issue_coupon = "referral"`) and the API.
    pub id: String,
    /// A name for the team.
    pub name: String,
    /// A fixed amount off, in cents (give this or `percent`).
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// A percentage off (give this or `amount_cents`).
    #[serde(default)]
    pub percent: Option<i64>,
    /// A product the code adds to the next order for free, by SKU (instead of an amount or
    /// a percentage): how a birthday or anniversary gift reaches the customer — the shop
    /// checks the code at checkout (`GET /v1/coupons/{code}` names the SKU) and adds it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub gift_sku: Option<String>,
    /// The least an order must total for the code to apply.
    #[serde(default)]
    pub min_order_cents: i64,
    /// Days a code is valid from when it is issued.
    pub valid_days: u32,
    /// How often one code can be used: 1 is single-use.
    #[serde(default = "one")]
    pub uses_per_code: u32,
    /// Whom it is for.
    pub audience: Audience,
    /// Letters in front of each code, e.g. "REF".
    #[serde(default)]
    pub prefix: Option<String>,
}

fn one() -> u32 {
    1
}

impl CouponPoolConfig {
    /// How long a code is valid from when it is issued.
    pub fn validity(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * i64::from(self.valid_days))
    }

    /// The pool's value.
    pub fn value(&self) -> CouponValue {
        if self.gift_sku.is_some() {
            return CouponValue::Gift;
        }
        match (self.amount_cents, self.percent) {
            (_, Some(p)) => CouponValue::Percent(p),
            (Some(c), None) => CouponValue::AmountCents(c),
            (None, None) => CouponValue::AmountCents(0),
        }
    }

    /// Checks the pool; `field` is its place in the configuration.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let err = |f: &str, r: &str| FieldError::new(format!("{field}.{f}"), r);
        if !is_slug(&self.id) {
            return Err(err("id", "must be lower-case letters, digits and dashes"));
        }
        if let Some(sku) = &self.gift_sku {
            if self.amount_cents.is_some() || self.percent.is_some() {
                return Err(err(
                    "gift_sku",
                    "give exactly one of amount_cents, percent and gift_sku",
                ));
            }
            if sku.trim().is_empty() || sku.len() > 64 {
                return Err(err("gift_sku", "must be a SKU of 1 to 64 characters"));
            }
        }
        match (self.amount_cents, self.percent) {
            _ if self.gift_sku.is_some() => {}
            (Some(_), Some(_)) | (None, None) => {
                return Err(err(
                    "amount_cents",
                    "give exactly one of amount_cents, percent and gift_sku",
                ));
            }
            (Some(c), None) if c <= 0 => return Err(err("amount_cents", "must be above 0")),
            (None, Some(p)) if !(1..=100).contains(&p) => {
                return Err(err("percent", "must be between 1 and 100"));
            }
            _ => {}
        }
        if self.min_order_cents < 0 {
            return Err(err("min_order_cents", "must not be negative"));
        }
        if self.valid_days == 0 {
            return Err(err("valid_days", "must be at least 1"));
        }
        if self.uses_per_code == 0 {
            return Err(err("uses_per_code", "must be at least 1"));
        }
        if let Some(p) = &self.prefix
            && (p.is_empty() || p.len() > 6 || !p.chars().all(|c| CODE_ALPHABET.contains(c)))
        {
            return Err(err(
                "prefix",
                "must be 1 to 6 characters from the code alphabet (no 0, O, 1, I or L)",
            ));
        }
        Ok(())
    }
}

/// What a reward gives for points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// A coupon from a pool.
    Coupon,
    /// A gift sent with the next order.
    Gift,
    /// A free product.
    FreeProduct,
    /// Early access to a launch or sale (OF3).
    EarlyAccess,
}

/// A reward a customer can claim with points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// The reward's id.
    pub id: String,
    /// What the customer reads.
    pub name: String,
    /// The name in other languages, by locale tag (`nl-NL`, `nl-BE`, `en`).
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    /// Points it costs.
    pub points: i64,
    /// What it gives.
    pub kind: RewardKind,
    /// The coupon pool, for `coupon` rewards.
    #[serde(default)]
    pub pool: Option<String>,
    /// The product, for `free_product` rewards.
    #[serde(default)]
    pub sku: Option<String>,
    /// The least tier needed, if any.
    #[serde(default)]
    pub tier: Option<String>,
}

impl Reward {
    /// The reward's name in `locale`, or its default name.
    pub fn name_in(&self, locale: crate::Locale) -> &str {
        self.names
            .get(locale.tag())
            .map_or(self.name.as_str(), String::as_str)
    }
}

/// Referral settings (RF1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    /// The pool both sides get a code from (default: `referral`, €10).
    pub reward_pool: String,
    /// Days after the new customer's first order before the rewards are issued, so a
    /// returned order earns nothing.
    pub return_period_days: u32,
    /// Most rewarded referrals per referrer per rolling year.
    pub max_per_referrer_per_year: u32,
    /// The shop's page a personal link points to; the code is appended.
    pub link_base: String,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        Self {
            reward_pool: "referral".into(),
            return_period_days: 30,
            max_per_referrer_per_year: 10,
            link_base: "https://shop.example/r/".into(),
        }
    }
}

/// The loyalty programme's rules (`[loyalty]` in `aftercare.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoyaltyConfig {
    /// Points per whole euro of an order's total.
    pub points_per_euro: i64,
    /// A bonus on every N-th order (LY1: a reward after a few orders); 0 turns it off.
    pub bonus_every_orders: u32,
    /// The bonus's points.
    pub bonus_points: i64,
    /// Points per event type the customer does (e.g. `review_written = 25`).
    pub actions: BTreeMap<String, i64>,
    /// Months after which earned points expire; 0 means never.
    pub expiry_months: u32,
    /// Tiers by points earned in `tier_period_days`.
    pub tiers: Vec<Tier>,
    /// The period tiers count.
    pub tier_period_days: u32,
    /// Rewards to claim.
    pub rewards: Vec<Reward>,
    /// Coupon pools.
    pub pools: Vec<CouponPoolConfig>,
    /// Referrals.
    pub referral: ReferralConfig,
}

impl Default for LoyaltyConfig {
    fn default() -> Self {
        let percent = |id: &str, name: &str, percent: i64, days: u32, audience| CouponPoolConfig {
            id: id.into(),
            name: name.into(),
            amount_cents: None,
            percent: Some(percent),
            gift_sku: None,
            min_order_cents: 0,
            valid_days: days,
            uses_per_code: 1,
            audience,
            prefix: None,
        };
        let gift = |id: &str, name: &str, sku: &str, days: u32| CouponPoolConfig {
            id: id.into(),
            name: name.into(),
            amount_cents: None,
            percent: None,
            gift_sku: Some(sku.into()),
            min_order_cents: 0,
            valid_days: days,
            uses_per_code: 1,
            audience: Audience::Anyone,
            prefix: None,
        };
        let pool = |id: &str, name: &str, amount: i64, days: u32, audience| CouponPoolConfig {
            id: id.into(),
            name: name.into(),
            amount_cents: Some(amount),
            percent: None,
            gift_sku: None,
            min_order_cents: 0,
            valid_days: days,
            uses_per_code: 1,
            audience,
            prefix: None,
        };
        Self {
            points_per_euro: 1,
            bonus_every_orders: 3,
            bonus_points: 50,
            actions: BTreeMap::from([
                ("review_written".to_string(), 25),
                ("survey_answered".to_string(), 10),
            ]),
            expiry_months: 24,
            tiers: vec![
                Tier {
                    name: "Silver".into(),
                    threshold: 250,
                },
                Tier {
                    name: "Gold".into(),
                    threshold: 750,
                },
            ],
            tier_period_days: 365,
            rewards: vec![
                Reward {
                    id: "five-euro".into(),
                    name: "€5 off your next order".into(),
                    names: BTreeMap::from([
                        (
                            "nl-NL".to_string(),
                            "€ 5 korting op je volgende bestelling".to_string(),
                        ),
                        (
                            "nl-BE".to_string(),
                            "€ 5 korting op je volgende bestelling".to_string(),
                        ),
                        (
                            "fr-BE".to_string(),
                            "5 € de réduction sur ta prochaine commande".to_string(),
                        ),
                    ]),
                    points: 250,
                    kind: RewardKind::Coupon,
                    pool: Some("loyalty-reward".into()),
                    sku: None,
                    tier: None,
                },
                Reward {
                    id: "early-access".into(),
                    name: "Early access to new collections".into(),
                    names: BTreeMap::from([
                        (
                            "nl-NL".to_string(),
                            "Als eerste de nieuwe collectie".to_string(),
                        ),
                        (
                            "nl-BE".to_string(),
                            "Als eerste de nieuwe collectie".to_string(),
                        ),
                        (
                            "fr-BE".to_string(),
                            "Les nouvelles collections en avant-première".to_string(),
                        ),
                    ]),
                    points: 0,
                    kind: RewardKind::EarlyAccess,
                    pool: None,
                    sku: None,
                    tier: Some("Gold".into()),
                },
            ],
            pools: vec![
                pool(
                    "referral",
                    "Referral: €10 for both",
                    1000,
                    60,
                    Audience::Anyone,
                ),
                pool(
                    "loyalty-reward",
                    "€5 loyalty reward",
                    500,
                    90,
                    Audience::Loyal,
                ),
                pool(
                    "service-recovery",
                    "Sorry: €7.50 off",
                    750,
                    60,
                    Audience::Anyone,
                ),
                pool(
                    "loyal-thanks",
                    "Thank you: €10 for loyal customers",
                    1000,
                    45,
                    Audience::Loyal,
                ),
                // Issue 23 point 5: every discount a message promises is a code.
                percent("win-back", "We miss you: 15% off", 15, 30, Audience::Anyone),
                percent(
                    "early-access",
                    "Early access: 15% off",
                    15,
                    14,
                    Audience::Loyal,
                ),
                percent(
                    "anniversary",
                    "Anniversary: 20% off",
                    20,
                    14,
                    Audience::Anyone,
                ),
                // Promised gifts are codes too: the shop adds the product when the code is
                // entered at checkout (issue 23 point 5).
                gift("birthday-gift", "Birthday: a soft flask", "LW-BOTTLE", 60),
                gift(
                    "anniversary-gift",
                    "Anniversary: blister-free socks",
                    "LW-SOCK-3",
                    14,
                ),
            ],
            referral: ReferralConfig::default(),
        }
    }
}

impl LoyaltyConfig {
    /// A pool by id.
    pub fn pool(&self, id: &str) -> Option<&CouponPoolConfig> {
        self.pools.iter().find(|p| p.id == id)
    }

    /// Whether a customer in tier `reached` may have something that needs tier `needed`
    /// (tiers rank by threshold; no requirement is always met).
    pub fn tier_allows(&self, reached: Option<&str>, needed: Option<&str>) -> bool {
        let rank = |name: &str| {
            self.tiers
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.threshold)
        };
        match needed {
            None => true,
            Some(needed) => {
                reached.and_then(rank).unwrap_or(i64::MIN) >= rank(needed).unwrap_or(i64::MAX)
            }
        }
    }

    /// A reward by id.
    pub fn reward(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id == id)
    }

    /// Checks the rules; the first mistake, naming its key.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.points_per_euro < 0 {
            return Err(FieldError::new(
                "loyalty.points_per_euro",
                "must not be negative",
            ));
        }
        if self.bonus_points < 0 {
            return Err(FieldError::new(
                "loyalty.bonus_points",
                "must not be negative",
            ));
        }
        for (event, points) in &self.actions {
            if *points <= 0 {
                return Err(FieldError::new(
                    format!("loyalty.actions.{event}"),
                    "must be above 0",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            pool.validate(&format!("loyalty.pools[{i}]"))?;
            if !seen.insert(pool.id.as_str()) {
                return Err(FieldError::new(
                    format!("loyalty.pools[{i}].id"),
                    "is used twice",
                ));
            }
        }
        for (i, reward) in self.rewards.iter().enumerate() {
            let field = |f: &str| format!("loyalty.rewards[{i}].{f}");
            if reward.points < 0 {
                return Err(FieldError::new(field("points"), "must not be negative"));
            }
            if reward.kind == RewardKind::Coupon
                && reward.pool.as_deref().and_then(|p| self.pool(p)).is_none()
            {
                return Err(FieldError::new(
                    field("pool"),
                    "must name a pool in loyalty.pools",
                ));
            }
            if let Some(t) = &reward.tier
                && !self.tiers.iter().any(|x| &x.name == t)
            {
                return Err(FieldError::new(
                    field("tier"),
                    "must name a tier in loyalty.tiers",
                ));
            }
        }
        if self.pool(&self.referral.reward_pool).is_none() {
            return Err(FieldError::new(
                "loyalty.referral.reward_pool",
                "must name a pool in loyalty.pools",
            ));
        }
        Ok(())
    }

    /// LY2: every offer for new customers needs a counterpart for loyal ones. Returns a
    /// warning per new-customer pool without a loyal pool of at least its value.
    pub fn ly2_warnings(&self) -> Vec<String> {
        let loyal: Vec<&CouponPoolConfig> = self
            .pools
            .iter()
            .filter(|p| p.audience == Audience::Loyal)
            .collect();
        self.pools
            .iter()
            .filter(|p| p.audience == Audience::New)
            .filter(|new| {
                !loyal.iter().any(|l| match (l.value(), new.value()) {
                    (CouponValue::AmountCents(a), CouponValue::AmountCents(b)) => a >= b,
                    (CouponValue::Percent(a), CouponValue::Percent(b)) => a >= b,
                    (CouponValue::Gift, CouponValue::Gift) => true,
                    // A percentage and an amount cannot be weighed against each other: a
                    // loyal percentage pool does not answer a new customer's euro amount.
                    _ => false,
                })
            })
            .map(|p| {
                format!(
                    "LY2: pool '{}' ({}) is for new customers, but no pool for loyal customers is worth as much; loyal customers should get what new ones get",
                    p.id,
                    p.value().describe()
                )
            })
            .collect()
    }

    /// Points an order earns: per euro, plus the bonus when it is an N-th order.
    /// `order_number` counts the customer's orders including this one.
    pub fn order_points(&self, total_cents: i64, order_number: i64) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let per_euro = total_cents.max(0) / 100 * self.points_per_euro;
        if per_euro > 0 {
            out.push((per_euro, "order".to_string()));
        }
        if self.bonus_every_orders > 0
            && self.bonus_points > 0
            && order_number > 0
            && order_number % i64::from(self.bonus_every_orders) == 0
        {
            out.push((
                self.bonus_points,
                format!("bonus for order number {order_number}"),
            ));
        }
        out
    }

    /// When points earned at `at` expire.
    pub fn expiry(&self, at: Timestamp) -> Option<Timestamp> {
        if self.expiry_months == 0 {
            return None;
        }
        at.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .checked_add(jiff::Span::new().months(i64::from(self.expiry_months)))
            .ok()
            .map(|z| z.timestamp())
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Code characters: upper-case letters and digits without the ones people confuse
/// (0/O, 1/I/L).
pub const CODE_ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A code as customers type it, normalised: upper case, without spaces and dashes.
/// `None` when it is empty, too long or has other characters than letters and digits.
pub fn normalise_code(input: &str) -> Option<String> {
    let out: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    // Imported codes may use any letters and digits; only generated codes avoid look-alikes.
    (!out.is_empty() && out.len() <= 64 && out.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(out)
}

/// Formats random alphabet indexes as a code: the prefix, then groups of four.
pub fn format_code(prefix: Option<&str>, indexes: &[usize]) -> String {
    let alphabet: Vec<char> = CODE_ALPHABET.chars().collect();
    let body: String = indexes
        .iter()
        .map(|&i| alphabet[i % alphabet.len()])
        .collect();
    let groups: Vec<String> = body
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    match prefix {
        Some(p) => format!("{p}-{}", groups.join("-")),
        None => groups.join("-"),
    }
}

/// A coupon's terms, as stored, for deciding whether it can be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponTerms {
    /// The one customer it is for, if any (internal id).
    pub customer_id: Option<i64>,
    /// The least order total.
    pub min_order_cents: i64,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// How often it can be used.
    pub max_uses: i64,
    /// How often it was used.
    pub uses: i64,
}

/// Why a coupon cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CouponRefusal {
    /// The code belongs to another customer.
    OtherCustomer,
    /// Not valid yet.
    NotYetValid(Timestamp),
    /// No longer valid.
    Expired(Timestamp),
    /// Every use is taken.
    UsedUp,
    /// The order is below the minimum.
    BelowMinimum(i64),
}

impl CouponRefusal {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            CouponRefusal::OtherCustomer => "coupon_not_yours",
            CouponRefusal::NotYetValid(_) => "coupon_not_yet_valid",
            CouponRefusal::Expired(_) => "coupon_expired",
            CouponRefusal::UsedUp => "coupon_used",
            CouponRefusal::BelowMinimum(_) => "coupon_below_minimum",
        }
    }

    /// A sentence for the shop's checkout.
    pub fn sentence(&self) -> String {
        match self {
            CouponRefusal::OtherCustomer => "this code belongs to another customer".into(),
            CouponRefusal::NotYetValid(t) => format!("this code is valid from {t}"),
            CouponRefusal::Expired(t) => format!("this code expired at {t}"),
            CouponRefusal::UsedUp => "this code has already been used".into(),
            CouponRefusal::BelowMinimum(c) => format!(
                "this code needs an order of at least {}",
                CouponValue::AmountCents(*c).describe()
            ),
        }
    }
}

impl CouponTerms {
    /// Why the coupon cannot be redeemed by `customer` on an order of `total_cents` at
    /// `now`, or `None` when it can. The store's atomic redeem applies the same conditions.
    pub fn refusal(
        &self,
        customer: Option<i64>,
        total_cents: Option<i64>,
        now: Timestamp,
    ) -> Option<CouponRefusal> {
        if self.customer_id.is_some() && self.customer_id != customer {
            return Some(CouponRefusal::OtherCustomer);
        }
        if now >= self.valid_until {
            return Some(CouponRefusal::Expired(self.valid_until));
        }
        if now < self.valid_from {
            return Some(CouponRefusal::NotYetValid(self.valid_from));
        }
        if self.uses >= self.max_uses {
            return Some(CouponRefusal::UsedUp);
        }
        if total_cents.is_some_and(|t| t < self.min_order_cents) {
            return Some(CouponRefusal::BelowMinimum(self.min_order_cents));
        }
        None
    }
}

/// Why a referral is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralRefusal {
    /// The new customer is the referrer, by the named fact.
    SelfReferral(&'static str),
    /// The new customer has ordered before.
    NotNew,
    /// The referrer reached the yearly cap.
    CapReached(u32),
}

impl ReferralRefusal {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReferralRefusal::SelfReferral(_) => "self_referral",
            ReferralRefusal::NotNew => "not_a_new_customer",
            ReferralRefusal::CapReached(_) => "referral_cap_reached",
        }
    }

    /// A sentence for the shop and the team.
    pub fn sentence(&self) -> String {
        match self {
            ReferralRefusal::SelfReferral(what) => {
                format!("a customer cannot refer themselves: the same {what} as the referrer")
            }
            ReferralRefusal::NotNew => {
                "only new customers can be referred: this customer has ordered before".into()
            }
            ReferralRefusal::CapReached(n) => {
                format!(
                    "the referrer already had {n} rewarded referrals this year, the most allowed"
                )
            }
        }
    }
}

/// What identifies a person for the self-referral guard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Email address, lower case.
    pub email: Option<String>,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Postcode and house number, normalised.
    pub address: Option<String>,
    /// A payment fingerprint the shop passes on.
    pub payment_fingerprint: Option<String>,
}

/// The self-referral guard (RF1): the same email, phone, address or payment fingerprint.
pub fn same_person(referrer: &Identity, referred: &Identity) -> Option<&'static str> {
    let same = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if !a.is_empty() && a == b);
    if same(&referrer.email, &referred.email) {
        Some("email address")
    } else if same(&referrer.phone, &referred.phone) {
        Some("phone number")
    } else if same(&referrer.address, &referred.address) {
        Some("address")
    } else if same(&referrer.payment_fingerprint, &referred.payment_fingerprint) {
        Some("payment details")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(day: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + day * 86_400).unwrap()
    }

    fn entry(
        id: i64,
        kind: EntryKind,
        points: i64,
        day: i64,
        expires: Option<i64>,
        lot: Option<i64>,
    ) -> LedgerEntry {
        LedgerEntry {
            id,
            kind,
            points,
            at: t(day),
            expires_at: expires.map(t),
            lot,
            order_external_id: None,
            reason: String::new(),
        }
    }

    #[test]
    fn spending_takes_the_points_that_expire_first() {
        let entries = vec![
            entry(1, EntryKind::Earn, 100, 0, Some(400), None),
            entry(2, EntryKind::Earn, 100, 10, Some(100), None),
            entry(3, EntryKind::Redeem, -150, 20, None, None),
        ];
        let s = replay(&entries);
        assert_eq!(s.lot(2).unwrap().remaining, 0);
        assert_eq!(s.lot(1).unwrap().remaining, 50);
        // Day 200: lot 2 expired, but it was spent; nothing lost.
        assert_eq!(s.balance(t(200)), 50);
    }

    #[test]
    fn expired_points_leave_the_balance_before_and_after_their_entry_is_written() {
        let mut entries = vec![
            entry(1, EntryKind::Earn, 100, 0, Some(30), None),
            entry(2, EntryKind::Earn, 40, 5, None, None),
        ];
        let before = replay(&entries);
        assert_eq!(before.balance(t(29)), 140);
        assert_eq!(before.expiring(t(20), t(35)), 100);
        assert_eq!(before.balance(t(31)), 40);
        let due: Vec<(i64, i64)> = before
            .due_to_expire(t(31))
            .iter()
            .map(|l| (l.entry_id, l.remaining))
            .collect();
        assert_eq!(due, vec![(1, 100)]);
        entries.push(entry(3, EntryKind::Expire, -100, 31, None, Some(1)));
        let after = replay(&entries);
        assert_eq!(after.balance(t(31)), 40);
        assert!(after.due_to_expire(t(31)).is_empty());
        assert_eq!(
            entries.iter().map(|e| e.points).sum::<i64>(),
            after.balance(t(31))
        );
    }

    #[test]
    fn reversing_spent_points_leaves_a_debt_the_next_order_pays() {
        let entries = vec![
            entry(1, EntryKind::Earn, 80, 0, None, None),
            entry(2, EntryKind::Redeem, -60, 1, None, None),
            entry(3, EntryKind::Reverse, -80, 2, None, Some(1)),
        ];
        let s = replay(&entries);
        assert_eq!(s.balance(t(3)), -60);
        let mut more = entries.clone();
        more.push(entry(4, EntryKind::Earn, 100, 4, None, None));
        assert_eq!(replay(&more).balance(t(5)), 40);
    }

    #[test]
    fn tiers_count_earnings_of_the_period_minus_returns() {
        let tiers = LoyaltyConfig::default().tiers;
        let entries = vec![
            entry(1, EntryKind::Earn, 500, 0, None, None),
            entry(2, EntryKind::Earn, 300, 300, None, None),
            entry(3, EntryKind::Redeem, -250, 301, None, None),
        ];
        let now = tier(&entries, &tiers, 365, t(302));
        assert_eq!(now.tier.as_deref(), Some("Gold"));
        assert_eq!(now.earned_in_period, 800);
        let later = tier(&entries, &tiers, 365, t(400));
        assert_eq!(later.tier.as_deref(), Some("Silver"));
        assert_eq!(later.next, Some(("Gold".to_string(), 450)));
    }

    #[test]
    fn an_order_earns_per_euro_and_a_bonus_on_every_third_order() {
        let cfg = LoyaltyConfig::default();
        assert_eq!(cfg.order_points(4_999, 1), vec![(49, "order".to_string())]);
        assert_eq!(
            cfg.order_points(1_000, 3),
            vec![
                (10, "order".to_string()),
                (50, "bonus for order number 3".to_string())
            ]
        );
        assert!(cfg.order_points(0, 1).is_empty());
    }

    #[test]
    fn the_default_rules_are_valid_and_give_loyal_customers_what_new_ones_get() {
        let mut cfg = LoyaltyConfig::default();
        cfg.validate().unwrap();
        assert!(cfg.ly2_warnings().is_empty());
        cfg.pools.push(CouponPoolConfig {
            id: "welcome".into(),
            name: "Welcome".into(),
            amount_cents: Some(1500),
            percent: None,
            gift_sku: None,
            min_order_cents: 0,
            valid_days: 30,
            uses_per_code: 1,
            audience: Audience::New,
            prefix: None,
        });
        let warnings = cfg.ly2_warnings();
        assert_eq!(warnings.len(), 1);
        // A gift pool gives a product, not money: nothing off, and it cannot also carry an
        // amount (issue 23 point 5).
        let gift = cfg.pool("birthday-gift").unwrap().clone();
        assert_eq!(gift.value(), CouponValue::Gift);
        assert_eq!(gift.value().discount_cents(5_000), 0);
        assert_eq!(CouponValue::from_parts("gift", 0), Some(CouponValue::Gift));
        let both = CouponPoolConfig {
            amount_cents: Some(500),
            ..gift
        };
        assert_eq!(
            both.validate("loyalty.pools[0]").unwrap_err().field,
            "loyalty.pools[0].gift_sku"
        );
        assert!(warnings[0].contains("'welcome'"), "{warnings:?}");
    }

    #[test]
    fn a_pool_with_both_or_no_values_names_the_field() {
        let mut cfg = LoyaltyConfig::default();
        cfg.pools[0].percent = Some(10);
        let e = cfg.validate().unwrap_err();
        assert_eq!(e.field, "loyalty.pools[0].amount_cents");
        let mut cfg = LoyaltyConfig::default();
        cfg.referral.reward_pool = "nope".into();
        assert_eq!(
            cfg.validate().unwrap_err().field,
            "loyalty.referral.reward_pool"
        );
    }

    #[test]
    fn codes_avoid_look_alikes_and_normalise_as_typed() {
        let code = format_code(Some("REF"), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(code, "REF-ABCD-EFGH");
        assert_eq!(
            normalise_code(" ref-abcd efgh ").as_deref(),
            Some("REFABCDEFGH")
        );
        assert!(!CODE_ALPHABET.contains(['0', 'O', '1', 'I', 'L']));
        assert_eq!(normalise_code("AB!CD"), None);
    }

    #[test]
    fn self_referral_is_found_by_any_shared_fact() {
        let a = Identity {
            email: Some("a@x.nl".into()),
            address: Some("1012AB|12".into()),
            ..Identity::default()
        };
        let b = Identity {
            email: Some("b@x.nl".into()),
            address: Some("1012AB|12".into()),
            ..Identity::default()
        };
        assert_eq!(same_person(&a, &b), Some("address"));
        assert_eq!(same_person(&a, &Identity::default()), None);
    }

    #[test]
    fn percent_discounts_never_exceed_the_order() {
        assert_eq!(CouponValue::Percent(15).discount_cents(2_000), 300);
        assert_eq!(CouponValue::AmountCents(1_000).discount_cents(600), 600);
    }

    proptest! {
        /// Replaying the ledger: when every due expiry is written, the balance is the sum
        /// of the entries, whatever the order of earning and spending.
        #[test]
        fn balance_is_the_sum_of_entries_once_expiries_are_written(
            ops in proptest::collection::vec((0u8..4, 1i64..200, 0i64..50), 1..40)
        ) {
            let mut entries: Vec<LedgerEntry> = Vec::new();
            let mut day = 0;
            for (op, points, gap) in ops {
                day += gap;
                let id = entries.len() as i64 + 1;
                // Write due expiries first, as the daily job does.
                for lot in replay(&entries).due_to_expire(t(day)) {
                    let id = entries.len() as i64 + 1;
                    let e = entry(id, EntryKind::Expire, -lot.remaining, day, None, Some(lot.entry_id));
                    entries.push(e);
                }
                let id = id.max(entries.len() as i64 + 1);
                let balance = replay(&entries).balance(t(day));
                match op {
                    0 | 1 => entries.push(entry(id, EntryKind::Earn, points, day, Some(day + 90), None)),
                    2 if balance >= points => entries.push(entry(id, EntryKind::Redeem, -points, day, None, None)),
                    3 => entries.push(entry(id, EntryKind::Adjust, points, day, None, None)),
                    _ => {}
                }
                let s = replay(&entries);
                let sum: i64 = entries.iter().map(|e| e.points).sum();
                prop_assert!(s.balance(t(day)) >= 0);
                // Not yet written expiries are the only difference.
                let unwritten: i64 = s.due_to_expire(t(day)).iter().map(|l| l.remaining).sum();
                prop_assert_eq!(s.balance(t(day)), sum - unwritten);
            }
        }
    }
}
