//! Surveys (MQ2) on SQLite and PostgreSQL: a programme invites the customer to the brand's
//! survey page by a signed link; one question per screen; every answer is saved as given; a
//! forged form saves nothing; the last answer completes the response once and earns points.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    an_nps_survey_is_answered_one_screen_at_a_time,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        let delivered = serde_json::json!({"shipment_id": "S1", "order_external_id": "W1", "carrier": "postnl",
        "status": "delivered", "at": "2026-03-02T08:59:00Z"});
        assert_eq!(
            app.post_json("/v1/shipment-events", &delivered).await.0,
            201
        );
        // The check-in of after-delivery takes day 14; the daily cap moves the invitation on.
        app.advance_hours(24 * 17).await;
        let invite = app
            .message_with_template("C1", "&state=sent", "nps_invite")
            .await;
        let body = invite["body_text"].as_str().unwrap();
        let link = app.on_test_server(
            body.split_whitespace()
                .find(|w| w.contains("/p/survey/"))
                .unwrap_or_else(|| panic!("no survey link: {body}")),
        );

        let page = |url: String| {
            let http = app.http.clone();
            async move { http.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let post = |form: String| {
            let (app, link) = (&app, link.clone());
            async move {
                let (status, page) = app.post_form(&link, form).await;
                assert_eq!(status, 200, "back to the page");
                page
            }
        };
        let first = page(link.clone()).await;
        assert!(
            first.contains("Vraag 1 van 2") && first.contains("name=\"score\""),
            "{first}"
        );
        let csrf = form_field(&first, "csrf");

        // A forged form saves nothing: the same question again.
        let again = post(format!("csrf={}&question=nps&score=9", "00".repeat(16))).await;
        assert!(again.contains("Vraag 1 van 2"), "{again}");
        // Out of range: nothing saved either.
        let again = post(format!("csrf={csrf}&question=nps&score=11")).await;
        assert!(again.contains("Vraag 1 van 2"), "{again}");

        let second = post(format!("csrf={csrf}&question=nps&score=9")).await;
        assert!(
            second.contains("Vraag 2 van 2") && second.contains("<textarea"),
            "{second}"
        );
        let done = post(format!(
            "csrf={csrf}&question=comment&comment=Snelle+levering"
        ))
        .await;
        // Jan is addressed formally, on his pages as in his mail (DQ2).
        assert!(done.contains("Dank u wel!"), "{done}");

        // The answer is an event: survey_answered earns the configured 10 points, once.
        app.engine.run_until_idle().await.unwrap();
        let again = post(format!("csrf={csrf}&question=comment&comment=nog+eens")).await;
        assert!(again.contains("Dank u wel!"));
        app.engine.run_until_idle().await.unwrap();
        let l: Value = app.get_json("/v1/customers/C1/loyalty").await;
        let survey_points: i64 = l["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == "survey answered")
            .map(|e| e["points"].as_i64().unwrap())
            .sum();
        assert_eq!(survey_points, 10, "{l}");
        // The customer's export holds the answers (GDPR Art. 15); an erasure takes the
        // comment away and keeps the score for the survey's figures.
        let export = app.get_json("/v1/customers/C1/export").await;
        let answers = export["survey_answers"]
            .as_array()
            .unwrap_or_else(|| panic!("{export}"));
        assert!(
            answers
                .iter()
                .any(|a| a["score"] == 9 && a["survey"] == "nps"),
            "{answers:?}"
        );
        assert!(
            answers.iter().any(|a| a["comment"].is_string()),
            "{answers:?}"
        );
        let r = app
            .http
            .delete(format!("{}/v1/customers/C1", app.base_url))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let export = app.get_json("/v1/customers/C1/export").await;
        let answers = export["survey_answers"].as_array().unwrap();
        assert!(answers.iter().any(|a| a["score"] == 9), "{answers:?}");
        assert!(
            answers.iter().all(|a| a["comment"].is_null()),
            "{answers:?}"
        );
    }
);

both_backends!(
    a_csat_question_takes_one_to_five_only,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let mut tx = app.store.begin().await.unwrap();
        let customer = tx.customer_by_external_id("C1").await.unwrap().unwrap();
        let id = tx
            .create_survey_response(customer.id, "csat", "all", now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let url = app.page_link(aftercare_engine::links::Page::Survey, id);
        let first = app.get_text(&url).await;
        assert!(
            first.contains("Hoe tevreden bent u over Loopwerk?"),
            "{first}"
        );
        assert_eq!(first.matches("name=\"score\"").count(), 5, "{first}");
        let csrf = form_field(&first, "csrf");
        let post = |score: u8| {
            let (app, url, csrf) = (&app, url.clone(), csrf.clone());
            async move {
                let body = format!("csrf={csrf}&question=csat&score={score}");
                app.post_form(&url, body).await.1
            }
        };
        assert!(post(6).await.contains("Vraag 1 van 2"), "6 is out of range");
        assert!(post(4).await.contains("Vraag 2 van 2"));
    }
);
