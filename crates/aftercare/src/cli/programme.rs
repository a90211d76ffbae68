//! `aftercare programme list|diff`: the programmes the engine knows, and what changed
//! between two versions of one (as stored when customers were first enrolled on each).

use aftercare_engine::versions;
use aftercare_store::Store;
use anyhow::{Context, bail};

use crate::app;
use crate::config::Config;

/// Programme subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the programme files with their trigger, version and requirements.
    List,
    /// Show what changed between two stored versions (default: the two latest).
    Diff {
        /// The programme id.
        id: String,
        /// The older version.
        #[arg(long)]
        from: Option<i32>,
        /// The newer version (default: the latest stored).
        #[arg(long)]
        to: Option<i32>,
    },
}

/// Runs a programme subcommand.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::List => {
            let (library, _) = app::load_programmes(&config).map_err(|f| {
                anyhow::anyhow!(
                    "{}",
                    f.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            for p in library.programmes.values() {
                println!(
                    "{:<28} v{:<3} {:<32} {}",
                    p.id,
                    p.version,
                    p.trigger_event,
                    p.requirements.join(", ")
                );
            }
        }
        Command::Diff { id, from, to } => {
            let store = Store::open(&config.database_url).await?;
            let mut tx = store.begin_read().await?;
            let stored: Vec<(i32, String)> = tx
                .programme_versions()
                .await?
                .into_iter()
                .filter(|(p, _, _)| *p == id)
                .map(|(_, v, text)| (v, text))
                .collect();
            tx.commit().await?;
            let to = to
                .or_else(|| stored.last().map(|(v, _)| *v))
                .with_context(|| {
                    format!("no stored versions of programme '{id}': versions are stored when `serve` or `worker` first runs them")
                })?;
            if stored.len() == 1 && from.is_none() {
                println!(
                    "Programme '{id}' has only version {to} stored; there is nothing to compare yet."
                );
                return Ok(());
            }
            let from = from.unwrap_or(to - 1);
            let text = |v: i32| {
                stored
                    .iter()
                    .find(|(s, _)| *s == v)
                    .map(|(_, t)| t.as_str())
            };
            let (Some(old), Some(new)) = (text(from), text(to)) else {
                bail!(
                    "programme '{id}' has stored versions {:?}; pick two of them",
                    stored.iter().map(|(v, _)| v).collect::<Vec<_>>()
                );
            };
            print!(
                "{}",
                versions::diff(old, new, &format!("{id} v{from}"), &format!("{id} v{to}"))
            );
        }
    }
    Ok(())
}
