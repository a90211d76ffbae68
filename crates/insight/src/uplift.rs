//! Uplift of a programme against its holdout: goal conversion and revenue per customer of
//! the treated and the held-out group, their difference and a 95% confidence interval
//! (normal approximation: Wald for the difference of two proportions, Welch for the
//! difference of two means). An interval that excludes zero is a measured effect; one that
//! includes it is not (yet) distinguishable from chance.
//!
//! Requirements: RT2 (measure retention and engagement), FR1 (relevant contact pays off).

use serde::Serialize;

const Z95: f64 = 1.959_963_984_540_054;

/// One enrolment's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// In the holdout group.
    pub holdout: bool,
    /// Reached the goal within its window.
    pub converted: bool,
    /// Revenue in the goal window.
    pub revenue: f64,
}

/// A group's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Group {
    /// Enrolments.
    pub n: u64,
    /// Of which converted.
    pub converted: u64,
    /// Conversion rate.
    pub rate: f64,
    /// Mean revenue per enrolment.
    pub revenue_per_customer: f64,
}

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Uplift {
    /// Customers who got the programme.
    pub treated: Group,
    /// Customers held out.
    pub holdout: Group,
    /// Treated rate minus holdout rate.
    pub conversion_uplift: f64,
    /// 95% interval of the conversion uplift.
    pub conversion_ci: (f64, f64),
    /// Treated minus holdout revenue per customer.
    pub revenue_uplift: f64,
    /// 95% interval of the revenue uplift.
    pub revenue_ci: (f64, f64),
}

/// What a group's comparison needs, added up outcome by outcome (so millions of
/// enrolments need no list).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    /// Enrolments.
    pub n: u64,
    /// Of which converted.
    pub converted: u64,
    /// Revenue in the goal windows.
    pub revenue: f64,
    /// Sum of the squared revenues (for the variance).
    pub revenue_squared: f64,
}

impl Sums {
    /// Adds one outcome.
    pub fn add(&mut self, converted: bool, revenue: f64) {
        self.n += 1;
        self.converted += u64::from(converted);
        self.revenue += revenue;
        self.revenue_squared += revenue * revenue;
    }

    /// Adds another group's sums.
    pub fn merge(&mut self, other: &Sums) {
        self.n += other.n;
        self.converted += other.converted;
        self.revenue += other.revenue;
        self.revenue_squared += other.revenue_squared;
    }

    fn group(&self) -> (Group, f64) {
        let nf = (self.n as f64).max(1.0);
        let mean = self.revenue / nf;
        let variance = if self.n > 1 {
            ((self.revenue_squared - self.n as f64 * mean * mean) / (self.n as f64 - 1.0)).max(0.0)
        } else {
            0.0
        };
        (
            Group {
                n: self.n,
                converted: self.converted,
                rate: self.converted as f64 / nf,
                revenue_per_customer: mean,
            },
            variance,
        )
    }
}

/// Compares treated and held-out enrolments; `None` when either group is empty.
pub fn uplift(outcomes: &[Outcome]) -> Option<Uplift> {
    let (mut treated, mut held_out) = (Sums::default(), Sums::default());
    for o in outcomes {
        let sums = if o.holdout {
            &mut held_out
        } else {
            &mut treated
        };
        sums.add(o.converted, o.revenue);
    }
    uplift_of(&treated, &held_out)
}

/// [`uplift`] from the two groups' sums.
pub fn uplift_of(treated: &Sums, held_out: &Sums) -> Option<Uplift> {
    let (treated, var_t) = treated.group();
    let (holdout, var_h) = held_out.group();
    if treated.n == 0 || holdout.n == 0 {
        return None;
    }
    let (nt, nh) = (treated.n as f64, holdout.n as f64);
    let diff = treated.rate - holdout.rate;
    let se = (treated.rate * (1.0 - treated.rate) / nt + holdout.rate * (1.0 - holdout.rate) / nh)
        .sqrt();
    let rdiff = treated.revenue_per_customer - holdout.revenue_per_customer;
    let rse = (var_t / nt + var_h / nh).sqrt();
    Some(Uplift {
        treated,
        holdout,
        conversion_uplift: diff,
        conversion_ci: (diff - Z95 * se, diff + Z95 * se),
        revenue_uplift: rdiff,
        revenue_ci: (rdiff - Z95 * rse, rdiff + Z95 * rse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(holdout: bool, n: usize, converted: usize, revenue: f64) -> Vec<Outcome> {
        (0..n)
            .map(|i| Outcome {
                holdout,
                converted: i < converted,
                revenue: if i < converted { revenue } else { 0.0 },
            })
            .collect()
    }

    #[test]
    fn a_hand_computed_uplift_with_its_interval() {
        // Treated 200 of 1000 (20%), holdout 15 of 100 (15%): uplift 5 points;
        // se = sqrt(.2*.8/1000 + .15*.85/100) = sqrt(0.00016 + 0.001275) = 0.037881.
        let mut all = outcomes(false, 1000, 200, 50.0);
        all.extend(outcomes(true, 100, 15, 50.0));
        let u = uplift(&all).unwrap();
        assert!((u.conversion_uplift - 0.05).abs() < 1e-12);
        let se = (0.00016f64 + 0.001275).sqrt();
        assert!((u.conversion_ci.0 - (0.05 - Z95 * se)).abs() < 1e-12);
        assert!(
            u.conversion_ci.0 < 0.0 && u.conversion_ci.1 > 0.0,
            "not significant with 100 held out"
        );
        assert!((u.revenue_uplift - (10.0 - 7.5)).abs() < 1e-12);
        assert_eq!(u.treated.n, 1000);
        assert_eq!(u.holdout.converted, 15);
    }

    #[test]
    fn no_holdout_no_comparison() {
        assert!(uplift(&outcomes(false, 10, 3, 1.0)).is_none());
    }
}
