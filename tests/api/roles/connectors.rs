//! IAM role connectors through the public surface, without a provider call: exactly one
//! way in (keys or a role), the fields the connector object shows, no secret kept for a
//! role, and PATCH switching between keys and a role.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use connectors::domain::apikey::KeyScope;
use connectors::providers::ProviderSettings;
use connectors::providers::egress::EgressPolicy;
use connectors::providers::s3::S3Settings;

use crate::helpers::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/VideoVectorAccess";

/// An S3 create body with a role instead of keys.
fn role_body(overrides: Value) -> Value {
    let mut body = s3_body(json!({}));
    let map = body.as_object_mut().expect("an object");
    map.remove("aws_access_key_id");
    map.remove("aws_secret_access_key");
    map.insert("role_arn".into(), json!(ROLE));
    for (k, v) in overrides.as_object().expect("an object") {
        map.insert(k.clone(), v.clone());
    }
    body
}

/// Creates an S3 connector from exactly `body` with `key`.
async fn create(t: &TestApp, key: &str, body: &Value) -> Value {
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", key, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    r.json()
}

async fn create_azure(t: &TestApp) -> Value {
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &azure_body(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    r.json()
}

/// Sends a PATCH that must be refused, and answers the fields the 422 names.
async fn refused_patch(t: &TestApp, path: &str, body: Value) -> Vec<String> {
    let r = t.json(Method::PATCH, path, &t.key, &body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json());
    fields(&r.json()).into_iter().map(str::to_owned).collect()
}

/// The connector path of a created connector.
fn path_of(c: &Value) -> String {
    format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    )
}

