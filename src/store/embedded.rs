//! The embedded store behind every storage port but the vault: one redb file, crash-safe
//! (every commit is durable), for local runs without an AWS account.
//!
//! The process holds the file exclusively, so the store also keeps every connector and API
//! key decoded in memory, updated after each commit: reads never touch the file or decode a
//! record, and the file is read whole only when the store is opened.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde::{Serialize, de::DeserializeOwned};
use ulid::Ulid;

use super::{
    ApiKeys, Changes, Claim, ConnectorEvents, ConnectorPage, ConnectorRecords, EventPage,
    EventPageBuilder, Holder, IdempotencyRecord, IdempotencyRecords, IdempotencyState, Identities,
    PageBuilder, RateCounters, Remembered, ServiceKeys, StoreError, decide_claim,
};
use crate::domain::apikey::{ApiKeyRecord, KeyHash};
use crate::domain::connector::{Connector, ListFilter};
use crate::domain::events::ConnectorEvent;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;

/// `"<tenant>/<connector_id>"` → connector JSON. `/` sorts before every id character, so a
/// tenant's connectors form one contiguous, id-ordered range.
const CONNECTORS: TableDefinition<&str, &[u8]> = TableDefinition::new("connectors");
/// `<sha256 of key>` → key JSON.
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// `"<tenant>/<sha256 of idempotency key>"` → record JSON.
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");

/// `"<tenant>/<connector_id>/<event_id>"` → event JSON: a connector's history is one
/// contiguous range, oldest first.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("events");

/// `<name>` → the service key, 64 hex digits.
const SERVICE_KEYS: TableDefinition<&str, &str> = TableDefinition::new("service_keys");

/// `"<pool>/held/<identity>"` → the tenant holding it; `"<pool>/of/<tenant>"` → the
/// identity the tenant holds.
const IDENTITIES: TableDefinition<&str, &str> = TableDefinition::new("identities");

/// The decoded contents of the `connectors` and `api_keys` tables, as last committed.
struct Mirror {
    /// Keyed like the table, so a tenant's connectors are one ordered range here too.
    /// Shared with readers, who get a reference count rather than a copy.
    connectors: BTreeMap<String, Arc<Connector>>,
    /// The same records by the ULID of their id, for reads of one connector: one hash
    /// probe on a number rather than a walk of text keys (ids are unique across tenants;
    /// the reader checks the tenant).
    by_id: HashMap<Ulid, Arc<Connector>>,
    api_keys: HashMap<String, Arc<ApiKeyRecord>>,
}

/// What a committed write changed in the mirrored tables.
enum Change {
    Nothing,
    PutConnector(String, Arc<Connector>),
    RemoveConnector(String, Ulid),
    PutApiKey(String, Arc<ApiKeyRecord>),
}

impl Mirror {
    fn new(
        connectors: BTreeMap<String, Arc<Connector>>,
        api_keys: HashMap<String, Arc<ApiKeyRecord>>,
    ) -> Self {
        let by_id = connectors
            .values()
            .map(|c| (c.id.ulid(), Arc::clone(c)))
            .collect();
        Self {
            connectors,
            by_id,
            api_keys,
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Nothing => {}
            Change::PutConnector(key, c) => {
                self.by_id.insert(c.id.ulid(), Arc::clone(&c));
                self.connectors.insert(key, c);
            }
            Change::RemoveConnector(key, ulid) => {
                self.by_id.remove(&ulid);
                self.connectors.remove(&key);
            }
            Change::PutApiKey(hash, k) => {
                self.api_keys.insert(hash, k);
            }
        }
    }
}

/// A redb-backed store; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    mirror: Arc<RwLock<Mirror>>,
    /// Held from a write's start until the mirror shows it, so the mirror applies commits
    /// in the order redb made them.
    writer: Arc<Mutex<()>>,
    /// Rate counters by key and window end. One process holds the data directory, so they
    /// live in memory only: a restart starts every window afresh.
    counters: Arc<Mutex<HashMap<(String, i64), u64>>>,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn connector_key(tenant: &TenantId, id: &ConnectorId) -> String {
    format!("{tenant}/{id}")
}

