//! Connector records and their credentials: create, get, list, update and delete, each
//! write through the one protocol in `write` that keeps records and secrets consistent.

use std::sync::Arc;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::App;
use super::error::{FieldError, ServiceError};
use super::write::{Attempt, Commit, RecordWrite, Unused};
use crate::domain::connector::{Connector, ListFilter, Location, SecretRef};
use crate::domain::credentials::{AzureCredentials, Credentials, GcsServiceAccount, S3Credentials};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::names::{AwsRegion, AzureTenant, ConnectorName, Guid};
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Provider, Scopes, Status};
use crate::domain::timestamp::Timestamp;
use crate::store::StoreError;

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

impl CredentialUpdate {
    /// The request fields this update came from, as the caller named them.
    fn fields_sent(&self) -> Vec<&'static str> {
        match self {
            CredentialUpdate::S3(_) => vec!["aws_access_key_id", "aws_secret_access_key"],
            CredentialUpdate::Gcs(_) => vec!["credentials_json"],
            CredentialUpdate::Azure {
                tenant_id,
                client_id,
                client_secret,
            } => [
                ("tenant_id", tenant_id.is_some()),
                ("client_id", client_id.is_some()),
                ("client_secret", client_secret.is_some()),
            ]
            .into_iter()
            .filter_map(|(field, sent)| sent.then_some(field))
            .collect(),
        }
    }
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
    pub(super) fn admits(&self, c: &Connector) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(v) => v.contains(&c.version),
        }
    }
}

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
    /// Loads a tenant's connector; a missing or foreign one is `ConnectorNotFound`.
    ///
    /// # Errors
    /// `ConnectorNotFound`, or `Dependency` when the store fails.
    pub async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Arc<Connector>, ServiceError> {
        self.storage
            .connectors
            .get_connector(tenant, id)
            .await?
            .ok_or_else(|| ServiceError::ConnectorNotFound(id.clone()))
    }

    /// Reads a connector's credentials from the vault.
    pub(crate) async fn credentials(&self, c: &Connector) -> Result<Credentials, ServiceError> {
        let secret = self.storage.vault.get(&c.secret).await?;
        Credentials::from_secret(&secret)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("connector {}: {e}", c.id)))
    }

    /// Creates a connector with id `id`: secret first, then the record. If the record
    /// already exists (a takeover of an abandoned idempotent request), it is returned.
    ///
    /// # Errors
    /// `Dependency` when the vault or store fails; nothing is left behind.
    #[tracing::instrument(skip_all, fields(connector_id = %id, provider = %new.location.provider()))]
    pub async fn create_connector(
        &self,
        tenant: &TenantId,
        id: ConnectorId,
        new: NewConnector,
    ) -> Result<Connector, ServiceError> {
        let secret = self.put_secret(tenant, &id, &new.credentials).await?;
        let connector = new.record(tenant, id, secret.clone());
        let inserted = self
            .commit(Commit {
                write: RecordWrite::Insert(&connector),
                written: Some(&secret),
                replaced: None,
            })
            .await;
        match inserted {
            Ok(()) => {
                tracing::info!("connector created");
                Ok(connector)
            }
            Err(StoreError::Conflict) => self
                .get_connector(tenant, &connector.id)
                .await
                .map(Arc::unwrap_or_clone),
            Err(other) => Err(other.into()),
        }
    }

    /// Refuses a location the service may not call: a connector's own endpoint that is
    /// (or resolves to) an address inside a network, unless the operator allowed it.
    ///
    /// # Errors
    /// 422 naming `endpoint_url`.
    pub async fn vet_location(&self, location: &Location) -> Result<(), ServiceError> {
        if let Location::S3 {
            endpoint_url: Some(endpoint),
            ..
        } = location
        {
            self.providers
                .vet_endpoint(endpoint)
                .await
                .map_err(|refused| ServiceError::validation("endpoint_url", refused.to_string()))?;
        }
        Ok(())
    }

    /// Lists a tenant's connectors, newest first.
    ///
    /// # Errors
    /// `InvalidCursor`, or `Dependency` when the store fails.
    pub async fn list_connectors(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListOutcome, ServiceError> {
        let binding = format!("list|{tenant}|{filter:?}");
        let after = match cursor {
            Some(c) => {
                let opened: ListCursor = self.cursors().await?.open(&binding, c)?;
                Some(ConnectorId::parse(&opened.after).map_err(|_| ServiceError::InvalidCursor)?)
            }
            None => None,
        };
        let page = self
            .storage
            .connectors
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
    /// `ConnectorNotFound`, `PreconditionFailed` on an `If-Match` mismatch, `Validation` for
    /// fields that do not apply to the provider.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn update_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        patch: ConnectorPatch,
        precondition: Option<Precondition>,
    ) -> Result<Connector, ServiceError> {
        let patch = &patch;
        self.on_current(
            tenant,
            id,
            precondition.as_ref(),
            None,
            |current| async move {
                let mut next = apply_patch(&current, patch)?;
                let written = match &patch.credentials {
                    Some(update) => {
                        let creds = self.rotated_credentials(&current, update).await?;
                        next.credential_hint = creds.hint();
                        next.secret = self.put_secret(tenant, id, &creds).await?;
                        Some(next.secret.clone())
                    }
                    None => None,
                };
                self.commit(Commit {
                    write: RecordWrite::Replace {
                        next: &next,
                        expected_version: current.version,
                    },
                    written: written.as_ref(),
                    replaced: written
                        .is_some()
                        .then(|| Unused::Version(current.secret.clone())),
                })
                .await?;
                tracing::info!(rotated = written.is_some(), "connector updated");
                Ok(next)
            },
        )
        .await
    }

    async fn rotated_credentials(
        &self,
        current: &Connector,
        update: &CredentialUpdate,
    ) -> Result<Credentials, ServiceError> {
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
                    return Err(ServiceError::Internal(anyhow::anyhow!(
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
                return Err(ServiceError::validation(
                    "credentials",
                    format!("these credential fields do not apply to a {provider} connector"),
                ));
            }
        })
    }

    /// Deletes a connector: the record disappears first, then its secret.
    ///
    /// # Errors
    /// `ConnectorNotFound`, `PreconditionFailed` on an `If-Match` mismatch, `Dependency`
    /// when the store fails.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        precondition: Option<Precondition>,
    ) -> Result<(), ServiceError> {
        self.on_current(
            tenant,
            id,
            precondition.as_ref(),
            None,
            |current| async move {
                self.commit(Commit {
                    write: RecordWrite::Delete {
                        tenant,
                        id,
                        expected_version: current.version,
                    },
                    written: None,
                    replaced: Some(Unused::Secret(current.secret.name.clone())),
                })
                .await?;
                tracing::info!("connector deleted");
                Ok(())
            },
        )
        .await
    }

    /// Writes `change` to the record, starting from `known` (just read), re-reading after
    /// lost races.
    pub(crate) async fn modify_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        known: Arc<Connector>,
        change: impl Fn(&mut Connector),
    ) -> Result<Connector, ServiceError> {
        let change = &change;
        self.on_current(tenant, id, None, Some(known), |current| async move {
            let mut next = Connector::clone(&current);
            change(&mut next);
            next.version = current.version + 1;
            self.commit(Commit {
                write: RecordWrite::Replace {
                    next: &next,
                    expected_version: current.version,
                },
                written: None,
                replaced: None,
            })
            .await?;
            Ok::<_, Attempt>(next)
        })
        .await
    }
}

/// The record after a patch, or the fields that do not apply to this connector.
fn apply_patch(current: &Connector, patch: &ConnectorPatch) -> Result<Connector, ServiceError> {
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
            // AWS's own region codes, unless the connector names a compatible service.
            Location::S3 {
                endpoint_url: None, ..
            } if AwsRegion::parse_aws(region.as_str()).is_err() => {
                errors.push(FieldError::new(
                    "region",
                    "must be an AWS region code such as us-east-1",
                ));
            }
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
            for field in update.fields_sent() {
                errors.push(FieldError::new(
                    field,
                    format!("does not apply to a {} connector", current.provider()),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    next.version = current.version + 1;
    next.updated_at = Timestamp::now();
    Ok(next)
}
