//! Test and browse on all three clouds, each against its emulator: moto's S3,
//! fake-gcs-server and Azurite. One table of browse cases runs unchanged on each, over the
//! same objects, and must give the same answers.

use axum::http::{Method, StatusCode};
use connectors::providers::ProviderSettings;
use serde_json::{Value, json};

use super::*;
use crate::helpers::*;

/// The objects every cloud is seeded with.
const TREE: [&str; 12] = [
    "incoming/2026/04/a.mp4",
    "incoming/2026/04/b.MOV",
    "incoming/2026/04/c.mp4",
    "incoming/2026/04/day2/d.mp4",
    "incoming/2026/04/day2/e.txt",
    "incoming/2026/04/folder/",
    "incoming/2026/04/README",
    "incoming/2026/04/clip-01.mp4",
    "incoming/2026/04/clip-1.mp4",
    "incoming/2026/05/f.mp4",
    "incoming/2026/05/G.MP4",
    "other/g.mp4",
];

/// A browse request and the paths it must answer, in order.
struct Case {
    what: &'static str,
    request: Value,
    expect: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "a name pattern matches at every depth below the prefix",
            request: json!({"prefix": "incoming/2026/04/", "pattern": "*.mp4"}),
            expect: &[
                "incoming/2026/04/a.mp4",
                "incoming/2026/04/c.mp4",
                "incoming/2026/04/clip-01.mp4",
                "incoming/2026/04/clip-1.mp4",
                "incoming/2026/04/day2/d.mp4",
            ],
        },
        Case {
            what: "without recursion only direct children are listed, never folder placeholders",
            request: json!({"prefix": "incoming/2026/04/", "recursive": false}),
            expect: &[
                "incoming/2026/04/README",
                "incoming/2026/04/a.mp4",
                "incoming/2026/04/b.MOV",
                "incoming/2026/04/c.mp4",
                "incoming/2026/04/clip-01.mp4",
                "incoming/2026/04/clip-1.mp4",
            ],
        },
        Case {
            what: "a single star stays within one folder",
            request: json!({"prefix": "incoming/", "pattern": "2026/*/*.{mp4,MOV}"}),
            expect: &[
                "incoming/2026/04/a.mp4",
                "incoming/2026/04/b.MOV",
                "incoming/2026/04/c.mp4",
                "incoming/2026/04/clip-01.mp4",
                "incoming/2026/04/clip-1.mp4",
                "incoming/2026/05/f.mp4",
            ],
        },
        Case {
            what: "files modified after an instant long past are all listed",
            request: json!({"prefix": "incoming/2026/05/", "modified_after": "2001-01-01T00:00:00Z"}),
            expect: &["incoming/2026/05/G.MP4", "incoming/2026/05/f.mp4"],
        },
        Case {
            what: "no file was modified after an instant to come",
            request: json!({"prefix": "incoming/", "modified_after": "2999-01-01T00:00:00Z"}),
            expect: &[],
        },
        Case {
            what: "a double star crosses folders",
            request: json!({"prefix": "incoming/", "pattern": "2026/**/d*.mp4"}),
            expect: &["incoming/2026/04/day2/d.mp4"],
        },
        Case {
            what: "a question mark is exactly one character",
            request: json!({"prefix": "incoming/", "pattern": "clip-?.mp4"}),
            expect: &["incoming/2026/04/clip-1.mp4"],
        },
        Case {
            what: "classes match one character of a set",
            request: json!({"prefix": "incoming/2026/", "pattern": "[a-c].*"}),
            expect: &[
                "incoming/2026/04/a.mp4",
                "incoming/2026/04/b.MOV",
                "incoming/2026/04/c.mp4",
            ],
        },
        Case {
            what: "matching is case-sensitive unless asked otherwise",
            request: json!({"prefix": "incoming/2026/05/", "pattern": "*.mp4"}),
            expect: &["incoming/2026/05/f.mp4"],
        },
        Case {
            what: "case_insensitive matches camera-style upper-case names",
            request: json!({"prefix": "incoming/2026/05/", "pattern": "*.mp4", "case_insensitive": true}),
            expect: &["incoming/2026/05/G.MP4", "incoming/2026/05/f.mp4"],
        },
        Case {
            what: "a prefix that is not a folder boundary still filters by key",
            request: json!({"prefix": "incoming/2026/04/c", "pattern": "*"}),
            expect: &[
                "incoming/2026/04/c.mp4",
                "incoming/2026/04/clip-01.mp4",
                "incoming/2026/04/clip-1.mp4",
            ],
        },
        Case {
            what: "a prefix with no objects answers an empty array",
            request: json!({"prefix": "nothing-here/"}),
            expect: &[],
        },
    ]
}

