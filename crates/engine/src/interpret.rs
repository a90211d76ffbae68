//! The programme language's one interpreter (issue 20): given a programme and where an
//! enrolment stands, it walks the steps up to the next wait or the end and says what to do —
//! it asks its driver to answer conditions and to apply effects, and does no I/O of its own.
//! The worker (`worker/steps.rs`) drives it against the store, the fast simulator
//! (`aftercare_lab::simulator`, `lab/src/simulator/run.rs`) against its household in memory; a new step is one arm of
//! [`Run::advance`], and the compiler then points at both drivers' `match` over [`Next`].
//!
//! ```text
//! let mut run = Run::new(programme, index, due, zone);
//! loop {
//!     match run.advance() {
//!         Next::Holds(condition) => run.answer(evaluate(condition)),
//!         Next::Date(expression) => run.answer_date(evaluate_date(expression)),
//!         Next::Do(effect) => apply(effect),
//!         Next::End(end) => break,
//!     }
//! }
//! ```
//!
//! Requirements: the programme model of docs/DESIGN.md (send, wait, wait for an event with a
//! timeout, branch, tag, set, grant points, issue a coupon, survey, webhook, exit).

use aftercare_domain::policy::{self, ChannelChoice, Moment, PolicyConfig};
use aftercare_domain::{CustomerRecord, survey::SurveyKind};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::condition::Condition;
use crate::programme::{Action, Programme, Reentry, SendStep, Step, Wait};
use crate::worker::next_local_time;

/// How many steps one run may take before it stops where it is (a guard against a loop of
/// branches that never waits).
const MAX_STEPS: usize = 1000;

/// Where an enrolment stands when its step timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Running.
    Active,
    /// In the holdout: it completes without doing anything.
    Holdout,
    /// Parked at a `wait_for` step until an event or the deadline.
    Waiting {
        /// When the wait times out.
        deadline: Option<Timestamp>,
    },
    /// Completed or exited: nothing more to do.
    Done,
}

/// What to do when an enrolment's step timer fires.
#[derive(Debug)]
pub enum Resume {
    /// Run the steps from this index.
    From(i32),
    /// A holdout enrolment: mark it completed at this index.
    Complete(i32),
    /// Nothing: the timer is stale (a wait not yet over, or the enrolment ended).
    Nothing,
}

/// The one resume rule: a holdout completes, a `wait_for` whose deadline has passed goes on
/// at its `on_timeout` step, an active enrolment goes on where it stands.
pub fn resume(programme: &Programme, standing: Standing, index: i32, now: Timestamp) -> Resume {
    match standing {
        Standing::Active => Resume::From(index),
        Standing::Holdout => Resume::Complete(index),
        Standing::Waiting { deadline } if deadline.is_some_and(|d| d > now) => Resume::Nothing,
        Standing::Waiting { .. } => {
            let on_timeout = match step_at(programme, index).map(|s| &s.action) {
                Some(Action::WaitFor(w)) => w.on_timeout.as_deref(),
                _ => None,
            };
            Resume::From(jump(programme, on_timeout, index))
        }
        Standing::Done => Resume::Nothing,
    }
}

/// A step's effect on the world, which the driver applies.
#[derive(Debug)]
pub enum Effect<'p> {
    /// Plan a message of this `send` step, due at `due`.
    Send {
        /// The step.
        step: &'p Step,
        /// What it sends.
        send: &'p SendStep,
    },
    /// Add a tag to the customer's `attributes.tags`, if not there.
    Tag(&'p str),
    /// Set one of the customer's attributes, if it differs.
    Set {
        /// The attribute.
        attribute: &'p str,
        /// Its value.
        value: &'p serde_json::Value,
    },
    /// Grant points once for this enrolment and step.
    GrantPoints {
        /// The step.
        step: &'p Step,
        /// Points.
        points: i64,
        /// What the customer reads.
        reason: &'p str,
    },
    /// Issue a code from a pool; later steps see it as `coupon`.
    IssueCoupon {
        /// The step.
        step: &'p Step,
        /// The pool's id.
        pool: &'p str,
    },
    /// Open a survey; later steps link to it.
    Survey(SurveyKind),
    /// Call the brand's system once for this enrolment and step.
    Webhook {
        /// The step.
        step: &'p Step,
        /// The target in `[webhooks]`.
        target: &'p str,
        /// The event name the receiver sees.
        event: String,
    },
}

