//! RFM: recency, frequency and monetary scores from 1 to 5 by quintile, and the named
//! segments marketers use (champions, loyal, at risk, hibernating, …), for every customer.
//!
//! Scores are quintiles over the customers given: 5 is the most recent, most frequent and
//! highest spending fifth. Ties share a score (customers with the same value never land in
//! different quintiles), so a shop where most customers bought once gives them all F = 1.
//! The segment follows from R and the mean of F and M, as in the common eleven-segment map.
//!
//! Requirements: WB1 (who has stopped buying), RT2 (retention and engagement), SG1/SG2
//! (segments to address differently).

use serde::Serialize;

/// One customer's raw figures at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RfmInput {
    /// Days since the last purchase.
    pub recency_days: f64,
    /// Number of purchases.
    pub frequency: f64,
    /// Total spent.
    pub monetary: f64,
}

/// The scores and segment of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RfmScore {
    /// Recency score, 5 = most recent.
    pub r: u8,
    /// Frequency score, 5 = most frequent.
    pub f: u8,
    /// Monetary score, 5 = highest spend.
    pub m: u8,
    /// The named segment.
    pub segment: Segment,
}

/// Named RFM segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Bought recently, buy often and spend the most.
    Champions,
    /// Buy regularly; responsive to loyalty rewards.
    Loyal,
    /// Recent customers with average frequency.
    PotentialLoyalist,
    /// Bought most recently, but not often.
    NewCustomers,
    /// Recent shoppers who have not spent much.
    Promising,
    /// Above-average recency, frequency and spend, but slipping.
    NeedAttention,
    /// Below-average recency and frequency; will be lost if not reactivated.
    AboutToSleep,
    /// Spent big and bought often, but long ago.
    AtRisk,
    /// Made the biggest purchases and often, but have not returned for a long time.
    CannotLoseThem,
    /// Last purchase long ago, few orders, low spend.
    Hibernating,
    /// Lowest recency, frequency and spend.
    Lost,
}

impl Segment {
    /// The snake_case name used in conditions (`stats.rfm_segment == 'at_risk'`).
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::PotentialLoyalist => "potential_loyalist",
            Segment::NewCustomers => "new_customers",
            Segment::Promising => "promising",
            Segment::NeedAttention => "need_attention",
            Segment::AboutToSleep => "about_to_sleep",
            Segment::AtRisk => "at_risk",
            Segment::CannotLoseThem => "cannot_lose_them",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }
}

/// The segment for recency score `r` and frequency-monetary score `fm` (both 1–5).
pub fn segment(r: u8, fm: u8) -> Segment {
    match (r, fm) {
        (5, 5) | (5, 4) | (4, 5) => Segment::Champions,
        (5, 3) | (4, 4) | (3, 5) | (3, 4) => Segment::Loyal,
        (5, 2) | (4, 2) | (4, 3) | (3, 3) => Segment::PotentialLoyalist,
        (5, 1) => Segment::NewCustomers,
        (4, 1) | (3, 1) => Segment::Promising,
        (3, 2) | (2, 3) => Segment::NeedAttention,
        (2, 2) | (2, 1) => Segment::AboutToSleep,
        (2, 5) | (2, 4) | (1, 3) => Segment::AtRisk,
        (1, 5) | (1, 4) => Segment::CannotLoseThem,
        (1, 2) => Segment::Hibernating,
        _ => Segment::Lost,
    }
}

/// Quintile scores 1–5 for `values`, higher values scoring higher; equal values share the
/// score of the first of them in sorted order.
fn quintiles(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![1u8; n];
    let mut i = 0;
    while i < n {
        // The run of equal values starting at sorted position i.
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let score = u8::try_from(i * 5 / n + 1).unwrap_or(5).min(5);
        for &k in &order[i..=j] {
            scores[k] = score;
        }
        i = j + 1;
    }
    scores
}

/// Scores every customer against the others.
pub fn score(customers: &[RfmInput]) -> Vec<RfmScore> {
    // Fewer days since the last purchase is better: score the negation.
    let recency: Vec<f64> = customers.iter().map(|c| -c.recency_days).collect();
    let frequency: Vec<f64> = customers.iter().map(|c| c.frequency).collect();
    let monetary: Vec<f64> = customers.iter().map(|c| c.monetary).collect();
    let (r, f, m) = (
        quintiles(&recency),
        quintiles(&frequency),
        quintiles(&monetary),
    );
    (0..customers.len())
        .map(|i| {
            let fm = u8::try_from((u16::from(f[i]) + u16::from(m[i])).div_ceil(2)).unwrap_or(5);
            RfmScore {
                r: r[i],
                f: f[i],
                m: m[i],
                segment: segment(r[i], fm),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(recency_days: f64, frequency: f64, monetary: f64) -> RfmInput {
        RfmInput {
            recency_days,
            frequency,
            monetary,
        }
    }

    #[test]
    fn ten_customers_scored_by_hand() {
        // Recency ranks (most recent first): e(1) a(3) h(7) c(10) j(20) b(30) f(60) i(90) d(200) g(365)
        let customers = [
            c(3.0, 12.0, 1200.0),  // a
            c(30.0, 2.0, 90.0),    // b
            c(10.0, 6.0, 600.0),   // c
            c(200.0, 9.0, 1500.0), // d
            c(1.0, 1.0, 40.0),     // e
            c(60.0, 3.0, 150.0),   // f
            c(365.0, 1.0, 20.0),   // g
            c(7.0, 4.0, 300.0),    // h
            c(90.0, 2.0, 80.0),    // i
            c(20.0, 5.0, 400.0),   // j
        ];
        let s = score(&customers);
        let rs: Vec<u8> = s.iter().map(|x| x.r).collect();
        assert_eq!(rs, vec![5, 3, 4, 1, 5, 2, 1, 4, 2, 3]);
        // Frequencies 1,1 | 2,2 | 3 4 | 5 6 | 9 12: ties share the lower score.
        let fs: Vec<u8> = s.iter().map(|x| x.f).collect();
        assert_eq!(fs, vec![5, 2, 4, 5, 1, 3, 1, 3, 2, 4]);
        assert_eq!(s[0].segment, Segment::Champions);
        assert_eq!(
            s[3].segment,
            Segment::CannotLoseThem,
            "big spender, 200 days ago"
        );
        assert_eq!(
            s[4].segment,
            Segment::NewCustomers,
            "bought yesterday, once"
        );
        assert_eq!(s[6].segment, Segment::Lost);
        assert_eq!(s[5].segment, Segment::NeedAttention, "R 2, F 3, M 3");
        assert_eq!(s[8].segment, Segment::AboutToSleep, "R 2, F 2, M 2");
    }

    #[test]
    fn equal_values_never_split_across_scores() {
        let customers: Vec<RfmInput> = (0..100).map(|i| c(f64::from(i), 1.0, 10.0)).collect();
        let s = score(&customers);
        assert!(
            s.iter().all(|x| x.f == 1 && x.m == 1),
            "everyone bought once"
        );
        assert_eq!(s.iter().filter(|x| x.r == 5).count(), 20);
    }
}
