//! The customer pages in headless Chromium (Debian's, driven over WebDriver by fantoccini;
//! `scripts/test.sh` starts ChromeDriver and sets `AFTERCARE_TEST_WEBDRIVER`): open the
//! tracking link from a real email, change the delivery to a pick-up point, a neighbour and
//! another day, and see each reach the stand-in carrier and come back as a confirmation
//! email; a forged link shows the friendly page and changes nothing. Every page is checked
//! with axe-core (WCAG 2 A/AA, no serious or critical violation) and kept as a screenshot at
//! phone and desktop width in `target/screenshots/`.

use std::path::PathBuf;

use aftercare_engine::links::Page;
use aftercare_store::Table;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::carrier::CarrierStub;
use crate::helpers::*;
use crate::tracking::parcel_on_its_way;

async fn browser() -> Client {
    let driver = std::env::var("AFTERCARE_TEST_WEBDRIVER").expect(
        "AFTERCARE_TEST_WEBDRIVER is not set: run the tests with ./scripts/test.sh, which starts ChromeDriver",
    );
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--hide-scrollbars", "--lang=nl-NL",
                     format!("--user-data-dir={}", profile.display())]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver)
        .await
        .expect("a Chromium session through ChromeDriver")
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots of the current page at phone and desktop width, tall enough for the whole
/// page.
async fn capture(c: &Client, name: &str) {
    capture_at(c, name, &[("phone", 390), ("desktop", 1280)]).await;
}

/// Screenshots at the given widths.
async fn capture_at(c: &Client, name: &str, widths: &[(&str, u32)]) {
    for &(label, width) in widths {
        c.set_window_size(width, 900).await.unwrap();
        let height = c
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900);
        c.set_window_size(width, u32::try_from(height.clamp(600, 4000)).unwrap() + 140)
            .await
            .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}-{label}.png")), png).unwrap();
    }
    c.set_window_size(390, 900).await.unwrap();
}

/// axe-core's WCAG 2 A/AA check of the current page; panics on a serious or critical
/// violation.
async fn accessible(c: &Client, name: &str) {
    let axe =
        std::fs::read_to_string(repo_root().join("tests/browser/node_modules/axe-core/axe.min.js"))
            .expect("axe-core is missing: run the tests with ./scripts/test.sh, which installs it");
    c.execute(&axe, vec![]).await.unwrap();
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.html).slice(0, 3)}))))
                .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));",
            vec![],
        )
        .await
        .unwrap();
    let serious: Vec<&Value> = result
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        serious.is_empty(),
        "{name}: accessibility violations {serious:#?}"
    );
}

