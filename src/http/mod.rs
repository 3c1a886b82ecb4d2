//! The HTTP surface: one axum [`Router`] served both locally and on Lambda.
//!
//! The outermost middleware gives every response an `X-Request-Id`, turns every error
//! (including axum's own 404/405) into the contract's envelope, and logs one JSON line per
//! request with its id, tenant, route, status and latency.

mod auth;
mod extract;
mod fields;
mod handlers;
pub mod idempotency;
mod wire;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;

use crate::error::{ApiError, ErrorBody};
use crate::service::App;

pub use auth::Caller;

/// What the request log line learns while the request runs.
#[derive(Debug, Default)]
struct LogFields {
    tenant: Option<String>,
    route: Option<String>,
}

/// Per-request context, in request extensions.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub id: String,
    log: Arc<Mutex<LogFields>>,
}

impl RequestContext {
    pub(crate) fn set_tenant(&self, tenant: &str) {
        if let Ok(mut f) = self.log.lock() {
            f.tenant = Some(tenant.to_owned());
        }
    }
}

/// The service's router: every endpoint of the contract under `/api/v2`.
pub fn router(app: Arc<App>) -> Router {
    use handlers::*;
    let api = Router::new()
        .route("/connectors", get(list_connectors))
        .route("/connectors/s3", post(create_s3))
        .route("/connectors/gcs", post(create_gcs))
        .route("/connectors/azure", post(create_azure))
        .route(
            "/connectors/{connector_id}",
            get(get_connector)
                .patch(update_connector)
                .delete(delete_connector),
        )
        .route("/connectors/{connector_id}/test", post(test_connector))
        .route("/connectors/{connector_id}/browse", post(browse_connector))
        .route_layer(middleware::from_fn(record_route));
    Router::new()
        .nest("/api/v2", api)
        .fallback(unknown_route)
        .layer(middleware::from_fn(observe))
        .with_state(app)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route; every path starts with /api/v2/connectors".into())
}

/// Notes the matched route template for the request log.
async fn record_route(request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>();
    let ctx = request.extensions().get::<RequestContext>();
    if let (Some(path), Some(Ok(mut f))) = (path, ctx.map(|c| c.log.lock())) {
        f.route = Some(path.as_str().to_owned());
    }
    next.run(request).await
}

fn new_request_id() -> String {
    format!("req_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Request id, error envelope and access log for every response.
async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = RequestContext {
        id: new_request_id(),
        log: Arc::default(),
    };
    request.extensions_mut().insert(ctx.clone());
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %ctx.id);
    let response = next.run(request).instrument(span.clone()).await;
    let mut response = finish_error(response, &ctx.id);
    if let Ok(v) = HeaderValue::from_str(&ctx.id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16();
    let fields = ctx
        .log
        .lock()
        .map(|f| (f.tenant.clone(), f.route.clone()))
        .unwrap_or_default();
    let _entered = span.enter();
    tracing::info!(
        method = %method,
        route = fields.1.as_deref().unwrap_or("(unmatched)"),
        tenant = fields.0.as_deref().unwrap_or("-"),
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
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
