//! A customer's contact calendar for the coming year: what Aftercare would send them if
//! nothing else happened — no new orders, shipments, answers or clicks. Their record, orders,
//! the products in them and their contacts of the last year are copied into a throw-away
//! SQLite file, and the engine itself (the same programmes, calendar occasions and policy,
//! including the yearly band, FR1) runs a year ahead on a virtual clock. Nothing is sent and
//! the live data is only read.
//!
//! Not carried over: enrolments already running in the live system (the admin page lists
//! those from the live data beside the projection), and the shop's lifetime models (one
//! customer cannot fit them), so model-driven triggers such as `likely_lapsing` do not fire.

use aftercare_store::CustomerId;
use std::sync::Arc;

use aftercare_domain::{ManualClock, MessageState};
use aftercare_engine::ingest;
use aftercare_engine::reports::ProjectedContact;
use aftercare_store::{NewMessage, Store};
use jiff::{SignedDuration, Timestamp};

use crate::app;
use crate::config::Config;
use aftercare_lab::demo_data::ShopAction;
use aftercare_lab::shop;

/// The step key of the copies of earlier contacts (so they are not projected again).
const EARLIER: &str = "earlier-contact-";

/// A configuration for a throw-away run in `dir`: its own SQLite file, no SMTP, no
/// carrier of the brand's (a stand-in on loopback takes delivery changes), and nothing
/// else that reaches outside: no shop to create codes in, no consent webhook, and every
/// `[webhooks]` target (kept by name, so programmes still check) pointed at a closed
/// loopback port.
pub fn throwaway_config(mut config: Config, dir: &std::path::Path) -> Config {
    config.database_url = format!("sqlite://{}", dir.join("run.db").display());
    config.smtp_url = None;
    config.connectors.shop_codes = None;
    config.connectors.consent_webhook = None;
    for target in config.webhooks.values_mut() {
        target.url = "http://127.0.0.1:9/throw-away-run".into();
    }
    config.durable = false;
    config.tracking = aftercare_domain::delivery::TrackingConfig::default();
    // Links in a throw-away run are signed with a secret of its own: signed with the live
    // one, they would open the live customer who happens to have the throw-away id.
    config.link_secret = None;
    // Nothing in a throw-away year is old enough to matter, and pruning twice a simulated
    // day was most of a contact calendar's time.
    config.housekeeping = aftercare_engine::housekeeping::HousekeepingConfig {
        idempotency_key_days: 0,
        dead_job_days: 0,
        hook_delivery_days: 0,
        event_days: 0,
        personal_data_days: 0,
    };
    config
}

/// A fresh folder under the system's temporary folder, removed by the caller.
pub fn throwaway_dir(what: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "aftercare-{what}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The year from `start` for the live customer `customer_id`, by time.
pub async fn project(
    config: Config,
    live: Store,
    customer_id: CustomerId,
    start: Timestamp,
) -> anyhow::Result<Vec<ProjectedContact>> {
    let dir = ThrowawayDir(throwaway_dir("calendar")?);
    run(throwaway_config(config, &dir.0), &live, customer_id, start).await
}

/// A throw-away folder, removed when dropped — also when the work in it is cancelled.
pub struct ThrowawayDir(pub std::path::PathBuf);

impl Drop for ThrowawayDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(
    mut config: Config,
    live: &Store,
    customer_id: CustomerId,
    start: Timestamp,
) -> anyhow::Result<Vec<ProjectedContact>> {
    let year_ago = start - SignedDuration::from_hours(24 * 365);
    let mut tx = live.begin_read().await?;
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
    // A day the live calendar already went through is not gone through again.
    let zone = customer.record.time_zone.as_str().to_string();
    let scanned = tx.last_calendar_scan(&zone).await?;
    tx.commit().await?;

    let carrier = app::stand_in_carrier(&mut config).await?;
    // The past is imported with the clock before `start`, so what it sets off is history
    // (discarded at `start`), not part of the coming year.
    let clock = Arc::new(ManualClock::new(year_ago));
    let engine = app::build_engine(&config, clock.clone()).await?;
    let _carrier = carrier.map(|listener| app::serve_stand_in_carrier(&engine, listener));
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
    shop::import_history(&engine, &history, start).await?;
    clock.set(start);
    let end = start + SignedDuration::from_hours(24 * 365);
    shop::run_live(&engine, &clock, &[], start, end, |_, _| {}).await?;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A contact calendar or a UI simulation must not create codes in the live shop, tell
    /// the shop of consent, or call the brand's systems.
    #[test]
    fn a_throw_away_run_reaches_nothing_outside() {
        let mut config = Config::validate_table(toml::Table::new()).unwrap();
        config.connectors.shop_codes = Some(aftercare_domain::webhooks::ShopCodes {
            platform: aftercare_domain::webhooks::ShopPlatform::Shopify,
            url: "https://shop.myshopify.com/admin/api/2025-10/graphql.json".into(),
            token: "shpat_0123456789abcdef".into(),
        });
        config.connectors.consent_webhook = Some("crm".into());
        config.webhooks.insert(
            "crm".into(),
            aftercare_domain::webhooks::WebhookTarget {
                url: "https://crm.example/hooks".into(),
                secret: "s".repeat(32),
            },
        );
        config.smtp_url = Some(crate::config::Secret("smtp://mail.example:25".into()));
        let thrown = throwaway_config(config, std::path::Path::new("/tmp/x"));
        assert!(thrown.connectors.shop_codes.is_none());
        assert!(thrown.connectors.consent_webhook.is_none());
        assert!(thrown.smtp_url.is_none());
        assert_eq!(
            thrown.webhooks["crm"].url,
            "http://127.0.0.1:9/throw-away-run"
        );
        assert!(thrown.link_secret.is_none());
    }
}
