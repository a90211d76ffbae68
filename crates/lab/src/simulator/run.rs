//! One household's period: a small discrete-event loop over its inputs and timers, doing
//! what the worker's jobs do (`route`, `steps`, `deliver`, `calendar`, the scores'
//! `likely_lapsing` and the loyalty's referral settlement), in the same order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::sync::Arc;

use aftercare_domain::policy::{self, Decision, Intent, PastContact, Topic};
use aftercare_domain::{Channel, CustomerRecord, MessageClass, Purpose};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{
    DAY, EnrolmentLine, FastSimulator, Household, Input, MessageLine, Tally, counts, utc_date,
};
use aftercare_engine::condition::{Condition, Data};
use aftercare_engine::interpret::{
    self, Effect, End, Next, Open, Resume, Routed, Standing, plan_send, resume, route, settled,
    start,
};
use aftercare_engine::occasions::{PastOrder, next_possible, occasions_on};
use aftercare_engine::programme::{Programme, occasion_event};
use aftercare_engine::scores::history;
use aftercare_engine::worker::{in_holdout, json_text};

// The store's states, so the comparison with the engine reads the same names.
use aftercare_store::EnrolmentState;

#[derive(Debug)]
struct Enrolment<'a> {
    person: usize,
    /// The programme's place in the library (the tally's index).
    index: usize,
    programme: &'a Programme,
    state: EnrolmentState,
    step: i32,
    context: Arc<serde_json::Value>,
    started_at: Timestamp,
    goal: Option<(&'a str, Timestamp)>,
    goal_reached: bool,
    /// What a `wait_for` step waits for: the expected value of its `matching` key, and
    /// until when.
    wait: Option<(Option<String>, Timestamp)>,
    exit_reason: Option<String>,
    holdout: bool,
    /// The timer that counts; older ones are stale.
    timer: u32,
    sent_steps: Vec<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Planned,
    Sent,
    Blocked,
}

#[derive(Debug)]
struct Message<'a> {
    person: usize,
    /// The enrolment that planned it; `None` for a campaign's.
    enrolment: Option<usize>,
    /// Its programme's or campaign's place in the tally.
    index: usize,
    template: &'a str,
    step: &'a str,
    topic: Topic,
    class: MessageClass,
    priority: policy::Priority,
    channel: Channel,
    planned_at: Timestamp,
    state: State,
    reason: String,
    sent_at: Option<Timestamp>,
    /// A moment's message the band or the ceiling holds back or blocked.
    squeezed: bool,
}

#[derive(Debug)]
struct Order {
    external_id: String,
    placed_at: Timestamp,
    total_cents: i64,
    skus: Vec<String>,
    points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Referral {
    /// Registered before the period: its events enrolled nobody, so it never settles.
    History,
    Pending,
    Ordered,
    Void,
    Rewarded,
}

#[derive(Debug)]
struct Person<'a> {
    record: CustomerRecord,
    /// What the record lets the channels reach, worked out once (the record never changes).
    reach: policy::Reach,
    zone: TimeZone,
    present: bool,
    /// A customer for the whole period (the band statistics count these).
    counted: bool,
    orders: Vec<Order>,
    past: Vec<PastOrder>,
    purchase_days: BTreeMap<Date, i64>,
    points: i64,
    history: Vec<PastContact>,
    /// Who referred them, and how far the referral is.
    referral: Option<(usize, Referral)>,
    /// Last enrolment start per programme id.
    starts: Vec<(&'a str, Timestamp)>,
    last_scanned: Option<Date>,
    /// The calendar scan planned next (its local date and moment).
    next_scan: Option<(Date, Timestamp)>,
    seen_occasions: Vec<String>,
    /// The lapsing check that counts; older ones are stale.
    lapse_timer: u32,
    /// P(alive) at the last daily score, if scored in the period.
    last_p: Option<f64>,
    /// The customer's record as conditions read it, while the record stays as it is.
    json_customer: Option<serde_json::Value>,
    /// Answers of conditions on the customer alone, while the record stays as it is.
    answers: Vec<(*const Condition, bool)>,
    /// Whether they are in each programme's holdout (stable for the pair), once worked out.
    holdouts: Vec<(usize, bool)>,
}

#[derive(Debug, Clone)]
enum Job {
    Route {
        person: usize,
        event_type: Arc<str>,
        context: Arc<serde_json::Value>,
        at: Timestamp,
    },
    Step(usize, u32),
    Deliver(usize),
    Calendar(usize),
    Lapse(usize, u32),
    SettleReferral(usize),
    /// A campaign (its place in `Setup::campaigns`) is planned for the household.
    Campaign(usize),
    /// Ran already.
    Done,
}

pub(super) struct Run<'s, 'a, 't> {
    sim: &'s FastSimulator<'a>,
    /// The household's orders, for conditions that read `order` (inputs are consumed).
    order_records: Vec<aftercare_domain::OrderRecord>,
    people: Vec<Person<'a>>,
    enrolments: Vec<Enrolment<'a>>,
    messages: Vec<Message<'a>>,
    jobs: Vec<Job>,
    /// Enrolments an event may still concern (running, held out, or with an open goal).
    open: Vec<usize>,
    /// Messages still planned.
    planned: Vec<usize>,
    /// Campaign members: (the campaign's place in the tally, held out).
    recipients: Vec<(usize, bool)>,
    /// Jobs by when they run, then by their place in `jobs` (the order they were made in),
    /// as the worker claims them (`ORDER BY run_at, id`).
    /// Due jobs by (time, rank, place): at one instant a daily score (rank 0) runs before
    /// the rest, as the engine's calendar job scores before it scans the day's occasions.
    queue: BinaryHeap<Reverse<(Timestamp, u8, usize)>>,
    /// The job running now: a held message keeps its place among jobs due at the same
    /// moment, as the worker's job keeps its id when it is rescheduled.
    running: usize,
    tally: &'t mut Tally,
}

