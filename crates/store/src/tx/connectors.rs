//! What the shop and shipping platforms send (issue 24): each webhook delivery kept once
//! with its raw payload (`hook_deliveries`), and the platforms' own ids for what Aftercare
//! knows by another (`platform_ids`).

use jiff::Timestamp;

use super::Tx;
use crate::{HookState, ImportState, JobKind, Result, from_micros, micros};

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    /// Its id (for a replay).
    pub id: i64,
    /// `shopify`, `woocommerce`, `sendcloud` or `myparcel`.
    pub platform: String,
    /// The platform's id for this delivery (or the body's hash where it sends none).
    pub delivery_id: String,
    /// The platform's topic, e.g. `orders/create`.
    pub topic: String,
    /// What became of it.
    pub state: HookState,
    /// What was done, why it was ignored, or the field and reason it was rejected for.
    pub detail: String,
    /// The body exactly as received.
    pub payload: String,
    /// When it last arrived.
    pub received_at: Timestamp,
    /// How often it arrived (a platform retries what was rejected).
    pub attempts: i32,
}

type Row = (
    i64,
    String,
    String,
    String,
    HookState,
    String,
    String,
    i64,
    i32,
);

fn delivery(row: Row) -> Result<HookDelivery> {
    let (id, platform, delivery_id, topic, state, detail, payload, received_at, attempts) = row;
    Ok(HookDelivery {
        id,
        platform,
        delivery_id,
        topic,
        state,
        detail,
        payload,
        received_at: from_micros(received_at)?,
        attempts,
    })
}

const COLUMNS: &str =
    "id, platform, delivery_id, topic, state, detail, payload, received_at, attempts";

impl Tx {
    /// The stored delivery `delivery_id` of `platform`, if it came before.
    pub async fn hook_delivery(
        &mut self,
        platform: &str,
        delivery_id: &str,
    ) -> Result<Option<HookDelivery>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hook_deliveries WHERE platform = $1 AND delivery_id = $2"
        );
        let row: Option<Row> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(platform)
            .bind(delivery_id)
            .fetch_optional(&mut *c)
            .await?);
        row.map(delivery).transpose()
    }

    /// A stored delivery by its id.
    pub async fn hook_delivery_by_id(&mut self, id: i64) -> Result<Option<HookDelivery>> {
        let sql = format!("SELECT {COLUMNS} FROM hook_deliveries WHERE id = $1");
        let row: Option<Row> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        row.map(delivery).transpose()
    }

    /// Deliveries in `state` (all when `None`), newest first, at most `limit`.
    pub async fn hook_deliveries(
        &mut self,
        state: Option<HookState>,
        limit: i64,
    ) -> Result<Vec<HookDelivery>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hook_deliveries WHERE ($1 IS NULL OR state = $1)
             ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<Row> = on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(state)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(delivery).collect()
    }

    /// Records a delivery's outcome: inserted the first time, replaced (and counted) when
    /// it arrives again.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_hook_delivery(
        &mut self,
        platform: &str,
        delivery_id: &str,
        topic: &str,
        state: HookState,
        detail: &str,
        payload: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let id: i64 = on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO hook_deliveries
                 (platform, delivery_id, topic, state, detail, payload, received_at, attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
             ON CONFLICT (platform, delivery_id) DO UPDATE SET
                 state = excluded.state, detail = excluded.detail, topic = excluded.topic,
                 payload = excluded.payload, received_at = excluded.received_at,
                 attempts = hook_deliveries.attempts + 1
             RETURNING id",
        )
        .bind(platform)
        .bind(delivery_id)
        .bind(topic)
        .bind(state)
        .bind(detail)
        .bind(payload)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?);
        Ok(id)
    }

    /// Sets a stored delivery's outcome.
    pub async fn set_hook_delivery_state(
        &mut self,
        id: i64,
        state: HookState,
        detail: &str,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE hook_deliveries SET state = $1, detail = $2 WHERE id = $3",
        )
        .bind(state)
        .bind(detail)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Remembers that `platform` calls the `kind` Aftercare knows as `external_id` by
    /// `platform_id` (the latest word wins).
    pub async fn set_platform_id(
        &mut self,
        platform: &str,
        kind: &str,
        platform_id: &str,
        external_id: &str,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO platform_ids (platform, kind, platform_id, external_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (platform, kind, platform_id) DO UPDATE SET external_id = excluded.external_id",
        )
        .bind(platform)
        .bind(kind)
        .bind(platform_id)
        .bind(external_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// What Aftercare calls the `kind` that `platform` calls `platform_id`, if known.
    pub async fn platform_id(
        &mut self,
        platform: &str,
        kind: &str,
        platform_id: &str,
    ) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT external_id FROM platform_ids
             WHERE platform = $1 AND kind = $2 AND platform_id = $3",
        )
        .bind(platform)
        .bind(kind)
        .bind(platform_id)
        .fetch_optional(&mut *c)
        .await?))
    }
}

