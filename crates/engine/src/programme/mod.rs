//! Programmes: declarative TOML files, loaded into a [`Library`] and checked.
//!
//! A programme has a trigger (an event, or a calendar occasion), an optional entry
//! condition, steps, exit events, a goal, a holdout share, a re-entry rule and a version.
//! Each mistake is reported as `file:line:column: reason` (unknown step or event type,
//! missing template, wait without duration, unreachable step, a condition that does not fit
//! the data model, a jump to a step that does not exist), so `aftercare check` and `serve`
//! say exactly what to fix.
//!
//! ```toml
//! id = "win-back"
//! name = "We miss you"
//! version = 1
//! requirements = ["WB1"]
//! trigger = { occasion = "inactive" }
//! entry = "stats.orders_count >= 2"
//! exit_on = ["order_placed"]
//! goal = { event = "order_placed", within = "30d" }
//! holdout = 0.1
//! reentry = "180d"
//!
//! [[steps]]
//! id = "miss-you"
//! send = { template = "win_back", class = "promotional", priority = "high" }
//!
//! [[steps]]
//! id = "wait-for-order"
//! wait_for = { event = "order_placed", timeout = "14d", on_event = "done" }
//!
//! [[steps]]
//! id = "ask"
//! send = { template = "win_back_question", class = "service" }
//!
//! [[steps]]
//! id = "done"
//! exit = true
//! ```
//!
//! Steps run in order; `wait_for` and `branch` may jump to a named step. A `wait` is a
//! calendar duration (`"3d"`) or the next local time of day (`{ until_time = "09:00" }`),
//! both in the customer's own time zone and correct across daylight saving.
//!
//! Laid out as: this module the model ([`Programme`], [`Step`], [`Action`]); `raw` the files
//! as serde reads them, with the places of their values; `load` turning them into the model
//! ([`load_dir`], [`parse_programme`]); `check` what checking needs besides the file
//! ([`CheckContext`]) and the checks on a programme as a whole. A new step type is an
//! [`Action`] arm here, a field of `raw::RawStep` with its name in `raw::STEP_TYPES`, its
//! reading in `load::parse_action`, and its effect in [`crate::interpret`], which both the
//! worker and the fast simulator run; the agreement test's coverage programme must use it.
//!
//! Requirements: FR1 (structured, always-on programmes instead of ad-hoc mailings).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use aftercare_domain::commerce::BUILT_IN_EVENT_TYPES;
use aftercare_domain::{Channel, MessageClass};
use jiff::Span;
use jiff::civil::Time;
use serde::Deserialize;
use toml::Spanned;

use crate::condition::Condition;

mod check;
mod load;
mod raw;

pub use check::CheckContext;
pub use load::{load_dir, parse_duration, parse_programme};
pub use raw::STEP_TYPES;

/// Calendar occasions a programme can be triggered by; each is an event type too.
pub const OCCASIONS: &[&str] = &[
    "birthday",
    "customer_anniversary",
    "purchase_anniversary",
    "lifespan_end",
    "inactive",
    "monthly",
    "household_birthday",
    "contract_end",
];

/// The event type an occasion arrives as: `occasion_birthday`, …
pub fn occasion_event(occasion: &str) -> String {
    match occasion {
        // A stored contract arrives as the same event a brand may post itself, so one
        // programme serves both.
        "contract_end" => "contract_ending".to_string(),
        other => format!("occasion_{other}"),
    }
}