fn fields(r: &Value) -> Vec<&str> {
    r["error"]["details"]["fields"]
        .as_array()
        .map(|d| d.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_role_connector_shows_its_role_and_the_accounts_external_id_and_keeps_no_secret() {
    let t = TestApp::spawn().await;
    let c = create(&t, &t.key, &role_body(json!({}))).await;
    assert_eq!(c["auth_type"], "iam_role");
    assert_eq!(c["role_arn"], ROLE);
    let external_id = c["external_id"].as_str().expect("an external ID");
    assert!(
        external_id.starts_with("vv-") && external_id.len() >= 32,
        "{external_id}"
    );
    assert_eq!(c["credential_hint"], ROLE);
    assert!(
        t.app.storage.vault.names().await.expect("names").is_empty(),
        "a role connector stores no secret"
    );
    let again = create(&t, &t.key, &role_body(json!({"bucket": "other-bucket"}))).await;
    assert_eq!(
        again["external_id"], external_id,
        "one external ID per account"
    );
    let other = t
        .key_for("globex", &[KeyScope::Read, KeyScope::Write])
        .await;
    let theirs = create(&t, &other, &role_body(json!({}))).await;
    assert_ne!(theirs["external_id"], external_id);
}

#[tokio::test]
async fn a_key_connector_says_access_key_and_has_no_role_fields() {
    let t = TestApp::spawn().await;
    let c = t.create_s3(&t.key, json!({})).await;
    assert_eq!(c["auth_type"], "access_key");
    assert_eq!(c["role_arn"], Value::Null);
    assert_eq!(c["external_id"], Value::Null);
    let azure = create_azure(&t).await;
    assert_eq!(
        azure["auth_type"], "client_secret",
        "every provider names its kind"
    );
    for field in ["role_arn", "external_id", "service_account_email"] {
        assert!(azure.as_object().expect("object").contains_key(field));
        assert_eq!(azure[field], Value::Null, "{field}");
    }
}

#[tokio::test]
async fn a_create_with_both_keys_and_a_role_or_with_neither_is_refused_naming_the_fields() {
    let t = TestApp::spawn().await;
    let both = s3_body(json!({"role_arn": ROLE}));
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", &t.key, &both)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&r.json()),
        vec!["role_arn", "aws_access_key_id", "aws_secret_access_key"]
    );
    let mut neither = s3_body(json!({}));
    let map = neither.as_object_mut().expect("object");
    map.remove("aws_access_key_id");
    map.remove("aws_secret_access_key");
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", &t.key, &neither)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&r.json()),
        vec!["aws_access_key_id", "aws_secret_access_key", "role_arn"]
    );
    for bad in [
        "arn:aws:iam::111122223333:user/someone",
        "VideoVectorAccess",
        "",
    ] {
        let r = t
            .json(
                Method::POST,
                "/api/v2/connectors/s3",
                &t.key,
                &role_body(json!({"role_arn": bad})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(fields(&r.json()), vec!["role_arn"], "{bad}");
    }
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &json!({"role_arn": ROLE}),
        )
        .await;
    assert!(fields(&r.json()).contains(&"role_arn"), "{}", r.json());
    let listed = t.get("/api/v2/connectors", &t.key).await.json();
    assert_eq!(listed, json!([]), "nothing was created");
}

#[tokio::test]
async fn patch_switches_a_connector_from_keys_to_a_role_and_back_deleting_the_unused_secret() {
    let t = TestApp::spawn().await;
    let c = t.create_s3(&t.key, json!({})).await;
    let path = path_of(&c);
    // Saved unchecked: no provider is called here (the checks: tests/api/roles/on_moto_checking_iam.rs).
    let unchecked = format!("{path}?validate=false");
    assert_eq!(t.app.storage.vault.names().await.expect("names").len(), 1);

    let r = t
        .json(
            Method::PATCH,
            &unchecked,
            &t.key,
            &json!({"role_arn": ROLE}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["auth_type"], "iam_role");
    assert_eq!(r.json()["role_arn"], ROLE);
    assert!(r.json()["external_id"].is_string());
    assert!(
        t.app.storage.vault.names().await.expect("names").is_empty(),
        "the secret goes once the record no longer points at it"
    );

    let other = "arn:aws-cn:iam::111122223333:role/media/Other";
    let r = t
        .json(
            Method::PATCH,
            &unchecked,
            &t.key,
            &json!({"role_arn": other}),
        )
        .await;
    assert_eq!(r.json()["role_arn"], other);

    let (id, secret) = s3_keys();
    let r = t
        .json(
            Method::PATCH,
            &unchecked,
            &t.key,
            &json!({"aws_access_key_id": id, "aws_secret_access_key": secret}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["auth_type"], "access_key");
    assert_eq!(r.json()["role_arn"], Value::Null);
    assert_eq!(r.json()["external_id"], Value::Null);
    assert_eq!(t.app.storage.vault.names().await.expect("names").len(), 1);

    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"role_arn": ROLE, "aws_access_key_id": id, "aws_secret_access_key": secret}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused_patch(&t, &path, json!({"external_id": "vv-mine"})).await,
        vec!["external_id"]
    );
    assert_eq!(
        refused_patch(&t, &path, json!({"role_arn": null})).await,
        vec!["role_arn"]
    );
}

#[tokio::test]
async fn a_role_cannot_be_given_to_a_connector_of_another_provider() {
    let t = TestApp::spawn().await;
    let c = create_azure(&t).await;
    let path = path_of(&c);
    assert_eq!(
        refused_patch(&t, &path, json!({"role_arn": ROLE})).await,
        vec!["role_arn"]
    );
}

#[tokio::test]
async fn deleting_a_role_connector_removes_its_record_and_touches_no_secret() {
    let t = TestApp::spawn().await;
    let keyed = t.create_s3(&t.key, json!({})).await;
    let c = create(&t, &t.key, &role_body(json!({}))).await;
    let path = path_of(&c);
    assert_eq!(t.delete(&path, &t.key).await.status, StatusCode::OK);
    assert_eq!(t.get(&path, &t.key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.app.storage.vault.names().await.expect("names").len(),
        1,
        "the key connector {} keeps its secret",
        keyed["connector_id"]
    );
}

#[tokio::test]
async fn a_role_is_refused_for_an_s3_compatible_service_at_create_and_patch() {
    let t = TestApp::spawn_reaching(ProviderSettings {
        s3: S3Settings {
            egress: EgressPolicy::parse(&["127.0.0.1".to_owned()]).expect("valid"),
            ..S3Settings::default()
        },
        ..ProviderSettings::default()
    })
    .await;
    let compatible = json!({"endpoint_url": "https://127.0.0.1:9000", "region": "auto"});
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &role_body(compatible.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&r.json()), vec!["role_arn"]);

    let c = t.create_s3(&t.key, compatible).await;
    let path = path_of(&c);
    assert_eq!(
        refused_patch(&t, &path, json!({"role_arn": ROLE})).await,
        vec!["role_arn"]
    );
    assert_eq!(t.get(&path, &t.key).await.json()["auth_type"], "access_key");
}