impl<'s, 'a, 't> Run<'s, 'a, 't> {
    pub(super) fn new(
        sim: &'s FastSimulator<'a>,
        household: Household,
        tally: &'t mut Tally,
    ) -> (Self, Vec<(Timestamp, usize, Input)>) {
        let people = household
            .customers
            .into_iter()
            .enumerate()
            .map(|(i, c)| Person {
                zone: c.time_zone.zone(),
                reach: policy::Reach::of(&c),
                record: c,
                present: i == 0,
                counted: false,
                orders: Vec::new(),
                past: Vec::new(),
                purchase_days: BTreeMap::new(),
                points: 0,
                history: Vec::new(),
                referral: None,
                starts: Vec::new(),
                last_scanned: None,
                next_scan: None,
                seen_occasions: Vec::new(),
                lapse_timer: 0,
                last_p: None,
                json_customer: None,
                answers: Vec::new(),
                holdouts: Vec::new(),
            })
            .collect();
        let run = Self {
            sim,
            order_records: Vec::new(),
            people,
            enrolments: Vec::new(),
            messages: Vec::new(),
            jobs: Vec::new(),
            open: Vec::new(),
            planned: Vec::new(),
            recipients: Vec::new(),
            queue: BinaryHeap::new(),
            running: 0,
            tally,
        };
        (run, household.inputs)
    }

    fn schedule(&mut self, at: Timestamp, job: Job) {
        let rank = u8::from(!matches!(job, Job::Lapse(..)));
        self.jobs.push(job);
        self.queue.push(Reverse((at, rank, self.jobs.len() - 1)));
    }

    pub(super) fn finish(mut self, inputs: Vec<(Timestamp, usize, Input)>) {
        let setup = self.sim.setup;
        let (from, to) = (setup.from, setup.to);
        let split = inputs.partition_point(|(t, _, _)| *t < from);
        let mut inputs = inputs.into_iter().peekable();
        for (at, who, input) in inputs.by_ref().take(split) {
            self.history_input(at, who, input);
        }
        for who in 0..self.people.len() {
            if self.people[who].present {
                self.people[who].counted = true;
                self.plan_calendar(who, from);
                self.plan_lapse(who, from);
            }
        }
        for (i, c) in setup.campaigns.iter().enumerate() {
            if let Some(at) = c.plan_at().filter(|at| (from..to).contains(at)) {
                self.schedule(at, Job::Campaign(i));
            }
        }
        let mut last = from;
        loop {
            let input_at = inputs.peek().map(|(t, _, _)| *t);
            let job_at = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let now = match (input_at, job_at) {
                (Some(i), Some(j)) if i <= j => i,
                (Some(i), None) => i,
                (_, Some(j)) => j,
                (None, None) => break,
            };
            if now >= to {
                break;
            }
            if input_at == Some(now)
                && let Some((at, who, input)) = inputs.next()
            {
                self.live_input(at, who, input);
                continue;
            }
            let Some(Reverse((at, _, job))) = self.queue.pop() else {
                break;
            };
            debug_assert!(at >= last, "time runs forward: {at} after {last}");
            last = at;
            self.running = job;
            let job = std::mem::replace(&mut self.jobs[job], Job::Done);
            self.run_job(at, job);
        }
        self.count();
    }

    // ----- inputs ---------------------------------------------------------------------

    /// History: stored, earning and spending points, enrolling nobody.
    fn history_input(&mut self, at: Timestamp, who: usize, input: Input) {
        match input {
            Input::Order(o) => self.add_order(who, o, at),
            Input::Return(order) => self.reverse_order(who, &order),
            Input::ClaimReward(reward) => {
                self.claim(who, &reward, at, false);
            }
            Input::Joined => self.people[who].present = true,
            Input::Referred(friend) => {
                self.people[friend].referral = Some((who, Referral::History));
            }
            Input::Contacted(class, channel, topic) => {
                self.people[who].history.push(PastContact {
                    at,
                    class,
                    channel,
                    topic,
                });
            }
            Input::Shipment(_) | Input::Event(_) | Input::Page(_) => {}
        }
    }

    fn live_input(&mut self, at: Timestamp, who: usize, input: Input) {
        match input {
            Input::Order(o) => {
                let context = json!({
                    "order_external_id": o.external_id,
                    "total_cents": o.total_cents(),
                    "delivery_method": o.delivery_method,
                });
                self.add_order(who, o, at);
                self.event(who, "order_placed", context, at);
            }
            Input::Shipment(s) => {
                let context = json!({
                    "order_external_id": s.order_external_id,
                    "shipment_id": s.shipment_id,
                    "carrier": s.carrier,
                    "status": s.status,
                    "location": s.location,
                });
                let event_type = format!("shipment_{}", s.status.as_str());
                self.event_at(who, &event_type, context, s.at, at);
            }
            Input::Event(e) => {
                let context = serde_json::Value::Object(e.properties.into_iter().collect());
                self.event_at(who, &e.event_type, context, e.at, at);
            }
            Input::Return(order) => {
                let context = json!({"order_external_id": order});
                self.event(who, "order_returned", context, at);
            }
            Input::ClaimReward(reward) => {
                self.claim(who, &reward, at, true);
            }
            Input::Joined => {
                self.people[who].present = true;
                self.plan_calendar(who, at);
            }
            Input::Referred(friend) => {
                self.people[friend].referral = Some((who, Referral::Pending));
                // RF1: the new customer's €10 comes at sign-up, for the first order.
                self.reward_referral_side(friend, who, "referred", at);
            }
            Input::Page(event_type) => self.event(who, event_type, json!({}), at),
            contacted @ Input::Contacted(..) => self.history_input(at, who, contacted),
        }
    }

    /// An event that happened at `at`, routed at once.
    fn event(&mut self, who: usize, event_type: &str, context: serde_json::Value, at: Timestamp) {
        self.event_at(who, event_type, context, at, at);
    }

    /// An event that happened at `at`, told at `now` and routed then, as `append_event`
    /// schedules one (a brand may report an event hours after it happened).
    fn event_at(
        &mut self,
        who: usize,
        event_type: &str,
        mut context: serde_json::Value,
        at: Timestamp,
        now: Timestamp,
    ) {
        if let Some(map) = context.as_object_mut() {
            map.insert("event_type".into(), event_type.into());
        }
        let job = Job::Route {
            person: who,
            event_type: Arc::from(event_type),
            context: Arc::new(context),
            at,
        };
        self.schedule(now, job);
    }