/// A checked programme.
#[derive(Debug, Clone)]
pub struct Programme {
    /// Stable id, e.g. `after-purchase`.
    pub id: String,
    /// Name shown to the team.
    pub name: String,
    /// Version; running enrolments finish on the version they started.
    pub version: i32,
    /// Requirement ids the programme serves.
    pub requirements: Vec<String>,
    /// The event type that enrols a customer (an occasion arrives as `occasion_<name>`).
    pub trigger_event: String,
    /// Only customers for whom this holds are enrolled.
    pub entry: Option<Condition>,
    /// `audience = "loyal-runners"`: only customers in this saved audience, as it stands
    /// when they would enter, are enrolled (issue 21).
    pub audience: Option<String>,
    /// That audience's condition, resolved from the store whenever the programmes are
    /// (re)loaded; while it is not there, nobody is enrolled.
    pub audience_condition: Option<Condition>,
    /// Events that end a running enrolment (e.g. an order ends win-back).
    pub exit_on: Vec<ExitOn>,
    /// What counts as success, attributed to the programme.
    pub goal: Option<Goal>,
    /// Share of eligible customers who get nothing but are tracked for the goal (0 to 0.5).
    pub holdout: f64,
    /// When a customer may enter again.
    pub reentry: Reentry,
    /// The customer's own moment the programme serves (`moment = "birthday"`), for which the
    /// band and the attention ceiling keep room ahead; `check` holds it to a fitting trigger.
    pub moment: Option<Moment>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// `status = "draft"`: checked, versioned and simulated, but nobody is enrolled until the
    /// file says `live` (the default).
    pub draft: bool,
    /// The file it came from.
    pub source: PathBuf,
    /// The file's text, stored with each version so old enrolments can finish on it.
    pub text: String,
}

/// An event that ends a running enrolment: `"order_placed"`, or — to end only the
/// enrolment about the same matter — `{ event = "case_resolved", matching = "case_id" }`:
/// the event's `case_id` must be the one the enrolment's trigger carried (DQ3: a reminder
/// stops per case, not for every case of the customer). An event or enrolment without the
/// key ends it as a plain exit would.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExitOn {
    /// The event type.
    pub event: String,
    /// The property both must carry with the same value.
    pub matching: Option<String>,
}

impl ExitOn {
    /// Whether `event_type` with `properties` ends an enrolment whose data is `context`.
    pub fn ends(
        &self,
        event_type: &str,
        properties: &serde_json::Value,
        context: &serde_json::Value,
    ) -> bool {
        if self.event != event_type {
            return false;
        }
        let Some(key) = &self.matching else {
            return true;
        };
        match (properties.get(key), context.get(key)) {
            (Some(a), Some(b)) => crate::worker::json_text(a) == crate::worker::json_text(b),
            _ => true,
        }
    }
}

impl fmt::Display for ExitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.matching {
            Some(key) => write!(f, "{} (same {key})", self.event),
            None => f.write_str(&self.event),
        }
    }
}

impl Programme {
    /// Whether `event_type` with `properties` ends this programme's enrolment whose data
    /// is `context`.
    pub fn exits_on(
        &self,
        event_type: &str,
        properties: &serde_json::Value,
        context: &serde_json::Value,
    ) -> bool {
        self.exit_on
            .iter()
            .any(|x| x.ends(event_type, properties, context))
    }

    /// The index of the step with `id`.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// A programme's goal: an event within a window after enrolment.
#[derive(Debug, Clone)]
pub struct Goal {
    /// The event type that reaches the goal.
    pub event: String,
    /// How long after enrolment it counts.
    pub within: Span,
}

/// When a customer may enter a programme again.
#[derive(Debug, Clone)]
pub enum Reentry {
    /// Every trigger enrols (e.g. one enrolment per order).
    Always,
    /// Once in a lifetime.
    Once,
    /// Not again within this span after the last enrolment started.
    After(Span),
}

/// One step of a programme.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the programme; keys the message a `send` creates.
    pub id: String,
    /// What the step does.
    pub action: Action,
}

