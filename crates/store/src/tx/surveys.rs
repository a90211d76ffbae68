//! Survey responses and answers (MQ1, MQ2), saved as they are given.

use crate::CustomerId;
use jiff::Timestamp;

use super::Tx;
use crate::{Result, StoreError, micros};

/// One answer with its context: (segment, question, score, importance, evaluation, sent).
pub type SurveyResult = (
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    jiff::Timestamp,
);

/// One answer as stored: (question, score, importance, evaluation, comment).
pub type Answer = (
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
);

impl Tx {
    /// Opens a response for a customer; returns its id.
    pub async fn create_survey_response(
        &mut self,
        customer_id: CustomerId,
        kind: &str,
        segment: &str,
        now: Timestamp,
    ) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO survey_responses (customer_id, kind, segment, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(customer_id)
        .bind(kind)
        .bind(segment)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// A response: (customer, kind, completed).
    pub async fn survey_response(&mut self, id: i64) -> Result<(CustomerId, String, bool)> {
        let row: Option<(CustomerId, String, Option<i64>)> = on_tx!(self, c => sqlx::query_as(
            "SELECT customer_id, kind, completed_at FROM survey_responses WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(c, k, done)| (c, k, done.is_some()))
            .ok_or_else(|| StoreError::NotFound(format!("survey response {id}")))
    }

    /// The answers given so far.
    pub async fn survey_answers(&mut self, response_id: i64) -> Result<Vec<Answer>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT question, score, importance, evaluation, comment FROM survey_answers
             WHERE response_id = $1",
        )
        .bind(response_id)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Saves (or replaces) one answer.
    pub async fn put_survey_answer(
        &mut self,
        response_id: i64,
        a: &Answer,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO survey_answers (response_id, question, score, importance, evaluation, comment, answered_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (response_id, question) DO UPDATE SET score = excluded.score,
                 importance = excluded.importance, evaluation = excluded.evaluation,
                 comment = excluded.comment, answered_at = excluded.answered_at",
        )
        .bind(response_id)
        .bind(&a.0)
        .bind(a.1)
        .bind(a.2)
        .bind(a.3)
        .bind(&a.4)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Marks a response complete; `false` when it already was.
    pub async fn complete_survey_response(&mut self, id: i64, now: Timestamp) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE survey_responses SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL",
        )
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Every answer of a kind of survey with its respondent's segment and when the survey
    /// was sent: (segment, question, score, importance, evaluation, sent).
    pub async fn survey_results(&mut self, kind: &str) -> Result<Vec<SurveyResult>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            String,
            String,
            Option<i32>,
            Option<i32>,
            Option<i32>,
            crate::Micros,
        )> = on_tx!(self, c => sqlx::query_as(
            "SELECT COALESCE(r.segment, 'all'), a.question, a.score, a.importance, a.evaluation,
                    r.created_at
             FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id
             WHERE r.kind = $1 ORDER BY r.id",
        )
        .bind(kind)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(s, q, score, imp, eval, sent)| Ok((s, q, score, imp, eval, sent.at()?)))
            .collect()
    }
}
