//! The `aftercare` binary's library: configuration, wiring and one module per subcommand,
//! so integration tests can start the real server in-process on a random port. The
//! generated shop, the demo data and the fast simulator's runs live in `aftercare_lab`.
//!
//! Requirements: see each subcommand; the demo shop serves PP1–PP4 and DQ2 end to end.

pub mod app;
pub mod cli;
pub mod config;
pub mod projection;