/// How urgent a message is; policy holds back low priority first (the policy's own type).
pub use aftercare_domain::policy::{Moment, Priority};

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Create a message.
    Send(SendStep),
    /// Wait in the customer's time zone.
    Wait(Wait),
    /// Wait for an event, with a timeout; jump to a step for each outcome.
    WaitFor(WaitFor),
    /// Jump on a condition.
    Branch {
        /// The condition.
        condition: Condition,
        /// Step when it holds (`None`: the next step).
        then: Option<String>,
        /// Step when it does not (`None`: the next step).
        otherwise: Option<String>,
    },
    /// Add a tag to the customer's `attributes.tags`.
    Tag(String),
    /// Set one of the customer's attributes.
    Set {
        /// The attribute's name.
        attribute: String,
        /// Its new value.
        value: serde_json::Value,
    },
    /// Add points to the customer's loyalty ledger (LY1), once per enrolment and step.
    GrantPoints {
        /// Points, above zero.
        points: i64,
        /// What the customer reads in their history.
        reason: String,
    },
    /// Issue a code from a coupon pool to the customer; later steps and templates see it as
    /// `coupon` (`coupon.code`, `coupon.value`, `coupon.valid_until`), and the policy never
    /// sends it when it would expire too soon (DQ1).
    IssueCoupon {
        /// The pool's id in `[loyalty.pools]`.
        pool: String,
    },
    /// Invite the customer to a survey (`nps` or `relationship`, MQ1/MQ2); later `send`
    /// steps link to it as `links.survey`.
    Survey(aftercare_domain::survey::SurveyKind),
    /// Call the brand's own system (a target in `[webhooks]`): a signed POST with the
    /// event name, the programme, the customer's id and the enrolment's data, made by a
    /// durable job that retries and ends on the dead-letter list when it keeps failing.
    Webhook {
        /// The target's name in `[webhooks]`.
        target: String,
        /// The event name the receiver sees (default: `<programme>.<step>`).
        event: Option<String>,
    },
    /// Leave the programme.
    Exit,
}

/// How long a `wait` step waits.
#[derive(Debug, Clone)]
pub enum Wait {
    /// A calendar span (`3d` is three local days, also across a DST change).
    For(Span),
    /// Until the next time this local time of day comes.
    UntilTime(Time),
    /// Until a date from the data (e.g. `event.ends_on`), shifted by `offset`, at a local
    /// time of day; at once when that moment has passed.
    UntilDate {
        /// A CEL expression giving a date.
        date: Condition,
        /// Added to the date, e.g. minus 30 days.
        offset: Option<Span>,
        /// The local time of day.
        at: Time,
    },
}

/// A `wait_for` step.
#[derive(Debug, Clone)]
pub struct WaitFor {
    /// The event type to wait for.
    pub event: String,
    /// A property that must equal the trigger's (e.g. `order_external_id`).
    pub matching: Option<String>,
    /// How long to wait.
    pub timeout: Span,
    /// Step when the event came (`None`: the next step).
    pub on_event: Option<String>,
    /// Step when it did not (`None`: the next step).
    pub on_timeout: Option<String>,
}

/// A `send` step.
#[derive(Debug, Clone)]
pub struct SendStep {
    /// Template name.
    pub template: String,
    /// Message class.
    pub class: MessageClass,
    /// Priority.
    pub priority: Priority,
    /// Channels in order of preference; the first one policy allows is used.
    pub channels: Vec<Channel>,
    /// Whether the message's web links go through a signed click-counting redirect
    /// (`track_clicks = true`; off unless asked, and opens are never tracked).
    pub track_clicks: bool,
    /// `at_most_every = "8w"`: the same message goes to a customer at most once in this
    /// many days (the policy's `repeat_days` when longer), so a weekly buyer is not thanked
    /// every week (issue 23 point 2).
    pub at_most_every_days: u32,
    /// A content experiment (issue 21): customers are split stably between these variants;
    /// empty when the step has none.
    pub variants: Vec<Variant>,
}

/// One variant of a send step in a content experiment.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Its name (`A`, `short subject`).
    pub name: String,
    /// The template it sends.
    pub template: String,
    /// Its channels in order of preference.
    pub channels: Vec<Channel>,
    /// How much later than the step it sends (a timing experiment), in the customer's own
    /// calendar; `None`: when the step runs.
    pub wait: Option<jiff::Span>,
}

