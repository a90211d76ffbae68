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