async fn open_option(c: &Client, summary: &str) {
    c.find(Locator::XPath(&format!(
        "//summary[contains(., '{summary}')]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
}

async fn submit_open_form(c: &Client) {
    c.find(Locator::Css("details[open] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("p[role=status]"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_changes_her_delivery_in_the_browser_and_the_carrier_and_her_inbox_hear_of_it() {
    let stub = CarrierStub::start().await;
    let (app, link) = parcel_on_its_way(Backend::Sqlite, &stub, |_| {}).await;
    let url = app.on_test_server(&link);
    let c = browser().await;

    // The link from the dispatch email opens the brand's page.
    c.goto(&url).await.unwrap();
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Je pakket is onderweg"), "{text}");
    accessible(&c, "tracking").await;
    capture(&c, "tracking").await;

    // A pick-up point.
    open_option(&c, "Naar een afhaalpunt").await;
    c.find(Locator::Css("label[for=point-1]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    capture(&c, "tracking-pickup-open").await;
    submit_open_form(&c).await;
    let status = c
        .find(Locator::Css("p[role=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        status.contains("We geven je wijziging door aan PostNL"),
        "{status}"
    );
    app.engine.run_until_idle().await.unwrap();
    let changes = stub.changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["_signature_valid"], true);
    assert_eq!(changes[0]["change"]["point"]["id"], "NL-1016-02");
    let mails = app.smtp.wait_for(3).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Pakketautomaat Westermarkt, Westermarkt 2")),
        "{mails:?}"
    );
    c.goto(&url).await.unwrap();
    accessible(&c, "tracking-confirmed").await;
    capture(&c, "tracking-confirmed").await;

    // A neighbour, typed in.
    open_option(&c, "Bij de buren").await;
    c.find(Locator::Id("house-number"))
        .await
        .unwrap()
        .send_keys("261")
        .await
        .unwrap();
    submit_open_form(&c).await;
    // Another day, picked from the list.
    open_option(&c, "Op een andere dag").await;
    c.find(Locator::Css("label[for='day-2026-03-05']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit_open_form(&c).await;
    // The browser's last POST may still be on its way: run the engine until the carrier
    // has heard of all three changes (or ten seconds pass).
    for _ in 0..100 {
        app.engine.run_until_idle().await.unwrap();
        if stub.changes().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let changes = stub.changes();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(
        changes[1]["change"],
        json!({"kind": "neighbour", "house_number": "261"})
    );
    assert_eq!(
        changes[2]["change"],
        json!({"kind": "other_day", "date": "2026-03-05"})
    );
    let mails = app.smtp.wait_for(5).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Afgeven bij de buren op nummer 261"))
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Bezorging op 5 maart 2026"))
    );

    // A forged link: the friendly page, nothing changed.
    let before = app.counts().await;
    let changes_before = app.store.count(Table::DeliveryChanges).await.unwrap();
    let token = url.rsplit('/').next().unwrap();
    // The signature's last character changed (to one it is not: 1 in 16 ends in '0').
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = url.replace(token, &format!("{}{last}", &token[..token.len() - 1]));
    c.goto(&forged).await.unwrap();
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Deze link werkt niet"), "{text}");
    accessible(&c, "link-problem").await;
    capture(&c, "link-problem").await;
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.store.count(Table::DeliveryChanges).await.unwrap(),
        changes_before
    );

    // The other customer pages, for the screenshots and the accessibility check.
    let customer = {
        let mut tx = app.store.begin_read().await.unwrap();
        tx.customer_by_external_id("C1").await.unwrap().unwrap().id
    };
    let response = {
        let mut tx = app.store.begin().await.unwrap();
        let now = aftercare_domain::Clock::now(app.clock.as_ref());
        let id = tx
            .create_survey_response(customer, "nps", "new_customers", now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    // A retention offer (RT1), accepted with one click.
    let (status, cancelled) = app
        .post_json("/v1/cancellations", &json!({"customer_external_id": "C1", "at": "2026-03-04T08:00:00Z", "reason_code": "not_using"}))
        .await;
    assert_eq!(status, 201, "{cancelled}");
    let offer = app.on_test_server(cancelled["retention_offer"]["accept_url"].as_str().unwrap());
    c.goto(&offer).await.unwrap();
    accessible(&c, "offer").await;
    capture(&c, "offer").await;
    click(&c, "main form button").await;
    c.wait()
        .for_element(Locator::XPath("//main[contains(., 'Afgesproken!')]"))
        .await
        .unwrap();
    accessible(&c, "offer-accepted").await;
    capture(&c, "offer-accepted").await;
    for (name, url) in [
        ("loyalty", app.page_link(Page::Loyalty, customer)),
        ("preferences", app.page_link(Page::Preferences, customer)),
        ("unsubscribe", app.page_link(Page::Unsubscribe, customer)),
        ("survey", app.page_link(Page::Survey, response)),
        ("inbox", app.page_link(Page::Inbox, customer)),
    ] {
        c.goto(&url).await.unwrap();
        accessible(&c, name).await;
        capture(&c, name).await;
    }
    // A message from the inbox, in the brand's layout.
    let inbox = app.page_link(Page::Inbox, customer);
    c.goto(&inbox).await.unwrap();
    click(&c, ".inbox a").await;
    accessible(&c, "inbox-message").await;
    capture(&c, "inbox-message").await;
    c.close().await.unwrap();
}

/// The admin pages at tablet and laptop width.
async fn capture_admin(c: &Client, name: &str) {
    capture_at(c, name, &[("tablet", 820), ("laptop", 1366)]).await;
    c.set_window_size(1366, 900).await.unwrap();
}

async fn main_text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A browser signed in as Eva, an editor (made here), at laptop width.
async fn editor_signed_in(app: &TestApp) -> Client {
    aftercare::cli::user::create(
        &app.store,
        "eva",
        "editor",
        "en",
        crate::admin::PASSWORD,
        app.clock.as_ref(),
    )
    .await
    .unwrap();
    let c = browser().await;
    c.set_window_size(1366, 900).await.unwrap();
    sign_in(&c, &app.base_url, "eva").await;
    c
}

/// Waits (up to 15 s) until the page's main text holds `needle` — after a form posts, the
/// old page can still be there for a moment — and returns the text.
async fn wait_for_text(c: &Client, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        if let Ok(main) = c.find(Locator::Css("main")).await
            && let Ok(text) = main.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page never said {needle:?}: {last}");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn sign_in(c: &Client, base_url: &str, username: &str) {
    c.goto(&format!("{base_url}/admin/customers"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/admin/sign-in"),
        "signed out, the UI sends you to sign in"
    );
    type_into(c, "username", username).await;
    type_into(c, "password", crate::admin::PASSWORD).await;
    click(c, "main button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("header.top"))
        .await
        .unwrap();
}

/// Submits a form built in the page: `fields` as hidden inputs, posted to `action`.
async fn post_from_page(c: &Client, action: &str, fields: Value) -> String {
    c.execute(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
         for (const [k, v] of Object.entries(arguments[1])) { const i = document.createElement('input');
           i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
         document.body.appendChild(f); f.submit();",
        vec![json!(action), fields],
    )
    .await
    .unwrap();
    c.wait().for_element(Locator::Css("main h1")).await.unwrap();
    main_text(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_finds_a_customer_sees_why_a_message_was_blocked_and_pauses_a_programme() {
    let app = spawn_app(Backend::Sqlite).await;
    crate::admin::jan_with_a_blocked_offer(&app).await;
    for (name, role) in [("eva", "editor"), ("victor", "viewer")] {
        aftercare::cli::user::create(
            &app.store,
            name,
            role,
            "en",
            crate::admin::PASSWORD,
            app.clock.as_ref(),
        )
        .await
        .unwrap();
    }
    let c = browser().await;
    c.set_window_size(1366, 900).await.unwrap();
    c.goto(&format!("{}/admin/sign-in", app.base_url))
        .await
        .unwrap();
    accessible(&c, "admin-sign-in").await;
    capture_admin(&c, "admin-sign-in").await;
    sign_in(&c, &app.base_url, "eva").await;

    // Find Jan by his last name and open his timeline.
    type_into(&c, "q", "vries").await;
    click(&c, "form[role=search] button").await;
    c.wait()
        .for_element(Locator::Css("a[href='/admin/customers/C1']"))
        .await
        .unwrap();
    accessible(&c, "admin-customers").await;
    capture_admin(&c, "admin-customers").await;
    click(&c, "a[href='/admin/customers/C1']").await;
    c.wait().for_element(Locator::Id("timeline")).await.unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("Geachte heer De Vries"), "{text}");
    assert!(
        text.contains("blocked: no marketing consent for email"),
        "the blocked offer's reason is on the timeline: {text}"
    );
    accessible(&c, "admin-customer").await;
    capture_admin(&c, "admin-customer").await;

    // His contact calendar for the coming year, then back to his page.
    click(&c, "a[href='/admin/customers/C1/calendar']").await;
    // The calendar runs his year through a throw-away engine: slow on a loaded machine.
    c.wait()
        .at_most(std::time::Duration::from_secs(180))
        .for_element(Locator::Id("h-projected"))
        .await
        .unwrap();
    accessible(&c, "admin-calendar").await;
    capture_admin(&c, "admin-calendar").await;
    c.back().await.unwrap();

    // Preview a template for him.
    c.find(Locator::Css(
        "select#template option[value=early_access], select#template option",
    ))
    .await
    .unwrap();
    c.execute(
        "document.getElementById('template').value = 'early_access';",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "form[action$='/preview'] button").await;
    c.wait().for_element(Locator::Css("iframe")).await.unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("early_access") && text.contains("Geachte heer De Vries"),
        "{text}"
    );
    accessible(&c, "admin-preview").await;
    capture_admin(&c, "admin-preview").await;

    // Export his data from the page (the signed-in session's cookie goes along).
    let export = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/admin/customers/C1/export').then(r => r.json()).then(done, e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        export["customer"]["email"], "jan.devries@example.nl",
        "{export}"
    );

    // Pause the early-access programme; the audit log has it.
    c.goto(&format!("{}/admin/programmes", app.base_url))
        .await
        .unwrap();
    accessible(&c, "admin-programmes").await;
    capture_admin(&c, "admin-programmes").await;
    c.goto(&format!("{}/admin/programmes/early-access", app.base_url))
        .await
        .unwrap();
    click(&c, "form[action$='/pause'] button").await;
    c.wait()
        .for_element(Locator::Css("form[action$='/resume']"))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("Paused by eva"), "{text}");
    accessible(&c, "admin-programme").await;
    capture_admin(&c, "admin-programme").await;
    assert!(crate::admin::paused(&app, "early-access").await);
    c.goto(&format!("{}/admin/audit", app.base_url))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("eva") && text.contains("programme.pause"),
        "{text}"
    );
    accessible(&c, "admin-audit").await;
    capture_admin(&c, "admin-audit").await;
    c.goto(&format!("{}/admin/outbox?state=blocked", app.base_url))
        .await
        .unwrap();
    assert!(main_text(&c).await.contains("early_access"));
    accessible(&c, "admin-outbox").await;
    capture_admin(&c, "admin-outbox").await;
    c.goto(&format!("{}/admin/dashboards?customers=all", app.base_url))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("Contacts per customer against the band (FR1)"),
        "{text}"
    );
    accessible(&c, "admin-dashboards").await;
    capture_admin(&c, "admin-dashboards").await;

    // A small simulation of the library from the browser; the page follows it to the end.
    c.goto(&format!("{}/admin/simulator", app.base_url))
        .await
        .unwrap();
    accessible(&c, "admin-simulator").await;
    capture_admin(&c, "admin-simulator").await;
    for (id, value) in [("customers", "30"), ("days", "30")] {
        let field = c.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click(&c, "main form button[type=submit]").await;
    c.wait().for_element(Locator::Id("h-r1")).await.unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("Library as it is"), "{text}");
    accessible(&c, "admin-simulation").await;
    capture_admin(&c, "admin-simulation").await;

    // A forged form without the CSRF token is refused and changes nothing.
    let text = post_from_page(&c, "/admin/programmes/early-access/resume", json!({})).await;
    assert!(text.contains("This form was not accepted"), "{text}");
    capture_admin(&c, "admin-csrf-refused").await;
    assert!(crate::admin::paused(&app, "early-access").await);

    // Sign out; a viewer sees no pause button, and a post with a valid token is refused.
    c.goto(&format!("{}/admin/programmes", app.base_url))
        .await
        .unwrap();
    click(&c, "header.top form[action='/admin/sign-out'] button").await;
    c.wait().for_element(Locator::Id("username")).await.unwrap();
    sign_in(&c, &app.base_url, "victor").await;
    c.goto(&format!("{}/admin/programmes/early-access", app.base_url))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("Your role can view only."), "{text}");
    assert!(
        c.find(Locator::Css("form[action$='/resume']"))
            .await
            .is_err()
    );
    let csrf = c
        .find(Locator::Css("header.top input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let text = post_from_page(
        &c,
        "/admin/programmes/early-access/resume",
        json!({"csrf": csrf}),
    )
    .await;
    assert!(
        text.contains("This needs the role editor; you are viewer."),
        "{text}"
    );
    assert!(crate::admin::paused(&app, "early-access").await);
    c.close().await.unwrap();
}

/// Issue 21: an editor changes a template's Dutch subject in the browser, first with a
/// mistake (the finding names the line, publishing is refused), then right; reads the
/// preview for the sample customers; publishes; and makes the earlier version live again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_changes_a_template_sees_its_preview_and_finding_publishes_and_rolls_back() {
    let app = spawn_app(Backend::Sqlite).await;
    let c = editor_signed_in(&app).await;
    c.goto(&format!("{}/admin/templates", app.base_url))
        .await
        .unwrap();
    accessible(&c, "admin-templates").await;
    capture_admin(&c, "admin-templates").await;
    click(&c, "a[href='/admin/templates/order_confirmation']").await;
    c.wait()
        .for_element(Locator::Id("nl-NL-subject"))
        .await
        .unwrap();
    accessible(&c, "admin-template").await;

    // A subject with an unclosed tag: saved as a draft, its finding shown.
    let subject = c.find(Locator::Id("nl-NL-subject")).await.unwrap();
    subject.clear().await.unwrap();
    subject
        .send_keys("{% if formal %}Uw bestelling {{ order.external_id }} staat klaar")
        .await
        .unwrap();
    click(&c, "#draft-form button[type=submit]").await;
    c.wait().for_element(Locator::Id("findings")).await.unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("[nl-NL] subject") && text.contains("line "),
        "{text}"
    );
    click(&c, "#publish-form button[type=submit]").await;
    wait_for_text(&c, "Not published: fix these first.").await;
    accessible(&c, "admin-template-refused").await;
    capture_admin(&c, "admin-template-refused").await;

    // Mended: the preview shows it for a formal and an informal Dutch customer.
    let subject = c.find(Locator::Id("nl-NL-subject")).await.unwrap();
    subject.clear().await.unwrap();
    subject
        .send_keys("{% if formal %}Uw{% else %}Je{% endif %} bestelling {{ order.external_id }} staat klaar om ingepakt te worden")
        .await
        .unwrap();
    click(&c, "#draft-form button[type=submit]").await;
    let text = wait_for_text(&c, "No problems found: this draft can be published.").await;
    assert!(
        text.contains("Uw bestelling W1042 staat klaar om ingepakt te worden"),
        "{text}"
    );
    let html = c.source().await.unwrap();
    assert!(
        html.contains("Je bestelling W1042 staat klaar om ingepakt te worden"),
        "the informal sample reads it too"
    );
    accessible(&c, "admin-template-draft").await;
    capture_admin(&c, "admin-template-draft").await;
    // Tried on the template's real messages, as a publish will be: nothing is sent.
    click(&c, "form:has(input[name='try']) button[type=submit]").await;
    c.wait().for_element(Locator::Id("trial")).await.unwrap();
    accessible(&c, "admin-template-trial").await;
    capture_admin(&c, "admin-template-trial").await;

    // Published with a note; then version 1 is made live again.
    type_into(&c, "note", "Subject says what happens next").await;
    click(&c, "#publish-form button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("form[action$='/rollback'] button"))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("v2") && text.contains("Subject says what happens next"),
        "{text}"
    );
    assert!(
        app.engine
            .renderer()
            .source("order_confirmation")
            .unwrap()
            .contains("ingepakt")
    );
    capture_admin(&c, "admin-template-published").await;
    click(&c, "form[action$='/rollback'] button").await;
    wait_for_text(&c, "rollback v1").await;
    assert!(
        !app.engine
            .renderer()
            .source("order_confirmation")
            .unwrap()
            .contains("ingepakt")
    );
    accessible(&c, "admin-template-rolled-back").await;
    capture_admin(&c, "admin-template-rolled-back").await;
    c.close().await.unwrap();
}

/// Issue 21: an editor saves an audience and sees its count, makes a campaign, reads its
/// dry run, schedules it, and after the send reads its results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_takes_a_campaign_from_audience_to_dry_run_to_results() {
    let app = spawn_app(Backend::Sqlite).await;
    crate::campaigns::club(&app, 40, 2).await;
    let c = editor_signed_in(&app).await;

    // The audience, first with a mistake, then right.
    c.goto(&format!("{}/admin/audiences", app.base_url))
        .await
        .unwrap();
    type_into(&c, "id", "runners").await;
    type_into(&c, "name", "Hardlopers").await;
    let definition = c.find(Locator::Id("definition")).await.unwrap();
    definition.clear().await.unwrap();
    definition
        .send_keys("customer.atributes.segment == 'runner'")
        .await
        .unwrap();
    click(&c, "#audience-form button[type=submit]").await;
    c.wait().for_element(Locator::Id("error")).await.unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("definition: "), "{text}");
    accessible(&c, "admin-audiences").await;
    capture_admin(&c, "admin-audiences").await;
    let definition = c.find(Locator::Id("definition")).await.unwrap();
    definition.clear().await.unwrap();
    definition
        .send_keys("customer.attributes.segment == 'runner'")
        .await
        .unwrap();
    click(&c, "#audience-form button[type=submit]").await;
    c.wait().for_element(Locator::Id("count")).await.unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("40\nin the audience now"), "{text}");
    accessible(&c, "admin-audience").await;
    capture_admin(&c, "admin-audience").await;

    // The campaign: a draft with its dry run.
    c.goto(&format!("{}/admin/campaigns", app.base_url))
        .await
        .unwrap();
    type_into(&c, "name", "Vroege toegang").await;
    c.execute(
        "document.getElementById('template').value = 'early_access';",
        vec![],
    )
    .await
    .unwrap();
    accessible(&c, "admin-campaigns").await;
    capture_admin(&c, "admin-campaigns").await;
    // The template shows a code: without the pool it comes from, the draft is refused.
    click(&c, "#campaign-form button[type=submit]").await;
    c.wait().for_element(Locator::Id("error")).await.unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("coupon_pool: template 'early_access' shows a coupon code"),
        "{text}"
    );
    c.execute(
        "document.getElementById('coupon_pool').value = 'early-access';",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "#campaign-form button[type=submit]").await;
    c.wait().for_element(Locator::Id("dry-run")).await.unwrap();
    let pool = c.find(Locator::Id("coupon-pool")).await.unwrap();
    assert!(
        pool.text().await.unwrap().contains("Early access: 15% off"),
        "the page says where the codes come from"
    );
    let text = wait_for_text(&c, "Would not get it").await;
    assert!(
        text.contains("40\nin the audience") && text.contains("Would not get it"),
        "{text}"
    );
    accessible(&c, "admin-campaign-dry-run").await;
    capture_admin(&c, "admin-campaign-dry-run").await;

    // Scheduled; the next day it has gone out and the page shows the results.
    click(&c, "form[action$='/schedule'] button").await;
    c.wait().for_element(Locator::Id("results")).await.unwrap();
    assert!(main_text(&c).await.contains("scheduled"));
    let page = c.current_url().await.unwrap().to_string();
    app.advance_hours(24).await;
    // A day later the session (12 hours) has ended: sign in again.
    sign_in(&c, &app.base_url, "eva").await;
    c.goto(&page).await.unwrap();
    c.wait().for_element(Locator::Id("results")).await.unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("planned") && text.contains("40\nrecipients"),
        "{text}"
    );
    let sent = app.smtp.wait_for(1).await;
    assert!(!sent.is_empty());
    assert!(
        text.contains("codes used"),
        "the results count the codes: {text}"
    );
    accessible(&c, "admin-campaign-results").await;
    capture_admin(&c, "admin-campaign-results").await;
    c.close().await.unwrap();
}

/// Issue 21: a two-variant experiment's report on the programme's page — each variant's
/// conversion with its interval and the difference from the first — and the winner applied
/// once the intervals single it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_reads_a_two_variant_experiment_and_applies_its_winner() {
    let (app, _programmes, _) = crate::experiments::experiment_run(Backend::Sqlite).await;
    let c = editor_signed_in(&app).await;
    c.goto(&format!("{}/admin/programmes/thanks-test", app.base_url))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("table.experiment"))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(
        text.contains("The intervals single out a better variant") && text.contains("100.0%"),
        "{text}"
    );
    accessible(&c, "admin-experiment").await;
    capture_admin(&c, "admin-experiment").await;
    click(&c, "form[action$='/winner'] button").await;
    let text = wait_for_text(&c, "every customer gets it now").await;
    assert!(text.contains("winner: B"), "{text}");
    accessible(&c, "admin-experiment-winner").await;
    capture_admin(&c, "admin-experiment-winner").await;
    c.close().await.unwrap();
}

