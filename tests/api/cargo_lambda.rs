//! Lambda mode end to end: the binary under `cargo lambda watch` (the Lambda runtime
//! emulator), events sent with `cargo lambda invoke`, records and secrets in moto — the
//! production wiring, configured only by environment variables as the template sets them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use connectors::domain::apikey::KeyScope;
use connectors::store::{ApiKeys, ConnectorRecords, SecretVault};
use serde_json::Value;

use crate::helpers::*;

/// `cargo lambda watch`, stopped with its whole process group when dropped.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Invokes the watched function with an event file, retrying while it is still starting.
fn invoke(port: u16, event: &str) -> Value {
    let started = Instant::now();
    loop {
        let out = cargo()
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--data-file", &format!("events/{event}.json")])
            .args(["--output-format", "json", "connectors"])
            .output()
            .expect("cargo lambda invoke runs (the test command installs cargo-lambda)");
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).expect("a Lambda response");
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "cargo lambda invoke kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_through_cargo_lambda_watch_and_invoke_lands_in_dynamodb_and_secrets_manager() {
    let (store, vault, prefix) = aws_adapters().await;
    let key = known_key("acme", EVENTS_ACME_KEY, KeyScope::Admin);
    store.put_api_key(&key).await.expect("key");
    let table = store.table().to_owned();

    let port = free_port();
    let env = [
        format!("TABLE_NAME={table}"),
        format!("SECRET_PREFIX={prefix}"),
        format!("AWS_ENDPOINT_URL={}", moto_endpoint()),
        "AWS_REGION=us-east-1".into(),
        "AWS_ACCESS_KEY_ID=testing".into(),
        "AWS_SECRET_ACCESS_KEY=testing".into(),
    ];
    let mut watch = cargo();
    watch
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string(), "--bin", "connectors"])
        .args(["--env-var", &env.join(",")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut watch, 0);
    let _watch = Watch(watch.spawn().expect("cargo lambda watch starts"));

    let created = tokio::task::spawn_blocking(move || invoke(port, "01-create-s3"))
        .await
        .expect("invoke");
    assert_eq!(created["statusCode"], 201, "{created}");
    let listed = tokio::task::spawn_blocking(move || invoke(port, "06-list"))
        .await
        .expect("invoke");
    assert_eq!(listed["statusCode"], 200, "{listed}");
    let body: Value =
        serde_json::from_str(listed["body"].as_str().unwrap_or_default()).expect("JSON body");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");

    let records = store.all_connectors().await.expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(
        vault.names().await.expect("names"),
        vec![
            records[0]
                .access
                .secret()
                .expect("a stored secret")
                .name
                .clone()
        ]
    );
}
