//! How the relationship is doing, read from the store for the team: contacts per customer
//! against the yearly band (FR1), RFM segments and the lifetime models' P(alive) (WB1),
//! each programme's goal conversion against its holdout, retention cohorts with referral
//! and loyalty figures (RT2), and NPS, CSAT and the Pulse gap (MQ1, MQ2). The statistics
//! are the pure functions of `aftercare-insight`; this module only gathers their inputs.
//! Both `aftercare insight …` and the admin UI's dashboards use it, so they agree.
//!
//! What it does not do yet: retention reads every order at once (fine for shops of up to a
//! few hundred thousand orders; the other reports aggregate in the database).

use std::collections::BTreeMap;

use aftercare_insight::pulse::{Csat, DriverAnswer, Gap, Nps, csat, nps, pulse_gaps};
use aftercare_insight::retention::{Retention, retention};
use aftercare_insight::uplift::{Outcome, Uplift, uplift};
use aftercare_store::{Result, Store, SurveyResult};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// A year, for the rolling windows.
const YEAR: SignedDuration = SignedDuration::from_hours(24 * 365);

/// Contacts per customer in the last year against the band (FR1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactBand {
    /// The window's start (a year before `to`).
    pub from: Timestamp,
    /// The window's end.
    pub to: Timestamp,
    /// The default band (segments may have their own).
    pub band: (u32, u32),
    /// Whether only customers for the whole window are counted (FR1's measure) or everyone
    /// who is a customer at its end.
    pub whole_year_only: bool,
    /// The customers counted.
    pub customers: i64,
    /// (contacts, customers), zero included.
    pub histogram: Vec<(i64, i64)>,
    /// Customers below, inside and above the band.
    pub below: i64,
    /// Inside the band.
    pub inside: i64,
    /// Above the band's top.
    pub above: i64,
    /// Messages sent to these customers in the window, by channel and class.
    pub by_channel_class: Vec<ChannelClass>,
}

/// Messages of one channel and class in the window.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ChannelClass {
    /// `email`, `letter`, `sms`, `push`, …
    pub channel: String,
    /// `transactional`, `relationship`, `promotional`, …
    pub class: String,
    /// Messages sent.
    pub messages: i64,
    /// Messages per counted customer.
    pub per_customer: f64,
}

/// The year up to `now`: customers by relationship and promotional contacts. With
/// `whole_year_only`, only customers who were customers a year ago count (the band is a
/// yearly measure); otherwise everyone who is a customer now.
pub async fn contact_band(
    store: &Store,
    band: (u32, u32),
    now: Timestamp,
    whole_year_only: bool,
) -> Result<ContactBand> {
    let from = now - YEAR;
    let customers_at = if whole_year_only { from } else { now };
    let mut tx = store.begin_read().await?;
    let histogram = tx.contact_histogram(from, now, customers_at).await?;
    let sent = tx.sent_by_channel_class(from, now, customers_at).await?;
    tx.commit().await?;
    let customers: i64 = histogram.iter().map(|(_, n)| n).sum();
    let (lo, hi) = (i64::from(band.0), i64::from(band.1));
    let count = |keep: &dyn Fn(i64) -> bool| -> i64 {
        histogram
            .iter()
            .filter(|(c, _)| keep(*c))
            .map(|(_, n)| n)
            .sum()
    };
    Ok(ContactBand {
        from,
        to: now,
        band,
        whole_year_only,
        customers,
        below: count(&|c| c < lo),
        inside: count(&|c| (lo..=hi).contains(&c)),
        above: count(&|c| c > hi),
        by_channel_class: sent
            .into_iter()
            .map(|(channel, class, messages)| ChannelClass {
                channel,
                class,
                messages,
                per_customer: messages as f64 / customers.max(1) as f64,
            })
            .collect(),
        histogram,
    })
}

/// The daily scores summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segments {
    /// Per RFM segment.
    pub rfm: Vec<SegmentRow>,
    /// Scored customers by tenth of P(alive) (index 0: below 0.1).
    pub p_alive_tenths: [i64; 10],
    /// Customers with scores.
    pub scored: i64,
}

/// One RFM segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRow {
    /// `champions`, `loyal`, `at_risk`, …
    pub segment: String,
    /// Customers in it.
    pub customers: i64,
    /// Mean probability of still being active, where the models ran.
    pub mean_p_alive: Option<f64>,
    /// Summed value of the next 12 months, in euros.
    pub clv_12m: Option<f64>,
}

