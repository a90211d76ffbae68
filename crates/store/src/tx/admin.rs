//! The admin UI's rows: team users, their sessions, the audit log, programme pauses, and
//! the customer search. Password hashing and roles are the web layer's; this only stores.

use crate::CustomerId;
use crate::MessageId;
use jiff::Timestamp;

use super::Tx;
use crate::records::CustomerRow;
use crate::{CallState, Result, StoreError, StoredCustomer, from_micros, micros};

/// A team member.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamUser {
    /// Internal id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// viewer, editor or admin.
    pub role: String,
    /// en or nl.
    pub language: String,
}

/// A signed-in session: who, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct TeamSession {
    /// The user.
    pub user: TeamUser,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// One audited change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub username: String,
    /// What, e.g. `programme.pause`.
    pub action: String,
    /// On what, e.g. `programme:win-back` or `customer:C1`.
    pub subject: String,
    /// The value before (JSON), if any.
    pub before: Option<String>,
    /// The value after (JSON), if any.
    pub after: Option<String>,
}

/// A paused programme: (id, since, by whom).
pub type Pause = (String, Timestamp, String);

/// A survey answer in a customer's export: survey, question, score, importance,
/// evaluation, comment, when.
type AnswerRow = (
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    i64,
);
/// A delivery change: shipment, kind, detail, asked, settled, the carrier's reply.
type ChangeRow = (String, String, String, i64, Option<i64>, Option<String>);
/// A retention offer: offer, reason, product, terms, state, made, valid until, accepted.
type OfferRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);
/// A call to the shop: target, payload, state, made, done.
type CallRow = (String, String, String, i64, Option<i64>);

/// `s` as a literal inside a `LIKE … ESCAPE '\\'` pattern.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The search of customers by part of a name or address on PostgreSQL: each condition is
/// one trigram index's expression (migration 0036). Public for the test that reads its plan.
#[doc(hidden)]
pub const POSTGRES_SEARCH: &str = "SELECT id, record, created_at, updated_at FROM customers
     WHERE LOWER(email) LIKE $1 ESCAPE '\\'
        OR LOWER(last_name) LIKE $1 ESCAPE '\\'
        OR LOWER(substring(record from '\"first_name\":\"([^\"]*)\"')) LIKE $1 ESCAPE '\\'
     ORDER BY id LIMIT $2";