    fn add_order(&mut self, who: usize, o: aftercare_domain::OrderRecord, at: Timestamp) {
        let loyalty = self.sim.setup.loyalty;
        let before = self.lapse_before_order(who, at);
        let p = &mut self.people[who];
        let number = p.orders.len() as i64 + 1;
        let points: i64 = loyalty
            .order_points(o.total_cents(), number)
            .iter()
            .map(|(n, _)| n)
            .sum();
        p.points += points;
        let skus: Vec<String> = o.lines.iter().map(|l| l.sku.as_str().to_string()).collect();
        // The calendar reads an order's skus only for products' lifespans (RE1): the
        // others are left out of its copy, so each day it looks at fewer.
        let products = &self.sim.products;
        p.past.push(PastOrder {
            external_id: o.external_id.as_str().to_string(),
            placed_on: at.to_zoned_datetime(p.zone.clone()).date(),
            skus: skus
                .iter()
                .filter(|sku| {
                    products
                        .get(*sku)
                        .is_some_and(|p| p.lifespan_days.is_some())
                })
                .cloned()
                .collect(),
        });
        *p.purchase_days.entry(utc_date(at)).or_default() += o.total_cents();
        p.orders.push(Order {
            external_id: o.external_id.as_str().to_string(),
            placed_at: at,
            total_cents: o.total_cents(),
            skus,
            points,
        });
        if self.sim.uses_orders {
            self.order_records.push(o);
        }
        if at >= self.sim.setup.from {
            p.last_p = before;
            // A new order can bring an occasion forward: the first order's anniversary and
            // monthly day, a product's lifespan ending, or inactivity (a shorter usual
            // interval) before the next scan.
            self.plan_lapse(who, at);
            self.plan_calendar(who, at);
        }
    }

    fn reverse_order(&mut self, who: usize, order: &str) {
        let p = &mut self.people[who];
        if let Some(o) = p.orders.iter_mut().find(|o| o.external_id == order) {
            p.points -= o.points;
            o.points = 0;
        }
    }

    /// A reward claim: spends the points when there are enough, and (live) tells the
    /// programmes with `reward_claimed`.
    fn claim(&mut self, who: usize, reward: &str, at: Timestamp, live: bool) {
        let loyalty = self.sim.setup.loyalty;
        let Some(reward) = loyalty.rewards.iter().find(|r| r.id == reward) else {
            return;
        };
        if self.people[who].points < reward.points {
            return;
        }
        self.people[who].points -= reward.points;
        if live {
            let coupon = reward
                .pool
                .as_deref()
                .and_then(|p| loyalty.pool(p))
                .map(|pool| coupon(pool.valid_days, at));
            let context = json!({"reward": reward.id, "name": reward.name, "coupon": coupon});
            self.event(who, "reward_claimed", context, at);
        }
    }

    // ----- jobs -----------------------------------------------------------------------

    fn run_job(&mut self, now: Timestamp, job: Job) {
        match job {
            Job::Route {
                person,
                event_type,
                context,
                at,
            } => self.route(person, &event_type, context, at, now),
            Job::Step(e, timer) => {
                if self.enrolments[e].timer == timer {
                    self.steps(e, now);
                }
            }
            Job::Deliver(m) => self.deliver(m, now),
            Job::Calendar(who) => self.calendar(who, now),
            Job::Lapse(who, timer) => {
                if self.people[who].lapse_timer == timer {
                    self.lapse(who, now);
                }
            }
            Job::SettleReferral(who) => self.settle_referral(who, now),
            Job::Campaign(i) => self.campaign(i, now),
            Job::Done => {}
        }
    }

    /// `engine/src/worker/route.rs`: loyalty, goals, exits, `wait_for`, queued messages, new enrolments.
    fn route(
        &mut self,
        who: usize,
        event_type: &str,
        context: Arc<serde_json::Value>,
        at: Timestamp,
        now: Timestamp,
    ) {
        // Loyalty: a referred friend's first order starts the return period; a return voids it.
        match event_type {
            "order_placed" => {
                if let Some((referrer, Referral::Pending)) = self.people[who].referral {
                    self.people[who].referral = Some((referrer, Referral::Ordered));
                    let days = i64::from(self.sim.setup.loyalty.referral.return_period_days);
                    self.schedule(at + DAY * days as i32, Job::SettleReferral(who));
                }
            }
            "order_returned" => {
                let order = context.get("order_external_id").and_then(|v| v.as_str());
                if let Some(order) = order {
                    self.reverse_order(who, order);
                    let first = self.people[who]
                        .orders
                        .first()
                        .map(|o| o.external_id.as_str());
                    if let Some((referrer, Referral::Ordered)) = self.people[who].referral
                        && first == Some(order)
                    {
                        self.people[who].referral = Some((referrer, Referral::Void));
                    }
                }
            }
            _ => {}
        }
        let enrolments = &self.enrolments;
        self.open.retain(|&e| {
            let en = &enrolments[e];
            matches!(
                en.state,
                EnrolmentState::Active | EnrolmentState::Waiting | EnrolmentState::Holdout
            ) || (!en.goal_reached && en.goal.is_some_and(|(_, d)| d >= at))
        });
        for i in 0..self.open.len() {
            let e = self.open[i];
            let en = &self.enrolments[e];
            if en.person != who {
                continue;
            }
            let open = Open {
                context: &en.context,
                programme: en.programme,
                standing: standing(en),
                step: en.step,
                started_at: en.started_at,
                goal: en.goal,
                goal_reached: en.goal_reached,
                wait_match: en.wait.as_ref().and_then(|(m, _)| m.as_deref()),
            };
            match route(&open, event_type, &context, at) {
                Routed::Goal { exit, complete } => {
                    self.enrolments[e].goal_reached = true;
                    if let Some(reason) = exit {
                        self.exit(e, &reason);
                    } else if complete {
                        self.enrolments[e].timer += 1;
                        self.enrolments[e].state = EnrolmentState::Completed;
                    }
                }
                Routed::Exit(reason) => self.exit(e, &reason),
                Routed::Answered { step } => {
                    let en = &mut self.enrolments[e];
                    en.step = step;
                    en.state = EnrolmentState::Active;
                    en.wait = None;
                    en.timer += 1;
                    let timer = en.timer;
                    self.schedule(now, Job::Step(e, timer));
                }
                Routed::Nothing => {}
            }
        }
        // Messages still queued from enrolments that ran their last step stop too (DQ3).
        let messages = &self.messages;
        self.planned
            .retain(|&m| messages[m].state == State::Planned);
        for i in 0..self.planned.len() {
            let m = self.planned[i];
            let msg = &self.messages[m];
            if msg.person != who || msg.state != State::Planned {
                continue;
            }
            // A campaign's message belongs to no enrolment: nothing an event does settles it.
            let Some(e) = msg.enrolment else {
                continue;
            };
            let en = &self.enrolments[e];
            let Some(reason) = settled(
                en.programme,
                en.state == EnrolmentState::Exited,
                event_type,
                &context,
                &en.context,
            ) else {
                continue;
            };
            self.block(m, reason);
        }
        let Some(programmes) = self.sim.triggered.get(event_type) else {
            return;
        };
        for &(index, programme) in programmes {
            if programme.draft || !self.may_enter(who, programme, at) {
                continue;
            }
            if let Some(entry) = &programme.entry
                && !self.holds(entry, who, &context, now)
            {
                continue;
            }
            // A saved audience, as the worker checks it (unknown: nobody enters).
            if programme.audience.is_some()
                && !programme
                    .audience_condition
                    .as_ref()
                    .is_some_and(|a| self.holds(a, who, &context, now))
            {
                continue;
            }
            let known = self.people[who].holdouts.iter().find(|(i, _)| *i == index);
            let holdout = match known {
                Some((_, h)) => *h,
                None => {
                    let p = &mut self.people[who];
                    let h = in_holdout(
                        &programme.id,
                        p.record.external_id.as_str(),
                        programme.holdout,
                    );
                    p.holdouts.push((index, h));
                    h
                }
            };
            let (goal, run_at) = start(programme, holdout, &self.people[who].zone, at, now);
            let id: &'a str = &programme.id;
            let p = &mut self.people[who];
            match p.starts.iter_mut().find(|(pid, _)| *pid == id) {
                Some(s) => s.1 = now,
                None => p.starts.push((id, now)),
            }
            self.enrolments.push(Enrolment {
                person: who,
                index,
                programme,
                state: if holdout {
                    EnrolmentState::Holdout
                } else {
                    EnrolmentState::Active
                },
                step: 0,
                context: context.clone(),
                started_at: now,
                goal,
                goal_reached: false,
                wait: None,
                exit_reason: None,
                holdout,
                timer: 0,
                sent_steps: Vec::new(),
            });
            let e = self.enrolments.len() - 1;
            self.open.push(e);
            self.schedule(run_at, Job::Step(e, 0));
        }
    }

