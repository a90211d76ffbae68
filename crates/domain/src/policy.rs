//! Policy: whether, when and how a planned message may go out — "relevant, not annoying".
//!
//! Pure functions over a snapshot of one customer (their record and the contacts they
//! already had), in the order of docs/DESIGN.md's pipeline: consent, data quality, frequency
//! caps, the yearly contact band (FR1), quiet hours in the customer's own time zone, and
//! channel choice. Suppression (the matter is resolved, the goal reached, the customer left
//! the programme) is decided by the engine before policy runs. Every decision carries a
//! stable reason code and a sentence a marketer understands.
//!
//! Requirements: FR1 (7–9 contacts a year), CH1, CH2, DQ2, DQ3.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::customer::{Channel, CustomerRecord, Purpose};
use crate::message::MessageClass;

/// How urgent a message is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Filler: tips, inspiration, news — only for customers below the band.
    Low,
    /// The default.
    Normal,
    /// Must reach the customer whenever anything may.
    High,
}

impl Priority {
    /// The lower-case name, as programmes write it and the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    /// Parses the lower-case name; unknown names are `Normal`.
    pub fn parse(s: &str) -> Self {
        match s {
            "low" => Priority::Low,
            "high" => Priority::High,
            _ => Priority::Normal,
        }
    }
}

/// The customer's own moments, which the yearly band and the attention ceiling keep room
/// for ahead (issue 23 point 4): they never fail for want of room. A programme says which
/// moment it serves (`moment = "birthday"`), and `check` holds it to a fitting trigger, so a
/// moment is never a way around the band: it only takes room kept for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// The customer's birthday (SU1): known ahead from `birth_date`.
    Birthday,
    /// The customer's anniversary as a customer (SU1): known ahead from `customer_since`.
    Anniversary,
    /// The answer to a complaint (CM1): not known ahead.
    Recovery,
    /// A referral's reward (RF1): not known ahead.
    ReferralReward,
}

impl Moment {
    /// Every moment.
    pub const ALL: [Moment; 4] = [
        Moment::Birthday,
        Moment::Anniversary,
        Moment::Recovery,
        Moment::ReferralReward,
    ];

    /// The snake_case name programmes write.
    pub fn as_str(self) -> &'static str {
        match self {
            Moment::Birthday => "birthday",
            Moment::Anniversary => "anniversary",
            Moment::Recovery => "recovery",
            Moment::ReferralReward => "referral_reward",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What a message is about, to recognise the same message again (issue 23 point 1): its
/// template, and the household member it is about when it is about one. Kept as a hash so
/// a contact stays a small copyable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Topic(u64);

impl Topic {
    /// The topic of a message from `template`, about `subject` (e.g. a household member's
    /// first name) when it has one.
    pub fn of(topic: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        topic.hash(&mut hasher);
        Topic(hasher.finish())
    }
}

/// A limit on contacts of a class (or all non-transactional ones) in a rolling window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// The class the cap is for; `None` for every non-transactional message.
    #[serde(default)]
    pub class: Option<MessageClass>,
    /// The channel; `None` for every channel.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// At most this many…
    pub max: u32,
    /// …in this many days.
    pub days: u32,
}

/// A yearly band for one segment (CH2: segments want different amounts of contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentBand {
    /// The band's bottom for this segment.
    pub band_min: u32,
    /// The band's top for this segment.
    pub band_max: u32,
}

/// CH2: which channels a segment or a product category wants for relationship and
/// promotional contact, e.g. weekly groceries and short outings prefer the letterbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRule {
    /// Customers whose `attributes.segment` is this.
    #[serde(default)]
    pub segment: Option<String>,
    /// Messages about an order with a product of this category.
    #[serde(default)]
    pub category: Option<String>,
    /// The channels, most wanted first.
    pub channels: Vec<Channel>,
    /// Only these channels ("letterbox-only"); otherwise the step's own follow them.
    #[serde(default)]
    pub only: bool,
}

/// The channel chosen for a message, and why when it is not simply the step's first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelChoice {
    /// The channel.
    pub channel: Channel,
    /// Why this one, in words; empty when it is the step's first choice.
    pub reason: String,
}

/// Why `channel` cannot reach the customer at all, if it cannot (DQ2, CH2): email needs an
/// address; a letter a complete postal address and a name for the envelope; SMS a mobile
/// number (Dutch `+316…` and Belgian `+324[5-9]…` numbers are checked, other countries'
/// are taken as given); app push an app that registered — recorded as a granted consent on
/// the push channel, which is how the app reports the phone's notification permission. The
/// portal inbox reaches every customer.
pub fn unreachable_reason(customer: &CustomerRecord, channel: Channel) -> Option<Reason> {
    Reach::unknown().unreachable_reason(customer, channel)
}

/// What a customer's record lets the channels reach that takes work to find out: whether
/// there is a name for a letter's envelope (parsing the name, DQ2). [`Reach::unknown`] finds
/// it out when asked; [`Reach::of`] once, for a caller that decides again and again for the
/// same record (the simulator), through [`decide_for`] and [`choose_channel_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reach {
    envelope_name: Option<bool>,
}

impl Reach {
    /// Nothing worked out yet: each question parses the record again.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Everything worked out for `customer`; valid while its name fields stay the same.
    pub fn of(customer: &CustomerRecord) -> Self {
        Self {
            envelope_name: Some(has_envelope_name(customer)),
        }
    }

    /// [`unreachable_reason`], with what is already known.
    pub fn unreachable_reason(self, customer: &CustomerRecord, channel: Channel) -> Option<Reason> {
        let why = |s: &str| Some(Reason::new("no_address", format!("blocked: {s}")));
        match channel {
            Channel::Email if customer.email.is_none() => why("the customer has no email address"),
            Channel::Letter => {
                let named = || {
                    self.envelope_name
                        .unwrap_or_else(|| has_envelope_name(customer))
                };
                if customer
                    .postal_address
                    .as_ref()
                    .is_none_or(|a| a.validate().is_err())
                {
                    why("the customer has no complete postal address for a letter")
                } else if !named() {
                    why("the customer has no name to put on the envelope")
                } else {
                    None
                }
            }
            Channel::Sms => match &customer.phone {
                None => why("the customer has no mobile number for SMS"),
                Some(p) if p.is_mobile() == Some(false) => why(&format!(
                    "{} is not a mobile number; SMS needs one",
                    p.as_str()
                )),
                Some(_) => None,
            },
            Channel::Push if !customer.consents.iter().any(|c| c.channel == Channel::Push) => {
                why("the customer has not installed the app (no push registration)")
            }
            Channel::Push
                if !customer
                    .consents
                    .iter()
                    .any(|c| c.channel == Channel::Push && c.granted) =>
            {
                why("the customer turned app notifications off")
            }
            _ => None,
        }
    }
}

fn has_envelope_name(customer: &CustomerRecord) -> bool {
    crate::greeting::envelope_name(crate::greeting::NameInput {
        first_name: customer.first_name.as_deref(),
        name_prefix: customer.name_prefix.as_deref(),
        last_name: customer.last_name.as_deref(),
        gender: customer.gender,
        address_form: customer.address_form.unwrap_or_default(),
        locale: customer.locale,
    })
    .is_some()
}

