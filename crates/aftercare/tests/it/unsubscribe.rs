//! One-click unsubscribe (RFC 8058) on SQLite and PostgreSQL: every non-transactional email
//! carries `List-Unsubscribe` and `List-Unsubscribe-Post`; a GET only asks, a POST withdraws
//! marketing email consent at once, and a marketing message planned afterwards is blocked.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

/// The URL in a message's `List-Unsubscribe` header (which may be folded over lines).
fn list_unsubscribe(raw: &str) -> String {
    let start = raw
        .find("List-Unsubscribe: <")
        .expect("List-Unsubscribe header")
        + 19;
    let rest = &raw[start..];
    let end = rest.find('>').unwrap();
    rest[..end].split_whitespace().collect()
}

both_backends!(
    one_click_unsubscribe_stops_marketing_at_once,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut jan = jan_de_vries();
        jan["consents"].as_array_mut().unwrap().push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}));
        app.seed_shop(&jan).await;
        let resolved = json!({"events": [{"type": "case_resolved", "customer_external_id": "C1",
        "at": "2026-03-02T08:00:00Z", "properties": {"kind": "complaint"}}]});
        assert_eq!(app.post_json("/v1/events", &resolved).await.0, 202);
        app.advance_hours(30).await;
        let mail = app.smtp.wait_for(1).await;
        let raw = &mail[0];
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
        let url = app.on_test_server(&list_unsubscribe(raw));
        assert!(url.contains("/u/"), "{url}");

        // A GET (a link scanner, or the customer) only asks.
        let page = app.http.get(&url).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.text().await.unwrap().contains("<form method=\"post\""));
        let consents = |v: &serde_json::Value| v["consents"].as_array().unwrap().len();
        let before = app.get_json("/v1/customers/C1").await;
        let n = consents(&before["customer"]);

        // The mailbox provider's one-click POST unsubscribes; a second one changes nothing.
        for _ in 0..2 {
            let r = app
                .http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let done = r.text().await.unwrap();
            assert!(
                done.contains("U bent afgemeld") && done.contains("Voorkeuren aanpassen"),
                "{done}"
            );
        }
        let after = app.get_json("/v1/customers/C1").await;
        assert_eq!(consents(&after["customer"]), n + 1, "{after}");
        let last = after["customer"]["consents"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["purpose"], "marketing");
        assert_eq!(last["granted"], false);
        assert_eq!(last["source"], "list_unsubscribe");

        // A forged link shows nothing and changes nothing.
        let forged = format!("{}/u/1.9999999999.{}", app.base_url, "0".repeat(32));
        assert_eq!(
            app.http
                .post(&forged)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );

        // Marketing planned afterwards is blocked by the withdrawn consent.
        let offer = json!({"events": [{"type": "offer_published", "customer_external_id": "C1",
        "at": "2026-03-03T15:00:00Z", "properties": {"title": "Zomerdeals", "description": "x", "valid_until": "2026-04-01"}}]});
        assert_eq!(app.post_json("/v1/events", &offer).await.0, 202);
        app.advance_hours(48).await;
        let m = app.message_with_template("C1", "", "offer").await;
        assert_eq!(m["state"], "blocked", "{m}");
    }
);

