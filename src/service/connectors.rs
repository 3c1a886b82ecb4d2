//! Connector records and their credentials, kept consistent: the secret is written before
//! the record that points at it, and removed after the record stops being visible.

use std::sync::Arc;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::App;
use crate::domain::connector::{Connector, ListFilter, Location, SecretRef};
use crate::domain::credentials::{AzureCredentials, Credentials, GcsServiceAccount, S3Credentials};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::names::{AwsRegion, AzureTenant, ConnectorName, Guid};
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Provider, Scopes, Status};
use crate::domain::timestamp::Timestamp;
use crate::error::{ApiError, FieldError};
use crate::store::{SecretTags, StoreError};

/// A validated create request.
#[derive(Debug)]
pub struct NewConnector {
    pub name: ConnectorName,
    pub location: Location,
    pub scopes: Scopes,
    pub import_mode: ImportMode,
    pub export_base_path: Option<ExportBasePath>,
    pub credentials: Credentials,
}

impl NewConnector {
    /// The record this request creates, with id `id` and credentials stored at `secret`.
    pub(crate) fn record(
        &self,
        tenant: &TenantId,
        id: ConnectorId,
        secret: SecretRef,
    ) -> Connector {
        let now = Timestamp::now();
        Connector {
            id,
            tenant: tenant.clone(),
            name: self.name.clone(),
            location: self.location.clone(),
            status: Status::Active,
            scopes: self.scopes,
            import_mode: self.import_mode,
            export_base_path: self.export_base_path.clone(),
            created_at: now,
            updated_at: now,
            last_tested_at: None,
            last_test_result: None,
            last_test_error: None,
            credential_hint: self.credentials.hint(),
            secret,
            version: 1,
        }
    }
}

/// New credentials sent with a PATCH.
#[derive(Debug)]
pub enum CredentialUpdate {
    S3(S3Credentials),
    Gcs(GcsServiceAccount),
    /// Any subset of the service principal's parts; the rest are kept.
    Azure {
        tenant_id: Option<AzureTenant>,
        client_id: Option<Guid>,
        client_secret: Option<SecretString>,
    },
}

/// A validated PATCH: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct ConnectorPatch {
    pub name: Option<ConnectorName>,
    pub scopes: Option<Scopes>,
    /// `Some(None)` clears the export boundary.
    pub export_base_path: Option<Option<ExportBasePath>>,
    pub import_mode: Option<ImportMode>,
    pub status: Option<Status>,
    pub region: Option<AwsRegion>,
    pub credentials: Option<CredentialUpdate>,
}

/// The versions an `If-Match` header accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`
    Any,
    /// Strong ETags listed; an empty list (only weak or malformed tags) matches nothing.
    Versions(Vec<u64>),
}

impl Precondition {
    fn admits(&self, c: &Connector) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(v) => v.contains(&c.version),
        }
    }
}

/// How many times an unconditioned write re-reads and retries after losing a race.
const WRITE_ATTEMPTS: usize = 5;
/// How many times removing an unused secret (or version) is tried before `reconcile` is
/// left to do it.
const VAULT_CLEANUP_ATTEMPTS: usize = 2;

#[derive(Serialize, Deserialize)]
struct ListCursor {
    after: String,
}

/// One page of connectors and the cursor of the next, if any.
pub struct ListOutcome {
    pub items: Vec<Arc<Connector>>,
    pub next_cursor: Option<String>,
}

impl App {
    fn secret_name(&self, tenant: &TenantId, id: &ConnectorId) -> String {
        format!("{}/{tenant}/{id}", self.secret_prefix)
    }

    /// Loads a tenant's connector; a missing or foreign one is a 404.
    ///
    /// # Errors
    /// 404, or 503 when the store fails.
    pub async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Arc<Connector>, ApiError> {
        self.store
            .get_connector(tenant, id)
            .await?
            .ok_or_else(|| ApiError::connector_not_found(id.as_str()))
    }

