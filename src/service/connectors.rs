//! Connector records and their credentials: create, get, list, update and delete, each
//! write through the one protocol in `write` that keeps records and secrets consistent.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::App;
use super::access_check::{TestReport, record_outcome};
use super::error::{FieldError, ServiceError};
use super::write::{Attempt, Commit, RecordWrite, Unused, points_at};
use crate::domain::connector::{Access, Connector, ListFilter, Location, RoleGrant, SecretRef};
use crate::domain::credentials::Credentials;
use crate::domain::events::{Actor, ConnectorEvent, EventType, Recorder};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::names::{ConnectorName, RoleArn};
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Provider, Scopes, Status, TestResult};
use crate::domain::timestamp::Timestamp;
use crate::providers::azure::credentials::{AzureCredentials, AzureUpdate};
use crate::providers::azure::identity::AzureIdentity;
use crate::providers::azure::names::AzureTenant;
use crate::providers::gcs::credentials::{GcsIdentity, GcsServiceAccount};
use crate::providers::s3::credentials::S3Access;
use crate::providers::s3::location::S3Location;
use crate::providers::s3::names::AwsRegion;
use crate::store::{StoreError, VaultError};

/// How many times a read of a connector's credentials follows its record as it changes.
const CREDENTIAL_READS: usize = 3;

/// A validated create request.
#[derive(Debug)]
pub struct NewConnector {
    pub name: ConnectorName,
    pub location: Location,
    pub scopes: Scopes,
    pub import_mode: ImportMode,
    pub export_base_path: Option<ExportBasePath>,
    pub access: NewAccess,
}

/// How a new connector will reach its bucket.
#[derive(Debug)]
pub enum NewAccess {
    /// Credentials, to be stored in the vault.
    Keys(Credentials),
    /// An IAM role in the customer's account (S3 only), assumed with the account's
    /// external ID; nothing is stored in the vault.
    Role(RoleArn),
    /// The account's own GCS service account, through workload identity; nothing is
    /// stored in the vault.
    GcsIdentity,
    /// The operator's Entra app in this tenant, through workload identity; nothing is
    /// stored in the vault.
    AzureIdentity(AzureTenant),
}

impl NewAccess {
    /// What the connector object shows of this access, once it is `access`.
    fn hint(&self, access: &Access) -> String {
        match (self, access) {
            (_, Access::GcsIdentity(identity)) => identity.service_account_email.clone(),
            (_, Access::AzureIdentity(identity)) => identity.hint(),
            (NewAccess::Keys(c), _) => c.hint(),
            (NewAccess::Role(arn), _) => arn.to_string(),
            (NewAccess::GcsIdentity | NewAccess::AzureIdentity(_), _) => {
                "workload identity".to_owned()
            }
        }
    }
}

impl NewConnector {
    /// The record this request creates, with id `id`, reaching its bucket with `access`.
    pub(crate) fn record(&self, tenant: &TenantId, id: ConnectorId, access: Access) -> Connector {
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
            credentials_updated_at: Some(now),
            last_tested_at: None,
            last_test_result: None,
            last_test_error: None,
            credential_hint: self.access.hint(&access),
            access,
            version: 1,
        }
    }
}

/// The pool GCS service accounts are given from, as the store names it.
const GCS_POOL: &str = "gcs";

/// How the service gets into a saved connector's bucket, as read for one request.
pub(crate) enum WayIn {
    /// The credentials stored in the vault.
    Keys(Credentials),
    /// The role to assume.
    Role(RoleGrant),
    /// The account's GCS service account, reached through workload identity.
    GcsIdentity(GcsIdentity),
    /// The operator's Entra app in the customer's tenant, through workload identity.
    AzureIdentity(AzureIdentity),
}

/// New credentials sent with a PATCH, in the terms of the provider they are for.
#[derive(Debug)]
pub enum CredentialUpdate {
    /// New keys, or an IAM role: a connector with keys switches to it (its secret goes).
    S3(S3Access),
    Gcs(GcsServiceAccount),
    /// A GCS connector with a key file switches to its account's service account (its
    /// secret goes).
    GcsIdentity,
    /// Any subset of the service principal's parts; the rest are kept.
    Azure(AzureUpdate),
    /// An Azure connector switches to the operator's app (in another tenant when one is
    /// given); its secret goes.
    AzureIdentity(Option<AzureTenant>),
}

