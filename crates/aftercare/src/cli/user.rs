//! `aftercare user create --username NAME --role viewer|editor|admin [--language en|nl]`:
//! makes a team account for the admin UI. The password is read from standard input (one
//! line), hashed with argon2id, and never stored or shown in clear.

use std::io::{BufRead, IsTerminal, Write};

use aftercare_domain::{Clock, SystemClock};
use aftercare_store::{Store, StoreError};
use aftercare_web::pages::admin::auth::{Role, hash_password};
use anyhow::bail;

use crate::config::Config;

/// User subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a team account; the password comes from standard input.
    Create {
        /// Sign-in name.
        #[arg(long)]
        username: String,
        /// viewer (reads), editor (also pauses programmes, fixes data), admin (also erases).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// The admin UI's language: en or nl.
        #[arg(long, default_value = "en")]
        language: String,
    },
}

/// Creates an account; a bad name, role, language or password names the field.
pub async fn create(
    store: &Store,
    username: &str,
    role: &str,
    language: &str,
    password: &str,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let username = aftercare_web::pages::admin::auth::parse_username(username)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
    if language != "en" && language != "nl" {
        bail!("language: '{language}' is not one of en, nl");
    }
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
    let mut tx = store.begin().await?;
    match tx
        .insert_team_user(username, &hash, role.as_str(), language, clock.now())
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => bail!("username: '{username}' already exists"),
        Err(e) => return Err(e.into()),
    }
    tx.audit(
        "cli",
        "user.create",
        &format!("user:{username}"),
        None,
        Some(&serde_json::json!({"role": role.as_str(), "language": language}).to_string()),
        clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Runs a user subcommand.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url).await?;
    match command {
        Command::Create {
            username,
            role,
            language,
        } => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("Password for {username} (at least 12 characters): ");
                std::io::stderr().flush()?;
            }
            let mut password = String::new();
            stdin.lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            create(&store, &username, &role, &language, password, &SystemClock).await?;
            eprintln!("Created {username} ({role}). Sign in at /admin.");
        }
    }
    Ok(())
}
