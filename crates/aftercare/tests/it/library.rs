//! The default programme library, each programme from trigger to exit in virtual time,
//! with every other library programme live beside it: which messages go out, when in the
//! customer's local time, and what they say. Requirements are in each test's name.

use aftercare_domain::{Clock, MessageState};
use aftercare_engine::ingest;
use aftercare_store::{Message, MessageFilter};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::language::Lab;

const MONDAY: &str = "2026-05-04T08:00:00Z"; // 10:00 in Amsterdam

async fn lab() -> Lab {
    let lab = Lab::library(Backend::Sqlite, MONDAY).await;
    let mut tx = lab.store.begin().await.unwrap();
    for p in aftercare_lab::demo_data::products() {
        ingest::upsert_product(&mut tx, &p, lab.clock.now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    lab
}

fn marketing(patch: Value) -> Value {
    let mut p = patch;
    p["consents"] = json!([
        {"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2020-01-01T00:00:00Z"},
        {"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2020-01-01T00:00:00Z"}
    ]);
    p
}

impl Lab {
    async fn all(&self, customer: &str) -> Vec<Message> {
        let mut tx = self.store.begin_read().await.unwrap();
        let c = tx.customer_by_external_id(customer).await.unwrap().unwrap();
        let mut m = tx
            .messages(&MessageFilter {
                customer_id: Some(c.id),
                limit: 200,
                ..Default::default()
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        m.reverse();
        m
    }

    /// The one sent message of `template` for `customer`.
    async fn one(&self, customer: &str, template: &str) -> Message {
        let found: Vec<Message> = self
            .all(customer)
            .await
            .into_iter()
            .filter(|m| m.template == template)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{customer}/{template}: {:?}",
            self.all(customer)
                .await
                .iter()
                .map(|m| (&m.template, m.state))
                .collect::<Vec<_>>()
        );
        assert_eq!(found[0].state, MessageState::Sent, "{:?}", found[0].reason);
        found[0].clone()
    }

    async fn none(&self, customer: &str, template: &str) {
        let found: Vec<_> = self
            .all(customer)
            .await
            .into_iter()
            .filter(|m| m.template == template && m.state == MessageState::Sent)
            .collect();
        assert!(found.is_empty(), "{customer} got {template}");
    }

    async fn days(&self, n: i64) {
        self.hours(24 * n).await;
    }
}

/// The local wall-clock time of a message in `zone`, as "YYYY-MM-DD HH:MM".
fn local(m: &Message, zone: &str) -> String {
    m.planned_at
        .to_zoned_datetime(jiff::tz::TimeZone::get(zone).unwrap())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn body(m: &Message) -> &str {
    m.body_text.as_deref().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_purchase_and_after_delivery_pp1_pp2_pp3_pp4_px1() {
    let lab = lab().await;
    lab.customer("C1", json!({"address_form": "informal"}))
        .await;
    lab.order_of("C1", "W1", lab.clock.now(), &["LW-STRIDE-4"], "home")
        .await;
    lab.run().await;
    let confirmation = lab.one("C1", "order_confirmation").await;
    assert_eq!(local(&confirmation, "Europe/Amsterdam"), "2026-05-04 10:00");
    assert!(
        body(&confirmation).starts_with("Beste Jan,\n\nBedankt, je bestelling is binnen!"),
        "{}",
        body(&confirmation)
    );
    lab.hours(20).await;
    lab.shipment("W1", "handed_over").await;
    lab.run().await;
    assert!(body(&lab.one("C1", "dispatch_notice").await).contains("onderweg met PostNL"));
    lab.hours(4).await;
    assert_eq!(
        local(&lab.one("C1", "thanks").await, "Europe/Amsterdam"),
        "2026-05-05 10:00"
    );
    lab.hours(20).await;
    lab.shipment("W1", "out_for_delivery").await;
    lab.run().await;
    lab.one("C1", "out_for_delivery").await;
    lab.hours(4).await; // 2026-05-06 10:00
    lab.shipment("W1", "delivered").await;
    lab.run().await;
    let delivered = lab.one("C1", "delivered_notice").await;
    assert!(
        body(&delivered).contains("is bezorgd"),
        "{}",
        body(&delivered)
    );
    lab.days(14).await;
    let tips = lab.one("C1", "product_tips").await;
    assert_eq!(local(&tips, "Europe/Amsterdam"), "2026-05-09 10:00");
    assert!(
        body(&tips).contains("Na zo'n 800 km is de demping op"),
        "{}",
        body(&tips)
    );
    assert_eq!(
        local(&lab.one("C1", "check_in").await, "Europe/Amsterdam"),
        "2026-05-20 10:00"
    );
}

/// Issue 23 point 2: tips and product information are for what is new to the customer —
/// the same shoes bought again six weeks later bring no second round of tips, and a weekly
/// buyer is thanked for the first order and then at most every eight weeks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tips_only_for_new_products_and_thanks_not_for_every_order() {
    let lab = lab().await;
    lab.customer("C1", json!({})).await;
    for (i, week) in [0, 1, 6].into_iter().enumerate() {
        let number = format!("W{i}");
        lab.order_of("C1", &number, lab.clock.now(), &["LW-STRIDE-4"], "home")
            .await;
        lab.run().await;
        lab.days(2).await;
        lab.shipment(&number, "delivered").await;
        lab.run().await;
        let next = [1, 6, 7][i];
        lab.days(7 * (next - week) - 2).await;
    }
    let all = lab.all("C1").await;
    let sent = |template: &str| {
        all.iter()
            .filter(|m| m.template == template && m.state == MessageState::Sent)
            .count()
    };
    assert_eq!(sent("order_confirmation"), 3, "every order is confirmed");
    assert_eq!(
        sent("product_tips"),
        1,
        "tips once: the later orders bring nothing new"
    );
    assert_eq!(
        sent("thanks"),
        1,
        "thanked for the first order only within eight weeks"
    );
    let repeats: Vec<_> = all
        .iter()
        .filter(|m| m.template == "thanks" && m.state == MessageState::Blocked)
        .map(|m| m.reason.as_str())
        .collect();
    assert!(
        repeats.len() == 2
            && repeats
                .iter()
                .all(|r| *r == "blocked: the customer had this same message less than 56 days ago"),
        "{repeats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_message_carries_community_content_and_recycling_px4_px6() {
    let lab = lab().await;
    let address = json!({"street": "Damrak", "house_number": "1", "postcode": "1012 LG", "city": "Amsterdam", "country": "NL"});
    lab.customer(
        "AMS",
        json!({"postal_address": address, "address_form": "informal"}),
    )
    .await;
    lab.customer("BE", json!({"locale": "nl-BE", "time_zone": "Europe/Brussels", "postal_address": {"street": "Veldstraat", "house_number": "3", "postcode": "9000", "city": "Gent", "country": "BE"}})).await;
    lab.order_of("AMS", "W1", lab.clock.now(), &["LW-STRIDE-4"], "home")
        .await;
    lab.order_of("BE", "W2", lab.clock.now(), &["LW-SOCK-3"], "home")
        .await;
    lab.shipment("W1", "delivered").await;
    lab.shipment("W2", "delivered").await;
    lab.run().await;
    let ams = lab.one("AMS", "delivered_notice").await;
    assert!(
        body(&ams).contains("in Amsterdam kun je meelopen met de Vondelpark Runners"),
        "{}",
        body(&ams)
    );
    assert!(
        body(&ams).contains("Stuur het gratis terug"),
        "running shoes: recycling offer"
    );
    let be = lab.one("BE", "delivered_notice").await;
    assert!(
        body(&be).contains("Geachte heer Vries,") || body(&be).contains("Geachte heer De Vries,"),
        "{}",
        body(&be)
    );
    assert!(
        body(&be).contains("in Gent kunt u meelopen met de Blaarmeersen-loop"),
        "{}",
        body(&be)
    );
    assert!(
        !body(&be).contains("gerecycleerd"),
        "socks only: no recycling offer"
    );
    // Issue 23: the Belgian customer gets the brand's Belgian contact details and the club
    // in Belgian words; the Dutch one the Dutch number; an English mail English hours.
    assert!(
        body(&be).contains("+32 3 808 12 34") && !body(&be).contains("+31 20"),
        "{}",
        body(&be)
    );
    assert!(body(&be).contains("(woensdag 19 uur)"), "{}", body(&be));
    assert!(body(&ams).contains("+31 20 123 4567"), "{}", body(&ams));
    lab.customer(
        "EN",
        json!({"locale": "en", "address_form": "informal", "postal_address": {"street": "Damrak", "house_number": "2", "postcode": "1012 LG", "city": "Amsterdam", "country": "NL"}}),
    )
    .await;
    lab.order_of("EN", "W3", lab.clock.now(), &["LW-STRIDE-4"], "home")
        .await;
    lab.shipment("W3", "delivered").await;
    lab.run().await;
    let en = lab.one("EN", "delivered_notice").await;
    assert!(
        body(&en).contains("you can join the Vondelpark Runners (Sundays 9:00, Vondelpark)")
            && body(&en).contains("(Mon–Sat 8:00–20:00)")
            && !body(&en).contains("ma–za"),
        "{}",
        body(&en)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_and_collect_offers_a_fitting_appointment_px5() {
    let lab = lab().await;
    lab.customer("C1", json!({"locale": "en", "address_form": "informal", "first_name": "Emily", "last_name": "Clarke", "name_prefix": null})).await;
    lab.order_of(
        "C1",
        "W1",
        lab.clock.now(),
        &["LW-STRIDE-4"],
        "click_and_collect",
    )
    .await;
    lab.shipment("W1", "ready_for_pickup").await;
    lab.run().await;
    let m = lab.one("C1", "ready_for_pickup").await;
    assert!(body(&m).starts_with("Hi Emily,"), "{}", body(&m));
    assert!(
        body(&m).contains("in our store") && body(&m).contains("gait analysis and fitting"),
        "{}",
        body(&m)
    );
}

/// Issue 23 point 5: a product with nothing to tell (no tips, no successor) brings no tips
/// mail and no product information — no message that only says hello; the check-in still
/// comes, since it asks about the customer's own delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_with_nothing_to_tell_brings_no_tips_and_no_product_information() {
    let lab = lab().await;
    let mut tx = lab.store.begin().await.unwrap();
    let plain: aftercare_domain::ProductRecord = serde_json::from_value(json!({
        "sku": "LW-PLAIN", "name": "Reserveveters", "category": "accessories",
        "price_cents": 495, "tips": []
    }))
    .unwrap();
    ingest::upsert_product(&mut tx, &plain, lab.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    lab.customer("C1", json!({"attributes": {"income_band": "high"}}))
        .await;
    lab.order_of("C1", "W1", lab.clock.now(), &["LW-PLAIN"], "home")
        .await;
    lab.shipment("W1", "delivered").await;
    lab.run().await;
    lab.days(60).await;
    lab.none("C1", "product_tips").await;
    lab.none("C1", "product_info").await;
    lab.one("C1", "check_in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_information_comes_unasked_and_more_often_for_higher_income_pi1_pi2() {
    let lab = lab().await;
    lab.customer("HIGH", json!({"attributes": {"income_band": "high"}}))
        .await;
    lab.customer("LOW", json!({"attributes": {"income_band": "low"}}))
        .await;
    for (c, w) in [("HIGH", "W1"), ("LOW", "W2")] {
        lab.order_of(c, w, lab.clock.now(), &["LW-STRIDE-4"], "home")
            .await;
        lab.shipment(w, "delivered").await;
    }
    lab.run().await;
    lab.days(52).await;
    let first = lab.one("HIGH", "product_info").await;
    assert_eq!(local(&first, "Europe/Amsterdam"), "2026-05-25 10:00");
    assert!(
        body(&first).contains("Stride 4 hardloopschoen:")
            // A successor is named from the catalogue, never printed as its SKU (issue 23).
            && !body(&first).contains("LW-STRIDE-5"),
        "{}",
        body(&first)
    );
    assert_eq!(
        local(
            &lab.one("HIGH", "product_info_more").await,
            "Europe/Amsterdam"
        ),
        "2026-06-24 10:00"
    );
    lab.one("LOW", "product_info").await;
    lab.none("LOW", "product_info_more").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_inspiration_needs_marketing_consent_fr1_in1() {
    let lab = lab().await;
    lab.customer("YES", marketing(json!({"customer_since": "2025-01-06"})))
        .await;
    lab.customer("NO", json!({"customer_since": "2025-01-06"}))
        .await;
    lab.order_of(
        "YES",
        "W-2025",
        "2025-09-01T10:00:00Z".parse().unwrap(),
        &["LW-STRIDE-4"],
        "home",
    )
    .await;
    lab.run().await;
    lab.days(3).await;
    let m = lab.one("YES", "inspiration").await;
    assert_eq!(local(&m, "Europe/Amsterdam"), "2026-05-06 10:00");
    // IN1: fed by the catalogue — what is new and in the customer's own category first,
    // never what they already have.
    assert_eq!(
        m.subject.as_deref(),
        Some("Nieuw bij Loopwerk: Stride 5 hardloopschoen")
    );
    assert!(
        body(&m).contains("- Stride 5 hardloopschoen (nieuw): € 139,95")
            && !body(&m).contains("Stride 4"),
        "{}",
        body(&m)
    );
    let blocked: Vec<_> = lab
        .all("NO")
        .await
        .into_iter()
        .filter(|m| m.template == "inspiration")
        .collect();
    assert_eq!(blocked[0].state, MessageState::Blocked);
    assert_eq!(blocked[0].reason, "blocked: no marketing consent for email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_also_bought_and_early_access_of1_of2_of3() {
    let lab = lab().await;
    for i in 0..3 {
        let id = format!("O{i}");
        lab.customer(&id, marketing(json!({}))).await;
        lab.order_of(
            &id,
            &format!("WO{i}"),
            lab.clock.now(),
            &["LW-STRIDE-4", "LW-SOCK-3"],
            "home",
        )
        .await;
    }
    lab.customer("C1", marketing(json!({"address_form": "informal"})))
        .await;
    lab.order_of("C1", "W1", lab.clock.now(), &["LW-STRIDE-4"], "home")
        .await;
    lab.shipment("W1", "delivered").await;
    // Nobody bought anything with trail shoes: nothing to suggest, so no mail at all
    // (issue 23 point 5: no empty fallback).
    lab.customer("C2", marketing(json!({}))).await;
    lab.order_of("C2", "WT", lab.clock.now(), &["LW-TRAIL-2"], "home")
        .await;
    lab.shipment("WT", "delivered").await;
    lab.run().await;
    // The shop may send the offer's words in several languages; each customer reads theirs,
    // and the last day is a date in their language, not "2026-05-10".
    lab.event("C1", "offer_published", json!({"title": {"nl": "Zomerdeals", "en": "Summer deals"}, "description": {"nl": "Alle trailschoenen 20% korting.", "en": "All trail shoes 20% off."}, "valid_until": "2026-05-10"})).await;
    lab.run().await;
    lab.days(1).await;
    let offer = lab.one("C1", "offer").await;
    assert_eq!(offer.subject.as_deref(), Some("Zomerdeals"));
    assert!(
        body(&offer).contains("Alle trailschoenen 20% korting. Geldig tot en met 10 mei 2026."),
        "{}",
        body(&offer)
    );
    assert_eq!(local(&offer, "Europe/Amsterdam"), "2026-05-05 09:00");
    lab.days(10).await;
    let also = lab.one("C1", "also_bought").await;
    assert!(
        body(&also).contains("- Blaarvrije sokken (3 paar): € 19,95"),
        "{}",
        body(&also)
    );
    assert!(
        !body(&also).contains("Stride 4"),
        "not what the customer owns"
    );
    assert!(
        lab.all("C2")
            .await
            .iter()
            .all(|m| m.template != "also_bought"),
        "not even planned"
    );
    // Early access only for customers with three or more orders.
    lab.order_of("C1", "W2", lab.clock.now(), &["LW-CAP"], "home")
        .await;
    lab.order_of("C1", "W3", lab.clock.now(), &["LW-CAP"], "home")
        .await;
    lab.event(
        "C1",
        "product_launched",
        json!({"product_name": "Stride 5"}),
    )
    .await;
    lab.event(
        "O0",
        "product_launched",
        json!({"product_name": "Stride 5"}),
    )
    .await;
    lab.run().await;
    // At most one promotional message a week: early access waits for the also-bought one.
    lab.days(7).await;
    assert!(
        lab.one("C1", "early_access")
            .await
            .subject
            .unwrap()
            .contains("Stride 5")
    );
    lab.none("O0", "early_access").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_creation_only_for_the_grocery_segment_sg1() {
    let lab = lab().await;
    lab.customer(
        "G",
        marketing(json!({"attributes": {"segment": "grocery"},
            "postal_address": {"street": "Dorpsstraat", "house_number": "3", "postcode": "3512 AB",
                "city": "Utrecht", "country": "NL"}})),
    )
    .await;
    lab.customer("R", marketing(json!({"attributes": {"segment": "runner"}})))
        .await;
    for c in ["G", "R"] {
        lab.event(c, "cocreation_opened", json!({"topic": "een sportdrank"}))
            .await;
    }
    lab.run().await;
    // CH2: grocery customers prefer the letterbox; the letter goes in the day's print batch.
    lab.days(1).await;
    let letter = lab.one("G", "cocreation").await;
    assert!(body(&letter).contains("iets nieuws: een sportdrank"));
    assert_eq!(letter.channel, aftercare_domain::Channel::Letter);
    assert!(
        letter.reason.starts_with("in print batch 1"),
        "{}",
        letter.reason
    );
    lab.none("R", "cocreation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn birthday_and_anniversaries_stressed_for_bargain_hunters_su1_sg2() {
    let lab = lab().await;
    lab.customer("B", marketing(json!({"birth_date": "1990-05-20", "customer_since": "2023-05-05", "attributes": {"segment": "bargain-hunter"}}))).await;
    lab.customer(
        "R",
        marketing(json!({"customer_since": "2024-05-05", "attributes": {"segment": "runner"}})),
    )
    .await;
    lab.order_of(
        "R",
        "W-OLD",
        "2025-05-05T10:00:00Z".parse().unwrap(),
        &["LW-CAP"],
        "home",
    )
    .await;
    lab.run().await;
    lab.days(21).await;
    let stressed = lab.one("B", "anniversary_bargain").await;
    assert_eq!(local(&stressed, "Europe/Amsterdam"), "2026-05-05 09:00");
    assert!(
        stressed
            .subject
            .as_deref()
            .unwrap()
            .starts_with("Gefeliciteerd: 3 jaar klant"),
        "{:?}",
        stressed.subject
    );
    lab.none("B", "anniversary").await;
    assert_eq!(
        local(&lab.one("B", "birthday").await, "Europe/Amsterdam"),
        "2026-05-20 09:00"
    );
    assert!(body(&lab.one("R", "anniversary").await).contains("Vandaag is het 2 jaar geleden"));
    // The promised gifts are real: a code of a gift pool, the customer's own, that names
    // the product for the shop's checkout (issue 23 point 5).
    for (who, template, pool, sku) in [
        ("B", "birthday", "birthday-gift", "LW-BOTTLE"),
        ("R", "anniversary", "anniversary-gift", "LW-SOCK-3"),
    ] {
        let text = body(&lab.one(who, template).await).to_string();
        let code = text
            .split("de code ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{template} without a code: {text}"));
        let mut tx = lab.store.begin_read().await.unwrap();
        let coupon = tx
            .coupon_by_code(&aftercare_domain::loyalty::normalise_code(code).unwrap())
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            (coupon.pool_id.as_str(), coupon.value_kind.as_str()),
            (pool, "gift")
        );
        assert_eq!(
            aftercare_domain::loyalty::LoyaltyConfig::default()
                .pool(pool)
                .and_then(|p| p.gift_sku.as_deref()),
            Some(sku)
        );
    }
    // The purchase anniversary falls on the same day: policy keeps a week between
    // relationship contacts (FR1), so it goes out a week later, with the reason on record.
    let later = lab.one("R", "purchase_anniversary").await;
    assert!(body(&later).contains("Vandaag 1 jaar geleden"));
    assert!(
        later.sent_at.unwrap() >= "2026-05-12T07:00:00Z".parse::<Timestamp>().unwrap(),
        "a week after the anniversary at the earliest"
    );
    let mut tx = lab.store.begin_read().await.unwrap();
    let reasons: Vec<String> = tx
        .message_transitions(later.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.reason)
        .collect();
    tx.commit().await.unwrap();
    assert!(
        reasons.contains(
            &"held back: the last relationship contact was less than 7 days ago".to_string()
        ),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_at_the_end_of_a_lifespan_and_at_contract_end_re1() {
    let lab = lab().await;
    // The replacement nudge sells: it needs marketing consent (issue 23 point 3), which C2
    // never gave.
    lab.customer(
        "C1",
        json!({"consents": [
            {"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2025-01-01T10:00:00Z"},
            {"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2025-01-01T10:00:00Z"}
        ]}),
    )
    .await;
    lab.customer("C2", json!({})).await;
    // C3's socks last 270 days: nine months, in sock words, not a shoe's year.
    lab.customer(
        "C3",
        json!({"address_form": "informal", "consents": [
            {"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2025-01-01T10:00:00Z"}
        ]}),
    )
    .await;
    lab.order_of(
        "C3",
        "W-C3",
        "2025-08-08T09:00:00Z".parse().unwrap(),
        &["LW-SOCK-3"],
        "home",
    )
    .await;
    for who in ["C1", "C2"] {
        lab.order_of(
            who,
            &format!("W-{who}"),
            "2025-05-06T09:00:00Z".parse().unwrap(),
            &["LW-STRIDE-4"],
            "home",
        )
        .await;
    }
    lab.run().await;
    lab.days(3).await;
    let without = lab.all("C2").await;
    let blocked: Vec<_> = without
        .iter()
        .filter(|m| m.template == "replacement")
        .collect();
    assert!(
        blocked.len() == 1
            && blocked[0].state == MessageState::Blocked
            && blocked[0].reason == "blocked: no marketing consent for email",
        "{without:?}"
    );
    // The same morning brings the first purchase's anniversary, a relationship contact
    // too: the nudge waits the band's minimum gap of a week.
    lab.days(8).await;
    let socks = lab.one("C3", "replacement").await;
    assert!(
        body(&socks).contains("draag je nu ongeveer 9 maanden")
            && body(&socks).contains("Sokken die dun worden")
            && !body(&socks).contains("km")
            && socks.subject.as_deref() == Some("Tijd voor nieuwe sokken?"),
        "{:?} {}",
        socks.subject,
        body(&socks)
    );
    let m = lab.one("C1", "replacement").await;
    assert_eq!(local(&m, "Europe/Amsterdam"), "2026-05-06 09:00");
    let sent = m
        .sent_at
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
    assert_eq!(
        sent.strftime("%Y-%m-%d %H:%M").to_string(),
        "2026-05-13 10:00",
        "a week after the anniversary note"
    );
    assert!(
        body(&m).contains("U loopt nu ongeveer een jaar op uw Stride 4 hardloopschoen")
            && body(&m).contains("De opvolger, de Stride 5 hardloopschoen, ligt al klaar"),
        "{}",
        body(&m)
    );
    lab.event("C1", "contract_ending", json!({"ends_on": "2026-06-30"}))
        .await;
    lab.run().await;
    lab.days(15).await;
    lab.none("C1", "contract_renewal").await;
    lab.days(2).await;
    let renewal = lab.one("C1", "contract_renewal").await;
    assert_eq!(
        local(&renewal, "Europe/Amsterdam"),
        "2026-05-31 09:00",
        "30 days before the end, in the morning"
    );
    assert!(body(&renewal).contains("loopt af op 30 juni 2026"));
}

/// RE1 without the brand posting an event: a contract stored with `POST /v1/contracts` is
/// announced by the calendar as `contract_ending`, and the same programme offers the
/// renewal a month ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_contract_gets_its_renewal_offer_a_month_before_it_ends_re1() {
    let lab = lab().await;
    lab.customer("C1", json!({})).await;
    let contract: aftercare_domain::ContractRecord = serde_json::from_value(json!({
        "external_id": "K-7", "customer_external_id": "C1", "name": "Loopabonnement",
        "starts_on": "2025-07-01", "ends_on": "2026-06-30"
    }))
    .unwrap();
    let mut tx = lab.store.begin().await.unwrap();
    ingest::upsert_contract(&mut tx, &contract, lab.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    lab.run().await;
    lab.days(20).await;
    lab.none("C1", "contract_renewal").await;
    lab.days(7).await;
    let renewal = lab.one("C1", "contract_renewal").await;
    assert_eq!(
        local(&renewal, "Europe/Amsterdam"),
        "2026-05-31 09:00",
        "30 days before the end, in the morning"
    );
    assert!(
        body(&renewal).contains("loopt af op 30 juni 2026"),
        "{}",
        body(&renewal)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn win_back_misses_you_when_likely_lapsing_then_asks_one_question_unless_you_order_wb1() {
    let lab = lab().await;
    // The shop's history the lifetime models learn from: 30 customers who buy about monthly
    // and still do, and 15 who bought a few times last summer and then stopped.
    let day = |d: i64| {
        "2025-06-01T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_hours(24 * d)
    };
    for i in 0..45 {
        let id = format!("H{i}");
        lab.customer(&id, json!({})).await;
        let orders = if i < 30 { 11 } else { 3 + i % 3 };
        for n in 0..orders {
            let at = day(i % 7 + n * (28 + i % 5));
            lab.order_of(&id, &format!("{id}-{n}"), at, &["LW-CAP"], "home")
                .await;
        }
    }
    // Ids chosen outside win-back's 10% holdout.
    let ids: Vec<String> = (0..40)
        .map(|i| format!("WB{i}"))
        .filter(|id| !aftercare_engine::worker::in_holdout("win-back", id, 0.1))
        .take(2)
        .collect();
    let (quiet, returns) = (&ids[0], &ids[1]);
    for id in &ids {
        lab.customer(id, marketing(json!({}))).await;
        lab.order_of(
            id,
            &format!("{id}-1"),
            "2025-12-01T10:00:00Z".parse().unwrap(),
            &["LW-CAP"],
            "home",
        )
        .await;
        lab.order_of(
            id,
            &format!("{id}-2"),
            "2026-02-01T10:00:00Z".parse().unwrap(),
            &["LW-CAP"],
            "home",
        )
        .await;
    }
    // A consented customer who bought twice and stopped a year ago: at the shop's first
    // score they have long lapsed — that is the past, and win-back leaves them alone (issue 24).
    let long_gone = (0..40)
        .map(|i| format!("LONG{i}"))
        .find(|id| !aftercare_engine::worker::in_holdout("win-back", id, 0.1))
        .unwrap();
    lab.customer(&long_gone, marketing(json!({}))).await;
    for (n, at) in ["2025-03-01T10:00:00Z", "2025-04-15T10:00:00Z"]
        .into_iter()
        .enumerate()
    {
        lab.order_of(
            &long_gone,
            &format!("LG-{n}"),
            at.parse().unwrap(),
            &["LW-CAP"],
            "home",
        )
        .await;
    }
    // All of this is history: it enrols nobody.
    let mut tx = lab.store.begin().await.unwrap();
    tx.discard_jobs_before(
        aftercare_store::JobKind::Event,
        lab.clock.now() + SignedDuration::from_secs(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    lab.run().await;
    let mut tx = lab.store.begin_read().await.unwrap();
    let quiet_id = tx.customer_by_external_id(quiet).await.unwrap().unwrap().id;
    let scores = tx
        .scores(quiet_id)
        .await
        .unwrap()
        .expect("scored on the first calendar run");
    drop(tx);
    let p_alive = scores.p_alive.expect("the models were fitted");
    assert!(
        p_alive < 0.5,
        "two months apart, then three months of silence: {scores:?}"
    );
    lab.days(1).await;
    let mut tx = lab.store.begin_read().await.unwrap();
    let long_gone_id = tx
        .customer_by_external_id(&long_gone)
        .await
        .unwrap()
        .unwrap()
        .id;
    let long_gone_p = tx.scores(long_gone_id).await.unwrap().unwrap().p_alive;
    drop(tx);
    assert!(
        long_gone_p.unwrap() < 0.5,
        "lapsed long ago: {long_gone_p:?}"
    );
    lab.none(&long_gone, "we_miss_you").await;
    let miss = lab.one(quiet, "we_miss_you").await;
    assert_eq!(local(&miss, "Europe/Amsterdam"), "2026-05-04 10:00");
    assert!(
        body(&miss).contains("Het is alweer 92 dagen geleden"),
        "{}",
        body(&miss)
    );
    lab.days(3).await;
    lab.order_of(returns, "BACK", lab.clock.now(), &["LW-CAP"], "home")
        .await;
    lab.days(14).await;
    assert!(body(&lab.one(quiet, "win_back_question").await).contains("minder tevreden"));
    lab.none(returns, "win_back_question").await;
    let e = lab
        .enrolments(returns)
        .await
        .into_iter()
        .find(|e| e.programme_id == "win-back")
        .unwrap();
    assert!(e.goal_reached_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_gets_a_retention_offer_at_once_rt1() {
    let lab = lab().await;
    lab.customer("C1", json!({})).await;
    lab.event("C1", "cancellation_requested", json!({})).await;
    lab.run().await;
    let m = lab.one("C1", "retention_offer").await;
    assert_eq!(local(&m, "Europe/Amsterdam"), "2026-05-04 10:00");
    // No reason given counts as `other`: the general offer, a pause, with its accept link.
    assert!(
        body(&m).contains("Drie maanden pauze") && body(&m).contains("/p/offer/"),
        "{}",
        body(&m)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_get_an_apology_and_reminders_stop_when_resolved_cm1_dq3() {
    let lab = lab().await;
    lab.customer(
        "C1",
        json!({"postal_address": {"street": "Kerkstraat", "house_number": "12", "postcode": "1012 AB",
            "city": "Amsterdam", "country": "NL"}}),
    )
    .await;
    lab.customer("C2", json!({})).await;
    lab.event(
        "C1",
        "case_opened",
        json!({"kind": "complaint", "subject": "kapotte zool"}),
    )
    .await;
    lab.event(
        "C2",
        "case_opened",
        json!({"kind": "question", "subject": "maat"}),
    )
    .await;
    lab.run().await;
    lab.days(1).await;
    lab.clock.advance(SignedDuration::from_hours(3));
    lab.event(
        "C1",
        "case_resolved",
        json!({"kind": "complaint", "channel": "phone"}),
    )
    .await;
    lab.run().await;
    lab.days(3).await;
    let apology = lab.one("C1", "apology").await;
    assert_eq!(local(&apology, "Europe/Amsterdam"), "2026-05-06 10:00");
    lab.none("C1", "case_reminder").await;
    // The card the apology promises goes by post (a day later: one non-transactional
    // message a day), in the print partner's batch.
    let card = lab.one("C1", "apology_card").await;
    assert_eq!(card.channel, aftercare_domain::Channel::Letter);
    assert_eq!(card.state, MessageState::Sent, "{}", card.reason);
    assert!(
        card.reason
            .starts_with("in print batch 1 for print partner, posted 2026-05-07"),
        "{}",
        card.reason
    );
    assert!(
        card.recipient
            .as_deref()
            .unwrap()
            .ends_with("1012 AB  AMSTERDAM")
    );
    let reminder = lab.one("C2", "case_reminder").await;
    assert_eq!(local(&reminder, "Europe/Amsterdam"), "2026-05-06 10:00");
    assert!(body(&reminder).contains("staat nog open (maat)"));
    lab.none("C2", "apology").await;
}

/// DQ3 per case (issue 23 point 8): resolving one of a customer's cases stops that case's
/// reminder, not the reminder of the case still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_one_case_stops_only_its_own_reminder_dq3() {
    let lab = lab().await;
    lab.customer("C1", json!({})).await;
    for (case, subject) in [("K-1", "maat"), ("K-2", "levering")] {
        lab.event(
            "C1",
            "case_opened",
            json!({"case_id": case, "kind": "question", "subject": subject}),
        )
        .await;
    }
    lab.run().await;
    lab.days(1).await;
    lab.event(
        "C1",
        "case_resolved",
        json!({"case_id": "K-1", "kind": "question", "channel": "phone"}),
    )
    .await;
    lab.run().await;
    lab.days(3).await;
    let reminders: Vec<(MessageState, String)> = lab
        .all("C1")
        .await
        .into_iter()
        .filter(|m| m.template == "case_reminder")
        .map(|m| (m.state, m.body_text.unwrap_or_default()))
        .collect();
    // The resolved case's enrolment left before its reminder was planned; the open case's
    // reminder went out.
    assert!(
        reminders.len() == 1
            && reminders[0].0 == MessageState::Sent
            && reminders[0].1.contains("staat nog open (levering)"),
        "only the open case is reminded: {reminders:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn household_members_get_their_own_birthday_note_pe1() {
    let lab = lab().await;
    let kids = json!([{"first_name": "Sanne", "birth_date": "2014-05-05", "relation": "daughter"}, {"first_name": "Bram", "birth_date": "2016-05-06", "relation": "son"}]);
    lab.customer(
        "P",
        marketing(json!({"address_form": "informal", "attributes": {"household_members": kids}})),
    )
    .await;
    lab.run().await;
    lab.days(10).await;
    let notes: Vec<Message> = lab
        .all("P")
        .await
        .into_iter()
        .filter(|m| m.template == "household_birthday")
        .collect();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].subject.as_deref(), Some("Sanne wordt vandaag 12!"));
    assert_eq!(local(&notes[0], "Europe/Amsterdam"), "2026-05-05 09:00");
    assert_eq!(notes[1].subject.as_deref(), Some("Bram wordt vandaag 10!"));
    assert!(body(&notes[1]).starts_with("Beste Jan,"));
    // A week between relationship contacts (FR1): Bram's note waits until 12 May.
    let sent = notes[1]
        .sent_at
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
    assert_eq!(
        sent.strftime("%Y-%m-%d %H:%M").to_string(),
        "2026-05-12 09:00"
    );
}
