//! The write protocol that keeps connector records and their secrets consistent, written
//! once and used by create, update (credential rotation included), delete and the record
//! of a test's outcome.
//!
//! Invariants, whatever step fails or whatever reply is lost:
//! - **A record and its history never disagree.** Every record write carries the event
//!   that records it, and the store writes both or neither.
//! - **A visible record can always read its credentials.** A secret (or a new version of
//!   it) is written before any record points at it, and removed only after no record does.
//! - **A lost reply is not a failed write.** When the store fails to answer a record write,
//!   the record is read again before anything is undone: if the write took effect, the
//!   request succeeded; if that read fails too, nothing is undone (a secret a record may
//!   point at stays, and `reconcile` removes it later if none does).
//! - **A write that lost a race is retried on the fresh record** (up to
//!   [`WRITE_ATTEMPTS`] times), unless the caller pinned a version with `If-Match`, which
//!   then fails with `PreconditionFailed`.
//! - **Unused secrets are discarded**, retried once, and left for `reconcile` (with a
//!   warning) if that fails too: a version written for a write that did not happen, the
//!   version a rotation replaced, the whole secret of a deleted connector. A version
//!   written for a write that lost a race is kept for the retry, and discarded by the
//!   caller if it gives up.
//! - **A write changes only what it means to change**: a replacement writes the fields
//!   that differ from the record it read, conditional on that record's version, so a
//!   test's outcome (which leaves the version alone) and a PATCH never undo each other.

use std::future::Future;
use std::sync::Arc;

use super::App;
use super::connectors::Precondition;
use super::error::ServiceError;
use crate::domain::connector::{Connector, SecretRef};
use crate::domain::credentials::Credentials;
use crate::domain::events::ConnectorEvent;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::store::{Changes, SecretTags, StoreError};

/// How many times a write re-reads and retries after losing a race.
const WRITE_ATTEMPTS: usize = 5;
/// How many times removing an unused secret (or version) is tried before `reconcile` is
/// left to do it.
const VAULT_CLEANUP_ATTEMPTS: usize = 2;

/// One conditional write of a connector record.
pub(super) enum RecordWrite<'a> {
    /// A new record; fails with `Conflict` if the id exists.
    Insert(&'a Connector),
    /// What `next` changes of `read` is written if the record is still at `read`'s
    /// version; fields it does not change keep their stored values.
    Replace {
        read: &'a Connector,
        next: &'a Connector,
    },
    /// The record goes if it is still at `expected_version`.
    Delete {
        tenant: &'a TenantId,
        id: &'a ConnectorId,
        expected_version: u64,
    },
}

impl RecordWrite<'_> {
    fn key(&self) -> (&TenantId, &ConnectorId) {
        match self {
            RecordWrite::Insert(c) | RecordWrite::Replace { next: c, .. } => (&c.tenant, &c.id),
            RecordWrite::Delete { tenant, id, .. } => (tenant, id),
        }
    }

    /// Whether `stored`, read after a lost reply, shows this write took effect.
    fn took_effect(&self, stored: Option<&Connector>) -> bool {
        match (self, stored) {
            (RecordWrite::Insert(c), Some(s)) => s.access == c.access,
            (RecordWrite::Replace { read, next }, Some(s)) => {
                Changes::between(read, next).is_ok_and(|changes| changes.visible_in(s))
            }
            (RecordWrite::Delete { .. }, None) => true,
            _ => false,
        }
    }
}

/// Whether `stored` reads the secret version `written`.
pub(super) fn points_at(stored: Option<&Connector>, written: Option<&SecretRef>) -> bool {
    written.is_some_and(|w| stored.and_then(|s| s.access.secret()) == Some(w))
}

/// A secret no record will point at once a write settles.
pub(super) enum Unused {
    /// One version (written for a write that did not happen, or replaced by a rotation).
    Version(SecretRef),
    /// The whole secret (of a deleted connector).
    Secret(String),
}

/// A record write with the event that records it (written in the same transaction) and
/// the secrets that depend on its outcome.
pub(super) struct Commit<'a> {
    pub write: RecordWrite<'a>,
    pub event: &'a ConnectorEvent,
    /// A version written for this write: discarded if the write did not happen, unless it
    /// lost a race (`Conflict`), after which the caller may retry with it or discards it.
    pub written: Option<&'a SecretRef>,
    /// What becomes unused once the write happened: discarded after it.
    pub replaced: Option<Unused>,
}

/// Why one attempt on the current record did not finish.
pub(super) enum Attempt {
    /// The store refused or failed (`Conflict` means another write won the race).
    Store(StoreError),
    /// The attempt itself failed; not retried.
    Failed(ServiceError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Store(e)
    }
}

impl From<ServiceError> for Attempt {
    fn from(e: ServiceError) -> Self {
        Attempt::Failed(e)
    }
}

impl App {
    fn secret_name(&self, tenant: &TenantId, id: &ConnectorId) -> String {
        format!("{}/{tenant}/{id}", self.secret_prefix)
    }

