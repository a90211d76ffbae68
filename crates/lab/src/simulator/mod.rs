//! The fast simulator: the programme library and the policy run in memory over a
//! generated shop, household by household, on as many threads as the machine has — a year
//! of a million customers in under a minute (`bench/simulate`), where the engine itself
//! (store, jobs, worker) manages about a thousand.
//!
//! It runs the same [`Programme`](aftercare_engine::programme::Programme) steps as the worker, through the same interpreter
//! ([`aftercare_engine::interpret`]), applying its effects to the household: triggers
//! from orders, carrier statuses and the brand's events, calendar occasions through
//! [`aftercare_engine::occasions`], entry conditions and branches in CEL, holdouts, re-entry, exit
//! events and goals, `wait`, `wait_for`, coupons, points; one-off campaigns ([`Campaign`]:
//! the audience read when the engine's `campaign` job would plan it, the holdout split as
//! the engine splits, the message at each member's local send time); and every message goes through
//! the same [`policy::decide`] and [`policy::choose_channel`], held and retried as the
//! worker holds and retries it. Customers never affect one another except through a
//! referral, so a customer and the friend they bring are simulated together (a
//! [`Household`]) and households run in parallel.
//!
//! Where it differs from the engine, on purpose (each small against a year's contacts):
//! - The lifetime models behind `likely_lapsing` and `stats` (BG/NBD and Gamma-Gamma) are
//!   fitted once, on the first 5,000 households' history at the start, where the engine
//!   refits every `[scores] refit_days` (7) on all. Both fit the same models when the refit
//!   interval is longer than the period, the shop has at most 5,000 households and at least
//!   20 repeat customers at the start (with fewer, the simulator never fits while the engine
//!   tries again daily).
//! - A customer's occasions are worked out at 06:00 in their own time zone, as the engine
//!   does; their scores at the engine's first calendar run of the UTC day: 06:00 in the zone
//!   whose morning comes first among the first 5,000 households' zones (the engine takes
//!   every customer's zone, and only once a customer has it), before that run's occasions.
//!   The engine's calendar job also runs at the print partner's cut-off, which with the
//!   default 16:00 would come first only in a shop whose every customer lives west of UTC−8.
//! - `stats.rfm_segment` is not known (it needs the whole shop's quintiles every day), nor
//!   are points from survey answers; points do not expire within the simulated period.
//! - A letter counts as sent when the policy lets it go; the engine marks it sent when its
//!   print batch closes (its policy counts it from the queue on, as here).
//! - A customer's calendar is scanned only on the days an occasion can fall
//!   ([`aftercare_engine::occasions::next_possible`]), and only the skus with a lifespan are kept for it.
//! - A change on the tracking page is accepted at once (`delivery_changed`).
//!
//! The test `fast_simulator_agrees_with_the_engine_customer_by_customer` runs both on the
//! same shop with a library that uses every step type and condition field, and finds every
//! enrolment and every message (channel, planned moment, decision) the same in both, with
//! the engine fitting its models once as here; `bench/simulate/run.sh` measures both. The
//! report is the same on every run (counts and goal revenue are added as whole numbers).

mod run;

use aftercare_domain::loyalty::LoyaltyConfig;
use aftercare_domain::policy::{self, PolicyConfig};
use aftercare_domain::{
    Channel, CustomerRecord, EventRecord, MessageClass, OrderRecord, ProductRecord,
    ShipmentEventRecord,
};
use aftercare_engine::scores::history;
use aftercare_insight::clv::{BgNbd, GammaGamma, History};
use aftercare_insight::uplift::{Sums, uplift_of};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

// The simulator looks products, event types and reasons up millions of times: a fast
// hasher (no defence against chosen keys is needed for the shop's own data).
use foldhash::{HashMap, HashMapExt};

use aftercare_engine::programme::{Library, OCCASIONS};
use aftercare_engine::reports::{ChannelClass, ProgrammeReport, SimulationReport};

