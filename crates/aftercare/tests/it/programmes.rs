//! The first programme end to end in virtual time: confirmation at once (PP1), thanks a day
//! later (PP4), tips three days after delivery (PP2), a check-in two weeks after (PP3).

use aftercare_domain::Clock;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    after_purchase_programme_runs_in_virtual_time,
    |backend| async move {
        let app = spawn_app(backend).await;
        let mut customer = jan_de_vries();
        customer["address_form"] = json!("informal");
        app.seed_shop(&customer).await;
        assert_eq!(app.post_json("/v1/orders", &order("W1")).await.0, 201);
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(app.smtp.wait_for(1).await.len(), 1, "confirmation at once");

        app.advance_hours(23).await;
        assert_eq!(
            app.smtp.messages().len(),
            1,
            "no thanks before a day has passed"
        );
        app.advance_hours(1).await;
        let mail = app.smtp.wait_for(2).await;
        assert!(
            mail.iter()
                .any(|m| m.contains("Bedankt, Jan!")
                    || header(m, "Subject") == Some("Bedankt, Jan!")),
            "{mail:?}"
        );

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
        app.advance_hours(72).await;
        let mail = app.smtp.wait_for(3).await;
        let tips = mail
            .iter()
            .find(|m| m.contains("Loop de eerste week korte rondjes."))
            .expect("tips from the product's content");
        assert!(tips.contains("Beste Jan,"), "{tips}");

        app.advance_hours(11 * 24 - 1).await;
        assert_eq!(
            app.smtp.messages().len(),
            3,
            "no check-in before eleven more days"
        );
        app.advance_hours(1).await;
        let mail = app.smtp.wait_for(4).await;
        assert!(
            mail.iter()
                .any(|m| header(m, "Subject") == Some("Hoe bevalt je aankoop?")),
            "{mail:?}"
        );
        app.advance_hours(24 * 30).await;
        assert_eq!(app.smtp.messages().len(), 4, "nothing more");
    }
);