impl Tx {
    /// The last line of the file known by `file_key` whose import committed, if any.
    pub async fn import_checkpoint(&mut self, file_key: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT line FROM import_checkpoints WHERE file_key = $1",
        )
        .bind(file_key)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Records that the file's lines up to `line` are imported (in the same transaction as
    /// the lines themselves).
    pub async fn set_import_checkpoint(
        &mut self,
        file_key: &str,
        line: i64,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO import_checkpoints (file_key, line, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (file_key) DO UPDATE SET line = excluded.line, updated_at = excluded.updated_at",
        )
        .bind(file_key)
        .bind(line)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }
}

/// An uploaded import (`POST /v1/imports`), without its body.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    /// Its id.
    pub id: i64,
    /// `customers`, `products`, `orders`, `shipments` or `consents`.
    pub kind: String,
    /// The file's format, as the first line told it.
    pub format: String,
    /// The import's options (JSON).
    pub options: String,
    /// Where it is.
    pub state: ImportState,
    /// The upload's size in bytes.
    pub bytes: i64,
    /// What the import did so far (JSON).
    pub report: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The API token that uploaded it.
    pub created_by: String,
    /// When.
    #[sqlx(try_from = "crate::Micros")]
    pub created_at: Timestamp,
    /// When it finished.
    #[sqlx(try_from = "crate::MaybeMicros")]
    pub finished_at: Option<Timestamp>,
}

/// A new upload.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    /// What it holds.
    pub kind: &'a str,
    /// Its format.
    pub format: &'a str,
    /// Options (JSON).
    pub options: &'a str,
    /// The file.
    pub body: &'a [u8],
    /// The empty report (JSON).
    pub report: &'a str,
    /// Who uploaded it.
    pub created_by: &'a str,
}

const UPLOAD_COLUMNS: &str =
    "id, kind, format, options, state, bytes, report, error, created_by, created_at, finished_at";

impl Tx {
    /// Stores an upload, queued; returns its id.
    pub async fn insert_upload(&mut self, u: &NewUpload<'_>, now: Timestamp) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO imports (kind, format, options, state, body, bytes, report, created_by, created_at)
             VALUES ($1, $2, $3, $9, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(u.kind)
        .bind(u.format)
        .bind(u.options)
        .bind(u.body)
        .bind(u.body.len() as i64)
        .bind(u.report)
        .bind(u.created_by)
        .bind(micros(now))
        .bind(ImportState::Queued)
        .fetch_one(&mut *c)
        .await?))
    }

    /// An upload, without its body.
    pub async fn upload(&mut self, id: i64) -> Result<Option<Upload>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM imports WHERE id = $1");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// The latest `limit` uploads, newest first, before `before_id` when given (keyset).
    pub async fn uploads(&mut self, before_id: Option<i64>, limit: i64) -> Result<Vec<Upload>> {
        let sql =
            format!("SELECT {UPLOAD_COLUMNS} FROM imports WHERE id < $1 ORDER BY id DESC LIMIT $2");
        Ok(
            on_tx!(self, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// How many uploads are waiting for or being imported (an import whose job was set
    /// aside after failing too often waits for nothing).
    pub async fn uploads_waiting(&mut self) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM imports i WHERE i.state IN ($1, $2)
               AND EXISTS (SELECT 1 FROM jobs j
                           WHERE j.kind = $3 AND j.ref_id = i.id AND j.dead_at IS NULL)",
        )
        .bind(ImportState::Queued)
        .bind(ImportState::Running)
        .bind(JobKind::Import.as_str())
        .fetch_one(&mut *c)
        .await?))
    }

    /// An upload's file.
    pub async fn upload_body(&mut self, id: i64) -> Result<Vec<u8>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT body FROM imports WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?)
            .unwrap_or_default(),
        )
    }

    /// Records what the import did so far, and its state; a finished import (done or
    /// failed) lets go of the file.
    pub async fn set_upload_progress(
        &mut self,
        id: i64,
        state: ImportState,
        report: &str,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let finished = state.is_finished();
        on_tx!(self, c => sqlx::query(
            "UPDATE imports SET state = $2, report = $3, error = $4,
                 finished_at = CASE WHEN $5 THEN $6 ELSE finished_at END,
                 body = CASE WHEN $5 THEN $7 ELSE body END
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(report)
        .bind(error)
        .bind(finished)
        .bind(micros(now))
        .bind(Vec::<u8>::new())
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }
}
