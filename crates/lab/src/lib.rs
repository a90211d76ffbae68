//! The lab: what exists to try Aftercare out, above the engine and beside the binary. A
//! generated shop ("Loopwerk": customers, catalogue, a year of orders, carrier statuses,
//! brand events and tracking-page clicks, deterministic for a seed), the demo's stand-in
//! carrier settings, the shop written as Shopify exports, the engine driven through it on a
//! virtual clock, and the fast simulator ([`simulator`]: the engine's interpreter driven
//! over households in memory) with its runs on every core ([`fastsim`]).
//!
//! Throw-away runs beside a live engine live here too ([`trial`]): the admin UI's
//! simulations and a customer's contact calendar ([`projection`]), each on its own SQLite
//! file with the stand-in carrier ([`stand_in`]) and nothing that reaches outside.
//!
//! Nothing here is needed to deliver a real shop's messages; `aftercare demo`, `aftercare
//! simulate`, the admin UI and the benches use it. The binary only wires it to the
//! configuration.

pub mod demo_data;
pub mod demo_tracking;
pub mod exact;
pub mod fastsim;
pub mod projection;
pub mod shop;
pub mod shopify_export;
pub mod simulator;
pub mod stand_in;
pub mod trial;