/// How a run ends.
#[derive(Debug, PartialEq, Eq)]
pub enum End<'p> {
    /// A `wait`: go on at `index` when the timer fires at `at`.
    Timer {
        /// The step to go on at.
        index: i32,
        /// When.
        at: Timestamp,
    },
    /// A `wait_for`: park at `index` until `event` (matching the context's `matching`
    /// property, when set) or the deadline, when the timer fires.
    Park {
        /// The `wait_for` step's index.
        index: i32,
        /// The event type awaited.
        event: &'p str,
        /// The context property the event must match.
        matching: Option<&'p str>,
        /// When the wait times out.
        deadline: Timestamp,
    },
    /// The programme is done (the last step, or `exit`).
    Completed {
        /// Where it ended.
        index: i32,
    },
    /// The step guard was reached: the enrolment stays active where it stands.
    Stopped {
        /// Where.
        index: i32,
    },
}

/// What the interpreter wants next from its driver.
#[derive(Debug)]
pub enum Next<'p> {
    /// Whether this condition holds; answer with [`Run::answer`].
    Holds(&'p Condition),
    /// The date this expression gives, if any; answer with [`Run::answer_date`].
    Date(&'p Condition),
    /// Apply this effect, then ask again.
    Do(Effect<'p>),
    /// The run is over.
    End(End<'p>),
}

/// One run of an enrolment's steps, from a step up to the next wait or the end.
#[derive(Debug)]
pub struct Run<'p> {
    programme: &'p Programme,
    index: i32,
    due: Timestamp,
    zone: TimeZone,
    taken: usize,
    /// The step whose question is out, and the driver's answer once it came.
    asked: Option<&'p Step>,
    answered: Option<Answer>,
}

/// A driver's answer to the question a step asked.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Holds(bool),
    Date(Option<jiff::civil::Date>),
}

impl<'p> Run<'p> {
    /// A run of `programme` from step `index`; waits count from `due` (when the step was
    /// due, so a late driver does not shift the plan) in the customer's time `zone`.
    pub fn new(programme: &'p Programme, index: i32, due: Timestamp, zone: TimeZone) -> Self {
        Self {
            programme,
            index,
            due,
            zone,
            taken: 0,
            asked: None,
            answered: None,
        }
    }

    /// The answer to [`Next::Holds`].
    pub fn answer(&mut self, holds: bool) {
        self.answered = Some(Answer::Holds(holds));
    }

    /// The answer to [`Next::Date`].
    pub fn answer_date(&mut self, date: Option<jiff::civil::Date>) {
        self.answered = Some(Answer::Date(date));
    }

    /// The next thing to do.
    pub fn advance(&mut self) -> Next<'p> {
        let programme = self.programme;
        loop {
            if self.taken >= MAX_STEPS {
                return Next::End(End::Stopped { index: self.index });
            }
            let Some(step) = step_at(programme, self.index) else {
                return Next::End(End::Completed { index: self.index });
            };
            match &step.action {
                Action::Send(send) => return self.then_next(Next::Do(Effect::Send { step, send })),
                Action::Wait(wait) => {
                    let date = match wait {
                        Wait::UntilDate { date, .. } => match self.answer_to(step) {
                            Some(Answer::Date(answer)) => answer,
                            _ => return Next::Date(date),
                        },
                        _ => None,
                    };
                    let at = wait_end(wait, self.due, &self.zone, date);
                    self.index += 1;
                    return Next::End(End::Timer {
                        index: self.index,
                        at,
                    });
                }
                Action::WaitFor(wait) => {
                    let deadline = self
                        .due
                        .to_zoned_datetime(self.zone.clone())
                        .checked_add(wait.timeout)
                        .map_or(self.due, |z| z.timestamp());
                    return Next::End(End::Park {
                        index: self.index,
                        event: &wait.event,
                        matching: wait.matching.as_deref(),
                        deadline,
                    });
                }
                Action::Branch {
                    condition,
                    then,
                    otherwise,
                } => {
                    let Some(Answer::Holds(holds)) = self.answer_to(step) else {
                        return Next::Holds(condition);
                    };
                    let target = if holds { then } else { otherwise };
                    self.index = jump(programme, target.as_deref(), self.index);
                    self.taken += 1;
                }
                Action::Tag(tag) => return self.then_next(Next::Do(Effect::Tag(tag))),
                Action::Set { attribute, value } => {
                    return self.then_next(Next::Do(Effect::Set { attribute, value }));
                }
                Action::GrantPoints { points, reason } => {
                    return self.then_next(Next::Do(Effect::GrantPoints {
                        step,
                        points: *points,
                        reason,
                    }));
                }
                Action::IssueCoupon { pool } => {
                    return self.then_next(Next::Do(Effect::IssueCoupon { step, pool }));
                }
                Action::Survey(kind) => return self.then_next(Next::Do(Effect::Survey(*kind))),
                Action::Webhook { target, event } => {
                    let event = event
                        .clone()
                        .unwrap_or_else(|| format!("{}.{}", programme.id, step.id));
                    return self.then_next(Next::Do(Effect::Webhook {
                        step,
                        target,
                        event,
                    }));
                }
                Action::Exit => return Next::End(End::Completed { index: self.index }),
            }
        }
    }

    /// Moves past the current step and hands out what it does.
    fn then_next(&mut self, next: Next<'p>) -> Next<'p> {
        self.index += 1;
        self.taken += 1;
        next
    }

    /// The answer to the question `step` asked, once; otherwise `step` asks now.
    fn answer_to(&mut self, step: &'p Step) -> Option<Answer> {
        if self.asked.is_some_and(|s| std::ptr::eq(s, step)) {
            self.asked = None;
            return self.answered.take();
        }
        self.asked = Some(step);
        self.answered = None;
        None
    }
}

/// An open enrolment as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Open<'a> {
    /// Its programme version.
    pub programme: &'a Programme,
    /// Where it stands.
    pub standing: Standing,
    /// Its step.
    pub step: i32,
    /// When it started.
    pub started_at: Timestamp,
    /// Its goal event and deadline, if any.
    pub goal: Option<(&'a str, Timestamp)>,
    /// Whether the goal was reached.
    pub goal_reached: bool,
    /// For a parked `wait_for` with `matching`: the value the event must carry.
    pub wait_match: Option<&'a str>,
    /// The data its steps share (its trigger's properties and what steps added).
    pub context: &'a serde_json::Value,
}

/// What an event does to one open enrolment.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// The event is the goal, within its window. A running enrolment then exits with the
    /// reason; a holdout one completes (its timer is cancelled).
    Goal {
        /// Exit a running enrolment with this reason.
        exit: Option<String>,
        /// Complete a holdout enrolment.
        complete: bool,
    },
    /// One of the programme's exit events: the running enrolment exits with the reason.
    Exit(String),
    /// The event a parked `wait_for` waited for: go on at `step` now.
    Answered {
        /// The `on_event` step (or the next).
        step: i32,
    },
    /// Nothing to do.
    Nothing,
}