both_backends!(
    preferences_page_changes_consent_pace_channel_and_birthday,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut jan = jan_de_vries();
        jan["consents"].as_array_mut().unwrap().push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}));
        app.seed_shop(&jan).await;
        let mut tx = app.store.begin_read().await.unwrap();
        let id = tx.customer_by_external_id("C1").await.unwrap().unwrap().id;
        drop(tx);
        let url = app.page_link(aftercare_engine::links::Page::Preferences, id);
        let html = app.get_text(&url).await;
        assert!(
            html.contains("name=\"marketing_email\" value=\"yes\" checked"),
            "{html}"
        );
        // The brand's font stack reaches the page's style sheet as written.
        assert!(
            html.contains(
                r#"font-family:system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;"#
            ),
            "{html}"
        );
        let csrf = form_field(&html, "csrf");
        let post = |body: String| app.post_form(&url, body);
        let before = app.get_json("/v1/customers/C1").await["customer"].clone();
        // Forged, or a birthday in the future: nothing changes.
        let (status, _) = post(format!("csrf={}&frequency=fewer", "00".repeat(16))).await;
        assert_eq!(status, 403);
        let (_, page) = post(format!("csrf={csrf}&frequency=fewer&birth_date=2099-01-01")).await;
        assert!(page.contains("niets veranderd"), "{page}");
        // A channel that is not on offer: nothing changes either (CH2).
        let (_, page) = post(format!(
            "csrf={csrf}&preferred_channel=fax&marketing_letter=yes"
        ))
        .await;
        assert!(
            page.contains("Dat is geen van de keuzes; er is niets veranderd."),
            "{page}"
        );
        assert_eq!(app.get_json("/v1/customers/C1").await["customer"], before);
        assert!(
            html.contains("name=\"marketing_letter\" value=\"yes\" checked"),
            "post is opt-out: on until the customer says no"
        );

        let (status, page) = post(format!(
            "csrf={csrf}&frequency=fewer&birth_date=1980-05-17&marketing_letter=yes&preferred_channel=letter"
        ))
        .await;
        assert_eq!(status, 200);
        assert!(page.contains("Opgeslagen."), "{page}");
        let c = app.get_json("/v1/customers/C1").await["customer"].clone();
        let consents = c["consents"].as_array().unwrap();
        let last = consents.last().unwrap().clone();
        assert_eq!(
            (
                last["channel"].clone(),
                last["granted"].clone(),
                last["source"].clone()
            ),
            (json!("email"), json!(false), json!("preferences_page"))
        );
        assert!(
            consents.iter().all(|k| k["channel"] != "letter"),
            "post stays as it was: no refusal recorded"
        );
        assert_eq!(c["attributes"]["preferred_channel"], "letter");
        assert!(
            page.contains("name=\"preferred_channel\" value=\"letter\" checked"),
            "{page}"
        );
        assert_eq!(c["attributes"]["contact_frequency"], "fewer");
        assert_eq!(c["birth_date"], "1980-05-17");
    }
);

/// DKIM (issue 6): with `[dkim]` set, every email is signed, and an independent verifier
/// (dkimpy) accepts the signature with the published key — also over the RFC 8058
/// `List-Unsubscribe` headers, which mailbox providers want signed. A changed header breaks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_email_is_dkim_signed_over_its_unsubscribe_headers() {
    let data = repo_root().join("tests/data/dkim");
    let pem = std::fs::read_to_string(data.join("test-private.pem")).unwrap();
    let app = spawn_app_with(Backend::Sqlite, move |c| {
        c.dkim = Some(aftercare_channels::email::DkimSettings {
            selector: "test2026".into(),
            domain: "loopwerk.example".into(),
            private_key_pem: pem,
        });
    })
    .await;
    let mut jan = jan_de_vries();
    jan["consents"].as_array_mut().unwrap().push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}));
    app.seed_shop(&jan).await;
    assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
    let resolved = json!({"events": [{"type": "case_resolved", "customer_external_id": "C1",
        "at": "2026-03-02T08:00:00Z", "properties": {"kind": "complaint"}}]});
    assert_eq!(app.post_json("/v1/events", &resolved).await.0, 202);
    app.advance_hours(30).await;
    app.smtp.wait_for(2).await;
    let dir = tempfile::tempdir().unwrap();
    let verify = |raw: &[u8], name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, raw).unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/dkim_verify.py"))
            .arg(&file)
            .arg(data.join("test-public.b64"))
            .output()
            .expect("python3 with dkimpy (./scripts/test.sh installs python3-dkim)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let raws = app.smtp.raw_messages();
    assert!(raws.len() >= 2);
    let mut with_unsubscribe = 0;
    for (i, raw) in raws.iter().enumerate() {
        let text = String::from_utf8_lossy(raw);
        assert!(text.contains("DKIM-Signature: "), "{text}");
        let (ok, said) = verify(raw, &format!("m{i}.eml"));
        assert!(ok, "{said}\n{text}");
        assert!(
            said.contains("test2026._domainkey.loopwerk.example"),
            "{said}"
        );
        if text.contains("List-Unsubscribe-Post") {
            with_unsubscribe += 1;
            let signed: String = text
                .split("DKIM-Signature:")
                .nth(1)
                .unwrap()
                .split("b=")
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            assert!(
                signed
                    .to_lowercase()
                    .contains("list-unsubscribe:list-unsubscribe-post"),
                "the unsubscribe headers are signed: {signed}"
            );
            // A relay that rewrites the unsubscribe link breaks the signature.
            let forged = text.replacen(
                "List-Unsubscribe: <",
                "List-Unsubscribe: <https://evil.example/?",
                1,
            );
            assert!(!verify(forged.as_bytes(), "forged.eml").0);
        }
    }
    assert!(
        with_unsubscribe >= 1,
        "the apology carries the unsubscribe headers"
    );
}

const FEEDBACK_SECRET: &str = "provider-feedback-secret-0123456789";

