//! Aftercare's domain: the types every other crate speaks, and the rules that need no I/O.
//!
//! Input becomes a domain type at the edge (`EmailAddress::parse`, `CustomerRecord::validate`);
//! inside, only the types travel. This crate does no I/O: it has no tokio, sqlx or axum in
//! its `Cargo.toml`. Time comes from [`clock`], the only module that reads the wall clock.
//!
//! Requirements: DQ2 (salutation rules in [`greeting`]).

pub mod clock;
pub mod customer;
pub mod delivery;
pub mod error;
pub mod greeting;
pub mod loyalty;
pub mod message;
pub mod policy;
pub mod print;
pub mod retention;
pub mod sms;
pub mod survey;
pub mod text;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use customer::{
    AddressForm, Channel, Consent, CustomerRecord, EmailAddress, ExternalId, Gender, Locale,
    PhoneNumber, PostalAddress, Purpose, TimeZoneName,
};
pub use error::FieldError;
pub use greeting::{Greeting, NameInput, greeting};
pub mod commerce;
pub use commerce::{
    CancellationRecord, ContractRecord, DeliveryMethod, EventRecord, OrderLine, OrderRecord,
    ProductRecord, ProductText, ProductTranslations, ShipmentEventRecord, ShipmentStatus,
};
pub use message::{MessageClass, MessageState};
