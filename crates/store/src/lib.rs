//! Aftercare's store: SQLite (WAL, the embedded default) and PostgreSQL behind one interface.
//!
//! [`Store`] holds a pool; [`Tx`] is a transaction on either backend. Queries are written
//! once with `$1` placeholders, which both SQLite and PostgreSQL accept, and run on whichever
//! backend is connected. Dialect differences (connection settings, job claiming with
//! `FOR UPDATE SKIP LOCKED` vs a plain `UPDATE … RETURNING` under SQLite's single writer)
//! stay in [`sqlite`] and [`postgres`]. Times are stored as microseconds since the epoch.
//!
//! What it does not do: decide anything. Programmes, policy and rendering live in the
//! engine; rows convert into domain types here and nowhere else.
//!
//! Architecture invariant: every effect of a job (an enrolment, a message, the next timer)
//! commits in the same transaction that deletes the job, so a crash repeats nothing.

/// A claim of due jobs, the oldest due first: `$kinds` says which (a literal, so the planner
/// sees it), `$lock` what the backend adds so no two workers take one row.
macro_rules! claim_sql {
    ($kinds:literal, $lock:literal) => {
        concat!(
            "UPDATE jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE ",
            $kinds,
            " AND run_at <= $3 AND dead_at IS NULL
                        AND (locked_until IS NULL OR locked_until <= $3)
                      ORDER BY run_at, id LIMIT $4",
            $lock,
            ")
         RETURNING id, kind, ref_id, run_at, attempts"
        )
    };
}

mod ids;
mod postgres;
mod records;
mod sqlite;
mod states;
mod tx;

use jiff::Timestamp;

pub use ids::*;
pub use records::*;
#[doc(hidden)]
pub use sqlite::CLAIM as SQLITE_CLAIM;
#[doc(hidden)]
pub use sqlite::{
    CLAIM_PROJECTION as SQLITE_CLAIM_PROJECTION, CLAIM_SIMULATION as SQLITE_CLAIM_SIMULATION,
};
pub use states::*;
#[doc(hidden)]
pub use tx::POSTGRES_SEARCH;
pub use tx::VariantOutcome;
pub use tx::{AlsoBought, Answer, DeadJob, StoredDeliveryChange, StoredShipment, SurveyResult};
pub use tx::{
    Audience, AudienceVersion, Campaign, CampaignMessage, NewCampaign, PlannedRecipient,
    RecipientOutcome,
};
pub use tx::{AuditEntry, OutgoingWebhook, Pause, PrintBatch, TeamSession, TeamUser};
#[doc(hidden)]
pub use tx::{CONTACTS, CalendarPart};
pub use tx::{Content, ContentChange, Draft, LiveTemplate, TemplateVersion};
pub use tx::{
    Coupon, NewCoupon, NewEntry, RedeemOutcome, Redemption, Referral, Scores, ShopCode, Tx,
};
pub use tx::{
    Handed, Heartbeat, HookDelivery, JobFigures, MessageContent, NewRetentionOffer, Prune,
    RetentionOfferRow,
};
pub use tx::{NewSimulation, NewUpload, Projection, Simulation, Upload};

/// Which jobs a claim takes: up to so many for a worker's lanes, or one side job of a kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lane {
    Main(i64),
    Simulation,
    Projection,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique key or a state check refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The unique key a unique-key violation was on, as the database names it
    /// (`customers.external_id` on SQLite, the constraint's name on PostgreSQL), so a
    /// conflict says what collided.
    pub fn unique_key(&self) -> Option<String> {
        let StoreError::Backend(sqlx::Error::Database(e)) = self else {
            return None;
        };
        if !e.is_unique_violation() {
            return None;
        }
        Some(match e.constraint() {
            Some(c) => c.to_string(),
            None => e
                .message()
                .rsplit_once("constraint failed: ")
                .map_or_else(|| e.message().to_string(), |(_, k)| k.to_string()),
        })
    }

    /// Whether the error is a unique-key violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Backend(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Conflict(_) => true,
            _ => false,
        }
    }
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool; the body is compiled once per backend.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}

