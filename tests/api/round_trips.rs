//! Round trips on the warm AWS path, counted at the SDK clients: a repeated `GET` of one
//! connector or of the list costs one DynamoDB call (the key is kept), and a repeated
//! browse or test costs no Secrets Manager call (the credentials are kept by version); a
//! keyed create costs four DynamoDB calls and one Secrets Manager call, in four
//! sequential round trips (the counter beside the claim).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use axum::http::{Method, StatusCode};
use connectors::providers::Providers;
use connectors::service::App;
use connectors::store::Storage;
use connectors::store::dynamodb::{DynamoStore, create_table};
use connectors::store::secrets_manager::SecretsManagerVault;
use serde_json::json;

use crate::helpers::*;

/// Counts the requests a client sends.
#[derive(Debug, Clone, Default)]
struct Sent(Arc<AtomicUsize>);

impl Sent {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// An app wired as on AWS (caches included) over moto, with its clients counted.
async fn counted_app() -> (TestApp, Sent, Sent) {
    let config = moto_sdk_config().await;
    let (dynamodb_calls, secrets_calls) = (Sent::default(), Sent::default());
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(dynamodb_calls.clone())
            .build(),
    );
    let suffix = random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789");
    let table = format!("connectors-{suffix}");
    create_table(&dynamodb, &table).await.expect("a table");
    let prefix = format!("test-{suffix}/connectors");
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&config)
            .interceptor(secrets_calls.clone())
            .build(),
    );
    let storage = connectors::startup::with_caches(Storage::on(
        Arc::new(DynamoStore::new(dynamodb, table)),
        Arc::new(SecretsManagerVault::new(secrets, None, prefix.clone())),
    ));
    let app = App::new(storage, Arc::new(Providers::new(emulators())), prefix);
    let t = TestApp::spawn().await.with_app(app);
    (t, dynamodb_calls, secrets_calls)
}

#[tokio::test]
async fn warm_reads_cost_one_dynamodb_call_and_warm_browses_and_tests_no_secrets_manager_call() {
    let (t, dynamodb, secrets) = counted_app().await;
    let key = t
        .key_for("acme", &[connectors::domain::apikey::KeyScope::Admin])
        .await;
    let bucket = bucket_with(&["in/a.mp4", "in/b.mp4"]).await;
    let c = t
        .create_s3(&key, json!({"bucket": bucket, "region": "us-east-1"}))
        .await;
    let id = c["connector_id"].as_str().expect("id");
    let one = format!("/api/v2/connectors/{id}");

    // Cold: the key is read once; then every repeat of a read is one call.
    assert_eq!(t.get(&one, &key).await.status, StatusCode::OK);
    assert_eq!(
        t.get("/api/v2/connectors", &key).await.status,
        StatusCode::OK
    );
    dynamodb.take();
    assert_eq!(t.get(&one, &key).await.status, StatusCode::OK);
    assert_eq!(dynamodb.take(), 1, "a warm GET of one connector");
    assert_eq!(
        t.get("/api/v2/connectors", &key).await.status,
        StatusCode::OK
    );
    assert_eq!(dynamodb.take(), 1, "a warm list");

    let browse = format!("{one}/browse");
    let test = format!("{one}/test");
    assert_eq!(
        t.json(Method::POST, &browse, &key, &json!({})).await.status,
        StatusCode::OK
    );
    secrets.take();
    for _ in 0..2 {
        dynamodb.take();
        let r = t.json(Method::POST, &browse, &key, &json!({})).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json().as_array().map(Vec::len), Some(2));
        // The account's limit counter and the record, read together.
        assert_eq!(dynamodb.take(), 2, "a warm browse of one page");
        assert_eq!(t.post_empty(&test, &key).await.status, StatusCode::OK);
        // The counter and the record (together), and the outcome written back.
        assert_eq!(dynamodb.take(), 3, "a warm test");
    }
    assert_eq!(secrets.take(), 0, "warm browses and tests read no secret");

    // A create with an Idempotency-Key, warm.
    dynamodb.take();
    secrets.take();
    let r = t
        .send(
            t.request(Method::POST, "/api/v2/connectors/s3", Some(&key))
                .header("content-type", "application/json")
                .header("idempotency-key", "count-me")
                .body(axum::body::Body::from(s3_body(json!({})).to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // The account's counter beside the claim (a conditional write, no read); the record
    // (a conditional write); the completion (a write, no read). One secret written.
    assert_eq!(dynamodb.take(), 4, "a keyed create's DynamoDB calls");
    assert_eq!(secrets.take(), 1, "a keyed create's Secrets Manager calls");
}

#[tokio::test]
async fn revoking_a_key_reads_its_pointer_and_writes_the_key_once_without_a_scan() {
    let (t, dynamodb, _) = counted_app().await;
    for n in 0..5 {
        t.key_for(
            &format!("tenant-{n}"),
            &[connectors::domain::apikey::KeyScope::Read],
        )
        .await;
    }
    let keys = &t.app.storage.api_keys;
    let key = keys.list_api_keys().await.expect("keys").remove(2);
    dynamodb.take();
    keys.revoke_api_key(&key.key_id, connectors::domain::timestamp::Timestamp::now())
        .await
        .expect("revoke");
    // The id's pointer (a GetItem) and the key (a conditional UpdateItem).
    assert_eq!(dynamodb.take(), 2, "a revocation's DynamoDB calls");
    let revoked = keys.list_api_keys().await.expect("keys");
    assert_eq!(
        revoked.iter().filter(|k| k.revoked_at.is_some()).count(),
        1,
        "only that key is revoked"
    );
}
