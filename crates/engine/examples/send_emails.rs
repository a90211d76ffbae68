//! Benchmark helper: `send_emails N SMTP_URL [CONNECTIONS]` renders the order confirmation
//! (`programmes/templates/order_confirmation.toml`, text and the HTML layout) for N
//! customers and sends each to the SMTP server over pooled connections, as the worker's
//! delivery step does, then prints JSON with the time taken. `bench/email/run.sh` runs it
//! beside Python (Jinja2 + smtplib) sending the same template to the same sink.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use aftercare_channels::email::{EmailMessage, SmtpMailer};
use aftercare_domain::{CustomerRecord, OrderRecord, ProductRecord};
use aftercare_engine::render::{Brand, RenderInput, Renderer};

// The same allocator as the `aftercare` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn customer(i: usize) -> CustomerRecord {
    serde_json::from_value(serde_json::json!({
        "external_id": format!("C{i}"),
        "email": format!("klant{i}@example.nl"),
        "first_name": "Jan",
        "last_name": format!("Klant{i}"),
        "locale": "nl-NL",
        "time_zone": "Europe/Amsterdam",
    }))
    .expect("a valid customer")
}

fn order(i: usize) -> OrderRecord {
    serde_json::from_value(serde_json::json!({
        "external_id": format!("W{i}"),
        "customer_external_id": format!("C{i}"),
        "placed_at": "2026-11-26T10:00:00Z",
        "currency": "EUR",
        "lines": [
            {"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995},
            {"sku": "LW-SOCK-3", "quantity": 2, "unit_price_cents": 1295}
        ]
    }))
    .expect("a valid order")
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let url = args
        .next()
        .unwrap_or_else(|| "smtp://127.0.0.1:2525".into());
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../programmes/templates");
    let renderer = Arc::new(
        Renderer::load_dir(&templates, Brand::default()).expect("the library's templates load"),
    );
    // lettre pools up to ten connections per mailer, as the worker's does.
    let mailer = SmtpMailer::from_url(&url).expect("an SMTP URL");
    let products: Arc<Vec<ProductRecord>> = Arc::new(
        serde_json::from_value(serde_json::json!([
            {"sku": "LW-STRIDE-4", "name": "Stride 4", "category": "running-shoes", "price_cents": 12995},
            {"sku": "LW-SOCK-3", "name": "Hardloopsok (3 paar)", "category": "socks", "price_cents": 1295}
        ]))
        .expect("valid products"),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (renderer, mailer, products, next) = (
            renderer.clone(),
            mailer.clone(),
            products.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let links = serde_json::json!({});
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (customer, order) = (customer(i), order(i));
                let rendered = renderer
                    .render(
                        "order_confirmation",
                        &RenderInput {
                            customer: &customer,
                            order: Some(&order),
                            products: &products,
                            event: &serde_json::Value::Null,
                            recommendations: &[],
                            successors: &[],
                            picks: &[],
                            new_skus: None,
                            links: &links,
                        },
                    )
                    .expect("the template renders");
                let brand = renderer.brand();
                let email = EmailMessage {
                    from_name: brand.name.clone(),
                    from_address: brand.sender_email.clone(),
                    reply_to: brand.reply_to.clone(),
                    to: customer
                        .email
                        .as_ref()
                        .map(|e| e.as_str().to_string())
                        .unwrap_or_default(),
                    subject: rendered.subject,
                    text: rendered.text,
                    html: rendered.html,
                    message_id: format!("msg-{i}@{}", brand.message_id_domain),
                    // A fixed Date header: time is injected, even here.
                    date: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200),
                    list_unsubscribe: None,
                };
                if let Err(e) = mailer.send(&email).await {
                    eprintln!("the SMTP server refused message {i}: {e}");
                    std::process::exit(1);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a sending task");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"messages\": {n}, \"connections\": {connections}, \"seconds\": {seconds:.4}}}");
}
