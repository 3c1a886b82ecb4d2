//! The storage ports' contract, run against every adapter: the embedded store and vault,
//! and DynamoDB and Secrets Manager in moto.

use futures_util::future::join_all;
use std::sync::Arc;

use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::connector::{Connector, ListFilter, SecretRef};
use connectors::domain::events::{Actor, ConnectorEvent, EventType, Recorder};
use connectors::domain::ids::{ConnectorId, TenantId};
use connectors::domain::scopes::Status;
use connectors::domain::timestamp::Timestamp;
use connectors::store::embedded::EmbeddedStore;
use connectors::store::embedded_vault::EmbeddedVault;
use connectors::store::{
    ApiKeys, Claim, ConnectorRecords, Holder, IDEMPOTENCY_LEASE_SECONDS, IDEMPOTENCY_TTL_SECONDS,
    Remembered, SecretTags, Storage, StoreError, VaultError,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// Registers a contract scenario, written just above the call, on every adapter family:
/// `<scenario>::on_the_embedded_store` and `<scenario>::on_dynamodb_and_secrets_manager`.
macro_rules! on_every_adapter {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_the_embedded_store() {
                super::$name(super::embedded().await).await;
            }

            #[cfg(feature = "emulators")]
            #[tokio::test]
            async fn on_dynamodb_and_secrets_manager() {
                super::$name(super::on_moto().await).await;
            }
        }
    };
}

struct Ports {
    storage: Storage,
    prefix: String,
    _dir: Option<tempfile::TempDir>,
}

async fn embedded() -> Ports {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("s.redb")).expect("store");
    let vault =
        EmbeddedVault::open(&dir.path().join("v.redb"), &dir.path().join("v.key")).expect("vault");
    Ports {
        storage: Storage::on(Arc::new(store), Arc::new(vault)),
        prefix: "videovector/connectors".into(),
        _dir: Some(dir),
    }
}

#[cfg(feature = "emulators")]
async fn on_moto() -> Ports {
    let (store, vault, prefix) = crate::helpers::aws_adapters().await;
    Ports {
        storage: Storage::on(Arc::new(store), Arc::new(vault)),
        prefix,
        _dir: None,
    }
}

/// An event for a write of connector `id` of `tenant`.
fn ev_at(tenant: &TenantId, id: &ConnectorId) -> ConnectorEvent {
    let recorder = Recorder {
        actor: Actor {
            key_id: "key_contract".into(),
            request_id: "req_contract".into(),
        },
        retention_seconds: 3600,
    };
    let mut shell = record(tenant.as_str(), id, "active");
    shell.tenant = tenant.clone();
    recorder.event(EventType::Updated, &shell, Timestamp::now())
}

