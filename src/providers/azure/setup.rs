//! The service layer of Azure's identity setup: the operator's Entra app, where the
//! customer's admin consents to it, the role each scope needs on the container, the
//! container metadata that binds it to this account, and, for a given container, the
//! `az` commands that do all three.

use serde::Serialize;

use super::identity::{BINDING_METADATA, consent_url};
use super::names::{AzureTenant, ContainerName, StorageAccount};
use crate::domain::ids::TenantId;
use crate::domain::scopes::Provider;
use crate::domain::scopes::{Scope, Scopes};
use crate::service::App;
use crate::service::error::ServiceError;

/// The built-in role an import needs: blobs listed and read, the container's properties
/// (its binding) read.
pub const IMPORT_ROLE: &str = "Storage Blob Data Reader";

/// The least built-in role that also writes and deletes blobs (an export's results and
/// the test's probe).
pub const EXPORT_ROLE: &str = "Storage Blob Data Contributor";

/// The least built-in role that gets user delegation keys, which sign access grants'
/// URLs and SAS: a key is the storage account's, so this role is assigned on the account
/// (a container-scoped role cannot carry it), and it grants nothing on any blob.
pub const DELEGATION_ROLE: &str = "Storage Blob Delegator";

/// Where the commands are for.
#[derive(Debug, Clone)]
pub struct ContainerRequest {
    pub storage_account: StorageAccount,
    pub container: ContainerName,
    pub scopes: Scopes,
}

/// The answer of `GET /connectors/azure/identity-setup`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "client_id": "3f1c0d2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "admin_consent_url": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/adminconsent?client_id=3f1c0d2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
    "roles": {"import": "Storage Blob Data Reader", "export": "Storage Blob Data Contributor", "access": "Storage Blob Delegator"},
    "binding": {"metadata_name": "videovector_account", "metadata_value": "acme"},
    "commands": null
})))]
pub struct AzureIdentitySetup {
    /// The operator's multi-tenant Entra app, the same for every account: assign it the
    /// container role, then create the connector without `client_id`/`client_secret`.
    pub client_id: String,
    /// The customer's tenant, as asked.
    pub tenant_id: String,
    /// Where an administrator of the tenant consents to the app (once per tenant).
    pub admin_consent_url: String,
    /// The role each scope needs on the container.
    pub roles: AzureRoles,
    /// What the container's owner sets on it so that this account, and no other, may use
    /// it through the shared app.
    pub binding: AzureBinding,
    /// With `storage_account` and `container`: the `az` commands that grant the role of
    /// `scopes` on the container and the access role on the account, then bind the
    /// container, in order (`SUBSCRIPTION_ID` and `RESOURCE_GROUP` to fill in); null
    /// otherwise.
    #[schema(required = true)]
    pub commands: Option<Vec<String>>,
}

/// A role per scope, on the container, and the role access grants need, on the account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AzureRoles {
    /// `Storage Blob Data Reader`, on the container.
    pub import: &'static str,
    /// `Storage Blob Data Contributor`, on the container (it includes the reader's).
    pub export: &'static str,
    /// `Storage Blob Delegator`, on the storage account: for access grants only (signed
    /// URLs and SAS are signed with the account's user delegation keys); it reaches no
    /// blob.
    pub access: &'static str,
}

/// The container metadata entry that binds a container to one account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AzureBinding {
    /// `videovector_account`.
    pub metadata_name: &'static str,
    /// This account's identifier.
    pub metadata_value: String,
}

impl App {
    /// The Azure identity setup for `tenant_id`, with the commands for a container when
    /// asked.
    ///
    /// # Errors
    /// `IdentityNotConfigured` (404) without the operator's Entra app.
    pub fn azure_identity_setup(
        &self,
        tenant: &TenantId,
        tenant_id: &AzureTenant,
        request: Option<&ContainerRequest>,
    ) -> Result<AzureIdentitySetup, ServiceError> {
        let client_id =
            self.providers
                .azure_client_id()
                .ok_or(ServiceError::IdentityNotConfigured {
                    provider: Provider::Azure,
                    setup: true,
                })?;
        let binding = AzureBinding {
            metadata_name: BINDING_METADATA,
            metadata_value: tenant.as_str().to_owned(),
        };
        let commands =
            request.map(|r| commands(&client_id.to_string(), r, &binding.metadata_value));
        Ok(AzureIdentitySetup {
            client_id: client_id.to_string(),
            tenant_id: tenant_id.to_string(),
            admin_consent_url: consent_url(
                self.providers.azure_authority_host(),
                tenant_id,
                client_id,
            ),
            roles: AzureRoles {
                import: IMPORT_ROLE,
                export: EXPORT_ROLE,
                access: DELEGATION_ROLE,
            },
            binding,
            commands,
        })
    }
}

/// The `az` commands: the app's role on the container for `r.scopes` (Contributor covers
/// both), the delegation role on the account for access grants, then the binding.
fn commands(client_id: &str, r: &ContainerRequest, account: &str) -> Vec<String> {
    let role = if r.scopes.contains(Scope::Export) {
        EXPORT_ROLE
    } else {
        IMPORT_ROLE
    };
    let storage = format!(
        "/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/Microsoft.Storage/storageAccounts/{}",
        r.storage_account
    );
    vec![
        format!(
            "az role assignment create --assignee {client_id} --role \"{role}\" --scope \
             {storage}/blobServices/default/containers/{}",
            r.container
        ),
        format!(
            "az role assignment create --assignee {client_id} --role \"{DELEGATION_ROLE}\" \
             --scope {storage}"
        ),
        format!(
            "az storage container metadata update --auth-mode login --account-name {} \
             --name {} --metadata {BINDING_METADATA}={account}",
            r.storage_account, r.container
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scopes: Scopes) -> ContainerRequest {
        ContainerRequest {
            storage_account: StorageAccount::parse("mediastore01").expect("account"),
            container: ContainerName::parse("exports").expect("container"),
            scopes,
        }
    }

    #[test]
    fn an_import_container_gets_the_reader_role_the_account_the_delegator_then_its_binding() {
        let out = commands("app-id", &request(Scopes::IMPORT_ONLY), "acme");
        assert_eq!(out.len(), 3);
        assert!(out[0].contains("--role \"Storage Blob Data Reader\""));
        assert!(
            out[0]
                .ends_with("storageAccounts/mediastore01/blobServices/default/containers/exports")
        );
        assert!(out[1].contains("--role \"Storage Blob Delegator\""));
        assert!(
            out[1].ends_with("storageAccounts/mediastore01"),
            "{}",
            out[1]
        );
        assert!(out[2].ends_with("--name exports --metadata videovector_account=acme"));
    }

    #[test]
    fn an_export_container_gets_the_contributor_role() {
        let scopes = Scopes::parse(&["import".to_owned(), "export".to_owned()]).expect("scopes");
        let out = commands("app-id", &request(scopes), "acme");
        assert!(out[0].contains("--role \"Storage Blob Data Contributor\""));
    }
}
