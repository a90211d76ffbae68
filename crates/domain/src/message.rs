//! Messages: their class (how policy treats them) and the states they pass through.
//!
//! Every state change is stored with a reason, so the team can always see why a customer did
//! or did not get something.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a message is treated by policy (docs/DESIGN.md, "Message class").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageClass {
    /// Order and delivery messages: always sent, no marketing consent needed.
    Transactional,
    /// Tips, check-ins, replacement reminders.
    Service,
    /// Surprises, loyalty.
    Relationship,
    /// Offers.
    Promotional,
}

impl MessageClass {
    /// The lower-case name used in files and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Transactional => "transactional",
            MessageClass::Service => "service",
            MessageClass::Relationship => "relationship",
            MessageClass::Promotional => "promotional",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Transactional,
            Self::Service,
            Self::Relationship,
            Self::Promotional,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Whether sending needs marketing consent rather than service consent.
    pub fn needs_marketing_consent(self) -> bool {
        matches!(self, MessageClass::Relationship | MessageClass::Promotional)
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageState {
    /// Created by a programme step, waiting to be sent.
    Planned,
    /// Claimed by a worker; the SMTP conversation may be under way.
    Sending,
    /// Accepted by the mail server.
    Sent,
    /// Will not be sent; the reason says why.
    Blocked,
    /// Sending failed permanently.
    Failed,
}

impl MessageState {
    /// The lower-case name used in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Planned => "planned",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Blocked => "blocked",
            MessageState::Failed => "failed",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Planned,
            Self::Sending,
            Self::Sent,
            Self::Blocked,
            Self::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}
