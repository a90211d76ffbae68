//! Letters (CH1): a letter is rendered like any message, checked to fit one A4 page and an
//! envelope window, and waits in state `sending` until the print partner's daily cut-off;
//! then the day's batch takes every waiting letter and they become `sent` ("in print batch
//! 12 for Drukkerij, posted 2026-11-27"). The batch's files — one PDF with a page per
//! letter, the address file and a manifest with counts and checksums — are made from the
//! stored letters whenever they are asked for, so they are the same every time.

use aftercare_channels::letter::{self, AddressRow, Letter, Letterhead};
use aftercare_domain::print::{PrintConfig, address_lines, date_line, posting_day};
use aftercare_store::PrintBatch;

use super::*;
use crate::render::Rendered;

/// A batch's files.
#[derive(Debug, Clone)]
pub struct PrintFiles {
    /// One A4 page per letter.
    pub pdf: Vec<u8>,
    /// The address file (CSV), one row per page.
    pub csv: Vec<u8>,
    /// Counts, days and the files' checksums (JSON).
    pub manifest: Vec<u8>,
}

impl Engine {
    /// Sets the print partner (default [`PrintConfig::default`]).
    pub fn with_print(mut self, print: PrintConfig) -> Self {
        self.print = Arc::new(print);
        self
    }

    /// The print partner.
    pub fn print(&self) -> &PrintConfig {
        &self.print
    }

    /// A letter passed the policy and is rendered: check it fits page and window, store it
    /// and let it wait for the day's batch.
    pub(super) async fn queue_for_print(
        &self,
        mut tx: Tx,
        job: &Job,
        message: &aftercare_store::Message,
        customer: &aftercare_domain::CustomerRecord,
        rendered: Rendered,
        header_id: String,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let name = self.renderer().greeting(customer).full_name;
        let lines = match address_lines(
            name.as_deref(),
            customer.postal_address.as_ref(),
            &self.print.sender_country,
        ) {
            Ok(lines) => lines,
            Err(e) => {
                let reason = format!("blocked: {e} for a letter");
                return self
                    .end_message(tx, job, message, MessageState::Blocked, &reason)
                    .await;
            }
        };
        let check = Letter {
            reference: message.id.to_string(),
            address: lines.clone(),
            date_line: String::new(),
            subject: rendered.subject.clone(),
            body: rendered.text.clone(),
        };
        if let Err(e) = letter::check(&check) {
            return self
                .end_message(
                    tx,
                    job,
                    message,
                    MessageState::Failed,
                    &format!("failed: {e}"),
                )
                .await;
        }
        let address = lines.join("\n");
        tx.set_message_content(
            message.id,
            &aftercare_store::MessageContent {
                recipient: &address,
                subject: &rendered.subject,
                body_text: &rendered.text,
                body_html: &rendered.html,
                greeting: &rendered.greeting,
                header_message_id: &header_id,
            },
        )
        .await?;
        let reason = format!(
            "waiting for the print batch for {} (cut-off {} {})",
            self.print.partner,
            self.print.cut_off.strftime("%H:%M"),
            self.print.time_zone
        );
        tx.transition_message(
            message.id,
            message.state,
            MessageState::Sending,
            &reason,
            now,
        )
        .await?;
        tx.queue_letter(message.id, now).await?;
        self.finish(tx, job).await
    }

