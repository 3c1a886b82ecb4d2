//! Every error path answers with the contract's envelope and status.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_unknown_route_is_a_404_in_the_envelope() {
    let t = TestApp::spawn().await;
    let r = t.get("/api/v2/nothing", &t.key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_allow_in_the_envelope() {
    let t = TestApp::spawn().await;
    let r = t
        .send(
            t.request(Method::PUT, "/api/v2/connectors", Some(&t.key))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{:?}",
        r.headers
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let req = t
        .request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
        .header("content-type", "application/json")
        .body(Body::from("{\"name\": "))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "malformed_json");
    assert_eq!(t.get("/api/v2/connectors", &t.key).await.json(), json!([]));
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415() {
    let t = TestApp::spawn().await;
    let req = t
        .request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
        .header("content-type", "text/plain")
        .body(Body::from(s3_body(json!({})).to_string()))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.error_code(), "unsupported_media_type");
    let req = t
        .request(Method::POST, "/api/v2/connectors/gcs", Some(&t.key))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("req");
    assert_eq!(t.send(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_json_body_over_64_kib_is_a_413() {
    let t = TestApp::spawn().await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &s3_body(json!({"name": "x".repeat(70_000)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "payload_too_large");
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once_without_echoing_values() {
    let t = TestApp::spawn().await;
    let body = s3_body(json!({
        "name": "  ", "bucket": "Bad_Bucket", "region": "mars-1", "scopes": ["import", "import"],
        "export_base_path": "../escape", "import_mode": "sometimes", "aws_secret_access_key": "has space"
    }));
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", &t.key, &body)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "validation_error");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "aws_secret_access_key",
            "bucket",
            "export_base_path",
            "import_mode",
            "name",
            "region",
            "scopes"
        ]
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("has space"));
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn unknown_fields_are_refused_by_name() {
    let t = TestApp::spawn().await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &s3_body(json!({"bukcet": "x", "extra": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["bukcet", "extra"]);
}

#[tokio::test]
async fn a_malformed_connector_id_is_a_404_like_any_unknown_one() {
    let t = TestApp::spawn().await;
    for path in [
        "/api/v2/connectors/conn_123",
        "/api/v2/connectors/conn_01jd8x0k6m3q4r5s6t7v8w9xyz",
        // Percent-escapes that decode to no text at all.
        "/api/v2/connectors/%FF",
        "/api/v2/connectors/conn_%C3%28/test",
    ] {
        let r = if path.ends_with("/test") {
            t.post_empty(path, &t.key).await
        } else {
            t.get(path, &t.key).await
        };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "not_found");
    }
}
