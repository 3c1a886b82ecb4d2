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

/// The presented key: `X-API-Key`, else `Authorization: Bearer`.
fn presented_key(parts: &Parts) -> Result<&str, ApiError> {
    if let Some(v) = parts.headers.get(X_API_KEY) {
        return v
            .to_str()
            .map(str::trim)
            .map_err(|_| ApiError::from(ServiceError::InvalidApiKey));
    }
    match parts.headers.get(header::AUTHORIZATION) {
        None => Err(ApiError::from(ServiceError::AuthenticationRequired)),
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| ApiError::from(ServiceError::InvalidApiKey))?;
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
                _ => Err(ApiError::from(ServiceError::AuthenticationRequired)),
            }
        }
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
