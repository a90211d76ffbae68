//! `[webhooks.<name>]`: the brand's own systems a programme's `webhook` step may call — a
//! URL and the secret the call is signed with (HMAC-SHA256 over timestamp and body, see
//! `aftercare_channels::webhook`). Programme files name a target; secrets stay in the
//! configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// One system to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Where to POST (http or https).
    pub url: String,
    /// The signing secret, at least 32 characters.
    pub secret: String,
}

/// Checks every target; the error names the key.
pub fn check(targets: &BTreeMap<String, WebhookTarget>) -> Result<(), FieldError> {
    for (name, t) in targets {
        if !(t.url.starts_with("https://") || t.url.starts_with("http://")) {
            return Err(FieldError::new(
                format!("webhooks.{name}.url"),
                format!("'{}' must start with https:// or http://", t.url),
            ));
        }
        if t.secret.len() < 32 {
            return Err(FieldError::new(
                format!("webhooks.{name}.secret"),
                "must be at least 32 characters",
            ));
        }
    }
    Ok(())
}

/// `[channels]`: the `[webhooks]` targets that carry SMS and app push to the brand's
/// providers (CH1), and how long an SMS may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelProviders {
    /// The target SMS messages are posted to.
    pub sms: Option<String>,
    /// The target app push messages are posted to.
    pub push: Option<String>,
    /// At most this many SMS parts (160 plain characters in one; see `crate::sms`); a
    /// longer text is blocked, not cut.
    pub sms_max_parts: usize,
}

impl Default for ChannelProviders {
    fn default() -> Self {
        Self {
            sms: None,
            push: None,
            sms_max_parts: 2,
        }
    }
}

impl ChannelProviders {
    /// The target carrying `channel`, for SMS and push.
    pub fn target(&self, channel: crate::Channel) -> Option<&str> {
        match channel {
            crate::Channel::Sms => self.sms.as_deref(),
            crate::Channel::Push => self.push.as_deref(),
            _ => None,
        }
    }

    /// The channels that have a provider.
    pub fn providers(&self) -> std::collections::HashSet<crate::Channel> {
        [crate::Channel::Sms, crate::Channel::Push]
            .into_iter()
            .filter(|c| self.target(*c).is_some())
            .collect()
    }

    /// Checks that each named target is in `[webhooks]`; the error names the key.
    pub fn check(&self, targets: &BTreeMap<String, WebhookTarget>) -> Result<(), FieldError> {
        for (key, name) in [("sms", &self.sms), ("push", &self.push)] {
            if let Some(name) = name
                && !targets.contains_key(name)
            {
                return Err(FieldError::new(
                    format!("channels.{key}"),
                    format!("'{name}' is not a target in [webhooks]"),
                ));
            }
        }
        if self.sms_max_parts == 0 {
            return Err(FieldError::new(
                "channels.sms_max_parts",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_needs_a_web_url_and_a_long_secret() {
        let mut targets = BTreeMap::new();
        targets.insert(
            "crm".to_string(),
            WebhookTarget {
                url: "ftp://crm.example".into(),
                secret: "x".repeat(32),
            },
        );
        let e = check(&targets).unwrap_err();
        assert_eq!(e.field, "webhooks.crm.url");
        targets.get_mut("crm").unwrap().url = "https://crm.example/hook".into();
        targets.get_mut("crm").unwrap().secret = "short".into();
        assert_eq!(check(&targets).unwrap_err().field, "webhooks.crm.secret");
        targets.get_mut("crm").unwrap().secret = "s".repeat(32);
        assert!(check(&targets).is_ok());
    }
}

/// The shop platform whose discount codes Aftercare creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShopPlatform {
    /// Shopify's Admin GraphQL API (`discountCodeBasicCreate`).
    Shopify,
    /// WooCommerce's REST API (`POST /wp-json/wc/v3/coupons`).
    WooCommerce,
}

/// `[connectors.shop_codes]`: every code Aftercare issues (programmes, campaigns, rewards,
/// referrals, the API) is also created in the shop, so it works at the shop's own checkout
/// without the shop asking Aftercare (issue 24).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopCodes {
    /// `shopify` or `woocommerce`.
    pub platform: ShopPlatform,
    /// Shopify: the Admin API's GraphQL address, version 2025-10 or later (the first with
    /// a discount's `context`): `https://<shop>.myshopify.com/admin/api/2025-10/graphql.json`;
    /// WooCommerce: the
    /// coupons endpoint (`https://<shop>/wp-json/wc/v3/coupons`).
    pub url: String,
    /// Shopify: the Admin API access token (`shpat_…`, scope `write_discounts`);
    /// WooCommerce: `consumer_key:consumer_secret` (`ck_…:cs_…`, read/write).
    pub token: String,
}

impl std::fmt::Debug for ShopCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopCodes")
            .field("platform", &self.platform)
            .field("url", &self.url)
            .field("token", &"***")
            .finish()
    }
}

/// The oldest Shopify Admin API version whose `DiscountCodeBasicInput` has `context`.
pub const SHOPIFY_API_FROM: &str = "2025-10";

impl ShopCodes {
    /// Checks the address and the token's form; the error names the key. The token goes
    /// over https only, unless `plain_http` (a shop on a private network, tests).
    pub fn check(&self, plain_http: bool) -> Result<(), FieldError> {
        let url_error = |reason: String| FieldError::new("connectors.shop_codes.url", reason);
        if !(self.url.starts_with("https://") || (plain_http && self.url.starts_with("http://"))) {
            return Err(url_error(format!(
                "'{}' must start with https:// (the token goes with every call)",
                self.url
            )));
        }
        if self.platform == ShopPlatform::Shopify {
            let version = self
                .url
                .split_once("/admin/api/")
                .and_then(|(_, rest)| rest.split('/').next())
                .unwrap_or("");
            let dated = version.len() == 7
                && version.bytes().enumerate().all(|(i, b)| {
                    if i == 4 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if !(version == "unstable" || (dated && version >= SHOPIFY_API_FROM)) {
                return Err(url_error(format!(
                    "the Admin API's GraphQL address with version {SHOPIFY_API_FROM} or later, e.g. https://<shop>.myshopify.com/admin/api/{SHOPIFY_API_FROM}/graphql.json (found '{version}')"
                )));
            }
        }
        let token = self.token.trim();
        let ok = match self.platform {
            ShopPlatform::Shopify => token.len() >= 16,
            ShopPlatform::WooCommerce => token
                .split_once(':')
                .is_some_and(|(k, s)| !k.is_empty() && !s.is_empty()),
        };
        if !ok {
            return Err(FieldError::new(
                "connectors.shop_codes.token",
                match self.platform {
                    ShopPlatform::Shopify => "the Admin API access token (shpat_…)",
                    ShopPlatform::WooCommerce => "consumer_key:consumer_secret (ck_…:cs_…)",
                },
            ));
        }
        Ok(())
    }
}
