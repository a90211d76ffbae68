//! What every customer page shares: the embedded templates (one base with the brand's
//! colours), the response headers a page behind a secret link needs, the friendly page for
//! a changed or expired link, and finding the customer a link opens.

use std::sync::OnceLock;

use aftercare_domain::Locale;
use aftercare_engine::links::{LinkError, Page};
use aftercare_store::{StoreError, StoredCustomer, Tx};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, State as TemplateState};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("day", day);
        // Embedded at build time; a broken template fails the page tests.
        let _ = env.add_template("base.html", include_str!("templates/base.html"));
        let _ = env.add_template("loyalty.html", include_str!("templates/loyalty.html"));
        let _ = env.add_template("theme.css", include_str!("templates/theme.css"));
        let _ = env.add_template("header.html", include_str!("templates/header.html"));
        let _ = env.add_template("contact.html", include_str!("templates/contact.html"));
        let _ = env.add_template("tracking.html", include_str!("templates/tracking.html"));
        let _ = env.add_template(
            "link_problem.html",
            include_str!("templates/link_problem.html"),
        );
        let _ = env.add_template(
            "unsubscribe.html",
            include_str!("templates/unsubscribe.html"),
        );
        let _ = env.add_template("survey.html", include_str!("templates/survey.html"));
        let _ = env.add_template(
            "preferences.html",
            include_str!("templates/preferences.html"),
        );
        env
    })
}

/// `{{ "2026-03-02T09:00:00Z" | day }}` → "2 maart 2026" / "2 March 2026" in the page's zone.
fn day(state: &TemplateState<'_, '_>, value: String) -> String {
    let Ok(ts) = value.parse::<jiff::Timestamp>() else {
        return value;
    };
    let zone = state
        .lookup("zone")
        .and_then(|z| z.as_str().and_then(|s| jiff::tz::TimeZone::get(s).ok()))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let locale = state
        .lookup("lang")
        .and_then(|l| l.as_str().and_then(Locale::parse))
        .unwrap_or_default();
    aftercare_domain::commerce::format_date(ts.to_zoned_datetime(zone).date(), locale)
}

pub(crate) fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

pub(crate) fn render(name: &str, ctx: Value) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ApiError::Internal(format!("page {name}: {e}")))
}

pub(crate) fn link_problem(app: &AppState, error: LinkError) -> Result<Response, ApiError> {
    let (status, expired) = match error {
        LinkError::Expired => (StatusCode::GONE, true),
        LinkError::Invalid => (StatusCode::FORBIDDEN, false),
    };
    let html = render(
        "link_problem.html",
        json!({"brand": app.engine.renderer().brand(), "expired": expired}),
    )?;
    Ok(page(status, html))
}

/// The customer a link to `page` opens, read in `tx`; a changed, expired or orphaned link is
/// a [`LinkError`] for [`link_problem`].
pub(crate) async fn linked_customer(
    app: &AppState,
    tx: &mut Tx,
    page: Page,
    token: &str,
) -> Result<Result<StoredCustomer, LinkError>, ApiError> {
    let id = match app.engine.links().verify(page, token, app.clock.now()) {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    match tx.customer(id).await {
        Ok(c) => Ok(Ok(c)),
        Err(StoreError::NotFound(_)) => Ok(Err(LinkError::Invalid)),
        Err(e) => Err(e.into()),
    }
}
