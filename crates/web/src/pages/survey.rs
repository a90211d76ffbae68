//! Survey pages (MQ1, MQ2): a programme's `survey` step invites the customer with a signed
//! link to their response (`links.survey`); the page asks one question per screen, works
//! without JavaScript, and saves each answer as it is given, so stopping halfway keeps what
//! was said. The last answer completes the response once and posts `survey_answered`
//! (which earns loyalty points when `[loyalty.actions]` says so).

use aftercare_domain::survey::{Question, SurveyKind};
use aftercare_engine::links::{LinkError, Page};
use aftercare_store::CustomerId;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::common::{link_problem, page, render};
use crate::AppState;
use crate::error::ApiError;

/// The response a token opens, its kind and the questions not yet answered.
async fn open(
    app: &AppState,
    token: &str,
) -> Result<Result<(i64, CustomerId, SurveyKind, Vec<Question>, bool), LinkError>, ApiError> {
    let id = match app
        .engine
        .links()
        .verify(Page::Survey, token, app.clock.now())
    {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let mut tx = app.store.begin_read().await?;
    let (customer_id, kind, done) = match tx.survey_response(id).await {
        Ok(r) => r,
        Err(aftercare_store::StoreError::NotFound(_)) => return Ok(Err(LinkError::Invalid)),
        Err(e) => return Err(e.into()),
    };
    let answered: Vec<String> = tx
        .survey_answers(id)
        .await?
        .into_iter()
        .map(|a| a.0)
        .collect();
    tx.commit().await?;
    let Some(kind) = SurveyKind::parse(&kind) else {
        return Ok(Err(LinkError::Invalid));
    };
    let open: Vec<Question> = kind
        .questions()
        .into_iter()
        .filter(|q| !answered.contains(&q.key()))
        .collect();
    Ok(Ok((id, customer_id, kind, open, done)))
}

/// `GET /p/survey/{token}`: the next question, or thanks.
pub async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (_, customer_id, kind, open, done) = match open(&app, &token).await? {
        Ok(r) => r,
        Err(e) => return link_problem(&app, e),
    };
    let mut tx = app.store.begin_read().await?;
    let record = tx.customer(customer_id).await?.record;
    tx.commit().await?;
    let locale = super::common::language(&app, record.locale);
    let formal = super::common::formal(&app, &record);
    let all = kind.questions().len();
    let next = open.first().copied();
    let (question, what) = match next {
        Some(Question::Nps) => ("nps".to_string(), "nps".to_string()),
        Some(Question::Csat) => ("csat".to_string(), "csat".to_string()),
        Some(Question::Comment) => ("comment".to_string(), "comment".to_string()),
        Some(Question::Driver(d)) => (format!("driver:{d}"), d.to_string()),
        None => (String::new(), String::new()),
    };
    let html = render(
        "survey.html",
        json!({"lang": locale.tag(), "formal": formal,
               "t": super::common::words(&app, locale, formal, "survey"), "brand": app.engine.renderer().brand_for(locale),
               "token": token, "csrf": app.engine.links().csrf(&token), "done": done || next.is_none(),
               "question": question, "kind": what, "step": all - open.len() + 1, "steps": all}),
    )?;
    Ok(page(StatusCode::OK, html))
}

/// One answer.
#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    csrf: String,
    question: String,
    score: Option<i32>,
    importance: Option<i32>,
    evaluation: Option<i32>,
    comment: Option<String>,
}

/// `POST /p/survey/{token}`: save one answer, then the next question.
pub async fn answer(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, ApiError> {
    let now = app.clock.now();
    let (id, customer_id, kind, open, _) = match open(&app, &token).await? {
        Ok(r) => r,
        Err(e) => return link_problem(&app, e),
    };
    let back = format!("/p/survey/{token}");
    let in_range = |v: Option<i32>, lo: i32, hi: i32| v.is_some_and(|v| (lo..=hi).contains(&v));
    let valid = app.engine.links().check_csrf(&token, &form.csrf)
        && kind.questions().iter().any(|q| q.key() == form.question)
        && match form.question.as_str() {
            "nps" => in_range(form.score, 0, 10),
            "csat" => in_range(form.score, 1, 5),
            "comment" => form.comment.as_ref().is_none_or(|c| c.len() <= 2000),
            _ => in_range(form.importance, 1, 7) && in_range(form.evaluation, 1, 7),
        };
    if !valid {
        // A stale or tampered form: ask again, nothing saved.
        return Ok(Redirect::to(&back).into_response());
    }
    let mut tx = app.store.begin().await?;
    let answer = (
        form.question.clone(),
        form.score,
        form.importance,
        form.evaluation,
        form.comment.clone().filter(|c| !c.trim().is_empty()),
    );
    tx.put_survey_answer(id, &answer, now).await?;
    let last = open.iter().all(|q| q.key() == form.question);
    if last && tx.complete_survey_response(id, now).await? {
        let mut properties = json!({"survey": kind.as_str(), "response_id": id});
        // The scored question's answer travels with the event (for conditions and insight).
        if let Some(a) = tx
            .survey_answers(id)
            .await?
            .iter()
            .find(|a| a.0 == "nps" || a.0 == "csat")
        {
            properties["score"] = a.1.into();
        }
        let source = format!("survey:{id}");
        aftercare_engine::ingest::record_internal_event(
            &mut tx,
            customer_id,
            "survey_answered",
            now,
            &properties,
            &source,
        )
        .await?;
    }
    tx.commit().await?;
    app.engine.wake();
    Ok(Redirect::to(&back).into_response())
}
