//! The admin UI's simulations (issue 22): what was asked, how far a worker is with it, and
//! what it found. A run is a `simulation` job; this row is what every `serve` process shows.

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
    /// When (micros).
    pub started_at: i64,
    /// Customers in the generated shop.
    pub customers: i64,
    /// Days to simulate.
    pub days: i64,
    /// The generated shop's seed.
    pub seed: i64,
    /// The first simulated day (micros).
    pub start_day: i64,
    /// The programme the change replaces.
    pub programme_id: Option<String>,
    /// The changed programme's text.
    pub change_text: Option<String>,
    /// When a worker took it (micros); none while it waits for one.
    pub taken_at: Option<i64>,
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
    /// When it ended (micros).
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, started_by, started_at, customers, days, seed, start_day, programme_id,
    change_text, taken_at, taken_by, baseline_done, changed_done, report, changed_report, error,
    finished_at";

impl Tx {
    /// Queues a simulation; `None` when another one has not finished (one at a time).
    pub async fn insert_simulation(
        &mut self,
        new: &NewSimulation<'_>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
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
