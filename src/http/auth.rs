//! API-key authentication and scope checks, as extractors: `Read`, `Write` and `Admin`
//! each yield the [`Caller`] or answer 401/403 before any body is read. The key is read
//! from the headers here and checked by the service.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::{header, request::Parts};

use super::State;
use super::error::ApiError;
use super::wire::X_API_KEY;
use crate::domain::apikey::KeyScope;
use crate::service::ServiceError;
use crate::service::api_keys::Caller;
use crate::telemetry;

/// The presented key: from `X-API-Key` or `Authorization: Bearer`. More than one distinct
/// key (the two headers disagreeing, or one header sent twice with different keys) is
/// refused rather than resolved by order: a revoked key beside a valid one must not pass.
fn presented_key(parts: &Parts) -> Result<&str, ApiError> {
    let invalid = || ApiError::from(ServiceError::InvalidApiKey);
    let mut found: Option<&str> = None;
    for v in parts.headers.get_all(X_API_KEY) {
        let key = v.to_str().map(str::trim).map_err(|_| invalid())?;
        found = one_key(found, key)?;
    }
    for v in parts.headers.get_all(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| invalid())?;
        // Another scheme carries no key of ours.
        if let Some((scheme, token)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            found = one_key(found, token.trim())?;
        }
    }
    found.ok_or_else(|| ServiceError::AuthenticationRequired.into())
}

/// The key found so far and `next`, if they are the same key.
fn one_key<'a>(found: Option<&'a str>, next: &'a str) -> Result<Option<&'a str>, ApiError> {
    match found {
        Some(key) if key != next => Err(ApiError::AmbiguousApiKey),
        _ => Ok(Some(next)),
    }
}

async fn authenticate(parts: &Parts, state: &State, needed: KeyScope) -> Result<Caller, ApiError> {
    // Every endpoint authenticates first, so only unknown routes and methods log no route.
    if let Some(route) = parts.extensions.get::<MatchedPath>() {
        telemetry::note_route(route.as_str());
    }
    let key = presented_key(parts)?;
    Ok(state.app.authenticate(key, needed).await?)
}

macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<State> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
                authenticate(parts, state, $scope).await.map($name)
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
scope_extractor!(
    /// A caller whose key has the `access` scope (or `admin`).
    AccessGrant, KeyScope::Access
);