/// Why consent does not allow `class` on `channel`, if it does not. Email needs an opt-in
/// for marketing; addressed post may be sent unless the customer said no (opt-out, as Dutch
/// and Belgian law have it for direct mail); transactional messages need no consent. With
/// the brand's soft opt-in on, an existing customer who never said no counts as asked.
fn consent_refusal(
    customer: &CustomerRecord,
    class: MessageClass,
    channel: Channel,
    config: &PolicyConfig,
) -> Option<Reason> {
    if class == MessageClass::Transactional {
        return None;
    }
    let purpose = if class.needs_marketing_consent() {
        Purpose::Marketing
    } else {
        Purpose::Service
    };
    match customer.consent(purpose, channel) {
        Some(c) if !c.granted => {
            let what = if purpose == Purpose::Marketing {
                "marketing"
            } else {
                "service messages"
            };
            Some(Reason::new(
                "consent_withdrawn",
                format!(
                    "blocked: consent for {what} by {} withdrawn ({})",
                    channel.as_str(),
                    c.source
                ),
            ))
        }
        None if purpose == Purpose::Marketing
            && config.soft_opt_in
            && customer.customer_since.is_some()
            && matches!(channel, Channel::Email | Channel::Sms) =>
        {
            None
        }
        None if purpose == Purpose::Marketing && channel != Channel::Letter => Some(Reason::new(
            "no_marketing_consent",
            format!("blocked: no marketing consent for {}", channel.as_str()),
        )),
        _ => None,
    }
}

/// CH2, policy step 8: the channel for a message. The step's channels in order, unless a
/// rule for the customer's segment or a product's category puts its own first (or, with
/// `only`, instead) — for relationship and promotional contact; service and transactional
/// messages answer the customer's own actions and keep the step's channels. The customer's
/// preferred channel (`attributes.preferred_channel`) comes first when it is among them;
/// then the first channel that can reach the customer with consent wins. When none can,
/// the first is kept, and the policy blocks it at sending time with the reason.
pub fn choose_channel(
    preferences: &[Channel],
    class: MessageClass,
    customer: &CustomerRecord,
    categories: &[&str],
    config: &PolicyConfig,
) -> ChannelChoice {
    choose_channel_for(
        preferences,
        class,
        customer,
        Reach::unknown(),
        categories,
        config,
    )
}

