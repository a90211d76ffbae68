//! Messages rendered for sample customers before anything is sent (issue 23, issue 21): a
//! customer of each language the brand writes in, addressed formally and informally, with a
//! sample order, its products and an event carrying what the library's triggers carry, so
//! every template can be read — by `aftercare preview` and `check`, the copy test, and the
//! admin UI's template editor beside the text being written. A real customer brings their
//! own latest order instead of the sample one.

use aftercare_domain::{CustomerRecord, Locale, OrderRecord, ProductRecord};

use crate::render::{RenderError, RenderInput, Rendered, Renderer};

/// Renders `template` for `customer` as a send would, with their `order` and `products` or,
/// without an order, the sample ones; `variant` changes the sample event (the referred
/// friend's side of a referral reward instead of the referrer's).
pub fn render_for(
    renderer: &Renderer,
    customer: &CustomerRecord,
    order: Option<&OrderRecord>,
    products: &[ProductRecord],
    template: &str,
    variant: Option<&serde_json::Value>,
) -> Result<Rendered, RenderError> {
    // Without an order of the customer's own, a sample order and its products stand in, and
    // the event carries what the library's triggers carry (a carrier status, a coupon, an
    // anniversary's years, a delivery change, a fitting…), so every template can be read.
    let sample_order: Option<OrderRecord> = serde_json::from_value(SAMPLE_ORDER.clone()).ok();
    let sample_products: Vec<ProductRecord> =
        serde_json::from_value(SAMPLE_PRODUCTS.clone()).unwrap_or_default();
    let sample_successors: Vec<ProductRecord> =
        serde_json::from_value(SAMPLE_SUCCESSORS.clone()).unwrap_or_default();
    let (order, products) = match order {
        Some(o) => (Some(o), products),
        None => (sample_order.as_ref(), sample_products.as_slice()),
    };
    // Inspiration's picks: the successor, new in the catalogue, and a sock.
    let sample_picks: Vec<(ProductRecord, bool)> = sample_successors
        .iter()
        .map(|p| (p.clone(), true))
        .chain(sample_products.iter().skip(1).map(|p| (p.clone(), false)))
        .collect();
    let mut event = SAMPLE_EVENT.clone();
    event["order_external_id"] = order.map(|o| o.external_id.as_str()).into();
    for (key, value) in variant.and_then(|v| v.as_object()).into_iter().flatten() {
        event[key] = value.clone();
    }
    let input = RenderInput {
        customer,
        order,
        products,
        event: &event,
        recommendations: &sample_products,
        successors: &sample_successors,
        picks: &sample_picks,
        new_skus: None,
        links: &serde_json::json!({"loyalty": "https://example.invalid/p/loyalty/preview", "unsubscribe": null, "survey": "https://example.invalid/p/survey/preview", "offer": "https://example.invalid/p/offer/preview", "preferences": "https://example.invalid/p/preferences/preview", "tracking": "https://example.invalid/p/tracking/preview"}),
    };
    renderer.render(template, &input)
}

/// What `preview` prints: the subject and the text part.
pub fn text_of(rendered: &Rendered) -> String {
    format!("Subject: {}\n\n{}", rendered.subject, rendered.text)
}

/// The order a preview without one of the customer's own shows.
static SAMPLE_ORDER: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({"external_id": "W1042", "customer_external_id": "C1",
        "placed_at": "2026-03-02T08:55:00Z",
        "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995},
                  {"sku": "LW-SOCK-2", "quantity": 2, "unit_price_cents": 1295}]})
});

/// Its products (also shown as recommendations).
static SAMPLE_PRODUCTS: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!([
        {"sku": "LW-STRIDE-4", "name": "Stride 4", "category": "running-shoes", "price_cents": 12995,
         "lifespan_days": 365, "tips": ["Loop ze eerst een paar keer kort in."], "successor_sku": "LW-STRIDE-5"},
        {"sku": "LW-SOCK-2", "name": "Hardloopsok", "category": "socks", "price_cents": 1295, "lifespan_days": 180}
    ])
});

