//! Content experiments (issue 21): a send step with `variants` splits its customers stably
//! between them (`SendStep::variant_for`, the same in the worker and the simulator). Each
//! variant's messages are followed to their enrolment's goal: conversion with a 95%
//! interval, and the difference from the first variant with its own interval. A variant is
//! the **leader** only when its difference from every other variant is above zero with 95%
//! confidence; only a leader can be applied as the winner (audited), after which every
//! customer gets it.

use aftercare_insight::uplift::Sums;
use aftercare_store::{Store, StoreError};
use jiff::Timestamp;

use crate::campaigns::Refusal;
use crate::programme::{Action, Programme};
use crate::worker::{Engine, EngineError};

/// One variant's figures.
#[derive(Debug, Clone)]
pub struct VariantResult {
    /// Its name.
    pub name: String,
    /// The template it sends.
    pub template: String,
    /// Messages sent.
    pub sent: u64,
    /// Of which clicked.
    pub clicked: u64,
    /// Enrolments whose goal window closed (or whose goal was reached).
    pub settled: u64,
    /// Of which reached the goal.
    pub converted: u64,
    /// Goal conversion of the settled ones.
    pub rate: f64,
    /// Its 95% interval (Wilson).
    pub interval: (f64, f64),
    /// Against the first variant: the difference in conversion and its 95% interval
    /// (Newcombe's, from the two Wilson intervals, so it holds at 0% and 100% too).
    pub vs_first: Option<Difference>,
}

/// One send step's experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The step.
    pub step: String,
    /// Its variants, in the programme's order.
    pub variants: Vec<VariantResult>,
    /// The winner applied, if one was.
    pub winner: Option<String>,
    /// The variant the intervals single out, if any.
    pub leader: Option<String>,
    /// Whether the programme has a goal to judge by.
    pub has_goal: bool,
}

/// One variant's conversion minus another's, with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// The difference in conversion (a share, −1 to 1).
    pub diff: f64,
    /// Its 95% interval.
    pub interval: (f64, f64),
}

/// Newcombe's hybrid score interval for the difference of two proportions (method 10),
/// from each one's Wilson interval; `None` while either group is empty.
fn difference(a: &Sums, b: &Sums) -> Option<Difference> {
    if a.n == 0 || b.n == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let (p1, p2) = (
        a.converted as f64 / a.n as f64,
        b.converted as f64 / b.n as f64,
    );
    let (l1, u1) = wilson(a.converted, a.n);
    let (l2, u2) = wilson(b.converted, b.n);
    let diff = p1 - p2;
    Some(Difference {
        diff,
        interval: (
            diff - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
            diff + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
        ),
    })
}

/// The 95% Wilson interval of `k` successes in `n`.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (k as f64, n as f64);
    let z = 1.96_f64;
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The experiments of `programme`, with their figures as of `now`.
pub async fn experiments(
    store: &Store,
    programme: &Programme,
    now: Timestamp,
) -> Result<Vec<Experiment>, StoreError> {
    let steps: Vec<_> = programme
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Send(send) if !send.variants.is_empty() => Some((s.id.clone(), send)),
            _ => None,
        })
        .collect();
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.begin_read().await?;
    let outcomes = tx.variant_outcomes(&programme.id, now).await?;
    let winners = tx.experiment_winners(&programme.id).await?;
    tx.commit().await?;
    let mut out = Vec::new();
    for (step, send) in steps {
        let mut sums: Vec<(Sums, u64, u64)> = vec![(Sums::default(), 0, 0); send.variants.len()];
        for o in outcomes.iter().filter(|o| o.step_key == step) {
            let Some(i) = send.variants.iter().position(|v| v.name == o.variant) else {
                continue;
            };
            sums[i].1 += u64::from(o.sent);
            sums[i].2 += u64::from(o.clicked);
            if o.settled {
                #[allow(clippy::cast_precision_loss)]
                sums[i].0.add(o.converted, o.revenue_cents as f64 / 100.0);
            }
        }
        let variants: Vec<VariantResult> = send
            .variants
            .iter()
            .zip(&sums)
            .map(|(v, (s, sent, clicked))| {
                #[allow(clippy::cast_precision_loss)]
                let rate = if s.n == 0 {
                    0.0
                } else {
                    s.converted as f64 / s.n as f64
                };
                VariantResult {
                    name: v.name.clone(),
                    template: v.template.clone(),
                    sent: *sent,
                    clicked: *clicked,
                    settled: s.n,
                    converted: s.converted,
                    rate,
                    interval: wilson(s.converted, s.n),
                    vs_first: difference(s, &sums[0].0),
                }
            })
            .collect();
        // The leader: better than every other variant with 95% confidence.
        let leader = (0..sums.len())
            .find(|&i| {
                (0..sums.len())
                    .filter(|&j| j != i)
                    .all(|j| difference(&sums[i].0, &sums[j].0).is_some_and(|d| d.interval.0 > 0.0))
            })
            .map(|i| send.variants[i].name.clone());
        out.push(Experiment {
            winner: winners
                .iter()
                .find(|(s, ..)| *s == step)
                .map(|(_, v, ..)| v.clone()),
            step,
            variants,
            leader,
            has_goal: programme.goal.is_some(),
        });
    }
    Ok(out)
}

