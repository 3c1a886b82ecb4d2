//! No orphans under faults: wrappers around the real connector records, idempotency records
//! and vault fail the Nth storage call of a create, a PATCH that rotates credentials, or a
//! delete — before the call, or after it
//! took effect (a lost reply) — and the end state must still be consistent, the history
//! included (no event without its change, no change without its event). Then
//! `reconcile` is shown to repair what a crash leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use connectors::domain::connector::{Connector, ListFilter, SecretRef};
use connectors::domain::events::{ConnectorEvent, EventType};
use connectors::domain::ids::{ConnectorId, TenantId};
use connectors::domain::timestamp::Timestamp;
use connectors::http::idempotency::fingerprint;
use connectors::providers::ProviderSettings;
use connectors::providers::Providers;
use connectors::service::App;
use connectors::store::{
    Claim, ConnectorPage, ConnectorRecords, Holder, IDEMPOTENCY_LEASE_SECONDS, IdempotencyRecords,
    Remembered, SecretTags, SecretVault, Storage, StoreError, VaultError,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::*;

/// Counts storage calls (records, idempotency and vault together) and fails the armed one.
#[derive(Default)]
struct Faults {
    calls: AtomicUsize,
    fail_at: AtomicUsize,
    /// Fail after the call took effect, as when a reply is lost.
    after: AtomicBool,
    /// The connectors whose record writes carried an event.
    written: std::sync::Mutex<Vec<ConnectorId>>,
}

impl Faults {
    fn arm(&self, n: usize, after: bool) {
        self.calls.store(0, Ordering::SeqCst);
        self.after.store(after, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    fn disarm(&self) -> usize {
        self.fail_at.store(0, Ordering::SeqCst);
        self.calls.load(Ordering::SeqCst)
    }

    fn saw(&self, event: &ConnectorEvent) {
        if let Ok(mut ids) = self.written.lock()
            && !ids.contains(&event.connector_id)
        {
            ids.push(event.connector_id.clone());
        }
    }

    fn written(&self) -> Vec<ConnectorId> {
        self.written
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default()
    }

    /// Whether this call fails, and whether before or after taking effect.
    fn next(&self) -> Option<bool> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        (n == self.fail_at.load(Ordering::SeqCst)).then(|| self.after.load(Ordering::SeqCst))
    }
}

const INJECTED: &str = "injected fault";

/// Runs `call` through the fault plan of `faults`.
macro_rules! faulty {
    ($faults:expr, $err:expr, $call:expr) => {{
        match $faults.next() {
            None => $call,
            Some(false) => Err($err(INJECTED.into())),
            Some(true) => {
                let _ = $call;
                Err($err(INJECTED.into()))
            }
        }
    }};
}

/// Connector records whose writes and reads pass through the fault plan.
struct FaultyConnectors {
    inner: Arc<dyn ConnectorRecords>,
    faults: Arc<Faults>,
}

#[async_trait]
impl ConnectorRecords for FaultyConnectors {
    async fn insert_connector(&self, c: &Connector, e: &ConnectorEvent) -> Result<(), StoreError> {
        self.faults.saw(e);
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.insert_connector(c, e).await
        )
    }
    async fn get_connector(
        &self,
        t: &TenantId,
        id: &ConnectorId,
    ) -> Result<Option<Arc<Connector>>, StoreError> {
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.get_connector(t, id).await
        )
    }
    async fn list_connectors(
        &self,
        t: &TenantId,
        f: &ListFilter,
        after: Option<&ConnectorId>,
        limit: usize,
    ) -> Result<ConnectorPage, StoreError> {
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.list_connectors(t, f, after, limit).await
        )
    }
    async fn replace_connector(
        &self,
        read: &Connector,
        c: &Connector,
        e: &ConnectorEvent,
    ) -> Result<Connector, StoreError> {
        self.faults.saw(e);
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.replace_connector(read, c, e).await
        )
    }
    async fn delete_connector(
        &self,
        t: &TenantId,
        id: &ConnectorId,
        v: u64,
        e: &ConnectorEvent,
    ) -> Result<(), StoreError> {
        self.faults.saw(e);
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.delete_connector(t, id, v, e).await
        )
    }
    async fn all_connectors(&self) -> Result<Vec<Connector>, StoreError> {
        self.inner.all_connectors().await
    }
}

