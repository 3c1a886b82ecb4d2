//! [`ServiceError`]: what a use case can answer besides success. It names outcomes, not
//! statuses; the HTTP layer maps each to a status and the contract's envelope in one place.

use serde::Serialize;

use super::access_check::TestReport;
use crate::domain::ids::ConnectorId;
use crate::domain::scopes::Provider;
use crate::providers::ProviderError;
use crate::store::{StoreError, VaultError};

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No key was presented.
    #[error("an API key is required (X-API-Key or Authorization: Bearer)")]
    AuthenticationRequired,
    /// The key is unknown, revoked or expired.
    #[error("the API key is invalid, revoked or expired")]
    InvalidApiKey,
    /// The key lacks the scope the operation needs.
    #[error("this API key lacks the '{0}' scope needed here")]
    InsufficientScope(&'static str),
    /// The connector does not exist or belongs to another account (the two look alike).
    #[error("connector {0} not found")]
    ConnectorNotFound(ConnectorId),
    /// No API key has this id (operator commands).
    #[error("no key has id {0}")]
    ApiKeyNotFound(String),
    /// The connector lacks the scope (`import`/`export`) the operation needs.
    #[error("{0}")]
    ScopeNotGranted(String),
    /// The connector is `disabled`: it is not browsed, tested or used for access of any
    /// kind until it is enabled again.
    #[error(
        "connector {0} is disabled: it is not browsed, tested or used for access; enable it \
         with PATCH {{\"status\": \"active\"}}"
    )]
    ConnectorDisabled(ConnectorId),
    /// New credentials sent with a PATCH failed the access checks; nothing was changed.
    #[error(
        "the new credentials failed the access checks ({}); nothing was changed and the \
         connector keeps its current credentials: fix them, or send ?validate=false to save \
         them unchecked",
        .0.error_message.as_deref().unwrap_or("a check failed")
    )]
    CredentialsRejected(Box<TestReport>),
    /// `If-Match` names another version.
    #[error("the connector has changed: If-Match does not match its current ETag")]
    PreconditionFailed,
    /// Fields that do not fit the connector or the request.
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    /// A cursor that was altered, or used with other filters or by another account.
    #[error("cursor is invalid: pass back the cursor exactly as received, with the same filters")]
    InvalidCursor,
    /// Another request with the same `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is still in progress; retry shortly")]
    IdempotencyInProgress,
    /// The `Idempotency-Key` was used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// The account made as many calls of this operation as its limit allows this window.
    #[error(
        "this account has made its {} {} calls for this minute; retry in {} s",
        .0.limit, .0.policy.as_str(), .0.reset_seconds
    )]
    RateLimited(super::limits::Quota),
    /// The provider refused for a reason a retry will not fix.
    #[error("{0}")]
    ProviderRefused(ProviderError),
    /// The provider failed in a way a retry may fix.
    #[error("{0}")]
    ProviderUnavailable(ProviderError),
    /// The database or secret store failed; retryable.
    #[error("a storage dependency failed")]
    Dependency(#[source] anyhow::Error),
    /// The record still points at credentials the vault does not have: the state
    /// `reconcile` reports, never a race (a connector deleted or rotated under a request
    /// is read again first).
    #[error(
        "connector {0} points at credentials the secret store does not have; new credentials \
         sent with PATCH replace them, and an operator's reconcile reports the connector"
    )]
    CredentialsMissing(ConnectorId),
    /// A keyless connector was asked for, and the operator has set up no identity for its
    /// provider (409); `setup` when it was the identity setup that was asked for (404).
    #[error("{}", not_configured(*.provider))]
    IdentityNotConfigured { provider: Provider, setup: bool },
    /// Every identity of the operator's pool is held by an account.
    #[error(
        "no {} identity is free for this account yet; the operator has been alerted, retry later",
        .0.as_str()
    )]
    IdentityPoolExhausted(Provider),
    /// A bug, or stored data that cannot be read.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What the operator must configure for a provider's keyless connectors.
fn not_configured(provider: Provider) -> &'static str {
    match provider {
        Provider::Gcs => {
            "keyless GCS connectors are not configured on this service: its operator sets \
             GCS_WORKLOAD_IDENTITY_AUDIENCE (the workload identity pool provider that trusts \
             the service's AWS role) and GCS_SERVICE_ACCOUNTS (the pool of service accounts); \
             a connector with a key file works without them"
        }
        Provider::Azure => {
            "keyless Azure connectors are not configured on this service: its operator sets \
             AZURE_IDENTITY_CLIENT_ID (the multi-tenant Entra app whose federated identity \
             credential trusts the service's AWS role); a connector with a client secret \
             works without it"
        }
        Provider::S3 => "S3 connectors need no identity setup: use the role setup",
    }
}

fn summary(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    /// One invalid field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A provider failure: retryable ones become `ProviderUnavailable`.
    pub fn provider(e: ProviderError) -> Self {
        if e.kind.is_retryable() {
            Self::ProviderUnavailable(e)
        } else {
            Self::ProviderRefused(e)
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(_) => Self::Internal(e.into()),
            _ => Self::Dependency(e.into()),
        }
    }
}

impl From<VaultError> for ServiceError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Unavailable(_) => Self::Dependency(e.into()),
            _ => Self::Internal(e.into()),
        }
    }
}
