//! What every customer page shares: the embedded templates (one base with the brand's
//! colours), the response headers a page behind a secret link needs, the friendly page for
//! a changed or expired link, and finding the customer a link opens.

use aftercare_store::CustomerId;
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
        let _ = env.add_template("offer.html", include_str!("templates/offer.html"));
        let _ = env.add_template("inbox.html", include_str!("templates/inbox.html"));
        let _ = env.add_template("outbox.html", include_str!("templates/outbox.html"));
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

/// A page's words (`section` of the words files in `<templates>/pages/`) for a customer of
/// `locale`, formal or not (DQ2: a formally addressed customer reads "u"/"uw", "vous" on
/// their pages as in their messages), with the contact block's words under `footer`.
pub(crate) fn words(app: &AppState, locale: Locale, formal: bool, section: &str) -> Value {
    app.engine
        .renderer()
        .page_words()
        .section(locale, formal, section)
}

/// The language a customer's pages are written in: theirs when the brand writes in it.
pub(crate) fn language(app: &AppState, locale: Locale) -> Locale {
    app.engine.renderer().brand().language_for(locale)
}

/// Renders a page (the contact block reads `formal` for its own Dutch line).
pub(crate) fn render(name: &str, ctx: Value) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ApiError::Internal(format!("page {name}: {e}")))
}

/// Whether the customer is addressed formally (their record, else the brand's default).
pub(crate) fn formal(app: &AppState, customer: &aftercare_domain::CustomerRecord) -> bool {
    customer
        .address_form
        .unwrap_or(app.engine.renderer().brand().default_address_form)
        == aftercare_domain::AddressForm::Formal
}

pub(crate) fn link_problem(app: &AppState, error: LinkError) -> Result<Response, ApiError> {
    let (status, expired) = match error {
        LinkError::Expired => (StatusCode::GONE, true),
        LinkError::Invalid => (StatusCode::FORBIDDEN, false),
    };
    let html = render(
        "link_problem.html",
        json!({"brand": app.engine.renderer().brand(), "expired": expired,
            // Whose link it was is not known: the brand's own way of addressing people.
            "formal": app.engine.renderer().brand().default_address_form == aftercare_domain::AddressForm::Formal}),
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
    match tx.customer(CustomerId(id)).await {
        Ok(c) => Ok(Ok(c)),
        Err(StoreError::NotFound(_)) => Ok(Err(LinkError::Invalid)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use aftercare_engine::render::{Brand, Renderer};

    use super::*;

    /// DQ2 on the pages: a formally addressed Dutch customer never reads je, jij, jou or
    /// jouw, a formally addressed French one never tu, ton, ta, tes or toi, and an informal
    /// French one never vous or votre (the library's words files, as loaded).
    #[test]
    fn no_page_word_breaks_the_customers_register() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../programmes/templates");
        let renderer = Renderer::load_dir(&dir, Brand::default()).expect("the library loads");
        let texts = renderer.page_words().texts();
        assert!(texts.iter().any(|(l, ..)| *l == Locale::FrBe));
        for (locale, formal, key, text) in texts {
            let wrong: &[&str] = match (locale, formal) {
                (Locale::NlNl | Locale::NlBe, true) => &["je", "jij", "jou", "jouw"],
                (Locale::FrBe, true) => &["tu", "ton", "ta", "tes", "toi", "te", "t"],
                (Locale::FrBe, false) => &["vous", "votre", "vos"],
                _ => &[],
            };
            for word in text.split(|c: char| !c.is_alphanumeric()) {
                assert!(
                    !wrong.contains(&word.to_lowercase().as_str()),
                    "{} {} {key}: '{word}' in {text:?}",
                    locale.tag(),
                    if formal { "formal" } else { "informal" }
                );
            }
        }
    }
}
