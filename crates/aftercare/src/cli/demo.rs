//! `aftercare demo`: a running-shoe shop on a fresh SQLite file. A year of history is
//! imported as it happened before Aftercare went live; the last three weeks run through the
//! programmes on a virtual clock (so the outbox already shows confirmations, shipping
//! messages, tips, check-ins, offers and occasions); then the server starts on the real
//! clock and a new order arrives every few seconds, so you watch messages appear.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aftercare_domain::{Clock, ExternalId, ManualClock, ProductRecord, SystemClock};
use aftercare_engine::Engine;
use aftercare_store::Table;
use aftercare_web::WebOptions;
use anyhow::Context;
use jiff::SignedDuration;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::app;
use crate::config::Config;
use aftercare_lab::demo_data;
use aftercare_lab::shop;

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many customers the shop has.
    #[arg(long, default_value_t = 3000)]
    pub customers: usize,
    /// The SQLite file to (re)create.
    #[arg(long, default_value = "aftercare-demo.db")]
    pub db: PathBuf,
    /// Seed for the generated shop.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Seconds between live orders once the server runs (0: none).
    #[arg(long, default_value_t = 20)]
    pub live_every: u64,
    /// Build the shop and exit instead of serving it.
    #[arg(long)]
    pub no_serve: bool,
    /// Write the generated shop's year as Shopify's customer and order exports into this
    /// folder and exit, to feed it through `aftercare import` as a real shop's history.
    #[arg(long)]
    pub shopify_export: Option<PathBuf>,
}

const LIVE_DAYS: i64 = 21;

