//! Aftercare's insight: models of the customer relationship as pure functions over rows,
//! without I/O, so they are fast, testable and usable from the engine, the CLI and the
//! benchmarks alike.
//!
//! - [`clv`]: BG/NBD (expected purchases, P(alive)) and Gamma-Gamma (spend per purchase),
//!   reproducing the published CDNOW results, and customer lifetime value.
//! - [`pulse`]: the Net Promoter Score and the Pulse gap per driver and segment.
//! - [`recs`]: "bought this, also bought" rules with support, confidence and lift.
//! - [`retention`]: monthly cohorts, repeat-purchase rates, revenue from existing customers.
//! - [`rfm`]: recency, frequency and monetary quintile scores and named segments.
//! - [`uplift`]: a programme's goal conversion and revenue against its holdout, with 95%
//!   intervals.
//! - [`transactions`]: transaction files in, per-customer histories out.
//!
//! Requirements: WB1 (who has stopped buying), RT2 (the relationship's value over time).

pub mod clv;
pub mod pulse;
pub mod recs;
pub mod retention;
pub mod rfm;
pub mod transactions;
pub mod uplift;

pub use clv::{BgNbd, FitError, GammaGamma, History};
