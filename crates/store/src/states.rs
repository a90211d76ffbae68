//! The states and kinds rows are in, as enums stored as their snake_case names (issue 20).
//!
//! Each enum has an `Unknown` variant for a name this version does not know (written by a
//! newer one), so a row from the future is set aside or shown as it is rather than failing
//! every read. Names are mapped by `strum`; `as_str` gives the stored name and `From<&str>`
//! reads one.
//! (`strum`'s `TryFrom<&str>` is the strict reading.)

use serde::{Serialize, Serializer};

/// `as_str`, `named`, `Display`, `Serialize` and sqlx's `Type`/`Encode`/`Decode` (as the stored name,
/// on either backend) for a unit-variant state enum that derives `strum::EnumString` and
/// `strum::IntoStaticStr`: a row struct holds the enum and a query binds it as it is.
macro_rules! stored_names {
    ($($name:ident),+ $(,)?) => {$(
        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Reads a stored name; one this version does not know is `Unknown`.
            pub fn named(name: &str) -> Self {
                name.parse().unwrap_or($name::Unknown)
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'static str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                self.as_str().encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::named(<&'r str as sqlx::Decode<'r, DB>>::decode(value)?))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )+};
}

/// The kinds of job the engine runs, stored as their names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, strum::EnumString, strum::AsRefStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum JobKind {
    /// Route an event to the programmes it triggers.
    Event,
    /// Run an enrolment's next steps.
    Step,
    /// Render and send a message.
    Deliver,
    /// Compute calendar occasions (hourly, recurring): plans the day's parts.
    Calendar,
    /// Store one part of a local day's occasions in a time zone (issue 22).
    CalendarPart,
    /// Refresh every customer's relationship scores (daily; at most one at a time).
    Scores,
    /// Settle a referral when the first order's return period has passed (RF1).
    Referral,
    /// Pass a delivery change on to the carrier (PX2).
    Carrier,
    /// Plan a page of a scheduled campaign's recipients (issue 21).
    Campaign,
    /// Call the brand's system for a programme's `webhook` step.
    Webhook,
    /// Import a slice of an uploaded history file (`POST /v1/imports`).
    Import,
    /// Create the codes Aftercare issued in the shop (recurring, `[connectors.shop_codes]`).
    ShopCodes,
    /// Run a simulation the team asked for in the admin UI (issue 22), beside the work.
    Simulation,
    /// Work out a customer's coming year for the admin UI's contact calendar, beside the work.
    Projection,
    /// A kind this version does not know (written by a newer one): the worker sets it
    /// aside rather than fail every claim.
    #[strum(default)]
    Unknown(String),
}

impl JobKind {
    /// The stored name (an unknown kind's own).
    pub fn as_str(&self) -> &str {
        match self {
            JobKind::Unknown(name) => name,
            known => known.as_ref(),
        }
    }
}

impl From<String> for JobKind {
    fn from(name: String) -> Self {
        // `Unknown` is the parse's default, so this cannot fail.
        name.parse().unwrap_or(JobKind::Unknown(name))
    }
}

/// The state of a programme enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EnrolmentState {
    /// Steps remain.
    Active,
    /// Waiting for an event (`wait_for`) or its timeout.
    Waiting,
    /// In the holdout group: gets nothing, counted for the goal.
    Holdout,
    /// All steps ran.
    Completed,
    /// Left early: an exit event, the goal, or an exit step; `exit_reason` says which.
    Exited,
    /// A state this version does not know (written by a newer one): nothing runs for it,
    /// and it is never written back.
    Unknown,
}

impl EnrolmentState {
    /// Still running: steps remain, a wait is open, or the holdout runs to its goal.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            EnrolmentState::Active | EnrolmentState::Waiting | EnrolmentState::Holdout
        )
    }
}

/// Where a one-off campaign is (issue 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum CampaignState {
    /// Being written; nothing is planned.
    Draft,
    /// Due to be planned at its day.
    Scheduled,
    /// Its recipients are being planned a page at a time.
    Planning,
    /// Every recipient has a planned message (or a reason for none).
    Planned,
    /// Stopped before or during planning.
    Cancelled,
    /// A state this version does not know.
    Unknown,
}

/// What became of a webhook a shop or shipping platform sent (issue 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum HookState {
    /// Stored, not yet applied.
    Received,
    /// Applied to the store.
    Applied,
    /// A topic or content Aftercare has no use for.
    Ignored,
    /// It did not map; `detail` names the field. Kept for a replay after a fix.
    Rejected,
    /// A state this version does not know.
    Unknown,
}

/// Where an uploaded history import is (`POST /v1/imports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ImportState {
    /// Waiting for a worker.
    Queued,
    /// Being imported a slice at a time.
    Running,
    /// Every line read; the report says what became of each.
    Done,
    /// Stopped; `error` says why.
    Failed,
    /// A state this version does not know.
    Unknown,
}

impl ImportState {
    /// Done or failed: the upload's file can go.
    pub const fn is_finished(self) -> bool {
        matches!(self, ImportState::Done | ImportState::Failed)
    }
}

/// What became of a call to the brand's system (a programme's `webhook` step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum CallState {
    /// Not yet answered with success; retried.
    Pending,
    /// Answered with success.
    Delivered,
    /// Given up on (refused for good, or out of attempts).
    Refused,
    /// Never made: the customer's personal data was erased while it waited.
    Cancelled,
    /// A state this version does not know.
    Unknown,
}

/// Where a retention offer made at cancellation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum OfferState {
    /// Made, not (yet) taken.
    Open,
    /// Taken by the customer.
    Accepted,
    /// A state this version does not know.
    Unknown,
}

/// Where a delivery change asked on the tracking page is (PX2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ChangeState {
    /// Asked; not yet answered by the carrier.
    Requested,
    /// The carrier will do it.
    Confirmed,
    /// The carrier will not.
    Refused,
    /// A state this version does not know.
    Unknown,
}

/// Where a referral is (RF1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReferralState {
    /// The friend has the link or code, and no order yet.
    Pending,
    /// The friend ordered; the reward waits for the return period.
    Ordered,
    /// Both sides were rewarded.
    Rewarded,
    /// It came to nothing (a return, a refusal); `reason` says why.
    Void,
    /// A state this version does not know.
    Unknown,
}

stored_names!(
    EnrolmentState,
    CampaignState,
    HookState,
    ImportState,
    CallState,
    OfferState,
    ChangeState,
    ReferralState,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_a_newer_versions_name_is_unknown() {
        for k in [
            "event", "step", "deliver", "calendar", "referral", "carrier", "campaign",
        ] {
            assert_eq!(JobKind::from(k.to_string()).as_str(), k);
        }
        assert_eq!(
            JobKind::from("later".to_string()),
            JobKind::Unknown("later".into())
        );
        assert_eq!(JobKind::Unknown("later".into()).as_str(), "later");
        assert_eq!(JobKind::Unknown("later".into()).to_string(), "later");
        assert_eq!(JobKind::Import.to_string(), "import");
        assert_eq!(EnrolmentState::named("waiting"), EnrolmentState::Waiting);
        assert_eq!(EnrolmentState::named("paused"), EnrolmentState::Unknown);
        assert_eq!(CampaignState::Cancelled.as_str(), "cancelled");
        assert_eq!(HookState::named("rejected"), HookState::Rejected);
        assert_eq!(ReferralState::named("void"), ReferralState::Void);
        assert_eq!(
            serde_json::to_string(&ChangeState::Requested).unwrap(),
            "\"requested\""
        );
    }
}