/// Idempotency records whose every call passes through the fault plan.
struct FaultyIdempotency {
    inner: Arc<dyn IdempotencyRecords>,
    faults: Arc<Faults>,
}

#[async_trait]
impl IdempotencyRecords for FaultyIdempotency {
    async fn claim_idempotency(
        &self,
        t: &TenantId,
        h: &str,
        fp: &str,
        id: &ConnectorId,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.claim_idempotency(t, h, fp, id, now).await
        )
    }
    async fn complete_idempotency(
        &self,
        t: &TenantId,
        h: &str,
        holder: &Holder<'_>,
        r: &Remembered,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.complete_idempotency(t, h, holder, r, now).await
        )
    }
    async fn release_idempotency(
        &self,
        t: &TenantId,
        h: &str,
        holder: &Holder<'_>,
    ) -> Result<(), StoreError> {
        faulty!(
            self.faults,
            StoreError::Unavailable,
            self.inner.release_idempotency(t, h, holder).await
        )
    }
}

struct FaultyVault {
    inner: Arc<dyn SecretVault>,
    faults: Arc<Faults>,
}

#[async_trait]
impl SecretVault for FaultyVault {
    async fn put(
        &self,
        name: &str,
        value: &SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError> {
        faulty!(
            self.faults,
            VaultError::Unavailable,
            self.inner.put(name, value, tags).await
        )
    }
    async fn get(&self, r: &SecretRef) -> Result<SecretString, VaultError> {
        faulty!(
            self.faults,
            VaultError::Unavailable,
            self.inner.get(r).await
        )
    }
    async fn delete_version(&self, r: &SecretRef) -> Result<(), VaultError> {
        faulty!(
            self.faults,
            VaultError::Unavailable,
            self.inner.delete_version(r).await
        )
    }
    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        faulty!(
            self.faults,
            VaultError::Unavailable,
            self.inner.delete(name).await
        )
    }
    async fn names(&self) -> Result<Vec<String>, VaultError> {
        self.inner.names().await
    }
}

#[cfg(feature = "emulators")]
async fn on_aws() -> TestApp {
    TestApp::spawn_on_aws().await
}

/// Without the emulators, only the embedded cases run (see `tests/api/main.rs`).
#[cfg(not(feature = "emulators"))]
async fn on_aws() -> TestApp {
    unreachable!("the DynamoDB cases are compiled only with --features emulators")
}

/// A test app whose storage calls pass through a fault plan.
async fn faulty_app(on_moto: bool) -> (TestApp, Arc<Faults>) {
    let base = if on_moto {
        on_aws().await
    } else {
        TestApp::spawn().await
    };
    let faults = Arc::new(Faults::default());
    let real = base.app.storage.clone();
    let storage = Storage {
        connectors: Arc::new(FaultyConnectors {
            inner: Arc::clone(&real.connectors),
            faults: Arc::clone(&faults),
        }),
        idempotency: Arc::new(FaultyIdempotency {
            inner: Arc::clone(&real.idempotency),
            faults: Arc::clone(&faults),
        }),
        vault: Arc::new(FaultyVault {
            inner: Arc::clone(&real.vault),
            faults: Arc::clone(&faults),
        }),
        ..real
    };
    let mut app = App::new(
        storage,
        Arc::new(Providers::new(ProviderSettings::default())),
        base.app.secret_prefix.clone(),
    );
    // A retry finding the faulted request's claim answers at once: these cases are about
    // consistency, not about waiting for a request that will never finish.
    app.idempotency_wait = Duration::ZERO;
    (base.with_app(app), faults)
}

/// The end state every fault must leave: each secret belongs to a record, and each record's
/// credentials can be read.
async fn assert_consistent(t: &TestApp, context: &str) {
    let records = t
        .app
        .storage
        .connectors
        .all_connectors()
        .await
        .expect("records");
    let names = t.app.storage.vault.names().await.expect("names");
    for name in &names {
        assert!(
            records
                .iter()
                .any(|c| c.access.secret().is_some_and(|s| &s.name == name)),
            "{context}: secret {name} has no record"
        );
    }
    for c in &records {
        assert!(
            t.app
                .storage
                .vault
                .get(c.access.secret().expect("a stored secret"))
                .await
                .is_ok(),
            "{context}: connector {} cannot read its credentials",
            c.id
        );
    }
}

