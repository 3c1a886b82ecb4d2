//! Caches in front of two storage ports, for adapters whose every call is a network round
//! trip (DynamoDB, Secrets Manager): API keys found by hash, kept for a bounded time, and
//! credentials by secret version, which never changes once written.
//!
//! - **API keys** are kept at most [`KEY_TTL`] (30 s): a key revoked by another instance or
//!   by the operator's command stops working within that time (the revocation delay); one
//!   revoked through this instance stops at once. Unknown keys are not kept.
//! - **Credentials** are kept by `(secret name, version)`. A rotation writes a new version
//!   and the record names it, so the next read misses and sees the new credentials at once.
//!   At most [`SECRETS_KEPT`] are kept, each at most [`SECRET_TTL`]; an evicted value is
//!   wiped from memory when the last reader drops it (`secrecy` zeroes it).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};

use super::{ApiKeys, SecretTags, SecretVault, StoreError, VaultError};
use crate::domain::apikey::{ApiKeyRecord, KeyHash};
use crate::domain::connector::SecretRef;
use crate::domain::timestamp::Timestamp;
use crate::telemetry::metrics;

/// How long a found API key is trusted without looking again: the revocation delay.
pub const KEY_TTL: Duration = Duration::from_secs(30);
/// How many API keys are kept.
const KEYS_KEPT: u64 = 10_000;
/// How long decrypted credentials are kept.
pub const SECRET_TTL: Duration = Duration::from_secs(15 * 60);
/// How many decrypted credentials are kept.
pub const SECRETS_KEPT: u64 = 1_000;

/// [`ApiKeys`] with found keys kept for `ttl`.
pub struct CachedApiKeys {
    inner: Arc<dyn ApiKeys>,
    found: Cache<KeyHash, Arc<ApiKeyRecord>>,
}

impl CachedApiKeys {
    pub fn new(inner: Arc<dyn ApiKeys>, ttl: Duration) -> Self {
        Self {
            inner,
            found: Cache::builder()
                .max_capacity(KEYS_KEPT)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl ApiKeys for CachedApiKeys {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.found.invalidate(&key.hash);
        self.inner.put_api_key(key).await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        if let Some(record) = self.found.get(hash) {
            metrics::cache_lookup("api_keys", true);
            return Ok(Some(record));
        }
        metrics::cache_lookup("api_keys", false);
        let record = self.inner.find_api_key(hash).await?;
        if let Some(r) = &record {
            self.found.insert(hash.clone(), Arc::clone(r));
        }
        Ok(record)
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.list_api_keys().await
    }

    async fn revoke_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.inner.revoke_api_key(key_id, at).await?;
        // Only the id is known here, not the hash: forget every key this instance keeps.
        self.found.invalidate_all();
        Ok(())
    }
}

/// [`SecretVault`] with read values kept by secret version.
pub struct CachedVault {
    inner: Arc<dyn SecretVault>,
    values: Cache<SecretRef, Arc<SecretString>>,
}

impl CachedVault {
    pub fn new(inner: Arc<dyn SecretVault>, capacity: u64, ttl: Duration) -> Self {
        Self {
            inner,
            values: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// How many values are kept now (after pending evictions).
    pub fn kept(&self) -> u64 {
        self.values.run_pending_tasks();
        self.values.entry_count()
    }

    fn forget_secret(&self, name: &str) {
        let versions: Vec<Arc<SecretRef>> = self
            .values
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.name == name)
            .collect();
        for version in versions {
            self.values.invalidate(version.as_ref());
        }
    }
}

#[async_trait]
impl SecretVault for CachedVault {
    async fn put(
        &self,
        name: &str,
        value: &SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError> {
        self.inner.put(name, value, tags).await
    }

    async fn get(&self, reference: &SecretRef) -> Result<SecretString, VaultError> {
        if let Some(value) = self.values.get(reference) {
            metrics::cache_lookup("credentials", true);
            return Ok(SecretString::from(value.expose_secret().to_owned()));
        }
        metrics::cache_lookup("credentials", false);
        let value = self.inner.get(reference).await?;
        let kept = Arc::new(SecretString::from(value.expose_secret().to_owned()));
        self.values.insert(reference.clone(), kept);
        Ok(value)
    }

    async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError> {
        self.values.invalidate(reference);
        self.inner.delete_version(reference).await
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        self.forget_secret(name);
        self.inner.delete(name).await
    }

    async fn names(&self) -> Result<Vec<String>, VaultError> {
        self.inner.names().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::apikey::KeyScope;
    use crate::domain::ids::{ConnectorId, TenantId};

    /// API keys in memory, counting lookups.
    #[derive(Default)]
    struct Keys {
        records: Mutex<HashMap<KeyHash, ApiKeyRecord>>,
        finds: AtomicUsize,
    }

    #[async_trait]
    impl ApiKeys for Keys {
        async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
            let mut records = self.records.lock().map_err(|_| StoreError::NotFound)?;
            records.insert(key.hash.clone(), key.clone());
            Ok(())
        }
        async fn find_api_key(
            &self,
            hash: &KeyHash,
        ) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
            self.finds.fetch_add(1, Ordering::SeqCst);
            let records = self.records.lock().map_err(|_| StoreError::NotFound)?;
            Ok(records.get(hash).cloned().map(Arc::new))
        }
        async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
            let records = self.records.lock().map_err(|_| StoreError::NotFound)?;
            Ok(records.values().cloned().collect())
        }
        async fn revoke_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
            let mut records = self.records.lock().map_err(|_| StoreError::NotFound)?;
            let record = records
                .values_mut()
                .find(|r| r.key_id == key_id)
                .ok_or(StoreError::NotFound)?;
            record.revoked_at = Some(at);
            Ok(())
        }
    }

