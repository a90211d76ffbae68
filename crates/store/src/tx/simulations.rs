//! The admin UI's side jobs (issue 22): simulations — what was asked, how far a worker is
//! with it, and what it found — and customers' projected years for the contact calendar.
//! Each is a job a worker runs beside its lanes; these rows are what every `serve` process
//! shows.

use jiff::Timestamp;

use super::Tx;
use crate::{Result, micros};

/// A simulation to queue.
#[derive(Debug, Clone)]
pub struct NewSimulation<'a> {
    /// Who asked for it.
    pub started_by: &'a str,
    /// Customers in the generated shop.
    pub customers: i64,
    /// Days to simulate.
    pub days: i64,
    /// The generated shop's seed.
    pub seed: i64,
    /// The first simulated day.
    pub start_day: Timestamp,
    /// The changed programme and its text, or none for the library as it is.
    pub change: Option<(&'a str, &'a str)>,
}

/// A simulation as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Simulation {
    /// Its number.
    pub id: i64,
    /// Who asked for it.
    pub started_by: String,
    /// When.
    #[sqlx(try_from = "crate::Micros")]
    pub started_at: Timestamp,
    /// Customers in the generated shop.
    pub customers: i64,
    /// Days to simulate.
    pub days: i64,
    /// The generated shop's seed.
    pub seed: i64,
    /// The first simulated day.
    #[sqlx(try_from = "crate::Micros")]
    pub start_day: Timestamp,
    /// The programme the change replaces.
    pub programme_id: Option<String>,
    /// The changed programme's text.
    pub change_text: Option<String>,
    /// When a worker took it; none while it waits for one.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub taken_at: Option<Timestamp>,
    /// The worker that took it last.
    pub taken_by: Option<String>,
    /// Days done of the library as it is.
    pub baseline_done: i64,
    /// Days done with the change.
    pub changed_done: i64,
    /// The library as it is, as JSON, once done.
    pub report: Option<String>,
    /// With the change, as JSON, once done.
    pub changed_report: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it ended.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub finished_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, started_by, started_at, customers, days, seed, start_day, programme_id,
    change_text, taken_at, taken_by, baseline_done, changed_done, report, changed_report, error,
    finished_at";

impl Tx {
    /// Queues a simulation; `None` when another one has not finished (one at a time). An
    /// unfinished one whose job is gone (set aside by a worker of an older version that did
    /// not know the kind, or removed by hand) ends as failed first, so it cannot block the
    /// simulator for good. The caller queues the job in the same transaction.
    pub async fn insert_simulation(
        &mut self,
        new: &NewSimulation<'_>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        on_tx!(self, c => sqlx::query(
            "UPDATE simulations SET running = NULL, finished_at = $1,
                 error = 'its job was lost (set aside, or removed); simulate again'
             WHERE running = 1 AND NOT EXISTS (SELECT 1 FROM jobs j
                 WHERE j.kind = 'simulation' AND j.ref_id = simulations.id AND j.dead_at IS NULL)",
        )
        .bind(micros(now))
        .execute(&mut *c)
        .await
        .map(|_| ())?);
        let (programme, text) = new.change.unzip();
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO simulations (started_by, started_at, customers, days, seed, start_day,
                 programme_id, change_text, running)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)
             ON CONFLICT (running) DO NOTHING RETURNING id",
        )
        .bind(new.started_by)
        .bind(micros(now))
        .bind(new.customers)
        .bind(new.days)
        .bind(new.seed)
        .bind(micros(new.start_day))
        .bind(programme)
        .bind(text)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// One simulation.
    pub async fn simulation(&mut self, id: i64) -> Result<Option<Simulation>> {
        let sql = format!("SELECT {COLUMNS} FROM simulations WHERE id = $1");
        Ok(on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?))
    }

    /// The newest `limit` simulations, newest first.
    pub async fn simulations(&mut self, limit: i64) -> Result<Vec<Simulation>> {
        let sql = format!("SELECT {COLUMNS} FROM simulations ORDER BY id DESC LIMIT $1");
        Ok(on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?))
    }

    /// The newest simulation of exactly this change to `programme_id`.
    pub async fn simulation_of_draft(
        &mut self,
        programme_id: &str,
        text: &str,
    ) -> Result<Option<Simulation>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM simulations WHERE programme_id = $1 AND change_text = $2
             ORDER BY id DESC LIMIT 1"
        );
        Ok(on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(programme_id)
            .bind(text)
            .fetch_optional(&mut *c)
            .await?))
    }

    /// Records that `worker` took the simulation (again: a run taken over starts afresh).
    pub async fn take_simulation(&mut self, id: i64, worker: &str, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE simulations SET taken_at = $1, taken_by = $2, baseline_done = 0, changed_done = 0
             WHERE id = $3 AND finished_at IS NULL",
        )
        .bind(micros(now))
        .bind(worker)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Records how many days of each run are done.
    pub async fn simulation_progress(
        &mut self,
        id: i64,
        baseline_done: i64,
        changed_done: i64,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE simulations SET baseline_done = $1, changed_done = $2
             WHERE id = $3 AND finished_at IS NULL",
        )
        .bind(baseline_done)
        .bind(changed_done)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Cancels an unfinished simulation (it ends as failed, saying who cancelled it); the
    /// next may start at once. A worker running it stops at its next progress record, and a
    /// worker taking its job later finds it finished. Whether it was unfinished.
    pub async fn cancel_simulation(&mut self, id: i64, why: &str, now: Timestamp) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE simulations SET running = NULL, finished_at = $1, error = $2
             WHERE id = $3 AND finished_at IS NULL",
        )
        .bind(micros(now))
        .bind(why)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Ends a simulation with its reports (JSON) or why it failed; the next may start.
    pub async fn finish_simulation(
        &mut self,
        id: i64,
        outcome: std::result::Result<(&str, Option<&str>), &str>,
        now: Timestamp,
    ) -> Result<()> {
        let (report, changed, error) = match outcome {
            Ok((report, changed)) => (Some(report), changed, None),
            Err(e) => (None, None, Some(e)),
        };
        on_tx!(self, c => sqlx::query(
            "UPDATE simulations SET report = $1, changed_report = $2, error = $3, finished_at = $4,
                 running = NULL
             WHERE id = $5 AND finished_at IS NULL",
        )
        .bind(report)
        .bind(changed)
        .bind(error)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|_| ())?);
        Ok(())
    }
}

