//! The API as a hostile or careless client uses it: every endpoint without a key, with a
//! malformed, revoked, expired or too-small key, and against another account's connector;
//! then paths, bodies and headers no client should send. Every case checks the documented
//! status and code, the envelope's `request_id` against `X-Request-Id`, and that nothing
//! stored changed.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::domain::timestamp::Timestamp;
use serde_json::{Value, json};

use crate::helpers::*;

/// One of the operations, with a body that would succeed.
struct Endpoint {
    method: Method,
    /// The path, with `{id}` where the connector's id goes.
    path: &'static str,
    body: Option<(&'static str, Vec<u8>)>,
    /// A scope just below the one the endpoint needs.
    too_small: KeyScope,
}

const BOUNDARY: &str = "adversarial-boundary";

fn endpoints() -> Vec<Endpoint> {
    let json_body = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let key_file = service_account_json(GOOGLE_TOKEN_URI).to_string();
    let gcs = multipart(
        BOUNDARY,
        &[("name", "Adversarial GCS"), ("bucket", "media-archive")],
        Some(key_file.as_bytes()),
    );
    vec![
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/s3",
            body: json_body(s3_body(json!({}))),
            too_small: KeyScope::Read,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/gcs",
            body: Some(("multipart/form-data; boundary=adversarial-boundary", gcs)),
            too_small: KeyScope::Read,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/azure",
            body: json_body(azure_body()),
            too_small: KeyScope::Read,
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v2/connectors",
            body: None,
            too_small: KeyScope::Search,
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v2/connectors/{id}",
            body: None,
            too_small: KeyScope::Search,
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v2/connectors/{id}/events",
            body: None,
            too_small: KeyScope::Search,
        },
        Endpoint {
            method: Method::PATCH,
            path: "/api/v2/connectors/{id}",
            body: json_body(json!({"name": "Renamed"})),
            too_small: KeyScope::Read,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/{id}/test",
            body: None,
            too_small: KeyScope::Read,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/{id}/browse",
            body: json_body(json!({"pattern": "*.mp4"})),
            too_small: KeyScope::Search,
        },
        Endpoint {
            method: Method::DELETE,
            path: "/api/v2/connectors/{id}",
            body: None,
            too_small: KeyScope::Write,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connectors/{id}/access",
            body: json_body(json!({"purpose": "import", "paths": ["a.mp4"]})),
            // Write is below admin, and does not include access.
            too_small: KeyScope::Write,
        },
    ]
}

impl Endpoint {
    fn targets_a_connector(&self) -> bool {
        self.path.contains("{id}")
    }

    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn request(&self, t: &TestApp, id: &str, key: Option<&str>) -> axum::http::Request<Body> {
        let mut r = t.request(self.method.clone(), &self.path.replace("{id}", id), key);
        if let Some((content_type, _)) = &self.body {
            r = r.header("content-type", *content_type);
        }
        let body = self
            .body
            .as_ref()
            .map_or_else(Body::empty, |(_, b)| Body::from(b.clone()));
        r.body(body).expect("request")
    }
}

/// What the store holds: every connector as its owner reads it, and the secrets.
async fn stored(t: &TestApp) -> (Vec<String>, usize) {
    let mut all: Vec<String> = t
        .app
        .storage
        .connectors
        .all_connectors()
        .await
        .expect("all connectors")
        .iter()
        .map(|c| serde_json::to_string(c).expect("json"))
        .collect();
    all.sort();
    (all, t.secret_count().await)
}

/// An app with one connector of `acme`'s on a real bucket name, and its id.
async fn with_connector() -> (TestApp, String) {
    let t = TestApp::spawn().await;
    let c = t
        .create_s3(&t.key, json!({"scopes": ["import", "export"]}))
        .await;
    let id = c["connector_id"].as_str().expect("id").to_owned();
    (t, id)
}