/// Every row of `table`, decoded; a row that does not decode is named in the error.
fn load<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
) -> Result<Vec<(String, T)>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let t = txn.open_table(table).map_err(unavailable)?;
    let mut out = Vec::new();
    for row in t.iter().map_err(unavailable)? {
        let (k, v) = row.map_err(unavailable)?;
        let key = k.value().to_owned();
        let value = decode(v.value())
            .map_err(|e| StoreError::Corrupt(format!("{} row {key:?}: {e}", table.name())))?;
        out.push((key, value));
    }
    Ok(out)
}

impl EmbeddedStore {
    /// Opens (or creates) the store file and reads its connectors and keys into memory.
    ///
    /// # Errors
    /// When the file cannot be opened, e.g. another process holds it, or a stored record
    /// no longer decodes.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        for table in [CONNECTORS, API_KEYS, IDEMPOTENCY, EVENTS] {
            txn.open_table(table).map_err(unavailable)?;
        }
        txn.open_table(SERVICE_KEYS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        let mirror = Mirror::new(
            load(&db, CONNECTORS)?.into_iter().collect(),
            load(&db, API_KEYS)?.into_iter().collect(),
        );
        Ok(Self {
            db: Arc::new(db),
            mirror: Arc::new(RwLock::new(mirror)),
            writer: Arc::default(),
            counters: Arc::default(),
        })
    }

    /// Runs a write transaction on the blocking pool; the closure's result is committed,
    /// then its [`Change`] is shown to readers.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<(T, Change), StoreError> + Send + 'static,
    {
        let (db, mirror, writer) = (
            Arc::clone(&self.db),
            Arc::clone(&self.mirror),
            Arc::clone(&self.writer),
        );
        tokio::task::spawn_blocking(move || {
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let txn = db.begin_write().map_err(unavailable)?;
            let (out, change) = f(&txn)?;
            txn.commit().map_err(unavailable)?;
            mirror
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .apply(change);
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    /// Reads the mirror. Readers wait only while a committed change is being applied,
    /// never for a transaction.
    fn read<T>(&self, f: impl FnOnce(&Mirror) -> T) -> T {
        f(&self.mirror.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Where a connector's history starts in `EVENTS` (every key of it begins so).
fn events_prefix(tenant: &TenantId, id: &ConnectorId) -> String {
    format!("{tenant}/{id}/")
}

/// Stores `event` in the transaction, and forgets its connector's expired events: the
/// oldest come first, so the walk stops at the first that is kept.
fn put_event(txn: &redb::WriteTransaction, event: &ConnectorEvent) -> Result<(), StoreError> {
    let mut t = txn.open_table(EVENTS).map_err(unavailable)?;
    let prefix = events_prefix(&event.tenant, &event.connector_id);
    let now = Timestamp::now();
    let mut expired = Vec::new();
    for row in t.range::<&str>(prefix.as_str()..).map_err(unavailable)? {
        let (k, v) = row.map_err(unavailable)?;
        if !k.value().starts_with(&prefix) || decode::<ConnectorEvent>(v.value())?.expires_at > now
        {
            break;
        }
        expired.push(k.value().to_owned());
    }
    for key in expired {
        t.remove(key.as_str()).map_err(unavailable)?;
    }
    let key = format!("{prefix}{}", event.event_id);
    t.insert(key.as_str(), encode(event)?.as_slice())
        .map_err(unavailable)?;
    Ok(())
}

fn stored_version(table: &redb::Table<&str, &[u8]>, key: &str) -> Result<Option<u64>, StoreError> {
    match table.get(key).map_err(unavailable)? {
        Some(v) => Ok(Some(decode::<Connector>(v.value())?.version)),
        None => Ok(None),
    }
}

#[async_trait]
impl ConnectorRecords for EmbeddedStore {
    async fn insert_connector(
        &self,
        connector: &Connector,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError> {
        let key = connector_key(&connector.tenant, &connector.id);
        let bytes = encode(connector)?;
        let record = Arc::new(connector.clone());
        let event = event.clone();
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            if stored_version(&t, &key)?.is_some() {
                return Err(StoreError::Conflict);
            }
            t.insert(key.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            put_event(txn, &event)?;
            Ok(((), Change::PutConnector(key, record)))
        })
        .await
    }

    async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Option<Arc<Connector>>, StoreError> {
        Ok(self.read(|m| {
            m.by_id
                .get(&id.ulid())
                .filter(|c| c.tenant == *tenant)
                .cloned()
        }))
    }

    async fn list_connectors(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        after: Option<&ConnectorId>,
        limit: usize,
    ) -> Result<ConnectorPage, StoreError> {
        let start = format!("{tenant}/");
        // '0' is the character after '/', so this bounds the tenant's range from above.
        let end = match after {
            Some(id) => connector_key(tenant, id),
            None => format!("{tenant}0"),
        };
        Ok(self.read(|m| {
            let mut page = PageBuilder::new(filter, after, limit);
            let newest_first = m
                .connectors
                .range::<str, _>((
                    Bound::Included(start.as_str()),
                    Bound::Excluded(end.as_str()),
                ))
                .rev();
            for (_, c) in newest_first {
                if let Some(done) = page.push(Arc::clone(c)) {
                    return done;
                }
            }
            page.finish()
        }))
    }

    async fn replace_connector(
        &self,
        read: &Connector,
        next: &Connector,
        event: &ConnectorEvent,
    ) -> Result<Connector, StoreError> {
        let key = connector_key(&next.tenant, &next.id);
        let changes = Changes::between(read, next)?;
        let (expected, next_version) = (read.version, next.version);
        let (event, answer) = (event.clone(), next.clone());
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            let stored: Connector = match t.get(key.as_str()).map_err(unavailable)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            if stored.version != expected {
                // The same write again (a retry after a lost reply) finds itself done.
                if stored.version == next_version && changes.visible_in(&stored) {
                    return Ok((answer, Change::Nothing));
                }
                return Err(StoreError::Conflict);
            }
            let merged = changes.apply_to(&stored)?;
            t.insert(key.as_str(), encode(&merged)?.as_slice())
                .map_err(unavailable)?;
            drop(t);
            put_event(txn, &event)?;
            Ok((answer, Change::PutConnector(key, Arc::new(merged))))
        })
        .await
    }

    async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        expected_version: u64,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError> {
        let key = connector_key(tenant, id);
        let ulid = id.ulid();
        let event = event.clone();
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            match stored_version(&t, &key)? {
                None => Err(StoreError::NotFound),
                Some(v) if v != expected_version => Err(StoreError::Conflict),
                Some(_) => {
                    t.remove(key.as_str()).map_err(unavailable)?;
                    drop(t);
                    put_event(txn, &event)?;
                    Ok(((), Change::RemoveConnector(key, ulid)))
                }
            }
        })
        .await
    }

    async fn all_connectors(&self) -> Result<Vec<Connector>, StoreError> {
        Ok(self.read(|m| m.connectors.values().map(|c| c.as_ref().clone()).collect()))
    }
}

#[async_trait]
impl ConnectorEvents for EmbeddedStore {
    async fn append_event(&self, event: &ConnectorEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.write(move |txn| {
            put_event(txn, &event)?;
            Ok(((), Change::Nothing))
        })
        .await
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        after: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<EventPage, StoreError> {
        let db = Arc::clone(&self.db);
        let prefix = events_prefix(tenant, id);
        // '0' is the character after '/': the end of the connector's range.
        let end = match after {
            Some(event_id) => format!("{prefix}{event_id}"),
            None => format!("{}0", prefix.trim_end_matches('/')),
        };
        let after = after.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let t = txn.open_table(EVENTS).map_err(unavailable)?;
            let mut page = EventPageBuilder::new(after.as_deref(), limit, now);
            for row in t
                .range::<&str>(prefix.as_str()..end.as_str())
                .map_err(unavailable)?
                .rev()
            {
                let (_, v) = row.map_err(unavailable)?;
                if let Some(done) = page.push(decode(v.value())?) {
                    return Ok(done);
                }
            }
            Ok(page.finish())
        })
        .await
        .map_err(unavailable)?
    }
}