/// The catalogue's successor of the sample shoe.
static SAMPLE_SUCCESSORS: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!([
        {"sku": "LW-STRIDE-5", "name": "Stride 5", "category": "running-shoes", "price_cents": 13995, "lifespan_days": 365}
    ])
});

/// What the library's triggers carry, one of each.
static SAMPLE_EVENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    // A cancellation's offer (RT1), as the default `[retention]` makes it for the price.
    let offer = crate::retention::offer_json(
        &aftercare_domain::retention::RetentionConfig::default().offers[0],
        Some(1),
        "2026-04-30T21:59:59Z".parse().expect("a timestamp"),
    );
    let checkout_lines = serde_json::json!([
        {"sku": "LW-STRIDE-4", "name": "Stride 4 hardloopschoen", "quantity": 1, "price_cents": 12995},
        {"sku": "LW-SOCK", "name": "Loopsok merino", "quantity": 1, "price_cents": 1295}
    ]);
    serde_json::json!({
        "reason_code": "price", "offer": offer,
        "carrier": "postnl", "status": "delivered", "years": 3, "age": 7,
        "product_name": "Stride 4", "sku": "LW-STRIDE-4", "successor_sku": "LW-STRIDE-5",
        "successor_name": "Stride 5 hardloopschoen", "category": "running-shoes",
        "lifespan_days": 365, "lifespan_months": 12,
        "days_since_last_order": 120, "ends_on": "2026-06-30", "valid_until": "2026-04-30",
        "other_first_name": "Bram", "member_first_name": "Sanne", "role": "referrer",
        "name": "€ 5 korting", "subject": "RMA 20417",
        // What the shop writes itself may come in several languages (`| local` picks one).
        "title": {"nl": "Nieuwe trailschoen", "en": "A new trail shoe", "fr": "Nouvelle chaussure de trail"},
        "description": {"nl": "Een lichte schoen voor paden en bos.", "en": "A light shoe for paths and woods.",
                        "fr": "Une chaussure légère pour les sentiers et les bois."},
        "topic": {"nl": "een nieuwe trailschoen", "en": "a new trail shoe", "fr": "une nouvelle chaussure de trail"},
        "reason": null, "store_name": "Loopwerk Utrecht", "store_address": "Oudegracht 100, Utrecht",
        "slot": "2026-03-10", "slot_time": "10:00–10:30",
        "change": {"kind": "safe_place", "place": "shed", "date": "2026-03-05", "house_number": "14", "point": "PostNL-punt Primera Centrum"},
        "coupon": {"code": "LW-ABCD-EFGH", "value": "€10.00", "value_kind": "amount_cents", "amount": 1000,
                   "valid_until": "2026-06-01T00:00:00Z", "pool": "win-back", "min_order_cents": 0},
        // A checkout left (CH3), as Shopify's checkouts give it.
        "checkout": "c1a2b3", "total_cents": 14290, "currency": "EUR",
        "url": "https://loopwerk.example/checkouts/c1a2b3/recover",
        "lines": checkout_lines
    })
});

/// Other sides of the sample event a template may speak to: the friend who was referred
/// (RF1 "both") rather than the referrer, and a referral without the other's first name.
static SAMPLE_VARIANTS: std::sync::LazyLock<Vec<(&str, serde_json::Value)>> =
    std::sync::LazyLock::new(|| {
        vec![
            ("role = referred", serde_json::json!({"role": "referred"})),
            (
                "role = referred, no other first name",
                serde_json::json!({"role": "referred", "other_first_name": null}),
            ),
            (
                "no other first name",
                serde_json::json!({"other_first_name": null}),
            ),
        ]
    });

