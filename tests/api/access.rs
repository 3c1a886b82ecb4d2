//! `POST /connectors/{id}/access`: who may ask, what is refused before anything is signed,
//! and what an S3 grant of signed URLs looks like (S3 presigns in process, so these run
//! without an emulator). What the URLs and credentials do on each cloud is in
//! `clouds::access`.

use axum::http::{Method, StatusCode};
use connectors::domain::apikey::KeyScope;
use connectors::domain::connector::SecretRef;
use connectors::service::App;
use connectors::service::limits::RateLimits;
use connectors::store::{SecretTags, SecretVault, VaultError};
use serde_json::{Value, json};

use crate::helpers::*;

/// An S3 connector whose key id may appear in a URL (a presigned URL carries it, never
/// the secret, which stays registered as one that must not leak).
async fn s3_connector(t: &TestApp, overrides: Value) -> String {
    let (_, secret) = s3_keys();
    let mut body = json!({
        "aws_access_key_id": "AKIAPRESIGNEXAMPLE01",
        "aws_secret_access_key": secret,
        "export_base_path": "exports/review",
        "scopes": ["import", "export"],
    });
    if let (Some(b), Some(o)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    let created = t.create_s3(&t.key, body).await;
    format!(
        "/api/v2/connectors/{}/access",
        created["connector_id"].as_str().expect("an id")
    )
}

/// Asserts that `r` is a 422 naming `field` alone.
fn assert_refuses(r: &TestResponse, field: &str, context: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{context}: {}",
        r.json()
    );
    assert_eq!(fields(r), vec![field], "{context}");
}

async fn ask(t: &TestApp, path: &str, key: &str, body: Value) -> TestResponse {
    t.json(Method::POST, path, key, &body).await
}