/// Past this many counters, those of windows that have passed are dropped.
const COUNTERS_KEPT: usize = 10_000;

#[async_trait]
impl RateCounters for EmbeddedStore {
    async fn hit(&self, key: &str, window_end: Timestamp) -> Result<u64, StoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if counters.len() >= COUNTERS_KEPT {
            let now = Timestamp::now().unix();
            counters.retain(|(_, end), _| *end > now);
        }
        let count = counters
            .entry((key.to_owned(), window_end.unix()))
            .or_insert(0);
        *count += 1;
        Ok(*count)
    }

    async fn give_back(&self, key: &str, window_end: Timestamp) -> Result<(), StoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counters.get_mut(&(key.to_owned(), window_end.unix())) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}

#[async_trait]
impl ApiKeys for EmbeddedStore {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let hash = key.hash.as_str().to_owned();
        let bytes = encode(key)?;
        let record = Arc::new(key.clone());
        self.write(move |txn| {
            let mut t = txn.open_table(API_KEYS).map_err(unavailable)?;
            t.insert(hash.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            Ok(((), Change::PutApiKey(hash, record)))
        })
        .await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        Ok(self.read(|m| m.api_keys.get(hash.as_str()).cloned()))
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self.read(|m| m.api_keys.values().map(|k| k.as_ref().clone()).collect()))
    }

    async fn revoke_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |txn| {
            let mut t = txn.open_table(API_KEYS).map_err(unavailable)?;
            let mut found = None;
            for row in t.iter().map_err(unavailable)? {
                let (k, v) = row.map_err(unavailable)?;
                let rec: ApiKeyRecord = decode(v.value())?;
                if rec.key_id == key_id {
                    found = Some((k.value().to_owned(), rec));
                    break;
                }
            }
            let (hash, mut rec) = found.ok_or(StoreError::NotFound)?;
            rec.revoked_at.get_or_insert(at);
            t.insert(hash.as_str(), encode(&rec)?.as_slice())
                .map_err(unavailable)?;
            Ok(((), Change::PutApiKey(hash, Arc::new(rec))))
        })
        .await
    }
}

