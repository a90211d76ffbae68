//! The branded tracking page (PX1–PX6): reached from every shipping message by a signed,
//! expiring link to the shipment (`{{ links.tracking }}`), no login. It shows the carrier's
//! status as a timeline in the brand's words, the expected delivery window and the order's
//! products; while the carrier still allows it, the customer changes the delivery to
//! another day, a neighbour, a safe place or a pick-up point (PX2), passed on through the
//! carrier adapter (`aftercare_engine::tracking`). Click & collect orders get a fitting
//! appointment with slots per store (PX5); a delivered order gets local community content
//! for the customer's city (PX4) and, for worn-out products, a free recycling return (PX6).
//! The brand's contact block is on every page (PX3).
//!
//! Forms carry the CSRF token bound to the link; a change form also a nonce, so a double
//! submit stores one change. Bad input redirects back with a message naming the field and
//! changes nothing; a tampered or expired link gets the friendly page.

use std::collections::BTreeMap;

use aftercare_domain::delivery::{
    self, CarrierConfig, ChangeKind, DeliveryChange, NotChangeable, PickupPoint, SafePlace,
};
use aftercare_domain::{DeliveryMethod, Locale, ShipmentStatus};
use aftercare_engine::links::{LinkError, Page};
use aftercare_engine::tracking as engine_tracking;
use aftercare_store::{StoreError, StoredCustomer, StoredOrder, StoredShipment, Tx};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::common::{link_problem, page, render};
use crate::AppState;
use crate::error::ApiError;

