//! GCS connectors with no stored key: the service's AWS identity federated into Google and
//! the account's own service account impersonated, against the test command's Google STS
//! and IAM Credentials stand-ins (which verify the AWS signature, the audience and the
//! service account) and fake-gcs-server behind them.

use axum::http::{Method, StatusCode};
use connectors::domain::apikey::KeyScope;
use connectors::providers::ProviderSettings;
use serde_json::{Value, json};

use super::Cloud;
use crate::helpers::*;

const PROJECT: &str = "media-project-7";

/// How many tokens the IAM Credentials stand-in has given each service account.
async fn impersonations() -> Value {
    super::stand_in("/google/impersonations").await
}

/// Tells the Google STS stand-in to `act` (`trust` or `revoke`) on a pool provider.
async fn on_provider(act: &str, audience: &str) {
    let endpoint = std::env::var("AZURE_TOKEN_ENDPOINT").expect("the stand-in");
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/google/{act}"))
        .form(&[("audience", audience)])
        .send()
        .await
        .expect("the stand-in answers");
    assert!(r.status().is_success(), "{act} {audience}");
}

/// A pool provider's resource name no other test uses.
fn own_audience() -> String {
    format!(
        "//iam.googleapis.com/projects/999/locations/global/workloadIdentityPools/other-{}/providers/aws",
        random_string(8, b"abcdefghijklmnopqrstuvwxyz0123456789")
    )
}

fn given(counts: &Value, email: &str) -> u64 {
    counts[email].as_u64().unwrap_or(0)
}

/// Checks that `url` is a V4 URL whose signature `email`'s key (as the IAM stand-in
/// publishes it) made over the string to sign the URL itself describes: the canonical
/// request of a GET that signs `host` alone.
async fn assert_signed_by(url: &str, email: &str) {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
    use base64::Engine as _;
    use sha2::Digest as _;

    let parsed = url::Url::parse(url).expect("a URL");
    let query = parsed.query().expect("a query");
    let (unsigned, signature) = query
        .split_once("&X-Goog-Signature=")
        .expect("the signature last");
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in {url}"))
    };
    let credential = param("X-Goog-Credential");
    let scope = credential
        .strip_prefix(&format!("{email}/"))
        .unwrap_or_else(|| panic!("{credential} names {email}"));
    let canonical = format!(
        "GET\n{}\n{unsigned}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
        parsed.path(),
        parsed.host_str().expect("a host")
    );
    let to_sign = format!(
        "GOOG4-RSA-SHA256\n{}\n{scope}\n{}",
        param("X-Goog-Date"),
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    let keys: Value =
        super::stand_in(&format!("/google/service_accounts/v1/metadata/jwk/{email}")).await;
    let part = |name: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(keys["keys"][0][name].as_str().expect("a JWK"))
            .expect("base64url")
    };
    let public = RsaPublicKeyComponents {
        n: part("n"),
        e: part("e"),
    };
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            to_sign.as_bytes(),
            &hex::decode(signature).expect("hex"),
        )
        .unwrap_or_else(|_| panic!("{email}'s key signed {url}"));
}

fn keyless_body(bucket: &str) -> Value {
    json!({
        "name": "Keyless media",
        "bucket": bucket,
        "gcp_project_id": PROJECT,
        "scopes": ["import", "export"],
        "export_base_path": "videovector/",
    })
}

async fn create_keyless(t: &TestApp, key: &str, bucket: &str) -> TestResponse {
    t.json(
        Method::POST,
        "/api/v2/connectors/gcs",
        key,
        &keyless_body(bucket),
    )
    .await
}

/// The path of a keyless connector to `bucket`, made by `t`'s own key.
async fn keyless_connector(t: &TestApp, bucket: &str) -> String {
    create_keyless(t, &t.key, bucket).await.created_path()
}

/// Checks that a test of the connector at `path` stops at `federation` with `code`, and
/// that a browse is refused with it (answered `status`).
async fn assert_stops_at_federation(t: &TestApp, path: &str, code: &str, status: StatusCode) {
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(check_names(&report), ["federation"], "{report}");
    assert_eq!(report["checks"][0]["error"]["code"], code, "{report}");
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.status, status);
    assert_eq!(r.error_code(), code);
}

/// A PATCH by `key` switching the connector at `path` to workload identity.
async fn to_workload_identity(t: &TestApp, key: &str, path: &str) -> TestResponse {
    t.json(
        Method::PATCH,
        path,
        key,
        &json!({"workload_identity": true}),
    )
    .await
}

