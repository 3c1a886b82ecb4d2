//! Create, get, list, update and delete, through HTTP.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use connectors::providers::ProviderSettings;
use connectors::providers::s3::S3Settings;
use serde_json::{Value, json};

use crate::helpers::*;

const FIELDS: [&str; 17] = [
    "connector_id",
    "name",
    "provider",
    "status",
    "scopes",
    "import_mode",
    "export_base_path",
    "bucket",
    "region",
    "storage_account",
    "container",
    "gcp_project_id",
    "created_at",
    "updated_at",
    "last_tested_at",
    "last_test_result",
    "last_test_error",
];

async fn creating_an_s3_connector_answers_201_with_every_field_location_and_etag(t: TestApp) {
    let body = s3_body(
        json!({"scopes": ["import", "export"], "export_base_path": "exports/review", "import_mode": "new_only"}),
    );
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", &t.key, &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let c = r.json();
    for f in FIELDS {
        assert!(c.get(f).is_some(), "missing {f}: {c}");
    }
    let id = c["connector_id"].as_str().expect("id");
    assert!(id.starts_with("conn_") && id.len() == 31);
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v2/connectors/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(c["provider"], "s3");
    assert_eq!(c["status"], "active");
    assert_eq!(c["scopes"], json!(["import", "export"]));
    assert_eq!(c["export_base_path"], "exports/review/");
    assert_eq!(c["import_mode"], "new_only");
    assert_eq!(
        (c["bucket"].as_str(), c["region"].as_str()),
        (Some("media-archive"), Some("us-east-1"))
    );
    assert_eq!(c["storage_account"], Value::Null);
    assert!(c["created_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    let hint = c["credential_hint"].as_str().expect("hint");
    assert!(
        hint.starts_with("AKIA…") && hint.chars().count() == 9,
        "{hint}"
    );
    assert_eq!(t.secret_count().await, 1);
}
on_every_backend!(creating_an_s3_connector_answers_201_with_every_field_location_and_etag);

async fn a_created_connector_has_the_documented_defaults(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    assert_eq!(c["scopes"], json!(["import"]));
    assert_eq!(c["import_mode"], "all");
    assert_eq!(c["export_base_path"], Value::Null);
    assert_eq!(c["last_test_result"], Value::Null);
}
on_every_backend!(a_created_connector_has_the_documented_defaults);

async fn get_returns_the_connector_with_its_etag(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let r = t
        .get(
            &format!(
                "/api/v2/connectors/{}",
                c["connector_id"].as_str().expect("id")
            ),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), c);
    assert_eq!(r.header("etag"), Some("\"1\""));
}
on_every_backend!(get_returns_the_connector_with_its_etag);

fn next_link(r: &TestResponse) -> Option<String> {
    let link = r.header("link")?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(link[start..end].to_owned())
}

async fn list_is_a_bare_array_newest_first_paged_by_link_headers(t: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = t.create_s3(&t.key, json!({"name": format!("c{i}")})).await;
        ids.push(c["connector_id"].as_str().expect("id").to_owned());
    }
    ids.reverse();
    let all = t.get("/api/v2/connectors", &t.key).await;
    assert!(all.header("link").is_none());
    let listed: Vec<String> = all
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["connector_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, ids);
    let mut seen = Vec::new();
    let mut next = Some("/api/v2/connectors?limit=2".to_owned());
    while let Some(url) = next {
        let r = t.get(&url, &t.key).await;
        assert_eq!(r.status, StatusCode::OK);
        seen.extend(
            r.json()
                .as_array()
                .expect("array")
                .iter()
                .map(|c| c["connector_id"].as_str().expect("id").to_owned()),
        );
        next = next_link(&r);
    }
    assert_eq!(seen, ids);
}
on_every_backend!(list_is_a_bare_array_newest_first_paged_by_link_headers);

async fn list_filters_by_provider_scope_and_status(t: TestApp) {
    t.create_s3(&t.key, json!({"scopes": ["export"]})).await;
    t.create_s3(&t.key, json!({})).await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &azure_body(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let count = |v: Value| v.as_array().map_or(0, Vec::len);
    assert_eq!(
        count(t.get("/api/v2/connectors?provider=s3", &t.key).await.json()),
        2
    );
    assert_eq!(
        count(
            t.get("/api/v2/connectors?scope=export", &t.key)
                .await
                .json()
        ),
        2
    );
    assert_eq!(
        count(
            t.get("/api/v2/connectors?provider=azure&scope=import", &t.key)
                .await
                .json()
        ),
        1
    );
    assert_eq!(
        count(
            t.get("/api/v2/connectors?status=failed", &t.key)
                .await
                .json()
        ),
        0
    );
    let bad = t
        .get("/api/v2/connectors?provider=ftp&limit=0&colour=red", &t.key)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["colour"]);
    let bad = t
        .get("/api/v2/connectors?provider=ftp&limit=1001", &t.key)
        .await;
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "provider"]);
}
on_every_backend!(list_filters_by_provider_scope_and_status);

