//! Daily relationship scores (WB1, RT2, OF2): every customer's RFM scores and segment, the
//! shop's "also bought" rules (support, confidence, lift), and — from
//! BG/NBD and Gamma-Gamma fitted to the shop's own orders — the probability they are still
//! active, their expected purchases in the next 90 days and the value of the next 12 months.
//! Programme conditions read them as `stats.rfm_segment`, `stats.p_alive`,
//! `stats.expected_purchases_90d` and `stats.clv_12m_cents`.
//!
//! When a repeat customer's probability of being active falls below one half, a
//! `likely_lapsing` event is posted once, so win-back starts when the customer is likely
//! lapsing — measured by the model against their own rhythm — rather than after a fixed
//! period. The models are refitted weekly (`[scores] refit_days`; their parameters move
//! slowly) and applied daily.
//!
//! The day's run is a `scores` job of its own (issue 22): it reads every order's day, total
//! and customer once (the RFM quintiles and the models need the whole shop), then writes the
//! scores [`SLICE`] customers to a transaction, each slice with its `likely_lapsing` events
//! and a renewal of the job's lease, so a million customers take about two thousand statements
//! and a worker killed mid-way leaves a run that the next one finishes (a slice already
//! written sees its own lapse as old news; events are unique by their source).

use aftercare_store::CustomerId;
use std::collections::BTreeMap;

use aftercare_insight::clv::{self, BgNbd, GammaGamma, History};
use aftercare_insight::recs::{self, Minimums};
use aftercare_insight::rfm::{self, RfmInput};
use aftercare_store::{AlsoBought, Scores, Store, Tx};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::ingest::append_event;

/// Below this probability of being active a repeat customer is likely lapsing.
pub const LAPSING_BELOW: f64 = 0.5;
/// How far back a lapse seen at a customer's first score is still news (see [`lapses_now`]).
pub const FRESH_LAPSE_DAYS: i64 = 30;

/// The one lapse rule, for the daily scores and the fast simulator alike: a score below
/// [`LAPSING_BELOW`] is a lapse when the previous score stood at or above it. With no
/// previous score — the first score after an import, or the first once the models can be
/// fitted — the customer may have stopped buying years ago; that is history, and win-back
/// must not mail them about it (issue 24: imported history never triggers messages about the
/// past). It counts only when they stood at or above the line [`FRESH_LAPSE_DAYS`] earlier
/// (`earlier`; `None` when they had not bought yet), so a lapse of the last month is still
/// met.
pub fn lapses_now(p: f64, previous: Option<f64>, earlier: impl FnOnce() -> Option<f64>) -> bool {
    p < LAPSING_BELOW
        && match previous {
            Some(prev) => prev >= LAPSING_BELOW,
            None => earlier().is_none_or(|e| e >= LAPSING_BELOW),
        }
}

/// P(alive) under `model` on `day`, from the purchase days up to that day (`None` before the
/// first).
pub fn p_alive_on(
    model: &BgNbd,
    days: &BTreeMap<jiff::civil::Date, i64>,
    day: jiff::civil::Date,
) -> Option<f64> {
    days.range(..=day).next()?;
    let before: BTreeMap<jiff::civil::Date, i64> =
        days.range(..=day).map(|(d, c)| (*d, *c)).collect();
    Some(model.p_alive(&history(&before, day)))
}
/// Fewest repeat customers to fit the models on.
const MIN_REPEATERS: usize = 20;

/// `[scores]`: how the daily scores are made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ScoresConfig {
    /// Days between fits of the lifetime models (at least 1; the configuration refuses 0). Their parameters move
    /// slowly; a large shop may fit less often, and a simulation compared with the fast
    /// simulator fits once, as the fast simulator does.
    pub refit_days: u32,
}