fn setup_path(bucket: &str) -> String {
    format!(
        "/api/v2/connectors/gcs/identity-setup?bucket={bucket}&scopes=import,export&gcp_project_id={PROJECT}"
    )
}

/// An app whose service-account pool is `pool` and whose federation names `audience`.
async fn spawn_with_pool(pool: &[&str], audience: Option<&str>) -> TestApp {
    let pool: Vec<String> = pool.iter().map(|s| (*s).to_owned()).collect();
    let mut identity = gcs_identity_pool(&pool).expect("the Google stand-ins");
    if let Some(a) = audience {
        identity.audience = a.to_owned();
    }
    TestApp::spawn_reaching(ProviderSettings {
        gcs_identity: Some(identity),
        ..emulators()
    })
    .await
}

async fn a_keyless_gcs_connector_is_made_tested_browsed_and_vended_with_no_stored_secret(
    t: TestApp,
) {
    let bucket = Cloud::Gcs
        .bucket_with(&["incoming/a.mp4", "incoming/b.mov"])
        .await;
    let setup = t.get(&setup_path(&bucket), &t.key).await;
    assert_eq!(
        setup.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&setup.body)
    );
    let setup = setup.json();
    let email = setup["service_account_email"]
        .as_str()
        .expect("an e-mail")
        .to_owned();
    assert_eq!(email, impersonable()[0], "the first of the pool: {setup}");
    assert_eq!(setup["roles"]["import"], "roles/storage.objectViewer");
    assert_eq!(
        setup["roles"]["export"],
        format!("projects/{PROJECT}/roles/videovectorExport")
    );
    let commands = setup["commands"]
        .as_array()
        .expect("commands for the bucket");
    assert!(
        commands.iter().any(|c| c
            .as_str()
            .is_some_and(|c| c.contains(&format!("gs://{bucket}")) && c.contains(&email))),
        "{setup}"
    );

    let before = impersonations().await;
    let r = create_keyless(&t, &t.key, &bucket).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let c = r.json();
    assert_eq!(c["auth_type"], "workload_identity", "{c}");
    assert_eq!(c["service_account_email"], email.as_str());
    assert_eq!(c["client_email"], email.as_str());
    assert_eq!(
        t.secret_count().await,
        0,
        "no secret is stored for a keyless connector"
    );
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );

    let report = t.post_empty(&format!("{path}/test"), &t.key).await;
    assert_eq!(report.status, StatusCode::OK);
    let report = report.json();
    assert_eq!(report["success"], true, "{report}");
    let names = check_names(&report);
    assert_eq!(
        &names[..3],
        ["federation", "impersonation", "authenticate"],
        "{report}"
    );
    assert!(
        given(&impersonations().await, &email) > given(&before, &email),
        "the account's own service account was impersonated"
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
    let listed = listed.json();
    let names: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(names, ["incoming/a.mp4", "incoming/b.mov"]);

    // A job's credentials for a prefix: the service account's token, downscoped.
    let g = t
        .json(
            Method::POST,
            &format!("{path}/access"),
            &t.key,
            &json!({"purpose": "import", "prefix": "incoming", "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(
        g.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&g.body)
    );
    assert!(g.json()["credentials"]["access_token"].as_str().is_some());
    // Signed URLs: signed by IAM Credentials' signBlob as the account's service account.
    let urls = t
        .json(
            Method::POST,
            &format!("{path}/access"),
            &t.key,
            &json!({"purpose": "import", "paths": ["incoming/a.mp4", "incoming/b.mov"], "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(
        urls.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&urls.body)
    );
    let urls = urls.json();
    let http = reqwest::Client::new();
    for (i, key) in ["incoming/a.mp4", "incoming/b.mov"].iter().enumerate() {
        let url = urls["urls"][i]["url"].as_str().expect("a URL");
        assert_eq!(urls["urls"][i]["path"], *key);
        assert_signed_by(url, &email).await;
        let got = http.get(url).send().await.expect("GET");
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(got.bytes().await.expect("body").as_ref(), key.as_bytes());
    }
    assert_eq!(t.secret_count().await, 0);
}
on_every_backend!(a_keyless_gcs_connector_is_made_tested_browsed_and_vended_with_no_stored_secret);

#[tokio::test]
async fn each_account_is_given_its_own_service_account_and_keeps_it() {
    let t = TestApp::spawn().await;
    let globex = t.key_for("globex", &[KeyScope::Admin]).await;
    let email = |r: TestResponse| {
        r.json()["service_account_email"]
            .as_str()
            .map(str::to_owned)
    };
    let acme_first = email(t.get(&setup_path("media-bucket"), &t.key).await).expect("acme's");
    let globex_first = email(t.get(&setup_path("media-bucket"), &globex).await).expect("globex's");
    assert_ne!(acme_first, globex_first);
    for _ in 0..3 {
        assert_eq!(
            email(t.get(&setup_path("media-bucket"), &t.key).await).as_ref(),
            Some(&acme_first)
        );
        assert_eq!(
            email(t.get(&setup_path("media-bucket"), &globex).await).as_ref(),
            Some(&globex_first)
        );
    }
    // A second instance over the same store gives the same answers.
    let other = t.another_instance();
    assert_eq!(
        email(other.get(&setup_path("media-bucket"), &globex).await).as_ref(),
        Some(&globex_first)
    );
    // globex's connector is globex's service account, whatever it asks.
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let mut body = keyless_body(&bucket);
    body["service_account_email"] = json!(acme_first);
    let r = t
        .json(Method::POST, "/api/v2/connectors/gcs", &globex, &body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an e-mail cannot be chosen"
    );
    assert_eq!(r.error_fields(), ["service_account_email"]);
    let r = create_keyless(&t, &globex, &bucket).await;
    assert_eq!(
        r.json()["service_account_email"].as_str(),
        Some(globex_first.as_str())
    );
}

#[tokio::test]
async fn without_a_service_account_pool_setup_is_404_and_a_keyless_create_409_identity_not_configured()
 {
    let t = TestApp::spawn_reaching(ProviderSettings {
        gcs_identity: None,
        ..emulators()
    })
    .await;
    let r = t.get(&setup_path("media-bucket"), &t.key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "identity_not_configured");
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("GCS_SERVICE_ACCOUNTS"), "{message}");
    let r = create_keyless(&t, &t.key, "media-bucket").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "identity_not_configured");
    assert_eq!(t.connector_count().await, 0);

    // A key connector cannot switch either, and stays as it was.
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = Cloud::Gcs.connector(&t, &bucket, json!({})).await;
    let before = t.get(&path, &t.key).await.json();
    let r = to_workload_identity(&t, &t.key, &path).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "identity_not_configured");
    assert_eq!(t.get(&path, &t.key).await.json(), before);
    assert_eq!(t.secret_count().await, 1);
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_and_alerts_the_operator() {
    let pool = impersonable();
    let t = spawn_with_pool(&[pool[0].as_str()], None).await;
    let globex = t.key_for("globex", &[KeyScope::Admin]).await;
    assert_eq!(
        t.get(&setup_path("media-bucket"), &t.key).await.status,
        StatusCode::OK
    );
    let r = t.get(&setup_path("media-bucket"), &globex).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "identity_pool_exhausted");
    assert!(
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
    let alerted = logged_for(r.header("x-request-id").expect("request id"));
    assert!(
        alerted
            .iter()
            .any(|l| l["alert"] == "identity_pool_exhausted" && l["level"] == "ERROR"),
        "{alerted:?}"
    );
    let r = create_keyless(&t, &globex, "media-bucket").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "identity_pool_exhausted");
    assert!(r.header("retry-after").is_some());
    assert_eq!(t.connector_count().await, 0);

    // globex's key connector cannot switch to a service account either, and stays as it was.
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = Cloud::Gcs
        .connector_as(&t, &globex, &bucket, json!({}))
        .await;
    let before = t.get(&path, &globex).await.json();
    let r = to_workload_identity(&t, &globex, &path).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "identity_pool_exhausted");
    assert!(r.header("retry-after").is_some());
    assert_eq!(t.get(&path, &globex).await.json(), before);
}