/// Something that happens to a member of a household.
#[derive(Debug, Clone)]
pub enum Input {
    /// They place an order.
    Order(OrderRecord),
    /// The carrier reports a status of one of their shipments.
    Shipment(ShipmentEventRecord),
    /// The shop, helpdesk or app reports an event about them.
    Event(EventRecord),
    /// An order of theirs comes back.
    Return(String),
    /// They try to claim a reward with their points.
    ClaimReward(String),
    /// They become a customer (a referred friend; the others are customers from the start).
    Joined,
    /// They referred this member of the household.
    Referred(usize),
    /// They act on a tracking page; the event it leads to (`delivery_changed`, …).
    Page(&'static str),
    /// They were sent a message of this class on this channel about this topic (history
    /// from a store, which the policy counts toward the caps, the band and the ceiling).
    Contacted(MessageClass, Channel, aftercare_domain::policy::Topic),
}

/// A customer and the friend they referred, if any, with everything that happens to them.
#[derive(Debug, Clone)]
pub struct Household {
    /// The members; the first is a customer from the start, others join with
    /// [`Input::Joined`].
    pub customers: Vec<CustomerRecord>,
    /// (when, which member, what), in time order.
    pub inputs: Vec<(Timestamp, usize, Input)>,
}

/// What the simulator needs to know about the brand.
#[derive(Debug)]
pub struct Setup<'a> {
    /// The programmes.
    pub library: &'a Library,
    /// The policy.
    pub policy: &'a PolicyConfig,
    /// The loyalty programme.
    pub loyalty: &'a LoyaltyConfig,
    /// The catalogue.
    pub products: &'a [ProductRecord],
    /// The simulated period: history before `from`, programmes live from `from` to `to`.
    pub from: Timestamp,
    /// The end of the simulated period.
    pub to: Timestamp,
    /// Keep every message for a log or calendar.
    pub keep_messages: bool,
    /// How the brand addresses a customer whose record does not say (for the greeting).
    pub address_form: aftercare_domain::AddressForm,
    /// A customer with an order from here on is active (FR1's figure counts the active,
    /// marketing-consented ones): `from` for a generated shop, a year before it for a store.
    pub active_since: Timestamp,
    /// One-off campaigns sent during the period (issue 21), reported after the programmes
    /// as `campaign:<name>`.
    pub campaigns: &'a [Campaign],
}

/// A one-off campaign as the simulator runs it: what `campaigns::plan_campaign` and the
/// `deliver` job do with it, for the members of a household (made from a stored campaign
/// by [`Campaign::stored`]).
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The team's name for it.
    pub name: String,
    /// Its holdout's key, as the engine splits (`campaign-<id>`).
    pub key: String,
    /// The template it sends.
    pub template: String,
    /// Its class (never transactional).
    pub class: MessageClass,
    /// Channels in order of preference.
    pub channels: Vec<Channel>,
    /// Who gets it: a condition on `customer` and `stats`, read when it is planned.
    pub audience: aftercare_engine::condition::Condition,
    /// The day and local time it goes out, in each customer's own zone.
    pub send_at: jiff::civil::DateTime,
    /// The share held out.
    pub holdout: f64,
}

impl Campaign {
    /// A stored campaign as the simulator runs it, with its audience's condition (`None`
    /// when its day or time does not read).
    pub fn stored(
        c: &aftercare_store::Campaign,
        audience: aftercare_engine::condition::Condition,
    ) -> Option<Self> {
        use aftercare_engine::campaigns::{channels_of, class_of, holdout_key};
        let date: jiff::civil::Date = c.send_on.parse().ok()?;
        let time: jiff::civil::Time = c.local_time.parse().ok()?;
        Some(Self {
            name: c.name.clone(),
            key: holdout_key(c.id),
            template: c.template.clone(),
            class: class_of(&c.class),
            channels: channels_of(&c.channels),
            audience,
            send_at: date.to_datetime(time),
            holdout: c.holdout,
        })
    }

