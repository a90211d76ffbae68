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