impl Tx {
    /// Creates a team user; a taken username is a [`StoreError::Conflict`].
    pub async fn insert_team_user(
        &mut self,
        username: &str,
        password_hash: &str,
        role: &str,
        language: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let id: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO team_users (username, password_hash, role, language, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role)
        .bind(language)
        .bind(micros(now))
        .fetch_optional(&mut *c)
        .await?);
        id.ok_or_else(|| StoreError::Conflict(format!("user '{username}' already exists")))
    }

    /// Sets the language a team user's admin UI is in (`en` or `nl`); `false` when there
    /// is no such user.
    pub async fn set_team_user_language(&mut self, username: &str, language: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("UPDATE team_users SET language = $2 WHERE username = $1")
            .bind(username)
            .bind(language)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// A team user by sign-in name.
    pub async fn team_user(&mut self, username: &str) -> Result<Option<TeamUser>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, username, password_hash, role, language FROM team_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Stores a new session (by the hash of its cookie).
    pub async fn insert_team_session(
        &mut self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO team_sessions (token_hash, user_id, csrf, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(micros(now))
        .bind(micros(expires_at))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The live session with this cookie hash, if any.
    pub async fn team_session(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<TeamSession>> {
        #[allow(clippy::type_complexity)]
        let row: Option<(i64, String, String, String, String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash, u.role, u.language, s.csrf, s.expires_at
             FROM team_sessions s JOIN team_users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(micros(now))
        .fetch_optional(&mut *c)
        .await?);
        row.map(
            |(id, username, password_hash, role, language, csrf, expires)| {
                Ok(TeamSession {
                    user: TeamUser {
                        id,
                        username,
                        password_hash,
                        role,
                        language,
                    },
                    csrf,
                    expires_at: from_micros(expires)?,
                })
            },
        )
        .transpose()
    }

    /// Ends a session, and every session that has expired.
    pub async fn delete_team_session(&mut self, token_hash: &str, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query("DELETE FROM team_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(micros(now))
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Appends to the audit log.
    pub async fn audit(
        &mut self,
        username: &str,
        action: &str,
        subject: &str,
        before: Option<&str>,
        after: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO audit_log (at, username, action, subject, before_value, after_value)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(micros(now))
        .bind(username)
        .bind(action)
        .bind(subject)
        .bind(before)
        .bind(after)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The audit log, newest first; only entries about `subject` when given.
    pub async fn audit_log(
        &mut self,
        subject: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        )> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, at, username, action, subject, before_value, after_value FROM audit_log
             WHERE ($1 IS NULL OR subject = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, at, username, action, subject, before, after)| {
                Ok(AuditEntry {
                    id,
                    at: from_micros(at)?,
                    username,
                    action,
                    subject,
                    before,
                    after,
                })
            })
            .collect()
    }

    /// Pauses a programme; false when it already was.
    pub async fn pause_programme(&mut self, id: &str, by: &str, now: Timestamp) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_pauses (programme_id, paused_at, paused_by) VALUES ($1, $2, $3)
             ON CONFLICT (programme_id) DO NOTHING",
        )
        .bind(id)
        .bind(micros(now))
        .bind(by)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Resumes a programme; false when it was not paused.
    pub async fn resume_programme(&mut self, id: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM programme_pauses WHERE programme_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Whether a programme is paused.
    pub async fn programme_paused(&mut self, id: &str) -> Result<bool> {
        let n: i64 = on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM programme_pauses WHERE programme_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *c)
        .await?);
        Ok(n > 0)
    }

    /// Every paused programme.
    pub async fn paused_programmes(&mut self) -> Result<Vec<Pause>> {
        let rows: Vec<(String, i64, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, paused_at, paused_by FROM programme_pauses ORDER BY programme_id",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, at, by)| Ok((id, from_micros(at)?, by)))
            .collect()
    }

    /// Erases what a customer's messages say and to whom (GDPR): queued ones are blocked
    /// with `reason`, every one loses its recipient, subject, bodies and greeting. The rows
    /// stay (counted in reports), without personal data. Returns how many were blocked.
    pub async fn erase_customer_messages(
        &mut self,
        customer_id: CustomerId,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let planned: Vec<MessageId> = on_tx!(self, c => sqlx::query_scalar(
            "SELECT id FROM messages WHERE customer_id = $1 AND state = 'planned'",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let mut blocked = 0;
        for id in planned {
            if self
                .transition_message(
                    id,
                    aftercare_domain::MessageState::Planned,
                    aftercare_domain::MessageState::Blocked,
                    reason,
                    now,
                )
                .await?
            {
                blocked += 1;
            }
        }
        on_tx!(self, c => sqlx::query(
            "DELETE FROM message_links
             WHERE message_id IN (SELECT id FROM messages WHERE customer_id = $1)",
        )
        .bind(customer_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        on_tx!(self, c => sqlx::query(
            "UPDATE messages SET recipient = NULL, subject = NULL, body_text = NULL,
                 body_html = NULL, greeting = NULL WHERE customer_id = $1",
        )
        .bind(customer_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(blocked)
    }

    /// Erases the personal data a customer left beyond their record and messages (GDPR
    /// Art. 17): what their events and enrolments carried (order notes, a complaint's
    /// subject), survey comments, delivery changes' details (a neighbour's name, an address)
    /// and carriers' replies, and every payload naming them that Aftercare sent (webhook
    /// calls; one not sent yet is cancelled) or received (shop and shipping webhooks) —
    /// found by `needles`, the customer's id, email and phone as they appear in JSON. The
    /// rows stay (counted in reports). Marks the customer erased.
    pub async fn erase_customer_traces(
        &mut self,
        customer_id: CustomerId,
        external_id: &str,
        needles: &[String],
        now: Timestamp,
    ) -> Result<()> {
        for sql in [
            "UPDATE events SET properties = '{}' WHERE customer_id = $1",
            "UPDATE enrolments SET context = '{}' WHERE customer_id = $1",
            "UPDATE survey_answers SET comment = NULL
             WHERE response_id IN (SELECT id FROM survey_responses WHERE customer_id = $1)",
            "UPDATE delivery_changes SET detail = '{\"erased\": true}', carrier_reply = NULL
             WHERE customer_id = $1",
            // The contact calendar's worked-out year is worked out again when wanted.
            "DELETE FROM projections WHERE customer_id = $1",
        ] {
            on_tx!(self, c => sqlx::query(sql).bind(customer_id).execute(&mut *c).await?.rows_affected());
        }
        on_tx!(self, c => sqlx::query(
            "UPDATE outgoing_webhooks SET payload = '{\"erased\": true}',
                 state = CASE WHEN state = $2 THEN $3 ELSE state END
             WHERE enrolment_id IN (SELECT id FROM enrolments WHERE customer_id = $1)",
        )
        .bind(customer_id)
        .bind(CallState::Pending)
        .bind(CallState::Cancelled)
        .execute(&mut *c)
        .await?
        .rows_affected());
        for needle in needles.iter().filter(|n| n.len() >= 3) {
            // Compared without case on both backends (PostgreSQL's LIKE minds it, SQLite's
            // does not): an address typed with capitals is the same address.
            let like = format!("%{}%", like_escaped(&needle.to_lowercase()));
            on_tx!(self, c => sqlx::query(
                "UPDATE outgoing_webhooks SET payload = '{\"erased\": true}',
                     state = CASE WHEN state = $2 THEN $3 ELSE state END
                 WHERE LOWER(payload) LIKE $1 ESCAPE '\\'",
            )
            .bind(&like)
            .bind(CallState::Pending)
            .bind(CallState::Cancelled)
            .execute(&mut *c)
            .await?
            .rows_affected());
            on_tx!(self, c => sqlx::query(
                "UPDATE hook_deliveries SET payload = '{}',
                     detail = 'payload erased with the customer''s personal data'
                 WHERE LOWER(payload) LIKE $1 ESCAPE '\\'",
            )
            .bind(&like)
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
        on_tx!(self, c => sqlx::query(
            "INSERT INTO erased_customers (customer_id, external_id, erased_at) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE SET erased_at = excluded.erased_at",
        )
        .bind(customer_id)
        .bind(external_id)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// What else a customer's export holds (GDPR Art. 15 and 20), as JSON: their survey
    /// answers, changes asked on the tracking page, appointments, retention offers, friends
    /// they referred, returns for recycling, and the calls about them made to the shop's
    /// systems by programme steps.
    pub async fn customer_export_extras(
        &mut self,
        customer_id: CustomerId,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        let time = |m: Option<i64>| -> Result<Option<String>> {
            m.map(|m| from_micros(m).map(|t| t.to_string())).transpose()
        };
        let mut out = serde_json::Map::new();
        let answers: Vec<AnswerRow> = on_tx!(self, c => sqlx::query_as(
                "SELECT r.kind, a.question, a.score, a.importance, a.evaluation, a.comment, a.answered_at
                 FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id
                 WHERE r.customer_id = $1 ORDER BY a.answered_at",
            )
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await?);
        let mut list = Vec::new();
        for (survey, question, score, importance, evaluation, comment, at) in answers {
            list.push(
                json!({"survey": survey, "question": question, "score": score,
                "importance": importance, "evaluation": evaluation, "comment": comment,
                "answered_at": time(Some(at))?}),
            );
        }
        out.insert("survey_answers".into(), list.into());
        let changes: Vec<ChangeRow> = on_tx!(self, c => sqlx::query_as(
                "SELECT s.external_id, d.kind, d.detail, d.requested_at, d.settled_at, d.carrier_reply
                 FROM delivery_changes d JOIN shipments s ON s.id = d.shipment_id
                 WHERE d.customer_id = $1 ORDER BY d.requested_at",
            )
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await?);
        let mut list = Vec::new();
        for (shipment, kind, detail, at, settled, reply) in changes {
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            list.push(json!({"shipment": shipment, "kind": kind, "detail": detail,
                "requested_at": time(Some(at))?, "settled_at": time(settled)?,
                "carrier_reply": reply}));
        }
        out.insert("delivery_changes".into(), list.into());
        let rows: Vec<(String, i64, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT a.store_id, a.slot_at, o.external_id FROM appointments a
             JOIN orders o ON o.id = a.order_id WHERE a.customer_id = $1 ORDER BY a.slot_at",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let mut list = Vec::new();
        for (store, at, order) in rows {
            list.push(json!({"store": store, "at": time(Some(at))?, "order": order}));
        }
        out.insert("appointments".into(), list.into());
        let rows: Vec<OfferRow> = on_tx!(self, c => sqlx::query_as(
                "SELECT offer_key, reason, product_sku, terms, state, created_at, valid_until, accepted_at
                 FROM retention_offers WHERE customer_id = $1 ORDER BY id",
            )
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await?);
        let mut list = Vec::new();
        for (offer, reason, sku, terms, state, made, until, accepted) in rows {
            list.push(
                json!({"offer": offer, "reason": reason, "product": sku, "terms": terms,
                "state": state, "made_at": time(Some(made))?, "valid_until": time(Some(until))?,
                "accepted_at": time(accepted)?}),
            );
        }
        out.insert("retention_offers".into(), list.into());
        let rows: Vec<(String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT o.external_id, r.requested_at FROM recycling_requests r
             JOIN orders o ON o.id = r.order_id WHERE r.customer_id = $1 ORDER BY r.requested_at",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let mut list = Vec::new();
        for (order, at) in rows {
            list.push(json!({"order": order, "requested_at": time(Some(at))?}));
        }
        out.insert("recycling_requests".into(), list.into());
        let rows: Vec<CallRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT w.target, w.payload, w.state, w.created_at, w.done_at FROM outgoing_webhooks w
             JOIN enrolments e ON e.id = w.enrolment_id WHERE e.customer_id = $1 ORDER BY w.id",
        )
        .bind(customer_id)
        .fetch_all(&mut *c)
        .await?);
        let mut list = Vec::new();
        for (target, payload, state, made, done) in rows {
            let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            list.push(json!({"target": target, "payload": payload, "state": state,
                "made_at": time(Some(made))?, "done_at": time(done)?}));
        }
        out.insert("calls_to_the_shop".into(), list.into());
        Ok(out)
    }

    /// Which of `external_ids` belong to customers whose data was erased.
    pub async fn erased_among(&mut self, external_ids: &[&str]) -> Result<Vec<String>> {
        let mut erased = Vec::new();
        for chunk in external_ids.chunks(500) {
            let rows: Vec<String> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT external_id FROM erased_customers WHERE external_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                list.push_unseparated(")");
                q.build_query_scalar().fetch_all(&mut *c).await?
            });
            erased.extend(rows);
        }
        Ok(erased)
    }

    /// The shop has posted an erased customer anew: they are a customer again.
    pub async fn unmark_erased(&mut self, external_id: &str) -> Result<()> {
        on_tx!(self, c => sqlx::query("DELETE FROM erased_customers WHERE external_id = $1")
            .bind(external_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Customers matching a search: the brand's id or email exactly, a postcode (spaces
    /// ignored), or a part of the email, last name or first name; at most `limit`.
    pub async fn search_customers(
        &mut self,
        query: &str,
        limit: i64,
    ) -> Result<Vec<StoredCustomer>> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        // What the team types most — a customer number, a whole address, a postcode — is
        // found through an index; only a query that matches none of those exactly reads every
        // customer (part of a name or address: about half a second per 200,000 customers).
        let email = aftercare_domain::EmailAddress::parse(&q)
            .map(|e| e.as_str().to_string())
            .unwrap_or_default();
        let postcode = q.replace(' ', "").to_uppercase();
        let rows: Vec<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers
             WHERE external_id = $1 OR email = $2 OR postcode = $3
             ORDER BY id LIMIT $4",
        )
        .bind(query.trim())
        .bind(&email)
        .bind(&postcode)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        if !rows.is_empty() {
            return rows.into_iter().map(StoredCustomer::try_from).collect();
        }
        // LIKE wildcards in the query are literal.
        let escaped = like_escaped(&q);
        let like = format!("%{escaped}%");
        let rows: Vec<CustomerRow> = match self {
            // Through the trigram indexes (issue 22: a part of a name or address no longer
            // reads a million customers): each condition is one index's expression.
            // Planned for each search's own text (not prepared once): a generic plan knows
            // nothing of how rare the part is and would read the customers in id order.
            Tx::Postgres(c) => {
                sqlx::query_as(POSTGRES_SEARCH)
                    .persistent(false)
                    .bind(&like)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
            Tx::Sqlite(c, _) => {
                let first_name = format!("%\"first_name\":\"{escaped}%");
                sqlx::query_as(
                    "SELECT id, record, created_at, updated_at FROM customers
                     WHERE external_id = $1 OR LOWER(email) LIKE $2 ESCAPE '\\'
                        OR LOWER(last_name) LIKE $2 ESCAPE '\\'
                        OR REPLACE(UPPER(postcode), ' ', '') = $3
                        OR LOWER(record) LIKE $4 ESCAPE '\\'
                     ORDER BY id LIMIT $5",
                )
                .bind(query.trim())
                .bind(&like)
                .bind(&postcode)
                .bind(&first_name)
                .bind(limit)
                .fetch_all(&mut **c)
                .await?
            }
        };
        rows.into_iter().map(StoredCustomer::try_from).collect()
    }
}
