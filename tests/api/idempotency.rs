//! Idempotency-Key: replay, reuse, races and multipart retries.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn with_key(t: &TestApp, key: &str, body: &serde_json::Value) -> axum::http::Request<Body> {
    t.request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .expect("req")
}

async fn a_retry_with_the_same_key_and_body_replays_the_first_response(t: TestApp) {
    let body = s3_body(json!({}));
    let first = t.send(with_key(&t, "connector-s3-archive", &body)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.header("idempotent-replayed").is_none());
    let second = t.send(with_key(&t, "connector-s3-archive", &body)).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json(), first.json());
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(
        t.get("/api/v2/connectors", &t.key)
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
on_every_backend!(a_retry_with_the_same_key_and_body_replays_the_first_response);

async fn the_same_key_with_another_body_is_a_422_idempotency_key_reused(t: TestApp) {
    let body = s3_body(json!({}));
    t.send(with_key(&t, "k1", &body)).await;
    let mut other = body.clone();
    other["name"] = json!("Another");
    let r = t.send(with_key(&t, "k1", &other)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "idempotency_key_reused");
}
on_every_backend!(the_same_key_with_another_body_is_a_422_idempotency_key_reused);

async fn a_key_is_per_account(t: TestApp) {
    let body = s3_body(json!({}));
    t.send(with_key(&t, "shared", &body)).await;
    let other = t
        .key_for("globex", &[connectors::domain::apikey::KeyScope::Write])
        .await;
    let req = t
        .request(Method::POST, "/api/v2/connectors/s3", Some(&other))
        .header("content-type", "application/json")
        .header("idempotency-key", "shared")
        .body(Body::from(body.to_string()))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("idempotent-replayed").is_none());
}
on_every_backend!(a_key_is_per_account);

async fn an_invalid_idempotency_key_is_refused(t: TestApp) {
    let r = t
        .send(with_key(&t, &"k".repeat(256), &s3_body(json!({}))))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["Idempotency-Key"]);
}
on_every_backend!(an_invalid_idempotency_key_is_refused);

/// Fires `n` identical creates with one key at once: exactly one connector and one secret.
async fn identical_concurrent_creates_make_one_connector_and_one_secret(t: TestApp, n: usize) {
    let t = std::sync::Arc::new(t);
    let body = s3_body(json!({}));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (t, body) = (std::sync::Arc::clone(&t), body.clone());
        tasks.push(tokio::spawn(async move {
            t.send(with_key(&t, "race", &body)).await.status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    // Every retry waits for the first request and replays its answer.
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(t.connector_count().await, 1);
    assert_eq!(t.secret_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_concurrent_creates_make_one_connector_and_one_secret() {
    identical_concurrent_creates_make_one_connector_and_one_secret(TestApp::spawn().await, 20)
        .await;
}

#[cfg(feature = "emulators")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_concurrent_creates_on_dynamodb_make_one_connector_and_one_secret() {
    identical_concurrent_creates_make_one_connector_and_one_secret(
        TestApp::spawn_on_aws().await,
        50,
    )
    .await;
}

async fn a_multipart_retry_with_a_new_boundary_has_the_same_fingerprint(t: TestApp) {
    let key = service_account_json(GOOGLE_TOKEN_URI).to_string();
    let fields = [("name", "Media GCS"), ("bucket", "media_archive")];
    let send = |boundary: &str| {
        t.request(Method::POST, "/api/v2/connectors/gcs", Some(&t.key))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("idempotency-key", "gcs-1")
            .body(Body::from(multipart(
                boundary,
                &fields,
                Some(key.as_bytes()),
            )))
            .expect("req")
    };
    let first = t.send(send("first-boundary")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = t.send(send("a-different-boundary")).await;
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json(), first.json());
    assert_eq!(t.secret_count().await, 1);
}
on_every_backend!(a_multipart_retry_with_a_new_boundary_has_the_same_fingerprint);

/// Holds `key` for the request `body` would make, as a first request still running does;
/// answers the key's hash, and the fingerprint and connector id it holds the key with.
async fn hold_key(
    t: &TestApp,
    key: &str,
    body: &serde_json::Value,
) -> (String, String, connectors::domain::ids::ConnectorId) {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let fingerprint =
        connectors::http::idempotency::fingerprint("POST", "/api/v2/connectors/s3", body);
    let claim = t
        .app
        .storage
        .idempotency
        .claim_idempotency(
            &connectors::domain::ids::TenantId::parse("acme").expect("tenant"),
            &hash,
            &fingerprint,
            &connectors::domain::ids::ConnectorId::generate(),
            connectors::domain::timestamp::Timestamp::now(),
        )
        .await
        .expect("claim");
    let connectors::store::Claim::Acquired { resource_id } = claim else {
        panic!("the key was not free: {claim:?}");
    };
    (hash, fingerprint, resource_id)
}

#[tokio::test]
async fn a_retry_overtaking_a_running_request_waits_for_it_and_replays_its_answer() {
    let t = std::sync::Arc::new(TestApp::spawn().await);
    let body = s3_body(json!({}));
    let (hash, fingerprint, resource_id) = hold_key(&t, "slow-create", &body).await;
    let retry = {
        let (t, body) = (std::sync::Arc::clone(&t), body.clone());
        tokio::spawn(async move { t.send(with_key(&t, "slow-create", &body)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!retry.is_finished(), "the retry waits while the first runs");
    // Kept as records kept answers before they kept values (an HTTP response), which
    // replays as it was for as long as such records live.
    let stored = connectors::store::Remembered(json!({
        "status": 201,
        "body": r#"{"connector_id":"conn_from_the_first_request"}"#,
        "location": "/api/v2/connectors/conn_from_the_first_request",
        "etag": "\"1\"",
    }));
    t.app
        .storage
        .idempotency
        .complete_idempotency(
            &connectors::domain::ids::TenantId::parse("acme").expect("tenant"),
            &hash,
            &connectors::store::Holder {
                fingerprint: &fingerprint,
                resource_id: &resource_id,
            },
            &stored,
            connectors::domain::timestamp::Timestamp::now(),
        )
        .await
        .expect("complete");
    let r = retry.await.expect("task");
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.json()["connector_id"], "conn_from_the_first_request");
    assert_eq!(
        t.secret_count().await,
        0,
        "the retry created nothing itself"
    );
}

#[tokio::test]
async fn a_retry_whose_wait_runs_out_is_a_409_with_retry_after() {
    let mut t = TestApp::spawn().await;
    let mut app = connectors::service::App::clone(&t.app);
    app.idempotency_wait = std::time::Duration::from_millis(200);
    t = t.with_app(app);
    let body = s3_body(json!({}));
    hold_key(&t, "stuck-create", &body).await;
    let started = std::time::Instant::now();
    let r = t.send(with_key(&t, "stuck-create", &body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "idempotency_request_in_progress");
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_eq!(t.secret_count().await, 0);
}