/// The RFM segments and P(alive) of the last daily scoring.
pub async fn segments(store: &Store) -> Result<Segments> {
    let mut tx = store.begin_read().await?;
    let rows = tx.segment_summary().await?;
    let tenths = tx.p_alive_tenths().await?;
    tx.commit().await?;
    let mut p_alive_tenths = [0; 10];
    for (tenth, n) in tenths {
        if let Some(slot) = usize::try_from(tenth)
            .ok()
            .and_then(|i| p_alive_tenths.get_mut(i))
        {
            *slot += n;
        }
    }
    Ok(Segments {
        scored: rows.iter().map(|r| r.1).sum(),
        rfm: rows
            .into_iter()
            .map(|(segment, customers, mean_p_alive, clv)| SegmentRow {
                segment,
                customers,
                mean_p_alive,
                clv_12m: clv.map(|c| c as f64 / 100.0),
            })
            .collect(),
        p_alive_tenths,
    })
}

/// Each programme's goal conversion and revenue against its holdout, for enrolments whose
/// goal window has closed by `now`; programmes without both groups are left out.
pub async fn uplifts(store: &Store, now: Timestamp) -> Result<BTreeMap<String, Uplift>> {
    let mut tx = store.begin_read().await?;
    let rows = tx.goal_outcomes(now).await?;
    tx.commit().await?;
    let mut by_programme: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for (programme, holdout, converted, revenue) in rows {
        by_programme.entry(programme).or_default().push(Outcome {
            holdout,
            converted,
            revenue: revenue as f64 / 100.0,
        });
    }
    Ok(by_programme
        .into_iter()
        .filter_map(|(p, o)| uplift(&o).map(|u| (p, u)))
        .collect())
}

/// Retention with the shop's referral and loyalty figures (RT2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Cohorts, repeat rates and revenue from existing customers.
    #[serde(flatten)]
    pub retention: Retention,
    /// Referrals by state (`pending`, `converted`, `refused`, …).
    pub referrals: BTreeMap<String, i64>,
    /// Share of customers who earned or spent loyalty points in the last year.
    pub loyalty_engaged_share: f64,
}

/// Retention of the shop's own orders, measured at `now`.
pub async fn retention_report(store: &Store, now: Timestamp) -> Result<RetentionReport> {
    let as_of = now.to_zoned_datetime(TimeZone::UTC).date();
    let mut tx = store.begin_read().await?;
    let orders = tx.order_rows().await?;
    let referrals = tx.referral_counts().await?.into_iter().collect();
    let engaged = tx.loyalty_engaged_since(now - YEAR).await?;
    tx.commit().await?;
    let ids: Vec<String> = orders.iter().map(|o| o.0.to_string()).collect();
    let mut rows = Vec::with_capacity(orders.len());
    for (i, (_, at, cents)) in orders.iter().enumerate() {
        let day = at.to_zoned_datetime(TimeZone::UTC).date();
        rows.push((ids[i].as_str(), day, *cents as f64 / 100.0));
    }
    let retention = retention(rows, as_of);
    let loyalty_engaged_share = engaged as f64 / retention.customers.max(1) as f64;
    Ok(RetentionReport {
        retention,
        referrals,
        loyalty_engaged_share,
    })
}

/// Survey results (MQ1, MQ2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PulseReport {
    /// NPS by segment (and `all`).
    pub nps: BTreeMap<String, Nps>,
    /// CSAT by segment (and `all`).
    pub csat: BTreeMap<String, Csat>,
    /// The Pulse gap per segment (and `all`) and driver.
    pub pulse_gap: BTreeMap<String, BTreeMap<String, Gap>>,
    /// The Pulse gap per month (`YYYY-MM`, when the survey was sent) and driver.
    pub pulse_gap_by_month: BTreeMap<String, BTreeMap<String, Gap>>,
}

/// Every answered survey, summed up.
pub async fn pulse(store: &Store) -> Result<PulseReport> {
    let mut tx = store.begin_read().await?;
    let nps_rows = tx.survey_results("nps").await?;
    let csat_rows = tx.survey_results("csat").await?;
    let driver_rows = tx.survey_results("relationship").await?;
    tx.commit().await?;
    let nps_by = by_segment(&nps_rows, "nps")
        .iter()
        .filter_map(|(k, v)| nps(v).map(|n| (k.clone(), n)))
        .collect();
    let csat_by = by_segment(&csat_rows, "csat")
        .iter()
        .filter_map(|(k, v)| csat(v).map(|n| (k.clone(), n)))
        .collect();
    let mut by_month = pulse_gaps(&driver_answers(&driver_rows, true));
    by_month.remove("all");
    Ok(PulseReport {
        nps: nps_by,
        csat: csat_by,
        pulse_gap: pulse_gaps(&driver_answers(&driver_rows, false)),
        pulse_gap_by_month: by_month,
    })
}

