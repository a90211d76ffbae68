//! A customer's contact calendar for the coming year: what is queued for them now, and what
//! Aftercare would send them over the next twelve months if nothing else happened, worked
//! out by the engine itself on a throw-away copy of their data
//! ([`aftercare_lab::projection::project`]), with each message's
//! decision and reason, per month against their yearly band (FR1). Reading the page changes
//! nothing; at most two calendars are worked out at a time, a request waits at most three
//! seconds for its turn (then 503 with `Retry-After`), and a calendar that takes over 20
//! seconds is given up.

use std::sync::Arc;

use aftercare_domain::{MessageClass, MessageState};
use aftercare_store::MessageFilter;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::auth::Team;
use super::customers::{find, minute};
use super::{AdminError, AdminResult, page, problem};
use crate::AppState;

/// How many calendars may be worked out at once.
#[derive(Debug, Clone)]
pub struct Slots(Arc<Semaphore>);

impl Default for Slots {
    fn default() -> Self {
        Slots(Arc::new(Semaphore::new(2)))
    }
}

/// How long a request waits for a free slot before it is told to come back.
const WAIT_FOR_SLOT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long one calendar may take to work out.
const PROJECTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Whether a message of `class` counts towards the yearly band (FR1).
fn counts(class: &str) -> bool {
    MessageClass::parse(class).is_some_and(aftercare_domain::policy::counts_toward_band)
}

/// `GET /admin/customers/{id}/calendar`.
pub async fn show(
    State(app): State<AppState>,
    team: Team,
    Extension(slots): Extension<Slots>,
    Path(id): Path<String>,
) -> AdminResult {
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
    tx.commit().await?;
    let zone = customer.record.time_zone.zone();
    let band = app.engine.policy().band_for(&customer.record);

    // Two calendars at a time; a request that finds both slots taken for long is told to
    // come back, and a calendar that takes too long is given up (issue 19): a viewer cannot
    // queue up the engine's time.
    let busy = |title: (&'static str, &'static str), detail: (&'static str, &'static str)| {
        let mut response = problem(
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            lang.pick(title.0, title.1),
            lang.pick(detail.0, detail.1),
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("10"),
        );
        AdminError::page(response)
    };
    let Ok(Ok(permit)) = tokio::time::timeout(WAIT_FOR_SLOT, slots.0.acquire()).await else {
        return Err(busy(
            ("Busy", "Even druk"),
            (
                "Other calendars are being worked out. Try again in a few seconds.",
                "Er worden al andere kalenders uitgerekend. Probeer het over een paar seconden opnieuw.",
            ),
        ));
    };
    let Ok(projected) = tokio::time::timeout(
        PROJECTION_LIMIT,
        aftercare_lab::projection::project(&app.engine, customer.id, now),
    )
    .await
    else {
        return Err(busy(
            ("Took too long", "Duurde te lang"),
            (
                "Working out this customer's year took too long and was stopped.",
                "Het uitrekenen van het jaar van deze klant duurde te lang en is gestopt.",
            ),
        ));
    };
    let projected = projected.map_err(|e| crate::error::ApiError::Internal(format!("{e:#}")))?;
    drop(permit);

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
    let queued: Vec<Value> = queued
        .iter()
        .map(|m| {
            json!({"at": minute(m.planned_at, &zone), "programme": m.programme_id,
                "template": m.template, "class": m.class.as_str(), "channel": m.channel.as_str(),
                "reason": m.reason})
        })
        .collect();
    page(
        &team,
        "calendar.html",
        json!({
            "section": "customers", "id": id, "zone": customer.record.time_zone.as_str(),
            "from": minute(now, &zone), "band": format!("{}–{}", band.0, band.1),
            "last_year": last_year, "total": total,
            "months": months.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
            "rows": rows, "queued": queued,
        }),
    )
}
