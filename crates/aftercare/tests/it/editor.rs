//! The template editor over HTTP on both backends (issue 21): an editor saves a draft that
//! does not load and sees the finding with its line, publishing it is refused and changes
//! nothing; a good draft is previewed for the sample customers and a real one, published as
//! the next version (audited), reaches a worker that was already running without a restart
//! — the order confirmation it sends carries the new subject — survives the next start of a
//! process; a draft that renders for the samples but not for a real message is caught by
//! the trial on real messages and refused; and one click makes the earlier version live
//! again. A viewer can read but not
//! change. The same journey in Chromium is in `browser.rs`.

use std::collections::BTreeMap;

use aftercare_engine::content::{TemplateText, parts};

use crate::admin::sign_in_as;
use crate::both_backends;
use crate::helpers::*;

const TEMPLATE: &str = "order_confirmation";

/// The editor's form for `fields`, with the CSRF token.
fn form(csrf: &str, fields: &BTreeMap<String, TemplateText>) -> Vec<(String, String)> {
    let mut out = vec![("csrf".to_string(), csrf.to_string())];
    for (tag, t) in fields {
        out.push((format!("{tag}.subject"), t.subject.clone()));
        out.push((format!("{tag}.body"), t.body.clone()));
        out.push((format!("{tag}.short"), t.short.clone().unwrap_or_default()));
    }
    out
}

fn as_refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn live_version(app: &TestApp) -> i32 {
    let mut tx = app.store.begin_read().await.unwrap();
    let live = tx.live_templates().await.unwrap();
    tx.commit().await.unwrap();
    live.into_iter()
        .find(|l| l.name == TEMPLATE)
        .map(|l| l.version)
        .unwrap()
}

/// Another worker process on the same store, running: its engine, what stops it, and its
/// task.
async fn running_worker(
    app: &TestApp,
) -> (
    aftercare_engine::Engine,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let worker = aftercare::app::build_engine(&app.config, app.clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = stopped.await;
                })
                .await;
        })
    };
    (worker, stop, running)
}

