//! A connector's history, `GET /connectors/{id}/events`: an event for every kind of change,
//! test and grant, newest first, naming the caller's key and request and never a secret;
//! paged by `Link`; kept after a delete for an `admin` key; another account's connector
//! unknown. The provider-free cases run on both backends without emulators.

use axum::http::{Method, StatusCode};
use connectors::domain::apikey::{KeyHash, KeyScope};
use serde_json::{Value, json};

use crate::helpers::*;

/// The id of the key whose plaintext is `key`.
async fn key_id(t: &TestApp, key: &str) -> String {
    t.app
        .storage
        .api_keys
        .find_api_key(&KeyHash::of(key))
        .await
        .expect("key")
        .expect("a stored key")
        .key_id
        .clone()
}

/// Every event of `path`'s history as `key` reads it, newest first, following `Link`s.
async fn history(t: &TestApp, path: &str, key: &str, limit: usize) -> Vec<Value> {
    let mut next = Some(format!("{path}/events?limit={limit}"));
    let mut all = Vec::new();
    while let Some(page) = next.take() {
        let r = t.get(&page, key).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_no_secret_in(&String::from_utf8_lossy(&r.body));
        let items = r.json().as_array().expect("a bare array").clone();
        assert!(items.len() <= limit, "a page holds at most its limit");
        all.extend(items);
        next = r.header("link").map(|l| {
            l.trim_start_matches('<')
                .split_once('>')
                .expect("a link")
                .0
                .to_owned()
        });
    }
    all
}

/// The types of a history, oldest first.
fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .rev()
        .map(|e| e["type"].as_str().expect("a type"))
        .collect()
}

/// What was done to the connector, and the `X-Request-Id` of each request, in order.
struct Done {
    path: String,
    request_ids: Vec<String>,
}

