//! [`ApiError`]: the one error type of the HTTP layer. Each variant documents its status;
//! the envelope `{"error": {code, message, details, request_id}}` is finished by the
//! observing layer, which adds the request id and logs a 5xx's cause chain once. Causes are
//! never shown to the caller.
//!
//! A use case's [`ServiceError`] becomes an `ApiError` here, in one `From`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::providers::ProviderError;
pub use crate::service::error::FieldError;
use crate::service::error::ServiceError;
use crate::telemetry::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_json` / `malformed_multipart` / `invalid_cursor` / `invalid_header`.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 400: the provider refused for a reason a retry will not fix (browse).
    #[error("{0}")]
    ProviderRefused(ProviderError),
    /// 401 `authentication_required`: no key was presented.
    #[error("an API key is required (X-API-Key or Authorization: Bearer)")]
    AuthenticationRequired,
    /// 401 `invalid_api_key`: unknown, revoked or expired key.
    #[error("the API key is invalid, revoked or expired")]
    InvalidApiKey,
    /// 403 `insufficient_scope`.
    #[error("this API key lacks the '{0}' scope needed here")]
    InsufficientScope(&'static str),
    /// 404 `not_found`: unknown route, or unknown or foreign connector.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 409 `scope_not_granted`: the connector lacks the scope the operation needs.
    #[error("{0}")]
    ScopeNotGranted(String),
    /// 409 `idempotency_request_in_progress`, with `Retry-After`.
    #[error("a request with this Idempotency-Key is still in progress; retry shortly")]
    IdempotencyInProgress,
    /// 412 `precondition_failed`: `If-Match` names another version.
    #[error("the connector has changed: If-Match does not match its current ETag")]
    PreconditionFailed,
    /// 413 `payload_too_large`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 `validation_error`, with per-field details.
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    /// 422 `idempotency_key_reused`.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// 503 (504 for timeouts) from a provider that failed in a retryable way.
    #[error("{0}")]
    ProviderUnavailable(ProviderError),
    /// 503 `dependency_unavailable`: the database or secret store failed; retryable.
    #[error("a storage dependency failed")]
    Dependency(#[source] anyhow::Error),
    /// 500 `internal_error`: a bug. The cause is logged only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as S;
        match e {
            S::AuthenticationRequired => Self::AuthenticationRequired,
            S::InvalidApiKey => Self::InvalidApiKey,
            S::InsufficientScope(scope) => Self::InsufficientScope(scope),
            S::ConnectorNotFound(id) => Self::connector_not_found(id.as_str()),
            S::ApiKeyNotFound(_) => Self::NotFound(e.to_string()),
            S::ScopeNotGranted(why) => Self::ScopeNotGranted(why),
            S::PreconditionFailed => Self::PreconditionFailed,
            S::Validation(fields) => Self::Validation(fields),
            S::InvalidCursor => Self::BadRequest {
                code: "invalid_cursor",
                message: e.to_string(),
            },
            S::IdempotencyInProgress => Self::IdempotencyInProgress,
            S::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            S::ProviderRefused(p) => Self::ProviderRefused(p),
            S::ProviderUnavailable(p) => Self::ProviderUnavailable(p),
            S::Dependency(cause) => Self::Dependency(cause),
            S::Internal(cause) => Self::Internal(cause),
        }
    }
}

fn summary(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn connector_not_found(id: &str) -> Self {
        Self::NotFound(format!("connector {id} not found"))
    }

    pub fn status(&self) -> StatusCode {
        use ApiError as E;
        match self {
            E::BadRequest { .. } | E::ProviderRefused(_) => StatusCode::BAD_REQUEST,
            E::AuthenticationRequired | E::InvalidApiKey => StatusCode::UNAUTHORIZED,
            E::InsufficientScope(_) => StatusCode::FORBIDDEN,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            E::ScopeNotGranted(_) | E::IdempotencyInProgress => StatusCode::CONFLICT,
            E::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            E::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            E::Validation(_) | E::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            E::ProviderUnavailable(p) if p.kind == crate::providers::ProviderErrorKind::Timeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            E::ProviderUnavailable(_) | E::Dependency(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &str {
        use ApiError as E;
        match self {
            E::BadRequest { code, .. } => code,
            E::ProviderRefused(p) | E::ProviderUnavailable(p) => p.kind.code(),
            E::AuthenticationRequired => "authentication_required",
            E::InvalidApiKey => "invalid_api_key",
            E::InsufficientScope(_) => "insufficient_scope",
            E::NotFound(_) => "not_found",
            E::MethodNotAllowed => "method_not_allowed",
            E::ScopeNotGranted(_) => "scope_not_granted",
            E::IdempotencyInProgress => "idempotency_request_in_progress",
            E::PreconditionFailed => "precondition_failed",
            E::PayloadTooLarge(_) => "payload_too_large",
            E::UnsupportedMediaType(_) => "unsupported_media_type",
            E::Validation(_) => "validation_error",
            E::IdempotencyKeyReused => "idempotency_key_reused",
            E::Dependency(_) => "dependency_unavailable",
            E::Internal(_) => "internal_error",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::Validation(fields) => Some(json!({ "fields": fields })),
            ApiError::ProviderRefused(p) | ApiError::ProviderUnavailable(p) => {
                p.actual_region.as_ref().map(|r| json!({ "region": r }))
            }
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::IdempotencyInProgress => Some(1),
            ApiError::Dependency(_) | ApiError::ProviderUnavailable(_) => Some(2),
            _ => None,
        }
    }
}

/// The envelope's content, carried in response extensions until the request id is added.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    /// For a 5xx, the whole cause chain: logged by the observing layer, never sent.
    pub cause: Option<String>,
}

impl ErrorBody {
    /// The full envelope with its request id.
    pub fn render(&self, request_id: &str) -> Value {
        let mut error =
            json!({ "code": self.code, "message": self.message, "request_id": request_id });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, cause) = match &self {
            ApiError::Internal(e) => (
                "internal error; the request id identifies it in our logs".to_owned(),
                Some(error_chain(e.as_ref())),
            ),
            ApiError::Dependency(e) => (
                "a storage dependency failed; retry shortly".to_owned(),
                Some(error_chain(e.as_ref())),
            ),
            other if status.is_server_error() => (other.to_string(), Some(error_chain(other))),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            code: self.code().to_owned(),
            message,
            details: self.details(),
            cause,
        };
        let mut response = status.into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(body);
        response
    }
}