/// Sends the request and checks the status, the code and the envelope.
async fn refused(
    t: &TestApp,
    request: axum::http::Request<Body>,
    status: StatusCode,
    code: &str,
    case: &str,
) -> TestResponse {
    let r = t.send(request).await;
    assert_eq!(
        r.status,
        status,
        "{case}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.error_code(), code, "{case}");
    r
}

#[tokio::test]
async fn every_endpoint_refuses_a_missing_malformed_revoked_expired_or_too_small_key_and_changes_nothing()
 {
    let (t, id) = with_connector().await;
    let revoked = t.key_for("acme", &[KeyScope::Admin]).await;
    t.revoke_key(&revoked).await;
    let expired = ApiKeyRecord::mint(
        TenantId::parse("acme").expect("tenant"),
        vec![KeyScope::Admin],
        Some(Timestamp::now().plus_seconds(-60)),
    );
    t.app
        .storage
        .api_keys
        .put_api_key(&expired.record)
        .await
        .expect("store key");
    let before = stored(&t).await;
    for e in endpoints() {
        let small = t.key_for("acme", &[e.too_small]).await;
        let cases: [(Option<&str>, StatusCode, &str, &str); 6] = [
            (
                None,
                StatusCode::UNAUTHORIZED,
                "authentication_required",
                "no key",
            ),
            (
                Some("sk_live_not-a-key"),
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "malformed key",
            ),
            (
                Some("sk_live_\u{e9}\u{ff}"),
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "non-ASCII key",
            ),
            (
                Some(&revoked),
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "revoked key",
            ),
            (
                Some(expired.reveal()),
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "expired key",
            ),
            (
                Some(&small),
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "scope too small",
            ),
        ];
        for (key, status, code, case) in cases {
            let request = match key {
                // A header value that is not ASCII cannot be built from text; send its bytes.
                Some(k) if !k.is_ascii() => {
                    let mut r = e.request(&t, &id, None);
                    r.headers_mut().insert(
                        "x-api-key",
                        axum::http::HeaderValue::from_bytes(k.as_bytes()).expect("bytes"),
                    );
                    r
                }
                k => e.request(&t, &id, k),
            };
            refused(
                &t,
                request,
                status,
                code,
                &format!("{} with {case}", e.label()),
            )
            .await;
        }
    }
    assert_eq!(stored(&t).await, before, "nothing changed");
}

#[tokio::test]
async fn another_accounts_connector_is_answered_exactly_as_an_unknown_id_on_every_endpoint() {
    let (t, id) = with_connector().await;
    let other = t.key_for("globex", &[KeyScope::Admin]).await;
    let unknown = format!("conn_{}", ulid::Ulid::new().to_string().to_lowercase());
    let before = stored(&t).await;
    for e in endpoints()
        .into_iter()
        .filter(Endpoint::targets_a_connector)
    {
        let foreign = refused(
            &t,
            e.request(&t, &id, Some(&other)),
            StatusCode::NOT_FOUND,
            "connector_not_found",
            &e.label(),
        )
        .await;
        let missing = refused(
            &t,
            e.request(&t, &unknown, Some(&other)),
            StatusCode::NOT_FOUND,
            "connector_not_found",
            &e.label(),
        )
        .await;
        let message = |r: &TestResponse, id: &str| {
            r.json()["error"]["message"]
                .as_str()
                .expect("message")
                .replace(id, "{id}")
        };
        assert_eq!(
            message(&foreign, &id),
            message(&missing, &unknown),
            "{}",
            e.label()
        );
        assert_eq!(
            foreign.json()["error"]["details"],
            missing.json()["error"]["details"]
        );
        let headers = |r: &TestResponse| {
            let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(headers(&foreign), headers(&missing), "{}", e.label());
    }
    assert_eq!(stored(&t).await, before, "nothing changed");
}

/// Export paths that escape, hide a traversal, or are not plain text.
fn hostile_export_paths() -> Vec<(&'static str, String)> {
    vec![
        ("parent", "..".into()),
        ("parent inside", "a/../b".into()),
        ("current", "a/./b".into()),
        ("absolute", "/abs".into()),
        ("empty segment", "a//b".into()),
        ("backslash", "a\\b".into()),
        ("encoded parent", "a/%2e%2e/b".into()),
        ("encoded parent, mixed case", "%2E%2e".into()),
        ("half-encoded parent", ".%2e/b".into()),
        ("full-width parent", "a/\u{ff0e}\u{ff0e}/b".into()),
        ("two-dot leader", "a/\u{2025}/b".into()),
        ("NUL", "a\u{0}b".into()),
        ("control character", "a\u{7}b".into()),
        ("DEL", "a\u{7f}b".into()),
        ("1,025 bytes", "a".repeat(1025)),
        ("empty", String::new()),
    ]
}

#[tokio::test]
async fn hostile_export_paths_are_a_422_naming_the_field_on_create_and_patch_and_change_nothing() {
    let (t, id) = with_connector().await;
    let before = stored(&t).await;
    for (case, path) in hostile_export_paths() {
        let body = s3_body(json!({"scopes": ["import", "export"], "export_base_path": path}));
        let create = t
            .request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let r = refused(
            &t,
            create,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            case,
        )
        .await;
        assert_eq!(r.error_fields(), ["export_base_path"], "{case}");
        let patch = t
            .request(
                Method::PATCH,
                &format!("/api/v2/connectors/{id}"),
                Some(&t.key),
            )
            .header("content-type", "application/json")
            .body(Body::from(json!({"export_base_path": path}).to_string()))
            .expect("request");
        let r = refused(
            &t,
            patch,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            case,
        )
        .await;
        assert_eq!(r.error_fields(), ["export_base_path"], "{case}");
    }
    assert_eq!(stored(&t).await, before, "nothing changed");
}

#[tokio::test]
async fn an_export_path_in_any_unicode_form_without_a_dot_segment_is_kept_byte_for_byte() {
    let t = TestApp::spawn().await;
    // "café" decomposed (e + combining acute), and a segment that merely contains dots.
    let path = "exports/cafe\u{301}/v1..2/";
    let c = t
        .create_s3(
            &t.key,
            json!({"scopes": ["import", "export"], "export_base_path": path}),
        )
        .await;
    assert_eq!(c["export_base_path"], path);
}

fn raw(
    t: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> axum::http::Request<Body> {
    t.request(method, path, Some(&t.key))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn hostile_json_bodies_get_their_documented_error_and_create_nothing() {
    let (t, id) = with_connector().await;
    let before = stored(&t).await;
    let mut deep = "[".repeat(10_000);
    deep.push_str(&"]".repeat(10_000));
    let mut big = s3_body(json!({})).to_string().into_bytes();
    big.truncate(big.len() - 1);
    big.extend(format!(",\"name\":\"{}\"}}", "n".repeat(64 * 1024)).into_bytes());
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "invalid UTF-8",
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "deep nesting",
            deep.into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "not an object",
            b"[1, 2, 3]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "duplicate keys",
            br#"{"name": "a", "name": "b", "bucket": "media-archive", "region": "us-east-1"}"#
                .to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "wrong types",
            s3_body(json!({"name": 7, "scopes": "import"}))
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        ),
        (
            "64 KiB + 1",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "empty",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ];
    for (case, body, status, code) in cases {
        let r = raw(
            &t,
            Method::POST,
            "/api/v2/connectors/s3",
            "application/json",
            body.clone(),
        );
        refused(&t, r, status, code, &format!("create: {case}")).await;
        let r = raw(
            &t,
            Method::PATCH,
            &format!("/api/v2/connectors/{id}"),
            "application/json",
            body,
        );
        let r = t.send(r).await;
        assert!(r.status.is_client_error(), "patch: {case}: {}", r.status);
        r.error_code();
    }
    assert_eq!(stored(&t).await, before, "nothing changed");
}

#[tokio::test]
async fn hostile_key_files_are_a_422_naming_the_file_and_create_nothing() {
    let t = TestApp::spawn().await;
    let pkcs1 = private_key_pem().replace("PRIVATE KEY-----", "RSA PRIVATE KEY-----");
    let mut pkcs1_file = service_account_json(GOOGLE_TOKEN_URI);
    pkcs1_file["private_key"] = json!(pkcs1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"this is not json".to_vec()),
        ("a PKCS#1 key", pkcs1_file.to_string().into_bytes()),
        (
            "a token_uri at 127.0.0.1",
            service_account_json("http://127.0.0.1:8080/token")
                .to_string()
                .into_bytes(),
        ),
        (
            "a token_uri at the metadata address",
            service_account_json("http://169.254.169.254/token")
                .to_string()
                .into_bytes(),
        ),
        ("an empty file", Vec::new()),
    ];
    for (case, file) in cases {
        let body = multipart(
            BOUNDARY,
            &[("name", "GCS"), ("bucket", "media-archive")],
            Some(&file),
        );
        let r = raw(
            &t,
            Method::POST,
            "/api/v2/connectors/gcs",
            "multipart/form-data; boundary=adversarial-boundary",
            body,
        );
        let r = refused(
            &t,
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            case,
        )
        .await;
        assert_eq!(r.error_fields(), ["credentials_file"], "{case}");
    }
    assert_eq!(t.connector_count().await, 0);
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn hostile_headers_and_cursors_are_refused_and_change_nothing() {
    let (t, id) = with_connector().await;
    let path = format!("/api/v2/connectors/{id}");
    let create = |key: &[u8]| {
        let mut r = raw(
            &t,
            Method::POST,
            "/api/v2/connectors/s3",
            "application/json",
            s3_body(json!({})).to_string().into_bytes(),
        );
        r.headers_mut().insert(
            "idempotency-key",
            axum::http::HeaderValue::from_bytes(key).expect("bytes"),
        );
        r
    };
    for (case, key) in [
        ("an Idempotency-Key of 256 characters", vec![b'k'; 256]),
        ("an Idempotency-Key with a tab", b"key\tone".to_vec()),
        ("a non-ASCII Idempotency-Key", "clé".as_bytes().to_vec()),
    ] {
        let r = refused(
            &t,
            create(&key),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            case,
        )
        .await;
        assert_eq!(r.error_fields(), ["Idempotency-Key"], "{case}");
    }
    for (case, tag) in [
        ("a garbage If-Match", "garbage"),
        ("a quoted wrong If-Match", "\"not-the-etag\""),
        ("a weak If-Match", "W/\"x\""),
    ] {
        let mut patch = raw(
            &t,
            Method::PATCH,
            &path,
            "application/json",
            json!({"name": "Renamed"}).to_string().into_bytes(),
        );
        patch
            .headers_mut()
            .insert("if-match", tag.parse().expect("header"));
        refused(
            &t,
            patch,
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            case,
        )
        .await;
        let mut delete = t
            .request(Method::DELETE, &path, Some(&t.key))
            .body(Body::empty())
            .expect("request");
        delete
            .headers_mut()
            .insert("if-match", tag.parse().expect("header"));
        refused(
            &t,
            delete,
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            case,
        )
        .await;
    }
    // A real cursor of another account's, one altered by a character, and noise.
    let other = t.key_for("globex", &[KeyScope::Admin]).await;
    for _ in 0..2 {
        t.create_s3(&other, json!({})).await;
    }
    let first = t.get("/api/v2/connectors?limit=1", &other).await;
    let link = first
        .header("x-next-cursor")
        .or(first.header("link"))
        .expect("a next page")
        .to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .map(|c| c.split(['>', '&', ';']).next().unwrap_or(c))
        .unwrap_or(&link)
        .to_owned();
    let mut altered = cursor.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let before = stored(&t).await;
    for (case, c) in [
        ("a foreign cursor", cursor.as_str()),
        ("an altered cursor", &altered),
        ("noise", "not-a-cursor"),
    ] {
        let list = t
            .request(
                Method::GET,
                &format!("/api/v2/connectors?cursor={c}"),
                Some(&t.key),
            )
            .body(Body::empty())
            .expect("request");
        refused(&t, list, StatusCode::BAD_REQUEST, "invalid_cursor", case).await;
        let browse = raw(
            &t,
            Method::POST,
            &format!("{path}/browse"),
            "application/json",
            json!({"cursor": c}).to_string().into_bytes(),
        );
        refused(&t, browse, StatusCode::BAD_REQUEST, "invalid_cursor", case).await;
    }
    assert_eq!(stored(&t).await, before, "nothing changed");
}

#[tokio::test]
async fn pathological_browse_patterns_are_refused_before_any_provider_call() {
    // The connector's bucket does not exist anywhere: a pattern that got past validation
    // would reach the provider and fail differently.
    let (t, id) = with_connector().await;
    let path = format!("/api/v2/connectors/{id}/browse");
    let patterns = [
        "{".repeat(130) + &"}".repeat(130),
        format!("{{{}}}", vec!["a"; 200].join(",")),
        "**/".repeat(20) + "*",
        "[".repeat(600),
        "a".repeat(1025),
        "*\u{0}*".into(),
    ];
    for pattern in patterns {
        let r = t
            .json(Method::POST, &path, &t.key, &json!({"pattern": pattern}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code(), "validation_error");
        assert_eq!(r.error_fields(), ["pattern"]);
        assert!(
            r.body.len() < 1024,
            "the answer does not repeat the pattern"
        );
    }
}