    /// When planning starts: the send time first reached anywhere (UTC+14), as the
    /// engine's `campaign` job is due.
    pub fn plan_at(&self) -> Option<Timestamp> {
        self.send_in(&jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(14)))
    }

    /// When it goes out for a customer in `zone`.
    pub fn send_in(&self, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
        self.send_at
            .to_zoned_datetime(zone.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

/// One planned message, for `--log` and `--customer`.
#[derive(Debug, Clone)]
pub struct MessageLine {
    /// The customer's external id.
    pub customer: String,
    /// The programme.
    pub programme: String,
    /// The template.
    pub template: String,
    /// The class.
    pub class: MessageClass,
    /// The channel.
    pub channel: Channel,
    /// The priority.
    pub priority: String,
    /// When the programme planned it.
    pub planned_at: Timestamp,
    /// When it went, if it did.
    pub sent_at: Option<Timestamp>,
    /// `sent`, `blocked` or `held`.
    pub decision: &'static str,
    /// Why.
    pub reason: String,
    /// The end of the code it carried.
    pub coupon_valid_until: Option<Timestamp>,
    /// The customer's time zone.
    pub zone: jiff::tz::TimeZone,
    /// The greeting it opened with (DQ2), when sent.
    pub greeting: Option<String>,
}

/// One enrolment, for `--log` and for comparing the simulator with the engine customer by
/// customer.
#[derive(Debug, Clone)]
pub struct EnrolmentLine {
    /// The customer's external id.
    pub customer: String,
    /// The programme.
    pub programme: String,
    /// When it started.
    pub started_at: Timestamp,
    /// In the programme's holdout.
    pub holdout: bool,
    /// Where it stands at the end: `active`, `waiting`, `holdout`, `completed` or `exited`,
    /// as the engine's enrolment states are named.
    pub state: &'static str,
}

/// What a run keeps of a block of households when asked (`keep_messages`).
#[derive(Debug, Default)]
pub struct Kept {
    /// Every message planned.
    pub messages: Vec<MessageLine>,
    /// Every enrolment.
    pub enrolments: Vec<EnrolmentLine>,
}

/// The figures of some households, added up.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per programme (in the library's order): enrolled, held out, goals reached, and
    /// messages planned, sent and blocked.
    counts: Vec<[i64; 6]>,
    /// Per programme with a goal: the treated and held-out outcomes whose window closed.
    outcomes: Vec<[Outcomes; 2]>,
    blocked: HashMap<String, i64>,
    /// Messages still held back at the end, by reason.
    held: HashMap<String, i64>,
    /// Customers of the whole period by yearly contacts.
    contacts: BTreeMap<i64, usize>,
    /// …and by yearly non-transactional messages.
    attention: BTreeMap<i64, usize>,
    /// The same non-transactional message again within the repeat window.
    repeats: i64,
    /// Moments' messages the band or the ceiling kept from going.
    moments_squeezed: i64,
    customers: usize,
    joined_during: usize,
    active_marketing: usize,
    active_marketing_in_band: usize,
    by_channel_class: BTreeMap<(&'static str, &'static str), i64>,
    /// Messages and enrolments kept for a log, when asked.
    pub kept: Kept,
}

impl Tally {
    /// Adds `other` to this one.
    pub fn merge(&mut self, other: Tally) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), [0; 6]);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        if self.outcomes.len() < other.outcomes.len() {
            self.outcomes
                .resize(other.outcomes.len(), Default::default());
        }
        for (mine, theirs) in self.outcomes.iter_mut().zip(&other.outcomes) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.n += b.n;
                a.converted += b.converted;
                a.cents += b.cents;
                a.cents_squared += b.cents_squared;
            }
        }
        for (reason, n) in other.blocked {
            *self.blocked.entry(reason).or_default() += n;
        }
        for (reason, n) in other.held {
            *self.held.entry(reason).or_default() += n;
        }
        for (k, n) in other.contacts {
            *self.contacts.entry(k).or_default() += n;
        }
        for (k, n) in other.attention {
            *self.attention.entry(k).or_default() += n;
        }
        self.repeats += other.repeats;
        self.moments_squeezed += other.moments_squeezed;
        for (k, n) in other.by_channel_class {
            *self.by_channel_class.entry(k).or_default() += n;
        }
        self.customers += other.customers;
        self.joined_during += other.joined_during;
        self.active_marketing += other.active_marketing;
        self.active_marketing_in_band += other.active_marketing_in_band;
        self.kept.messages.extend(other.kept.messages);
        self.kept.enrolments.extend(other.kept.enrolments);
    }

    /// The report, as the engine-backed simulator gives it.
    pub fn report(self, setup: &Setup<'_>) -> SimulationReport {
        let days = (setup.to - setup.from).as_hours() / 24;
        let mut programmes = BTreeMap::new();
        let campaigns = setup
            .campaigns
            .iter()
            .map(|c| format!("campaign:{}", c.name));
        for (i, id) in setup
            .library
            .programmes
            .keys()
            .cloned()
            .chain(campaigns)
            .enumerate()
        {
            let c = self.counts.get(i).copied().unwrap_or_default();
            let messages = [("planned", c[3]), ("sent", c[4]), ("blocked", c[5])]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| (s.to_string(), n))
                .collect();
            let report = ProgrammeReport {
                enrolled: c[0],
                held_out: c[1],
                goals_reached: c[2],
                uplift: self
                    .outcomes
                    .get(i)
                    .and_then(|[treated, held_out]| uplift_of(&treated.sums(), &held_out.sums())),
                messages,
            };
            programmes.insert(id, report);
        }
        let band = setup.policy.band_min..=setup.policy.band_max;
        let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
        let (mut in_band, mut above) = (0, 0);
        for (&n, &count) in &self.contacts {
            let bucket = aftercare_engine::reports::contacts_bucket(n);
            *histogram.entry(bucket.to_string()).or_default() += count;
            if u32::try_from(n).is_ok_and(|n| band.contains(&n)) {
                in_band += count;
            }
            if n > i64::from(*band.end()) {
                above += count;
            }
        }
        let mut attention_histogram: BTreeMap<String, usize> = BTreeMap::new();
        let mut above_ceiling = 0;
        for (&n, &count) in &self.attention {
            *attention_histogram
                .entry(aftercare_engine::reports::attention_bucket(n))
                .or_default() += count;
            if setup.policy.attention_max > 0 && n > i64::from(setup.policy.attention_max) {
                above_ceiling += count;
            }
        }
        let by_count = |reasons: HashMap<String, i64>| {
            let mut list: Vec<(String, i64)> = reasons.into_iter().collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list
        };
        let blocked = by_count(self.blocked);
        let held = by_count(self.held);
        let counted = self.customers.max(1) as f64;
        let by_channel_class = self
            .by_channel_class
            .into_iter()
            .map(|((channel, class), messages)| ChannelClass {
                per_customer: messages as f64 * 365.0 / days.max(1) as f64 / counted,
                channel: channel.to_string(),
                class: class.to_string(),
                messages,
            })
            .collect();
        SimulationReport {
            days,
            customers: self.customers,
            joined_during: self.joined_during,
            programmes,
            blocked,
            held,
            contacts_histogram: histogram,
            contacts_per_customer: self.contacts,
            band: (setup.policy.band_min, setup.policy.band_max),
            by_channel_class,
            in_band: in_band as f64 / counted,
            active_marketing_customers: self.active_marketing,
            active_marketing_in_band: self.active_marketing_in_band as f64
                / self.active_marketing.max(1) as f64,
            above_band: above,
            attention_histogram,
            attention_max: setup.policy.attention_max,
            above_ceiling,
            repeats: self.repeats,
            repeat_days: setup.policy.repeat_days,
            moments_squeezed: self.moments_squeezed,
        }
    }
}