    /// Reads a connector's credentials from the vault.
    pub(crate) async fn credentials(&self, c: &Connector) -> Result<Credentials, ApiError> {
        let secret = self.vault.get(&c.secret).await?;
        Credentials::from_secret(&secret)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("connector {}: {e}", c.id)))
    }

    /// Creates a connector with id `id`: secret first, then the record. If the record
    /// already exists (a takeover of an abandoned idempotent request), it is returned.
    ///
    /// # Errors
    /// 503 when the vault or store fails; nothing is left behind.
    #[tracing::instrument(skip_all, fields(connector_id = %id, provider = %new.location.provider()))]
    pub async fn create_connector(
        &self,
        tenant: &TenantId,
        id: ConnectorId,
        new: NewConnector,
    ) -> Result<Connector, ApiError> {
        let name = self.secret_name(tenant, &id);
        let tags = SecretTags {
            tenant: tenant.clone(),
            connector_id: id.clone(),
        };
        let secret = match self
            .vault
            .put(&name, &new.credentials.to_secret(), &tags)
            .await
        {
            Ok(secret) => secret,
            Err(e) => {
                // The write may have happened without our seeing it. Unless a record already
                // points at this secret (a takeover of an abandoned create), it goes.
                if let Ok(None) = self.store.get_connector(tenant, &id).await {
                    self.discard_secret(&name).await;
                }
                return Err(e.into());
            }
        };
        let connector = new.record(tenant, id, secret.clone());
        let inserted = match self.store.insert_connector(&connector).await {
            // A failed reply does not mean a failed write: look before undoing anything.
            Err(StoreError::Unavailable(e)) => {
                match self.store.get_connector(tenant, &connector.id).await {
                    Ok(Some(stored)) if stored.secret == secret => Ok(()),
                    Ok(_) => Err(StoreError::Unavailable(e)),
                    // Unknown outcome: keep the secret (a record may point at it); reconcile
                    // removes it if none does.
                    Err(_) => return Err(StoreError::Unavailable(e).into()),
                }
            }
            other => other,
        };
        match inserted {
            Ok(()) => {
                tracing::info!("connector created");
                Ok(connector)
            }
            Err(err) => {
                self.discard_secret_version(&secret).await;
                match err {
                    StoreError::Conflict => self
                        .get_connector(tenant, &connector.id)
                        .await
                        .map(Arc::unwrap_or_clone),
                    other => Err(other.into()),
                }
            }
        }
    }

    /// Removes a secret version no record points at, retried once; a failure is logged and
    /// left for `reconcile`.
    async fn discard_secret_version(&self, secret: &SecretRef) {
        for attempt in 1..=VAULT_CLEANUP_ATTEMPTS {
            match self.vault.delete_version(secret).await {
                Ok(()) => return,
                Err(e) if attempt == VAULT_CLEANUP_ATTEMPTS => {
                    tracing::warn!(error = %e, secret = %secret.name, "could not remove unused secret version");
                }
                Err(_) => {}
            }
        }
    }

    /// Removes a whole secret no record points at, retried once; a failure is logged and
    /// left for `reconcile`.
    async fn discard_secret(&self, name: &str) {
        for attempt in 1..=VAULT_CLEANUP_ATTEMPTS {
            match self.vault.delete(name).await {
                Ok(()) => return,
                Err(e) if attempt == VAULT_CLEANUP_ATTEMPTS => {
                    tracing::warn!(error = %e, secret = %name, "could not remove secret; reconcile will");
                }
                Err(_) => {}
            }
        }
    }

    /// Lists a tenant's connectors, newest first.
    ///
    /// # Errors
    /// 400 for a bad cursor, 503 when the store fails.
    pub async fn list_connectors(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListOutcome, ApiError> {
        let binding = format!("list|{tenant}|{filter:?}");
        let after = match cursor {
            Some(c) => {
                let opened: ListCursor = self.cursors().await?.open(&binding, c)?;
                Some(
                    ConnectorId::parse(&opened.after).map_err(|_| ApiError::BadRequest {
                        code: "invalid_cursor",
                        message: "cursor is invalid".into(),
                    })?,
                )
            }
            None => None,
        };
        let page = self
            .store
            .list_connectors(tenant, filter, after.as_ref(), limit)
            .await?;
        let next_cursor = match (page.more, page.items.last()) {
            (true, Some(last)) => Some(self.cursors().await?.seal(
                &binding,
                &ListCursor {
                    after: last.id.to_string(),
                },
            )),
            _ => None,
        };
        Ok(ListOutcome {
            items: page.items,
            next_cursor,
        })
    }

    /// Applies a PATCH with one conditional write; rotated credentials are stored as a new
    /// secret version before the record points at them.
    ///
    /// # Errors
    /// 404, 412 on an `If-Match` mismatch, 422 for fields that do not apply to the provider.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn update_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        patch: ConnectorPatch,
        precondition: Option<Precondition>,
    ) -> Result<Connector, ApiError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get_connector(tenant, id).await?;
            if precondition.as_ref().is_some_and(|p| !p.admits(&current)) {
                return Err(ApiError::PreconditionFailed);
            }
            let mut next = apply_patch(&current, &patch)?;
            let rotated = match &patch.credentials {
                Some(update) => {
                    let creds = self.rotated_credentials(&current, update).await?;
                    next.credential_hint = creds.hint();
                    let tags = SecretTags {
                        tenant: tenant.clone(),
                        connector_id: id.clone(),
                    };
                    let name = self.secret_name(tenant, id);
                    next.secret = self.vault.put(&name, &creds.to_secret(), &tags).await?;
                    true
                }
                None => false,
            };
            let replaced = match self.store.replace_connector(&next, current.version).await {
                // A failed reply does not mean a failed write: look before undoing anything.
                Err(StoreError::Unavailable(e)) => match self.store.get_connector(tenant, id).await
                {
                    Ok(Some(stored)) if *stored == next => Ok(()),
                    Ok(_) => Err(StoreError::Unavailable(e)),
                    // Unknown outcome: keep both versions; the record names one of them.
                    Err(_) => return Err(StoreError::Unavailable(e).into()),
                },
                other => other,
            };
            match replaced {
                Ok(()) => {
                    if rotated {
                        self.discard_secret_version(&current.secret).await;
                    }
                    tracing::info!(rotated, "connector updated");
                    return Ok(next);
                }
                Err(err) => {
                    if rotated {
                        self.discard_secret_version(&next.secret).await;
                    }
                    match err {
                        StoreError::Conflict if precondition.is_some() => {
                            return Err(ApiError::PreconditionFailed);
                        }
                        StoreError::Conflict => continue,
                        StoreError::NotFound => {
                            return Err(ApiError::connector_not_found(id.as_str()));
                        }
                        other => return Err(other.into()),
                    }
                }
            }
        }
        Err(ApiError::Dependency(anyhow::anyhow!(
            "connector {id} kept changing during update"
        )))
    }

    async fn rotated_credentials(
        &self,
        current: &Connector,
        update: &CredentialUpdate,
    ) -> Result<Credentials, ApiError> {
        Ok(match (current.provider(), update) {
            (Provider::S3, CredentialUpdate::S3(c)) => Credentials::S3(c.clone()),
            (Provider::Gcs, CredentialUpdate::Gcs(c)) => Credentials::Gcs(c.clone()),
            (
                Provider::Azure,
                CredentialUpdate::Azure {
                    tenant_id,
                    client_id,
                    client_secret,
                },
            ) => {
                let Credentials::Azure(old) = self.credentials(current).await? else {
                    return Err(ApiError::Internal(anyhow::anyhow!(
                        "stored credentials of another provider"
                    )));
                };
                Credentials::Azure(AzureCredentials::rotated(
                    &old,
                    tenant_id.clone(),
                    client_id.clone(),
                    client_secret.clone(),
                ))
            }
            (provider, _) => {
                return Err(ApiError::validation(
                    "credentials",
                    format!("these credential fields do not apply to a {provider} connector"),
                ));
            }
        })
    }

    /// Deletes a connector: the record disappears first, then its secret.
    ///
    /// # Errors
    /// 404, 412 on an `If-Match` mismatch, 503 when the store fails.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        precondition: Option<Precondition>,
    ) -> Result<(), ApiError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get_connector(tenant, id).await?;
            if precondition.as_ref().is_some_and(|p| !p.admits(&current)) {
                return Err(ApiError::PreconditionFailed);
            }
            let deleted = match self
                .store
                .delete_connector(tenant, id, current.version)
                .await
            {
                // A failed reply does not mean a failed write: look before answering.
                Err(StoreError::Unavailable(e)) => match self.store.get_connector(tenant, id).await
                {
                    Ok(None) => Ok(()),
                    _ => Err(StoreError::Unavailable(e)),
                },
                other => other,
            };
            match deleted {
                Ok(()) => {
                    self.discard_secret(&current.secret.name).await;
                    tracing::info!("connector deleted");
                    return Ok(());
                }
                Err(StoreError::Conflict) if precondition.is_some() => {
                    return Err(ApiError::PreconditionFailed);
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(ApiError::connector_not_found(id.as_str()));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::Dependency(anyhow::anyhow!(
            "connector {id} kept changing during delete"
        )))
    }

    /// Writes `change` to the current record, re-reading after lost races.
    pub(crate) async fn modify_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        change: impl Fn(&mut Connector),
    ) -> Result<Connector, ApiError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get_connector(tenant, id).await?;
            let mut next = Connector::clone(&current);
            change(&mut next);
            next.version = current.version + 1;
            match self.store.replace_connector(&next, current.version).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(ApiError::connector_not_found(id.as_str()));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::Dependency(anyhow::anyhow!(
            "connector {id} kept changing"
        )))
    }
}

