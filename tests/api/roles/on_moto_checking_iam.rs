//! IAM role connectors against moto checking IAM (`MOTO_IAM_ENDPOINT`, started with
//! `INITIAL_NO_AUTH_ACTION_COUNT`): customers' roles trust what the role setup answers,
//! the service assumes them with the account's external ID (through its own role when one
//! is configured), and a role that does not require the ID is caught and never used.
//! `infra/moto_server.py` makes moto refuse an AssumeRole without the ID where the trust
//! policy requires one, as AWS does.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use axum::http::{Method, StatusCode};
use connectors::providers::s3::S3Settings;
use connectors::providers::{ProviderSettings, Providers};
use serde_json::{Value, json};

use crate::helpers::*;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with bash infra/test.sh, which starts moto checking IAM")
    })
}

fn iam_endpoint() -> String {
    var("MOTO_IAM_ENDPOINT")
}

/// The service's own AWS configuration: the `connectors-service` user's keys.
async fn service_aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(iam_endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            var("MOTO_IAM_SERVICE_KEY_ID"),
            var("MOTO_IAM_SERVICE_SECRET"),
            None,
            None,
            "test",
        ))
        .load()
        .await
}

/// An app whose S3 and STS are the IAM-checking moto, whose principal is `principal`
/// (its own role, assumed first) or, without one, its caller identity.
async fn app(principal: Option<String>) -> TestApp {
    let t = TestApp::spawn().await;
    let app = (*t.app)
        .clone()
        .reaching(Arc::new(Providers::new(ProviderSettings {
            s3: S3Settings {
                endpoint_url: Some(iam_endpoint()),
                ..S3Settings::default()
            },
            service_principal_arn: principal,
            aws: Some(service_aws().await),
            ..ProviderSettings::default()
        })));
    t.with_app(app)
}

/// A bucket in the IAM-checking moto holding `keys`, made by its admin user.
async fn bucket(keys: &[&str]) -> String {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            var("MOTO_IAM_ADMIN_KEY_ID"),
            var("MOTO_IAM_ADMIN_SECRET"),
            None,
            None,
            "test",
        ))
        .endpoint_url(iam_endpoint())
        .force_path_style(true)
        .build();
    bucket_on(&aws_sdk_s3::Client::from_conf(config), keys).await
}

/// A customer's role with `trust` and `permissions`, as the customer would make it.
fn customer_role(trust: &Value, permissions: &Value) -> String {
    let name = format!(
        "customer-{}",
        random_string(10, b"abcdefghijklmnopqrstuvwxyz")
    );
    let out = std::process::Command::new(".venv/bin/python")
        .args([
            "infra/moto_iam.py",
            "role",
            &iam_endpoint(),
            &name,
            &trust.to_string(),
            &permissions.to_string(),
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("text")
        .trim()
        .to_owned()
}

/// The role setup for `bucket` with import and export under `exports/`.
async fn role_setup(t: &TestApp, bucket: &str) -> Value {
    let r = t
        .get(
            &format!(
                "/api/v2/connectors/s3/role-setup?bucket={bucket}&scopes=import,export&export_base_path=exports/"
            ),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    r.json()
}

fn role_connector(bucket: &str, role_arn: &str) -> Value {
    json!({
        "name": "Role archive",
        "bucket": bucket,
        "region": "us-east-1",
        "role_arn": role_arn,
        "scopes": ["import", "export"],
        "export_base_path": "exports/",
    })
}

async fn create(t: &TestApp, body: &Value) -> String {
    let r = t
        .json(Method::POST, "/api/v2/connectors/s3", &t.key, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    r.json()["connector_id"].as_str().expect("id").to_owned()
}

async fn test(t: &TestApp, id: &str) -> Value {
    let r = t
        .post_empty(&format!("/api/v2/connectors/{id}/test"), &t.key)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    r.json()
}

async fn browse(t: &TestApp, id: &str) -> TestResponse {
    t.json(
        Method::POST,
        &format!("/api/v2/connectors/{id}/browse"),
        &t.key,
        &json!({"prefix": "in/"}),
    )
    .await
}

/// The sessions moto has handed out under `session_name`.
async fn sessions_named(session_name: &str) -> usize {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", iam_endpoint()))
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("JSON");
    data["sts"]["AssumedRole"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["session_name"] == session_name)
        .count()
}

/// A role failure's message names the external ID to require and says to test again.
fn names_the_id_and_the_propagation_delay(message: &str, setup: &Value) {
    assert!(
        message.contains(setup["external_id"].as_str().expect("id")),
        "{message}"
    );
    assert!(
        message.contains("IAM changes can take a minute to propagate; test again"),
        "{message}"
    );
}

fn failure(report: &Value, check: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == check)
        .unwrap_or_else(|| panic!("no {check} check in {report}"));
    assert_eq!(c["ok"], false, "{report}");
    (
        c["error"]["code"].as_str().expect("code").to_owned(),
        c["error"]["message"].as_str().expect("message").to_owned(),
    )
}

#[tokio::test]
async fn a_role_trusting_the_service_role_with_the_external_id_passes_every_check_and_browses() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&["in/a.mp4", "in/b.mov"]).await;
    let setup = role_setup(&t, &bucket).await;
    assert_eq!(setup["principal_arn"], var("MOTO_IAM_SERVICE_ROLE_ARN"));
    // Pasted as the role setup wrote them.
    let role = customer_role(&setup["trust_policy"], &setup["permissions_policy"]);

    let dry = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3?dry_run=true",
            &t.key,
            &role_connector(&bucket, &role),
        )
        .await;
    assert_eq!(dry.json()["success"], true, "{}", dry.json());

    let id = create(&t, &role_connector(&bucket, &role)).await;
    let report = test(&t, &id).await;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(
        check_names(&report),
        vec![
            "assume_role",
            "external_id_enforced",
            "authenticate",
            "list",
            "write",
            "delete"
        ]
    );
    let r = browse(&t, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let mut paths: Vec<String> = r
        .json()
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_owned))
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["in/a.mp4", "in/b.mov"], "{}", r.json());

    // CloudTrail's session name names the connector; the session served the test, then
    // the browse, and was kept rather than assumed again.
    assert_eq!(sessions_named(&format!("videovector-{id}")).await, 1);
    test(&t, &id).await;
    assert_eq!(sessions_named(&format!("videovector-{id}")).await, 1);
}