    fn may_enter(&self, who: usize, programme: &Programme, at: Timestamp) -> bool {
        let p = &self.people[who];
        let last = p
            .starts
            .iter()
            .find(|(id, _)| *id == programme.id)
            .map(|(_, t)| *t);
        interpret::may_enter(programme, last, &p.zone, at)
    }

    fn exit(&mut self, e: usize, reason: &str) {
        let en = &mut self.enrolments[e];
        en.timer += 1;
        en.state = EnrolmentState::Exited;
        en.exit_reason = Some(reason.to_string());
        for i in 0..self.planned.len() {
            let m = self.planned[i];
            if self.messages[m].enrolment == Some(e) && self.messages[m].state == State::Planned {
                self.block(m, format!("blocked: {reason}"));
            }
        }
    }

    fn block(&mut self, m: usize, reason: String) {
        let msg = &mut self.messages[m];
        msg.state = State::Blocked;
        msg.reason = reason;
    }

    /// An enrolment's steps up to the next wait or the end: the interpreter's run, applied
    /// to the household (the worker applies the same run to the store, `engine/src/worker/steps.rs`).
    fn steps(&mut self, e: usize, now: Timestamp) {
        let due = now;
        let programme = self.enrolments[e].programme;
        let who = self.enrolments[e].person;
        let en = &self.enrolments[e];
        let standing = standing(en);
        let index = match resume(programme, standing, en.step, now) {
            Resume::From(index) => index,
            Resume::Complete(_) => {
                self.enrolments[e].state = EnrolmentState::Completed;
                return;
            }
            Resume::Nothing => return,
        };
        if matches!(standing, Standing::Waiting { .. }) {
            self.enrolments[e].wait = None;
        }
        let mut run = interpret::Run::new(programme, index, due, self.people[who].zone.clone());
        let end = loop {
            match run.advance() {
                Next::Holds(condition) => {
                    let context = self.enrolments[e].context.clone();
                    run.answer(self.holds(condition, who, &context, now));
                }
                Next::Date(expression) => {
                    let context = self.enrolments[e].context.clone();
                    let values = self.values(expression, who, &context, now);
                    run.answer_date(expression.date_with(&values).ok());
                }
                Next::Do(effect) => self.apply(effect, e, due, now),
                Next::End(end) => break end,
            }
        };
        let en = &mut self.enrolments[e];
        match end {
            End::Timer { index, at } => {
                en.step = index;
                en.state = EnrolmentState::Active;
                en.timer += 1;
                let timer = en.timer;
                self.schedule(at, Job::Step(e, timer));
            }
            End::Park {
                index,
                matching,
                deadline,
                ..
            } => {
                let expected = matching.and_then(|k| en.context.get(k)).map(json_text);
                en.state = EnrolmentState::Waiting;
                en.step = index;
                en.wait = Some((expected, deadline));
                en.timer += 1;
                let timer = en.timer;
                self.schedule(deadline, Job::Step(e, timer));
            }
            End::Completed { index } => {
                en.state = EnrolmentState::Completed;
                en.step = index;
            }
            End::Stopped { index } => {
                en.state = EnrolmentState::Active;
                en.step = index;
            }
        }
    }

    /// Applies one step's effect to the household.
    fn apply(&mut self, effect: Effect<'a>, e: usize, due: Timestamp, now: Timestamp) {
        let who = self.enrolments[e].person;
        let programme = self.enrolments[e].programme;
        match effect {
            Effect::Send { step, send } => {
                if self.enrolments[e].sent_steps.contains(&step.id.as_str()) {
                    return;
                }
                self.enrolments[e].sent_steps.push(&step.id);
                let categories = categories(self.sim, &self.people, &self.enrolments[e].context);
                // A content experiment splits as the worker does (no winner is chosen in a
                // simulation).
                let variant = send.variant_for(
                    &programme.id,
                    &step.id,
                    self.people[who].record.external_id.as_str(),
                    None,
                );
                let (choice, reason) = plan_send(
                    programme,
                    step,
                    send,
                    variant,
                    &self.people[who].record,
                    self.people[who].reach,
                    &categories,
                    self.sim.setup.policy,
                );
                let topic =
                    aftercare_engine::interpret::topic(&send.template, &self.enrolments[e].context);
                let planned_at =
                    aftercare_engine::interpret::send_at(variant, due, &self.people[who].zone);
                self.messages.push(Message {
                    person: who,
                    enrolment: Some(e),
                    index: self.enrolments[e].index,
                    template: variant.map_or(&send.template, |v| &v.template),
                    step: &step.id,
                    topic: Topic::of(&topic),
                    class: send.class,
                    priority: send.priority,
                    channel: choice.channel,
                    planned_at,
                    state: State::Planned,
                    // As the worker words it, until the policy says more.
                    reason,
                    sent_at: None,
                    squeezed: false,
                });
                let m = self.messages.len() - 1;
                self.planned.push(m);
                self.schedule(planned_at.max(now), Job::Deliver(m));
            }
            Effect::Tag(tag) => {
                let p = &mut self.people[who];
                let tags = p
                    .record
                    .attributes
                    .entry("tags".to_string())
                    .or_insert_with(|| json!([]));
                if let Some(list) = tags.as_array_mut()
                    && !list.iter().any(|t| t.as_str() == Some(tag))
                {
                    list.push(tag.into());
                    p.json_customer = None;
                    p.answers.clear();
                }
            }
            Effect::Set { attribute, value } => {
                let p = &mut self.people[who];
                if p.record.attributes.get(attribute) != Some(value) {
                    p.record
                        .attributes
                        .insert(attribute.to_string(), value.clone());
                    p.json_customer = None;
                    p.answers.clear();
                }
            }
            Effect::GrantPoints { points, .. } => self.people[who].points += points,
            Effect::IssueCoupon { pool, .. } => {
                if let Some(pool) = self.sim.setup.loyalty.pool(pool) {
                    let coupon = coupon(pool.valid_days, due.max(now));
                    let context = Arc::make_mut(&mut self.enrolments[e].context);
                    if let Some(map) = context.as_object_mut() {
                        map.insert("coupon".into(), coupon);
                    }
                }
            }
            Effect::Survey(kind) => {
                let context = Arc::make_mut(&mut self.enrolments[e].context);
                if let Some(map) = context.as_object_mut() {
                    map.insert("survey".into(), json!({"kind": kind.as_str()}));
                }
            }
            // The brand's system is not part of the simulation.
            Effect::Webhook { .. } => {}
        }
    }