fn paths(r: &TestResponse) -> Vec<String> {
    r.json()
        .as_array()
        .expect("bare array")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_owned())
        .collect()
}

async fn browse(t: &TestApp, path: &str, body: &Value) -> TestResponse {
    t.json(Method::POST, &format!("{path}/browse"), &t.key, body)
        .await
}

async fn browse_semantics_hold_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let bucket = cloud.bucket_with(&TREE).await;
    let path = cloud.connector(&t, &bucket, json!({})).await;
    for case in cases() {
        let r = browse(&t, &path, &case.request).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{cloud:?}, {}: {}",
            case.what,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(paths(&r), case.expect, "{cloud:?}: {}", case.what);
        assert!(
            r.header("x-next-cursor").is_none(),
            "{cloud:?}: {}",
            case.what
        );
    }
    // The fields of one file, the same everywhere.
    let r = browse(
        &t,
        &path,
        &json!({"prefix": "incoming/2026/05/", "pattern": "G.*"}),
    )
    .await;
    let file = &r.json()[0];
    assert_eq!(file["name"], "G.MP4", "{cloud:?}");
    assert_eq!(file["extension"], "mp4", "{cloud:?}");
    assert_eq!(file["content_type"], "video/mp4", "{cloud:?}");
    assert_eq!(
        file["size_bytes"],
        "incoming/2026/05/G.MP4".len(),
        "{cloud:?}"
    );
    assert!(
        file["last_modified"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{cloud:?}: {file}"
    );
}

#[tokio::test]
async fn browse_semantics_hold_on_s3() {
    browse_semantics_hold_on(Cloud::S3).await;
}

#[tokio::test]
async fn browse_semantics_hold_on_gcs() {
    browse_semantics_hold_on(Cloud::Gcs).await;
}

#[tokio::test]
async fn browse_semantics_hold_on_azure() {
    browse_semantics_hold_on(Cloud::Azure).await;
}

/// Follows `X-Next-Cursor` to the end, asking `limit` files at a time.
async fn browse_all(t: &TestApp, path: &str, request: Value, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut body = request.clone();
        body["limit"] = json!(limit);
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let r = browse(t, path, &body).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let page = paths(&r);
        assert!(page.len() <= limit);
        seen.extend(page);
        match r.header("x-next-cursor") {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
    panic!("browse did not finish in 100 calls");
}

async fn cursors_neither_skip_nor_repeat_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let mut keys: Vec<String> = (0..23).map(|i| format!("clips/{i:03}.mp4")).collect();
    keys.extend((0..4).map(|i| format!("clips/notes-{i}.txt")));
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let bucket = cloud.bucket_with(&refs).await;
    let path = cloud.connector(&t, &bucket, json!({})).await;
    let mp4: Vec<String> = keys
        .iter()
        .filter(|k| k.ends_with(".mp4"))
        .cloned()
        .collect();
    for limit in [1, 5, 7] {
        let seen = browse_all(
            &t,
            &path,
            json!({"prefix": "clips/", "pattern": "*.mp4"}),
            limit,
        )
        .await;
        assert_eq!(seen, mp4, "{cloud:?}, limit {limit}");
    }
}

#[tokio::test]
async fn browse_cursors_neither_skip_nor_repeat_on_s3() {
    cursors_neither_skip_nor_repeat_on(Cloud::S3).await;
}

#[tokio::test]
async fn browse_cursors_neither_skip_nor_repeat_on_gcs() {
    cursors_neither_skip_nor_repeat_on(Cloud::Gcs).await;
}

#[tokio::test]
async fn browse_cursors_neither_skip_nor_repeat_on_azure() {
    cursors_neither_skip_nor_repeat_on(Cloud::Azure).await;
}

