//! `aftercare check [DIR]`: validates programmes and templates. Prints
//! `file:line:column: reason` per mistake, and a warning when a new-customer offer has no
//! counterpart for loyal customers (LY2); exits 0 when clean, 1 with findings, 2 on error.

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
