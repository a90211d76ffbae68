//! Letters waiting for the print partner, and the daily batches they go out in (CH1).

use crate::MessageId;
use jiff::Timestamp;
use serde::Serialize;

use super::{MESSAGE_COLUMNS, Tx};
use crate::records::MessageRow;
use aftercare_domain::MessageState;

use crate::{Message, Result, StoreError, from_micros, micros};

/// A day's batch of letters for one print partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintBatch {
    /// The batch's number.
    pub id: i64,
    /// The print partner.
    pub partner: String,
    /// The local day whose cut-off closed it (`YYYY-MM-DD`).
    pub day: String,
    /// The day it is posted, and the letters are dated (never a Sunday).
    pub posted_on: String,
    /// The cut-off it closed at.
    pub cut_off_at: Timestamp,
    /// Letters in it.
    pub letters: i64,
    /// When it was made.
    pub created_at: Timestamp,
}

type BatchRow = (i64, String, String, String, i64, i64, i64);

fn batch(row: BatchRow) -> Result<PrintBatch> {
    Ok(PrintBatch {
        id: row.0,
        partner: row.1,
        day: row.2,
        posted_on: row.3,
        cut_off_at: from_micros(row.4)?,
        letters: row.5,
        created_at: from_micros(row.6)?,
    })
}

const BATCH_COLUMNS: &str = "id, partner, batch_day, posted_on, cut_off_at, letters, created_at";

impl Tx {
    /// Marks a letter (already in state `sending`) as waiting for the print batch.
    pub async fn queue_letter(&mut self, message_id: MessageId, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query("UPDATE messages SET print_queued_at = $1 WHERE id = $2")
            .bind(micros(now))
            .bind(message_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Letters waiting for a batch.
    pub async fn letters_waiting(&mut self) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE print_queued_at IS NOT NULL AND print_batch_id IS NULL",
        )
        .fetch_one(&mut *c)
        .await?))
    }

    /// Closes `partner`'s batch of `day`: every letter queued before `cut_off_at` and not in a
    /// batch joins it and becomes `sent`. Returns the batch; the existing one when the day's
    /// batch was made before (closing twice changes nothing); `None` when no letter waits.
    pub async fn close_print_batch(
        &mut self,
        partner: &str,
        day: &str,
        posted_on: &str,
        cut_off_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<PrintBatch>> {
        if let Some(existing) = self.print_batch_on(partner, day).await? {
            return Ok(Some(existing));
        }
        let ids: Vec<MessageId> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT id FROM messages WHERE print_queued_at IS NOT NULL AND print_batch_id IS NULL
               AND print_queued_at < $1 AND state = 'sending' ORDER BY id",
        )
        .bind(micros(cut_off_at))
        .fetch_all(&mut *c)
        .await?);
        if ids.is_empty() {
            return Ok(None);
        }
        let id: i64 = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO print_batches (partner, batch_day, posted_on, cut_off_at, letters, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(partner)
        .bind(day)
        .bind(posted_on)
        .bind(micros(cut_off_at))
        .bind(i64::try_from(ids.len()).unwrap_or(i64::MAX))
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?);
        let reason = format!("in print batch {id} for {partner}, posted {posted_on}");
        for message in ids {
            on_tx!(self, c => sqlx::query("UPDATE messages SET print_batch_id = $1 WHERE id = $2")
                .bind(id)
                .bind(message)
                .execute(&mut *c)
                .await?
                .rows_affected());
            self.transition_message(
                message,
                MessageState::Sending,
                MessageState::Sent,
                &reason,
                now,
            )
            .await?;
        }
        self.print_batch(id).await.map(Some)
    }

    /// A batch by number.
    pub async fn print_batch(&mut self, id: i64) -> Result<PrintBatch> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM print_batches WHERE id = $1");
        let row: Option<BatchRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        batch(row.ok_or_else(|| StoreError::NotFound(format!("print batch {id}")))?)
    }

    /// `partner`'s batch of `day`, if made.
    pub async fn print_batch_on(&mut self, partner: &str, day: &str) -> Result<Option<PrintBatch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM print_batches WHERE partner = $1 AND batch_day = $2"
        );
        let row: Option<BatchRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(partner)
            .bind(day)
            .fetch_optional(&mut *c)
            .await?);
        row.map(batch).transpose()
    }

    /// The newest batches first.
    pub async fn print_batches(&mut self, limit: i64) -> Result<Vec<PrintBatch>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM print_batches ORDER BY id DESC LIMIT $1");
        let rows: Vec<BatchRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(batch).collect()
    }

    /// A batch's letters in page order: by the customer's postcode (the post sorts by it,
    /// and the order no longer depends on which worker planned which letter first), then
    /// by message.
    pub async fn letters_of_batch(&mut self, id: i64) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN customers c ON c.id = m.customer_id
             WHERE m.print_batch_id = $1 ORDER BY COALESCE(c.postcode, ''), m.id"
        );
        let rows: Vec<MessageRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(Message::try_from).collect()
    }
}
