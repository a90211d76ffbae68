//! Attacks from outside on the real `aftercare serve` process (issue 19), loopback only and
//! bounded in count and time: slow and idle connections, a flood of connections from one
//! client, sign-ins with huge names, and padded names that try to walk around the
//! brute-force limit. The server keeps answering `/health` within a second and its resident
//! memory stays under a stated bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::{PASSWORD, form_body};
use crate::helpers::*;

/// Resident memory the server may use while and after it is attacked (debug build).
const RSS_BOUND_KB: u64 = 160 * 1024;

/// A connection to `server` from the loopback address `from` (127.0.0.x), so one test
/// can be several clients.
async fn connect_from(from: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(server).await
}

/// What the server says before it closes: the bytes it sent, or `None` if the connection
/// is still open after `wait`.
async fn answer_within(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// `/health` answers within a second.
async fn health_answers_quickly(served: &Served) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let r = http
        .get(served.url("/health"))
        .send()
        .await
        .expect("/health answers within a second under attack");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_flooding_clients_are_cut_and_health_answers_within_a_second() {
    let served = serve_binary(&[
        ("header_timeout_seconds", "2"),
        ("max_connections_per_client", "40"),
        ("max_connections", "400"),
    ])
    .await;
    let addr = served.addr;
    let rss_before = served.rss_kb();

    // 300 connections from one client, each with half a request line.
    let attacker = [127, 0, 0, 2];
    let mut opened = Vec::new();
    for _ in 0..300 {
        if let Ok(mut s) = connect_from(attacker, addr).await {
            let _ = s.write_all(b"GET /health HT").await;
            opened.push(s);
        }
    }
    // Over the per-client cap the server answers 503 and closes at once.
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for mut s in opened {
        match answer_within(&mut s, Duration::from_millis(100)).await {
            Some(answer) => refused.push(answer),
            None => held.push(s),
        }
    }
    assert!(
        held.len() <= 40,
        "{} connections of one client stayed open over its cap of 40",
        held.len()
    );
    assert!(refused.len() >= 260, "only {} refused", refused.len());
    let explained = refused
        .iter()
        .find(|a| a.starts_with("HTTP/1.1 503"))
        .expect("a refusal says 503");
    assert!(
        explained.contains("too_many_connections") && explained.contains("retry-after"),
        "{explained}"
    );

    // Another client is served while the attacker holds its share.
    for _ in 0..5 {
        health_answers_quickly(&served).await;
    }

    // One byte every half second is not a request: cut at the header deadline.
    let dripping = tokio::spawn(async move {
        let mut s = connect_from([127, 0, 0, 3], addr).await.unwrap();
        let started = Instant::now();
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\n".iter().cycle() {
            if s.write_all(&[*byte]).await.is_err() || started.elapsed() > Duration::from_secs(8) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        started.elapsed()
    });

    // The half requests are closed once the header deadline (2 s) has passed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let held_count = held.len();
    assert!(held_count > 0, "the attacker held no connection at all");
    let mut held_closed = 0;
    for mut s in held {
        if answer_within(&mut s, Duration::from_secs(2))
            .await
            .is_some()
        {
            held_closed += 1;
        }
    }
    assert_eq!(held_closed, held_count, "every half request is closed");
    let dripped_for = dripping.await.unwrap();
    assert!(
        dripped_for < Duration::from_secs(5),
        "a dripping client was cut only after {dripped_for:?}"
    );

    // An idle keep-alive connection is closed at the same deadline.
    let mut s = connect_from([127, 0, 0, 4], addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 4096];
    let n = s.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        answer_within(&mut s, Duration::from_secs(4))
            .await
            .is_some(),
        "an idle keep-alive connection stays open"
    );

    health_answers_quickly(&served).await;
    let rss_after = served.rss_kb();
    eprintln!(
        "resident memory before {rss_before} KiB, after the connection attacks {rss_after} KiB"
    );
    assert!(
        rss_after < RSS_BOUND_KB,
        "resident memory {rss_after} KiB (before the attack {rss_before} KiB) is over the bound"
    );
}

