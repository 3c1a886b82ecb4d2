//! Azure connectors with no stored secret: the service's AWS identity as an assertion
//! (GetWebIdentityToken in the test command's moto wrapper, signed with a key made for
//! the run), traded for the operator's app's token at the token stand-in (which verifies
//! it against the wrapper's JWKS and the app's federated credential, and knows which
//! tenants consented), and the container's binding to the account read from Azurite.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use connectors::domain::apikey::KeyScope;
use connectors::providers::azure::AzureSettings;
use connectors::providers::{ProviderSettings, Providers};
use serde_json::{Value, json};

use super::{AZURITE_ACCOUNT, Cloud, azure_container};
use crate::helpers::*;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the test command"))
}

/// A tenant whose admin consented to the operator's app.
fn consented() -> String {
    env("AZURE_CONSENTED_TENANTS")
        .split(',')
        .next()
        .expect("a consented tenant")
        .to_owned()
}

/// How many tokens the stand-in has issued through assertions, per tenant.
async fn assertions() -> Value {
    super::stand_in("/azure/assertions").await
}

/// `t` with providers whose STS is the plain moto (its caller is what the app's federated
/// credential trusts) and whose Entra app is `identity`'s.
async fn keyless(t: TestApp, aws: aws_config::SdkConfig) -> TestApp {
    let providers = Providers::new(ProviderSettings {
        aws: Some(aws),
        ..emulators()
    });
    let app = (*t.app).clone().reaching(Arc::new(providers));
    t.with_app(app)
}

async fn on_moto(t: TestApp) -> TestApp {
    keyless(t, moto_sdk_config().await).await
}

/// A container holding `keys`, bound to `account` when one is given.
async fn container(keys: &[&str], account: Option<&str>) -> String {
    let name = Cloud::Azure.bucket_with(keys).await;
    if let Some(account) = account {
        let metadata = HashMap::from([("videovector_account".to_owned(), account.to_owned())]);
        azure_container(&name)
            .set_metadata(&metadata, None)
            .await
            .expect("metadata set");
    }
    name
}

fn body(container: &str, tenant: &str) -> Value {
    json!({
        "name": "Keyless footage",
        "storage_account": AZURITE_ACCOUNT,
        "container": container,
        "tenant_id": tenant,
        "scopes": ["import", "export"],
    })
}

/// A keyless connector's path, created by `key`.
async fn create(t: &TestApp, key: &str, container: &str, tenant: &str) -> String {
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            key,
            &body(container, tenant),
        )
        .await;
    r.created_path()
}

async fn a_keyless_azure_connector_is_made_tested_browsed_and_vended_with_no_stored_secret(
    t: TestApp,
) {
    let t = on_moto(t).await;
    let tenant = consented();
    let name = container(&["incoming/a.mp4", "incoming/b.mov"], Some("acme")).await;
    let setup = t
        .get(
            &format!(
                "/api/v2/connectors/azure/identity-setup?tenant_id={tenant}&storage_account={AZURITE_ACCOUNT}&container={name}&scopes=import,export"
            ),
            &t.key,
        )
        .await;
    assert_eq!(
        setup.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&setup.body)
    );
    let setup = setup.json();
    let app = env("AZURE_IDENTITY_CLIENT_ID");
    assert_eq!(setup["client_id"], app.as_str());
    assert_eq!(
        setup["admin_consent_url"],
        format!(
            "{}/{tenant}/adminconsent?client_id={app}",
            env("AZURE_TOKEN_ENDPOINT")
        )
    );
    assert_eq!(setup["roles"]["import"], "Storage Blob Data Reader");
    assert_eq!(setup["roles"]["export"], "Storage Blob Data Contributor");
    assert_eq!(setup["binding"]["metadata_name"], "videovector_account");
    assert_eq!(setup["binding"]["metadata_value"], "acme");
    let commands = setup["commands"].as_array().expect("commands");
    assert!(
        commands[0]
            .as_str()
            .is_some_and(|c| c.contains(&app) && c.contains("Storage Blob Data Contributor")),
        "{setup}"
    );
    assert_eq!(setup["roles"]["access"], "Storage Blob Delegator");
    assert!(
        commands[1]
            .as_str()
            .is_some_and(|c| c.contains("Storage Blob Delegator")),
        "{setup}"
    );
    assert!(
        commands[2].as_str().is_some_and(|c| c.ends_with(&format!(
            "--name {name} --metadata videovector_account=acme"
        ))),
        "{setup}"
    );

    let before = assertions().await[&tenant].as_u64().unwrap_or(0);
    let path = create(&t, &t.key, &name, &tenant).await;
    let c = t.get(&path, &t.key).await.json();
    assert_eq!(c["auth_type"], "workload_identity", "{c}");
    assert_eq!(
        t.secret_count().await,
        0,
        "no secret is stored for a keyless connector"
    );

    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(
        check_names(&report),
        [
            "assertion",
            "token",
            "binding",
            "authenticate",
            "list",
            "write",
            "delete"
        ],
        "{report}"
    );
    assert!(
        assertions().await[&tenant].as_u64().unwrap_or(0) > before,
        "the token came through an assertion"
    );

    let listed = t
        .json(
            Method::POST,
            &format!("{path}/browse"),
            &t.key,
            &json!({"prefix": "incoming/"}),
        )
        .await;
    assert_eq!(
        listed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&listed.body)
    );
    let names: Vec<String> = listed
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["incoming/a.mp4", "incoming/b.mov"]);

    // A job's URL: a user delegation SAS signed through the app's token.
    let g = t
        .json(
            Method::POST,
            &format!("{path}/access"),
            &t.key,
            &json!({"purpose": "import", "paths": ["incoming/a.mp4"], "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(
        g.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&g.body)
    );
    let url = g.json()["urls"][0]["url"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let got = reqwest::get(&url).await.expect("Azurite answers");
    assert_eq!(got.status(), 200, "the signed URL reads the blob");
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"incoming/a.mp4");
    assert_eq!(t.secret_count().await, 0);
}
on_every_backend!(
    a_keyless_azure_connector_is_made_tested_browsed_and_vended_with_no_stored_secret
);

