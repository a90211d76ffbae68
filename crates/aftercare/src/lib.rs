//! The `aftercare` binary's library: configuration, wiring and one module per subcommand,
//! so integration tests can start the real server in-process on a random port. The
//! generated shop, the demo data, the fast simulator's runs and the admin UI's throw-away
//! runs (simulations, contact calendars) live in `aftercare_lab`.
//!
//! Requirements: see each subcommand; the demo shop serves PP1–PP4 and DQ2 end to end.

pub mod app;
pub mod cli;
pub mod config;
