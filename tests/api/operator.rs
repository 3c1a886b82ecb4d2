//! The operator's commands through the real binary: settings checked at start, and
//! `reconcile` against DynamoDB and Secrets Manager in moto.

// Some helpers and imports serve only the emulator-backed suites.
#![cfg_attr(not(feature = "emulators"), allow(unused_imports, dead_code))]

use std::process::{Command, Output};

use connectors::domain::ids::{ConnectorId, TenantId};
use connectors::store::{SecretTags, SecretVault};
use secrecy::SecretString;

use crate::helpers::*;

/// The binary with nothing from the caller's AWS environment.
fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_connectors"));
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "TABLE_NAME",
        "KMS_KEY_ID",
    ] {
        c.env_remove(var);
    }
    c.env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("RUST_LOG", "warn");
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_table_without_a_region_is_refused_at_start_with_a_clear_message() {
    let out = binary()
        .args(["keys", "list"])
        .env("TABLE_NAME", "connectors")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("set AWS_REGION"), "{}", text(&out));
}

#[test]
fn a_kms_key_without_a_table_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = binary()
        .args(["keys", "list"])
        .env("DATA_DIR", dir.path())
        .env("KMS_KEY_ID", "alias/secrets")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("KMS_KEY_ID applies only with TABLE_NAME"),
        "{}",
        text(&out)
    );
}

#[cfg(feature = "emulators")]
#[tokio::test]
async fn reconcile_on_dynamodb_deletes_a_secret_a_crash_left_and_keys_work_on_the_table() {
    let (store, vault, prefix) = aws_adapters().await;
    let aws = |c: &mut Command| {
        c.env("TABLE_NAME", store.table())
            .env("SECRET_PREFIX", &prefix)
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    };
    let mut create = binary();
    aws(&mut create);
    let out = create
        .args(["keys", "create", "--tenant", "acme", "--scopes", "admin"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sk_live_"));

    let crashed = ConnectorId::generate();
    let name = format!("{prefix}/acme/{crashed}");
    let tags = SecretTags {
        tenant: TenantId::parse("acme").expect("tenant"),
        connector_id: crashed,
    };
    vault
        .put(&name, &SecretString::from("left behind"), &tags)
        .await
        .expect("put");

    let mut dry = binary();
    aws(&mut dry);
    let out = dry
        .args(["reconcile", "--dry-run", "--grace-seconds", "0"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("would delete orphan secret {name}")),
        "{}",
        text(&out)
    );
    assert_eq!(vault.names().await.expect("names"), vec![name.clone()]);

    let mut run = binary();
    aws(&mut run);
    let out = run
        .args(["reconcile", "--grace-seconds", "0"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 orphan secret(s) deleted"),
        "{}",
        text(&out)
    );
    assert!(vault.names().await.expect("names").is_empty());
}
