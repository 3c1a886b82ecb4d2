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
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("multipart/form-data") && message.contains("application/json"),
        "both ways in are named: {message}"
    );
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
        assert_eq!(r.error_code(), "connector_not_found");
    }
}

#[tokio::test]
async fn a_404_does_not_grow_with_the_id_it_was_sent() {
    let t = TestApp::spawn().await;
    let long = "x".repeat(10 * 1024);
    let r = t.get(&format!("/api/v2/connectors/{long}"), &t.key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "connector_not_found");
    assert!(r.body.len() < 512, "{} bytes", r.body.len());
}

#[tokio::test]
async fn unknown_and_foreign_connectors_answer_connector_not_found_alike() {
    let t = TestApp::spawn().await;
    let created = t.create_s3(&t.key, json!({})).await;
    let id = created["connector_id"].as_str().expect("id");
    let other = t
        .key_for("globex", &[connectors::domain::apikey::KeyScope::Admin])
        .await;
    let foreign = t.get(&format!("/api/v2/connectors/{id}"), &other).await;
    let unknown_id = connectors::domain::ids::ConnectorId::generate();
    let unknown = t
        .get(&format!("/api/v2/connectors/{unknown_id}"), &other)
        .await;
    for r in [&foreign, &unknown] {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error_code(), "connector_not_found");
    }
    let message = |r: &TestResponse, id: &str| {
        r.json()["error"]["message"]
            .as_str()
            .expect("a message")
            .replace(id, "ID")
    };
    assert_eq!(
        message(&foreign, id),
        message(&unknown, unknown_id.as_str())
    );
    // An unknown route keeps the generic code.
    assert_eq!(
        t.get("/api/v2/nowhere", &t.key).await.error_code(),
        "not_found"
    );
}

#[tokio::test]
async fn a_json_body_that_repeats_a_key_is_a_422_naming_it_and_creates_nothing() {
    let t = TestApp::spawn().await;
    let (id, secret) = s3_keys();
    let body = format!(
        r#"{{"name": "A", "bucket": "first-bucket", "region": "us-east-1",
            "aws_access_key_id": "{id}", "aws_secret_access_key": "{secret}",
            "bucket": "second-bucket"}}"#
    );
    let r = t
        .send(
            t.request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["bucket"]);
    assert_eq!(t.secret_count().await, 0);
    assert_eq!(t.get("/api/v2/connectors", &t.key).await.json(), json!([]));
}

#[tokio::test]
async fn dry_run_given_twice_is_a_422_even_when_both_agree() {
    let t = TestApp::spawn().await;
    for query in ["dry_run=true&dry_run=false", "dry_run=true&dry_run=true"] {
        let r = t
            .json(
                Method::POST,
                &format!("/api/v2/connectors/s3?{query}"),
                &t.key,
                &s3_body(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), ["dry_run"], "{query}");
    }
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn an_error_to_a_request_with_an_unread_body_closes_the_connection_and_says_so() {
    let t = TestApp::spawn().await;
    let body = s3_body(json!({})).to_string();
    for (key, content_type, expected) in [
        (None, "application/json", StatusCode::UNAUTHORIZED),
        (
            Some(t.key.as_str()),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let r = t
            .send(
                t.request(Method::POST, "/api/v2/connectors/s3", key)
                    .header("content-type", content_type)
                    .header("content-length", body.len())
                    .body(Body::from(body.clone()))
                    .expect("req"),
            )
            .await;
        assert_eq!(r.status, expected);
        assert_eq!(r.header("connection"), Some("close"), "{expected}");
    }
    // A success keeps the connection, and so does an error to a request without a body.
    let ok = t.get("/api/v2/connectors", &t.key).await;
    assert_eq!(ok.header("connection"), None);
    let missing = t.get("/api/v2/nowhere", &t.key).await;
    assert_eq!(missing.header("connection"), None);
}

#[tokio::test]
async fn a_browse_body_of_null_means_no_body_and_any_other_non_object_is_refused() {
    let t = TestApp::spawn().await;
    let c = t.create_s3(&t.key, json!({"scopes": ["export"]})).await;
    let path = format!(
        "/api/v2/connectors/{}/browse",
        c["connector_id"].as_str().expect("id")
    );
    let send = |body: &'static str| {
        t.request(Method::POST, &path, Some(&t.key))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    // The body is read before the scope is checked: `null` gets that far, like no body.
    let r = t.send(send("null")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "scope_not_granted");
    for refused in ["[]", "\"x\"", "1"] {
        let r = t.send(send(refused)).await;
        assert!(r.status.is_client_error(), "{refused}: {}", r.status);
        assert_ne!(r.error_code(), "scope_not_granted", "{refused}");
    }
}

#[tokio::test]
async fn a_dry_run_refuses_a_malformed_idempotency_key_as_a_create_does() {
    let t = TestApp::spawn().await;
    let r = t
        .send(
            t.request(
                Method::POST,
                "/api/v2/connectors/s3?dry_run=true",
                Some(&t.key),
            )
            .header("content-type", "application/json")
            .header("idempotency-key", "a\tb")
            .body(Body::from(s3_body(json!({})).to_string()))
            .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["Idempotency-Key"]);
    assert_eq!(t.connector_count().await, 0);
}
