//! The admin UI over HTTP on both backends: sign-in with argon2 and a session cookie,
//! roles, CSRF, pausing a programme (audited, and the engine honours it), fixing a name
//! prefix (audited, the greeting follows), erasing a customer, and the customer's timeline
//! showing a blocked message's reason. The same journeys in Chromium are in `browser.rs`.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

/// A team member's HTTP session: a client that does not follow redirects, and the cookie.
pub struct Session {
    pub base_url: String,
    pub http: reqwest::Client,
    pub cookie: String,
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A form body, percent-encoded as a browser sends it.
pub fn form_body(form: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a programme is paused, as stored.
pub async fn paused(app: &TestApp, programme: &str) -> bool {
    let mut tx = app.store.begin_read().await.unwrap();
    let paused = tx.programme_paused(programme).await.unwrap();
    tx.commit().await.unwrap();
    paused
}

pub const PASSWORD: &str = "a long enough password";

/// Creates an account with `role` and signs in.
pub async fn sign_in_as(app: &TestApp, username: &str, role: &str) -> Session {
    aftercare::cli::user::create(
        &app.store,
        username,
        role,
        "en",
        PASSWORD,
        app.clock.as_ref(),
    )
    .await
    .unwrap();
    sign_in(app, username).await
}

/// Signs in to an existing account.
pub async fn sign_in(app: &TestApp, username: &str) -> Session {
    let http = no_redirects();
    let r = http
        .post(format!("{}/admin/sign-in", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("username", username),
            ("password", PASSWORD),
            ("next", "/admin/programmes"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/programmes");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    Session {
        base_url: app.base_url.clone(),
        http,
        cookie: set_cookie.split(';').next().unwrap().to_string(),
    }
}

impl Session {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// POSTs a form as sent from the page `referer` (the answer itself, unfollowed).
    pub async fn post_from(
        &self,
        path: &str,
        referer: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base_url))
            .header("cookie", &self.cookie)
            .header("referer", referer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of a page's forms.
    pub async fn csrf(&self, path: &str) -> String {
        form_field(&self.get(path).await.1, "csrf")
    }

    /// Simulates `text` as programme `programme` in the admin UI's simulator (ten customers
    /// for `days`) and waits for the run to finish; its page.
    pub async fn simulate_draft(&self, programme: &str, text: &str, days: &str) -> String {
        let csrf = self.csrf("/admin/simulator").await;
        let r = self
            .http
            .post(format!("{}/admin/simulator", self.base_url))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("csrf", &csrf),
                ("customers", "10"),
                ("days", days),
                ("seed", "3"),
                ("programme", programme),
                ("text", text),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let page = finished_simulation(self, &location).await;
        assert!(!page.contains("The simulation failed"), "{page}");
        page
    }
}

/// Jan with three orders and no marketing consent: the early-access offer is blocked.
pub async fn jan_with_a_blocked_offer(app: &TestApp) {
    app.seed_shop(&jan_de_vries()).await;
    for n in ["W1", "W2", "W3"] {
        assert_eq!(app.post_json("/v1/orders", &order(n)).await.0, 201);
    }
    app.engine.run_until_idle().await.unwrap();
    launch(app, "Stride 5").await;
}

async fn launch(app: &TestApp, product: &str) {
    let at = aftercare_domain::Clock::now(app.clock.as_ref()).to_string();
    let launch = json!({"events": [{"type": "product_launched", "customer_external_id": "C1", "at": at, "properties": {"product_name": product}}]});
    assert_eq!(app.post_json("/v1/events", &launch).await.0, 202);
    app.engine.run_until_idle().await.unwrap();
}

async fn early_access_messages(app: &TestApp) -> Vec<Value> {
    let body = app.get_json("/v1/customers/C1").await;
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template"] == "early_access")
        .cloned()
        .collect()
}

both_backends!(
    signed_out_requests_go_to_sign_in_and_a_wrong_password_opens_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        let http = no_redirects();
        let r = http
            .get(format!("{}/admin/customers/C1?x=1", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"],
            "/admin/sign-in?next=/admin/customers/C1%3Fx%3D1"
        );
        // A forged cookie is no session either.
        let r = http
            .get(format!("{}/admin/programmes", app.base_url))
            .header("cookie", "aftercare_team=0123abcd")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);

        aftercare::cli::user::create(
            &app.store,
            "anna",
            "editor",
            "en",
            PASSWORD,
            app.clock.as_ref(),
        )
        .await
        .unwrap();
        let wrong = |password: &'static str, name: &'static str| {
            let http = http.clone();
            let url = format!("{}/admin/sign-in", app.base_url);
            async move {
                let r = http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body(&[("username", name), ("password", password)]))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                assert!(r.headers().get("set-cookie").is_none());
                (status, r.text().await.unwrap())
            }
        };
        let (status, page) = wrong("not the password", "anna").await;
        assert_eq!(status, 401);
        assert!(
            page.contains("That name and password do not match an account."),
            "{page}"
        );
        // An unknown name gets the same answer (no account discovery).
        assert_eq!(wrong("not the password", "nobody").await.0, 401);
        for _ in 0..4 {
            assert_eq!(wrong("still wrong", "anna").await.0, 401);
        }
        // The sixth attempt on one account within a minute is refused before the password is
        // checked, also with the right password.
        let (status, page) = wrong(PASSWORD, "anna").await;
        assert_eq!(status, 429, "{page}");
        assert!(page.contains("Too many sign-in attempts"));
    }
);

both_backends!(
    an_editor_pauses_a_programme_it_is_audited_and_the_engine_holds_it,
    |backend| async move {
        let app = spawn_app(backend).await;
        let marketing = json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"});
        let mut jan = jan_de_vries();
        jan["consents"].as_array_mut().unwrap().push(marketing);
        app.seed_shop(&jan).await;
        for n in ["W1", "W2", "W3"] {
            assert_eq!(app.post_json("/v1/orders", &order(n)).await.0, 201);
        }
        app.engine.run_until_idle().await.unwrap();
        let editor = sign_in_as(&app, "eva", "editor").await;
        let csrf = editor.csrf("/admin/programmes/early-access").await;

        // Without the session's CSRF token nothing changes.
        let (status, page) = editor
            .post(
                "/admin/programmes/early-access/pause",
                &[("csrf", "forged")],
            )
            .await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("Nothing was changed"));
        let (_, page) = editor.get("/admin/programmes").await;
        assert!(!page.contains("badge s-paused"), "{page}");

        let (status, _) = editor
            .post("/admin/programmes/early-access/pause", &[("csrf", &csrf)])
            .await;
        assert_eq!(status, 303);
        let (_, page) = editor.get("/admin/programmes/early-access").await;
        assert!(page.contains("Paused by eva"), "{page}");
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx
            .audit_log(Some("programme:early-access"), 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(audit[0].username, "eva");
        assert_eq!(audit[0].action, "programme.pause");
        assert_eq!(audit[0].before.as_deref(), Some(r#"{"status":"live"}"#));
        assert_eq!(audit[0].after.as_deref(), Some(r#"{"status":"paused"}"#));

        // Paused: a launch enrols no one.
        launch(&app, "Stride 5").await;
        assert!(early_access_messages(&app).await.is_empty());

        let (status, _) = editor
            .post("/admin/programmes/early-access/resume", &[("csrf", &csrf)])
            .await;
        assert_eq!(status, 303);
        launch(&app, "Stride 6").await;
        let messages = early_access_messages(&app).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["state"], "sent");
    }
);

both_backends!(
    a_viewer_reads_but_cannot_pause_fix_or_erase,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let viewer = sign_in_as(&app, "victor", "viewer").await;
        let csrf = viewer.csrf("/admin/programmes/early-access").await;
        let (_, page) = viewer.get("/admin/programmes/early-access").await;
        assert!(page.contains("Your role can view only."), "{page}");
        // An account's language is its UI's language.
        aftercare::cli::user::create(
            &app.store,
            "nina",
            "viewer",
            "nl",
            PASSWORD,
            app.clock.as_ref(),
        )
        .await
        .unwrap();
        let nina = sign_in(&app, "nina").await;
        let (_, page) = nina.get("/admin/programmes/early-access").await;
        assert!(
            page.contains("<html lang=\"nl\">") && page.contains("Jouw rol mag alleen kijken."),
            "{page}"
        );
        let (status, page) = viewer
            .post("/admin/programmes/early-access/pause", &[("csrf", &csrf)])
            .await;
        assert_eq!(status, 403);
        assert!(
            page.contains("This needs the role editor; you are viewer. Nothing was changed."),
            "{page}"
        );
        let (status, _) = viewer
            .post(
                "/admin/customers/C1/fix",
                &[("csrf", &csrf), ("name_prefix", "van")],
            )
            .await;
        assert_eq!(status, 403);
        let (status, _) = viewer
            .post(
                "/admin/customers/C1/erase",
                &[("csrf", &csrf), ("confirm", "C1")],
            )
            .await;
        assert_eq!(status, 403);
        let mut tx = app.store.begin_read().await.unwrap();
        assert!(!tx.programme_paused("early-access").await.unwrap());
        let jan = tx.customer_by_external_id("C1").await.unwrap().unwrap();
        tx.commit().await.unwrap();
        assert_eq!(jan.record.name_prefix.as_deref(), Some("de"));
    }
);

both_backends!(
    the_timeline_shows_why_a_message_was_blocked_and_a_fixed_prefix_changes_the_greeting,
    |backend| async move {
        let app = spawn_app(backend).await;
        jan_with_a_blocked_offer(&app).await;
        let editor = sign_in_as(&app, "eva", "editor").await;

        // Found by last name, email part and id, and through an index by the whole address
        // (its domain in any case).
        for q in ["vries", "devries@", "C1", "jan.devries@EXAMPLE.nl"] {
            let (_, page) = editor.get(&format!("/admin/customers?q={q}")).await;
            assert!(page.contains("href=\"/admin/customers/C1\""), "{q}: {page}");
        }
        let (_, page) = editor.get("/admin/customers?q=nobody-like-this").await;
        assert!(page.contains("No customer matches that."));

        let (status, page) = editor.get("/admin/customers/C1").await;
        assert_eq!(status, 200);
        assert!(page.contains("Geachte heer De Vries"), "{page}");
        assert!(page.contains("early_access"), "{page}");
        assert!(
            page.contains("blocked: no marketing consent for email"),
            "{page}"
        );

        let (status, page) = editor
            .get("/admin/customers/C1/preview?template=early_access")
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("Geachte heer De Vries"), "{page}");
        let (status, page) = editor
            .get("/admin/customers/C1/preview?template=nope")
            .await;
        assert_eq!(status, 422);
        assert!(
            page.contains("template: &#x27;nope&#x27; is not one of the loaded templates")
                || page.contains("template: 'nope'"),
            "{page}"
        );

        // Fix the prefix: "van der" instead of "de"; audited with before and after.
        let csrf = editor.csrf("/admin/customers/C1").await;
        let form = [
            ("csrf", csrf.as_str()),
            ("first_name", "Jan"),
            ("name_prefix", "van der"),
            ("last_name", "Vries"),
            ("address_form", "formal"),
        ];
        assert_eq!(editor.post("/admin/customers/C1/fix", &form).await.0, 303);
        let (_, page) = editor.get("/admin/customers/C1?notice=saved").await;
        assert!(page.contains("Geachte heer Van der Vries"), "{page}");
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx.audit_log(Some("customer:C1"), 10).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(audit[0].action, "customer.fix");
        assert!(
            audit[0]
                .before
                .as_deref()
                .unwrap()
                .contains(r#""name_prefix":"de""#)
        );
        assert!(
            audit[0]
                .after
                .as_deref()
                .unwrap()
                .contains(r#""name_prefix":"van der""#)
        );

        // Bad input names the field and changes nothing.
        let form = [
            ("csrf", csrf.as_str()),
            ("first_name", "Jan"),
            ("name_prefix", ""),
            ("last_name", "Vries"),
            ("address_form", "royal"),
        ];
        let (status, page) = editor.post("/admin/customers/C1/fix", &form).await;
        assert_eq!(status, 422);
        assert!(page.contains("address_form"), "{page}");
        let (_, page) = editor.get("/admin/customers/C1").await;
        assert!(page.contains("Van der Vries"));

        // The export has the record and the messages, and is audited.
        let r = editor
            .http
            .get(format!("{}/admin/customers/C1/export", app.base_url))
            .header("cookie", &editor.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-disposition"],
            "attachment; filename=\"customer-C1.json\""
        );
        let export: Value = r.json().await.unwrap();
        assert_eq!(export["customer"]["email"], "jan.devries@example.nl");
        assert_eq!(export["orders"].as_array().unwrap().len(), 3);
        assert!(
            export["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["template"] == "early_access")
        );
    }
);

both_backends!(
    an_admin_erases_a_customer_and_queued_mail_stops,
    |backend| async move {
        let app = spawn_app(backend).await;
        jan_with_a_blocked_offer(&app).await;
        let admin = sign_in_as(&app, "ada", "admin").await;
        let csrf = admin.csrf("/admin/customers/C1").await;
        // The id must be typed again.
        let (status, _) = admin
            .post(
                "/admin/customers/C1/erase",
                &[("csrf", &csrf), ("confirm", "C2")],
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(
            admin
                .post(
                    "/admin/customers/C1/erase",
                    &[("csrf", &csrf), ("confirm", "C1")]
                )
                .await
                .0,
            303
        );
        let body = app.get_json("/v1/customers/C1").await;
        assert_eq!(body["customer"]["email"], Value::Null);
        assert_eq!(body["customer"]["last_name"], Value::Null);
        assert!(
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["recipient"].is_null()
                    && m["body_text"].is_null()
                    && m["state"] != "planned")
        );
        let (_, page) = admin.get("/admin/audit").await;
        assert!(page.contains("customer.erase"), "{page}");
        let (_, page) = admin.get("/admin/customers?q=vries").await;
        assert!(page.contains("No customer matches that."), "{page}");
    }
);

both_backends!(
    a_paused_programme_holds_its_running_customers_and_resumes_where_it_stood,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let templates = |body: Value| -> Vec<String> {
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["state"] == "sent")
                .map(|m| m["template"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            templates(app.get_json("/v1/customers/C1").await),
            ["order_confirmation"]
        );

        // Paused during the day's wait: the thank-you is not sent when the wait is over.
        let editor = sign_in_as(&app, "eva", "editor").await;
        let csrf = editor.csrf("/admin/programmes/after-purchase").await;
        assert_eq!(
            editor
                .post("/admin/programmes/after-purchase/pause", &[("csrf", &csrf)])
                .await
                .0,
            303
        );
        app.advance_hours(30).await;
        assert_eq!(
            templates(app.get_json("/v1/customers/C1").await),
            ["order_confirmation"]
        );
        let body = app.get_json("/v1/customers/C1").await;
        assert!(
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["template"] != "thanks"),
            "held, not dropped or planned: {body}"
        );

        // The session has expired meanwhile (12 hours): the resume goes to the sign-in page.
        let (status, _) = editor
            .post(
                "/admin/programmes/after-purchase/resume",
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(status, 303);
        assert!(paused(&app, "after-purchase").await);
        let editor = sign_in(&app, "eva").await;
        let csrf = editor.csrf("/admin/programmes/after-purchase").await;

        // Resumed: it goes on from the step it stood at, within the recheck interval.
        assert_eq!(
            editor
                .post(
                    "/admin/programmes/after-purchase/resume",
                    &[("csrf", &csrf)]
                )
                .await
                .0,
            303
        );
        app.clock.advance(aftercare_engine::PAUSE_RECHECK);
        app.engine.run_until_idle().await.unwrap();
        let sent = templates(app.get_json("/v1/customers/C1").await);
        assert_eq!(
            sent.iter().filter(|t| *t == "thanks").count(),
            1,
            "{sent:?}"
        );
    }
);

/// A customer record for the dashboards test.
fn dashboard_customer(id: &str) -> aftercare_domain::CustomerRecord {
    let mut c = jan_de_vries();
    c["external_id"] = id.into();
    c["email"] = format!("{}@example.nl", id.to_lowercase()).into();
    serde_json::from_value(c).unwrap()
}

/// Stores a customer created at `created` with messages of (class, channel, state) sent
/// `days_ago` days before `now`.
async fn customer_with_messages(
    app: &TestApp,
    id: &str,
    created: jiff::Timestamp,
    messages: &[(&str, &str, &str, i64)],
) -> aftercare_store::CustomerId {
    use aftercare_domain::{Channel, MessageClass, MessageState};
    let now = aftercare_domain::Clock::now(app.clock.as_ref());
    let mut tx = app.store.begin().await.unwrap();
    let (customer_id, _) = tx
        .upsert_customer(&dashboard_customer(id), created)
        .await
        .unwrap();
    for (i, (class, channel, state, days_ago)) in messages.iter().enumerate() {
        let at = now - jiff::SignedDuration::from_hours(24 * days_ago);
        let class: MessageClass = serde_json::from_value(json!(class)).unwrap();
        let step = format!("s{i}");
        let message = aftercare_store::NewMessage {
            customer_id,
            enrolment_id: None,
            step_key: &step,
            programme_id: Some("seeded"),
            template: "seeded",
            class,
            priority: aftercare_domain::policy::Priority::Normal,
            channel: Channel::parse(channel).unwrap(),
            planned_at: at,
            reason: "seeded",
            topic: &step,
            variant: None,
        };
        let m = tx.insert_message(&message, at).await.unwrap().unwrap();
        let to = if *state == "sent" {
            MessageState::Sent
        } else {
            MessageState::Blocked
        };
        assert!(
            tx.transition_message(m, MessageState::Planned, to, "seeded", at)
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
    customer_id
}

both_backends!(
    dashboards_count_contacts_per_customer_against_the_band_and_show_segments,
    |backend| async move {
        let app = spawn_app(backend).await;
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let two_years_ago = now - jiff::SignedDuration::from_hours(24 * 730);
        let rel = |channel, days| ("relationship", channel, "sent", days);
        // Anna: 8 relationship emails in the year (inside 7–9); transactional mail and a
        // blocked message do not count, nor a contact of 400 days ago.
        let mut anna: Vec<(&str, &str, &str, i64)> =
            (1..=8).map(|d| rel("email", d * 30)).collect();
        anna.push(("transactional", "email", "sent", 3));
        anna.push(("transactional", "email", "sent", 4));
        anna.push(("promotional", "email", "blocked", 5));
        anna.push(rel("email", 400));
        let anna_id = customer_with_messages(&app, "ANNA", two_years_ago, &anna).await;
        // Bram: 6 letters and 6 promotional emails (above the band).
        let mut bram: Vec<_> = (1..=6).map(|d| rel("letter", d * 20)).collect();
        bram.extend((1..=6).map(|d| ("promotional", "email", "sent", d * 25)));
        let bram_id = customer_with_messages(&app, "BRAM", two_years_ago, &bram).await;
        // Cor: nothing (below). Dirk joined a month ago: not a customer for the whole year.
        let cor_id = customer_with_messages(&app, "COR", two_years_ago, &[]).await;
        customer_with_messages(
            &app,
            "DIRK",
            now - jiff::SignedDuration::from_hours(24 * 30),
            &[rel("email", 2), rel("sms", 1)],
        )
        .await;
        let mut tx = app.store.begin().await.unwrap();
        for (customer_id, segment, p_alive, clv) in [
            (anna_id, "champions", Some(0.92), Some(10_000)),
            (bram_id, "at_risk", Some(0.31), Some(2_000)),
            (cor_id, "at_risk", Some(0.35), None),
        ] {
            let scores = aftercare_store::Scores {
                customer_id,
                rfm_r: 3,
                rfm_f: 3,
                rfm_m: 3,
                rfm_segment: segment.into(),
                p_alive,
                expected_purchases_90d: None,
                clv_12m_cents: clv,
            };
            tx.put_scores(&scores, now).await.unwrap();
        }
        tx.commit().await.unwrap();

        let viewer = sign_in_as(&app, "victor", "viewer").await;
        let (status, page) = viewer.get("/admin/dashboards").await;
        assert_eq!(status, 200, "{page}");
        let text = page.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("Customers counted: 3."), "{text}");
        assert!(
            text.contains(
                "Band 7–9: <strong>33%</strong> inside (1), 33% below (1), 33% above (1)."
            ),
            "{text}"
        );
        // All messages of the counted customers' year, by channel and class.
        for row in [
            "<td>email</td><td>promotional</td><td>6</td><td>2.00</td>",
            "<td>email</td><td>relationship</td><td>8</td><td>2.67</td>",
            "<td>email</td><td>transactional</td><td>2</td><td>0.67</td>",
            "<td>letter</td><td>relationship</td><td>6</td><td>2.00</td>",
        ] {
            assert!(text.contains(row), "{row} in {text}");
        }
        assert!(!text.contains("<td>sms</td>"), "{text}");
        // The histogram's numbers: one customer each at 0, 8 and 12 contacts.
        for row in [
            "<td>0</td><td>1</td>",
            "<td>8</td><td>1</td>",
            "<td>12</td><td>1</td>",
            "<td>9</td><td>0</td>",
        ] {
            assert!(text.contains(row), "{row} in {text}");
        }
        // Segments with their mean P(alive) and summed value.
        assert!(
            text.contains("<td>at risk</td><td>2</td><td>67%</td><td>0.33</td><td>€ 20</td>"),
            "{text}"
        );
        assert!(
            text.contains("<td>champions</td><td>1</td><td>33%</td><td>0.92</td><td>€ 100</td>"),
            "{text}"
        );
        // Charts are inline SVG with a title; the empty sections say why they are empty.
        assert_eq!(
            text.matches("<svg class=\"chart\" role=\"img\"").count(),
            3,
            "{text}"
        );
        assert!(text.contains("<title>Customers by relationship and promotional contacts in the last year; band 7–9</title>"));
        assert!(text.contains("No survey answers yet."));
        assert!(
            text.contains("No programme with a goal and a holdout has a closed goal window yet.")
        );

        // Issue 22: the figures are worked out in the background and shown with their age;
        // older than ten minutes, the page still answers at once with them while newer ones
        // are worked out behind it.
        assert!(
            text.contains("Figures as of") && text.contains("(just now)."),
            "{text}"
        );
        app.clock.advance(jiff::SignedDuration::from_mins(11));
        let (_, page) = viewer.get("/admin/dashboards").await;
        let text = page.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("(11 min. ago); newer figures are being worked out"),
            "{text}"
        );
        assert!(text.contains("Customers counted: 3."), "{text}");
        let mut renewed = false;
        for _ in 0..100 {
            let (_, page) = viewer.get("/admin/dashboards").await;
            if page.contains("(just now)") {
                renewed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(renewed, "the newer figures replace the old");
    }
);

/// The page at `path` once a worker has finished what it shows (a simulation, a contact
/// calendar): until then it refreshes itself.
pub async fn finished_simulation(session: &Session, path: &str) -> String {
    for _ in 0..1500 {
        let (status, page) = session.get(path).await;
        assert_eq!(status, 200, "{page}");
        if !page.contains("http-equiv=\"refresh\"") {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the worker did not finish {path} in five minutes");
}

/// The simulator in the browser: bad fields and a broken programme are refused naming the
/// field; a change is simulated side by side with the library as it is, on its own
/// database (the live one only gains the audit entry), and a viewer cannot start one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_simulates_a_programme_change_beside_the_library_as_it_is() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let viewer = sign_in_as(&app, "victor", "viewer").await;
    let (_, page) = viewer.get("/admin/simulator").await;
    assert!(page.contains("Your role can view only.") && !page.contains("name=\"text\""));
    let csrf = viewer.csrf("/admin/programmes").await;
    let (status, _) = viewer
        .post(
            "/admin/simulator",
            &[
                ("csrf", &csrf),
                ("customers", "20"),
                ("days", "14"),
                ("seed", "3"),
            ],
        )
        .await;
    assert_eq!(status, 403);

    let editor = sign_in_as(&app, "eva", "editor").await;
    let (_, form) = editor.get("/admin/simulator?programme=win-back").await;
    assert!(
        form.contains("id = &quot;win-back&quot;"),
        "the form holds the programme's text: {form}"
    );
    let csrf = form_field(&form, "csrf");
    let (status, page) = editor
        .post(
            "/admin/simulator",
            &[
                ("csrf", &csrf),
                ("customers", "5"),
                ("days", "a year"),
                ("seed", "3"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("customers: a whole number from 10 to 5000"),
        "{page}"
    );
    assert!(
        page.contains("days: a whole number from 7 to 730"),
        "{page}"
    );
    let broken = "id = \"win-back\"\nname = \"We miss you\"\ntrigger = \"nope\"\n";
    let (status, page) = editor
        .post(
            "/admin/simulator",
            &[
                ("csrf", &csrf),
                ("customers", "20"),
                ("days", "14"),
                ("seed", "3"),
                ("programme", "win-back"),
                ("text", broken),
            ],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("text: line"), "{page}");

    let text = std::fs::read_to_string(repo_root().join("programmes/win-back.toml")).unwrap();
    let changed = text.replace("holdout = 0.1", "holdout = 0.5");
    assert_ne!(changed, text);
    let r = editor
        .http
        .post(format!("{}/admin/simulator", app.base_url))
        .header("cookie", &editor.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", &csrf),
            ("customers", "20"),
            ("days", "14"),
            ("seed", "3"),
            ("programme", "win-back"),
            ("text", &changed),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/admin/simulator/1");
    let page = finished_simulation(&editor, &location).await;
    assert!(!page.contains("The simulation failed"), "{page}");
    for title in [
        "<title>Library as it is: customers by contacts a year; band 7–9</title>",
        "<title>With the change to win-back: customers by contacts a year; band 7–9</title>",
    ] {
        assert!(page.contains(title), "{title} in {page}");
    }
    assert!(
        page.contains("<tr class=\"changed\"><td><a href=\"/admin/programmes/win-back\">"),
        "{page}"
    );
    // The programme file is untouched and the live database has no simulated customers.
    assert_eq!(
        std::fs::read_to_string(repo_root().join("programmes/win-back.toml")).unwrap(),
        text
    );
    let mut tx = app.store.begin_read().await.unwrap();
    assert!(
        tx.customers_page(aftercare_store::CustomerId(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let audit = tx.audit_log(Some("simulation:1"), 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audit[0].username, "eva");
    assert_eq!(audit[0].action, "simulation.start");
    assert!(
        audit[0]
            .after
            .as_deref()
            .unwrap()
            .contains("\"change\":\"win-back\"")
    );
    let (_, list) = viewer.get("/admin/simulator").await;
    assert!(
        list.contains("<a href=\"/admin/simulator/1\">1</a></td><td>done</td><td>eva</td>"),
        "{list}"
    );
    // Issue 22: the run was a worker's job, kept in the store for every serving process.
    let mut tx = app.store.begin().await.unwrap();
    let run = tx.simulation(1).await.unwrap().unwrap();
    assert_eq!(run.taken_by.as_deref(), Some(app.engine.worker_id()));
    assert!(run.report.is_some() && run.changed_report.is_some() && run.error.is_none());
    assert_eq!((run.baseline_done, run.changed_done), (14, 14));
    // One at a time, race-free: while one is unfinished the next is refused.
    let now = aftercare_domain::Clock::now(app.clock.as_ref());
    let next = aftercare_store::NewSimulation {
        started_by: "eva",
        customers: 10,
        days: 7,
        seed: 1,
        start_day: now,
        change: None,
    };
    assert_eq!(tx.insert_simulation(&next, now).await.unwrap(), Some(2));
    // Due in an hour, so this app's worker leaves it alone.
    let hour = now + jiff::SignedDuration::from_hours(1);
    tx.insert_job(aftercare_store::JobKind::Simulation, 2, hour, now)
        .await
        .unwrap();
    assert_eq!(tx.insert_simulation(&next, now).await.unwrap(), None);
    tx.commit().await.unwrap();
    // One whose job was lost — set aside by a worker of an older version that did not know
    // the kind — does not block the simulator for good.
    let old = aftercare_store::JobKind::Simulation;
    let job = app
        .store
        .claim_side_job(
            old,
            "older",
            hour,
            hour + jiff::SignedDuration::from_mins(2),
        )
        .await
        .unwrap()
        .unwrap();
    let mut tx = app.store.begin().await.unwrap();
    assert!(
        tx.bury_job(job.id, "older", "unknown job kind", hour)
            .await
            .unwrap()
    );
    // (A refused start used up a number: runs are numbered with gaps, never twice.)
    assert!(tx.insert_simulation(&next, now).await.unwrap().is_some());
    let lost = tx.simulation(2).await.unwrap().unwrap();
    assert!(lost.error.unwrap().starts_with("its job was lost"));
}

both_backends!(
    a_simulation_waits_for_a_worker_and_one_killed_mid_run_leaves_it_to_another,
    |backend| async move {
        use aftercare_domain::Clock;
        use jiff::SignedDuration;
        let app = spawn_app(backend).await;
        let now = app.clock.now();
        let later = now + SignedDuration::from_hours(1);
        // Queued for an hour from now, so this app's worker leaves it alone until then.
        let mut tx = app.store.begin().await.unwrap();
        let id = tx
            .insert_simulation(
                &aftercare_store::NewSimulation {
                    started_by: "eva",
                    customers: 10,
                    days: 7,
                    seed: 5,
                    start_day: now,
                    change: None,
                },
                now,
            )
            .await
            .unwrap()
            .unwrap();
        tx.insert_job(aftercare_store::JobKind::Simulation, id, later, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let eva = sign_in_as(&app, "eva", "editor").await;
        let path = format!("/admin/simulator/{id}");
        let (_, page) = eva.get(&path).await;
        assert!(page.contains("No worker has taken it yet"), "{page}");
        let (_, list) = eva.get("/admin/simulator").await;
        assert!(list.contains("<td>waiting for a worker</td>"), "{list}");

        // A worker takes it an hour on and is killed: it never renews its lease.
        let lease = later + SignedDuration::from_mins(2);
        let job = app
            .store
            .claim_side_job(aftercare_store::JobKind::Simulation, "killed", later, lease)
            .await
            .unwrap()
            .expect("the simulation is due");
        let mut tx = app.store.begin().await.unwrap();
        tx.take_simulation(id, "killed", later).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(job.ref_id, id);
        app.clock.advance(SignedDuration::from_mins(61));
        let (_, page) = eva.get(&path).await;
        assert!(
            page.contains("Running; this page refreshes itself."),
            "{page}"
        );
        // Once the lease has run out, this app's worker takes it over and runs it to the end.
        app.clock.advance(SignedDuration::from_mins(2));
        let page = finished_simulation(&eva, &path).await;
        assert!(page.contains("Library as it is"), "{page}");
        let mut tx = app.store.begin_read().await.unwrap();
        let run = tx.simulation(id).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        assert_eq!(run.taken_by.as_deref(), Some(app.engine.worker_id()));
        assert_eq!(run.baseline_done, 7);
        assert!(
            app.store
                .claim_side_job(
                    aftercare_store::JobKind::Simulation,
                    "another",
                    app.clock.now() + SignedDuration::from_hours(9),
                    app.clock.now() + SignedDuration::from_hours(10)
                )
                .await
                .unwrap()
                .is_none(),
            "its job is done"
        );
    }
);

/// An editor cancels a simulation waiting for a worker: it ends as failed saying who
/// cancelled it, the next may start at once, and the worker that takes its job later runs
/// nothing. A viewer cannot cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_cancels_a_simulation_and_the_next_may_start() {
    use aftercare_domain::Clock;
    use aftercare_store::{JobKind, NewSimulation};
    use jiff::SignedDuration;
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let now = app.clock.now();
    let new = NewSimulation {
        started_by: "eva",
        customers: 10,
        days: 7,
        seed: 5,
        start_day: now,
        change: None,
    };
    let mut tx = app.store.begin().await.unwrap();
    let id = tx.insert_simulation(&new, now).await.unwrap().unwrap();
    let later = now + SignedDuration::from_hours(1);
    tx.insert_job(JobKind::Simulation, id, later, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let path = format!("/admin/simulator/{id}");
    let victor = sign_in_as(&app, "victor", "viewer").await;
    let (_, page) = victor.get(&path).await;
    assert!(!page.contains("Cancel this simulation"), "{page}");
    let csrf = victor.csrf("/admin/simulator").await;
    let (status, _) = victor
        .post(&format!("{path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 403);
    let eva = sign_in_as(&app, "eva", "editor").await;
    let (_, page) = eva.get(&path).await;
    assert!(page.contains("Cancel this simulation"), "{page}");
    let csrf = form_field(&page, "csrf");
    let (status, _) = eva
        .post(&format!("{path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    let (_, page) = eva.get(&path).await;
    assert!(
        page.contains("cancelled by eva") && !page.contains("http-equiv=\"refresh\""),
        "{page}"
    );
    let mut tx = app.store.begin().await.unwrap();
    let audit = tx
        .audit_log(Some(&format!("simulation:{id}")), 5)
        .await
        .unwrap();
    assert_eq!(audit[0].action, "simulation.cancel");
    assert!(tx.insert_simulation(&new, now).await.unwrap().is_some());
    drop(tx);
    // The worker takes the cancelled run's job when it falls due and runs nothing.
    let jobs = app.store.count(aftercare_store::Table::Jobs).await.unwrap();
    app.clock.set(later + SignedDuration::from_secs(1));
    for _ in 0..100 {
        if app.store.count(aftercare_store::Table::Jobs).await.unwrap() < jobs {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.store.count(aftercare_store::Table::Jobs).await.unwrap(),
        jobs - 1
    );
    let mut tx = app.store.begin_read().await.unwrap();
    let run = tx.simulation(id).await.unwrap().unwrap();
    assert!(run.taken_at.is_none() && run.report.is_none(), "{run:?}");
}

/// A simulation that workers keep stopping on (killed, out of memory) ends as failed after
/// three tries, so it does not block every simulation after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_workers_keep_dying_on_ends_as_failed_and_frees_the_simulator() {
    use aftercare_domain::Clock;
    use aftercare_store::{JobKind, NewSimulation};
    use jiff::SignedDuration;
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let now = app.clock.now();
    let later = now + SignedDuration::from_hours(1);
    let new = NewSimulation {
        started_by: "eva",
        customers: 5000,
        days: 730,
        seed: 5,
        start_day: now,
        change: None,
    };
    let mut tx = app.store.begin().await.unwrap();
    let id = tx.insert_simulation(&new, now).await.unwrap().unwrap();
    tx.insert_job(JobKind::Simulation, id, later, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Three workers take it in turn and die with it.
    let mut at = later;
    for _ in 0..3 {
        let lease = at + SignedDuration::from_mins(2);
        let job = app
            .store
            .claim_side_job(JobKind::Simulation, "dying", at, lease)
            .await
            .unwrap();
        assert!(job.is_some());
        at = lease + SignedDuration::from_secs(1);
    }
    app.clock.set(at);
    let eva = sign_in_as(&app, "eva", "editor").await;
    let page = finished_simulation(&eva, &format!("/admin/simulator/{id}")).await;
    assert!(
        page.contains("workers stopped 3 times while working on it (killed or out of memory?); try fewer customers or days"),
        "{page}"
    );
    let mut tx = app.store.begin().await.unwrap();
    assert!(tx.insert_simulation(&new, at).await.unwrap().is_some());
}

both_backends!(
    a_customers_calendar_shows_the_coming_year_and_changes_nothing,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut jan = jan_de_vries();
        jan["birth_date"] = "1980-04-15".into();
        jan["consents"].as_array_mut().unwrap().push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2025-01-01T10:00:00Z"}));
        app.seed_shop(&jan).await;
        let mut first = order("W1");
        first["placed_at"] = "2025-06-01T10:00:00Z".into();
        assert_eq!(app.post_json("/v1/orders", &first).await.0, 201);
        // An order of this morning: its confirmation went out just now; it counts as an earlier
        // contact, it is not projected again.
        assert_eq!(app.post_json("/v1/orders", &order("W2")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        let confirmation = app
            .message_with_template("C1", "", "order_confirmation")
            .await;
        assert_eq!(confirmation["state"], "sent", "{confirmation}");
        let before = app.counts().await;
        let mails = app.smtp.messages().len();

        let viewer = sign_in_as(&app, "victor", "viewer").await;
        let (_, page) = viewer.get("/admin/customers/C1").await;
        assert!(
            page.contains("href=\"/admin/customers/C1/calendar\""),
            "{page}"
        );
        // A worker works his year out (issue 22: not the serving process); the page says so
        // and refreshes itself until it is there.
        let (status, page) = viewer.get("/admin/customers/C1/calendar").await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("A worker is working out this customer&#x27;s coming year"),
            "{page}"
        );
        let page = finished_simulation(&viewer, "/admin/customers/C1/calendar").await;
        assert!(page.contains("Worked out at 2026-03-02 10:00."), "{page}");
        // His birthday card, at 09:00 in Amsterdam, and the anniversary of his purchase.
        assert!(
            page.contains("<td>2026-04-15 09:00</td><td><a href=\"/admin/programmes/birthday\">birthday</a></td>"),
            "{page}"
        );
        assert!(
            page.contains("/admin/programmes/purchase-anniversary"),
            "{page}"
        );
        // Contacts already made count towards the band but are not projected again.
        assert!(!page.contains("order_confirmation"), "{page}");
        // Twelve months from March, in his time zone.
        assert!(
            page.contains("<th>2026-03</th>") && page.contains("<th>2027-02</th>"),
            "{page}"
        );
        // Working it out sent nothing and stored nothing in the live data.
        assert_eq!(app.counts().await, before);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.smtp.messages().len(), mails);
        // It is kept for ten minutes: seen again, it is not worked out again.
        app.clock.advance(jiff::SignedDuration::from_mins(9));
        let (_, again) = viewer.get("/admin/customers/C1/calendar").await;
        assert!(
            again.contains("Worked out at 2026-03-02 10:00.")
                && !again.contains("http-equiv=\"refresh\""),
            "{again}"
        );
        // Then a new one is asked for, and the last one shown until it comes.
        app.clock.advance(jiff::SignedDuration::from_mins(2));
        let (_, stale) = viewer.get("/admin/customers/C1/calendar").await;
        assert!(
            stale.contains("A newer calendar is being worked out")
                && stale.contains("Worked out at 2026-03-02 10:00."),
            "{stale}"
        );
        let fresh = finished_simulation(&viewer, "/admin/customers/C1/calendar").await;
        assert!(fresh.contains("Worked out at 2026-03-02 10:11."), "{fresh}");
    }
);
both_backends!(
    a_customers_page_lists_shipments_and_service_cases,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        let shipment = json!({"shipment_id": "3SXYZ", "order_external_id": "W1", "carrier": "postnl",
            "status": "in_transit", "at": "2026-03-02T08:58:00Z"});
        let (status, body) = app.post_json("/v1/shipment-events", &shipment).await;
        assert!(status < 300, "{body}");
        let case = |kind: &str, at: &str, properties: Value| json!({"events": [{"type": kind, "customer_external_id": "C1", "at": at, "properties": properties}]});
        for e in [
            case(
                "case_opened",
                "2026-02-01T10:00:00Z",
                json!({"kind": "complaint", "subject": "stiksel los"}),
            ),
            case(
                "case_resolved",
                "2026-02-02T15:00:00Z",
                json!({"kind": "complaint", "channel": "phone"}),
            ),
            case(
                "case_opened",
                "2026-03-01T10:00:00Z",
                json!({"kind": "question", "subject": "maat"}),
            ),
        ] {
            assert_eq!(app.post_json("/v1/events", &e).await.0, 202);
        }
        app.engine.run_until_idle().await.unwrap();
        let viewer = sign_in_as(&app, "victor", "viewer").await;
        let (_, page) = viewer.get("/admin/customers/C1").await;
        assert!(
            page.contains("<td>3SXYZ</td><td>W1</td><td>postnl</td><td>in_transit <span class=\"muted\">2026-03-02 09:58</span></td>"),
            "{page}"
        );
        // Newest first; the resolution closed the first case; the second is still open.
        let open = page.find("<td>2026-03-01 11:00</td><td>question</td><td>maat</td><td><span class=\"badge s-planned\">open</span>");
        let closed = page.find("<td>2026-02-01 11:00</td><td>complaint</td><td>stiksel los</td><td>2026-02-02 16:00 <span class=\"muted\">(phone)</span>");
        assert!(
            open.is_some() && closed.is_some() && open < closed,
            "{page}"
        );
    }
);

both_backends!(
    the_outbox_offers_the_print_batches_and_each_download_is_audited,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut jan = jan_de_vries();
        jan["postal_address"] = json!({"street": "Kerkstraat", "house_number": "12", "postcode": "1012 AB", "city": "Amsterdam", "country": "NL"});
        app.seed_shop(&jan).await;
        let resolved = json!({"events": [{"type": "case_resolved", "customer_external_id": "C1",
            "at": "2026-03-02T08:30:00Z", "properties": {"kind": "complaint", "channel": "phone"}}]});
        assert_eq!(app.post_json("/v1/events", &resolved).await.0, 202);
        // The apology mail at 10:00, the card when the daily cap allows, the batch at that day's
        // cut-off.
        app.advance_hours(72).await;
        let viewer = sign_in_as(&app, "victor", "viewer").await;
        let (_, page) = viewer.get("/admin/outbox?channel=letter").await;
        assert!(
            page.contains("apology_card") && page.contains("in print batch 1 for print partner"),
            "{page}"
        );
        assert!(
            page.contains("href=\"/admin/print-batches/1/letters.pdf\""),
            "{page}"
        );
        let r = viewer
            .http
            .get(format!(
                "{}/admin/print-batches/1/letters.pdf",
                app.base_url
            ))
            .header("cookie", &viewer.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
        let (status, csv) = viewer.get("/admin/print-batches/1/addresses.csv").await;
        assert_eq!(status, 200);
        assert!(
            csv.contains(",C1,Jan de Vries,Kerkstraat 12,1012 AB  AMSTERDAM,,NL"),
            "{csv}"
        );
        assert_eq!(
            viewer.get("/admin/print-batches/1/secrets.txt").await.0,
            404
        );
        assert_eq!(
            viewer.get("/admin/print-batches/9/letters.pdf").await.0,
            404
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx.audit_log(Some("print_batch:1"), 10).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[0].username, "victor");
        assert_eq!(audit[0].action, "print_batch.download");
    }
);

/// The language picked on the sign-in page is the user's from then on, and the header
/// switches it on any page, coming back to that page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_chosen_at_sign_in_stays_and_the_header_switches_it_on_the_spot() {
    let app = spawn_app(Backend::Sqlite).await;
    aftercare::cli::user::create(
        &app.store,
        "noor",
        "viewer",
        "en",
        PASSWORD,
        app.clock.as_ref(),
    )
    .await
    .unwrap();
    // The sign-in page in Dutch carries the choice; the page without one does not.
    let page = app
        .get_text(&format!("{}/admin/sign-in", app.base_url))
        .await;
    assert!(!page.contains("name=\"lang\""), "no choice made yet");
    let page = app
        .get_text(&format!(
            "{}/admin/sign-in?lang=nl&next=/admin/campaigns",
            app.base_url
        ))
        .await;
    assert_eq!(form_field(&page, "lang"), "nl");
    let http = no_redirects();
    let r = http
        .post(format!("{}/admin/sign-in", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("username", "noor"),
            ("password", PASSWORD),
            ("next", "/admin/campaigns"),
            ("lang", "nl"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session = Session {
        base_url: app.base_url.clone(),
        http,
        cookie,
    };
    let (status, page) = session.get("/admin/campaigns").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Campagnes") && page.contains(">English<"),
        "{page}"
    );
    // Signing in again from the plain page keeps Dutch.
    let again = sign_in(&app, "noor").await;
    assert!(again.get("/admin/programmes").await.1.contains("Programma"));

    // The header's button: English, back on the same page.
    let csrf = again.csrf("/admin/audiences").await;
    let r = again
        .post_from(
            "/admin/language",
            &format!("{}/admin/audiences?x=1", app.base_url),
            &[("csrf", &csrf), ("lang", "en")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/audiences?x=1");
    let page = again.get("/admin/audiences").await.1;
    assert!(
        page.contains("Audiences") && page.contains(">Nederlands<"),
        "{page}"
    );
    // Only the path of the page that sent the form is followed, never another site.
    let csrf = again.csrf("/admin/audiences").await;
    let r = again
        .post_from(
            "/admin/language",
            "https://elsewhere.example/admin/x",
            &[("csrf", &csrf), ("lang", "en")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/x");
    // From a page a refused form's POST rendered: back to the page that action belongs to.
    let r = again
        .post_from(
            "/admin/language",
            &format!("{}/admin/campaigns/7/delete", app.base_url),
            &[("csrf", &csrf), ("lang", "en")],
        )
        .await;
    assert_eq!(r.headers()["location"], "/admin/campaigns/7");
    for (from, back) in [
        (
            "/admin/programmes/autumn/publish",
            "/admin/programmes/autumn/edit",
        ),
        ("/admin/dead-jobs/3/retry", "/admin/outbox"),
        ("/admin/customers/delete", "/admin/customers/delete"),
    ] {
        let r = again
            .post_from(
                "/admin/language",
                &format!("{}{from}", app.base_url),
                &[("csrf", &csrf), ("lang", "en")],
            )
            .await;
        assert_eq!(r.headers()["location"], back, "{from}");
    }
    // Without the form's token nothing changes.
    let r = again
        .post_from(
            "/admin/language",
            "https://elsewhere.example/admin/x",
            &[("csrf", "wrong"), ("lang", "nl")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        again
            .get("/admin/audiences")
            .await
            .1
            .contains(">Nederlands<")
    );
    // A mistyped number in an address is the friendly page, in the user's language.
    let (status, page) = again.get("/admin/campaigns/abc").await;
    assert_eq!(status, 404);
    assert!(page.contains("No campaign: abc"), "{page}");
}
