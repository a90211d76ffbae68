//! The branded tracking page (PX1–PX6) over HTTP: the link in a real shipping email, delivery
//! changes passed on to a stand-in carrier by the signed webhook adapter and confirmed by
//! email, the carrier's cut-off, refusals and retries, bad input, forged and expired links,
//! fittings for click & collect, community content and recycling once delivered.

use aftercare_domain::delivery::{CommunityItem, StoreLocation};
use aftercare_engine::links::Page;
use aftercare_store::Table;
use jiff::SignedDuration;
use serde_json::json;

use crate::both_backends;
use crate::carrier::CarrierStub;
use crate::helpers::*;

fn anna() -> serde_json::Value {
    json!({
        "external_id": "C1",
        "email": "anna@example.nl",
        "first_name": "Anna",
        "last_name": "Jansen",
        "gender": "female",
        "address_form": "informal",
        "locale": "nl-NL",
        "time_zone": "Europe/Amsterdam",
        "postal_address": {"street": "Prinsengracht", "house_number": "263", "postcode": "1016 GV", "city": "Amsterdam", "country": "NL"},
        "consents": [{"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2026-01-01T10:00:00Z"}]
    })
}

/// The first link containing `path` in any received message.
pub fn link_in_mail(messages: &[String], path: &str) -> Option<String> {
    messages.iter().find_map(|m| {
        m.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .find(|w| w.contains(path) && w.starts_with("http"))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
    })
}

/// A shop whose customer Anna has a parcel on its way (handed over Monday, expected
/// Tuesday 10:00–12:00); the tracking link from her dispatch email.
pub async fn parcel_on_its_way(
    backend: Backend,
    stub: &CarrierStub,
    change: impl FnOnce(&mut aftercare::config::Config),
) -> (TestApp, String) {
    let tracking = stub.tracking();
    let app = spawn_app_with(backend, |c| {
        c.tracking = tracking;
        change(c);
    })
    .await;
    app.seed_shop(&anna()).await;
    let mut o = order("W1");
    o["placed_at"] = "2026-03-02T08:30:00Z".into();
    assert_eq!(app.post_json("/v1/orders", &o).await.0, 201);
    let event = json!({
        "shipment_id": "3SABC123", "order_external_id": "W1", "carrier": "postnl",
        "status": "handed_over", "at": "2026-03-02T08:50:00Z",
        "expected_from": "2026-03-03T09:00:00Z", "expected_until": "2026-03-03T11:00:00Z"
    });
    let (status, body) = app.post_json("/v1/shipment-events", &event).await;
    assert_eq!(status, 201, "{body}");
    app.engine.run_until_idle().await.unwrap();
    let mails = app.smtp.wait_for(2).await;
    let link = link_in_mail(&mails, "/p/tracking/")
        .unwrap_or_else(|| panic!("no tracking link in {mails:?}"));
    (app, link)
}

async fn change_count(app: &TestApp) -> i64 {
    app.store.count(Table::DeliveryChanges).await.unwrap()
}

/// Submits the change form of `kind` on the page at `url` with `fields`.
async fn submit(app: &TestApp, url: &str, kind: &str, fields: &str) -> (u16, String) {
    let page = app.get_text(url).await;
    let body = format!(
        "csrf={}&nonce={}&kind={kind}{fields}",
        form_field(&page, "csrf"),
        form_field(&page, "nonce")
    );
    app.post_form(&format!("{url}/change"), body).await
}

