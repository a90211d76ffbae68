//! Aftercare's engine: programmes, the worker that runs them, and message rendering.
pub mod campaigns;
pub mod connectors;
pub mod content;
pub mod experiments;
pub mod feedback;
#[cfg(test)]
mod fuzz;
pub mod housekeeping;
pub mod import;
pub mod ingest;
pub mod interpret;
pub mod links;
pub mod loyalty;
pub mod preview;
pub mod privacy;
pub mod programme;
pub mod register;
pub mod render;
pub mod reports;
pub mod retention;
pub mod scores;
pub mod tracking;
pub mod words;
pub mod worker;

pub use worker::{Delivery, Engine, EngineError, PAUSE_RECHECK, PrintFiles, Ran};
pub mod condition;
pub mod occasions;
pub mod versions;