fn fields(r: &TestResponse) -> Vec<String> {
    r.json()["error"]["details"]["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn only_access_or_admin_keys_may_ask_and_read_or_write_keys_are_403(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let body = json!({"purpose": "import", "paths": ["a.mp4"]});
    for scopes in [vec![KeyScope::Read], vec![KeyScope::Write]] {
        let key = t.key_for("acme", &scopes).await;
        let r = ask(&t, &path, &key, body.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{scopes:?}");
        assert_eq!(r.json()["error"]["code"], "insufficient_scope");
    }
    let access = t.key_for("acme", &[KeyScope::Access]).await;
    assert_eq!(
        ask(&t, &path, &access, body.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(ask(&t, &path, &t.key, body).await.status, StatusCode::OK);
    // An access key alone reads nothing else.
    assert_eq!(
        t.get("/api/v2/connectors", &access).await.status,
        StatusCode::FORBIDDEN
    );
}
on_every_backend!(only_access_or_admin_keys_may_ask_and_read_or_write_keys_are_403);

async fn another_accounts_connector_is_answered_as_an_unknown_one(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let other = t.key_for("globex", &[KeyScope::Admin]).await;
    let r = ask(
        &t,
        &path,
        &other,
        json!({"purpose": "import", "paths": ["a.mp4"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "connector_not_found");
}
on_every_backend!(another_accounts_connector_is_answered_as_an_unknown_one);

async fn a_purpose_outside_the_connectors_scopes_is_409(t: TestApp) {
    let path = s3_connector(&t, json!({"scopes": ["import"], "export_base_path": null})).await;
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "export", "paths": ["a.json"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "scope_not_granted");
}
on_every_backend!(a_purpose_outside_the_connectors_scopes_is_409);

async fn a_disabled_connector_grants_nothing_whatever_is_asked(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let one = path.trim_end_matches("/access").to_owned();
    let r = t
        .json(Method::PATCH, &one, &t.key, &json!({"status": "disabled"}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    for body in [
        json!({"purpose": "import", "paths": ["a.mp4"]}),
        json!({"purpose": "export", "paths": ["a.json"]}),
        json!({"purpose": "import", "ttl_seconds": 900}),
        json!({"purpose": "export"}),
    ] {
        let r = ask(&t, &path, &t.key, body.clone()).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{body}");
        assert_eq!(r.json()["error"]["code"], "connector_disabled", "{body}");
    }
}
on_every_backend!(a_disabled_connector_grants_nothing_whatever_is_asked);

/// Every spelling of leaving the boundary that `export_base_path` refuses.
const TRAVERSALS: [&str; 14] = [
    "..",
    "../x",
    "a/../b",
    "./a",
    "/abs",
    "a//b",
    "a\\b",
    "a/%2e%2e/b",
    "%2E%2e",
    "a/\u{ff0e}\u{ff0e}/b",
    "\u{2025}/b",
    "%EF%BC%8E",
    "a\u{0}b",
    "a/\nb",
];

async fn the_traversal_corpus_is_422_in_prefix_subpath_and_paths(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    for bad in TRAVERSALS {
        for (purpose, field) in [("export", "subpath"), ("import", "prefix")] {
            let r = ask(&t, &path, &t.key, json!({"purpose": purpose, field: bad})).await;
            assert_refuses(&r, field, &format!("{bad:?}"));
        }
        for purpose in ["import", "export"] {
            let r = ask(
                &t,
                &path,
                &t.key,
                json!({"purpose": purpose, "paths": ["fine.mp4", bad]}),
            )
            .await;
            assert_refuses(&r, "paths[1]", &format!("{bad:?}"));
        }
    }
}
on_every_backend!(the_traversal_corpus_is_422_in_prefix_subpath_and_paths);

async fn a_prefix_too_long_for_an_s3_session_policy_is_422_yet_signs_urls(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    // 1000 bytes is a valid prefix, but twice over in a session policy passes STS's 2048.
    let long = format!("{}/", "p".repeat(999));
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "prefix": long}),
    )
    .await;
    assert_refuses(&r, "prefix", "a prefix too long for a policy");
    assert!(
        r.json()["error"]["message"].to_string().contains("2048"),
        "{}",
        r.json()
    );
    // Stored keys presign without a policy: the same prefix is fine for URLs.
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "prefix": long, "paths": ["a.mp4"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
}
on_every_backend!(a_prefix_too_long_for_an_s3_session_policy_is_422_yet_signs_urls);

async fn ttl_bounds_and_path_counts_are_enforced_never_clamped(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    for ttl in [json!(59), json!(3601), json!(0), json!(90.5), json!("900")] {
        let r = ask(
            &t,
            &path,
            &t.key,
            json!({"purpose": "import", "paths": ["a.mp4"], "ttl_seconds": ttl}),
        )
        .await;
        assert_refuses(&r, "ttl_seconds", &ttl.to_string());
    }
    let many: Vec<String> = (0..1001).map(|i| format!("f{i}.mp4")).collect();
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "paths": many}),
    )
    .await;
    assert_refuses(&r, "paths", "1001 paths");
    // S3 credentials last at least STS's 900 s: fewer is refused, not stretched.
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "ttl_seconds": 600}),
    )
    .await;
    assert_refuses(&r, "ttl_seconds", "S3 credentials for 600 s");
}
on_every_backend!(ttl_bounds_and_path_counts_are_enforced_never_clamped);

async fn export_urls_are_signed_under_the_boundary_and_subpath_one_per_path(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let thousand: Vec<String> = (0..1000).map(|i| format!("cuts/{i:04}.json")).collect();
    let before = connectors::domain::timestamp::Timestamp::now().unix();
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "export", "subpath": "run-7", "paths": thousand, "ttl_seconds": 120}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let grant = r.json();
    assert_eq!(grant["provider"], "s3");
    assert_eq!(grant["purpose"], "export");
    assert_eq!(grant["bucket"], "media-archive");
    assert_eq!(grant["container"], Value::Null);
    assert_eq!(grant["prefix"], "exports/review/run-7/");
    assert_eq!(grant["permissions"], json!(["write"]));
    assert_eq!(grant["credentials"], Value::Null);
    let expires = connectors::domain::timestamp::Timestamp::parse(
        grant["expires_at"].as_str().expect("expires_at"),
    )
    .expect("RFC 3339")
    .unix();
    assert!(
        (before + 119..=before + 125).contains(&expires),
        "{expires} vs {before}"
    );
    let urls = grant["urls"].as_array().expect("urls");
    assert_eq!(urls.len(), 1000);
    assert_eq!(urls[7]["path"], "exports/review/run-7/cuts/0007.json");
    assert_eq!(urls[7]["method"], "PUT");
    let url = urls[7]["url"].as_str().expect("a url");
    assert!(
        url.contains("/exports/review/run-7/cuts/0007.json?"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=120"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
}
on_every_backend!(export_urls_are_signed_under_the_boundary_and_subpath_one_per_path);

async fn an_import_prefix_gets_a_trailing_slash_and_keys_are_encoded_once(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "prefix": "incoming/2026", "paths": ["04/a b+c%.mp4"]}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let grant = r.json();
    assert_eq!(grant["prefix"], "incoming/2026/");
    assert_eq!(grant["permissions"], json!(["read"]));
    assert_eq!(grant["urls"][0]["path"], "incoming/2026/04/a b+c%.mp4");
    assert_eq!(grant["urls"][0]["method"], "GET");
    let url = grant["urls"][0]["url"].as_str().expect("a url");
    assert!(url.contains("/incoming/2026/04/a%20b%2Bc%25.mp4?"), "{url}");
}
on_every_backend!(an_import_prefix_gets_a_trailing_slash_and_keys_are_encoded_once);

#[tokio::test]
async fn credentials_for_an_s3_compatible_endpoint_are_409_saying_to_send_paths() {
    use connectors::providers::ProviderSettings;
    use connectors::providers::egress::EgressPolicy;
    use connectors::providers::s3::S3Settings;
    let t = TestApp::spawn_reaching(ProviderSettings {
        s3: S3Settings {
            egress: EgressPolicy::parse(&["127.0.0.1".to_owned()]).expect("valid"),
            ..S3Settings::default()
        },
        ..ProviderSettings::default()
    })
    .await;
    let path = s3_connector(
        &t,
        json!({"endpoint_url": "https://127.0.0.1:9000", "region": "auto"}),
    )
    .await;
    // Refused as unsupported before any TTL rule of AWS's STS is applied to it.
    let r = ask(
        &t,
        &path,
        &t.key,
        json!({"purpose": "import", "ttl_seconds": 600}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["error"]["code"], "access_not_supported");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("paths")),
        "{}",
        r.json()
    );
}