    fn usable(found: Option<Arc<ApiKeyRecord>>) -> bool {
        found.is_some_and(|r| r.is_usable(Timestamp::now()))
    }

    async fn minted(keys: &Keys) -> ApiKeyRecord {
        let tenant = TenantId::parse("acme").expect("tenant");
        let key = ApiKeyRecord::mint(tenant, vec![KeyScope::Read], None).record;
        keys.put_api_key(&key).await.expect("put");
        key
    }

    #[tokio::test]
    async fn a_found_key_is_looked_up_once_while_it_is_kept() {
        let keys = Arc::new(Keys::default());
        let key = minted(&keys).await;
        let cached = CachedApiKeys::new(Arc::clone(&keys) as Arc<dyn ApiKeys>, KEY_TTL);
        for _ in 0..5 {
            assert!(usable(cached.find_api_key(&key.hash).await.expect("find")));
        }
        assert_eq!(keys.finds.load(Ordering::SeqCst), 1);
        // Unknown keys are not kept: each lookup asks again.
        let unknown = KeyHash::of("sk_live_unknown");
        for _ in 0..3 {
            assert!(cached.find_api_key(&unknown).await.expect("find").is_none());
        }
        assert_eq!(keys.finds.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_key_revoked_elsewhere_stops_working_once_its_time_to_live_has_passed() {
        let keys = Arc::new(Keys::default());
        let key = minted(&keys).await;
        let ttl = Duration::from_millis(300);
        let cached = CachedApiKeys::new(Arc::clone(&keys) as Arc<dyn ApiKeys>, ttl);
        assert!(usable(cached.find_api_key(&key.hash).await.expect("find")));
        // Revoked through another instance (or the operator's command): this one still
        // trusts what it found until the time to live has passed, and no longer.
        keys.revoke_api_key(&key.key_id, Timestamp::now())
            .await
            .expect("revoke");
        assert!(usable(cached.find_api_key(&key.hash).await.expect("find")));
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert!(!usable(cached.find_api_key(&key.hash).await.expect("find")));
    }

    #[tokio::test]
    async fn a_key_revoked_through_this_instance_stops_working_at_once() {
        let keys = Arc::new(Keys::default());
        let key = minted(&keys).await;
        let cached = CachedApiKeys::new(Arc::clone(&keys) as Arc<dyn ApiKeys>, KEY_TTL);
        assert!(usable(cached.find_api_key(&key.hash).await.expect("find")));
        cached
            .revoke_api_key(&key.key_id, Timestamp::now())
            .await
            .expect("revoke");
        assert!(!usable(cached.find_api_key(&key.hash).await.expect("find")));
    }

    /// Secrets in memory, each version by its own reference, counting reads.
    #[derive(Default)]
    struct Secrets {
        values: Mutex<HashMap<SecretRef, String>>,
        gets: AtomicUsize,
    }

    #[async_trait]
    impl SecretVault for Secrets {
        async fn put(
            &self,
            name: &str,
            value: &SecretString,
            _: &SecretTags,
        ) -> Result<SecretRef, VaultError> {
            let mut values = self.values.lock().map_err(|_| VaultError::NotFound)?;
            let reference = SecretRef {
                name: name.to_owned(),
                version: format!("v{}", values.len() + 1),
            };
            values.insert(reference.clone(), value.expose_secret().to_owned());
            Ok(reference)
        }
        async fn get(&self, reference: &SecretRef) -> Result<SecretString, VaultError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let values = self.values.lock().map_err(|_| VaultError::NotFound)?;
            values
                .get(reference)
                .map(|v| SecretString::from(v.clone()))
                .ok_or(VaultError::NotFound)
        }
        async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError> {
            let mut values = self.values.lock().map_err(|_| VaultError::NotFound)?;
            values.remove(reference);
            Ok(())
        }
        async fn delete(&self, name: &str) -> Result<(), VaultError> {
            let mut values = self.values.lock().map_err(|_| VaultError::NotFound)?;
            values.retain(|r, _| r.name != name);
            Ok(())
        }
        async fn names(&self) -> Result<Vec<String>, VaultError> {
            let values = self.values.lock().map_err(|_| VaultError::NotFound)?;
            Ok(values.keys().map(|r| r.name.clone()).collect())
        }
    }

    fn tags() -> SecretTags {
        SecretTags {
            tenant: TenantId::parse("acme").expect("tenant"),
            connector_id: ConnectorId::generate(),
        }
    }

    async fn read(vault: &CachedVault, r: &SecretRef) -> Result<String, VaultError> {
        vault.get(r).await.map(|s| s.expose_secret().to_owned())
    }

    #[tokio::test]
    async fn credentials_are_read_once_per_version_and_a_rotation_is_seen_at_once() {
        let secrets = Arc::new(Secrets::default());
        let vault = CachedVault::new(
            Arc::clone(&secrets) as Arc<dyn SecretVault>,
            SECRETS_KEPT,
            SECRET_TTL,
        );
        let v1 = vault
            .put("p/acme/c1", &SecretString::from("one"), &tags())
            .await
            .expect("put");
        for _ in 0..5 {
            assert_eq!(read(&vault, &v1).await.expect("read"), "one");
        }
        assert_eq!(secrets.gets.load(Ordering::SeqCst), 1);
        let v2 = vault
            .put("p/acme/c1", &SecretString::from("two"), &tags())
            .await
            .expect("rotate");
        assert_eq!(read(&vault, &v2).await.expect("read"), "two");
        assert_eq!(secrets.gets.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn removed_credentials_are_forgotten() {
        let secrets = Arc::new(Secrets::default());
        let vault = CachedVault::new(
            Arc::clone(&secrets) as Arc<dyn SecretVault>,
            SECRETS_KEPT,
            SECRET_TTL,
        );
        let v1 = vault
            .put("p/acme/c1", &SecretString::from("one"), &tags())
            .await
            .expect("put");
        let other = vault
            .put("p/acme/c2", &SecretString::from("two"), &tags())
            .await
            .expect("put");
        read(&vault, &v1).await.expect("read");
        read(&vault, &other).await.expect("read");
        vault.delete("p/acme/c1").await.expect("delete");
        assert!(matches!(read(&vault, &v1).await, Err(VaultError::NotFound)));
        vault.delete_version(&other).await.expect("delete");
        assert!(matches!(
            read(&vault, &other).await,
            Err(VaultError::NotFound)
        ));
    }

    #[tokio::test]
    async fn no_more_credentials_are_kept_than_the_bound() {
        let secrets = Arc::new(Secrets::default());
        let vault = CachedVault::new(Arc::clone(&secrets) as Arc<dyn SecretVault>, 3, SECRET_TTL);
        for i in 0..10 {
            let r = vault
                .put(&format!("p/acme/c{i}"), &SecretString::from("s"), &tags())
                .await
                .expect("put");
            read(&vault, &r).await.expect("read");
        }
        assert!(vault.kept() <= 3, "{} kept", vault.kept());
    }

    #[tokio::test]
    async fn credentials_are_kept_no_longer_than_their_time_to_live() {
        let secrets = Arc::new(Secrets::default());
        let ttl = Duration::from_millis(200);
        let vault = CachedVault::new(Arc::clone(&secrets) as Arc<dyn SecretVault>, 10, ttl);
        let r = vault
            .put("p/acme/c1", &SecretString::from("s"), &tags())
            .await
            .expect("put");
        read(&vault, &r).await.expect("read");
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert_eq!(vault.kept(), 0);
        read(&vault, &r).await.expect("read");
        assert_eq!(secrets.gets.load(Ordering::SeqCst), 2);
    }
}
