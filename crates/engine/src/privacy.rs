//! The customer's rights under the GDPR that act on the store: erasure (Art. 17), done the
//! same way whether the team asks in the admin UI or the shop forwards the customer's
//! request (Shopify's `customers/redact`); and consent the customer changes in Aftercare
//! told back to the shop, so its own marketing list agrees (issue 24).

use aftercare_domain::{Consent, CustomerRecord};
use aftercare_store::{JobKind, StoredCustomer, Tx};
use jiff::Timestamp;
use serde_json::json;

use crate::ingest::IngestError;

/// Removes the customer's personal data: the record keeps only its id, language, time
/// zone and first-purchase date; running programmes end for them and queued messages are
/// blocked; sent ones keep their template and state (counted in reports) without
/// recipient, subject or bodies; what their events, enrolments, survey comments and
/// delivery changes carried goes, and so do the payloads naming them in webhook calls made
/// and received (see [`aftercare_store::Tx::erase_customer_traces`]). The customer is
/// marked erased, so importing old history does not fill the record again. Audited as done
/// by `by`. Returns how many queued messages were blocked.
pub async fn erase_customer(
    tx: &mut Tx,
    customer: &StoredCustomer,
    by: &str,
    now: Timestamp,
) -> Result<u64, IngestError> {
    let before = &customer.record;
    let erased = CustomerRecord {
        external_id: before.external_id.clone(),
        locale: before.locale,
        time_zone: before.time_zone.clone(),
        customer_since: before.customer_since,
        email: None,
        phone: None,
        first_name: None,
        name_prefix: None,
        last_name: None,
        gender: aftercare_domain::Gender::default(),
        address_form: None,
        birth_date: None,
        postal_address: None,
        attributes: Default::default(),
        consents: Vec::new(),
    };
    tx.upsert_customer(&erased, now).await?;
    let reason = "the customer's personal data was erased";
    for e in tx.open_enrolments(customer.id, now).await? {
        if e.state.is_open() {
            crate::worker::exit(tx, &e, reason, now).await?;
        }
    }
    // The customer as webhook payloads write them: JSON strings, and a platform's numeric
    // id as a number followed by the end of its value. Too short an id could be anything
    // (a count, a minute), so it is matched only by the email and phone then.
    let id = before.external_id.as_str();
    let mut needles = Vec::new();
    if id.len() >= 6 {
        needles.push(format!("\"{id}\""));
        if id.chars().all(|c| c.is_ascii_digit()) {
            for end in [",", "}", " "] {
                needles.push(format!(":{id}{end}"));
                needles.push(format!(": {id}{end}"));
            }
        }
    }
    needles.extend(before.email.iter().map(|e| format!("\"{}\"", e.as_str())));
    needles.extend(before.phone.iter().map(|p| format!("\"{}\"", p.as_str())));
    tx.erase_customer_traces(customer.id, id, &needles, now)
        .await?;
    let blocked = tx
        .erase_customer_messages(
            customer.id,
            "blocked: the customer's personal data was erased",
            now,
        )
        .await?;
    tx.audit(
        by,
        "customer.erase",
        &format!("customer:{}", before.external_id),
        None,
        Some(&json!({"blocked_messages": blocked}).to_string()),
        now,
    )
    .await?;
    Ok(blocked)
}

/// Stores the signed call telling the shop of consent decisions the customer made in
/// Aftercare (an unsubscribe, the preferences page, a spam complaint): `customer.consent_changed`
/// to the `[connectors] consent_webhook` target, made and retried by a `webhook` job. Nothing
/// when no target is set or nothing changed.
pub async fn tell_shop(
    tx: &mut Tx,
    target: Option<&str>,
    customer: &CustomerRecord,
    changed: &[Consent],
    now: Timestamp,
) -> Result<(), aftercare_store::StoreError> {
    let Some(target) = target else {
        return Ok(());
    };
    if changed.is_empty() {
        return Ok(());
    }
    let payload = json!({
        "event": "customer.consent_changed",
        "customer": {
            "external_id": customer.external_id.as_str(),
            "email": customer.email.as_ref().map(|e| e.as_str()),
            "phone": customer.phone.as_ref().map(|p| p.as_str()),
        },
        "consents": changed,
        "at": now.to_string(),
    });
    let call = tx
        .insert_outgoing_call("customer.consent_changed", target, &payload, now)
        .await?;
    tx.insert_job(JobKind::Webhook, call, now, now).await?;
    Ok(())
}
