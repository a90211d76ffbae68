//! A customer's contact calendar for the coming year: what Aftercare would send them if
//! nothing else happened — no new orders, shipments, answers or clicks. Their record, orders,
//! the products in them and their contacts of the last year are copied into a throw-away
//! engine ([`crate::trial`]), and the engine itself (the same live programmes, templates,
//! saved audiences, calendar occasions and policy, including the yearly band, FR1) runs a
//! year ahead on a virtual clock. Nothing is sent and the live data is only read.
//!
//! Not carried over: enrolments already running in the live system (the admin page lists
//! those from the live data beside the projection), and the shop's lifetime models (one
//! customer cannot fit them), so model-driven triggers such as `likely_lapsing` do not fire.

use aftercare_domain::MessageState;
use aftercare_engine::Engine;
use aftercare_engine::ingest;
use aftercare_engine::reports::ProjectedContact;
use aftercare_store::{CustomerId, NewMessage};
use jiff::{SignedDuration, Timestamp};

use crate::demo_data::ShopAction;
use crate::shop;
use crate::trial::{self, LiveContent};

/// The step key of the copies of earlier contacts (so they are not projected again).
const EARLIER: &str = "earlier-contact-";

/// The year from `start` for the customer `customer_id` of `live`, by time.
pub async fn project(
    live: &Engine,
    customer_id: CustomerId,
    start: Timestamp,
) -> anyhow::Result<Vec<ProjectedContact>> {
    let year_ago = start - SignedDuration::from_hours(24 * 365);
    let mut tx = live.store().begin_read().await?;
    let customer = tx.customer(customer_id).await?;
    let mut orders = tx.orders_of_customer(customer_id, 1000).await?;
    orders.sort_by_key(|o| o.record.placed_at);
    let mut products = Vec::new();
    for o in &orders {
        for line in &o.record.lines {
            if !products
                .iter()
                .any(|p: &aftercare_domain::ProductRecord| p.sku == line.sku)
                && let Some(p) = tx.product(line.sku.as_str()).await?
            {
                products.push(p);
            }
        }
    }
    // The last year's contacts as the policy counts them (letters from the print queue on).
    let earlier = tx.recent_contacts(customer_id, year_ago).await?;
    // A day the live calendar already planned (its parts store that day's occasions there)
    // is not planned again here.
    let zone = customer.record.time_zone.as_str().to_string();
    let scanned = tx.last_calendar_scan(&zone).await?;
    tx.commit().await?;

    // The past is imported with the clock before `start`, so what it sets off is history
    // (discarded at `start`), not part of the coming year.
    let content = LiveContent::of(live).await?;
    let trial = trial::engine(live, "calendar", year_ago, &content, None).await?;
    let (engine, clock) = (&trial.engine, &trial.clock);
    let store = engine.store().clone();
    let mut tx = store.begin().await?;
    for p in &products {
        ingest::upsert_product(&mut tx, p, start).await?;
    }
    let (id, _) = ingest::upsert_customer(&mut tx, &customer.record, customer.created_at).await?;
    // The contacts of the last year count towards the band and the caps.
    for (i, c) in earlier.iter().enumerate() {
        let sent = c.at;
        if sent <= year_ago {
            continue;
        }
        let step = format!("{EARLIER}{i}");
        let copy = NewMessage {
            customer_id: id,
            enrolment_id: None,
            step_key: &step,
            programme_id: None,
            template: &c.topic,
            class: c.class,
            priority: aftercare_domain::policy::Priority::Normal,
            channel: c.channel,
            planned_at: sent,
            reason: "sent before the projection",
            topic: &c.topic,
            variant: None,
        };
        if let Some(copied) = tx.insert_message(&copy, sent).await? {
            tx.transition_message(
                copied,
                MessageState::Planned,
                MessageState::Sent,
                "sent",
                sent,
            )
            .await?;
        }
    }
    if let Some(day) = &scanned {
        tx.mark_calendar_scanned(&zone, day, start).await?;
    }
    tx.commit().await?;
    let history: Vec<(Timestamp, ShopAction)> = orders
        .into_iter()
        .map(|o| (o.record.placed_at, ShopAction::Order(o.record)))
        .collect();
    shop::import_history(engine, &history, start).await?;
    clock.set(start);
    let end = start + SignedDuration::from_hours(24 * 365);
    shop::run_live(engine, clock, &[], start, end, |_, _| {}).await?;

    let mut tx = store.begin_read().await?;
    let mut out: Vec<ProjectedContact> = tx
        .all_messages(Some(id))
        .await?
        .into_iter()
        .filter(|m| m.planned_at >= start && !m.step_key.starts_with(EARLIER))
        .map(|m| ProjectedContact {
            at: m.sent_at.unwrap_or(m.planned_at),
            programme_id: m.programme_id,
            template: m.template,
            class: m.class.as_str().to_string(),
            channel: m.channel.as_str().to_string(),
            state: m.state.as_str().to_string(),
            reason: m.reason,
        })
        .collect();
    tx.commit().await?;
    out.sort_by_key(|c| c.at);
    Ok(out)
}

/// How long working out one customer's year may take before it is given up.
const PROJECTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Claims the oldest due `projection` job and works out that customer's year from now,
/// storing it (or why it could not be worked out) for the admin UI's contact calendar
/// (issue 22: a worker does it, beside its lanes, not the page). Whether one ran.
pub async fn run_queued(live: &Engine) -> anyhow::Result<bool> {
    let store = live.store();
    let worker = live.worker_id();
    let now = live.clock().now();
    let lease_until = now.checked_add(live.lease()).unwrap_or(now);
    let Some(job) = store
        .claim_side_job(
            aftercare_store::JobKind::Projection,
            worker,
            now,
            lease_until,
        )
        .await?
    else {
        return Ok(false);
    };
    let customer = CustomerId(job.ref_id);
    // Done well inside the lease, which is not renewed.
    let limit = live
        .lease()
        .checked_div(2)
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .unwrap_or(PROJECTION_LIMIT)
        .min(PROJECTION_LIMIT);
    let outcome = match tokio::time::timeout(limit, async {
        // Workers keep stopping on it (killed, out of memory): it ends as failed.
        if job.attempts > trial::SIDE_ATTEMPTS {
            anyhow::bail!("{}", trial::given_up(job.attempts));
        }
        project(live, customer, now).await
    })
    .await
    {
        Ok(Ok(contacts)) => Ok(serde_json::to_string(&contacts)?),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!(
            "working it out took over {} seconds and was stopped",
            limit.as_secs()
        )),
    };
    let mut tx = store.begin().await?;
    tx.store_projection(customer, outcome.as_deref().map_err(String::as_str), now)
        .await?;
    if tx.finish_job(job.id, worker).await? {
        tx.commit().await?;
    }
    Ok(true)
}