async fn grants_past_an_accounts_limit_are_a_429(t: TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let mut app = App::clone(&t.app);
    app.limits = RateLimits {
        tests: 0,
        browses: 0,
        creates: 0,
        accesses: 1,
    };
    let t = t.with_app(app);
    let body = json!({"purpose": "import", "paths": ["a.mp4"]});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = ask(&t, &path, &t.key, body.clone()).await;
        if r.status == StatusCode::OK {
            assert_eq!(r.header("ratelimit-policy"), Some("\"access\";q=1;w=60"));
        }
        statuses.push(r.status);
    }
    // One window holds at most one grant (a minute may turn between the calls).
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
on_every_backend!(grants_past_an_accounts_limit_are_a_429);

/// The key id a presigned S3 URL was signed with.
fn signing_key_id(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("X-Amz-Credential=")?;
    rest.split("%2F").next()
}

async fn grants_racing_a_rotation_that_moves_the_boundary_see_one_record_whole(t: TestApp) {
    let t = unlimited(t);
    let path = s3_connector(&t, json!({})).await;
    let connector = path.trim_end_matches("/access").to_owned();
    // Unchecked: the race is between grants and the record, whatever a check would say.
    let unchecked = format!("{connector}?validate=false");
    let mut bases = std::collections::HashMap::new();
    // Each key id: the boundary and the status of the record that held it.
    bases.insert(
        "AKIAPRESIGNEXAMPLE01".to_owned(),
        ("exports/review/".to_owned(), false),
    );
    let mut granted = 0;
    for round in 0..40 {
        // A key id may show in a URL; only the secret must never leak.
        let (key_id, secret) = (format!("AKIARACE{round:012}"), s3_keys().1);
        let base = format!("exports/r{round}/");
        // Every third rotation also disables the connector, and the next enables it again.
        let disabled = round % 3 == 0;
        let status = if disabled { "disabled" } else { "active" };
        bases.insert(key_id.clone(), (base.clone(), disabled));
        let rotation = json!({
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret,
            "export_base_path": base,
            "status": status,
        });
        let body = json!({"purpose": "export", "paths": ["cut.json"]});
        let grants =
            futures_util::future::join_all((0..3).map(|_| ask(&t, &path, &t.key, body.clone())));
        let (answers, rotated) =
            tokio::join!(grants, t.json(Method::PATCH, &unchecked, &t.key, &rotation));
        assert_eq!(
            rotated.status,
            StatusCode::OK,
            "round {round}: {}",
            rotated.json()
        );
        for r in answers {
            match r.status {
                StatusCode::OK => {
                    let grant = r.json();
                    let url = grant["urls"][0]["url"].as_str().expect("a url");
                    let key_id = signing_key_id(url).expect("a credential");
                    let (base, disabled) = bases.get(key_id).expect("a key this test set");
                    assert!(
                        !disabled,
                        "round {round}: a disabled record's keys signed {url}"
                    );
                    // The prefix and the URL come from the record whose keys signed it.
                    assert_eq!(
                        grant["prefix"].as_str(),
                        Some(base.as_str()),
                        "round {round}"
                    );
                    assert!(
                        url.contains(&format!("{base}cut.json")),
                        "round {round}: {url}"
                    );
                    granted += 1;
                }
                StatusCode::CONFLICT => {
                    assert_eq!(
                        r.json()["error"]["code"],
                        "connector_disabled",
                        "round {round}"
                    );
                }
                other => panic!("round {round}: {other} {}", r.json()),
            }
        }
    }
    assert!(granted > 0, "no grant was answered while rotations ran");
}
on_every_backend!(grants_racing_a_rotation_that_moves_the_boundary_see_one_record_whole);

