//! `GET /api/v2/connectors/s3/role-setup`: the service's principal, the account's external
//! ID and the policies a customer pastes into IAM, before any connector exists.

use std::sync::Arc;

use axum::http::StatusCode;
use connectors::domain::apikey::KeyScope;
use connectors::providers::{ProviderSettings, Providers};
use serde_json::{Value, json};

use crate::helpers::*;

const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/videovector-connectors-access";
const PATH: &str = "/api/v2/connectors/s3/role-setup";

async fn app() -> TestApp {
    TestApp::spawn_reaching(ProviderSettings {
        service_principal_arn: Some(PRINCIPAL.into()),
        ..ProviderSettings::default()
    })
    .await
}

#[tokio::test]
async fn the_role_setup_names_the_principal_the_external_id_and_a_trust_policy_requiring_it() {
    let t = app().await;
    let read = t.key_for("acme", &[KeyScope::Read]).await;
    let r = t.get(PATH, &read).await;
    assert_eq!(r.status, StatusCode::OK);
    let setup = r.json();
    assert_eq!(setup["principal_arn"], PRINCIPAL);
    let external_id = setup["external_id"].as_str().expect("an external id");
    assert!(external_id.len() >= 32, "{external_id}");
    assert!(
        external_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-".contains(&b)),
        "IAM's ExternalId characters only: {external_id}"
    );
    assert_eq!(
        setup["trust_policy"],
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
            }]
        })
    );
    assert_eq!(setup["permissions_policy"], Value::Null);
    assert_eq!(setup["user_permissions_policy"], Value::Null);
}

#[tokio::test]
async fn the_external_id_is_stable_across_instances_and_one_per_account() {
    let t = app().await;
    let first = t.get(PATH, &t.key).await.json()["external_id"].clone();
    assert_eq!(t.get(PATH, &t.key).await.json()["external_id"], first);
    let other = t.key_for("globex", &[KeyScope::Read]).await;
    assert_ne!(t.get(PATH, &other).await.json()["external_id"], first);
    // Another instance on the same store answers the same.
    let app = (*t.app)
        .clone()
        .reaching(Arc::new(Providers::new(ProviderSettings {
            service_principal_arn: Some(PRINCIPAL.into()),
            ..ProviderSettings::default()
        })));
    let t = t.with_app(app);
    assert_eq!(t.get(PATH, &t.key).await.json()["external_id"], first);
}

#[tokio::test]
async fn with_a_bucket_the_setup_adds_the_least_privilege_permissions_policy() {
    let t = app().await;
    let r = t
        .get(
            &format!(
                "{PATH}?bucket=media-archive&scopes=import,export&export_base_path=exports/review"
            ),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let policy = r.json()["permissions_policy"].clone();
    // A user's keys get the same, and the federation tokens access grants hand out.
    let user = r.json()["user_permissions_policy"].clone();
    let user_statements = user["Statement"].as_array().expect("statements");
    assert_eq!(
        user_statements[..user_statements.len() - 1],
        policy["Statement"].as_array().expect("statements")[..]
    );
    assert_eq!(
        user_statements
            .last()
            .map(|s| (s["Action"].clone(), s["Resource"].clone())),
        Some((
            json!("sts:GetFederationToken"),
            json!("arn:aws:sts::*:federated-user/vv-*")
        ))
    );
    let statements = policy["Statement"].as_array().expect("statements");
    let granted: Vec<(Value, Value)> = statements
        .iter()
        .map(|s| (s["Action"].clone(), s["Resource"].clone()))
        .collect();
    assert_eq!(
        granted,
        vec![
            (json!("s3:ListBucket"), json!("arn:aws:s3:::media-archive")),
            (json!("s3:GetObject"), json!("arn:aws:s3:::media-archive/*")),
            (
                json!(["s3:PutObject", "s3:DeleteObject"]),
                json!("arn:aws:s3:::media-archive/exports/review/*")
            ),
        ]
    );
}

#[tokio::test]
async fn a_role_setup_query_that_cannot_be_read_is_a_422_naming_what_is_wrong() {
    let t = app().await;
    for (query, field) in [
        ("scopes=export", "bucket"),
        ("bucket=Bad_Bucket", "bucket"),
        ("bucket=media-archive&scopes=import,archive", "scopes"),
        (
            "bucket=media-archive&export_base_path=../up",
            "export_base_path",
        ),
        ("bucket=media-archive&bucket=other", "bucket"),
        ("region=us-east-1", "region"),
    ] {
        let r = t.get(&format!("{PATH}?{query}"), &t.key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), vec![field], "{query}");
    }
}

#[tokio::test]
async fn the_role_setup_needs_a_key_with_read() {
    let t = app().await;
    let r = t
        .send(
            t.request(axum::http::Method::GET, PATH, None)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.error_code(), "authentication_required");
    let search = t.key_for("acme", &[KeyScope::Search]).await;
    let r = t.get(PATH, &search).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// Without SERVICE_PRINCIPAL_ARN the real binary asks STS who it is (moto here), once.
#[cfg(feature = "emulators")]
#[tokio::test]
async fn without_a_configured_principal_the_service_asks_sts_who_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = crate::restart::serve_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_connectors")),
        dir.path(),
        &[
            ("AWS_ENDPOINT_URL_STS", &moto_endpoint()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let key = server.key.clone().expect("a first key");
    let setup: Value = reqwest::Client::new()
        .get(format!("{}{PATH}", server.base))
        .header("x-api-key", key)
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    // moto's caller identity for any credentials.
    assert_eq!(
        setup["principal_arn"], "arn:aws:sts::123456789012:user/moto",
        "{setup}"
    );
    assert_eq!(
        setup["trust_policy"]["Statement"][0]["Principal"]["AWS"],
        setup["principal_arn"]
    );
}
