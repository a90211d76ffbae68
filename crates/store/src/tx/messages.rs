//! Messages and every state change with its reason.

use super::*;
use crate::CustomerId;
use crate::MessageId;

impl Tx {
    /// Creates a planned message; `None` if this enrolment's step already created one.
    pub async fn insert_message(
        &mut self,
        m: &NewMessage<'_>,
        now: Timestamp,
    ) -> Result<Option<MessageId>> {
        let id: Option<MessageId> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO messages (customer_id, enrolment_id, step_key, programme_id, template,
                                   class, channel, state, reason, planned_at, priority, topic, variant)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'planned', $8, $9, $10, $11, $12)
             ON CONFLICT (enrolment_id, step_key) DO NOTHING RETURNING id",
        )
        .bind(m.customer_id)
        .bind(m.enrolment_id)
        .bind(m.step_key)
        .bind(m.programme_id)
        .bind(m.template)
        .bind(m.class.as_str())
        .bind(m.channel.as_str())
        .bind(m.reason)
        .bind(micros(m.planned_at))
        .bind(m.priority.as_str())
        .bind(m.topic)
        .bind(m.variant)
        .fetch_optional(&mut *c)
        .await?);
        if let Some(id) = id {
            self.insert_transition(id, None, MessageState::Planned, None, m.reason, now)
                .await?;
        }
        Ok(id)
    }

    async fn insert_transition(
        &mut self,
        id: MessageId,
        from: Option<MessageState>,
        to: MessageState,
        code: Option<&str>,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(from.map(MessageState::as_str))
        .bind(to.as_str())
        .bind(code)
        .bind(reason)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Moves a message from `from` to `to` with a reason; `false` if it was not in `from`.
    pub async fn transition_message(
        &mut self,
        id: MessageId,
        from: MessageState,
        to: MessageState,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        self.transition_message_coded(id, from, to, None, reason, now)
            .await
    }

    /// [`Tx::transition_message`] with a stable reason code (a policy decision's).
    pub async fn transition_message_coded(
        &mut self,
        id: MessageId,
        from: MessageState,
        to: MessageState,
        code: Option<&str>,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let sent_at = (to == MessageState::Sent).then_some(micros(now));
        let attempt = i32::from(to == MessageState::Sending);
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE messages SET state = $1, reason = $2, sent_at = COALESCE($3, sent_at),
                                 attempts = attempts + $4
             WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(sent_at)
        .bind(attempt)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
        if n == 1 {
            self.insert_transition(id, Some(from), to, code, reason, now)
                .await?;
        }
        Ok(n == 1)
    }

    /// Stores what a message looks like as sent.
    pub async fn set_message_content(
        &mut self,
        id: MessageId,
        content: &MessageContent<'_>,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE messages SET recipient = $1, subject = $2, body_text = $3, body_html = $4,
                                 greeting = $5, header_message_id = $6 WHERE id = $7",
        )
        .bind(content.recipient)
        .bind(content.subject)
        .bind(content.body_text)
        .bind(content.body_html)
        .bind(content.greeting)
        .bind(content.header_message_id)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Stores what a message looks like as sent and moves it from `from` to `sending`, in
    /// one write of the row (issue 22: a message's row is wide and indexed, so every
    /// update of it is costly); `false` if it was not in `from`.
    pub async fn start_sending(
        &mut self,
        id: MessageId,
        from: MessageState,
        content: &MessageContent<'_>,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE messages SET recipient = $1, subject = $2, body_text = $3, body_html = $4,
                                 greeting = $5, header_message_id = $6, state = $7, reason = $8,
                                 attempts = attempts + 1
             WHERE id = $9 AND state = $10",
        )
        .bind(content.recipient)
        .bind(content.subject)
        .bind(content.body_text)
        .bind(content.body_html)
        .bind(content.greeting)
        .bind(content.header_message_id)
        .bind(MessageState::Sending.as_str())
        .bind(reason)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
        if n == 1 {
            self.insert_transition(id, Some(from), MessageState::Sending, None, reason, now)
                .await?;
        }
        Ok(n == 1)
    }

    /// A message by id.
    pub async fn message(&mut self, id: MessageId) -> Result<Message> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN customers c ON c.id = m.customer_id WHERE m.id = $1"
        );
        let row: Option<MessageRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("message {id}")))?
            .try_into()
    }

    /// The message whose `Message-ID` header is `header_id` (`msg-<id>@<domain>`), if any.
    pub async fn message_by_header_id(&mut self, header_id: &str) -> Result<Option<Message>> {
        let Some(id) = header_id
            .strip_prefix("msg-")
            .and_then(|rest| rest.split('@').next())
            .and_then(|n| n.parse::<i64>().ok())
            .map(MessageId)
        else {
            return Ok(None);
        };
        match self.message(id).await {
            Ok(m) if m.header_message_id.as_deref() == Some(header_id) => Ok(Some(m)),
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Notes something about a message in `state` on its timeline (and as its reason)
    /// without changing its state; `false` if it is not in `state`.
    pub async fn note_message(
        &mut self,
        id: MessageId,
        state: MessageState,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("UPDATE messages SET reason = $1 WHERE id = $2 AND state = $3")
            .bind(reason)
            .bind(id)
            .bind(state.as_str())
            .execute(&mut *c)
            .await?
            .rows_affected());
        if n == 1 {
            self.insert_transition(id, Some(state), state, None, reason, now)
                .await?;
        }
        Ok(n == 1)
    }

    /// Every message (of one customer, or of all), oldest first, read a page at a time.
    pub async fn all_messages(&mut self, customer_id: Option<CustomerId>) -> Result<Vec<Message>> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .messages(&MessageFilter {
                    customer_id,
                    before_id: before,
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id.0);
            all.extend(page);
        }
        all.reverse();
        Ok(all)
    }

    /// Messages matching `filter`, newest first.
    pub async fn messages(&mut self, filter: &MessageFilter) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN customers c ON c.id = m.customer_id
             WHERE ($1 IS NULL OR m.customer_id = $1) AND ($2 IS NULL OR m.state = $2)
               AND ($3 IS NULL OR m.id < $3) AND ($5 IS NULL OR m.channel = $5)
               AND ($6 IS NULL OR m.programme_id = $6)
             ORDER BY m.id DESC LIMIT $4"
        );
        let rows: Vec<MessageRow> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(filter.customer_id)
            .bind(filter.state.map(MessageState::as_str))
            .bind(filter.before_id)
            .bind(filter.limit.clamp(1, 500))
            .bind(filter.channel.map(|c| c.as_str()))
            .bind(filter.programme_id.as_deref())
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(Message::try_from).collect()
    }

    /// A message's state changes, oldest first.
    pub async fn message_transitions(&mut self, id: MessageId) -> Result<Vec<MessageTransition>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT from_state, to_state, code, reason, at FROM message_transitions
             WHERE message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await?))
    }
}

/// What a message looks like as sent: to whom, and its rendered parts.
#[derive(Debug, Clone, Copy)]
pub struct MessageContent<'a> {
    /// The address or number it goes to.
    pub recipient: &'a str,
    /// The subject.
    pub subject: &'a str,
    /// The text part.
    pub body_text: &'a str,
    /// The HTML part (empty for SMS and push).
    pub body_html: &'a str,
    /// The greeting line used.
    pub greeting: &'a str,
    /// The `Message-ID` header (or the provider's idempotency key).
    pub header_message_id: &'a str,
}
