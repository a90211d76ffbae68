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
}

impl SendStep {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgramme {
    id: Spanned<String>,
    name: String,
    version: Spanned<i64>,
    #[serde(default)]
    requirements: Vec<String>,
    trigger: Spanned<RawTrigger>,
    #[serde(default)]
    entry: Option<Spanned<String>>,
    #[serde(default)]
    exit_on: Vec<Spanned<RawExitOn>>,
    #[serde(default)]
    goal: Option<Spanned<RawGoal>>,
    #[serde(default)]
    holdout: Option<Spanned<f64>>,
    #[serde(default)]
    reentry: Option<Spanned<String>>,
    #[serde(default)]
    status: Option<Spanned<String>>,
    #[serde(default)]
    moment: Option<Spanned<String>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    event: Option<Spanned<String>>,
    occasion: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawExitOn {
    Event(String),
    Matching { event: String, matching: String },
}

impl RawExitOn {
    fn into_exit(self) -> ExitOn {
        match self {
            RawExitOn::Event(event) => ExitOn {
                event,
                matching: None,
            },
            RawExitOn::Matching { event, matching } => ExitOn {
                event,
                matching: Some(matching),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGoal {
    event: Spanned<String>,
    within: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<Spanned<String>>,
    send: Option<Spanned<toml::Value>>,
    wait: Option<Spanned<toml::Value>>,
    wait_for: Option<Spanned<toml::Value>>,
    branch: Option<Spanned<toml::Value>>,
    tag: Option<Spanned<toml::Value>>,
    set: Option<Spanned<toml::Value>>,
    grant_points: Option<Spanned<toml::Value>>,
    issue_coupon: Option<Spanned<toml::Value>>,
    survey: Option<Spanned<toml::Value>>,
    webhook: Option<Spanned<toml::Value>>,
    exit: Option<Spanned<toml::Value>>,
}

impl RawStep {
    fn kinds(&self) -> Vec<(&'static str, &Spanned<toml::Value>)> {
        [
            ("send", &self.send),
            ("wait", &self.wait),
            ("wait_for", &self.wait_for),
            ("branch", &self.branch),
            ("tag", &self.tag),
            ("set", &self.set),
            ("grant_points", &self.grant_points),
            ("issue_coupon", &self.issue_coupon),
            ("survey", &self.survey),
            ("webhook", &self.webhook),
            ("exit", &self.exit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    points: i64,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSend {
    template: String,
    class: String,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    track_clicks: bool,
    #[serde(default)]
    at_most_every: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitUntil {
    until_time: Option<String>,
    until: Option<String>,
    offset: Option<String>,
    at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    attribute: String,
    value: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitFor {
    event: String,
    timeout: Option<String>,
    #[serde(default, rename = "match")]
    matching: Option<String>,
    on_event: Option<String>,
    on_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    #[serde(rename = "if")]
    condition: String,
    then: Option<String>,
    #[serde(rename = "else")]
    otherwise: Option<String>,
}

const STEP_TYPES: &[&str] = &[
    "send",
    "wait",
    "wait_for",
    "branch",
    "tag",
    "set",
    "grant_points",
    "issue_coupon",
    "survey",
    "webhook",
    "exit",
];

/// What checking needs to know besides the files.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Templates that exist, by name.
    pub templates: HashSet<String>,
    /// Event types the brand declared besides the built-in ones.
    pub custom_events: HashSet<String>,
    /// Coupon pools configured in `[loyalty.pools]`.
    pub coupon_pools: HashSet<String>,
    /// Systems configured in `[webhooks]`.
    pub webhook_targets: HashSet<String>,
    /// Templates with a short text for SMS and push in every language.
    pub short_templates: HashSet<String>,
    /// Channels with a provider in `[channels]` (SMS, push); email, letter and the portal
    /// are always there.
    pub providers: HashSet<Channel>,
}

impl CheckContext {
    fn knows_event(&self, event: &str) -> bool {
        BUILT_IN_EVENT_TYPES.contains(&event)
            || self.custom_events.contains(event)
            || event
                .strip_prefix("occasion_")
                .is_some_and(|o| OCCASIONS.contains(&o))
    }

    fn unknown_event(&self, event: &str) -> String {
        format!(
            "unknown event type '{event}'; built-in types are {} (declare others in custom_events)",
            BUILT_IN_EVENT_TYPES.join(", ")
        )
    }
}

/// Loads every `*.toml` programme in `dir`; returns the library or every finding.
pub fn load_dir(dir: &Path, ctx: &CheckContext) -> Result<Library, Vec<Finding>> {
    let mut findings = Vec::new();
    let mut library = Library::default();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            return Err(vec![Finding {
                file: dir.to_path_buf(),
                line: 1,
                column: 1,
                reason: format!("cannot read the programme folder: {e}"),
            }]);
        }
    };
    files.sort();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                findings.push(Finding {
                    file,
                    line: 1,
                    column: 1,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match parse_programme(&file, &text, ctx) {
            Ok(p) => {
                if let Some(other) = library.programmes.get(&p.id) {
                    findings.push(Finding {
                        file: file.clone(),
                        line: 1,
                        column: 1,
                        reason: format!(
                            "programme id '{}' is also used by {}",
                            p.id,
                            other.source.display()
                        ),
                    });
                } else {
                    library.programmes.insert(p.id.clone(), p);
                }
            }
            Err(mut f) => findings.append(&mut f),
        }
    }
    if findings.is_empty() {
        Ok(library)
    } else {
        Err(findings)
    }
}

/// Parses and checks one programme file's text.
pub fn parse_programme(
    file: &Path,
    text: &str,
    ctx: &CheckContext,
) -> Result<Programme, Vec<Finding>> {
    let at = |span: Range<usize>, reason: String| {
        let (line, column) = line_column(text, span.start);
        Finding {
            file: file.to_path_buf(),
            line,
            column,
            reason,
        }
    };
    let raw: RawProgramme = toml::from_str(text).map_err(|e| {
        let message = e.message();
        // serde names an unknown key in a step "unknown field"; say what it means here.
        let reason = match message.strip_prefix("unknown field `") {
            Some(rest) if message.contains("`send`") => {
                let key = rest.split('`').next().unwrap_or_default();
                format!(
                    "unknown step type '{key}'; a step is one of {}",
                    STEP_TYPES.join(", ")
                )
            }
            _ => message.to_string(),
        };
        vec![at(e.span().unwrap_or(0..0), reason)]
    })?;
    let mut findings = Vec::new();

    let id = raw.id.get_ref();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        findings.push(at(
            raw.id.span(),
            format!("programme id '{id}' must be lower-case letters, digits and '-'"),
        ));
    }
    let version = i32::try_from(*raw.version.get_ref())
        .ok()
        .filter(|v| *v >= 1);
    if version.is_none() {
        findings.push(at(
            raw.version.span(),
            "version must be a whole number of at least 1".into(),
        ));
    }
    let trigger = raw.trigger.get_ref();
    let trigger_event = match (&trigger.event, &trigger.occasion) {
        (Some(event), None) => {
            if !ctx.knows_event(event.get_ref()) {
                findings.push(at(event.span(), ctx.unknown_event(event.get_ref())));
            }
            event.get_ref().clone()
        }
        (None, Some(occasion)) => {
            if !OCCASIONS.contains(&occasion.get_ref().as_str()) {
                findings.push(at(
                    occasion.span(),
                    format!(
                        "unknown occasion '{}'; occasions are {}",
                        occasion.get_ref(),
                        OCCASIONS.join(", ")
                    ),
                ));
            }
            occasion_event(occasion.get_ref())
        }
        _ => {
            findings.push(at(
                raw.trigger.span(),
                "a trigger has either an event or an occasion".into(),
            ));
            String::new()
        }
    };
    let entry = raw
        .entry
        .as_ref()
        .and_then(|e| match Condition::parse(e.get_ref()) {
            Ok(c) => Some(c),
            Err(reason) => {
                findings.push(at(e.span(), reason));
                None
            }
        });
    for exit in &raw.exit_on {
        let event = match exit.get_ref() {
            RawExitOn::Event(e) | RawExitOn::Matching { event: e, .. } => e,
        };
        if !ctx.knows_event(event) {
            findings.push(at(exit.span(), ctx.unknown_event(event)));
        }
    }
    let goal = raw.goal.as_ref().and_then(|g| {
        let raw_goal = g.get_ref();
        if !ctx.knows_event(raw_goal.event.get_ref()) {
            findings.push(at(
                raw_goal.event.span(),
                ctx.unknown_event(raw_goal.event.get_ref()),
            ));
        }
        match parse_duration(raw_goal.within.get_ref()) {
            Ok(within) => Some(Goal {
                event: raw_goal.event.get_ref().clone(),
                within,
            }),
            Err(reason) => {
                findings.push(at(raw_goal.within.span(), reason));
                None
            }
        }
    });
    let holdout = raw.holdout.as_ref().map_or(0.0, |h| *h.get_ref());
    if let Some(h) = &raw.holdout
        && !(0.0..=0.5).contains(h.get_ref())
    {
        findings.push(at(
            h.span(),
            "holdout must be a share between 0 and 0.5, e.g. 0.1".into(),
        ));
    }
    let reentry = match raw
        .reentry
        .as_ref()
        .map(|r| (r.get_ref().as_str(), r.span()))
    {
        None | Some(("always", _)) => Reentry::Always,
        Some(("once", _)) => Reentry::Once,
        Some((other, span)) => match parse_duration(other) {
            Ok(s) => Reentry::After(s),
            Err(_) => {
                findings.push(at(span, format!("reentry '{other}' must be \"always\", \"once\" or a duration such as \"90d\"")));
                Reentry::Always
            }
        },
    };
    // A moment takes room the band keeps for it, so only the programme its trigger names
    // may claim it (issue 23 point 4).
    let moment = raw.moment.as_ref().and_then(|m| {
        let Some(moment) = Moment::parse(m.get_ref()) else {
            findings.push(at(
                m.span(),
                format!(
                    "unknown moment '{}'; moments are {}",
                    m.get_ref(),
                    Moment::ALL.map(Moment::as_str).join(", ")
                ),
            ));
            return None;
        };
        let fits = match moment {
            Moment::Birthday => occasion_event("birthday"),
            Moment::Anniversary => occasion_event("customer_anniversary"),
            Moment::Recovery => "case_resolved".to_string(),
            Moment::ReferralReward => "referral_converted".to_string(),
        };
        if trigger_event != fits {
            findings.push(at(
                m.span(),
                format!(
                    "moment '{}' belongs to a programme triggered by {}; this one is triggered by {trigger_event}",
                    m.get_ref(),
                    fits.strip_prefix("occasion_").map_or(format!("event {fits}"), |o| format!("occasion {o}"))
                ),
            ));
            return None;
        }
        Some(moment)
    });
    if raw.steps.get_ref().is_empty() {
        findings.push(at(
            raw.steps.span(),
            "a programme needs at least one step".into(),
        ));
    }

    let mut steps = Vec::new();
    let mut spans: HashMap<String, Range<usize>> = HashMap::new();
    for step in raw.steps.get_ref() {
        let span = step.span();
        let step = step.get_ref();
        let Some(step_id) = &step.id else {
            findings.push(at(span, "step has no id".into()));
            continue;
        };
        if spans
            .insert(step_id.get_ref().clone(), step_id.span())
            .is_some()
        {
            findings.push(at(
                step_id.span(),
                format!("step id '{}' is used twice", step_id.get_ref()),
            ));
        }
        let kinds = step.kinds();
        if kinds.len() != 1 {
            findings.push(at(
                step_id.span(),
                format!(
                    "step '{}' must have exactly one of {}",
                    step_id.get_ref(),
                    STEP_TYPES.join(", ")
                ),
            ));
            continue;
        }
        let (kind, value) = kinds[0];
        match parse_action(kind, value, ctx) {
            Ok(action) => steps.push(Step {
                id: step_id.get_ref().clone(),
                action,
            }),
            Err(reason) => findings.push(at(value.span(), reason)),
        }
    }
    // Jumps must land on a step; every step must be reachable from the first.
    for step in &steps {
        for target in jumps(&step.action) {
            if !spans.contains_key(target) {
                let span = spans.get(&step.id).cloned().unwrap_or(0..0);
                findings.push(at(
                    span,
                    format!(
                        "step '{}' jumps to '{target}', which does not exist",
                        step.id
                    ),
                ));
            }
        }
    }
    if findings.is_empty() {
        let reachable = reachable_steps(&steps);
        for (i, step) in steps.iter().enumerate() {
            if !reachable.contains(&i) {
                let span = spans.get(&step.id).cloned().unwrap_or(0..0);
                findings.push(at(
                    span,
                    format!("step '{}' is unreachable: no step leads to it", step.id),
                ));
            }
        }
    }
    let draft = match &raw.status {
        None => false,
        Some(status) => match status.get_ref().as_str() {
            "live" => false,
            "draft" => true,
            other => {
                findings.push(at(
                    status.span(),
                    format!("status '{other}' is not one of live, draft"),
                ));
                false
            }
        },
    };
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(Programme {
        id: id.clone(),
        draft,
        name: raw.name,
        version: version.unwrap_or(1),
        requirements: raw.requirements,
        trigger_event,
        entry,
        exit_on: raw
            .exit_on
            .into_iter()
            .map(|x| x.into_inner().into_exit())
            .collect(),
        goal,
        holdout,
        reentry,
        moment,
        steps,
        source: file.to_path_buf(),
        text: text.to_string(),
    })
}

fn jumps(action: &Action) -> Vec<&String> {
    match action {
        Action::WaitFor(w) => w.on_event.iter().chain(w.on_timeout.iter()).collect(),
        Action::Branch {
            then, otherwise, ..
        } => then.iter().chain(otherwise.iter()).collect(),
        _ => Vec::new(),
    }
}

/// The step indices reachable from the first step.
fn reachable_steps(steps: &[Step]) -> HashSet<usize> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        if i >= steps.len() || !seen.insert(i) {
            continue;
        }
        let next = |target: &Option<String>| {
            target
                .as_deref()
                .and_then(|t| index.get(t).copied())
                .unwrap_or(i + 1)
        };
        match &steps[i].action {
            Action::Exit => {}
            Action::WaitFor(w) => todo.extend([next(&w.on_event), next(&w.on_timeout)]),
            Action::Branch {
                then, otherwise, ..
            } => todo.extend([next(then), next(otherwise)]),
            _ => todo.push(i + 1),
        }
    }
    seen
}

fn parse_action(
    kind: &str,
    value: &Spanned<toml::Value>,
    ctx: &CheckContext,
) -> Result<Action, String> {
    let table = |what: &str| -> Result<toml::Value, String> {
        match value.get_ref() {
            v @ toml::Value::Table(_) => Ok(v.clone()),
            _ => Err(format!("{what} takes a table, e.g. {what} = {{ … }}")),
        }
    };
    match kind {
        "send" => {
            let raw: RawSend = table("send")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid send step: {}", e.message()))?;
            if !ctx.templates.contains(&raw.template) {
                return Err(format!(
                    "missing template '{}': no templates/{}.toml",
                    raw.template, raw.template
                ));
            }
            let class = MessageClass::parse(&raw.class).ok_or_else(|| {
                format!("unknown message class '{}'; use transactional, service, relationship or promotional", raw.class)
            })?;
            let names: Vec<String> = raw.channel.into_iter().chain(raw.channels).collect();
            let mut channels = Vec::new();
            for name in &names {
                match Channel::parse(name) {
                    Some(c @ (Channel::Email | Channel::Letter | Channel::Portal)) => {
                        channels.push(c);
                    }
                    Some(c @ (Channel::Sms | Channel::Push)) => {
                        if !ctx.providers.contains(&c) {
                            return Err(format!(
                                "channel '{name}' needs a provider: set [channels] {name} = \"<a target in [webhooks]>\""
                            ));
                        }
                        if !ctx.short_templates.contains(&raw.template) {
                            return Err(format!(
                                "template '{}' has no short text for {name}; add short = \"…\" to each language",
                                raw.template
                            ));
                        }
                        channels.push(c);
                    }
                    None => {
                        return Err(format!(
                            "unknown channel '{name}'; channels are email, sms, push, letter, portal"
                        ));
                    }
                }
            }
            if channels.is_empty() {
                channels.push(Channel::Email);
            }
            let at_most_every_days = match &raw.at_most_every {
                None => 0,
                Some(text) => {
                    let span = parse_duration(text)?;
                    let days = span
                        .total((jiff::Unit::Day, jiff::civil::date(2026, 1, 1)))
                        .map_err(|e| format!("at_most_every '{text}': {e}"))?;
                    if class == MessageClass::Transactional {
                        return Err("at_most_every is for non-transactional messages; a transactional one answers each action".into());
                    }
                    days.ceil() as u32
                }
            };
            Ok(Action::Send(SendStep {
                template: raw.template,
                class,
                priority: raw.priority.unwrap_or(Priority::Normal),
                channels,
                track_clicks: raw.track_clicks,
                at_most_every_days,
            }))
        }
        "wait" => match value.get_ref() {
            toml::Value::String(s) => parse_duration(s).map(|s| Action::Wait(Wait::For(s))),
            toml::Value::Table(t) if t.is_empty() => {
                Err("wait without duration: write e.g. wait = \"3d\"".into())
            }
            v @ toml::Value::Table(_) => {
                let raw: RawWaitUntil = v.clone().try_into().map_err(|e: toml::de::Error| {
                    format!(
                        "invalid wait: {}; write wait = \"3d\", wait = {{ until_time = \"09:00\" }} or wait = {{ until = \"event.ends_on\", offset = \"-30d\" }}",
                        e.message()
                    )
                })?;
                let time = |s: &str, key: &str| -> Result<Time, String> {
                    s.parse()
                        .map_err(|_| format!("{key} '{s}' is not a time of day such as \"09:00\""))
                };
                match (raw.until_time, raw.until) {
                    (Some(t), None) if raw.offset.is_none() && raw.at.is_none() => {
                        Ok(Action::Wait(Wait::UntilTime(time(&t, "until_time")?)))
                    }
                    (None, Some(expr)) => {
                        let offset = match raw.offset.as_deref() {
                            None => None,
                            Some(o) => Some(o.parse::<Span>().map_err(|_| {
                                format!("offset '{o}' is not a duration such as \"-30d\"")
                            })?),
                        };
                        let at = time(raw.at.as_deref().unwrap_or("09:00"), "at")?;
                        Ok(Action::Wait(Wait::UntilDate {
                            date: Condition::parse_date(&expr)?,
                            offset,
                            at,
                        }))
                    }
                    _ => Err(
                        "a wait has either until_time, or until with an optional offset and at"
                            .into(),
                    ),
                }
            }
            _ => Err("wait without duration: write e.g. wait = \"3d\"".into()),
        },
        "wait_for" => {
            let raw: RawWaitFor = table("wait_for")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid wait_for: {}", e.message()))?;
            if !ctx.knows_event(&raw.event) {
                return Err(ctx.unknown_event(&raw.event));
            }
            let timeout = parse_duration(raw.timeout.as_deref().unwrap_or_default())
                .map_err(|_| "wait_for needs a timeout, e.g. timeout = \"14d\"".to_string())?;
            Ok(Action::WaitFor(WaitFor {
                event: raw.event,
                matching: raw.matching,
                timeout,
                on_event: raw.on_event,
                on_timeout: raw.on_timeout,
            }))
        }
        "branch" => {
            let raw: RawBranch = table("branch")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid branch: {}", e.message()))?;
            if raw.then.is_none() && raw.otherwise.is_none() {
                return Err("a branch needs then = \"step\" or else = \"step\"".into());
            }
            Ok(Action::Branch {
                condition: Condition::parse(&raw.condition)?,
                then: raw.then,
                otherwise: raw.otherwise,
            })
        }
        "set" => {
            let raw: RawSet = table("set")?.try_into().map_err(|e: toml::de::Error| {
                format!(
                    "invalid set: {}; write set = {{ attribute = \"name\", value = … }}",
                    e.message()
                )
            })?;
            if raw.attribute.trim().is_empty() || raw.attribute == "tags" {
                return Err(
                    "set needs an attribute name other than tags (use tag for tags)".into(),
                );
            }
            let value =
                serde_json::to_value(&raw.value).map_err(|e| format!("invalid value: {e}"))?;
            Ok(Action::Set {
                attribute: raw.attribute,
                value,
            })
        }
        "grant_points" => {
            let raw: RawGrant = table("grant_points")?.try_into().map_err(|e: toml::de::Error| {
                format!(
                    "invalid grant_points: {}; write grant_points = {{ points = 50, reason = \"Birthday\" }}",
                    e.message()
                )
            })?;
            if raw.points <= 0 {
                return Err("grant_points needs points above zero".into());
            }
            if raw.reason.trim().is_empty() {
                return Err("grant_points needs a reason the customer can read".into());
            }
            Ok(Action::GrantPoints {
                points: raw.points,
                reason: raw.reason,
            })
        }
        "issue_coupon" => {
            let pool =
                match value.get_ref() {
                    toml::Value::String(p) => p.clone(),
                    toml::Value::Table(t) => match t.get("pool").and_then(|p| p.as_str()) {
                        Some(p) if t.len() == 1 => p.to_string(),
                        _ => return Err(
                            "write issue_coupon = \"pool\" or issue_coupon = { pool = \"pool\" }"
                                .into(),
                        ),
                    },
                    _ => return Err("write issue_coupon = \"pool\"".into()),
                };
            if !ctx.coupon_pools.contains(&pool) {
                let mut known: Vec<&String> = ctx.coupon_pools.iter().collect();
                known.sort();
                let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "unknown coupon pool '{pool}'; pools in [loyalty.pools] are: {}",
                    known.join(", ")
                ));
            }
            Ok(Action::IssueCoupon { pool })
        }
        "webhook" => {
            let (target, event) = match value.get_ref() {
                toml::Value::String(t) => (t.clone(), None),
                toml::Value::Table(t)
                    if t.keys().all(|k| k == "target" || k == "event")
                        && t.get("target").is_some_and(|v| v.is_str()) =>
                {
                    (
                        t.get("target")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        t.get("event").and_then(|v| v.as_str()).map(str::to_string),
                    )
                }
                _ => {
                    return Err(
                        "write webhook = \"target\" or webhook = { target = \"target\", event = \"name\" }"
                            .into(),
                    );
                }
            };
            if !ctx.webhook_targets.contains(&target) {
                let mut known: Vec<&str> = ctx.webhook_targets.iter().map(String::as_str).collect();
                known.sort_unstable();
                return Err(format!(
                    "unknown webhook target '{target}'; targets in [webhooks] are: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            Ok(Action::Webhook { target, event })
        }
        "survey" => match value
            .get_ref()
            .as_str()
            .and_then(aftercare_domain::survey::SurveyKind::parse)
        {
            Some(kind) => Ok(Action::Survey(kind)),
            None => Err("write survey = \"nps\", \"csat\" or \"relationship\"".into()),
        },
        "tag" => match value.get_ref().as_str() {
            Some(tag) if !tag.trim().is_empty() => Ok(Action::Tag(tag.trim().to_string())),
            _ => Err("write tag = \"name\"".into()),
        },
        _ => match value.get_ref().as_bool() {
            Some(true) => Ok(Action::Exit),
            _ => Err("write exit = true".into()),
        },
    }
}

/// Parses "3d", "2w", "12h", "90m", "1 month" into a calendar span.
pub fn parse_duration(s: &str) -> Result<Span, String> {
    if s.trim().is_empty() {
        return Err("wait without duration: write e.g. wait = \"3d\"".into());
    }
    let span: Span = s
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; write e.g. \"3d\", \"2w\", \"12h\""))?;
    if span.is_negative() || span.is_zero() {
        return Err(format!("duration '{s}' must be longer than zero"));
    }
    Ok(span)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
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