/// A group's goal outcomes in whole cents, so the sum is the same whichever thread added
/// which household (floating-point sums depend on their order).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outcomes {
    pub(crate) n: u64,
    pub(crate) converted: u64,
    pub(crate) cents: i128,
    pub(crate) cents_squared: i128,
}

impl Outcomes {
    pub(crate) fn add(&mut self, converted: bool, cents: i64) {
        self.n += 1;
        self.converted += u64::from(converted);
        self.cents += i128::from(cents);
        self.cents_squared += i128::from(cents) * i128::from(cents);
    }

    fn sums(&self) -> Sums {
        Sums {
            n: self.n,
            converted: self.converted,
            revenue: self.cents as f64 / 100.0,
            revenue_squared: self.cents_squared as f64 / 10_000.0,
        }
    }
}

/// The simulator for one brand's programmes and policy.
#[derive(Debug)]
pub struct FastSimulator<'a> {
    setup: &'a Setup<'a>,
    products: HashMap<String, ProductRecord>,
    /// Each product as conditions read it ([`aftercare_engine::condition::product_json`]), made once.
    product_values: HashMap<String, serde_json::Value>,
    wanted: aftercare_engine::occasions::Wanted,
    /// The lifetime model for `likely_lapsing`, when there is enough history to fit it.
    model: Option<BgNbd>,
    /// The spend model beside it, for `stats.clv_12m_cents`.
    spend: Option<GammaGamma>,
    /// Programmes (with their place in the library) by trigger event.
    triggered: HashMap<String, Vec<(usize, &'a aftercare_engine::programme::Programme)>>,
    /// Programme ids in the library's order.
    names: Vec<&'a str>,
    /// Each campaign's channel policy (`campaigns::channel_policy`), made once.
    campaign_policies: Vec<PolicyConfig>,
    /// Whether a condition reads `order` or `products` (then orders are kept whole).
    uses_orders: bool,
    /// "Also bought" rules (OF2) for conditions that read `recommendations`, mined from the
    /// sample households' orders so far once a week of the run (the engine mines all orders
    /// every night), each with the moment it holds from.
    rules: Vec<(Timestamp, Vec<aftercare_insight::recs::Rule>)>,
    /// When the engine scores on each UTC day of the period (and the days around it), from
    /// its first: the engine's calendar job runs at 06:00 in each of the sample's time
    /// zones, and scores everyone at the first of those runs in a UTC day.
    mornings: (jiff::civil::Date, Vec<Option<Timestamp>>),
}