/// [`choose_channel`] with what is already known of the customer's reach.
pub fn choose_channel_for(
    preferences: &[Channel],
    class: MessageClass,
    customer: &CustomerRecord,
    reach: Reach,
    categories: &[&str],
    config: &PolicyConfig,
) -> ChannelChoice {
    let first = preferences.first().copied().unwrap_or(Channel::Email);
    let mut candidates: Vec<Channel> = preferences.to_vec();
    let mut why = Vec::new();
    if counts_toward_band(class) {
        let segment = customer.attributes.get("segment").and_then(|s| s.as_str());
        let rule = config.channel_rules.iter().find(|r| {
            r.segment.as_deref().is_some_and(|s| Some(s) == segment)
                || r.category
                    .as_deref()
                    .is_some_and(|c| categories.contains(&c))
        });
        if let Some(rule) = rule {
            let mut ordered = rule.channels.clone();
            if !rule.only {
                ordered.extend(preferences.iter().filter(|c| !rule.channels.contains(c)));
            }
            candidates = ordered;
            let whose = match (&rule.segment, &rule.category) {
                (Some(s), _) if Some(s.as_str()) == segment => format!("the segment {s}"),
                (_, Some(c)) => format!("the category {c}"),
                _ => "a channel rule".to_string(),
            };
            let list: Vec<&str> = rule.channels.iter().map(|c| c.as_str()).collect();
            why.push(format!(
                "{whose} prefers {}{}",
                list.join(", then "),
                if rule.only { " only" } else { "" }
            ));
        }
    }
    let preferred = customer
        .attributes
        .get("preferred_channel")
        .and_then(|s| s.as_str())
        .and_then(Channel::parse);
    if let Some(p) = preferred
        && let Some(i) = candidates.iter().position(|c| *c == p)
        && i > 0
    {
        candidates.remove(i);
        candidates.insert(0, p);
        why.push(format!("the customer prefers {}", p.as_str()));
    }
    let fit = candidates.iter().copied().find(|c| {
        reach.unreachable_reason(customer, *c).is_none()
            && consent_refusal(customer, class, *c, config).is_none()
    });
    let channel = fit.or(candidates.first().copied()).unwrap_or(first);
    if fit.is_some() && candidates.first() != Some(&channel) {
        why.push(format!(
            "{} cannot reach the customer",
            candidates
                .iter()
                .take_while(|c| **c != channel)
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    ChannelChoice {
        channel,
        reason: if channel == first && why.is_empty() {
            String::new()
        } else {
            format!("by {}: {}", channel.as_str(), why.join("; "))
        },
    }
}

/// The customer's own moments known ahead (birthday, customer anniversary) in the coming
/// year, soonest first, each at the start of its local day — today's included, as its
/// message may not have gone yet. `except` leaves out the moment a message itself serves.
pub fn moments_ahead(
    customer: &CustomerRecord,
    now: Timestamp,
    except: Option<Moment>,
) -> Vec<(Timestamp, Moment)> {
    let zone = customer.time_zone.zone();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let mut out = Vec::new();
    for (date, moment) in [
        (customer.birth_date, Moment::Birthday),
        (customer.customer_since, Moment::Anniversary),
    ] {
        let Some(date) = date else { continue };
        if except == Some(moment) {
            continue;
        }
        let next = (0..=1).find_map(|add| {
            let year = today.year() + add;
            let candidate = jiff::civil::Date::new(year, date.month(), date.day())
                .or_else(|_| jiff::civil::Date::new(year, 2, 28))
                .ok()?;
            (candidate >= today && candidate.year() - date.year() >= 1).then_some(candidate)
        });
        if let Some(at) = next.and_then(|d| {
            zone.to_ambiguous_zoned_datetime(d.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .ok()
        }) {
            out.push((at.timestamp(), moment));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

/// How many messages of the customer's moments not known ahead every other message leaves
/// room for in the band: a referral's reward.
pub const UNFORESEEN_IN_BAND: u32 = 1;

/// …and under the attention ceiling: a complaint's answer by email and by post.
pub const UNFORESEEN_UNDER_CEILING: u32 = 2;

/// The fullest rolling year a message sent now would fall in: the contacts `counts` takes
/// of the year before now, or of the year before one of the customer's moments ahead with
/// the moments up to it — they need their room there. Returns the contacts of the year
/// before now (what the team reads) and the fullest count.
fn fullest_year(
    history: &[PastContact],
    counts: impl Fn(MessageClass) -> bool,
    ahead: &[(Timestamp, Moment)],
    now: Timestamp,
) -> (Vec<Timestamp>, u32) {
    let year = SignedDuration::from_hours(24 * 365);
    let mut in_year: Vec<Timestamp> = history
        .iter()
        .filter(|h| counts(h.class) && h.at > now - year && h.at <= now)
        .map(|h| h.at)
        .collect();
    in_year.sort();
    let n = |from: Timestamp| {
        u32::try_from(in_year.iter().filter(|t| **t > from).count()).unwrap_or(u32::MAX)
    };
    let mut fullest = n(now - year);
    for (i, (at, _)) in ahead.iter().enumerate() {
        let with_moments = n(*at - year) + u32::try_from(i + 1).unwrap_or(u32::MAX);
        fullest = fullest.max(with_moments);
    }
    (in_year, fullest)
}

/// " and a birthday and an anniversary coming up", or nothing.
fn coming_up(ahead: &[(Timestamp, Moment)]) -> String {
    if ahead.is_empty() {
        return String::new();
    }
    let words: Vec<&str> = ahead
        .iter()
        .map(|(_, m)| match m {
            Moment::Birthday => "a birthday",
            Moment::Anniversary => "an anniversary",
            Moment::Recovery => "a complaint's answer",
            Moment::ReferralReward => "a referral reward",
        })
        .collect();
    format!(" and {} coming up", words.join(" and "))
}

/// Policy settings; the defaults follow the source articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The yearly band's bottom: below it, low-priority filler may run (FR1).
    pub band_min: u32,
    /// The band's top: no customer gets more relationship contacts in a rolling year.
    pub band_max: u32,
    /// At least this many days between two relationship contacts.
    pub min_gap_days: u32,
    /// Frequency caps.
    pub caps: Vec<Cap>,
    /// Quiet hours end: nothing but transactional messages before this local time.
    pub send_from: Time,
    /// Quiet hours start: nothing but transactional messages from this local time.
    pub send_until: Time,
    /// A held message that cannot go out within this many days is dropped as stale.
    pub max_hold_days: u32,
    /// Other bands per segment (`attributes.segment`), e.g. fewer contacts for grocery.
    pub segments: std::collections::BTreeMap<String, SegmentBand>,
    /// DQ1: a coupon must still be usable for this many days when the message arrives.
    pub coupon_min_usable_days: u32,
    /// Days a letter takes from sending to the letterbox (Sundays not counted).
    pub letter_transit_days: u32,
    /// CH2: channels per segment or product category for relationship and promotional
    /// contact; the first rule that matches applies.
    pub channel_rules: Vec<ChannelRule>,
    /// The attention ceiling (issue 23): at most this many non-transactional messages of
    /// any class (service, relationship, promotional) in a rolling year; 0 turns it off.
    pub attention_max: u32,
    /// The same non-transactional message (template, and household member when it is
    /// about one) never goes to a customer twice within this many days.
    pub repeat_days: u32,
    /// The existing-customer soft opt-in (Dutch Telecommunicatiewet 11.7, GDPR recital 47):
    /// when `true`, a customer who bought before (`customer_since`) and never said no may
    /// get relationship and promotional email and SMS without an explicit opt-in; every such
    /// message carries the opt-out. Off unless the brand turns it on.
    pub soft_opt_in: bool,
}

impl PolicyConfig {
    /// The band for this customer's segment, halved when the customer asked for fewer
    /// messages on their preferences page (`attributes.contact_frequency = "fewer"`).
    pub fn band_for(&self, customer: &CustomerRecord) -> (u32, u32) {
        let (min, max) = self.segment_band(customer);
        if asks_for_fewer(customer) {
            (min / 2, max / 2)
        } else {
            (min, max)
        }
    }

    /// The attention ceiling for this customer: halved, like the band, for a customer who
    /// asked for fewer messages; `None` when it is off.
    pub fn attention_for(&self, customer: &CustomerRecord) -> Option<u32> {
        (self.attention_max > 0).then(|| {
            if asks_for_fewer(customer) {
                self.attention_max / 2
            } else {
                self.attention_max
            }
        })
    }

    fn segment_band(&self, customer: &CustomerRecord) -> (u32, u32) {
        customer
            .attributes
            .get("segment")
            .and_then(|s| s.as_str())
            .and_then(|s| self.segments.get(s))
            .map_or((self.band_min, self.band_max), |b| (b.band_min, b.band_max))
    }
}

/// The customer asked for fewer messages on their preferences page.
fn asks_for_fewer(customer: &CustomerRecord) -> bool {
    customer
        .attributes
        .get("contact_frequency")
        .and_then(|f| f.as_str())
        == Some("fewer")
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            band_min: 7,
            band_max: 9,
            min_gap_days: 7,
            caps: vec![
                Cap {
                    class: Some(MessageClass::Promotional),
                    channel: None,
                    max: 1,
                    days: 7,
                },
                Cap {
                    class: None,
                    channel: None,
                    max: 1,
                    days: 1,
                },
            ],
            send_from: jiff::civil::time(8, 0, 0, 0),
            send_until: jiff::civil::time(21, 0, 0, 0),
            max_hold_days: 14,
            segments: std::collections::BTreeMap::new(),
            coupon_min_usable_days: 7,
            letter_transit_days: 2,
            // CH2 (article 000): weekly groceries and short outings prefer the letterbox only.
            channel_rules: vec![
                ChannelRule {
                    segment: Some("grocery".into()),
                    category: None,
                    channels: vec![Channel::Letter],
                    only: true,
                },
                ChannelRule {
                    segment: None,
                    category: Some("short-outings".into()),
                    channels: vec![Channel::Letter],
                    only: true,
                },
            ],
            attention_max: 18,
            repeat_days: 28,
            soft_opt_in: false,
        }
    }
}

/// A message the customer already had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastContact {
    /// When it went out.
    pub at: Timestamp,
    /// Its class.
    pub class: MessageClass,
    /// Its channel.
    pub channel: Channel,
    /// What it was about.
    pub topic: Topic,
}

/// What a programme wants to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    /// The class.
    pub class: MessageClass,
    /// The priority.
    pub priority: Priority,
    /// The channel the step prefers.
    pub channel: Channel,
    /// When it was planned.
    pub planned_at: Timestamp,
    /// The last moment a coupon in the message can be used (DQ1), if it carries one.
    pub coupon_valid_until: Option<Timestamp>,
    /// What it is about; the same topic is not sent again within the repeat window.
    pub topic: Topic,
    /// The step's own repeat window in days (`at_most_every`), when longer than the
    /// policy's `repeat_days`.
    pub repeat_days: u32,
    /// The customer's own moment it serves, if it serves one.
    pub moment: Option<Moment>,
}

/// Why a decision was made: a stable code and a sentence for the team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Stable snake_case code, e.g. `band_reached`.
    pub code: &'static str,
    /// What a marketer reads on the timeline.
    pub sentence: String,
}

impl Reason {
    fn new(code: &'static str, sentence: impl Into<String>) -> Self {
        Self {
            code,
            sentence: sentence.into(),
        }
    }
}

/// The outcome for one intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send now on this channel.
    Send {
        /// The channel.
        channel: Channel,
    },
    /// Not yet: try again at `until`.
    Hold {
        /// When it may go.
        until: Timestamp,
        /// Why it waits.
        reason: Reason,
    },
    /// Never.
    Block {
        /// Why not.
        reason: Reason,
    },
}

/// Whether a class counts toward the yearly band (FR1): relationship and promotional
/// contacts do; transactional and service messages answer the customer's own actions.
pub fn counts_toward_band(class: MessageClass) -> bool {
    matches!(
        class,
        MessageClass::Relationship | MessageClass::Promotional
    )
}

