//! SMS by signed webhook to the brand's provider (issue 6, CH1, CH2) on both backends: the
//! provider on loopback receives one signed POST per message with the template's short
//! text, its delivery reports come back on `POST /v1/channel-status` (signed, or refused),
//! a customer without a mobile number gets the email instead, and a provider that stays
//! down gets retries with backoff and jitter and then the dead-letter list, from which the
//! team's retry sends it with the same Idempotency-Key; a provider on an internal address
//! is refused unless allowed (no SSRF).

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::webhooks::{Receiver, SECRET};

const SMS_CONFIRMATION: &str = r#"
id = "sms-confirmation"
name = "Order confirmation by SMS, else email"
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "confirmation"
send = { template = "order_confirmation", class = "transactional", channels = ["sms", "email"] }
"#;

/// An app running only `programme` (and the changes `change` makes to its configuration).
async fn app_running(
    backend: Backend,
    programme: &str,
    change: impl FnOnce(&mut aftercare::config::Config),
) -> (TestApp, tempfile::TempDir) {
    let programmes = tempfile::tempdir().unwrap();
    std::fs::write(programmes.path().join("programme.toml"), programme).unwrap();
    let dir = programmes.path().to_path_buf();
    let app = spawn_app_with(backend, move |c| {
        c.programmes_dir = dir;
        change(c);
    })
    .await;
    (app, programmes)
}

/// An app whose SMS provider is the receiver at `url`, running `SMS_CONFIRMATION`.
async fn sms_app(backend: Backend, url: &str) -> (TestApp, tempfile::TempDir) {
    let url = url.to_string();
    app_running(backend, SMS_CONFIRMATION, move |c| {
        c.webhooks.insert(
            "sms_gateway".into(),
            aftercare_domain::webhooks::WebhookTarget {
                url,
                secret: SECRET.into(),
            },
        );
        c.channels.sms = Some("sms_gateway".into());
        c.tracking.allow_private_targets = true;
    })
    .await
}