/// What every fault must leave of the history: for each connector a write was made to,
/// the events and the record agree. A create's record has exactly its `created` event
/// (and no record, none); a rotated record one `credentials_changed` per version it
/// moved; a delete's record is gone exactly when its `deleted` event is there.
async fn assert_history_agrees(t: &TestApp, faults: &Faults, op: Op, context: &str) {
    let acme = TenantId::parse("acme").expect("tenant");
    for id in faults.written() {
        let record = t
            .app
            .storage
            .connectors
            .get_connector(&acme, &id)
            .await
            .expect("record");
        let events = t
            .app
            .storage
            .events
            .list_events(&acme, &id, None, 100, Timestamp::now())
            .await
            .expect("events")
            .items;
        let count = |kind: EventType| events.iter().filter(|e| e.kind == kind).count();
        match (op, &record) {
            (Op::Create, Some(_)) => assert_eq!(count(EventType::Created), 1, "{context}"),
            (Op::Create, None) => assert!(events.is_empty(), "{context}: {events:?}"),
            (Op::RotatingPatch, Some(c)) => assert_eq!(
                count(EventType::CredentialsChanged),
                usize::try_from(c.version - 1).expect("a version"),
                "{context}: {events:?}"
            ),
            (Op::RotatingPatch, None) => panic!("{context}: the rotated connector is gone"),
            (Op::Delete, r) => assert_eq!(
                count(EventType::Deleted),
                usize::from(r.is_none()),
                "{context}: {events:?}"
            ),
        }
    }
}

/// The operation under test, on a fresh app; returns the request to send.
#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    RotatingPatch,
    Delete,
}

const CREATE_KEY: &str = "create-under-faults";

async fn prepare(t: &TestApp, op: Op) -> (Method, String, Option<Value>) {
    match op {
        Op::Create => (
            Method::POST,
            "/api/v2/connectors/s3".into(),
            Some(s3_body(json!({}))),
        ),
        Op::RotatingPatch | Op::Delete => {
            let c = t.create_s3(&t.key, json!({})).await;
            let path = format!(
                "/api/v2/connectors/{}",
                c["connector_id"].as_str().expect("id")
            );
            if let Op::Delete = op {
                (Method::DELETE, path, None)
            } else {
                let (id, secret) = s3_keys();
                let body = json!({"aws_access_key_id": id, "aws_secret_access_key": secret});
                // Unchecked: the faults are the storage's, and no provider is reached here.
                (Method::PATCH, format!("{path}?validate=false"), Some(body))
            }
        }
    }
}

async fn send(t: &TestApp, method: &Method, path: &str, body: Option<&Value>) -> StatusCode {
    let mut req = t.request(method.clone(), path, Some(&t.key));
    if *method == Method::POST {
        req = req.header("idempotency-key", CREATE_KEY);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    t.send(req.expect("request")).await.status
}

/// Runs `op` once with a fault at each of its storage calls in turn, in both fault modes.
async fn no_orphans_under_a_fault_at_every_step(op: Op, on_moto: bool) {
    let steps = {
        let (t, faults) = faulty_app(on_moto).await;
        let (method, path, body) = prepare(&t, op).await;
        faults.arm(usize::MAX, false);
        let status = send(&t, &method, &path, body.as_ref()).await;
        assert!(status.is_success(), "{op:?} works without faults: {status}");
        faults.disarm()
    };
    assert!(steps >= 3, "{op:?} made only {steps} storage calls");
    for after in [false, true] {
        for n in 1..=steps {
            let context = format!("{op:?}, fault at call {n} of {steps}, after={after}");
            let (t, faults) = faulty_app(on_moto).await;
            let (method, path, body) = prepare(&t, op).await;
            faults.arm(n, after);
            let status = send(&t, &method, &path, body.as_ref()).await;
            faults.disarm();
            assert!(
                status.is_success() || status.is_server_error(),
                "{context}: {status}"
            );
            assert_consistent(&t, &context).await;
            assert_history_agrees(&t, &faults, op, &context).await;

            // A retry after the fault ends the way a clean request would.
            let retry = send(&t, &method, &path, body.as_ref()).await;
            match op {
                Op::Create if retry == StatusCode::CONFLICT => {
                    // The faulted request kept the key: its lease lapses, so it is not stuck.
                    let hash = hex::encode(sha2::Sha256::digest(CREATE_KEY.as_bytes()));
                    let fp = fingerprint("POST", &path, body.as_ref().expect("body"));
                    let later = Timestamp::now().plus_seconds(IDEMPOTENCY_LEASE_SECONDS + 1);
                    let claim = t
                        .app
                        .storage
                        .idempotency
                        .claim_idempotency(
                            &TenantId::parse("acme").expect("t"),
                            &hash,
                            &fp,
                            &ConnectorId::generate(),
                            later,
                        )
                        .await
                        .expect("claim");
                    assert!(
                        matches!(claim, Claim::Acquired { .. }),
                        "{context}: {claim:?}"
                    );
                }
                Op::Create => assert_eq!(retry, StatusCode::CREATED, "{context}"),
                Op::RotatingPatch => assert_eq!(retry, StatusCode::OK, "{context}"),
                Op::Delete => assert!(
                    retry == StatusCode::OK || retry == StatusCode::NOT_FOUND,
                    "{context}: {retry}"
                ),
            }
            assert_consistent(&t, &format!("{context}, after the retry")).await;
            assert_history_agrees(&t, &faults, op, &format!("{context}, after the retry")).await;
            let records = t
                .app
                .storage
                .connectors
                .all_connectors()
                .await
                .expect("records")
                .len();
            let expected = usize::from(!matches!(op, Op::Delete));
            if !(matches!(op, Op::Create) && retry == StatusCode::CONFLICT) {
                assert_eq!(records, expected, "{context}: connectors after the retry");
                assert_eq!(t.secret_count().await, expected, "{context}: secrets");
            }
        }
    }
}

#[tokio::test]
async fn a_create_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::Create, false).await;
}

