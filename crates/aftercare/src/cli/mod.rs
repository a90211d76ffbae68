//! The subcommands, one file each with its `Args` and `run`.

pub mod check;
pub mod demo;
pub mod import;
pub mod insight;
pub mod migrate;
pub mod openapi;
pub mod preview;
pub mod print_batch;
pub mod programme;
pub mod serve;
pub mod simulate;
pub mod token;
pub mod user;
pub mod worker;

/// A spinner with `message` on a terminal (long runs show they are alive); nothing when the
/// output goes to a file or a pipe.
pub(crate) fn spinner(message: &'static str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar over `len` items on a terminal, hidden otherwise.
pub(crate) fn counter(message: &'static str, len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.with_message(message)
}