/// A customer's coming year as the admin UI's contact calendar shows it (issue 22: worked
/// out by a worker, not by the page).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Projection {
    /// Who asked for it last.
    pub requested_by: String,
    /// When.
    #[sqlx(try_from = "crate::Micros")]
    pub requested_at: Timestamp,
    /// When a worker last worked it out — the year runs from then.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub worked_at: Option<Timestamp>,
    /// The projected contacts as JSON.
    pub result: Option<String>,
    /// Why it could not be worked out.
    pub error: Option<String>,
}

impl Projection {
    /// Whether a newer one is asked for and not worked out yet.
    pub fn pending(&self) -> bool {
        self.worked_at.is_none_or(|w| self.requested_at > w)
    }
}

impl Tx {
    /// The customer's stored projection.
    pub async fn projection(&mut self, customer: crate::CustomerId) -> Result<Option<Projection>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT requested_by, requested_at, worked_at, result, error FROM projections
             WHERE customer_id = $1",
        )
        .bind(customer)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Asks for the customer's year to be worked out, unless it is already asked for (since
    /// `stuck_before` at the latest) or was worked out since `stale_before`; whether this
    /// asked (then the caller queues the job).
    pub async fn request_projection(
        &mut self,
        customer: crate::CustomerId,
        by: &str,
        now: Timestamp,
        stale_before: Timestamp,
        stuck_before: Timestamp,
    ) -> Result<bool> {
        let asked: Option<i64> = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO projections (customer_id, requested_by, requested_at) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE
                 SET requested_by = excluded.requested_by, requested_at = excluded.requested_at
                 WHERE (projections.worked_at IS NOT NULL
                        AND projections.requested_at <= projections.worked_at
                        AND projections.worked_at < $4)
                    OR ((projections.worked_at IS NULL OR projections.requested_at > projections.worked_at)
                        AND projections.requested_at < $5)
             RETURNING customer_id",
        )
        .bind(customer)
        .bind(by)
        .bind(micros(now))
        .bind(micros(stale_before))
        .bind(micros(stuck_before))
        .fetch_optional(&mut *c)
        .await?);
        Ok(asked.is_some())
    }

    /// How many customers' years were asked for since `since` and are not worked out yet
    /// (older requests count as lost: they are asked for again when next seen).
    pub async fn projections_pending(&mut self, since: Timestamp) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM projections
             WHERE (worked_at IS NULL OR requested_at > worked_at) AND requested_at >= $1",
        )
        .bind(micros(since))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Stores the customer's worked-out year (JSON) as of `worked_at`, or why it failed,
    /// unless a newer one is stored already (two jobs for one customer finishing out of
    /// order, after a lost request was asked for again).
    pub async fn store_projection(
        &mut self,
        customer: crate::CustomerId,
        outcome: std::result::Result<&str, &str>,
        worked_at: Timestamp,
    ) -> Result<()> {
        let (result, error) = match outcome {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        on_tx!(self, c => sqlx::query(
            "UPDATE projections SET worked_at = $1, result = $2, error = $3
             WHERE customer_id = $4 AND (worked_at IS NULL OR worked_at < $1)",
        )
        .bind(micros(worked_at))
        .bind(result)
        .bind(error)
        .bind(customer)
        .execute(&mut *c)
        .await
        .map(|_| ())?);
        Ok(())
    }
}