/// An event for a write of `c`.
fn ev(c: &Connector) -> ConnectorEvent {
    ev_at(&c.tenant, &c.id)
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

fn record(tenant: &str, id: &ConnectorId, status: &str) -> Connector {
    serde_json::from_value(json!({
        "id": id.as_str(),
        "tenant": tenant,
        "name": "Archive",
        "location": {"provider": "s3", "bucket": "media-archive", "region": "eu-west-1"},
        "status": status,
        "scopes": ["import"],
        "import_mode": "all",
        "export_base_path": null,
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "last_tested_at": null,
        "last_test_result": null,
        "last_test_error": null,
        "credential_hint": "AKIA…WXYZ",
        "secret": {"name": format!("p/{tenant}/{id}"), "version": "v1"},
        "version": 1,
    }))
    .expect("a valid record")
}

/// `n` fresh ids, oldest first.
fn ids(n: usize) -> Vec<ConnectorId> {
    let mut ids: Vec<ConnectorId> = (0..n).map(|_| ConnectorId::generate()).collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

/// `id` as `tenant` reads it.
async fn read(p: &Ports, tenant_name: &str, id: &ConnectorId) -> Option<Arc<Connector>> {
    p.storage
        .connectors
        .get_connector(&tenant(tenant_name), id)
        .await
        .expect("get")
}

async fn records_round_trip_and_writes_are_conditional(p: Ports) {
    let id = ConnectorId::generate();
    let mut c = record("acme", &id, "active");
    p.storage
        .connectors
        .insert_connector(&c, &ev(&c))
        .await
        .expect("insert");
    assert_eq!(read(&p, "acme", &id).await.as_deref(), Some(&c));
    assert!(matches!(
        p.storage.connectors.insert_connector(&c, &ev(&c)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        read(&p, "other", &id).await,
        None,
        "another tenant does not see it"
    );

    let v1 = c.clone();
    let mut stale = c.clone();
    stale.version = 7;
    c.version = 2;
    c.status = Status::Disabled;
    assert!(matches!(
        p.storage
            .connectors
            .replace_connector(&stale, &c, &ev(&c))
            .await,
        Err(StoreError::Conflict)
    ));
    p.storage
        .connectors
        .replace_connector(&v1, &c, &ev(&c))
        .await
        .expect("replace at v1");
    assert_eq!(
        read(&p, "acme", &id).await.as_deref(),
        Some(&c),
        "a read after a replace sees the new version"
    );
    // The same write again (a retry after a lost reply) finds itself done; another
    // write from the same version has lost the race.
    assert_eq!(
        p.storage
            .connectors
            .replace_connector(&v1, &c, &ev(&c))
            .await
            .expect("the same write again"),
        c
    );
    let mut other = c.clone();
    other.name = connectors::domain::names::ConnectorName::parse("another").expect("name");
    assert!(matches!(
        p.storage
            .connectors
            .replace_connector(&v1, &other, &ev(&other))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        p.storage
            .connectors
            .delete_connector(&tenant("acme"), &id, 1, &ev_at(&tenant("acme"), &id))
            .await,
        Err(StoreError::Conflict)
    ));
    p.storage
        .connectors
        .delete_connector(&tenant("acme"), &id, 2, &ev_at(&tenant("acme"), &id))
        .await
        .expect("delete at v2");
    assert_eq!(
        read(&p, "acme", &id).await,
        None,
        "a read after a delete finds nothing"
    );
    assert!(matches!(
        p.storage
            .connectors
            .delete_connector(&tenant("acme"), &id, 2, &ev_at(&tenant("acme"), &id))
            .await,
        Err(StoreError::NotFound)
    ));
    let mut v3 = c.clone();
    v3.version = 3;
    assert!(matches!(
        p.storage
            .connectors
            .replace_connector(&c, &v3, &ev(&v3))
            .await,
        Err(StoreError::NotFound)
    ));
}
on_every_adapter!(records_round_trip_and_writes_are_conditional);

async fn a_replacement_writes_only_what_it_changes_so_an_outcome_recorded_meanwhile_survives(
    p: Ports,
) {
    let id = ConnectorId::generate();
    let v1 = record("acme", &id, "active");
    p.storage
        .connectors
        .insert_connector(&v1, &ev(&v1))
        .await
        .expect("insert");
    // A test's outcome lands without a new version...
    let mut tested = v1.clone();
    tested.last_test_result = Some(connectors::domain::scopes::TestResult::Failure);
    tested.last_test_error = Some("access denied".into());
    tested.status = Status::Failed;
    p.storage
        .connectors
        .replace_connector(&v1, &tested, &ev(&tested))
        .await
        .expect("the outcome at v1");
    // ...and a rename made from the record read before it keeps the outcome.
    let mut renamed = v1.clone();
    renamed.name = connectors::domain::names::ConnectorName::parse("renamed").expect("name");
    renamed.version = 2;
    p.storage
        .connectors
        .replace_connector(&v1, &renamed, &ev(&renamed))
        .await
        .expect("the rename at v1");
    let stored = read(&p, "acme", &id).await.expect("stored");
    assert_eq!(stored.name.as_str(), "renamed");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.status, Status::Failed);
    assert_eq!(stored.last_test_error.as_deref(), Some("access denied"));
    // An outcome made from v1 now loses: the version moved on.
    assert!(matches!(
        p.storage
            .connectors
            .replace_connector(&v1, &tested, &ev(&tested))
            .await,
        Err(StoreError::Conflict)
    ));
}
on_every_adapter!(
    a_replacement_writes_only_what_it_changes_so_an_outcome_recorded_meanwhile_survives
);

/// A role connector's record: an `iam_role` where a key connector has its `secret`.
fn role_record(tenant: &str, id: &ConnectorId) -> Connector {
    let mut value = serde_json::to_value(record(tenant, id, "active")).expect("a record");
    let map = value.as_object_mut().expect("an object");
    map.remove("secret");
    map.insert(
        "iam_role".into(),
        json!({
            "role_arn": "arn:aws:iam::111122223333:role/VideoVectorAccess",
            "external_id": "vv-0123456789abcdef0123456789abcdef0123456789abcdef",
        }),
    );
    serde_json::from_value(value).expect("a valid role record")
}

async fn role_records_round_trip_and_switch_to_a_secret_and_back(p: Ports) {
    let id = ConnectorId::generate();
    let role = role_record("acme", &id);
    assert!(role.access.secret().is_none());
    p.storage
        .connectors
        .insert_connector(&role, &ev(&role))
        .await
        .expect("insert");
    assert_eq!(read(&p, "acme", &id).await.as_deref(), Some(&role));
    let page = p
        .storage
        .connectors
        .list_connectors(&tenant("acme"), &ListFilter::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(
        page.items.iter().map(|c| c.as_ref()).collect::<Vec<_>>(),
        vec![&role]
    );

    let mut keyed = record("acme", &id, "active");
    keyed.version = 2;
    p.storage
        .connectors
        .replace_connector(&role, &keyed, &ev(&keyed))
        .await
        .expect("switch to keys");
    assert_eq!(read(&p, "acme", &id).await.as_deref(), Some(&keyed));
    let mut back = role;
    back.version = 3;
    p.storage
        .connectors
        .replace_connector(&keyed, &back, &ev(&back))
        .await
        .expect("switch back to the role");
    assert_eq!(read(&p, "acme", &id).await.as_deref(), Some(&back));
}
on_every_adapter!(role_records_round_trip_and_switch_to_a_secret_and_back);

async fn lists_are_newest_first_and_resume_after_an_id(p: Ports) {
    let ids = ids(25);
    for (i, id) in ids.iter().enumerate() {
        let status = if i % 3 == 0 { "disabled" } else { "active" };
        p.storage
            .connectors
            .insert_connector(
                &record("acme", id, status),
                &ev(&record("acme", id, status)),
            )
            .await
            .expect("insert");
    }
    let other_record = record("other", &ConnectorId::generate(), "active");
    p.storage
        .connectors
        .insert_connector(&other_record, &ev(&other_record))
        .await
        .expect("insert other");
    let newest_first: Vec<ConnectorId> = ids.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut after: Option<ConnectorId> = None;
    loop {
        let page = p
            .storage
            .connectors
            .list_connectors(&tenant("acme"), &ListFilter::default(), after.as_ref(), 7)
            .await
            .expect("list");
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|c| c.id.clone()));
        if page.resume_after.is_none() {
            break;
        }
        assert_eq!(page.resume_after, page.items.last().map(|c| c.id.clone()));
        after = page.resume_after;
    }
    assert_eq!(seen, newest_first);

    let disabled = ListFilter {
        status: Some(Status::Disabled),
        ..ListFilter::default()
    };
    let page = p
        .storage
        .connectors
        .list_connectors(&tenant("acme"), &disabled, None, 100)
        .await
        .expect("list");
    assert_eq!(page.items.len(), 9);
    assert!(page.resume_after.is_none());
    assert!(page.items.iter().all(|c| c.status == Status::Disabled));
    assert_eq!(
        p.storage
            .connectors
            .all_connectors()
            .await
            .expect("all")
            .len(),
        26
    );
}
on_every_adapter!(lists_are_newest_first_and_resume_after_an_id);

async fn a_filtered_list_examines_a_bounded_number_of_connectors_and_says_where_to_go_on(p: Ports) {
    use connectors::store::LIST_EXAMINED_AT_MOST;
    // The oldest connector is the only disabled one, behind more than one request's worth.
    let ids = ids(LIST_EXAMINED_AT_MOST + 50);
    for chunk in ids.chunks(100) {
        join_all(chunk.iter().map(|id| {
            let status = if *id == ids[0] { "disabled" } else { "active" };
            let c = record("acme", id, status);
            let store = &p.storage.connectors;
            async move { store.insert_connector(&c, &ev(&c)).await.expect("insert") }
        }))
        .await;
    }
    let disabled = ListFilter {
        status: Some(Status::Disabled),
        ..ListFilter::default()
    };
    let list = |after: Option<ConnectorId>| {
        let (store, disabled) = (&p.storage.connectors, &disabled);
        async move {
            store
                .list_connectors(&tenant("acme"), disabled, after.as_ref(), 10)
                .await
                .expect("list")
        }
    };
    let first = list(None).await;
    assert!(first.items.is_empty(), "nothing disabled among the newest");
    // It stopped at the bound, at the last connector it examined.
    let newest_first: Vec<&ConnectorId> = ids.iter().rev().collect();
    assert_eq!(
        first.resume_after.as_ref(),
        Some(newest_first[LIST_EXAMINED_AT_MOST - 1])
    );
    let second = list(first.resume_after).await;
    assert_eq!(
        second.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&ids[0]]
    );
    assert!(second.resume_after.is_none());
}
on_every_adapter!(a_filtered_list_examines_a_bounded_number_of_connectors_and_says_where_to_go_on);

async fn api_keys_are_found_by_hash_listed_and_revoked(p: Ports) {
    let key = ApiKeyRecord::mint(tenant("acme"), vec![KeyScope::Read], None);
    p.storage
        .api_keys
        .put_api_key(&key.record)
        .await
        .expect("put");
    let found = p
        .storage
        .api_keys
        .find_api_key(&key.record.hash)
        .await
        .expect("find")
        .expect("present");
    assert_eq!(*found, key.record);
    assert_eq!(
        p.storage.api_keys.list_api_keys().await.expect("list"),
        vec![key.record.clone()]
    );
    let at = Timestamp::now();
    p.storage
        .api_keys
        .revoke_api_key(&key.record.key_id, at)
        .await
        .expect("revoke");
    let revoked = p
        .storage
        .api_keys
        .find_api_key(&key.record.hash)
        .await
        .expect("find");
    assert_eq!(revoked.and_then(|k| k.revoked_at), Some(at));
    // A second revocation keeps the first one's time.
    p.storage
        .api_keys
        .revoke_api_key(&key.record.key_id, at.plus_seconds(60))
        .await
        .expect("revoke again");
    let again = p
        .storage
        .api_keys
        .find_api_key(&key.record.hash)
        .await
        .expect("find");
    assert_eq!(again.and_then(|k| k.revoked_at), Some(at));
    assert!(matches!(
        p.storage.api_keys.revoke_api_key("key_nope", at).await,
        Err(StoreError::NotFound)
    ));
}
on_every_adapter!(api_keys_are_found_by_hash_listed_and_revoked);

async fn idempotency_claims_replay_expire_and_lapse(p: Ports) {
    let r = ids(7);
    let (t, now) = (tenant("acme"), Timestamp::now());
    let claim = |fp: &'static str, id: ConnectorId, at: Timestamp| {
        let (store, t) = (Arc::clone(&p.storage.idempotency), t.clone());
        async move {
            store
                .claim_idempotency(&t, "k1", fp, &id, at)
                .await
                .expect("claim")
        }
    };
    assert_eq!(
        claim("fp", r[1].clone(), now).await,
        Claim::Acquired {
            resource_id: r[1].clone()
        }
    );
    assert_eq!(claim("fp", r[2].clone(), now).await, Claim::InProgress);
    // The holder vanished: after its lease another takes over, creating the same resource.
    let lapsed = now.plus_seconds(IDEMPOTENCY_LEASE_SECONDS + 1);
    assert_eq!(
        claim("fp", r[2].clone(), lapsed).await,
        Claim::Acquired {
            resource_id: r[1].clone()
        }
    );
    let response = Remembered(json!({"connector_id": "conn_x", "version": 1}));
    // Only the request that holds the key completes it, or releases it.
    let stranger = Holder {
        fingerprint: "other",
        resource_id: &r[1],
    };
    assert!(matches!(
        p.storage
            .idempotency
            .complete_idempotency(&t, "k1", &stranger, &response, lapsed)
            .await,
        Err(StoreError::NotFound)
    ));
    let holder = Holder {
        fingerprint: "fp",
        resource_id: &r[1],
    };
    p.storage
        .idempotency
        .complete_idempotency(&t, "k1", &holder, &response, lapsed)
        .await
        .expect("complete");
    // A release never forgets an answer.
    p.storage
        .idempotency
        .release_idempotency(&t, "k1", &holder)
        .await
        .expect("release of a finished key");
    assert_eq!(
        claim("fp", r[3].clone(), lapsed).await,
        Claim::Replay(response)
    );
    assert_eq!(claim("other", r[3].clone(), lapsed).await, Claim::Mismatch);
    // Past its TTL the record is ignored on read, whether or not the store removed it yet.
    let expired = lapsed.plus_seconds(IDEMPOTENCY_TTL_SECONDS + 1);
    assert_eq!(
        claim("other", r[4].clone(), expired).await,
        Claim::Acquired {
            resource_id: r[4].clone()
        }
    );
    p.storage
        .idempotency
        .release_idempotency(
            &t,
            "k1",
            &Holder {
                fingerprint: "other",
                resource_id: &r[4],
            },
        )
        .await
        .expect("release");
    assert_eq!(
        claim("fp", r[5].clone(), expired).await,
        Claim::Acquired {
            resource_id: r[5].clone()
        }
    );
    // Keys are per tenant.
    let other = p
        .storage
        .idempotency
        .claim_idempotency(&tenant("other"), "k1", "fp", &r[6], now)
        .await
        .expect("claim");
    assert_eq!(
        other,
        Claim::Acquired {
            resource_id: r[6].clone()
        }
    );
}
on_every_adapter!(idempotency_claims_replay_expire_and_lapse);