impl SendStep {
    /// The variant a customer gets in this step's experiment: `winner` when one was chosen,
    /// else a stable equal split over (programme, step, customer) — the first 8 bytes of
    /// SHA-256, as holdouts are drawn. `None` when the step has no experiment.
    pub fn variant_for(
        &self,
        programme_id: &str,
        step_id: &str,
        customer_external_id: &str,
        winner: Option<&str>,
    ) -> Option<&Variant> {
        use sha2::{Digest, Sha256};
        if self.variants.is_empty() {
            return None;
        }
        if let Some(w) = winner.and_then(|w| self.variants.iter().find(|v| v.name == w)) {
            return Some(w);
        }
        let digest = Sha256::digest(
            format!("{programme_id}\0{step_id}\0{customer_external_id}\0variant").as_bytes(),
        );
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let index = u64::from_be_bytes(first) % self.variants.len() as u64;
        self.variants.get(usize::try_from(index).unwrap_or(0))
    }

    /// The channel this foundation sends on: the first preference.
    pub fn channel(&self) -> Channel {
        self.channels.first().copied().unwrap_or(Channel::Email)
    }
}

/// One mistake in a programme file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.reason
        )
    }
}

/// All programmes of a folder, checked.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// The programmes, by id.
    pub programmes: BTreeMap<String, Programme>,
}

impl Library {
    /// Programmes triggered by `event_type`.
    pub fn triggered_by<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a Programme> {
        self.programmes
            .values()
            .filter(move |p| p.trigger_event == event_type)
    }

    /// A programme by id.
    pub fn get(&self, id: &str) -> Option<&Programme> {
        self.programmes.get(id)
    }