async fn a_container_bound_to_another_account_or_to_none_is_used_for_nothing(t: TestApp) {
    let t = on_moto(t).await;
    let tenant = consented();
    let globex = t.key_for("globex", &[KeyScope::Admin]).await;
    // acme's container, named by globex in the tenant acme's admin consented in.
    let acme_only = container(&["incoming/a.mp4"], Some("acme")).await;
    let path = create(&t, &globex, &acme_only, &tenant).await;
    let report = t.post_empty(&format!("{path}/test"), &globex).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(
        check_names(&report),
        ["assertion", "token", "binding"],
        "{report}"
    );
    let failed = &report["checks"][2]["error"];
    assert_eq!(failed["code"], "binding_mismatch", "{report}");
    assert!(
        !failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("acme"),
        "whose container it is is not said: {failed}"
    );
    for (endpoint, body) in [
        ("browse", json!({})),
        (
            "access",
            json!({"purpose": "import", "paths": ["incoming/a.mp4"], "ttl_seconds": 600}),
        ),
    ] {
        let r = t
            .json(Method::POST, &format!("{path}/{endpoint}"), &globex, &body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{endpoint}");
        assert_eq!(r.error_code(), "binding_mismatch", "{endpoint}");
    }
    // acme's own connector on it works.
    let own = create(&t, &t.key, &acme_only, &tenant).await;
    let report = t.post_empty(&format!("{own}/test"), &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");

    // A container nobody bound: the report says what to set.
    let unbound = container(&[], None).await;
    let path = create(&t, &t.key, &unbound, &tenant).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    let failed = &report["checks"][2]["error"];
    assert_eq!(failed["code"], "binding_missing", "{report}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("videovector_account=acme"),
        "{failed}"
    );
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.error_code(), "binding_missing");
}
on_every_backend!(a_container_bound_to_another_account_or_to_none_is_used_for_nothing);

#[tokio::test]
async fn a_tenant_that_has_not_consented_fails_the_test_at_token_with_consent_missing() {
    let t = on_moto(TestApp::spawn().await).await;
    let name = container(&[], Some("acme")).await;
    let tenant = env("AZURE_UNCONSENTED_TENANT");
    let path = create(&t, &t.key, &name, &tenant).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(check_names(&report), ["assertion", "token"], "{report}");
    let failed = &report["checks"][1]["error"];
    assert_eq!(failed["code"], "consent_missing", "{report}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&tenant) && message.contains("identity-setup"),
        "{message}"
    );
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.error_code(), "consent_missing");
}

#[tokio::test]
async fn a_tenant_entra_id_does_not_know_fails_the_test_at_token_naming_tenant_id() {
    let t = on_moto(TestApp::spawn().await).await;
    let name = container(&[], Some("acme")).await;
    let tenant = env("AZURE_UNKNOWN_TENANT");
    let path = create(&t, &t.key, &name, &tenant).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(check_names(&report), ["assertion", "token"], "{report}");
    let failed = &report["checks"][1]["error"];
    assert_eq!(failed["code"], "invalid_credentials", "{report}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&tenant) && message.contains("tenant_id"),
        "{message}"
    );
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.error_code(), "invalid_credentials");
}

