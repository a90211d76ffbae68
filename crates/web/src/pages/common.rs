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
        let _ = env.add_template("inbox.html", include_str!("templates/inbox.html"));
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

/// The Dutch pages' informal phrases and their formal forms (DQ2: a customer addressed
/// formally reads "u" and "uw" on their pages as in their messages). Phrase by phrase, since
/// Dutch "je" is "u" as a pronoun and "uw" as a possessive, and verbs follow ("ben je" →
/// "bent u"); longer phrases first. A test checks no informal word is left.
const FORMAL_NL: &[(&str, &str)] = &[
    ("Dank je wel", "Dank u wel"),
    ("Dank je!", "Dank u!"),
    (
        "Je hebt je bestelling opgehaald",
        "U hebt uw bestelling opgehaald",
    ),
    ("Je hebt", "U hebt"),
    ("je hebt", "u hebt"),
    ("Je bracht", "U bracht"),
    ("Je bent", "U bent"),
    ("ben je", "bent u"),
    ("Wil je", "Wilt u"),
    ("blijf je", "blijft u"),
    ("als je iets wilt", "als u iets wilt"),
    ("als je net begint", "als u net begint"),
    ("dat je ", "dat u "),
    ("We hebben je gemist", "We hebben u gemist"),
    ("mogen we je ", "mogen we u "),
    ("we je stuurden", "we u stuurden"),
    ("we je sturen", "we u sturen"),
    ("We sturen je ", "We sturen u "),
    ("We geven je ", "We geven uw "),
    ("helpen je ", "helpen u "),
    ("van je?", "van u?"),
    ("voor je?", "voor u?"),
    ("en jij ook", "en u ook"),
    ("naar jou", "naar u"),
    ("voor jou", "voor u"),
    ("wat jou ", "wat u "),
    ("Jouw ", "Uw "),
    ("jouw ", "uw "),
    ("Je ", "Uw "),
    ("je ", "uw "),
];

/// The formal form of an informal Dutch page text. A phrase is replaced only where it
/// starts a word ("je " in "pakketje " stays).
pub(crate) fn formal_nl(text: &str) -> String {
    let mut out = text.to_string();
    for (informal, formal) in FORMAL_NL {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(informal) {
            let starts_word = rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            result.push_str(&rest[..i]);
            result.push_str(if starts_word { formal } else { informal });
            rest = &rest[i + informal.len()..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

fn formalise(value: &mut Value) {
    match value {
        Value::String(s) => *s = formal_nl(s),
        Value::Array(items) => items.iter_mut().for_each(formalise),
        Value::Object(map) => map.values_mut().for_each(formalise),
        _ => {}
    }
}

/// A page's strings as this customer is addressed: formal Dutch says "u" and "uw".
pub(crate) fn addressed(mut t: Value, locale: Locale, formal: bool) -> Value {
    if formal && locale != Locale::En {
        formalise(&mut t);
    }
    t
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
    match tx.customer(id).await {
        Ok(c) => Ok(Ok(c)),
        Err(StoreError::NotFound(_)) => Ok(Err(LinkError::Invalid)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formal_dutch_says_u_and_uw_and_leaves_words_that_end_in_je() {
        assert_eq!(
            formal_nl("Je pakketje is onderweg"),
            "Uw pakketje is onderweg"
        );
        assert_eq!(
            formal_nl("Deze beloning is (nog) niet voor jou: je hebt meer punten nodig."),
            "Deze beloning is (nog) niet voor u: u hebt meer punten nodig."
        );
        assert_eq!(
            formal_nl("Berichten over je bestellingen blijf je ontvangen."),
            "Berichten over uw bestellingen blijft u ontvangen."
        );
        assert_eq!(
            formal_nl("Hoe tevreden ben je over X?"),
            "Hoe tevreden bent u over X?"
        );
        assert_eq!(
            formal_nl("Lees de berichten die we je stuurden"),
            "Lees de berichten die we u stuurden"
        );
        assert_eq!(
            formal_nl("Wat we je sturen, staat hier ook."),
            "Wat we u sturen, staat hier ook."
        );
    }

    /// DQ2 on the pages: a formally addressed customer never reads je, jij, jou or jouw.
    #[test]
    fn no_page_says_je_to_a_formal_customer() {
        for locale in [Locale::NlNl, Locale::NlBe] {
            let all = [
                super::super::loyalty::strings(locale),
                super::super::preferences::strings(locale),
                super::super::survey::strings(locale),
                super::super::tracking::strings(locale),
                super::super::unsubscribe::strings(locale),
                super::super::inbox::strings(locale),
            ];
            for t in all {
                let text = addressed(t, locale, true).to_string();
                for word in text.split(|c: char| !c.is_alphanumeric()) {
                    assert!(
                        !matches!(word.to_lowercase().as_str(), "je" | "jij" | "jou" | "jouw"),
                        "'{word}' left in {text}"
                    );
                }
            }
        }
    }
}