/// An app that takes the mail provider's bounce and complaint feedback.
async fn feedback_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.email_feedback_secret = Some(aftercare::config::Secret(FEEDBACK_SECRET.into()));
    })
    .await
}

/// POSTs `body` to `path`, signed with the feedback secret at the app's time when `signed`:
/// (status, answer text).
async fn post_feedback(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    signed: bool,
) -> (u16, String) {
    app.post_signed(path, content_type, body, signed.then_some(FEEDBACK_SECRET))
        .await
}

/// Places an order for Jan and returns the reason its confirmation was blocked.
async fn blocked_confirmation(app: &TestApp, order_id: &str) -> String {
    assert_eq!(app.post_json("/v1/orders", &order(order_id)).await.0, 201);
    app.engine.run_until_idle().await.unwrap();
    let m = app
        .message_with_template("C1", "", "order_confirmation")
        .await;
    assert_eq!(m["state"], "blocked", "{m}");
    m["reason"].as_str().unwrap().to_string()
}

both_backends!(
    a_hard_bounce_stops_email_to_the_address_and_a_complaint_stops_marketing,
    |backend| async move {
        let app = feedback_app(backend).await;
        let mut jan = jan_de_vries();
        jan["consents"].as_array_mut().unwrap().push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}));
        app.seed_shop(&jan).await;
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let post = |body: serde_json::Value, signed: bool| {
            let app = &app;
            async move {
                let (status, text) = post_feedback(
                    app,
                    "/v1/email-feedback",
                    "application/json",
                    serde_json::to_vec(&body).unwrap(),
                    signed,
                )
                .await;
                (
                    status,
                    serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                )
            }
        };
        let at = now.to_string();
        let complaint =
            json!({"events": [{"type": "complaint", "email": "Jan.DeVries@example.nl", "at": at}]});
        let before = app.counts().await;
        // Unsigned, or a bad item: refused, and nothing changes.
        let (status, body) = post(complaint.clone(), false).await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = post(
            json!({"events": [{"type": "spam", "email": "jan.devries@example.nl", "at": at}]}),
            true,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("events[0].type"), "{body}");
        assert_eq!(app.counts().await, before);

        // A complaint withdraws marketing email consent at once.
        let (status, body) = post(complaint, true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["unsubscribed"], 1);
        let c = app.get_json("/v1/customers/C1").await["customer"].clone();
        let last = c["consents"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (
                last["purpose"].clone(),
                last["granted"].clone(),
                last["source"].clone()
            ),
            (json!("marketing"), json!(false), json!("spam_complaint"))
        );

        // A hard bounce suppresses the address: even the order confirmation is blocked, with
        // the provider's words; a soft bounce changes nothing.
        let bounces = json!({"events": [
            {"type": "bounce", "email": "jan.devries@example.nl", "permanent": false, "detail": "452 mailbox full", "at": at},
            {"type": "bounce", "email": "jan.devries@example.nl", "permanent": true, "detail": "550 5.1.1 user unknown", "at": at}]});
        let (status, body) = post(bounces, true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["suppressed"].clone(), body["ignored"].clone()),
            (json!(1), json!(1))
        );
        let reason = blocked_confirmation(&app, "B1").await;
        assert!(
            reason.contains("bounced permanently on 2026-03-02 (550 5.1.1 user unknown)"),
            "{reason}"
        );
    }
);

/// A bounce mail (RFC 3464) forwarded by the brand's inbound hook: the failed recipient is
/// suppressed as a hard bounce; something that is not a bounce report changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_bounce_mail_suppresses_the_address() {
    let app = feedback_app(Backend::Sqlite).await;
    app.seed_shop(&jan_de_vries()).await;
    let post = |body: &'static str, signed: bool| {
        post_feedback(
            &app,
            "/v1/email-feedback/dsn",
            "message/rfc822",
            body.into(),
            signed,
        )
    };
    const DSN: &str = "From: MAILER-DAEMON@mx.example.nl\r\nTo: hallo@loopwerk.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.nl\r\n\r\nFinal-Recipient: rfc822; jan.devries@example.nl\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <jan.devries@example.nl>: user unknown\r\n\r\n--B--\r\n";
    let before = app.counts().await;
    assert_eq!(post(DSN, false).await.0, 401);
    let (status, body) = post("Subject: out of office\r\n\r\nI am away.\r\n", true).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("body") && body.contains("delivery status notification"),
        "{body}"
    );
    assert_eq!(app.counts().await, before);
    let (status, body) = post(DSN, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"suppressed\":1"), "{body}");
    let reason = blocked_confirmation(&app, "D1").await;
    assert!(reason.contains("user unknown"), "{reason}");
}
