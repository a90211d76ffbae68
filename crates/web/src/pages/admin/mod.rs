//! The admin UI for the CRM team under `/admin`: sign-in ([`auth`]), customers with one
//! timeline of events and messages and every decision's reason ([`customers`]) and their
//! contact calendar for the coming year ([`calendar`]),
//! programmes with pause and resume ([`programmes`]), the template editor with preview,
//! versions, publish and roll-back ([`editor`]), audiences and campaigns with their dry
//! run and results ([`campaigns`]), dashboards with SVG charts
//! ([`dashboards`], [`charts`]), the simulator ([`simulator`]), the outbox with dead letters and the
//! audit log ([`outbox`]). Server-rendered HTML in English or Dutch (per account), no
//! JavaScript. Every change a person makes is written to the audit log in the same
//! transaction as the change itself.
//!
//! Requirements: FR1 (see what each customer got and why not), DQ2 (fix a name prefix,
//! audited), RT2 (programmes' goals against holdout).

pub mod auth;
mod calendar;
mod campaigns;
mod charts;
mod customers;
mod dashboards;
mod editor;
mod outbox;
mod programme_editor;
mod programmes;
pub mod simulator;
mod strings;

use std::sync::OnceLock;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use minijinja::Environment;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use auth::{SignInLimiter, Team};

/// The UI language of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Dutch.
    Nl,
}

impl Lang {
    /// `nl` is Dutch; anything else English.
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("nl") {
            Lang::Nl
        } else {
            Lang::En
        }
    }

    /// The HTML `lang` tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    /// The English or the Dutch text.
    pub fn pick<'a>(self, en: &'a str, nl: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Nl => nl,
        }
    }
}

/// What an admin handler fails with: a ready page (403, 404, …) or an internal error.
#[derive(Debug)]
pub enum AdminError {
    /// A page to show as is.
    Page(Box<Response>),
    /// Anything else.
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for AdminError {
    fn from(e: E) -> Self {
        AdminError::Api(e.into())
    }
}

impl AdminError {
    /// A ready page as the error.
    pub fn page(response: Response) -> Self {
        AdminError::Page(Box::new(response))
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::Page(r) => *r,
            AdminError::Api(e) => e.into_response(),
        }
    }
}

type AdminResult = Result<Response, AdminError>;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("admin_base.html", include_str!("templates/admin_base.html")),
            ("sign_in.html", include_str!("templates/sign_in.html")),
            ("problem.html", include_str!("templates/problem.html")),
            ("customers.html", include_str!("templates/customers.html")),
            ("customer.html", include_str!("templates/customer.html")),
            ("preview.html", include_str!("templates/preview.html")),
            ("programmes.html", include_str!("templates/programmes.html")),
            ("programme.html", include_str!("templates/programme.html")),
            ("outbox.html", include_str!("templates/outbox.html")),
            ("audit.html", include_str!("templates/audit.html")),
            ("dashboards.html", include_str!("templates/dashboards.html")),
            ("calendar.html", include_str!("templates/calendar.html")),
            ("audiences.html", include_str!("templates/audiences.html")),
            (
                "programme_edit.html",
                include_str!("templates/programme_edit.html"),
            ),
            ("audience.html", include_str!("templates/audience.html")),
            ("campaigns.html", include_str!("templates/campaigns.html")),
            ("campaign.html", include_str!("templates/campaign.html")),
            (
                "template_list.html",
                include_str!("templates/template_list.html"),
            ),
            (
                "template_edit.html",
                include_str!("templates/template_edit.html"),
            ),
            ("simulator.html", include_str!("templates/simulator.html")),
            ("simulation.html", include_str!("templates/simulation.html")),
        ] {
            // Embedded at build time; a broken template fails the admin tests.
            let _ = env.add_template(name, source);
        }
        env
    })
}

/// A page with the headers every admin page carries (no caching, no framing, no scripts).
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Renders `template` with `ctx` plus the language's strings and, when signed in, who.
fn render(
    lang: Lang,
    team: Option<&Team>,
    template: &str,
    mut ctx: Value,
) -> Result<String, AdminError> {
    ctx["lang"] = lang.tag().into();
    ctx["t"] = strings::strings(lang);
    if let Some(team) = team {
        ctx["me"] =
            json!({"username": team.username, "role": team.role.as_str(), "csrf": team.csrf});
    }
    env()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| AdminError::Api(ApiError::Internal(format!("admin page {template}: {e}"))))
}

fn page(team: &Team, template: &str, ctx: Value) -> AdminResult {
    Ok(html(
        StatusCode::OK,
        render(team.lang, Some(team), template, ctx)?,
    ))
}

