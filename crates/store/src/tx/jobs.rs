//! Jobs: durable timers and work, claimed with a lease.

use super::*;

impl Tx {
    /// Schedules a job of `kind` about `ref_id` at `run_at`.
    pub async fn insert_job(
        &mut self,
        kind: JobKind,
        ref_id: impl Into<i64>,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64> {
        let ref_id: i64 = ref_id.into();
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO jobs (kind, ref_id, run_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(ref_id)
        .bind(micros(run_at))
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Schedules one job of `kind` per id, all at `run_at`, in one statement.
    pub async fn insert_jobs(
        &mut self,
        kind: JobKind,
        ref_ids: &[i64],
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        for chunk in ref_ids.chunks(1000) {
            on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO jobs (kind, ref_id, run_at, created_at) ");
                q.push_values(chunk, |mut row, id| {
                    row.push_bind(kind.as_str()).push_bind(*id).push_bind(micros(run_at)).push_bind(micros(now));
                });
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(())
    }

    /// Deletes a finished job if `worker` still holds its lease; `false` if it lost it.
    pub async fn finish_job(&mut self, id: i64, worker: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
            .bind(id)
            .bind(worker)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Drops pending jobs of `kind` due before `before`: used when importing history, so
    /// that events from before the programmes went live enrol nobody.
    pub async fn discard_jobs_before(&mut self, kind: JobKind, before: Timestamp) -> Result<u64> {
        Ok(
            on_tx!(self, c => sqlx::query("DELETE FROM jobs WHERE kind = $1 AND run_at < $2 AND locked_by IS NULL")
            .bind(kind.as_str())
            .bind(micros(before))
            .execute(&mut *c).await?.rows_affected()),
        )
    }

    /// Sets a job aside for good after too many failures, keeping its last error.
    pub async fn bury_job(&mut self, id: i64, error: &str, now: Timestamp) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET dead_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2 WHERE id = $3",
        )
        .bind(micros(now))
        .bind(error)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Releases a job to run again at `run_at`, keeping the error.
    pub async fn retry_job(&mut self, id: i64, run_at: Timestamp, error: &str) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET run_at = $1, locked_until = NULL, locked_by = NULL, last_error = $2 WHERE id = $3",
        )
        .bind(micros(run_at))
        .bind(error)
        .bind(id)
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }
}