both_backends!(
    an_edited_template_is_checked_previewed_published_to_running_workers_and_rolled_back,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        // Another worker process on the same store, already running before the change.
        let (worker, stop, running) = running_worker(&app).await;
        let eva = sign_in_as(&app, "eva", "editor").await;
        let path = format!("/admin/templates/{TEMPLATE}");
        let (status, list) = eva.get("/admin/templates").await;
        assert_eq!(status, 200);
        assert!(
            list.contains(TEMPLATE) && list.contains("after-purchase"),
            "the list names the template and the programme that sends it"
        );
        assert_eq!(live_version(&app).await, 1, "the file is version 1");
        let live = parts(app.engine.renderer().source(TEMPLATE).unwrap()).unwrap();
        let csrf = eva.csrf(&path).await;

        // A draft whose Dutch text does not load: saved (it is work in progress), its
        // finding shown with its line, and publishing it refused without a change.
        let mut broken = live.clone();
        broken.get_mut("nl-NL").unwrap().body =
            "{{ greeting }}\n\n{% if formal %}Dank u wel\n".into();
        let (status, _) = eva.post(&path, &as_refs(&form(&csrf, &broken))).await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(&path).await;
        assert!(
            page.contains("Fix these before publishing")
                && page.contains("[nl-NL] body")
                && page.contains("line "),
            "the editor names what is wrong and where"
        );
        let (status, page) = eva
            .post(
                &format!("{path}/publish"),
                &[("csrf", &csrf), ("note", "oops")],
            )
            .await;
        assert_eq!(status, 422, "a draft that does not load is never published");
        assert!(page.contains("Not published"), "{page}");
        assert_eq!(live_version(&app).await, 1);
        assert_eq!(
            parts(app.engine.renderer().source(TEMPLATE).unwrap()).unwrap(),
            live
        );

        // A good draft: previewed for the samples and for Jan, with the difference.
        let mut better = live.clone();
        better.get_mut("nl-NL").unwrap().subject =
            "{% if formal %}Uw{% else %}Je{% endif %} bestelling {{ order.external_id }} is onderweg naar ons magazijn".into();
        let (status, _) = eva.post(&path, &as_refs(&form(&csrf, &better))).await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(&format!("{path}?customer=C1")).await;
        assert!(page.contains("No problems found"), "{page}");
        assert!(
            page.contains("Uw bestelling W1042 is onderweg naar ons magazijn")
                && page.contains("Je bestelling W1042 is onderweg naar ons magazijn"),
            "the sample customers, formal and informal, read the draft"
        );
        assert!(
            page.contains("Geachte heer De Vries"),
            "and so does the real customer picked by id"
        );
        let (_, page) = eva.get(&format!("{path}?customer=vries")).await;
        assert!(
            page.contains("Geachte heer De Vries") && page.contains("<h3>C1</h3>"),
            "a customer found by name"
        );
        assert!(
            page.contains("+subject = ") && page.contains("-subject = "),
            "the draft against the live version"
        );

        // Published: version 2 from the editor, audited, the draft done with.
        let (status, _) = eva
            .post(
                &format!("{path}/publish"),
                &[("csrf", &csrf), ("note", "warmer subject")],
            )
            .await;
        assert_eq!(status, 303);
        assert_eq!(live_version(&app).await, 2);
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx
            .audit_log(Some(&format!("template:{TEMPLATE}")), 10)
            .await
            .unwrap();
        let versions = tx.template_versions(TEMPLATE).await.unwrap();
        assert!(
            tx.draft(aftercare_store::Content::Template, TEMPLATE)
                .await
                .unwrap()
                .is_none()
        );
        tx.commit().await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "template.publish" && a.username == "eva"),
            "{audit:?}"
        );
        assert_eq!(
            (versions[1].origin.as_str(), versions[1].note.as_str()),
            ("editor", "warmer subject")
        );

        // The running worker looks again within seconds (its clock is the test's).
        app.clock.advance(jiff::SignedDuration::from_secs(6));
        for _ in 0..100 {
            if worker
                .renderer()
                .source(TEMPLATE)
                .is_some_and(|s| s.contains("magazijn"))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Jan orders; only the running worker works, and sends the new words.
        let (status, body) = app.post_json("/v1/orders", &order("W1042")).await;
        assert_eq!(status, 201, "{body}");
        worker.wake();
        let mail = app.smtp.wait_for(1).await;
        assert!(
            mail.first()
                .is_some_and(|m| m.contains("onderweg naar ons magazijn")),
            "{mail:?}"
        );

        // A process started now keeps the published version (the file did not change).
        let restarted = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        assert!(
            restarted
                .renderer()
                .source(TEMPLATE)
                .unwrap()
                .contains("magazijn")
        );

        // A draft that reads fine for the samples (two order lines) but not for Jan's real
        // order (one line): the trial on real messages shows it, and publishing is refused.
        let mut second_line = better.clone();
        second_line.get_mut("nl-NL").unwrap().subject =
            "Uw {{ order.lines[1].name }} is binnen".into();
        let (status, _) = eva.post(&path, &as_refs(&form(&csrf, &second_line))).await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(&format!("{path}?try=1")).await;
        assert!(
            page.contains("No problems found"),
            "the samples have a second line"
        );
        let trial = &page[page.find("id=\"trial\"").expect("the trial's results")..];
        assert!(
            trial.contains("<span class=\"big\">1</span>messages tested")
                && trial.contains("<span class=\"big\">1</span>failed")
                && trial.contains("C1 (#"),
            "{trial}"
        );
        let (status, page) = eva
            .post(&format!("{path}/publish"), &[("csrf", &csrf), ("note", "")])
            .await;
        assert_eq!(status, 422);
        assert!(
            page.contains("does not render for customer C1&#x27;s message")
                || page.contains("does not render for customer C1's message"),
            "{page}"
        );
        assert_eq!(live_version(&app).await, 2);
        let (status, _) = eva
            .post(&format!("{path}/discard"), &[("csrf", &csrf)])
            .await;
        assert_eq!(status, 303);

        // A viewer reads the editor but cannot change anything.
        let victor = sign_in_as(&app, "victor", "viewer").await;
        let (status, page) = victor.get(&path).await;
        assert_eq!(status, 200);
        assert!(!page.contains("/publish") && page.contains("readonly"));
        let vcsrf = victor.csrf("/admin/templates").await;
        let (status, _) = victor
            .post(
                &format!("{path}/rollback"),
                &[("csrf", &vcsrf), ("version", "1")],
            )
            .await;
        assert_eq!(status, 403);
        assert_eq!(live_version(&app).await, 2);

        // One click makes version 1 live again, everywhere.
        let (status, _) = eva
            .post(
                &format!("{path}/rollback"),
                &[("csrf", &csrf), ("version", "1")],
            )
            .await;
        assert_eq!(status, 303);
        assert_eq!(live_version(&app).await, 1);
        assert!(
            !app.engine
                .renderer()
                .source(TEMPLATE)
                .unwrap()
                .contains("magazijn")
        );
        let (_, page) = eva.get(&path).await;
        assert!(
            page.contains("rollback v1") && page.contains("publish v2"),
            "{page}"
        );
        let (status, toml) = eva.get(&format!("{path}/export")).await;
        assert_eq!(status, 200);
        assert_eq!(
            parts(&toml).unwrap(),
            live,
            "the export is the live version's TOML"
        );
        let _ = stop.send(());
        let _ = running.await;
    }
);

