//! A worker killed with SIGKILL while timers are pending and a message is half-sent: after
//! a restart every due message is sent, none is lost, none twice.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aftercare_domain::{Clock, SystemClock};
use aftercare_engine::ingest;
use aftercare_store::Store;

use crate::both_backends;
use crate::helpers::*;

const PROGRAMME: &str = r#"
id = "quick"
name = "Quick confirmation and thanks"
# Both transactional, so quiet hours and caps (policy) never hold them, whatever the hour.
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "confirmation"
send = { template = "order_confirmation", class = "transactional" }

[[steps]]
id = "pause"
wait = "2s"

[[steps]]
id = "thanks"
send = { template = "thanks", class = "transactional" }
"#;

fn start_worker(database_url: &str, smtp_url: &str, programmes: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aftercare"))
        .arg("worker")
        .env("AFTERCARE_DATABASE_URL", database_url)
        .env("AFTERCARE_SMTP_URL", smtp_url)
        .env("AFTERCARE_PROGRAMMES_DIR", programmes)
        .env(
            "AFTERCARE_TEMPLATES_DIR",
            repo_root().join("programmes/templates"),
        )
        .env("AFTERCARE_LOG", "warn")
        .env("AFTERCARE_JOB_LEASE_SECONDS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting aftercare worker")
}

both_backends!(
    worker_killed_mid_send_loses_nothing_and_sends_nothing_twice,
    |backend| async move {
        let (database_url, _guard) = fresh_database(backend).await;
        // The sink waits a second before answering DATA, so the kill lands mid-conversation.
        let smtp = SmtpSink::start(Some(1));
        let programmes = tempfile::tempdir().unwrap();
        std::fs::write(programmes.path().join("quick.toml"), PROGRAMME).unwrap();

        let store = Store::open(&database_url).await.unwrap();
        let now = SystemClock.now();
        let mut tx = store.begin().await.unwrap();
        let customer: aftercare_domain::CustomerRecord =
            serde_json::from_value(jan_de_vries()).unwrap();
        ingest::upsert_customer(&mut tx, &customer, now)
            .await
            .unwrap();
        let product: aftercare_domain::ProductRecord = serde_json::from_value(serde_json::json!({
        "sku": "LW-STRIDE-4", "name": "Stride 4", "category": "running-shoes", "price_cents": 12995
    })).unwrap();
        ingest::upsert_product(&mut tx, &product, now)
            .await
            .unwrap();
        let orders = 3;
        for i in 0..orders {
            let mut o: aftercare_domain::OrderRecord =
                serde_json::from_value(order(&format!("W{i}"))).unwrap();
            o.placed_at = now;
            ingest::create_order(&mut tx, &o, now).await.unwrap();
        }
        tx.commit().await.unwrap();

        let mut worker = start_worker(&database_url, &smtp.url, programmes.path());
        assert!(smtp.wait_for(2).await.len() >= 2, "the worker sent nothing");
        // Let it commit the second message and start the third SMTP conversation, then kill.
        tokio::time::sleep(Duration::from_millis(400)).await;
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        let at_kill = smtp.messages().len();
        assert!(
            at_kill < orders * 2,
            "the kill came too late to prove anything"
        );

        let mut worker = start_worker(&database_url, &smtp.url, programmes.path());
        for _ in 0..120 {
            if smtp.messages().len() >= orders * 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Give a duplicate, if there were one, time to arrive.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        worker.kill().unwrap();
        worker.wait().unwrap();
        let mail = smtp.messages();
        let mut ids: Vec<&str> = mail
            .iter()
            .filter_map(|m| header(m, "Message-ID"))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            mail.len(),
            orders * 2,
            "every message exactly once (had {at_kill} at the kill)"
        );
        assert_eq!(ids.len(), orders * 2, "no Message-ID twice");
        let mut tx = store.begin().await.unwrap();
        let messages = tx
            .messages(&aftercare_store::MessageFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            messages
                .iter()
                .all(|m| m.state == aftercare_domain::MessageState::Sent),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.attempts == 2),
            "one message was resumed after the kill"
        );
    }
);
