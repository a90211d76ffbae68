//! Row ids as their own types (issue 20), so a customer's id cannot be passed where a
//! message's is meant. Each is the row's `BIGINT`/`INTEGER` key, bound and decoded as it is
//! on either backend and written as the bare number in JSON and in text.

macro_rules! row_id {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    )+};
}

row_id!(
    /// A customer's internal id (`customers.id`), not the shop's id for them.
    CustomerId,
    /// A programme enrolment's id (`enrolments.id`).
    EnrolmentId,
    /// A message's id (`messages.id`), not its `Message-ID` header.
    MessageId,
    /// A job's id (`jobs.id`), also when it has been set aside as a dead job.
    JobId,
    /// An event's id in the append-only log (`events.id`), not the sender's `source_id`.
    EventId,
    /// A one-off campaign's id (`campaigns.id`).
    CampaignId,
    /// An order's internal id (`orders.id`), not the shop's order number.
    OrderId,
);