/// The one routing rule: what `event_type` (with its properties, `context`) at `at` does
/// to an open enrolment — reach its goal, end it, or answer its `wait_for`.
pub fn route(
    open: &Open<'_>,
    event_type: &str,
    context: &serde_json::Value,
    at: Timestamp,
) -> Routed {
    let running = matches!(open.standing, Standing::Active | Standing::Waiting { .. });
    let goal_open = open
        .goal
        .is_some_and(|(goal, deadline)| goal == event_type && at <= deadline)
        && !open.goal_reached
        && at >= open.started_at;
    if goal_open {
        return Routed::Goal {
            exit: running.then(|| format!("goal reached: {event_type}")),
            complete: open.standing == Standing::Holdout,
        };
    }
    if running && open.programme.exits_on(event_type, context, open.context) {
        return Routed::Exit(format!("left the programme on {event_type}"));
    }
    if let Standing::Waiting { .. } = open.standing
        && let Some(Action::WaitFor(wait)) = step_at(open.programme, open.step).map(|s| &s.action)
        && wait.event == event_type
    {
        let matches = match (&wait.matching, open.wait_match) {
            (Some(key), Some(expected)) => {
                context.get(key).map(crate::worker::json_text).as_deref() == Some(expected)
            }
            _ => true,
        };
        if matches {
            return Routed::Answered {
                step: jump(open.programme, wait.on_event.as_deref(), open.step),
            };
        }
    }
    Routed::Nothing
}

/// Why a message still queued from a programme stops when `event_type` (with its
/// `properties`) comes: the programme's exit event for this enrolment (with data
/// `context`; unless it had already exited) or its goal — the matter is settled (DQ3).
pub fn settled(
    programme: &Programme,
    exited: bool,
    event_type: &str,
    properties: &serde_json::Value,
    context: &serde_json::Value,
) -> Option<String> {
    if programme.exits_on(event_type, properties, context) && !exited {
        Some(format!("blocked: left the programme on {event_type}"))
    } else if programme
        .goal
        .as_ref()
        .is_some_and(|g| g.event == event_type)
    {
        Some(format!("blocked: goal reached: {event_type}"))
    } else {
        None
    }
}

