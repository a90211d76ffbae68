//! Customer-lifetime models: BG/NBD for how many purchases a customer will still make and
//! whether they are still active (Fader, Hardie & Lee 2005), and Gamma-Gamma for what they
//! spend per purchase (Fader & Hardie 2013). Both are fitted by maximum likelihood with
//! Nelder-Mead (argmin) on the logarithms of the parameters, so they stay positive;
//! `ln Γ` comes from `libm`.
//!
//! Customers with the same (frequency, recency, age) are fitted once with a weight, which
//! makes a fit over millions of customers cost about as much as one over the distinct
//! histories (a few thousand).
//!
//! The Gauss hypergeometric function ₂F₁, needed for expected purchases, is summed from its
//! series here: no maintained pure-Rust crate offers it (the Cephes binding `special-fun`
//! overflows on these arguments; `mathru` pulls in BLAS and LAPACK). The arguments the
//! models use have |z| < 1 and positive parameters, where the series converges.
//!
//! Requirements: WB1 (who is lapsing: P(alive)), RT2 (the value of the relationship).

use std::collections::HashMap;

use argmin::core::{CostFunction, Error as ArgminError, Executor, State};
use argmin::solver::neldermead::NelderMead;
use serde::Serialize;

/// One customer's purchase history at the end of the calibration period, in one time unit
/// (weeks for CDNOW): `frequency` repeat purchases, the last at `recency` after the first,
/// observed for `age` since the first; `monetary` is the mean value of the repeat
/// purchases (0 without any).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct History {
    /// Repeat purchases (x).
    pub frequency: f64,
    /// Time of the last purchase since the first (t_x).
    pub recency: f64,
    /// Time since the first purchase (T).
    pub age: f64,
    /// Mean value of the repeat purchases (z̄).
    pub monetary: f64,
}

/// Why a model could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// There is nothing to fit.
    #[error("no customers to fit{0}")]
    Empty(&'static str),
    /// A history is impossible (negative values, recency after age).
    #[error("customer {index}: {reason}")]
    Invalid {
        /// Position in the input.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The optimiser failed.
    #[error("the optimiser failed: {0}")]
    Optimiser(String),
}

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma distribution.
    pub r: f64,
    /// Scale of the purchase-rate gamma distribution.
    pub alpha: f64,
    /// Beta distribution of the dropout probability: a.
    pub a: f64,
    /// Beta distribution of the dropout probability: b.
    pub b: f64,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
}

/// Fitted Gamma-Gamma spend parameters (`gamma` is Fader & Hardie's ν).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaGamma {
    /// Shape of the per-transaction spend distribution.
    pub p: f64,
    /// Shape of the customers' mean-spend distribution.
    pub q: f64,
    /// Scale of the customers' mean-spend distribution.
    pub gamma: f64,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
}

fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ₂F₁(a, b; c; z) from its series, for |z| < 1 and c > 0.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100_000 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

/// Identical histories, counted once with their number.
fn grouped(histories: &[History], key: impl Fn(&History) -> [u64; 3]) -> Vec<(History, f64)> {
    let mut index: HashMap<[u64; 3], usize> = HashMap::new();
    let mut out: Vec<(History, f64)> = Vec::new();
    for h in histories {
        match index.entry(key(h)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()].1 += 1.0,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push((*h, 1.0));
            }
        }
    }
    out
}

fn validate(histories: &[History]) -> Result<(), FitError> {
    for (index, h) in histories.iter().enumerate() {
        let reason = if !(h.frequency >= 0.0 && h.recency >= 0.0 && h.age >= 0.0) {
            "frequency, recency and age must not be negative"
        } else if h.recency > h.age + 1e-9 {
            "recency must not be after age"
        } else if h.frequency == 0.0 && h.recency != 0.0 {
            "a customer without repeat purchases has recency 0"
        } else if h.frequency.fract() != 0.0 {
            "frequency counts purchases: a whole number"
        } else {
            continue;
        };
        return Err(FitError::Invalid {
            index,
            reason: reason.into(),
        });
    }
    Ok(())
}