/// The service's AWS identity on the IAM-checking moto: a user with `permissions`.
async fn on_iam_checking_moto(permissions: Option<&Value>) -> TestApp {
    let endpoint = env("MOTO_IAM_ENDPOINT");
    let (id, secret) = moto_user(&endpoint, permissions);
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            id, secret, None, None, "test",
        ))
        .load()
        .await;
    keyless(TestApp::spawn().await, aws).await
}

#[tokio::test]
async fn an_identity_sts_refuses_an_assertion_fails_the_test_at_assertion() {
    let t = on_iam_checking_moto(None).await;
    let name = container(&[], Some("acme")).await;
    let path = create(&t, &t.key, &name, &consented()).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(check_names(&report), ["assertion"], "{report}");
    let failed = &report["checks"][0]["error"];
    assert_eq!(failed["code"], "assertion_denied", "{report}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sts:GetWebIdentityToken"),
        "{failed}"
    );
}

#[tokio::test]
async fn an_assertion_of_an_identity_the_app_does_not_trust_fails_the_test_at_token() {
    // Allowed exactly what the template's AssertionsForEntraIdOnly grants (this audience
    // only, five minutes at most, RS256), which is enough for the service's ask; but the app's
    // federated credential trusts the service's identity, not this user.
    let may_ask = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": "sts:GetWebIdentityToken",
        "Resource": "*",
        "Condition": {
            "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": "api://AzureADTokenExchange"},
            "NumericLessThanEquals": {"sts:DurationSeconds": "300"},
            "StringEquals": {"sts:SigningAlgorithm": "RS256"}
        }
    }]});
    let t = on_iam_checking_moto(Some(&may_ask)).await;
    let name = container(&[], Some("acme")).await;
    let path = create(&t, &t.key, &name, &consented()).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(check_names(&report), ["assertion", "token"], "{report}");
    let failed = &report["checks"][1]["error"];
    assert_eq!(failed["code"], "token_denied", "{report}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("AADSTS700213"),
        "the subject did not match: {failed}"
    );
}

#[tokio::test]
async fn without_an_entra_app_setup_is_404_and_a_keyless_create_409_identity_not_configured() {
    let t = TestApp::spawn_reaching(ProviderSettings {
        azure: AzureSettings {
            identity: None,
            ..emulators().azure
        },
        ..emulators()
    })
    .await;
    let r = t
        .get(
            &format!(
                "/api/v2/connectors/azure/identity-setup?tenant_id={}",
                consented()
            ),
            &t.key,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "identity_not_configured");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("AZURE_IDENTITY_CLIENT_ID")
    );
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &body("footage", &consented()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "identity_not_configured");
    assert_eq!(t.connector_count().await, 0);
}

#[tokio::test]
async fn a_setup_or_create_with_half_a_service_principal_is_refused_naming_the_missing_half() {
    let t = TestApp::spawn().await;
    let r = t
        .get("/api/v2/connectors/azure/identity-setup", &t.key)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["tenant_id"]);
    let r = t
        .get(
            &format!(
                "/api/v2/connectors/azure/identity-setup?tenant_id={}&container=footage",
                consented()
            ),
            &t.key,
        )
        .await;
    assert_eq!(r.error_fields(), ["storage_account"]);
    let mut half = body("footage", &consented());
    half["client_id"] = json!("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    let r = t
        .json(Method::POST, "/api/v2/connectors/azure", &t.key, &half)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["client_secret"]);
    assert_eq!(t.connector_count().await, 0);
}