    /// Whether any programme is triggered by an occasion.
    pub fn uses_occasion(&self, occasion: &str) -> bool {
        let event = occasion_event(occasion);
        self.programmes.values().any(|p| p.trigger_event == event)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CheckContext {
        CheckContext {
            templates: ["thanks".to_string()].into_iter().collect(),
            custom_events: HashSet::new(),
            coupon_pools: ["referral".to_string()].into_iter().collect(),
            webhook_targets: ["crm".to_string()].into_iter().collect(),
            short_templates: HashSet::new(),
            providers: HashSet::new(),
        }
    }

    fn findings(text: &str) -> Vec<String> {
        match parse_programme(Path::new("p.toml"), text, &ctx()) {
            Ok(_) => vec![],
            Err(f) => f.into_iter().map(|f| f.to_string()).collect(),
        }
    }

    const HEAD: &str =
        "id = \"p\"\nname = \"P\"\nversion = 1\ntrigger = { event = \"order_placed\" }\n";

    #[test]
    fn a_valid_programme_loads() {
        let text = format!(
            "{HEAD}exit_on = [\"case_resolved\"]\ngoal = {{ event = \"order_placed\", within = \"30d\" }}\nholdout = 0.1\nreentry = \"90d\"\n\
             [[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\", priority = \"low\" }}\n\
             [[steps]]\nid = \"b\"\nwait_for = {{ event = \"shipment_delivered\", match = \"order_external_id\", timeout = \"14d\", on_timeout = \"d\" }}\n\
             [[steps]]\nid = \"c\"\nbranch = {{ if = \"stats.orders_count > 1\", then = \"e\" }}\n\
             [[steps]]\nid = \"d\"\nwait = {{ until_time = \"09:00\" }}\n\
             [[steps]]\nid = \"e\"\ntag = \"loyal\"\n\
             [[steps]]\nid = \"f\"\nset = {{ attribute = \"vip\", value = true }}\n\
             [[steps]]\nid = \"g\"\nwait = {{ until = \"event.ends_on\", offset = \"-30d\", at = \"10:00\" }}\n\
             [[steps]]\nid = \"h\"\nwebhook = {{ target = \"crm\", event = \"vip_candidate\" }}\n"
        );
        let p = parse_programme(Path::new("p.toml"), &text, &ctx()).unwrap();
        assert_eq!(p.steps.len(), 8);
        assert!(!p.draft, "live unless the file says draft");
        let draft = text.replacen("[[steps]]", "status = \"draft\"\n[[steps]]", 1);
        assert!(
            parse_programme(Path::new("p.toml"), &draft, &ctx())
                .unwrap()
                .draft
        );
        assert!(matches!(p.reentry, Reentry::After(s) if s.get_days() == 90));
        assert!(p.goal.is_some());
    }

    #[test]
    fn an_experiment_names_its_wrong_variant_times_a_later_one_and_splits_customers_stably() {
        let step = |variants: &str| {
            format!(
                "{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\", variants = {variants} }}\n"
            )
        };
        let missing = findings(&step(
            r#"[{ name = "A" }, { name = "B", template = "nope" }]"#,
        ));
        assert!(
            missing
                .iter()
                .any(|f| f.contains("variants[1].template: missing template 'nope'")),
            "{missing:?}"
        );
        let twice = findings(&step(r#"[{ name = "A" }, { name = "A" }]"#));
        assert!(
            twice.iter().any(|f| f.contains("'A' is used twice")),
            "{twice:?}"
        );
        let one = findings(&step(r#"[{ name = "A" }]"#));
        assert!(
            one.iter().any(|f| f.contains("at least two variants")),
            "{one:?}"
        );
        let sms = findings(&step(
            r#"[{ name = "A" }, { name = "B", channels = ["sms"] }]"#,
        ));
        assert!(
            sms.iter()
                .any(|f| f.contains("variants[1].channels: channel 'sms' needs a provider")),
            "{sms:?}"
        );
        let late = findings(&step(r#"[{ name = "A" }, { name = "B", wait = "soon" }]"#));
        assert!(
            late.iter().any(|f| f.contains("variants[1].wait:")),
            "{late:?}"
        );
        // A timing experiment: B goes out two days after the step, in the customer's zone.
        let timed = parse_programme(
            Path::new("p.toml"),
            &step(r#"[{ name = "A" }, { name = "B", wait = "2d" }]"#),
            &ctx(),
        )
        .unwrap();
        let Action::Send(timed) = &timed.steps[0].action else {
            panic!("a send step")
        };
        let due: jiff::Timestamp = "2026-03-28T09:00:00Z".parse().unwrap();
        let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
        let [a, b] =
            [0, 1].map(|i| crate::interpret::send_at(Some(&timed.variants[i]), due, &zone));
        assert_eq!(a, due);
        // Across the change to summer time, still 10:00 local two days on.
        assert_eq!(
            b,
            "2026-03-30T08:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        let p = parse_programme(
            Path::new("p.toml"),
            &step(r#"[{ name = "A" }, { name = "B" }]"#),
            &ctx(),
        )
        .unwrap();
        let Action::Send(send) = &p.steps[0].action else {
            panic!("a send step")
        };
        let names: Vec<&str> = (0..200)
            .map(|i| {
                send.variant_for("p", "a", &format!("C{i}"), None)
                    .unwrap()
                    .name
                    .as_str()
            })
            .collect();
        let b = names.iter().filter(|n| **n == "B").count();
        assert!((70..=130).contains(&b), "about half: {b}");
        assert_eq!(
            names,
            (0..200)
                .map(|i| send
                    .variant_for("p", "a", &format!("C{i}"), None)
                    .unwrap()
                    .name
                    .as_str())
                .collect::<Vec<_>>(),
            "the same customer always gets the same variant"
        );
        assert!(
            (0..50).all(|i| send
                .variant_for("p", "a", &format!("C{i}"), Some("B"))
                .unwrap()
                .name
                == "B"),
            "a winner goes to everyone"
        );
    }

    #[test]
    fn sms_and_push_need_a_provider_and_a_short_text_while_the_portal_needs_nothing() {
        let step = |channels: &str| {
            format!(
                "{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\", channels = {channels} }}\n"
            )
        };
        let mut with_provider = ctx();
        with_provider.providers.insert(Channel::Push);
        let text = step("[\"push\", \"email\"]");
        let got = parse_programme(Path::new("p.toml"), &text, &with_provider)
            .map(|_| vec![])
            .unwrap_or_else(|f| f.into_iter().map(|f| f.to_string()).collect());
        assert!(
            got.iter()
                .any(|f| f.contains("template 'thanks' has no short text for push")),
            "{got:?}"
        );
        with_provider.short_templates.insert("thanks".into());
        assert!(parse_programme(Path::new("p.toml"), &text, &with_provider).is_ok());
        assert!(findings(&step("[\"portal\"]")).is_empty());
    }

    #[test]
    fn each_kind_of_mistake_names_its_line() {
        let cases = [
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsned = {{ template = \"thanks\" }}\n"), "p.toml:7:1: unknown step type 'sned'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"nope\", class = \"service\" }}\n"), "p.toml:7:8: missing template 'nope'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwait = \"\"\n"), "p.toml:7:8: wait without duration"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwait = {{}}\n"), "p.toml:7:8: wait without duration"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nexit = true\n[[steps]]\nid = \"b\"\nwait = \"1d\"\n"), "p.toml:9:6: step 'b' is unreachable"),
            ("id = \"p\"\nname = \"P\"\nversion = 1\ntrigger = { event = \"order_shipped\" }\n[[steps]]\nid = \"a\"\nwait = \"1d\"\n".to_string(), "p.toml:4:21: unknown event type 'order_shipped'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nbranch = {{ if = \"customer.lokale == 'en'\", then = \"a\" }}\n"), "p.toml:7:10: condition 'customer.lokale == 'en'' does not fit"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nbranch = {{ if = \"true\", then = \"z\" }}\n"), "p.toml:6:6: step 'a' jumps to 'z'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwait_for = {{ event = \"order_placed\" }}\n"), "p.toml:7:12: wait_for needs a timeout"),
            (format!("{HEAD}holdout = 0.9\n[[steps]]\nid = \"a\"\nwait = \"1d\"\n"), "p.toml:5:11: holdout must be"),
            ("id = \"p\"\nname = \"P\"\nversion = 1\ntrigger = { occasion = \"name_day\" }\n[[steps]]\nid = \"a\"\nwait = \"1d\"\n".to_string(), "p.toml:4:24: unknown occasion 'name_day'"),
            (format!("{HEAD}status = \"paused\"\n[[steps]]\nid = \"a\"\nwait = \"1d\"\n"), "p.toml:5:10: status 'paused' is not one of live, draft"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwebhook = \"erp\"\n"), "p.toml:7:11: unknown webhook target 'erp'; targets in [webhooks] are: crm"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwebhook = {{ url = \"https://x\" }}\n"), "p.toml:7:11: write webhook = \"target\""),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\", channels = [\"sms\"] }}\n"), "p.toml:7:8: channel 'sms' needs a provider: set [channels] sms"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\", channels = [\"pigeon\"] }}\n"), "p.toml:7:8: unknown channel 'pigeon'"),
        ];
        for (text, expected) in cases {
            let got = findings(&text);
            assert!(
                got.iter().any(|f| f.starts_with(expected)),
                "expected {expected:?} in {got:?}"
            );
        }
    }

    #[test]
    fn a_branch_makes_steps_after_an_exit_reachable() {
        let text = format!(
            "{HEAD}[[steps]]\nid = \"a\"\nbranch = {{ if = \"true\", then = \"c\" }}\n[[steps]]\nid = \"b\"\nexit = true\n[[steps]]\nid = \"c\"\ntag = \"x\"\n"
        );
        assert!(findings(&text).is_empty(), "{:?}", findings(&text));
    }

    #[test]
    fn durations_are_calendar_spans() {
        assert_eq!(parse_duration("3d").unwrap().get_days(), 3);
        assert_eq!(parse_duration("2w").unwrap().get_weeks(), 2);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0d").is_err());
    }
}
