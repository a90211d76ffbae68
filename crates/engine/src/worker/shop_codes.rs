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
//!
//! Is it the shop or the code? Throttling, a gateway, the network or a wrong token are the
//! shop's: the run stops, nothing counts, and the code stays first in line. A 500 — the
//! shop failed on this very request — may be the code's (a plugin that crashes on one
//! coupon): that code waits on its own (two minutes at first) so the next run starts with
//! the codes behind it, and when the shop answered about other codes in the same run or
//! since this code's last try (the moment is kept as the cursor [`ANSWERED`]) — or, when
//! it is the only code waiting, answers a harmless question (Shopify: the shop's id; WooCommerce:
//! one coupon of the list) — its try counts, its wait doubles, and after [`MAX_TRIES`] it
//! is refused with the shop's last answer; so a lone code the shop fails on is not tried
//! until it expires. A run in which the shop answered nothing stops after a second 500.

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
/// Tries a code gets while the shop takes others, before it is refused (about eight and a
/// half hours, the waits doubling from four minutes).
pub const MAX_TRIES: i32 = 8;
/// The cursor holding when the shop last answered about a code (created or refused it).
const ANSWERED: &str = "shop_codes.answered";

/// How long a code waits after a try the shop failed on: two minutes when nothing shows
/// that the trouble is the code's, else doubling with its counted tries.
pub(super) fn wait_after(counted_tries: i32) -> SignedDuration {
    let first = SignedDuration::from_mins(2);
    let cap = SignedDuration::from_mins(2 << MAX_TRIES);
    super::doubling(first, counted_tries.max(0).saturating_add(1), cap)
}

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
        let pending = tx.coupons_for_shop(now, BATCH).await?;
        let answered_at = tx.cursor(ANSWERED).await?;
        tx.commit().await?;
        let mut next = now + EVERY;
        if pending.len() as i64 == BATCH {
            next = now;
        }
        // Whether the shop answered about a code this run, and the codes it failed on.
        let mut shop_answered = false;
        let mut failed = Vec::new();
        let mut trouble = None;
        for code in &pending {
            let title = self
                .loyalty
                .pool(&code.pool_id)
                .map_or_else(|| code.pool_id.clone(), |p| p.name.clone());
            let (state, note) = match self.create_in_shop(&shop, code, &title).await {
                // About the shop (throttled, down, a wrong token): nothing counts, this code
                // stays first in line, and the run stops here.
                (Outcome::Later(reason), _) => {
                    trouble = Some((code, reason));
                    break;
                }
                (Outcome::Failed(reason), _) => {
                    failed.push((code, reason));
                    if failed.len() >= 2 && !shop_answered {
                        break;
                    }
                    continue;
                }
                (Outcome::Created, _) => {
                    shop_answered = true;
                    ("created", None)
                }
                (Outcome::Refused(reason), asked) => {
                    shop_answered |= asked;
                    ("refused", Some(reason))
                }
            };
            if let Some(reason) = &note {
                warn!(coupon = code.id, code = %code.display_code, %reason, "The shop refused a code.");
            }
            let mut tx = self.store.begin().await?;
            tx.set_coupon_shop_state(code.id, state, note.as_deref())
                .await?;
            tx.commit().await?;
        }
        // The only code waiting failed, and the shop said nothing else: whether it answers a
        // harmless question tells a code it fails on from a shop that fails on everything.
        // Two codes failing with nothing taken stays the shop's trouble (a shop that fails
        // every new coupon but still answers reads must not get its backlog refused).
        let mut shop_up = shop_answered;
        if pending.len() == 1 && failed.len() == 1 && trouble.is_none() {
            shop_up = self.shop_answers(&shop).await;
        }
        let mut tx = self.store.begin().await?;
        if shop_answered {
            tx.set_cursor(ANSWERED, now).await?;
        }
        if let Some((code, reason)) = &trouble {
            tx.set_coupon_shop_wait(code.id, reason, now, now, false)
                .await?;
            error!(%reason, "The shop took no code now; trying again in a minute (check [connectors.shop_codes] if this goes on).");
            next = now + AFTER_TROUBLE;
        }
        if !failed.is_empty() {
            for (code, reason) in &failed {
                // The shop answered about other codes since this one's last try.
                let answered_since = answered_at
                    .zip(code.shop_tried_at)
                    .is_some_and(|(answered, tried)| answered > tried);
                if !(shop_up || answered_since) {
                    let wait = wait_after(code.shop_tries);
                    tx.set_coupon_shop_wait(code.id, reason, now, now + wait, false)
                        .await?;
                    continue;
                }
                let tries = code.shop_tries + 1;
                if tries >= MAX_TRIES {
                    let note = format!(
                        "the shop failed on this code {tries} times while it answered other requests; its last answer: {reason}"
                    );
                    warn!(coupon = code.id, code = %code.display_code, reason = %note, "The shop refused a code.");
                    tx.set_coupon_shop_state(code.id, "refused", Some(&note))
                        .await?;
                } else {
                    warn!(coupon = code.id, code = %code.display_code, %reason, tries, "The shop failed on a code while it took others; it waits and is tried again.");
                    tx.set_coupon_shop_wait(code.id, reason, now, now + wait_after(tries), true)
                        .await?;
                }
            }
            if !shop_up && trouble.is_none() {
                let reason = &failed[0].1;
                error!(%reason, "The shop failed on every code it was asked for now; trying again in a minute.");
                next = now + AFTER_TROUBLE;
            }
        }
        tx.reschedule_job(job.id, &self.worker_id, next).await?;
        Ok(tx.commit().await?)
    }

    /// What the shop made of a code, and whether the shop was asked (a code refused
    /// before any call, such as a gift code, says nothing about the shop).
    async fn create_in_shop(
        &self,
        shop: &ShopCodes,
        code: &aftercare_store::ShopCode,
        title: &str,
    ) -> (Outcome, bool) {
        let request = match shop.platform {
            ShopPlatform::Shopify => codes::shopify_request(code, title),
            ShopPlatform::WooCommerce => codes::woocommerce_request(code, title),
        };
        match request {
            Ok(request) => (self.ask_shop(shop, &request).await, true),
            Err(reason) => (Outcome::Refused(reason), false),
        }
    }

    /// Whether the shop answers a harmless question (Shopify: the shop's id; WooCommerce:
    /// one coupon of the list).
    async fn shop_answers(&self, shop: &ShopCodes) -> bool {
        match shop.platform {
            ShopPlatform::Shopify => {
                let auth = ApiAuth::Header("X-Shopify-Access-Token", shop.token.trim());
                let probe = serde_json::json!({"query": codes::SHOPIFY_PROBE});
                self.webhooks
                    .post_api(&shop.url, auth, &probe)
                    .await
                    .is_ok_and(|answer| codes::shopify_answered(&answer))
            }
            ShopPlatform::WooCommerce => {
                let (key, secret) = shop.token.trim().split_once(':').unwrap_or_default();
                let auth = ApiAuth::Basic(key, secret);
                // The coupon list itself, not a page a cache or maintenance mode serves.
                self.webhooks
                    .get_api(&shop.url, auth, &[("per_page", "1")])
                    .await
                    .is_ok_and(|answer| {
                        serde_json::from_str::<serde_json::Value>(&answer)
                            .is_ok_and(|v| v.is_array())
                    })
            }
        }
    }

    async fn ask_shop(&self, shop: &ShopCodes, request: &serde_json::Value) -> Outcome {
        match shop.platform {
            ShopPlatform::Shopify => {
                let auth = ApiAuth::Header("X-Shopify-Access-Token", shop.token.trim());
                match self.webhooks.post_api(&shop.url, auth, request).await {
                    Ok(answer) => codes::shopify_outcome(&answer),
                    Err(e) if e.failed_on_request() => Outcome::Failed(e.to_string()),
                    // Any other answer (a wrong token, address or API version, throttling,
                    // a gateway) is about the connection, not the code: it waits until that
                    // is put right.
                    Err(e) => Outcome::Later(e.to_string()),
                }
            }
            ShopPlatform::WooCommerce => {
                let (key, secret) = shop.token.trim().split_once(':').unwrap_or_default();
                let auth = ApiAuth::Basic(key, secret);
                match self.webhooks.post_api(&shop.url, auth, request).await {
                    Ok(_) => Outcome::Created,
                    Err(aftercare_channels::webhook::WebhookError::Refused { status, body }) => {
                        codes::woocommerce_refusal(status, &body)
                    }
                    Err(e) if e.failed_on_request() => Outcome::Failed(e.to_string()),
                    Err(e) => Outcome::Later(e.to_string()),
                }
            }
        }
    }
}
