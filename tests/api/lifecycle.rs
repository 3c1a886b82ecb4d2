//! Credential changes that cannot break a connector, and the kill switch, against the
//! emulators on both backends: a PATCH's new credentials pass the test's checks before
//! they are saved (or are refused with the report and change nothing), `?validate=false`
//! saves them unchecked, and a disabled connector is used for nothing, on any instance.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::clouds::{Cloud, azure_good_secret};
use crate::helpers::*;

/// A connector to a fresh Azurite container, created with the client secret the token
/// stand-in accepts.
async fn azure_connector(t: &TestApp) -> String {
    let container = Cloud::Azure.bucket_with(&["a.mp4"]).await;
    Cloud::Azure.connector(t, &container, json!({})).await
}

/// The record as stored and the plaintext of its secret: what a rotation may not change
/// when it is refused.
async fn stored(t: &TestApp) -> (Value, String) {
    let records = t
        .app
        .storage
        .connectors
        .all_connectors()
        .await
        .expect("records");
    assert_eq!(records.len(), 1, "one connector");
    let record = serde_json::to_value(&records[0]).expect("a record serialises");
    (record, t.only_stored_secret().await)
}

async fn a_rotation_to_a_secret_that_fails_a_check_is_refused_with_the_report_and_changes_nothing(
    t: TestApp,
) {
    let path = azure_connector(&t).await;
    let before = t.get(&path, &t.key).await;
    let (record, secret) = stored(&t).await;
    let wrong = azure_secret();
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"client_secret": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json());
    let error = &r.json()["error"];
    assert_eq!(error["code"], "credentials_rejected");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing was changed") && m.contains("validate=false")),
        "{error}"
    );
    let report = &error["details"];
    assert_eq!(report["success"], false, "{report}");
    assert_eq!(report["checks"][0]["name"], "authenticate");
    assert_eq!(report["checks"][0]["error"]["code"], "invalid_credentials");

    assert_eq!(
        t.get(&path, &t.key).await.body,
        before.body,
        "the connector as it was"
    );
    assert_eq!(
        stored(&t).await,
        (record, secret),
        "the record and its secret as they were"
    );
    assert_eq!(t.secret_count().await, 1, "no secret left behind");
    let test = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(
        test["success"], true,
        "the old secret is still in use: {test}"
    );
}
on_every_backend!(
    a_rotation_to_a_secret_that_fails_a_check_is_refused_with_the_report_and_changes_nothing
);

async fn a_rotation_with_validate_false_saves_credentials_that_would_fail(t: TestApp) {
    let path = azure_connector(&t).await;
    let wrong = azure_secret();
    let r = t
        .json(
            Method::PATCH,
            &format!("{path}?validate=false"),
            &t.key,
            &json!({"client_secret": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(
        r.json()["last_tested_at"],
        Value::Null,
        "nothing was checked"
    );
    assert!(t.only_stored_secret().await.contains(&wrong));
    let test = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(test["checks"][0]["error"]["code"], "invalid_credentials");
}
on_every_backend!(a_rotation_with_validate_false_saves_credentials_that_would_fail);

async fn a_rotation_that_passes_is_recorded_as_the_last_test_and_moves_credentials_updated_at(
    t: TestApp,
) {
    let path = azure_connector(&t).await;
    let created = t.get(&path, &t.key).await.json();
    assert_eq!(created["credentials_updated_at"], created["created_at"]);
    assert_eq!(created["last_tested_at"], Value::Null);
    // Timestamps are whole seconds.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"client_secret": azure_good_secret(), "name": "Rotated"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let c = r.json();
    assert_eq!(c["name"], "Rotated");
    assert_eq!(c["last_test_result"], "success");
    assert_eq!(c["status"], "active");
    assert_eq!(c["last_tested_at"], c["updated_at"]);
    assert_eq!(c["credentials_updated_at"], c["updated_at"]);
    assert!(
        c["credentials_updated_at"].as_str() > created["credentials_updated_at"].as_str(),
        "{c}"
    );
    let renamed = t
        .json(Method::PATCH, &path, &t.key, &json!({"name": "Again"}))
        .await
        .json();
    assert_eq!(
        renamed["credentials_updated_at"], c["credentials_updated_at"],
        "a change of settings leaves it alone"
    );
}
on_every_backend!(
    a_rotation_that_passes_is_recorded_as_the_last_test_and_moves_credentials_updated_at
);

async fn a_disabled_connector_refuses_browse_test_and_access_on_another_instance_at_once(
    t: TestApp,
) {
    let bucket = Cloud::S3.bucket_with(&["a.mp4"]).await;
    let path = Cloud::S3.connector(&t, &bucket, json!({})).await;
    let other = t.another_instance();
    // The other instance has used the connector, so its caches hold what it read.
    assert_eq!(
        other
            .post_empty(&format!("{path}/browse"), &other.key)
            .await
            .status,
        200
    );
    let test = other.post_empty(&format!("{path}/test"), &other.key).await;
    assert_eq!(test.json()["success"], true, "{}", test.json());

    let r = t
        .json(Method::PATCH, &path, &t.key, &json!({"status": "disabled"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let access = json!({"purpose": "import", "paths": ["a.mp4"]});
    for r in [
        other
            .post_empty(&format!("{path}/browse"), &other.key)
            .await,
        other.post_empty(&format!("{path}/test"), &other.key).await,
        other
            .json(Method::POST, &format!("{path}/access"), &other.key, &access)
            .await,
    ] {
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json());
        assert_eq!(r.error_code(), "connector_disabled");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(r#"{"status": "active"}"#)),
            "the message says how to enable it: {}",
            r.json()
        );
    }
    let shown = other.get(&path, &other.key).await.json();
    assert_eq!(shown["status"], "disabled", "get still works");
    assert_eq!(
        shown["last_test_result"], "success",
        "a refused test records nothing"
    );
    let listed = other.get("/api/v2/connectors", &other.key).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "list still works");

    let r = other
        .json(
            Method::PATCH,
            &path,
            &other.key,
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(
        t.post_empty(&format!("{path}/browse"), &t.key).await.status,
        200
    );
    assert_eq!(
        t.delete(&path, &t.key).await.status,
        200,
        "delete works too"
    );
}
on_every_backend!(a_disabled_connector_refuses_browse_test_and_access_on_another_instance_at_once);

async fn a_disabled_connector_can_still_be_deleted(t: TestApp) {
    let bucket = Cloud::S3.bucket_with(&[]).await;
    let path = Cloud::S3.connector(&t, &bucket, json!({})).await;
    let r = t
        .json(Method::PATCH, &path, &t.key, &json!({"status": "disabled"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(t.delete(&path, &t.key).await.status, StatusCode::OK);
    assert_eq!(t.secret_count().await, 0);
}
on_every_backend!(a_disabled_connector_can_still_be_deleted);
