//! Click tracking (issue 6): the web links of a message whose step tracks clicks, by
//! position, and the clicks on their signed redirects; and opens, when configured.

use crate::CustomerId;
use crate::MessageId;
use jiff::Timestamp;

use super::Tx;
use crate::{Result, micros};

impl Tx {
    /// Stores a message's tracked link at `position` (again on a resend: the first stays).
    pub async fn track_link(
        &mut self,
        message_id: MessageId,
        position: i32,
        url: &str,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO message_links (message_id, position, url) VALUES ($1, $2, $3)
             ON CONFLICT (message_id, position) DO NOTHING",
        )
        .bind(message_id)
        .bind(position)
        .bind(url)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Where a message's tracked link at `position` goes, if it exists.
    pub async fn tracked_link(
        &mut self,
        message_id: MessageId,
        position: i32,
    ) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT url FROM message_links WHERE message_id = $1 AND position = $2",
        )
        .bind(message_id)
        .bind(position)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Records a click on a tracked link.
    pub async fn record_click(
        &mut self,
        message_id: MessageId,
        position: i32,
        at: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO link_clicks (message_id, position, at) VALUES ($1, $2, $3)",
        )
        .bind(message_id)
        .bind(position)
        .bind(micros(at))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// A message's tracked links with their click counts, in order.
    pub async fn link_clicks(&mut self, message_id: MessageId) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT l.url, COUNT(k.id) FROM message_links l
             LEFT JOIN link_clicks k ON k.message_id = l.message_id AND k.position = l.position
             WHERE l.message_id = $1 GROUP BY l.position, l.url ORDER BY l.position",
        )
        .bind(message_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Records that an email's pixel was loaded.
    pub async fn record_open(&mut self, message_id: MessageId, at: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query("INSERT INTO message_opens (message_id, at) VALUES ($1, $2)")
            .bind(message_id)
            .bind(micros(at))
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// How often an email's pixel was loaded.
    pub async fn opens(&mut self, message_id: MessageId) -> Result<i64> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT COUNT(*) FROM message_opens WHERE message_id = $1")
            .bind(message_id)
            .fetch_one(&mut *c)
            .await?),
        )
    }

    /// Clicks and opens per message of one customer (messages with neither are left out).
    pub async fn engagement_of_customer(
        &mut self,
        customer_id: CustomerId,
    ) -> Result<std::collections::HashMap<MessageId, (i64, i64)>> {
        let clicks: Vec<(MessageId, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT k.message_id, COUNT(*) FROM link_clicks k JOIN messages m ON m.id = k.message_id
             WHERE m.customer_id = $1 GROUP BY k.message_id",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let opens: Vec<(MessageId, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT o.message_id, COUNT(*) FROM message_opens o JOIN messages m ON m.id = o.message_id
             WHERE m.customer_id = $1 GROUP BY o.message_id",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let mut out = std::collections::HashMap::new();
        for (message, n) in clicks {
            out.entry(message).or_insert((0, 0)).0 = n;
        }
        for (message, n) in opens {
            out.entry(message).or_insert((0, 0)).1 = n;
        }
        Ok(out)
    }
}
