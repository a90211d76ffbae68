//! Transactions: every read and write the engine and the API make, on either backend.

use aftercare_domain::{
    CustomerRecord, MessageState, OrderRecord, ProductRecord, ShipmentEventRecord,
};
use jiff::Timestamp;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::records::{CustomerRow, EnrolmentRow, MessageRow, OrderRow, ProductRow, json, to_json};
use crate::{
    Enrolment, EnrolmentState, IdempotencyClaim, JobKind, Message, MessageFilter,
    MessageTransition, NewEnrolment, NewEvent, NewMessage, OrderStats, Result, StoreError,
    StoredCustomer, StoredEvent, StoredOrder, micros,
};

/// A transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// SQLite, with this process's writer turn when it writes.
    Sqlite(
        Transaction<'static, Sqlite>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tx::Sqlite(..) => "Tx(sqlite)",
            Tx::Postgres(_) => "Tx(postgres)",
        })
    }
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per backend.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(t, _) => {
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

mod admin;
mod calendar;
mod campaigns;
mod clicks;
mod connectors;
mod content;
mod contracts;
mod customers;
mod enrolments;
mod events;
mod experiments;
mod feedback;
mod idempotency;
mod jobs;
mod loyalty;
mod messages;
mod operations;
mod orders;
mod print;
mod products;
mod reports;
mod retention;
mod scores;
mod simulations;
mod surveys;
mod tokens;
mod tracking;
mod versions;
mod webhooks;
pub use admin::{AuditEntry, POSTGRES_SEARCH, Pause, TeamSession, TeamUser};
#[doc(hidden)]
pub use calendar::{CONTACTS, CalendarPart};
pub use campaigns::{
    Audience, AudienceVersion, Campaign, CampaignMessage, NewCampaign, PlannedRecipient,
    RecipientOutcome,
};
pub use connectors::{HookDelivery, NewUpload, Upload};
pub use content::{Content, ContentChange, Draft, LiveTemplate, TemplateVersion};
pub use experiments::VariantOutcome;
pub use jobs::Handed;
pub use loyalty::{Coupon, NewCoupon, NewEntry, RedeemOutcome, Redemption, Referral, ShopCode};
pub use messages::MessageContent;
pub use operations::{Heartbeat, JobFigures, Prune};
pub use print::PrintBatch;
pub use retention::{NewRetentionOffer, RetentionOfferRow};
pub use scores::{AlsoBought, DeadJob, Scores};
pub use simulations::{NewSimulation, Projection, Simulation};
pub use surveys::{Answer, SurveyResult};
pub use tracking::{StoredDeliveryChange, StoredShipment};
pub use webhooks::OutgoingWebhook;

const ENROLMENT_COLUMNS: &str =
    "id, programme_id, programme_version, customer_id, trigger_event_id,
    state, step_index, context, holdout, wait_event, wait_match, wait_deadline, goal_event,
    goal_deadline, goal_reached_at, exit_reason, started_at";

pub(crate) const MESSAGE_COLUMNS: &str =
    "m.id, m.customer_id, c.external_id, m.enrolment_id, m.step_key,
    m.programme_id, m.template, m.class, m.channel, m.state, m.reason, m.planned_at, m.sent_at,
    m.recipient, m.subject, m.body_text, m.body_html, m.greeting, m.header_message_id, m.attempts,
    m.priority, m.topic";

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<()> {
        match self {
            // The writer turn is given up once the commit is done.
            Tx::Sqlite(t, _turn) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
