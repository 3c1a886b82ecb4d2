//! Running a request at most once per `Idempotency-Key`: the first request's fingerprint
//! and successful response are remembered per account for 24 hours, and replayed to a
//! retry with the same fingerprint.
//!
//! Errors are not pinned: a request that failed after the key was claimed releases it, so
//! a corrected retry runs afresh.

use std::future::Future;

use super::App;
use super::error::ServiceError;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;
use crate::store::Claim;
pub use crate::store::StoredResponse;

/// A valid `Idempotency-Key`, kept only as its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key whose SHA-256 is `hash` (64 hex digits).
    pub fn from_hash(hash: String) -> Self {
        Self(hash)
    }
}

/// What a request run once answers: its response, and whether it is a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    pub response: StoredResponse,
    pub replayed: bool,
}

impl App {
    /// Runs `run` at most once per key and fingerprint, passing it the connector id to
    /// create or act on: `new_id` for a first attempt, or the id reserved by an abandoned
    /// one, so a takeover after a crash acts on the same connector. Without a key, `run`
    /// simply runs.
    ///
    /// # Errors
    /// `IdempotencyKeyReused`, `IdempotencyInProgress`, or `run`'s error.
    pub async fn run_once<F, Fut>(
        &self,
        tenant: &TenantId,
        key: Option<IdempotencyKey>,
        fingerprint: &str,
        new_id: ConnectorId,
        run: F,
    ) -> Result<Once, ServiceError>
    where
        F: FnOnce(ConnectorId) -> Fut,
        Fut: Future<Output = Result<StoredResponse, ServiceError>>,
    {
        let fresh = |response| Once {
            response,
            replayed: false,
        };
        let Some(IdempotencyKey(key_hash)) = key else {
            return run(new_id).await.map(fresh);
        };
        let records = &self.storage.idempotency;
        let claim = records
            .claim_idempotency(tenant, &key_hash, fingerprint, &new_id, Timestamp::now())
            .await?;
        let resource_id = match claim {
            Claim::Acquired { resource_id } => resource_id,
            Claim::Replay(response) => {
                return Ok(Once {
                    response,
                    replayed: true,
                });
            }
            Claim::InProgress => return Err(ServiceError::IdempotencyInProgress),
            Claim::Mismatch => return Err(ServiceError::IdempotencyKeyReused),
        };
        match run(resource_id).await {
            Ok(response) => {
                if let Err(e) = records
                    .complete_idempotency(tenant, &key_hash, &response, Timestamp::now())
                    .await
                {
                    // The work is done; the claim's lease will lapse and a retry re-finds it.
                    tracing::warn!(error = %e, "could not record idempotent response");
                }
                Ok(fresh(response))
            }
            Err(err) => {
                if let Err(e) = records.release_idempotency(tenant, &key_hash).await {
                    tracing::warn!(error = %e, "could not release idempotency key; its lease will lapse");
                }
                Err(err)
            }
        }
    }
}