impl Default for ScoresConfig {
    fn default() -> Self {
        Self { refit_days: 7 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fitted {
    fitted_at: Timestamp,
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    p: f64,
    q: f64,
    gamma: f64,
}

/// Fits (every `refit_days`) or loads the models; `None` when there is too little data.
async fn models(
    tx: &mut Tx,
    histories: &[History],
    now: Timestamp,
    refit_days: u32,
) -> aftercare_store::Result<Option<(BgNbd, GammaGamma)>> {
    const KEY: &str = "clv_models";
    let stored: Option<Fitted> = tx
        .setting(KEY)
        .await?
        .and_then(|s| serde_json::from_str(&s).ok());
    let fresh = stored.as_ref().filter(|f| {
        now.duration_since(f.fitted_at)
            < SignedDuration::from_hours(24 * i64::from(refit_days.max(1)))
    });
    let fitted = match fresh {
        Some(f) => f.clone(),
        None => {
            if histories.iter().filter(|h| h.frequency > 0.0).count() < MIN_REPEATERS {
                return Ok(None);
            }
            let previous = stored.clone().map(unpack);
            let (m, s) = match (
                BgNbd::fit_from(histories, previous.as_ref().map(|p| &p.0)),
                GammaGamma::fit_from(histories, previous.as_ref().map(|p| &p.1)),
            ) {
                (Ok(m), Ok(s)) => (m, s),
                (Err(e), _) | (_, Err(e)) => {
                    warn!(error = %e, "Fitting the lifetime models failed; keeping the last fit.");
                    return Ok(stored.map(unpack));
                }
            };
            let f = Fitted {
                fitted_at: now,
                r: m.r,
                alpha: m.alpha,
                a: m.a,
                b: m.b,
                p: s.p,
                q: s.q,
                gamma: s.gamma,
            };
            tx.put_setting(KEY, &serde_json::to_string(&f).unwrap_or_default())
                .await?;
            debug!(
                r = m.r,
                alpha = m.alpha,
                a = m.a,
                b = m.b,
                "Lifetime models fitted."
            );
            f
        }
    };
    Ok(Some(unpack(fitted)))
}

fn unpack(f: Fitted) -> (BgNbd, GammaGamma) {
    (
        BgNbd {
            r: f.r,
            alpha: f.alpha,
            a: f.a,
            b: f.b,
            log_likelihood: f64::NAN,
        },
        GammaGamma {
            p: f.p,
            q: f.q,
            gamma: f.gamma,
            log_likelihood: f64::NAN,
        },
    )
}

/// A customer's purchase history on `today` for the lifetime models, from their purchase
/// days (the cents spent each day): the first purchase is not counted as a repeat.
pub fn history(days: &BTreeMap<jiff::civil::Date, i64>, today: jiff::civil::Date) -> History {
    let first = days.keys().next().copied().unwrap_or(today);
    let last = days.keys().next_back().copied().unwrap_or(today);
    let weeks = |a: jiff::civil::Date, b: jiff::civil::Date| (b - a).get_days() as f64 / 7.0;
    let repeats = days.len().saturating_sub(1);
    let repeat_total: i64 = days.values().skip(1).sum();
    History {
        frequency: repeats as f64,
        recency: weeks(first, last),
        age: weeks(first, today),
        monetary: if repeats == 0 {
            0.0
        } else {
            repeat_total as f64 / repeats as f64
        },
    }
}

/// What the lifetime models say of one history: the same numbers for the daily scores and
/// for the fast simulator's `stats`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifetime {
    /// The chance the customer is still active.
    pub p_alive: f64,
    /// Purchases expected in the next 90 days.
    pub expected_purchases_90d: f64,
    /// Value over the next 12 months in cents (needs the spend model).
    pub clv_12m_cents: Option<i64>,
}

/// [`Lifetime`] of `h` under `model` and, when fitted, the spend model.
pub fn lifetime(model: &BgNbd, spend: Option<&GammaGamma>, h: &History) -> Lifetime {
    Lifetime {
        p_alive: model.p_alive(h),
        expected_purchases_90d: model.expected_purchases(h, 90.0 / 7.0),
        clv_12m_cents: spend
            .map(|g| clv::lifetime_value(model, g, h, 12, 52.0 / 12.0, 0.01).round() as i64),
    }
}

/// Customers whose scores are written in one transaction.
pub const SLICE: usize = 5_000;

/// The scores key in the cursors: the last day scored.
const CURSOR: &str = "scores";

/// Whether the scores of `now`'s UTC day are still to be worked out.
pub async fn due(tx: &mut Tx, now: Timestamp) -> aftercare_store::Result<bool> {
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    Ok(tx
        .cursor(CURSOR)
        .await?
        .is_none_or(|last| last.to_zoned_datetime(jiff::tz::TimeZone::UTC).date() < today))
}

/// Computes and stores every customer's scores at `now`, posting `likely_lapsing` events;
/// returns the number of customers scored. Runs at most once per UTC day. A `lease` is
/// renewed with every slice (the `scores` job's).
pub async fn refresh(
    store: &Store,
    config: &ScoresConfig,
    now: Timestamp,
    lease: Option<&crate::worker::Lease<'_>>,
) -> aftercare_store::Result<usize> {
    let mut tx = store.begin().await?;
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    if !due(&mut tx, now).await? {
        return Ok(0);
    }
    if let Some(lease) = lease {
        lease.renew(&mut tx).await?;
    }
    // Purchase days per customer (several orders on one day are one purchase).
    let mut days: BTreeMap<CustomerId, BTreeMap<jiff::civil::Date, i64>> = BTreeMap::new();
    for (customer, at, cents) in tx.order_rows().await? {
        if at > now {
            continue;
        }
        let day = at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        *days.entry(customer).or_default().entry(day).or_default() += cents;
    }
    let ids: Vec<CustomerId> = days.keys().copied().collect();
    let mut histories = Vec::with_capacity(ids.len());
    let mut inputs = Vec::with_capacity(ids.len());
    for by_day in days.values() {
        let last = *by_day.keys().next_back().unwrap_or(&today);
        histories.push(history(by_day, today));
        inputs.push(RfmInput {
            recency_days: (today - last).get_days() as f64,
            frequency: by_day.len() as f64,
            monetary: by_day.values().sum::<i64>() as f64,
        });
    }
    // A refit is stored with the read (a run that dies later applies the same models).
    let models = models(&mut tx, &histories, now, config.refit_days).await?;
    tx.commit().await?;
    let rfm_scores = rfm::score(&inputs);
    let a_while_ago = today
        .checked_sub(jiff::Span::new().days(FRESH_LAPSE_DAYS))
        .unwrap_or(today);
    for (slice, first) in ids.chunks(SLICE).zip((0..).step_by(SLICE)) {
        let mut tx = store.begin().await?;
        if let Some(lease) = lease {
            lease.renew(&mut tx).await?;
        }
        let scores: Vec<Scores> = slice
            .iter()
            .enumerate()
            .map(|(k, &customer_id)| {
                let i = first + k;
                let s = rfm_scores[i];
                let (p_alive, expected, value) = match &models {
                    Some((m, g)) => {
                        let l = lifetime(m, Some(g), &histories[i]);
                        (
                            Some(l.p_alive),
                            Some(l.expected_purchases_90d),
                            l.clv_12m_cents,
                        )
                    }
                    None => (None, None, None),
                };
                Scores {
                    customer_id,
                    rfm_r: i32::from(s.r),
                    rfm_f: i32::from(s.f),
                    rfm_m: i32::from(s.m),
                    rfm_segment: s.segment.as_str().to_string(),
                    p_alive,
                    expected_purchases_90d: expected,
                    clv_12m_cents: value,
                }
            })
            .collect();
        let previous = tx.put_many_scores(&scores, now).await?;
        for (k, (scores, previous)) in scores.iter().zip(previous).enumerate() {
            let i = first + k;
            let customer_id = scores.customer_id;
            if let Some(p) = scores.p_alive
                && histories[i].frequency > 0.0
                && lapses_now(p, previous, || {
                    let (model, _) = models.as_ref()?;
                    p_alive_on(model, &days[&customer_id], a_while_ago)
                })
            {
                let properties = serde_json::json!({
                    "p_alive": p,
                    "expected_purchases_90d": scores.expected_purchases_90d,
                    "rfm_segment": scores.rfm_segment,
                    "days_since_last_order": inputs[i].recency_days as i64,
                });
                let source = format!("lapsing:{customer_id}:{today}");
                append_event(
                    &mut tx,
                    customer_id,
                    "likely_lapsing",
                    now,
                    &properties,
                    Some(&source),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
    }
    let mut tx = store.begin().await?;
    if let Some(lease) = lease {
        lease.renew(&mut tx).await?;
    }
    // OF2: the day's "also bought" rules from every order's basket.
    let mut baskets: Vec<Vec<String>> = Vec::new();
    let mut current = None;
    for (order_id, sku) in tx.order_baskets().await? {
        if current != Some(order_id) {
            baskets.push(Vec::new());
            current = Some(order_id);
        }
        if let Some(b) = baskets.last_mut() {
            b.push(sku);
        }
    }
    let rules: Vec<AlsoBought> =
        recs::rules(baskets.iter().map(Vec::as_slice), Minimums::default())
            .into_iter()
            .map(|r| AlsoBought {
                sku: r.antecedent,
                other_sku: r.consequent,
                pair_orders: i64::try_from(r.pair_orders).unwrap_or(i64::MAX),
                support: r.support,
                confidence: r.confidence,
                lift: r.lift,
            })
            .collect();
    tx.replace_also_bought(&rules).await?;
    tx.set_cursor(CURSOR, now).await?;
    tx.commit().await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapse_is_news_only_when_it_crossed_the_line_since_the_last_score_or_lately() {
        // With a previous score: only the crossing counts, once.
        assert!(lapses_now(0.4, Some(0.6), || unreachable!()));
        assert!(!lapses_now(0.4, Some(0.45), || unreachable!()));
        assert!(!lapses_now(0.6, Some(0.7), || unreachable!()));
        // The first score (after an import): a lapse of the last month is news, an old one
        // is the past, and a customer who had not bought then has just lapsed.
        assert!(lapses_now(0.4, None, || Some(0.55)));
        assert!(!lapses_now(0.4, None, || Some(0.2)));
        assert!(lapses_now(0.4, None, || None));
    }

    #[test]
    fn p_alive_on_a_day_reads_only_the_purchases_up_to_it() {
        let model = BgNbd {
            r: 0.24,
            alpha: 4.41,
            a: 0.79,
            b: 2.43,
            log_likelihood: f64::NAN,
        };
        let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        let days: BTreeMap<_, _> = [(d("2026-01-01"), 100), (d("2026-02-01"), 100)].into();
        assert_eq!(p_alive_on(&model, &days, d("2025-12-31")), None);
        let before: BTreeMap<_, _> = [(d("2026-01-01"), 100)].into();
        assert_eq!(
            p_alive_on(&model, &days, d("2026-01-20")),
            Some(model.p_alive(&history(&before, d("2026-01-20"))))
        );
        let later = p_alive_on(&model, &days, d("2026-09-01")).unwrap();
        assert!(later < p_alive_on(&model, &days, d("2026-03-01")).unwrap());
    }
}
