//! The HTTP surface: one axum [`Router`] served both locally and on Lambda.
//!
//! Each resource has its own module and `router()`: `connectors` (create, list, get,
//! update, delete) and `actions` (test and browse). Handlers authenticate with an
//! extractor, parse bodies into domain values, call the service and shape the answer; a
//! [`crate::service::ServiceError`] becomes the contract's envelope in [`error`].
//!
//! The layer around it (`observe`) gives every response an `X-Request-Id`, turns every error
//! (including axum's own 404/405) into the contract's envelope, logs a 5xx's cause chain,
//! and logs one JSON line per request with its id, tenant, route, status and latency. The
//! id, tenant and route are the request's [`crate::telemetry::RequestFields`], so every other
//! line logged for the request carries them too.

pub(crate) mod access;
pub(crate) mod actions;
pub(crate) mod auth;
pub(crate) mod connectors;
mod cors;
pub mod edge;
pub mod error;
pub(crate) mod events;
pub(crate) mod extract;
pub(crate) mod fields;
pub mod idempotency;
mod observe;
pub mod openapi;
mod rendered;
mod repeated_keys;
mod routes;
pub(crate) mod wire;

use std::sync::Arc;

use axum::Router;

use crate::service::App;
use error::ApiError;

pub use crate::service::api_keys::Caller;

/// What every handler reaches: the service, and the connectors' JSON kept beside the
/// records it was rendered from.
pub(crate) struct HttpState {
    pub(crate) app: Arc<App>,
    rendered: rendered::RenderCache,
}

pub(crate) type State = Arc<HttpState>;

/// The whole HTTP surface: the router inside the layer that observes every request.
pub type Api = observe::Observe<Router>;

/// The service: every endpoint of the contract under `/api/v2`, observed; no browser
/// origin allowed.
pub fn api(app: Arc<App>) -> Api {
    api_for_origins(app, &[])
}

/// The service, answering CORS preflights and exposing its headers to pages of
/// `origins` (none when empty).
pub fn api_for_origins(app: Arc<App>, origins: &[String]) -> Api {
    let router = match cors::layer(origins) {
        Some(cors) => router(app).layer(cors),
        None => router(app),
    };
    tower::Layer::layer(&observe::ObserveLayer, router)
}

/// Every endpoint of the contract, resource by resource.
fn router(app: Arc<App>) -> Router {
    let state = Arc::new(HttpState {
        app,
        rendered: rendered::RenderCache::default(),
    });
    Router::new()
        .merge(routes::routes())
        .route(openapi::PATH, axum::routing::get(openapi::serve))
        .fallback(unknown_route)
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route; every path starts with /api/v2/connectors".into())
}