/// Creates, renames, disables, enables, rotates unchecked and deletes an S3 connector, with
/// a write key for the PATCHes and the admin key for the rest: no provider is called.
async fn a_connector_changed_every_way_without_a_provider(t: &TestApp, writer: &str) -> Done {
    let (key, secret) = (random_key_id(), random_string(40, b"abcdefghij0123456789"));
    register_secret(&secret);
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &t.key,
            &s3_body(json!({"aws_access_key_id": key, "aws_secret_access_key": secret})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let path = format!(
        "/api/v2/connectors/{}",
        r.json()["connector_id"].as_str().expect("id")
    );
    let mut request_ids = vec![r.header("x-request-id").expect("an id").to_owned()];
    let (new_key, new_secret) = (random_key_id(), random_string(40, b"klmnopqrst0123456789"));
    register_secret(&new_secret);
    for (query, body) in [
        (
            "",
            json!({"name": "Renamed", "scopes": ["import", "export"]}),
        ),
        ("", json!({"status": "disabled"})),
        ("", json!({"status": "active"})),
        (
            "?validate=false",
            json!({"aws_access_key_id": new_key, "aws_secret_access_key": new_secret}),
        ),
    ] {
        let r = t
            .json(Method::PATCH, &format!("{path}{query}"), writer, &body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        request_ids.push(r.header("x-request-id").expect("an id").to_owned());
    }
    let r = t.delete(&path, &t.key).await;
    assert_eq!(r.status, StatusCode::OK);
    request_ids.push(r.header("x-request-id").expect("an id").to_owned());
    Done { path, request_ids }
}

/// An access key id of the AWS shape that no other test uses or registers.
fn random_key_id() -> String {
    format!(
        "AKIA{}",
        random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    )
}

/// Fails when `body` holds any registered credential.
fn assert_no_secret_in(body: &str) {
    for secret in registered_secrets() {
        assert!(!body.contains(&secret), "a secret in an event: {body}");
    }
}

async fn every_change_leaves_one_event_naming_the_key_the_request_and_the_fields(t: TestApp) {
    let writer = t.key_for("acme", &[KeyScope::Write]).await;
    let done = a_connector_changed_every_way_without_a_provider(&t, &writer).await;
    let events = history(&t, &done.path, &t.key, 50).await;
    assert_eq!(
        types(&events),
        [
            "created",
            "updated",
            "disabled",
            "enabled",
            "credentials_changed",
            "deleted"
        ]
    );
    let oldest_first: Vec<&Value> = events.iter().rev().collect();
    let (admin, write) = (key_id(&t, &t.key).await, key_id(&t, &writer).await);
    let key_ids: Vec<&str> = oldest_first
        .iter()
        .map(|e| e["key_id"].as_str().expect("a key id"))
        .collect();
    assert_eq!(key_ids, [&admin, &write, &write, &write, &write, &admin]);
    let request_ids: Vec<&str> = oldest_first
        .iter()
        .map(|e| e["request_id"].as_str().expect("a request id"))
        .collect();
    assert_eq!(request_ids, done.request_ids);
    let id = done.path.trim_start_matches("/api/v2/connectors/");
    for e in &events {
        assert_eq!(e["connector_id"], id);
        assert!(
            e["event_id"]
                .as_str()
                .is_some_and(|i| i.starts_with("evt_"))
        );
        assert!(e["at"].is_string());
    }
    assert_eq!(oldest_first[1]["fields"], json!(["name", "scopes"]));
    assert_eq!(oldest_first[2]["fields"], json!(["status"]));
    let rotated = oldest_first[4];
    assert_eq!(
        rotated["fields"],
        json!(["aws_access_key_id", "aws_secret_access_key"])
    );
    assert_eq!(rotated["result"], Value::Null, "nothing was checked");
    let (before, after) = (
        rotated["credential_hint_before"].as_str().expect("a hint"),
        rotated["credential_hint_after"].as_str().expect("a hint"),
    );
    assert!(
        before.starts_with("AKIA") && before.contains('…'),
        "{before}"
    );
    assert_ne!(before, after);
    assert_eq!(
        oldest_first[0]["credential_hint_after"], before,
        "a create names the hint it was made with"
    );
    assert_eq!(
        history(&t, &done.path, &t.key, 4).await,
        events,
        "pages of four read the same history"
    );
    assert_eq!(history(&t, &done.path, &t.key, 1).await, events);
    assert_no_leaks();
}
on_every_backend!(every_change_leaves_one_event_naming_the_key_the_request_and_the_fields);

async fn a_deleted_connectors_history_is_read_by_an_admin_key_only_and_never_by_another_account(
    t: TestApp,
) {
    let reader = t.key_for("acme", &[KeyScope::Read]).await;
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    assert_eq!(types(&history(&t, &path, &reader, 50).await), ["created"]);
    let stranger = t.key_for("globex", &[KeyScope::Admin]).await;
    let r = t.get(&format!("{path}/events"), &stranger).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another account's is unknown"
    );
    assert_eq!(r.error_code(), "connector_not_found");

    assert_eq!(t.delete(&path, &t.key).await.status, StatusCode::OK);
    let r = t.get(&format!("{path}/events"), &reader).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a read key no longer sees it"
    );
    assert_eq!(r.error_code(), "connector_not_found");
    assert_eq!(
        types(&history(&t, &path, &t.key, 50).await),
        ["created", "deleted"]
    );
    let r = t.get(&format!("{path}/events"), &stranger).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let never = "/api/v2/connectors/conn_01jd8x0k6m3q4r5s6t7v8w9xyz/events";
    assert_eq!(
        t.get(never, &t.key).await.status,
        StatusCode::NOT_FOUND,
        "a connector that never was is unknown to an admin too"
    );
}
on_every_backend!(
    a_deleted_connectors_history_is_read_by_an_admin_key_only_and_never_by_another_account
);

