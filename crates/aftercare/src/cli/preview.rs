//! `aftercare preview --customer ID|FILE --template NAME`: prints the rendered subject and
//! text through the same code path as a real send; `--greeting` prints only the greeting.
//! A customer in the database brings their latest order; for a file (or a customer without
//! orders) a sample order, its products and an event with what the library's triggers carry
//! stand in, so every template can be read before it goes out (issue 23).

use std::path::Path;

use aftercare_domain::CustomerRecord;
use aftercare_engine::preview as samples;
use aftercare_engine::render::Renderer;
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
    let rendered = samples::render_for(
        renderer,
        customer,
        order,
        products,
        template.unwrap_or_default(),
        None,
    )?;
    Ok(samples::text_of(&rendered))
}

pub use samples::{Sample, render_samples, sample_customer};
