//! Operations racing on the same connector, many rounds, on both backends: browses and
//! tests while it is deleted, tests while its keys are rotated. Nothing answers a 5xx,
//! nothing is lost, and a rotation is never refused because tests keep recording outcomes.

use axum::http::{Method, StatusCode};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

/// What one racing request answered.
async fn status_of(t: &TestApp, method: Method, path: &str, body: Option<&Value>) -> StatusCode {
    match body {
        Some(body) => t.json(method, path, &t.key, body).await.status,
        None => t.post_empty(path, &t.key).await.status,
    }
}

/// A connector with the import and export scopes on a fresh moto bucket.
async fn connector(t: &TestApp, bucket: &str) -> String {
    let c = t
        .create_s3(
            &t.key,
            json!({"bucket": bucket, "scopes": ["import", "export"], "export_base_path": "out/"}),
        )
        .await;
    format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("an id")
    )
}

async fn browses_and_tests_racing_a_delete_answer_200_or_404_and_never_a_5xx(t: TestApp) {
    let t = unlimited(t);
    let bucket = bucket_with(&["a.mp4", "b/c.mov"]).await;
    let mut seen = Vec::new();
    for _ in 0..30 {
        let path = connector(&t, &bucket).await;
        let (browse, test) = (format!("{path}/browse"), format!("{path}/test"));
        let body = json!({});
        let mut racing = Vec::new();
        for _ in 0..2 {
            racing.push(status_of(&t, Method::POST, &browse, Some(&body)));
            racing.push(status_of(&t, Method::POST, &test, None));
        }
        let (answers, deleted) = tokio::join!(join_all(racing), t.delete(&path, &t.key));
        assert_eq!(deleted.status, StatusCode::OK);
        seen.extend(answers);
    }
    let refused: Vec<_> = seen
        .iter()
        .filter(|s| **s != StatusCode::OK && **s != StatusCode::NOT_FOUND)
        .collect();
    assert!(
        refused.is_empty(),
        "answers other than 200 or 404: {refused:?}"
    );
    assert_eq!(t.connector_count().await, 0);
    assert_eq!(
        t.secret_count().await,
        0,
        "every deleted connector's secret went"
    );
}
on_every_backend!(browses_and_tests_racing_a_delete_answer_200_or_404_and_never_a_5xx);

async fn tests_racing_key_rotations_never_refuse_a_rotation_and_never_answer_a_5xx(t: TestApp) {
    let t = unlimited(t);
    let bucket = bucket_with(&["a.mp4"]).await;
    let path = connector(&t, &bucket).await;
    let test = format!("{path}/test");
    let mut last_key_id = String::new();
    for round in 0..50 {
        let (key_id, secret) = s3_keys();
        let rotation = json!({"aws_access_key_id": key_id, "aws_secret_access_key": secret});
        let tests = join_all((0..2).map(|_| status_of(&t, Method::POST, &test, None)));
        let (tested, rotated) =
            tokio::join!(tests, t.json(Method::PATCH, &path, &t.key, &rotation));
        assert_eq!(
            rotated.status,
            StatusCode::OK,
            "round {round}: {}",
            rotated.json()
        );
        assert!(
            tested.iter().all(|s| *s == StatusCode::OK),
            "round {round}: {tested:?}"
        );
        last_key_id = key_id;
    }
    // Nothing lost: the last rotation is what is stored and shown, and only its version
    // is left in the vault.
    let c = t.get(&path, &t.key).await.json();
    let hint = c["credential_hint"].as_str().expect("a hint");
    assert!(
        hint.ends_with(&last_key_id[last_key_id.len() - 4..]),
        "{hint}"
    );
    assert!(t.only_stored_secret().await.contains(&last_key_id));
    // A test of keys a rotation replaced records nothing about the new ones; a test of
    // the current keys does.
    assert_eq!(t.post_empty(&test, &t.key).await.status, StatusCode::OK);
    assert_eq!(
        t.get(&path, &t.key).await.json()["last_test_result"],
        "success"
    );
}
on_every_backend!(tests_racing_key_rotations_never_refuse_a_rotation_and_never_answer_a_5xx);

async fn a_tests_outcome_leaves_the_etag_alone_so_an_if_match_patch_still_applies(t: TestApp) {
    let bucket = bucket_with(&["a.mp4"]).await;
    let path = connector(&t, &bucket).await;
    let etag = t
        .get(&path, &t.key)
        .await
        .header("etag")
        .expect("an ETag")
        .to_owned();
    assert_eq!(
        t.post_empty(&format!("{path}/test"), &t.key).await.status,
        StatusCode::OK
    );
    let after = t.get(&path, &t.key).await;
    assert_eq!(after.header("etag"), Some(etag.as_str()));
    assert_eq!(after.json()["last_test_result"], "success");
    let request = t
        .request(Method::PATCH, &path, Some(&t.key))
        .header("content-type", "application/json")
        .header("if-match", &etag)
        .body(axum::body::Body::from(
            json!({"name": "Renamed"}).to_string(),
        ))
        .expect("a request");
    let patched = t.send(request).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json());
    assert_eq!(patched.json()["last_test_result"], "success");
}
on_every_backend!(a_tests_outcome_leaves_the_etag_alone_so_an_if_match_patch_still_applies);
