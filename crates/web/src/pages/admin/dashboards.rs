//! Dashboards: how the relationship is doing, on one page, with server-rendered SVG charts
//! and the numbers beside them — contacts per customer in the last year against the band
//! (FR1), per channel and class (CH1); RFM segments and P(alive) (WB1); each programme's goal
//! uplift against its holdout with 95% intervals; retention cohorts, repeat purchases,
//! revenue from existing customers, referral conversions and loyalty engagement (RT2); NPS,
//! CSAT and the Pulse gap per driver by segment and month (MQ1, MQ2). The figures come from
//! [`aftercare_engine::reports`], the same as `aftercare insight`.
//!
//! On a large store they take seconds (every message of the year, every order), so they are
//! worked out in the background ([`super::figures`]) and shown with their age: fresh for
//! [`FRESH_FOR`], then served as they are while newer ones are worked out behind them.

use aftercare_engine::reports::{self, ContactBand};
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Team;
use super::charts::{self, Estimate, Mark};
use super::{AdminResult, Lang, page};
use crate::AppState;

/// How long the dashboards' figures are shown without working them out again.
pub const FRESH_FOR: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Counts above this share one bar.
const HISTOGRAM_TOP: i64 = 15;

/// The contacts histogram's bars: one per count, the last for `HISTOGRAM_TOP` and more.
pub fn contact_bars(histogram: &[(i64, i64)], band: (u32, u32)) -> Vec<(String, i64, Mark)> {
    let top = histogram
        .iter()
        .map(|(c, _)| *c)
        .max()
        .unwrap_or(0)
        .clamp(i64::from(band.1) + 2, HISTOGRAM_TOP);
    (0..=top)
        .map(|c| {
            let customers: i64 = histogram
                .iter()
                .filter(|(n, _)| if c == HISTOGRAM_TOP { *n >= c } else { *n == c })
                .map(|(_, k)| k)
                .sum();
            let label = if c == HISTOGRAM_TOP {
                format!("{c}+")
            } else {
                c.to_string()
            };
            let mark = if c < i64::from(band.0) {
                Mark::Below
            } else if c <= i64::from(band.1) {
                Mark::Inside
            } else {
                Mark::Above
            };
            (label, customers, mark)
        })
        .collect()
}

fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or("–".into(), |r| format!("{:.0}%", 100.0 * r))
}

/// The contacts histogram against the band, titled, as bars and as an SVG chart.
pub fn band_chart(
    lang: Lang,
    title: &str,
    x_desc: &str,
    histogram: &[(i64, i64)],
    band: (u32, u32),
) -> (Vec<(String, i64, Mark)>, String) {
    let bars = contact_bars(histogram, band);
    let title = format!(
        "{title}; {} {}–{}",
        lang.pick("band", "band"),
        band.0,
        band.1
    );
    let chart = charts::histogram(&title, x_desc, lang.pick("customers", "klanten"), &bars);
    (bars, chart)
}

fn contacts_section(lang: Lang, c: &ContactBand) -> Value {
    let title = lang.pick(
        "Customers by relationship and promotional contacts in the last year",
        "Klanten naar relatie- en promotiecontacten in het afgelopen jaar",
    );
    let (bars, chart) = band_chart(
        lang,
        title,
        lang.pick(
            "contacts in the last year",
            "contacten in het afgelopen jaar",
        ),
        &c.histogram,
        c.band,
    );
    json!({
        "chart": (c.customers > 0).then_some(chart), "title": title, "customers": c.customers,
        "whole_year_only": c.whole_year_only,
        "band": format!("{}–{}", c.band.0, c.band.1),
        "below": c.below, "inside": c.inside, "above": c.above,
        "below_share": share(c.below, c.customers), "inside_share": share(c.inside, c.customers),
        "above_share": share(c.above, c.customers),
        "bars": bars.iter().map(|(l, n, _)| json!({"label": l, "customers": n})).collect::<Vec<_>>(),
        "channels": c.by_channel_class.iter().map(|r| json!({
            "channel": r.channel, "class": r.class, "messages": r.messages,
            "per_customer": format!("{:.2}", r.per_customer),
        })).collect::<Vec<_>>(),
        "from": c.from.strftime("%Y-%m-%d").to_string(), "to": c.to.strftime("%Y-%m-%d").to_string(),
    })
}

/// The dashboards' options.
#[derive(Debug, Deserialize)]
pub struct Options {
    /// `all`: count every customer in the contacts chart, also those who joined during the
    /// year; otherwise only customers for the whole year.
    customers: Option<String>,
}

