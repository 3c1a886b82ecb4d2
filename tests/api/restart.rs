//! The real binary: `serve` prints a first key once, and a restart on the same data
//! directory finds everything. [`serve_with`] starts any build of it (the release build in
//! `tests/api/abort.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::*;

pub struct Server {
    pub child: Child,
    pub base: String,
    pub key: Option<String>,
    /// Everything the server wrote to stdout after it started listening.
    pub output: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &std::path::Path) -> Server {
    serve_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_connectors")),
        data_dir,
        &[],
    )
}

/// Creates an S3 connector with `overrides` through a server's socket, answering its JSON.
pub async fn create_over_http(
    base: &str,
    key: &str,
    overrides: serde_json::Value,
) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{base}/api/v2/connectors/s3"))
        .header("X-API-Key", key)
        .json(&s3_body(overrides))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json")
}

/// Starts `binary serve` on a free port over `data_dir`, with `env` set too, and waits
/// until it listens.
pub fn serve_with(
    binary: &std::path::Path,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut key = None;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next() {
        let line = line.expect("line");
        let trimmed = line.trim();
        if trimmed.starts_with("sk_live_") {
            key = Some(trimmed.to_owned());
        }
        if let Some(addr) = trimmed.strip_prefix("listening on ") {
            let output = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
                    out.push_str(&line);
                    out.push('\n');
                }
            });
            return Server {
                child,
                base: addr.to_owned(),
                key,
                output,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server exited before listening");
}

#[tokio::test]
async fn serve_prints_a_first_key_once_and_a_restart_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = serve(dir.path());
    let key = first
        .key
        .clone()
        .expect("the first run prints an admin key");
    let http = reqwest::Client::new();
    let created = create_over_http(&first.base, &key, json!({})).await;
    let id = created["connector_id"].as_str().expect("id").to_owned();
    drop(first);

    let second = serve(dir.path());
    assert!(second.key.is_none(), "a second run prints no new key");
    let got = http
        .get(format!("{}/api/v2/connectors/{id}", second.base))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.json::<serde_json::Value>().await.expect("json"),
        created
    );
}

#[tokio::test]
async fn a_local_server_under_load_logs_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path());
    let key = server.key.clone().expect("a first key");
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2/connectors", server.base);
    let requests = (0..300).map(|_| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        async move {
            http.get(url)
                .header("x-api-key", key)
                .send()
                .await
                .expect("an answer")
                .status()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let output = server.output.lock().expect("output").clone();
    let errors: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(
        errors.is_empty(),
        "{} error lines, first: {:?}",
        errors.len(),
        errors.first()
    );
}