/// Households whose history fits the lifetime model.
pub const MODEL_SAMPLE: usize = 5_000;

impl<'a> FastSimulator<'a> {
    /// A simulator; `sample` is some households whose history before `setup.from` fits
    /// the lifetime model (see [`MODEL_SAMPLE`]).
    pub fn new(setup: &'a Setup<'a>, sample: &[Household]) -> Self {
        let products: HashMap<String, ProductRecord> = setup
            .products
            .iter()
            .map(|p| (p.sku.as_str().to_string(), p.clone()))
            .collect();
        let wanted = OCCASIONS
            .iter()
            .copied()
            .filter(|o| setup.library.uses_occasion(o))
            .collect();
        let mut triggered: HashMap<String, Vec<(usize, &aftercare_engine::programme::Programme)>> =
            HashMap::new();
        for (i, p) in setup.library.programmes.values().enumerate() {
            triggered
                .entry(p.trigger_event.clone())
                .or_default()
                .push((i, p));
        }
        let names = setup
            .library
            .programmes
            .keys()
            .map(String::as_str)
            .collect();
        // Whether any entry condition, branch or date to wait for reads one of `variables`.
        let library_reads = |variables: &[&str]| {
            let reads =
                |c: &aftercare_engine::condition::Condition| variables.iter().any(|v| c.uses(v));
            setup.library.programmes.values().any(|p| {
                p.entry.as_ref().is_some_and(reads)
                    || p.steps.iter().any(|s| match &s.action {
                        aftercare_engine::programme::Action::Branch { condition, .. } => {
                            reads(condition)
                        }
                        aftercare_engine::programme::Action::Wait(
                            aftercare_engine::programme::Wait::UntilDate { date, .. },
                        ) => reads(date),
                        _ => false,
                    })
            })
        };
        let uses_orders = library_reads(&["order", "products", "recommendations"]);
        let today = utc_date(setup.from);
        let histories: Vec<History> = sample
            .iter()
            .flat_map(|h| {
                let mut days: Vec<BTreeMap<jiff::civil::Date, i64>> =
                    vec![BTreeMap::new(); h.customers.len()];
                for (at, who, input) in &h.inputs {
                    if *at >= setup.from {
                        break;
                    }
                    if let Input::Order(o) = input {
                        *days[*who].entry(utc_date(*at)).or_default() += o.total_cents();
                    }
                }
                days.into_iter()
                    .filter(|d| !d.is_empty())
                    .map(move |d| history(&d, today))
            })
            .collect();
        let rules = if library_reads(&["recommendations"]) {
            weekly_rules(sample, setup.from, setup.to)
        } else {
            Vec::new()
        };
        let mut zones: Vec<jiff::tz::TimeZone> = Vec::new();
        for c in sample.iter().flat_map(|h| &h.customers) {
            let zone = c.time_zone.zone();
            if !zones.iter().any(|z| z.iana_name() == zone.iana_name()) {
                zones.push(zone);
            }
        }
        let six = jiff::civil::time(6, 0, 0, 0);
        let first_day = utc_date(setup.from)
            .yesterday()
            .unwrap_or(utc_date(setup.from));
        let days = (utc_date(setup.to) - first_day).get_days().max(0) + 2;
        let mornings = (0..days)
            .map(|n| {
                let day = first_day.checked_add(jiff::Span::new().days(n)).ok()?;
                let around = [day.yesterday().ok(), Some(day), day.tomorrow().ok()];
                zones
                    .iter()
                    .flat_map(|zone| {
                        around.iter().flatten().filter_map(move |d| {
                            d.to_datetime(six).to_zoned_datetime(zone.clone()).ok()
                        })
                    })
                    .map(|z| z.timestamp())
                    .filter(|t| utc_date(*t) == day)
                    .min()
            })
            .collect();
        let mornings = (first_day, mornings);
        let fits = histories.iter().filter(|h| h.frequency > 0.0).count() >= 20;
        let model = fits.then(|| BgNbd::fit(&histories).ok()).flatten();
        let spend = model
            .is_some()
            .then(|| GammaGamma::fit(&histories).ok())
            .flatten();
        Self {
            setup,
            product_values: products
                .iter()
                .map(|(sku, p)| (sku.clone(), aftercare_engine::condition::product_json(p)))
                .collect(),
            products,
            wanted,
            model,
            spend,
            triggered,
            names,
            campaign_policies: setup
                .campaigns
                .iter()
                .map(|c| {
                    aftercare_engine::campaigns::channel_policy(&c.channels, setup.policy)
                        .into_owned()
                })
                .collect(),
            uses_orders,
            rules,
            mornings,
        }
    }