#[async_trait]
impl IdempotencyRecords for EmbeddedStore {
    async fn claim_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_resource_id: &ConnectorId,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let key = format!("{tenant}/{key_hash}");
        let (fingerprint, new_id) = (fingerprint.to_owned(), new_resource_id.clone());
        self.write(move |txn| {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(unavailable)?;
            let existing: Option<IdempotencyRecord> =
                match t.get(key.as_str()).map_err(unavailable)? {
                    Some(v) => Some(decode(v.value())?),
                    None => None,
                };
            let (claim, write) = decide_claim(existing, &fingerprint, &new_id, now);
            if let Some(record) = write {
                t.insert(key.as_str(), encode(&record)?.as_slice())
                    .map_err(unavailable)?;
            }
            Ok((claim, Change::Nothing))
        })
        .await
    }

    async fn complete_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
        response: &Remembered,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = format!("{tenant}/{key_hash}");
        let response = response.clone();
        let (fingerprint, resource_id) =
            (holder.fingerprint.to_owned(), holder.resource_id.clone());
        self.write(move |txn| {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(unavailable)?;
            let mut record: IdempotencyRecord = match t.get(key.as_str()).map_err(unavailable)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            let holder = Holder {
                fingerprint: &fingerprint,
                resource_id: &resource_id,
            };
            if !holder.holds(&record) {
                return Err(StoreError::NotFound);
            }
            record.state = IdempotencyState::Done { response };
            record.expires_at = now.plus_seconds(super::IDEMPOTENCY_TTL_SECONDS);
            t.insert(key.as_str(), encode(&record)?.as_slice())
                .map_err(unavailable)?;
            Ok(((), Change::Nothing))
        })
        .await
    }

    async fn release_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
    ) -> Result<(), StoreError> {
        let key = format!("{tenant}/{key_hash}");
        let (fingerprint, resource_id) =
            (holder.fingerprint.to_owned(), holder.resource_id.clone());
        self.write(move |txn| {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(unavailable)?;
            let record: Option<IdempotencyRecord> =
                match t.get(key.as_str()).map_err(unavailable)? {
                    Some(v) => Some(decode(v.value())?),
                    None => None,
                };
            let holder = Holder {
                fingerprint: &fingerprint,
                resource_id: &resource_id,
            };
            let ours = record.is_some_and(|r| {
                holder.holds(&r) && matches!(r.state, IdempotencyState::InProgress { .. })
            });
            if ours {
                t.remove(key.as_str()).map_err(unavailable)?;
            }
            Ok(((), Change::Nothing))
        })
        .await
    }
}