async fn an_altered_or_foreign_cursor_is_a_400(t: TestApp) {
    for _ in 0..2 {
        t.create_s3(&t.key, json!({})).await;
    }
    let r = t.get("/api/v2/connectors?limit=1", &t.key).await;
    let link = next_link(&r).expect("next link");
    let cursor = link.split("cursor=").nth(1).expect("cursor").to_owned();
    let mut altered = cursor.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let r = t
        .get(
            &format!("/api/v2/connectors?limit=1&cursor={altered}"),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_cursor");
    let other = t
        .key_for("globex", &[connectors::domain::apikey::KeyScope::Read])
        .await;
    let r = t
        .get(
            &format!("/api/v2/connectors?limit=1&cursor={cursor}"),
            &other,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .get(
            &format!("/api/v2/connectors?limit=1&provider=gcs&cursor={cursor}"),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
on_every_backend!(an_altered_or_foreign_cursor_is_a_400);

async fn patch_changes_mutable_fields_and_bumps_the_etag(t: TestApp) {
    let c = t
        .create_s3(&t.key, json!({"export_base_path": "a/b"}))
        .await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    // Read before the change, twice, as a client polling it would.
    for _ in 0..2 {
        assert_eq!(t.get(&path, &t.key).await.json()["name"], c["name"]);
    }
    let patch = json!({"name": "Renamed", "scopes": ["export"], "export_base_path": null, "import_mode": "new_only", "status": "disabled", "region": "eu-west-1"});
    let r = t.json(Method::PATCH, &path, &t.key, &patch).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    let u = r.json();
    assert_eq!(
        (
            u["name"].as_str(),
            u["status"].as_str(),
            u["region"].as_str()
        ),
        (Some("Renamed"), Some("disabled"), Some("eu-west-1"))
    );
    assert_eq!(u["export_base_path"], Value::Null);
    assert_eq!(u["scopes"], json!(["export"]));
    assert_eq!(t.get(&path, &t.key).await.json(), u);
    let listed = t.get("/api/v2/connectors", &t.key).await.json();
    let in_list = listed.as_array().and_then(|items| {
        items
            .iter()
            .find(|i| i["connector_id"] == u["connector_id"])
    });
    assert_eq!(in_list, Some(&u));
}
on_every_backend!(patch_changes_mutable_fields_and_bumps_the_etag);

async fn patch_refuses_immutable_unknown_and_empty_changes_and_changes_nothing(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"bucket": "other-bucket", "provider": "gcs"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&r.body).contains("immutable"));
    assert_eq!(
        t.json(Method::PATCH, &path, &t.key, &json!({}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        t.json(Method::PATCH, &path, &t.key, &json!({"status": "testing"}))
            .await
            .error_fields(),
        ["status"]
    );
    assert_eq!(
        t.json(Method::PATCH, &path, &t.key, &json!({"name": null}))
            .await
            .error_fields(),
        ["name"]
    );
    assert_eq!(
        t.json(Method::PATCH, &path, &t.key, &json!({"client_secret": "x"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The details name what was sent, not a field that was not.
    assert_eq!(
        t.json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"tenant_id": "contoso.com"})
        )
        .await
        .error_fields(),
        ["tenant_id"]
    );
    assert_eq!(
        t.json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"client_id": "3f2b6a8e-1c4d-4e5f-9a0b-7c8d9e0f1a2b", "client_secret": "x"})
        )
        .await
        .error_fields(),
        ["client_id", "client_secret"]
    );
    assert_eq!(
        t.json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"aws_access_key_id": s3_keys().0})
        )
        .await
        .error_fields(),
        ["aws_secret_access_key"]
    );
    assert_eq!(t.get(&path, &t.key).await.json(), c);
}
on_every_backend!(patch_refuses_immutable_unknown_and_empty_changes_and_changes_nothing);

async fn a_patch_with_another_providers_credentials_is_a_422_naming_them_whatever_else_it_sends(
    t: TestApp,
) {
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &azure_body(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let c = r.json();
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let stored = t.only_stored_secret().await;
    let (key_id, secret) = s3_keys();
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({
                "aws_access_key_id": key_id,
                "aws_secret_access_key": secret,
                "client_secret": azure_secret(),
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.error_fields(),
        ["aws_access_key_id", "aws_secret_access_key"]
    );
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not apply to an Azure connector")),
        "{}",
        r.json()
    );
    // Nothing changed: not the record, not the secret.
    assert_eq!(t.get(&path, &t.key).await.json(), c);
    assert_eq!(t.only_stored_secret().await, stored);
}
on_every_backend!(
    a_patch_with_another_providers_credentials_is_a_422_naming_them_whatever_else_it_sends
);

async fn if_match_guards_patch_and_delete(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let patch = |etag: &'static str| {
        t.request(Method::PATCH, &path, Some(&t.key))
            .header("content-type", "application/json")
            .header("if-match", etag)
            .body(Body::from(json!({"name": "x"}).to_string()))
            .expect("req")
    };
    let r = t.send(patch("\"7\"")).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.error_code(), "precondition_failed");
    assert_eq!(t.send(patch("\"1\"")).await.status, StatusCode::OK);
    let del = t
        .request(Method::DELETE, &path, Some(&t.key))
        .header("if-match", "\"1\"")
        .body(Body::empty())
        .expect("req");
    assert_eq!(t.send(del).await.status, StatusCode::PRECONDITION_FAILED);
    let del = t
        .request(Method::DELETE, &path, Some(&t.key))
        .header("if-match", "\"2\"")
        .body(Body::empty())
        .expect("req");
    assert_eq!(t.send(del).await.status, StatusCode::OK);
}
on_every_backend!(if_match_guards_patch_and_delete);