/// Decides for one intent at `now`. `history` is the customer's sent messages of the last
/// year (any order).
pub fn decide(
    intent: &Intent,
    customer: &CustomerRecord,
    history: &[PastContact],
    now: Timestamp,
    config: &PolicyConfig,
) -> Decision {
    decide_for(intent, customer, Reach::unknown(), history, now, config)
}

/// [`decide`] with what is already known of the customer's reach.
pub fn decide_for(
    intent: &Intent,
    customer: &CustomerRecord,
    reach: Reach,
    history: &[PastContact],
    now: Timestamp,
    config: &PolicyConfig,
) -> Decision {
    let channel = intent.channel;
    // 1. Consent per purpose and channel.
    if let Some(reason) = consent_refusal(customer, intent.class, channel, config) {
        return Decision::Block { reason };
    }
    // 3. Data quality: the channel must be able to reach the customer.
    if let Some(reason) = reach.unreachable_reason(customer, channel) {
        return Decision::Block { reason };
    }
    // 3b. DQ1: never send a code that is or will be expired by the time it can be used.
    if let Some(valid_until) = intent.coupon_valid_until {
        let arrives = arrival(now, channel, &customer.time_zone.zone(), config);
        let usable = valid_until.duration_since(arrives);
        let needed = SignedDuration::from_hours(24 * i64::from(config.coupon_min_usable_days));
        if usable < needed {
            let days = usable.as_hours().max(0) / 24;
            let sentence = format!(
                "blocked: the coupon would have {days} day(s) left when the {} arrives; at least {} needed",
                channel.as_str(),
                config.coupon_min_usable_days
            );
            return Decision::Block {
                reason: Reason::new("coupon_expiring", sentence),
            };
        }
    }
    if intent.class == MessageClass::Transactional {
        return Decision::Send { channel };
    }
    // 4. The same message is not sent again within the repeat window (issue 23 point 1).
    let repeat_days = config.repeat_days.max(intent.repeat_days);
    let window = SignedDuration::from_hours(24 * i64::from(repeat_days));
    if history
        .iter()
        .filter(|h| h.topic == intent.topic && h.class != MessageClass::Transactional)
        .any(|h| h.at > now - window && h.at <= now)
    {
        let sentence =
            format!("blocked: the customer had this same message less than {repeat_days} days ago");
        return Decision::Block {
            reason: Reason::new("repeat", sentence),
        };
    }
    let stale_after =
        intent.planned_at + SignedDuration::from_hours(24 * i64::from(config.max_hold_days));
    let hold = |until: Timestamp, reason: Reason| {
        if until > stale_after {
            Decision::Block {
                // Waiting would make it stale: the same reason, as a block.
                reason: Reason::new(
                    reason.code,
                    reason.sentence.replacen("held back", "blocked", 1),
                ),
            }
        } else {
            Decision::Hold { until, reason }
        }
    };
    // 5. Frequency caps: wait until the oldest contact in the window falls out of it.
    for cap in &config.caps {
        let window = SignedDuration::from_hours(24 * i64::from(cap.days));
        let applies = |c: MessageClass, ch: Channel| {
            c != MessageClass::Transactional
                && cap.class.is_none_or(|k| k == c)
                && cap.channel.is_none_or(|k| k == ch)
        };
        if !applies(intent.class, channel) {
            continue;
        }
        let mut inside: Vec<Timestamp> = history
            .iter()
            .filter(|h| applies(h.class, h.channel) && h.at > now - window && h.at <= now)
            .map(|h| h.at)
            .collect();
        if inside.len() >= cap.max as usize {
            inside.sort();
            let frees_at = inside[inside.len() - cap.max as usize] + window;
            let what = cap
                .class
                .map_or("non-transactional".to_string(), |c| c.as_str().to_string());
            let sentence = format!(
                "held back: at most {} {what} {} per {}",
                cap.max,
                if cap.max == 1 { "message" } else { "messages" },
                if cap.days == 1 {
                    "day".to_string()
                } else {
                    format!("{} days", cap.days)
                }
            );
            return hold(frees_at, Reason::new("frequency_cap", sentence));
        }
    }
    // 6. The yearly band (FR1), for relationship and promotional contacts, and the
    //    attention ceiling for all non-transactional ones. Both keep room ahead for the
    //    customer's own moments (the ones known ahead by date, and one not known ahead),
    //    which may then use all of it.
    let ahead = moments_ahead(customer, now, intent.moment);
    // A moment that comes when its room is already taken (a second complaint in a year)
    // may go past the ceiling, never past it by more than that room: an answer to the
    // customer's own case weighs more than the count. The band has no such overflow.
    let (band_room, ceiling_room) = if intent.moment.is_some() {
        (0, -i64::from(UNFORESEEN_UNDER_CEILING))
    } else {
        (UNFORESEEN_IN_BAND, i64::from(UNFORESEEN_UNDER_CEILING))
    };
    if counts_toward_band(intent.class) {
        let (in_year, fullest) = fullest_year(history, counts_toward_band, &ahead, now);
        let count = u32::try_from(in_year.len()).unwrap_or(u32::MAX);
        let (band_min, band_max) = config.band_for(customer);
        // After this one is sent, the fullest year must still fit its limit.
        let (limit, extra) = match (intent.moment, intent.priority) {
            (Some(_), _) => (band_max, 0),
            (None, Priority::Low) => (band_min, 0),
            (None, Priority::Normal) => (band_max, band_room + 1),
            (None, Priority::High) => (band_max, band_room),
        };
        if fullest + 1 + extra > limit {
            let ahead = coming_up(&ahead);
            let sentence = match (intent.moment, intent.priority) {
                (None, Priority::Low) => format!(
                    "held back: {count} relationship contacts this year{ahead}, filler only runs below {band_min}"
                ),
                (None, Priority::Normal) => format!(
                    "held back: {count} relationship contacts this year{ahead}, near the band's top of {band_max}, priority normal"
                ),
                (None, Priority::High) if fullest < band_max => format!(
                    "held back: {count} relationship contacts this year{ahead}, the band's last place is kept for the customer's own moments"
                ),
                _ => format!("held back: yearly band of {band_max} reached"),
            };
            return hold(
                frees_at(&in_year, count, extra, limit, now),
                Reason::new("band_reached", sentence),
            );
        }
        let gap = SignedDuration::from_hours(24 * i64::from(config.min_gap_days));
        if let Some(last) = in_year.last()
            && *last + gap > now
            && intent.moment.is_none()
        {
            let sentence = format!(
                "held back: the last relationship contact was less than {} days ago",
                config.min_gap_days
            );
            return hold(*last + gap, Reason::new("min_gap", sentence));
        }
    }
    if let Some(ceiling) = config.attention_for(customer) {
        let non_transactional = |c: MessageClass| c != MessageClass::Transactional;
        let (in_year, fullest) = fullest_year(history, non_transactional, &ahead, now);
        if i64::from(fullest) + 1 + ceiling_room > i64::from(ceiling) {
            let count = u32::try_from(in_year.len()).unwrap_or(u32::MAX);
            let sentence = format!(
                "held back: {count} messages beyond order and delivery news this year{}, the attention ceiling is {ceiling}",
                coming_up(&ahead)
            );
            return hold(
                frees_at(&in_year, count, UNFORESEEN_UNDER_CEILING, ceiling, now),
                Reason::new("attention_ceiling", sentence),
            );
        }
    }
    // 7. Quiet hours in the customer's own time zone: reschedule, never drop.
    let zone = customer.time_zone.zone();
    if let Some(next) = next_allowed(now, &zone, config.send_from, config.send_until)
        && next > now
    {
        let local = next.to_zoned_datetime(zone.clone());
        let sentence = format!(
            "held back: quiet hours, sending at {} local time",
            local.strftime("%H:%M")
        );
        return Decision::Hold {
            until: next,
            reason: Reason::new("quiet_hours", sentence),
        };
    }
    Decision::Send { channel }
}

