//! Requests that once reached a panic, sent to the shipped build. The release profile aborts
//! on a panic, so one such request would end the whole process: each case must answer in
//! the envelope, and the server must keep serving afterwards.
//!
//! The binary is the one `CONNECTORS_RELEASE_BIN` names (the test command builds it with
//! `cargo build --release`); without it, the test-profile binary stands in, which unwinds
//! instead of aborting but still loses the request, so the assertions hold either way.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::restart::{create_over_http, serve_with};

fn shipped_binary() -> PathBuf {
    match std::env::var_os("CONNECTORS_RELEASE_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            eprintln!(
                "CONNECTORS_RELEASE_BIN is not set: using the test-profile binary, which \
                 unwinds on a panic; `bash infra/test.sh` sets it to the release build"
            );
            PathBuf::from(env!("CARGO_BIN_EXE_connectors"))
        }
    }
}

/// `{{{…{a,b},b}…,b}`: braces nested `depth` deep.
fn nested_braces(depth: usize) -> String {
    let mut p = "a".to_owned();
    for _ in 0..depth {
        p = format!("{{{p},b}}");
    }
    p
}

#[tokio::test]
async fn a_pathological_browse_pattern_gets_a_422_from_the_release_build_which_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_with(&shipped_binary(), dir.path(), &[]);
    let key = server
        .key
        .clone()
        .expect("the first run prints an admin key");
    let http = reqwest::Client::new();
    let created = create_over_http(&server.base, &key, json!({})).await;
    let id = created["connector_id"].as_str().expect("an id").to_owned();

    let crashing = nested_braces(130);
    assert_eq!(
        crashing.len(),
        521,
        "the reported pattern: 130 deep, inside 1024 bytes"
    );
    let patterns = [
        crashing,
        nested_braces(124),
        nested_braces(255),
        format!("*.{{{}}}", vec!["mp4"; 250].join(",")),
        "**/".repeat(300),
        "{".repeat(1000),
        format!("{}a{}", "{a,".repeat(200), "}".repeat(200)),
    ];
    for pattern in &patterns {
        let sent = http
            .post(format!("{}/api/v2/connectors/{id}/browse", server.base))
            .header("X-API-Key", &key)
            .json(&json!({ "pattern": pattern }))
            .send()
            .await;
        let answer =
            sent.unwrap_or_else(|e| panic!("no answer to a {}-byte pattern: {e}", pattern.len()));
        assert_eq!(answer.status(), 422, "a {}-byte pattern", pattern.len());
        let request_id = answer
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = answer.json().await.expect("the envelope");
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["details"]["fields"][0]["field"], "pattern");
        assert_eq!(body["error"]["request_id"].as_str(), request_id.as_deref());
    }

    let still = http
        .get(format!("{}/api/v2/connectors/{id}", server.base))
        .header("X-API-Key", &key)
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(still.status(), 200);
    let mut server = server;
    assert!(
        server.child.try_wait().expect("status").is_none(),
        "the process is still running"
    );
}