/// A vault that, on the first read it serves, lets `rotation` land through another app on
/// the same data and then answers that the version read is gone: what a grant meets when a
/// PATCH lands between its read of the record and its read of the secret.
struct RotatedUnderfoot {
    inner: std::sync::Arc<dyn SecretVault>,
    others: connectors::http::Api,
    rotation: tokio::sync::Mutex<Option<axum::http::Request<axum::body::Body>>>,
}

#[async_trait::async_trait]
impl SecretVault for RotatedUnderfoot {
    async fn put(
        &self,
        name: &str,
        value: &secrecy::SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError> {
        self.inner.put(name, value, tags).await
    }
    async fn get(&self, reference: &SecretRef) -> Result<secrecy::SecretString, VaultError> {
        let rotation = self.rotation.lock().await.take();
        if let Some(request) = rotation {
            use tower::ServiceExt;
            let answer = self
                .others
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            assert_eq!(answer.status(), StatusCode::OK, "the rotation landed");
            return Err(VaultError::NotFound);
        }
        self.inner.get(reference).await
    }
    async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError> {
        self.inner.delete_version(reference).await
    }
    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        self.inner.delete(name).await
    }
    async fn names(&self) -> Result<Vec<String>, VaultError> {
        self.inner.names().await
    }
}

/// Grants an export of one path of a new connector while `change` (a PATCH body) lands
/// under the grant; `t` is handed back as it was.
async fn grant_while_patched(t: TestApp, change: Value) -> (TestResponse, TestApp) {
    let path = s3_connector(&t, json!({})).await;
    let connector = path.trim_end_matches("/access");
    // Unchecked: what lands under the grant is the record, whatever a check would say.
    let rotation = axum::http::Request::patch(format!("{connector}?validate=false"))
        .header("x-api-key", &t.key)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(change.to_string()))
        .expect("a request");
    let original = App::clone(&t.app);
    let mut app = App::clone(&t.app);
    app.storage.vault = std::sync::Arc::new(RotatedUnderfoot {
        inner: std::sync::Arc::clone(&t.app.storage.vault),
        others: connectors::http::api(std::sync::Arc::clone(&t.app)),
        rotation: tokio::sync::Mutex::new(Some(rotation)),
    });
    let racing = t.with_app(app);
    let body = json!({"purpose": "export", "paths": ["cut.json"]});
    let answer = ask(&racing, &path, &racing.key, body).await;
    (answer, racing.with_app(original))
}

async fn a_grant_under_a_rotation_checks_and_signs_with_the_new_record_whole(t: TestApp) {
    let (key_id, secret) = ("AKIAROTATEDUNDERFOOT", s3_keys().1);
    let (r, t) = grant_while_patched(
        t,
        json!({"aws_access_key_id": key_id, "aws_secret_access_key": secret,
               "export_base_path": "exports/moved"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let url = r.json()["urls"][0]["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    assert_eq!(signing_key_id(&url), Some(key_id), "{url}");
    assert_eq!(r.json()["prefix"], "exports/moved/");
    assert!(url.contains("/exports/moved/cut.json?"), "{url}");
    // A rotation that disables the connector, or takes away the scope, refuses the grant.
    let (r, t) = grant_while_patched(
        t,
        json!({"aws_access_key_id": "AKIAROTATEDDISABLEDA", "aws_secret_access_key": s3_keys().1,
               "status": "disabled"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json());
    assert_eq!(r.json()["error"]["code"], "connector_disabled");
    let (r, _) = grant_while_patched(
        t,
        json!({"aws_access_key_id": "AKIAROTATEDNOEXPORTA", "aws_secret_access_key": s3_keys().1,
               "scopes": ["import"], "export_base_path": null}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json());
    assert_eq!(r.json()["error"]["code"], "scope_not_granted");
}
on_every_backend!(a_grant_under_a_rotation_checks_and_signs_with_the_new_record_whole);
