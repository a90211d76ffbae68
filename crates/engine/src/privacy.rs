//! The customer's rights under the GDPR that act on the store: erasure (Art. 17), done the
//! same way whether the team asks in the admin UI or the shop forwards the customer's
//! request (Shopify's `customers/redact`).

use aftercare_domain::CustomerRecord;
use aftercare_store::{StoredCustomer, Tx};
use jiff::Timestamp;
use serde_json::json;

use crate::ingest::IngestError;

/// Removes the customer's personal data: the record keeps only its id, language, time
/// zone and first-purchase date; queued messages are blocked; sent ones keep their template
/// and state (counted in reports) without recipient, subject or bodies. Audited as done by
/// `by`. Returns how many queued messages were blocked.
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