#[tokio::test]
async fn a_federation_google_refuses_fails_at_federation_until_the_operator_fixes_the_pool() {
    // A pool provider the stand-in does not trust yet: the signed AWS request names it.
    let audience = own_audience();
    let t = spawn_with_pool(&[impersonable()[0].as_str()], Some(&audience)).await;
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = keyless_connector(&t, &bucket).await;
    assert_stops_at_federation(&t, &path, "federation_denied", StatusCode::BAD_REQUEST).await;

    // The operator's fix is seen by the same process: Google's refusal is not kept.
    on_provider("trust", &audience).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], true, "{report}");
    let r = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_google_sts_that_does_not_answer_fails_federation_with_timeout_in_bounded_time() {
    // A token endpoint that takes connections and never answers (no emulator can).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = silent.local_addr().expect("an address");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut identity = gcs_identity_pool(&impersonable()[..1]).expect("the Google stand-ins");
    identity.sts_url = format!("http://{address}/v1/token");
    let t = TestApp::spawn_reaching(ProviderSettings {
        gcs_identity: Some(identity),
        ..emulators()
    })
    .await;
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = keyless_connector(&t, &bucket).await;
    assert_stops_at_federation(&t, &path, "timeout", StatusCode::GATEWAY_TIMEOUT).await;
    held.abort();
}

