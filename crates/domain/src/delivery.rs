//! The moment after "buy" on the brand's own page (PX1–PX6): whether a delivery can still be
//! changed, into what, and the configuration of carriers, stores and local content.
//!
//! Pure rules: [`changeable`] answers "may the customer still change this delivery?" from
//! the delivery method, the carrier's last status, the expected day and the carrier's
//! cut-off (by default 22:00 the evening before, in the customer's time zone);
//! [`other_days`] offers the next delivery days (no Sunday delivery);
//! [`DeliveryChange::parse`] turns a submitted form into a change or a [`FieldError`] that
//! names the field. The web layer shows, the engine stores and passes on.
//!
//! Requirements: PX2 (change the delivery on the brand's page), PX3 (contact block), PX4
//! (community content by region), PX5 (fitting appointment for click & collect), PX6 (free
//! recycling return).

use std::collections::BTreeMap;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::{DeliveryMethod, FieldError, ShipmentStatus};

/// What a customer may turn a home delivery into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Deliver on another day.
    OtherDay,
    /// Leave it with a neighbour (house number).
    Neighbour,
    /// Leave it in a safe place.
    SafePlace,
    /// Deliver to a pick-up point instead.
    PickupPoint,
}

impl ChangeKind {
    /// Every kind, in the order the page offers them.
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::OtherDay,
        ChangeKind::PickupPoint,
        ChangeKind::Neighbour,
        ChangeKind::SafePlace,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtherDay => "other_day",
            Self::Neighbour => "neighbour",
            Self::SafePlace => "safe_place",
            Self::PickupPoint => "pickup_point",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a parcel may be left when nobody is home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafePlace {
    /// At the back door.
    BackDoor,
    /// In the shed.
    Shed,
    /// In the porch.
    Porch,
    /// In the garage.
    Garage,
}

impl SafePlace {
    /// Every place, in the order the page offers them.
    pub const ALL: [SafePlace; 4] = [
        SafePlace::BackDoor,
        SafePlace::Shed,
        SafePlace::Porch,
        SafePlace::Garage,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackDoor => "back_door",
            Self::Shed => "shed",
            Self::Porch => "porch",
            Self::Garage => "garage",
        }
    }
}

/// A carrier's pick-up point (a shop or parcel locker). Fields a carrier adds beyond these
/// are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupPoint {
    /// The carrier's id for it.
    pub id: String,
    /// Its name, e.g. "Primera Leidseplein".
    pub name: String,
    /// Street and number.
    pub street: String,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// Opening hours, as the carrier writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

/// A change the customer asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeliveryChange {
    /// Deliver on `date` instead.
    OtherDay {
        /// The new delivery day.
        date: Date,
    },
    /// Leave it with the neighbour at `house_number` (same street).
    Neighbour {
        /// The neighbour's house number, e.g. "12" or "12-A".
        house_number: String,
    },
    /// Leave it at `place`.
    SafePlace {
        /// Where.
        place: SafePlace,
    },
    /// Deliver to this pick-up point.
    PickupPoint {
        /// The point, as the carrier listed it.
        point: PickupPoint,
    },
}