async fn a_test_checks_every_scope_and_leaves_no_probe_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let bucket = cloud.bucket_with(&["keep/me.mp4"]).await;
    let path = cloud
        .connector(&t, &bucket, json!({"export_base_path": "exports/"}))
        .await;
    let r = t.post_empty(&format!("{path}/test"), &t.key).await;
    assert_eq!(r.status, StatusCode::OK);
    let report = r.json();
    assert_eq!(report["success"], true, "{cloud:?}: {report}");
    assert_eq!(
        check_names(&report),
        ["authenticate", "list", "write", "delete"],
        "{cloud:?}"
    );
    let c = t.get(&path, &t.key).await.json();
    assert_eq!(
        (c["status"].as_str(), c["last_test_result"].as_str()),
        (Some("active"), Some("success")),
        "{cloud:?}"
    );
    assert_eq!(
        objects_in(cloud, &bucket).await,
        ["keep/me.mp4"],
        "{cloud:?}"
    );
}

#[tokio::test]
async fn a_test_checks_every_scope_and_leaves_no_probe_on_s3() {
    a_test_checks_every_scope_and_leaves_no_probe_on(Cloud::S3).await;
}

#[tokio::test]
async fn a_test_checks_every_scope_and_leaves_no_probe_on_gcs() {
    a_test_checks_every_scope_and_leaves_no_probe_on(Cloud::Gcs).await;
}

#[tokio::test]
async fn a_test_checks_every_scope_and_leaves_no_probe_on_azure() {
    a_test_checks_every_scope_and_leaves_no_probe_on(Cloud::Azure).await;
}

#[tokio::test]
async fn an_import_only_connector_is_tested_without_writing() {
    let t = TestApp::spawn().await;
    for cloud in Cloud::ALL {
        let bucket = cloud.bucket_with(&[]).await;
        let path = cloud
            .connector(&t, &bucket, json!({"scopes": ["import"]}))
            .await;
        let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
        assert_eq!(check_names(&report), ["authenticate", "list"], "{cloud:?}");
        assert_eq!(report["success"], true, "{cloud:?}: {report}");
    }
}

#[tokio::test]
async fn a_missing_bucket_or_container_is_reported_as_bucket_not_found_everywhere() {
    let t = TestApp::spawn().await;
    for cloud in Cloud::ALL {
        let path = cloud.connector(&t, "no-such-bucket-here", json!({})).await;
        let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
        assert_eq!(report["success"], false, "{cloud:?}");
        assert_eq!(
            report["checks"][0]["error"]["code"], "bucket_not_found",
            "{cloud:?}: {report}"
        );
        assert!(
            report["error_message"]
                .as_str()
                .is_some_and(|m| m.contains("no-such-bucket-here")),
            "{cloud:?}: {report}"
        );
        let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{cloud:?}");
        assert_eq!(r.error_code(), "bucket_not_found", "{cloud:?}");
    }
}