#[tokio::test]
async fn a_service_account_the_service_may_not_act_as_fails_the_test_at_impersonation() {
    let denied = "vv-unbound@vv-pool.iam.gserviceaccount.com";
    let t = spawn_with_pool(&[denied], None).await;
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = keyless_connector(&t, &bucket).await;
    let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
    assert_eq!(report["success"], false);
    assert_eq!(
        check_names(&report),
        ["federation", "impersonation"],
        "{report}"
    );
    assert_eq!(report["checks"][1]["error"]["code"], "impersonation_denied");
    let message = report["checks"][1]["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains(denied) && message.contains("roles/iam.workloadIdentityUser"),
        "{message}"
    );
    // A dry run says the same and makes nothing.
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/gcs?dry_run=true",
            &t.key,
            &keyless_body(&bucket),
        )
        .await;
    assert_eq!(
        r.json()["success"],
        false,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(t.connector_count().await, 1);
}

#[tokio::test]
async fn signed_urls_for_a_service_account_the_service_may_not_sign_as_are_refused_naming_the_grant()
 {
    // The third service account may be impersonated but not signed as.
    let unsignable = impersonable()[2].clone();
    let t = spawn_with_pool(&[&unsignable], None).await;
    let bucket = Cloud::Gcs.bucket_with(&["incoming/a.mp4"]).await;
    let path = keyless_connector(&t, &bucket).await;
    let before = t.get(&path, &t.key).await.json();
    let r = t
        .json(
            Method::POST,
            &format!("{path}/access"),
            &t.key,
            &json!({"purpose": "import", "paths": ["incoming/a.mp4"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "impersonation_denied");
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(&unsignable) && message.contains("roles/iam.serviceAccountTokenCreator"),
        "{message}"
    );
    assert!(!message.contains("ya29."), "no token in {message}");
    // Credentials for a prefix need no signature, and the connector is as it was.
    let g = t
        .json(
            Method::POST,
            &format!("{path}/access"),
            &t.key,
            &json!({"purpose": "import", "prefix": "incoming"}),
        )
        .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(t.get(&path, &t.key).await.json(), before);
}

async fn a_patch_switches_a_key_connector_to_workload_identity_and_back(t: TestApp) {
    let bucket = Cloud::Gcs.bucket_with(&["a.mp4"]).await;
    let path = Cloud::Gcs.connector(&t, &bucket, json!({})).await;
    assert_eq!(t.secret_count().await, 1);
    let keyed = t.get(&path, &t.key).await.json();
    assert_eq!(keyed["auth_type"], "service_account_key");
    let email = keyed["service_account_email"].clone();

    let r = to_workload_identity(&t, &t.key, &path).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let c = r.json();
    assert_eq!(c["auth_type"], "workload_identity");
    assert_eq!(c["service_account_email"], impersonable()[0].as_str());
    assert_ne!(c["service_account_email"], email);
    assert_eq!(
        c["last_test_result"], "success",
        "the switch was checked: {c}"
    );
    assert_eq!(t.secret_count().await, 0, "the key's secret is gone");
    let listed = t.post_empty(&format!("{path}/browse"), &t.key).await;
    assert_eq!(listed.status, StatusCode::OK);

    let both = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"workload_identity": true, "credentials_json": service_account_json(GOOGLE_TOKEN_URI)}),
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    let back = t
        .json(
            Method::PATCH,
            &path,
            &t.key,
            &json!({"credentials_json": service_account_json(GOOGLE_TOKEN_URI)}),
        )
        .await;
    assert_eq!(
        back.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&back.body)
    );
    assert_eq!(back.json()["auth_type"], "service_account_key");
    assert_eq!(t.secret_count().await, 1);
    let history = t.get(&format!("{path}/events"), &t.key).await.json();
    let changes = history
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "credentials_changed")
        .count();
    assert_eq!(changes, 2, "{history}");
}
on_every_backend!(a_patch_switches_a_key_connector_to_workload_identity_and_back);

