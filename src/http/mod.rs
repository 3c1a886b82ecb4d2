//! The HTTP surface: one axum [`Router`] served both locally and on Lambda.
//!
//! The layer around it (`observe`) gives every response an `X-Request-Id`, turns every error
//! (including axum's own 404/405) into the contract's envelope, and logs one JSON line per
//! request with its id, tenant, route, status and latency. The id, tenant and route are
//! the request's [`crate::telemetry::RequestFields`], so every other line logged for the
//! request carries them too.

mod auth;
mod extract;
mod fields;
mod handlers;
pub mod idempotency;
mod observe;
mod rendered;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::service::App;

pub use auth::Caller;

/// The whole HTTP surface: the router inside the layer that observes every request.
pub type Api = observe::Observe<Router>;

/// The service: every endpoint of the contract under `/api/v2`, observed.
pub fn api(app: Arc<App>) -> Api {
    tower::Layer::layer(&observe::ObserveLayer, router(app))
}

/// Every endpoint of the contract, each route's handlers by method.
fn router(app: Arc<App>) -> Router {
    use handlers::*;
    Router::new()
        .route("/api/v2/connectors", get(list_connectors))
        .route("/api/v2/connectors/s3", post(create_s3))
        .route("/api/v2/connectors/gcs", post(create_gcs))
        .route("/api/v2/connectors/azure", post(create_azure))
        .route(
            "/api/v2/connectors/{connector_id}",
            get(get_connector)
                .patch(update_connector)
                .delete(delete_connector),
        )
        .route(
            "/api/v2/connectors/{connector_id}/test",
            post(test_connector),
        )
        .route(
            "/api/v2/connectors/{connector_id}/browse",
            post(browse_connector),
        )
        .fallback(unknown_route)
        .with_state(app)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route; every path starts with /api/v2/connectors".into())
}
