//! Customer-lifetime models: BG/NBD for how many purchases a customer will still make and
//! whether they are still active (Fader, Hardie & Lee 2005), and Gamma-Gamma for what they
//! spend per purchase (Fader & Hardie 2013). Both are fitted by maximum likelihood on the
//! logarithms of the parameters, so they stay positive: BG/NBD with L-BFGS (argmin) on its
//! exact gradient — for whole purchase counts its likelihood needs no special functions —
//! falling back to Nelder-Mead at a boundary optimum; Gamma-Gamma with Nelder-Mead, `ln Γ`
//! from `libm` once per distinct purchase count. Costs are mean log-likelihoods, so
//! tolerances hold for any number of customers; large fits use both cores.
//!
//! Customers with the same history are fitted once with a weight. A million customers fit
//! in well under a second (`bench/clv/run.sh`: about 20× Python `lifetimes`).
//!
//! The Gauss hypergeometric function ₂F₁, needed for expected purchases, is summed from its
//! series here: no maintained pure-Rust crate offers it (the Cephes binding `special-fun`
//! overflows on these arguments; `mathru` pulls in BLAS and LAPACK). The arguments the
//! models use have |z| < 1 and positive parameters, where the series converges.
//!
//! Requirements: WB1 (who is lapsing: P(alive)), RT2 (the value of the relationship).

use std::collections::HashMap;

use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::BacktrackingLineSearch;
use argmin::solver::linesearch::condition::ArmijoCondition;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;
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

/// The BG/NBD log-likelihood of one history under (r, alpha, a, b), straight from the
/// definition: the check on the fast likelihood.
#[cfg(test)]
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

/// The BG/NBD likelihood over grouped histories, fast: for whole purchase counts x,
/// ln Γ(r+x) − ln Γ(r) = Σ_{k<x} ln(r+k) and the beta-function ratio is a similar sum, so
/// each evaluation builds those sums once up to the largest x and then costs two logarithms
/// per distinct history — no special functions — and yields the exact gradient too.
struct BgNbdProblem {
    /// (x, t_x, T, weight) per distinct history.
    groups: Vec<(usize, f64, f64, f64)>,
    max_x: usize,
    /// Customers in all: the cost is the mean, so tolerances hold for any number of them.
    total_weight: f64,
}

impl BgNbdProblem {
    fn new(data: &[(History, f64)]) -> Self {
        let groups: Vec<(usize, f64, f64, f64)> = data
            .iter()
            .map(|(h, w)| (h.frequency as usize, h.recency, h.age, *w))
            .collect();
        let max_x = groups.iter().map(|g| g.0).max().unwrap_or(0);
        let total_weight = groups.iter().map(|g| g.3).sum::<f64>().max(1.0);
        Self {
            groups,
            max_x,
            total_weight,
        }
    }

