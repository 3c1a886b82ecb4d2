//! The embedded [`ConnectorStore`]: one redb file, crash-safe (every commit is durable), for
//! local runs without an AWS account.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Claim, ConnectorPage, ConnectorStore, IdempotencyRecord, IdempotencyState, StoreError,
    StoredResponse, decide_claim,
};
use crate::domain::apikey::{ApiKeyRecord, KeyHash};
use crate::domain::connector::{Connector, ListFilter};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;

/// `"<tenant>/<connector_id>"` → connector JSON. `/` sorts before every id character, so a
/// tenant's connectors form one contiguous, id-ordered range.
const CONNECTORS: TableDefinition<&str, &[u8]> = TableDefinition::new("connectors");
/// `<sha256 of key>` → key JSON.
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// `"<tenant>/<sha256 of idempotency key>"` → record JSON.
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");

/// `<name>` → the service key, 64 hex digits.
const SERVICE_KEYS: TableDefinition<&str, &str> = TableDefinition::new("service_keys");

/// A redb-backed store; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
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

impl EmbeddedStore {
    /// Opens (or creates) the store file.
    ///
    /// # Errors
    /// When the file cannot be opened, e.g. another process holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        for table in [CONNECTORS, API_KEYS, IDEMPOTENCY] {
            txn.open_table(table).map_err(unavailable)?;
        }
        txn.open_table(SERVICE_KEYS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs a write transaction on the blocking pool; the closure's result is committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(unavailable)?;
            let out = f(&txn)?;
            txn.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    /// Reads one value. Reads are served from redb's cache and never wait for a writer.
    fn read_one<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(table).map_err(unavailable)?;
        match t.get(key).map_err(unavailable)? {
            Some(v) => decode(v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn read_all<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(table).map_err(unavailable)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(unavailable)? {
            let (_, v) = row.map_err(unavailable)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

fn stored_version(table: &redb::Table<&str, &[u8]>, key: &str) -> Result<Option<u64>, StoreError> {
    match table.get(key).map_err(unavailable)? {
        Some(v) => Ok(Some(decode::<Connector>(v.value())?.version)),
        None => Ok(None),
    }
}

#[async_trait]
impl ConnectorStore for EmbeddedStore {
    async fn insert_connector(&self, connector: &Connector) -> Result<(), StoreError> {
        let key = connector_key(&connector.tenant, &connector.id);
        let bytes = encode(connector)?;
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            if t.get(key.as_str()).map_err(unavailable)?.is_some() {
                return Err(StoreError::Conflict);
            }
            t.insert(key.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Option<Connector>, StoreError> {
        self.read_one(CONNECTORS, &connector_key(tenant, id))
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
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(CONNECTORS).map_err(unavailable)?;
        let mut items = Vec::new();
        for row in t
            .range(start.as_str()..end.as_str())
            .map_err(unavailable)?
            .rev()
        {
            let (_, v) = row.map_err(unavailable)?;
            let c: Connector = decode(v.value())?;
            if !filter.accepts(&c) {
                continue;
            }
            if items.len() == limit {
                return Ok(ConnectorPage { items, more: true });
            }
            items.push(c);
        }
        Ok(ConnectorPage { items, more: false })
    }

    async fn replace_connector(
        &self,
        connector: &Connector,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let key = connector_key(&connector.tenant, &connector.id);
        let bytes = encode(connector)?;
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            match stored_version(&t, &key)? {
                None => Err(StoreError::NotFound),
                Some(v) if v != expected_version => Err(StoreError::Conflict),
                Some(_) => {
                    t.insert(key.as_str(), bytes.as_slice())
                        .map_err(unavailable)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let key = connector_key(tenant, id);
        self.write(move |txn| {
            let mut t = txn.open_table(CONNECTORS).map_err(unavailable)?;
            match stored_version(&t, &key)? {
                None => Err(StoreError::NotFound),
                Some(v) if v != expected_version => Err(StoreError::Conflict),
                Some(_) => {
                    t.remove(key.as_str()).map_err(unavailable)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn all_connectors(&self) -> Result<Vec<Connector>, StoreError> {
        self.read_all(CONNECTORS)
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let hash = key.hash.as_str().to_owned();
        let bytes = encode(key)?;
        self.write(move |txn| {
            let mut t = txn.open_table(API_KEYS).map_err(unavailable)?;
            t.insert(hash.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read_one(API_KEYS, hash.as_str())
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read_all(API_KEYS)
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
            Ok(())
        })
        .await
    }

    async fn claim_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_resource_id: &str,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let key = format!("{tenant}/{key_hash}");
        let (fingerprint, new_id) = (fingerprint.to_owned(), new_resource_id.to_owned());
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
            Ok(claim)
        })
        .await
    }

    async fn complete_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = format!("{tenant}/{key_hash}");
        let response = response.clone();
        self.write(move |txn| {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(unavailable)?;
            let mut record: IdempotencyRecord = match t.get(key.as_str()).map_err(unavailable)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            record.state = IdempotencyState::Done { response };
            record.expires_at = now.plus_seconds(super::IDEMPOTENCY_TTL_SECONDS);
            t.insert(key.as_str(), encode(&record)?.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn release_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
    ) -> Result<(), StoreError> {
        let key = format!("{tenant}/{key_hash}");
        self.write(move |txn| {
            let mut t = txn.open_table(IDEMPOTENCY).map_err(unavailable)?;
            t.remove(key.as_str()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn shared_key(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let name = name.to_owned();
        self.write(move |txn| {
            let mut t = txn.open_table(SERVICE_KEYS).map_err(unavailable)?;
            let stored = t
                .get(name.as_str())
                .map_err(unavailable)?
                .map(|v| v.value().to_owned());
            match stored {
                Some(hex) => super::decode_shared_key(Some(&hex)),
                None => {
                    t.insert(name.as_str(), hex::encode(candidate).as_str())
                        .map_err(unavailable)?;
                    Ok(candidate)
                }
            }
        })
        .await
    }
}
