//! API keys: authenticating a presented key for a scope, and the operator's mint, list and
//! revoke (plus the first key of an empty local store).

use std::sync::Arc;

use super::App;
use super::error::ServiceError;
use crate::domain::apikey::{ApiKeyRecord, KeyHash, KeyScope, NewKey, looks_like_key};
use crate::domain::events::Actor;
use crate::domain::ids::TenantId;
use crate::domain::timestamp::Timestamp;
use crate::store::StoreError;
use crate::telemetry;

/// The authenticated account and key: the key's stored record, shared.
#[derive(Debug, Clone)]
pub struct Caller(Arc<ApiKeyRecord>);

impl Caller {
    /// The account whose key was accepted.
    pub fn tenant(&self) -> &TenantId {
        &self.0.tenant
    }

    /// The accepted key's id (never the key), for audit lines.
    pub fn key_id(&self) -> &str {
        &self.0.key_id
    }

    /// Whether the key has `scope`.
    pub fn grants(&self, scope: KeyScope) -> bool {
        self.0.grants(scope)
    }

    /// Who this caller is in a connector's history: the key's id and the request's.
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: self.0.key_id.clone(),
            request_id: telemetry::current_request_id(),
        }
    }
}

impl App {
    /// Accepts `presented` (the key as sent, trimmed) if it is a usable key with `needed`.
    ///
    /// # Errors
    /// `AuthenticationRequired` for an empty key, `InvalidApiKey` for an unknown, revoked
    /// or expired one, `InsufficientScope`, or `Dependency` when the store fails.
    pub async fn authenticate(
        &self,
        presented: &str,
        needed: KeyScope,
    ) -> Result<Caller, ServiceError> {
        if presented.is_empty() {
            return Err(ServiceError::AuthenticationRequired);
        }
        if !looks_like_key(presented) {
            return Err(ServiceError::InvalidApiKey);
        }
        let record = self
            .storage
            .api_keys
            .find_api_key(&KeyHash::of(presented))
            .await?
            .filter(|r| r.is_usable(Timestamp::now()))
            .ok_or(ServiceError::InvalidApiKey)?;
        telemetry::note_tenant(record.tenant.as_str());
        if !record.grants(needed) {
            return Err(ServiceError::InsufficientScope(needed.as_str()));
        }
        Ok(Caller(record))
    }

    /// Mints a key for `tenant`; its plaintext is in the answer only.
    ///
    /// # Errors
    /// `Validation` without scopes, `Dependency` when the store fails.
    pub async fn mint_api_key(
        &self,
        tenant: TenantId,
        scopes: Vec<KeyScope>,
        expires_at: Option<Timestamp>,
    ) -> Result<NewKey, ServiceError> {
        if scopes.is_empty() {
            return Err(ServiceError::validation(
                "scopes",
                "needs at least one of read, write, admin",
            ));
        }
        let key = ApiKeyRecord::mint(tenant, scopes, expires_at);
        self.storage.api_keys.put_api_key(&key.record).await?;
        Ok(key)
    }

    /// Mints an admin key for `tenant` if the store holds no key at all (a fresh local
    /// data directory), so the first run can be used at once.
    ///
    /// # Errors
    /// `Dependency` when the store fails.
    pub async fn first_run_key(&self, tenant: TenantId) -> Result<Option<NewKey>, ServiceError> {
        if !self.storage.api_keys.list_api_keys().await?.is_empty() {
            return Ok(None);
        }
        self.mint_api_key(tenant, vec![KeyScope::Admin], None)
            .await
            .map(Some)
    }

    /// Every key (never its plaintext), or those of `tenant`.
    ///
    /// # Errors
    /// `Dependency` when the store fails.
    pub async fn api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        let mut keys = self.storage.api_keys.list_api_keys().await?;
        keys.retain(|k| tenant.is_none_or(|t| t == k.tenant.as_str()));
        Ok(keys)
    }

    /// Revokes the key with id `key_id`; it stops working at once.
    ///
    /// # Errors
    /// `ApiKeyNotFound`, or `Dependency` when the store fails.
    pub async fn revoke_api_key(&self, key_id: &str) -> Result<(), ServiceError> {
        self.storage
            .api_keys
            .revoke_api_key(key_id, Timestamp::now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::ApiKeyNotFound(key_id.to_owned()),
                other => other.into(),
            })
    }
}
