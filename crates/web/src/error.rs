//! One error type for the API, mapped through one table to RFC 9457 problem+json:
//! a stable snake_case code, the status, a title, the field and the reason.
//! Database text never reaches a client; the cause is logged instead.

use aftercare_domain::FieldError;
use aftercare_engine::ingest::IngestError;
use aftercare_store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

/// Everything the API can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, has wrong types or unknown fields.
    #[error("{reason}")]
    MalformedBody {
        /// The field path, or empty for the whole body.
        field: String,
        /// Why.
        reason: String,
    },
    /// A path or query parameter is not of the right form.
    #[error("{reason}")]
    BadParameter {
        /// The parameter's name.
        field: String,
        /// Why.
        reason: String,
    },
    /// The path exists but not with this method (the router adds `Allow`).
    #[error("this path does not accept that method; the Allow header lists those it does")]
    MethodNotAllowed,
    /// The body parsed but a value is not acceptable.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Wrong or missing Content-Type.
    #[error("the body must be JSON: send Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is over the size limit.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// No or a wrong bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Nothing at this path or with this id.
    #[error("{0}")]
    NotFound(String),
    /// An Idempotency-Key was reused with a different body.
    #[error("this Idempotency-Key was used before with a different request body")]
    IdempotencyKeyReused,
    /// A bad Idempotency-Key header.
    #[error("{0}")]
    BadIdempotencyKey(&'static str),
    /// The same key is being processed by a concurrent request.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    KeyInProgress,
    /// A concurrent request wrote the same record at the same moment (a unique key).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but the business rules refuse it (a used coupon, a
    /// self-referral, too few points), with a specific status and code.
    #[error("{detail}")]
    Refused {
        /// 403, 409, 410 or 422.
        status: StatusCode,
        /// A stable snake_case code, e.g. `coupon_used`.
        code: &'static str,
        /// The field the refusal is about.
        field: &'static str,
        /// A sentence for the shop and the team.
        detail: String,
    },
    /// The server holds as many request bodies as it may; come back in a moment.
    #[error("the server is reading as many requests as it takes; retry in a few seconds")]
    Busy,
    /// The request was not read and answered within the server's request timeout.
    #[error("the request was not received and answered within {0} seconds")]
    Timeout(u64),
    /// Something failed on our side.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// (status, code, title, field) — the one mapping table.
    fn describe(&self) -> (StatusCode, &'static str, &'static str, Option<&str>) {
        use ApiError::*;
        match self {
            MalformedBody { field, .. } => (
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "The request body could not be read",
                Some(field.as_str()).filter(|f| !f.is_empty()),
            ),
            BadParameter { field, .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "A path or query parameter is invalid",
                Some(field.as_str()),
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                None,
            ),
            Invalid(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "A field has an invalid value",
                Some(e.field.as_str()),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                Some("Content-Type"),
            ),
            TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The request body is too large",
                None,
            ),
            Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                Some("Authorization"),
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found", None),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key reused",
                Some("Idempotency-Key"),
            ),
            BadIdempotencyKey(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
                Some("Idempotency-Key"),
            ),
            KeyInProgress => (
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "Idempotency-Key in progress",
                Some("Idempotency-Key"),
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict", None),
            Refused {
                status,
                code,
                field,
                ..
            } => (*status, code, "The request was refused", Some(*field)),
            Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", "Busy", None),
            Timeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
                None,
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title, field) = self.describe();
        let detail = match &self {
            ApiError::Internal(cause) => {
                error!(%cause, "Request failed.");
                "something went wrong on our side; the request changed nothing".to_string()
            }
            ApiError::Invalid(e) => e.reason.clone(),
            other => other.to_string(),
        };
        let body = Problem {
            kind: format!("https://aftercare.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            detail,
            code,
            field,
        };
        let mut response =
            (status, serde_json::to_string(&body).unwrap_or_default()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} does not exist")),
            StoreError::Conflict(what) => ApiError::Conflict(what),
            e if e.is_unique_violation() => ApiError::Conflict(format!(
                "another request wrote the same record ({}) at the same moment; retry the request",
                e.unique_key().unwrap_or_else(|| "a unique key".into())
            )),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(f) => ApiError::Invalid(f),
            IngestError::Store(s) => s.into(),
        }
    }
}