/// The BG/NBD log-likelihood of one history under (r, alpha, a, b).
fn bgnbd_ll(r: f64, alpha: f64, a: f64, b: f64, h: &History) -> f64 {
    let x = h.frequency;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let a3 = -(r + x) * (alpha + h.age).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + h.recency).ln();
        let m = a3.max(a4);
        a1 + a2 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
    } else {
        a1 + a2 + a3
    }
}

/// Parameters stay within e^±15: data without heterogeneity or dropout drive the maximum
/// likelihood to the boundary, and the fit stops there instead of wandering off.
const LOG_BOUND: f64 = 15.0;

struct BgNbdProblem {
    data: Vec<(History, f64)>,
}

impl CostFunction for BgNbdProblem {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, ArgminError> {
        if p.iter().any(|v| v.abs() > LOG_BOUND) {
            return Ok(f64::INFINITY);
        }
        let [r, alpha, a, b] = [p[0].exp(), p[1].exp(), p[2].exp(), p[3].exp()];
        let ll: f64 = self
            .data
            .iter()
            .map(|(h, w)| w * bgnbd_ll(r, alpha, a, b, h))
            .sum();
        Ok(if ll.is_finite() { -ll } else { f64::INFINITY })
    }
}

/// Nelder-Mead from `start` (log-parameters) until the simplex's values agree.
fn minimise<P>(problem: P, start: Vec<f64>) -> Result<(Vec<f64>, f64), FitError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>,
{
    let mut simplex = vec![start.clone()];
    for i in 0..start.len() {
        let mut v = start.clone();
        v[i] += 0.5;
        simplex.push(v);
    }
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(1e-10)
        .map_err(|e| FitError::Optimiser(e.to_string()))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.max_iters(5_000))
        .run()
        .map_err(|e| FitError::Optimiser(e.to_string()))?;
    let state = result.state();
    let best = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| FitError::Optimiser("no best parameters".into()))?;
    Ok((best, state.get_best_cost()))
}

impl BgNbd {
    /// Fits the model to customers' histories by maximum likelihood.
    pub fn fit(histories: &[History]) -> Result<Self, FitError> {
        Self::fit_from(histories, None)
    }

    /// Fits starting from earlier parameters (a daily refit converges in a few steps).
    pub fn fit_from(histories: &[History], start: Option<&Self>) -> Result<Self, FitError> {
        if histories.is_empty() {
            return Err(FitError::Empty(""));
        }
        validate(histories)?;
        let data = grouped(histories, |h| {
            [h.frequency.to_bits(), h.recency.to_bits(), h.age.to_bits()]
        });
        // Start at r = alpha = a = b = 1 (log 0), as `lifetimes` does, or where we were.
        let x0 = start.map_or(vec![0.0; 4], |s| {
            vec![s.r.ln(), s.alpha.ln(), s.a.ln(), s.b.ln()]
        });
        let (p, cost) = minimise(BgNbdProblem { data }, x0)?;
        Ok(Self {
            r: p[0].exp(),
            alpha: p[1].exp(),
            a: p[2].exp(),
            b: p[3].exp(),
            log_likelihood: -cost,
        })
    }

    /// The log-likelihood of histories under these parameters.
    pub fn log_likelihood_of(&self, histories: &[History]) -> f64 {
        histories
            .iter()
            .map(|h| bgnbd_ll(self.r, self.alpha, self.a, self.b, h))
            .sum()
    }

    /// The probability that a customer with this history is still active.
    pub fn p_alive(&self, h: &History) -> f64 {
        if h.frequency == 0.0 {
            return 1.0;
        }
        let x = h.frequency;
        let odds = self.a / (self.b + x - 1.0)
            * ((self.alpha + h.age) / (self.alpha + h.recency)).powf(self.r + x);
        1.0 / (1.0 + odds)
    }

    /// Expected purchases in the next `t` time units for a customer with this history.
    pub fn expected_purchases(&self, h: &History, t: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = h.frequency;
        let z = t / (alpha + h.age + t);
        let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - ((alpha + h.age) / (alpha + h.age + t)).powf(r + x) * hyp;
        let odds = if x > 0.0 {
            a / (b + x - 1.0) * ((alpha + h.age) / (alpha + h.recency)).powf(r + x)
        } else {
            0.0
        };
        first * second / (1.0 + odds)
    }
}