/// Builds the shop, then serves it until Ctrl-C.
pub async fn run(args: Args, mut config: Config) -> anyhow::Result<()> {
    if let Some(dir) = &args.shopify_export {
        let now = SystemClock.now();
        let plan = shop::plan(
            args.seed,
            args.customers,
            now - SignedDuration::from_hours(24 * 365),
            now - SignedDuration::from_hours(24 * 30),
            now,
        );
        let w = aftercare_lab::shopify_export::write(
            dir,
            &plan.customers,
            &plan.catalogue,
            &plan.actions,
            now,
        )?;
        println!(
            "Wrote {} customers and {} orders ({} rows) to {}: import them with\n  aftercare import customers {}\n  aftercare import orders {}",
            w.customers,
            w.orders,
            w.lines,
            dir.display(),
            dir.join("customers_export.csv").display(),
            dir.join("orders_export.csv").display(),
        );
        return Ok(());
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = args.db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    config.database_url = format!("sqlite://{}", args.db.display());
    // Without configured carriers the demo's own stand-in carrier takes changes: on a
    // side port while the history runs on the virtual clock, then on the demo server.
    let own_carriers = !config.tracking.carriers.is_empty();
    let carrier = app::stand_in_carrier(&mut config).await?;
    let real_now = SystemClock.now();
    let start = real_now - SignedDuration::from_hours(24 * 365);
    let live_from = real_now - SignedDuration::from_hours(24 * LIVE_DAYS);
    let clock = Arc::new(ManualClock::new(start));
    let engine = app::build_engine(&config, clock.clone()).await?;
    let _carrier = carrier.map(|listener| app::serve_stand_in_carrier(&engine, listener));
    let store = engine.store().clone();

    eprintln!(
        "Building the demo shop Loopwerk: {} customers, a year of orders…",
        args.customers
    );
    let plan = shop::plan(
        args.seed,
        args.customers,
        start,
        real_now - SignedDuration::from_hours(24 * 30),
        real_now,
    );
    let step = super::spinner("Storing the customers and a year of orders as history");
    shop::load(&store, &plan, real_now).await?;
    shop::import_history(&engine, &plan.actions, live_from).await?;
    step.finish_and_clear();
    eprintln!("Running the last {LIVE_DAYS} days through the programmes…");
    // On a terminal a bar over the hours; in a log a line at every quarter.
    let hours = usize::try_from(LIVE_DAYS * 24).unwrap_or(0);
    let bar = super::counter("Hours", hours);
    let mut quarter = 0;
    shop::run_live(
        &engine,
        &clock,
        &plan.actions,
        live_from,
        real_now,
        |done, total| {
            bar.set_position(done / 3600);
            let reached = (done * 4).checked_div(total).unwrap_or(4);
            if bar.is_hidden() && reached > quarter && reached < 4 {
                quarter = reached;
                eprintln!("  {}% of the {LIVE_DAYS} days done", reached * 25);
            }
        },
    )
    .await?;
    bar.finish_and_clear();
    let orders = store.count(Table::Orders).await?;
    let messages = store.count(Table::Messages).await?;
    eprintln!(
        "Demo shop ready: {} customers, {orders} orders, {messages} messages in the outbox.",
        plan.customers.len()
    );

    let token = crate::cli::token::create(&store, "demo", &SystemClock).await?;
    // A team account for the admin UI, with a fresh password shown below.
    let admin_password = {
        use rand::RngCore;
        let mut bytes = [0u8; 9];
        rand::rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    crate::cli::user::create(&store, "demo", "admin", "en", &admin_password, &SystemClock).await?;
    if args.no_serve {
        println!("{token}");
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    if !own_carriers {
        config.tracking = aftercare_lab::demo_tracking::tracking(&format!("http://{address}"));
    }
    let live_engine = app::build_engine(&config, Arc::new(SystemClock)).await?;
    println!();
    println!("  Aftercare demo is running.");
    println!("  Admin UI:  http://{address}/admin  (sign in as demo / {admin_password})");
    println!("  Outbox:    http://{address}/outbox");
    println!("  API:       http://{address}/v1/openapi.json");
    println!("  API token: {token}");
    println!(
        "  Try:       curl -H 'Authorization: Bearer {token}' http://{address}/v1/customers/C00001"
    );
    if let Some(first) = plan.customers.first() {
        let mut tx = store.begin_read().await?;
        if let Some(c) = tx
            .customer_by_external_id(first.external_id.as_str())
            .await?
        {
            let expires = SystemClock.now() + SignedDuration::from_hours(24 * 30);
            let token =
                live_engine
                    .links()
                    .token(aftercare_engine::links::Page::Loyalty, c.id, expires);
            println!(
                "  Loyalty:   http://{address}/p/loyalty/{token}  ({})",
                first.external_id.as_str()
            );
        }
        // The latest home delivery, still under way if one is: its page offers changes.
        if let Some(id) = tx.latest_changeable_shipment().await? {
            let expires = SystemClock.now() + SignedDuration::from_hours(24 * 30);
            let token =
                live_engine
                    .links()
                    .token(aftercare_engine::links::Page::Tracking, id, expires);
            println!("  Tracking:  http://{address}/p/tracking/{token}");
        }
    }
    println!(
        "  A new order arrives every {} s; stop with Ctrl-C.",
        args.live_every
    );
    println!();
    if args.live_every > 0 {
        let (engine, every) = (live_engine.clone(), args.live_every);
        let ids: Vec<ExternalId> = plan
            .customers
            .iter()
            .map(|c| c.external_id.clone())
            .collect();
        let (catalogue, seq) = (plan.catalogue, plan.last_order);
        tokio::spawn(async move { live_orders(engine, ids, catalogue, seq, every).await });
    }
    app::run_server(
        live_engine,
        listener,
        WebOptions {
            outbox_page: true,
            stand_in_carrier: true,
            trusted_proxies: config.trusted_proxies.clone(),
            limits: config.server.clone(),
            connectors: config.connectors.clone(),
        },
        true,
        app::shutdown_signal(),
    )
    .await
}

/// Places an order every `every` seconds and moves its parcel along within minutes.
async fn live_orders(
    engine: Engine,
    customers: Vec<ExternalId>,
    catalogue: Vec<ProductRecord>,
    mut seq: usize,
    every: u64,
) {
    let mut rng = StdRng::seed_from_u64(seq as u64);
    loop {
        tokio::time::sleep(Duration::from_secs(every)).await;
        let Some(customer) = customers.choose(&mut rng) else {
            return;
        };
        seq += 1;
        let now = engine.clock().now();
        // Parcels travel in minutes instead of days, so the demo shows the whole journey.
        let actions =
            demo_data::order_with_shipping(&mut rng, seq, customer, now, &catalogue, 0.05);
        for (at, action) in actions {
            let wait = (at - engine.clock().now()).as_secs().max(0).unsigned_abs();
            let engine = engine.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                let Ok(mut tx) = engine.store().begin().await else {
                    return;
                };
                let now = engine.clock().now();
                if shop::apply(&mut tx, &engine, &action, now).await.is_ok()
                    && tx.commit().await.is_ok()
                {
                    engine.wake();
                }
            });
        }
    }
}