    /// `engine/src/worker/deliver.rs`: suppression and the policy's decision.
    fn deliver(&mut self, m: usize, now: Timestamp) {
        if self.messages[m].state != State::Planned {
            return;
        }
        let enrolment = self.messages[m].enrolment.map(|e| &self.enrolments[e]);
        if let Some(en) = enrolment
            && en.state == EnrolmentState::Exited
        {
            let reason = aftercare_engine::interpret::suppressed(en.exit_reason.as_deref());
            return self.block(m, reason);
        }
        let programme = enrolment.map(|en| en.programme);
        let coupon_valid_until =
            enrolment.and_then(|en| aftercare_engine::loyalty::coupon_valid_until(&en.context));
        let who = self.messages[m].person;
        let year_ago = now - DAY * 366;
        let p = &mut self.people[who];
        let keep = p.history.partition_point(|c| c.at < year_ago);
        if keep > 64 {
            p.history.drain(..keep);
        }
        let from = p.history.partition_point(|c| c.at < year_ago);
        let msg = &self.messages[m];
        let (moment, repeat_days) = aftercare_engine::interpret::policy_terms(programme, msg.step);
        let intent = Intent {
            class: msg.class,
            priority: msg.priority,
            channel: msg.channel,
            planned_at: msg.planned_at,
            coupon_valid_until,
            topic: msg.topic,
            repeat_days,
            moment,
        };
        match policy::decide_for(
            &intent,
            &p.record,
            p.reach,
            &p.history[from..],
            now,
            self.sim.setup.policy,
        ) {
            Decision::Send { .. } => {
                p.history.push(PastContact {
                    at: now,
                    class: msg.class,
                    channel: msg.channel,
                    topic: msg.topic,
                });
                let msg = &mut self.messages[m];
                msg.state = State::Sent;
                msg.sent_at = Some(now);
                msg.reason = "sent".into();
            }
            Decision::Hold { until, reason } => {
                self.messages[m].squeezed = squeezes(&intent, reason.code);
                self.messages[m].reason = reason.sentence;
                // Rescheduled in its own place, as `reschedule_job` keeps the job's id.
                let slot = self.running;
                self.jobs[slot] = Job::Deliver(m);
                self.queue.push(Reverse((
                    until.max(now + SignedDuration::from_secs(1)),
                    1,
                    slot,
                )));
            }
            Decision::Block { reason } => {
                self.messages[m].squeezed = squeezes(&intent, reason.code);
                self.block(m, reason.sentence)
            }
        }
    }

    /// `campaigns::plan_campaign` for the household: each member present now who is in
    /// the audience is held out or gets the campaign's message at their local send time,
    /// delivered as every message is.
    fn campaign(&mut self, i: usize, now: Timestamp) {
        let c: &'a super::Campaign = &self.sim.setup.campaigns[i];
        let index = self.sim.names.len() + i;
        let empty = serde_json::Value::Null;
        for who in 0..self.people.len() {
            if !self.people[who].present || !self.holds(&c.audience, who, &empty, now) {
                continue;
            }
            let p = &self.people[who];
            let holdout = in_holdout(&c.key, p.record.external_id.as_str(), c.holdout);
            self.recipients.push((index, holdout));
            if holdout {
                continue;
            }
            let channel = aftercare_engine::campaigns::campaign_channel(
                &c.channels,
                c.class,
                &p.record,
                &self.sim.campaign_policies[i],
            );
            let planned_at = c.send_in(&p.zone).unwrap_or(now).max(now);
            self.messages.push(Message {
                person: who,
                enrolment: None,
                index,
                template: &c.template,
                step: &c.key,
                topic: Topic::of(&c.template),
                class: c.class,
                priority: policy::Priority::Low,
                channel,
                planned_at,
                state: State::Planned,
                reason: format!("campaign '{}'", c.name),
                sent_at: None,
                squeezed: false,
            });
            let m = self.messages.len() - 1;
            self.planned.push(m);
            self.schedule(planned_at, Job::Deliver(m));
        }
    }

    /// `engine/src/worker/calendar.rs` for one customer: the occasions of the day at 06:00 local.
    fn calendar(&mut self, who: usize, now: Timestamp) {
        if self.people[who].next_scan.is_some_and(|(_, t)| t <= now) {
            self.people[who].next_scan = None;
        }
        let p = &self.people[who];
        let today = now.to_zoned_datetime(p.zone.clone()).date();
        if p.last_scanned.is_some_and(|d| d >= today) {
            return;
        }
        let found = occasions_on(
            today,
            &p.record,
            &p.past,
            &[],
            &self.sim.products,
            &self.sim.wanted,
        );
        self.people[who].last_scanned = Some(today);
        for o in found {
            if matches!(o.kind, "inactive" | "contract_end") {
                let seen = &mut self.people[who].seen_occasions;
                if seen.contains(&o.source_id) {
                    continue;
                }
                seen.push(o.source_id);
            }
            let event_type = occasion_event(o.kind);
            self.event(who, &event_type, o.properties, now);
        }
        self.plan_calendar(who, now);
    }

