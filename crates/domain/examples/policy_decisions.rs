//! Benchmark helper: `policy_decisions [DECISIONS]` runs the policy pipeline (consent, data
//! quality, coupon validity, caps, the yearly band with its look-ahead, quiet hours) for
//! generated customers with a year of history each, on one thread, and prints JSON with the
//! decisions per second. `bench/policy/run.sh` runs it.

use std::time::Instant;

use aftercare_domain::policy::{Intent, PastContact, PolicyConfig, Priority, Topic, decide};
use aftercare_domain::{Channel, CustomerRecord, MessageClass};
use jiff::{SignedDuration, Timestamp};

/// What the messages are about: eight templates.
const TOPICS: [&str; 8] = [
    "thanks",
    "tips",
    "check_in",
    "offer",
    "birthday",
    "inspiration",
    "replacement",
    "survey",
];

const ZONES: [&str; 4] = [
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/London",
    "America/New_York",
];
const CLASSES: [MessageClass; 4] = [
    MessageClass::Transactional,
    MessageClass::Service,
    MessageClass::Relationship,
    MessageClass::Promotional,
];

/// A small deterministic generator (xorshift), so every run decides the same things.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now: Timestamp = "2026-11-26T10:00:00Z".parse().expect("a time");
    let config = PolicyConfig::default();
    // 10,000 customers, each with 0–14 contacts in the last year.
    let customers: Vec<(CustomerRecord, Vec<PastContact>)> = (0..10_000)
        .map(|i| {
            let marketing = rng.below(4) != 0;
            let mut consents = vec![serde_json::json!({"purpose": "service", "channel": "email",
                "granted": true, "source": "checkout", "at": "2024-01-01T00:00:00Z"})];
            if marketing {
                consents.push(
                    serde_json::json!({"purpose": "marketing", "channel": "email",
                    "granted": true, "source": "checkout", "at": "2024-01-01T00:00:00Z"}),
                );
            }
            let record: CustomerRecord = serde_json::from_value(serde_json::json!({
                "external_id": format!("C{i}"), "email": format!("c{i}@example.nl"),
                "time_zone": ZONES[(i % 4) as usize], "consents": consents,
                "birth_date": format!("19{}-{:02}-{:02}", 50 + i % 50, 1 + i % 12, 1 + i % 28),
            }))
            .expect("a customer");
            let history = (0..rng.below(15))
                .map(|_| PastContact {
                    at: now - SignedDuration::from_hours(1 + rng.below(24 * 365) as i64),
                    class: CLASSES[rng.below(4) as usize],
                    channel: Channel::Email,
                    topic: Topic::of(TOPICS[rng.below(8) as usize]),
                })
                .collect();
            (record, history)
        })
        .collect();
    let intents: Vec<Intent> = (0..1024)
        .map(|_| Intent {
            class: CLASSES[rng.below(4) as usize],
            priority: [Priority::Low, Priority::Normal, Priority::High][rng.below(3) as usize],
            channel: Channel::Email,
            planned_at: now - SignedDuration::from_mins(rng.below(600) as i64),
            coupon_valid_until: (rng.below(5) == 0)
                .then(|| now + SignedDuration::from_hours(24 * (1 + rng.below(30) as i64))),
            topic: Topic::of(TOPICS[rng.below(8) as usize]),
            repeat_days: 0,
            moment: None,
        })
        .collect();
    let (mut send, mut hold, mut block) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for i in 0..n {
        let (customer, history) = &customers[(i % 10_000) as usize];
        let intent = &intents[(i % 1024) as usize];
        match decide(intent, customer, history, now, &config) {
            aftercare_domain::policy::Decision::Send { .. } => send += 1,
            aftercare_domain::policy::Decision::Hold { .. } => hold += 1,
            aftercare_domain::policy::Decision::Block { .. } => block += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"decisions\": {n}, \"seconds\": {seconds:.4}, \"per_second\": {:.0}, \"send\": {send}, \"hold\": {hold}, \"block\": {block}}}",
        n as f64 / seconds
    );
}