/// The store: a connection pool to SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// SQLite has one writer at a time: writing transactions of this process queue here
    /// instead of polling the file lock (its busy handler sleeps in steps of milliseconds,
    /// which with several lanes of work cost more than the writes themselves).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Store {
    /// Connects to `url` (`sqlite://file.db`, `sqlite::memory:`, `postgres://…`), creating
    /// a SQLite file if needed. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, true).await
    }

    /// Connects; with `durable` false, a SQLite database does not wait for the disk
    /// (`synchronous = OFF`): for throw-away databases such as a simulation's, never for
    /// real data.
    pub async fn connect_with(url: &str, durable: bool) -> Result<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(postgres::connect(url).await?)
        } else if url.starts_with("sqlite:") {
            Pool::Sqlite(sqlite::connect(url, durable).await?)
        } else {
            return Err(StoreError::Backend(sqlx::Error::Configuration(
                format!("database url must start with sqlite: or postgres://, got '{url}'").into(),
            )));
        };
        Ok(Self {
            pool,
            writer: std::sync::Arc::default(),
        })
    }

    /// Connects and applies the embedded migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, true).await
    }

    /// [`Store::connect_with`] and migrate.
    pub async fn open_with(url: &str, durable: bool) -> Result<Self> {
        let store = Self::connect_with(url, durable).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations for this backend.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes waits for other
    /// writers instead of failing when it upgrades.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let turn = self.writer.clone().lock_owned().await;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Starts a transaction for reading; on SQLite a snapshot that never blocks writers.
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?, None),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction that sees one moment of the store throughout (PostgreSQL's
    /// REPEATABLE READ; SQLite's transactions already do): for answers read in many
    /// statements that must agree, such as a customer's whole export.
    pub async fn begin_snapshot(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?, None),
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(&self.pool, p => p.close().await)
    }

    /// Leases up to `limit` due jobs to `worker` until `lease_until`: every kind but the
    /// side jobs, which run beside the work ([`Store::claim_side_job`]).
    pub async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<Job>> {
        self.claim(worker, now, lease_until, Lane::Main(limit))
            .await
    }

    /// Leases the oldest due side job of `kind` ([`JobKind::Simulation`] or
    /// [`JobKind::Projection`]) to `worker` until `lease_until` (issue 22: the lab's
    /// throw-away engines take seconds to minutes, so a worker runs them beside its lanes).
    pub async fn claim_side_job(
        &self,
        kind: JobKind,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>> {
        let lane = match kind {
            JobKind::Simulation => Lane::Simulation,
            JobKind::Projection => Lane::Projection,
            other => {
                return Err(StoreError::Conflict(format!(
                    "'{other}' jobs are not side jobs"
                )));
            }
        };
        // Looked for with a read first: the side tasks look every second, and on SQLite the
        // claim's UPDATE would take the one writer's lock from the work each time.
        let due: Option<i64> = on_pool!(&self.pool, p => sqlx::query_scalar(
            "SELECT id FROM jobs WHERE kind = $1 AND run_at <= $2 AND dead_at IS NULL
               AND (locked_until IS NULL OR locked_until <= $2) LIMIT 1",
        )
        .bind(kind.as_str())
        .bind(micros(now))
        .fetch_optional(p)
        .await?);
        if due.is_none() {
            return Ok(None);
        }
        Ok(self.claim(worker, now, lease_until, lane).await?.pop())
    }

    async fn claim(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        lane: Lane,
    ) -> Result<Vec<Job>> {
        let (sql, limit) = match (&self.pool, lane) {
            (Pool::Sqlite(_), Lane::Main(limit)) => (sqlite::CLAIM, limit),
            (Pool::Sqlite(_), Lane::Simulation) => (sqlite::CLAIM_SIMULATION, 1),
            (Pool::Sqlite(_), Lane::Projection) => (sqlite::CLAIM_PROJECTION, 1),
            (Pool::Postgres(_), Lane::Main(limit)) => (postgres::CLAIM, limit),
            (Pool::Postgres(_), Lane::Simulation) => (postgres::CLAIM_SIMULATION, 1),
            (Pool::Postgres(_), Lane::Projection) => (postgres::CLAIM_PROJECTION, 1),
        };
        let mut jobs = on_pool!(&self.pool, p => sqlx::query_as::<_, records::JobRow>(sql)
            .bind(micros(lease_until))
            .bind(worker)
            .bind(micros(now))
            .bind(limit)
            .fetch_all(p)
            .await?)
        .into_iter()
        .map(Job::try_from)
        .collect::<Result<Vec<_>>>()?;
        // `RETURNING` promises no order: run what was due first, first.
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    /// The customer each of `jobs` is about, where its kind names one (an event to route, an
    /// enrolment's steps, a message to deliver, a delivery change for the carrier), as
    /// `(job id, customer id)` pairs. The worker runs one customer's jobs one after another
    /// and different customers' side by side.
    pub async fn job_customers(&self, jobs: &[Job]) -> Result<Vec<(JobId, CustomerId)>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let kinds = [
            JobKind::Event,
            JobKind::Step,
            JobKind::Deliver,
            JobKind::Carrier,
        ];
        let rows: Vec<(JobId, Option<CustomerId>)> = match &self.pool {
            // One text for every batch (an array of ids): one prepared statement per
            // connection, where a list of as many values as the batch had jobs was a new
            // text for every batch size, parsed and planned anew (2.6 ms of 4 on a million
            // customers) and pushing other statements out of the connection's cache.
            Pool::Postgres(p) => {
                let ids: Vec<i64> = jobs.iter().map(|j| i64::from(j.id)).collect();
                let mut query = sqlx::query_as(
                    "SELECT j.id, COALESCE(e.customer_id, n.customer_id, m.customer_id, d.customer_id)
                     FROM jobs j
                     LEFT JOIN events e ON e.id = j.ref_id AND j.kind = $1
                     LEFT JOIN enrolments n ON n.id = j.ref_id AND j.kind = $2
                     LEFT JOIN messages m ON m.id = j.ref_id AND j.kind = $3
                     LEFT JOIN delivery_changes d ON d.id = j.ref_id AND j.kind = $4
                     WHERE j.id = ANY($5)",
                );
                for kind in &kinds {
                    query = query.bind(kind.as_str());
                }
                query.bind(ids).fetch_all(p).await?
            }
            Pool::Sqlite(p) => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT j.id, COALESCE(e.customer_id, n.customer_id, m.customer_id, d.customer_id)
                     FROM jobs j",
                );
                for (kind, join) in kinds.iter().zip([
                    "events e ON e",
                    "enrolments n ON n",
                    "messages m ON m",
                    "delivery_changes d ON d",
                ]) {
                    q.push(format_args!(
                        " LEFT JOIN {join}.id = j.ref_id AND j.kind = "
                    ));
                    q.push_bind(kind.as_str().to_owned());
                }
                q.push(" WHERE j.id IN (");
                let mut ids = q.separated(", ");
                for job in jobs {
                    ids.push_bind(job.id);
                }
                q.push(")");
                q.build_query_as().fetch_all(p).await?
            }
        };
        Ok(rows
            .into_iter()
            .filter_map(|(job, customer)| Some((job, customer?)))
            .collect())
    }

    /// The earliest `run_at` among jobs not currently leased, if any.
    pub async fn next_job_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        let at: Option<i64> = on_pool!(&self.pool, p => sqlx::query_scalar(
            "SELECT MIN(run_at) FROM jobs WHERE dead_at IS NULL AND (locked_until IS NULL OR locked_until <= $1)",
        )
        .bind(micros(now))
        .fetch_one(p)
        .await?);
        at.map(from_micros).transpose()
    }

    /// The stored setting `name`, storing `value` first when there is none (the first
    /// process to start wins; every later one reads its value).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(p)
        .await?
        .rows_affected());
        Ok(
            on_pool!(&self.pool, p => sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(p)
            .await?),
        )
    }

    /// How many jobs were set aside after failing too often.
    pub async fn dead_jobs(&self) -> Result<i64> {
        Ok(
            on_pool!(&self.pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE dead_at IS NOT NULL")
            .fetch_one(p)
            .await?),
        )
    }

    /// Counts rows of a table; for tests, the demo and health checks.
    pub async fn count(&self, table: Table) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name());
        Ok(
            on_pool!(&self.pool, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).fetch_one(p).await?),
        )
    }
}

