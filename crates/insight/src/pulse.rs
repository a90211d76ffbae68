//! Surveys' numbers (MQ1, MQ2): the Net Promoter Score, and the Pulse gap — per emotional
//! driver, how important customers find it minus how well the brand does it — with 95%
//! intervals and the number of answers, per segment.
//!
//! The gap is a paired difference (each respondent rates both), so its interval is the mean
//! of the per-respondent differences ± 1.96 standard errors. NPS is the share of promoters
//! (9–10) minus the share of detractors (0–6), in points, with the interval of a difference
//! of two proportions from one multinomial sample.
//!
//! Requirements: MQ1, MQ2, RT2.

use std::collections::BTreeMap;

use serde::Serialize;

const Z95: f64 = 1.959_963_984_540_054;

/// One respondent's importance and evaluation of one driver (1–7 each).
#[derive(Debug, Clone, PartialEq)]
pub struct DriverAnswer {
    /// The segment the respondent was in.
    pub segment: String,
    /// The driver, e.g. `keeps_promises`.
    pub driver: String,
    /// How important (1–7).
    pub importance: f64,
    /// How well the brand does it (1–7).
    pub evaluation: f64,
}

/// The gap for one driver in one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// Answers.
    pub n: u64,
    /// Mean importance.
    pub importance: f64,
    /// Mean evaluation.
    pub evaluation: f64,
    /// Importance minus evaluation: above zero, the brand falls short where it matters.
    pub gap: f64,
    /// 95% interval of the gap (None with fewer than two answers).
    pub ci: Option<(f64, f64)>,
}

/// Gaps by segment (and `all`), then by driver.
pub fn pulse_gaps(answers: &[DriverAnswer]) -> BTreeMap<String, BTreeMap<String, Gap>> {
    let mut groups: BTreeMap<(String, String), Vec<&DriverAnswer>> = BTreeMap::new();
    for a in answers {
        groups
            .entry(("all".into(), a.driver.clone()))
            .or_default()
            .push(a);
        groups
            .entry((a.segment.clone(), a.driver.clone()))
            .or_default()
            .push(a);
    }
    let mut out: BTreeMap<String, BTreeMap<String, Gap>> = BTreeMap::new();
    for ((segment, driver), list) in groups {
        let n = list.len() as f64;
        let importance = list.iter().map(|a| a.importance).sum::<f64>() / n;
        let evaluation = list.iter().map(|a| a.evaluation).sum::<f64>() / n;
        let gap = importance - evaluation;
        let ci = (list.len() > 1).then(|| {
            let var = list
                .iter()
                .map(|a| (a.importance - a.evaluation - gap).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            let se = (var / n).sqrt();
            (gap - Z95 * se, gap + Z95 * se)
        });
        out.entry(segment).or_default().insert(
            driver,
            Gap {
                n: list.len() as u64,
                importance,
                evaluation,
                gap,
                ci,
            },
        );
    }
    out
}

/// A Net Promoter Score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nps {
    /// Answers.
    pub n: u64,
    /// Promoters (9–10) minus detractors (0–6), in points (−100 to 100).
    pub score: f64,
    /// 95% interval in points.
    pub ci: (f64, f64),
}

/// The NPS of 0–10 scores; `None` without answers.
pub fn nps(scores: &[u8]) -> Option<Nps> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    let promoters = scores.iter().filter(|&&s| s >= 9).count() as f64 / n;
    let detractors = scores.iter().filter(|&&s| s <= 6).count() as f64 / n;
    let score = promoters - detractors;
    let var = (promoters + detractors - score * score) / n;
    let se = var.max(0.0).sqrt();
    Some(Nps {
        n: scores.len() as u64,
        score: 100.0 * score,
        ci: (100.0 * (score - Z95 * se), 100.0 * (score + Z95 * se)),
    })
}

/// Customer satisfaction from 1–5 scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Csat {
    /// Answers.
    pub n: u64,
    /// Mean score.
    pub mean: f64,
    /// 95% interval of the mean (None with fewer than two answers).
    pub ci: Option<(f64, f64)>,
    /// Share of satisfied answers (4 or 5): the usual CSAT percentage.
    pub satisfied: f64,
}

/// CSAT of 1–5 scores; `None` without answers.
pub fn csat(scores: &[u8]) -> Option<Csat> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let ci = (scores.len() > 1).then(|| {
        let var = scores
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        let se = (var / n).sqrt();
        (mean - Z95 * se, mean + Z95 * se)
    });
    Some(Csat {
        n: scores.len() as u64,
        mean,
        ci,
        satisfied: scores.iter().filter(|&&s| s >= 4).count() as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csat_of_a_hand_counted_sample() {
        let r = csat(&[5, 4, 4, 2, 5]).unwrap();
        assert!((r.mean - 4.0).abs() < 1e-12);
        assert!((r.satisfied - 0.8).abs() < 1e-12);
        // sd = sqrt((1 + 0 + 0 + 4 + 1) / 4) = sqrt(1.5); se = sqrt(1.5 / 5)
        let se = (1.5f64 / 5.0).sqrt();
        assert!((r.ci.unwrap().0 - (4.0 - Z95 * se)).abs() < 1e-12);
    }

    #[test]
    fn nps_of_a_hand_counted_sample() {
        // 5 promoters, 3 passives, 2 detractors: 50% − 20% = 30 points.
        let scores = [10, 9, 9, 10, 9, 8, 7, 8, 3, 6];
        let r = nps(&scores).unwrap();
        assert!((r.score - 30.0).abs() < 1e-9);
        // var = (0.5 + 0.2 − 0.09) / 10 = 0.061
        let se = 0.061f64.sqrt();
        assert!((r.ci.0 - 100.0 * (0.3 - Z95 * se)).abs() < 1e-9);
        assert!(nps(&[]).is_none());
    }

    #[test]
    fn the_gap_is_importance_minus_evaluation_with_a_paired_interval() {
        let a = |segment: &str, i: f64, e: f64| DriverAnswer {
            segment: segment.into(),
            driver: "keeps_promises".into(),
            importance: i,
            evaluation: e,
        };
        let answers = [
            a("runner", 7.0, 4.0),
            a("runner", 6.0, 5.0),
            a("trail", 5.0, 5.0),
        ];
        let g = pulse_gaps(&answers);
        let runner = &g["runner"]["keeps_promises"];
        assert_eq!(runner.n, 2);
        assert!((runner.gap - 2.0).abs() < 1e-12, "differences 3 and 1");
        // sd of (3, 1) = sqrt(2), se = 1
        let (lo, hi) = runner.ci.unwrap();
        assert!((lo - (2.0 - Z95)).abs() < 1e-9 && (hi - (2.0 + Z95)).abs() < 1e-9);
        assert_eq!(g["all"]["keeps_promises"].n, 3);
        assert!(
            g["trail"]["keeps_promises"].ci.is_none(),
            "one answer: no interval"
        );
    }
}
