//! `aftercare preview --customer ID|FILE --template NAME`: prints the rendered subject and
//! text through the same code path as a real send; `--greeting` prints only the greeting.
//! A customer in the database brings their latest order; for a file (or a customer without
//! orders) a sample order, its products and an event with what the library's triggers carry
//! stand in, so every template can be read before it goes out (issue 23).

use std::path::Path;

use aftercare_domain::CustomerRecord;
use aftercare_engine::render::{RenderInput, Renderer};
use aftercare_store::Store;
use anyhow::{Context, bail};

use crate::app;
use crate::config::Config;

/// Options of `preview`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A customer's external id in the database, or a JSON file with a customer as the API takes it.
    #[arg(long)]
    pub customer: String,
    /// The template to render.
    #[arg(long, required_unless_present = "greeting")]
    pub template: Option<String>,
    /// Print only the greeting line.
    #[arg(long)]
    pub greeting: bool,
}

/// Renders and prints.
pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let (_, renderer) = app::load_programmes(&config).map_err(|f| {
        anyhow::anyhow!(
            "{}",
            f.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let path = Path::new(&args.customer);
    let (customer, order, products) = if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let customer: CustomerRecord = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a customer in the API's JSON", path.display()))?;
        (customer, None, Vec::new())
    } else {
        let store = Store::open(&config.database_url).await?;
        let mut tx = store.begin().await?;
        let Some(customer) = tx.customer_by_external_id(&args.customer).await? else {
            bail!(
                "no customer with external_id '{}' (and no file with that name)",
                args.customer
            );
        };
        let (order, products) = tx
            .latest_order_with_products(customer.id)
            .await?
            .map_or((None, Vec::new()), |(o, p)| (Some(o), p));
        tx.commit().await?;
        (customer.record, order.map(|o| o.record), products)
    };
    print!(
        "{}",
        preview(
            &renderer,
            &customer,
            order.as_ref(),
            &products,
            args.template.as_deref(),
            args.greeting
        )?
    );
    Ok(())
}

/// The text `preview` prints.
pub fn preview(
    renderer: &Renderer,
    customer: &CustomerRecord,
    order: Option<&aftercare_domain::OrderRecord>,
    products: &[aftercare_domain::ProductRecord],
    template: Option<&str>,
    greeting_only: bool,
) -> anyhow::Result<String> {
    if greeting_only {
        return Ok(format!("{}\n", renderer.greeting(customer).line));
    }
    // Without an order of the customer's own, a sample order and its products stand in, and
    // the event carries what the library's triggers carry (a carrier status, a coupon, an
    // anniversary's years, a delivery change, a fitting…), so every template can be read.
    let sample_order: Option<aftercare_domain::OrderRecord> =
        serde_json::from_value(SAMPLE_ORDER.clone()).ok();
    let sample_products: Vec<aftercare_domain::ProductRecord> =
        serde_json::from_value(SAMPLE_PRODUCTS.clone()).unwrap_or_default();
    let (order, products) = match order {
        Some(o) => (Some(o), products),
        None => (sample_order.as_ref(), sample_products.as_slice()),
    };
    let mut event = SAMPLE_EVENT.clone();
    event["order_external_id"] = order.map(|o| o.external_id.as_str()).into();
    let input = RenderInput {
        customer,
        order,
        products,
        event: &event,
        recommendations: &sample_products,
        new_skus: None,
        links: &serde_json::json!({"loyalty": "https://example.invalid/p/loyalty/preview", "unsubscribe": null, "survey": "https://example.invalid/p/survey/preview", "preferences": "https://example.invalid/p/preferences/preview", "tracking": "https://example.invalid/p/tracking/preview"}),
    };
    let rendered = renderer.render(template.unwrap_or_default(), &input)?;
    Ok(format!(
        "Subject: {}\n\n{}",
        rendered.subject, rendered.text
    ))
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

/// What the library's triggers carry, one of each.
static SAMPLE_EVENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({
        "carrier": "postnl", "status": "delivered", "years": 3, "age": 7,
        "product_name": "Stride 4", "sku": "LW-STRIDE-4", "successor_sku": "LW-STRIDE-5",
        "successor_name": "Stride 5 hardloopschoen", "category": "running-shoes",
        "lifespan_days": 365, "lifespan_months": 12,
        "days_since_last_order": 120, "ends_on": "2026-06-30", "valid_until": "2026-04-30",
        "other_first_name": "Bram", "member_first_name": "Sanne", "role": "referrer",
        "name": "€ 5 korting", "title": "Nieuwe trailschoen", "subject": "Je vraag over je bestelling",
        "description": "Een lichte schoen voor paden en bos.", "topic": "een nieuwe trailschoen",
        "reason": null, "store_name": "Loopwerk Utrecht", "store_address": "Oudegracht 100, Utrecht",
        "slot": "2026-03-10", "slot_time": "10:00–10:30",
        "change": {"kind": "safe_place", "place": "shed", "date": "2026-03-05", "house_number": "14", "point": "PostNL-punt Primera Centrum"},
        "coupon": {"code": "LW-ABCD-EFGH", "value": "€10.00", "value_kind": "amount_cents", "amount": 1000,
                   "valid_until": "2026-06-01T00:00:00Z", "pool": "win-back", "min_order_cents": 0}
    })
});
