//! Figures too slow to work out while a page waits (issue 22 point 4): the dashboards read
//! every message of the year and every order, seconds on a million customers. They are
//! worked out in the background, one run at a time per page, kept in memory and shown with
//! the moment they were worked out. A page asked for while its figures are fresh answers at
//! once; once they are older than their freshness, it still answers at once with them (their
//! age on the page) and a new run starts behind it. Only the very first look waits, and
//! then at most [`FIRST_WAIT`]: after that the page says the figures are being worked out
//! and looks again by itself. A run that fails is logged, and the page says so and tries
//! again on the next look.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// How long the first look at a page waits for its figures.
pub const FIRST_WAIT: Duration = Duration::from_secs(3);
/// At most this many pages' figures are kept; the oldest go first.
const KEPT: usize = 64;
/// A run that takes longer is stopped and counts as failed, so a page never waits forever.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// What a page gets: the figures and when they were worked out, whether a newer run is
/// under way, or why the last run failed.
#[derive(Debug, Clone, Default)]
pub struct Looked {
    /// The figures, and when they were worked out.
    pub figures: Option<(Arc<Value>, Timestamp)>,
    /// A run is under way.
    pub working: bool,
    /// The last run failed: why.
    pub failed: Option<String>,
}

#[derive(Debug, Default)]
struct Entry {
    figures: Option<(Arc<Value>, Timestamp)>,
    working: bool,
    failed: Option<String>,
    done: Arc<tokio::sync::Notify>,
}

/// The figures of every page that has them, by key.
#[derive(Debug, Default)]
pub struct Figures(Mutex<HashMap<String, Entry>>);

impl Figures {
    /// The figures under `key`, starting `work` in the background when there are none yet
    /// or they are older than `fresh_for` at `now` (and no run is under way); the first look
    /// waits up to [`FIRST_WAIT`] for them.
    pub async fn look<W, F>(
        self: &Arc<Self>,
        key: &str,
        now: Timestamp,
        fresh_for: SignedDuration,
        work: W,
    ) -> Looked
    where
        W: FnOnce() -> F,
        F: Future<Output = Result<Value, String>> + Send + 'static,
    {
        let done = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= KEPT && !map.contains_key(key) {
                let oldest = map
                    .iter()
                    .filter(|(_, e)| !e.working)
                    .min_by_key(|(_, e)| e.figures.as_ref().map(|(_, at)| *at))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
            let entry = map.entry(key.to_string()).or_default();
            let stale = entry
                .figures
                .as_ref()
                .is_none_or(|(_, at)| now.duration_since(*at) >= fresh_for || *at > now);
            if stale && !entry.working {
                entry.working = true;
                entry.failed = None;
                let (figures, key, run) = (self.clone(), key.to_string(), work());
                tokio::spawn(async move {
                    // Its own task, so a panic in it ends as a failure rather than leaving
                    // the page "being worked out" for good; stopped after [`RUN_LIMIT`].
                    let mut task = tokio::spawn(run);
                    let outcome = match tokio::time::timeout(RUN_LIMIT, &mut task).await {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(e)) => Err(format!("the run stopped: {e}")),
                        Err(_) => {
                            task.abort();
                            Err(format!("it took longer than {} s", RUN_LIMIT.as_secs()))
                        }
                    };
                    let mut map = figures.0.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = map.entry(key.clone()).or_default();
                    entry.working = false;
                    match outcome {
                        Ok(value) => {
                            entry.figures = Some((Arc::new(value), now));
                            entry.failed = None;
                        }
                        Err(e) => {
                            tracing::error!(page = %key, error = %e, "Working out a page's figures failed.");
                            entry.failed = Some(e);
                        }
                    }
                    entry.done.notify_waiters();
                });
            }
            (entry.figures.is_none() && entry.working).then(|| entry.done.clone())
        };
        if let Some(done) = done {
            let notified = done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The run may have ended between the look above and `enable`.
            if self.peek(key).working {
                let _ = tokio::time::timeout(FIRST_WAIT, notified).await;
            }
        }
        self.peek(key)
    }

    fn peek(&self, key: &str) -> Looked {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .map(|e| Looked {
                figures: e.figures.clone(),
                working: e.working,
                failed: e.failed.clone(),
            })
            .unwrap_or_default()
    }
}

/// How long an audience's count stays fresh.
pub const COUNT_FRESH_FOR: SignedDuration = SignedDuration::from_mins(5);
/// How long a draft campaign's dry run stays fresh.
pub const DRY_RUN_FRESH_FOR: SignedDuration = SignedDuration::from_mins(2);

