//! CORS at the router: preflights answered for allowed origins only, the headers clients
//! read exposed, and nothing changed for the API without origins.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;

use crate::helpers::*;

const PAGE: &str = "https://app.example.com";

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v2/connectors")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-api-key")
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_what_it_may_send() {
    let t = TestApp::spawn().await;
    let api = connectors::http::api_for_origins(t.app.clone(), &[PAGE.to_owned()]);
    let r = api.oneshot(preflight(PAGE)).await.expect("infallible");
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], PAGE);
    let methods = h["access-control-allow-methods"].to_str().expect("ascii");
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for name in [
        "x-api-key",
        "idempotency-key",
        "if-match",
        "content-type",
        "authorization",
    ] {
        assert!(headers.contains(name), "{headers}");
    }
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn an_answer_to_an_allowed_origin_exposes_the_headers_clients_read() {
    let t = TestApp::spawn().await;
    let api = connectors::http::api_for_origins(t.app.clone(), &[PAGE.to_owned()]);
    let request = Request::builder()
        .uri("/api/v2/connectors")
        .header("origin", PAGE)
        .header("x-api-key", &t.key)
        .body(Body::empty())
        .expect("request");
    let r = api.oneshot(request).await.expect("infallible");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], PAGE);
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for name in [
        "etag",
        "link",
        "x-next-cursor",
        "x-request-id",
        "retry-after",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[tokio::test]
async fn another_origin_or_an_api_without_origins_allows_nothing() {
    let t = TestApp::spawn().await;
    let api = connectors::http::api_for_origins(t.app.clone(), &[PAGE.to_owned()]);
    let r = api
        .oneshot(preflight("https://evil.example.net"))
        .await
        .expect("infallible");
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // Without origins (the default) a preflight is a method the API does not have.
    let r = t.send(preflight(PAGE)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("access-control-allow-origin"), None);
}