#[tokio::test]
async fn without_a_configured_principal_the_services_own_identity_is_trusted_directly() {
    let t = app(None).await;
    let bucket = bucket(&["in/a.mp4"]).await;
    let setup = role_setup(&t, &bucket).await;
    assert_eq!(setup["principal_arn"], var("MOTO_IAM_SERVICE_USER_ARN"));
    let role = customer_role(&setup["trust_policy"], &setup["permissions_policy"]);
    let id = create(&t, &role_connector(&bucket, &role)).await;
    let report = test(&t, &id).await;
    assert_eq!(report["success"], true, "{report}");
}

#[tokio::test]
async fn a_role_that_does_not_require_the_external_id_fails_its_check_and_is_never_used() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&["in/a.mp4"]).await;
    let setup = role_setup(&t, &bucket).await;
    let mut trust = setup["trust_policy"].clone();
    trust["Statement"][0]
        .as_object_mut()
        .expect("a statement")
        .remove("Condition");
    let role = customer_role(&trust, &setup["permissions_policy"]);
    let id = create(&t, &role_connector(&bucket, &role)).await;

    let report = test(&t, &id).await;
    assert_eq!(report["success"], false, "{report}");
    // Nothing is tried with a role anyone could have the service assume.
    assert_eq!(
        check_names(&report),
        vec!["assume_role", "external_id_enforced"]
    );
    let (code, message) = failure(&report, "external_id_enforced");
    assert_eq!(code, "external_id_not_enforced");
    assert!(message.contains("sts:ExternalId"), "{message}");
    names_the_id_and_the_propagation_delay(&message, &setup);

    let r = browse(&t, &id).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json());
    assert_eq!(r.json()["error"]["code"], "external_id_not_enforced");
    let c = t
        .get(&format!("/api/v2/connectors/{id}"), &t.key)
        .await
        .json();
    assert_eq!(c["status"], "failed");
}

#[tokio::test]
async fn a_role_whose_trust_policy_names_another_external_id_cannot_be_assumed() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&[]).await;
    let setup = role_setup(&t, &bucket).await;
    // A trust policy copied from another account's setup.
    let mut trust = setup["trust_policy"].clone();
    trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] =
        json!("vv-000000000000000000000000000000000000000000000000");
    let role = customer_role(&trust, &setup["permissions_policy"]);
    let id = create(&t, &role_connector(&bucket, &role)).await;

    let report = test(&t, &id).await;
    assert_eq!(check_names(&report), vec!["assume_role"], "{report}");
    let (code, message) = failure(&report, "assume_role");
    assert_eq!(code, "assume_role_denied");
    assert!(message.contains(&role), "{message}");
    names_the_id_and_the_propagation_delay(&message, &setup);
    assert_eq!(report["error_message"], message.as_str());

    let r = browse(&t, &id).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "assume_role_denied");
}