async fn the_first_shared_key_written_is_the_one_every_caller_gets(p: Ports) {
    let first = p
        .storage
        .service_keys
        .shared_key("cursor", [1; 32])
        .await
        .expect("key");
    let second = p
        .storage
        .service_keys
        .shared_key("cursor", [2; 32])
        .await
        .expect("key");
    assert_eq!((first, second), ([1; 32], [1; 32]));
    assert_eq!(
        p.storage
            .service_keys
            .shared_key("other", [3; 32])
            .await
            .expect("key"),
        [3; 32]
    );
}
on_every_adapter!(the_first_shared_key_written_is_the_one_every_caller_gets);

async fn each_tenant_is_given_one_identity_of_a_pool_for_good_and_none_is_given_twice(p: Ports) {
    let pool: Vec<String> = (1..=4).map(|i| format!("sa-{i}@pool.example")).collect();
    let identities = &p.storage.identities;
    // Ten tenants ask at once, twice each: four are given one, no identity twice.
    let asks = (0..20).map(|i| {
        let pool = &pool;
        async move {
            let who = tenant(&format!("tenant-{}", i % 10));
            let given = identities
                .assign_identity("gcs", &who, pool)
                .await
                .expect("assign");
            (who, given)
        }
    });
    let answers = join_all(asks).await;
    let mut held = std::collections::BTreeMap::new();
    for (who, given) in &answers {
        if let Some(identity) = given {
            let first = held
                .entry(who.to_string())
                .or_insert_with(|| identity.clone());
            assert_eq!(first, identity, "{who} was given two identities");
        }
    }
    let mut given: Vec<&String> = held.values().collect();
    given.sort();
    given.dedup();
    assert_eq!(held.len(), 4, "{answers:?}");
    assert_eq!(
        given.len(),
        4,
        "an identity was given to two tenants: {held:?}"
    );
    // A tenant that holds one keeps it, whatever the pool now says; another pool is apart.
    let (holder, identity) = held.iter().next().expect("a holder");
    assert_eq!(
        identities
            .assign_identity("gcs", &tenant(holder), &[])
            .await
            .expect("assign")
            .as_ref(),
        Some(identity)
    );
    assert_eq!(
        identities
            .assign_identity("gcs", &tenant("late"), &pool)
            .await
            .expect("assign"),
        None
    );
    let grown = [pool.clone(), vec!["sa-5@pool.example".to_owned()]].concat();
    assert_eq!(
        identities
            .assign_identity("gcs", &tenant("late"), &grown)
            .await
            .expect("assign")
            .as_deref(),
        Some("sa-5@pool.example")
    );
    assert_eq!(
        identities
            .assign_identity("azure", &tenant(holder), &pool)
            .await
            .expect("assign")
            .as_deref(),
        Some("sa-1@pool.example"),
        "pools are apart"
    );
}
on_every_adapter!(each_tenant_is_given_one_identity_of_a_pool_for_good_and_none_is_given_twice);

