//! Keys, scopes and tenant isolation.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use connectors::domain::apikey::KeyScope;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_request_without_a_key_is_a_401_authentication_required() {
    let t = TestApp::spawn().await;
    let r = t
        .send(
            t.request(Method::GET, "/api/v2/connectors", None)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "authentication_required");
}

#[tokio::test]
async fn unknown_malformed_and_revoked_keys_are_a_401_invalid_api_key() {
    let t = TestApp::spawn().await;
    let unknown = format!("sk_live_{}", "a".repeat(43));
    for key in [unknown.as_str(), "not-a-key"] {
        let r = t.get("/api/v2/connectors", key).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error_code(), "invalid_api_key");
    }
    let key = t.key_for("acme", &[KeyScope::Read]).await;
    assert_eq!(
        t.get("/api/v2/connectors", &key).await.status,
        StatusCode::OK
    );
    t.revoke_key(&key).await;
    assert_eq!(
        t.get("/api/v2/connectors", &key).await.error_code(),
        "invalid_api_key"
    );
}

#[tokio::test]
async fn a_bearer_token_is_accepted_like_x_api_key() {
    let t = TestApp::spawn().await;
    let req = t
        .request(Method::GET, "/api/v2/connectors", None)
        .header("authorization", format!("Bearer {}", t.key))
        .body(Body::empty())
        .expect("req");
    assert_eq!(t.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn scopes_are_enforced_per_endpoint() {
    let t = TestApp::spawn().await;
    let read = t.key_for("acme", &[KeyScope::Read]).await;
    let write = t.key_for("acme", &[KeyScope::Write]).await;
    let search = t.key_for("acme", &[KeyScope::Search]).await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &read,
            &s3_body(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "insufficient_scope");
    assert_eq!(
        t.get("/api/v2/connectors", &search).await.status,
        StatusCode::FORBIDDEN
    );
    let c = t.create_s3(&write, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    assert_eq!(t.get(&path, &read).await.status, StatusCode::OK);
    assert_eq!(t.delete(&path, &write).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.delete(&path, &t.key).await.status, StatusCode::OK);
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn another_accounts_connector_is_a_404_on_every_endpoint_and_is_left_untouched() {
    let t = TestApp::spawn().await;
    let c = t.create_s3(&t.key, json!({})).await;
    let id = c["connector_id"].as_str().expect("id");
    let other = t.key_for("globex", &[KeyScope::Admin]).await;
    let path = format!("/api/v2/connectors/{id}");
    assert_eq!(t.get(&path, &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.json(Method::PATCH, &path, &other, &json!({"name": "mine"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post_empty(&format!("{path}/test"), &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post_empty(&format!("{path}/browse"), &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.delete(&path, &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/api/v2/connectors", &other).await.json(), json!([]));
    assert_eq!(t.get(&path, &t.key).await.json(), c);
}

#[tokio::test]
async fn two_different_keys_in_one_request_are_refused_whichever_comes_first() {
    let t = TestApp::spawn().await;
    let revoked = t.key_for("acme", &[KeyScope::Read]).await;
    t.revoke_key(&revoked).await;
    let bearer = |k: &str| format!("Bearer {k}");
    let cases: [Vec<(&str, String)>; 4] = [
        vec![
            ("x-api-key", t.key.clone()),
            ("authorization", bearer(&revoked)),
        ],
        vec![
            ("x-api-key", revoked.clone()),
            ("authorization", bearer(&t.key)),
        ],
        vec![("x-api-key", t.key.clone()), ("x-api-key", revoked.clone())],
        vec![
            ("authorization", bearer(&t.key)),
            ("authorization", bearer(&revoked)),
        ],
    ];
    for headers in cases {
        let mut req = t.request(Method::GET, "/api/v2/connectors", None);
        for (name, value) in &headers {
            req = req.header(*name, value);
        }
        let r = t.send(req.body(Body::empty()).expect("req")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(r.error_code(), "invalid_api_key");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("more than one API key")),
            "{}",
            r.json()
        );
    }
    // The same key in both headers is one key.
    let r = t
        .send(
            t.request(Method::GET, "/api/v2/connectors", Some(&t.key))
                .header("authorization", bearer(&t.key))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}
