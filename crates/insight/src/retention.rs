//! Retention (RT2): monthly cohorts by first purchase with their repeat-purchase rates, and
//! the share of revenue that comes from existing customers, as pure functions over
//! (customer, day, amount) rows.
//!
//! A customer's *repeat within N days* counts a second purchase day within N days of the
//! first; a cohort's rate for N is only given once every member has been a customer for N
//! days, so young cohorts are not judged on half a window. Revenue from existing customers
//! is revenue on purchase days after a customer's first.
//!
//! Requirements: RT2 (measure retention, engagement and ambassadorship).

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

/// The windows, in days, repeat rates are given for.
pub const WINDOWS: [i32; 3] = [90, 180, 365];

/// One monthly cohort.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    /// `YYYY-MM` of the first purchase.
    pub month: String,
    /// Customers whose first purchase was in that month.
    pub customers: u64,
    /// Share with a second purchase within 90, 180 and 365 days (None: window not over).
    pub repeat_rate: [Option<f64>; 3],
    /// Revenue per customer so far.
    pub revenue_per_customer: f64,
}

/// The retention report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retention {
    /// Cohorts, oldest first.
    pub cohorts: Vec<Cohort>,
    /// Over all customers whose window is over: repeat within 90, 180 and 365 days.
    pub repeat_rate: [Option<f64>; 3],
    /// Share of the last 365 days' revenue from existing customers' repeat purchases.
    pub revenue_from_existing_last_year: f64,
    /// Customers in all.
    pub customers: u64,
}

/// Computes the report at `as_of` from (customer, day, amount) rows; later rows are ignored.
pub fn retention<'a>(
    rows: impl IntoIterator<Item = (&'a str, Date, f64)>,
    as_of: Date,
) -> Retention {
    let mut days: BTreeMap<&str, BTreeMap<Date, f64>> = BTreeMap::new();
    for (customer, day, amount) in rows {
        if day <= as_of {
            *days.entry(customer).or_default().entry(day).or_default() += amount;
        }
    }
    let year_ago = as_of
        .checked_sub(jiff::Span::new().days(365))
        .unwrap_or(as_of);
    let (mut revenue_year, mut existing_year) = (0.0, 0.0);
    // Per cohort: customers, repeaters per window, eligible per window, revenue.
    let mut cohorts: BTreeMap<String, (u64, [u64; 3], [u64; 3], f64)> = BTreeMap::new();
    let (mut all_repeat, mut all_eligible) = ([0u64; 3], [0u64; 3]);
    for by_day in days.values() {
        let mut iter = by_day.iter();
        let Some((&first, _)) = iter.next() else {
            continue;
        };
        let second = iter.next().map(|(d, _)| *d);
        let age = (as_of - first).get_days();
        let c = cohorts
            .entry(first.strftime("%Y-%m").to_string())
            .or_insert((0, [0; 3], [0; 3], 0.0));
        c.0 += 1;
        c.3 += by_day.values().sum::<f64>();
        for (i, window) in WINDOWS.iter().enumerate() {
            if age >= *window {
                c.2[i] += 1;
                all_eligible[i] += 1;
                if second.is_some_and(|s| (s - first).get_days() <= *window) {
                    c.1[i] += 1;
                    all_repeat[i] += 1;
                }
            }
        }
        for (day, amount) in by_day {
            if *day > year_ago {
                revenue_year += amount;
                if *day > first {
                    existing_year += amount;
                }
            }
        }
    }
    let rate = |hit: u64, of: u64| (of > 0).then(|| hit as f64 / of as f64);
    Retention {
        customers: days.len() as u64,
        cohorts: cohorts
            .into_iter()
            .map(|(month, (n, hit, of, revenue))| Cohort {
                month,
                customers: n,
                repeat_rate: [
                    rate(hit[0], of[0]),
                    rate(hit[1], of[1]),
                    rate(hit[2], of[2]),
                ],
                revenue_per_customer: revenue / n.max(1) as f64,
            })
            .collect(),
        repeat_rate: [
            rate(all_repeat[0], all_eligible[0]),
            rate(all_repeat[1], all_eligible[1]),
            rate(all_repeat[2], all_eligible[2]),
        ],
        revenue_from_existing_last_year: if revenue_year > 0.0 {
            existing_year / revenue_year
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn cohorts_and_repeat_rates_on_a_hand_checked_shop() {
        let rows = [
            ("a", date(2025, 1, 10), 50.0),
            ("a", date(2025, 2, 1), 30.0), // repeat after 22 days
            ("b", date(2025, 1, 20), 40.0),
            ("b", date(2025, 9, 1), 60.0),  // repeat after 224 days
            ("c", date(2025, 1, 31), 20.0), // never again
            ("d", date(2025, 12, 1), 100.0),
            ("d", date(2025, 12, 15), 10.0), // a young cohort: 40 days old
        ];
        let r = retention(rows.iter().map(|(c, d, a)| (*c, *d, *a)), date(2026, 1, 10));
        assert_eq!(r.customers, 4);
        let jan = &r.cohorts[0];
        assert_eq!((jan.month.as_str(), jan.customers), ("2025-01", 3));
        // 90 and 180 days: a repeated (22 days), b only after 224, c never. 365 days: only
        // a has been a customer for a year yet, and a repeated.
        assert_eq!(
            jan.repeat_rate,
            [Some(1.0 / 3.0), Some(1.0 / 3.0), Some(1.0)]
        );
        assert!((jan.revenue_per_customer - 200.0 / 3.0).abs() < 1e-9);
        let dec = &r.cohorts[1];
        assert_eq!(
            dec.repeat_rate,
            [None, None, None],
            "40 days old: no window is over"
        );
        // Last 365 days (after 2025-01-10): 30 + 40 + 60 + 20 + 100 + 10 = 260, of which
        // repeat purchases 30 + 60 + 10 = 100.
        assert!((r.revenue_from_existing_last_year - 100.0 / 260.0).abs() < 1e-9);
    }
}
