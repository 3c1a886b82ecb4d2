//! Storage ports, one per concern — [`ConnectorRecords`], [`ConnectorEvents`], [`ApiKeys`],
//! [`IdempotencyRecords`], [`ServiceKeys`], [`Identities`], [`RateCounters`] and [`SecretVault`]
//! (credentials) — gathered in
//! [`Storage`], with the embedded and AWS adapters that implement them.

pub mod cache;
pub mod dynamodb;
pub mod embedded;
pub mod embedded_vault;
pub mod secrets_manager;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::apikey::{ApiKeyRecord, KeyHash};
use crate::domain::connector::{Connector, ListFilter, SecretRef};
use crate::domain::events::ConnectorEvent;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;

/// A storage failure. `Conflict` and `NotFound` are answers; the others are faults.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a different version (or an existing item).
    #[error("conditional write failed")]
    Conflict,
    #[error("item not found")]
    NotFound,
    /// The backend failed or timed out; retryable.
    #[error("storage unavailable")]
    Unavailable(#[source] Cause),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One page of a tenant's connectors, newest first.
#[derive(Debug, Clone)]
pub struct ConnectorPage {
    pub items: Vec<Arc<Connector>>,
    /// Where the next page starts (after this connector), when more may match: the last
    /// item of a full page, or the last connector examined when the page stopped at
    /// [`LIST_EXAMINED_AT_MOST`].
    pub resume_after: Option<ConnectorId>,
}

/// Fills one list page from a tenant's connectors read newest first, past the `after`
/// item: the rules of [`ConnectorRecords::list_connectors`], shared by every adapter.
pub struct PageBuilder<'a> {
    filter: &'a ListFilter,
    after: Option<&'a ConnectorId>,
    limit: usize,
    budget: usize,
    examined: usize,
    last_examined: Option<ConnectorId>,
    items: Vec<Arc<Connector>>,
}

impl<'a> PageBuilder<'a> {
    pub fn new(filter: &'a ListFilter, after: Option<&'a ConnectorId>, limit: usize) -> Self {
        Self {
            filter,
            after,
            limit,
            budget: Self::budget(limit),
            examined: 0,
            last_examined: None,
            items: Vec::new(),
        }
    }

    /// How many connectors a page of `limit` may examine.
    pub fn budget(limit: usize) -> usize {
        LIST_EXAMINED_AT_MOST.max(limit + 1)
    }

    /// Takes the next connector read; answers the page once it is complete.
    pub fn push(&mut self, c: Arc<Connector>) -> Option<ConnectorPage> {
        if Some(&c.id) == self.after {
            return None;
        }
        if self.examined == self.budget {
            return Some(self.page(self.last_examined.clone()));
        }
        self.examined += 1;
        self.last_examined = Some(c.id.clone());
        if self.filter.accepts(&c) {
            if self.items.len() == self.limit {
                let resume_after = self.items.last().map(|l| l.id.clone());
                return Some(self.page(resume_after));
            }
            self.items.push(c);
        }
        None
    }

    /// The page when the connectors ran out.
    pub fn finish(mut self) -> ConnectorPage {
        self.page(None)
    }

    fn page(&mut self, resume_after: Option<ConnectorId>) -> ConnectorPage {
        ConnectorPage {
            items: std::mem::take(&mut self.items),
            resume_after,
        }
    }
}

/// The most stored connectors one list request examines. A filter that matches few of an
/// account's connectors gives a short page (empty, even) with a way to go on, rather than
/// a request that reads the whole account.
pub const LIST_EXAMINED_AT_MOST: usize = 2_000;

/// An answer kept for the replays of a request run once: opaque to the store (the
/// service writes and reads it), any JSON value, so that any operation's answer fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Remembered(pub serde_json::Value);

/// The state of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyState {
    /// A request holds the key until `lease_until`; after that another may take it over.
    InProgress {
        lease_until: Timestamp,
    },
    Done {
        response: Remembered,
    },
}