impl CredentialUpdate {
    /// The wire names of the credential fields sent (what a history event names).
    pub fn fields(&self) -> Vec<&'static str> {
        match self {
            CredentialUpdate::S3(S3Access::Keys(_)) => {
                vec!["aws_access_key_id", "aws_secret_access_key"]
            }
            CredentialUpdate::S3(S3Access::Role(_)) => vec!["role_arn"],
            CredentialUpdate::Gcs(_) => vec!["credentials_json"],
            CredentialUpdate::GcsIdentity => vec!["workload_identity"],
            CredentialUpdate::AzureIdentity(tenant) => {
                let mut fields = vec!["workload_identity"];
                fields.extend(tenant.as_ref().map(|_| "tenant_id"));
                fields
            }
            CredentialUpdate::Azure(u) => [
                u.tenant_id.as_ref().map(|_| "tenant_id"),
                u.client_id.as_ref().map(|_| "client_id"),
                u.client_secret.as_ref().map(|_| "client_secret"),
            ]
            .into_iter()
            .flatten()
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
    /// New credentials, read by the connector's own provider.
    pub credentials: Option<CredentialUpdate>,
}

/// Whether a PATCH's new credentials must pass the test's checks before they are saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationChecks {
    /// The default: the checks run with the new credentials, and only a pass is saved.
    Run,
    /// `?validate=false`: saved unchecked, for an operator who knows better.
    Skip,
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