    /// The print partner's time zone (UTC when the configured name is unknown).
    fn print_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.print.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The cut-off of local `day` in the print partner's time zone.
    fn cut_off(&self, day: jiff::civil::Date) -> Option<jiff::Timestamp> {
        day.to_datetime(self.print.cut_off)
            .to_zoned_datetime(self.print_zone())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The next cut-off after `now`.
    pub(super) fn next_cut_off(&self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let today = now.to_zoned_datetime(self.print_zone()).date();
        [Some(today), today.tomorrow().ok()]
            .into_iter()
            .flatten()
            .filter_map(|d| self.cut_off(d))
            .find(|t| *t > now)
    }

    /// Closes local `day`'s batch once its cut-off has passed: every letter queued before it.
    /// `None` when the cut-off is still to come or no letter waits; the existing batch when
    /// the day's batch was made before.
    pub async fn close_print_batch(
        &self,
        day: jiff::civil::Date,
    ) -> Result<Option<PrintBatch>, EngineError> {
        let now = self.clock.now();
        let Some(cut_off) = self.cut_off(day).filter(|t| *t <= now) else {
            return Ok(None);
        };
        let mut tx = self.store.begin().await?;
        let batch = tx
            .close_print_batch(
                &self.print.partner,
                &day.to_string(),
                &posting_day(day).to_string(),
                cut_off,
                now,
            )
            .await?;
        tx.commit().await?;
        if let Some(b) = &batch {
            debug!(batch = b.id, letters = b.letters, day = %b.day, "Print batch closed.");
        }
        Ok(batch)
    }

    /// Closes today's batch when its cut-off has passed (called by the calendar job).
    pub(super) async fn close_due_print_batch(&self) -> Result<(), EngineError> {
        let today = self.clock.now().to_zoned_datetime(self.print_zone()).date();
        self.close_print_batch(today).await.map(|_| ())
    }

    /// A batch's files, made from its stored letters.
    pub async fn print_files(&self, batch: &PrintBatch) -> Result<PrintFiles, EngineError> {
        let mut tx = self.store.begin_read().await?;
        let messages = tx.letters_of_batch(batch.id).await?;
        let mut customers = HashMap::new();
        for m in &messages {
            if let std::collections::hash_map::Entry::Vacant(e) = customers.entry(m.customer_id) {
                e.insert(tx.customer(m.customer_id).await?.record);
            }
        }
        tx.commit().await?;
        let posted: jiff::civil::Date = batch
            .posted_on
            .parse()
            .map_err(|e| EngineError::Print(format!("{}: {e}", batch.id)))?;
        let renderer = self.renderer();
        let brand = renderer.brand();
        let head = Letterhead {
            brand: brand.name.clone(),
            colour: brand.primary_rgb().unwrap_or((0x1d, 0x1d, 0x1b)),
            return_address: self.print.return_address.clone(),
            footer: [
                brand.site_url.as_str(),
                brand.contact_phone.as_str(),
                brand.contact_email.as_str(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        };
        let mut letters = Vec::with_capacity(messages.len());
        let mut rows = Vec::with_capacity(messages.len());
        let mut countries: std::collections::BTreeMap<String, usize> = Default::default();
        for m in &messages {
            // An erased customer's letter has no address or text left: it is not printed.
            let (Some(address), Some(body)) = (m.recipient.as_deref(), m.body_text.as_deref())
            else {
                continue;
            };
            let Some(customer) = customers.get(&m.customer_id) else {
                continue;
            };
            let lines: Vec<String> = address.lines().map(str::to_string).collect();
            let country = customer
                .postal_address
                .as_ref()
                .map(|a| a.country.clone())
                .unwrap_or_default();
            *countries.entry(country.clone()).or_default() += 1;
            rows.push(AddressRow {
                page: letters.len() + 1,
                reference: m.id.to_string(),
                customer: m.customer_external_id.clone(),
                line_1: lines.first().cloned().unwrap_or_default(),
                line_2: lines.get(1).cloned().unwrap_or_default(),
                line_3: lines.get(2).cloned().unwrap_or_default(),
                line_4: lines.get(3).cloned().unwrap_or_default(),
                country,
            });
            letters.push(Letter {
                reference: m.id.to_string(),
                address: lines,
                date_line: date_line(&self.print.sender_city, posted, customer.locale),
                subject: m.subject.clone().unwrap_or_default(),
                body: body.to_string(),
            });
        }
        let pdf = letter::pdf(&letters, &head).map_err(|e| EngineError::Print(e.to_string()))?;
        let csv = letter::csv(&rows).map_err(|e| EngineError::Print(e.to_string()))?;
        let manifest = serde_json::json!({
            "batch": batch.id,
            "partner": batch.partner,
            "day": batch.day,
            "cut_off": batch.cut_off_at.to_string(),
            "posted_on": batch.posted_on,
            "letters": letters.len(),
            "pages": letters.len(),
            "countries": countries,
            "paper": "A4, simplex, DIN 5008 form B (window envelope DL or C5/6, window left)",
            "files": [
                {"name": "letters.pdf", "bytes": pdf.len(), "sha256": letter::sha256(&pdf)},
                {"name": "addresses.csv", "bytes": csv.len(), "sha256": letter::sha256(&csv)},
            ],
        });
        let manifest =
            serde_json::to_vec_pretty(&manifest).map_err(|e| EngineError::Print(e.to_string()))?;
        Ok(PrintFiles { pdf, csv, manifest })
    }
}