impl DeliveryChange {
    /// Which kind of change this is.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Self::OtherDay { .. } => ChangeKind::OtherDay,
            Self::Neighbour { .. } => ChangeKind::Neighbour,
            Self::SafePlace { .. } => ChangeKind::SafePlace,
            Self::PickupPoint { .. } => ChangeKind::PickupPoint,
        }
    }

    /// A change from a submitted form: `kind` and the field that kind needs (`date`,
    /// `house_number`, `place`, `pickup_point`). `days` are the days on offer and
    /// `points` the pick-up points on offer; anything else is refused, naming the field.
    pub fn parse(
        kind: &str,
        form: &BTreeMap<String, String>,
        days: &[Date],
        points: &[PickupPoint],
    ) -> Result<Self, FieldError> {
        let field = |name: &str| form.get(name).map(|s| s.trim()).unwrap_or("");
        let kind = ChangeKind::parse(kind).ok_or_else(|| {
            FieldError::new(
                "kind",
                "must be one of other_day, pickup_point, neighbour, safe_place",
            )
        })?;
        match kind {
            ChangeKind::OtherDay => {
                let date: Date = field("date")
                    .parse()
                    .map_err(|_| FieldError::new("date", "must be a date such as 2026-03-04"))?;
                if !days.contains(&date) {
                    return Err(FieldError::new("date", "is not one of the days on offer"));
                }
                Ok(Self::OtherDay { date })
            }
            ChangeKind::Neighbour => {
                let number = field("house_number");
                check_house_number(number)?;
                Ok(Self::Neighbour {
                    house_number: number.to_string(),
                })
            }
            ChangeKind::SafePlace => {
                let place = SafePlace::ALL
                    .into_iter()
                    .find(|p| p.as_str() == field("place"))
                    .ok_or_else(|| {
                        FieldError::new("place", "must be one of back_door, shed, porch, garage")
                    })?;
                Ok(Self::SafePlace { place })
            }
            ChangeKind::PickupPoint => {
                let id = field("pickup_point");
                let point = points.iter().find(|p| p.id == id).ok_or_else(|| {
                    FieldError::new("pickup_point", "is not one of the pick-up points on offer")
                })?;
                Ok(Self::PickupPoint {
                    point: point.clone(),
                })
            }
        }
    }
}

/// A Dutch or Belgian house number with an optional addition: `12`, `12A`, `12-2`,
/// `12 bus 3`.
fn check_house_number(s: &str) -> Result<(), FieldError> {
    let err = || FieldError::new("house_number", "must be a house number such as 12 or 12-A");
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 5 || s.starts_with('0') || s.len() > 12 {
        return Err(err());
    }
    let rest = &s[digits..];
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        return Err(err());
    }
    Ok(())
}

/// Why a delivery can no longer be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotChangeable {
    /// Not a home delivery (a pick-up point or click & collect order).
    NotHomeDelivery,
    /// The carrier has moved past the point where changes are possible.
    Status(ShipmentStatus),
    /// The carrier's cut-off has passed.
    PastCutoff,
    /// The carrier has no way to take changes (no adapter configured).
    CarrierDoesNotAllow,
}

impl NotChangeable {
    /// A stable code for pages and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotHomeDelivery => "not_home_delivery",
            Self::Status(_) => "status",
            Self::PastCutoff => "past_cutoff",
            Self::CarrierDoesNotAllow => "carrier_does_not_allow",
        }
    }
}