async fn secret_versions_are_readable_until_removed(p: Ports) {
    let id = ConnectorId::generate();
    let name = format!("{}/acme/{id}", p.prefix);
    let tags = SecretTags {
        tenant: tenant("acme"),
        connector_id: id,
    };
    let v1 = p
        .storage
        .vault
        .put(&name, &SecretString::from("one"), &tags)
        .await
        .expect("put");
    let v2 = p
        .storage
        .vault
        .put(&name, &SecretString::from("two"), &tags)
        .await
        .expect("put again");
    assert_ne!(v1.version, v2.version);
    let read = |r: SecretRef| {
        let vault = Arc::clone(&p.storage.vault);
        async move { vault.get(&r).await.map(|s| s.expose_secret().to_owned()) }
    };
    assert_eq!(read(v1.clone()).await.expect("v1"), "one");
    assert_eq!(read(v2.clone()).await.expect("v2"), "two");
    p.storage.vault.delete_version(&v1).await.expect("drop v1");
    assert_eq!(read(v2.clone()).await.expect("v2 stays"), "two");
    assert_eq!(
        p.storage.vault.names().await.expect("names"),
        vec![name.clone()]
    );
    p.storage.vault.delete(&name).await.expect("delete");
    assert!(matches!(read(v2).await, Err(VaultError::NotFound)));
    assert!(p.storage.vault.names().await.expect("names").is_empty());
    p.storage
        .vault
        .delete(&name)
        .await
        .expect("deleting again is fine");
}
on_every_adapter!(secret_versions_are_readable_until_removed);