both_backends!(
    a_changed_template_file_is_a_deploy_that_goes_live_over_an_editor_version,
    |backend| async move {
        let app = spawn_app(backend).await;
        let eva = sign_in_as(&app, "eva", "editor").await;
        let path = format!("/admin/templates/{TEMPLATE}");
        let csrf = eva.csrf(&path).await;
        let mut fields = parts(app.engine.renderer().source(TEMPLATE).unwrap()).unwrap();
        fields.get_mut("en").unwrap().subject = "Order {{ order.external_id }} is in".into();
        let (status, _) = eva.post(&path, &as_refs(&form(&csrf, &fields))).await;
        assert_eq!(status, 303);
        let (status, _) = eva
            .post(&format!("{path}/publish"), &[("csrf", &csrf), ("note", "")])
            .await;
        assert_eq!(status, 303);
        assert_eq!(live_version(&app).await, 2);

        // The next deploy brings a changed file: it is version 3, live, from the file.
        let dir = tempfile::tempdir().unwrap();
        let source = repo_root().join("programmes/templates");
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        copy_dir(&source.join("pages"), &dir.path().join("pages"));
        let file = dir.path().join(format!("{TEMPLATE}.toml"));
        let changed = std::fs::read_to_string(&file)
            .unwrap()
            .replace("is binnen", "is bij ons binnen");
        std::fs::write(&file, changed).unwrap();
        let mut config = app.config.clone();
        config.templates_dir = dir.path().to_path_buf();
        let deployed = aftercare::app::build_engine(&config, app.clock.clone())
            .await
            .unwrap();
        assert_eq!(live_version(&app).await, 3);
        let text = deployed.renderer().source(TEMPLATE).unwrap().to_string();
        assert!(
            text.contains("is bij ons binnen")
                && !text.contains("Order {{ order.external_id }} is in"),
            "{text}"
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let changes = tx
            .content_changes(aftercare_store::Content::Template, TEMPLATE, 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["deploy", "publish", "deploy"]);
    }
);

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The versions Jan's after-purchase enrolments started on, oldest first.
async fn jan_enrolled_on(app: &TestApp) -> Vec<i32> {
    let mut tx = app.store.begin_read().await.unwrap();
    let jan = tx.customer_by_external_id("C1").await.unwrap().unwrap();
    let mut versions: Vec<(aftercare_store::EnrolmentId, i32)> = tx
        .enrolments_of_customer(jan.id, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.programme_id == "after-purchase")
        .map(|e| (e.id, e.programme_version))
        .collect();
    tx.commit().await.unwrap();
    versions.sort();
    versions.into_iter().map(|(_, v)| v).collect()
}

async fn live_programme(app: &TestApp) -> i32 {
    let mut tx = app.store.begin_read().await.unwrap();
    let live = tx.live_programmes().await.unwrap();
    tx.commit().await.unwrap();
    live.into_iter()
        .find(|(id, ..)| id == "after-purchase")
        .map(|(_, v, ..)| v)
        .unwrap()
}

both_backends!(
    an_edited_programme_is_checked_published_to_running_workers_and_rolled_back_while_enrolled_customers_finish_on_theirs,
    |backend| async move {
        let app = spawn_app(backend).await;
        app.seed_shop(&jan_de_vries()).await;
        let (worker, stop, running) = running_worker(&app).await;
        // Jan orders: enrolled on the file's version 3.
        let (status, body) = app.post_json("/v1/orders", &order("W1")).await;
        assert_eq!(status, 201, "{body}");
        worker.wake();
        for _ in 0..100 {
            if !jan_enrolled_on(&app).await.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(jan_enrolled_on(&app).await, [3]);

        let eva = sign_in_as(&app, "eva", "editor").await;
        let path = "/admin/programmes/after-purchase/edit";
        let (status, page) = eva.get(path).await;
        assert_eq!(status, 200);
        assert!(page.contains("the next version is 4"), "{page}");
        let csrf = eva.csrf(path).await;
        let live_text = app
            .engine
            .programmes()
            .current()
            .get("after-purchase")
            .unwrap()
            .text
            .clone();

        // A draft that keeps version 3 and sends a template that does not exist: saved,
        // its findings shown, publishing refused without a change.
        let broken = live_text
            .replace("wait = \"1d\"", "wait = \"2d\"")
            .replace("template = \"thanks\"", "template = \"thanx\"");
        let (status, _) = eva
            .post(path, &[("csrf", &csrf), ("definition", &broken)])
            .await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(path).await;
        assert!(page.contains("missing template &#x27;thanx&#x27;") || page.contains("missing template 'thanx'"), "{page}");
        let (status, page) = eva
            .post("/admin/programmes/after-purchase/publish", &[("csrf", &csrf), ("note", "")])
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("Not published"), "{page}");
        assert_eq!(live_programme(&app).await, 3);

        // Mended, as version 4: its steps read back, the difference shown, published.
        let good = live_text
            .replace("wait = \"1d\"", "wait = \"2d\"")
            .replace("version = 3", "version = 4");
        let (status, _) = eva
            .post(path, &[("csrf", &csrf), ("definition", &good)])
            .await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(path).await;
        assert!(page.contains("No problems found"), "{page}");
        assert!(page.contains("wait 2d"), "the draft's steps in words: {page}");
        assert!(page.contains("+wait = ") && page.contains("-wait = "), "{page}");
        // Draft → simulate → publish: not before a year of this very draft was simulated.
        let form = [("csrf", csrf.as_str()), ("note", "thank a day later")];
        let publish = || eva.post("/admin/programmes/after-purchase/publish", &form);
        let (status, page) = publish().await;
        assert_eq!(status, 409, "{page}");
        assert!(page.contains("simulate this draft over a year first"), "{page}");
        eva.simulate_draft("after-purchase", &good, "14").await;
        let (status, page) = publish().await;
        assert_eq!(status, 409, "{page}");
        assert!(page.contains("covered 14 days"), "{page}");
        eva.simulate_draft("after-purchase", &good, "365").await;
        let (_, page) = eva.get(path).await;
        assert!(page.contains("Simulated over a year in simulation 2"), "{page}");
        let (status, page) = publish().await;
        assert_eq!(status, 303, "{page}");
        assert_eq!(live_programme(&app).await, 4);

        // The running worker takes it within seconds: Jan's next order starts on 4, his
        // first enrolment stays on 3.
        app.clock.advance(jiff::SignedDuration::from_secs(6));
        for _ in 0..100 {
            if worker
                .programmes()
                .current()
                .get("after-purchase")
                .is_some_and(|p| p.version == 4)
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (status, body) = app.post_json("/v1/orders", &order("W2")).await;
        assert_eq!(status, 201, "{body}");
        worker.wake();
        for _ in 0..100 {
            if jan_enrolled_on(&app).await.len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(jan_enrolled_on(&app).await, [3, 4]);

        // A process started now keeps version 4 (the file still says 3).
        let restarted = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        assert_eq!(
            restarted.programmes().current().get("after-purchase").unwrap().version,
            4
        );

        // Version 3 made live again with one click; audited.
        let (status, _) = eva
            .post(
                "/admin/programmes/after-purchase/make-live",
                &[("csrf", &csrf), ("version", "3")],
            )
            .await;
        assert_eq!(status, 303);
        assert_eq!(live_programme(&app).await, 3);
        assert_eq!(
            app.engine.programmes().current().get("after-purchase").unwrap().version,
            3
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx.audit_log(Some("programme:after-purchase"), 10).await.unwrap();
        tx.commit().await.unwrap();
        for action in ["programme.draft", "programme.publish", "programme.rollback"] {
            assert!(audit.iter().any(|a| a.action == action), "{action}: {audit:?}");
        }
        let _ = stop.send(());
        let _ = running.await;
    }
);

both_backends!(
    a_template_begun_in_the_editor_goes_live_on_publish_and_campaigns_can_send_it,
    |backend| async move {
        let app = spawn_app(backend).await;
        let other = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        let eva = sign_in_as(&app, "eva", "editor").await;
        let (status, page) = eva.get("/admin/templates").await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"begin-form\""), "{page}");
        let csrf = eva.csrf("/admin/templates").await;
        let begin = |name: &'static str, from: &'static str| {
            let csrf = csrf.clone();
            let eva = &eva;
            async move {
                eva.post(
                    "/admin/templates",
                    &[("csrf", &csrf), ("name", name), ("from", from)],
                )
                .await
            }
        };
        // A name that is not one, a name taken, a copy of nothing: refused, naming the field.
        for (name, from, why) in [
            ("Herfst!", "inspiration", "name: 1 to 60 lowercase letters"),
            (
                "inspiration",
                "inspiration",
                "name: there is a template &#x27;inspiration&#x27; already",
            ),
            (
                "autumn_offer",
                "nope",
                "from: there is no template &#x27;nope&#x27;",
            ),
        ] {
            let (status, page) = begin(name, from).await;
            assert_eq!(status, 422, "{page}");
            assert!(page.contains(why), "{why} in {page}");
        }
        let (status, _) = begin("autumn_offer", "inspiration").await;
        assert_eq!(status, 303);
        let (status, _) = begin("autumn_offer", "inspiration").await;
        assert_eq!(status, 422, "begun once");
        let (_, list) = eva.get("/admin/templates").await;
        assert!(
            list.contains("/admin/templates/autumn_offer") && list.contains("new, draft"),
            "{list}"
        );

        // Not live yet: a campaign cannot send it.
        let campaign = |template: &str| aftercare_engine::campaigns::Draft {
            name: "Herfst".into(),
            template: template.into(),
            audience_id: "everyone".into(),
            class: "promotional".into(),
            channels: "email".into(),
            send_on: "2026-10-03".into(),
            local_time: "10:00".into(),
            holdout_percent: "10".into(),
            attribution_days: "7".into(),
            coupon_pool: String::new(),
        };
        app.engine
            .save_audience("everyone", "Everyone", "stats.orders_count >= 0", "eva")
            .await
            .unwrap()
            .unwrap();
        let refused = app
            .engine
            .create_campaign(&campaign("autumn_offer"), "eva")
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.field, "template");

        // Written in the editor like any template, and published.
        let path = "/admin/templates/autumn_offer";
        let (status, page) = eva.get(path).await;
        assert_eq!(status, 200, "{page}");
        let mut tx = app.store.begin_read().await.unwrap();
        let draft = tx
            .draft(aftercare_store::Content::Template, "autumn_offer")
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        let mut fields = parts(&draft.definition).unwrap();
        fields.get_mut("nl-NL").unwrap().subject = "De herfst is begonnen".into();
        fields.get_mut("en").unwrap().subject = "Autumn is here".into();
        let (status, _) = eva.post(path, &as_refs(&form(&csrf, &fields))).await;
        assert_eq!(status, 303);
        let (_, page) = eva.get(path).await;
        assert!(page.contains("No problems found"), "{page}");
        assert!(
            page.contains("De herfst is begonnen"),
            "the preview: {page}"
        );
        let (status, page) = eva
            .post(
                &format!("{path}/publish"),
                &[("csrf", &csrf), ("note", "autumn")],
            )
            .await;
        assert_eq!(status, 303, "{page}");
        assert!(
            app.engine
                .renderer()
                .template_names()
                .contains("autumn_offer")
        );
        app.engine
            .create_campaign(&campaign("autumn_offer"), "eva")
            .await
            .unwrap()
            .expect("a campaign may send the published template");

        // A running process picks it up; a process started now loads it from the store.
        assert!(other.refresh_content().await.unwrap());
        assert!(other.renderer().template_names().contains("autumn_offer"));
        let restarted = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        let renderer = restarted.renderer();
        assert!(
            renderer
                .source("autumn_offer")
                .is_some_and(|t| t.contains("De herfst is begonnen")),
            "{:?}",
            renderer.source("autumn_offer")
        );
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx
            .audit_log(Some("template:autumn_offer"), 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for action in ["template.begin", "template.draft", "template.publish"] {
            assert!(
                audit.iter().any(|a| a.action == action),
                "{action}: {audit:?}"
            );
        }
    }
);

both_backends!(
    a_programme_begun_in_the_editor_is_simulated_published_and_loaded_by_every_process,
    |backend| async move {
        let app = spawn_app(backend).await;
        let other = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        let eva = sign_in_as(&app, "eva", "editor").await;
        let (_, page) = eva.get("/admin/programmes").await;
        assert!(page.contains("id=\"begin-form\""), "{page}");
        let csrf = eva.csrf("/admin/programmes").await;
        let begin = |id: &'static str, from: &'static str| {
            let csrf = csrf.clone();
            let eva = &eva;
            async move {
                eva.post(
                    "/admin/programmes",
                    &[("csrf", &csrf), ("id", id), ("from", from)],
                )
                .await
            }
        };
        for (id, from, why) in [
            (
                "Herfst",
                "after-purchase",
                "id: 1 to 60 lowercase letters, digits and hyphens",
            ),
            (
                "win-back",
                "after-purchase",
                "id: there is a programme &#x27;win-back&#x27; already",
            ),
            (
                "autumn-thanks",
                "nope",
                "from: there is no programme &#x27;nope&#x27;",
            ),
        ] {
            let (status, page) = begin(id, from).await;
            assert_eq!(status, 422, "{page}");
            assert!(page.contains(why), "{why} in {page}");
        }
        let (status, _) = begin("autumn-thanks", "after-purchase").await;
        assert_eq!(status, 303);
        let (_, page) = eva.get("/admin/programmes").await;
        assert!(
            page.contains("/admin/programmes/autumn-thanks/edit"),
            "{page}"
        );

        // The copy carries its own id and version 1, and checks clean.
        let path = "/admin/programmes/autumn-thanks/edit";
        let (status, page) = eva.get(path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("the next version is 1"), "{page}");
        let mut tx = app.store.begin_read().await.unwrap();
        let draft = tx
            .draft(aftercare_store::Content::Programme, "autumn-thanks")
            .await
            .unwrap()
            .unwrap()
            .definition;
        tx.commit().await.unwrap();
        assert!(
            draft.contains("id = \"autumn-thanks\"") && draft.contains("version = 1\n"),
            "{draft}"
        );
        assert!(
            draft.contains("id = \"confirmation\""),
            "the steps keep their ids: {draft}"
        );
        assert!(page.contains("No problems found"), "{page}");
        // It says it runs beside its original, which sends the same templates.
        assert!(
            page.contains("id=\"beside-after-purchase\"")
                && page.contains("uses the same template"),
            "{page}"
        );

        // Draft → simulate → publish, as for any programme.
        let form = [("csrf", csrf.as_str()), ("note", "a new flow")];
        let publish = || eva.post("/admin/programmes/autumn-thanks/publish", &form);
        let (status, page) = publish().await;
        assert_eq!(status, 409, "{page}");
        let simulated = eva.simulate_draft("autumn-thanks", &draft, "365").await;
        assert!(
            simulated.contains("With the change to autumn-thanks"),
            "{simulated}"
        );
        let (status, page) = publish().await;
        assert_eq!(status, 303, "{page}");
        let live = app.engine.programmes();
        assert_eq!(
            live.current().get("autumn-thanks").map(|p| p.version),
            Some(1)
        );

        // Another running process picks it up; a process started now loads it.
        assert!(other.refresh_content().await.unwrap());
        assert!(other.programmes().current().get("autumn-thanks").is_some());
        let restarted = aftercare::app::build_engine(&app.config, app.clock.clone())
            .await
            .unwrap();
        assert!(
            restarted
                .programmes()
                .current()
                .get("autumn-thanks")
                .is_some()
        );
        let (status, _) = eva.get("/admin/programmes/autumn-thanks").await;
        assert_eq!(status, 200);
        let mut tx = app.store.begin_read().await.unwrap();
        let audit = tx
            .audit_log(Some("programme:autumn-thanks"), 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for action in ["programme.begin", "programme.publish"] {
            assert!(
                audit.iter().any(|a| a.action == action),
                "{action}: {audit:?}"
            );
        }
    }
);
