//! Issue 24: shops and shipping platforms connected without code. Payloads shaped as each
//! platform documents them (`fixtures/`), signed as the platform signs, posted to the real
//! server: they flow into the right records and messages; a forged or missing signature
//! changes nothing; a repeated delivery is ignored; a payload that does not map is kept
//! and replayed after its cause is fixed.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::both_backends;
use crate::helpers::*;

const SHOPIFY_SECRET: &str = "shpss_test_secret_0123456789abcdef";
const WOO_SECRET: &str = "woo-webhook-secret-0123456789";
const SENDCLOUD_SECRET: &str = "sendcloud-secret-key-0123456789";
const MYPARCEL_KEY: &str = "myparcel-api-key-0123456789abcdef";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/fixtures")
            .join(name),
    )
    .unwrap()
}

fn hmac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn connected(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        let table: toml::Table = toml::from_str(&format!(
            "[shopify]\nsecret = \"{SHOPIFY_SECRET}\"\n[woocommerce]\nsecret = \"{WOO_SECRET}\"\n\
             [sendcloud]\nsecret = \"{SENDCLOUD_SECRET}\"\n[myparcel]\napi_key = \"{MYPARCEL_KEY}\"\n"
        ))
        .unwrap();
        c.connectors = table.try_into().unwrap();
    })
    .await
}

/// Posts `body` as Shopify does: topic, webhook id and the body's HMAC.
async fn shopify(app: &TestApp, topic: &str, id: &str, body: &[u8]) -> (u16, Value) {
    shopify_signed(app, topic, id, body, &b64(&hmac(SHOPIFY_SECRET, body))).await
}

