//! Hub errors: [`ApiError`] is what a client sees (a typed code and a fixed message, never
//! payload contents); [`HubError`] is what an operator sees when the hub cannot start.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outreach_proto::messages::{ErrorBody, ErrorCode};
use outreach_proto::orders::WipeOrder;

use crate::storage::StoreError;

/// A refusal or failure sent back to a client as `{"error":{"code":..., "message":...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Typed code; decides the HTTP status.
    pub code: ErrorCode,
    /// Short fixed explanation. Never contains request contents.
    pub message: Cow<'static, str>,
    /// With [`ErrorCode::Revoked`] only, answering the revoked device's own signed request:
    /// the lead's order that it wipe itself.
    pub wipe: Option<Box<WipeOrder>>,
}

impl ApiError {
    /// Build an error with a static message.
    pub fn new(code: ErrorCode, message: &'static str) -> Self {
        ApiError { code, message: Cow::Borrowed(message), wipe: None }
    }

    /// Build an error with a formatted message (callers must not format request contents in).
    pub fn owned(code: ErrorCode, message: String) -> Self {
        ApiError { code, message: Cow::Owned(message), wipe: None }
    }

    /// The `revoked` refusal carrying the lead's wipe order for the requesting device.
    pub fn revoked_with_wipe(order: WipeOrder) -> Self {
        ApiError { code: ErrorCode::Revoked, message: Cow::Borrowed("device revoked"), wipe: Some(Box::new(order)) }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused { code, message } => ApiError::new(code, message),
            StoreError::Backend(detail) => {
                // The detail goes to the operator's log only; the client learns nothing of it.
                tracing::error!(%detail, "storage failure");
                ApiError::new(ErrorCode::Internal, "storage failure; retry later")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = ErrorBody::new(self.code, self.message.into_owned());
        body.error.wipe = self.wipe.map(|w| *w);
        (status, axum::Json(body)).into_response()
    }
}

/// Why the hub could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The `--db` value is neither `sqlite:PATH` nor `postgres://...`.
    #[error("unsupported database URL: expected sqlite:PATH or postgres://...")]
    BadDbUrl,
    /// Refusing to serve plain HTTP on a non-loopback address.
    #[error(
        "refusing to listen on {0} without TLS: plain HTTP is allowed on loopback only; \
         pass --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS proxy"
    )]
    PlainHttpNotLoopback(std::net::SocketAddr),
    /// Only one of certificate and key was given, or they could not be read.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The storage engine failed to open or migrate.
    #[error("storage: {0}")]
    Storage(String),
    /// Binding or serving failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> Self {
        HubError::Storage(e.to_string())
    }
}