    /// When the engine scores on `day` (UTC): at its calendar job's first run that day, the
    /// earliest 06:00 among the shop's time zones (`None` without zones or outside the
    /// period).
    fn first_morning(&self, day: jiff::civil::Date) -> Option<Timestamp> {
        let (first, mornings) = &self.mornings;
        let i = usize::try_from((day - *first).get_days()).ok()?;
        mornings.get(i).copied().flatten()
    }

    /// The "also bought" rules that hold at `now`.
    fn rules_at(&self, now: Timestamp) -> &[aftercare_insight::recs::Rule] {
        let i = self.rules.partition_point(|(from, _)| *from <= now);
        self.rules.get(i.saturating_sub(1)).map_or(&[], |(_, r)| r)
    }

    /// Runs one household through the period and adds what happened to `tally`.
    pub fn run(&self, household: Household, tally: &mut Tally) {
        let (run, inputs) = run::Run::new(self, household, tally);
        run.finish(inputs);
    }
}

/// The "also bought" rules from the orders of `sample` placed before each week's start from
/// `from` to `to`.
fn weekly_rules(
    sample: &[Household],
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, Vec<aftercare_insight::recs::Rule>)> {
    let mut baskets: Vec<(Timestamp, Vec<&str>)> = sample
        .iter()
        .flat_map(|h| h.inputs.iter())
        .filter_map(|(at, _, input)| match input {
            Input::Order(o) => Some((*at, o.lines.iter().map(|l| l.sku.as_str()).collect())),
            _ => None,
        })
        .collect();
    baskets.sort_by_key(|(at, _)| *at);
    let week = jiff::SignedDuration::from_hours(24 * 7);
    let mut out = Vec::new();
    let mut at = from;
    while at <= to {
        let before = baskets.partition_point(|(t, _)| *t < at);
        let rules = aftercare_insight::recs::rules(
            baskets[..before].iter().map(|(_, b)| b.as_slice()),
            aftercare_insight::recs::Minimums::default(),
        );
        out.push((at, rules));
        at += week;
    }
    out
}

/// The UTC date of a moment (the scores' day).
fn utc_date(t: Timestamp) -> jiff::civil::Date {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// Whether the class counts toward the yearly band (FR1).
fn counts(class: MessageClass) -> bool {
    policy::counts_toward_band(class)
}

const DAY: SignedDuration = SignedDuration::from_hours(24);
