//! `aftercare`: one binary for the API, the worker, the demo and the tools.

use std::path::PathBuf;
use std::process::ExitCode;

use aftercare::cli;
use aftercare::config::Config;
use clap::{Parser, Subcommand};

// mimalloc keeps freed memory for reuse: print batches and busy servers allocate and free
// large buffers all the time, which glibc hands back to the kernel and faults in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "aftercare",
    version,
    about = "Keeps a brand in a good, relevant conversation with the customers it already has."
)]
struct Cli {
    /// Configuration file (default: ./aftercare.toml if present; AFTERCARE_CONFIG also works).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the pages and the worker in one process.
    Serve(cli::serve::Args),
    /// Run the engine only.
    Worker,
    /// Run a generated demo shop on a fresh SQLite file.
    Demo(cli::demo::Args),
    /// Apply database migrations.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(cli::token::Command),
    /// Manage team accounts for the admin UI.
    #[command(subcommand)]
    User(cli::user::Command),
    /// Check programmes and templates; exit 0 clean, 1 with mistakes, 2 on error.
    Check(cli::check::Args),
    /// Render a template for a customer as a real send would.
    Preview(cli::preview::Args),
    /// Run a generated shop through the programmes on a virtual clock and report.
    Simulate(cli::simulate::Args),
    /// Import a shop's history (JSON Lines, or Shopify's customer and order exports): stored
    /// as history, starting no programme; re-running adds nothing, an interrupted run
    /// resumes.
    Import(cli::import::Args),
    /// Write a day's print batch of letters: PDF, address file and manifest.
    PrintBatch(cli::print_batch::Args),
    /// Models of the relationship: `insight clv` fits customer-lifetime models.
    #[command(subcommand)]
    Insight(cli::insight::Command),
    /// List programmes, or show what changed between two versions of one.
    #[command(subcommand)]
    Programme(cli::programme::Command),
    /// Print the API's OpenAPI 3.1 document.
    Openapi,
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AFTERCARE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr);
    // One JSON object per line for a log collector, on request.
    match std::env::var("AFTERCARE_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            eprintln!("error: AFTERCARE_LOG_FORMAT: must be 'text' or 'json', not '{other}'");
            return ExitCode::from(2);
        }
    }
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Openapi = args.command {
        return cli::openapi::run();
    }
    if let Command::Check(a) = args.command {
        return cli::check::run(a, config);
    }
    if let Command::Insight(c) = args.command {
        return cli::insight::run(c, &config);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match args.command {
            Command::Serve(a) => cli::serve::run(a, config).await,
            Command::Worker => cli::worker::run(config).await,
            Command::Demo(a) => cli::demo::run(a, config).await,
            Command::Migrate => cli::migrate::run(config).await,
            Command::Token(c) => cli::token::run(c, config).await,
            Command::User(c) => cli::user::run(c, config).await,
            Command::Preview(a) => cli::preview::run(a, config).await,
            Command::Programme(c) => cli::programme::run(c, config).await,
            Command::Simulate(a) => cli::simulate::run(a, config).await,
            Command::PrintBatch(a) => cli::print_batch::run(a, config).await,
            Command::Import(a) => cli::import::run(a, config).await,
            Command::Check(_) | Command::Insight(_) | Command::Openapi => {
                unreachable!("handled above")
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
