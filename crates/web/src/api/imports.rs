//! History in bulk over the API (issue 24): `POST /v1/imports?kind=…` takes a file as
//! `aftercare import` reads it (JSON Lines or CSV in Aftercare's fields, Shopify's customer
//! or order export, WooCommerce's order export), stores it and answers at once with the
//! import to poll; a worker imports it as history — no programme hears of it — a slice at a
//! time, and `GET /v1/imports/{id}` tells how far it got and which lines were refused, as
//! `upload-<id>:line: field: reason`.

use aftercare_engine::import::Kind;
use aftercare_engine::import::run::{Options, Report, UploadError, queue_upload};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, Caller, page_limit, read_limited};
use crate::AppState;
use crate::error::ApiError;

/// The largest upload (half the server's body budget); a larger file is imported with
/// `aftercare import` on the server, or in parts.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    /// Customers.
    Customers,
    /// Products.
    Products,
    /// Orders with their lines.
    Orders,
    /// Carrier status events of shipments.
    Shipments,
    /// Consent decisions.
    Consents,
}

impl From<ImportKind> for Kind {
    fn from(k: ImportKind) -> Self {
        match k {
            ImportKind::Customers => Kind::Customers,
            ImportKind::Products => Kind::Products,
            ImportKind::Orders => Kind::Orders,
            ImportKind::Shipments => Kind::Shipments,
            ImportKind::Consents => Kind::Consents,
        }
    }
}

/// How to import the upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// What the file holds.
    #[param(inline)]
    pub kind: ImportKind,
    /// Read and check every line, store nothing (default false).
    pub dry_run: Option<bool>,
    /// Earn imported orders' loyalty points as of their dates (default false).
    pub points: Option<bool>,
}

/// Which imports.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportsQuery {
    /// Only imports older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// An import and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStatus {
    /// Its id.
    pub id: i64,
    /// What the file holds.
    pub kind: String,
    /// The format its first line told: `jsonl`, `csv`, `shopify-customers`,
    /// `shopify-orders` or `woocommerce-orders`.
    pub format: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Only checked, nothing stored.
    pub dry_run: bool,
    /// Orders earn points.
    pub points: bool,
    /// The upload's size.
    pub bytes: i64,
    /// Lines (or orders of several rows) read so far.
    pub read: u64,
    /// Stored new.
    pub added: u64,
    /// Already there (nothing added).
    pub known: u64,
    /// Left out on purpose (a cancelled or unpaid order).
    pub skipped: u64,
    /// Lines that could not be stored.
    pub rejected_count: u64,
    /// The first thousand of them, as `upload-<id>:line: field: reason`.
    pub rejected: Vec<String>,
    /// Why the import failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was uploaded (RFC 3339).
    pub created_at: String,
    /// When it finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Where to poll it.
    pub url: String,
}

/// A page of imports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imports {
    /// The imports (without their rejected lines).
    pub imports: Vec<ImportStatus>,
    /// Pass as `before` for the next page, when there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

fn status(u: aftercare_store::Upload, with_lines: bool) -> Result<ImportStatus, ApiError> {
    let report: Report = serde_json::from_str(&u.report).unwrap_or_default();
    let options: Options = serde_json::from_str(&u.options).unwrap_or_default();
    Ok(ImportStatus {
        id: u.id,
        url: format!("/v1/imports/{}", u.id),
        kind: u.kind,
        format: u.format,
        state: u.state.to_string(),
        dry_run: options.dry_run,
        points: options.points,
        bytes: u.bytes,
        read: report.read,
        added: report.added,
        known: report.known,
        skipped: report.skipped,
        rejected_count: report.rejected_count,
        rejected: if with_lines {
            report.rejected
        } else {
            Vec::new()
        },
        error: u.error,
        created_at: u.created_at.to_string(),
        finished_at: u.finished_at.map(|t| t.to_string()),
    })
}