/// The record after a patch, or the fields that do not apply to this connector.
fn apply_patch(current: &Connector, patch: &ConnectorPatch) -> Result<Connector, ApiError> {
    let mut next = current.clone();
    let mut errors = Vec::new();
    if let Some(name) = &patch.name {
        next.name = name.clone();
    }
    if let Some(scopes) = patch.scopes {
        next.scopes = scopes;
    }
    if let Some(path) = &patch.export_base_path {
        next.export_base_path = path.clone();
    }
    if let Some(mode) = patch.import_mode {
        next.import_mode = mode;
    }
    if let Some(status) = patch.status {
        next.status = status;
    }
    if let Some(region) = &patch.region {
        match &mut next.location {
            Location::S3 { region: r, .. } => *r = region.clone(),
            _ => errors.push(FieldError::new("region", "applies only to S3 connectors")),
        }
    }
    if let Some(update) = &patch.credentials {
        let matches = matches!(
            (current.provider(), update),
            (Provider::S3, CredentialUpdate::S3(_))
                | (Provider::Gcs, CredentialUpdate::Gcs(_))
                | (Provider::Azure, CredentialUpdate::Azure { .. })
        );
        if !matches {
            let fields = match update {
                CredentialUpdate::S3(_) => "aws_access_key_id",
                CredentialUpdate::Gcs(_) => "credentials_json",
                CredentialUpdate::Azure { .. } => "client_secret",
            };
            errors.push(FieldError::new(
                fields,
                format!("does not apply to a {} connector", current.provider()),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    next.version = current.version + 1;
    next.updated_at = Timestamp::now();
    Ok(next)
}