    /// The negative log-likelihood and its gradient in log-parameters.
    fn evaluate(&self, theta: &[f64]) -> (f64, [f64; 4]) {
        if theta.iter().any(|v| v.abs() > LOG_BOUND) {
            return (f64::INFINITY, [0.0; 4]);
        }
        let [r, alpha, a, b] = [
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        ];
        // Cumulative sums over k < x and their derivatives.
        let n = self.max_x + 1;
        let (mut s1, mut ds1_dr) = (vec![0.0; n], vec![0.0; n]);
        let (mut s2, mut ds2_da, mut ds2_db) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for x in 1..n {
            let k = (x - 1) as f64;
            s1[x] = s1[x - 1] + (r + k).ln();
            ds1_dr[x] = ds1_dr[x - 1] + 1.0 / (r + k);
            s2[x] = s2[x - 1] + (b + k).ln() - (a + b + k).ln();
            ds2_da[x] = ds2_da[x - 1] - 1.0 / (a + b + k);
            ds2_db[x] = ds2_db[x - 1] + 1.0 / (b + k) - 1.0 / (a + b + k);
        }
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let work = |chunk: &[(usize, f64, f64, f64)]| {
            let (mut ll, mut g) = (0.0, [0.0f64; 4]);
            for &(x, t_x, age, w) in chunk {
                let xf = x as f64;
                let ln_at = (alpha + age).ln();
                let a3 = -(r + xf) * ln_at;
                let (mut dr, mut dalpha) = (ds1_dr[x] + ln_alpha, r / alpha);
                let (mut da, mut db) = (ds2_da[x], ds2_db[x]);
                let base = s1[x] + r * ln_alpha + s2[x];
                let value = if x > 0 {
                    let ln_ax = (alpha + t_x).ln();
                    let a4 = ln_a - (b + xf - 1.0).ln() - (r + xf) * ln_ax;
                    let m = a3.max(a4);
                    let (e3, e4) = ((a3 - m).exp(), (a4 - m).exp());
                    let total = e3 + e4;
                    let (w3, w4) = (e3 / total, e4 / total);
                    dr += -w3 * ln_at - w4 * ln_ax;
                    dalpha += -w3 * (r + xf) / (alpha + age) - w4 * (r + xf) / (alpha + t_x);
                    da += w4 / a;
                    db += -w4 / (b + xf - 1.0);
                    base + m + total.ln()
                } else {
                    dr += -ln_at;
                    dalpha += -(r + xf) / (alpha + age);
                    base + a3
                };
                ll += w * value;
                // Chain rule to log-parameters.
                g[0] += w * dr * r;
                g[1] += w * dalpha * alpha;
                g[2] += w * da * a;
                g[3] += w * db * b;
            }
            (ll, g)
        };
        // Two halves on two threads when there is enough to share.
        let (ll, g) = if self.groups.len() > 20_000 {
            let (left, right) = self.groups.split_at(self.groups.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| work(right));
                let (l1, g1) = work(left);
                let (l2, g2) = other.join().unwrap_or((f64::NAN, [0.0; 4]));
                (
                    l1 + l2,
                    [g1[0] + g2[0], g1[1] + g2[1], g1[2] + g2[2], g1[3] + g2[3]],
                )
            })
        } else {
            work(&self.groups)
        };
        if ll.is_finite() {
            let n = self.total_weight;
            (-ll / n, [-g[0] / n, -g[1] / n, -g[2] / n, -g[3] / n])
        } else {
            (f64::INFINITY, [0.0; 4])
        }
    }
}

impl CostFunction for BgNbdProblem {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, ArgminError> {
        Ok(self.evaluate(p).0)
    }
}

impl Gradient for BgNbdProblem {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, ArgminError> {
        Ok(self.evaluate(p).1.to_vec())
    }
}

