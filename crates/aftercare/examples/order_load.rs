//! The load of `bench/engine/run.sh`: N new customers, each placing one order through the
//! API, and the time until each order's confirmation reaches the SMTP sink.
//!
//! ```text
//! order_load URL TOKEN ORDERS CLIENTS RATE DUMP
//! ```
//! - `RATE`: orders per second, spread evenly (0: as fast as `CLIENTS` connections go);
//! - `DUMP`: the directory postfix's `smtp-sink -d DUMP/m.` writes every message to as a file
//!   of its own (the tool reads and removes them); a customer's first message is its order
//!   confirmation (no programme of the library writes to a new customer before the order).
//!
//! The customers are made first (not timed); then the orders go in, and the tool prints one
//! line of JSON: orders accepted per second, confirmations per second from the first order
//! to the last confirmation, and the latency from an order's answer to its confirmation
//! (median, p99, max).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, token, orders, clients, rate, dump] = args.as_slice() else {
        eprintln!("usage: order_load URL TOKEN ORDERS CLIENTS RATE DUMP");
        std::process::exit(2);
    };
    let n: usize = orders.parse().expect("ORDERS is a number");
    let clients: usize = clients.parse().expect("CLIENTS is a number");
    let rate: f64 = rate.parse().expect("RATE is a number");
    // Plain HTTP on loopback; building the channels' client installs the TLS provider
    // reqwest insists on.
    let _ = aftercare_channels::webhook::WebhookClient::new(false);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let api = Api {
        http,
        url: url.trim_end_matches('/').to_string(),
        token: token.clone(),
    };
    // A run's own addresses, so a store that is reused never mixes runs.
    let run = std::process::id();

    api.post(
        "/v1/products",
        serde_json::json!({"sku": "LW-STRIDE-4", "name": "Stride 4",
            "category": "running-shoes", "price_cents": 12995}),
    )
    .await;
    let setup = Instant::now();
    let for_customers = api.clone();
    fan_out(n, clients, 0.0, move |i| {
        let api = for_customers.clone();
        async move {
            api.post("/v1/customers", customer(run, i)).await;
        }
    })
    .await;
    let setup = setup.elapsed();

    // Arrivals: the sink's dump directory, read on a thread of its own.
    let arrived: Arc<Mutex<Vec<Option<SystemTime>>>> = Arc::new(Mutex::new(vec![None; n]));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    {
        let arrived = arrived.clone();
        let dump = std::path::PathBuf::from(dump);
        let prefix = format!("<load{run}-");
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                let mut found = false;
                for entry in std::fs::read_dir(&dump).expect("reading the sink's dump directory") {
                    let Ok(entry) = entry else { continue };
                    let Ok(written) = entry.metadata().and_then(|m| m.modified()) else {
                        continue;
                    };
                    // The sink keeps a message's file open until the transaction ends: a
                    // file is read once nothing was written to it for a moment, and its
                    // last write is when the message arrived.
                    if written.elapsed().unwrap_or_default() < SETTLED {
                        continue;
                    }
                    found = true;
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    let _ = std::fs::remove_file(entry.path());
                    let i = text.lines().find_map(|line| {
                        line.strip_prefix("X-Rcpt-Args: ")?
                            .strip_prefix(&prefix)?
                            .split('@')
                            .next()?
                            .parse::<usize>()
                            .ok()
                    });
                    let Some(i) = i else { continue };
                    let mut a = arrived.lock().unwrap();
                    if i < a.len() && a[i].is_none() {
                        a[i] = Some(written);
                        seen += 1;
                        if seen == a.len() {
                            let _ = done_tx.send(());
                            return;
                        }
                    }
                }
                if !found {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
    }

    let answered: Arc<Mutex<Vec<Option<SystemTime>>>> = Arc::new(Mutex::new(vec![None; n]));
    let start = wall_now();
    {
        let answered = answered.clone();
        fan_out(n, clients, rate, move |i| {
            let api = api.clone();
            let answered = answered.clone();
            async move {
                api.post("/v1/orders", order(run, i)).await;
                answered.lock().unwrap()[i] = Some(wall_now());
            }
        })
        .await;
    }
    let accepted = start.elapsed().unwrap_or_default();
    let timeout = Duration::from_secs(600);
    if !matches!(
        tokio::time::timeout(timeout, done_rx.recv()).await,
        Ok(Some(()))
    ) {
        let got = arrived.lock().unwrap().iter().flatten().count();
        eprintln!("only {got} of {n} confirmations arrived within {timeout:?}");
        std::process::exit(1);
    }
    let arrived = arrived.lock().unwrap();
    let answered = answered.lock().unwrap();
    let last = arrived.iter().flatten().max().copied().unwrap_or(start);
    let mut latency: Vec<f64> = arrived
        .iter()
        .zip(answered.iter())
        .filter_map(|(a, o)| {
            Some(
                a.as_ref()?
                    .duration_since((*o)?)
                    .unwrap_or_default()
                    .as_secs_f64(),
            )
        })
        .collect();
    latency.sort_by(f64::total_cmp);
    let pick = |q: f64| latency[((latency.len() as f64 - 1.0) * q).round() as usize];
    let total = last.duration_since(start).unwrap_or_default().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "orders": n,
            "clients": clients,
            "rate": rate,
            "customers_per_second": n as f64 / setup.as_secs_f64(),
            "orders_per_second": n as f64 / accepted.as_secs_f64(),
            "seconds": total,
            "confirmations_per_second": n as f64 / total,
            "latency_p50": pick(0.5),
            "latency_p99": pick(0.99),
            "latency_max": pick(1.0),
        })
    );
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: serde_json::Value) {
        for attempt in 0.. {
            match self
                .http
                .post(format!("{}{path}", self.url))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return,
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {}
                Ok(r) => {
                    let status = r.status();
                    panic!(
                        "POST {path}: {status}: {}",
                        r.text().await.unwrap_or_default()
                    )
                }
                Err(e) if attempt > 20 => panic!("POST {path}: {e}"),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `work(i)` for every i < n on `clients` tasks, started at `rate` a second (0: as fast
/// as they finish).
async fn fan_out<F, Fut>(n: usize, clients: usize, rate: f64, work: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, work) = (next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if rate > 0.0 {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                work(i).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn customer(run: u32, i: usize) -> serde_json::Value {
    serde_json::json!({
        "external_id": format!("L{run}-{i}"),
        "email": format!("load{run}-{i}@example.nl"),
        "first_name": "Jan",
        "last_name": "Jansen",
        "address_form": "informal",
        "locale": "nl-NL",
        "time_zone": "Europe/Amsterdam",
        "consents": [{"purpose": "service", "channel": "email", "granted": true,
            "source": "checkout", "at": "2026-01-01T10:00:00Z"}]
    })
}

fn order(run: u32, i: usize) -> serde_json::Value {
    serde_json::json!({
        "external_id": format!("L{run}-W{i}"),
        "customer_external_id": format!("L{run}-{i}"),
        "placed_at": jiff_now(),
        "lines": [{"sku": "LW-STRIDE-4", "quantity": 1, "unit_price_cents": 12995}]
    })
}

/// Now, as the API expects it: the load tool stands for the shop, which has a wall clock.
#[allow(clippy::disallowed_methods)]
fn jiff_now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The wall clock the sink's files are stamped with: an order's answer and its confirmation's
/// arrival are compared on it.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// How long a dump file must be left alone before it counts as complete.
const SETTLED: Duration = Duration::from_millis(100);
