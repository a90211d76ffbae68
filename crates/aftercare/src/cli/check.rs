//! `aftercare check [DIR]`: validates programmes and templates. Prints
//! `file:line:column: reason` per mistake, and a warning when a new-customer offer has no
//! counterpart for loyal customers (LY2) and for each register mistake it sees when it
//! renders every template for a sample customer of each language and address form (issue
//! 23 point 6: "wil u", "je" in a formal message, Dutch in an English one…); exits 0 when
//! clean (warnings included), 1 with findings, 2 on error.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::app;
use crate::config::Config;

/// Options of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The programme folder (default: the configured one). Templates are read from its
    /// `templates/` folder unless the configuration names another.
    pub dir: Option<PathBuf>,
}

/// Checks and reports.
pub fn run(args: Args, mut config: Config) -> ExitCode {
    if let Some(dir) = args.dir {
        config.templates_dir = dir.join("templates");
        config.programmes_dir = dir;
    }
    match app::load_programmes(&config) {
        Ok((library, renderer)) => {
            // LY2: loyal customers should get what new customers get.
            for warning in config.loyalty.ly2_warnings() {
                println!("warning: {warning}");
            }
            for sample in super::preview::render_samples(&renderer) {
                for mistake in &sample.mistakes {
                    println!(
                        "warning: {} [{} {}{}]: {mistake}",
                        config
                            .templates_dir
                            .join(format!("{}.toml", sample.template))
                            .display(),
                        sample.locale.tag(),
                        if sample.formal { "formal" } else { "informal" },
                        sample
                            .variant
                            .as_deref()
                            .map(|v| format!(", {v}"))
                            .unwrap_or_default()
                    );
                }
            }
            println!(
                "{}: {} programme(s), {} template(s), no mistakes.",
                config.programmes_dir.display(),
                library.programmes.len(),
                renderer.template_names().len()
            );
            ExitCode::SUCCESS
        }
        Err(findings) => {
            for f in &findings {
                println!("{f}");
            }
            eprintln!("{} mistake(s).", findings.len());
            ExitCode::from(1)
        }
    }
}