/// The scores given to question `q`, by segment and in `all`.
fn by_segment(rows: &[SurveyResult], q: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (segment, question, score, ..) in rows {
        if let (Some(s), true) = (score, question == q) {
            let s = u8::try_from(*s).unwrap_or(0);
            out.entry("all".into()).or_default().push(s);
            out.entry(segment.clone()).or_default().push(s);
        }
    }
    out
}

/// The driver answers, grouped by segment or by the month the survey was sent.
fn driver_answers(rows: &[SurveyResult], by_month: bool) -> Vec<DriverAnswer> {
    rows.iter()
        .filter_map(|(segment, question, _, importance, evaluation, sent)| {
            let group = if by_month {
                sent.to_zoned_datetime(TimeZone::UTC)
                    .strftime("%Y-%m")
                    .to_string()
            } else {
                segment.clone()
            };
            Some(DriverAnswer {
                segment: group,
                driver: question.strip_prefix("driver:")?.to_string(),
                importance: f64::from((*importance)?),
                evaluation: f64::from((*evaluation)?),
            })
        })
        .collect()
}

/// What a simulation did (`aftercare simulate`, and the admin UI's simulator).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SimulationReport {
    /// Days simulated.
    pub days: i64,
    /// Customers in the shop for the whole period (the band statistics count these).
    pub customers: usize,
    /// Customers who joined during the period (e.g. through a referral): not in the band
    /// statistics, since they were not customers for the whole period.
    pub joined_during: usize,
    /// Per programme.
    pub programmes: BTreeMap<String, ProgrammeReport>,
    /// Blocked messages by reason.
    pub blocked: Vec<(String, i64)>,
    /// Messages still held back when the period ends, by reason (they would go later).
    pub held: Vec<(String, i64)>,
    /// Customers by number of relationship and promotional contacts in the period, scaled
    /// to a year, in buckets (`00`, `01-03`, `04-06`, `07-09 (band)`, `10-12`, `13+`).
    pub contacts_histogram: BTreeMap<String, usize>,
    /// The same per number of contacts (scaled to a year).
    pub contacts_per_customer: BTreeMap<i64, usize>,
    /// The default band.
    pub band: (u32, u32),
    /// Messages sent to the customers of the whole period by channel and class; `per_customer`
    /// is scaled to a year.
    pub by_channel_class: Vec<ChannelClass>,
    /// Share of customers inside the band (scaled to a year).
    pub in_band: f64,
    /// Customers who ordered in the period (with `--store`, in the year before it) and have
    /// marketing consent and an email address.
    pub active_marketing_customers: usize,
    /// Share of those inside the band (FR1's target).
    pub active_marketing_in_band: f64,
    /// Customers above the band's top (should be none).
    pub above_band: usize,
    /// Customers by number of non-transactional messages (service, relationship,
    /// promotional) in the period, scaled to a year, in buckets of three (issue 23).
    pub attention_histogram: BTreeMap<String, usize>,
    /// The attention ceiling (`[policy] attention_max`; 0 when off).
    pub attention_max: u32,
    /// Customers above the attention ceiling.
    pub above_ceiling: usize,
    /// Times a customer got the same non-transactional message (topic) again within the
    /// policy's `repeat_days` (should be none).
    pub repeats: i64,
    /// The policy's repeat window in days.
    pub repeat_days: u32,
    /// Messages of the customer's own moments (birthday, anniversary, complaint recovery,
    /// referral reward) not sent because of the band or the ceiling (should be none).
    pub moments_squeezed: i64,
}

/// The attention histogram's bucket of a number of yearly non-transactional messages.
pub fn attention_bucket(n: i64) -> String {
    match n {
        0 => "00".to_string(),
        1..=24 => {
            let low = (n - 1) / 3 * 3 + 1;
            format!("{low:02}-{:02}", low + 2)
        }
        _ => "25+".to_string(),
    }
}