/// A page that says what went wrong, with `status`.
pub(crate) fn problem(lang: Lang, status: StatusCode, title: &str, detail: &str) -> Response {
    match render(
        lang,
        None,
        "problem.html",
        json!({"title": title, "detail": detail}),
    ) {
        Ok(body) => html(status, body),
        Err(e) => e.into_response(),
    }
}

fn not_found(team: &Team, what: &str) -> AdminError {
    AdminError::page(problem(
        team.lang,
        StatusCode::NOT_FOUND,
        team.lang.pick("Not found", "Niet gevonden"),
        what,
    ))
}

/// A number from a path (`/admin/campaigns/{id}`); anything else is the friendly
/// not-found page, not a bare 400.
fn numeric_id(team: &Team, raw: &str, what: (&str, &str)) -> Result<i64, AdminError> {
    raw.parse()
        .map_err(|_| not_found(team, &format!("{}: {raw}", team.lang.pick(what.0, what.1))))
}

/// The `/admin` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/customers") }))
        .route("/admin/sign-in", get(sign_in_form).post(sign_in))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/language", post(language))
        .route("/admin/customers", get(customers::search))
        .route("/admin/customers/{id}", get(customers::show))
        .route("/admin/customers/{id}/preview", get(customers::preview))
        .route("/admin/customers/{id}/export", get(customers::export))
        .route("/admin/customers/{id}/calendar", get(calendar::show))
        .route("/admin/customers/{id}/fix", post(customers::fix))
        .route("/admin/customers/{id}/erase", post(customers::erase))
        .route(
            "/admin/programmes",
            get(programmes::list).post(programmes::begin),
        )
        .route("/admin/programmes/{id}", get(programmes::show))
        .route("/admin/programmes/{id}/pause", post(programmes::pause))
        .route("/admin/programmes/{id}/resume", post(programmes::resume))
        .route("/admin/programmes/{id}/winner", post(programmes::winner))
        .route(
            "/admin/programmes/{id}/edit",
            get(programme_editor::show).post(programme_editor::save),
        )
        .route(
            "/admin/programmes/{id}/publish",
            post(programme_editor::publish),
        )
        .route(
            "/admin/programmes/{id}/discard",
            post(programme_editor::discard),
        )
        .route(
            "/admin/programmes/{id}/make-live",
            post(programme_editor::make_live),
        )
        .route("/admin/templates", get(editor::list).post(editor::begin))
        .route(
            "/admin/templates/{name}",
            get(editor::show).post(editor::save),
        )
        .route("/admin/templates/{name}/publish", post(editor::publish))
        .route("/admin/templates/{name}/discard", post(editor::discard))
        .route("/admin/templates/{name}/rollback", post(editor::roll_back))
        .route("/admin/templates/{name}/export", get(editor::export))
        .route(
            "/admin/audiences",
            get(campaigns::audiences).post(campaigns::save_audience),
        )
        .route("/admin/audiences/{id}", get(campaigns::audience))
        .route(
            "/admin/campaigns",
            get(campaigns::campaigns).post(campaigns::create),
        )
        .route("/admin/campaigns/{id}", get(campaigns::show))
        .route("/admin/campaigns/{id}/schedule", post(campaigns::schedule))
        .route("/admin/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/admin/campaigns/{id}/delete", post(campaigns::delete))
        .route(
            "/admin/audiences/{id}/delete",
            post(campaigns::delete_audience),
        )
        .route("/admin/dashboards", get(dashboards::show))
        .route(
            "/admin/simulator",
            get(simulator::form).post(simulator::start),
        )
        .route("/admin/simulator/{id}", get(simulator::show))
        .route("/admin/simulator/{id}/cancel", post(simulator::cancel))
        .route("/admin/outbox", get(outbox::list))
        .route("/admin/dead-jobs/{id}/retry", post(outbox::retry))
        .route("/admin/print-batches/{id}/{file}", get(outbox::print_file))
        .route("/admin/audit", get(outbox::audit))
        .layer(Extension(SignInLimiter::default()))
        // Forms, and a programme pasted into the simulator: never megabytes.
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
}

/// The change note of a publish: at most 500 characters on one line, trimmed.
fn publish_note<'a>(team: &Team, note: &'a str) -> Result<&'a str, AdminError> {
    let note = note.trim();
    if note.chars().count() > 500 || note.chars().any(char::is_control) {
        return Err(AdminError::page(problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Not published", "Niet gepubliceerd"),
            "note: at most 500 characters on one line",
        )));
    }
    Ok(note)
}

/// The form that begins a new template (`name`) or programme (`id`) as a copy of `from`.
#[derive(Debug, Deserialize)]
pub struct BeginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, alias = "name")]
    id: String,
    #[serde(default)]
    from: String,
}

