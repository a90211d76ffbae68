//! `aftercare token create --name NAME [--scope SCOPE]…`: makes an API bearer token with
//! the scopes its user needs (issue 21; every scope when none is named). Only its SHA-256
//! is stored; the token itself is printed once.

use aftercare_domain::{Clock, SystemClock};
use aftercare_store::Store;
use rand::RngCore;

use crate::config::Config;

/// Token subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a token and print it.
    Create {
        /// What the token is for, e.g. "webshop".
        #[arg(long, default_value = "default")]
        name: String,
        /// What it may do: all, read, shop, campaigns, privacy, operations, metrics (repeat,
        /// or separate with commas). The shop's token needs `shop`; a dashboard `read`; a
        /// Prometheus scraper `metrics`.
        #[arg(long = "scope", default_value = "all", value_delimiter = ',')]
        scopes: Vec<String>,
    },
}

/// Creates a token with every scope in `store` and returns it.
pub async fn create(store: &Store, name: &str, clock: &dyn Clock) -> anyhow::Result<String> {
    create_scoped(store, name, "all", clock).await
}

/// Creates a token with `scopes` (comma-separated; an unknown one is refused by name) in
/// `store` and returns it.
pub async fn create_scoped(
    store: &Store,
    name: &str,
    scopes: &str,
    clock: &dyn Clock,
) -> anyhow::Result<String> {
    let scopes: Vec<&str> = aftercare_web::Scope::parse_list(scopes)
        .map_err(|e| anyhow::anyhow!("--scope: {e}"))?
        .into_iter()
        .map(<&str>::from)
        .collect();
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "ac_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut tx = store.begin().await?;
    tx.insert_api_token(
        name,
        &aftercare_web::hash_token(&token),
        &scopes.join(","),
        clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Runs a token subcommand.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    match command {
        Command::Create { name, scopes } => {
            let scopes = scopes.join(",");
            let token = create_scoped(&store, &name, &scopes, &SystemClock).await?;
            println!("{token}");
            eprintln!(
                "Keep this token: it is shown once. Use it as 'Authorization: Bearer {token}'. Scopes: {scopes}."
            );
            if scopes.split(',').any(|s| s.trim() == "all") {
                eprintln!(
                    "This token may do everything, erasing customers included. A token for the shop needs only --scope shop; for a dashboard --scope read."
                );
            }
        }
    }
    Ok(())
}
