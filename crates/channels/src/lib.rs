//! Aftercare's channels: how a rendered message reaches the customer.
//!
//! Email over real SMTP ([`email`]), signed outgoing webhooks ([`webhook`]) and letters for
//! the print partner's batch ([`letter`]). Each channel splits into its configuration,
//! building the wire format, and sending. Errors say whether they are transient (retry) or
//! permanent (give up), the way lettre's SMTP errors do. Deciding *whether* to send is not
//! here: that is the engine's policy.
//!
//! Requirements: CH1 (channels), PP1/PX1 (the messages they carry).

pub mod email;
pub mod letter;
pub mod webhook;

/// Why sending failed, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server or network may recover: retry later.
    #[error("transient send failure: {0}")]
    Transient(String),
    /// Retrying will not help (bad address, rejected content, bad configuration).
    #[error("permanent send failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    /// Whether retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }
}