#[tokio::test]
async fn a_role_without_the_permissions_the_setup_listed_fails_at_the_bucket() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&[]).await;
    let setup = role_setup(&t, &bucket).await;
    let read_only = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")}
    ]});
    let role = customer_role(&setup["trust_policy"], &read_only);
    let id = create(&t, &role_connector(&bucket, &role)).await;
    let report = test(&t, &id).await;
    let (code, message) = failure(&report, "write");
    assert_eq!(code, "access_denied");
    assert!(message.contains("the role needs s3:PutObject"), "{message}");
}

#[tokio::test]
async fn the_binary_reaches_sts_where_aws_endpoint_url_sts_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (endpoint, key_id, secret, service_role) = (
        iam_endpoint(),
        var("MOTO_IAM_SERVICE_KEY_ID"),
        var("MOTO_IAM_SERVICE_SECRET"),
        var("MOTO_IAM_SERVICE_ROLE_ARN"),
    );
    let server = crate::restart::serve_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_connectors")),
        dir.path(),
        &[
            ("AWS_ENDPOINT_URL_STS", &endpoint),
            ("AWS_ACCESS_KEY_ID", &key_id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("AWS_REGION", "us-east-1"),
            ("SERVICE_PRINCIPAL_ARN", &service_role),
            ("PROVIDER_S3_ENDPOINT_URL", &endpoint),
        ],
    );
    let key = server.key.clone().expect("a first key");
    let http = reqwest::Client::new();
    let bucket = bucket(&["in/a.mp4"]).await;
    let setup: Value = http
        .get(format!(
            "{}/api/v2/connectors/s3/role-setup?bucket={bucket}&scopes=import,export&export_base_path=exports/",
            server.base
        ))
        .header("X-API-Key", &key)
        .send()
        .await
        .expect("role setup")
        .json()
        .await
        .expect("JSON");
    let role = customer_role(&setup["trust_policy"], &setup["permissions_policy"]);
    let created: Value = http
        .post(format!("{}/api/v2/connectors/s3", server.base))
        .header("X-API-Key", &key)
        .json(&role_connector(&bucket, &role))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("JSON");
    let id = created["connector_id"].as_str().expect("an id");
    let report: Value = http
        .post(format!("{}/api/v2/connectors/{id}/test", server.base))
        .header("X-API-Key", &key)
        .send()
        .await
        .expect("test")
        .json()
        .await
        .expect("JSON");
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(sessions_named(&format!("videovector-{id}")).await, 1);
}

// Access grants held to a prefix: moto (through `infra/moto_server.py`) checks a session
// policy against what a federation token or a role session asks, as AWS does.

/// An IAM user of the customer with `permissions`, and its key pair.
fn customer_user(permissions: &Value) -> (String, String) {
    moto_user(&iam_endpoint(), Some(permissions))
}

/// An S3 client with credentials a grant handed out.
fn client_with(credentials: &Value) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(
            credentials["region"].as_str().expect("region").to_owned(),
        ))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            credentials["access_key_id"].as_str().expect("id"),
            credentials["secret_access_key"].as_str().expect("secret"),
            credentials["session_token"].as_str().map(str::to_owned),
            None,
            "grant",
        ))
        .endpoint_url(iam_endpoint())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn access(t: &TestApp, id: &str, body: &Value) -> TestResponse {
    t.json(
        Method::POST,
        &format!("/api/v2/connectors/{id}/access"),
        &t.key,
        body,
    )
    .await
}

fn keys_connector(bucket: &str, id: &str, secret: &str) -> Value {
    json!({
        "name": "Keys archive", "bucket": bucket, "region": "us-east-1",
        "aws_access_key_id": id, "aws_secret_access_key": secret,
        "scopes": ["import", "export"], "export_base_path": "exports/",
    })
}

/// Whether an S3 call was refused by IAM, rather than failing for any other reason.
fn refused<T, E: ProvideErrorMetadata, R>(r: Result<T, SdkError<E, R>>) -> bool {
    matches!(r, Err(e) if e.code() == Some("AccessDenied"))
}