/// Issue 21: an editor changes a programme's wait in the programme editor — first with a
/// version that is not the next one (the finding says which is), then right — reads the
/// draft's steps, simulates a year of the draft, publishes, and makes the earlier version
/// live again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_changes_a_programme_reads_its_flow_publishes_and_makes_the_old_version_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let c = editor_signed_in(&app).await;
    c.goto(&format!("{}/admin/programmes/after-purchase", app.base_url))
        .await
        .unwrap();
    click(&c, "a[href='/admin/programmes/after-purchase/edit']").await;
    c.wait()
        .for_element(Locator::Id("definition"))
        .await
        .unwrap();
    let live = c
        .find(Locator::Id("definition"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let set = |text: String| {
        let c = c.clone();
        async move {
            c.execute(
                "document.getElementById('definition').value = arguments[0];",
                vec![json!(text)],
            )
            .await
            .unwrap();
            click(&c, "#draft-form button[type=submit]").await;
        }
    };
    // The live text is offered as the next version; kept at 3 it is refused.
    assert!(live.contains("version = 4"), "{live}");
    set(live
        .replace("wait = \"1d\"", "wait = \"2d\"")
        .replace("version = 4", "version = 3"))
    .await;
    let text = wait_for_text(&c, "the next version is 4").await;
    assert!(text.contains("version: the next version is 4"), "{text}");
    accessible(&c, "admin-programme-edit-finding").await;
    capture_admin(&c, "admin-programme-edit-finding").await;
    set(live.replace("wait = \"1d\"", "wait = \"2d\"")).await;
    let text = wait_for_text(
        &c,
        "No problems found: simulate a year of this draft, then publish it.",
    )
    .await;
    assert!(text.contains("wait 2d"), "{text}");
    assert!(
        text.contains("Simulate this draft over a year first"),
        "{text}"
    );
    accessible(&c, "admin-programme-edit").await;
    capture_admin(&c, "admin-programme-edit").await;
    // Draft → simulate → publish: a year of the draft beside the library as it is.
    click(&c, "a[href='/admin/simulator?programme=after-purchase']").await;
    for (id, value) in [("customers", "10"), ("days", "365")] {
        let field = c.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click(&c, "main form button[type=submit]").await;
    c.wait()
        .at_most(std::time::Duration::from_secs(300))
        .for_element(Locator::Id("h-r1"))
        .await
        .unwrap();
    let text = main_text(&c).await;
    assert!(text.contains("With the change to after-purchase"), "{text}");
    capture_admin(&c, "admin-programme-draft-simulated").await;
    c.goto(&format!(
        "{}/admin/programmes/after-purchase/edit",
        app.base_url
    ))
    .await
    .unwrap();
    let text = wait_for_text(&c, "Simulated over a year in simulation 1").await;
    assert!(
        text.contains("No problems found: this draft can be published."),
        "{text}"
    );
    capture_admin(&c, "admin-programme-edit-simulated").await;
    type_into(&c, "note", "Thank a day later").await;
    click(&c, "#publish-form button[type=submit]").await;
    wait_for_text(&c, "v4").await;
    assert_eq!(
        app.engine
            .programmes()
            .current()
            .get("after-purchase")
            .unwrap()
            .version,
        4
    );
    c.goto(&format!(
        "{}/admin/programmes/after-purchase/edit",
        app.base_url
    ))
    .await
    .unwrap();
    click(&c, "form[action$='/make-live'] button").await;
    wait_for_text(&c, "rollback v3").await;
    assert_eq!(
        app.engine
            .programmes()
            .current()
            .get("after-purchase")
            .unwrap()
            .version,
        3
    );
    accessible(&c, "admin-programme-edit-versions").await;
    capture_admin(&c, "admin-programme-edit-versions").await;
    c.close().await.unwrap();
}
