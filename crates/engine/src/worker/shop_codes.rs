//! The `shop_codes` job (issue 24, `[connectors.shop_codes]`): every code Aftercare issued
//! that is still valid and not yet in the shop is created there, oldest first, a batch at a
//! time. The coupon row is the outbox: its `shop_state` stays empty until the shop said
//! yes (or that it has the code already, after a try whose answer was lost) or no, so a
//! worker killed mid-way loses nothing and a repeat creates nothing twice. Only what the
//! shop says about the code itself (Shopify's `userErrors`, WooCommerce's 400) refuses it,
//! kept with the shop's reason (`GET /v1/coupons/{code}` shows it); a shop that is down,
//! throttling, or answers about the connection (a wrong token, address or API version) is
//! tried again a minute later, the codes waiting. Codes issued before the shop was
//! connected follow on the first runs, as often as they may still be used.

use aftercare_channels::webhook::ApiAuth;
use aftercare_domain::webhooks::{ShopCodes, ShopPlatform};

use super::*;
use crate::connectors::codes::{self, Outcome};

/// Codes created per run; a full batch comes back at once for the next. Small enough that
/// a batch of calls at their 10 s timeout ends well inside the job's lease.
const BATCH: i64 = 8;
/// How soon new codes are looked for.
const EVERY: SignedDuration = SignedDuration::from_secs(30);
/// How long a shop in trouble is left alone.
const AFTER_TROUBLE: SignedDuration = SignedDuration::from_secs(60);

impl Engine {
    /// Creates the codes Aftercare issues in the shop too (`[connectors.shop_codes]`).
    pub fn with_shop_codes(mut self, shop: Option<ShopCodes>) -> Self {
        self.shop_codes = shop.map(Arc::new);
        self
    }

    /// Makes sure the `shop_codes` job exists when a shop is connected for codes.
    pub async fn ensure_shop_codes(&self) -> Result<(), EngineError> {
        if self.shop_codes.is_none() {
            return Ok(());
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // Also brings it back from the dead-job list (set aside by an older worker that did
        // not know the kind, or after repeated store errors).
        tx.ensure_shop_codes_job(now, now).await?;
        Ok(tx.commit().await?)
    }

    /// One run of the `shop_codes` job.
    pub(super) async fn create_shop_codes(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Some(shop) = self.shop_codes.clone() else {
            // No longer configured: the job waits, doing nothing.
            let mut tx = self.store.begin().await?;
            tx.reschedule_job(job.id, &self.worker_id, now + SignedDuration::from_hours(1))
                .await?;
            return Ok(tx.commit().await?);
        };
        let mut tx = self.store.begin().await?;
        tx.set_aside_coupons_for_shop(now).await?;
        let pending = tx.coupons_for_shop(BATCH).await?;
        tx.commit().await?;
        let mut next = now + EVERY;
        if pending.len() as i64 == BATCH {
            next = now;
        }
        for code in &pending {
            let title = self
                .loyalty
                .pool(&code.pool_id)
                .map_or_else(|| code.pool_id.clone(), |p| p.name.clone());
            let outcome = self.create_in_shop(&shop, code, &title).await;
            let (state, note) = match &outcome {
                Outcome::Created => ("created", None),
                Outcome::Refused(reason) => ("refused", Some(reason.as_str())),
                Outcome::Later(reason) => {
                    error!(coupon = code.id, %reason, "The shop did not take a code now; trying again in a minute (check [connectors.shop_codes] if this goes on).");
                    next = now + AFTER_TROUBLE;
                    break;
                }
            };
            if let Some(reason) = note {
                warn!(coupon = code.id, code = %code.display_code, %reason, "The shop refused a code.");
            }
            let mut tx = self.store.begin().await?;
            tx.set_coupon_shop_state(code.id, state, note).await?;
            tx.commit().await?;
        }
        let mut tx = self.store.begin().await?;
        tx.reschedule_job(job.id, &self.worker_id, next).await?;
        Ok(tx.commit().await?)
    }

    async fn create_in_shop(
        &self,
        shop: &ShopCodes,
        code: &aftercare_store::ShopCode,
        title: &str,
    ) -> Outcome {
        match shop.platform {
            ShopPlatform::Shopify => {
                let request = match codes::shopify_request(code, title) {
                    Ok(r) => r,
                    Err(reason) => return Outcome::Refused(reason),
                };
                let auth = ApiAuth::Header("X-Shopify-Access-Token", shop.token.trim());
                match self.webhooks.post_api(&shop.url, auth, &request).await {
                    Ok(answer) => codes::shopify_outcome(&answer),
                    // Any other answer (a wrong token, address or API version) is about
                    // the connection, not the code: it waits until that is put right.
                    Err(e) => Outcome::Later(e.to_string()),
                }
            }
            ShopPlatform::WooCommerce => {
                let request = match codes::woocommerce_request(code, title) {
                    Ok(r) => r,
                    Err(reason) => return Outcome::Refused(reason),
                };
                let (key, secret) = shop.token.trim().split_once(':').unwrap_or_default();
                let auth = ApiAuth::Basic(key, secret);
                match self.webhooks.post_api(&shop.url, auth, &request).await {
                    Ok(_) => Outcome::Created,
                    Err(aftercare_channels::webhook::WebhookError::Refused { status, body }) => {
                        codes::woocommerce_refusal(status, &body)
                    }
                    Err(e) => Outcome::Later(e.to_string()),
                }
            }
        }
    }
}
