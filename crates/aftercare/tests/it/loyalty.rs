//! Loyalty, coupons and referrals through the real API on SQLite and PostgreSQL
//! (LY1, LY2, OF3, RF1, DQ1): single-use codes hold under concurrency, the ledger replays
//! to its balance, returns reverse points, a referral rewards both sides after the return
//! period, and bad input changes nothing.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

fn with_marketing(mut customer: Value) -> Value {
    customer["consents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}));
    customer
}

fn new_customer(id: &str, email: &str, first_name: &str) -> Value {
    with_marketing(json!({
        "external_id": id, "email": email, "first_name": first_name, "last_name": "Smit",
        "locale": "nl-NL", "time_zone": "Europe/Amsterdam",
        "consents": [{"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}]
    }))
}

fn order_for(customer: &str, id: &str, placed_at: &str) -> Value {
    json!({
        "external_id": id, "customer_external_id": customer, "placed_at": placed_at,
        "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995}]
    })
}

async fn loyalty(app: &TestApp, customer: &str) -> Value {
    let r = app
        .get(&format!("/v1/customers/{customer}/loyalty"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

async fn issue(app: &TestApp, customer: &str, pool: &str) -> String {
    let (status, body) = app
        .post_json(
            &format!("/v1/customers/{customer}/coupons"),
            &json!({"pool": pool}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["code"].as_str().unwrap().to_string()
}

both_backends!(
    single_use_code_is_redeemed_once_under_100_concurrent_requests,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let code = issue(&app, "C1", "referral").await;
        let requests = (0..100).map(|i| {
            let req = app
                .post(&format!("/v1/coupons/{code}/redemptions"))
                .json(&json!({"order_external_id": format!("W{i}"), "order_total_cents": 5000, "customer_external_id": "C1"}));
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
                (status, content_type, r.json::<Value>().await.unwrap())
            }
        });
        let answers = futures_join_all(requests).await;
        let ok: Vec<&Value> = answers
            .iter()
            .filter(|a| a.0 == 201)
            .map(|a| &a.2)
            .collect();
        assert_eq!(ok.len(), 1, "exactly one redemption succeeds");
        assert_eq!(ok[0]["discount_cents"], 1000);
        for (status, content_type, body) in answers.iter().filter(|a| a.0 != 201) {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(body["code"], "coupon_used");
            assert_eq!(body["field"], "code");
        }
        assert_eq!(
            app.store
                .count(aftercare_store::Table::CouponRedemptions)
                .await
                .unwrap(),
            1
        );
        let check = app
            .get_json(&format!("/v1/coupons/{code}?customer_external_id=C1"))
            .await;
        assert_eq!(check["uses"], 1);
        assert_eq!(check["redeemable"], false);
        assert_eq!(check["reason"], "coupon_used");
        // The winning order retrying gets its answer again, not a refusal.
        let winner = ok[0]["order_external_id"].as_str().unwrap();
        let (status, again) = app
            .post_json(
                &format!("/v1/coupons/{}/redemptions", code.to_lowercase()),
                &json!({"order_external_id": winner, "order_total_cents": 5000, "customer_external_id": "C1"}),
            )
            .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["discount_cents"], 1000);
    }
);

/// Runs the futures concurrently (a tiny join_all on tokio tasks).
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

both_backends!(
    ledger_replays_to_its_balance_duplicate_earn_adds_nothing_and_a_return_reverses_the_order,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let l = loyalty(&app, "C1").await;
        assert_eq!(l["balance"], 129, "€129.95 earns 129 points: {l}");

        let review = json!({"kind": "earn", "points": 25, "reason": "Review", "key": "review-1"});
        let (status, first) = app.post_json("/v1/customers/C1/points", &review).await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["balance"], 154);
        let (status, repeat) = app.post_json("/v1/customers/C1/points", &review).await;
        assert_eq!(status, 200);
        assert_eq!(repeat["added"], false);
        assert_eq!(repeat["balance"], 154, "a duplicate earn adds nothing");

        // Spend on a reward (250 points needed): refused, nothing spent.
        let (status, body) = app
            .post_json(
                "/v1/customers/C1/rewards",
                &json!({"reward": "five-euro", "key": "k1"}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["field"], "reward");

        // A second order, then the first comes back.
        let mut w2 = order("W2");
        w2["placed_at"] = json!("2026-03-02T08:58:00Z");
        assert_eq!(app.post_json("/v1/orders", &w2).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(loyalty(&app, "C1").await["balance"], 283);
        let (status, _) = app
            .post_json(
                "/v1/returns",
                &json!({"order_external_id": "W1", "at": "2026-03-02T09:00:00Z"}),
            )
            .await;
        assert_eq!(status, 202);
        app.engine.run_until_idle().await.unwrap();
        let l = loyalty(&app, "C1").await;
        assert_eq!(l["balance"], 154, "W1's 129 points are reversed: {l}");
        let history = l["history"].as_array().unwrap();
        assert_eq!(history[0]["kind"], "reverse");
        assert_eq!(history[0]["points"], -129);
        let sum: i64 = history.iter().map(|e| e["points"].as_i64().unwrap()).sum();
        assert_eq!(sum, 154, "replaying the ledger gives the derived balance");

        // Repeating the return reverses nothing twice.
        app.post_json(
            "/v1/returns",
            &json!({"order_external_id": "W1", "at": "2026-03-02T09:00:00Z"}),
        )
        .await;
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(loyalty(&app, "C1").await["balance"], 154);

        // Enough points now for the reward: the coupon comes back and the points go.
        let bonus = json!({"kind": "adjust", "points": 100, "reason": "Goodwill", "key": "gw-1"});
        assert_eq!(
            app.post_json("/v1/customers/C1/points", &bonus).await.0,
            201
        );
        let (status, claimed) = app
            .post_json(
                "/v1/customers/C1/rewards",
                &json!({"reward": "five-euro", "key": "k2"}),
            )
            .await;
        assert_eq!(status, 201, "{claimed}");
        assert_eq!(claimed["balance"], 4);
        assert_eq!(claimed["coupon"]["value"], "€5.00");
        let l = loyalty(&app, "C1").await;
        assert_eq!(l["coupons"].as_array().unwrap().len(), 1);
        assert_eq!(l["tier"], Value::Null);
        assert_eq!(l["next_tier"], "Silver");
    }
);

both_backends!(
    referral_gives_the_friend_ten_euros_for_the_first_order_and_the_referrer_after_the_return_period_rf1,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&with_marketing(jan_de_vries())).await;
        let referrer = loyalty(&app, "C1").await;
        let code = referrer["referral_code"].as_str().unwrap().to_string();
        assert!(referrer["referral_link"].as_str().unwrap().ends_with(&code));

        // The same person under another account: refused, with the reason.
        let twin = new_customer("C9", "JAN.DEVRIES@example.nl", "Jan");
        assert_eq!(app.post_json("/v1/customers", &twin).await.0, 201);
        let (status, body) = app
            .post_json(
                "/v1/referrals",
                &json!({"referral_code": code, "customer_external_id": "C9"}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "self_referral");
        assert!(
            body["detail"].as_str().unwrap().contains("email address"),
            "{body}"
        );
        let (status, body) = app
            .post_json(
                "/v1/referrals",
                &json!({"referral_code": code, "customer_external_id": "C1"}),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(body["code"], "self_referral");
        assert_eq!(
            app.store
                .count(aftercare_store::Table::Referrals)
                .await
                .unwrap(),
            0
        );

        // A real new customer: registered, orders, and the return period passes.
        let anna = new_customer("C2", "anna@example.nl", "Anna");
        assert_eq!(app.post_json("/v1/customers", &anna).await.0, 201);
        let (status, body) = app
            .post_json(
                "/v1/referrals",
                &json!({"referral_code": code.to_lowercase(), "customer_external_id": "C2"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["state"], "pending");
        // RF1: the new customer's €10 is for the first order, so it is there at once.
        app.engine.run_until_idle().await.unwrap();
        let welcome = loyalty(&app, "C2").await;
        let anna_code = welcome["coupons"][0]["code"].as_str().unwrap().to_string();
        assert_eq!(welcome["coupons"][0]["value"], "€10.00", "{welcome}");
        let body = app
            .get_json(&format!(
                "/v1/coupons/{anna_code}?customer_external_id=C2&order_total_cents=12995"
            ))
            .await;
        assert_eq!(body["redeemable"], true, "usable on the first order: {body}");
        assert_eq!(body["discount_cents"], 1000);
        assert_eq!(
            app.post_json("/v1/orders", &order_for("C2", "A1", "2026-03-02T08:59:00Z"))
                .await
                .0,
            201
        );
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(
            loyalty(&app, "C1").await["referrals"][0]["state"],
            "ordered"
        );
        app.advance_hours(24 * 29).await;
        assert!(
            loyalty(&app, "C1").await["coupons"]
                .as_array()
                .unwrap()
                .is_empty(),
            "the referrer's €10 waits for the return period"
        );
        app.advance_hours(24 * 2).await;

        let mut codes = Vec::new();
        for who in ["C1", "C2"] {
            let l = loyalty(&app, who).await;
            let coupons = l["coupons"].as_array().unwrap();
            assert_eq!(coupons.len(), 1, "{who}: {l}");
            assert_eq!(coupons[0]["value"], "€10.00");
            codes.push(coupons[0]["code"].as_str().unwrap().to_string());
            let reward = app
                .message_with_template(who, "&state=sent", "referral_reward")
                .await;
            assert!(
                reward["body_text"]
                    .as_str()
                    .unwrap()
                    .contains(&codes[codes.len() - 1]),
                "{reward}"
            );
            assert!(
                reward["body_text"]
                    .as_str()
                    .unwrap()
                    .contains("/p/loyalty/"),
                "the message links to the loyalty page: {reward}"
            );
        }
        assert_eq!(codes[1], anna_code, "one code for the new customer, not two");
        assert_ne!(codes[0], codes[1], "each side has a code of their own");
        assert_eq!(
            loyalty(&app, "C1").await["referrals"][0]["state"],
            "rewarded"
        );
        // Anna's code is hers: Jan cannot use it.
        let (status, body) = app
            .post_json(
                &format!("/v1/coupons/{}/redemptions", codes[1]),
                &json!({"order_external_id": "W9", "order_total_cents": 5000, "customer_external_id": "C1"}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "coupon_not_yours");
    }
);

both_backends!(
    bad_coupon_and_points_input_is_refused_and_changes_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let anna = new_customer("C2", "anna@example.nl", "Anna");
        assert_eq!(app.post_json("/v1/customers", &anna).await.0, 201);
        let jans = issue(&app, "C1", "loyalty-reward").await;
        let before = app.counts().await;

        let cases: Vec<(String, Value, u16, &str, &str)> = vec![
            (
                "/v1/coupons/NOPE-NOPE/redemptions".into(),
                json!({"order_external_id": "W1", "order_total_cents": 100}),
                404,
                "not_found",
                "",
            ),
            (
                format!("/v1/coupons/{jans}/redemptions"),
                json!({"order_external_id": "W1", "order_total_cents": 5000, "customer_external_id": "C2"}),
                403,
                "coupon_not_yours",
                "code",
            ),
            (
                format!("/v1/coupons/{jans}/redemptions"),
                json!({"order_external_id": "W1", "order_total_cents": -5}),
                422,
                "invalid_field",
                "order_total_cents",
            ),
            (
                format!("/v1/coupons/{jans}/redemptions"),
                json!({"order_external_id": "W1", "order_total_cents": 5000, "customer_external_id": "C404"}),
                422,
                "invalid_field",
                "customer_external_id",
            ),
            (
                "/v1/customers/C1/points".into(),
                json!({"kind": "earn", "points": -10, "reason": "x", "key": "k"}),
                422,
                "invalid_field",
                "points",
            ),
            (
                "/v1/customers/C1/points".into(),
                json!({"kind": "redeem", "points": 10, "reason": "x", "key": "k"}),
                422,
                "invalid_field",
                "kind",
            ),
            (
                "/v1/customers/C1/points".into(),
                json!({"kind": "earn", "points": 10, "reason": " ", "key": "k"}),
                422,
                "invalid_field",
                "reason",
            ),
            (
                "/v1/customers/C1/rewards".into(),
                json!({"reward": "yacht", "key": "k"}),
                422,
                "invalid_field",
                "reward",
            ),
            (
                "/v1/customers/C1/coupons".into(),
                json!({"pool": "nope"}),
                422,
                "invalid_field",
                "pool",
            ),
            (
                "/v1/referrals".into(),
                json!({"referral_code": "ZZZZZZZZ", "customer_external_id": "C2"}),
                422,
                "invalid_field",
                "referral_code",
            ),
            (
                "/v1/returns".into(),
                json!({"order_external_id": "W404", "at": "2026-03-02T08:00:00Z"}),
                422,
                "invalid_field",
                "order_external_id",
            ),
            (
                "/v1/coupon-pools/referral/codes".into(),
                json!({"codes": ["GOOD1", "bad code!"]}),
                422,
                "invalid_field",
                "codes[1]",
            ),
        ];
        for (path, body, status, code, field) in cases {
            let (got, answer) = app.post_json(&path, &body).await;
            assert_eq!(got, status, "{path} {body}: {answer}");
            assert_eq!(answer["code"], code, "{path}: {answer}");
            if !field.is_empty() {
                assert_eq!(answer["field"], field, "{path}: {answer}");
            }
        }
        assert_eq!(app.counts().await, before, "refused input changed nothing");

        // An expired code: 410 with the date, and still nothing changes.
        app.clock.advance(jiff::SignedDuration::from_hours(24 * 91));
        let (status, body) = app
            .post_json(
                &format!("/v1/coupons/{jans}/redemptions"),
                &json!({"order_external_id": "W1", "order_total_cents": 5000, "customer_external_id": "C1"}),
            )
            .await;
        assert_eq!(status, 410, "{body}");
        assert_eq!(body["code"], "coupon_expired");
        assert_eq!(app.counts().await, before);

        // Imported codes work like issued ones.
        let (status, body) = app
            .post_json(
                "/v1/coupon-pools/referral/codes",
                &json!({"codes": ["SHOP-0001", "SHOP-0002"]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app
            .post_json(
                "/v1/coupons/shop0001/redemptions",
                &json!({"order_external_id": "W7", "order_total_cents": 800}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["discount_cents"], 800, "never more than the order");
        let (status, body) = app
            .post_json("/v1/coupon-pools/referral/codes", &json!({"generate": 3}))
            .await;
        assert_eq!(status, 201, "{body}");
        let generated = body["generated"].as_array().unwrap();
        assert_eq!(generated.len(), 3);
        let code = generated[0].as_str().unwrap();
        assert!(
            code.chars()
                .all(|c| c == '-' || aftercare_domain::loyalty::CODE_ALPHABET.contains(c)),
            "{code}"
        );
        let (status, _) = app
            .post_json(&format!("/v1/coupons/{code}/redemptions"), &json!({"order_external_id": "W8", "order_total_cents": 5000, "customer_external_id": "C2"}))
            .await;
        assert_eq!(status, 201, "a code for anyone works for any customer");
    }
);

both_backends!(
    complaint_recovery_code_is_sent_only_when_it_stays_usable,
    |backend| async move {
        // The service-recovery pool's codes last 3 days: too short for the 7 usable days
        // DQ1 asks, so the apology is blocked rather than sent with a dying code.
        let app = spawn_app_with(backend, |config| {
            let pool = config
                .loyalty
                .pools
                .iter_mut()
                .find(|p| p.id == "service-recovery")
                .unwrap();
            pool.valid_days = 3;
        })
        .await;
        app.seed_shop(&jan_de_vries()).await;
        let resolved = json!({"events": [{"type": "case_resolved", "customer_external_id": "C1",
            "at": "2026-03-02T08:00:00Z", "properties": {"kind": "complaint"}}]});
        assert_eq!(app.post_json("/v1/events", &resolved).await.0, 202);
        app.advance_hours(30).await;
        let apology = app.message_with_template("C1", "", "apology").await;
        assert_eq!(apology["state"], "blocked", "{apology}");
        assert!(
            apology["reason"].as_str().unwrap().contains("coupon"),
            "{apology}"
        );

        // With the default 60 days the apology goes out with its code.
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/events", &resolved).await.0, 202);
        app.advance_hours(30).await;
        let apology = app
            .message_with_template("C1", "&state=sent", "apology")
            .await;
        let code = loyalty(&app, "C1").await["coupons"][0]["code"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            apology["body_text"].as_str().unwrap().contains(&code),
            "{apology}"
        );
    }
);

both_backends!(
    loyalty_page_opens_by_signed_link_and_a_reward_is_claimed_once,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        let bonus = json!({"kind": "adjust", "points": 200, "reason": "Welkomstbonus", "key": "w"});
        assert_eq!(
            app.post_json("/v1/customers/C1/points", &bonus).await.0,
            201
        );
        app.engine.run_until_idle().await.unwrap();
        let mut tx = app.store.begin_read().await.unwrap();
        let id = tx.customer_by_external_id("C1").await.unwrap().unwrap().id;
        drop(tx);
        let expires =
            aftercare_domain::Clock::now(app.clock.as_ref()) + jiff::SignedDuration::from_hours(24);
        let token = app
            .engine
            .links()
            .token(aftercare_engine::links::Page::Loyalty, id, expires);
        let page_url = format!("{}/p/loyalty/{token}", app.base_url);

        let r = app.http.get(&page_url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        let html = r.text().await.unwrap();
        assert!(html.contains("<html lang=\"nl-NL\">"), "{html}");
        assert!(html.contains("329 punten"), "{html}");
        // Jan is addressed formally: the page greets him the way his mail does (issue 23),
        // never "Hallo Jan".
        assert!(html.contains("Goedendag meneer De Vries"), "{html}");
        assert!(!html.contains("Hallo Jan"), "{html}");
        assert!(
            html.contains("Bestelling W1") && html.contains("€ 5 korting"),
            "the page speaks the customer's language: {html}"
        );
        let code = loyalty(&app, "C1").await["referral_code"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            html.contains(&code) && html.contains("<label for=\"referral-link\">"),
            "{html}"
        );
        assert!(
            html.contains("https://wa.me/?text="),
            "share buttons: {html}"
        );

        let csrf = form_field(&html, "csrf");
        let nonce = form_field(&html, "nonce");
        let post = |csrf: String, nonce: String| {
            app.http
                .post(format!("{page_url}/claim"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={csrf}&reward=five-euro&nonce={nonce}"))
                .send()
        };
        // A forged form changes nothing.
        let r = post("00".repeat(16), nonce.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        assert_eq!(loyalty(&app, "C1").await["balance"], 329);
        // The real one spends 250 points and shows the new code; a double submit spends nothing more.
        let r = post(csrf.clone(), nonce.clone()).await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "followed the redirect back to the page"
        );
        let after = r.text().await.unwrap();
        assert!(
            after.contains("Gelukt!") && after.contains("79 punten"),
            "{after}"
        );
        let r = post(csrf, nonce).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let l = loyalty(&app, "C1").await;
        assert_eq!(l["balance"], 79);
        assert_eq!(
            l["coupons"].as_array().unwrap().len(),
            1,
            "one code for one claim"
        );

        // Another customer's id in the link, or a link past its date: a friendly page, no data.
        let forged = token.replacen(&format!("{id}."), &format!("{}.", id.0 + 1), 1);
        let r = app
            .http
            .get(format!("{}/p/loyalty/{forged}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("Deze link werkt niet") && !text.contains("punten"),
            "{text}"
        );
        app.clock.advance(jiff::SignedDuration::from_hours(25));
        let r = app.http.get(&page_url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 410);
        assert!(r.text().await.unwrap().contains("verlopen"));
    }
);
