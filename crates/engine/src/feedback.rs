//! The mail provider's feedback (issue 6): a hard bounce suppresses the address — no email
//! goes to it until the customer's address changes — and a spam complaint withdraws the
//! customer's marketing consent for email (source `spam_complaint`), at once, also for
//! queued messages; orders and deliveries keep being confirmed. A soft bounce changes
//! nothing (the provider retries). Each is also an event on the customer's timeline.
//! Bounce mails themselves (RFC 3464 delivery status notifications) are read by
//! [`from_dsn`], with mail-parser for the MIME structure.

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
    #[schema(pattern = "^(bounce|complaint)$")]
    pub kind: String,
    /// The recipient address it is about.
    #[schema(max_length = 254)]
    pub email: String,
    /// For a bounce: permanent (hard, e.g. 5.1.1 unknown user) or not.
    #[serde(default)]
    pub permanent: bool,
    /// What the provider said, e.g. `550 5.1.1 user unknown`.
    #[serde(default)]
    #[schema(max_length = 1000, format = "text")]
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
    consent_webhook: Option<&str>,
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
        if !f.email.contains('@') || f.email.chars().count() > 254 {
            return Err(
                FieldError::new(format!("events[{i}].email"), "must be an email address").into(),
            );
        }
        aftercare_domain::text::text(&format!("events[{i}].detail"), &f.detail, 1000)?;
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
                    if customer
                        .record
                        .consent(Purpose::Marketing, Channel::Email)
                        .is_some_and(|c| !c.granted)
                    {
                        // Withdrawn already: nothing new for the record or the shop.
                        applied.unsubscribed += 1;
                        continue;
                    }
                    let consent = Consent {
                        purpose: Purpose::Marketing,
                        channel: Channel::Email,
                        granted: false,
                        source: "spam_complaint".into(),
                        at: f.at,
                    };
                    customer.record.consents.push(consent.clone());
                    tx.update_customer_record(*id, &customer.record, now)
                        .await?;
                    crate::privacy::tell_shop(
                        tx,
                        consent_webhook,
                        &customer.record,
                        &[consent],
                        now,
                    )
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

/// The bounces a delivery status notification (RFC 3464) reports: one per recipient whose
/// `Action` is `failed` or `delayed` — permanent when its `Status` is 5.x.x — with the
/// `Diagnostic-Code` (or the status) as the detail. `Err` names what is wrong with `body`.
pub fn from_dsn(raw: &[u8], at: Timestamp) -> Result<Vec<Feedback>, FieldError> {
    use mail_parser::MimeHeaders;
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or_else(|| FieldError::new("body", "is not an email message"))?;
    let report = message
        .parts
        .iter()
        .find(|p| {
            p.content_type().is_some_and(|c| {
                c.ctype().eq_ignore_ascii_case("message")
                    && c.subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
            })
        })
        .ok_or_else(|| {
            FieldError::new(
                "body",
                "is not a delivery status notification (no message/delivery-status part, RFC 3464)",
            )
        })?;
    let text = String::from_utf8_lossy(report.contents()).replace("\r\n", "\n");
    let mut out = Vec::new();
    // The first block is about the reporting MTA; each further block is one recipient.
    for block in text.split("\n\n").skip(1) {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let action = field("Action").unwrap_or_default().to_lowercase();
        if action != "failed" && action != "delayed" {
            continue;
        }
        let Some(recipient) = field("Final-Recipient").or_else(|| field("Original-Recipient"))
        else {
            continue;
        };
        // "rfc822; jan@example.nl"
        let email = recipient
            .split_once(';')
            .map_or(recipient.as_str(), |(_, a)| a)
            .trim()
            .to_string();
        let status = field("Status").unwrap_or_default();
        let detail = field("Diagnostic-Code")
            .map(|d| {
                d.split_once(';')
                    .map_or(d.clone(), |(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| status.clone());
        out.push(Feedback {
            kind: "bounce".into(),
            email,
            permanent: action == "failed" && status.starts_with('5'),
            detail,
            at,
        });
    }
    if out.is_empty() {
        return Err(FieldError::new(
            "body",
            "reports no failed or delayed recipient",
        ));
    }
    Ok(out)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bounce mail for two recipients: one failed for good, one delayed.
    pub(crate) const DSN: &str = "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
            --B\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\
            --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
            Final-Recipient: rfc822; jan.devries@example.nl\r\nAction: failed\r\nStatus: 5.1.1\r\n\
            Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
            Final-Recipient: rfc822; anna@example.nl\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n--B--\r\n";

    #[test]
    fn a_bounce_mail_names_the_recipient_and_whether_it_is_permanent() {
        let dsn = DSN;
        let at: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let found = from_dsn(dsn.as_bytes(), at).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].email, "jan.devries@example.nl");
        assert!(found[0].permanent);
        assert_eq!(found[0].detail, "550 5.1.1 user unknown");
        assert_eq!(found[1].email, "anna@example.nl");
        assert!(!found[1].permanent);
        assert_eq!(found[1].detail, "4.2.2");
        let e = from_dsn(b"Subject: hello\r\n\r\nhi\r\n", at).unwrap_err();
        assert_eq!(e.field, "body");
    }
}
