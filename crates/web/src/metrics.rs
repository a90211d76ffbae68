//! `GET /metrics`: the engine's state in Prometheus's text format (issue 22 point 7), for
//! a scraper with an API token (`authorization: { credentials: <token> }` in Prometheus).
//!
//! Every figure comes from the store, so it covers all worker processes, whichever process
//! answers: jobs queued, due, held and set aside by kind and how late the oldest due one is;
//! messages by state and channel; how long the messages sent in the last five minutes waited
//! after their planned time; each worker's last heartbeat and jobs run. A scrape is worked
//! out at most every [`FRESH_FOR`]; scrapes in between (or at once) get the same text, so a
//! flood of requests costs the database one set of queries.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use jiff::{SignedDuration, Timestamp};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::api::extract::Caller;
use crate::error::ApiError;

/// How long one scrape's figures are served again.
pub const FRESH_FOR: SignedDuration = SignedDuration::from_secs(5);
/// The window of the send-latency quantiles.
pub const LATENCY_WINDOW: SignedDuration = SignedDuration::from_mins(5);
/// At most this many recent messages make the quantiles.
const LATENCY_SAMPLE: i64 = 10_000;
/// A worker whose heartbeat is older than this counts as gone.
pub const ALIVE_WITHIN: SignedDuration = SignedDuration::from_secs(30);

/// The last scrape's text and when it was worked out.
#[derive(Debug, Default)]
pub struct Cache(tokio::sync::Mutex<Option<(Timestamp, String)>>);

type Labels = Vec<(&'static str, String)>;
type Seconds = Gauge<f64, AtomicU64>;

/// The handler.
pub async fn metrics(
    State(app): State<AppState>,
    _caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let mut cached = app.metrics.0.lock().await;
    let now = app.clock.now();
    let text = match cached.as_ref() {
        Some((at, text)) if *at <= now && now.duration_since(*at) < FRESH_FOR => text.clone(),
        _ => {
            let text = work_out(&app, now).await?;
            *cached = Some((now, text.clone()));
            text
        }
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

async fn work_out(app: &AppState, now: Timestamp) -> Result<String, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let jobs = tx.job_figures(now).await?;
    let messages = tx.message_figures().await?;
    let waits = tx.send_waits(now - LATENCY_WINDOW, LATENCY_SAMPLE).await?;
    let workers = tx.heartbeats().await?;
    tx.commit().await?;

    let mut registry = Registry::with_prefix("aftercare");
    let family = |registry: &mut Registry, name: &str, help: &str| {
        let f = Family::<Labels, Gauge>::default();
        registry.register(name, help, f.clone());
        f
    };
    let seconds = |registry: &mut Registry, name: &str, help: &str| {
        let f = Family::<Labels, Seconds>::default();
        registry.register(name, help, f.clone());
        f
    };

    let queued = family(
        &mut registry,
        "jobs_queued",
        "Jobs waiting, due or not, by kind",
    );
    let due = family(
        &mut registry,
        "jobs_due",
        "Jobs due that no worker holds, by kind",
    );
    let leased = family(
        &mut registry,
        "jobs_leased",
        "Jobs a worker holds now, by kind",
    );
    let dead = family(
        &mut registry,
        "jobs_dead",
        "Jobs set aside after failing too often, by kind",
    );
    let late = seconds(
        &mut registry,
        "jobs_late_seconds",
        "How long the longest-waiting due job has been due, by kind",
    );
    for j in &jobs {
        let l = vec![("kind", j.kind.clone())];
        queued.get_or_create(&l).set(j.queued);
        due.get_or_create(&l).set(j.due);
        leased.get_or_create(&l).set(j.leased);
        dead.get_or_create(&l).set(j.dead);
        let behind = j
            .oldest_due
            .map_or(0.0, |at| now.duration_since(at).as_secs_f64().max(0.0));
        late.get_or_create(&l).set(behind);
    }

    let by_state = family(&mut registry, "messages", "Messages by state and channel");
    for (state, channel, n) in messages {
        by_state
            .get_or_create(&vec![("state", state), ("channel", channel)])
            .set(n);
    }

    let latency = seconds(
        &mut registry,
        "send_latency_seconds",
        "How long messages sent in the last five minutes waited after their planned time, by quantile",
    );
    let sent = family(
        &mut registry,
        "send_latency_messages",
        "How many messages sent in the last five minutes the quantiles are made of",
    );
    let mut waits: Vec<f64> = waits.iter().map(|w| w.as_secs_f64()).collect();
    waits.sort_by(f64::total_cmp);
    sent.get_or_create(&Vec::new())
        .set(i64::try_from(waits.len()).unwrap_or(i64::MAX));
    if !waits.is_empty() {
        for q in ["0.5", "0.9", "0.99", "1"] {
            let at = (waits.len() - 1) as f64 * q.parse::<f64>().unwrap_or(1.0);
            latency
                .get_or_create(&vec![("quantile", q.to_string())])
                .set(waits[at.round() as usize]);
        }
    }

    let seen = seconds(
        &mut registry,
        "worker_heartbeat_age_seconds",
        "How long ago each worker process last said it was alive",
    );
    let done = family(
        &mut registry,
        "worker_jobs",
        "Jobs each worker process has run since it started",
    );
    let alive = family(
        &mut registry,
        "workers_alive",
        "Worker processes heard from in the last 30 seconds",
    );
    let mut count = 0;
    for w in &workers {
        let l = vec![("worker", w.worker.clone())];
        let age = now.duration_since(w.seen_at);
        seen.get_or_create(&l).set(age.as_secs_f64().max(0.0));
        done.get_or_create(&l).set(w.jobs_done);
        if age < ALIVE_WITHIN {
            count += 1;
        }
    }
    alive.get_or_create(&Vec::new()).set(count);

    let mut text = String::new();
    encode(&mut text, &registry)
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    Ok(text)
}