    /// Schedules the customer's next calendar scan after `now`.
    fn plan_calendar(&mut self, who: usize, now: Timestamp) {
        let p = &self.people[who];
        let local = now.to_zoned_datetime(p.zone.clone());
        let six = jiff::civil::time(6, 0, 0, 0);
        // Today still counts when its 06:00 is yet to come and it was not scanned.
        let after = if local.time() < six {
            local.date().yesterday().ok()
        } else {
            Some(local.date())
        };
        let after = match (after, p.last_scanned) {
            (Some(a), Some(l)) => Some(a.max(l)),
            (a, l) => a.or(l),
        };
        let Some(after) = after else { return };
        let Some(day) = next_possible(
            after,
            p.last_scanned,
            &p.record,
            &p.past,
            &[],
            &self.sim.products,
            &self.sim.wanted,
        ) else {
            return;
        };
        let Ok(at) = day.to_datetime(six).to_zoned_datetime(p.zone.clone()) else {
            return;
        };
        let at = at.timestamp();
        let planned = self.people[who]
            .next_scan
            .is_some_and(|(_, t)| t > now && t <= at);
        if at < self.sim.setup.to && !planned {
            self.people[who].next_scan = Some((day, at));
            self.schedule(at, Job::Calendar(who));
        }
    }

    // ----- likely lapsing -------------------------------------------------------------

    fn p_alive(&self, who: usize, day: Date) -> Option<f64> {
        let model = self.sim.model.as_ref()?;
        let days = &self.people[who].purchase_days;
        if days.is_empty() {
            return None;
        }
        Some(model.p_alive(&history(days, day)))
    }

    /// The moment of the daily scores on `day`: the period's first moment on its first day,
    /// then the engine's first calendar run of the day (the customer's own 06:00 when the
    /// sample had no zones).
    fn score_time(&self, who: usize, day: Date) -> Timestamp {
        if day == utc_date(self.sim.setup.from) {
            return self.sim.setup.from;
        }
        self.sim.first_morning(day).unwrap_or_else(|| {
            day.to_datetime(jiff::civil::time(6, 0, 0, 0))
                .to_zoned_datetime(self.people[who].zone.clone())
                .map_or(self.sim.setup.from, |z| z.timestamp())
        })
    }

    /// P(alive) at the last daily score before an order at `at` (with the history before it).
    fn lapse_before_order(&self, who: usize, at: Timestamp) -> Option<f64> {
        if at < self.sim.setup.from {
            return None;
        }
        let day = utc_date(at);
        let day = if self.score_time(who, day) <= at {
            day
        } else {
            day.yesterday().ok()?
        };
        if day < utc_date(self.sim.setup.from) {
            return None;
        }
        self.p_alive(who, day)
    }

    /// Finds the first daily score from `now` on at which the customer falls below the
    /// lapsing line (monotone while no order comes), and schedules it.
    fn plan_lapse(&mut self, who: usize, now: Timestamp) {
        self.people[who].lapse_timer += 1;
        let timer = self.people[who].lapse_timer;
        let repeat = self.people[who].purchase_days.len() >= 2;
        if self.sim.model.is_none() || !repeat {
            return;
        }
        let mut first = utc_date(now);
        if self.score_time(who, first) < now {
            first = first.tomorrow().unwrap_or(first);
        }
        let last = utc_date(self.sim.setup.to);
        let below = |day: Date| {
            self.p_alive(who, day)
                .is_some_and(|p| p < aftercare_engine::scores::LAPSING_BELOW)
        };
        if first > last || !below(last) {
            return;
        }
        let (mut lo, mut hi) = (first, last);
        while lo < hi {
            let mid = lo
                .checked_add(jiff::Span::new().days((hi - lo).get_days() / 2))
                .unwrap_or(hi);
            if below(mid) {
                hi = mid;
            } else {
                lo = mid.tomorrow().unwrap_or(hi);
            }
        }
        // At the stretch's first score the previous one decides (later ones were above);
        // the period's first score has none, and the one lapse rule looks a while back.
        if lo == first {
            let start = utc_date(self.sim.setup.from);
            let previous = self.people[who].last_p;
            let p = self.p_alive(who, first).unwrap_or(1.0);
            let news = match previous {
                None if first == start => aftercare_engine::scores::lapses_now(p, None, || {
                    let model = self.sim.model.as_ref()?;
                    let earlier = start
                        .checked_sub(
                            jiff::Span::new().days(aftercare_engine::scores::FRESH_LAPSE_DAYS),
                        )
                        .ok()?;
                    aftercare_engine::scores::p_alive_on(
                        model,
                        &self.people[who].purchase_days,
                        earlier,
                    )
                }),
                _ => previous.is_none_or(|prev| prev >= aftercare_engine::scores::LAPSING_BELOW),
            };
            if !news {
                return;
            }
        }
        let at = self.score_time(who, lo);
        self.schedule(at, Job::Lapse(who, timer));
    }

    fn lapse(&mut self, who: usize, now: Timestamp) {
        let day = utc_date(now);
        let Some(p) = self.p_alive(who, day) else {
            return;
        };
        self.people[who].last_p = Some(p);
        let days = self.people[who]
            .purchase_days
            .keys()
            .next_back()
            .map_or(0, |last| (day - *last).get_days());
        let context = json!({"p_alive": p, "days_since_last_order": days});
        self.event(who, "likely_lapsing", context, now);
    }

    fn settle_referral(&mut self, friend: usize, now: Timestamp) {
        let Some((referrer, Referral::Ordered)) = self.people[friend].referral else {
            return;
        };
        self.people[friend].referral = Some((referrer, Referral::Rewarded));
        self.reward_referral_side(referrer, friend, "referrer", now);
    }

    /// One side's referral code and `referral_converted` event, as the engine's
    /// `loyalty::reward_side` makes them.
    fn reward_referral_side(&mut self, side: usize, other: usize, role: &str, now: Timestamp) {
        let loyalty = self.sim.setup.loyalty;
        let Some(pool) = loyalty.pool(&loyalty.referral.reward_pool) else {
            return;
        };
        let context = json!({
            "role": role,
            "other_first_name": self.people[other].record.first_name,
            "coupon": coupon(pool.valid_days, now),
        });
        self.event(side, "referral_converted", context, now);
    }

    // ----- conditions -----------------------------------------------------------------

