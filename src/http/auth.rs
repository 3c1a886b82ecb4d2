//! API-key authentication and scope checks, as extractors: `Read`, `Write` and `Admin`
//! each yield the [`Caller`] or answer 401/403 before any body is read.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::{header, request::Parts};

use super::wire::X_API_KEY;
use crate::domain::apikey::{ApiKeyRecord, KeyHash, KeyScope, looks_like_key};
use crate::domain::ids::TenantId;
use crate::domain::timestamp::Timestamp;
use crate::error::ApiError;
use crate::service::App;
use crate::telemetry;

/// The authenticated account and key: the key's stored record, shared.
#[derive(Debug, Clone)]
pub struct Caller(Arc<ApiKeyRecord>);

impl Caller {
    /// The account whose key was accepted.
    pub fn tenant(&self) -> &TenantId {
        &self.0.tenant
    }
}

/// The presented key: `X-API-Key`, else `Authorization: Bearer`.
fn presented_key(parts: &Parts) -> Result<&str, ApiError> {
    if let Some(v) = parts.headers.get(X_API_KEY) {
        return v
            .to_str()
            .map(str::trim)
            .map_err(|_| ApiError::InvalidApiKey);
    }
    match parts.headers.get(header::AUTHORIZATION) {
        None => Err(ApiError::AuthenticationRequired),
        Some(v) => {
            let v = v.to_str().map_err(|_| ApiError::InvalidApiKey)?;
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
                _ => Err(ApiError::AuthenticationRequired),
            }
        }
    }
}

async fn authenticate(parts: &Parts, app: &App, needed: KeyScope) -> Result<Caller, ApiError> {
    // Every endpoint authenticates first, so only unknown routes and methods log no route.
    if let Some(route) = parts.extensions.get::<MatchedPath>() {
        telemetry::note_route(route.as_str());
    }
    let key = presented_key(parts)?;
    if key.is_empty() {
        return Err(ApiError::AuthenticationRequired);
    }
    if !looks_like_key(key) {
        return Err(ApiError::InvalidApiKey);
    }
    let record = app
        .store
        .find_api_key(&KeyHash::of(key))
        .await?
        .filter(|r| r.is_usable(Timestamp::now()))
        .ok_or(ApiError::InvalidApiKey)?;
    telemetry::note_tenant(record.tenant.as_str());
    if !record.grants(needed) {
        return Err(ApiError::InsufficientScope(needed.as_str()));
    }
    Ok(Caller(record))
}

macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<Arc<App>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
                authenticate(parts, app, $scope).await.map($name)
            }
        }
    };
}

scope_extractor!(
    /// A caller whose key has at least the `read` scope.
    Read, KeyScope::Read
);
scope_extractor!(
    /// A caller whose key has at least the `write` scope.
    Write, KeyScope::Write
);
scope_extractor!(
    /// A caller whose key has the `admin` scope.
    Admin, KeyScope::Admin
);