async fn patch_switches_an_azure_connector_between_a_client_secret_and_workload_identity(
    t: TestApp,
) {
    let t = on_moto(t).await;
    let name = container(&["a.mp4"], Some("acme")).await;
    let mut with_secret = body(&name, super::AZURE_TENANT);
    with_secret["client_id"] = json!(super::AZURE_CLIENT);
    with_secret["client_secret"] = json!(super::azure_good_secret());
    let created = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &with_secret,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let path = format!(
        "/api/v2/connectors/{}",
        created.json()["connector_id"].as_str().expect("id")
    );
    assert_eq!(t.secret_count().await, 1);

    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"workload_identity": true, "tenant_id": consented()}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["auth_type"], "workload_identity");
    assert_eq!(t.secret_count().await, 0, "the client secret is deleted");
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");

    // Back to a service principal: both halves, checked.
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"tenant_id": super::AZURE_TENANT, "client_id": super::AZURE_CLIENT}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["client_secret"]);
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({
                "tenant_id": super::AZURE_TENANT,
                "client_id": super::AZURE_CLIENT,
                "client_secret": super::azure_good_secret(),
            }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["auth_type"], "client_secret");
    assert_eq!(t.secret_count().await, 1);

    // A switch whose checks fail (a tenant that never consented) changes nothing.
    let before = t.get(&path, &t.key).await;
    let r = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"workload_identity": true, "tenant_id": env("AZURE_UNCONSENTED_TENANT")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "credentials_rejected");
    let after = t.get(&path, &t.key).await;
    assert_eq!(before.header("etag"), after.header("etag"));
    assert_eq!(after.json()["auth_type"], "client_secret");
    assert_eq!(t.secret_count().await, 1);
}
on_every_backend!(patch_switches_an_azure_connector_between_a_client_secret_and_workload_identity);

async fn tests_and_browses_racing_switches_between_a_secret_and_workload_identity_never_answer_a_5xx(
    t: TestApp,
) {
    let t = unlimited(on_moto(t).await);
    let name = container(&["a.mp4"], Some("acme")).await;
    let tenant = consented();
    let path = create(&t, &t.key, &name, &tenant).await;
    let keyless = json!({"workload_identity": true, "tenant_id": tenant});
    let secret = json!({
        "tenant_id": super::AZURE_TENANT,
        "client_id": super::AZURE_CLIENT,
        "client_secret": super::azure_good_secret(),
    });
    let (test, browse) = (format!("{path}/test"), format!("{path}/browse"));
    let unchecked = format!("{path}?validate=false");
    let everything = json!({});
    let mut last = "workload_identity";
    for round in 0..20 {
        let (switch, to) = if round % 2 == 0 {
            (&secret, "client_secret")
        } else {
            (&keyless, "workload_identity")
        };
        let racing = async {
            let test = t.post_empty(&test, &t.key);
            let browse = t.json(Method::POST, &browse, &t.key, &everything);
            let (test, browse) = tokio::join!(test, browse);
            (test.status, test.json(), browse.status)
        };
        let patched = t.json(Method::PATCH, &unchecked, &t.key, switch);
        let ((tested, report, browsed), patched) = tokio::join!(racing, patched);
        assert_eq!(
            patched.status,
            StatusCode::OK,
            "round {round}: {}",
            patched.json()
        );
        assert_eq!(tested, StatusCode::OK, "round {round}");
        assert_eq!(report["success"], true, "round {round}: {report}");
        assert_eq!(browsed, StatusCode::OK, "round {round}");
        last = to;
    }
    // Nothing lost: the last switch is what is shown, and the vault holds a secret only
    // for a connector that uses one.
    let c = t.get(&path, &t.key).await.json();
    assert_eq!(c["auth_type"], last);
    assert_eq!(t.secret_count().await, usize::from(last == "client_secret"));
    let report = t.post_empty(&test, &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");
}
on_every_backend!(
    tests_and_browses_racing_switches_between_a_secret_and_workload_identity_never_answer_a_5xx
);

#[tokio::test]
async fn a_tenants_token_is_traded_once_and_kept_across_tests_browses_and_grants() {
    let t = on_moto(TestApp::spawn().await).await;
    // A tenant no other test trades in, so its count is this test's alone.
    let tenant = env("AZURE_KEPT_TOKEN_TENANT");
    let name = container(&["incoming/a.mp4"], Some("acme")).await;
    let path = create(&t, &t.key, &name, &tenant).await;
    let traded = || async { assertions().await[&tenant].as_u64().unwrap_or(0) };
    let before = traded().await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(traded().await, before + 1);
    super::use_repeatedly(
        &t,
        &path,
        &json!({"purpose": "import", "paths": ["incoming/a.mp4"], "ttl_seconds": 600}),
        3,
    )
    .await;
    assert_eq!(
        traded().await,
        before + 1,
        "one token served every later request"
    );
}

#[tokio::test]
async fn the_identity_setup_needs_the_read_scope_and_no_more() {
    let t = TestApp::spawn().await;
    let read = t.key_for("acme", &[KeyScope::Read]).await;
    let access_only = t.key_for("acme", &[KeyScope::Access]).await;
    let setup = format!(
        "/api/v2/connectors/azure/identity-setup?tenant_id={}",
        consented()
    );
    let r = t.get(&setup, &read).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json()["binding"]["metadata_value"], "acme");
    let r = t.get(&setup, &access_only).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "insufficient_scope");
}