/// Times the same topic comes again within `window` in one customer's messages, given
/// oldest first as (topic, at).
pub fn repeats_within<T: Eq + std::hash::Hash>(
    sent: impl IntoIterator<Item = (T, jiff::Timestamp)>,
    window: jiff::SignedDuration,
) -> i64 {
    let mut last: std::collections::HashMap<T, jiff::Timestamp> = Default::default();
    let mut repeats = 0;
    for (topic, at) in sent {
        if let Some(before) = last.insert(topic, at)
            && at.duration_since(before) < window
        {
            repeats += 1;
        }
    }
    repeats
}

/// The histogram bucket of a number of yearly contacts (the band is 7–9).
pub fn contacts_bucket(n: i64) -> &'static str {
    match n {
        0 => "00",
        1..=3 => "01-03",
        4..=6 => "04-06",
        7..=9 => "07-09 (band)",
        10..=12 => "10-12",
        _ => "13+",
    }
}

/// One programme's figures in a simulation.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ProgrammeReport {
    /// Enrolments started.
    pub enrolled: i64,
    /// Of which in the holdout group.
    pub held_out: i64,
    /// Goals reached (treated and held out).
    pub goals_reached: i64,
    /// Goal conversion and revenue against the holdout, when the programme has both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplift: Option<Uplift>,
    /// Messages by state.
    pub messages: BTreeMap<String, i64>,
}

/// A message a customer would get in the coming year if nothing else happened (the admin
/// UI's contact calendar).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ProjectedContact {
    /// When it would go out (or was planned, when held back or blocked).
    pub at: Timestamp,
    /// The programme that sends it.
    pub programme_id: Option<String>,
    /// The template.
    pub template: String,
    /// `transactional`, `service`, `relationship`, `promotional`.
    pub class: String,
    /// The channel.
    pub channel: String,
    /// `sent`, `blocked`, `failed` or still `planned` at the year's end.
    pub state: String,
    /// The policy's reason in words.
    pub reason: String,
}

/// `[attribution]`: which orders are credited to a message (issue 21).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AttributionConfig {
    /// An order within this many days after a message's first click — after its sending,
    /// for a letter, which cannot be clicked — is credited to it (1–90).
    pub window_days: u32,
    /// The dashboards count orders of this many days back.
    pub report_days: u32,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        Self {
            window_days: 7,
            report_days: 90,
        }
    }
}

/// Orders credited to the messages of one programme or campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credited {
    /// Non-transactional messages sent in the period.
    pub sent: i64,
    /// Of which clicked.
    pub clicked: i64,
    /// Orders credited to them.
    pub orders: i64,
    /// Their value in cents.
    pub revenue_cents: i64,
}

/// Orders of the last `report_days` credited to the message that led to them — each order
/// once, to the customer's latest non-transactional message clicked (or, for a letter,
/// sent) within `window_days` before it — by programme, or by campaign as
/// `campaign-<id>`; with the messages sent and clicked in the period beside them. The
/// dashboards show it next to the holdout uplift: attribution says where orders came
/// after, the holdout what a programme caused.
pub async fn attribution(
    store: &Store,
    config: &AttributionConfig,
    now: Timestamp,
) -> Result<BTreeMap<String, Credited>> {
    let since = now - jiff::SignedDuration::from_hours(24 * i64::from(config.report_days.max(1)));
    let window = jiff::SignedDuration::from_hours(24 * i64::from(config.window_days.clamp(1, 90)));
    let mut tx = store.begin_read().await?;
    let sent = tx.sent_by_source(since).await?;
    let orders = tx
        .credited_orders(since, i64::try_from(window.as_micros()).unwrap_or(i64::MAX))
        .await?;
    let ids: Vec<i64> = orders.iter().filter_map(|(_, m)| *m).collect();
    let sources: std::collections::HashMap<i64, String> = tx
        .message_sources(&ids)
        .await?
        .into_iter()
        .map(|(id, programme, step)| (id, programme.unwrap_or(step)))
        .collect();
    tx.commit().await?;
    let mut out: BTreeMap<String, Credited> = BTreeMap::new();
    for (programme, step, n, clicked) in sent {
        let e = out.entry(programme.unwrap_or(step)).or_default();
        e.sent += n;
        e.clicked += clicked;
    }
    for (total, message) in orders {
        if let Some(source) = message.and_then(|m| sources.get(&m)) {
            let e = out.entry(source.clone()).or_default();
            e.orders += 1;
            e.revenue_cents += total;
        }
    }
    Ok(out)
}