async fn rotating_s3_keys_replaces_the_stored_secret_and_the_hint(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let (id, secret) = s3_keys();
    // Saved unchecked: what is shown here is the write, not the checks (tests/api/lifecycle.rs).
    let r = t
        .json(
            Method::PATCH,
            &format!("{path}?validate=false"),
            &t.key,
            &json!({"aws_access_key_id": id, "aws_secret_access_key": secret}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let hint = r.json()["credential_hint"]
        .as_str()
        .expect("hint")
        .to_owned();
    assert!(hint.ends_with(&id[id.len() - 4..]));
    assert_eq!(t.secret_count().await, 1);
    assert!(t.only_stored_secret().await.contains(&secret));
}
on_every_backend!(rotating_s3_keys_replaces_the_stored_secret_and_the_hint);

#[tokio::test]
async fn a_rotation_whose_provider_cannot_be_reached_is_a_503_and_changes_nothing() {
    // Nothing listens on port 1: every check fails to connect.
    let t = TestApp::spawn_reaching(ProviderSettings {
        s3: S3Settings {
            endpoint_url: Some("http://127.0.0.1:1".into()),
            ..S3Settings::default()
        },
        ..ProviderSettings::default()
    })
    .await;
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let before = t.get(&path, &t.key).await;
    let secret = t.only_stored_secret().await;
    let (id, new_secret) = s3_keys();
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"aws_access_key_id": id, "aws_secret_access_key": new_secret}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.json());
    assert_eq!(r.error_code(), "provider_unavailable");
    assert!(r.header("retry-after").is_some());
    assert_eq!(t.get(&path, &t.key).await.body, before.body);
    assert_eq!(t.only_stored_secret().await, secret);
    assert_eq!(t.secret_count().await, 1, "no secret left behind");
}

#[tokio::test]
async fn validate_is_true_or_false_once_and_nothing_else_is_a_parameter_of_patch() {
    let t = TestApp::spawn().await;
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    for (query, field) in [
        ("validate=no", "validate"),
        ("validate=false&validate=false", "validate"),
        ("dry_run=true", "dry_run"),
    ] {
        let r = t
            .json(
                Method::PATCH,
                &format!("{path}?{query}"),
                &t.key,
                &json!({"name": "x"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), [field], "{query}");
    }
    let r = t
        .json(
            Method::PATCH,
            &format!("{path}?validate=true"),
            &t.key,
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "settings alone run no check");
}

async fn delete_removes_the_record_and_its_secret_and_a_second_delete_is_a_404(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let id = c["connector_id"].as_str().expect("id");
    let path = format!("/api/v2/connectors/{id}");
    let r = t.delete(&path, &t.key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"message": format!("connector {id} deleted")})
    );
    assert_eq!(t.secret_count().await, 0);
    assert_eq!(t.get(&path, &t.key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.delete(&path, &t.key).await.status, StatusCode::NOT_FOUND);
}
on_every_backend!(delete_removes_the_record_and_its_secret_and_a_second_delete_is_a_404);

/// Sends `n` PATCHes with the same `If-Match` at once: exactly one wins, the rest are 412.
async fn concurrent_patches_with_one_if_match_let_exactly_one_win(t: TestApp, n: usize) {
    let t = std::sync::Arc::new(t);
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let mut tasks = Vec::new();
    for i in 0..n {
        let (t, path) = (std::sync::Arc::clone(&t), path.clone());
        tasks.push(tokio::spawn(async move {
            let req = t
                .request(Method::PATCH, &path, Some(&t.key))
                .header("content-type", "application/json")
                .header("if-match", "\"1\"")
                .body(Body::from(
                    json!({"name": format!("Renamed {i}")}).to_string(),
                ))
                .expect("req");
            t.send(req).await.status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let failed = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, failed), (1, n - 1), "{statuses:?}");
    let after = t.get(&path, &t.key).await;
    assert_eq!(after.header("etag"), Some("\"2\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_with_one_if_match_on_the_embedded_store_let_one_win() {
    concurrent_patches_with_one_if_match_let_exactly_one_win(TestApp::spawn().await, 50).await;
}

#[cfg(feature = "emulators")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_with_one_if_match_on_dynamodb_let_one_win() {
    concurrent_patches_with_one_if_match_let_exactly_one_win(TestApp::spawn_on_aws().await, 50)
        .await;
}