#[tokio::test]
async fn federation_credentials_read_and_list_only_under_the_granted_prefix() {
    let t = app(None).await;
    let bucket = bucket(&["in/a.mp4", "in/b.mov", "other/c.mp4"]).await;
    // The user has exactly what the role setup says a user's keys need.
    let setup = role_setup(&t, &bucket).await;
    let (key_id, secret) = customer_user(&setup["user_permissions_policy"]);
    let id = create(&t, &keys_connector(&bucket, &key_id, &secret)).await;
    let r = access(&t, &id, &json!({"purpose": "import", "prefix": "in"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let grant = r.json();
    assert_eq!(grant["prefix"], "in/");
    assert_eq!(grant["permissions"], json!(["read", "list"]));
    assert_eq!(grant["urls"], json!([]));
    let s3 = client_with(&grant["credentials"]);
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("in/")
        .send()
        .await;
    let keys: Vec<String> = listed
        .expect("listing inside the prefix")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys, vec!["in/a.mp4", "in/b.mov"]);
    assert!(
        s3.get_object()
            .bucket(&bucket)
            .key("in/a.mp4")
            .send()
            .await
            .is_ok()
    );
    assert!(refused(
        s3.get_object()
            .bucket(&bucket)
            .key("other/c.mp4")
            .send()
            .await
    ));
    assert!(refused(
        s3.list_objects_v2()
            .bucket(&bucket)
            .prefix("other/")
            .send()
            .await
    ));
    assert!(
        refused(
            s3.put_object()
                .bucket(&bucket)
                .key("in/new.mp4")
                .body(b"x".to_vec().into())
                .send()
                .await
        ),
        "import credentials may not write"
    );
}

#[tokio::test]
async fn a_user_who_may_not_get_a_federation_token_is_told_which_permission_is_missing() {
    let t = app(None).await;
    let bucket = bucket(&["in/a.mp4"]).await;
    let (key_id, secret) = customer_user(&json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    ]}));
    let id = create(&t, &keys_connector(&bucket, &key_id, &secret)).await;
    let r = access(&t, &id, &json!({"purpose": "import"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json());
    assert_eq!(r.json()["error"]["code"], "access_denied");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sts:GetFederationToken")),
        "{}",
        r.json()
    );
}

#[tokio::test]
async fn a_role_connectors_export_credentials_write_only_under_the_subpath() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&["exports/old.json", "in/a.mp4"]).await;
    let setup = role_setup(&t, &bucket).await;
    let role = customer_role(&setup["trust_policy"], &setup["permissions_policy"]);
    let id = create(&t, &role_connector(&bucket, &role)).await;
    let r = access(&t, &id, &json!({"purpose": "export", "subpath": "run-1"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let grant = r.json();
    assert_eq!(grant["prefix"], "exports/run-1/");
    assert_eq!(grant["permissions"], json!(["write"]));
    let s3 = client_with(&grant["credentials"]);
    let put = |key: &'static str| {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"{}".to_vec().into())
            .send()
    };
    assert!(
        put("exports/run-1/cuts.json").await.is_ok(),
        "inside the subpath"
    );
    assert!(
        refused(put("exports/run-2/cuts.json").await),
        "beside the subpath"
    );
    assert!(refused(put("in/b.mp4").await), "outside the boundary");
    assert!(
        refused(
            s3.get_object()
                .bucket(&bucket)
                .key("exports/old.json")
                .send()
                .await
        ),
        "export credentials may not read"
    );
}

#[tokio::test]
async fn a_role_connectors_urls_are_signed_with_a_session_held_to_the_prefix() {
    let t = app(Some(var("MOTO_IAM_SERVICE_ROLE_ARN"))).await;
    let bucket = bucket(&["in/a.mp4"]).await;
    let setup = role_setup(&t, &bucket).await;
    let role = customer_role(&setup["trust_policy"], &setup["permissions_policy"]);
    let id = create(&t, &role_connector(&bucket, &role)).await;
    let r = access(
        &t,
        &id,
        &json!({"purpose": "import", "paths": ["in/a.mp4"], "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let url = r.json()["urls"][0]["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    // Signed by a temporary session (its token travels in the URL), not by stored keys.
    assert!(url.contains("X-Amz-Security-Token="), "{url}");
    assert!(url.contains("X-Amz-Credential=ASIA"), "{url}");
    let got = reqwest::get(&url).await.expect("GET");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"in/a.mp4");
}
