//! `/metrics` (issue 22 point 7): what operations watches, in Prometheus's format, worked
//! out from the store so that it covers every worker process.

use std::collections::BTreeMap;

use jiff::SignedDuration;

use crate::both_backends;
use crate::helpers::*;

/// The samples of a scrape: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let response = app.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    samples(&text)
}

both_backends!(
    metrics_show_late_jobs_messages_by_state_send_latency_and_live_workers,
    |backend| async move {
        let app = spawn_app(backend).await;
        let anonymous = reqwest::get(format!("{}/metrics", app.base_url))
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "the figures need an API token");

        app.seed_shop(&jan_de_vries()).await;
        let (status, body) = app.post_json("/v1/orders", &order("W1")).await;
        assert_eq!(status, 201, "{body}");
        // Nobody works the queue for a minute and a half: the order's routing is late.
        app.clock.advance(SignedDuration::from_secs(90));
        let m = scrape(&app).await;
        assert!(m[r#"aftercare_jobs_due{kind="event"}"#] >= 1.0, "{m:?}");
        assert!(
            m[r#"aftercare_jobs_late_seconds{kind="event"}"#] >= 90.0,
            "{m:?}"
        );
        assert_eq!(m["aftercare_workers_alive"], 0.0, "{m:?}");

        // A scrape is worked out once for a few seconds, however often it is asked for.
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(scrape(&app).await, m, "served again within five seconds");

        // A worker that runs says it is alive.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let engine = app.engine.clone();
        let running = tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = stopped.await;
                })
                .await
        });
        for _ in 0..100 {
            let mut tx = app.store.begin().await.unwrap();
            let beats = tx.heartbeats().await.unwrap();
            tx.commit().await.unwrap();
            if !beats.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = stop.send(());
        running.await.unwrap();

        app.clock.advance(SignedDuration::from_secs(6));
        let m = scrape(&app).await;
        // No event job is left, so the kind has no figures at all.
        let figure = |k: &str| m.get(k).copied().unwrap_or(0.0);
        assert_eq!(figure(r#"aftercare_jobs_due{kind="event"}"#), 0.0, "{m:?}");
        assert_eq!(
            figure(r#"aftercare_jobs_late_seconds{kind="event"}"#),
            0.0,
            "{m:?}"
        );
        assert!(
            m[r#"aftercare_messages{state="sent",channel="email"}"#] >= 1.0,
            "the order confirmation: {m:?}"
        );
        assert!(m["aftercare_send_latency_messages"] >= 1.0, "{m:?}");
        assert!(
            m.contains_key(r#"aftercare_send_latency_seconds{quantile="0.99"}"#),
            "{m:?}"
        );
        assert_eq!(m["aftercare_workers_alive"], 1.0, "{m:?}");
        let beat = m
            .keys()
            .find(|k| k.starts_with("aftercare_worker_heartbeat_age_seconds{worker="))
            .expect("the worker's heartbeat");
        assert!(m[beat] >= 6.0 && m[beat] < 30.0, "{beat}: {m:?}");
    }
);

both_backends!(
    housekeeping_removes_old_keys_events_and_personal_content_but_keeps_what_an_enrolment_started_from,
    |backend| async move {
        use aftercare_store::Table;
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let answer = app
            .post("/v1/orders")
            .header("Idempotency-Key", "order-W1")
            .json(&order("W1"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        // An event no programme listens to.
        let review = serde_json::json!({"events": [{"type": "review_written",
            "customer_external_id": "C1", "at": "2026-03-02T09:00:00Z",
            "properties": {"stars": 5}}]});
        let (status, body) = app.post_json("/v1/events", &review).await;
        assert_eq!(status, 202, "{body}");
        app.engine.run_until_idle().await.unwrap();
        let count = |t| {
            let store = app.store.clone();
            async move { store.count(t).await.unwrap() }
        };
        let events = count(Table::Events).await;
        let enrolments = count(Table::Enrolments).await;
        assert!(events >= 2, "the review and the order");
        assert!(enrolments >= 1, "the order started programmes");
        assert_eq!(count(Table::IdempotencyKeys).await, 1);
        // A finished simulation of the admin UI, and one that has not finished.
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let simulation = aftercare_store::NewSimulation {
            started_by: "eva",
            customers: 10,
            days: 7,
            seed: 1,
            start_day: now,
            change: None,
        };
        let mut tx = app.store.begin().await.unwrap();
        let finished = tx.insert_simulation(&simulation, now).await.unwrap().unwrap();
        tx.finish_simulation(finished, Err("stopped"), now).await.unwrap();
        let unfinished = tx.insert_simulation(&simulation, now).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        let simulations = || {
            let store = app.store.clone();
            async move {
                let mut tx = store.begin_read().await.unwrap();
                let kept = [
                    tx.simulation(finished).await.unwrap().is_some(),
                    tx.simulation(unfinished).await.unwrap().is_some(),
                ];
                tx.commit().await.unwrap();
                kept
            }
        };

        // A week on, the daily housekeeping lets the key go (a retry comes in minutes).
        app.clock.advance(SignedDuration::from_hours(24 * 8));
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(count(Table::IdempotencyKeys).await, 0);
        assert!(
            count(Table::Events).await >= events,
            "events stay two years"
        );
        assert_eq!(simulations().await, [true, true]);

        // Two years on, events that started nothing go; the order's event stays, since its
        // enrolments' timelines name it.
        app.clock.advance(SignedDuration::from_hours(24 * 730));
        app.engine.run_until_idle().await.unwrap();
        let left = count(Table::Events).await;
        assert!(left < events, "the review went ({left} of {events})");
        assert!(left >= 1, "the order's event stayed");
        // Finished simulations go after 90 days; one still to run stays.
        assert_eq!(simulations().await, [false, true]);
        assert!(count(Table::Enrolments).await >= enrolments);
        let export = app.get("/v1/customers/C1/export").send().await.unwrap();
        assert_eq!(
            export.status(),
            200,
            "the customer's export reads what is left"
        );
        // ... and what the messages said and to whom, and what the events carried, is gone
        // after the retention period (two years); the rows stay for the band and reports.
        let export: serde_json::Value = export.json().await.unwrap();
        let messages = export["messages"].as_array().unwrap();
        assert!(!messages.is_empty());
        for m in messages {
            let m = &m["message"];
            assert!(
                m["body_text"].is_null() && m["recipient"].is_null() && m["subject"].is_null(),
                "{m}"
            );
        }
        for e in export["events"].as_array().unwrap() {
            assert_eq!(e["properties"], serde_json::json!({}), "{e}");
        }
    }
);
