//! The outermost layer: a request id on every response, the contract's envelope on every
//! error (axum's own 404 and 405 included), a 5xx's cause chain logged once, and one access
//! line per request.
//!
//! A hand-written [`tower::Layer`] around the whole router, rather than
//! `middleware::from_fn` inside it, so that a request pays for no extra boxed service or
//! boxed future: the router's own future is wrapped in place, inside the request's
//! [`crate::telemetry::RequestFields`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::error::{ApiError, ErrorBody};
use super::wire::X_REQUEST_ID;
use crate::telemetry::{self, RequestFields, metrics};

/// Wraps a service (the router) in [`Observe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// A service (the router), observed: see the module documentation.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TaskLocalFuture<RequestFields, Finish<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = crate::domain::ids::fresh_ulid("req_");
        // An id is ASCII, so it always makes a header value.
        let header = HeaderValue::from_str(&id).ok();
        let method = request.method().clone();
        let has_body = carries_body(request.headers());
        // Under Lambda, the invocation's ids go on every line (CloudWatch and X-Ray).
        let invocation =
            request
                .extensions()
                .get::<lambda_http::Context>()
                .map(|c| telemetry::Invocation {
                    request_id: c.request_id.clone(),
                    trace_id: c.xray_trace_id.clone(),
                });
        let started = Instant::now();
        let inner = self.inner.call(request);
        telemetry::in_request(
            id,
            invocation,
            Finish {
                inner,
                header,
                method,
                has_body,
                started,
            },
        )
    }
}

/// The route's future, then the request id, the envelope and the access line.
#[derive(Debug)]
pub struct Finish<F> {
    inner: F,
    header: Option<HeaderValue>,
    method: Method,
    /// Whether the request came with a body, which an error answer may have left unread.
    has_body: bool,
    started: Instant,
}

impl<F> Future for Finish<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(response) = ready!(Pin::new(&mut self.inner).poll(cx));
        let header = self.header.take();
        let shown_id = header.as_ref().and_then(|v| v.to_str().ok());
        let mut response = finish_error(response, shown_id.unwrap_or_default());
        if let Some(v) = header {
            response.headers_mut().insert(X_REQUEST_ID, v);
        }
        if self.has_body && response.status().as_u16() >= 400 {
            // The body may be unread (a 401 answers before reading it), and then the
            // connection cannot carry another request: say so, so that a pooled client
            // opens a new one instead of failing its next request.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
        // The message given as a field is recorded as text, not formatted through `Debug`.
        // Whole microseconds, so the figure prints short (0.078, not 0.07767600000000001).
        let latency_ms =
            f64::from(u32::try_from(self.started.elapsed().as_micros()).unwrap_or(u32::MAX))
                / 1000.0;
        let status = response.status().as_u16();
        tracing::info!(
            message = "request",
            method = self.method.as_str(),
            status,
            latency_ms,
        );
        metrics::request(status, latency_ms);
        metrics::after_request();
        Poll::Ready(Ok(response))
    }
}

/// Whether a request declares a body: a non-zero `Content-Length`, or any
/// `Transfer-Encoding`.
fn carries_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Logs a 5xx once, with its whole cause chain: a bug or a storage failure as an error, a
/// provider's failure (the customer's cloud, not ours) as a warning.
fn log_failure(status: StatusCode, code: &str, cause: &str) {
    metrics::failure(code);
    if status == StatusCode::INTERNAL_SERVER_ERROR || code == "dependency_unavailable" {
        tracing::error!(code, error = cause, "request failed");
    } else {
        tracing::warn!(code, error = cause, "dependency failed");
    }
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
    if let Some(cause) = &body.cause {
        log_failure(status, &body.code, cause);
    }
    let (mut parts, _) = response.into_parts();
    parts.extensions.remove::<ErrorBody>();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = body.render(request_id).to_string();
    Response::from_parts(parts, Body::from(bytes))
}