/// The page's words per language; `{carrier}`, `{store}`, `{city}` … are filled in.
pub(crate) fn strings(locale: Locale) -> Value {
    match locale {
        Locale::En => json!({
            "title": "Your delivery", "hello": "Hello", "hello_formal": "Hello", "order": "Order", "progress": "Delivery progress",
            "now": "now", "tracking_code": "Tracking code", "items": "In this parcel",
            "expected": "Expected {day}", "expected_window": "Expected {day}, {from}–{until}",
            "your_change": "Your delivery change",
            "change_title": "Not home? Change your delivery",
            "change_intro": "Choose what suits you; we pass it on to the carrier straight away.",
            "deadline": "You can change it until {at}.",
            "other_day": "Deliver on another day", "other_day_button": "Deliver on this day",
            "pickup_point": "Deliver to a pick-up point", "pickup_point_button": "Deliver to this pick-up point",
            "neighbour": "Leave with a neighbour", "neighbour_button": "Leave with this neighbour",
            "safe_place": "Leave in a safe place", "safe_place_button": "Leave it there",
            "choose_day": "Which day?", "choose_point": "Which pick-up point?", "choose_place": "Where?",
            "neighbour_number": "Your neighbour's house number (same street)", "neighbour_hint": "For example 12 or 12-A.",
            "places": {"back_door": "At the back door", "shed": "In the shed", "porch": "In the porch", "garage": "In the garage"},
            "requested": "Thanks! We are passing your change on to {carrier}: {change}.",
            "confirmed": "{carrier} has your change: {change}.",
            "refused": "{carrier} could not make this change: {change}. The parcel comes as planned; contact us if that is a problem.",
            "change_other_day": "delivery on {day}", "change_neighbour": "leave with the neighbour at number {n}",
            "change_safe_place": "leave it {place}", "change_pickup_point": "deliver to {point}, {street}, {city}",
            "not_changeable": {"status": "The parcel is already with the driver or delivered, so it can no longer be changed.",
                                "past_cutoff": "The carrier's deadline for changes has passed; the parcel comes as planned.",
                                "not_home_delivery": "", "carrier_does_not_allow": "This carrier does not take changes through us; contact us if you need one."},
            "errors": {"kind": "Choose one of the options.", "date": "Choose one of the days on offer.",
                       "house_number": "Enter a house number, such as 12 or 12-A.", "place": "Choose one of the places.",
                       "pickup_point": "Choose one of the pick-up points.", "closed": "This delivery can no longer be changed.",
                       "slot": "That time is no longer available; choose another.", "stale": "This page was open too long. Please try again."},
            "fitting_title": "Book a fitting when you collect",
            "fitting_intro": "A specialist at {store} checks the fit and your running style when you collect your order: a free gait analysis of about 15 minutes.",
            "choose_slot": "Choose a time", "book": "Book this time", "rebook": "Change to this time",
            "booked": "Booked: {slot} at {store}. See you then!", "no_slots": "No times are free in the coming two weeks; just drop by.",
            "community_title": "Running together in {city}", "community_welcome": "Everyone is welcome, beginners too.",
            "more": "More",
            "recycling_title": "Worn-out pair? We recycle it",
            "recycling_intro": "Send your old running shoes back for free: we make sure they are recycled.",
            "recycling_button": "Send me a free return label", "recycling_done": "Your free return label is on its way by email.",
            "statuses": {"label_created": "We are packing your order", "handed_over": "Handed to {carrier}",
                          "in_transit": "On its way to you", "out_for_delivery": "The driver is on the way",
                          "delivered": "Delivered", "ready_for_pickup": "Ready for you to collect",
                          "picked_up": "Collected", "delivery_failed": "We missed you", "returned": "On its way back to us"},
            "headlines": {"label_created": "We are packing your order", "handed_over": "Your parcel is on its way",
                          "in_transit": "Your parcel is on its way", "out_for_delivery": "Your parcel arrives today",
                          "delivered": "Your parcel has been delivered", "ready_for_pickup": "Your order is ready to collect",
                          "picked_up": "You collected your order", "delivery_failed": "We missed you",
                          "returned": "Your parcel is on its way back to us"}
        }),
        Locale::NlNl | Locale::NlBe => {
            let be = locale == Locale::NlBe;
            let parcel = if be { "pakje" } else { "pakket" };
            let delivered = if be { "geleverd" } else { "bezorgd" };
            json!({
                "title": "Jouw bezorging", "hello": "Hallo", "hello_formal": "Goedendag", "order": "Bestelling", "progress": "Voortgang van de bezorging",
                "now": "nu", "tracking_code": "Trackingcode", "items": format!("In dit {parcel}"),
                "expected": "Verwacht {day}", "expected_window": "Verwacht {day}, {from}–{until}",
                "your_change": "Jouw wijziging",
                "change_title": "Niet thuis? Wijzig je bezorging",
                "change_intro": "Kies wat jou uitkomt; wij geven het meteen door aan de vervoerder.",
                "deadline": "Wijzigen kan tot {at}.",
                "other_day": "Op een andere dag", "other_day_button": "Op deze dag bezorgen",
                "pickup_point": "Naar een afhaalpunt", "pickup_point_button": "Naar dit afhaalpunt",
                "neighbour": "Bij de buren", "neighbour_button": "Bij deze buren afgeven",
                "safe_place": "Op een veilige plek", "safe_place_button": "Daar neerleggen",
                "choose_day": "Welke dag?", "choose_point": "Welk afhaalpunt?", "choose_place": "Waar?",
                "neighbour_number": "Huisnummer van je buren (zelfde straat)", "neighbour_hint": "Bijvoorbeeld 12 of 12-A.",
                "places": {"back_door": "Bij de achterdeur", "shed": "In de schuur", "porch": "In het portiek", "garage": "In de garage"},
                "requested": "Dank je! We geven je wijziging door aan {carrier}: {change}.",
                "confirmed": "{carrier} heeft je wijziging: {change}.",
                "refused": format!("{{carrier}} kon deze wijziging niet doorvoeren: {{change}}. Je {parcel} komt zoals gepland; neem contact op als dat niet uitkomt."),
                "change_other_day": "bezorging op {day}", "change_neighbour": "afgeven bij de buren op nummer {n}",
                "change_safe_place": "neerleggen: {place}", "change_pickup_point": "naar {point}, {street}, {city}",
                "not_changeable": {"status": format!("Je {parcel} is al bij de bezorger of {delivered}, dus wijzigen kan niet meer."),
                                    "past_cutoff": format!("De vervoerder neemt geen wijzigingen meer aan; je {parcel} komt zoals gepland."),
                                    "not_home_delivery": "", "carrier_does_not_allow": "Deze vervoerder neemt via ons geen wijzigingen aan; neem contact op als je iets wilt veranderen."},
                "errors": {"kind": "Kies een van de mogelijkheden.", "date": "Kies een van de aangeboden dagen.",
                           "house_number": "Vul een huisnummer in, zoals 12 of 12-A.", "place": "Kies een van de plekken.",
                           "pickup_point": "Kies een van de afhaalpunten.", "closed": "Deze bezorging kan niet meer gewijzigd worden.",
                           "slot": "Dat tijdstip is niet meer vrij; kies een ander.", "stale": "Deze pagina stond te lang open. Probeer het opnieuw."},
                "fitting_title": "Plan een passing bij het ophalen",
                "fitting_intro": "Een specialist van {store} kijkt bij het ophalen naar de pasvorm en je loopstijl: een gratis loopanalyse van een kwartier.",
                "choose_slot": "Kies een tijd", "book": "Deze tijd reserveren", "rebook": "Naar deze tijd verzetten",
                "booked": "Gereserveerd: {slot} bij {store}. Tot dan!", "no_slots": "De komende twee weken is er geen tijd vrij; loop gerust binnen.",
                "community_title": "Samen lopen in {city}", "community_welcome": "Iedereen is welkom, ook als je net begint.",
                "more": "Meer",
                "recycling_title": "Oud paar versleten? Wij recyclen het",
                "recycling_intro": "Stuur je oude hardloopschoenen gratis terug: wij zorgen dat ze gerecycled worden.",
                "recycling_button": "Stuur mij een gratis retourlabel", "recycling_done": "Je gratis retourlabel komt per e-mail.",
                "statuses": {"label_created": "We pakken je bestelling in", "handed_over": "Meegegeven aan {carrier}",
                              "in_transit": "Onderweg naar jou", "out_for_delivery": "De bezorger is onderweg",
                              "delivered": if be { "Geleverd" } else { "Bezorgd" }, "ready_for_pickup": "Ligt klaar om op te halen",
                              "picked_up": "Opgehaald", "delivery_failed": "We hebben je gemist", "returned": "Op weg terug naar ons"},
                "headlines": {"label_created": "We pakken je bestelling in", "handed_over": format!("Je {parcel} is onderweg"),
                              "in_transit": format!("Je {parcel} is onderweg"), "out_for_delivery": format!("Je {parcel} komt vandaag"),
                              "delivered": format!("Je {parcel} is {delivered}"), "ready_for_pickup": "Je bestelling ligt klaar",
                              "picked_up": "Je hebt je bestelling opgehaald", "delivery_failed": "We hebben je gemist",
                              "returned": format!("Je {parcel} is op weg terug naar ons")}
            })
        }
    }
}