async fn report(app: &TestApp, body: &Value, secret: Option<&str>) -> (u16, Value) {
    let (status, text) = app
        .post_signed(
            "/v1/channel-status",
            "application/json",
            serde_json::to_vec(body).unwrap(),
            secret,
        )
        .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn confirmation(app: &TestApp, customer: &str) -> Value {
    app.message_with_template(customer, "", "order_confirmation")
        .await
}

both_backends!(
    an_sms_goes_to_the_provider_signed_and_its_delivery_reports_come_back,
    |backend| async move {
        let (provider, url) = Receiver::start().await;
        let (app, _programmes) = sms_app(backend, &url).await;
        let mut jan = jan_de_vries();
        jan["phone"] = json!("+31 6 1234 5678");
        app.seed_shop(&jan).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();

        let calls = provider.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let sms = &calls[0];
        assert_eq!(sms["_valid"], true, "the signature verifies: {sms}");
        assert_eq!(sms["type"], "message.sms");
        assert_eq!(sms["to"], "+31612345678");
        assert_eq!(sms["customer"], "C1");
        assert_eq!(sms["class"], "transactional");
        // Jan is addressed formally: the short text says "uw".
        assert_eq!(
            sms["text"],
            "Loopwerk: uw bestelling W-1 is binnen (€ 129,95). We pakken hem vandaag nog in."
        );
        assert_eq!(
            sms["_key"], sms["id"],
            "the Message-ID is the Idempotency-Key"
        );
        assert!(
            sms["status_url"]
                .as_str()
                .unwrap()
                .ends_with("/v1/channel-status")
        );
        assert!(app.smtp.messages().is_empty(), "no email besides the SMS");
        let m = confirmation(&app, "C1").await;
        assert_eq!(
            (&m["state"], &m["channel"], &m["recipient"]),
            (&json!("sent"), &json!("sms"), &json!("+31612345678")),
            "{m}"
        );

        // Delivery reports: unsigned or signed with another secret, refused, nothing changes.
        let delivered = json!({"id": sms["id"], "status": "delivered", "detail": "DELIVRD"});
        assert_eq!(report(&app, &delivered, None).await.0, 401);
        let other = "another-secret-0123456789abcdefghij";
        assert_eq!(report(&app, &delivered, Some(other)).await.0, 401);
        let unknown = json!({"id": "msg-999@loopwerk.example", "status": "delivered"});
        // Unsigned, an unknown message gets the known one's answer: nothing to probe.
        assert_eq!(report(&app, &unknown, None).await.0, 401);
        assert_eq!(report(&app, &unknown, Some(other)).await.0, 401);
        assert_eq!(report(&app, &unknown, Some(SECRET)).await.0, 404);
        let bad = json!({"id": sms["id"], "status": "read"});
        let (status, body) = report(&app, &bad, Some(SECRET)).await;
        assert_eq!((status, &body["field"]), (400, &json!("status")), "{body}");
        assert_eq!(confirmation(&app, "C1").await["reason"], m["reason"]);
        // Signed with the provider's secret: noted on the message's timeline.
        let (status, body) = report(&app, &delivered, Some(SECRET)).await;
        assert_eq!((status, &body["state"]), (200, &json!("sent")), "{body}");
        let id = m["id"].as_i64().unwrap();
        let detail = app.get_json(&format!("/v1/messages/{id}")).await;
        let notes: Vec<&str> = detail["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["reason"].as_str())
            .collect();
        assert!(
            notes.contains(&"delivered to the phone, the provider reports (DELIVRD)"),
            "{notes:?}"
        );

        // The next SMS does not reach the phone: the message fails and stops counting.
        assert_eq!(app.post_json("/v1/orders", &order("W-2")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let second = provider.calls()[1].clone();
        let failed = json!({"id": second["id"], "status": "failed", "detail": "absent subscriber"});
        let (status, body) = report(&app, &failed, Some(SECRET)).await;
        assert_eq!((status, &body["state"]), (200, &json!("failed")), "{body}");
        let listed = app.get_json("/v1/messages?customer=C1&state=failed").await;
        assert_eq!(
            listed["messages"][0]["reason"],
            "failed: the provider could not deliver it (absent subscriber)"
        );

        // A customer without a mobile number gets the email (CH2: the next fit channel).
        let mut piet = jan_de_vries();
        piet["external_id"] = json!("C2");
        piet["email"] = json!("piet@example.nl");
        piet["phone"] = json!("+31 20 123 4567");
        assert_eq!(app.post_json("/v1/customers", &piet).await.0, 201);
        let mut o = order("W-3");
        o["customer_external_id"] = json!("C2");
        assert_eq!(app.post_json("/v1/orders", &o).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(provider.calls().len(), 2, "no SMS to a landline");
        let m = confirmation(&app, "C2").await;
        assert_eq!(
            (&m["state"], &m["channel"]),
            (&json!("sent"), &json!("email"))
        );
        assert_eq!(app.smtp.wait_for(1).await.len(), 1);

        // "absent subscriber" was not for good: the next SMS still goes. A permanent failure
        // suppresses the number: no more SMS to it.
        assert_eq!(app.post_json("/v1/orders", &order("W-4")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let third = provider.calls()[2].clone();
        let gone = json!({"id": third["id"], "status": "failed", "detail": "unknown subscriber", "permanent": true});
        assert_eq!(report(&app, &gone, Some(SECRET)).await.0, 200);
        assert_eq!(app.post_json("/v1/orders", &order("W-5")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(provider.calls().len(), 3, "no SMS to a number that is gone");
        let listed = app.get_json("/v1/messages?customer=C1&state=blocked").await;
        assert_eq!(
            listed["messages"][0]["reason"],
            "blocked: +31612345678 could not be reached by SMS on 2026-03-02 (unknown subscriber); a new number lifts it",
            "{listed}"
        );
    }
);

both_backends!(
    a_provider_that_stays_down_gets_backoff_then_the_dead_letter_list_and_a_retry_sends_once,
    |backend| async move {
        let (provider, url) = Receiver::start().await;
        provider.answers.lock().unwrap().extend([503; 10]);
        let (app, _programmes) = sms_app(backend, &url).await;
        let mut jan = jan_de_vries();
        jan["phone"] = json!("+32 470 12 34 56");
        app.seed_shop(&jan).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(provider.calls().len(), 1);
        // Backoff: 30 s, a minute, two, four, … (plus up to a fifth of jitter), capped at an
        // hour: minute by minute, the gaps between calls grow.
        let mut minutes = Vec::new();
        for minute in 1..=60 {
            let before = provider.calls().len();
            app.clock.advance(jiff::SignedDuration::from_mins(1));
            app.engine.run_until_idle().await.unwrap();
            if provider.calls().len() > before {
                minutes.push(minute);
            }
        }
        let gaps: Vec<i32> = minutes.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(minutes.len() >= 5, "calls at minutes {minutes:?}");
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]) && gaps.last() >= Some(&8),
            "growing gaps: calls at minutes {minutes:?}"
        );
        app.advance_hours(12).await;
        assert_eq!(provider.calls().len(), 10, "then set aside");
        app.advance_hours(6).await;
        assert_eq!(
            provider.calls().len(),
            10,
            "a dead letter is not retried by itself"
        );
        let m = confirmation(&app, "C1").await;
        assert_eq!(m["state"], "planned", "{m}");
        assert!(
            m["reason"]
                .as_str()
                .unwrap()
                .starts_with("dead letter after 10 attempts"),
            "{m}"
        );
        let dead = app.get_json("/v1/dead-jobs").await;
        let job = dead["dead_jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["kind"] == "deliver" && j["ref_id"] == m["id"])
            .unwrap_or_else(|| panic!("the message is on the dead-letter list: {dead}"))
            .clone();

        // The provider is back; the team retries: sent once, with the same key.
        let (status, _) = app
            .post_json(&format!("/v1/dead-jobs/{}/retry", job["id"]), &json!({}))
            .await;
        assert_eq!(status, 202);
        app.engine.run_until_idle().await.unwrap();
        app.advance_hours(2).await;
        let calls = provider.calls();
        assert_eq!(calls.len(), 11);
        assert!(calls.iter().all(|c| c["_key"] == calls[0]["_key"]));
        assert!(calls.iter().all(|c| c["_valid"] == true));
        assert_eq!(confirmation(&app, "C1").await["state"], "sent");
    }
);

const PORTAL_THANKS: &str = r#"
id = "portal-thanks"
name = "Confirmation by email, thanks in the inbox"
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "confirmation"
send = { template = "order_confirmation", class = "transactional" }

[[steps]]
id = "thanks"
send = { template = "thanks", class = "transactional", channels = ["portal"] }
"#;

both_backends!(
    a_portal_message_waits_in_the_customers_inbox_beside_their_emails,
    |backend| async move {
        let (app, _programmes) = app_running(backend, PORTAL_THANKS, |_| {}).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();

        let thanks = app.message_with_template("C1", "", "thanks").await;
        assert_eq!(
            (&thanks["state"], &thanks["channel"]),
            (&json!("sent"), &json!("portal")),
            "{thanks}"
        );
        assert_eq!(
            thanks["reason"],
            "placed in the customer's inbox on their page"
        );
        let mail = app.smtp.wait_for(1).await;
        assert_eq!(mail.len(), 1, "only the confirmation goes by email");
        // Every email links to the inbox ("Al uw berichten": Jan is addressed formally).
        let confirmation = app
            .message_with_template("C1", "", "order_confirmation")
            .await;
        let detail = app
            .get_json(&format!("/v1/messages/{}", confirmation["id"]))
            .await;
        let html = detail["message"]["body_html"]
            .as_str()
            .unwrap_or_else(|| panic!("{detail}"))
            .to_string();
        assert!(html.contains("Al uw berichten"), "{html}");
        // (minijinja writes `/` in attributes as `&#x2f;`, which mail clients read as `/`.)
        let html = html.replace("&#x2f;", "/");
        let link = crate::tracking::link_in_mail(&[html], "/p/inbox/").unwrap();
        let inbox = app.on_test_server(&link);
        let page = app.get_text(&inbox).await;
        assert!(
            page.contains("<h1>Jouw berichten</h1>") || page.contains("<h1>Uw berichten</h1>"),
            "{page}"
        );
        for m in [&thanks, &confirmation] {
            assert!(
                page.contains(m["subject"].as_str().unwrap()),
                "{} listed: {page}",
                m["subject"]
            );
        }
        assert!(
            page.contains("In uw inbox") && page.contains("Per e-mail"),
            "{page}"
        );
        // A message opens as it was written, in the brand's layout.
        let opened = app.get_text(&format!("{inbox}/{}", thanks["id"])).await;
        assert!(opened.contains("Geachte heer De Vries"), "{opened}");

        // Another customer's message through this link: not found, and nothing shown.
        let mut piet = jan_de_vries();
        piet["external_id"] = json!("C2");
        piet["email"] = json!("piet@example.nl");
        assert_eq!(app.post_json("/v1/customers", &piet).await.0, 201);
        let mut o = order("W-2");
        o["customer_external_id"] = json!("C2");
        assert_eq!(app.post_json("/v1/orders", &o).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let other = app.message_with_template("C2", "", "thanks").await;
        let r = app
            .http
            .get(format!("{inbox}/{}", other["id"]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let text = r.text().await.unwrap();
        assert!(text.contains("niet in uw inbox"), "{text}");
        // A changed link gets the friendly page.
        let tampered = inbox.replacen("/p/inbox/1.", "/p/inbox/2.", 1);
        let r = app.http.get(&tampered).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }
);

const TRACKED: &str = r#"
id = "tracked"
name = "Inspiration with and without click tracking"
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "tracked"
send = { template = "inspiration", class = "transactional", track_clicks = true }

[[steps]]
id = "untracked"
send = { template = "inspiration", class = "transactional" }
"#;

both_backends!(
    links_go_through_a_signed_counting_redirect_only_when_the_step_asks,
    |backend| async move {
        let (app, _programmes) = app_running(backend, TRACKED, |_| {}).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let listed = app.get_json("/v1/messages?customer=C1").await;
        let by_step = |step: &str| {
            listed["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["step_key"] == step)
                .unwrap_or_else(|| panic!("no {step} message: {listed}"))["id"]
                .clone()
        };
        let detail = |id: Value| {
            let app = &app;
            async move { app.get_json(&format!("/v1/messages/{id}")).await }
        };
        let tracked = detail(by_step("tracked")).await;
        let text = tracked["message"]["body_text"].as_str().unwrap();
        let redirect = crate::tracking::link_in_mail(&[text.to_string()], "/c/")
            .unwrap_or_else(|| panic!("the link is a redirect: {text}"));
        assert!(!text.contains("Kijk op https://loopwerk.example"), "{text}");
        // The HTML shows the address the customer knows and links to the redirect.
        let html = tracked["message"]["body_html"]
            .as_str()
            .unwrap()
            .replace("&#x2f;", "/");
        assert!(
            html.contains(&format!(
                "<a href=\"{redirect}\" style=\"color:inherit;\">https://loopwerk.example</a>."
            )),
            "{html}"
        );
        assert!(html.contains("/p/inbox/"), "the footer's links stay direct");
        assert!(
            !html.contains("/o/"),
            "no open-tracking pixel unless configured"
        );
        let untracked = detail(by_step("untracked")).await;
        let plain = untracked["message"]["body_text"].as_str().unwrap();
        assert!(
            plain.contains("Kijk op https://loopwerk.example."),
            "{plain}"
        );
        assert!(!plain.contains("/c/"), "{plain}");

        // Following it: counted, and on to the address.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let follow = |url: String| {
            let http = &http;
            async move {
                let r = http.get(url).send().await.unwrap();
                let to = r
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string());
                (r.status().as_u16(), to)
            }
        };
        let url = app.on_test_server(&redirect);
        assert_eq!(
            follow(url.clone()).await,
            (302, Some("https://loopwerk.example/".to_string())),
            "the stored address is the normalised one"
        );
        follow(url.clone()).await;
        let clicks = |d: &Value| d["clicks"].clone();
        let id = by_step("tracked");
        assert_eq!(
            clicks(&detail(id.clone()).await),
            json!([{"url": "https://loopwerk.example/", "clicks": 2}])
        );
        // A changed redirect goes nowhere and counts nothing: no open redirect.
        let token = url.rsplit('/').next().unwrap().to_string();
        let (subject, rest) = token.split_once('.').unwrap();
        let forged = url.replace(
            &token,
            &format!("{}.{rest}", subject.parse::<i64>().unwrap() + 1),
        );
        let (status, to) = follow(forged).await;
        assert_eq!((status, to), (403, None));
        // Months later the link still leads on, but is no longer counted.
        app.clock.advance(jiff::SignedDuration::from_hours(24 * 91));
        assert_eq!(follow(url).await.0, 302);
        assert_eq!(clicks(&detail(id).await)[0]["clicks"], 2);
    }
);

both_backends!(
    the_preferences_page_offers_sms_choices_when_there_is_a_provider_and_a_number,
    |backend| async move {
        let (_provider, url) = Receiver::start().await;
        let (app, _programmes) = sms_app(backend, &url).await;
        let mut jan = jan_de_vries();
        jan["phone"] = json!("+31 6 1234 5678");
        app.seed_shop(&jan).await;
        let id = {
            let mut tx = app.store.begin_read().await.unwrap();
            tx.customer_by_external_id("C1").await.unwrap().unwrap().id
        };
        let link = app.page_link(aftercare_engine::links::Page::Preferences, id);
        let page = app.get_text(&link).await;
        assert!(page.contains("Sms naar +31612345678"), "{page}");
        // The page leads to the inbox, in Jan's formal register.
        assert!(
            page.contains("Lees de berichten die we u stuurden"),
            "{page}"
        );
        let inbox = page
            .replace("&#x2f;", "/")
            .split('"')
            .find(|p| p.starts_with("/p/inbox/"))
            .expect("a link to the inbox")
            .to_string();
        let inbox = app.get_text(&format!("{}{inbox}", app.base_url)).await;
        assert!(inbox.contains("<h1>Uw berichten</h1>"), "{inbox}");
        assert!(
            page.contains("name=\"service_sms\" value=\"yes\" checked"),
            "{page}"
        );
        let csrf = form_field(&page, "csrf");
        let (status, after) = app
            .post_form(
                &link,
                format!("csrf={csrf}&marketing_sms=yes&preferred_channel=sms&frequency=normal"),
            )
            .await;
        assert_eq!(status, 200, "{after}");
        let customer = app.get_json("/v1/customers/C1").await;
        let consents = customer["customer"]["consents"].as_array().unwrap().clone();
        let latest = |purpose: &str| {
            consents
                .iter()
                .rev()
                .find(|c| c["channel"] == "sms" && c["purpose"] == purpose)
                .map(|c| (c["granted"].clone(), c["source"].clone()))
        };
        assert_eq!(
            latest("marketing"),
            Some((json!(true), json!("preferences_page")))
        );
        assert_eq!(
            latest("service"),
            Some((json!(false), json!("preferences_page")))
        );
        assert_eq!(
            customer["customer"]["attributes"]["preferred_channel"], "sms",
            "{customer}"
        );
    }
);

both_backends!(
    opens_are_counted_only_when_the_brand_turns_it_on,
    |backend| async move {
        let (app, _programmes) = app_running(backend, TRACKED, |c| c.track_opens = true).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let m = app.message_with_template("C1", "", "inspiration").await;
        let detail = app.get_json(&format!("/v1/messages/{}", m["id"])).await;
        let html = detail["message"]["body_html"]
            .as_str()
            .unwrap()
            .replace("&#x2f;", "/");
        let pixel = html
            .split('"')
            .find(|p| p.contains("/o/"))
            .unwrap_or_else(|| panic!("a pixel: {html}"))
            .to_string();
        let url = app.on_test_server(&pixel);
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "image/gif");
        assert_eq!(r.bytes().await.unwrap().len(), 43);
        // A changed token gets the same image and counts nothing.
        let forged = format!("{}0", &url[..url.len() - 1]);
        let forged = if forged == url {
            format!("{}1", &url[..url.len() - 1])
        } else {
            forged
        };
        assert_eq!(app.http.get(&forged).send().await.unwrap().status(), 200);
        let detail = app.get_json(&format!("/v1/messages/{}", m["id"])).await;
        assert_eq!(detail["opens"], 1, "{detail}");
        // The team sees it on the customer's timeline.
        let team = crate::admin::sign_in_as(&app, "ops", "viewer").await;
        let (status, page) = team.get("/admin/customers/C1").await;
        assert_eq!(status, 200);
        assert!(page.contains("1 open(s)"), "{page}");
    }
);

both_backends!(
    an_sms_provider_on_an_internal_address_is_refused_unless_allowed,
    |backend| async move {
        let (provider, url) = Receiver::start().await;
        let url = url.clone();
        let (app, _programmes) = app_running(backend, SMS_CONFIRMATION, move |c| {
            c.webhooks.insert(
                "sms_gateway".into(),
                aftercare_domain::webhooks::WebhookTarget {
                    url,
                    secret: SECRET.into(),
                },
            );
            c.channels.sms = Some("sms_gateway".into());
        })
        .await;
        let mut jan = jan_de_vries();
        jan["phone"] = json!("+31 6 1234 5678");
        app.seed_shop(&jan).await;
        assert_eq!(app.post_json("/v1/orders", &order("W-1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert!(provider.calls().is_empty(), "nothing reached loopback");
        let m = confirmation(&app, "C1").await;
        assert_eq!(m["state"], "failed", "{m}");
        assert!(
            m["reason"]
                .as_str()
                .unwrap()
                .contains("is an internal address"),
            "{m}"
        );
    }
);