/// The one re-entry rule: whether a customer whose last enrolment in `programme` started
/// at `last` (in their `zone`) may enter again at `at`.
pub fn may_enter(
    programme: &Programme,
    last: Option<Timestamp>,
    zone: &TimeZone,
    at: Timestamp,
) -> bool {
    let Some(last) = last else { return true };
    match &programme.reentry {
        Reentry::Always => true,
        Reentry::Once => false,
        Reentry::After(span) => last
            .to_zoned_datetime(zone.clone())
            .checked_add(*span)
            .is_ok_and(|z| z.timestamp() <= at),
    }
}

/// A new enrolment's goal (event and deadline, counted in the customer's `zone` from `at`)
/// and when its first step runs: at once, or — in the holdout, which sends nothing — when
/// the goal window closes.
pub fn start<'p>(
    programme: &'p Programme,
    holdout: bool,
    zone: &TimeZone,
    at: Timestamp,
    now: Timestamp,
) -> (Option<(&'p str, Timestamp)>, Timestamp) {
    let goal = programme.goal.as_ref().map(|g| {
        let deadline = at
            .to_zoned_datetime(zone.clone())
            .checked_add(g.within)
            .map_or(at, |z| z.timestamp());
        (g.event.as_str(), deadline)
    });
    let first_run = match (holdout, goal) {
        (true, Some((_, deadline))) => deadline,
        _ => now,
    };
    (goal, first_run)
}

fn step_at(programme: &Programme, index: i32) -> Option<&Step> {
    usize::try_from(index)
        .ok()
        .and_then(|i| programme.steps.get(i))
}

/// The step a jump goes to: the named step, or the next one.
pub fn jump(programme: &Programme, target: Option<&str>, from: i32) -> i32 {
    target
        .and_then(|t| programme.step_index(t))
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(from + 1)
}

/// When a send step that fell due at `due` plans its message: later by the customer's
/// variant's `wait` in a timing experiment (the worker and the simulator alike).
pub fn send_at(
    variant: Option<&crate::programme::Variant>,
    due: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
) -> jiff::Timestamp {
    match variant.and_then(|v| v.wait) {
        Some(span) => wait_end(&Wait::For(span), due, zone, None),
        None => due,
    }
}

/// When a `wait` step that fell due at `due` ends, in the customer's `zone`; `date` is what
/// a `wait = { until = … }` expression gave (none: go on at once).
pub fn wait_end(
    wait: &Wait,
    due: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
    date: Option<jiff::civil::Date>,
) -> jiff::Timestamp {
    let local = due.to_zoned_datetime(zone.clone());
    match wait {
        Wait::For(span) => local.checked_add(*span).ok().map(|z| z.timestamp()),
        Wait::UntilTime(time) => next_local_time(&local, *time),
        Wait::UntilDate { offset, at, .. } => date
            .and_then(|d| d.checked_add(offset.unwrap_or_default()).ok())
            .and_then(|d| d.to_datetime(*at).to_zoned_datetime(zone.clone()).ok())
            .map(|z| z.timestamp().max(due)),
    }
    .unwrap_or(due)
}

/// A planned message's first reason: the programme and step, and why its channel.
pub fn planned_reason(programme: &str, step: &str, channel_reason: &str) -> String {
    if channel_reason.is_empty() {
        format!("planned by programme '{programme}' step '{step}'")
    } else {
        format!("planned by programme '{programme}' step '{step}', {channel_reason}")
    }
}

/// What a planned message is about (issue 23): its template, and the household member it
/// is about when it is about one — so a second child's birthday note is not a repeat.
pub fn topic(template: &str, context: &serde_json::Value) -> String {
    match context.get("member_first_name").and_then(|v| v.as_str()) {
        Some(member) => format!("{template}:{member}"),
        None => template.to_string(),
    }
}

/// What the policy needs from a message's programme, read once for every driver: the
/// customer's own moment the programme serves (room kept for it ahead) and the step's own
/// repeat window in days (`at_most_every`).
pub fn policy_terms(programme: Option<&Programme>, step_key: &str) -> (Option<Moment>, u32) {
    let Some(programme) = programme else {
        return (None, 0);
    };
    let repeat = programme
        .steps
        .iter()
        .find(|s| s.id == step_key)
        .and_then(|s| match &s.action {
            Action::Send(send) => Some(send.at_most_every_days),
            _ => None,
        })
        .unwrap_or(0);
    (programme.moment, repeat)
}

/// A planned message's channel (CH2: consent × preference × segment rule × the order's
/// product categories) and the reason it is planned, worded once for every driver.
#[allow(clippy::too_many_arguments)]
pub fn plan_send(
    programme: &Programme,
    step: &Step,
    send: &SendStep,
    variant: Option<&crate::programme::Variant>,
    customer: &CustomerRecord,
    reach: policy::Reach,
    categories: &[&str],
    config: &PolicyConfig,
) -> (ChannelChoice, String) {
    let choice = policy::choose_channel_for(
        variant.map_or(&send.channels, |v| &v.channels),
        send.class,
        customer,
        reach,
        categories,
        config,
    );
    let mut reason = planned_reason(&programme.id, &step.id, &choice.reason);
    if let Some(v) = variant {
        reason.push_str(&format!(" (variant {})", v.name));
    }
    (choice, reason)
}

/// Why a message is blocked when its enrolment has ended before it went (suppression, policy
/// step 2): the exit's reason, or that the customer left the programme.
pub fn suppressed(exit_reason: Option<&str>) -> String {
    format!(
        "blocked: {}",
        exit_reason.unwrap_or("the customer left the programme")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::{CheckContext, parse_programme};

    const PROGRAMME: &str = r#"
id = "p"
name = "p"
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "hello"
send = { template = "thanks", class = "service" }

[[steps]]
id = "big"
branch = { if = "order.total_cents > 10000", then = "tag", else = "answer" }

[[steps]]
id = "answer"
wait_for = { event = "review_written", timeout = "7d", on_timeout = "tag" }

[[steps]]
id = "pause"
wait = "2d"

[[steps]]
id = "tag"
tag = "big-spender"
"#;

    fn programme() -> Programme {
        let ctx = CheckContext {
            templates: ["thanks".to_string()].into_iter().collect(),
            custom_events: ["review_written".to_string()].into_iter().collect(),
            coupon_pools: Default::default(),
            webhook_targets: Default::default(),
            short_templates: Default::default(),
            providers: Default::default(),
        };
        parse_programme(std::path::Path::new("p.toml"), PROGRAMME, &ctx).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Runs from `index`, answering every branch with `holds`; what it did, and how it ended.
    fn drive(programme: &Programme, index: i32, holds: bool) -> (Vec<String>, String) {
        let mut run = Run::new(programme, index, at("2026-03-02T09:00:00Z"), TimeZone::UTC);
        let mut did = Vec::new();
        loop {
            match run.advance() {
                Next::Holds(c) => {
                    did.push(format!("asked {}", c.source()));
                    run.answer(holds);
                }
                Next::Date(_) => run.answer_date(None),
                Next::Do(Effect::Send { step, .. }) => did.push(format!("send {}", step.id)),
                Next::Do(Effect::Tag(tag)) => did.push(format!("tag {tag}")),
                Next::Do(other) => did.push(format!("{other:?}")),
                Next::End(end) => return (did, format!("{end:?}")),
            }
        }
    }

    #[test]
    fn a_run_sends_asks_and_jumps_then_parks_or_ends() {
        let p = programme();
        let (did, end) = drive(&p, 0, true);
        assert_eq!(
            did,
            [
                "send hello",
                "asked order.total_cents > 10000",
                "tag big-spender"
            ]
        );
        assert_eq!(end, "Completed { index: 5 }");
        let (did, end) = drive(&p, 0, false);
        assert_eq!(did, ["send hello", "asked order.total_cents > 10000"]);
        assert_eq!(
            end,
            format!(
                "Park {{ index: 2, event: \"review_written\", matching: None, deadline: {:?} }}",
                at("2026-03-09T09:00:00Z")
            )
        );
        let (did, end) = drive(&p, 3, false);
        assert!(did.is_empty());
        assert_eq!(
            end,
            format!("Timer {{ index: 4, at: {:?} }}", at("2026-03-04T09:00:00Z"))
        );
    }

    #[test]
    fn the_resume_rule() {
        let p = programme();
        let now = at("2026-03-05T00:00:00Z");
        let waiting = |deadline: &str| Standing::Waiting {
            deadline: Some(at(deadline)),
        };
        for (standing, index, expected) in [
            (Standing::Active, 1, "From(1)"),
            (Standing::Holdout, 0, "Complete(0)"),
            (waiting("2026-03-06T00:00:00Z"), 2, "Nothing"),
            // The wait for a review timed out: on to its `on_timeout` step.
            (waiting("2026-03-04T00:00:00Z"), 2, "From(4)"),
            (Standing::Done, 4, "Nothing"),
        ] {
            assert_eq!(format!("{:?}", resume(&p, standing, index, now)), expected);
        }
    }
}