async fn shopify_signed(
    app: &TestApp,
    topic: &str,
    id: &str,
    body: &[u8],
    signature: &str,
) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/hooks/shopify", app.base_url))
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-webhook-id", id)
        .header("x-shopify-shop-domain", "loopwerk.myshopify.com")
        .header("x-shopify-api-version", "2025-10")
        .header("x-shopify-hmac-sha256", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn woo(app: &TestApp, topic: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/hooks/woocommerce", app.base_url))
        .header("content-type", "application/json")
        .header("x-wc-webhook-source", "https://loopwerk.example/")
        .header("x-wc-webhook-topic", topic)
        .header("x-wc-webhook-resource", topic.split('.').next().unwrap())
        .header("x-wc-webhook-event", topic.split('.').nth(1).unwrap())
        .header("x-wc-webhook-id", "12")
        .header("x-wc-webhook-delivery-id", delivery)
        .header("x-wc-webhook-signature", b64(&hmac(WOO_SECRET, body)))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn customer(app: &TestApp, id: &str) -> Option<aftercare_domain::CustomerRecord> {
    let mut tx = app.store.begin_read().await.unwrap();
    tx.customer_by_external_id(id)
        .await
        .unwrap()
        .map(|c| c.record)
}

async fn event_types(app: &TestApp) -> Vec<String> {
    let mut tx = app.store.begin_read().await.unwrap();
    let customer = tx
        .customer_by_external_id("706405506930370084")
        .await
        .unwrap()
        .unwrap();
    tx.events_of_customer(customer.id, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

both_backends!(
    shopify_customer_order_and_fulfilment_flow_into_the_right_messages,
    |backend| async move {
        let app = connected(backend).await;
        let (status, answer) = shopify(
            &app,
            "customers/create",
            "b54557e4-1",
            &fixture("shopify_customers_create.json"),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["state"], "applied");
        let anna = customer(&app, "706405506930370084").await.unwrap();
        assert_eq!(
            anna.email.as_ref().unwrap().as_str(),
            "anna.devries@example.nl"
        );
        assert_eq!(anna.locale, aftercare_domain::Locale::NlNl);
        let address = anna.postal_address.as_ref().unwrap();
        assert_eq!(
            (address.street.as_str(), address.house_number.as_str()),
            ("Prinsengracht", "263")
        );
        assert_eq!(anna.attributes["segment"], json!("runner"));
        let email = anna
            .consents
            .iter()
            .find(|c| c.channel == aftercare_domain::Channel::Email)
            .unwrap();
        assert!(email.granted);
        assert_eq!(
            email.at,
            "2026-03-01T09:11:00Z".parse::<jiff::Timestamp>().unwrap()
        );

        let (status, answer) = shopify(
            &app,
            "orders/create",
            "b54557e4-2",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let mut tx = app.store.begin_read().await.unwrap();
        let order = tx.order_by_external_id("#1001").await.unwrap().unwrap();
        assert_eq!(order.record.total_cents(), 13995, "Shopify's total_price");
        assert_eq!(
            order.record.lines.len(),
            3,
            "the socks carry the odd cent on one"
        );
        assert_eq!(order.record.lines[0].unit_price_cents, 12128);
        assert_eq!(
            order.record.lines[1].sku.as_str(),
            "shopify-variant-457924702"
        );
        let socks = tx
            .product("shopify-variant-457924702")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(socks.name, "Loopsok Merino");
        drop(tx);
        app.engine.run_until_idle().await.unwrap();
        let confirmation = app
            .message_with_template("706405506930370084", "", "order_confirmation")
            .await;
        assert_eq!(confirmation["subject"], "Je bestelling #1001 is binnen");
        let text = confirmation["body_text"].as_str().unwrap();
        // Shopify's total to the cent: a discount that does not divide over the socks
        // is carried on one of them.
        assert!(text.contains("Totaal: € 139,95"), "{text}");

        // Five hours later the parcel is handed to PostNL.
        app.advance_hours(5).await;
        let (status, answer) = shopify(
            &app,
            "fulfillments/create",
            "b54557e4-3",
            &fixture("shopify_fulfillments_create.json"),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        app.engine.run_until_idle().await.unwrap();
        let dispatch = app
            .message_with_template("706405506930370084", "", "dispatch_notice")
            .await;
        let text = dispatch["body_text"].as_str().unwrap();
        assert!(text.contains("PostNL") && text.contains("#1001"), "{text}");
        assert!(
            event_types(&app)
                .await
                .contains(&"shipment_handed_over".to_string())
        );

        // Delivered: the same fulfilment with Shopify's carrier status.
        app.advance_hours(20).await;
        let mut delivered: Value =
            serde_json::from_slice(&fixture("shopify_fulfillments_create.json")).unwrap();
        delivered["shipment_status"] = json!("delivered");
        delivered["updated_at"] = json!("2026-03-03T11:00:00+01:00");
        let body = serde_json::to_vec(&delivered).unwrap();
        let (status, answer) = shopify(&app, "fulfillments/update", "b54557e4-4", &body).await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            event_types(&app)
                .await
                .contains(&"shipment_delivered".to_string())
        );
    }
);

both_backends!(
    a_forged_or_missing_shopify_signature_changes_nothing,
    |backend| async move {
        let app = connected(backend).await;
        let body = fixture("shopify_orders_create.json");
        let before = app.counts().await;
        let forged = b64(&hmac("not-the-secret-0123456789", &body));
        let (status, answer) = shopify_signed(&app, "orders/create", "f-1", &body, &forged).await;
        assert_eq!(status, 401, "{answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains("X-Shopify-Hmac-Sha256")
        );
        let (status, _) = shopify_signed(&app, "orders/create", "f-2", &body, "").await;
        assert_eq!(status, 401);
        // A body changed after signing.
        let signature = b64(&hmac(SHOPIFY_SECRET, &body));
        let mut changed = body.clone();
        changed.extend_from_slice(b" ");
        let (status, _) = shopify_signed(&app, "orders/create", "f-3", &changed, &signature).await;
        assert_eq!(status, 401);
        assert_eq!(app.counts().await, before, "nothing stored");
        let listed = app.get_json("/v1/hook-deliveries").await;
        assert_eq!(listed["deliveries"], json!([]), "not even the delivery");
    }
);

both_backends!(a_repeated_delivery_is_ignored, |backend| async move {
    let app = connected(backend).await;
    let body = fixture("shopify_orders_create.json");
    let (status, _) = shopify(&app, "orders/create", "same-id", &body).await;
    assert_eq!(status, 200);
    let after_first = app.counts().await;
    let (status, answer) = shopify(&app, "orders/create", "same-id", &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["repeat"], json!(true), "{answer}");
    assert_eq!(app.counts().await, after_first);
    // Shopify's orders/updated for the same order adds nothing either.
    let (status, answer) = shopify(&app, "orders/updated", "other-id", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.counts().await, after_first);
    app.engine.run_until_idle().await.unwrap();
    let listed = app
        .get_json("/v1/messages?customer=706405506930370084")
        .await;
    let confirmations = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template"] == "order_confirmation")
        .count();
    assert_eq!(confirmations, 1);
});

both_backends!(
    a_fulfilment_before_its_order_is_kept_and_replayed_once_the_order_is_known,
    |backend| async move {
        let app = connected(backend).await;
        let fulfilment = fixture("shopify_fulfillments_create.json");
        let (status, answer) = shopify(&app, "fulfillments/create", "early", &fulfilment).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["field"], "order_id", "{answer}");
        let rejected = app.get_json("/v1/hook-deliveries?state=rejected").await;
        let listed = &rejected["deliveries"][0];
        assert!(
            listed.get("payload").is_none(),
            "the list leaves payloads out"
        );
        let kept = app
            .get_json(&format!("/v1/hook-deliveries/{}", listed["id"]))
            .await;
        assert_eq!(kept["topic"], "fulfillments/create");
        assert_eq!(
            kept["payload"].as_str().unwrap().as_bytes(),
            &fulfilment[..]
        );
        let (status, _) = shopify(
            &app,
            "orders/create",
            "order",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        assert_eq!(status, 200);
        let (status, answer) = app
            .post_json(
                &format!("/v1/hook-deliveries/{}/replay", kept["id"]),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["state"], "applied");
        assert!(
            event_types(&app)
                .await
                .contains(&"shipment_handed_over".to_string())
        );
        // An unknown topic is answered 200 and kept as ignored.
        let (status, answer) = shopify(&app, "app/uninstalled", "u-1", b"{}").await;
        assert_eq!((status, answer["state"].as_str()), (200, Some("ignored")));
    }
);

both_backends!(
    woocommerce_guest_order_ping_and_cancellation,
    |backend| async move {
        let app = connected(backend).await;
        // The ping when the webhook is saved in WooCommerce.
        let r = app
            .http
            .post(format!("{}/hooks/woocommerce", app.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("webhook_id=12")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body = fixture("woocommerce_order_created.json");
        let (status, answer) = woo(&app, "order.created", "d-1", &body).await;
        assert_eq!(status, 200, "{answer}");
        let guest = aftercare_engine::connectors::guest_id("pieter.janssens@example.be")
            .unwrap()
            .to_string();
        let pieter = customer(&app, &guest).await.unwrap();
        assert_eq!(pieter.locale, aftercare_domain::Locale::NlBe);
        assert_eq!(pieter.time_zone.as_str(), "Europe/Brussels");
        let mut tx = app.store.begin_read().await.unwrap();
        let order = tx.order_by_external_id("727").await.unwrap().unwrap();
        assert_eq!(
            order.record.total_cents(),
            3000,
            "what the customer paid, VAT included"
        );
        drop(tx);
        app.engine.run_until_idle().await.unwrap();
        app.message_with_template(&guest, "", "order_confirmation")
            .await;
        // Cancelled by the shop: an order_cancelled event, and the thanks is not sent.
        let mut cancelled: Value = serde_json::from_slice(&body).unwrap();
        cancelled["status"] = json!("cancelled");
        cancelled["date_modified_gmt"] = json!("2026-03-02T08:50:00");
        let (status, answer) = woo(
            &app,
            "order.updated",
            "d-2",
            &serde_json::to_vec(&cancelled).unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        app.advance_hours(48).await;
        let listed = app
            .get_json(&format!("/v1/messages?customer={guest}"))
            .await;
        let thanks: Vec<&Value> = listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["template"] == "thanks")
            .collect();
        assert!(
            thanks.iter().all(|m| m["state"] != "sent"),
            "a cancelled order is not thanked for: {listed}"
        );
        // A forged WooCommerce delivery changes nothing.
        let before = app.counts().await;
        let r = app
            .http
            .post(format!("{}/hooks/woocommerce", app.base_url))
            .header("x-wc-webhook-topic", "order.created")
            .header("x-wc-webhook-delivery-id", "d-3")
            .header(
                "x-wc-webhook-signature",
                b64(&hmac("wrong-secret-0123456789", &body)),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(app.counts().await, before);
    }
);

both_backends!(
    sendcloud_and_myparcel_report_a_delivered_parcel,
    |backend| async move {
        let app = connected(backend).await;
        shopify(
            &app,
            "orders/create",
            "o",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        app.advance_hours(5).await;
        shopify(
            &app,
            "fulfillments/create",
            "f",
            &fixture("shopify_fulfillments_create.json"),
        )
        .await;
        app.advance_hours(20).await;
        // Sendcloud: out for delivery (driver en route), linked by the order number
        // without Shopify's '#'.
        let now_ms = aftercare_domain::Clock::now(app.clock.as_ref()).as_millisecond();
        let sendcloud = serde_json::to_vec(&json!({
            "action": "parcel_status_changed",
            "timestamp": now_ms,
            "parcel": {
                "id": 4711, "name": "Anna de Vries", "tracking_number": "3SLOOP1234567",
                "order_number": "1001",
                "status": {"id": 92, "message": "Driver en route"},
                "carrier": {"code": "postnl"},
                "date_updated": "03-03-2026 08:00:00"
            }
        }))
        .unwrap();
        let post_sendcloud = |signature: String| {
            app.http
                .post(format!("{}/hooks/sendcloud", app.base_url))
                .header("content-type", "application/json")
                .header("sendcloud-signature", signature)
                .body(sendcloud.clone())
                .send()
        };
        let r = post_sendcloud("00".repeat(32)).await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let r = post_sendcloud(hex::encode(hmac(SENDCLOUD_SECRET, &sendcloud)))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        assert!(
            event_types(&app)
                .await
                .contains(&"shipment_out_for_delivery".to_string())
        );
        // The same delivery again (Sendcloud retries): nothing new.
        let before = app.counts().await;
        let r = post_sendcloud(hex::encode(hmac(SENDCLOUD_SECRET, &sendcloud)))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(app.counts().await, before);

        // MyParcel: delivered at the recipient, linked by the barcode.
        app.advance_hours(3).await;
        let myparcel = serde_json::to_vec(&json!({"data": {"hooks": [{
            "shipment_id": "25482412", "account_id": 7003, "shop_id": 1897,
            "status": 7, "barcode": "3SLOOP1234567"
        }]}}))
        .unwrap();
        let post_myparcel = |key: &str| {
            app.http
                .post(format!("{}/hooks/myparcel", app.base_url))
                .header("content-type", "application/json; charset=utf-8")
                .header("user-agent", "MyParcel/Webhook-Notifier")
                .header("x-myparcel-hook", "shipment_status_change")
                .header(
                    "x-myparcel-hookid",
                    "d91e16cbfbcfec0b17cfafb3a9bf3c1b206a9dd0",
                )
                .header("x-myparcel-authorization", b64(key.as_bytes()))
                .body(myparcel.clone())
                .send()
        };
        let r = post_myparcel("someone-elses-key-0123456789").await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let r = post_myparcel(MYPARCEL_KEY).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        assert!(
            event_types(&app)
                .await
                .contains(&"shipment_delivered".to_string())
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let shipment = tx
            .shipment_by_external_id("3SLOOP1234567")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shipment.status, "delivered");
    }
);

both_backends!(
    the_same_news_from_the_shop_and_its_shipping_platform_sends_one_message,
    |backend| async move {
        let app = connected(backend).await;
        shopify(
            &app,
            "orders/create",
            "o",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        // Marked shipped without tracking first, then the tracking number is added.
        app.advance_hours(5).await;
        let mut fulfilment: Value =
            serde_json::from_slice(&fixture("shopify_fulfillments_create.json")).unwrap();
        fulfilment["tracking_number"] = Value::Null;
        let (status, _) = shopify(
            &app,
            "fulfillments/create",
            "f1",
            &serde_json::to_vec(&fulfilment).unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        app.advance_hours(1).await;
        fulfilment["tracking_number"] = json!("3SLOOP1234567");
        fulfilment["shipment_status"] = json!("confirmed");
        fulfilment["updated_at"] = json!("2026-03-02T15:00:00+01:00");
        let (status, _) = shopify(
            &app,
            "fulfillments/update",
            "f2",
            &serde_json::to_vec(&fulfilment).unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        // Delivered, told by Shopify and by MyParcel (linked by the tracking number).
        app.advance_hours(20).await;
        fulfilment["shipment_status"] = json!("delivered");
        fulfilment["updated_at"] = json!("2026-03-03T10:00:00+01:00");
        shopify(
            &app,
            "fulfillments/update",
            "f3",
            &serde_json::to_vec(&fulfilment).unwrap(),
        )
        .await;
        let myparcel = serde_json::to_vec(&json!({"data": {"hooks": [{
            "shipment_id": "1", "account_id": 1, "shop_id": 1, "status": 7, "barcode": "3SLOOP1234567"
        }]}}))
        .unwrap();
        let r = app
            .http
            .post(format!("{}/hooks/myparcel", app.base_url))
            .header("x-myparcel-authorization", b64(MYPARCEL_KEY.as_bytes()))
            .body(myparcel)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        app.advance_hours(48).await;
        let events = event_types(&app).await;
        let count = |t: &str| events.iter().filter(|e| *e == t).count();
        assert_eq!(count("shipment_handed_over"), 1, "{events:?}");
        assert_eq!(count("shipment_delivered"), 1, "{events:?}");
        assert_eq!(
            app.store
                .count(aftercare_store::Table::Shipments)
                .await
                .unwrap(),
            1
        );
        let listed = app
            .get_json("/v1/messages?customer=706405506930370084")
            .await;
        let dispatch = listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["template"] == "dispatch_notice")
            .count();
        assert_eq!(dispatch, 1, "{listed}");
    }
);

both_backends!(
    woocommerce_deliveries_in_one_second_are_two_and_an_unpaid_order_waits,
    |backend| async move {
        let app = connected(backend).await;
        let body = fixture("woocommerce_order_created.json");
        let mut pending: Value = serde_json::from_slice(&body).unwrap();
        pending["status"] = json!("pending");
        let (status, answer) = woo(
            &app,
            "order.created",
            "same-second",
            &serde_json::to_vec(&pending).unwrap(),
        )
        .await;
        assert_eq!(
            (status, answer["state"].as_str()),
            (200, Some("ignored")),
            "{answer}"
        );
        let mut tx = app.store.begin_read().await.unwrap();
        assert!(
            tx.order_by_external_id("727").await.unwrap().is_none(),
            "not paid yet"
        );
        drop(tx);
        // Paid: WooCommerce sends the update with the same delivery id in the same second.
        let (status, answer) = woo(&app, "order.updated", "same-second", &body).await;
        assert_eq!(
            (status, answer["state"].as_str()),
            (200, Some("applied")),
            "{answer}"
        );
        let mut tx = app.store.begin_read().await.unwrap();
        assert!(tx.order_by_external_id("727").await.unwrap().is_some());
    }
);

both_backends!(
    a_partial_shopify_refund_keeps_the_points_and_a_whole_one_reverses_them,
    |backend| async move {
        let app = connected(backend).await;
        shopify(
            &app,
            "orders/create",
            "o",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        app.engine.run_until_idle().await.unwrap();
        let refund = |quantity: u32| {
            serde_json::to_vec(&json!({
                "id": 509562969, "order_id": 820982911946154508u64,
                "created_at": "2026-03-02T09:50:00+01:00", "note": "", "restock": true,
                "refund_line_items": [{"id": 1, "quantity": quantity, "line_item_id": 141249953214522974u64,
                    "restock_type": "return", "subtotal": 9.34, "total_tax": 0}],
                "transactions": []
            }))
            .unwrap()
        };
        let (status, answer) = shopify(&app, "refunds/create", "r1", &refund(1)).await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer["detail"][0]
                .as_str()
                .unwrap()
                .contains("partial refund"),
            "{answer}"
        );
        assert!(
            !event_types(&app)
                .await
                .contains(&"order_returned".to_string())
        );
        let (status, _) = shopify(&app, "refunds/create", "r2", &refund(3)).await;
        assert_eq!(status, 200);
        assert!(
            event_types(&app)
                .await
                .contains(&"order_returned".to_string())
        );
    }
);

both_backends!(
    a_customer_is_exported_whole_and_erased_by_the_api_or_by_shopify,
    |backend| async move {
        let app = connected(backend).await;
        shopify(
            &app,
            "orders/create",
            "o",
            &fixture("shopify_orders_create.json"),
        )
        .await;
        app.engine.run_until_idle().await.unwrap();
        let r = app
            .get("/v1/customers/706405506930370084/export")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("customer-706405506930370084.json")
        );
        let export: Value = r.json().await.unwrap();
        assert_eq!(export["customer"]["email"], "anna.devries@example.nl");
        assert_eq!(export["orders"].as_array().unwrap().len(), 1);
        let message = &export["messages"][0];
        assert!(
            message["message"]["body_text"]
                .as_str()
                .unwrap()
                .contains("Anna"),
            "{message}"
        );
        assert!(!message["decisions"].as_array().unwrap().is_empty());
        assert!(
            export["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == "order_placed")
        );
        for part in [
            "scores",
            "contracts",
            "engagement",
            "enrolments",
            "shipments",
            "survey_answers",
            "delivery_changes",
            "appointments",
            "retention_offers",
            "recycling_requests",
            "calls_to_the_shop",
            "referred",
        ] {
            assert!(export.get(part).is_some(), "the export names its {part}");
        }

        // Another customer's delivery, which erasing Anna must leave alone.
        let other = fixture("woocommerce_order_created.json");
        assert_eq!(woo(&app, "order.created", "w0", &other).await.0, 200);
        // Shopify forwards the customer's erasure request.
        let redact = serde_json::to_vec(&json!({
            "shop_id": 954889, "shop_domain": "loopwerk.myshopify.com",
            "customer": {"id": 706405506930370084u64, "email": "anna.devries@example.nl", "phone": "+31612345678"},
            "orders_to_redact": [820982911946154508u64]
        }))
        .unwrap();
        let (status, answer) = shopify(&app, "customers/redact", "gdpr-1", &redact).await;
        assert_eq!(status, 200, "{answer}");
        let anna = customer(&app, "706405506930370084").await.unwrap();
        assert!(anna.email.is_none() && anna.first_name.is_none() && anna.postal_address.is_none());
        let export = app
            .get_json("/v1/customers/706405506930370084/export")
            .await;
        assert!(
            export["messages"][0]["message"]["body_text"].is_null(),
            "{export}"
        );
        // What the events, enrolments and received webhooks carried goes too; no programme
        // goes on for them.
        for e in export["events"].as_array().unwrap() {
            assert_eq!(e["properties"], json!({}), "{e}");
        }
        for e in export["enrolments"].as_array().unwrap() {
            assert!(e["state"] == "exited" || e["state"] == "completed", "{e}");
        }
        let deliveries = app.get_json("/v1/hook-deliveries").await;
        let mut others = 0;
        for d in deliveries["deliveries"].as_array().unwrap() {
            let one = app
                .get_json(&format!("/v1/hook-deliveries/{}", d["id"]))
                .await;
            let payload = one["payload"].as_str().unwrap();
            assert!(!payload.contains("anna.devries"), "{one}");
            others += usize::from(payload.contains("pieter.janssens"));
        }
        assert_eq!(others, 1, "another customer's delivery is left alone");
        // Old history imported afterwards does not fill the record again.
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old-orders.jsonl");
        std::fs::write(
            &old,
            "{\"external_id\": \"#0999\", \"customer_external_id\": \"706405506930370084\", \"placed_at\": \"2025-01-02T10:00:00Z\", \"lines\": [{\"sku\": \"LW-STRIDE-4\", \"quantity\": 1, \"unit_price_cents\": 12995}]}\n",
        )
        .unwrap();
        let report = aftercare::cli::import::import_file(
            &app.engine,
            aftercare_engine::import::Kind::Orders,
            &old,
            Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.added, 0, "{report:?}");
        assert!(
            report.rejected[0].contains("old-orders.jsonl:1: customer_external_id: the customer '706405506930370084' had their personal data erased"),
            "{report:?}"
        );

        // The API's erasure, of another customer.
        let body = fixture("woocommerce_order_created.json");
        woo(&app, "order.created", "w", &body).await;
        let guest = aftercare_engine::connectors::guest_id("pieter.janssens@example.be")
            .unwrap()
            .to_string();
        let r = app
            .http
            .delete(format!("{}/v1/customers/{guest}", app.base_url))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let erased: Value = r.json().await.unwrap();
        assert_eq!(erased["erased"], true);
        assert!(customer(&app, &guest).await.unwrap().email.is_none());
        let r = app
            .http
            .delete(format!("{}/v1/customers/nobody", app.base_url))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
);

#[tokio::test]
async fn a_platform_that_is_not_configured_is_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = fixture("shopify_orders_create.json");
    let (status, _) = shopify(&app, "orders/create", "x", &body).await;
    assert_eq!(status, 404);
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

both_backends!(
    a_shopify_export_imports_as_history_once_and_the_bad_lines_are_named,
    |backend| async move {
        use aftercare::cli::import::{Options, import_file};
        use aftercare_engine::import::Kind;
        let app = connected(backend).await;
        let customers = fixture_path("shopify_customers_export.csv");
        let orders = fixture_path("shopify_orders_export.csv");
        let report = import_file(
            &app.engine,
            Kind::Customers,
            &customers,
            Options {
                points: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((report.read, report.added), (3, 2), "{report:?}");
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert!(
            report.rejected[0].ends_with("shopify_customers_export.csv:4: Email: 'sanne(at)example.nl' is not an email address")
                || report.rejected[0].contains("shopify_customers_export.csv:4: Email:"),
            "{report:?}"
        );
        let anna = customer(&app, "706405506930370084").await.unwrap();
        assert_eq!(anna.attributes["segment"], json!("runner"));
        assert!(
            anna.consents
                .iter()
                .any(|c| c.granted && c.channel == aftercare_domain::Channel::Email)
        );
        let pieter = customer(&app, "706405506930370085").await.unwrap();
        assert_eq!(pieter.locale, aftercare_domain::Locale::NlBe);
        assert_eq!(
            pieter
                .postal_address
                .as_ref()
                .unwrap()
                .house_number_addition
                .as_deref(),
            Some("bus 3")
        );

        let report = import_file(
            &app.engine,
            Kind::Orders,
            &orders,
            Options {
                points: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (report.read, report.added, report.skipped),
            (4, 2, 1),
            "#1001 and #1002 in, #1003 cancelled: {report:?}"
        );
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert!(
            report.rejected[0].contains(
                "shopify_orders_export.csv:6: Lineitem quantity (row 1): must be a whole number"
            ),
            "{report:?}"
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let first = tx.order_by_external_id("#1001").await.unwrap().unwrap();
        let anna_id = tx
            .customer_by_external_id("706405506930370084")
            .await
            .unwrap()
            .unwrap()
            .id;
        assert_eq!(
            first.customer_id, anna_id,
            "joined to the customer by the email"
        );
        assert_eq!(first.record.total_cents(), 13995, "the export's total");
        let skus: Vec<&str> = first.record.lines.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(
            skus,
            [
                "LW-STRIDE-4",
                "shopify-line-loopsok-merino-m",
                "shopify-line-loopsok-merino-m"
            ]
        );
        let second = tx.order_by_external_id("#1002").await.unwrap().unwrap();
        assert_eq!(second.record.lines[0].quantity, 3);
        assert!(tx.order_by_external_id("#1003").await.unwrap().is_none());
        let anna = tx
            .customer_by_external_id("706405506930370084")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            anna.record.customer_since.map(|d| d.to_string()).as_deref(),
            Some("2025-06-02"),
            "the first purchase makes the anniversary"
        );
        drop(tx);

        // History is history: nothing is sent about it. (Today, 2 March, is Anna's monthly
        // day — she joined on 2 June — so the calendar's inspiration may speak to her now,
        // about now: a general one, not "new" products that the shop has sold for months.)
        app.engine.run_until_idle().await.unwrap();
        for who in ["706405506930370084", "706405506930370085"] {
            let sent = app.get_json(&format!("/v1/messages?customer={who}")).await;
            for m in sent["messages"].as_array().unwrap() {
                assert_eq!(m["programme_id"], "inspiration", "{sent}");
                let full = app.get_json(&format!("/v1/messages/{}", m["id"])).await;
                let subject = full["message"]["subject"].as_str().unwrap();
                assert!(!subject.contains("Nieuw"), "{subject}");
            }
        }
        let loyalty = app
            .get_json("/v1/customers/706405506930370084/loyalty")
            .await;
        assert!(
            loyalty["balance"].as_i64().unwrap() > 0,
            "points as earned: {loyalty}"
        );

        // Again: the file goes on after its last line (the rejected one is reported once)
        // and adds nothing; from the start, it reads every line again and adds nothing.
        let before = app.counts().await;
        let again = import_file(
            &app.engine,
            Kind::Orders,
            &orders,
            Options {
                points: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (again.resumed_after, again.read, again.rejected_count),
            (Some(6), 0, 0),
            "{again:?}"
        );
        let from_start = import_file(
            &app.engine,
            Kind::Orders,
            &orders,
            Options {
                from_start: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (
                from_start.read,
                from_start.added,
                from_start.known,
                from_start.rejected_count
            ),
            (4, 0, 2, 1),
            "{from_start:?}"
        );
        // The same rows in another file (a new export): every item is known by its key.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("orders_export_again.csv");
        let mut text = std::fs::read_to_string(&orders).unwrap();
        text.push('\n');
        std::fs::write(&copy, text).unwrap();
        let again = import_file(
            &app.engine,
            Kind::Orders,
            &copy,
            Options {
                points: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((again.added, again.known), (0, 2), "{again:?}");
        let copy = dir.path().join("customers_export_again.csv");
        let mut text = std::fs::read_to_string(&customers).unwrap();
        text.push('\n');
        std::fs::write(&copy, text).unwrap();
        let again = import_file(
            &app.engine,
            Kind::Customers,
            &copy,
            Options {
                points: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((again.added, again.known), (0, 2), "{again:?}");
        assert_eq!(app.counts().await, before);
    }
);

#[tokio::test]
async fn a_dry_run_reads_every_line_and_stores_nothing() {
    use aftercare::cli::import::{Options, import_file};
    use aftercare_engine::import::Kind;
    let app = spawn_app(Backend::Sqlite).await;
    let before = app.counts().await;
    let report = import_file(
        &app.engine,
        Kind::Orders,
        &fixture_path("shopify_orders_export.csv"),
        Options {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (report.read, report.skipped, report.rejected.len()),
        (4, 1, 1),
        "{report:?}"
    );
    assert_eq!(app.counts().await, before);
}

both_backends!(
    an_unsubscribe_in_aftercare_is_told_to_the_shop,
    |backend| async move {
        use crate::webhooks::{Receiver, SECRET};
        let (shop, url) = Receiver::start().await;
        let app = spawn_app_with(backend, move |c| {
            c.webhooks.insert(
                "shop".into(),
                aftercare_domain::webhooks::WebhookTarget {
                    url,
                    secret: SECRET.into(),
                },
            );
            c.tracking.allow_private_targets = true;
            c.connectors.consent_webhook = Some("shop".into());
        })
        .await;
        let mut jan = jan_de_vries();
        jan["consents"] = json!([{"purpose": "marketing", "channel": "email", "granted": true,
            "source": "checkout", "at": "2026-01-01T10:00:00Z"}]);
        app.seed_shop(&jan).await;
        let mut tx = app.store.begin_read().await.unwrap();
        let id = tx.customer_by_external_id("C1").await.unwrap().unwrap().id;
        drop(tx);
        let link = app.page_link(aftercare_engine::links::Page::Unsubscribe, id);
        for _ in 0..2 {
            let r = app
                .http
                .post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
        app.engine.run_until_idle().await.unwrap();
        let calls = shop.calls();
        assert_eq!(
            calls.len(),
            1,
            "once, though the customer clicked twice: {calls:?}"
        );
        let call = &calls[0];
        assert_eq!(call["_valid"], true, "signed: {call}");
        assert_eq!(call["event"], "customer.consent_changed");
        assert_eq!(call["customer"]["external_id"], "C1");
        assert_eq!(call["consents"][0]["granted"], false);
        assert_eq!(call["consents"][0]["channel"], "email");
        assert_eq!(call["consents"][0]["source"], "list_unsubscribe");
    }
);

both_backends!(
    the_demo_shop_written_as_a_shopify_export_imports_as_the_same_orders,
    |backend| async move {
        use aftercare::cli::import::{Options, import_file};
        use aftercare_engine::import::Kind;
        use aftercare_lab::demo_data::ShopAction;
        let app = spawn_app(backend).await;
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let day = jiff::SignedDuration::from_hours(24);
        let plan = aftercare_lab::shop::plan(7, 40, now - day * 365, now - day * 30, now);
        let dir = tempfile::tempdir().unwrap();
        let written = aftercare_lab::shopify_export::write(
            dir.path(),
            &plan.customers,
            &plan.catalogue,
            &plan.actions,
            now,
        )
        .unwrap();
        assert!(written.orders > 40, "{written:?}");
        let customers = import_file(
            &app.engine,
            Kind::Customers,
            &dir.path().join("customers_export.csv"),
            Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(customers.read as usize, written.customers, "{customers:?}");
        let orders = import_file(
            &app.engine,
            Kind::Orders,
            &dir.path().join("orders_export.csv"),
            Options::default(),
        )
        .await
        .unwrap();
        // Every order of a customer with an email comes in, line for line; one without an
        // email (as a shop's point-of-sale order) is named as rejected.
        let emails: std::collections::HashMap<String, bool> = plan
            .customers
            .iter()
            .cloned()
            .chain(plan.actions.iter().filter_map(|(_, a)| match a {
                ShopAction::NewCustomer(c) => Some((**c).clone()),
                _ => None,
            }))
            .map(|c| (c.external_id.to_string(), c.email.is_some()))
            .collect();
        let mut tx = app.store.begin_read().await.unwrap();
        let mut expected = 0;
        for (_, a) in plan.actions.iter().filter(|(t, _)| *t < now) {
            let ShopAction::Order(o) = a else { continue };
            let stored = tx
                .order_by_external_id(o.external_id.as_str())
                .await
                .unwrap();
            if !emails[o.customer_external_id.as_str()] {
                assert!(stored.is_none());
                continue;
            }
            expected += 1;
            let stored = stored.unwrap_or_else(|| panic!("{} missing: {orders:?}", o.external_id));
            let customer = tx.customer(stored.customer_id).await.unwrap();
            assert_eq!(customer.record.external_id, o.customer_external_id);
            assert_eq!(stored.record.lines, o.lines, "{}", o.external_id);
            // Shopify's export writes whole seconds.
            assert_eq!(stored.record.placed_at.as_second(), o.placed_at.as_second());
        }
        assert_eq!(orders.added as usize, expected, "{orders:?}");
        assert_eq!(
            orders.added as usize + orders.rejected.len(),
            written.orders,
            "{orders:?}"
        );
    }
);

both_backends!(
    own_order_lines_import_in_bulk_as_history_once_and_a_bad_line_is_named,
    |backend| async move {
        use aftercare::cli::import::{Options, import_file};
        use aftercare_engine::import::Kind;
        use aftercare_store::Table;
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lines: &[serde_json::Value]| {
            let file = dir.path().join(name);
            let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            std::fs::write(&file, text.join("\n") + "\n").unwrap();
            file
        };
        // Customers in bulk: C1 is known, C3 is named twice and the second line wins.
        let customers: Vec<serde_json::Value> =
            [(1, "Jan"), (2, "Els"), (3, "Piet"), (3, "Pieter")]
                .iter()
                .map(|(i, name)| {
                    let mut c = jan_de_vries();
                    c["external_id"] = json!(format!("C{i}"));
                    c["email"] = json!(format!("klant{i}@example.nl"));
                    c["first_name"] = json!(name);
                    c
                })
                .collect();
        let file = write("customers.jsonl", &customers);
        let report = import_file(&app.engine, Kind::Customers, &file, Options::default())
            .await
            .unwrap();
        assert_eq!((report.added, report.known), (2, 2), "{report:?}");
        assert_eq!(
            customer(&app, "C3").await.unwrap().first_name.as_deref(),
            Some("Pieter")
        );
        assert_eq!(
            customer(&app, "C1").await.unwrap().email.unwrap().as_str(),
            "klant1@example.nl"
        );
        app.engine.run_until_idle().await.unwrap();
        let jobs = app.store.count(Table::Jobs).await.unwrap();
        let events = app.store.count(Table::Events).await.unwrap();
        // Four orders a customer, a month apart: the first of each makes the customer's
        // anniversary (one by one), the rest go in bulk; one line names no product.
        let mut lines = Vec::new();
        for month in 1..=4 {
            for c in 1..=3 {
                lines.push(json!({
                    "external_id": format!("H{c}-{month}"),
                    "customer_external_id": format!("C{c}"),
                    "placed_at": format!("2025-0{month}-1{c}T10:00:00Z"),
                    "lines": [{"sku": "LW-STRIDE-4", "quantity": month, "unit_price_cents": 12995}]
                }));
            }
        }
        let file = write("orders.jsonl", &lines);
        let report = import_file(&app.engine, Kind::Orders, &file, Options::default())
            .await
            .unwrap();
        assert_eq!((report.read, report.added), (12, 12), "{report:?}");
        assert!(report.rejected.is_empty(), "{report:?}");
        assert_eq!(app.store.count(Table::Orders).await.unwrap(), 12);
        assert_eq!(
            app.store.count(Table::Events).await.unwrap(),
            events + 12,
            "each order on its customer's timeline"
        );
        assert_eq!(
            app.store.count(Table::Jobs).await.unwrap(),
            jobs,
            "history enrols nobody"
        );
        let export = app.get_json("/v1/customers/C2/export").await;
        let orders = export["orders"].as_array().expect("orders in the export");
        assert_eq!(orders.len(), 4, "{export}");
        let quantities: std::collections::BTreeSet<i64> = orders
            .iter()
            .map(|o| o["lines"][0]["quantity"].as_i64().unwrap())
            .collect();
        assert_eq!(quantities, (1..=4).collect(), "every order with its line");
        let c2 = customer(&app, "C2").await.unwrap();
        assert_eq!(c2.customer_since, Some("2025-01-12".parse().unwrap()));

        let before = app.counts().await;
        let again = import_file(
            &app.engine,
            Kind::Orders,
            &file,
            Options {
                from_start: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((again.added, again.known), (0, 12), "{again:?}");
        assert_eq!(app.counts().await, before, "a second run adds nothing");

        // A line that cannot be stored is named; the rest of its batch goes in.
        let more = write(
            "more.jsonl",
            &[
                json!({"external_id": "H9", "customer_external_id": "C1",
                    "placed_at": "2025-05-01T10:00:00Z",
                    "lines": [{"sku": "NOPE", "quantity": 1, "unit_price_cents": 100}]}),
                json!({"external_id": "H10", "customer_external_id": "C3",
                    "placed_at": "2025-05-13T10:00:00Z",
                    "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995}]}),
            ],
        );
        let report = import_file(&app.engine, Kind::Orders, &more, Options::default())
            .await
            .unwrap();
        assert_eq!((report.read, report.added), (2, 1), "{report:?}");
        assert!(
            report.rejected[0].contains("more.jsonl:1: lines[0].sku: no product with sku 'NOPE'"),
            "{report:?}"
        );
        assert_eq!(app.store.count(Table::Orders).await.unwrap(), 13);
    }
);

both_backends!(
    own_csv_and_a_woocommerce_order_export_import_as_history_once,
    |backend| async move {
        use aftercare::cli::import::{Options, import_file};
        use aftercare_engine::import::Kind;
        let app = spawn_app(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        // A Dutch spreadsheet's own-field CSV (semicolons), with consents and an address.
        let customers = write(
            "klanten.csv",
            "external_id;email;first_name;last_name;address_form;postal_address.street;postal_address.house_number;postal_address.postcode;postal_address.city;postal_address.country;consents.marketing.email;consents_at\n\
             K1;anna@example.nl;Anna;Jansen;informal;Kerkstraat;12;1012 AB;Amsterdam;NL;yes;2025-01-02T10:00:00Z\n\
             K2;nobody-at-example;Piet;;;;;;;;;\n",
        );
        let report = import_file(&app.engine, Kind::Customers, &customers, Options::default())
            .await
            .unwrap();
        assert_eq!((report.added, report.rejected_count), (1, 1), "{report:?}");
        assert!(
            report.rejected[0].contains("klanten.csv:3: email:"),
            "{report:?}"
        );
        // WooCommerce's order export: K1's account (customer 5 in the shop) and a guest.
        let orders = write(
            "woo-orders.csv",
            "order_id,order_number,order_date,status,order_currency,customer_id,billing_first_name,billing_last_name,billing_email,billing_address_1,billing_postcode,billing_city,billing_country,line_item_1,line_item_2\n\
             71,1071,2025-09-02 09:30:00,wc-completed,EUR,K1,Anna,Jansen,anna@example.nl,Kerkstraat 12,1012 AB,Amsterdam,NL,name:Stride 4|sku:LW-STRIDE-4|quantity:1|total:107.40|tax:22.55,name:Sok|product_id:37|quantity:2|total:16.53|tax:3.47\n\
             72,1072,2025-10-03 10:00:00,processing,EUR,0,Sanne,Smit,sanne@example.be,Rue de la Loi 16,1000,Brussel,BE,name:Sok|product_id:37|quantity:1|total:8.26|tax:1.74,\n\
             73,1073,2025-10-04 10:00:00,failed,EUR,0,Sanne,Smit,sanne@example.be,Rue de la Loi 16,1000,Brussel,BE,name:Sok|product_id:37|quantity:1|total:8.26|tax:1.74,\n",
        );
        let before_jobs = app.counts().await;
        let report = import_file(&app.engine, Kind::Orders, &orders, Options::default())
            .await
            .unwrap();
        assert_eq!(
            (report.added, report.skipped, report.rejected_count),
            (2, 1, 0),
            "{report:?}"
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let anna = tx.order_by_external_id("1071").await.unwrap().unwrap();
        assert_eq!(anna.record.total_cents(), 12995 + 2000, "with the VAT paid");
        assert_eq!(
            anna.customer_id,
            tx.customer_by_external_id("K1").await.unwrap().unwrap().id
        );
        let guest = aftercare_engine::connectors::guest_id("sanne@example.be").unwrap();
        let sanne = tx
            .customer_by_external_id(guest.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sanne.record.first_name.as_deref(), Some("Sanne"));
        assert!(tx.order_by_external_id("1073").await.unwrap().is_none());
        drop(tx);
        // History: no job, no message; and the same files again add nothing.
        let after = app.counts().await;
        assert_eq!(after[5], before_jobs[5], "no job from history");
        assert_eq!(after[6], 0, "no message");
        for (kind, file) in [(Kind::Customers, &customers), (Kind::Orders, &orders)] {
            let again = import_file(
                &app.engine,
                kind,
                file,
                Options {
                    from_start: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(again.added, 0, "{again:?}");
        }
        assert_eq!(app.counts().await, after);
    }
);

both_backends!(
    history_uploaded_over_the_api_is_imported_by_a_worker_as_history_once,
    |backend| async move {
        let app = spawn_app(backend).await;
        let post = |query: &str, body: String, key: Option<&str>| {
            let mut r = app
                .http
                .post(format!("{}/v1/imports?{query}", app.base_url))
                .bearer_auth(&app.token)
                .header("content-type", "application/x-ndjson")
                .body(body);
            if let Some(k) = key {
                r = r.header("idempotency-key", k);
            }
            r.send()
        };
        let customers: String = (0..1100)
            .map(|i| {
                let email = if i == 7 {
                    "not-an-address".to_string()
                } else {
                    format!("klant{i}@example.nl")
                };
                format!("{{\"external_id\": \"U{i}\", \"email\": \"{email}\"}}\n")
            })
            .collect();
        let r = post("kind=customers", customers.clone(), Some("k-1"))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let queued: Value = r.json().await.unwrap();
        assert_eq!(queued["state"], "queued", "{queued}");
        assert_eq!(queued["format"], "jsonl");
        let id = queued["id"].as_i64().unwrap();
        // A retry with the same key is the same import.
        let again = post("kind=customers", customers, Some("k-1"))
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 202);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap()["id"], id);

        app.engine.run_until_idle().await.unwrap();
        let done = app.get_json(&format!("/v1/imports/{id}")).await;
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(
            (done["added"].as_u64(), done["rejected_count"].as_u64()),
            (Some(1099), Some(1))
        );
        assert!(
            done["rejected"][0]
                .as_str()
                .unwrap()
                .starts_with(&format!("upload-{id}:8: email:")),
            "{done}"
        );

        // Orders of those customers: history, so nothing is sent about them.
        let orders: String = (0..30)
            .map(|i| {
                format!(
                    "{{\"external_id\": \"UO{i}\", \"customer_external_id\": \"U{}\", \"placed_at\": \"2025-0{}-02T10:00:00Z\", \"lines\": [{{\"sku\": \"LW-SOCK\", \"quantity\": 1, \"unit_price_cents\": 1295}}]}}\n",
                    i + 10,
                    1 + i % 9
                )
            })
            .collect();
        let sock =
            json!({"sku": "LW-SOCK", "name": "Loopsok", "category": "socks", "price_cents": 1295});
        assert_eq!(app.post_json("/v1/products", &sock).await.0, 200);
        let r = post("kind=orders", orders, None).await.unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let order_import = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        app.engine.run_until_idle().await.unwrap();
        let done = app.get_json(&format!("/v1/imports/{order_import}")).await;
        assert_eq!(
            (done["state"].as_str(), done["added"].as_u64()),
            (Some("done"), Some(30)),
            "{done}"
        );
        let counts = app.counts().await;
        assert_eq!(counts[2], 30, "orders stored");
        assert_eq!(counts[6], 0, "no message about the past");
        let list = app.get_json("/v1/imports?limit=1").await;
        assert_eq!(list["imports"][0]["id"], order_import);
        assert_eq!(list["next_before"], order_import);

        // What is not a file Aftercare reads, or not a kind, is refused at once.
        let before = app.counts().await;
        let r = post("kind=orders", "hello\n".into(), None).await.unwrap();
        assert_eq!(r.status().as_u16(), 422);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "body");
        let r = post("kind=invoices", "{}\n".into(), None).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "kind");
        assert_eq!(app.counts().await, before);
        let list = app.get_json("/v1/imports").await;
        assert_eq!(list["imports"].as_array().unwrap().len(), 2);

        // At most eight uploads wait for a worker at once (each holds its file).
        let one = "{\"external_id\": \"U1\"}\n".to_string();
        for _ in 0..8 {
            let r = post("kind=customers&dry_run=true", one.clone(), None)
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202);
        }
        let r = post("kind=customers", one.clone(), None).await.unwrap();
        assert_eq!(r.status().as_u16(), 409);
        let refused: Value = r.json().await.unwrap();
        assert_eq!(refused["code"], "imports_waiting", "{refused}");
        app.engine.run_until_idle().await.unwrap();
        let r = post("kind=customers", one, None).await.unwrap();
        assert_eq!(r.status().as_u16(), 202, "room again once they ran");
    }
);

/// An upload's import runs a slice at a time, each slice going on from the last
/// committed line: stopped after every batch, it still stores every line once.
#[tokio::test]
async fn an_import_stopped_after_each_batch_goes_on_where_it_stopped() {
    use aftercare_engine::import::files::Format;
    use aftercare_engine::import::run::{Finished, Options, Report, Source, run};
    let app = spawn_app(Backend::Sqlite).await;
    let text: String = (0..1234)
        .map(|i| format!("{{\"external_id\": \"S{i}\"}}\n"))
        .collect();
    let source = Source {
        name: "slices",
        key: "test:slices",
        kind: aftercare_engine::import::Kind::Customers,
        format: Format::JsonLines,
        upload: None,
    };
    let mut report = Report::default();
    let mut runs = 0;
    loop {
        runs += 1;
        let stream = Box::new(std::io::Cursor::new(text.clone().into_bytes()));
        let finished = run(
            &app.engine,
            source,
            stream,
            Options::default(),
            &mut report,
            Some(1),
        )
        .await
        .unwrap();
        if finished == Finished::Yes {
            break;
        }
    }
    assert_eq!(runs, 3, "two full batches of 500, then the rest");
    assert_eq!((report.added, report.known), (1234, 0), "{report:?}");
    assert_eq!(app.counts().await[0], 1234);
}

both_backends!(
    a_checkout_left_gets_one_reminder_and_one_that_became_an_order_none_ch3,
    |backend| async move {
        let app = connected(backend).await;
        let in_holdout =
            |id: &str| aftercare_engine::worker::in_holdout("abandoned-checkout", id, 0.1);
        // Sanne's Shopify id, chosen outside the programme's 10% holdout.
        let sanne = (207_119_551_u64..)
            .map(|n| n.to_string())
            .find(|id| !in_holdout(id))
            .unwrap();
        // Anna's too (the order fixture's customer, renumbered).
        let anna_id = (706_405_506_930_370_084_u64..)
            .map(|n| n.to_string())
            .find(|id| !in_holdout(id))
            .unwrap();
        let checkout = String::from_utf8(fixture("shopify_checkouts_create.json"))
            .unwrap()
            .replace("207119551", &sanne);
        let (status, answer) =
            shopify(&app, "checkouts/create", "chk-1", checkout.as_bytes()).await;
        assert_eq!(status, 200, "{answer}");
        // Every change to the cart is an update of the same checkout: recorded once.
        let (status, answer) =
            shopify(&app, "checkouts/update", "chk-2", checkout.as_bytes()).await;
        assert_eq!(status, 200, "{answer}");
        // Anna takes a cart to the checkout too, then orders within the hour.
        let mut anna: Value = serde_json::from_str(&checkout).unwrap();
        anna["token"] = "anna-token".into();
        anna["email"] = "anna.devries@example.nl".into();
        anna["customer"]["id"] = anna_id.parse::<u64>().unwrap().into();
        anna["customer"]["email"] = "anna.devries@example.nl".into();
        let anna = serde_json::to_vec(&anna).unwrap();
        assert_eq!(
            shopify(&app, "checkouts/create", "chk-3", &anna).await.0,
            200
        );
        // A checkout that was completed became an order: nothing to remind of.
        let mut done: Value = serde_json::from_str(&checkout).unwrap();
        done["token"] = "done-token".into();
        done["completed_at"] = "2026-03-02T09:45:00+01:00".into();
        let (_, answer) = shopify(
            &app,
            "checkouts/update",
            "chk-4",
            &serde_json::to_vec(&done).unwrap(),
        )
        .await;
        assert_eq!(answer["state"], "ignored", "{answer}");
        app.engine.run_until_idle().await.unwrap();
        app.advance_hours(1).await;
        let order = String::from_utf8(fixture("shopify_orders_create.json"))
            .unwrap()
            .replace("706405506930370084", &anna_id);
        assert_eq!(
            shopify(&app, "orders/create", "o-1", order.as_bytes())
                .await
                .0,
            200
        );
        app.advance_hours(5).await;

        let reminder = app
            .message_with_template(&sanne, "&state=sent", "checkout_reminder")
            .await;
        let body = reminder["body_text"].as_str().unwrap();
        assert!(
            body.contains("1 × Stride 4 hardloopschoen: € 129,95")
                && body.contains("/checkouts/ab3f2c4d5e6f7a8b9c0d1e2f3a4b5c6d/recover"),
            "{body}"
        );
        let sent = app
            .get_json(&format!("/v1/messages?customer={sanne}"))
            .await;
        let reminders = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["template"] == "checkout_reminder")
            .count();
        assert_eq!(reminders, 1, "one reminder for one checkout: {sent}");
        let anna = app
            .get_json(&format!("/v1/messages?customer={anna_id}"))
            .await;
        assert!(
            anna["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["template"] == "order_confirmation"),
            "the order went in: {anna}"
        );
        assert!(
            anna["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["template"] != "checkout_reminder"),
            "the cart became an order: {anna}"
        );
    }
);

both_backends!(
    a_product_looked_at_is_remembered_once_unless_they_order_ch3,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let ids: Vec<String> = (0..50)
            .map(|i| format!("V{i}"))
            .filter(|id| !aftercare_engine::worker::in_holdout("browsed-product", id, 0.1))
            .take(2)
            .collect();
        let (looker, buyer) = (&ids[0], &ids[1]);
        for id in &ids {
            let mut c = jan_de_vries();
            c["external_id"] = id.as_str().into();
            c["consents"] = json!([
                {"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"},
                {"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}
            ]);
            assert_eq!(app.post_json("/v1/customers", &c).await.0, 201);
        }
        let viewed = |who: &str, sku: &str| {
            json!({"events": [{"type": "product_viewed", "customer_external_id": who,
                "at": "2026-03-02T08:59:00Z", "properties": {"sku": sku}}]})
        };
        // A product the catalogue does not have is named as the problem; nothing stored.
        let before = app.counts().await;
        let (status, body) = app.post_json("/v1/events", &viewed(looker, "NOPE")).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["field"], "events[0].properties.sku", "{body}");
        assert_eq!(app.counts().await, before);
        for who in [looker, buyer] {
            let (status, body) = app
                .post_json("/v1/events", &viewed(who, "LW-STRIDE-4"))
                .await;
            assert_eq!(status, 202, "{body}");
        }
        app.engine.run_until_idle().await.unwrap();
        let mut o = order("VO1");
        o["customer_external_id"] = buyer.as_str().into();
        assert_eq!(app.post_json("/v1/orders", &o).await.0, 201);
        app.advance_hours(30).await;
        let reminder = app
            .message_with_template(looker, "&state=sent", "viewed_product")
            .await;
        assert!(
            reminder["body_text"]
                .as_str()
                .unwrap()
                .contains("Stride 4 hardloopschoen (€ 129,95)"),
            "{reminder}"
        );
        // Looking again within the month says nothing more; the buyer heard nothing.
        let (status, _) = app
            .post_json("/v1/events", &viewed(looker, "LW-STRIDE-4"))
            .await;
        assert_eq!(status, 202);
        app.advance_hours(30).await;
        for (who, expected) in [(looker, 1), (buyer, 0)] {
            let sent = app.get_json(&format!("/v1/messages?customer={who}")).await;
            let n = sent["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["template"] == "viewed_product")
                .count();
            assert_eq!(n, expected, "{who}: {sent}");
        }
    }
);

both_backends!(
    a_code_used_at_the_shop_s_checkout_is_redeemed_once_whatever_comes_first,
    |backend| async move {
        let app = connected(backend).await;
        // Anna is known first (a customers/create), then gets a code from Aftercare.
        let order = fixture("shopify_orders_create.json");
        let mut first: Value = serde_json::from_slice(&order).unwrap();
        let anna = first["customer"].clone();
        let (status, _) = shopify(
            &app,
            "customers/create",
            "c-1",
            &serde_json::to_vec(&anna).unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let (status, issued) = app
            .post_json(
                "/v1/customers/706405506930370084/coupons",
                &json!({"pool": "referral"}),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        let code = issued["code"].as_str().unwrap().to_string();
        // The order comes in with that code and the shop's own welcome code (placed after
        // the code was issued; a time ahead of Aftercare's clock counts as now).
        first["created_at"] = "2026-03-02T12:00:00+01:00".into();
        first["discount_codes"] = json!([
            {"code": code.to_lowercase(), "amount": "10.00", "type": "fixed_amount"},
            {"code": "WELKOM10", "amount": "0.00", "type": "fixed_amount"}
        ]);
        let body = serde_json::to_vec(&first).unwrap();
        let (status, answer) = shopify(&app, "orders/create", "o-1", &body).await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer["detail"].to_string().contains("redeemed"),
            "{answer}"
        );
        let coupon = app.get_json(&format!("/v1/coupons/{code}")).await;
        assert_eq!(coupon["uses"], 1, "{coupon}");
        // The same order again (orders/paid), and the shop's own redemption call for it,
        // change nothing.
        assert_eq!(shopify(&app, "orders/paid", "o-2", &body).await.0, 200);
        let r = app
            .post(&format!("/v1/coupons/{code}/redemptions"))
            .json(
                &json!({"order_external_id": "#1001", "order_total_cents": 14995,
                "customer_external_id": "706405506930370084"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "already by this order");
        let coupon = app.get_json(&format!("/v1/coupons/{code}")).await;
        assert_eq!(coupon["uses"], 1, "{coupon}");
    }
);

/// A stand-in for a shop's admin API on loopback: records each request (path, the auth it
/// came with, body; a GET's body is null) and answers a body naming the `failing` code
/// with a 500, else with the replies queued, then `otherwise`.
#[derive(Clone)]
struct ShopApi {
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>,
    replies: std::sync::Arc<std::sync::Mutex<Vec<(u16, String)>>>,
    failing: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    otherwise: (u16, String),
}

impl ShopApi {
    async fn start(otherwise: (u16, &str)) -> (Self, String) {
        use axum::extract::State;
        let api = ShopApi {
            calls: Default::default(),
            replies: Default::default(),
            failing: Default::default(),
            otherwise: (otherwise.0, otherwise.1.to_string()),
        };
        async fn answer(
            State(api): State<ShopApi>,
            method: axum::http::Method,
            uri: axum::http::Uri,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> (axum::http::StatusCode, String) {
            let auth = headers
                .get("x-shopify-access-token")
                .or_else(|| headers.get("authorization"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let fails = api
                .failing
                .lock()
                .unwrap()
                .iter()
                .any(|code| body.to_string().contains(code.as_str()));
            api.calls
                .lock()
                .unwrap()
                .push((uri.path().to_string(), auth, body));
            let (status, text) = {
                let mut r = api.replies.lock().unwrap();
                if fails {
                    (500, "Internal Server Error".to_string())
                } else if r.is_empty() && method == axum::http::Method::GET {
                    // WooCommerce's coupon list (the harmless question).
                    (200, "[]".to_string())
                } else if r.is_empty() {
                    api.otherwise.clone()
                } else {
                    r.remove(0)
                }
            };
            (axum::http::StatusCode::from_u16(status).unwrap(), text)
        }
        let app = axum::Router::new()
            .fallback(axum::routing::any(answer))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (api, base)
    }

    fn calls(&self) -> Vec<(String, String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    fn reply(&self, status: u16, body: &str) {
        self.replies.lock().unwrap().push((status, body.into()));
    }

    fn fail_on(&self, code: &str) {
        *self.failing.lock().unwrap() = vec![code.into()];
    }

    fn fail_on_all(&self, codes: &[&String]) {
        *self.failing.lock().unwrap() = codes.iter().map(|c| c.to_string()).collect();
    }

    /// The codes sent, in order (WooCommerce's `code`).
    fn codes(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter_map(|(_, _, body)| body["code"].as_str().map(str::to_string))
            .collect()
    }

    /// The harmless questions asked (WooCommerce: a GET of the coupon list).
    fn probes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|(_, _, body)| body.is_null())
            .count()
    }
}

const SHOPIFY_MADE: &str = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1"},"userErrors":[]}}}"#;

/// Issues a code from `pool` to the customer `external_id` (as a programme step would).
async fn issue(app: &TestApp, pool: &str, external_id: &str) -> String {
    let pool = app.engine.loyalty().pool(pool).unwrap().clone();
    let mut tx = app.store.begin().await.unwrap();
    let customer = tx
        .customer_by_external_id(external_id)
        .await
        .unwrap()
        .unwrap();
    let now = aftercare_domain::Clock::now(app.clock.as_ref());
    let coupon =
        aftercare_engine::loyalty::issue_coupon(&mut tx, &pool, Some(customer.id), "test", now)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    coupon.display_code
}

/// A WooCommerce stand-in answering 201, the app creating its codes there, and Jan (C1).
async fn woocommerce_shop(backend: Backend) -> (ShopApi, TestApp) {
    let (shop, base) = ShopApi::start((201, "{}")).await;
    let url = format!("{base}/wp-json/wc/v3/coupons");
    let app = spawn_app_with(backend, |c| {
        c.connectors.shop_codes = Some(aftercare_domain::webhooks::ShopCodes {
            platform: aftercare_domain::webhooks::ShopPlatform::WooCommerce,
            url: url.clone(),
            token: "ck_0123:cs_4567".into(),
        });
        c.tracking.allow_private_targets = true;
    })
    .await;
    app.seed_shop(&jan_de_vries()).await;
    (shop, app)
}

async fn in_shop(app: &TestApp, code: &str) -> Value {
    app.get_json(&format!("/v1/coupons/{code}")).await["in_shop"].clone()
}

both_backends!(
    codes_aftercare_issues_are_created_in_shopify_once_with_their_terms,
    |backend| async move {
        let (shop, base) = ShopApi::start((200, SHOPIFY_MADE)).await;
        let url = format!("{base}/admin/api/2025-10/graphql.json");
        let app = spawn_app_with(backend, |c| {
            c.connectors.shop_codes = Some(aftercare_domain::webhooks::ShopCodes {
                platform: aftercare_domain::webhooks::ShopPlatform::Shopify,
                url: url.clone(),
                token: "shpat_0123456789abcdef".into(),
            });
            c.tracking.allow_private_targets = true;
        })
        .await;
        let mut customer = jan_de_vries();
        customer["external_id"] = json!("706405506930370084");
        assert_eq!(app.post_json("/v1/customers", &customer).await.0, 201);
        let early = issue(&app, "early-access", "706405506930370084").await;
        // Shopify is down at first: nothing is refused, and it is tried again later.
        shop.reply(503, "Service Unavailable");
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(shop.calls().len(), 1);
        let waiting = in_shop(&app, &early).await;
        assert_eq!(waiting["state"], "waiting", "{waiting}");
        assert_eq!(waiting["tries"], 0, "a shop that is down counts no tries");
        assert!(
            waiting["note"].as_str().unwrap().contains("503"),
            "{waiting}"
        );
        app.advance_hours(1).await;
        let calls = shop.calls();
        assert_eq!(calls.len(), 2, "tried again once the shop had a minute");
        let (path, token, body) = &calls[1];
        assert_eq!(path, "/admin/api/2025-10/graphql.json");
        assert_eq!(token, "shpat_0123456789abcdef");
        let input = &body["variables"]["basicCodeDiscount"];
        assert_eq!(input["code"], early.as_str());
        assert_eq!(input["customerGets"]["value"]["percentage"], 0.15);
        assert_eq!(
            input["context"]["customers"]["add"][0], "gid://shopify/Customer/706405506930370084",
            "a personal code is for its customer only"
        );
        assert!(
            body["query"]
                .as_str()
                .unwrap()
                .contains("discountCodeBasicCreate")
        );
        assert_eq!(in_shop(&app, &early).await["state"], "created");

        // A token that lost its scope is about the connection, not the code: the codes wait
        // (nothing is marked refused) and go once it is put right.
        let thanks = issue(&app, "loyal-thanks", "706405506930370084").await;
        let gift = issue(&app, "birthday-gift", "706405506930370084").await;
        shop.reply(
            200,
            r#"{"errors":[{"message":"Access denied for discountCodeBasicCreate field.","extensions":{"code":"ACCESS_DENIED"}}]}"#,
        );
        app.advance_hours(1).await;
        assert_eq!(shop.calls().len(), 3);
        assert_eq!(in_shop(&app, &thanks).await["state"], "waiting");
        assert_eq!(in_shop(&app, &gift).await, Value::Null, "the run stopped");
        // A code Shopify has already (an earlier answer was lost) counts as created; a gift
        // code is refused with the reason, without a call.
        shop.reply(
            200,
            r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"code":"TAKEN","message":"Code must be unique."}]}}}"#,
        );
        app.advance_hours(1).await;
        assert_eq!(shop.calls().len(), 4);
        assert_eq!(
            shop.calls()[3].2["variables"]["basicCodeDiscount"]["customerGets"]["value"]["discountAmount"]
                ["amount"],
            "10.00"
        );
        assert_eq!(in_shop(&app, &thanks).await["state"], "created");
        let refused = in_shop(&app, &gift).await;
        assert_eq!(refused["state"], "refused");
        assert!(
            refused["note"].as_str().unwrap().contains("gift code"),
            "{refused}"
        );
        // Nothing is created twice.
        app.advance_hours(24).await;
        assert_eq!(shop.calls().len(), 4);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_created_in_woocommerce_for_the_customer_s_address_and_a_duplicate_is_there() {
    let (shop, app) = woocommerce_shop(Backend::Sqlite).await;
    // Set aside, never sent: codes the shop made (imported), and one used up before the
    // job got to it.
    let (status, body) = app
        .post_json(
            "/v1/coupon-pools/service-recovery/codes",
            &json!({"codes": ["SHOPMADE-1"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let used = issue(&app, "loyal-thanks", "C1").await;
    let (status, body) = app
        .post_json(
            &format!("/v1/coupons/{used}/redemptions"),
            &json!({"order_external_id": "W7001", "order_total_cents": 5000, "customer_external_id": "C1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let first = issue(&app, "service-recovery", "C1").await;
    let second = issue(&app, "win-back", "C1").await;
    shop.reply(201, "{}");
    shop.reply(
        400,
        r#"{"code":"woocommerce_rest_coupon_code_already_exists","message":"The coupon code already exists","data":{"status":400}}"#,
    );
    app.engine.run_until_idle().await.unwrap();
    let calls = shop.calls();
    assert_eq!(calls.len(), 2);
    let (path, auth, body) = &calls[0];
    assert_eq!(path, "/wp-json/wc/v3/coupons");
    use base64::Engine as _;
    assert_eq!(
        auth,
        &format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ck_0123:cs_4567")
        )
    );
    assert_eq!(body["code"], first.as_str());
    assert_eq!(body["discount_type"], "fixed_cart");
    assert_eq!(body["amount"], "7.50");
    assert_eq!(
        body["email_restrictions"],
        json!(["jan.devries@example.nl"])
    );
    assert_eq!(calls[1].2["discount_type"], "percent");
    for code in [&first, &second] {
        assert_eq!(in_shop(&app, code).await["state"], "created", "{code}");
    }
    assert_eq!(in_shop(&app, "SHOPMADE-1").await["state"], "imported");
    assert_eq!(in_shop(&app, &used).await["state"], "used_up");
}

/// Issue 24: a WooCommerce plugin that crashes on one coupon answers 500 for it while it
/// takes every other: that code no longer holds the queue. It waits on its own, its tries
/// count, and after eight it is refused with the shop's answer; a shop that is down
/// altogether counts no tries and refuses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_the_shop_keeps_failing_on_waits_alone_and_is_refused_after_eight_tries() {
    let (shop, app) = woocommerce_shop(Backend::Sqlite).await;
    let bad = issue(&app, "service-recovery", "C1").await;
    let first = issue(&app, "win-back", "C1").await;
    let second = issue(&app, "loyal-thanks", "C1").await;
    shop.fail_on(&bad);
    app.engine.run_until_idle().await.unwrap();
    assert_eq!(shop.codes(), [bad.clone(), first.clone(), second.clone()]);
    for code in [&first, &second] {
        assert_eq!(in_shop(&app, code).await["state"], "created", "{code}");
    }
    let waiting = in_shop(&app, &bad).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(
        waiting["tries"], 1,
        "the shop took others: the trouble is this code's"
    );
    assert!(
        waiting["note"].as_str().unwrap().contains("500"),
        "{waiting}"
    );

    // Codes issued later go at once, ahead of the one that waits.
    let later = issue(&app, "early-access", "C1").await;
    app.clock.advance(jiff::SignedDuration::from_secs(61));
    app.engine.run_until_idle().await.unwrap();
    assert_eq!(shop.codes().last(), Some(&later));
    assert_eq!(in_shop(&app, &later).await["state"], "created");

    // The shop down altogether (503): no try counts, nothing is refused, and the run stops
    // at the first code, which stays first in line.
    shop.fail_on("nothing-fails-on-this");
    let down: Vec<String> = [
        issue(&app, "win-back", "C1").await,
        issue(&app, "win-back", "C1").await,
        issue(&app, "win-back", "C1").await,
    ]
    .into();
    for _ in 0..3 {
        shop.reply(503, "Service Unavailable");
    }
    let calls = shop.calls().len();
    app.clock.advance(jiff::SignedDuration::from_secs(61));
    app.engine.run_until_idle().await.unwrap();
    assert_eq!(
        shop.calls().len(),
        calls + 1,
        "a shop that is down is not hammered"
    );
    assert_eq!(in_shop(&app, &down[1]).await, Value::Null);
    for code in &down[..1] {
        let waiting = in_shop(&app, code).await;
        assert_eq!(
            (waiting["state"].as_str(), waiting["tries"].as_i64()),
            (Some("waiting"), Some(0))
        );
    }
    // The shop back, issuing a code now and then: the one it fails on is tried less and less
    // often, and refused after its eighth try.
    shop.fail_on(&bad);
    for _ in 0..24 {
        issue(&app, "win-back", "C1").await;
        app.advance_hours(1).await;
    }
    for code in &down {
        assert_eq!(in_shop(&app, code).await["state"], "created", "{code}");
    }
    let refused = in_shop(&app, &bad).await;
    assert_eq!(refused["state"], "refused", "{refused}");
    let note = refused["note"].as_str().unwrap();
    assert!(note.contains("8 times") && note.contains("500"), "{note}");
    let tries = shop.codes().iter().filter(|c| **c == bad).count();
    assert!((8..=10).contains(&tries), "tried {tries} times");
    // Nothing more is asked once it is refused.
    let calls = shop.calls().len();
    app.advance_hours(24).await;
    assert_eq!(shop.calls().len(), calls);
}

/// Issue 24: a lone code the shop fails on, with no other code to tell whether the trouble
/// is the code's or the shop's: the shop is asked a harmless question. Answering it, the
/// shop is up, so the code's tries count and it is refused after eight, not tried until it
/// expires; failing it too, the shop is down and nothing counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_code_the_shop_fails_on_is_refused_after_eight_tries_when_the_shop_answers_otherwise()
 {
    let (shop, app) = woocommerce_shop(Backend::Sqlite).await;
    let bad = issue(&app, "service-recovery", "C1").await;
    shop.fail_on(&bad);
    // The shop down altogether: the question fails too (503), and nothing counts.
    shop.reply(503, "Service Unavailable");
    app.engine.run_until_idle().await.unwrap();
    assert_eq!((shop.codes(), shop.probes()), (vec![bad.clone()], 1));
    let waiting = in_shop(&app, &bad).await;
    assert_eq!(
        (waiting["state"].as_str(), waiting["tries"].as_i64()),
        (Some("waiting"), Some(0)),
        "{waiting}"
    );
    // The shop up, answering everything but this code: its tries count.
    app.advance_hours(1).await;
    let counted = in_shop(&app, &bad).await;
    assert!(counted["tries"].as_i64().unwrap() >= 1, "{counted}");
    app.advance_hours(24).await;
    let refused = in_shop(&app, &bad).await;
    assert_eq!(refused["state"], "refused", "{refused}");
    let note = refused["note"].as_str().unwrap();
    assert!(
        note.contains("8 times while it answered other requests") && note.contains("500"),
        "{note}"
    );
    let tries = shop.codes().len();
    assert!((8..=10).contains(&tries), "tried {tries} times");
    let calls = shop.calls().len();
    app.advance_hours(24).await;
    assert_eq!(shop.calls().len(), calls, "nothing more once refused");

    // Two codes failing with nothing taken stays the shop's trouble, even when the shop
    // answers reads (a shop failing every new coupon): no question, no tries counted.
    let (one, two) = (
        issue(&app, "win-back", "C1").await,
        issue(&app, "win-back", "C1").await,
    );
    shop.fail_on_all(&[&one, &two]);
    let probes = shop.probes();
    app.advance_hours(12).await;
    assert_eq!(shop.probes(), probes, "no question for two failing codes");
    for code in [&one, &two] {
        let waiting = in_shop(&app, code).await;
        assert_eq!(
            (waiting["state"].as_str(), waiting["tries"].as_i64()),
            (Some("waiting"), Some(0)),
            "{code}: {waiting}"
        );
    }
}

// Issue 24: the `shop_codes` job set aside (thirty failed runs, or an older worker that did
// not know its kind) would leave every code out of the shop for good; each start-up makes
// sure of the job and brings it back.
both_backends!(
    a_shop_codes_job_set_aside_comes_back_at_start_up_and_creates_the_waiting_codes,
    |backend| async move {
        let (shop, app) = woocommerce_shop(backend).await;
        // The job is set aside, as after thirty failed runs or by an older worker that did not
        // know its kind.
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let jobs = app
            .store
            .claim_jobs("test", now, now + jiff::SignedDuration::from_mins(2), 50)
            .await
            .unwrap();
        let job = jobs
            .iter()
            .find(|j| j.kind == aftercare_store::JobKind::ShopCodes)
            .expect("start-up scheduled the shop_codes job");
        let mut tx = app.store.begin().await.unwrap();
        assert!(
            tx.bury_job(job.id, "test", "the store was unreachable", now)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let code = issue(&app, "early-access", "C1").await;
        app.clock.advance(jiff::SignedDuration::from_mins(3));
        app.engine.run_until_idle().await.unwrap();
        assert!(shop.calls().is_empty(), "a job set aside does not run");
        assert_eq!(in_shop(&app, &code).await, Value::Null);
        let dead = app.get_json("/v1/dead-jobs").await;
        assert_eq!(dead["dead_jobs"][0]["kind"], "shop_codes", "{dead}");

        // A start-up (every process makes sure of the job) brings it back, once.
        app.engine.ensure_shop_codes().await.unwrap();
        app.engine.ensure_shop_codes().await.unwrap();
        let dead = app.get_json("/v1/dead-jobs").await;
        assert_eq!(dead["dead_jobs"], json!([]), "{dead}");
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(shop.codes(), vec![code.clone()]);
        assert_eq!(in_shop(&app, &code).await["state"], "created");
        app.clock.advance(jiff::SignedDuration::from_mins(5));
        app.engine.run_until_idle().await.unwrap();
        assert_eq!(shop.codes(), vec![code], "one job, each code once");
    }
);
