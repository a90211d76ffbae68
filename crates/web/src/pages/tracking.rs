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
use aftercare_store::{ChangeState, StoreError, StoredCustomer, StoredOrder, StoredShipment, Tx};
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

fn fill(template: &Value, pairs: &[(&str, &str)]) -> String {
    let mut s = template.as_str().unwrap_or_default().to_string();
    for (k, v) in pairs {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn weekday_date(d: Date, locale: Locale) -> String {
    aftercare_domain::commerce::format_weekday_date(d, locale)
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
        // No adapter: while a change can still be made at all, the carrier's own site
        // takes it (see `carrier_link`).
        _ => delivery::changeable(
            o.order.record.delivery_method,
            status_of(&o.shipment),
            expected,
            carrier.map_or_else(|| CarrierConfig::default().cutoff(), CarrierConfig::cutoff),
            &zone,
            now,
        )
        .and(Err(NotChangeable::CarrierDoesNotAllow)),
    };
    (result, carrier, expected)
}

/// Where the customer changes the delivery themselves when Aftercare cannot pass changes on:
/// the carrier's own page with the tracking code (and postcode, country and language where
/// the page takes them) filled in, so the customer is never left with "this carrier takes
/// no changes" (issue 24). `None` for a carrier without such a page.
fn carrier_link_for(
    o: &Opened,
    carrier: Option<&CarrierConfig>,
    locale: Locale,
    t: &Value,
) -> Option<Value> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let (name, template) = delivery::carrier_change_page(&o.shipment.carrier, carrier)?;
    let address = o.customer.record.postal_address.as_ref();
    let postcode = address.map_or(String::new(), |a| a.postcode.replace(' ', ""));
    let country = address.map_or("NL".to_string(), |a| a.country.to_uppercase());
    let language = match locale {
        Locale::NlNl | Locale::NlBe => "nl",
        Locale::FrBe => "fr",
        _ => "en",
    };
    let mut url = template;
    for (key, value) in [
        ("{code}", o.shipment.external_id.as_str()),
        ("{postcode}", postcode.as_str()),
        ("{country}", country.as_str()),
        ("{language}", language),
    ] {
        url = url.replace(
            key,
            &utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        );
    }
    Some(json!({
        "url": url,
        "text": fill(&t["change_at_carrier"], &[("carrier", &name)]),
        "button": fill(&t["change_at_carrier_button"], &[("carrier", &name)]),
    }))
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

    let locale = super::common::language(&app, o.customer.record.locale);
    let formal = super::common::formal(&app, &o.customer.record);
    let t = super::common::words(&app, locale, formal, "tracking");
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
        .find(|c| c.state == ChangeState::Confirmed)
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
        let key = match c.state {
            ChangeState::Confirmed => "confirmed",
            ChangeState::Refused => "refused",
            ChangeState::Requested | ChangeState::Unknown => "requested",
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
    let mut carrier_link = None;
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
        (Err(NotChangeable::CarrierDoesNotAllow), _) if !final_state => {
            carrier_link = carrier_link_for(&o, carrier, locale, &t);
            if carrier_link.is_none() {
                not_changeable = t["not_changeable"]["carrier_does_not_allow"]
                    .as_str()
                    .map(str::to_string);
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
    // The community's meeting times are written per language ("nl", "en", "fr").
    let lang = locale.tag().split('-').next().unwrap_or("nl");
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
            "carrier_link": carrier_link,
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
