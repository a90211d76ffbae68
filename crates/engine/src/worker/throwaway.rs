//! A throw-away copy of the engine: the same policy, loyalty, retention, scores and print
//! settings over another store and clock, with everything that reaches outside cut off. The
//! lab's simulations and contact calendars run on it (issue 20: they take the live engine,
//! not the binary's configuration).

use std::sync::Arc;

use aftercare_domain::Clock;
use aftercare_store::Store;

use super::{Delivery, Engine, random_hex};
use crate::links::LinkSigner;
use crate::render::Renderer;
use crate::versions::Programmes;

/// Where a throw-away run's webhooks go: a closed loopback port, so a call fails at once.
pub const THROWAWAY_TARGET: &str = "http://127.0.0.1:9/throw-away-run";

impl Engine {
    /// A copy of this engine's settings over `store` and `clock`, running `programmes` with
    /// `renderer`, that reaches nothing real:
    /// - no SMTP (the built-in outbox only), no shop to create codes in, no consent webhook;
    /// - every `[webhooks]` target, kept by name so programmes still check, points at a
    ///   closed loopback port;
    /// - no carrier (set a stand-in with [`Engine::with_tracking`]);
    /// - links signed with a secret of its own: signed with the live one, they would open
    ///   the live customer who happens to have the throw-away id;
    /// - nothing pruned: nothing in a throw-away year is old enough to matter, and pruning
    ///   twice a simulated day was most of a contact calendar's time.
    pub fn throwaway_copy(
        &self,
        store: Store,
        clock: Arc<dyn Clock>,
        programmes: Arc<Programmes>,
        renderer: Arc<Renderer>,
    ) -> Engine {
        let secret = random_hex();
        let mut targets = (*self.webhook_targets).clone();
        for target in targets.values_mut() {
            target.url = THROWAWAY_TARGET.into();
        }
        Engine::new(
            store,
            clock,
            programmes,
            renderer,
            Delivery::OutboxOnly,
            format!("{}-throwaway", self.worker_id),
        )
        .with_check_context((*self.check_context).clone())
        .with_lease(self.lease)
        .with_concurrency(self.concurrency)
        .with_policy(self.policy.clone())
        .with_loyalty((*self.loyalty).clone())
        .with_retention((*self.retention).clone())
        .with_scores((*self.scores).clone())
        .with_attribution((*self.attribution).clone())
        .with_print((*self.print).clone())
        .with_channels((*self.channels).clone())
        .with_webhook_targets(targets)
        .with_open_tracking(self.track_opens)
        .with_housekeeping(crate::housekeeping::HousekeepingConfig {
            idempotency_key_days: 0,
            dead_job_days: 0,
            hook_delivery_days: 0,
            event_days: 0,
            personal_data_days: 0,
            simulation_days: 0,
        })
        .with_links(LinkSigner::new(&secret, self.links.base_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftercare_domain::ManualClock;
    use aftercare_domain::webhooks::{ShopCodes, ShopPlatform, WebhookTarget};

    /// A contact calendar or a simulation must not send mail, create codes in the live
    /// shop, tell the shop of consent, call the brand's systems or sign live links.
    #[tokio::test]
    async fn a_throw_away_copy_reaches_nothing_outside() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../programmes/templates"
        ));
        let renderer = Arc::new(Renderer::load_dir(dir, crate::render::Brand::default()).unwrap());
        let programmes = Arc::new(Programmes::from_library(Default::default()));
        let mut targets = std::collections::BTreeMap::new();
        targets.insert(
            "crm".to_string(),
            WebhookTarget {
                url: "https://crm.example/hooks".into(),
                secret: "s".repeat(32),
            },
        );
        let mailer =
            aftercare_channels::email::SmtpMailer::from_url("smtp://mail.example:25").unwrap();
        let live = Engine::new(
            store.clone(),
            clock.clone(),
            programmes.clone(),
            renderer.clone(),
            Delivery::Smtp(mailer),
            "live".into(),
        )
        .with_shop_codes(Some(ShopCodes {
            platform: ShopPlatform::Shopify,
            url: "https://shop.myshopify.com/admin/api/2025-10/graphql.json".into(),
            token: "shpat_0123456789abcdef".into(),
        }))
        .with_consent_webhook(Some("crm".into()))
        .with_webhook_targets(targets)
        .with_links(LinkSigner::new(b"live secret", "https://shop.example"));
        let copy = live.throwaway_copy(store, clock, programmes, renderer);
        assert!(matches!(copy.delivery, Delivery::OutboxOnly));
        assert!(copy.shop_codes.is_none());
        assert!(copy.consent_webhook().is_none());
        assert_eq!(copy.webhook_targets["crm"].url, THROWAWAY_TARGET);
        assert_eq!(live.webhook_targets["crm"].url, "https://crm.example/hooks");
        assert_eq!(copy.links().base_url(), "https://shop.example");
        let (page, until) = (crate::links::Page::Preferences, jiff::Timestamp::MAX);
        assert_ne!(
            copy.links()
                .url(page, aftercare_store::CustomerId(1), until),
            live.links()
                .url(page, aftercare_store::CustomerId(1), until),
            "a throw-away link must not open the live customer"
        );
    }
}
