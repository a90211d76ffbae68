//! Fuzz targets for every parser of the engine that reads outside input (issue 19):
//! programme TOML, template TOML, CEL conditions and RFC 3464 bounce mails. Each takes
//! arbitrary text and, mostly, valid inputs with random edits (proptest), and must answer
//! with a value or an error — never a panic. `PROPTEST_CASES=100000 cargo test -p
//! aftercare-engine fuzz` runs them longer on demand; the suite runs the default number.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::condition::{Condition, sample_data};
use crate::programme::{CheckContext, parse_programme};

/// One of `seeds` with random byte edits ([`aftercare_domain::text::with_edits`]).
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    (
        prop::sample::select(seeds),
        prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12),
    )
        .prop_map(|(seed, edits)| aftercare_domain::text::with_edits(&seed, &edits))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    texts.sort();
    texts
}

fn context() -> CheckContext {
    CheckContext {
        templates: ["thanks".to_string(), "order_confirmation".to_string()]
            .into_iter()
            .collect(),
        custom_events: Default::default(),
        coupon_pools: ["referral".to_string()].into_iter().collect(),
        webhook_targets: ["crm".to_string()].into_iter().collect(),
        short_templates: Default::default(),
        providers: Default::default(),
    }
}

const CONDITIONS: &[&str] = &[
    "customer.locale == 'nl-NL'",
    "size(products) > 0 && products[0].category == 'running-shoes'",
    "stats.orders >= 3 || customer.attributes.segment == 'runner'",
    "order.total_cents > 10000 && event.type == 'order_placed'",
    "products.exists(p, p.lifespan_days > 100)",
    "[1, 2, 3].map(x, x * 2)[0] == 2",
    "customer.first_name.startsWith('J') ? true : false",
];

proptest! {
    #[test]
    fn programme_toml_never_panics(text in prop_oneof![
        4 => mutated(files(&repo().join("programmes"))),
        1 => "[ -~\n]{0,400}",
    ]) {
        let _ = parse_programme(Path::new("fuzz.toml"), &text, &context());
    }

    #[test]
    fn cel_conditions_never_panic(source in prop_oneof![
        4 => mutated(CONDITIONS.iter().map(|s| s.to_string()).collect()),
        1 => "[ -~]{0,80}",
    ]) {
        if let Ok(condition) = Condition::parse(&source) {
            let _ = condition.evaluate(&sample_data());
        }
        let _ = Condition::parse_date(&source);
    }

    #[test]
    fn bounce_mails_never_panic(raw in prop_oneof![
        4 => mutated(vec![crate::feedback::tests::DSN.to_string()]),
        1 => "[ -~\r\n]{0,600}",
    ]) {
        let at: jiff::Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        if let Ok(found) = crate::feedback::from_dsn(raw.as_bytes(), at) {
            // One finding per recipient block at most: nothing grows past its input.
            prop_assert!(found.len() <= raw.len() / 20 + 1);
        }
    }
}

proptest! {
    // Loading templates writes files: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn template_toml_never_panics(text in mutated(files(&repo().join("programmes/templates")))) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fuzz.toml"), &text).unwrap();
        let _ = crate::render::Renderer::load_dir(dir.path(), crate::render::Brand::default());
    }
}
