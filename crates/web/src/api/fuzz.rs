//! Fuzz targets for the payloads the API and the webhooks in read (issue 19): each body type
//! through [`parse_json`](super::extract::parse_json) and, when it parses, its validation —
//! valid bodies with random edits and arbitrary text, never a panic. `PROPTEST_CASES=…`
//! runs them longer.

use aftercare_domain::{
    CancellationRecord, Consent, ContractRecord, CustomerRecord, OrderRecord, ProductRecord,
    ShipmentEventRecord,
};
use proptest::prelude::*;

use super::extract::parse_json;
use super::handlers::{ChannelStatus, EventBatch, FeedbackBatch};

const BODIES: &[&str] = &[
    r#"{"external_id":"C1","email":"jan@example.nl","first_name":"Jan","postal_address":{"street":"Kerkstraat","house_number":"12","postcode":"1012 AB","city":"Amsterdam","country":"NL"},"attributes":{"segment":"runner","kids":[1,2]},"consents":[{"purpose":"marketing","channel":"email","granted":true,"source":"checkout","at":"2026-01-01T10:00:00Z"}]}"#,
    r#"{"sku":"S-1","name":"Sok","category":"socks","price_cents":995,"lifespan_days":180,"tips":["Wassen op 40"]}"#,
    r#"{"external_id":"W1","customer_external_id":"C1","placed_at":"2026-03-02T08:55:00Z","lines":[{"sku":"S-1","quantity":2,"unit_price_cents":995}]}"#,
    r#"{"events":[{"id":"e1","type":"review_written","customer_external_id":"C1","at":"2026-03-01T10:00:00Z","properties":{"stars":5,"text":"Top"}}]}"#,
    r#"{"shipment_id":"P1","order_external_id":"W1","carrier":"postnl","status":"delivered","at":"2026-03-03T10:00:00Z"}"#,
    r#"{"id":"msg-1@loopwerk.example","status":"failed","detail":"absent subscriber","permanent":true}"#,
    r#"{"events":[{"kind":"bounce","email":"jan@example.nl","permanent":true,"detail":"550","at":"2026-03-01T10:00:00Z"}]}"#,
    r#"{"customer_external_id":"C1","at":"2026-03-01T10:00:00Z","reason":"Te duur"}"#,
    r#"{"purpose":"marketing","channel":"email","granted":false,"source":"unsubscribe_link","at":"2026-03-01T10:00:00Z"}"#,
    r#"{"external_id":"K1","customer_external_id":"C1","starts_on":"2026-01-01","ends_on":"2027-01-01","name":"Lease"}"#,
];

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 3, 2)
}

/// Every body type, as the API reads it.
fn read_all(raw: &[u8]) {
    if let Ok(c) = parse_json::<CustomerRecord>(raw) {
        let _ = c.validate(today());
    }
    if let Ok(p) = parse_json::<ProductRecord>(raw) {
        let _ = p.validate();
    }
    if let Ok(o) = parse_json::<OrderRecord>(raw) {
        let _ = o.validate();
        let _ = o.total_cents();
    }
    if let Ok(batch) = parse_json::<EventBatch>(raw) {
        for e in &batch.events {
            let _ = e.validate();
        }
    }
    if let Ok(s) = parse_json::<ShipmentEventRecord>(raw) {
        let _ = s.validate();
    }
    let _ = parse_json::<ChannelStatus>(raw);
    let _ = parse_json::<FeedbackBatch>(raw);
    if let Ok(c) = parse_json::<CancellationRecord>(raw) {
        let _ = c.validate();
    }
    if let Ok(c) = parse_json::<Consent>(raw) {
        let _ = c.validate();
    }
    if let Ok(c) = parse_json::<ContractRecord>(raw) {
        let _ = c.validate();
    }
}

proptest! {
    #[test]
    fn api_and_webhook_payloads_never_panic(raw in prop_oneof![
        4 => (prop::sample::select(BODIES), prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12))
            .prop_map(|(seed, edits)| aftercare_domain::text::with_edits(seed, &edits)),
        1 => "[ -~]{0,300}",
    ]) {
        read_all(raw.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..400)) {
        read_all(&raw);
    }
}