/// Whether the delivery may still be changed at `now`, and until when. A change is possible
/// for a home delivery before the parcel is out for delivery, until `cutoff` local time on
/// the evening before the expected day (or without a deadline when no day is known yet).
pub fn changeable(
    method: DeliveryMethod,
    status: ShipmentStatus,
    expected_day: Option<Date>,
    cutoff: Time,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<Option<Timestamp>, NotChangeable> {
    if method != DeliveryMethod::Home {
        return Err(NotChangeable::NotHomeDelivery);
    }
    match status {
        ShipmentStatus::LabelCreated | ShipmentStatus::HandedOver | ShipmentStatus::InTransit => {}
        other => return Err(NotChangeable::Status(other)),
    }
    let Some(day) = expected_day else {
        return Ok(None);
    };
    let deadline = day
        .yesterday()
        .ok()
        .and_then(|d| d.to_datetime(cutoff).to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp());
    match deadline {
        Some(d) if now >= d => Err(NotChangeable::PastCutoff),
        other => Ok(other),
    }
}

/// The first delivery day after `after` (carriers here do not deliver on Sunday).
pub fn next_delivery_day(after: Date) -> Date {
    let mut d = after.tomorrow().unwrap_or(after);
    while d.weekday() == Weekday::Sunday {
        d = d.tomorrow().unwrap_or(d);
    }
    d
}

/// `n` delivery days after `expected`, the other days a customer may choose.
pub fn other_days(expected: Date, n: usize) -> Vec<Date> {
    let mut out = Vec::with_capacity(n);
    let mut d = expected;
    for _ in 0..n {
        d = next_delivery_day(d);
        out.push(d);
    }
    out
}

/// The day a shipment is expected: the carrier's own window when it gave one, else the
/// first delivery day after it took the parcel (next-day delivery).
pub fn expected_day(
    expected_from: Option<Timestamp>,
    handed_over: Option<Timestamp>,
    zone: &TimeZone,
) -> Option<Date> {
    if let Some(from) = expected_from {
        return Some(from.to_zoned_datetime(zone.clone()).date());
    }
    handed_over.map(|t| next_delivery_day(t.to_zoned_datetime(zone.clone()).date()))
}

/// The pick-up points nearest to `postcode` first: same four postcode digits, then by the
/// distance between the numbers (Dutch and Belgian postcodes are roughly geographic).
pub fn nearest_points(points: &[PickupPoint], postcode: &str, n: usize) -> Vec<PickupPoint> {
    let number = |p: &str| -> Option<i64> {
        let digits: String = p.chars().filter(char::is_ascii_digit).take(4).collect();
        digits.parse().ok()
    };
    let Some(home) = number(postcode) else {
        return points.iter().take(n).cloned().collect();
    };
    let mut sorted: Vec<&PickupPoint> = points.iter().collect();
    sorted.sort_by_key(|p| number(&p.postcode).map_or(i64::MAX, |x| (x - home).abs()));
    sorted.into_iter().take(n).cloned().collect()
}

/// A carrier: how it takes changes and where its pick-up points are (`[tracking.carriers.X]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierConfig {
    /// The name customers know, e.g. "PostNL".
    pub name: String,
    /// Where changes go (the signed webhook adapter); none: changes are not offered.
    pub webhook_url: Option<String>,
    /// Signs the webhook (HMAC-SHA256 over timestamp and body).
    pub webhook_secret: Option<String>,
    /// Where pick-up points for a postcode are looked up (a signed GET with
    /// `?postcode=&country=`); none: the `pickup_points` list below.
    pub pickup_points_url: Option<String>,
    /// The latest local time, on the evening before the expected day, to change.
    pub change_cutoff: String,
    /// The changes this carrier takes.
    pub changes: Vec<ChangeKind>,
    /// Pick-up points when there is no lookup URL.
    pub pickup_points: Vec<PickupPoint>,
    /// The carrier's own page where the customer changes a delivery, with `{code}` (the
    /// tracking code), `{postcode}`, `{country}` and `{language}` filled in; shown when
    /// Aftercare cannot pass changes on itself (no `webhook_url`). Known carriers have one
    /// by default ([`carrier_change_page`]).
    pub change_url: Option<String>,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            webhook_url: None,
            webhook_secret: None,
            pickup_points_url: None,
            change_cutoff: "22:00".into(),
            changes: ChangeKind::ALL.to_vec(),
            pickup_points: Vec::new(),
            change_url: None,
        }
    }
}

/// The carriers Dutch and Belgian shops ship with whose own sites let the receiver change a
/// delivery, by the key Aftercare knows them by: their name for customers and the page
/// (as `change_url` takes it) where a parcel is found by its code (and postcode, where the
/// site takes it) and the delivery changed. PostNL, DHL, DPD, bpost and GLS, as their
/// sites took these links in 2026; `[tracking.carriers.<key>] change_url` overrides one.
pub const CARRIER_CHANGE_PAGES: [(&str, &str, &str); 5] = [
    (
        "postnl",
        "PostNL",
        "https://jouw.postnl.nl/track-and-trace/{code}-{country}-{postcode}",
    ),
    (
        "dhl",
        "DHL",
        "https://my.dhlecommerce.nl/receiver/track-and-trace/{code}/{postcode}",
    ),
    (
        "dpd",
        "DPD",
        "https://tracking.dpd.de/status/{language}_{country}/parcel/{code}",
    ),
    (
        "bpost",
        "bpost",
        "https://track.bpost.cloud/btr/web/#/search?itemCode={code}&lang={language}&postalCode={postcode}",
    ),
    (
        "gls",
        "GLS",
        "https://gls-group.com/{country}/{language}/parcel-tracking?match={code}",
    ),
];