/// A sample customer of `locale`, addressed formally or not, with a usable first name,
/// surname and gender, living where customers of that language live.
pub fn sample_customer(locale: Locale, formal: bool) -> CustomerRecord {
    let (first, last, gender, city, country) = match locale {
        Locale::NlNl => ("Anna", "Jansen", "female", "Utrecht", "NL"),
        Locale::NlBe => ("Wout", "Peeters", "male", "Gent", "BE"),
        Locale::En => ("Emily", "Clarke", "female", "Amsterdam", "NL"),
        Locale::FrBe => ("Julien", "Lambert", "male", "Namur", "BE"),
    };
    serde_json::from_value(serde_json::json!({
        "external_id": format!("SAMPLE-{}", locale.tag()),
        "email": format!("{}@example.invalid", first.to_lowercase()),
        "first_name": first, "last_name": last, "gender": gender,
        "address_form": if formal { "formal" } else { "informal" },
        "locale": locale.tag(),
        "time_zone": if country == "BE" { "Europe/Brussels" } else { "Europe/Amsterdam" },
        "postal_address": {"street": "Kerkstraat", "house_number": "12", "postcode": if country == "BE" { "9000" } else { "3511 AB" }, "city": city, "country": country}
    }))
    .expect("the sample customer is a valid customer")
}

/// One template rendered for one sample customer, with what [`register::mistakes`] finds.
///
/// [`register::mistakes`]: crate::register::mistakes
#[derive(Debug)]
pub struct Sample {
    /// The template.
    pub template: String,
    /// The other side of the sample event it shows, if any (`role = referred`).
    pub variant: Option<String>,
    /// The customer's language.
    pub locale: Locale,
    /// Addressed formally.
    pub formal: bool,
    /// The text `preview` prints, or why it could not render.
    pub text: Result<String, String>,
    /// The HTML part, when it rendered.
    pub html: Option<String>,
    /// Register mistakes in it.
    pub mistakes: Vec<String>,
}

/// Every template rendered for a sample customer of each language the brand writes in and
/// each address form (issue 23 points 6 and 7): what `check` warns about and what the copy
/// test holds to none.
pub fn render_samples(renderer: &Renderer) -> Vec<Sample> {
    let mut names: Vec<&str> = renderer
        .template_names()
        .iter()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
        .into_iter()
        .flat_map(|name| render_samples_of(renderer, name))
        .collect()
}

/// One template rendered for a sample customer of each language and address form, and on
/// every other side of its event it speaks to.
pub fn render_samples_of(renderer: &Renderer, name: &str) -> Vec<Sample> {
    let data = format!("{} {}", *SAMPLE_EVENT, *SAMPLE_PRODUCTS).to_lowercase();
    let data_words: Vec<&str> = data
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for &locale in &renderer.brand().languages {
        for formal in [true, false] {
            let customer = sample_customer(locale, formal);
            let render = |variant| {
                render_for(renderer, &customer, None, &[], name, variant)
                    .map(|r| (text_of(&r), r.html))
                    .map_err(|e| e.to_string())
            };
            let base = render(None);
            // A template that says something else for another side of its event is read
            // on that side too; one that does not is read once.
            let others = SAMPLE_VARIANTS.iter().filter_map(|(label, patch)| {
                let text = render(Some(patch));
                (text.as_ref().map(|t| &t.0) != base.as_ref().map(|t| &t.0))
                    .then(|| (Some(label.to_string()), text))
            });
            for (variant, rendered) in std::iter::once((None, base.clone()))
                .chain(others)
                .collect::<Vec<_>>()
            {
                let (text, html) = match rendered {
                    Ok((text, html)) => (Ok(text), Some(html)),
                    Err(e) => (Err(e), None),
                };
                let mistakes = match &text {
                    Ok(t) => {
                        crate::register::mistakes(locale, formal, customer.first_name.as_deref(), t)
                            .into_iter()
                            // The sample's product tips and offer texts are the shop's own data, in
                            // the shop's language, not the template's words.
                            .filter(|m| {
                                !data_words.iter().any(|w| {
                                    m == &format!("Dutch '{w}' in a message in {}", locale.tag())
                                })
                            })
                            .collect()
                    }
                    Err(e) => vec![format!("does not render: {e}")],
                };
                out.push(Sample {
                    template: name.to_string(),
                    variant,
                    locale,
                    formal,
                    text,
                    html,
                    mistakes,
                });
            }
        }
    }
    out
}