/// Tables whose rows can be counted with [`Store::count`].
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Customers.
    Customers,
    /// Products.
    Products,
    /// Orders.
    Orders,
    /// Shipments.
    Shipments,
    /// The event log.
    Events,
    /// Programme enrolments.
    Enrolments,
    /// Pending jobs and timers.
    Jobs,
    /// Messages.
    Messages,
    /// Stored Idempotency-Key answers.
    IdempotencyKeys,
    /// The points ledger.
    LoyaltyEntries,
    /// Coupon codes.
    Coupons,
    /// Coupon redemptions.
    CouponRedemptions,
    /// Referrals.
    Referrals,
    /// Delivery changes asked for on the tracking page.
    DeliveryChanges,
    /// Fitting appointments.
    Appointments,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Products => "products",
            Table::Orders => "orders",
            Table::Shipments => "shipments",
            Table::Events => "events",
            Table::Enrolments => "enrolments",
            Table::Jobs => "jobs",
            Table::Messages => "messages",
            Table::IdempotencyKeys => "idempotency_keys",
            Table::LoyaltyEntries => "loyalty_entries",
            Table::Coupons => "coupons",
            Table::CouponRedemptions => "coupon_redemptions",
            Table::Referrals => "referrals",
            Table::DeliveryChanges => "delivery_changes",
            Table::Appointments => "appointments",
        }
    }
}

/// A timestamp as stored: microseconds since the epoch.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored timestamp back as a [`Timestamp`].
pub fn from_micros(us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("timestamp {us}: {e}")))
}

/// A timestamp column as stored (µs), for rows decoded straight into [`Timestamp`]:
/// `#[sqlx(try_from = "Micros")] at: Timestamp` (issue 20: no microsecond integer leaves the
/// store).
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct Micros(i64);

impl Micros {
    /// The moment, or the store's error for a value no timestamp has.
    pub(crate) fn at(self) -> Result<Timestamp> {
        from_micros(self.0)
    }
}

impl TryFrom<Micros> for Timestamp {
    type Error = jiff::Error;
    fn try_from(us: Micros) -> std::result::Result<Self, Self::Error> {
        Timestamp::from_microsecond(us.0)
    }
}

/// A nullable timestamp column as stored, decoded into `Option<Timestamp>` the same way:
/// `#[sqlx(try_from = "MaybeMicros")]`.
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct MaybeMicros(Option<i64>);

impl TryFrom<MaybeMicros> for Option<Timestamp> {
    type Error = jiff::Error;
    fn try_from(us: MaybeMicros) -> std::result::Result<Self, Self::Error> {
        us.0.map(Timestamp::from_microsecond).transpose()
    }
}
