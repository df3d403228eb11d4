//! The one error type of the HTTP handlers: a status, a machine-readable code and a line for
//! people, rendered as [`ivm_wire::rest::ErrorBody`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::client::{ClientError, PostError};
use ivm_actors::database::DbError;
use ivm_store::StoreError;
use ivm_wire::rest::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `ErrorBody.error`.
    pub code: &'static str,
    /// `ErrorBody.message`.
    pub message: String,
    /// Seconds for `Retry-After`, on 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413 `too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 429 `rate_limited` with `Retry-After` (at least one second).
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(wait.as_secs().max(1));
        e
    }

    /// 507 `disk_full`: nothing was stored.
    pub fn disk_full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            "the box's disk is full; nothing was stored (ask an administrator to free space)",
        )
    }

    /// 500 `internal`; the cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; nothing was changed",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(ErrorBody {
                error: self.code.to_owned(),
                message: self.message,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Store(s) => s.into(),
            DbError::Mailbox(m) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the server is going down ({m})"),
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return Self::disk_full();
        }
        match e {
            StoreError::NotFound => Self::not_found("no such item"),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => Self::bad_request(m),
            e @ StoreError::QuotaExceeded { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "quota_exceeded",
                e.to_string(),
            ),
            e @ StoreError::LastAdmin(_) => {
                Self::new(StatusCode::CONFLICT, "last_admin", e.to_string())
            }
            e @ StoreError::PhoneAssigned { .. } => Self::new(
                StatusCode::CONFLICT,
                "phone_assigned",
                format!("{e}; send \"reassign\": true to move it"),
            ),
            e @ StoreError::KeyReused(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                e.to_string(),
            ),
            other => Self::internal(other),
        }
    }
}

impl From<crate::password_pool::PoolBusy> for ApiError {
    fn from(e: crate::password_pool::PoolBusy) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string());
        err.retry_after = Some(1);
        err
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::GoingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            ClientError::NotFound => Self::not_found("no such message"),
            ClientError::NoSession => Self::bad_request(e.to_string()),
            ClientError::Db(d) => d.into(),
        }
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        let msg = e.to_string();
        match e {
            PostError::UnknownUser(_) => Self::new(StatusCode::BAD_REQUEST, "unknown_user", msg),
            PostError::NotPublished(_) => Self::new(StatusCode::FORBIDDEN, "not_published", msg),
            PostError::NoRecipients => Self::bad_request(msg),
            PostError::BadAudio(_) => Self::new(StatusCode::BAD_REQUEST, "bad_audio", msg),
            PostError::BadAttachmentName(_) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_attachment_name", msg)
            }
            PostError::GoingDown => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg),
            PostError::RateLimited { retry_after, .. } => Self::rate_limited(msg, retry_after),
            PostError::QuotaExceeded { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", msg)
            }
            PostError::DiskFull => Self::disk_full(),
            PostError::BadKey(_) => Self::bad_request(msg),
            PostError::KeyReused(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                msg,
            ),
            PostError::Internal(m) => Self::internal(m),
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the server is going down ({e})"),
        )
    }
}