#[tokio::test]
async fn a_credential_rotation_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::RotatingPatch, false).await;
}

#[tokio::test]
async fn a_delete_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::Delete, false).await;
}

#[cfg(feature = "emulators")]
#[tokio::test]
async fn on_dynamodb_a_create_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::Create, true).await;
}

#[cfg(feature = "emulators")]
#[tokio::test]
async fn on_dynamodb_a_credential_rotation_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::RotatingPatch, true).await;
}

#[cfg(feature = "emulators")]
#[tokio::test]
async fn on_dynamodb_a_delete_leaves_no_orphan_whichever_step_fails() {
    no_orphans_under_a_fault_at_every_step(Op::Delete, true).await;
}

/// A crash between the secret and the record (the process dies, nothing undoes anything).
async fn reconcile_removes_secrets_a_crash_left_and_reports_records_without_credentials(
    t: TestApp,
) {
    let kept = t.create_s3(&t.key, json!({})).await;
    let tenant = TenantId::parse("acme").expect("tenant");
    let crashed = ConnectorId::generate();
    let name = format!("{}/acme/{crashed}", t.app.secret_prefix);
    let tags = SecretTags {
        tenant: tenant.clone(),
        connector_id: crashed,
    };
    t.app
        .storage
        .vault
        .put(&name, &SecretString::from("left behind"), &tags)
        .await
        .expect("put");
    assert_eq!(t.secret_count().await, 2);

    let dry = t
        .app
        .reconcile(Duration::ZERO, true)
        .await
        .expect("dry run");
    assert_eq!(dry.orphan_secrets, vec![name.clone()]);
    assert_eq!(t.secret_count().await, 2, "a dry run changes nothing");

    let report = t
        .app
        .reconcile(Duration::ZERO, false)
        .await
        .expect("reconcile");
    assert_eq!(report.orphan_secrets, vec![name]);
    assert!(report.records_without_credentials.is_empty());
    assert_eq!(t.secret_count().await, 1);
    assert_consistent(&t, "after reconcile").await;

    // Credentials removed behind the service's back cannot be repaired, only reported.
    let id = ConnectorId::parse(kept["connector_id"].as_str().expect("id")).expect("id");
    let record = t
        .app
        .storage
        .connectors
        .get_connector(&tenant, &id)
        .await
        .expect("get")
        .expect("kept");
    t.app
        .storage
        .vault
        .delete(&record.access.secret().expect("a stored secret").name)
        .await
        .expect("delete");
    let report = t
        .app
        .reconcile(Duration::ZERO, false)
        .await
        .expect("reconcile");
    assert_eq!(
        report.records_without_credentials,
        vec![format!("acme/{id}")]
    );
    assert!(report.orphan_secrets.is_empty());
}
on_every_backend!(reconcile_removes_secrets_a_crash_left_and_reports_records_without_credentials);