#[tokio::test]
async fn a_switch_to_a_service_account_the_service_may_not_act_as_is_rejected_and_changes_nothing()
{
    let t = spawn_with_pool(&["vv-unbound@vv-pool.iam.gserviceaccount.com"], None).await;
    let bucket = Cloud::Gcs.bucket_with(&[]).await;
    let path = Cloud::Gcs.connector(&t, &bucket, json!({})).await;
    let before = t.get(&path, &t.key).await;
    let secret = t.only_stored_secret().await;
    let r = to_workload_identity(&t, &t.key, &path).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "credentials_rejected");
    let report = &r.json()["error"]["details"];
    assert_eq!(
        check_names(report),
        ["federation", "impersonation"],
        "{report}"
    );
    let after = t.get(&path, &t.key).await;
    assert_eq!(after.json()["auth_type"], "service_account_key");
    assert_eq!(
        after.header("etag"),
        before.header("etag"),
        "nothing changed"
    );
    assert_eq!(
        t.only_stored_secret().await,
        secret,
        "the key is still the one in use"
    );
}

#[tokio::test]
async fn a_service_accounts_token_is_made_once_and_kept_across_tests_browses_and_grants() {
    // A service account no other test acts as, so its count is this test's alone.
    let kept = std::env::var("GOOGLE_KEPT_TOKEN_SA").expect("set by the test command");
    let t = spawn_with_pool(&[kept.as_str()], None).await;
    let bucket = Cloud::Gcs.bucket_with(&["incoming/a.mp4"]).await;
    let path = keyless_connector(&t, &bucket).await;
    let before = given(&impersonations().await, &kept);
    // Five tests at once on the cold instance share one generateAccessToken.
    let test = format!("{path}/test");
    let reports = futures_util::future::join_all((0..5).map(|_| t.post_empty(&test, &t.key))).await;
    for report in reports {
        assert_eq!(report.json()["success"], true, "{}", report.json());
    }
    assert_eq!(given(&impersonations().await, &kept), before + 1);
    super::use_repeatedly(
        &t,
        &path,
        &json!({"purpose": "import", "prefix": "incoming"}),
        3,
    )
    .await;
    assert_eq!(
        given(&impersonations().await, &kept),
        before + 1,
        "one token served every later request"
    );
}

#[tokio::test]
async fn a_federated_token_iam_credentials_stops_accepting_fails_once_retryably_then_is_made_anew()
{
    let audience = own_audience();
    on_provider("trust", &audience).await;
    let t = spawn_with_pool(&[impersonable()[0].as_str()], Some(&audience)).await;
    let bucket = Cloud::Gcs.bucket_with(&["incoming/a.mp4"]).await;
    let r = create_keyless(&t, &t.key, &bucket).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let path = format!(
        "/api/v2/connectors/{}/access",
        r.json()["connector_id"].as_str().expect("id")
    );
    let grant = json!({"purpose": "import", "paths": ["incoming/a.mp4"]});
    t.json(Method::POST, &path, &t.key, &grant)
        .await
        .assert_status(StatusCode::OK);

    // IAM Credentials stops accepting the federated token the instance holds.
    on_provider("revoke", &audience).await;
    let r = t.json(Method::POST, &path, &t.key, &grant).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "provider_unavailable");
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!message.contains("roles/"), "no grant is blamed: {message}");
    // The retry federates anew rather than sending the same token again.
    t.json(Method::POST, &path, &t.key, &grant)
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_identity_setup_needs_the_read_scope_and_no_more() {
    let t = spawn_with_pool(&[impersonable()[0].as_str()], None).await;
    let read = t.key_for("acme", &[KeyScope::Read]).await;
    let access_only = t.key_for("acme", &[KeyScope::Access]).await;
    t.get(&setup_path("media-bucket"), &read)
        .await
        .assert_status(StatusCode::OK);
    let r = t.get(&setup_path("media-bucket"), &access_only).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "insufficient_scope");
}