    fn holds(
        &mut self,
        condition: &Condition,
        who: usize,
        context: &serde_json::Value,
        now: Timestamp,
    ) -> bool {
        // A condition on the customer alone holds until the record changes.
        let customer_only = !aftercare_engine::condition::VARIABLES
            .iter()
            .any(|v| *v != "customer" && condition.uses(v));
        let key: *const Condition = condition;
        if customer_only
            && let Some((_, holds)) = self.people[who].answers.iter().find(|(k, _)| *k == key)
        {
            return *holds;
        }
        let values = self.values(condition, who, context, now);
        let holds = condition.holds_with(&values).unwrap_or(false);
        if customer_only {
            self.people[who].answers.push((key, holds));
        }
        holds
    }

    /// What a condition sees, made only for the variables it reads.
    fn values<'v>(
        &'v mut self,
        condition: &Condition,
        who: usize,
        context: &'v serde_json::Value,
        now: Timestamp,
    ) -> Vec<(&'static str, Data<'v>)> {
        if condition.uses("customer") && self.people[who].json_customer.is_none() {
            let p = &mut self.people[who];
            p.json_customer = Some(serde_json::to_value(&p.record).unwrap_or_default());
        }
        let this: &'v Self = self;
        let mut values = Vec::with_capacity(6);
        if let Some(customer) = &this.people[who].json_customer
            && condition.uses("customer")
        {
            values.push(("customer", Data::Json(customer)));
        }
        if condition.uses("event") {
            values.push(("event", Data::Json(context)));
        }
        if condition.uses("order")
            || condition.uses("products")
            || condition.uses("recommendations")
        {
            let order = context.get("order_external_id").and_then(|v| v.as_str());
            let found = self
                .order_records
                .iter()
                .find(|o| Some(o.external_id.as_str()) == order);
            if let Some(o) = found {
                let before: HashSet<&str> = this.people[who]
                    .orders
                    .iter()
                    .filter(|earlier| earlier.placed_at < o.placed_at)
                    .flat_map(|earlier| earlier.skus.iter().map(String::as_str))
                    .collect();
                values.push((
                    "order",
                    Data::Owned(aftercare_engine::condition::order_json(o, &before)),
                ));
                let products: Vec<&serde_json::Value> = o
                    .lines
                    .iter()
                    .filter_map(|l| this.sim.product_values.get(l.sku.as_str()))
                    .collect();
                if condition.uses("recommendations") {
                    let basket: Vec<&str> = o.lines.iter().map(|l| l.sku.as_str()).collect();
                    let owned: HashSet<String> = this.people[who]
                        .orders
                        .iter()
                        .flat_map(|earlier| earlier.skus.iter().cloned())
                        .collect();
                    let recommended: Vec<&serde_json::Value> = aftercare_insight::recs::recommend(
                        this.sim.rules_at(now),
                        &basket,
                        &owned,
                        3,
                    )
                    .into_iter()
                    .filter_map(|r| this.sim.product_values.get(r.consequent.as_str()))
                    .collect();
                    values.push(("recommendations", Data::List(recommended)));
                }
                values.push(("products", Data::List(products)));
            }
        }
        if condition.uses("stats") {
            values.push((
                "stats",
                Data::Owned(this.stats(who, now, condition.stats_fields())),
            ));
        }
        values
    }

    /// `stats` as the worker's `condition_data` gives it (without `rfm_segment`), made as
    /// a CEL map straight away, with only the `fields` asked for (all when `None`).
    fn stats(&self, who: usize, now: Timestamp, fields: Option<&[String]>) -> serde_json::Value {
        let p = &self.people[who];
        let wanted = |f: &str| fields.is_none_or(|list| list.iter().any(|x| x == f));
        let days = |t: Timestamp| (now - t).as_hours() / 24;
        // The lifetime models only when a condition reads them: they are the costly part.
        let lifetime = ["p_alive", "expected_purchases_90d", "clv_12m_cents"]
            .iter()
            .any(|f| wanted(f))
            .then(|| {
                let model = self.sim.model.as_ref()?;
                (!p.purchase_days.is_empty()).then(|| {
                    let h = history(&p.purchase_days, utc_date(now));
                    aftercare_engine::scores::lifetime(model, self.sim.spend.as_ref(), &h)
                })
            })
            .flatten();
        let stats = aftercare_engine::condition::Stats {
            orders_count: p.orders.len() as i64,
            total_spent_cents: p.orders.iter().map(|o| o.total_cents).sum(),
            points_balance: p.points,
            days_since_last_order: p.orders.last().map(|o| days(o.placed_at)),
            days_as_customer: p
                .record
                .customer_since
                .and_then(|d| d.to_zoned_datetime(TimeZone::UTC).ok())
                .map(|z| z.timestamp())
                .or(p.orders.first().map(|o| o.placed_at))
                .map(days),
            rfm_segment: None,
            p_alive: lifetime.map_or(1.0, |l| l.p_alive),
            expected_purchases_90d: lifetime.map_or(0.0, |l| l.expected_purchases_90d),
            clv_12m_cents: lifetime.and_then(|l| l.clv_12m_cents).unwrap_or(0),
        };
        // Only the fields the condition reads: a condition such as `stats.orders_count >= 3`
        // runs on every order, and each field is an entry CEL builds for it.
        let mut json = stats.to_json();
        if let (Some(fields), Some(map)) = (fields, json.as_object_mut()) {
            map.retain(|k, _| fields.iter().any(|f| f == k));
        }
        json
    }

    // ----- the tally ------------------------------------------------------------------

    fn count(&mut self) {
        let setup = self.sim.setup;
        let (from, to) = (setup.from, setup.to);
        let t = &mut *self.tally;
        if t.counts.is_empty() {
            t.counts = vec![[0; 6]; self.sim.names.len() + setup.campaigns.len()];
            t.outcomes = vec![Default::default(); self.sim.names.len()];
        }
        for &(index, holdout) in &self.recipients {
            t.counts[index][0] += 1;
            t.counts[index][1] += i64::from(holdout);
        }
        for en in &self.enrolments {
            if setup.keep_messages {
                t.kept.enrolments.push(EnrolmentLine {
                    customer: self.people[en.person]
                        .record
                        .external_id
                        .as_str()
                        .to_string(),
                    programme: en.programme.id.clone(),
                    started_at: en.started_at,
                    holdout: en.holdout,
                    state: en.state.as_str(),
                });
            }
            let r = &mut t.counts[en.index];
            r[0] += 1;
            r[1] += i64::from(en.holdout);
            r[2] += i64::from(en.goal_reached);
            // RT2: goal outcomes whose window closed, with the revenue in the window.
            if let Some((_, deadline)) = en.goal
                && (deadline <= to || en.goal_reached)
            {
                let revenue: i64 = self.people[en.person]
                    .orders
                    .iter()
                    .filter(|o| o.placed_at > en.started_at && o.placed_at <= deadline)
                    .map(|o| o.total_cents)
                    .sum();
                t.outcomes[en.index][usize::from(en.holdout)].add(en.goal_reached, revenue);
            }
        }
        let days = (to - from).as_hours() as f64 / 24.0;
        let scale = 365.0 / days.max(1.0);
        let mut contacts = vec![0i64; self.people.len()];
        let mut attention = vec![0i64; self.people.len()];
        let mut topics: Vec<Vec<(Topic, Timestamp)>> = vec![Vec::new(); self.people.len()];
        for m in &self.messages {
            let en = m.enrolment.map(|e| &self.enrolments[e]);
            let state = match m.state {
                State::Planned => 3,
                State::Sent => 4,
                State::Blocked => 5,
            };
            t.counts[m.index][state] += 1;
            t.moments_squeezed += i64::from(m.squeezed && m.state != State::Sent);
            let by_reason = match m.state {
                State::Planned => Some(&mut t.held),
                State::Blocked => Some(&mut t.blocked),
                State::Sent => None,
            };
            if let Some(reasons) = by_reason {
                match reasons.get_mut(&m.reason) {
                    Some(n) => *n += 1,
                    None => {
                        reasons.insert(m.reason.clone(), 1);
                    }
                }
            }
            if let (State::Sent, Some(at)) = (m.state, m.sent_at) {
                let p = &self.people[m.person];
                if counts(m.class) && at >= from && at < to {
                    contacts[m.person] += 1;
                }
                if m.class != MessageClass::Transactional && at >= from && at < to {
                    attention[m.person] += 1;
                    topics[m.person].push((m.topic, at));
                }
                let ordered_before = p.orders.first().is_some_and(|o| o.placed_at <= from);
                if at > from && at <= to && (p.counted || ordered_before) {
                    *t.by_channel_class
                        .entry((m.channel.as_str(), m.class.as_str()))
                        .or_default() += 1;
                }
            }
            if setup.keep_messages {
                let p = &self.people[m.person];
                t.kept.messages.push(MessageLine {
                    customer: p.record.external_id.as_str().to_string(),
                    programme: match en {
                        Some(en) => en.programme.id.clone(),
                        None => format!(
                            "campaign:{}",
                            setup.campaigns[m.index - self.sim.names.len()].name
                        ),
                    },
                    template: m.template.to_string(),
                    class: m.class,
                    channel: m.channel,
                    priority: m.priority.as_str().to_string(),
                    planned_at: m.planned_at,
                    sent_at: m.sent_at,
                    decision: match m.state {
                        State::Sent => "sent",
                        State::Blocked => "blocked",
                        State::Planned => "held",
                    },
                    reason: m.reason.clone(),
                    coupon_valid_until: en
                        .and_then(|en| aftercare_engine::loyalty::coupon_valid_until(&en.context)),
                    zone: p.zone.clone(),
                    greeting: (m.state == State::Sent).then(|| {
                        let c = &p.record;
                        aftercare_domain::greeting::greeting(
                            aftercare_domain::greeting::NameInput {
                                first_name: c.first_name.as_deref(),
                                name_prefix: c.name_prefix.as_deref(),
                                last_name: c.last_name.as_deref(),
                                gender: c.gender,
                                address_form: c.address_form.unwrap_or(setup.address_form),
                                locale: c.locale,
                            },
                        )
                        .line
                    }),
                });
            }
        }
        let band = setup.policy.band_min..=setup.policy.band_max;
        for (who, p) in self.people.iter().enumerate() {
            if !p.present {
                continue;
            }
            if !p.counted {
                t.joined_during += 1;
                continue;
            }
            t.customers += 1;
            let n = (contacts[who] as f64 * scale).round() as i64;
            *t.contacts.entry(n).or_default() += 1;
            let paid = (attention[who] as f64 * scale).round() as i64;
            *t.attention.entry(paid).or_default() += 1;
            let mut sent = std::mem::take(&mut topics[who]);
            sent.sort_by_key(|(_, at)| *at);
            t.repeats += aftercare_engine::reports::repeats_within(
                sent,
                SignedDuration::from_hours(24 * i64::from(setup.policy.repeat_days)),
            );
            let consented = p.record.email.is_some()
                && p.record
                    .consent(Purpose::Marketing, Channel::Email)
                    .is_some_and(|c| c.granted);
            let active = p
                .orders
                .last()
                .is_some_and(|o| o.placed_at >= setup.active_since);
            if consented && active {
                t.active_marketing += 1;
                t.active_marketing_in_band +=
                    usize::from(u32::try_from(n).is_ok_and(|n| band.contains(&n)));
            }
        }
    }
}