#[tokio::test]
async fn a_wrong_azure_client_secret_is_reported_as_invalid_credentials() {
    let t = TestApp::spawn().await;
    let container = Cloud::Azure.bucket_with(&[]).await;
    let path = Cloud::Azure
        .connector(&t, &container, json!({"client_secret": azure_secret()}))
        .await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(check_names(&report), ["authenticate"]);
    assert_eq!(report["checks"][0]["error"]["code"], "invalid_credentials");
    assert!(
        report["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("client_secret")),
        "{report}"
    );
    let c = t.get(&path, &t.key).await.json();
    assert_eq!(c["status"], "failed");
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn rotating_a_wrong_azure_secret_to_the_right_one_makes_the_test_pass() {
    let t = TestApp::spawn().await;
    let container = Cloud::Azure.bucket_with(&[]).await;
    let path = Cloud::Azure
        .connector(&t, &container, json!({"client_secret": azure_secret()}))
        .await;
    let failed = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(failed["success"], false);
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"client_secret": azure_good_secret()}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let passed = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(passed["success"], true, "{passed}");
}

/// A dry run's answer, after checking that nothing was stored.
async fn dry_run(t: &TestApp, cloud: Cloud, bucket: &str, fields: Value) -> Value {
    let (provider, body, content_type) = cloud.create_request(bucket, &fields);
    let request = t
        .request(
            Method::POST,
            &format!("/api/v2/connectors/{provider}?dry_run=true"),
            Some(&t.key),
        )
        .header("content-type", content_type)
        .body(body)
        .expect("request");
    let r = t.send(request).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(t.connector_count().await == 0);
    assert_eq!(t.secret_count().await, 0);
    r.json()
}

#[tokio::test]
async fn a_dry_run_checks_the_submitted_credentials_on_every_cloud_and_stores_nothing() {
    let t = TestApp::spawn().await;
    for cloud in Cloud::ALL {
        let bucket = cloud.bucket_with(&[]).await;
        let report = dry_run(&t, cloud, &bucket, json!({})).await;
        assert_eq!(report["success"], true, "{cloud:?}: {report}");
        assert_eq!(
            check_names(&report),
            ["authenticate", "list", "write", "delete"],
            "{cloud:?}"
        );
        assert!(objects_in(cloud, &bucket).await.is_empty(), "{cloud:?}");
    }
    let container = Cloud::Azure.bucket_with(&[]).await;
    let report = dry_run(
        &t,
        Cloud::Azure,
        &container,
        json!({"client_secret": azure_secret()}),
    )
    .await;
    assert_eq!(report["checks"][0]["error"]["code"], "invalid_credentials");
}

/// Endpoints for every provider that accept connections and never answer, or refuse them.
async fn unreachable_providers(answer: bool) -> ProviderSettings {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    if answer {
        // Accepts and holds every connection, saying nothing: a provider that hangs.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
    } else {
        // Nothing listens on the port any more: connections are refused.
        drop(listener);
    }
    let mut providers = emulators();
    providers.s3.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    providers.gcs_endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    providers.azure.endpoint_url = Some(format!("https://127.0.0.1:{port}"));
    providers
}

/// Tests and browses a connector on each cloud at once; answers each cloud's test report
/// and browse response.
async fn test_and_browse_everywhere(t: &TestApp) -> Vec<(Cloud, Value, TestResponse)> {
    let mut paths = Vec::new();
    for cloud in Cloud::ALL {
        paths.push((
            cloud,
            cloud.connector(t, "media-unreachable", json!({})).await,
        ));
    }
    let run = |(cloud, path): &(Cloud, String)| {
        let (cloud, path) = (*cloud, path.clone());
        async move {
            let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
            let browsed = t.post_empty(&format!("{path}/browse"), &t.key).await;
            (cloud, report, browsed)
        }
    };
    let (s3, gcs, azure) = tokio::join!(run(&paths[0]), run(&paths[1]), run(&paths[2]));
    vec![s3, gcs, azure]
}

#[tokio::test]
async fn a_provider_that_never_answers_is_reported_as_a_timeout_within_the_bound() {
    let t = TestApp::spawn_reaching(unreachable_providers(true).await).await;
    for (cloud, report, browsed) in test_and_browse_everywhere(&t).await {
        assert_eq!(report["success"], false, "{cloud:?}");
        assert_eq!(
            report["checks"][0]["error"]["code"], "timeout",
            "{cloud:?}: {report}"
        );
        assert_eq!(
            browsed.status,
            StatusCode::GATEWAY_TIMEOUT,
            "{cloud:?}: {}",
            String::from_utf8_lossy(&browsed.body)
        );
        assert_eq!(browsed.error_code(), "timeout", "{cloud:?}");
        // The test's own bound: 20 s in all, well inside API Gateway's 29 s.
        assert!(
            report["duration_ms"]
                .as_u64()
                .is_some_and(|ms| ms <= 20_000),
            "{cloud:?}: {report}"
        );
    }
}

#[tokio::test]
async fn a_provider_that_refuses_connections_is_reported_as_unavailable() {
    let t = TestApp::spawn_reaching(unreachable_providers(false).await).await;
    for (cloud, report, browsed) in test_and_browse_everywhere(&t).await {
        assert_eq!(
            report["checks"][0]["error"]["code"], "provider_unavailable",
            "{cloud:?}: {report}"
        );
        assert_eq!(browsed.status, StatusCode::SERVICE_UNAVAILABLE, "{cloud:?}");
        assert_eq!(browsed.error_code(), "provider_unavailable", "{cloud:?}");
        assert!(browsed.header("retry-after").is_some(), "{cloud:?}");
    }
}
