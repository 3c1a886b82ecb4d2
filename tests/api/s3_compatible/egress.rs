//! S3-compatible services: a connector may name its own `endpoint_url`, and the service
//! never calls one inside a network (SSRF): refused at create with a 422, and refused again
//! at connection, before any connection is made, when a name resolves inside later.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use connectors::providers::Providers;
use connectors::providers::egress::EgressPolicy;
use connectors::providers::{ProviderSettings, s3::S3Settings};
use serde_json::{Value, json};

use crate::helpers::*;

/// Where hosts inside a network are allowed as the operator lists them.
fn allowing(entries: &[&str]) -> ProviderSettings {
    ProviderSettings {
        s3: S3Settings {
            egress: EgressPolicy::parse(
                &entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>(),
            )
            .expect("a valid allowlist"),
            ..S3Settings::default()
        },
        ..ProviderSettings::default()
    }
}

fn compatible(endpoint: &str) -> Value {
    s3_body(json!({"endpoint_url": endpoint, "region": "auto", "force_path_style": true}))
}

/// The SSRF corpus: endpoints a connector may never name by default.
const INSIDE: [&str; 15] = [
    "https://127.0.0.1",
    "https://127.0.0.1:9000",
    "https://localhost",
    "https://169.254.169.254",
    "https://[fd00:ec2::254]",
    "https://[::1]:9000",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:169.254.169.254]",
    "https://100.64.0.1",
    "https://10.1.2.3",
    "https://192.168.0.10",
    "https://224.0.0.1",
    "https://0.0.0.0",
    "https://2130706433",
    "https://0x7f.0.0.1",
];

#[tokio::test]
async fn an_endpoint_inside_a_network_is_refused_at_create_and_dry_run_and_nothing_is_stored() {
    let t = TestApp::spawn_reaching(ProviderSettings::default()).await;
    let malformed = [
        "http://s3.example.com",
        "https://user:pw@s3.example.com",
        "https://s3.example.com/bucket",
        "file:///etc/passwd",
    ];
    for endpoint in INSIDE.iter().chain(&malformed) {
        for path in [
            "/api/v2/connectors/s3",
            "/api/v2/connectors/s3?dry_run=true",
        ] {
            let r = t
                .json(Method::POST, path, &t.key, &compatible(endpoint))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{endpoint} {path}"
            );
            assert_eq!(r.error_fields(), vec!["endpoint_url"], "{endpoint} {path}");
            let message = r.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            assert!(
                !message.contains("127.0.0.1") || endpoint.contains("127.0.0.1"),
                "a resolved address is never shown: {message}"
            );
        }
    }
    assert_eq!(t.connector_count().await, 0);
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn a_connector_on_a_compatible_service_shows_its_endpoint_and_takes_the_services_region() {
    let t = TestApp::spawn_reaching(allowing(&["127.0.0.1"])).await;
    let c = t
        .create_s3(&t.key, compatible("https://127.0.0.1:9000/"))
        .await;
    assert_eq!(c["endpoint_url"], "https://127.0.0.1:9000");
    assert_eq!(c["force_path_style"], true);
    assert_eq!(c["region"], "auto");
    // The allowlist names that address only.
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &compatible("https://127.0.0.2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without an endpoint, the region is AWS's, and the new fields say so.
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &s3_body(json!({"region": "auto"})),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["region"]);
    let aws = t.create_s3(&t.key, json!({})).await;
    assert_eq!(aws["endpoint_url"], Value::Null);
    assert_eq!(aws["force_path_style"], false);
    // The endpoint is where the bucket is: it does not change.
    let id = c["connector_id"].as_str().expect("id");
    let r = t
        .json(
            Method::PATCH,
            &format!("/api/v2/connectors/{id}"),
            &t.key,
            &json!({"endpoint_url": "https://127.0.0.1:9001"}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["endpoint_url"]);
    // A compatible connector keeps its service's region words on PATCH; an AWS one does not.
    let r = t
        .json(
            Method::PATCH,
            &format!("/api/v2/connectors/{id}"),
            &t.key,
            &json!({"region": "us-west-004"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let aws_id = aws["connector_id"].as_str().expect("id");
    let r = t
        .json(
            Method::PATCH,
            &format!("/api/v2/connectors/{aws_id}"),
            &t.key,
            &json!({"region": "auto"}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["region"]);
}

/// A loopback listener that counts the connections it accepts.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("address").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, accepted)
}

/// A connector created while the operator allowed `allowed`, on `endpoint`, and the same
/// data served by an app that allows nothing (as if the name now resolved inside).
async fn created_then_refused(allowed: &str, endpoint: &str) -> (TestApp, String) {
    let t = TestApp::spawn_reaching(allowing(&[allowed])).await;
    let c = t.create_s3(&t.key, compatible(endpoint)).await;
    let id = c["connector_id"].as_str().expect("id").to_owned();
    let app = (*t.app)
        .clone()
        .reaching(Arc::new(Providers::new(ProviderSettings::default())));
    (t.with_app(app), id)
}

#[tokio::test]
async fn a_name_that_resolves_inside_after_create_fails_the_test_before_any_connection() {
    let (port, accepted) = counting_listener().await;
    let (t, id) = created_then_refused("localhost", &format!("https://localhost:{port}")).await;
    let r = t
        .post_empty(&format!("/api/v2/connectors/{id}/test"), &t.key)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let report = r.json();
    assert_eq!(report["success"], false);
    assert_eq!(
        report["checks"][0]["error"]["code"], "endpoint_not_allowed",
        "{report}"
    );
    let message = report["error_message"].as_str().expect("a message");
    assert!(message.starts_with("endpoint_url "), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    let r = t
        .json(
            Method::POST,
            &format!("/api/v2/connectors/{id}/browse"),
            &t.key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "endpoint_not_allowed");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn an_address_endpoint_no_longer_allowed_fails_the_test_before_any_connection() {
    let (port, accepted) = counting_listener().await;
    let (t, id) = created_then_refused("127.0.0.1", &format!("https://127.0.0.1:{port}")).await;
    let report = t
        .post_empty(&format!("/api/v2/connectors/{id}/test"), &t.key)
        .await
        .json();
    assert_eq!(
        report["checks"][0]["error"]["code"], "endpoint_not_allowed",
        "{report}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}