impl BeginForm {
    /// (the new name, what it copies), once the team may begin one and the token holds.
    fn checked(&self, team: &Team) -> Result<(&str, &str), AdminError> {
        team.require(auth::Role::Editor)?;
        team.check_csrf(&self.csrf)?;
        Ok((self.id.trim(), self.from.trim()))
    }
}

/// Whether a template or programme is `live`, or was begun in the editor and is not yet
/// (it has a draft).
async fn live_or_begun(
    app: &AppState,
    kind: aftercare_store::Content,
    name: &str,
    live: bool,
) -> Result<bool, AdminError> {
    if live {
        return Ok(true);
    }
    let mut tx = app.store.begin_read().await?;
    let draft = tx.draft(kind, name).await?;
    tx.commit().await?;
    Ok(draft.is_some())
}

/// After a form that begins a new template or programme: to its `editor` when begun, or
/// the page saying which field was refused and why (422).
fn begun(
    team: &Team,
    outcome: Result<
        Result<(), aftercare_engine::campaigns::Refusal>,
        aftercare_engine::content::ContentError,
    >,
    editor: &str,
) -> AdminResult {
    match outcome.map_err(|e| AdminError::Api(crate::error::ApiError::Internal(e.to_string())))? {
        Ok(()) => Ok(axum::response::Redirect::to(editor).into_response()),
        Err(refusal) => Err(AdminError::page(problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Not begun", "Niet begonnen"),
            &refusal.to_string(),
        ))),
    }
}

/// The draft of a template or programme to publish, or the page saying there is none (409).
async fn draft_to_publish(
    app: &AppState,
    team: &Team,
    kind: aftercare_store::Content,
    name: &str,
) -> Result<String, AdminError> {
    let mut tx = app.store.begin_read().await?;
    let draft = tx.draft(kind, name).await?;
    tx.commit().await?;
    draft.map(|d| d.definition).ok_or_else(|| {
        AdminError::page(problem(
            team.lang,
            StatusCode::CONFLICT,
            team.lang.pick("Nothing to publish", "Niets te publiceren"),
            team.lang.pick(
                "There is no draft; save one first.",
                "Er is geen concept; bewaar er eerst een.",
            ),
        ))
    })
}

/// A version number from a form, or the page saying it is not one (422).
fn version_number(team: &Team, text: &str) -> Result<i32, AdminError> {
    text.trim().parse().map_err(|_| {
        AdminError::page(problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Not changed", "Niet gewijzigd"),
            "version: not a version number",
        ))
    })
}

/// Saves (`Some`) or drops (`None`) the draft of a template or programme, audited in the
/// same transaction (editor), and goes back to `back`.
async fn keep_draft(
    app: &AppState,
    team: &Team,
    kind: aftercare_store::Content,
    name: &str,
    definition: Option<&str>,
    back: &str,
) -> AdminResult {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let changed = match definition {
        Some(text) => {
            tx.save_draft(kind, name, text, &team.username, now).await?;
            true
        }
        None => tx.delete_draft(kind, name).await?,
    };
    if changed {
        let action = if definition.is_some() {
            "draft"
        } else {
            "discard"
        };
        tx.audit(
            &team.username,
            &format!("{}.{action}", kind.as_str()),
            &kind.subject(name),
            None,
            None,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(back).into_response())
}

/// A publish form: the CSRF token and what changed.
#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// A form naming a stored version (to make live again).
#[derive(Debug, Deserialize)]
pub struct VersionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Where to go after signing in.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
    lang: Option<String>,
}

/// Only a path inside the admin UI (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Only a plain admin path: it goes into a Location header as it is.
        Some(n)
            if n.starts_with("/admin")
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 512
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/admin/customers".to_string(),
    }
}

async fn sign_in_form(Query(q): Query<Next>) -> AdminResult {
    let lang = Lang::parse(q.lang.as_deref().unwrap_or("en"));
    let body = render(
        lang,
        None,
        "sign_in.html",
        // A language chosen here becomes the user's once they sign in.
        json!({"next": safe_next(q.next.as_deref()), "chosen": q.lang.is_some()}),
    )?;
    Ok(html(StatusCode::OK, body))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    lang: Option<String>,
}