/// The name and change page of the carrier known as `key`: the configured ones first,
/// then Aftercare's list of known carriers ([`CARRIER_CHANGE_PAGES`]).
pub fn carrier_change_page(key: &str, config: Option<&CarrierConfig>) -> Option<(String, String)> {
    let known = CARRIER_CHANGE_PAGES
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|(_, name, url)| (name.to_string(), url.to_string()));
    let Some(c) = config else {
        return known;
    };
    let url = c
        .change_url
        .clone()
        .or_else(|| known.as_ref().map(|(_, u)| u.clone()))?;
    let name = if c.name.is_empty() {
        known.map_or_else(|| key.to_string(), |(n, _)| n)
    } else {
        c.name.clone()
    };
    Some((name, url))
}

impl CarrierConfig {
    /// The cut-off as a time of day (22:00 when it does not parse; `aftercare check`
    /// reports it).
    pub fn cutoff(&self) -> Time {
        self.change_cutoff
            .parse()
            .unwrap_or_else(|_| Time::constant(22, 0, 0, 0))
    }
}

/// One of the brand's stores, with fitting appointments (PX5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreLocation {
    /// The id orders use in `store_id`.
    pub id: String,
    /// The store's name.
    pub name: String,
    /// Street and number, postcode and city.
    pub address: String,
    /// Weekdays with fittings, e.g. `["tue", "thu", "sat"]`.
    #[serde(default)]
    pub fitting_days: Vec<String>,
    /// Start times of fittings, e.g. `["10:00", "11:00", "14:00"]`.
    #[serde(default)]
    pub fitting_times: Vec<String>,
    /// The store's time zone.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

fn default_zone() -> String {
    "Europe/Amsterdam".into()
}

impl StoreLocation {
    /// Fitting slots from `now` over the next `days` days (not the coming two hours).
    pub fn slots(&self, now: Timestamp, days: i64) -> Vec<Timestamp> {
        let Ok(zone) = TimeZone::get(&self.time_zone) else {
            return Vec::new();
        };
        let times: Vec<Time> = self
            .fitting_times
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        let today = now.to_zoned_datetime(zone.clone()).date();
        let earliest = now + jiff::SignedDuration::from_hours(2);
        let mut out = Vec::new();
        for offset in 0..days {
            let Ok(day) = today.checked_add(offset.days()) else {
                continue;
            };
            if !self
                .fitting_days
                .iter()
                .any(|d| weekday_is(d, day.weekday()))
            {
                continue;
            }
            for t in &times {
                if let Ok(z) = day.to_datetime(*t).to_zoned_datetime(zone.clone())
                    && z.timestamp() >= earliest
                {
                    out.push(z.timestamp());
                }
            }
        }
        out
    }
}

fn weekday_is(name: &str, day: Weekday) -> bool {
    let n = match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    };
    name.eq_ignore_ascii_case(n)
}

/// Local community content (PX4): a running club or event in a city.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityItem {
    /// The city it is for (matched against the customer's address).
    pub city: String,
    /// Its name, e.g. "Vondelpark Runners".
    pub name: String,
    /// When, per language (`nl`, `en`).
    pub when: BTreeMap<String, String>,
    /// Where it starts.
    pub place: String,
    /// More information.
    #[serde(default)]
    pub url: Option<String>,
}

/// `[tracking]`: carriers, stores, local content and what recycling applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// How many other days the page offers.
    pub other_days: usize,
    /// Product categories the free recycling return is offered for (PX6).
    pub recycling_categories: Vec<String>,
    /// Carriers by the name shipment events use (`postnl`, `bpost`).
    pub carriers: BTreeMap<String, CarrierConfig>,
    /// Stores with fitting appointments.
    pub stores: Vec<StoreLocation>,
    /// Community content by city.
    pub community: Vec<CommunityItem>,
    /// Allow webhook targets on loopback or private networks (tests, an in-house carrier
    /// gateway). Off by default, so a configured URL cannot reach internal services.
    pub allow_private_targets: bool,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            other_days: 5,
            recycling_categories: vec!["running-shoes".into()],
            carriers: BTreeMap::new(),
            stores: Vec::new(),
            community: Vec::new(),
            allow_private_targets: false,
        }
    }
}

