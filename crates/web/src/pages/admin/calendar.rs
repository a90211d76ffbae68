//! A customer's contact calendar for the coming year: what is queued for them now, and what
//! Aftercare would send them over the next twelve months if nothing else happened, worked
//! out by the engine itself on a throw-away copy of their data
//! ([`aftercare_lab::projection::project`]), with each message's
//! decision and reason, per month against their yearly band (FR1). Reading the page changes
//! nothing in the customer's data.
//!
//! The year is worked out by a worker as a `projection` job beside its lanes (issue 22: not
//! in the serving process), and kept: the page shows it for ten minutes with when it was
//! worked out, then asks for a new one, showing the old one until it comes; it refreshes
//! itself while a worker is at it. A customer's year is asked for once however many look,
//! and at most eight customers' years wait for a worker at once (then 503 with
//! `Retry-After`): a viewer cannot queue up the workers' time.

use aftercare_domain::{MessageClass, MessageState};
use aftercare_engine::reports::ProjectedContact;
use aftercare_store::{JobKind, MessageFilter};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};

use super::auth::Team;
use super::customers::{find, minute};
use super::{AdminError, AdminResult, page, problem};
use crate::AppState;

/// How long a worked-out year is shown before a new one is asked for.
const FRESH_FOR: SignedDuration = SignedDuration::from_mins(10);
/// A year asked for that no worker has worked out in this long is asked for again (its job
/// was lost, e.g. set aside).
const STUCK_AFTER: SignedDuration = SignedDuration::from_mins(10);
/// The most customers' years that wait for a worker at once.
const MAX_PENDING: i64 = 8;

/// Whether a message of `class` counts towards the yearly band (FR1).
fn counts(class: &str) -> bool {
    MessageClass::parse(class).is_some_and(aftercare_domain::policy::counts_toward_band)
}

/// `GET /admin/customers/{id}/calendar`.
pub async fn show(State(app): State<AppState>, team: Team, Path(id): Path<String>) -> AdminResult {
    let lang = team.lang;
    let now = app.clock.now();
    let mut tx = app.store.begin_read().await?;
    let customer = find(&mut tx, &team, &id).await?;
    let queued = tx
        .messages(&MessageFilter {
            customer_id: Some(customer.id),
            state: Some(MessageState::Planned),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let year_ago = now - SignedDuration::from_hours(24 * 365);
    // What the policy counts: sent messages, and letters from their place in the print queue.
    let last_year = tx
        .recent_contacts(customer.id, year_ago)
        .await?
        .iter()
        .filter(|c| c.at > year_ago && aftercare_domain::policy::counts_toward_band(c.class))
        .count();
    let stored = tx.projection(customer.id).await?;
    tx.commit().await?;
    let fresh = stored
        .as_ref()
        .is_some_and(|p| !p.pending() && p.worked_at.is_some_and(|w| w >= now - FRESH_FOR));
    let mut working = stored
        .as_ref()
        .is_some_and(aftercare_store::Projection::pending);
    if !fresh {
        // Asked for in a short write of its own; reading the page writes nothing else.
        let mut tx = app.store.begin().await?;
        let waiting = tx.projections_pending(now - STUCK_AFTER).await?;
        if !working && waiting >= MAX_PENDING {
            let mut response = problem(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                lang.pick("Busy", "Even druk"),
                lang.pick(
                    "Other customers' calendars are being worked out. Try again in a few seconds.",
                    "Er worden al kalenders van andere klanten uitgerekend. Probeer het over een paar seconden opnieuw.",
                ),
            );
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("10"),
            );
            return Err(AdminError::page(response));
        }
        if tx
            .request_projection(
                customer.id,
                &team.username,
                now,
                now - FRESH_FOR,
                now - STUCK_AFTER,
            )
            .await?
        {
            tx.insert_job(JobKind::Projection, customer.id, now, now)
                .await?;
        }
        tx.commit().await?;
        // Asked for now, or by whoever looked a moment before: either way it is coming.
        working = true;
    }
    let zone = customer.record.time_zone.zone();
    let band = app.engine.policy().band_for(&customer.record);
    let mut ctx = json!({
        "section": "customers", "id": id, "zone": customer.record.time_zone.as_str(),
        "band": format!("{}–{}", band.0, band.1), "last_year": last_year, "working": working,
    });
    let queued: Vec<Value> = queued
        .iter()
        .map(|m| {
            json!({"at": minute(m.planned_at, &zone), "programme": m.programme_id,
                "template": m.template, "class": m.class.as_str(), "channel": m.channel.as_str(),
                "reason": m.reason})
        })
        .collect();
    ctx["queued"] = queued.into();
    let Some((stored, worked_at)) = stored.and_then(|p| p.worked_at.map(|w| (p, w))) else {
        return page(&team, "calendar.html", ctx);
    };
    ctx["worked"] = minute(worked_at, &zone).into();
    if let Some(error) = &stored.error {
        ctx["error"] = error.clone().into();
        return page(&team, "calendar.html", ctx);
    }
    let Some(projected) = stored
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<Vec<ProjectedContact>>(r).ok())
    else {
        // Written by another version: not shown as an empty year.
        ctx["error"] = lang
            .pick(
                "the stored calendar no longer reads; it is worked out again after ten minutes",
                "de bewaarde kalender is niet meer te lezen; hij wordt na tien minuten opnieuw uitgerekend",
            )
            .into();
        return page(&team, "calendar.html", ctx);
    };
    let now = worked_at;

    // Every month the coming year touches, in the customer's own time zone.
    let first = now.to_zoned_datetime(zone.clone()).date().first_of_month();
    let last = (now + SignedDuration::from_hours(24 * 365))
        .to_zoned_datetime(zone.clone())
        .date();
    let mut months: Vec<(jiff::civil::Date, Value)> = (0..13)
        .filter_map(|i| first.checked_add(jiff::Span::new().months(i)).ok())
        .filter(|d| *d <= last)
        .map(|d| {
            (
                d,
                json!({"month": d.strftime("%Y-%m").to_string(), "contacts": 0, "other": 0, "held": 0}),
            )
        })
        .collect();
    let mut total = 0;
    let rows: Vec<Value> = projected
        .iter()
        .map(|c| {
            let day = c.at.to_zoned_datetime(zone.clone()).date();
            let key = match c.state.as_str() {
                "sent" if counts(&c.class) => "contacts",
                "sent" => "other",
                _ => "held",
            };
            if key == "contacts" {
                total += 1;
            }
            if let Some((_, m)) = months.iter_mut().rev().find(|(start, _)| *start <= day) {
                m[key] = (m[key].as_i64().unwrap_or(0) + 1).into();
            }
            // What delivery said (e.g. the demo's outbox) is not part of the projection.
            let (state, reason) = match c.state.as_str() {
                "sent" => (lang.pick("would go out", "zou uitgaan"), ""),
                "planned" => (lang.pick("still planned", "nog gepland"), c.reason.as_str()),
                _ => (lang.pick("held back", "tegengehouden"), c.reason.as_str()),
            };
            json!({"at": minute(c.at, &zone), "programme": c.programme_id, "template": c.template,
                "class": c.class, "channel": c.channel, "state": state, "badge": c.state,
                "reason": reason, "counts": counts(&c.class)})
        })
        .collect();
    ctx["from"] = minute(now, &zone).into();
    ctx["total"] = total.into();
    ctx["months"] = months
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .into();
    ctx["rows"] = rows.into();
    ctx["shown"] = true.into();
    page(&team, "calendar.html", ctx)
}
