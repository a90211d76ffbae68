//! The mail provider's feedback (issue 6): a hard bounce suppresses the address — no email
//! goes to it until the customer's address changes — and a spam complaint withdraws the
//! customer's marketing consent for email (source `spam_complaint`), at once, also for
//! queued messages; orders and deliveries keep being confirmed. A soft bounce changes
//! nothing (the provider retries). Each is also an event on the customer's timeline.

use aftercare_domain::{Channel, Consent, FieldError, Purpose};
use aftercare_store::{StoreError, Tx};
use jiff::Timestamp;
use serde::Deserialize;

use crate::ingest::append_event;

/// One piece of feedback, as providers' webhooks are mapped onto it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// `bounce` or `complaint`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The recipient address it is about.
    pub email: String,
    /// For a bounce: permanent (hard, e.g. 5.1.1 unknown user) or not.
    #[serde(default)]
    pub permanent: bool,
    /// What the provider said, e.g. `550 5.1.1 user unknown`.
    #[serde(default)]
    pub detail: String,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// What the feedback changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Addresses suppressed.
    pub suppressed: usize,
    /// Customers whose marketing consent was withdrawn.
    pub unsubscribed: usize,
    /// Feedback that changes nothing (soft bounces).
    pub ignored: usize,
}

/// Checks every item first (the error names `events[i].field`), then applies them all in
/// `tx`.
pub async fn apply(
    tx: &mut Tx,
    items: &[Feedback],
    now: Timestamp,
) -> Result<Applied, FeedbackError> {
    for (i, f) in items.iter().enumerate() {
        if !matches!(f.kind.as_str(), "bounce" | "complaint") {
            return Err(FieldError::new(
                format!("events[{i}].type"),
                "must be bounce or complaint",
            )
            .into());
        }
        if !f.email.contains('@') {
            return Err(
                FieldError::new(format!("events[{i}].email"), "must be an email address").into(),
            );
        }
        if f.at > now {
            return Err(
                FieldError::new(format!("events[{i}].at"), "must not be in the future").into(),
            );
        }
    }
    let mut applied = Applied::default();
    for f in items {
        let detail = if f.detail.trim().is_empty() {
            f.kind.clone()
        } else {
            f.detail.trim().to_string()
        };
        let customers = tx.customers_with_email(&f.email).await?;
        match (f.kind.as_str(), f.permanent) {
            ("bounce", true) => {
                tx.suppress_email(&f.email, "hard_bounce", &detail, f.at)
                    .await?;
                applied.suppressed += 1;
            }
            ("bounce", false) => {
                applied.ignored += 1;
                continue;
            }
            _ => {
                for id in &customers {
                    let mut customer = tx.customer(*id).await?;
                    customer.record.consents.push(Consent {
                        purpose: Purpose::Marketing,
                        channel: Channel::Email,
                        granted: false,
                        source: "spam_complaint".into(),
                        at: f.at,
                    });
                    tx.update_customer_record(*id, &customer.record, now)
                        .await?;
                    applied.unsubscribed += 1;
                }
            }
        }
        for id in customers {
            let properties =
                serde_json::json!({"kind": f.kind, "permanent": f.permanent, "detail": detail});
            let event = if f.kind == "bounce" {
                "email_bounced"
            } else {
                "email_complaint"
            };
            append_event(tx, id, event, f.at, &properties, None, now).await?;
        }
    }
    Ok(applied)
}

/// Why feedback was not applied.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// A field is wrong; nothing was changed.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