/// An uploaded file's bytes, within [`MAX_UPLOAD_BYTES`] and the server's body budget.
#[derive(Debug)]
pub struct UploadBody {
    raw: Bytes,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

impl<S: Send + Sync> FromRequest<S> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (raw, budget) = read_limited(req, MAX_UPLOAD_BYTES).await?;
        Ok(Self {
            raw,
            _budget: budget,
        })
    }
}

/// Upload a history file to import as history: JSON Lines (`application/x-ndjson`) or CSV
/// in Aftercare's own fields, Shopify's customer or order export, or WooCommerce's order
/// export, up to 32 MiB. The format is told by the first line (a file that is none of them
/// is refused at once, 422 naming `body`); at most eight imports wait at once (409). Answers
/// 202 with the import to poll; nothing imported starts a programme, and importing the same
/// file again adds nothing.
#[utoipa::path(post, path = "/v1/imports", params(ImportQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    request_body(description = "The file: JSON Lines or CSV (any content type; the first line tells the format)",
        content(
            (serde_json::Value = "application/x-ndjson"),
            (serde_json::Value = "text/csv"),
            (serde_json::Value = "text/plain"),
        )),
    responses((status = 202, description = "Stored; being imported", body = ImportStatus),
              (status = 409, description = "Eight imports are waiting already; upload again when one is done"),
              (status = 413, description = "Larger than 32 MiB"),
              (status = 422, description = "Not a file Aftercare reads")),
    security(("bearer" = [])))]
pub async fn upload_history(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ImportQuery>,
    body: UploadBody,
) -> Result<Response, ApiError> {
    let options = Options {
        dry_run: query.dry_run.unwrap_or(false),
        points: query.points.unwrap_or(false),
        from_start: false,
    };
    let kind: Kind = query.kind.into();
    // The key covers the query too: the same file as another kind is another import.
    let mut keyed =
        format!("{}?{}&{}|", kind.as_str(), options.dry_run, options.points).into_bytes();
    keyed.extend_from_slice(&body.raw);
    crate::idempotent_write!(
        app,
        headers,
        caller,
        "POST /v1/imports",
        keyed,
        |tx, now| {
            let id = queue_upload(
                tx,
                kind,
                &body.raw,
                options,
                &format!("api:{}", caller.token_name),
                now,
            )
            .await
            .map_err(|e| match e {
                UploadError::Invalid(f) => ApiError::Invalid(f),
                e @ UploadError::Busy(_) => ApiError::Refused {
                    status: StatusCode::CONFLICT,
                    code: "imports_waiting",
                    field: "body",
                    detail: e.to_string(),
                },
                UploadError::Store(s) => s.into(),
            })?;
            let upload = tx
                .upload(id)
                .await?
                .ok_or_else(|| ApiError::Internal("the upload just stored is gone".into()))?;
            (
                StatusCode::ACCEPTED,
                serde_json::to_value(status(upload, true)?)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            )
        }
    )
}

/// An import: its state, its counts so far and the lines it refused.
#[utoipa::path(get, path = "/v1/imports/{id}",
    params(("id" = i64, Path, description = "The import's id")),
    responses((status = 200, description = "The import", body = ImportStatus)),
    security(("bearer" = [])))]
pub async fn get_history_import(
    State(app): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let mut tx = app.store.begin_read().await?;
    let upload = tx
        .upload(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no import with id {id}")))?;
    tx.commit().await?;
    Ok(Json(status(upload, true)?).into_response())
}

/// Imports, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/imports", params(ImportsQuery),
    responses((status = 200, description = "Imports", body = Imports)),
    security(("bearer" = [])))]
pub async fn list_history_imports(
    State(app): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<ImportsQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit)?;
    let mut tx = app.store.begin_read().await?;
    let uploads = tx.uploads(query.before, limit).await?;
    tx.commit().await?;
    let next_before = (uploads.len() as i64 == limit)
        .then(|| uploads.last().map(|u| u.id))
        .flatten();
    let imports = uploads
        .into_iter()
        .map(|u| status(u, false))
        .collect::<Result<_, _>>()?;
    Ok(Json(Imports {
        imports,
        next_before,
    })
    .into_response())
}