    /// Writes `credentials` as a new version of the connector's secret, before any record
    /// points at it. When the put fails, the version may still have been written: if no
    /// record exists for the connector, the whole secret is unused and goes; otherwise the
    /// record keeps the version it names.
    pub(super) async fn put_secret(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        credentials: &Credentials,
    ) -> Result<SecretRef, ServiceError> {
        let name = self.secret_name(tenant, id);
        let tags = SecretTags {
            tenant: tenant.clone(),
            connector_id: id.clone(),
        };
        let secret = credentials
            .to_secret()
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("connector {id}: {}", e.0)))?;
        match self.storage.vault.put(&name, &secret, &tags).await {
            Ok(secret) => Ok(secret),
            Err(e) => {
                if let Ok(None) = self.storage.connectors.get_connector(tenant, id).await {
                    self.discard(&Unused::Secret(name)).await;
                }
                Err(e.into())
            }
        }
    }

    /// Performs `commit`: the record write, confirmed by a read when its reply is lost,
    /// then the secrets its outcome leaves unused are discarded. Answers the record as
    /// stored after a replacement (`None` for an insert or a delete).
    ///
    /// A version written for the write is never discarded while the stored record points
    /// at it: versions are unique, so such a record is this write's, whatever the store
    /// answered (a write retried after a lost reply may come back as a lost race).
    ///
    /// # Errors
    /// The store's answer when the write did not happen (or its outcome is unknown).
    pub(super) async fn commit(&self, commit: Commit<'_>) -> Result<Option<Connector>, StoreError> {
        let records = &self.storage.connectors;
        let result = match &commit.write {
            RecordWrite::Insert(c) => records
                .insert_connector(c, commit.event)
                .await
                .map(|()| None),
            RecordWrite::Replace { read, next } => records
                .replace_connector(read, next, commit.event)
                .await
                .map(Some),
            RecordWrite::Delete {
                tenant,
                id,
                expected_version,
            } => records
                .delete_connector(tenant, id, *expected_version, commit.event)
                .await
                .map(|()| None),
        };
        let result = match result {
            Err(StoreError::Unavailable(e)) => {
                let (tenant, id) = commit.write.key();
                match records.get_connector(tenant, id).await {
                    Ok(stored)
                        if commit.write.took_effect(stored.as_deref())
                            || points_at(stored.as_deref(), commit.written) =>
                    {
                        Ok(stored
                            .map(Arc::unwrap_or_clone)
                            .filter(|_| matches!(commit.write, RecordWrite::Replace { .. })))
                    }
                    Ok(_) => Err(StoreError::Unavailable(e)),
                    // Unknown outcome: undo nothing; a record may point at either secret.
                    Err(_) => return Err(StoreError::Unavailable(e)),
                }
            }
            other => other,
        };
        match (&result, commit.written, commit.replaced) {
            (Ok(_), _, Some(unused)) => self.discard(&unused).await,
            // A lost race leaves the version to the caller, which may retry with it.
            (Err(StoreError::Conflict), _, _) => {}
            (Err(_), Some(written), _) => self.discard(&Unused::Version(written.clone())).await,
            _ => {}
        }
        result
    }

    /// Runs `attempt` on the current record, re-reading it after a lost race. `known` is a
    /// record the caller has just read: the first attempt starts from it rather than
    /// reading again (a conditional write on a stale one simply loses the race).
    ///
    /// # Errors
    /// `ConnectorNotFound`; `PreconditionFailed` when `precondition` does not admit the
    /// record or a race was lost under it; the attempt's own error; `Dependency` when the
    /// record kept changing through every attempt.
    pub(super) async fn on_current<T, F, Fut>(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        precondition: Option<&Precondition>,
        mut known: Option<Arc<Connector>>,
        mut attempt: F,
    ) -> Result<T, ServiceError>
    where
        F: FnMut(Arc<Connector>) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        for _ in 0..WRITE_ATTEMPTS {
            let current = match known.take() {
                Some(record) => record,
                None => self.get_connector(tenant, id).await?,
            };
            if precondition.is_some_and(|p| !p.admits(&current)) {
                return Err(ServiceError::PreconditionFailed);
            }
            match attempt(current).await {
                Ok(done) => return Ok(done),
                Err(Attempt::Store(StoreError::Conflict)) if precondition.is_some() => {
                    return Err(ServiceError::PreconditionFailed);
                }
                Err(Attempt::Store(StoreError::Conflict)) => continue,
                Err(Attempt::Store(StoreError::NotFound)) => {
                    return Err(ServiceError::ConnectorNotFound(id.clone()));
                }
                Err(Attempt::Store(other)) => return Err(other.into()),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(ServiceError::Dependency(anyhow::anyhow!(
            "connector {id} kept changing through {WRITE_ATTEMPTS} attempts"
        )))
    }

    /// Removes an unused secret or version, retried once; a failure is logged and left for
    /// `reconcile`.
    pub(super) async fn discard(&self, unused: &Unused) {
        let vault = &self.storage.vault;
        for attempt in 1..=VAULT_CLEANUP_ATTEMPTS {
            let (result, name) = match unused {
                Unused::Version(secret) => (vault.delete_version(secret).await, &secret.name),
                Unused::Secret(name) => (vault.delete(name).await, name),
            };
            match result {
                Ok(()) => return,
                Err(e) if attempt == VAULT_CLEANUP_ATTEMPTS => {
                    tracing::warn!(error = %e, secret = %name, "could not remove an unused secret; reconcile will");
                }
                Err(_) => {}
            }
        }
    }
}
