//! API stories on SQLite and PostgreSQL: an order yields one confirmation email; retries
//! with an Idempotency-Key store nothing twice; bad input is refused and changes nothing.

use serde_json::{Value, json};

use crate::both_backends;

/// (path, body, content type, token: None = valid / Some("") = none / Some(t), status, field)
type BadRequest = (
    &'static str,
    Vec<u8>,
    &'static str,
    Option<&'static str>,
    u16,
    &'static str,
);
use crate::helpers::*;

both_backends!(
    order_yields_exactly_one_confirmation_email_with_the_right_greeting,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;

        let send = || {
            app.post("/v1/orders")
                .header("Idempotency-Key", "order-W1")
                .json(&order("W1"))
                .send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status().as_u16(), 201);
        let first_body: Value = first.json().await.unwrap();
        let retry = send().await.unwrap();
        assert_eq!(
            retry.status().as_u16(),
            201,
            "a retry gets the first answer"
        );
        assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
        assert_eq!(retry.json::<Value>().await.unwrap(), first_body);

        app.engine.run_until_idle().await.unwrap();
        let mail = app.smtp.wait_for(1).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.smtp.messages().len(), 1, "exactly one email");
        let raw = &mail[0];
        assert!(
            header(raw, "To")
                .unwrap()
                .contains("jan.devries@example.nl"),
            "{raw}"
        );
        assert_eq!(
            header(raw, "Subject").unwrap(),
            "Uw bestelling W1 is binnen"
        );
        assert!(
            header(raw, "Message-ID").unwrap().starts_with("<msg-"),
            "{raw}"
        );
        assert!(raw.contains("Geachte heer De Vries,"), "{raw}");
        assert!(raw.contains("€ 129,95"), "{raw}");
        assert_eq!(
            app.store
                .count(aftercare_store::Table::Orders)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            app.store
                .count(aftercare_store::Table::Messages)
                .await
                .unwrap(),
            1
        );

        // The same order number without a key is recognised too: one order, still one email.
        let (status, body) = app.post_json("/v1/orders", &order("W1")).await;
        assert_eq!((status, body["created"].clone()), (200, json!(false)));
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(app.smtp.messages().len(), 1);

        // The customer's timeline shows the event and the sent message with its reason.
        let customer: Value = app
            .get("/v1/customers/C1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(customer["greeting"], "Geachte heer De Vries,");
        let kinds: Vec<&str> = customer["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"event") && kinds.contains(&"message"),
            "{customer}"
        );
        assert_eq!(customer["messages"][0]["state"], "sent");
        let listed: Value = app
            .get("/v1/messages?state=sent")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["messages"].as_array().unwrap().len(), 1);
    }
);