struct GammaGammaProblem {
    data: Vec<(History, f64)>,
}

fn gamma_gamma_ll(p: f64, q: f64, v: f64, h: &History) -> f64 {
    let (x, m) = (h.frequency, h.monetary);
    ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
        + q * v.ln()
        + (p * x - 1.0) * m.ln()
        + (p * x) * x.ln()
        - (p * x + q) * (x * m + v).ln()
}

impl CostFunction for GammaGammaProblem {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, params: &Self::Param) -> Result<f64, ArgminError> {
        if params.iter().any(|v| v.abs() > LOG_BOUND) {
            return Ok(f64::INFINITY);
        }
        let [p, q, v] = [params[0].exp(), params[1].exp(), params[2].exp()];
        let ll: f64 = self
            .data
            .iter()
            .map(|(h, w)| w * gamma_gamma_ll(p, q, v, h))
            .sum();
        Ok(if ll.is_finite() { -ll } else { f64::INFINITY })
    }
}

impl GammaGamma {
    /// Fits the spend model to the customers with repeat purchases (the others carry no
    /// information about spend per repeat purchase).
    pub fn fit(histories: &[History]) -> Result<Self, FitError> {
        Self::fit_from(histories, None)
    }

    /// Fits starting from earlier parameters.
    pub fn fit_from(histories: &[History], start: Option<&Self>) -> Result<Self, FitError> {
        validate(histories)?;
        let repeaters: Vec<History> = histories
            .iter()
            .filter(|h| h.frequency > 0.0 && h.monetary > 0.0)
            .copied()
            .collect();
        if repeaters.is_empty() {
            return Err(FitError::Empty(
                ": nobody has a repeat purchase with a value",
            ));
        }
        let data = grouped(&repeaters, |h| {
            [h.frequency.to_bits(), h.monetary.to_bits(), 0]
        });
        let x0 = start.map_or(vec![0.0; 3], |s| vec![s.p.ln(), s.q.ln(), s.gamma.ln()]);
        let (p, cost) = minimise(GammaGammaProblem { data }, x0)?;
        Ok(Self {
            p: p[0].exp(),
            q: p[1].exp(),
            gamma: p[2].exp(),
            log_likelihood: -cost,
        })
    }

    /// Expected mean spend per purchase for a customer with this history (the population
    /// mean, p·γ/(q−1), for one without repeat purchases).
    pub fn expected_spend(&self, h: &History) -> f64 {
        let x = h.frequency;
        let m = if x > 0.0 { h.monetary } else { 0.0 };
        self.p * (self.gamma + x * m) / (self.p * x + self.q - 1.0)
    }
}

/// Customer lifetime value: expected spend over `periods` periods of `period` time units,
/// each discounted at `discount` per period (e.g. 12 months of 4.35 weeks at 1%).
pub fn lifetime_value(
    model: &BgNbd,
    spend: &GammaGamma,
    h: &History,
    periods: u32,
    period: f64,
    discount: f64,
) -> f64 {
    let value = spend.expected_spend(h);
    let mut previous = 0.0;
    let mut total = 0.0;
    for i in 1..=periods {
        let cumulative = model.expected_purchases(h, f64::from(i) * period);
        total += (cumulative - previous) * value
            / (1.0 + discount).powi(i32::try_from(i).unwrap_or(i32::MAX));
        previous = cumulative;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z)/z
        let z: f64 = 0.4;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
        // ₂F₁(a, b; b; z) = (1 − z)^−a
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-12);
    }

    #[test]
    fn impossible_histories_are_refused_with_their_position() {
        let ok = History {
            frequency: 1.0,
            recency: 2.0,
            age: 5.0,
            monetary: 10.0,
        };
        let bad = History {
            frequency: 1.0,
            recency: 6.0,
            age: 5.0,
            monetary: 10.0,
        };
        match BgNbd::fit(&[ok, bad]) {
            Err(FitError::Invalid { index, reason }) => {
                assert_eq!(index, 1);
                assert!(reason.contains("recency"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(BgNbd::fit(&[]), Err(FitError::Empty(_))));
    }
}
