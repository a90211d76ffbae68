//! Content experiments on both backends (issue 21): a send step with two variants splits
//! its customers stably, each message made from its variant's template; each variant's goal
//! conversion comes with an interval, and a winner can be applied only when the intervals
//! single it out — after which every customer gets it.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const EXPERIMENT: &str = r#"
id = "thanks-test"
name = "Thank-you note, two versions"
version = 1
trigger = { event = "order_placed" }
goal = { event = "order_placed", within = "14d" }
reentry = "once"

[[steps]]
id = "thanks"
send = { template = "thanks", class = "service", variants = [
    { name = "A" },
    { name = "B", template = "check_in" },
] }
"#;

async fn order_for(app: &TestApp, customer: &str, number: &str) {
    let now = aftercare_domain::Clock::now(app.clock.as_ref());
    let order = json!({"external_id": number, "customer_external_id": customer,
                       "placed_at": now.to_string(),
                       "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995}]});
    let (status, body) = app.post_json("/v1/orders", &order).await;
    assert_eq!(status, 201, "{body}");
}

/// An app running the experiment: 60 customers ordered and got their variant; those who
/// got B ordered again within the goal window, and the windows have closed. Returns the
/// programme's folder (keep it) and B's customers.
pub async fn experiment_run(backend: Backend) -> (TestApp, tempfile::TempDir, Vec<String>) {
    let programmes = tempfile::tempdir().unwrap();
    std::fs::write(programmes.path().join("experiment.toml"), EXPERIMENT).unwrap();
    let dir = programmes.path().to_path_buf();
    let app = spawn_app_with(backend, move |c| c.programmes_dir = dir).await;
    app.seed_shop(&jan_de_vries()).await;
    let now = aftercare_domain::Clock::now(app.clock.as_ref());
    let mut tx = app.store.begin().await.unwrap();
    for i in 0..60 {
        tx.upsert_customer(
            &crate::campaigns::customer(&format!("X{i}"), true, false),
            now,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for i in 0..60 {
        order_for(&app, &format!("X{i}"), &format!("O{i}")).await;
    }
    app.engine.run_until_idle().await.unwrap();
    let programme = app
        .engine
        .programmes()
        .current()
        .get("thanks-test")
        .unwrap()
        .clone();
    let aftercare_engine::programme::Action::Send(send) = &programme.steps[0].action else {
        panic!("a send step");
    };
    let b_customers: Vec<String> = (0..60)
        .map(|i| format!("X{i}"))
        .filter(|id| {
            send.variant_for("thanks-test", "thanks", id, None)
                .unwrap()
                .name
                == "B"
        })
        .collect();
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 3));
    for (i, id) in b_customers.iter().enumerate() {
        order_for(&app, id, &format!("P{i}")).await;
    }
    app.engine.run_until_idle().await.unwrap();
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 12));
    (app, programmes, b_customers)
}

both_backends!(
    a_two_variant_send_splits_stably_and_a_winner_is_applied_only_when_the_interval_says_so,
    |backend| async move {
        let (app, _programmes, b_customers) = experiment_run(backend).await;
        let listed = app.get_json("/v1/messages?limit=100").await;
        let messages: Vec<_> = listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["step_key"] == "thanks")
            .cloned()
            .collect();
        let programme = app
            .engine
            .programmes()
            .current()
            .get("thanks-test")
            .unwrap()
            .clone();
        let aftercare_engine::programme::Action::Send(send) = &programme.steps[0].action else {
            panic!("a send step");
        };
        // Each customer's first message is their variant's template, stably.
        let b_first = messages
            .iter()
            .filter(|m| m["template"] == "check_in")
            .count();
        assert_eq!(b_first, b_customers.len(), "{listed}");
        assert!(
            (15..=45).contains(&b_customers.len()),
            "about half: {}",
            b_customers.len()
        );
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let report = aftercare_engine::experiments::experiments(&app.store, &programme, now)
            .await
            .unwrap();
        let e = &report[0];
        assert_eq!(e.step, "thanks");
        let (a, b) = (&e.variants[0], &e.variants[1]);
        assert_eq!((a.settled, a.converted), (60 - b_customers.len() as u64, 0));
        assert_eq!(
            (b.settled, b.converted),
            (b_customers.len() as u64, b_customers.len() as u64)
        );
        assert!(b.interval.0 > a.interval.1, "{a:?} {b:?}");
        assert!(b.vs_first.as_ref().unwrap().interval.0 > 0.5, "{b:?}");
        assert_eq!(e.leader.as_deref(), Some("B"));

        // Only the leader can be applied, once; then everyone gets it.
        let refused = app
            .engine
            .apply_winner("thanks-test", "thanks", "A", "eva")
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.field, "variant");
        app.engine
            .apply_winner("thanks-test", "thanks", "B", "eva")
            .await
            .unwrap()
            .unwrap();
        assert!(
            app.engine
                .apply_winner("thanks-test", "thanks", "B", "eva")
                .await
                .unwrap()
                .is_err()
        );
        let a_customer = (100..200)
            .map(|i| format!("Y{i}"))
            .find(|id| {
                send.variant_for("thanks-test", "thanks", id, None)
                    .unwrap()
                    .name
                    == "A"
            })
            .unwrap();
        let mut tx = app.store.begin().await.unwrap();
        tx.upsert_customer(&crate::campaigns::customer(&a_customer, true, false), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        order_for(&app, &a_customer, "Q1").await;
        app.engine.run_until_idle().await.unwrap();
        let listed = app
            .get_json(&format!("/v1/messages?customer={a_customer}"))
            .await;
        assert_eq!(listed["messages"][0]["template"], "check_in", "{listed}");
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx
            .audit_log(Some("programme:thanks-test"), 5)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(audit.iter().any(|a| a.action == "experiment.winner"));
        // The programme's page shows it.
        let eva = crate::admin::sign_in_as(&app, "eva", "editor").await;
        let (status, page) = eva.get("/admin/programmes/thanks-test").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("winner: B") && page.contains("check_in"),
            "{page}"
        );
        // Taken back from the page: the split resumes for the next customer.
        let csrf = eva.csrf("/admin/programmes/thanks-test").await;
        let (status, _) = eva
            .post(
                "/admin/programmes/thanks-test/winner",
                &[("csrf", csrf.as_str()), ("step", "thanks"), ("variant", "")],
            )
            .await;
        assert_eq!(status, 303);
        let mut tx = app.store.begin_read().await.unwrap();
        assert!(
            tx.experiment_winner("thanks-test", "thanks")
                .await
                .unwrap()
                .is_none()
        );
        let audit = tx
            .audit_log(Some("programme:thanks-test"), 5)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(audit.iter().any(|a| a.action == "experiment.resume"));
    }
);
