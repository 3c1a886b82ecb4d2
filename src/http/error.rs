//! [`ApiError`]: the one error type of the HTTP layer. Each variant documents its status;
//! the envelope `{"error": {code, message, details, request_id}}` is finished by the
//! observing layer, which adds the request id and logs a 5xx's cause chain once. Causes are
//! never shown to the caller.
//!
//! A use case's [`ServiceError`] is wrapped whole (`?` converts it), and its status, code,
//! details and `Retry-After` are chosen here, in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::providers::ProviderErrorKind;
pub use crate::service::error::FieldError;
use crate::service::error::ServiceError;
use crate::telemetry::error_chain;

/// An answer other than success. Each variant documents its status; a use case's
/// [`ServiceError`] is wrapped whole, and its status chosen here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_json` / `malformed_multipart` / `invalid_header`.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401 `invalid_api_key`: more than one distinct key was sent.
    #[error(
        "more than one API key was sent (X-API-Key and Authorization: Bearer, or one header twice); send exactly one"
    )]
    AmbiguousApiKey,
    /// 404 `not_found`: unknown route.
    #[error("{0}")]
    NotFound(String),
    /// 404 `connector_not_found`: a path id that cannot name a connector, answered like
    /// an unknown one.
    #[error("{0}")]
    ConnectorNotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 413 `payload_too_large`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500 `internal_error`: a bug in the HTTP layer. The cause is logged only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// What a use case (or the parsing of a request into one) answered:
    /// - 400 `invalid_cursor`; 400 with the provider's code for a refusal that a retry
    ///   will not fix;
    /// - 401 `authentication_required` / `invalid_api_key`; 403 `insufficient_scope`;
    /// - 404 `connector_not_found` for an unknown or foreign connector (the two alike);
    /// - 409 `scope_not_granted`, 409 `idempotency_request_in_progress` (`Retry-After`);
    /// - 412 `precondition_failed`;
    /// - 429 `rate_limited` (with `Retry-After`, `RateLimit` and `RateLimit-Policy`);
    /// - 422 `validation_error` (with per-field details), 422 `idempotency_key_reused`;
    /// - 503 with the provider's code (504 for a timeout), 503 `dependency_unavailable`
    ///   (both with `Retry-After`); 500 `internal_error`.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ApiError {
    /// 422 for one field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Service(ServiceError::validation(field, message))
    }

    /// 422 for several fields.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        Self::Service(ServiceError::Validation(fields))
    }

    /// 404 for a path id that cannot name a connector, worded like an unknown one. A long
    /// id is shortened, so an answer never grows with what was sent.
    pub fn connector_not_found(id: &str) -> Self {
        const SHOWN: usize = 40;
        let shown: String = id.chars().take(SHOWN).collect();
        let more = if id.chars().nth(SHOWN).is_some() {
            "…"
        } else {
            ""
        };
        Self::ConnectorNotFound(format!("connector {shown}{more} not found"))
    }

    pub fn status(&self) -> StatusCode {
        use ServiceError as S;
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::AmbiguousApiKey => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::ConnectorNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Service(e) => match e {
                S::ProviderRefused(p) if p.kind == ProviderErrorKind::AccessNotSupported => {
                    StatusCode::CONFLICT
                }
                S::InvalidCursor | S::ProviderRefused(_) => StatusCode::BAD_REQUEST,
                S::AuthenticationRequired | S::InvalidApiKey => StatusCode::UNAUTHORIZED,
                S::InsufficientScope(_) => StatusCode::FORBIDDEN,
                S::ConnectorNotFound(_) | S::ApiKeyNotFound(_) => StatusCode::NOT_FOUND,
                S::ScopeNotGranted(_) | S::IdempotencyInProgress | S::ConnectorDisabled(_) => {
                    StatusCode::CONFLICT
                }
                S::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                S::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                S::Validation(_) | S::IdempotencyKeyReused | S::CredentialsRejected(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                S::ProviderUnavailable(p) if p.kind == ProviderErrorKind::Timeout => {
                    StatusCode::GATEWAY_TIMEOUT
                }
                S::ProviderUnavailable(_) | S::Dependency(_) => StatusCode::SERVICE_UNAVAILABLE,
                S::Internal(_) | S::CredentialsMissing(_) => StatusCode::INTERNAL_SERVER_ERROR,
                S::IdentityNotConfigured { setup: true, .. } => StatusCode::NOT_FOUND,
                S::IdentityNotConfigured { setup: false, .. } => StatusCode::CONFLICT,
                S::IdentityPoolExhausted(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    pub fn code(&self) -> &str {
        use ServiceError as S;
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::AmbiguousApiKey => "invalid_api_key",
            ApiError::NotFound(_) => "not_found",
            ApiError::ConnectorNotFound(_) => "connector_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Internal(_) => "internal_error",
            ApiError::Service(e) => match e {
                S::InvalidCursor => "invalid_cursor",
                S::ProviderRefused(p) | S::ProviderUnavailable(p) => p.kind.code(),
                S::AuthenticationRequired => "authentication_required",
                S::InvalidApiKey => "invalid_api_key",
                S::InsufficientScope(_) => "insufficient_scope",
                S::ConnectorNotFound(_) => "connector_not_found",
                S::ApiKeyNotFound(_) => "not_found",
                S::ScopeNotGranted(_) => "scope_not_granted",
                S::ConnectorDisabled(_) => "connector_disabled",
                S::CredentialsRejected(_) => "credentials_rejected",
                S::IdempotencyInProgress => "idempotency_request_in_progress",
                S::PreconditionFailed => "precondition_failed",
                S::RateLimited(_) => "rate_limited",
                S::Validation(_) => "validation_error",
                S::IdempotencyKeyReused => "idempotency_key_reused",
                S::Dependency(_) => "dependency_unavailable",
                S::Internal(_) => "internal_error",
                S::CredentialsMissing(_) => "credentials_missing",
                S::IdentityNotConfigured { .. } => "identity_not_configured",
                S::IdentityPoolExhausted(_) => "identity_pool_exhausted",
            },
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::Service(ServiceError::Validation(fields)) => {
                Some(json!({ "fields": fields }))
            }
            ApiError::Service(
                ServiceError::ProviderRefused(p) | ServiceError::ProviderUnavailable(p),
            ) => p.actual_region.as_ref().map(|r| json!({ "region": r })),
            // The checks' report, exactly as a test answers it.
            ApiError::Service(ServiceError::CredentialsRejected(report)) => {
                serde_json::to_value(report)
                    .map_err(|e| tracing::error!(error = %e, "a test report did not serialize"))
                    .ok()
            }
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Service(ServiceError::IdempotencyInProgress) => Some(1),
            ApiError::Service(ServiceError::RateLimited(quota)) => Some(quota.reset_seconds),
            ApiError::Service(
                ServiceError::Dependency(_) | ServiceError::ProviderUnavailable(_),
            ) => Some(2),
            // The operator adds service accounts to the pool: minutes, not seconds.
            ApiError::Service(ServiceError::IdentityPoolExhausted(_)) => Some(300),
            _ => None,
        }
    }

    /// What the caller reads, and for a 5xx the cause chain to log.
    fn message_and_cause(&self) -> (String, Option<String>) {
        match self {
            ApiError::Internal(e) | ApiError::Service(ServiceError::Internal(e)) => (
                "internal error; the request id identifies it in our logs".to_owned(),
                Some(error_chain(e.as_ref())),
            ),
            ApiError::Service(ServiceError::Dependency(e)) => (
                "a storage dependency failed; retry shortly".to_owned(),
                Some(error_chain(e.as_ref())),
            ),
            other if other.status().is_server_error() => {
                (other.to_string(), Some(error_chain(other)))
            }
            other => (other.to_string(), None),
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
        let (message, cause) = self.message_and_cause();
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
        if let ApiError::Service(ServiceError::RateLimited(quota)) = &self {
            super::wire::put_quota(response.headers_mut(), quota);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoreError, VaultError};

    #[test]
    fn rejected_credentials_are_a_422_whose_details_are_the_test_report() {
        let report = crate::service::access_check::TestReport {
            success: false,
            error_message: Some("the client secret was refused".into()),
            checks: Vec::new(),
            duration_ms: 12,
        };
        let response =
            ApiError::from(ServiceError::CredentialsRejected(Box::new(report))).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = response
            .extensions()
            .get::<ErrorBody>()
            .expect("an envelope");
        assert_eq!(body.code, "credentials_rejected");
        assert!(
            body.message.contains("the client secret was refused"),
            "{}",
            body.message
        );
        assert_eq!(
            body.details,
            Some(
                json!({"success": false, "error_message": "the client secret was refused",
                        "checks": [], "duration_ms": 12})
            )
        );
    }

    #[test]
    fn a_throttled_or_failing_store_or_vault_is_a_503_with_retry_after_never_a_500() {
        for cause in [
            ServiceError::from(StoreError::Unavailable("ThrottlingException".into())),
            ServiceError::from(VaultError::Unavailable("ThrottlingException".into())),
        ] {
            let response = ApiError::from(cause).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
            let body = response
                .extensions()
                .get::<ErrorBody>()
                .expect("an envelope");
            assert_eq!(body.code, "dependency_unavailable");
            assert!(
                body.cause
                    .as_deref()
                    .is_some_and(|c| c.contains("ThrottlingException")),
                "the cause chain is kept for the log: {:?}",
                body.cause
            );
            assert!(!body.message.contains("Throttling"), "never shown");
        }
    }
}