    /// Reads a connector's credentials from the vault, with the record they belong to
    /// (`None` for a connector that assumes a role). A secret that is gone because the
    /// record changed under the caller is looked for again: a connector deleted meanwhile
    /// is `ConnectorNotFound`, a rotated one is read at its new version, one switched to a
    /// role comes back with its role.
    ///
    /// # Errors
    /// `ConnectorNotFound`; `CredentialsMissing` when the record still points at a secret
    /// the vault does not have (what `reconcile` reports); `Dependency` when a store fails.
    pub(crate) async fn current_credentials(
        &self,
        mut connector: Arc<Connector>,
    ) -> Result<(Arc<Connector>, WayIn), ServiceError> {
        for _ in 0..CREDENTIAL_READS {
            let reference = match &connector.access {
                Access::Secret(reference) => reference,
                Access::IamRole(grant) => {
                    let grant = grant.clone();
                    return Ok((connector, WayIn::Role(grant)));
                }
                Access::GcsIdentity(identity) => {
                    let identity = identity.clone();
                    return Ok((connector, WayIn::GcsIdentity(identity)));
                }
                Access::AzureIdentity(identity) => {
                    let identity = identity.clone();
                    return Ok((connector, WayIn::AzureIdentity(identity)));
                }
            };
            match self.storage.vault.get(reference).await {
                Ok(secret) => {
                    let credentials = Credentials::from_secret(&secret).map_err(|e| {
                        ServiceError::Internal(anyhow::anyhow!("connector {}: {e}", connector.id))
                    })?;
                    return Ok((connector, WayIn::Keys(credentials)));
                }
                Err(VaultError::NotFound) => {
                    let current = self.get_connector(&connector.tenant, &connector.id).await?;
                    if current.access == connector.access {
                        return Err(ServiceError::CredentialsMissing(connector.id.clone()));
                    }
                    connector = current;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Dependency(anyhow::anyhow!(
            "connector {}'s credentials kept changing through {CREDENTIAL_READS} reads",
            connector.id
        )))
    }

    /// The credentials of a connector about to be used (browsed, tested, or granting
    /// access), with the record they were read with: refused when that record, or the one
    /// just read, is disabled. Records are never cached, so a connector disabled through any
    /// instance is refused by every other at once.
    ///
    /// # Errors
    /// `ConnectorDisabled`, or those of [`App::current_credentials`].
    pub(crate) async fn credentials_in_use(
        &self,
        connector: Arc<Connector>,
    ) -> Result<(Arc<Connector>, WayIn), ServiceError> {
        usable(&connector)?;
        let (current, way_in) = self.current_credentials(connector).await?;
        usable(&current)?;
        Ok((current, way_in))
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
        actor: &Actor,
    ) -> Result<Connector, ServiceError> {
        let access = match &new.access {
            NewAccess::Keys(credentials) => {
                Access::Secret(self.put_secret(tenant, &id, credentials).await?)
            }
            NewAccess::Role(role_arn) => Access::IamRole(self.role_grant(tenant, role_arn).await?),
            NewAccess::GcsIdentity => Access::GcsIdentity(self.gcs_identity(tenant).await?),
            NewAccess::AzureIdentity(tenant_id) => {
                Access::AzureIdentity(self.azure_identity(tenant_id)?)
            }
        };
        let connector = new.record(tenant, id, access);
        let mut event =
            self.recorder(actor)
                .event(EventType::Created, &connector, connector.created_at);
        event.credential_hint_after = Some(connector.credential_hint.clone());
        let inserted = self
            .commit(Commit {
                write: RecordWrite::Insert(&connector),
                event: &event,
                written: connector.access.secret(),
                replaced: None,
            })
            .await;
        match inserted {
            Ok(_) => {
                tracing::info!("connector created");
                Ok(connector)
            }
            Err(StoreError::Conflict) => {
                // An abandoned attempt created it, and the version written here is unused;
                // unless the record is this insert's own, retried by the SDK after a lost
                // reply.
                let stored = self.get_connector(tenant, &connector.id).await?;
                let written = connector.access.secret();
                if let Some(written) = written.filter(|_| !points_at(Some(&stored), written)) {
                    self.discard(&Unused::Version(written.clone())).await;
                }
                Ok(Arc::unwrap_or_clone(stored))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The grant of a role connector of `tenant`: the role and the account's external ID.
    ///
    /// # Errors
    /// When the external ID's key cannot be read.
    pub(crate) async fn role_grant(
        &self,
        tenant: &TenantId,
        role_arn: &RoleArn,
    ) -> Result<RoleGrant, ServiceError> {
        Ok(RoleGrant {
            role_arn: role_arn.clone(),
            external_id: self.external_id(tenant).await?,
        })
    }

    /// The account's GCS service account: the one the operator's pool gave it, or the
    /// first one free, given to it for good.
    ///
    /// # Errors
    /// `IdentityNotConfigured` when the operator set up no pool; `IdentityPoolExhausted`
    /// (logged as an error for the operator's alarm) when every one is held; `Dependency`.
    pub(crate) async fn gcs_identity(
        &self,
        tenant: &TenantId,
    ) -> Result<GcsIdentity, ServiceError> {
        let pool =
            self.providers
                .gcs_service_accounts()
                .ok_or(ServiceError::IdentityNotConfigured {
                    provider: Provider::Gcs,
                    setup: false,
                })?;
        match self
            .storage
            .identities
            .assign_identity(GCS_POOL, tenant, pool)
            .await?
        {
            Some(email) => Ok(GcsIdentity {
                service_account_email: email,
            }),
            None => {
                tracing::error!(
                    alert = "identity_pool_exhausted",
                    pool_size = pool.len(),
                    "every GCS service account of the pool is held by an account: add \
                     service accounts to GCS_SERVICE_ACCOUNTS (docs/api.md)"
                );
                Err(ServiceError::IdentityPoolExhausted(Provider::Gcs))
            }
        }
    }

    /// The tenant an Azure connector is in: its keyless identity's, or its stored service
    /// principal's.
    ///
    /// # Errors
    /// As [`Self::current_credentials`].
    async fn azure_tenant(&self, current: &Connector) -> Result<AzureTenant, ServiceError> {
        match self.current_credentials(Arc::new(current.clone())).await? {
            (_, WayIn::AzureIdentity(identity)) => Ok(identity.tenant_id),
            (_, WayIn::Keys(Credentials::Azure(c))) => Ok(c.tenant_id),
            _ => Err(ServiceError::Internal(anyhow::anyhow!(
                "an Azure connector's way in is another provider's"
            ))),
        }
    }

    /// A keyless Azure connector's way in, in `tenant_id`: refused when the operator set
    /// up no Entra app.
    ///
    /// # Errors
    /// `IdentityNotConfigured`.
    pub(crate) fn azure_identity(
        &self,
        tenant_id: &AzureTenant,
    ) -> Result<AzureIdentity, ServiceError> {
        match self.providers.azure_client_id() {
            Some(_) => Ok(AzureIdentity {
                tenant_id: tenant_id.clone(),
            }),
            None => Err(ServiceError::IdentityNotConfigured {
                provider: Provider::Azure,
                setup: false,
            }),
        }
    }

    /// Refuses a location the service may not call: a connector's own endpoint that is
    /// (or resolves to) an address inside a network, unless the operator allowed it.
    ///
    /// # Errors
    /// 422 naming `endpoint_url`.
    pub async fn vet_location(&self, location: &Location) -> Result<(), ServiceError> {
        if let Location::S3(S3Location {
            endpoint_url: Some(endpoint),
            ..
        }) = location
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
        let next_cursor = match &page.resume_after {
            Some(after) => Some(self.cursors().await?.seal(
                &binding,
                &ListCursor {
                    after: after.to_string(),
                },
            )?),
            None => None,
        };
        Ok(ListOutcome {
            items: page.items,
            next_cursor,
        })
    }

    /// Applies a PATCH with one conditional write. New credentials first pass the test's
    /// checks, run on the connector as the PATCH leaves it (unless `checks` is `Skip`),
    /// then are stored as a new secret version before the record points at them; a pass
    /// is recorded as the connector's last test.
    ///
    /// # Errors
    /// `ConnectorNotFound`, `PreconditionFailed` on an `If-Match` mismatch, `Validation` for
    /// fields that do not apply to the provider (from `patch`, which reads the body for the
    /// connector's provider), `RateLimited` when the checks would pass
    /// the account's test limit, `CredentialsRejected` when a check fails (nothing is
    /// changed), `ProviderUnavailable` when the provider cannot be reached.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn update_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        patch: impl FnOnce(Provider) -> Result<ConnectorPatch, ServiceError>,
        precondition: Option<Precondition>,
        checks: RotationChecks,
        actor: &Actor,
    ) -> Result<Connector, ServiceError> {
        let recorder = &self.recorder(actor);
        // The body is read in the terms of the connector's own provider, which never
        // changes: the first read of the record says which it is.
        let first = self.get_connector(tenant, id).await?;
        let patch = patch(first.provider())?;
        if checks == RotationChecks::Run && patch.credentials.is_some() {
            // The checks call the provider as a test does, and count as one.
            self.admit(tenant, super::limits::Limited::Test).await?;
        }
        let patch = &patch;
        let credential_fields = patch
            .credentials
            .as_ref()
            .map(CredentialUpdate::fields)
            .unwrap_or_default();
        let credential_fields = credential_fields.as_slice();
        // New credentials are written to the vault once, and reused by every attempt on
        // the record while its access stays the one they were made from.
        let prepared: Mutex<Option<Prepared>> = Mutex::new(None);
        let prepared = &prepared;
        let updated = self
            .on_current(
                tenant,
                id,
                precondition.as_ref(),
                Some(first),
                |current| async move {
                    let mut next = apply_patch(&current, patch)?;
                    let mut ready = take(prepared);
                    if ready
                        .as_ref()
                        .is_some_and(|p| points_at(Some(&current), p.written.as_ref()))
                    {
                        // The record already has the access prepared for it (versions are
                        // unique): the write that looked lost was this PATCH's own.
                        return Ok(Connector::clone(&current));
                    }
                    if let Some(stale) =
                        ready.take_if(|p| p.from != current.access || !p.fits(&next))
                    {
                        self.forget(stale).await;
                    }
                    if let (None, Some(update)) = (&ready, &patch.credentials) {
                        ready = Some(
                            self.prepare_access(&current, &next, update, checks, recorder)
                                .await?,
                        );
                    }
                    if let Some(p) = &ready {
                        next.credential_hint.clone_from(&p.hint);
                        next.access = p.access.clone();
                        next.credentials_updated_at = Some(next.updated_at);
                        if let Some(checked) = &p.checked {
                            record_outcome(&mut next, &checked.report, checked.at);
                        }
                    }
                    let written = ready.as_ref().and_then(|p| p.written.clone());
                    let checked = ready.as_ref().and_then(|p| p.checked.as_ref()).map(|c| {
                        if c.report.success {
                            TestResult::Success
                        } else {
                            TestResult::Failure
                        }
                    });
                    let event = recorder.change(&current, &next, credential_fields, checked);
                    let committed = self
                        .commit(Commit {
                            write: RecordWrite::Replace {
                                read: &current,
                                next: &next,
                            },
                            event: &event,
                            written: written.as_ref(),
                            replaced: unused_after(&current.access, &next.access),
                        })
                        .await;
                    if let Err(StoreError::Conflict) = committed {
                        // Kept for the next attempt, or discarded below if there is none.
                        put(prepared, ready);
                    }
                    Ok(committed?.unwrap_or(next))
                },
            )
            .await;
        if let Some(unused) = take(prepared) {
            self.forget(unused).await;
        }
        let next = updated?;
        tracing::info!(
            credentials_changed = patch.credentials.is_some(),
            "connector updated"
        );
        Ok(next)
    }

    /// The access a PATCH's credentials give the connector: a role's grant, or rotated
    /// credentials written as a new version of its secret once they pass the checks on
    /// `next`, the connector as the PATCH leaves it.
    ///
    /// Credentials that fail a check leave a `credentials_rejected` event, and nothing else.
    async fn prepare_access(
        &self,
        current: &Connector,
        next: &Connector,
        update: &CredentialUpdate,
        checks: RotationChecks,
        recorder: &Recorder,
    ) -> Result<Prepared, ServiceError> {
        let tenant = &current.tenant;
        let (draft_access, hint, credentials) = match update {
            CredentialUpdate::S3(S3Access::Role(role_arn)) => (
                Access::IamRole(self.role_grant(tenant, role_arn).await?),
                role_arn.to_string(),
                None,
            ),
            CredentialUpdate::GcsIdentity => {
                let identity = self.gcs_identity(tenant).await?;
                let hint = identity.service_account_email.clone();
                (Access::GcsIdentity(identity), hint, None)
            }
            CredentialUpdate::AzureIdentity(tenant_id) => {
                let tenant_id = match tenant_id {
                    Some(t) => t.clone(),
                    None => self.azure_tenant(current).await.map_err(|e| match e {
                        ServiceError::CredentialsMissing(_) => ServiceError::validation(
                            "tenant_id",
                            "is required: the connector's stored service principal, which \
                             names its tenant, is missing",
                        ),
                        other => other,
                    })?,
                };
                let identity = self.azure_identity(&tenant_id)?;
                let hint = identity.hint();
                (Access::AzureIdentity(identity), hint, None)
            }
            // A keyless connector's new tenant alone keeps it keyless.
            CredentialUpdate::Azure(AzureUpdate {
                tenant_id: Some(tenant_id),
                client_id: None,
                client_secret: None,
            }) if matches!(current.access, Access::AzureIdentity(_)) => {
                let identity = self.azure_identity(tenant_id)?;
                let hint = identity.hint();
                (Access::AzureIdentity(identity), hint, None)
            }
            _ => {
                let credentials = self.rotated_credentials(current, update).await?;
                (unsaved(), credentials.hint(), Some(credentials))
            }
        };
        let checked = match checks {
            RotationChecks::Skip => None,
            RotationChecks::Run => {
                let mut draft = next.clone();
                draft.access = draft_access.clone();
                // Recorded as tested when the rotation is: the two are one change.
                let at = next.updated_at;
                let report = match self.check_rotation(&draft, credentials.as_ref()).await {
                    Err(ServiceError::CredentialsRejected(report)) => {
                        let mut event = recorder.event(EventType::CredentialsRejected, current, at);
                        event.fields = update.fields().into_iter().map(str::to_owned).collect();
                        event.result = Some(TestResult::Failure);
                        event.failed_checks = failed_codes(&report);
                        event.credential_hint_before = Some(current.credential_hint.clone());
                        event.credential_hint_after = Some(hint.clone());
                        self.append_event(&event).await?;
                        return Err(ServiceError::CredentialsRejected(report));
                    }
                    other => other?,
                };
                Some(Checked { draft, report, at })
            }
        };
        let (access, written) = match credentials {
            None => (draft_access, None),
            Some(credentials) => {
                let secret = self.put_secret(tenant, &current.id, &credentials).await?;
                (Access::Secret(secret.clone()), Some(secret))
            }
        };
        Ok(Prepared {
            from: current.access.clone(),
            access,
            hint,
            written,
            checked,
        })
    }

    /// Discards what was prepared for a write that will not happen.
    async fn forget(&self, unused: Prepared) {
        if let Some(written) = unused.written {
            self.discard(&Unused::Version(written)).await;
        }
    }

    async fn rotated_credentials(
        &self,
        current: &Connector,
        update: &CredentialUpdate,
    ) -> Result<Credentials, ServiceError> {
        Ok(match (current.provider(), update) {
            (Provider::S3, CredentialUpdate::S3(S3Access::Keys(c))) => Credentials::S3(c.clone()),
            (Provider::Gcs, CredentialUpdate::Gcs(c)) => Credentials::Gcs(c.clone()),
            (Provider::Azure, CredentialUpdate::Azure(update)) => {
                let (_, stored) = self.current_credentials(Arc::new(current.clone())).await?;
                match stored {
                    WayIn::Keys(Credentials::Azure(old)) => {
                        Credentials::Azure(update.applied_to(&old))
                    }
                    // Leaving workload identity takes a whole service principal.
                    WayIn::AzureIdentity(identity) => {
                        match (&update.client_id, &update.client_secret) {
                            (Some(client_id), Some(secret)) => {
                                Credentials::Azure(AzureCredentials::with_secret(
                                    update.tenant_id.clone().unwrap_or(identity.tenant_id),
                                    client_id.clone(),
                                    secret.clone(),
                                ))
                            }
                            (id, _) => {
                                let missing = if id.is_some() {
                                    "client_secret"
                                } else {
                                    "client_id"
                                };
                                return Err(ServiceError::validation(
                                    missing,
                                    "is required: a keyless connector takes client_id and \
                                 client_secret together to use a service principal",
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(ServiceError::Internal(anyhow::anyhow!(
                            "stored credentials of another provider"
                        )));
                    }
                }
            }
            // The connector's own provider read the update.
            (provider, _) => {
                return Err(ServiceError::Internal(anyhow::anyhow!(
                    "credentials of another provider reached a {provider} connector's rotation"
                )));
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
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let recorder = &self.recorder(actor);
        self.on_current(
            tenant,
            id,
            precondition.as_ref(),
            None,
            |current| async move {
                let event = recorder.event(EventType::Deleted, &current, Timestamp::now());
                self.commit(Commit {
                    write: RecordWrite::Delete {
                        tenant,
                        id,
                        expected_version: current.version,
                    },
                    event: &event,
                    written: None,
                    replaced: current
                        .access
                        .secret()
                        .map(|s| Unused::Secret(s.name.clone())),
                })
                .await?;
                tracing::info!("connector deleted");
                Ok(())
            },
        )
        .await
    }

    /// Writes what `change` makes of the record with `event`, starting from `known` (just
    /// read), re-reading after lost races; `change` answers `None` when the current record
    /// should not be written after all, and then `event` is stored alone. The version is
    /// left alone: what changes is an outcome, not the configuration an `If-Match` guards.
    pub(crate) async fn modify_connector(
        &self,
        known: Arc<Connector>,
        event: &ConnectorEvent,
        change: impl Fn(&Connector) -> Option<Connector>,
    ) -> Result<(), ServiceError> {
        let change = &change;
        let (tenant, id) = (&known.tenant.clone(), &known.id.clone());
        self.on_current(tenant, id, None, Some(known), |current| async move {
            let Some(next) = change(&current) else {
                self.append_event(event).await?;
                return Ok(());
            };
            self.commit(Commit {
                write: RecordWrite::Replace {
                    read: &current,
                    next: &next,
                },
                event,
                written: None,
                replaced: None,
            })
            .await?;
            Ok::<_, Attempt>(())
        })
        .await
    }
}

/// The codes of a report's failed checks, in its order.
pub(super) fn failed_codes(report: &TestReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter_map(|c| c.error.as_ref().map(|e| e.code.to_string()))
        .collect()
}

/// Refuses any use of a disabled connector.
///
/// # Errors
/// `ConnectorDisabled`.
pub(crate) fn usable(connector: &Connector) -> Result<(), ServiceError> {
    if connector.status == Status::Disabled {
        return Err(ServiceError::ConnectorDisabled(connector.id.clone()));
    }
    Ok(())
}

/// New access prepared for a PATCH, and the access of the record it was made from.
struct Prepared {
    from: Access,
    access: Access,
    hint: String,
    /// The vault version written for it, if any.
    written: Option<SecretRef>,
    /// The checks it passed (`None` when they were skipped).
    checked: Option<Checked>,
}

/// Checks a rotation passed: on what, with what outcome, and when.
struct Checked {
    draft: Connector,
    report: super::access_check::TestReport,
    at: Timestamp,
}

impl Prepared {
    /// Whether its checks still stand for `next`: they ran on the same location, scopes
    /// and export boundary (another PATCH may have changed them between two attempts).
    fn fits(&self, next: &Connector) -> bool {
        self.checked.as_ref().is_none_or(|c| {
            c.draft.location == next.location
                && c.draft.scopes == next.scopes
                && c.draft.export_base_path == next.export_base_path
        })
    }
}

/// The access of a draft whose credentials are not stored (a dry run, a rotation's
/// checks): the checks use the credentials handed to them.
pub(super) fn unsaved() -> Access {
    Access::Secret(SecretRef {
        name: String::new(),
        version: String::new(),
    })
}

fn take(slot: &Mutex<Option<Prepared>>) -> Option<Prepared> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

fn put(slot: &Mutex<Option<Prepared>>, value: Option<Prepared>) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = value;
}

/// The secret a record pointed at, once it points elsewhere: a replaced version, or the
/// whole secret when the connector switched to a role.
fn unused_after(before: &Access, after: &Access) -> Option<Unused> {
    match (before, after) {
        (Access::Secret(old), Access::Secret(new)) if old != new => {
            Some(Unused::Version(old.clone()))
        }
        // The version it read, not the secret by name: a switch back to a secret that
        // lands meanwhile writes a new version under the same name, which stays. The
        // secret itself goes with its last version.
        (
            Access::Secret(old),
            Access::IamRole(_) | Access::GcsIdentity(_) | Access::AzureIdentity(_),
        ) => Some(Unused::Version(old.clone())),
        _ => None,
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
            Location::S3(l) => {
                if let Err(e) = l.set_region(region) {
                    errors.push(FieldError::new("region", e.0));
                }
            }
            _ => errors.push(FieldError::new("region", "applies only to S3 connectors")),
        }
    }
    if let (Some(CredentialUpdate::S3(S3Access::Role(_))), Location::S3(l)) =
        (&patch.credentials, &current.location)
        && !l.admits_role()
    {
        // Sessions come from AWS's STS, which no S3-compatible service accepts.
        errors.push(FieldError::new(
            "role_arn",
            "applies only to buckets on AWS (a connector with endpoint_url needs keys)",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    next.version = current.version + 1;
    next.updated_at = Timestamp::now();
    Ok(next)
}