/// Whether the policy kept a moment's message back for want of room (issue 23 point 4).
fn squeezes(intent: &Intent, code: &str) -> bool {
    intent.moment.is_some() && matches!(code, "band_reached" | "attention_ceiling")
}

/// The categories of the products of the order the enrolment is about (CH2).
fn categories<'s>(
    sim: &'s FastSimulator<'_>,
    people: &[Person<'_>],
    context: &serde_json::Value,
) -> Vec<&'s str> {
    let Some(order) = context.get("order_external_id").and_then(|v| v.as_str()) else {
        return Vec::new();
    };
    people
        .iter()
        .flat_map(|p| &p.orders)
        .filter(|o| o.external_id == order)
        .flat_map(|o| &o.skus)
        .filter_map(|sku| sim.products.get(sku))
        .map(|p| p.category.as_str())
        .collect()
}

/// A coupon as `loyalty::coupon_json` shows it to programmes (its validity is what the
/// policy checks, DQ1).
fn coupon(valid_days: u32, now: Timestamp) -> serde_json::Value {
    let until = now + DAY * i32::try_from(valid_days).unwrap_or(i32::MAX / 2);
    json!({"valid_until": until.to_string()})
}

/// Where an enrolment stands, as the interpreter reads it.
fn standing(en: &Enrolment<'_>) -> Standing {
    match en.state {
        EnrolmentState::Active => Standing::Active,
        EnrolmentState::Holdout => Standing::Holdout,
        EnrolmentState::Waiting => Standing::Waiting {
            deadline: en.wait.as_ref().map(|(_, d)| *d),
        },
        _ => Standing::Done,
    }
}