/// When a limit frees up: as the year's oldest contacts turn a year old (a moment ahead
/// that keeps the year full is re-checked then).
fn frees_at(
    in_year: &[Timestamp],
    count: u32,
    extra: u32,
    limit: u32,
    now: Timestamp,
) -> Timestamp {
    let year = SignedDuration::from_hours(24 * 365);
    let needed = (count + extra + 1).saturating_sub(limit).max(1) as usize;
    in_year
        .get(needed - 1)
        .map_or(now + SignedDuration::from_hours(24), |t| {
            (*t + year).max(now + SignedDuration::from_secs(60))
        })
}

/// When a message sent at `now` reaches the customer: at once, except a letter, which takes
/// `letter_transit_days` working days (no post on Sundays).
pub fn arrival(
    now: Timestamp,
    channel: Channel,
    zone: &TimeZone,
    config: &PolicyConfig,
) -> Timestamp {
    if channel != Channel::Letter {
        return now;
    }
    let mut local = now.to_zoned_datetime(zone.clone());
    let mut left = config.letter_transit_days;
    while left > 0 {
        local = match local.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
        if local.weekday() != jiff::civil::Weekday::Sunday {
            left -= 1;
        }
    }
    local.timestamp()
}

/// The first moment at or after `now` when the local time in `zone` is within
/// `[from, until)`; correct across daylight saving (a local time that does not exist that
/// day moves forward).
pub fn next_allowed(now: Timestamp, zone: &TimeZone, from: Time, until: Time) -> Option<Timestamp> {
    let local = now.to_zoned_datetime(zone.clone());
    let t = local.time();
    if t >= from && t < until {
        return Some(now);
    }
    let day = if t < from {
        local.date()
    } else {
        local.date().tomorrow().ok()?
    };
    day.to_datetime(from)
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sms_needs_a_mobile_number_push_a_registered_app_and_the_portal_nothing() {
        let mut c = customer(false, "Europe/Amsterdam");
        let reason = |c: &CustomerRecord, ch| unreachable_reason(c, ch).map(|r| r.sentence);
        assert_eq!(
            reason(&c, Channel::Sms).as_deref(),
            Some("blocked: the customer has no mobile number for SMS")
        );
        c.phone = Some(crate::PhoneNumber::parse("+31 20 123 4567").unwrap());
        assert!(
            reason(&c, Channel::Sms)
                .unwrap()
                .contains("is not a mobile number")
        );
        c.phone = Some(crate::PhoneNumber::parse("+31 6 1234 5678").unwrap());
        assert_eq!(reason(&c, Channel::Sms), None);
        c.phone = Some(crate::PhoneNumber::parse("+32 470 12 34 56").unwrap());
        assert_eq!(reason(&c, Channel::Sms), None);
        assert!(
            reason(&c, Channel::Push)
                .unwrap()
                .contains("not installed the app")
        );
        c.consents.push(
            serde_json::from_value(json!({"purpose": "service", "channel": "push", "granted": false, "source": "app", "at": "2026-01-01T00:00:00Z"})).unwrap(),
        );
        assert!(
            reason(&c, Channel::Push)
                .unwrap()
                .contains("turned app notifications off")
        );
        c.consents.last_mut().unwrap().granted = true;
        assert_eq!(reason(&c, Channel::Push), None);
        assert_eq!(reason(&c, Channel::Portal), None);
    }

    fn customer(marketing: bool, zone: &str) -> CustomerRecord {
        let mut consents = vec![
            json!({"purpose": "service", "channel": "email", "granted": true, "source": "checkout", "at": "2020-01-01T00:00:00Z"}),
        ];
        if marketing {
            consents.push(json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "checkout", "at": "2020-01-01T00:00:00Z"}));
        }
        let address = json!({"street": "Kerkstraat", "house_number": "12", "postcode": "1012 AB", "city": "Amsterdam", "country": "NL"});
        serde_json::from_value(
            json!({"external_id": "C1", "email": "c@example.nl", "time_zone": zone,
            "first_name": "Jan", "last_name": "de Vries", "postal_address": address, "consents": consents}),
        )
        .unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// `n` relationship contacts a month apart, from June 2025.
    fn monthly_contacts(n: i64) -> Vec<PastContact> {
        (0..n)
            .map(|i| PastContact {
                at: at("2025-06-01T10:00:00Z") + SignedDuration::from_hours(24 * 30 * i),
                class: MessageClass::Relationship,
                channel: Channel::Email,
                topic: Topic::of(&format!("monthly-{i}")),
            })
            .collect()
    }

    fn intent(class: MessageClass, priority: Priority, planned: &str) -> Intent {
        Intent {
            class,
            priority,
            channel: Channel::Email,
            planned_at: at(planned),
            coupon_valid_until: None,
            topic: Topic::of("intent"),
            repeat_days: 0,
            moment: None,
        }
    }

    fn moment(moment: Moment, planned: &str) -> Intent {
        let class = if moment == Moment::Recovery {
            MessageClass::Service
        } else {
            MessageClass::Relationship
        };
        Intent {
            moment: Some(moment),
            ..intent(class, Priority::High, planned)
        }
    }

    /// `n` service messages of different topics, spread over the last eleven months.
    fn service_contacts(n: i64) -> Vec<PastContact> {
        (0..n)
            .map(|i| PastContact {
                at: at("2025-06-01T10:00:00Z") + SignedDuration::from_hours(24 * 300 * i / n),
                class: MessageClass::Service,
                channel: Channel::Email,
                topic: Topic::of(&format!("service-{i}")),
            })
            .collect()
    }

    #[test]
    fn asking_for_fewer_messages_halves_the_yearly_band() {
        let mut c = customer(true, "Europe/Amsterdam");
        let config = PolicyConfig::default();
        assert_eq!(config.band_for(&c), (7, 9));
        c.attributes
            .insert("contact_frequency".into(), json!("fewer"));
        assert_eq!(config.band_for(&c), (3, 4));
    }

    #[test]
    fn the_channel_follows_segment_category_preference_and_fitness_ch2() {
        let config = PolicyConfig::default();
        let email_then_letter = [Channel::Email, Channel::Letter];
        let choose = |c: &CustomerRecord, class: MessageClass, categories: &[&str]| {
            choose_channel(&email_then_letter, class, c, categories, &config)
        };
        let plain = customer(true, "Europe/Amsterdam");
        // The step's first choice, nothing to say.
        let c = choose(&plain, MessageClass::Relationship, &[]);
        assert_eq!((c.channel, c.reason.as_str()), (Channel::Email, ""));
        // Grocery customers get the letterbox, also when the step offers email only.
        let mut grocer = plain.clone();
        grocer.attributes.insert("segment".into(), json!("grocery"));
        let c = choose_channel(
            &[Channel::Email],
            MessageClass::Promotional,
            &grocer,
            &[],
            &config,
        );
        assert_eq!(c.channel, Channel::Letter);
        assert_eq!(
            c.reason,
            "by letter: the segment grocery prefers letter only"
        );
        // ...but an order confirmation or a delivery message keeps its channel.
        let c = choose_channel(
            &[Channel::Email],
            MessageClass::Service,
            &grocer,
            &[],
            &config,
        );
        assert_eq!(c.channel, Channel::Email);
        // A short outing bought: the letterbox, by the product's category.
        let c = choose(&plain, MessageClass::Relationship, &["short-outings"]);
        assert_eq!(
            c.reason,
            "by letter: the category short-outings prefers letter only"
        );
        // The customer's own preference comes first when the step offers it.
        let mut likes_post = plain.clone();
        likes_post
            .attributes
            .insert("preferred_channel".into(), json!("letter"));
        let c = choose(&likes_post, MessageClass::Relationship, &[]);
        assert_eq!(c.channel, Channel::Letter);
        assert_eq!(c.reason, "by letter: the customer prefers letter");
        // No email address: the letter, saying why.
        let mut no_email = plain.clone();
        no_email.email = None;
        let c = choose(&no_email, MessageClass::Relationship, &[]);
        assert_eq!(c.reason, "by letter: email cannot reach the customer");
        // Marketing by email needs an opt-in; by post an opt-out is enough.
        let no_optin = customer(false, "Europe/Amsterdam");
        assert_eq!(
            choose(&no_optin, MessageClass::Promotional, &[]).channel,
            Channel::Letter
        );
        // No name for the envelope: no letter either.
        let mut nameless = no_email.clone();
        nameless.first_name = None;
        nameless.last_name = None;
        assert_eq!(
            choose(&nameless, MessageClass::Relationship, &[]).channel,
            Channel::Email
        );
        // Nothing fits: the first is kept (and blocked with its reason when due).
        let mut nowhere = no_email.clone();
        nowhere.postal_address = None;
        let c = choose(&nowhere, MessageClass::Relationship, &[]);
        assert_eq!((c.channel, c.reason.as_str()), (Channel::Email, ""));
    }

    #[test]
    fn a_letter_needs_a_complete_postal_address() {
        let mut c = customer(true, "Europe/Amsterdam");
        let config = PolicyConfig::default();
        let now = at("2026-05-04T10:00:00Z");
        let mut i = intent(
            MessageClass::Service,
            Priority::Normal,
            "2026-05-04T10:00:00Z",
        );
        i.channel = Channel::Letter;
        let blocked = |c: &CustomerRecord| match decide(&i, c, &[], now, &config) {
            Decision::Block { reason } => reason.sentence,
            other => format!("{other:?}"),
        };
        c.postal_address = None;
        assert_eq!(
            blocked(&c),
            "blocked: the customer has no complete postal address for a letter"
        );
        c.postal_address = Some(crate::PostalAddress {
            street: "Kerkstraat".into(),
            house_number: String::new(),
            house_number_addition: None,
            postcode: "1012 AB".into(),
            city: "Amsterdam".into(),
            country: "NL".into(),
        });
        assert_eq!(
            blocked(&c),
            "blocked: the customer has no complete postal address for a letter"
        );
        if let Some(a) = c.postal_address.as_mut() {
            a.house_number = "12".into();
        }
        assert!(matches!(
            decide(&i, &c, &[], now, &config),
            Decision::Send { .. }
        ));
    }

    #[test]
    fn coupon_expiring_before_letter_arrives_is_not_sent() {
        let c = customer(true, "Europe/Amsterdam");
        let config = PolicyConfig::default();
        // Friday 10:00; the code is valid for 8 more days.
        let now = at("2026-03-06T09:00:00Z");
        let mut i = intent(
            MessageClass::Transactional,
            Priority::Normal,
            "2026-03-06T09:00:00Z",
        );
        i.coupon_valid_until = Some(now + SignedDuration::from_hours(24 * 8));
        assert!(matches!(
            decide(&i, &c, &[], now, &config),
            Decision::Send { .. }
        ));
        // A letter posted Friday arrives Monday (no post on Sunday): 5 days left, 7 needed.
        i.channel = Channel::Letter;
        let zone = TimeZone::get("Europe/Amsterdam").unwrap();
        assert_eq!(
            arrival(now, Channel::Letter, &zone, &config),
            at("2026-03-09T09:00:00Z")
        );
        match decide(&i, &c, &[], now, &config) {
            Decision::Block { reason } => {
                assert_eq!(reason.code, "coupon_expiring");
                assert!(
                    reason
                        .sentence
                        .contains("5 day(s) left when the letter arrives"),
                    "{}",
                    reason.sentence
                );
            }
            other => panic!("expected a block, got {other:?}"),
        }
        // An already expired code is never sent, by any channel.
        i.channel = Channel::Email;
        i.coupon_valid_until = Some(now - SignedDuration::from_hours(1));
        assert!(matches!(
            decide(&i, &c, &[], now, &config),
            Decision::Block { .. }
        ));
    }

    #[test]
    fn table_of_decisions() {
        let c = customer(true, "Europe/Amsterdam");
        let none = customer(false, "Europe/Amsterdam");
        let day = |d: &str| PastContact {
            at: at(d),
            class: MessageClass::Relationship,
            channel: Channel::Email,
            topic: Topic::of(d),
        };
        let noon = "2026-05-04T10:00:00Z";
        let cases: Vec<(&str, Intent, &CustomerRecord, Vec<PastContact>, &str)> = vec![
            (
                "transactional always",
                intent(
                    MessageClass::Transactional,
                    Priority::Normal,
                    "2026-05-04T01:00:00Z",
                ),
                &none,
                vec![],
                "send",
            ),
            (
                "no marketing consent",
                intent(MessageClass::Relationship, Priority::High, noon),
                &none,
                vec![],
                "no_marketing_consent",
            ),
            (
                "service without marketing consent",
                intent(MessageClass::Service, Priority::Normal, noon),
                &none,
                vec![],
                "send",
            ),
            (
                "quiet at night",
                intent(
                    MessageClass::Service,
                    Priority::Normal,
                    "2026-05-04T21:30:00Z",
                ),
                &c,
                vec![],
                "quiet_hours",
            ),
            (
                "one promotional a week",
                intent(MessageClass::Promotional, Priority::High, noon),
                &c,
                vec![PastContact {
                    at: at("2026-05-01T10:00:00Z"),
                    class: MessageClass::Promotional,
                    channel: Channel::Email,
                    topic: Topic::of("other"),
                }],
                "frequency_cap",
            ),
            (
                "one a day",
                intent(MessageClass::Service, Priority::High, noon),
                &c,
                vec![PastContact {
                    at: at("2026-05-04T07:00:00Z"),
                    class: MessageClass::Service,
                    channel: Channel::Email,
                    topic: Topic::of("other"),
                }],
                "frequency_cap",
            ),
            (
                "minimum gap",
                intent(MessageClass::Relationship, Priority::High, noon),
                &c,
                vec![day("2026-05-01T10:00:00Z")],
                "min_gap",
            ),
            (
                "filler below the band",
                intent(MessageClass::Relationship, Priority::Low, noon),
                &c,
                (1..=6)
                    .map(|m| day(&format!("2026-0{m}-01T10:00:00Z")))
                    .map(|mut p| {
                        p.at -= SignedDuration::from_hours(24 * 120);
                        p
                    })
                    .collect(),
                "send",
            ),
            (
                "no filler in the band",
                intent(MessageClass::Relationship, Priority::Low, noon),
                &c,
                monthly_contacts(7),
                "band_reached",
            ),
            (
                "high priority up to the last place but one",
                intent(MessageClass::Relationship, Priority::High, noon),
                &c,
                monthly_contacts(7),
                "send",
            ),
            (
                "the last place is kept for a moment not known ahead",
                intent(MessageClass::Relationship, Priority::High, noon),
                &c,
                monthly_contacts(8),
                "band_reached",
            ),
            (
                "a moment takes the last place",
                moment(Moment::ReferralReward, noon),
                &c,
                monthly_contacts(8),
                "send",
            ),
            (
                "the same message again within four weeks",
                intent(MessageClass::Service, Priority::Normal, noon),
                &c,
                vec![PastContact {
                    at: at("2026-04-10T10:00:00Z"),
                    class: MessageClass::Service,
                    channel: Channel::Email,
                    topic: Topic::of("intent"),
                }],
                "repeat",
            ),
            (
                "the same message after four weeks",
                intent(MessageClass::Service, Priority::Normal, noon),
                &c,
                vec![PastContact {
                    at: at("2026-04-05T10:00:00Z"),
                    class: MessageClass::Service,
                    channel: Channel::Email,
                    topic: Topic::of("intent"),
                }],
                "send",
            ),
            (
                "a step's own longer window",
                Intent {
                    repeat_days: 56,
                    ..intent(MessageClass::Service, Priority::Normal, noon)
                },
                &c,
                vec![PastContact {
                    at: at("2026-04-05T10:00:00Z"),
                    class: MessageClass::Service,
                    channel: Channel::Email,
                    topic: Topic::of("intent"),
                }],
                "repeat",
            ),
            (
                "the attention ceiling keeps room for moments",
                intent(MessageClass::Service, Priority::Normal, noon),
                &c,
                service_contacts(16),
                "attention_ceiling",
            ),
            (
                "a moment fits under the ceiling",
                moment(Moment::Recovery, noon),
                &c,
                service_contacts(16),
                "send",
            ),
            (
                "a moment past the ceiling by at most its room",
                moment(Moment::Recovery, noon),
                &c,
                service_contacts(20),
                "attention_ceiling",
            ),
            (
                "never above the top",
                intent(MessageClass::Relationship, Priority::High, noon),
                &c,
                monthly_contacts(9),
                "band_reached",
            ),
        ];
        for (name, intent, customer, history, expected) in cases {
            let got = match decide(
                &intent,
                customer,
                &history,
                intent.planned_at,
                &PolicyConfig::default(),
            ) {
                Decision::Send { .. } => "send".to_string(),
                Decision::Hold { reason, .. } | Decision::Block { reason } => {
                    reason.code.to_string()
                }
            };
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn the_band_keeps_room_for_a_birthday_coming_up_and_follows_the_segment() {
        let mut c = customer(true, "Europe/Amsterdam");
        c.birth_date = Some(jiff::civil::date(1980, 5, 20));
        let now = at("2026-05-04T10:00:00Z");
        let history: Vec<PastContact> = (0..6)
            .map(|i| PastContact {
                at: at("2025-07-01T10:00:00Z") + SignedDuration::from_hours(24 * 30 * i),
                class: MessageClass::Relationship,
                channel: Channel::Email,
                topic: Topic::of(&format!("earlier-{i}")),
            })
            .collect();
        let low = intent(
            MessageClass::Relationship,
            Priority::Low,
            "2026-05-04T10:00:00Z",
        );
        match decide(&low, &c, &history, now, &PolicyConfig::default()) {
            Decision::Block { reason } => assert_eq!(
                reason.sentence,
                "blocked: 6 relationship contacts this year and a birthday coming up, filler only runs below 7"
            ),
            other => panic!("{other:?}"),
        }
        let high = intent(
            MessageClass::Relationship,
            Priority::High,
            "2026-05-04T10:00:00Z",
        );
        assert_eq!(
            decide(&high, &c, &history, now, &PolicyConfig::default()),
            Decision::Send {
                channel: Channel::Email
            }
        );
        // A segment with a lower band: six contacts are already its top.
        let mut config = PolicyConfig::default();
        config.segments.insert(
            "grocery".into(),
            SegmentBand {
                band_min: 3,
                band_max: 6,
            },
        );
        c.attributes.insert("segment".into(), json!("grocery"));
        assert!(matches!(
            decide(&high, &c, &history, now, &config),
            Decision::Hold { .. } | Decision::Block { .. }
        ));
    }

    /// Issue 23 point 4: the room is kept for the whole year ahead, not only for moments
    /// close by — the rolling year that ends on the birthday, ten months from now, already
    /// holds this spring's six contacts, and must still have the birthday's place.
    #[test]
    fn a_birthday_ten_months_ahead_keeps_its_place_in_the_band() {
        let mut c = customer(true, "Europe/Amsterdam");
        let now = at("2026-05-04T10:00:00Z");
        let history: Vec<PastContact> = (0..6)
            .map(|i| PastContact {
                at: at("2026-03-05T10:00:00Z") + SignedDuration::from_hours(24 * 8 * i),
                class: MessageClass::Relationship,
                channel: Channel::Email,
                topic: Topic::of(&format!("earlier-{i}")),
            })
            .collect();
        let normal = intent(
            MessageClass::Relationship,
            Priority::Normal,
            "2026-05-04T10:00:00Z",
        );
        let config = PolicyConfig::default();
        assert!(matches!(
            decide(&normal, &c, &history, now, &config),
            Decision::Send { .. }
        ));
        c.birth_date = Some(jiff::civil::date(1980, 3, 1));
        match decide(&normal, &c, &history, now, &config) {
            Decision::Block { reason } | Decision::Hold { reason, .. } => {
                assert_eq!(reason.code, "band_reached");
                assert!(
                    reason.sentence.contains("a birthday coming up"),
                    "{}",
                    reason.sentence
                );
            }
            other => panic!("expected the band to keep the birthday's place, got {other:?}"),
        }
        // The birthday itself takes its place.
        let birthday = moment(Moment::Birthday, "2026-05-04T10:00:00Z");
        assert!(matches!(
            decide(&birthday, &c, &history, now, &config),
            Decision::Send { .. }
        ));
    }

    #[test]
    fn quiet_hours_follow_daylight_saving() {
        let zone = TimeZone::get("Europe/Amsterdam").unwrap();
        let (from, until) = (
            jiff::civil::time(8, 0, 0, 0),
            jiff::civil::time(21, 0, 0, 0),
        );
        // The night the clocks go forward (29 March 2026): 08:00 local is 06:00 UTC.
        assert_eq!(
            next_allowed(at("2026-03-28T22:00:00Z"), &zone, from, until),
            Some(at("2026-03-29T06:00:00Z"))
        );
        // The night they go back (25 October 2026): 08:00 local is 07:00 UTC.
        assert_eq!(
            next_allowed(at("2026-10-24T22:00:00Z"), &zone, from, until),
            Some(at("2026-10-25T07:00:00Z"))
        );
        assert_eq!(
            next_allowed(at("2026-10-25T12:00:00Z"), &zone, from, until),
            Some(at("2026-10-25T12:00:00Z"))
        );
    }

    fn arb_class() -> impl Strategy<Value = MessageClass> {
        prop_oneof![
            Just(MessageClass::Transactional),
            Just(MessageClass::Service),
            Just(MessageClass::Relationship),
            Just(MessageClass::Promotional)
        ]
    }

    fn arb_moment() -> impl Strategy<Value = Moment> {
        prop_oneof![
            Just(Moment::Birthday),
            Just(Moment::Anniversary),
            Just(Moment::Recovery),
            Just(Moment::ReferralReward)
        ]
    }

    fn arb_priority() -> impl Strategy<Value = Priority> {
        prop_oneof![
            Just(Priority::Low),
            Just(Priority::Normal),
            Just(Priority::High)
        ]
    }

    proptest! {
        /// Replaying any stream of intents through the policy (holding means trying again
        /// later) never puts a customer over a cap or over the band's top, never sends in
        /// quiet hours (in the customer's zone, across the year's daylight-saving changes),
        /// always sends transactional messages, never sends marketing without consent — nor
        /// after the customer unsubscribed, also for what was queued before — and never sends
        /// a coupon that is not usable for the configured days after the message arrives
        /// (by email or by post), never sends the same message twice within the repeat
        /// window, and keeps every customer under the attention ceiling (a moment at most its
        /// kept room past it).
        #[test]
        fn invariants_hold_for_any_stream_of_intents(
            intents in prop::collection::vec(
                (arb_class(), arb_priority(), 0i64..(365 * 24 * 60), any::<bool>(), prop::option::of(0i64..40), 0u8..6, prop::option::of(arb_moment())),
                1..120,
            ),
            marketing in any::<bool>(),
            unsubscribe_minute in prop::option::of(0i64..(365 * 24 * 60)),
            zone in prop_oneof![Just("Europe/Amsterdam"), Just("America/New_York"), Just("Asia/Tokyo")],
        ) {
            let config = PolicyConfig::default();
            let mut c = customer(marketing, zone);
            let tz = TimeZone::get(zone).unwrap();
            let start = at("2026-01-01T00:00:00Z");
            let unsubscribed_at = unsubscribe_minute.map(|m| start + SignedDuration::from_mins(m));
            let mut queue: Vec<(Timestamp, Intent)> = intents.iter().map(|(class, priority, minute, by_post, coupon_days, topic, moment)| {
                let t = start + SignedDuration::from_mins(*minute);
                let channel = if *by_post { Channel::Letter } else { Channel::Email };
                let coupon_valid_until = coupon_days.map(|d| t + SignedDuration::from_hours(24 * d));
                (t, Intent { class: *class, priority: *priority, channel, planned_at: t, coupon_valid_until, topic: Topic::of(&format!("{topic}")), repeat_days: 0, moment: *moment })
            }).collect();
            let mut sent: Vec<PastContact> = Vec::new();
            let mut steps = 0;
            while !queue.is_empty() && steps < 10_000 {
                steps += 1;
                queue.sort_by_key(|(t, _)| *t);
                let (now, intent) = queue.remove(0);
                // The unsubscribe takes effect at its moment, whatever is queued.
                if unsubscribed_at.is_some_and(|u| now >= u)
                    && c.consent(Purpose::Marketing, Channel::Email).is_none_or(|k| k.granted)
                {
                    c.consents.push(serde_json::from_value(json!({"purpose": "marketing", "channel": "email", "granted": false, "source": "list_unsubscribe", "at": unsubscribed_at.unwrap().to_string()})).unwrap());
                }
                match decide(&intent, &c, &sent, now, &config) {
                    Decision::Send { channel } => {
                        let local = now.to_zoned_datetime(tz.clone()).time();
                        if intent.class != MessageClass::Transactional {
                            prop_assert!(local >= config.send_from && local < config.send_until, "sent at {local} local");
                        }
                        if intent.class.needs_marketing_consent() && channel == Channel::Email {
                            prop_assert!(marketing);
                            prop_assert!(unsubscribed_at.is_none_or(|u| now < u), "marketing email after the unsubscribe");
                        }
                        if let Some(valid_until) = intent.coupon_valid_until {
                            let usable = valid_until.duration_since(arrival(now, channel, &tz, &config));
                            prop_assert!(
                                usable >= SignedDuration::from_hours(24 * i64::from(config.coupon_min_usable_days)),
                                "a coupon usable for only {usable:?} after the {} arrives", channel.as_str()
                            );
                        }
                        if intent.class != MessageClass::Transactional {
                            let window = SignedDuration::from_hours(24 * i64::from(config.repeat_days));
                            prop_assert!(
                                !sent.iter().any(|p| p.topic == intent.topic && p.class != MessageClass::Transactional && p.at > now - window),
                                "the same message twice within {} days", config.repeat_days
                            );
                        }
                        sent.push(PastContact { at: now, class: intent.class, channel, topic: intent.topic });
                        let in_year = |p: &&PastContact| p.at > now - SignedDuration::from_hours(24 * 365);
                        let attention = sent.iter().filter(in_year).filter(|p| p.class != MessageClass::Transactional).count();
                        // A moment may go at most its kept room past the ceiling; nothing else
                        // past it at all.
                        prop_assert!(attention <= (config.attention_max + UNFORESEEN_UNDER_CEILING) as usize, "{attention} messages in a year");
                        if intent.moment.is_none() && intent.class != MessageClass::Transactional {
                            prop_assert!(attention <= config.attention_max as usize, "{attention} messages in a year");
                        }
                        let year = sent.iter().filter(|p| counts_toward_band(p.class) && p.at > now - SignedDuration::from_hours(24 * 365)).count();
                        prop_assert!(year <= config.band_max as usize);
                        for cap in &config.caps {
                            let window = SignedDuration::from_hours(24 * i64::from(cap.days));
                            let n = sent.iter().filter(|p| p.class != MessageClass::Transactional && cap.class.is_none_or(|k| k == p.class) && p.at > now - window).count();
                            prop_assert!(n <= cap.max as usize, "cap {cap:?} exceeded");
                        }
                    }
                    Decision::Hold { until, .. } => {
                        prop_assert!(intent.class != MessageClass::Transactional || intent.coupon_valid_until.is_some());
                        prop_assert!(until > now);
                        queue.push((until, intent));
                    }
                    Decision::Block { reason } => prop_assert!(
                        intent.class != MessageClass::Transactional || reason.code == "coupon_expiring",
                        "a transactional message blocked: {}", reason.sentence
                    ),
                }
            }
        }
    }
}