both_backends!(
    a_pickup_point_chosen_on_the_page_reaches_the_carrier_and_is_confirmed_by_email,
    |backend| async move {
        let stub = CarrierStub::start().await;
        let (app, link) = parcel_on_its_way(backend, &stub, |_| {}).await;
        let url = app.on_test_server(&link);
        let page = app.get_text(&url).await;
        assert!(page.contains("Je pakket is onderweg"), "{page}");
        assert!(page.contains("dinsdag 3 maart 2026, 10:00–12:00"), "{page}");
        assert!(page.contains("Stride 4 hardloopschoen"));
        assert!(
            page.contains("klantenservice@loopwerk.example"),
            "PX3 contact block"
        );
        // Pick-up points come from the carrier's lookup, for Anna's postcode, nearest first.
        assert_eq!(stub.lookups(), ["1016 GV"]);
        let leidseplein = page.find("Primera Leidseplein").expect("a pick-up point");
        assert!(leidseplein > page.find("Pakketautomaat Westermarkt").unwrap());

        let (status, after) = submit(&app, &url, "pickup_point", "&pickup_point=NL-1017-01").await;
        assert_eq!(status, 200);
        assert!(
            after.contains("We geven je wijziging door aan PostNL"),
            "{after}"
        );
        assert_eq!(change_count(&app).await, 1);

        app.engine.run_until_idle().await.unwrap();
        let changes = stub.changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let c = &changes[0];
        assert_eq!(c["_signature_valid"], true, "{c}");
        assert_eq!(c["type"], "delivery_change");
        assert_eq!(c["shipment"], "3SABC123");
        assert_eq!(c["order"], "W1");
        assert_eq!(c["change"]["kind"], "pickup_point");
        assert_eq!(c["change"]["point"]["id"], "NL-1017-01");
        assert_eq!(c["recipient"]["postcode"], "1016 GV");
        // The customer's export names the change (GDPR Art. 15).
        let export = app.get_json("/v1/customers/C1/export").await;
        let asked = &export["delivery_changes"][0];
        assert_eq!(
            (asked["shipment"].as_str(), asked["kind"].as_str()),
            (Some("3SABC123"), Some("pickup_point")),
            "{export}"
        );
        assert!(
            c["_idempotency_key"]
                .as_str()
                .unwrap()
                .starts_with("delivery-change-")
        );

        let page = app.get_text(&url).await;
        assert!(
            page.contains("PostNL heeft je wijziging: naar Primera Leidseplein"),
            "{page}"
        );
        let mails = app.smtp.wait_for(3).await;
        let confirmation = mails
            .iter()
            .find(|m| m.contains("bezorging is gewijzigd"))
            .unwrap_or_else(|| panic!("no confirmation in {mails:?}"));
        assert!(confirmation.contains("Primera Leidseplein, Leidseplein 12, 1017 PT Amsterdam"));
        assert!(confirmation.contains("/p/tracking/"));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_form_sent_twice_changes_the_delivery_once() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    let page = app.get_text(&url).await;
    let body = format!(
        "csrf={}&nonce={}&kind=safe_place&place=shed",
        form_field(&page, "csrf"),
        form_field(&page, "nonce")
    );
    app.post_form(&format!("{url}/change"), body.clone()).await;
    app.post_form(&format!("{url}/change"), body).await;
    app.engine.run_until_idle().await.unwrap();
    assert_eq!(change_count(&app).await, 1);
    assert_eq!(stub.changes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbour_and_another_day_reach_the_carrier_and_bad_input_names_the_field() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    let before = app.counts().await;
    for (kind, fields, message) in [
        ("neighbour", "&house_number=abc", "Vul een huisnummer in"),
        (
            "other_day",
            "&date=2026-04-01",
            "Kies een van de aangeboden dagen",
        ),
        (
            "pickup_point",
            "&pickup_point=NOPE",
            "Kies een van de afhaalpunten",
        ),
        ("teleport", "", "Kies een van de mogelijkheden"),
    ] {
        let (status, page) = submit(&app, &url, kind, fields).await;
        assert_eq!(status, 200);
        assert!(page.contains(message), "{kind}: {page}");
        assert!(page.contains("class=\"notice error\""));
    }
    assert_eq!(app.counts().await, before, "bad input changes nothing");
    assert_eq!(change_count(&app).await, 0);

    submit(&app, &url, "neighbour", "&house_number=265-A").await;
    // Tuesday is the expected day; Wednesday 4 March is the first other day on offer.
    let page = app.get_text(&url).await;
    assert!(page.contains("value=\"2026-03-04\""), "{page}");
    submit(&app, &url, "other_day", "&date=2026-03-05").await;
    app.engine.run_until_idle().await.unwrap();
    let changes = stub.changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(
        changes[0]["change"],
        json!({"kind": "neighbour", "house_number": "265-A"})
    );
    assert_eq!(
        changes[1]["change"],
        json!({"kind": "other_day", "date": "2026-03-05"})
    );
    let mails = app.smtp.wait_for(4).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Afgeven bij de buren op nummer 265-A"))
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Bezorging op 5 maart 2026")),
        "{mails:?}"
    );
    // The page expects the new day, not the carrier's first window.
    let page = app.get_text(&url).await;
    assert!(page.contains("Verwacht donderdag 5 maart 2026"), "{page}");
    assert!(
        !page.contains("dinsdag 3 maart 2026, 10:00–12:00"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_carriers_cutoff_nothing_can_be_changed() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    let page = app.get_text(&url).await;
    assert!(
        page.contains("Wijzigen kan tot maandag 2 maart 2026 22:00"),
        "{page}"
    );
    let csrf = form_field(&page, "csrf");
    let nonce = form_field(&page, "nonce");
    // Monday 22:00 in Amsterdam is 21:00 UTC: the carrier's cut-off.
    app.clock.advance(SignedDuration::from_hours(12));
    let page = app.get_text(&url).await;
    assert!(
        page.contains("De vervoerder neemt geen wijzigingen meer aan"),
        "{page}"
    );
    assert!(!page.contains("/change\""));
    let (_, after) = app
        .post_form(
            &format!("{url}/change"),
            format!("csrf={csrf}&nonce={nonce}&kind=safe_place&place=shed"),
        )
        .await;
    assert!(after.contains("kan niet meer gewijzigd worden"), "{after}");
    assert_eq!(change_count(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_expired_link_shows_the_friendly_page_and_changes_nothing() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    let page = app.get_text(&url).await;
    let csrf = form_field(&page, "csrf");
    let nonce = form_field(&page, "nonce");
    let token = url.rsplit('/').next().unwrap().to_string();
    let (id, rest) = token.split_once('.').unwrap();
    let other = url.replace(
        &token,
        &format!("{}.{rest}", id.parse::<i64>().unwrap() + 1),
    );
    let before = app.counts().await;
    let r = app.http.get(&other).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Deze link werkt niet"));
    let (status, _) = app
        .post_form(
            &format!("{other}/change"),
            format!("csrf={csrf}&nonce={nonce}&kind=safe_place&place=shed"),
        )
        .await;
    assert_eq!(status, 403);
    // A form without the right CSRF token.
    let (status, _) = app
        .post_form(
            &format!("{url}/change"),
            format!("csrf=00&nonce={nonce}&kind=safe_place&place=shed"),
        )
        .await;
    assert_eq!(status, 403);
    // 91 days later the link has expired.
    app.clock.advance(SignedDuration::from_hours(24 * 91));
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("Deze link is verlopen"));
    assert_eq!(app.counts().await, before);
    assert_eq!(change_count(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_carrier_is_retried_and_a_refusal_is_told_to_the_customer() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    stub.answer_next(&[503, 422]);
    submit(&app, &url, "safe_place", "&place=back_door").await;
    app.engine.run_until_idle().await.unwrap();
    assert_eq!(stub.changes().len(), 1);
    let page = app.get_text(&url).await;
    assert!(
        page.contains("We geven je wijziging door"),
        "still pending: {page}"
    );
    // The retry comes after the backoff (30 s plus jitter).
    app.advance_hours(1).await;
    let changes = stub.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[1]["_answered"], 422);
    let page = app.get_text(&url).await;
    assert!(
        page.contains("PostNL kon deze wijziging niet doorvoeren"),
        "{page}"
    );
    let mails = app.smtp.wait_for(3).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("wijziging kon niet worden doorgevoerd")),
        "{mails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_and_collect_order_books_a_fitting_and_a_delivered_one_offers_clubs_and_recycling()
{
    let stub = CarrierStub::start().await;
    let mut tracking = stub.tracking();
    tracking.stores.push(StoreLocation {
        id: "ams".into(),
        name: "Loopwerk Amsterdam".into(),
        address: "Overtoom 120, 1054 HN Amsterdam".into(),
        fitting_days: vec!["tue".into(), "sat".into()],
        fitting_times: vec!["10:00".into(), "14:00".into()],
        time_zone: "Europe/Amsterdam".into(),
    });
    tracking.community.push(CommunityItem {
        city: "Amsterdam".into(),
        name: "Vondelpark Runners".into(),
        when: [("nl".to_string(), "zondag 9:00".to_string())].into(),
        place: "Vondelpark".into(),
        url: None,
    });
    let app = spawn_app_with(Backend::Sqlite, |c| c.tracking = tracking).await;
    app.seed_shop(&anna()).await;
    let mut o = order("W2");
    o["customer_external_id"] = "C1".into();
    o["delivery_method"] = "click_and_collect".into();
    o["store_id"] = "ams".into();
    assert_eq!(app.post_json("/v1/orders", &o).await.0, 201);
    let ready = json!({"shipment_id": "S-CC", "order_external_id": "W2", "carrier": "postnl",
        "status": "ready_for_pickup", "at": "2026-03-02T08:58:00Z"});
    assert_eq!(app.post_json("/v1/shipment-events", &ready).await.0, 201);
    app.engine.run_until_idle().await.unwrap();
    let link = link_in_mail(&app.smtp.wait_for(2).await, "/p/tracking/").unwrap();
    let url = app.on_test_server(&link);
    let page = app.get_text(&url).await;
    assert!(page.contains("Plan een passing bij het ophalen"), "{page}");
    assert!(
        !page.contains("Niet thuis?"),
        "no delivery changes for click & collect"
    );
    // Tuesday 3 March 10:00 Amsterdam is the first slot.
    let slot = "1772528400";
    assert!(page.contains(&format!("value=\"{slot}\"")), "{page}");
    let (_, booked) = app
        .post_form(
            &format!("{url}/fitting"),
            format!("csrf={}&slot={slot}", form_field(&page, "csrf")),
        )
        .await;
    assert!(
        booked.contains("Gereserveerd: dinsdag 3 maart 2026 10:00 bij Loopwerk Amsterdam"),
        "{booked}"
    );
    assert!(
        !booked.contains(&format!("value=\"{slot}\"")),
        "a taken slot is not offered"
    );
    let (_, bad) = app
        .post_form(
            &format!("{url}/fitting"),
            format!("csrf={}&slot=12345", form_field(&page, "csrf")),
        )
        .await;
    assert!(bad.contains("Dat tijdstip is niet meer vrij"));
    app.engine.run_until_idle().await.unwrap();
    let mails = app.smtp.wait_for(3).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("passing en loopanalyse bij Loopwerk Amsterdam")),
        "{mails:?}"
    );

    // A home delivery arrives: clubs in Anna's city and the recycling offer.
    assert_eq!(app.post_json("/v1/orders", &order("W3")).await.0, 201);
    let delivered = json!({"shipment_id": "S-HOME", "order_external_id": "W3", "carrier": "postnl",
        "status": "delivered", "at": "2026-03-02T08:59:00Z"});
    assert_eq!(
        app.post_json("/v1/shipment-events", &delivered).await.0,
        201
    );
    let shipment = {
        let mut tx = app.store.begin_read().await.unwrap();
        tx.shipment_by_external_id("S-HOME")
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let url = app.page_link(Page::Tracking, shipment);
    let page = app.get_text(&url).await;
    assert!(page.contains("Samen lopen in Amsterdam"), "{page}");
    assert!(page.contains("Vondelpark Runners"));
    let (_, after) = app
        .post_form(
            &format!("{url}/recycle"),
            format!("csrf={}", form_field(&page, "csrf")),
        )
        .await;
    assert!(
        after.contains("Je gratis retourlabel komt per e-mail"),
        "{after}"
    );
    assert!(
        !after.contains("/recycle\""),
        "asked once, not offered again"
    );
    app.engine.run_until_idle().await.unwrap();
    let mails = app.smtp.messages();
    assert!(
        mails.iter().any(|m| m.contains("Recycling W3")),
        "{mails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hammering_the_pages_is_slowed_down_with_a_friendly_429() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!("{}/p/tracking/1.1.00", app.base_url);
    let mut statuses = Vec::new();
    for _ in 0..90 {
        let r = app.http.get(&url).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "60");
            assert!(r.text().await.unwrap().contains("Even geduld"));
        }
    }
    // A burst of 60 is answered (a forged link: 403), then the limit holds.
    assert!(statuses[..60].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 20,
        "{statuses:?}"
    );
    // The API is not limited by the pages' limiter.
    assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
}

both_backends!(
    the_carriers_pickup_points_are_asked_once_a_quarter_hour_per_postcode,
    |backend| async move {
        let stub = CarrierStub::start().await;
        let (app, link) = parcel_on_its_way(backend, &stub, |_| {}).await;
        let url = app.on_test_server(&link);
        for _ in 0..3 {
            assert!(app.get_text(&url).await.contains("Primera Leidseplein"));
        }
        assert_eq!(stub.lookups(), ["1016 GV"], "the answer is reused");
        app.clock.advance(jiff::SignedDuration::from_mins(16));
        assert!(app.get_text(&url).await.contains("Primera Leidseplein"));
        assert_eq!(stub.lookups(), ["1016 GV", "1016 GV"], "and asked again");
    }
);

/// A carrier Aftercare has no adapter for (issue 24): the page does not leave the customer
/// with "this carrier takes no changes" but links to the carrier's own page with the
/// tracking code and postcode filled in, while a change can still be made; an unknown
/// carrier gets the contact sentence, and a delivered parcel neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_adapter_the_page_links_to_the_carrier_s_own_change_page() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |c| {
        c.tracking.carriers.clear();
    })
    .await;
    let url = app.on_test_server(&link);
    // (The page escapes the slashes in attributes.)
    let page = app.get_text(&url).await.replace("&#x2f;", "/");
    assert!(
        page.contains("href=\"https://jouw.postnl.nl/track-and-trace/3SABC123-NL-1016GV\""),
        "{page}"
    );
    assert!(page.contains("Bezorging aanpassen bij PostNL"), "{page}");
    assert!(
        !page.contains("neemt via ons geen wijzigingen aan"),
        "{page}"
    );
    assert!(!page.contains("<form method=\"post\" action=\"/p/tracking/"));

    // Delivered: nothing to change any more, at the carrier either.
    let delivered = json!({"shipment_id": "3SABC123", "order_external_id": "W1", "carrier": "postnl",
        "status": "delivered", "at": "2026-03-02T09:00:00Z"});
    assert_eq!(
        app.post_json("/v1/shipment-events", &delivered).await.0,
        201
    );
    let page = app.get_text(&url).await;
    assert!(!page.contains("jouw.postnl.nl"), "{page}");
}
