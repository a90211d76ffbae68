//! The lab: what exists to try Aftercare out, above the engine and beside the binary. A
//! generated shop ("Loopwerk": customers, catalogue, a year of orders, carrier statuses,
//! brand events and tracking-page clicks, deterministic for a seed), the demo's stand-in
//! carrier settings, the shop written as Shopify exports, the engine driven through it on a
//! virtual clock, and the fast simulator's runs on every core.
//!
//! Nothing here is needed to run a real shop; `aftercare demo`, `aftercare simulate`, the
//! admin UI's simulator and the benches use it. The binary only wires it to the
//! configuration.

pub mod demo_data;
pub mod demo_tracking;
pub mod exact;
pub mod fastsim;
pub mod shop;
pub mod shopify_export;