/// An idempotency record: one per tenant and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// The connector reserved for what the request creates or acts on, so a takeover
    /// reuses it.
    pub resource_id: ConnectorId,
    pub state: IdempotencyState,
    pub expires_at: Timestamp,
}

/// The request that claimed an idempotency key: its fingerprint and the resource it
/// reserved (a takeover of the same request keeps both).
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub fingerprint: &'a str,
    pub resource_id: &'a ConnectorId,
}

impl Holder<'_> {
    /// Whether `record` is this request's.
    pub fn holds(&self, record: &IdempotencyRecord) -> bool {
        record.fingerprint == self.fingerprint && record.resource_id == *self.resource_id
    }
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller now holds the key and should create `resource_id`.
    Acquired { resource_id: ConnectorId },
    /// The same request already finished: replay this.
    Replay(Remembered),
    /// The same request is still running elsewhere.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Connector records, one per tenant and id.
///
/// Records are shared and immutable: a read returns an `Arc` that no one changes, and an
/// adapter may hand out the same `Arc` for as long as the stored record is unchanged (the
/// embedded store does; DynamoDB reads make a new one each time). Callers may keep that
/// `Arc` to recognise an unchanged record by its address: the HTTP layer's render cache
/// does, so an adapter must never return an `Arc` it mutates or reuses for another record.
#[async_trait]
pub trait ConnectorRecords: Send + Sync {
    /// Stores a new connector and `event`, atomically. `Conflict` if the id exists.
    async fn insert_connector(
        &self,
        connector: &Connector,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError>;
    async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Option<Arc<Connector>>, StoreError>;
    /// Connectors of `tenant` older than `after` (newest first) that `filter` accepts, at
    /// most `limit` of them, examining at most [`LIST_EXAMINED_AT_MOST`] (`limit` + 1 at
    /// least).
    async fn list_connectors(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        after: Option<&ConnectorId>,
        limit: usize,
    ) -> Result<ConnectorPage, StoreError>;
    /// Writes what `next` changes of `read` (the record as the caller read it) and
    /// `event`, atomically, if the stored version is still `read.version`; every other
    /// field keeps its stored value, so a write never undoes another that left the
    /// version alone (a test's outcome). Answers `next`. `NotFound` if it is gone,
    /// `Conflict` if the version differs; both are told from the failed write itself,
    /// which also recognises the write as its own when a retry of it (by the SDK, after a
    /// lost reply) finds it done.
    async fn replace_connector(
        &self,
        read: &Connector,
        next: &Connector,
        event: &ConnectorEvent,
    ) -> Result<Connector, StoreError>;
    /// Deletes a connector and stores `event`, atomically, if its stored version is
    /// `expected_version`.
    async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        expected_version: u64,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError>;
    /// Every stored connector of every tenant (operator commands only).
    async fn all_connectors(&self) -> Result<Vec<Connector>, StoreError>;
}

/// One page of a connector's history, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub items: Vec<ConnectorEvent>,
    /// The id of the last event of a full page, when older ones may follow.
    pub resume_after: Option<String>,
}

/// Fills one page of a history read newest first: the rules of
/// [`ConnectorEvents::list_events`], shared by every adapter.
pub struct EventPageBuilder<'a> {
    after: Option<&'a str>,
    limit: usize,
    now: Timestamp,
    items: Vec<ConnectorEvent>,
}

impl<'a> EventPageBuilder<'a> {
    pub fn new(after: Option<&'a str>, limit: usize, now: Timestamp) -> Self {
        Self {
            after,
            limit,
            now,
            items: Vec::new(),
        }
    }

    /// Takes the next event read (the `after` event itself and expired ones are passed
    /// over); answers the page once it is full and another event follows.
    pub fn push(&mut self, event: ConnectorEvent) -> Option<EventPage> {
        if Some(event.event_id.as_str()) == self.after || event.expires_at <= self.now {
            return None;
        }
        if self.items.len() == self.limit {
            let resume_after = self.items.last().map(|e| e.event_id.clone());
            return Some(EventPage {
                items: std::mem::take(&mut self.items),
                resume_after,
            });
        }
        self.items.push(event);
        None
    }

