//! The first programme end to end over HTTP and real SMTP in virtual time: confirmation at
//! once (PP1), thanks a day later (PP4), tips three days after delivery (PP2), a check-in
//! two weeks after (PP3). The rest of the library runs beside it.

use aftercare_domain::Clock;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

/// How many received emails have exactly this subject.
fn with_subject(app: &TestApp, subject: &str) -> usize {
    app.smtp
        .messages()
        .iter()
        .filter(|m| header(m, "Subject") == Some(subject))
        .count()
}

both_backends!(
    after_purchase_programme_runs_in_virtual_time,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut customer = jan_de_vries();
        customer["address_form"] = json!("informal");
        app.seed_shop(&customer).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        app.smtp.wait_for(1).await;
        assert_eq!(
            with_subject(&app, "Je bestelling W1 is binnen"),
            1,
            "confirmation at once"
        );

        app.advance_hours(23).await;
        assert_eq!(
            with_subject(&app, "Bedankt, Jan!"),
            0,
            "no thanks before a day has passed"
        );
        app.advance_hours(1).await;
        app.smtp.wait_for(2).await;
        assert_eq!(with_subject(&app, "Bedankt, Jan!"), 1);

        let delivered = json!({"shipment_id": "3S1", "order_external_id": "W1", "carrier": "postnl", "status": "delivered", "at": app.clock.now().to_string()});
        assert_eq!(
            app.post_json("/v1/shipment-events", &delivered).await.0,
            201
        );
        assert_eq!(
            app.post_json("/v1/shipment-events", &delivered).await.0,
            200,
            "a repeated carrier event is recorded once"
        );
        app.engine.run_until_idle().await.unwrap();
        app.smtp.wait_for(3).await;
        assert_eq!(
            with_subject(&app, "Je bestelling is bezorgd"),
            1,
            "the brand, not the carrier, says it is delivered"
        );
        app.advance_hours(72).await;
        app.smtp.wait_for(4).await;
        let tips = app
            .smtp
            .messages()
            .into_iter()
            .find(|m| m.contains("Loop de eerste week korte rondjes."))
            .expect("tips from the product's content");
        assert!(tips.contains("Beste Jan,"), "{tips}");

        app.advance_hours(11 * 24 - 1).await;
        assert_eq!(
            with_subject(&app, "Hoe bevalt je aankoop?"),
            0,
            "no check-in before eleven more days"
        );
        app.advance_hours(1).await;
        app.smtp.wait_for(5).await;
        assert_eq!(with_subject(&app, "Hoe bevalt je aankoop?"), 1);
        app.advance_hours(24 * 30).await;
        for subject in [
            "Je bestelling W1 is binnen",
            "Bedankt, Jan!",
            "Hoe bevalt je aankoop?",
            "Je bestelling is bezorgd",
        ] {
            assert_eq!(with_subject(&app, subject), 1, "{subject} exactly once");
        }
    }
);