/// L-BFGS with the exact gradient from `start`; Nelder-Mead when it does not converge.
fn minimise_smooth(problem: BgNbdProblem, start: Vec<f64>) -> Result<(Vec<f64>, f64), FitError> {
    // Backtracking copes with steps that leave the parameter bounds (infinite cost).
    let line_search = BacktrackingLineSearch::new(
        ArmijoCondition::new(1e-4).map_err(|e| FitError::Optimiser(e.to_string()))?,
    )
    .rho(0.5)
    .map_err(|e| FitError::Optimiser(e.to_string()))?;
    let solver = LBFGS::new(line_search, 7)
        .with_tolerance_grad(1e-6)
        .and_then(|s| s.with_tolerance_cost(1e-12))
        .map_err(|e| FitError::Optimiser(e.to_string()))?;
    let outcome = Executor::new(problem, solver)
        .configure(|state| state.param(start.clone()).max_iters(500))
        .run();
    match outcome {
        Ok(result) => {
            let state = result.state();
            match state.get_best_param().cloned() {
                Some(best) if state.get_best_cost().is_finite() => {
                    Ok((best, state.get_best_cost()))
                }
                _ => Err(FitError::Optimiser("L-BFGS found no finite optimum".into())),
            }
        }
        Err(e) => Err(FitError::Optimiser(e.to_string())),
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
        let problem = BgNbdProblem::new(&data);
        let total = problem.total_weight;
        let (p, mean_cost) = match minimise_smooth(problem, x0.clone()) {
            Ok(found) => found,
            // A boundary optimum (no dropout, no heterogeneity) can stall the line search.
            Err(_) => minimise(BgNbdProblem::new(&data), x0)?,
        };
        let cost = mean_cost * total;
        Ok(Self {
            r: p[0].exp(),
            alpha: p[1].exp(),
            a: p[2].exp(),
            b: p[3].exp(),
            log_likelihood: -cost,
        })
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

/// The Gamma-Gamma likelihood over repeat customers: the ln Γ terms depend only on the
/// purchase count, so they are computed once per distinct count per evaluation; ln m and
/// x ln x are computed once; each customer then costs one logarithm. The cost is the mean
/// negative log-likelihood, so the optimiser's tolerances mean the same for any number of
/// customers.
struct GammaGammaProblem {
    /// (x as index, ln m, x·ln x, x·m, weight) per customer.
    rows: Vec<(usize, f64, f64, f64, f64)>,
    max_x: usize,
    total_weight: f64,
}

impl GammaGammaProblem {
    fn new(data: &[(History, f64)]) -> Self {
        let rows: Vec<(usize, f64, f64, f64, f64)> = data
            .iter()
            .map(|(h, w)| {
                let x = h.frequency;
                (x as usize, h.monetary.ln(), x * x.ln(), x * h.monetary, *w)
            })
            .collect();
        let max_x = rows.iter().map(|r| r.0).max().unwrap_or(0);
        let total_weight = rows.iter().map(|r| r.4).sum::<f64>().max(1.0);
        Self {
            rows,
            max_x,
            total_weight,
        }
    }
}

#[cfg(test)]
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
        let per_x: Vec<f64> = (0..=self.max_x)
            .map(|x| {
                let px = p * x as f64;
                if x == 0 {
                    0.0
                } else {
                    ln_gamma(px + q) - ln_gamma(px)
                }
            })
            .collect();
        let constant = q * v.ln() - ln_gamma(q);
        let work = |rows: &[(usize, f64, f64, f64, f64)]| -> f64 {
            rows.iter()
                .map(|&(x, ln_m, x_ln_x, xm, w)| {
                    let px = p * x as f64;
                    w * (per_x[x] + constant + (px - 1.0) * ln_m + p * x_ln_x
                        - (px + q) * (xm + v).ln())
                })
                .sum()
        };
        let ll = if self.rows.len() > 20_000 {
            let (left, right) = self.rows.split_at(self.rows.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| work(right));
                work(left) + other.join().unwrap_or(f64::NAN)
            })
        } else {
            work(&self.rows)
        };
        Ok(if ll.is_finite() {
            -ll / self.total_weight
        } else {
            f64::INFINITY
        })
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
        let problem = GammaGammaProblem::new(&data);
        let total = problem.total_weight;
        let (p, mean_cost) = minimise(problem, x0)?;
        let cost = mean_cost * total;
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
    fn the_fast_likelihood_and_its_gradient_agree_with_the_definition() {
        let hs = [
            History {
                frequency: 0.0,
                recency: 0.0,
                age: 30.0,
                monetary: 0.0,
            },
            History {
                frequency: 3.0,
                recency: 20.5,
                age: 38.0,
                monetary: 10.0,
            },
            History {
                frequency: 1.0,
                recency: 2.0,
                age: 12.0,
                monetary: 5.0,
            },
        ];
        let data: Vec<(History, f64)> = hs.iter().map(|h| (*h, 2.0)).collect();
        let problem = BgNbdProblem::new(&data);
        let theta = [0.3f64.ln(), 4.0f64.ln(), 0.8f64.ln(), 2.5f64.ln()];
        let (value, grad) = problem.evaluate(&theta);
        let slow: f64 = hs
            .iter()
            .map(|h| 2.0 * bgnbd_ll(0.3, 4.0, 0.8, 2.5, h))
            .sum();
        assert!(
            (value * 6.0 + slow).abs() < 1e-9,
            "mean over 6: {value} vs {slow}"
        );
        let gg = GammaGammaProblem::new(&data[1..]);
        let fast = gg
            .cost(&vec![6.0f64.ln(), 3.7f64.ln(), 15.0f64.ln()])
            .unwrap();
        let slow: f64 = hs[1..]
            .iter()
            .map(|h| 2.0 * gamma_gamma_ll(6.0, 3.7, 15.0, h))
            .sum();
        assert!((fast * 4.0 + slow).abs() < 1e-9, "{fast} vs {slow}");
        for i in 0..4 {
            let (mut up, mut down) = (theta, theta);
            up[i] += 1e-6;
            down[i] -= 1e-6;
            let numeric = (problem.evaluate(&up).0 - problem.evaluate(&down).0) / 2e-6;
            assert!(
                (numeric - grad[i]).abs() < 1e-5 * (1.0 + numeric.abs()),
                "{i}: {numeric} vs {}",
                grad[i]
            );
        }
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
