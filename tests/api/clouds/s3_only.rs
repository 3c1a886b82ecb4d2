//! S3-specific test and browse behaviour against moto's S3: what the tests on all three
//! clouds (`every_cloud`) do not cover.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn connector_on(t: &TestApp, bucket: &str, extra: Value) -> String {
    let mut overrides = json!({"bucket": bucket, "scopes": ["import", "export"]});
    if let (Some(o), Some(e)) = (overrides.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let c = t.create_s3(&t.key, overrides).await;
    format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    )
}

#[tokio::test]
async fn a_test_of_a_missing_bucket_answers_200_with_bucket_not_found_and_marks_the_connector_failed()
 {
    let t = TestApp::spawn().await;
    let path = connector_on(&t, "no-such-bucket-here", json!({})).await;
    let r = t.post_empty(&format!("{path}/test"), &t.key).await;
    assert_eq!(r.status, StatusCode::OK);
    let report = r.json();
    assert_eq!(report["success"], false);
    assert!(
        report["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-bucket-here"))
    );
    assert_eq!(report["checks"][0]["error"]["code"], "bucket_not_found");
    let c = t.get(&path, &t.key).await.json();
    assert_eq!(
        (c["status"].as_str(), c["last_test_result"].as_str()),
        (Some("failed"), Some("failure"))
    );
    assert_eq!(c["last_test_error"], report["error_message"]);
}

const TREE: [&str; 9] = [
    "incoming/2026/04/a.mp4",
    "incoming/2026/04/b.MOV",
    "incoming/2026/04/c.mp4",
    "incoming/2026/04/day2/d.mp4",
    "incoming/2026/04/day2/e.txt",
    "incoming/2026/04/folder/",
    "incoming/2026/05/f.mp4",
    "other/g.mp4",
    "incoming/2026/04/README",
];

async fn browse(t: &TestApp, path: &str, body: Value) -> TestResponse {
    t.json(Method::POST, &format!("{path}/browse"), &t.key, &body)
        .await
}

#[tokio::test]
async fn browse_refuses_bad_input_and_altered_cursors() {
    let t = TestApp::spawn().await;
    let path = connector_on(&t, &bucket_with(&TREE).await, json!({})).await;
    let r = browse(
        &t,
        &path,
        json!({"pattern": "[abc", "limit": 0, "recursive": "yes", "depth": 1}),
    )
    .await;
    assert_eq!(r.error_fields(), ["depth"]);
    let r = browse(
        &t,
        &path,
        json!({"pattern": "[abc", "limit": 5001, "recursive": "yes"}),
    )
    .await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "pattern", "recursive"]);
    let r = browse(&t, &path, json!({"cursor": "abc.def"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_cursor");
}

#[tokio::test]
async fn browsing_a_connector_without_the_import_scope_is_a_409() {
    let t = TestApp::spawn().await;
    let path = connector_on(&t, &bucket_with(&[]).await, json!({"scopes": ["export"]})).await;
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "scope_not_granted");
}

#[tokio::test]
async fn a_test_with_an_idempotency_key_runs_once() {
    let t = TestApp::spawn().await;
    let path = connector_on(&t, &bucket_with(&[]).await, json!({})).await;
    let send = || {
        t.request(Method::POST, &format!("{path}/test"), Some(&t.key))
            .header("idempotency-key", "test-once")
            .body(axum::body::Body::empty())
            .expect("req")
    };
    let first = t.send(send()).await;
    let second = t.send(send()).await;
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json(), first.json());
}

#[tokio::test]
async fn the_suite_scans_its_logs_for_credentials() {
    // Every request of every test runs through the same scanning log writer; this test
    // makes a leak-prone round trip and checks that the scan really sees log lines.
    let t = TestApp::spawn().await;
    let path = connector_on(&t, "no-such-bucket-again", json!({})).await;
    t.post_empty(&format!("{path}/test"), &t.key).await;
    t.delete(&path, &t.key).await;
    assert!(
        LOG_LINES.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no log line was captured"
    );
    assert_no_leaks();
}

/// A dry-run create's report, after checking that it stored nothing.
async fn dry_run_report(t: &TestApp, body: &Value) -> Value {
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3?dry_run=true",
            &t.key,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("location").is_none());
    assert!(t.connector_count().await == 0);
    assert_eq!(t.secret_count().await, 0);
    r.json()
}

#[tokio::test]
async fn a_dry_run_against_a_missing_bucket_reports_it_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let body = s3_body(json!({"bucket": "no-such-bucket-here"}));
    let report = dry_run_report(&t, &body).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["checks"][0]["error"]["code"], "bucket_not_found");
}

#[tokio::test]
async fn a_create_refuses_a_bad_dry_run_value_and_unknown_parameters() {
    let t = TestApp::spawn().await;
    for query in ["dry_run=yes", "dryrun=true"] {
        let r = t
            .json(
                Method::POST,
                &format!("/api/v2/connectors/s3?{query}"),
                &t.key,
                &s3_body(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    assert!(t.connector_count().await == 0);
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3?dry_run=false",
            &t.key,
            &s3_body(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "dry_run=false creates");
}