/// An audience's count at its current version (`{"members", "customers", "sample"}` with up
/// to 20 member ids: names are read as they are shown, so an erased customer's is not kept),
/// shared by the admin page and `GET /v1/audiences/{id}`.
pub async fn audience_count(
    app: &crate::AppState,
    audience: &aftercare_store::Audience,
    condition: aftercare_engine::condition::Condition,
) -> Looked {
    let key = format!("audience {} v{}", audience.id, audience.version);
    let engine = app.engine.clone();
    app.figures
        .look(&key, app.clock.now(), COUNT_FRESH_FOR, move || async move {
            let c = engine
                .count_audience(&condition, 20)
                .await
                .map_err(|e| e.to_string())?;
            Ok(
                serde_json::json!({"members": c.members, "customers": c.customers,
                "sample": c.sample.iter().map(|(id, _)| id).collect::<Vec<_>>()}),
            )
        })
        .await
}

/// A draft campaign's dry run ([`aftercare_engine::campaigns::DryRun`] as JSON), shared by
/// the admin page and `GET /v1/campaigns/{id}/dry-run`. Everything the run reads of the
/// draft and its audience is in the key (a deleted draft's id can come back on SQLite).
pub async fn dry_run(
    app: &crate::AppState,
    campaign: &aftercare_store::Campaign,
    audience: &aftercare_store::Audience,
    condition: aftercare_engine::condition::Condition,
) -> Looked {
    let c = campaign;
    let key = format!(
        "dry-run {} {} {} v{} {} {} {} {} {} {} {:?}",
        c.id,
        c.created_at,
        audience.id,
        audience.version,
        c.template,
        c.class,
        c.channels,
        c.send_on,
        c.local_time,
        c.holdout,
        c.coupon_pool
    );
    let (engine, campaign) = (app.engine.clone(), c.clone());
    app.figures
        .look(
            &key,
            app.clock.now(),
            DRY_RUN_FRESH_FOR,
            move || async move {
                let run = engine
                    .dry_run(&campaign, &condition)
                    .await
                    .map_err(|e| e.to_string())?;
                serde_json::to_value(run).map_err(|e| e.to_string())
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[tokio::test]
    async fn fresh_figures_are_served_stale_ones_too_while_a_new_run_works_them_out() {
        let figures = Arc::new(Figures::default());
        let fresh = SignedDuration::from_mins(10);
        let first = figures
            .look("d", at(0), fresh, || async { Ok(Value::from(1)) })
            .await;
        assert_eq!(
            first.figures.map(|(v, t)| (*v == 1, t)),
            Some((true, at(0)))
        );
        // Fresh: no new run.
        let again = figures
            .look("d", at(60), fresh, || async {
                panic!("no new run while fresh")
            })
            .await;
        assert_eq!(*again.figures.unwrap().0, 1);
        // Stale: the old figures at once, a run behind them.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stale = figures
            .look("d", at(700), fresh, move || async move {
                let _ = rx.await;
                Ok(Value::from(2))
            })
            .await;
        assert_eq!(*stale.figures.unwrap().0, 1);
        assert!(stale.working);
        tx.send(()).unwrap();
        for _ in 0..100 {
            if !figures.peek("d").working {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let newer = figures.peek("d");
        assert_eq!(
            newer.figures.map(|(v, t)| (*v == 2, t)),
            Some((true, at(700)))
        );
    }

    #[tokio::test]
    async fn a_slow_first_run_is_not_waited_for_long_and_a_failure_is_said() {
        let figures = Arc::new(Figures::default());
        let fresh = SignedDuration::from_mins(10);
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        let started = std::time::Instant::now();
        let looked = figures
            .look("slow", at(0), fresh, move || async move {
                let _ = rx.await;
                Ok(Value::Null)
            })
            .await;
        assert!(looked.figures.is_none() && looked.working);
        assert!(started.elapsed() < FIRST_WAIT + Duration::from_secs(2));
        let failed = figures
            .look("broken", at(0), fresh, || async {
                Err("the store is down".into())
            })
            .await;
        assert_eq!(failed.failed.as_deref(), Some("the store is down"));
        assert!(failed.figures.is_none() && !failed.working);
        // A run that panics is a failure too, and the next look starts a new one.
        let panicked = figures
            .look("panics", at(0), fresh, || async {
                panic!("a bug in a report")
            })
            .await;
        assert!(
            panicked.failed.is_some() && !panicked.working,
            "{panicked:?}"
        );
        let again = figures
            .look("panics", at(1), fresh, || async { Ok(Value::from(3)) })
            .await;
        assert_eq!(*again.figures.unwrap().0, 3);
    }
}