fn fill(template: &Value, pairs: &[(&str, &str)]) -> String {
    let mut s = template.as_str().unwrap_or_default().to_string();
    for (k, v) in pairs {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn weekday_date(d: Date, locale: Locale) -> String {
    const NL: [&str; 7] = [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ];
    const EN: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let i = usize::try_from(d.weekday().to_monday_zero_offset()).unwrap_or(0);
    let name = if locale == Locale::En { EN[i] } else { NL[i] };
    format!(
        "{name} {}",
        aftercare_domain::commerce::format_date(d, locale)
    )
}

fn clock_time(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned_datetime(zone.clone())
        .strftime("%H:%M")
        .to_string()
}

fn moment(t: Timestamp, zone: &TimeZone, locale: Locale) -> String {
    let z = t.to_zoned_datetime(zone.clone());
    format!("{} {}", weekday_date(z.date(), locale), z.strftime("%H:%M"))
}

/// Everything a tracking link opens, read in one transaction.
struct Opened {
    shipment: StoredShipment,
    order: StoredOrder,
    customer: StoredCustomer,
}

async fn open(
    app: &AppState,
    tx: &mut Tx,
    token: &str,
) -> Result<Result<Opened, LinkError>, ApiError> {
    let id = match app
        .engine
        .links()
        .verify(Page::Tracking, token, app.clock.now())
    {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let shipment = match tx.shipment(id).await {
        Ok(s) => s,
        Err(StoreError::NotFound(_)) => return Ok(Err(LinkError::Invalid)),
        Err(e) => return Err(e.into()),
    };
    let order = tx.order_by_id(shipment.order_id).await?;
    let customer = tx.customer(order.customer_id).await?;
    Ok(Ok(Opened {
        shipment,
        order,
        customer,
    }))
}

fn zone_of(customer: &StoredCustomer) -> TimeZone {
    TimeZone::get(customer.record.time_zone.as_str()).unwrap_or(TimeZone::UTC)
}

fn status_of(s: &StoredShipment) -> ShipmentStatus {
    serde_json::from_value(Value::String(s.status.clone())).unwrap_or(ShipmentStatus::InTransit)
}

/// What may be changed now: the carrier's config and the deadline, or why not.
fn change_window<'a>(
    app: &'a AppState,
    o: &Opened,
    history: &[(String, Timestamp, Option<String>)],
    now: Timestamp,
) -> (
    Result<Option<Timestamp>, NotChangeable>,
    Option<&'a CarrierConfig>,
    Option<Date>,
) {
    let zone = zone_of(&o.customer);
    let handed_over = history
        .iter()
        .find(|(s, ..)| s == "handed_over")
        .map(|(_, at, _)| *at);
    let expected = delivery::expected_day(o.shipment.expected_from, handed_over, &zone);
    let carrier = app.engine.tracking().carriers.get(&o.shipment.carrier);
    let result = match carrier {
        Some(c) if c.webhook_url.is_some() => delivery::changeable(
            o.order.record.delivery_method,
            status_of(&o.shipment),
            expected,
            c.cutoff(),
            &zone,
            now,
        ),
        _ => Err(NotChangeable::CarrierDoesNotAllow),
    };
    (result, carrier, expected)
}

/// The other delivery days on offer: after the expected day, or from today when unknown.
fn offered_days(
    app: &AppState,
    expected: Option<Date>,
    zone: &TimeZone,
    now: Timestamp,
) -> Vec<Date> {
    let base = expected.unwrap_or_else(|| now.to_zoned_datetime(zone.clone()).date());
    delivery::other_days(base, app.engine.tracking().other_days)
}

/// The carrier's pick-up points nearest the customer's postcode.
async fn offered_points(app: &AppState, o: &Opened) -> Vec<PickupPoint> {
    let (postcode, country) = o
        .customer
        .record
        .postal_address
        .as_ref()
        .map(|a| (a.postcode.clone(), a.country.clone()))
        .unwrap_or_default();
    app.engine
        .pickup_points(&o.shipment.carrier, &postcode, &country)
        .await
}

/// A change in the customer's words.
fn describe(change: &Value, t: &Value, locale: Locale) -> String {
    match change["kind"].as_str().unwrap_or_default() {
        "other_day" => {
            let day = change["date"]
                .as_str()
                .and_then(|d| d.parse::<Date>().ok())
                .map(|d| weekday_date(d, locale))
                .unwrap_or_default();
            fill(&t["change_other_day"], &[("day", &day)])
        }
        "neighbour" => fill(
            &t["change_neighbour"],
            &[("n", change["house_number"].as_str().unwrap_or_default())],
        ),
        "safe_place" => {
            let place = t["places"][change["place"].as_str().unwrap_or_default()]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            fill(&t["change_safe_place"], &[("place", &place)])
        }
        "pickup_point" => {
            let p = &change["point"];
            fill(
                &t["change_pickup_point"],
                &[
                    ("point", p["name"].as_str().unwrap_or_default()),
                    ("street", p["street"].as_str().unwrap_or_default()),
                    ("city", p["city"].as_str().unwrap_or_default()),
                ],
            )
        }
        _ => String::new(),
    }
}

/// Which notice to show after a form.
#[derive(Debug, serde::Deserialize)]
pub struct Notice {
    requested: Option<String>,
    error: Option<String>,
    booked: Option<String>,
    recycling: Option<String>,
}

/// `GET /p/tracking/{token}`.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let mut tx = app.store.begin_read().await?;
    let o = match open(&app, &mut tx, &token).await? {
        Ok(o) => o,
        Err(e) => return link_problem(&app, e),
    };
    let history = tx.shipment_history(o.shipment.id).await?;
    let changes = tx.delivery_changes(o.shipment.id).await?;
    let products = tx.order_products(&o.order.record).await?;
    let appointment = tx.appointment_for_order(o.order.id).await?;
    let recycling_requested = tx.recycling_requested_at(o.order.id).await?;
    let store = app
        .engine
        .tracking()
        .store(o.order.record.store_id.as_deref());
    let taken = match store {
        Some(s) => tx.taken_slots(&s.id, now).await?,
        None => Vec::new(),
    };
    tx.commit().await?;

    let locale = o.customer.record.locale;
    let formal = super::common::formal(&app, &o.customer.record);
    let t = super::common::addressed(strings(locale), locale, formal);
    let zone = zone_of(&o.customer);
    let (window, carrier, expected) = change_window(&app, &o, &history, now);
    let carrier_name = carrier
        .map(|c| c.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| o.shipment.carrier.to_uppercase());
    let status = o.shipment.status.as_str();

    // The timeline: what happened, then what is still to come on this kind of delivery.
    let planned: &[&str] = match o.order.record.delivery_method {
        DeliveryMethod::Home => &[
            "label_created",
            "handed_over",
            "in_transit",
            "out_for_delivery",
            "delivered",
        ],
        _ => &[
            "label_created",
            "handed_over",
            "in_transit",
            "ready_for_pickup",
            "picked_up",
        ],
    };
    let label = |s: &str| fill(&t["statuses"][s], &[("carrier", &carrier_name)]);
    let mut steps: Vec<Value> = Vec::new();
    for (i, (s, at, location)) in history.iter().enumerate() {
        let current = i + 1 == history.len();
        steps.push(json!({
            "label": label(s),
            "at": moment(*at, &zone, locale),
            "location": location,
            "state": if current { "current" } else { "done" },
        }));
    }
    let reached = planned.iter().position(|p| *p == status);
    if let Some(r) = reached {
        for s in &planned[r + 1..] {
            steps.push(json!({"label": label(s), "state": "todo"}));
        }
    }
    let final_state = matches!(status, "delivered" | "picked_up" | "returned");
    // A day the carrier agreed to move it to, until the carrier sends a window for that day.
    let moved_to = changes
        .iter()
        .find(|c| c.state == "confirmed")
        .and_then(|c| serde_json::from_value::<delivery::DeliveryChange>(c.detail.clone()).ok())
        .and_then(|c| match c {
            delivery::DeliveryChange::OtherDay { date } => Some(date),
            _ => None,
        })
        .filter(|day| {
            o.shipment
                .expected_from
                .is_none_or(|from| from.to_zoned_datetime(zone.clone()).date() != *day)
        });
    let expected_text = if final_state {
        None
    } else if let Some(day) = moved_to {
        Some(fill(&t["expected"], &[("day", &weekday_date(day, locale))]))
    } else {
        match (o.shipment.expected_from, o.shipment.expected_until) {
            (Some(from), Some(until)) => Some(fill(
                &t["expected_window"],
                &[
                    (
                        "day",
                        &weekday_date(from.to_zoned_datetime(zone.clone()).date(), locale),
                    ),
                    ("from", &clock_time(from, &zone)),
                    ("until", &clock_time(until, &zone)),
                ],
            )),
            _ => expected.map(|d| fill(&t["expected"], &[("day", &weekday_date(d, locale))])),
        }
    };

    // The latest change and what the carrier made of it.
    let latest_change = changes.first().map(|c| {
        let key = match c.state.as_str() {
            "confirmed" => "confirmed",
            "refused" => "refused",
            _ => "requested",
        };
        fill(
            &t[key],
            &[
                ("carrier", &carrier_name),
                ("change", &describe(&c.detail, &t, locale)),
            ],
        )
    });

    // The change options, while the carrier allows them.
    let mut change_options = Vec::new();
    let mut days = Vec::new();
    let mut points = Vec::new();
    let mut deadline = None;
    let mut not_changeable = None;
    match (&window, carrier) {
        (Ok(until), Some(c)) => {
            deadline = until.map(|d| fill(&t["deadline"], &[("at", &moment(d, &zone, locale))]));
            days = offered_days(&app, expected, &zone, now)
                .into_iter()
                .map(|d| json!({"value": d.to_string(), "label": weekday_date(d, locale)}))
                .collect();
            if c.changes.contains(&ChangeKind::PickupPoint) {
                points = offered_points(&app, &o).await;
            }
            for kind in ChangeKind::ALL {
                let offered = c.changes.contains(&kind)
                    && (kind != ChangeKind::PickupPoint || !points.is_empty())
                    && (kind != ChangeKind::OtherDay || !days.is_empty());
                if offered {
                    change_options.push(json!({
                        "kind": kind.as_str(),
                        "title": t[kind.as_str()],
                        "button": t[format!("{}_button", kind.as_str())],
                    }));
                }
            }
        }
        (Err(reason), _) => {
            let text = t["not_changeable"][reason.code()].as_str().unwrap_or("");
            if !text.is_empty() && !final_state {
                not_changeable = Some(text.to_string());
            }
        }
        (Ok(_), None) => {}
    }
    let places: Vec<Value> = SafePlace::ALL
        .iter()
        .map(|p| json!({"value": p.as_str(), "label": t["places"][p.as_str()]}))
        .collect();

    // PX5: a fitting when collecting in a store.
    let fitting = store
        .filter(|_| !matches!(status, "picked_up" | "returned"))
        .map(|s| {
            let slots: Vec<Value> = s
                .slots(now, 14)
                .into_iter()
                .filter(|slot| !taken.contains(slot))
                .take(12)
                .map(|slot| {
                    json!({"value": slot.as_second(), "label": moment(slot, &zone, locale)})
                })
                .collect();
            let booked = appointment.as_ref().map(|(_, at)| {
                fill(
                    &t["booked"],
                    &[("slot", &moment(*at, &zone, locale)), ("store", &s.name)],
                )
            });
            json!({"store": {"name": s.name, "address": s.address}, "slots": slots, "booked": booked})
        });

    // PX4 and PX6 once it has arrived.
    let arrived = matches!(status, "delivered" | "picked_up");
    let city = o
        .customer
        .record
        .postal_address
        .as_ref()
        .map(|a| a.city.clone())
        .unwrap_or_default();
    let lang = if locale == Locale::En { "en" } else { "nl" };
    let community: Vec<Value> = if arrived {
        app.engine
            .tracking()
            .community
            .iter()
            .filter(|c| c.city.eq_ignore_ascii_case(&city))
            .map(|c| {
                json!({
                    "name": c.name,
                    "when": c.when.get(lang).or_else(|| c.when.values().next()),
                    "place": c.place,
                    "url": c.url,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let recycles = products.iter().any(|p| {
        app.engine
            .tracking()
            .recycling_categories
            .contains(&p.category)
    });
    let recycling =
        (arrived && recycles).then(|| json!({"requested": recycling_requested.is_some()}));

    let items: Vec<Value> = o
        .order
        .record
        .lines
        .iter()
        .map(|l| {
            let name = products
                .iter()
                .find(|p| p.sku == l.sku)
                .map_or_else(|| l.sku.as_str().to_string(), |p| p.name.clone());
            json!({"name": name, "quantity": l.quantity})
        })
        .collect();

    let (text, is_error) = if notice.requested.is_some() {
        (latest_change.clone(), false)
    } else if let Some(field) = &notice.error {
        (
            t["errors"][field.as_str()]
                .as_str()
                .map(str::to_string)
                .or_else(|| t["errors"]["kind"].as_str().map(str::to_string)),
            true,
        )
    } else if notice.booked.is_some() {
        (
            fitting
                .as_ref()
                .and_then(|f| f["booked"].as_str().map(str::to_string)),
            false,
        )
    } else if notice.recycling.is_some() {
        (t["recycling_done"].as_str().map(str::to_string), false)
    } else {
        (None, false)
    };
    let greeting = app.engine.renderer().greeting(&o.customer.record);
    let nonce = String::from_utf8(aftercare_engine::worker::random_hex()).unwrap_or_default();
    let html = render(
        "tracking.html",
        json!({
            "lang": locale.tag(),
            "formal": formal,
            "t": t,
            "brand": app.engine.renderer().brand_for(locale),
            "first_name": greeting.addressed_as,
            "token": token,
            "csrf": app.engine.links().csrf(&token),
            "nonce": nonce,
            "notice": text,
            "notice_error": is_error,
            "order": {"external_id": o.order.record.external_id},
            "shipment": {"external_id": o.shipment.external_id},
            "carrier_name": carrier_name,
            "headline": t["headlines"][status],
            "expected": expected_text,
            "steps": steps,
            "latest_change": latest_change,
            "change_options": change_options,
            "days": days,
            "points": points,
            "places": places,
            "deadline": deadline,
            "not_changeable": not_changeable,
            "fitting": fitting,
            "community": community,
            "city": city,
            "recycling": recycling,
            "items": items,
        }),
    )?;
    Ok(page(StatusCode::OK, html))
}

fn back(token: &str, query: &str) -> Response {
    Redirect::to(&format!("/p/tracking/{token}?{query}")).into_response()
}

/// A form post whose link and CSRF token check out: the open transaction and what the link
/// opens, or the friendly page.
async fn posted(
    app: &AppState,
    token: &str,
    form: &BTreeMap<String, String>,
) -> Result<Result<(Tx, Opened), Response>, ApiError> {
    let links = app.engine.links();
    let csrf = form.get("csrf").map(String::as_str).unwrap_or("");
    let checked = links
        .verify(Page::Tracking, token, app.clock.now())
        .and_then(|_| {
            if links.check_csrf(token, csrf) {
                Ok(())
            } else {
                Err(LinkError::Invalid)
            }
        });
    if let Err(e) = checked {
        return Ok(Err(link_problem(app, e)?));
    }
    let mut tx = app.store.begin().await?;
    match open(app, &mut tx, token).await? {
        Ok(o) => Ok(Ok((tx, o))),
        Err(e) => Ok(Err(link_problem(app, e)?)),
    }
}

/// `POST /p/tracking/{token}/change`: ask the carrier for another day, a neighbour, a safe
/// place or a pick-up point.
pub async fn change(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (mut tx, o) = match posted(&app, &token, &form).await? {
        Ok(opened) => opened,
        Err(problem) => return Ok(problem),
    };
    let nonce = form.get("nonce").cloned().unwrap_or_default();
    if nonce.len() != 64 || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(back(&token, "error=stale"));
    }
    let now = app.clock.now();
    let history = tx.shipment_history(o.shipment.id).await?;
    let (window, carrier, expected) = change_window(&app, &o, &history, now);
    let Some(carrier) = carrier.filter(|_| window.is_ok()) else {
        return Ok(back(&token, "error=closed"));
    };
    let days = offered_days(&app, expected, &zone_of(&o.customer), now);
    let kind = form.get("kind").map(String::as_str).unwrap_or("");
    let points = if kind == ChangeKind::PickupPoint.as_str() {
        offered_points(&app, &o).await
    } else {
        Vec::new()
    };
    let change = match DeliveryChange::parse(kind, &form, &days, &points) {
        Ok(c) if carrier.changes.contains(&c.kind()) => c,
        Ok(_) => return Ok(back(&token, "error=kind")),
        Err(e) => return Ok(back(&token, &format!("error={}", e.field))),
    };
    engine_tracking::request_change(&mut tx, o.customer.id, &o.shipment, &change, &nonce, now)
        .await?;
    tx.commit().await?;
    app.engine.wake();
    Ok(back(&token, "requested=1"))
}

/// `POST /p/tracking/{token}/fitting`: book a fitting slot at the collection store (PX5).
pub async fn fitting(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (mut tx, o) = match posted(&app, &token, &form).await? {
        Ok(opened) => opened,
        Err(problem) => return Ok(problem),
    };
    let now = app.clock.now();
    let Some(store) = app
        .engine
        .tracking()
        .store(o.order.record.store_id.as_deref())
    else {
        return Ok(back(&token, "error=slot"));
    };
    let slot = form
        .get("slot")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| Timestamp::from_second(s).ok())
        .filter(|s| store.slots(now, 14).contains(s));
    let Some(slot) = slot else {
        return Ok(back(&token, "error=slot"));
    };
    if !engine_tracking::book_fitting(&mut tx, &o.order, store, slot, now).await? {
        return Ok(back(&token, "error=slot"));
    }
    tx.commit().await?;
    app.engine.wake();
    Ok(back(&token, "booked=1"))
}

/// `POST /p/tracking/{token}/recycle`: a free return label for the worn-out pair (PX6).
pub async fn recycle(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let (mut tx, o) = match posted(&app, &token, &form).await? {
        Ok(opened) => opened,
        Err(problem) => return Ok(problem),
    };
    let now = app.clock.now();
    let arrived = matches!(o.shipment.status.as_str(), "delivered" | "picked_up");
    if !arrived {
        return Ok(back(&token, "error=closed"));
    }
    engine_tracking::request_recycling(&mut tx, &o.order, now).await?;
    tx.commit().await?;
    app.engine.wake();
    Ok(back(&token, "recycling=1"))
}