/// A client without redirects whose connections come from the loopback address `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap()
}

async fn sign_in(http: &reqwest::Client, served: &Served, username: &str, password: &str) -> u16 {
    http.post(served.url("/admin/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("username", username), ("password", password)]))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_usernames_do_not_grow_the_server_and_padding_does_not_walk_around_the_limit() {
    let served = serve_binary(&[]).await;

    // 600 sign-ins with a 1.5 MB name, 16 at a time, from one client.
    let huge = form_body(&[("username", &"v".repeat(1_500_000)), ("password", "wrong!")]);
    let attacker = client_from([127, 0, 0, 6]);
    let rss_before = served.rss_kb();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let url = served.url("/admin/sign-in");
    for _ in 0..(600 / 16) {
        let batch: Vec<_> = (0..16)
            .map(|_| {
                let (http, url, body) = (attacker.clone(), url.clone(), huge.clone());
                tokio::spawn(async move {
                    // Refused early (413), the server may close before the body is sent.
                    http.post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16())
                })
            })
            .collect();
        for b in batch {
            *statuses.entry(b.await.unwrap()).or_default() += 1;
        }
    }
    // 0: the connection was closed while the body was still being sent.
    assert!(
        statuses.keys().all(|s| [0, 401, 413, 429].contains(s)),
        "{statuses:?}"
    );
    health_answers_quickly(&served).await;
    let rss_after = served.rss_kb();
    eprintln!("resident memory before {rss_before} KiB, after 600 huge sign-ins {rss_after} KiB");
    assert!(
        rss_after < RSS_BOUND_KB,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );

    // Five wrong tries lock the account for that client; no spelling of its name gets five
    // more.
    let guesser = client_from([127, 0, 0, 7]);
    for _ in 0..5 {
        assert_eq!(
            sign_in(&guesser, &served, "victim", "not the password").await,
            401
        );
    }
    for spelling in ["victim", " victim", "victim ", "\tvictim", "victim\n"] {
        assert_eq!(
            sign_in(&guesser, &served, spelling, PASSWORD).await,
            429,
            "{spelling:?} with the right password while the account is locked"
        );
    }
    // The guesser locked out only itself: the owner signs in from her own address.
    let owner = client_from([127, 0, 0, 8]);
    assert_eq!(sign_in(&owner, &served, "victim", PASSWORD).await, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_mistakes_are_problem_json_and_a_wrong_method_is_405_with_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    let too_long = "C".repeat(129);
    for (path, field) in [
        (format!("/v1/customers/{too_long}"), "external_id"),
        (format!("/v1/customers/{too_long}/loyalty"), "external_id"),
        ("/v1/customers/a%20b".to_string(), "external_id"),
    ] {
        let r = app.get(&path).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (&body["code"], &body["field"]),
            (
                &serde_json::json!("invalid_parameter"),
                &serde_json::json!(field)
            ),
            "{body}"
        );
    }
    let r = app.post("/v1/dead-jobs/twelve/retry").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["field"], "id", "{body}");
    let r = app.get("/v1/messages?limit=ten").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["field"], "limit", "{body}");

    let r = app
        .http
        .delete(format!("{}/v1/customers", app.base_url))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_with_one_name_do_not_share_idempotency_keys() {
    let app = spawn_app(Backend::Sqlite).await;
    let second = aftercare::cli::token::create(&app.store, "test", app.clock.as_ref())
        .await
        .unwrap();
    let product = |name: &str| serde_json::json!({"sku": "S-1", "name": name, "category": "socks", "price_cents": 995});
    let r = app
        .post("/v1/products")
        .header("idempotency-key", "k-1")
        .json(&product("Sok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The other token's request with the same key is its own request, not a replay.
    let r = app
        .http
        .post(format!("{}/v1/products", app.base_url))
        .bearer_auth(&second)
        .header("idempotency-key", "k-1")
        .json(&product("Kous"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reward_name_never_reaches_the_location_header() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_shop(&jan_de_vries()).await;
    let page_url = app.loyalty_page_url("C1").await;
    let path = page_url.trim_start_matches(&app.base_url).to_string();
    let html = app.get_text(&page_url).await;
    let csrf = form_field(&html, "csrf");
    let nonce = form_field(&html, "nonce");
    let http = crate::admin::no_redirects();
    for reward in ["five-euro%26claimed%3D1", "x%0AX-Evil%3A+1", "five-euro"] {
        let r = http
            .post(format!("{page_url}/claim"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&reward={reward}&nonce={nonce}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{reward}");
        // Jan has no points: every claim is refused, and says so.
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("{path}?refused=1"),
            "{reward}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_outside_is_bounded_and_one_line_where_a_line_break_makes_no_sense() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_shop(&jan_de_vries()).await;
    let refused = |path: &'static str, body: serde_json::Value, field: &'static str| {
        let app = &app;
        async move {
            let (status, answer) = app.post_json(path, &body).await;
            assert_eq!(
                (status, answer["field"].as_str().unwrap_or("")),
                (422, field),
                "{path}: {answer}"
            );
        }
    };
    let product = |name: &str| serde_json::json!({"sku": "S-9", "name": name, "category": "socks", "price_cents": 995});
    refused(
        "/v1/products",
        product("Sok\r\nBcc: x@evil.example"),
        "name",
    )
    .await;
    refused("/v1/products", product("Sok\0"), "name").await;
    refused("/v1/products", product(&"s".repeat(201)), "name").await;
    let address = |street: &str, city: &str| {
        let mut jan = jan_de_vries();
        jan["postal_address"] = serde_json::json!({"street": street, "house_number": "12",
            "postcode": "1012 AB", "city": city, "country": "NL"});
        jan
    };
    refused(
        "/v1/customers",
        address("Kerkstraat\nExtra regel", "Amsterdam"),
        "postal_address.street",
    )
    .await;
    refused(
        "/v1/customers",
        address("Kerkstraat", "Amster\0dam"),
        "postal_address.city",
    )
    .await;
    let mut jan = jan_de_vries();
    jan["attributes"] = serde_json::json!({"segment": "a\u{0}b"});
    refused("/v1/customers", jan, "attributes.segment").await;
    let event = |properties: serde_json::Value| {
        serde_json::json!({"events": [{"type": "review_written", "customer_external_id": "C1",
            "at": "2026-03-01T10:00:00Z", "properties": properties}]})
    };
    refused(
        "/v1/events",
        event(serde_json::json!({"text": "x".repeat(1_500_000)})),
        "events[0].properties.text",
    )
    .await;
    let many: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|i| (format!("k{i}"), serde_json::json!("x".repeat(1_000))))
        .collect();
    refused(
        "/v1/events",
        event(serde_json::Value::Object(many)),
        "events[0].properties",
    )
    .await;
    refused(
        "/v1/cancellations",
        serde_json::json!({"customer_external_id": "C1", "at": "2026-03-01T10:00:00Z", "reason": "te duur\u{0}"}),
        "reason",
    )
    .await;
    refused(
        "/v1/customers/C1/consents",
        serde_json::json!({"purpose": "marketing", "channel": "email", "granted": false,
            "source": "s".repeat(65), "at": "2026-03-01T10:00:00Z"}),
        "source",
    )
    .await;
    // Free text keeps its line breaks.
    let (status, answer) = app
        .post_json(
            "/v1/cancellations",
            &serde_json::json!({"customer_external_id": "C1", "at": "2026-03-01T10:00:00Z",
                "reason": "Te duur.\nEn te vaak mail."}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// Issue 22: calendars are worked out by workers, not the page. However many look at one
/// customer's calendar at once, it is asked for once; and at most eight customers' years
/// wait for a worker, the rest told to come back: a viewer cannot queue up the workers' time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_queue_up_calendars_the_rest_are_told_to_come_back() {
    use aftercare_store::Table;
    // No worker takes them here, so what is asked for stays asked for.
    let app = crate::helpers::spawn_app_without_side_jobs(Backend::Sqlite).await;
    let mut ids = Vec::new();
    for i in 1..=12 {
        let mut customer = jan_de_vries();
        customer["external_id"] = format!("C{i}").into();
        customer["email"] = format!("c{i}@example.nl").into();
        app.seed_shop(&customer).await;
        ids.push(format!("C{i}"));
    }
    let viewer = crate::admin::sign_in_as(&app, "victor", "viewer").await;
    let look = |id: &str| {
        let (http, url, cookie) = (
            viewer.http.clone(),
            format!("{}/admin/customers/{id}/calendar", app.base_url),
            viewer.cookie.clone(),
        );
        tokio::spawn(async move {
            let r = http.get(url).header("cookie", cookie).send().await.unwrap();
            let retry = r.headers().get("retry-after").is_some();
            (r.status().as_u16(), retry)
        })
    };
    let jobs = app.store.count(Table::Jobs).await.unwrap();
    let same: Vec<_> = (0..12).map(|_| look("C1")).collect();
    for r in same {
        assert_eq!(r.await.unwrap(), (200, false));
    }
    assert_eq!(
        app.store.count(Table::Jobs).await.unwrap(),
        jobs + 1,
        "one customer's year is asked for once"
    );
    let mut answers = Vec::new();
    for id in &ids {
        answers.push(look(id).await.unwrap());
    }
    // C1 is already asked for; seven more wait with it; the other four are told to come back.
    let expected: Vec<(u16, bool)> = (1..=12)
        .map(|i| if i <= 8 { (200, false) } else { (503, true) })
        .collect();
    assert_eq!(answers, expected);
    assert_eq!(app.store.count(Table::Jobs).await.unwrap(), jobs + 8);
    // Requests no worker answered in ten minutes no longer hold the others back.
    app.clock.advance(jiff::SignedDuration::from_mins(11));
    assert_eq!(look("C12").await.unwrap(), (200, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_many_clients_do_not_make_the_server_hold_them_all() {
    let served = serve_binary(&[("max_connections_per_client", "64")]).await;
    let addr = served.addr;
    let rss_before = served.rss_kb();
    // 240 connections from four clients each announce 2 MiB to an endpoint that needs no
    // token, send 1.5 MiB of it and stop: without a budget the server holds 360 MiB.
    let chunk = vec![b'['; 64 * 1024];
    let mut held = Vec::new();
    for i in 0..240u8 {
        let Ok(mut s) = connect_from([127, 0, 1, 1 + i % 4], addr).await else {
            continue;
        };
        let head = format!(
            "POST /v1/email-feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        );
        if s.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        held.push(s);
    }
    let sent = tokio::time::timeout(Duration::from_secs(20), async {
        for _ in 0..24 {
            for s in held.iter_mut() {
                let _ = tokio::time::timeout(Duration::from_millis(20), s.write_all(&chunk)).await;
            }
        }
    })
    .await;
    let _ = sent;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_during = served.rss_kb();
    health_answers_quickly(&served).await;
    eprintln!("resident memory before {rss_before} KiB, with 240 slow bodies {rss_during} KiB");
    assert!(
        rss_during < RSS_BOUND_KB,
        "resident memory {rss_during} KiB (before {rss_before} KiB) is over the bound"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_calendar_leaves_no_folder_behind() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_shop(&jan_de_vries()).await;
    assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
    app.engine.run_until_idle().await.unwrap();
    let viewer = crate::admin::sign_in_as(&app, "victor", "viewer").await;
    let prefix = format!("aftercare-calendar-{}-", std::process::id());
    let leftovers = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    let before = leftovers();
    // A worker works the calendar out in a throw-away folder of its own.
    crate::admin::finished_simulation(&viewer, "/admin/customers/C1/calendar").await;
    // Another test's calendar, running in this process at the same time, may still be going.
    for _ in 0..120 {
        if leftovers() <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        leftovers() <= before,
        "a calendar left its throw-away folder behind"
    );
}