async fn sign_in(
    State(app): State<AppState>,
    Extension(limiter): Extension<SignInLimiter>,
    request_parts: axum::http::request::Parts,
    Form(form): Form<SignIn>,
) -> AdminResult {
    let next = safe_next(form.next.as_deref());
    let lang = Lang::parse(form.lang.as_deref().unwrap_or("en"));
    // Only a well-formed name is echoed back into the form.
    let username = auth::parse_username(&form.username).ok();
    let again = |status: StatusCode, error: &str| -> AdminResult {
        let body = render(
            lang,
            None,
            "sign_in.html",
            json!({"next": next, "error": error, "username": username.unwrap_or_default(),
                   "chosen": form.lang.is_some()}),
        )?;
        Ok(html(status, body))
    };
    let too_many = || -> AdminResult {
        let mut r = again(StatusCode::TOO_MANY_REQUESTS, "too_many")?;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        Ok(r)
    };
    if !limiter.allow_client(auth::client_addr(&request_parts)) {
        return too_many();
    }
    // A name that cannot exist is refused without a look-up; it is not counted per
    // account, so made-up names cannot grow the table.
    let Some(username) = username else {
        return again(StatusCode::UNAUTHORIZED, "bad_credentials");
    };
    if !limiter.allow_account(username, auth::client_addr(&request_parts)) {
        return too_many();
    }
    let mut tx = app.store.begin_read().await?;
    let user = tx.team_user(username).await?;
    tx.commit().await?;
    let hash = user.as_ref().map_or_else(
        || auth::decoy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        return again(StatusCode::UNAUTHORIZED, "bad_credentials");
    };
    let token = auth::random_token();
    let now = app.clock.now();
    let expires = now + jiff::SignedDuration::from_hours(auth::SESSION_HOURS);
    let mut tx = app.store.begin().await?;
    // Sessions that ran out are swept on each sign-in, so the table stays small.
    tx.delete_team_session("", now).await?;
    // The language picked on the sign-in page is theirs from now on.
    if form.lang.is_some() && lang.tag() != Lang::parse(&user.language).tag() {
        tx.set_team_user_language(&user.username, lang.tag())
            .await?;
    }
    tx.insert_team_session(
        &crate::hash_token(&token),
        user.id,
        &auth::random_token(),
        now,
        expires,
    )
    .await?;
    tx.audit(
        &user.username,
        "session.sign_in",
        &format!("user:{}", user.username),
        None,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::session_cookie(&app, Some(&token)))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// The page a form's action belongs to, for an address that answers POST only (a page a
/// refused form rendered has the action's address): `None` for any other address.
fn page_of_action(path: &str) -> Option<String> {
    let (page, action) = path.rsplit_once('/')?;
    let section = page.strip_prefix("/admin/")?.split('/').next()?;
    Some(match (section, action) {
        ("programmes", "publish" | "discard" | "make-live") => format!("{page}/edit"),
        ("programmes", "pause" | "resume" | "winner")
        | ("templates", "publish" | "discard" | "rollback")
        | ("campaigns", "schedule" | "cancel" | "delete")
        | ("audiences", "delete")
        | ("customers", "fix" | "erase") => page.to_string(),
        ("dead-jobs", "retry") => "/admin/outbox".to_string(),
        _ => return None,
    })
}

/// The language form in the header.
#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
}

/// `POST /admin/language`: the signed-in user's admin UI in the other language, back on
/// the page they were on.
async fn language(
    State(app): State<AppState>,
    team: Team,
    headers: axum::http::HeaderMap,
    Form(form): Form<LanguageForm>,
) -> AdminResult {
    team.check_csrf(&form.csrf)?;
    let lang = Lang::parse(&form.lang);
    let mut tx = app.store.begin().await?;
    let known = tx
        .set_team_user_language(&team.username, lang.tag())
        .await?;
    tx.commit().await?;
    if !known {
        return Ok(Redirect::to("/admin/sign-in").into_response());
    }
    // Back where they were: the path of the page that sent the form, if it is ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .map(|u| {
            // A page a form's POST answered (a refusal) has the action's address, which
            // answers POST only: back to the page the action belongs to.
            page_of_action(u.path()).unwrap_or_else(|| {
                u.path_and_query()
                    .map_or_else(|| u.path().to_string(), ToString::to_string)
            })
        });
    Ok(Redirect::to(&safe_next(back.as_deref())).into_response())
}

async fn sign_out(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    team.check_csrf(&form.csrf)?;
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    tx.delete_team_session(&team.token_hash, now).await?;
    tx.audit(
        &team.username,
        "session.sign_out",
        &format!("user:{}", team.username),
        None,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    let mut response = Redirect::to("/admin/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::session_cookie(&app, None))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/programmes")), "/admin/programmes");
        assert_eq!(safe_next(Some("https://evil.example/")), "/admin/customers");
        assert_eq!(safe_next(Some("//evil.example/admin")), "/admin/customers");
        assert_eq!(safe_next(None), "/admin/customers");
    }
}
