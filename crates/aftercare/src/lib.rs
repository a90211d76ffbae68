//! The `aftercare` binary's library: configuration, wiring and one module per subcommand,
//! so integration tests can start the real server in-process on a random port.
//!
//! Requirements: see each subcommand; the demo shop serves PP1–PP4 and DQ2 end to end.

pub mod app;
pub mod cli;
pub mod config;
pub mod demo_data;
pub mod demo_tracking;
pub mod fastsim;
pub mod projection;
pub mod shop;
pub mod shopify_export;