/// `GET /admin/dashboards`: the figures worked out last (in the background), with their age.
pub async fn show(
    State(app): State<AppState>,
    team: Team,
    Query(options): Query<Options>,
) -> AdminResult {
    let lang = team.lang;
    let now = app.clock.now();
    let whole_year_only = options.customers.as_deref() != Some("all");
    let key = format!("dashboards {lang:?} {whole_year_only}");
    let looked = app
        .figures
        .look(&key, now, FRESH_FOR, || {
            let app = app.clone();
            async move {
                work_out(&app, lang, whole_year_only, now)
                    .await
                    .map_err(|e| format!("{e:?}"))
            }
        })
        .await;
    let mut ctx = match &looked.figures {
        Some((figures, _)) => figures.as_ref().clone(),
        None => json!({}),
    };
    ctx["section"] = json!("dashboards");
    ctx["figures"] = json!({
        "at": looked.figures.as_ref().map(|(_, at)| at.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        "minutes": looked.figures.as_ref().map(|(_, at)| now.duration_since(*at).as_mins().max(0)),
        "working": looked.working,
        "failed": looked.failed.is_some(),
    });
    page(&team, "dashboards.html", ctx)
}

/// Every figure of the dashboards, as the page's context.
async fn work_out(
    app: &AppState,
    lang: Lang,
    whole_year_only: bool,
    now: jiff::Timestamp,
) -> Result<Value, super::AdminError> {
    let policy = app.engine.policy();
    let contacts = reports::contact_band(
        &app.store,
        (policy.band_min, policy.band_max),
        now,
        whole_year_only,
    )
    .await?;
    let mut segments = reports::segments(&app.store).await?;
    segments.rfm.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then(a.segment.cmp(&b.segment))
    });
    let uplifts = reports::uplifts(&app.store, now).await?;
    let attribution = app.engine.attribution().clone();
    let credited = reports::attribution(&app.store, &attribution, now).await?;
    let mut tx = app.store.begin_read().await?;
    let campaign_names: std::collections::HashMap<String, String> = tx
        .campaigns()
        .await?
        .into_iter()
        .map(|c| (format!("campaign-{}", c.id), c.name))
        .collect();
    tx.commit().await?;
    let retention = reports::retention_report(&app.store, now).await?;
    let pulse = reports::pulse(&app.store).await?;

    let segment_chart = (!segments.rfm.is_empty()).then(|| {
        charts::bars(
            lang.pick("Customers per RFM segment", "Klanten per RFM-segment"),
            lang.pick("customers", "klanten"),
            &segments
                .rfm
                .iter()
                .map(|r| (r.segment.replace('_', " "), r.customers as f64))
                .collect::<Vec<_>>(),
        )
    });
    let p_alive_chart = (segments.p_alive_tenths.iter().sum::<i64>() > 0).then(|| {
        let bars: Vec<(String, i64, Mark)> = segments
            .p_alive_tenths
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mark = if i < 5 { Mark::Below } else { Mark::Inside };
                (format!("{:.1}", i as f64 / 10.0), *n, mark)
            })
            .collect();
        charts::histogram(
            lang.pick(
                "Customers by probability of still being active (BG/NBD); grey: likely lapsing",
                "Klanten naar kans dat ze nog actief zijn (BG/NBD); grijs: haakt waarschijnlijk af",
            ),
            lang.pick("P(alive), from", "P(actief), vanaf"),
            lang.pick("customers", "klanten"),
            &bars,
        )
    });
    let uplift_chart = (!uplifts.is_empty()).then(|| {
        charts::intervals(
            lang.pick(
                "Goal conversion uplift against holdout, with 95% interval",
                "Extra doelconversie tegenover de controlegroep, met 95%-interval",
            ),
            lang.pick("percentage points", "procentpunten"),
            &uplifts
                .iter()
                .map(|(p, u)| Estimate {
                    label: p.clone(),
                    value: 100.0 * u.conversion_uplift,
                    interval: Some((100.0 * u.conversion_ci.0, 100.0 * u.conversion_ci.1)),
                })
                .collect::<Vec<_>>(),
        )
    });
    let all_drivers = pulse.pulse_gap.get("all");
    let pulse_chart = all_drivers.filter(|d| !d.is_empty()).map(|drivers| {
        charts::intervals(
            lang.pick(
                "Pulse gap per driver (importance − evaluation; above 0 the brand falls short)",
                "Pulse-gat per driver (belang − oordeel; boven 0 schiet het merk tekort)",
            ),
            lang.pick(
                "gap (points on the 1–5 scale)",
                "gat (punten op de schaal 1–5)",
            ),
            &drivers
                .iter()
                .map(|(d, g)| Estimate {
                    label: d.replace('_', " "),
                    value: g.gap,
                    interval: g.ci,
                })
                .collect::<Vec<_>>(),
        )
    });

    let r = &retention.retention;
    let referrals_converted = retention.referrals.get("converted").copied().unwrap_or(0);
    let referrals_total: i64 = retention.referrals.values().sum();
    let nps_all = pulse.nps.get("all");
    let csat_all = pulse.csat.get("all");
    let gap_rows = |table: &std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, aftercare_insight::pulse::Gap>,
    >| {
        table
            .iter()
            .flat_map(|(group, drivers)| {
                drivers.iter().map(move |(d, g)| {
                    json!({"group": group, "driver": d, "importance": format!("{:.2}", g.importance),
                       "evaluation": format!("{:.2}", g.evaluation), "gap": format!("{:+.2}", g.gap),
                       "ci": g.ci.map(|(a, b)| format!("{a:+.2} … {b:+.2}")), "n": g.n})
                })
            })
            .collect::<Vec<_>>()
    };
    Ok(json!({
            "contacts": contacts_section(lang, &contacts),
            "tiles": {
                "in_band": share(contacts.inside, contacts.customers),
                "repeat_365": pct(r.repeat_rate[2]),
                "from_existing": format!("{:.0}%", 100.0 * r.revenue_from_existing_last_year),
                "nps": nps_all.map(|n| format!("{:+.0}", n.score)),
                "csat": csat_all.map(|c| format!("{:.2}", c.mean)),
                "referrals": format!("{referrals_converted} / {referrals_total}"),
                "loyalty": format!("{:.0}%", 100.0 * retention.loyalty_engaged_share),
                "customers": r.customers,
            },
            "segments": {
                "chart": segment_chart, "p_alive_chart": p_alive_chart, "scored": segments.scored,
                "rows": segments.rfm.iter().map(|s| json!({
                    "segment": s.segment.replace('_', " "), "customers": s.customers,
                    "share": share(s.customers, segments.scored),
                    "p_alive": s.mean_p_alive.map(|p| format!("{p:.2}")),
                    "clv": s.clv_12m.map(|v| format!("€ {v:.0}")),
                })).collect::<Vec<_>>(),
            },
            "uplift": {
                "chart": uplift_chart,
                "rows": uplifts.iter().map(|(p, u)| json!({
                    "programme": p, "treated": u.treated.n, "treated_rate": format!("{:.1}%", 100.0 * u.treated.rate),
                    "holdout": u.holdout.n, "holdout_rate": format!("{:.1}%", 100.0 * u.holdout.rate),
                    "uplift": format!("{:+.1}", 100.0 * u.conversion_uplift),
                    "ci": format!("{:+.1} … {:+.1}", 100.0 * u.conversion_ci.0, 100.0 * u.conversion_ci.1),
                    "revenue": format!("{:+.2}", u.revenue_uplift),
                    "revenue_ci": format!("{:+.2} … {:+.2}", u.revenue_ci.0, u.revenue_ci.1),
                })).collect::<Vec<_>>(),
            },
            "attribution": {
                "window": attribution.window_days, "days": attribution.report_days,
                "rows": credited.iter().map(|(source, c)| {
                    let (label, href) = match campaign_names.get(source) {
                        Some(name) => (
                            format!("{} {name}", lang.pick("Campaign", "Campagne")),
                            format!("/admin/campaigns/{}", source.trim_start_matches("campaign-")),
                        ),
                        None => (source.clone(), format!("/admin/programmes/{}", super::auth::urlencoding(source))),
                    };
                    json!({
                        "label": label, "href": href, "sent": c.sent, "clicked": c.clicked,
                        "click_rate": share(c.clicked, c.sent), "orders": c.orders,
                        "revenue": format!("€ {:.2}", c.revenue_cents as f64 / 100.0),
                    })
                }).collect::<Vec<_>>(),
            },
            "retention": {
                "repeat": r.repeat_rate.iter().map(|x| pct(*x)).collect::<Vec<_>>(),
                "windows": aftercare_insight::retention::WINDOWS,
                "cohorts": r.cohorts.iter().rev().take(24).map(|c| json!({
                    "month": c.month, "customers": c.customers,
                    "repeat": c.repeat_rate.iter().map(|x| pct(*x)).collect::<Vec<_>>(),
                    "revenue": format!("{:.2}", c.revenue_per_customer),
                })).collect::<Vec<_>>(),
                "referrals": retention.referrals,
            },
            "pulse": {
                "chart": pulse_chart,
                "nps": pulse.nps.iter().map(|(s, n)| json!({"segment": s, "score": format!("{:+.1}", n.score),
                    "ci": format!("{:+.1} … {:+.1}", n.ci.0, n.ci.1), "n": n.n})).collect::<Vec<_>>(),
                "csat": pulse.csat.iter().map(|(s, c)| json!({"segment": s, "mean": format!("{:.2}", c.mean),
                    "satisfied": format!("{:.0}%", 100.0 * c.satisfied), "n": c.n})).collect::<Vec<_>>(),
                "by_segment": gap_rows(&pulse.pulse_gap),
                "by_month": gap_rows(&pulse.pulse_gap_by_month),
            },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_bars_run_past_the_band_and_gather_the_tail() {
        let bars = contact_bars(&[(0, 3), (8, 5), (20, 1), (16, 2)], (7, 9));
        assert_eq!(bars.len(), 16);
        assert_eq!(bars[0], ("0".into(), 3, Mark::Below));
        assert_eq!(bars[8], ("8".into(), 5, Mark::Inside));
        assert_eq!(bars[15], ("15+".into(), 3, Mark::Above));
        // A quiet shop still sees the whole band and a little beyond.
        let quiet = contact_bars(&[(0, 10)], (7, 9));
        assert_eq!(quiet.len(), 12);
        assert_eq!(quiet[11].2, Mark::Above);
    }
}
