//! Letters by post (CH1) on both backends: a letter waits for the print partner's cut-off,
//! joins the day's batch and is `sent`; a customer without a complete address gets none
//! (blocked, with the reason); the batch is one A4 page per letter (`pdfinfo`), each address
//! inside the envelope window (`pdftotext -bbox`), an address file that matches, a manifest
//! with the files' checksums, and the same bytes when made again. A Sunday batch is posted
//! and dated Monday. A picture of the first page is kept in `target/screenshots/`.

use aftercare_domain::MessageState;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::language::Lab;

const CARD: &str = r#"
id = "apology-card"
name = "An apology card by post"
version = 1
requirements = ["CM1"]
trigger = { event = "case_resolved" }

[[steps]]
id = "card"
send = { template = "thanks", class = "service", channels = ["letter"] }
"#;

const NOTE: &str = r#"
id = "case-note"
name = "A note by email"
version = 1
requirements = ["CM1"]
trigger = { event = "case_opened" }

[[steps]]
id = "note"
send = { template = "check_in", class = "service" }
"#;

/// The letters' (customer, state, reason), oldest first.
async fn letters(lab: &Lab) -> Vec<(String, MessageState, String)> {
    let mut tx = lab.store.begin_read().await.unwrap();
    let all = tx.all_messages(None).await.unwrap();
    tx.commit().await.unwrap();
    all.into_iter()
        .map(|m| (m.customer_external_id, m.state, m.reason))
        .collect()
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (install poppler-utils)"));
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every word of page `page` as (text, x_min, y_min, x_max, y_max) in millimetres.
fn words(pdf: &std::path::Path, page: usize) -> Vec<(String, f64, f64, f64, f64)> {
    let p = page.to_string();
    let html = run(
        "pdftotext",
        &["-bbox", "-f", &p, "-l", &p, pdf.to_str().unwrap(), "-"],
    );
    let mm = 25.4 / 72.0;
    html.lines()
        .filter(|l| l.trim_start().starts_with("<word "))
        .map(|l| {
            let attr = |name: &str| -> f64 {
                let start = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                l[start..]
                    .split('"')
                    .next()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    * mm
            };
            let text = l
                .split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_string();
            (text, attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax"))
        })
        .collect()
}

both_backends!(
    letters_wait_for_the_cut_off_and_print_one_page_each_inside_the_window,
    |backend| async move {
        // Sunday 29 November 2026, 10:00 in Amsterdam.
        let lab = Lab::new(backend, "2026-11-29T09:00:00Z", &[("card.toml", CARD)]).await;
        lab.customer(
            "A1",
            json!({"postal_address": {"street": "Kerkstraat", "house_number": "12", "house_number_addition": "A",
                "postcode": "1012ab", "city": "Amsterdam", "country": "NL"}}),
        )
        .await;
        lab.customer(
            "B1",
            json!({"first_name": "An", "name_prefix": null, "last_name": "Peeters", "gender": "female", "locale": "nl-BE",
                "time_zone": "Europe/Brussels",
                "postal_address": {"street": "Meir", "house_number": "1", "house_number_addition": "3",
                "postcode": "2000", "city": "Antwerpen", "country": "BE"}}),
        )
        .await;
        lab.customer("N1", json!({})).await;
        for id in ["A1", "B1", "N1"] {
            lab.event(id, "case_resolved", json!({"channel": "phone"}))
                .await;
        }
        lab.run().await;
        let before = letters(&lab).await;
        assert_eq!(before.len(), 3, "{before:?}");
        for (customer, state, reason) in &before {
            if customer == "N1" {
                assert_eq!(*state, MessageState::Blocked);
                assert_eq!(
                    reason,
                    "blocked: the customer has no complete postal address for a letter"
                );
            } else {
                assert_eq!(*state, MessageState::Sending, "{customer}: {reason}");
                assert!(reason.starts_with("waiting for the print batch for print partner (cut-off 16:00 Europe/Amsterdam)"), "{reason}");
            }
        }
        // Asking before the cut-off makes no batch.
        let out = tempfile::tempdir().unwrap();
        let early = aftercare::cli::print_batch::write_batch(
            &lab.engine,
            "2026-11-29".parse().unwrap(),
            out.path(),
        )
        .await;
        assert!(
            early
                .unwrap_err()
                .to_string()
                .contains("has not passed yet; 2 letter(s) waiting")
        );

        // 16:00 in Amsterdam: the worker closes the day's batch. Sunday: posted Monday.
        lab.hours(6).await;
        for (customer, state, reason) in letters(&lab).await.iter().filter(|l| l.0 != "N1") {
            assert_eq!(*state, MessageState::Sent, "{customer}");
            assert_eq!(
                reason,
                "in print batch 1 for print partner, posted 2026-11-30"
            );
        }
        let summary = aftercare::cli::print_batch::write_batch(
            &lab.engine,
            "2026-11-29".parse().unwrap(),
            out.path(),
        )
        .await
        .unwrap();
        assert!(
            summary.starts_with(
                "Print batch 1 for print partner (2026-11-29, posted 2026-11-30): 2 letter(s)"
            ),
            "{summary}"
        );
        let pdf = out.path().join("letters.pdf");
        let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
        assert!(
            info.lines()
                .any(|l| l.starts_with("Pages:") && l.ends_with(" 2")),
            "{info}"
        );
        assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");

        // Each address sits inside the window (20–105 mm from the left, 45–90 mm from the top).
        let (left, top, right, bottom) = aftercare_channels::letter::WINDOW_MM;
        for (page, address) in [
            (1, ["Kerkstraat", "12", "A", "1012", "AB", "AMSTERDAM"]),
            (2, ["Meir", "1", "bus", "3", "2000", "ANTWERPEN"]),
        ] {
            let words = words(&pdf, page);
            for word in address {
                let (_, x0, y0, x1, y1) = words
                    .iter()
                    .find(|w| w.0 == word && w.2 > 40.0 && w.2 < 100.0)
                    .unwrap_or_else(|| panic!("page {page}: no '{word}' in {words:?}"));
                assert!(
                    *x0 >= f64::from(left)
                        && *x1 <= f64::from(right)
                        && *y0 >= f64::from(top)
                        && *y1 <= f64::from(bottom),
                    "page {page}: '{word}' at ({x0:.1}, {y0:.1})–({x1:.1}, {y1:.1}) mm is outside the window"
                );
            }
            let text: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
            let text = text.join(" ");
            // Dated the day it is posted: Monday, never the Sunday.
            assert!(text.contains("30 november 2026"), "page {page}: {text}");
        }
        assert!(
            words(&pdf, 2).iter().any(|w| w.0 == "BELGIË"),
            "a Belgian address from the Netherlands says so"
        );

        // The address file matches the pages; the manifest's checksums match the files.
        let csv = std::fs::read_to_string(out.path().join("addresses.csv")).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(
            rows[0],
            "page,reference,customer,line_1,line_2,line_3,line_4,country"
        );
        assert!(
            rows[1].starts_with("1,")
                && rows[1].contains(",A1,Jan de Vries,Kerkstraat 12 A,1012 AB  AMSTERDAM,,NL"),
            "{csv}"
        );
        assert!(
            rows[2].starts_with("2,")
                && rows[2].contains(",B1,An Peeters,Meir 1 bus 3,2000 ANTWERPEN,BELGIË,BE"),
            "{csv}"
        );
        assert_eq!(rows.len(), 3);
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(out.path().join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["letters"], 2);
        assert_eq!(manifest["posted_on"], "2026-11-30");
        assert_eq!(manifest["countries"], json!({"BE": 1, "NL": 1}));
        let pdf_bytes = std::fs::read(&pdf).unwrap();
        assert_eq!(
            manifest["files"][0]["sha256"],
            aftercare_channels::letter::sha256(&pdf_bytes)
        );

        // Made again: the same bytes.
        let again = tempfile::tempdir().unwrap();
        aftercare::cli::print_batch::write_batch(
            &lab.engine,
            "2026-11-29".parse().unwrap(),
            again.path(),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read(again.path().join("letters.pdf")).unwrap(),
            pdf_bytes
        );

        // A picture of the first page for people to look at.
        let shots = repo_root().join("target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let prefix = shots.join(format!(
            "letter-{}",
            if matches!(backend, Backend::Sqlite) {
                "sqlite"
            } else {
                "postgres"
            }
        ));
        run(
            "pdftoppm",
            &[
                "-png",
                "-r",
                "60",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                pdf.to_str().unwrap(),
                prefix.to_str().unwrap(),
            ],
        );
    }
);

both_backends!(
    a_letter_waiting_for_the_print_batch_already_counts_as_a_contact,
    |backend| async move {
        // Sunday 29 November 2026, 10:00 in Amsterdam: the letter waits for 16:00.
        let lab = Lab::new(
            backend,
            "2026-11-29T09:00:00Z",
            &[("card.toml", CARD), ("note.toml", NOTE)],
        )
        .await;
        lab.customer(
            "A1",
            json!({"postal_address": {"street": "Kerkstraat", "house_number": "12",
                "postcode": "1012ab", "city": "Amsterdam", "country": "NL"}}),
        )
        .await;
        lab.event("A1", "case_resolved", json!({"channel": "phone"}))
            .await;
        lab.run().await;
        lab.event("A1", "case_opened", json!({"kind": "question"}))
            .await;
        lab.run().await;
        let all = letters(&lab).await;
        assert_eq!(all[0].1, MessageState::Sending, "{all:?}");
        // The email the same day waits: the letter on its way is the day's one
        // non-transactional message (the default cap).
        assert_eq!(all[1].1, MessageState::Planned, "{all:?}");
        assert!(
            all[1]
                .2
                .contains("at most 1 non-transactional message per day"),
            "{all:?}"
        );
        // Once its batch closes (16:00 Amsterdam) the letter is sent, and still counts from
        // 10:00, when it joined the queue: a contact never moves later, so no decision after
        // the batch sees another past than one before it (the policy, the band dashboard and
        // the contact calendar read it alike).
        lab.clock.advance(jiff::SignedDuration::from_hours(7));
        lab.run().await;
        let all = letters(&lab).await;
        assert_eq!(all[0].1, MessageState::Sent, "{all:?}");
        let mut tx = lab.store.begin_read().await.unwrap();
        let c = tx.customer_by_external_id("A1").await.unwrap().unwrap();
        let since = "2026-11-01T00:00:00Z".parse().unwrap();
        let contacts = tx.recent_contacts(c.id, since).await.unwrap();
        tx.commit().await.unwrap();
        let queued: jiff::Timestamp = "2026-11-29T09:00:00Z".parse().unwrap();
        assert_eq!(
            contacts.iter().map(|c| c.at).collect::<Vec<_>>(),
            vec![queued],
            "{contacts:?}"
        );
    }
);