impl TrackingConfig {
    /// The store an order is collected at (its `store_id`), if it is one of ours.
    pub fn store(&self, id: Option<&str>) -> Option<&StoreLocation> {
        id.and_then(|id| self.stores.iter().find(|s| s.id == id))
    }

    /// Mistakes a brand can make in `[tracking]`, as (field, reason).
    pub fn check(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (id, c) in &self.carriers {
            let at = |f: &str| format!("tracking.carriers.{id}.{f}");
            if c.change_cutoff.parse::<Time>().is_err() {
                out.push(FieldError::new(
                    at("change_cutoff"),
                    "must be a time such as 22:00",
                ));
            }
            if c.webhook_url.is_some() && c.webhook_secret.as_deref().unwrap_or("").len() < 16 {
                out.push(FieldError::new(
                    at("webhook_secret"),
                    "must be set, at least 16 characters, when webhook_url is",
                ));
            }
            for (field, url) in [
                ("webhook_url", &c.webhook_url),
                ("pickup_points_url", &c.pickup_points_url),
            ] {
                if let Some(u) = url
                    && !(u.starts_with("https://") || u.starts_with("http://"))
                {
                    out.push(FieldError::new(at(field), "must be an http(s) URL"));
                }
            }
            // The customer's browser opens it: https only, and it must find the parcel.
            if let Some(u) = &c.change_url
                && (!u.starts_with("https://") || !u.contains("{code}"))
            {
                out.push(FieldError::new(
                    at("change_url"),
                    "must be an https URL with {code} where the tracking code goes",
                ));
            }
        }
        for (i, s) in self.stores.iter().enumerate() {
            if TimeZone::get(&s.time_zone).is_err() {
                out.push(FieldError::new(
                    format!("tracking.stores[{i}].time_zone"),
                    "is not a known time zone",
                ));
            }
            if s.fitting_times.iter().any(|t| t.parse::<Time>().is_err()) {
                out.push(FieldError::new(
                    format!("tracking.stores[{i}].fitting_times"),
                    "must be times such as 10:00",
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ams() -> TimeZone {
        TimeZone::get("Europe/Amsterdam").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn known_carriers_have_a_change_page_and_the_configuration_can_override_it() {
        let (name, url) = carrier_change_page("postnl", None).unwrap();
        assert_eq!(name, "PostNL");
        assert!(url.contains("{code}") && url.starts_with("https://"));
        for (key, ..) in CARRIER_CHANGE_PAGES {
            assert!(carrier_change_page(key, None).is_some(), "{key}");
        }
        assert!(carrier_change_page("bicycle-courier", None).is_none());
        let own = CarrierConfig {
            name: "Fietskoerier".into(),
            change_url: Some("https://koerier.example/{code}".into()),
            ..Default::default()
        };
        assert_eq!(
            carrier_change_page("bicycle-courier", Some(&own)),
            Some((
                "Fietskoerier".to_string(),
                "https://koerier.example/{code}".to_string()
            ))
        );
        let mut config = TrackingConfig::default();
        config.carriers.insert(
            "x".into(),
            CarrierConfig {
                change_url: Some("http://x.example/".into()),
                ..Default::default()
            },
        );
        assert!(
            config
                .check()
                .iter()
                .any(|e| e.field == "tracking.carriers.x.change_url")
        );
    }

    #[test]
    fn a_change_is_possible_until_the_carriers_cutoff_on_the_evening_before() {
        // Expected Wednesday 4 March; cut-off 22:00 Amsterdam on Tuesday = 21:00 UTC.
        let day: Date = "2026-03-04".parse().unwrap();
        let cutoff = Time::constant(22, 0, 0, 0);
        let before = changeable(
            DeliveryMethod::Home,
            ShipmentStatus::InTransit,
            Some(day),
            cutoff,
            &ams(),
            at("2026-03-03T20:59:00Z"),
        );
        assert_eq!(before, Ok(Some(at("2026-03-03T21:00:00Z"))));
        let after = changeable(
            DeliveryMethod::Home,
            ShipmentStatus::InTransit,
            Some(day),
            cutoff,
            &ams(),
            at("2026-03-03T21:00:00Z"),
        );
        assert_eq!(after, Err(NotChangeable::PastCutoff));
    }

    #[test]
    fn out_for_delivery_or_a_pickup_order_cannot_be_changed() {
        let t = Time::constant(22, 0, 0, 0);
        let now = at("2026-03-02T09:00:00Z");
        assert_eq!(
            changeable(
                DeliveryMethod::Home,
                ShipmentStatus::OutForDelivery,
                None,
                t,
                &ams(),
                now
            ),
            Err(NotChangeable::Status(ShipmentStatus::OutForDelivery))
        );
        assert_eq!(
            changeable(
                DeliveryMethod::ClickAndCollect,
                ShipmentStatus::InTransit,
                None,
                t,
                &ams(),
                now
            ),
            Err(NotChangeable::NotHomeDelivery)
        );
    }

    #[test]
    fn other_days_skip_sunday() {
        // Friday 6 March 2026 → Sat 7, Mon 9, Tue 10.
        let days = other_days("2026-03-06".parse().unwrap(), 3);
        let s: Vec<String> = days.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["2026-03-07", "2026-03-09", "2026-03-10"]);
    }

    #[test]
    fn a_parcel_handed_over_on_saturday_is_expected_on_monday() {
        let day = expected_day(None, Some(at("2026-03-07T15:00:00Z")), &ams());
        assert_eq!(day, Some("2026-03-09".parse().unwrap()));
    }

    #[test]
    fn bad_form_input_names_the_field() {
        let form = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let days = other_days("2026-03-04".parse().unwrap(), 2);
        let e = DeliveryChange::parse("teleport", &form(&[]), &days, &[]).unwrap_err();
        assert_eq!(e.field, "kind");
        let e = DeliveryChange::parse("other_day", &form(&[("date", "2026-04-01")]), &days, &[])
            .unwrap_err();
        assert_eq!(e.field, "date");
        for bad in ["", "0", "abc", "12<script>", "123456"] {
            let e = DeliveryChange::parse("neighbour", &form(&[("house_number", bad)]), &days, &[])
                .unwrap_err();
            assert_eq!(e.field, "house_number", "{bad}");
        }
        for good in ["12", "12A", "12-2", "7 bus 3"] {
            assert!(
                DeliveryChange::parse("neighbour", &form(&[("house_number", good)]), &days, &[])
                    .is_ok(),
                "{good}"
            );
        }
        let e = DeliveryChange::parse("pickup_point", &form(&[("pickup_point", "X")]), &days, &[])
            .unwrap_err();
        assert_eq!(e.field, "pickup_point");
    }

    #[test]
    fn nearest_pickup_points_come_first() {
        let p = |id: &str, pc: &str| PickupPoint {
            id: id.into(),
            name: id.into(),
            street: "s".into(),
            postcode: pc.into(),
            city: "c".into(),
            hours: None,
        };
        let points = [
            p("far", "9711 AB"),
            p("near", "1017 CD"),
            p("mid", "1100 AA"),
        ];
        let got: Vec<String> = nearest_points(&points, "1016 AB", 2)
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(got, ["near", "mid"]);
    }

    #[test]
    fn fitting_slots_fall_on_the_stores_days_and_not_within_two_hours() {
        let store = StoreLocation {
            id: "ams".into(),
            name: "Amsterdam".into(),
            address: "x".into(),
            fitting_days: vec!["mon".into(), "sat".into()],
            fitting_times: vec!["10:00".into(), "14:00".into()],
            time_zone: "Europe/Amsterdam".into(),
        };
        // Monday 2 March 2026 11:30 local: 14:00 is still bookable, 10:00 is past.
        let slots = store.slots(at("2026-03-02T10:30:00Z"), 7);
        assert!(store.slots(at("2026-03-02T11:30:00Z"), 1).is_empty());
        let s: Vec<String> = slots.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            [
                "2026-03-02T13:00:00Z",
                "2026-03-07T09:00:00Z",
                "2026-03-07T13:00:00Z"
            ]
        );
    }
}
