//! The HTTP surface: one axum [`Router`] served both locally and on Lambda.
//!
//! The outermost middleware gives every response an `X-Request-Id`, turns every error
//! (including axum's own 404/405) into the contract's envelope, and logs one JSON line per
//! request with its id, tenant, route, status and latency. The id, tenant and route are
//! the request's [`crate::telemetry::RequestFields`], so every other line logged for the
//! request carries them too.

mod auth;
mod extract;
mod fields;
mod handlers;
pub mod idempotency;
mod rendered;
mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{ApiError, ErrorBody};
use crate::service::App;

pub use auth::Caller;

/// The service's router: every endpoint of the contract under `/api/v2`.
pub fn router(app: Arc<App>) -> Router {
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
        .layer(middleware::from_fn(observe))
        .with_state(app)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route; every path starts with /api/v2/connectors".into())
}

fn new_request_id() -> String {
    crate::domain::ids::fresh_ulid("req_")
}

/// Request id, error envelope and access log for every response.
async fn observe(request: Request, next: Next) -> Response {
    let id = new_request_id();
    // An id is ASCII, so it always makes a header value.
    let header = HeaderValue::from_str(&id).ok();
    crate::telemetry::in_request(id, async move {
        let started = Instant::now();
        let method = request.method().clone();
        let response = next.run(request).await;
        let shown_id = header.as_ref().and_then(|v| v.to_str().ok());
        let mut response = finish_error(response, shown_id.unwrap_or_default());
        if let Some(v) = header {
            response.headers_mut().insert("x-request-id", v);
        }
        tracing::info!(
            method = method.as_str(),
            status = response.status().as_u16(),
            // Whole microseconds, so the figure prints short (0.078, not 0.07767600000000001).
            latency_ms =
                f64::from(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX))
                    / 1000.0,
            "request"
        );
        response
    })
    .await
}

/// Renders the envelope of an [`ApiError`], or wraps an error response that some layer
/// produced without one (axum's 405, for example).
fn finish_error(response: Response, request_id: &str) -> Response {
    let status = response.status();
    let body = match response.extensions().get::<ErrorBody>() {
        Some(body) => body.clone(),
        None if status.is_client_error() || status.is_server_error() => {
            let fallback = match status {
                StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
                StatusCode::NOT_FOUND => ApiError::NotFound("not found".into()),
                _ => {
                    ApiError::Internal(anyhow::anyhow!("unexpected {status} without an error body"))
                }
            };
            let rendered = fallback.into_response();
            match rendered.extensions().get::<ErrorBody>() {
                Some(b) => b.clone(),
                None => return response,
            }
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    parts.extensions.remove::<ErrorBody>();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = serde_json::to_vec(&body.render(request_id)).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}