    /// The page when the events ran out.
    pub fn finish(self) -> EventPage {
        EventPage {
            items: self.items,
            resume_after: None,
        }
    }
}

/// Connectors' histories. Events that record a change of a record are written with it,
/// by [`ConnectorRecords`]; the others (a test that changed nothing, rejected
/// credentials, an access grant) are appended here. Expired events (past `expires_at`)
/// are never answered, and the store forgets them.
#[async_trait]
pub trait ConnectorEvents: Send + Sync {
    /// Stores an event that changes no record.
    async fn append_event(&self, event: &ConnectorEvent) -> Result<(), StoreError>;
    /// Events of `tenant`'s connector `id` older than event `after`, newest first, at
    /// most `limit`, none expired at `now`.
    async fn list_events(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        after: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<EventPage, StoreError>;
}

/// API keys, found by the hash of their plaintext (which is never stored).
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<Arc<ApiKeyRecord>>, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked; `NotFound` if no key has that id.
    async fn revoke_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError>;
}

/// Idempotency records, one per tenant and `Idempotency-Key` (kept as its hash).
#[async_trait]
pub trait IdempotencyRecords: Send + Sync {
    /// Claims `key_hash` for a request with `fingerprint`, atomically: of two concurrent
    /// identical claims exactly one is `Acquired`. An expired record, or an in-progress one
    /// whose lease ran out, is taken over (keeping its `resource_id`).
    async fn claim_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_resource_id: &ConnectorId,
        now: Timestamp,
    ) -> Result<Claim, StoreError>;
    /// Records the finished answer for the key, if `holder`'s request still holds it
    /// (`NotFound` otherwise: the key was released and claimed by another request).
    async fn complete_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
        response: &Remembered,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Forgets `holder`'s in-progress claim, so a retry runs afresh; a key that holds an
    /// answer, or another request's claim, is left alone.
    async fn release_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
    ) -> Result<(), StoreError>;
}

/// The service's own keys (e.g. the cursor-sealing key), shared by every instance.
#[async_trait]
pub trait ServiceKeys: Send + Sync {
    /// The stored key `name`, or `candidate` if none was stored yet (the first writer wins).
    async fn shared_key(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError>;
}

/// Identities from a pool the operator made (GCS service accounts), each given to one
/// account the first time it asks and held by it for good.
#[async_trait]
pub trait Identities: Send + Sync {
    /// The identity of pool `pool` that `tenant` holds; if it holds none yet, the first of
    /// `candidates` no account holds, given to it atomically (of two accounts asking at once
    /// for the last one, one gets it). `None` when every candidate is held by another.
    async fn assign_identity(
        &self,
        pool: &str,
        tenant: &TenantId,
        candidates: &[String],
    ) -> Result<Option<String>, StoreError>;
}

/// Request counters shared by every instance: one per key and fixed window.
#[async_trait]
pub trait RateCounters: Send + Sync {
    /// Adds one to counter `key` for the window that ends at `window_end`, and answers the
    /// count after it. A counter is forgotten once its window has passed.
    async fn hit(&self, key: &str, window_end: Timestamp) -> Result<u64, StoreError>;
    /// Takes back one `hit` of counter `key` in that window (a call counted before it
    /// was known to cost nothing).
    async fn give_back(&self, key: &str, window_end: Timestamp) -> Result<(), StoreError>;
}

/// The storage a process runs on: one adapter per port. Both adapter families implement
/// every port, so [`Storage::on`] fills them from one store and one vault; tests replace
/// single ports (a fault wrapper wraps only what it needs).
#[derive(Clone)]
pub struct Storage {
    pub connectors: Arc<dyn ConnectorRecords>,
    pub events: Arc<dyn ConnectorEvents>,
    pub api_keys: Arc<dyn ApiKeys>,
    pub idempotency: Arc<dyn IdempotencyRecords>,
    pub service_keys: Arc<dyn ServiceKeys>,
    pub identities: Arc<dyn Identities>,
    pub rate_counters: Arc<dyn RateCounters>,
    pub vault: Arc<dyn SecretVault>,
}

impl Storage {
    /// Every port from one store, and the vault.
    pub fn on<S>(store: Arc<S>, vault: Arc<dyn SecretVault>) -> Self
    where
        S: ConnectorRecords
            + ConnectorEvents
            + ApiKeys
            + IdempotencyRecords
            + ServiceKeys
            + Identities
            + RateCounters
            + 'static,
    {
        Self {
            connectors: Arc::clone(&store) as Arc<dyn ConnectorRecords>,
            events: Arc::clone(&store) as Arc<dyn ConnectorEvents>,
            api_keys: Arc::clone(&store) as Arc<dyn ApiKeys>,
            idempotency: Arc::clone(&store) as Arc<dyn IdempotencyRecords>,
            service_keys: Arc::clone(&store) as Arc<dyn ServiceKeys>,
            identities: Arc::clone(&store) as Arc<dyn Identities>,
            rate_counters: store,
            vault,
        }
    }
}

/// What a replacement writes: the top-level fields of a record that differ between the
/// version its writer read and the one it wants, by their stored names.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Fields to set, with their new values.
    pub set: serde_json::Map<String, serde_json::Value>,
    /// Fields the new record no longer has.
    pub removed: Vec<String>,
}