both_backends!(
    idempotency_key_reused_with_another_body_is_refused,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let r = app
            .post("/v1/orders")
            .header("Idempotency-Key", "k1")
            .json(&order("W1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let before = app.counts().await;
        let r = app
            .post("/v1/orders")
            .header("Idempotency-Key", "k1")
            .json(&order("W2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["code"], "idempotency_key_reused");
        assert_eq!(app.counts().await, before);
    }
);

both_backends!(
    bad_input_gets_a_problem_naming_the_field_and_changes_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let before = app.counts().await;
        let customer = |patch: Value| {
            let mut c = jan_de_vries();
            c["external_id"] = json!("C2");
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            c.to_string().into_bytes()
        };
        let mut without_id = jan_de_vries();
        without_id.as_object_mut().unwrap().remove("external_id");
        // (path, body, content type, token, expected status, expected field)
        let cases: Vec<BadRequest> = vec![
        ("/v1/customers", customer(json!({"first_name": 5})), "application/json", None, 400, "first_name"),
        ("/v1/customers", customer(json!({"nickname": "Jantje"})), "application/json", None, 400, "nickname"),
        ("/v1/customers", without_id.to_string().into_bytes(), "application/json", None, 400, "external_id"),
        ("/v1/customers", customer(json!({"birth_date": "1980-02-30"})), "application/json", None, 400, "birth_date"),
        ("/v1/customers", customer(json!({"time_zone": "Europe/Atlantis"})), "application/json", None, 400, "time_zone"),
        ("/v1/customers", customer(json!({"gender": "m"})), "application/json", None, 400, "gender"),
        ("/v1/customers", customer(json!({"email": "jan at example"})), "application/json", None, 400, "email"),
        ("/v1/customers", customer(json!({"birth_date": "2099-01-01"})), "application/json", None, 422, "birth_date"),
        ("/v1/customers", customer(json!({"postal_address": {"street": "Damrak", "house_number": "1", "postcode": "12345", "city": "Amsterdam", "country": "NL"}})), "application/json", None, 422, "postal_address.postcode"),
        ("/v1/customers", customer(json!({"consents": [{"purpose": "service", "channel": "fax", "granted": true, "source": "x", "at": "2026-01-01T00:00:00Z"}]})), "application/json", None, 400, "consents[0].channel"),
        ("/v1/customers", b"{\"external_id\": \"C2\", \"first_name\": \"J\xff\"}".to_vec(), "application/json", None, 400, ""),
        ("/v1/customers", customer(json!({})), "text/plain", None, 415, "Content-Type"),
        ("/v1/customers", customer(json!({})), "application/json", Some(""), 401, "Authorization"),
        ("/v1/customers", customer(json!({})), "application/json", Some("wrong"), 401, "Authorization"),
        ("/v1/orders", json!({"external_id": "W9", "customer_external_id": "C404", "placed_at": "2026-03-02T08:00:00Z", "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 100}]}).to_string().into_bytes(), "application/json", None, 422, "customer_external_id"),
        ("/v1/orders", json!({"external_id": "W9", "customer_external_id": "C1", "placed_at": "2026-03-02T08:00:00Z", "lines": [{"sku": "NOPE", "quantity": 1, "unit_price_cents": 100}]}).to_string().into_bytes(), "application/json", None, 422, "lines[0].sku"),
        ("/v1/orders", json!({"external_id": "W9", "customer_external_id": "C1", "placed_at": "yesterday", "lines": []}).to_string().into_bytes(), "application/json", None, 400, "placed_at"),
        ("/v1/events", json!({"events": [{"type": "review_written", "customer_external_id": "C1", "at": "2026-03-02T08:00:00Z"}, {"type": "Bad Type", "customer_external_id": "C1", "at": "2026-03-02T08:00:00Z"}]}).to_string().into_bytes(), "application/json", None, 422, "events[1].type"),
    ];
        for (path, body, content_type, token, status, field) in cases {
            let mut req = app
                .http
                .post(format!("{}{path}", app.base_url))
                .header("Content-Type", content_type)
                .body(body);
            match token {
                None => req = req.bearer_auth(&app.token),
                Some("") => {}
                Some(t) => req = req.bearer_auth(t),
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{path} expecting {field}");
            assert_eq!(
                r.headers().get("content-type").unwrap(),
                "application/problem+json",
                "{path} {field}"
            );
            let problem: Value = r.json().await.unwrap();
            assert_eq!(problem["status"], status);
            assert!(
                problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{problem}"
            );
            if field.is_empty() {
                assert!(problem.get("field").is_none(), "{problem}");
            } else {
                assert_eq!(problem["field"], field, "{problem}");
            }
            assert_eq!(
                app.counts().await,
                before,
                "{path} {field} changed the store"
            );
        }
        // A body larger than the API takes is refused from its Content-Length, before a byte
        // of it is read. Asked over a bare connection that never sends the body, so the
        // refusal cannot race the client still writing three megabytes (a broken pipe under
        // load, as reqwest saw it).
        let (status, headers, body) =
            refused_before_the_body(&app, "/v1/customers", 3 * 1024 * 1024).await;
        assert_eq!(status, 413, "{headers}");
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{headers}"
        );
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 413);
        assert!(problem.get("field").is_none(), "{problem}");
        assert_eq!(app.counts().await, before);
    }
);

both_backends!(
    event_batches_take_up_to_a_thousand_and_store_all_or_none,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let event = |i: usize| json!({"id": format!("e{i}"), "type": "page_viewed", "customer_external_id": "C1", "at": "2026-03-02T08:00:00Z", "properties": {"n": i}});
        let batch: Vec<Value> = (0..1000).map(event).collect();
        let (status, body) = app.post_json("/v1/events", &json!({"events": batch})).await;
        assert_eq!((status, body["accepted"].clone()), (202, json!(1000)));
        let (status, body) = app.post_json("/v1/events", &json!({"events": batch})).await;
        assert_eq!(
            (status, body["duplicates"].clone()),
            (202, json!(1000)),
            "the senders' ids dedupe"
        );
        let before = app.counts().await;
        let too_many: Vec<Value> = (1000..2001).map(event).collect();
        let (status, body) = app
            .post_json("/v1/events", &json!({"events": too_many}))
            .await;
        assert_eq!((status, body["field"].clone()), (422, json!("events")));
        assert_eq!(app.counts().await, before);
    }
);

both_backends!(
    health_is_open_and_everything_else_needs_a_token,
    |backend| async move {
        let app = spawn_app(backend).await;
        let r = app
            .http
            .get(format!("{}/health", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = app
            .http
            .get(format!("{}/v1/messages", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let spec: Value = app
            .get("/v1/openapi.json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(spec["paths"]["/v1/orders"]["post"].is_object(), "{spec}");
        assert!(spec["components"]["schemas"]["CustomerRecord"].is_object());
    }
);

both_backends!(
    a_cancellation_gets_the_offer_for_its_reason_accepted_once_with_one_click_rt1,
    |backend| async move {
        // The shop's own system hears of an acceptance (RT1: it changes the subscription).
        let (shop, shop_url) = crate::webhooks::Receiver::start().await;
        let app = spawn_app_with(backend, move |c| {
            c.webhooks.insert(
                "shop".into(),
                aftercare_domain::webhooks::WebhookTarget {
                    url: shop_url,
                    secret: crate::webhooks::SECRET.into(),
                },
            );
            c.tracking.allow_private_targets = true;
            c.retention.webhook = Some("shop".into());
        })
        .await;
        app.seed_shop(&jan_de_vries()).await;
        let (status, body) = app
        .post_json("/v1/cancellations", &json!({"customer_external_id": "C1", "at": "2026-03-02T08:59:00Z", "reason_code": "price", "reason": "te duur"}))
        .await;
        assert_eq!(status, 201, "{body}");
        // The offer that fits the price, for the shop's own cancellation page.
        let offer = &body["retention_offer"];
        assert_eq!(offer["offer"], "half-price", "{body}");
        assert_eq!(offer["title"], "Drie maanden voor de halve prijs");
        assert_eq!(offer["terms"]["percent"], 50);
        let accept = offer["accept_url"].as_str().unwrap().to_string();
        let mail = &body["offers"][0];
        assert_eq!(mail["programme"], "retention");
        assert_eq!(mail["subject"], "Een voorstel voordat u opzegt");
        let text = mail["text"].as_str().unwrap();
        assert!(text.starts_with("Geachte heer De Vries,"), "{mail}");
        assert!(
            text.contains("Jammer dat het abonnement u nu te veel kost")
                && text.contains("Drie maanden voor de halve prijs")
                && text.contains(&accept)
                && text.contains("tot en met 16 maart 2026"),
            "{text}"
        );
        // The same offer reaches the inbox, once.
        app.engine.run_until_idle().await.unwrap();
        let mails = app.smtp.wait_for(1).await;
        assert_eq!(
            mails
                .iter()
                .filter(|m| header(m, "Subject") == Some("Een voorstel voordat u opzegt"))
                .count(),
            1
        );

        // One click on the signed page accepts it; a forged form and a second click do not.
        let link = app.on_test_server(&accept);
        let page = app
            .http
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Uw aanbod") && page.contains("Drie maanden voor de halve prijs"),
            "{page}"
        );
        let csrf = form_field(&page, "csrf");
        let (_, forged) = app
            .post_form(&link, format!("csrf={}", "00".repeat(16)))
            .await;
        assert!(forged.contains("Uw aanbod"), "{forged}");
        let (status, done) = app.post_form(&link, format!("csrf={csrf}")).await;
        assert_eq!(status, 200);
        assert!(
            done.contains("Afgesproken!") && done.contains("uw opzegging vervalt"),
            "{done}"
        );
        let (_, again) = app.post_form(&link, format!("csrf={csrf}")).await;
        assert!(again.contains("Afgesproken!"));
        let mut tx = app.store.begin().await.unwrap();
        let c1 = tx.customer_by_external_id("C1").await.unwrap().unwrap();
        let accepted = tx
            .events_of_customer(c1.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "retention_offer_accepted")
            .count();
        tx.commit().await.unwrap();
        assert_eq!(accepted, 1, "accepted once");
        // The shop hears of it once, signed, with the terms it has to put into effect.
        app.engine.run_until_idle().await.unwrap();
        let calls = shop.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["_valid"], true, "signed: {}", calls[0]);
        assert_eq!(calls[0]["event"], "retention.offer_accepted");
        assert_eq!(calls[0]["customer"], json!({"external_id": "C1"}));
        assert_eq!(calls[0]["data"]["reason_code"], "price");
        assert_eq!(calls[0]["data"]["offer"]["percent"], 50, "{}", calls[0]);
        // A tampered link opens nothing.
        let status = app
            .http
            .get(format!("{link}0"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403);

        // A customer who moves away gets no offer, and no mail: a wrong one is worse.
        let (status, body) = app
            .post_json("/v1/cancellations", &json!({"customer_external_id": "C1", "at": "2026-03-03T08:59:00Z", "reason_code": "moving"}))
            .await;
        assert_eq!(status, 201);
        assert!(
            body["retention_offer"].is_null() && body["offers"] == json!([]),
            "{body}"
        );
        // A cancellation has one door, so it is always answered.
        let (status, body) = app
            .post_json("/v1/events", &json!({"events": [{"type": "cancellation_requested", "customer_external_id": "C1", "at": "2026-03-03T08:59:00Z"}]}))
            .await;
        assert_eq!(
            (status, body["field"].clone()),
            (422, json!("events[0].type")),
            "{body}"
        );
        let (status, body) = app
            .post_json(
                "/v1/cancellations",
                &json!({"customer_external_id": "C404", "at": "2026-03-02T08:59:00Z"}),
            )
            .await;
        assert_eq!(
            (status, body["field"].clone()),
            (422, json!("customer_external_id"))
        );
    }
);

both_backends!(
    an_unsubscribe_stops_a_queued_marketing_message_at_once,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut customer = jan_de_vries();
        customer["consents"] = json!([
            {"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"},
            {"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}
        ]);
        app.seed_shop(&customer).await;
        for n in ["W1", "W2", "W3"] {
            assert_eq!(app.post_json("/v1/orders", &order(n)).await.0, 201);
        }
        app.engine.run_until_idle().await.unwrap();
        // 22:30 in Amsterdam: the early-access offer is planned but held for quiet hours.
        app.clock.set("2026-03-02T21:30:00Z".parse().unwrap());
        let launch = json!({"events": [{"type": "product_launched", "customer_external_id": "C1", "at": "2026-03-02T21:30:00Z", "properties": {"product_name": "Stride 5"}}]});
        assert_eq!(app.post_json("/v1/events", &launch).await.0, 202);
        app.engine.run_until_idle().await.unwrap();
        let offer = app.message_with_template("C1", "", "early_access").await;
        assert_eq!(offer["state"], "planned");
        assert_eq!(
            offer["reason"],
            "held back: quiet hours, sending at 08:00 local time"
        );

        let unsubscribe = json!({"purpose": "marketing", "channel": "email", "granted": false, "source": "unsubscribe_link", "at": "2026-03-02T21:45:00Z"});
        app.clock.set("2026-03-02T21:46:00Z".parse().unwrap());
        let (status, body) = app
            .post_json("/v1/customers/C1/consents", &unsubscribe)
            .await;
        assert_eq!(
            (status, body["granted"].clone()),
            (200, json!(false)),
            "{body}"
        );
        app.advance_hours(12).await;
        let message: Value = app
            .get(&format!("/v1/messages/{}", offer["id"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(message["message"]["state"], "blocked");
        assert_eq!(
            message["message"]["reason"],
            "blocked: consent for marketing by email withdrawn (unsubscribe_link)"
        );
        assert!(
            app.smtp.messages().iter().all(|m| !m.contains("Stride 5")),
            "nothing about the launch went out"
        );
        // The customer's timeline shows each decision with its code and sentence.
        let customer: Value = app
            .get("/v1/customers/C1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entry = customer["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["what"] == "early_access")
            .unwrap();
        let codes: Vec<&str> = entry["detail"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["code"].as_str())
            .collect();
        assert_eq!(codes, vec!["quiet_hours", "consent_withdrawn"], "{entry}");
        let (status, body) = app
            .post_json("/v1/customers/C404/consents", &unsubscribe)
            .await;
        assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    }
);

both_backends!(
    a_job_that_keeps_failing_becomes_a_dead_letter_the_team_can_retry,
    |backend| async move {
        let app = spawn_app(backend).await;
        // A delivery for a message that does not exist fails every time.
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let mut tx = app.store.begin().await.unwrap();
        tx.insert_job(aftercare_store::JobKind::Deliver, 999_999, now, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for _ in 0..32 {
            app.engine.run_until_idle().await.unwrap();
            app.clock.advance(jiff::SignedDuration::from_hours(2));
        }
        let dead = app.get_json("/v1/dead-jobs").await;
        let jobs = dead["dead_jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 1, "{dead}");
        assert_eq!(jobs[0]["kind"], "deliver");
        assert_eq!(jobs[0]["ref_id"], 999_999);
        assert!(
            jobs[0]["last_error"]
                .as_str()
                .unwrap()
                .contains("not found"),
            "{dead}"
        );
        let id = jobs[0]["id"].as_i64().unwrap();

        let (status, _) = app
            .post_json(&format!("/v1/dead-jobs/{id}/retry"), &json!({}))
            .await;
        assert_eq!(status, 202);
        assert!(
            app.get_json("/v1/dead-jobs").await["dead_jobs"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let (status, body) = app
            .post_json("/v1/dead-jobs/123456/retry", &json!({}))
            .await;
        assert_eq!(status, 404, "{body}");
    }
);

both_backends!(
    an_idempotency_key_reused_for_another_customer_is_another_request,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let mut other = jan_de_vries();
        other["external_id"] = json!("C2");
        other["email"] = json!("anna@example.nl");
        assert_eq!(app.post_json("/v1/customers", &other).await.0, 201);
        let stop = json!({"purpose": "marketing", "channel": "email", "granted": false,
            "source": "unsubscribe_link", "at": "2026-03-02T08:00:00Z"});
        for id in ["C1", "C2"] {
            let r = app
                .post(&format!("/v1/customers/{id}/consents"))
                .header("Idempotency-Key", "unsubscribe-1")
                .json(&stop)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            assert!(
                r.headers().get("idempotent-replayed").is_none(),
                "{id} was not a replay"
            );
        }
        for id in ["C1", "C2"] {
            let c = app.get_json(&format!("/v1/customers/{id}")).await;
            let consents = c["customer"]["consents"].as_array().unwrap();
            assert!(
                consents.iter().any(|x| x["source"] == "unsubscribe_link"),
                "{id}: {c}"
            );
        }
    }
);

/// The mail provider's rate: with `smtp_rate_per_second = 2`, six confirmations go out two
/// at once and then one every half second — all of them, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_sent_no_faster_than_the_providers_rate() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.smtp_rate_per_second = 2).await;
    app.seed_shop(&jan_de_vries()).await;
    for n in 1..=6 {
        assert_eq!(
            app.post_json("/v1/orders", &order(&format!("R{n}")))
                .await
                .0,
            201
        );
    }
    let started = std::time::Instant::now();
    app.engine.run_until_idle().await.unwrap();
    let elapsed = started.elapsed();
    let confirmations = app.smtp.wait_for(6).await;
    assert!(confirmations.len() >= 6);
    assert!(
        elapsed >= std::time::Duration::from_millis(1800),
        "six messages at two a second took only {elapsed:?}"
    );
}

both_backends!(
    contracts_are_upserted_by_number_and_bad_ones_name_the_field,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let contract = json!({"external_id": "K-7", "customer_external_id": "C1",
            "name": "Loopabonnement", "product_sku": "LW-STRIDE-4",
            "starts_on": "2026-01-01", "ends_on": "2026-12-31"});
        let (status, body) = app.post_json("/v1/contracts", &contract).await;
        assert_eq!((status, &body["created"]), (201, &json!(true)), "{body}");
        let mut cancelled = contract.clone();
        cancelled["cancelled_at"] = json!("2026-06-01T10:00:00Z");
        let (status, body) = app.post_json("/v1/contracts", &cancelled).await;
        assert_eq!((status, &body["created"]), (200, &json!(false)), "{body}");

        let before = app.counts().await;
        let mut piet = jan_de_vries();
        piet["external_id"] = json!("C2");
        piet["email"] = json!("piet@example.nl");
        assert_eq!(app.post_json("/v1/customers", &piet).await.0, 201);
        let before_piet = app.counts().await;
        assert_ne!(before, before_piet);
        for (change, field) in [
            (json!({"ends_on": "2025-12-31"}), "ends_on"),
            (
                json!({"customer_external_id": "C9"}),
                "customer_external_id",
            ),
            (
                json!({"customer_external_id": "C2"}),
                "customer_external_id",
            ),
            (json!({"product_sku": "NOPE"}), "product_sku"),
        ] {
            let mut bad = contract.clone();
            for (k, v) in change.as_object().unwrap() {
                bad[k] = v.clone();
            }
            let (status, body) = app.post_json("/v1/contracts", &bad).await;
            assert_eq!(
                (status, body["field"].as_str()),
                (422, Some(field)),
                "{body}"
            );
        }
        let (status, body) = app
            .post_json("/v1/contracts", &json!({"external_id": "K-8"}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(app.counts().await, before_piet, "nothing changed");
    }
);

both_backends!(
    a_unique_key_conflict_names_the_key_that_collided,
    |backend| async move {
        // Two requests writing the same record at once lose one to the database's unique
        // key; the 409 says which key, on both backends (issue 20 point 5).
        let (url, _guard) = fresh_database(backend).await;
        let store = aftercare_store::Store::open(&url).await.unwrap();
        let now: jiff::Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_api_token("shop", "same-hash", "all", now)
            .await
            .unwrap();
        let e = tx
            .insert_api_token("shop again", "same-hash", "all", now)
            .await
            .unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
        let key = e.unique_key().unwrap();
        assert!(key.contains("token_hash"), "{key}");
        let api = aftercare_web::error::ApiError::from(e);
        assert!(api.to_string().contains("token_hash"), "{api}");
    }
);

both_backends!(
    the_built_in_outbox_lists_messages_and_shows_one_with_its_text_escaped,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        // What the shop or a customer types is shown as text, never as markup (issue 20
        // point 5: the outbox is a template, not format! with a hand-written escape).
        let (status, body) = app
            .post_json(
                "/v1/products",
                &json!({"sku": "LW-STRIDE-4", "name": "Stride 4 <i>new</i>", "category": "running-shoes", "price_cents": 12995}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let r = app
            .post("/v1/orders")
            .json(&order("W1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        app.engine.run_until_idle().await.unwrap();
        let list = app.get_text(&format!("{}/outbox", app.base_url)).await;
        assert!(list.contains("The latest 1 messages"), "{list}");
        assert!(list.contains("order_confirmation"), "{list}");
        let id = list
            .split("href=\"/outbox/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a link to the message")
            .to_string();
        let one = app.get_text(&format!("{}/outbox/{id}", app.base_url)).await;
        assert!(one.contains("<h2>History</h2>"), "{one}");
        assert!(
            one.contains("Stride 4 &lt;i&gt;new&lt;&#x2f;i&gt;"),
            "{one}"
        );
        assert!(!one.contains("<i>new"), "{one}");
    }
);

/// Posts only the head of a request declaring a `length`-byte JSON body and reads the
/// answer: (status, headers, body).
async fn refused_before_the_body(
    app: &TestApp,
    path: &str,
    length: usize,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        app.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answered without waiting for the body");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, headers.to_string(), body.to_string())
}

/// Issue 21: a token made for the shop writes what the shop sends but cannot export or
/// erase a customer; a read token cannot write; a privacy token can export. The refusal is
/// 403 `token_scope`, naming the scope the request needs, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_scopes_decide_what_it_may_do() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = |scopes: &'static str| {
        let (store, clock) = (app.store.clone(), app.clock.clone());
        async move {
            aftercare::cli::token::create_scoped(&store, scopes, scopes, clock.as_ref())
                .await
                .unwrap()
        }
    };
    let (shop, read, privacy) = (
        token("shop").await,
        token("read").await,
        token("privacy").await,
    );
    let send = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut r = app
            .http
            .request(method, format!("{}{path}", app.base_url))
            .bearer_auth(token);
        if let Some(body) = body {
            r = r.json(&body);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = send(
        reqwest::Method::POST,
        "/v1/customers",
        &shop,
        Some(jan_de_vries()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(reqwest::Method::GET, "/v1/customers/C1/export", &shop, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "token_scope");
    assert_eq!(body["field"], "Authorization");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("(scopes: shop) may not GET /v1/customers/C1/export")
            && detail.contains("the scope privacy"),
        "{detail}"
    );
    // A customer whose id looks like a route the shop may use is still a customer's record.
    let (status, body) = send(reqwest::Method::GET, "/v1/customers/loyalty", &shop, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("token_scope")),
        "{body}"
    );
    let (status, body) = send(reqwest::Method::DELETE, "/v1/customers/C1", &shop, None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("token_scope")));
    let (status, body) = send(
        reqwest::Method::POST,
        "/v1/events",
        &read,
        Some(
            json!({"events": [{"type": "review_written", "customer_external_id": "C1",
            "at": "2026-03-02T09:00:00Z"}]}),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("the scope shop"),
        "{body}"
    );
    assert_eq!(
        send(reqwest::Method::GET, "/v1/customers/C1", &read, None)
            .await
            .0,
        200
    );
    let (status, body) = send(
        reqwest::Method::GET,
        "/v1/customers/C1/export",
        &privacy,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["customer"]["external_id"], "C1", "{body}");
    // Nothing was erased or added by the refused requests.
    assert_eq!(
        app.store
            .count(aftercare_store::Table::Events)
            .await
            .unwrap(),
        0
    );
    // An unknown scope is refused by name when the token is made.
    let e = aftercare::cli::token::create_scoped(
        &app.store,
        "x",
        "shop,everything",
        app.clock.as_ref(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--scope: unknown scope 'everything'"),
        "{e}"
    );
}