async fn a_bad_limit_or_cursor_is_refused_in_the_envelope(t: TestApp) {
    let c = t.create_s3(&t.key, json!({})).await;
    let path = format!(
        "/api/v2/connectors/{}/events",
        c["connector_id"].as_str().expect("id")
    );
    for query in ["limit=0", "limit=101", "limit=x", "since=yesterday"] {
        let r = t.get(&format!("{path}?{query}"), &t.key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_code(), "validation_error", "{query}");
    }
    let r = t.get(&format!("{path}?cursor=forged"), &t.key).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_cursor");
    // A cursor is bound to its connector.
    let other = t.create_s3(&t.key, json!({})).await;
    let other = format!(
        "/api/v2/connectors/{}",
        other["connector_id"].as_str().expect("id")
    );
    let r = t
        .json(Method::PATCH, &other, &t.key, &json!({"name": "Second"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let first = t.get(&format!("{other}/events?limit=1"), &t.key).await;
    let link = first.header("link").expect("a next page").to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .and_then(|c| c.split('>').next())
        .expect("a cursor");
    let r = t.get(&format!("{path}?cursor={cursor}"), &t.key).await;
    assert_eq!(r.error_code(), "invalid_cursor");
}
on_every_backend!(a_bad_limit_or_cursor_is_refused_in_the_envelope);

#[cfg(feature = "emulators")]
mod with_providers {
    //! Tests, rejected rotations and access grants: the events that call a provider.

    use axum::http::{Method, StatusCode};
    use connectors::domain::apikey::KeyScope;
    use serde_json::{Value, json};

    use super::{history, key_id, types};
    use crate::clouds::{Cloud, azure_good_secret};
    use crate::helpers::*;

    async fn tests_rejected_and_accepted_rotations_and_grants_are_each_recorded(t: TestApp) {
        let access = t.key_for("acme", &[KeyScope::Access]).await;
        let container = Cloud::Azure.bucket_with(&["a.mp4"]).await;
        let path = Cloud::Azure.connector(&t, &container, json!({})).await;
        let test = t.post_empty(&format!("{path}/test"), &t.key).await;
        assert_eq!(test.json()["success"], true, "{}", test.json());
        let before = history(&t, &path, &t.key, 50).await;

        let wrong = azure_secret();
        let r = t
            .json(
                Method::PATCH,
                &path,
                &t.key,
                &json!({"client_secret": wrong}),
            )
            .await;
        assert_eq!(r.error_code(), "credentials_rejected");
        let after_rejection = history(&t, &path, &t.key, 50).await;
        assert_eq!(
            after_rejection[1..],
            before[..],
            "the earlier events are exactly as they were"
        );
        let rejected = &after_rejection[0];
        assert_eq!(rejected["type"], "credentials_rejected");
        assert_eq!(rejected["fields"], json!(["client_secret"]));
        assert_eq!(rejected["result"], "failure");
        assert_eq!(rejected["failed_checks"], json!(["invalid_credentials"]));

        let r = t
            .json(
                Method::PATCH,
                &path,
                &t.key,
                &json!({"client_secret": azure_good_secret()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        let grant = t
            .json(
                Method::POST,
                &format!("{path}/access"),
                &access,
                &json!({"purpose": "import", "paths": ["a.mp4"]}),
            )
            .await;
        assert_eq!(grant.status, StatusCode::OK, "{}", grant.json());
        let browse = t.post_empty(&format!("{path}/browse"), &t.key).await;
        assert_eq!(browse.status, StatusCode::OK, "a browse leaves no event");

        let events = history(&t, &path, &t.key, 50).await;
        assert_eq!(
            types(&events),
            [
                "created",
                "tested",
                "credentials_rejected",
                "credentials_changed",
                "access_granted"
            ]
        );
        let tested = &events[3];
        assert_eq!(
            (&tested["result"], &tested["failed_checks"]),
            (&json!("success"), &json!([]))
        );
        let rotated = &events[1];
        assert_eq!(rotated["result"], "success", "the checks it passed");
        assert_eq!(rotated["fields"], json!(["client_secret"]));
        let granted = &events[0];
        assert_eq!(granted["key_id"], key_id(&t, &access).await);
        assert_eq!(
            granted["request_id"],
            grant.header("x-request-id").expect("an id")
        );
        assert_eq!(granted["result"], Value::Null);
        assert_no_leaks();
    }
    on_every_backend!(tests_rejected_and_accepted_rotations_and_grants_are_each_recorded);
}