async fn undoing_the_only_version_of_a_secret_removes_the_secret(p: Ports) {
    let id = ConnectorId::generate();
    let name = format!("{}/acme/{id}", p.prefix);
    let tags = SecretTags {
        tenant: tenant("acme"),
        connector_id: id,
    };
    let only = p
        .storage
        .vault
        .put(&name, &SecretString::from("one"), &tags)
        .await
        .expect("put");
    p.storage.vault.delete_version(&only).await.expect("undo");
    assert!(p.storage.vault.names().await.expect("names").is_empty());
}
on_every_adapter!(undoing_the_only_version_of_a_secret_removes_the_secret);

/// The ids of the history of `id` of `acme`, newest first, in pages of `limit`.
async fn history(p: &Ports, id: &ConnectorId, limit: usize) -> Vec<String> {
    let (mut all, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = p
            .storage
            .events
            .list_events(
                &tenant("acme"),
                id,
                after.as_deref(),
                limit,
                Timestamp::now(),
            )
            .await
            .expect("events");
        assert!(page.items.len() <= limit, "a page holds at most its limit");
        all.extend(page.items.into_iter().map(|e| e.event_id));
        match page.resume_after {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

async fn each_record_write_stores_its_event_with_it_and_a_refused_write_stores_none(p: Ports) {
    let id = ConnectorId::generate();
    let v1 = record("acme", &id, "active");
    let created = ev(&v1);
    let records = &p.storage.connectors;
    records
        .insert_connector(&v1, &created)
        .await
        .expect("insert");
    // Refused writes: their events are not stored.
    assert!(matches!(
        records.insert_connector(&v1, &ev(&v1)).await,
        Err(StoreError::Conflict)
    ));
    let mut v2 = v1.clone();
    v2.version = 2;
    let mut stale = v1.clone();
    stale.version = 9;
    assert!(matches!(
        records.replace_connector(&stale, &v2, &ev(&v2)).await,
        Err(StoreError::Conflict)
    ));
    let updated = ev(&v2);
    records
        .replace_connector(&v1, &v2, &updated)
        .await
        .expect("replace");
    // The same write again finds itself done, and stores no second event.
    records
        .replace_connector(&v1, &v2, &ev(&v2))
        .await
        .expect("the same write again");
    assert!(matches!(
        records
            .delete_connector(&tenant("acme"), &id, 1, &ev(&v1))
            .await,
        Err(StoreError::Conflict)
    ));
    let tested = ev(&v2);
    p.storage
        .events
        .append_event(&tested)
        .await
        .expect("append");
    let deleted = ev(&v2);
    records
        .delete_connector(&tenant("acme"), &id, 2, &deleted)
        .await
        .expect("delete");
    let expected: Vec<String> = [&deleted, &tested, &updated, &created]
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(
        history(&p, &id, 50).await,
        expected,
        "newest first, after the delete too"
    );
    assert_eq!(history(&p, &id, 3).await, expected, "the same across pages");
    assert_eq!(history(&p, &id, 1).await, expected, "the same one by one");
    let other = p
        .storage
        .events
        .list_events(&tenant("other"), &id, None, 50, Timestamp::now())
        .await
        .expect("another account's read");
    assert!(other.items.is_empty(), "another account sees no event");
}
on_every_adapter!(each_record_write_stores_its_event_with_it_and_a_refused_write_stores_none);

async fn an_expired_event_is_never_answered(p: Ports) {
    let id = ConnectorId::generate();
    let c = record("acme", &id, "active");
    let mut old = ev(&c);
    old.expires_at = Timestamp::now().plus_seconds(-1);
    p.storage
        .events
        .append_event(&old)
        .await
        .expect("append old");
    let kept = ev(&c);
    p.storage
        .events
        .append_event(&kept)
        .await
        .expect("append kept");
    assert_eq!(history(&p, &id, 50).await, vec![kept.event_id]);
}
on_every_adapter!(an_expired_event_is_never_answered);

/// Everything readers see, in a comparable order.
async fn snapshot(store: &EmbeddedStore) -> (Vec<Connector>, Vec<ApiKeyRecord>) {
    let connectors = store.all_connectors().await.expect("connectors");
    let mut keys = store.list_api_keys().await.expect("keys");
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    (connectors, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_readers_see_what_a_reopened_file_holds_after_racing_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.redb");
    let store = EmbeddedStore::open(&path).expect("open");
    let ids: Vec<ConnectorId> = (0..8).map(|_| ConnectorId::generate()).collect();
    for id in &ids {
        store
            .insert_connector(
                &record("acme", id, "active"),
                &ev(&record("acme", id, "active")),
            )
            .await
            .expect("insert");
    }
    let tenant = TenantId::parse("acme").expect("tenant");
    let keys: Vec<ApiKeyRecord> = (0..4)
        .map(|_| ApiKeyRecord::mint(tenant.clone(), vec![KeyScope::Read], None).record)
        .collect();

    // Four writers race for each connector's version 1; every other connector is also
    // raced by a delete. Keys are added and half of them revoked at the same time.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        for writer in 0..4 {
            let (store, read) = (store.clone(), record("acme", id, "active"));
            let mut c = read.clone();
            c.name = connectors::domain::names::ConnectorName::parse(&format!("writer {writer}"))
                .expect("name");
            c.version = 2;
            tasks.spawn(async move { store.replace_connector(&read, &c, &ev(&c)).await.is_ok() });
        }
        if i % 2 == 0 {
            let (store, tenant, id) = (store.clone(), tenant.clone(), id.clone());
            tasks.spawn(async move {
                store
                    .delete_connector(&tenant, &id, 1, &ev_at(&tenant, &id))
                    .await
                    .is_ok()
            });
        }
    }
    for (i, key) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), key.clone());
        tasks.spawn(async move {
            store.put_api_key(&key).await.expect("put key");
            if i % 2 == 0 {
                store
                    .revoke_api_key(&key.key_id, Timestamp::now())
                    .await
                    .expect("revoke");
            }
            true
        });
    }
    let mut won = 0;
    while let Some(done) = tasks.join_next().await {
        won += usize::from(done.expect("task"));
    }
    // One write per connector wins its version (a replace or the delete), plus the keys.
    assert_eq!(won, ids.len() + keys.len());

    let seen = snapshot(&store).await;
    assert!(seen.0.iter().all(|c| c.version == 2));
    assert_eq!(seen.1.iter().filter(|k| k.revoked_at.is_some()).count(), 2);
    drop(store);
    let reopened = EmbeddedStore::open(&path).expect("reopen");
    assert_eq!(snapshot(&reopened).await, seen);
}
