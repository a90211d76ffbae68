//! `aftercare token create --name NAME`: makes an API bearer token. Only its SHA-256 is
//! stored; the token itself is printed once.

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
    },
}

/// Creates a token in `store` and returns it.
pub async fn create(store: &Store, name: &str, clock: &dyn Clock) -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "ac_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut tx = store.begin().await?;
    tx.insert_api_token(name, &aftercare_web::hash_token(&token), clock.now())
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// Runs a token subcommand.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    match command {
        Command::Create { name } => {
            let token = create(&store, &name, &SystemClock).await?;
            println!("{token}");
            eprintln!(
                "Keep this token: it is shown once. Use it as 'Authorization: Bearer {token}'."
            );
        }
    }
    Ok(())
}
