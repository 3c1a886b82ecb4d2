//! An S3-compatible service named by the connector itself (`endpoint_url`): moto over
//! HTTPS stands for it, allowed by the operator's egress setting since it listens on
//! loopback. Test, browse and dry-run work as they do against AWS.

use axum::http::{Method, StatusCode};
use connectors::providers::ProviderSettings;
use connectors::providers::egress::EgressPolicy;
use connectors::providers::s3::S3Settings;
use serde_json::json;

use crate::helpers::*;

fn compatible_endpoint() -> String {
    std::env::var("MOTO_TLS_ENDPOINT").expect(
        "MOTO_TLS_ENDPOINT is not set: run the suite with bash infra/test.sh, which starts moto over HTTPS",
    )
}

/// A bucket holding `keys` on the compatible service.
async fn compatible_bucket(keys: &[&str]) -> String {
    bucket_on(&s3_client_at(&compatible_endpoint()), keys).await
}

/// An app whose connectors may name loopback (the emulator), and that has no operator-wide
/// S3 endpoint: each connector's own endpoint is the one used.
async fn app() -> TestApp {
    TestApp::spawn_reaching(ProviderSettings {
        s3: S3Settings {
            endpoint_url: None,
            egress: EgressPolicy::parse(&["127.0.0.1".to_owned()]).expect("valid"),
        },
        ..emulators()
    })
    .await
}

#[tokio::test]
async fn test_browse_and_dry_run_work_against_a_compatible_service_named_by_the_connector() {
    let t = app().await;
    let bucket = compatible_bucket(&["in/a.mp4", "in/b.mov", "in/deep/c.mp4"]).await;
    let body = s3_body(json!({
        "bucket": bucket,
        "region": "auto",
        "endpoint_url": compatible_endpoint(),
        "force_path_style": true,
        "scopes": ["import", "export"],
        "export_base_path": "exports/",
    }));
    let dry = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3?dry_run=true",
            &t.key,
            &body,
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK);
    assert_eq!(dry.json()["success"], true, "{}", dry.json());
    let c = t.create_s3(&t.key, body).await;
    let id = c["connector_id"].as_str().expect("id");
    let report = t
        .post_empty(&format!("/api/v2/connectors/{id}/test"), &t.key)
        .await
        .json();
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(
        check_names(&report),
        vec!["authenticate", "list", "write", "delete"]
    );
    let r = t
        .json(
            Method::POST,
            &format!("/api/v2/connectors/{id}/browse"),
            &t.key,
            &json!({"prefix": "in/", "pattern": "*.mp4"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let paths: Vec<String> = r
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|f| f["path"].as_str().expect("a path").to_owned())
        .collect();
    assert_eq!(paths, vec!["in/a.mp4", "in/deep/c.mp4"]);
}

#[tokio::test]
async fn a_bucket_missing_on_the_compatible_service_is_reported_as_on_aws() {
    let t = app().await;
    let c = t
        .create_s3(
            &t.key,
            json!({
                "bucket": "no-such-bucket-here",
                "region": "auto",
                "endpoint_url": compatible_endpoint(),
                "force_path_style": true,
            }),
        )
        .await;
    let id = c["connector_id"].as_str().expect("id");
    let report = t
        .post_empty(&format!("/api/v2/connectors/{id}/test"), &t.key)
        .await
        .json();
    assert_eq!(
        report["checks"][0]["error"]["code"], "bucket_not_found",
        "{report}"
    );
}