#[async_trait]
impl ServiceKeys for EmbeddedStore {
    async fn shared_key(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let name = name.to_owned();
        self.write(move |txn| {
            let mut t = txn.open_table(SERVICE_KEYS).map_err(unavailable)?;
            let stored = t
                .get(name.as_str())
                .map_err(unavailable)?
                .map(|v| v.value().to_owned());
            match stored {
                Some(hex) => Ok((super::decode_shared_key(Some(&hex))?, Change::Nothing)),
                None => {
                    t.insert(name.as_str(), hex::encode(candidate).as_str())
                        .map_err(unavailable)?;
                    Ok((candidate, Change::Nothing))
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Identities for EmbeddedStore {
    async fn assign_identity(
        &self,
        pool: &str,
        tenant: &TenantId,
        candidates: &[String],
    ) -> Result<Option<String>, StoreError> {
        let (pool, tenant, candidates) = (pool.to_owned(), tenant.to_string(), candidates.to_vec());
        self.write(move |txn| {
            let mut t = txn.open_table(IDENTITIES).map_err(unavailable)?;
            let own = format!("{pool}/of/{tenant}");
            if let Some(held) = t.get(own.as_str()).map_err(unavailable)? {
                return Ok((Some(held.value().to_owned()), Change::Nothing));
            }
            for candidate in &candidates {
                let key = format!("{pool}/held/{candidate}");
                if t.get(key.as_str()).map_err(unavailable)?.is_some() {
                    continue;
                }
                t.insert(key.as_str(), tenant.as_str())
                    .map_err(unavailable)?;
                t.insert(own.as_str(), candidate.as_str())
                    .map_err(unavailable)?;
                return Ok((Some(candidate.clone()), Change::Nothing));
            }
            Ok((None, Change::Nothing))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_no_longer_decodes_is_named_when_the_store_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        drop(EmbeddedStore::open(&path).expect("create"));
        {
            let db = Database::create(&path).expect("db");
            let txn = db.begin_write().expect("txn");
            txn.open_table(CONNECTORS)
                .expect("table")
                .insert("acme/con_broken", b"{not json".as_slice())
                .expect("insert");
            txn.commit().expect("commit");
        }
        match EmbeddedStore::open(&path) {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("acme/con_broken"), "{why}"),
            Err(e) => panic!("expected a corrupt record, got {e}"),
            Ok(_) => panic!("a corrupt record opened"),
        }
    }
}
