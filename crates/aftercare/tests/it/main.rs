//! Aftercare's integration tests: the real server on a random port, real SQLite and
//! PostgreSQL, a real SMTP server on loopback, and the real binary for crash tests.

mod helpers;

mod admin;
mod api;
mod benches;
mod browser;
mod campaigns;
mod carrier;
mod channels;
mod cli;
mod connectors;
mod contract;
mod crash;
mod editor;
mod experiments;
mod hardening;
mod language;
mod library;
mod loyalty;
mod operations;
mod print;
mod programmes;
mod simulator;
mod surveys;
mod tracking;
mod unsubscribe;
mod webhooks;