impl Engine {
    /// Applies `variant` as the winner of a send step's experiment (audited): only the
    /// leader the intervals single out, and only once. From then on every customer gets it.
    pub async fn apply_winner(
        &self,
        programme_id: &str,
        step_id: &str,
        variant: &str,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let refuse = |field: &'static str, reason: String| Ok(Err(Refusal { field, reason }));
        let programmes = self.programmes();
        let Some(programme) = programmes.current().get(programme_id) else {
            return refuse("programme", format!("no programme '{programme_id}'"));
        };
        let found = experiments(self.store(), programme, self.clock().now())
            .await?
            .into_iter()
            .find(|e| e.step == step_id);
        let Some(experiment) = found else {
            return refuse("step", format!("step '{step_id}' has no experiment"));
        };
        if let Some(w) = &experiment.winner {
            return refuse("variant", format!("'{w}' was already applied"));
        }
        if experiment.leader.as_deref() != Some(variant) {
            return refuse(
                "variant",
                format!(
                    "'{variant}' is not better than every other variant with 95% confidence yet"
                ),
            );
        }
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        if !tx
            .set_experiment_winner(programme_id, step_id, variant, by, now)
            .await?
        {
            return refuse("variant", "a winner was applied meanwhile".into());
        }
        tx.audit(
            by,
            "experiment.winner",
            &format!("programme:{programme_id}"),
            None,
            Some(&serde_json::json!({"step": step_id, "variant": variant}).to_string()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}

impl Engine {
    /// Takes a step's applied winner back (audited): customers are split again from now on.
    pub async fn resume_split(
        &self,
        programme_id: &str,
        step_id: &str,
        by: &str,
    ) -> Result<Result<(), Refusal>, EngineError> {
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        let Some(winner) = tx.experiment_winner(programme_id, step_id).await? else {
            return Ok(Err(Refusal {
                field: "step",
                reason: format!("step '{step_id}' has no winner applied"),
            }));
        };
        tx.clear_experiment_winner(programme_id, step_id).await?;
        tx.audit(
            by,
            "experiment.resume",
            &format!("programme:{programme_id}"),
            Some(&serde_json::json!({"step": step_id, "variant": winner}).to_string()),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_holds_the_rate_and_narrows_with_more_customers() {
        let (lo, hi) = wilson(30, 100);
        assert!(lo < 0.3 && 0.3 < hi && lo > 0.2 && hi < 0.4, "{lo} {hi}");
        let (lo2, hi2) = wilson(300, 1000);
        assert!(hi2 - lo2 < hi - lo);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn a_difference_is_certain_only_with_enough_customers_even_at_zero_and_all() {
        let sums = |converted: u64, n: u64| {
            let mut s = Sums::default();
            for i in 0..n {
                s.add(i < converted, 0.0);
            }
            s
        };
        // Newcombe's published example (method 10): 56/70 against 48/80.
        let d = difference(&sums(56, 70), &sums(48, 80)).unwrap();
        assert!(
            (d.interval.0 - 0.0524).abs() < 0.001 && (d.interval.1 - 0.3339).abs() < 0.001,
            "{d:?}"
        );
        // 3 of 3 against 0 of 3 is not yet certain; 30 of 30 against 0 of 30 is.
        assert!(difference(&sums(3, 3), &sums(0, 3)).unwrap().interval.0 < 0.5);
        let d = difference(&sums(30, 30), &sums(0, 30)).unwrap();
        assert!(d.interval.0 > 0.5 && d.interval.1 <= 1.0, "{d:?}");
        assert!(difference(&sums(1, 1), &Sums::default()).is_none());
    }
}