fn fields(c: &Connector) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::Corrupt("a connector is not an object".into())),
        Err(e) => Err(StoreError::Corrupt(e.to_string())),
    }
}

impl Changes {
    /// What turns `read` into `next`.
    ///
    /// # Errors
    /// `Corrupt` if a record does not serialise as an object.
    pub fn between(read: &Connector, next: &Connector) -> Result<Self, StoreError> {
        let (before, after) = (fields(read)?, fields(next)?);
        let set = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let removed = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect();
        Ok(Self { set, removed })
    }

    /// `stored` with these changes made.
    ///
    /// # Errors
    /// `Corrupt` if the result is not a connector.
    pub fn apply_to(&self, stored: &Connector) -> Result<Connector, StoreError> {
        let mut map = fields(stored)?;
        for k in &self.removed {
            map.remove(k);
        }
        map.extend(self.set.clone());
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Whether `stored` shows every one of these changes (a write whose reply was lost).
    pub fn visible_in(&self, stored: &Connector) -> bool {
        fields(stored).is_ok_and(|map| {
            self.set.iter().all(|(k, v)| map.get(k) == Some(v))
                && self.removed.iter().all(|k| !map.contains_key(k))
        })
    }
}

/// The cause of a storage failure, kept whole so that its chain can be logged.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Reads a stored service key (64 hex digits).
pub(crate) fn decode_shared_key(stored: Option<&String>) -> Result<[u8; 32], StoreError> {
    let bad = || StoreError::Corrupt("a service key is not 64 hex digits".into());
    let bytes = hex::decode(stored.ok_or_else(bad)?).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// A vault failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("secret not found")]
    NotFound,
    #[error("secret store unavailable")]
    Unavailable(#[source] Cause),
    /// The secret exists but cannot be decrypted or read.
    #[error("secret unreadable: {0}")]
    Corrupt(String),
}

/// Tags stored beside a secret, so an operator can tell whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretTags {
    pub tenant: TenantId,
    pub connector_id: ConnectorId,
}

/// Where credentials live.
#[async_trait]
pub trait SecretVault: Send + Sync {
    /// Stores a new version of secret `name` and returns a reference to it.
    async fn put(
        &self,
        name: &str,
        value: &SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError>;
    async fn get(&self, reference: &SecretRef) -> Result<SecretString, VaultError>;
    /// Removes one version (after a rotation, or to undo a failed one).
    async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError>;
    /// Removes every version of `name`. Deleting a missing secret is not an error.
    async fn delete(&self, name: &str) -> Result<(), VaultError>;
    /// The names of all stored secrets (operator commands and tests).
    async fn names(&self) -> Result<Vec<String>, VaultError>;
}

/// How long an in-progress idempotency claim blocks others before it may be taken over
/// (longer than any request may run).
pub const IDEMPOTENCY_LEASE_SECONDS: i64 = 60;
/// How long a finished idempotency record is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;

/// The claim rules, shared by every adapter: given what is stored under the key, what the
/// claim answers and what (if anything) must be written.
pub fn decide_claim(
    existing: Option<IdempotencyRecord>,
    fingerprint: &str,
    new_resource_id: &ConnectorId,
    now: Timestamp,
) -> (Claim, Option<IdempotencyRecord>) {
    let fresh = |resource_id: &ConnectorId| IdempotencyRecord {
        fingerprint: fingerprint.to_owned(),
        resource_id: resource_id.clone(),
        state: IdempotencyState::InProgress {
            lease_until: now.plus_seconds(IDEMPOTENCY_LEASE_SECONDS),
        },
        expires_at: now.plus_seconds(IDEMPOTENCY_TTL_SECONDS),
    };
    let acquire = |resource_id: &ConnectorId| {
        (
            Claim::Acquired {
                resource_id: resource_id.clone(),
            },
            Some(fresh(resource_id)),
        )
    };
    match existing {
        None => acquire(new_resource_id),
        Some(rec) if rec.expires_at <= now => acquire(new_resource_id),
        Some(rec) if rec.fingerprint != fingerprint => (Claim::Mismatch, None),
        Some(IdempotencyRecord {
            state: IdempotencyState::Done { response },
            ..
        }) => (Claim::Replay(response), None),
        Some(IdempotencyRecord {
            state: IdempotencyState::InProgress { lease_until },
            ..
        }) if lease_until > now => (Claim::InProgress, None),
        // The holder died without finishing: take over, creating the same resource.
        Some(rec) => acquire(&rec.resource_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connector id numbered `n`.
    fn r(n: u8) -> ConnectorId {
        ConnectorId::parse(&format!("conn_01jd8x0k6m3q4r5s6t7v8w9xy{n}")).expect("an id")
    }

    fn done(fp: &str, now: Timestamp) -> IdempotencyRecord {
        IdempotencyRecord {
            fingerprint: fp.into(),
            resource_id: r(1),
            state: IdempotencyState::Done {
                response: Remembered(serde_json::json!({"connector_id": "conn_x"})),
            },
            expires_at: now.plus_seconds(10),
        }
    }

    #[test]
    fn a_new_key_is_acquired_with_the_new_resource_id() {
        let now = Timestamp::now();
        let (claim, write) = decide_claim(None, "fp", &r(2), now);
        assert_eq!(claim, Claim::Acquired { resource_id: r(2) });
        assert!(write.is_some());
    }

    #[test]
    fn a_finished_key_replays_for_the_same_request_and_refuses_another() {
        let now = Timestamp::now();
        assert!(matches!(
            decide_claim(Some(done("fp", now)), "fp", &r(2), now).0,
            Claim::Replay(_)
        ));
        assert_eq!(
            decide_claim(Some(done("fp", now)), "other", &r(2), now).0,
            Claim::Mismatch
        );
    }

    #[test]
    fn an_expired_record_is_forgotten() {
        let now = Timestamp::now();
        let (claim, _) = decide_claim(Some(done("fp", now)), "other", &r(2), now.plus_seconds(11));
        assert_eq!(claim, Claim::Acquired { resource_id: r(2) });
    }

    #[test]
    fn a_running_claim_blocks_until_its_lease_ends_then_is_taken_over_with_its_resource() {
        let now = Timestamp::now();
        let (_, written) = decide_claim(None, "fp", &r(1), now);
        let (claim, _) = decide_claim(written.clone(), "fp", &r(2), now);
        assert_eq!(claim, Claim::InProgress);
        let later = now.plus_seconds(IDEMPOTENCY_LEASE_SECONDS + 1);
        let (claim, _) = decide_claim(written, "fp", &r(2), later);
        assert_eq!(claim, Claim::Acquired { resource_id: r(1) });
    }
}
