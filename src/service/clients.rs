//! Provider clients for saved connectors, as browse (and the access grants after it) need
//! them: with the stored credentials, or through the AWS role chain, written once here —
//! assume the customer's role (through the service's own when configured), then see that
//! the role refuses a caller without the external ID before it is used for anything —
//! and the keyless chains (GCS's federation and impersonation; Azure's assertion, token
//! and container binding).

use std::future::Future;
use std::sync::Arc;

use super::App;
use super::connectors::WayIn;
use super::error::ServiceError;
use crate::domain::connector::{Connector, RoleGrant};
use crate::providers::azure::identity::{AzureIdentity, AzureToken};
use crate::providers::gcs::credentials::GcsIdentity;
use crate::providers::gcs::identity::ServiceAccountToken;
use crate::providers::roles::RoleSession;
use crate::providers::roles::session_name;
use crate::providers::{Granted, ObjectStore, OpenError, ProviderError};

/// How the steps of the role chain are run: a test times and reports each as a check, a
/// browse needs only the first refusal.
pub(super) trait Steps {
    /// Runs one step; `None` when it failed (and nothing after it is to run).
    async fn step<T, F>(&mut self, name: &'static str, f: F) -> Option<T>
    where
        F: Future<Output = Result<T, ProviderError>>;
}

/// Steps that stop at the first refusal and keep it.
#[derive(Default)]
pub(super) struct FirstRefusal(Option<ProviderError>);

impl FirstRefusal {
    /// The refusal kept, as the use case answers it.
    pub(super) fn into_error(self) -> ServiceError {
        self.0.map_or_else(
            || ServiceError::Internal(anyhow::anyhow!("the role chain failed without a reason")),
            ServiceError::provider,
        )
    }
}

impl Steps for FirstRefusal {
    async fn step<T, F>(&mut self, _: &'static str, f: F) -> Option<T>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        f.await.map_err(|e| self.0 = Some(e)).ok()
    }
}

impl App {
    /// The role chain: a session of the customer's role, once the role is seen to refuse
    /// a caller without the external ID; `None` when a step failed (`steps` has why).
    pub(super) async fn role_session(
        &self,
        grant: &RoleGrant,
        name: &str,
        steps: &mut impl Steps,
    ) -> Option<RoleSession> {
        let session = steps
            .step("assume_role", self.providers.assume_role(grant, name))
            .await?;
        steps
            .step(
                "external_id_enforced",
                self.providers.check_external_id_enforced(grant, name),
            )
            .await?;
        Some(session)
    }

    /// A keyless GCS connector's chain: the service's AWS identity federated into Google,
    /// then the account's service account impersonated; `None` when a step failed.
    pub(super) async fn gcs_token(
        &self,
        identity: &GcsIdentity,
        steps: &mut impl Steps,
    ) -> Option<ServiceAccountToken> {
        let federated = steps
            .step("federation", self.providers.gcs_federate())
            .await?;
        steps
            .step(
                "impersonation",
                self.providers
                    .gcs_impersonate(&federated, &identity.service_account_email),
            )
            .await
    }

    /// A keyless Azure connector's chain: an assertion of the service's AWS identity, the
    /// operator's app's token in the connector's tenant, then the container's binding to
    /// the connector's account; `None` when a step failed. Nothing is used unbound.
    pub(super) async fn azure_token(
        &self,
        connector: &Connector,
        identity: &AzureIdentity,
        steps: &mut impl Steps,
    ) -> Option<AzureToken> {
        steps
            .step("assertion", self.providers.azure_assertion())
            .await?;
        let token = steps
            .step("token", self.providers.azure_token(&identity.tenant_id))
            .await?;
        steps
            .step(
                "binding",
                self.providers
                    .azure_binding(connector, &token, connector.tenant.as_str()),
            )
            .await?;
        Some(token)
    }

    /// A client for a saved connector that is not disabled: with its stored credentials,
    /// or its role's session once the role is seen to require the external ID.
    ///
    /// # Errors
    /// `ConnectorDisabled`; the role's refusal (`assume_role_denied`, `external_id_not_enforced`) or STS's
    /// unavailability; `Dependency` when the vault fails.
    pub(crate) async fn object_store(
        &self,
        connector: &Arc<Connector>,
    ) -> Result<Arc<dyn ObjectStore>, ServiceError> {
        let (current, way_in) = self.credentials_in_use(Arc::clone(connector)).await?;
        let opened = match &way_in {
            WayIn::Keys(credentials) => self.providers.open(&current, Granted::Stored(credentials)),
            WayIn::Role(grant) => {
                let mut refusal = FirstRefusal::default();
                let name = session_name(Some(&current.id));
                match self.role_session(grant, &name, &mut refusal).await {
                    Some(session) => self.providers.open(&current, Granted::Session(&session)),
                    None => return Err(refusal.into_error()),
                }
            }
            WayIn::GcsIdentity(identity) => {
                let mut refusal = FirstRefusal::default();
                match self.gcs_token(identity, &mut refusal).await {
                    Some(token) => self.providers.open(&current, Granted::GcsToken(&token)),
                    None => return Err(refusal.into_error()),
                }
            }
            WayIn::AzureIdentity(identity) => {
                let mut refusal = FirstRefusal::default();
                match self.azure_token(&current, identity, &mut refusal).await {
                    Some(token) => self.providers.open(&current, Granted::AzureToken(&token)),
                    None => return Err(refusal.into_error()),
                }
            }
        };
        opened.map_err(open_error)
    }
}

/// The error for a connector no client can be built for.
pub(crate) fn open_error(e: OpenError) -> ServiceError {
    match e {
        OpenError::CredentialsMismatch => ServiceError::Internal(anyhow::anyhow!(
            "stored credentials belong to another provider"
        )),
        OpenError::Refused(refused) => ServiceError::provider(refused),
        OpenError::NoClient(why) => ServiceError::Internal(anyhow::anyhow!(why)),
    }
}
