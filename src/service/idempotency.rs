//! Running a request at most once per `Idempotency-Key`: the first request's fingerprint
//! and successful response are remembered per account for 24 hours, and replayed to a
//! retry with the same fingerprint.
//!
//! Errors are not pinned: a request that failed after the key was claimed releases it, so
//! a corrected retry runs afresh.
//!
//! A retry that arrives while the first request still runs waits for it (at most
//! [`App::idempotency_wait`], 20 s by default, well inside API Gateway's 29 s) and replays
//! its answer: the published clients retry a timed-out create with the same key, and
//! neither retries a 409. Only when the wait runs out is the answer a 409 with
//! `Retry-After`.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::App;
use super::error::ServiceError;
use super::limits::{Hit, Limited, Quota};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;
use crate::store::Remembered;
use crate::store::{Claim, Holder};

/// A valid `Idempotency-Key`, kept only as its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key whose SHA-256 is `hash` (64 hex digits).
    pub fn from_hash(hash: String) -> Self {
        Self(hash)
    }
}

/// What a request run once answers: the operation's own value (kept whole for a replay,
/// which the transport renders as it rendered the first answer), and whether it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once<T> {
    pub answer: Answer<T>,
    pub replayed: bool,
}

/// The answer of a request run once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Value(T),
    /// An answer kept before answers were values: the HTTP response as it was rendered
    /// then. Kept answers live 24 hours, so this goes in the release after next.
    Rendered(RenderedAnswer),
}

/// An HTTP response as the idempotency records kept them before they kept values.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RenderedAnswer {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
}

/// Reads back a kept answer: the operation's value, or one kept as a response.
fn recalled<T: DeserializeOwned>(kept: Remembered) -> Result<Answer<T>, ServiceError> {
    match serde_json::from_value::<T>(kept.0.clone()) {
        Ok(value) => Ok(Answer::Value(value)),
        Err(e) => serde_json::from_value::<RenderedAnswer>(kept.0)
            .map(Answer::Rendered)
            .map_err(|_| {
                ServiceError::Internal(anyhow::anyhow!("a kept answer does not read back: {e}"))
            }),
    }
}

impl App {
    /// Runs `run` at most once per key and fingerprint, passing it the connector id to
    /// create or act on: `new_id` for a first attempt, or the id reserved by an abandoned
    /// one, so a takeover after a crash acts on the same connector. Without a key, `run`
    /// simply runs. Either way the call is counted against `limited` first; with a key,
    /// the count runs beside the claim (one round trip for both) and is given back when
    /// the claim finds the request already answered, running, or another's: only a first
    /// run spends quota.
    ///
    /// # Errors
    /// `IdempotencyKeyReused`, `IdempotencyInProgress`, `RateLimited`, or `run`'s error.
    pub async fn run_once<T, F, Fut>(
        &self,
        tenant: &TenantId,
        key: Option<IdempotencyKey>,
        fingerprint: &str,
        new_id: ConnectorId,
        limited: Limited,
        run: F,
    ) -> Result<(Once<T>, Option<Quota>), ServiceError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(ConnectorId) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let fresh = |value| Once {
            answer: Answer::Value(value),
            replayed: false,
        };
        let Some(IdempotencyKey(key_hash)) = key else {
            let quota = self.admit(tenant, limited).await?;
            return run(new_id).await.map(|r| (fresh(r), quota));
        };
        let records = &self.storage.idempotency;
        // The count goes beside the first look at the key: a key that is free (the common
        // case) costs one round trip for both. Any other first look gives the count back
        // at once; a request that waits and then takes the key over is counted then.
        let (first, hit) = tokio::join!(
            self.claim(tenant, &key_hash, fingerprint, &new_id),
            self.hit(tenant, limited)
        );
        let mut hit = hit;
        let first = match first {
            Ok(first) => first,
            Err(e) => {
                self.give_back_any(hit.ok().flatten()).await;
                return Err(e);
            }
        };
        let claim = match first {
            acquired @ Claim::Acquired { .. } => acquired,
            Claim::InProgress => {
                let (_, claim) = tokio::join!(
                    self.give_back_any(hit.ok().flatten()),
                    self.claim_waiting(tenant, &key_hash, fingerprint, &new_id)
                );
                let claim = claim?;
                hit = match claim {
                    Claim::Acquired { .. } => self.hit(tenant, limited).await,
                    _ => Ok(None),
                };
                claim
            }
            other => {
                self.give_back_any(hit.ok().flatten()).await;
                hit = Ok(None);
                other
            }
        };
        let resource_id = match claim {
            Claim::Acquired { resource_id } => resource_id,
            Claim::Replay(kept) => {
                let answer = recalled(kept)?;
                return Ok((
                    Once {
                        answer,
                        replayed: true,
                    },
                    None,
                ));
            }
            Claim::Mismatch => return Err(ServiceError::IdempotencyKeyReused),
            Claim::InProgress => return Err(ServiceError::IdempotencyInProgress),
        };
        let holder = Holder {
            fingerprint,
            resource_id: &resource_id,
        };
        // A counter that failed, or a count past the limit, gives the key back.
        let quota = match hit.and_then(|h| h.map(|h| h.verdict()).transpose()) {
            Ok(quota) => quota,
            Err(refused) => {
                self.release(tenant, &key_hash, &holder).await;
                return Err(refused);
            }
        };
        match run(resource_id.clone()).await {
            Ok(value) => {
                let kept = serde_json::to_value(&value).map(Remembered);
                let completed = match &kept {
                    Ok(kept) => records
                        .complete_idempotency(tenant, &key_hash, &holder, kept, Timestamp::now())
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(anyhow::anyhow!("the answer cannot be kept: {e}")),
                };
                if let Err(e) = completed {
                    // The work is done; the claim's lease will lapse and a retry re-finds it.
                    tracing::warn!(error = %e, "could not record idempotent response");
                }
                Ok((fresh(value), quota))
            }
            Err(err) => {
                self.release(tenant, &key_hash, &holder).await;
                Err(err)
            }
        }
    }

    /// Gives back a call counted before its claim said it costs nothing.
    async fn give_back_any(&self, hit: Option<Hit>) {
        if let Some(hit) = hit {
            self.give_back(&hit).await;
        }
    }

    /// Gives up this request's claim, so a retry runs afresh.
    async fn release(&self, tenant: &TenantId, key_hash: &str, holder: &Holder<'_>) {
        if let Err(e) = self
            .storage
            .idempotency
            .release_idempotency(tenant, key_hash, holder)
            .await
        {
            tracing::warn!(error = %e, "could not release idempotency key; its lease will lapse");
        }
    }

    /// One look at the key: claims it, or says who has it.
    async fn claim(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_id: &ConnectorId,
    ) -> Result<Claim, ServiceError> {
        Ok(self
            .storage
            .idempotency
            .claim_idempotency(tenant, key_hash, fingerprint, new_id, Timestamp::now())
            .await?)
    }

    /// Claims the key again after a growing pause while another request holds it, until
    /// it finishes (a replay), gives it up (acquired), or the wait runs out (in progress).
    async fn claim_waiting(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_id: &ConnectorId,
    ) -> Result<Claim, ServiceError> {
        let deadline = Instant::now() + self.idempotency_wait;
        let mut pause = FIRST_PAUSE;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(Claim::InProgress);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
            let claim = self.claim(tenant, key_hash, fingerprint, new_id).await?;
            if claim != Claim::InProgress {
                return Ok(claim);
            }
        }
    }
}

/// The first pause of a request waiting for an identical one to finish.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between two looks (each look is one read of the record).
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
