//! The benches' own parts, at tiny sizes, so a bench cannot quietly stop running (issue 22
//! point 8: the email bench's Jinja2 peer broke when the layout gained a filter it lacked).
//! The benches themselves build release binaries and run for minutes; these run their peer
//! and generator against the real SMTP sink and the real import in a second.

use std::process::Command;

use crate::helpers::*;

/// `bench/email`'s peer (Jinja2 and smtplib) renders the library's order confirmation with
/// the worker's layout and sends it to a real SMTP server.
#[tokio::test]
async fn the_email_bench_peer_renders_the_library_confirmation_and_sends_it() {
    let smtp = SmtpSink::start(None);
    let port = smtp.url.rsplit(':').next().unwrap().to_string();
    let root = repo_root();
    let out = Command::new("/usr/bin/python3")
        .arg(root.join("bench/email/jinja_smtplib.py"))
        .args(["3", "127.0.0.1", &port])
        .arg(&root)
        .output()
        .expect("python3 (the test command installs python3-jinja2)");
    assert!(
        out.status.success(),
        "the Jinja2 peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mail = smtp.wait_for(3).await;
    assert_eq!(mail.len(), 3);
    assert!(
        mail.iter().all(|m| m.contains("Content-Type: text/html")),
        "text and HTML, as the worker sends"
    );
}

/// `bench/import`'s generator writes files the import takes whole.
#[tokio::test]
async fn the_import_bench_files_import_without_a_rejected_line() {
    let dir = generated("bench/import/generate.py", &["40", "{dir}"]);
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(imported(&app, &dir).await, [500, 40, 40]);
}

/// Runs a bench's generator with `args` (`{dir}` is the directory it writes into), then
/// that directory.
fn generated(script: &str, args: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(repo_root().join(script))
        .args(
            args.iter()
                .map(|a| a.replace("{dir}", dir.path().to_str().unwrap())),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Imports a generated shop's products, customers and orders, none rejected; how many of
/// each were added.
async fn imported(app: &TestApp, dir: &tempfile::TempDir) -> [u64; 3] {
    use aftercare::cli::import::{Options, import_file};
    use aftercare_engine::import::Kind;
    let mut added = [0; 3];
    for (n, (kind, file)) in [
        (Kind::Products, "products.jsonl"),
        (Kind::Customers, "customers.jsonl"),
        (Kind::Orders, "orders.jsonl"),
    ]
    .into_iter()
    .enumerate()
    {
        let report = import_file(
            &app.engine,
            kind,
            &dir.path().join(file),
            Options::default(),
        )
        .await
        .unwrap();
        assert!(report.rejected.is_empty(), "{file}: {report:?}");
        added[n] = report.added;
    }
    added
}

/// `bench/admin`'s year of messages (`messages.sql`, written straight into PostgreSQL) fits
/// the store's schema and is what the dashboards count.
#[tokio::test]
async fn the_admin_bench_messages_fit_the_schema_and_count_on_the_dashboards() {
    let (url, _dir) = fresh_database(Backend::Postgres).await;
    let store = aftercare_store::Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    // The file plants the messages in the year before PostgreSQL's own now().
    let now = aftercare_domain::Clock::now(&aftercare_domain::SystemClock);
    let mut tx = store.begin().await.unwrap();
    for i in 0..3 {
        let record: aftercare_domain::CustomerRecord = serde_json::from_value(
            serde_json::json!({"external_id": format!("B{i}"), "email": format!("b{i}@example.nl")}),
        )
        .unwrap();
        tx.upsert_customer(&record, now - jiff::SignedDuration::from_hours(24 * 400))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let sql = std::fs::read_to_string(repo_root().join("bench/admin/messages.sql"))
        .unwrap()
        .replace("{N}", "3")
        .replace("{M}", "60");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let band = aftercare_engine::reports::contact_band(&store, (7, 9), now, true)
        .await
        .unwrap();
    assert_eq!(band.customers, 3);
    let messages: i64 = band.by_channel_class.iter().map(|c| c.messages).sum();
    assert_eq!(messages, 57, "60 written, 3 of them blocked: {band:?}");
}

/// `bench/calendar`'s generator writes a shop the import takes whole, and the day's calendar
/// on it — cut into parts, with the day's scores as a job of its own — finds every birthday
/// of the day and scores every customer, as the bench then measures at a million.
#[tokio::test]
async fn the_calendar_bench_shop_imports_and_its_day_finds_every_birthday_and_scores_everyone() {
    // The test clock's day, 10:00 in Amsterdam.
    let dir = generated(
        "bench/calendar/generate.py",
        &["400", "{dir}", "Europe/Amsterdam", "2026-03-02"],
    );
    let mut app = spawn_app(Backend::Sqlite).await;
    app.engine = app.engine.clone().with_calendar_span(50);
    imported(&app, &dir).await;
    let born_today: Vec<String> = std::fs::read_to_string(dir.path().join("customers.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|c| c["birth_date"].as_str().unwrap().ends_with("-03-02"))
        .map(|c| c["external_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !born_today.is_empty(),
        "the generator's seed gives a birthday today"
    );
    app.engine.ensure_calendar().await.unwrap();
    app.engine.run_until_idle().await.unwrap();
    let mut tx = app.store.begin_read().await.unwrap();
    let scored: i64 = tx
        .segment_summary()
        .await
        .unwrap()
        .iter()
        .map(|s| s.1)
        .sum();
    assert_eq!(
        scored, 400,
        "every customer has orders, so every one is scored"
    );
    for id in &born_today {
        let customer = tx.customer_by_external_id(id).await.unwrap().unwrap();
        let events = tx.events_of_customer(customer.id, 100).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event_type == "occasion_birthday")
                .count(),
            1,
            "{id}: {events:?}"
        );
    }
    let figures = tx
        .job_figures(aftercare_domain::Clock::now(app.clock.as_ref()))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        figures
            .iter()
            .all(|f| f.kind != "calendar_part" && f.kind != "scores"),
        "{figures:?}"
    );
}
