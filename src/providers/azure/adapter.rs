//! The Azure Blob Storage [`ObjectStore`]: `azure_storage_blob` with an Entra ID service
//! principal (`azure_identity`'s client-secret credential), over one shared HTTPS client;
//! signed URLs and container credentials are user-delegation SAS tokens (`sas`) signed
//! with one user delegation key per grant.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode, Transport,
    Url,
};
use azure_core::time::OffsetDateTime;
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_storage_blob::models::{
    BlobContainerClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions, KeyInfo,
};
use azure_storage_blob::{
    BlobContainerClient, BlobContainerClientOptions, BlobServiceClient, BlobServiceClientOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use secrecy::ExposeSecret;

use super::credentials::AzureCredentials;
use super::identity::{AzureToken, BINDING_METADATA, IdentitySettings, WorkloadIdentity};
use super::names::{AzureTenant, ContainerName, StorageAccount};
use super::sas::{self, DelegationKey, SasPermissions, SasRequest, SasResource};
use crate::domain::timestamp::Timestamp;
use crate::providers::access::{
    self, PrefixGrant, PrefixRights, SignedUrl, UrlGrant, UrlMethod, VendedCredentials,
};
use crate::providers::{
    ListPage, ListRequest, ObjectEntry, ObjectStore, ProviderError, ProviderErrorKind,
};

/// Where Entra ID issues tokens in Azure's public cloud.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Process-wide Azure settings.
#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    /// A Blob service base URL used instead of `https://{account}.blob.core.windows.net`;
    /// the account name is appended as the first path segment (Azurite's layout).
    pub endpoint_url: Option<String>,
    /// The Entra ID authority (an `https` URL), instead of Azure's public cloud.
    pub authority_host: Option<String>,
    /// The operator's multi-tenant Entra app for keyless connectors; none configured,
    /// such connectors cannot be made.
    pub identity: Option<IdentitySettings>,
}

/// Builds per-call Azure clients over the shared connection pool.
pub struct AzureFactory {
    settings: AzureSettings,
    identity: Option<WorkloadIdentity>,
}

impl AzureFactory {
    pub fn new(settings: AzureSettings) -> Self {
        let identity = settings.identity.clone().map(WorkloadIdentity::new);
        Self { settings, identity }
    }

    /// Few, quick retries: a test or a browse page must end well inside API Gateway's 29 s.
    fn client_options(&self, http: &reqwest::Client) -> ClientOptions {
        ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(6),
                max_delay: azure_core::time::Duration::seconds(2),
            }),
            cloud: self.settings.authority_host.as_ref().map(|host| {
                let mut custom = CustomConfiguration::default();
                custom.authority_host.clone_from(host);
                Arc::new(CloudConfiguration::from(custom))
            }),
            ..ClientOptions::default()
        }
    }

    /// The account's Blob service: `https://{account}.blob.core.windows.net/`, or the
    /// emulator's base URL with the account as its first path segment.
    fn service_url(&self, account: &StorageAccount) -> Option<Url> {
        match &self.settings.endpoint_url {
            Some(base) => {
                let mut url = Url::parse(base).ok()?;
                url.path_segments_mut()
                    .ok()?
                    .pop_if_empty()
                    .push(account.as_str());
                Some(url)
            }
            None => Url::parse(&format!("https://{account}.blob.core.windows.net/")).ok(),
        }
    }

    fn container_url(&self, account: &StorageAccount, container: &ContainerName) -> Option<Url> {
        let mut url = self.service_url(account)?;
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .push(container.as_str());
        Some(url)
    }

    /// A store reached with the connector's service principal.
    pub fn open(
        &self,
        account: &StorageAccount,
        container: &ContainerName,
        creds: &AzureCredentials,
        http: &reqwest::Client,
    ) -> AzureStore {
        let options = self.client_options(http);
        let credential = ClientSecretCredential::new(
            &creds.tenant_id.to_string(),
            creds.client_id.to_string(),
            Secret::new(creds.client_secret().expose_secret().to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: options.clone(),
            }),
        );
        let credential = credential.ok().map(|c| c as Arc<dyn TokenCredential>);
        self.open_with(account, container, credential, options)
    }

    /// A store reached with a keyless connector's token, as its checks found it.
    pub fn open_with_token(
        &self,
        account: &StorageAccount,
        container: &ContainerName,
        token: &AzureToken,
        http: &reqwest::Client,
    ) -> AzureStore {
        let options = self.client_options(http);
        self.open_with(account, container, Some(token.credential()), options)
    }

    fn open_with(
        &self,
        account: &StorageAccount,
        container: &ContainerName,
        credential: Option<Arc<dyn TokenCredential>>,
        options: ClientOptions,
    ) -> AzureStore {
        let client = match (&credential, self.container_url(account, container)) {
            (Some(credential), Some(url)) => BlobContainerClient::new(
                url,
                Some(Arc::clone(credential)),
                Some(BlobContainerClientOptions {
                    client_options: options.clone(),
                    ..BlobContainerClientOptions::default()
                }),
            )
            .ok(),
            _ => None,
        };
        let service = match (credential, self.service_url(account)) {
            (Some(credential), Some(url)) => BlobServiceClient::new(
                url,
                Some(credential),
                Some(BlobServiceClientOptions {
                    client_options: options,
                    ..BlobServiceClientOptions::default()
                }),
            )
            .ok(),
            _ => None,
        };
        AzureStore {
            client,
            service,
            account: account.to_string(),
            container: container.to_string(),
        }
    }

    /// The operator's Entra app, when keyless connectors are configured.
    pub fn identity(&self) -> Option<&WorkloadIdentity> {
        self.identity.as_ref()
    }

    /// Where tenants' admins consent: the configured authority, or Azure's public cloud.
    pub fn authority_host(&self) -> &str {
        self.settings
            .authority_host
            .as_deref()
            .unwrap_or(DEFAULT_AUTHORITY_HOST)
    }

    /// A keyless connector's `token` step, with this factory's Entra authority.
    ///
    /// # Errors
    /// As [`WorkloadIdentity::token`]; `token_denied` when no identity is configured.
    pub async fn token(
        &self,
        base: &aws_config::SdkConfig,
        tenant: &AzureTenant,
        http: &reqwest::Client,
    ) -> Result<AzureToken, ProviderError> {
        let identity = self.identity.as_ref().ok_or_else(not_configured)?;
        identity
            .token(base, tenant, self.client_options(http))
            .await
    }

    /// A keyless connector's `assertion` step.
    ///
    /// # Errors
    /// As [`WorkloadIdentity::assertion`]; `assertion_denied` when no identity is
    /// configured.
    pub async fn assertion(&self, base: &aws_config::SdkConfig) -> Result<(), ProviderError> {
        let identity = self.identity.as_ref().ok_or_else(not_configured)?;
        identity.assertion(base).await
    }
}

fn not_configured() -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::AssertionDenied,
        "keyless Azure connectors are not configured on this service: the operator must set \
         AZURE_IDENTITY_CLIENT_ID (the template's AzureIdentityClientId)",
    )
}

/// One container, reached with one service principal.
pub struct AzureStore {
    /// `None` when no client could be built (a malformed endpoint or tenant).
    client: Option<BlobContainerClient>,
    /// The account's Blob service, for user delegation keys; `None` as `client`.
    service: Option<BlobServiceClient>,
    account: String,
    container: String,
}

impl AzureStore {
    fn client(&self) -> Result<&BlobContainerClient, ProviderError> {
        self.client.as_ref().ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "no Azure client could be built from the connector's tenant and account",
            )
        })
    }

    /// Turns an SDK failure into a stable code and a message naming what to fix. The SDK's
    /// own message is not repeated: it may quote the request.
    fn classify(&self, err: &azure_core::Error, permission: &str) -> ProviderError {
        use ProviderErrorKind as K;
        let (account, container) = (&self.account, &self.container);
        match err.kind() {
            ErrorKind::Credential => ProviderError::new(
                K::InvalidCredentials,
                "Entra ID did not issue a token for this service principal: check tenant_id, client_id and client_secret",
            ),
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => {
                let code = error_code.as_deref().unwrap_or("");
                match (*status, code) {
                    (
                        StatusCode::Forbidden,
                        "AuthenticationFailed" | "InvalidAuthenticationInfo",
                    )
                    | (StatusCode::Unauthorized, _) => ProviderError::new(
                        K::InvalidCredentials,
                        format!(
                            "storage account {account} refused the service principal's token: check tenant_id and that the principal belongs to the account's tenant"
                        ),
                    ),
                    (StatusCode::Forbidden, _) => ProviderError::new(
                        K::AccessDenied,
                        format!(
                            "access denied: the service principal needs {permission} on container {container} (e.g. the Storage Blob Data Contributor role)"
                        ),
                    ),
                    (StatusCode::NotFound, _) => ProviderError::new(
                        K::BucketNotFound,
                        format!(
                            "container {container} does not exist in storage account {account}"
                        ),
                    ),
                    (StatusCode::RequestTimeout | StatusCode::GatewayTimeout, _) => {
                        ProviderError::new(
                            K::Timeout,
                            "Azure Storage did not answer in time; try again",
                        )
                    }
                    (status, _) => ProviderError::new(
                        K::ProviderUnavailable,
                        format!(
                            "Azure Storage answered {}; try again later",
                            u16::from(status)
                        ),
                    ),
                }
            }
            _ if timed_out(err) => ProviderError::new(
                K::Timeout,
                "Azure Storage did not answer in time; try again",
            ),
            _ => ProviderError::new(
                K::ProviderUnavailable,
                format!(
                    "storage account {account} could not be reached: check the account name, or try again later"
                ),
            ),
        }
    }
}

impl AzureStore {
    fn service(&self) -> Result<&BlobServiceClient, ProviderError> {
        self.service.as_ref().ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "no Azure client could be built from the connector's tenant and account",
            )
        })
    }

    /// A refused or failed Get User Delegation Key: a missing role names the action the
    /// principal needs on the account, not a data permission on the container.
    fn classify_delegation(&self, err: &azure_core::Error) -> ProviderError {
        let e = self.classify(err, DELEGATION_PERMISSION);
        if e.kind != ProviderErrorKind::AccessDenied {
            return e;
        }
        ProviderError::new(
            ProviderErrorKind::AccessDenied,
            format!(
                "access denied: to sign URLs or hand out credentials the service principal needs a role on storage account {} that includes {DELEGATION_PERMISSION} (e.g. Storage Blob Delegator)",
                self.account
            ),
        )
    }

    /// The `binding` step of a keyless connector: the container's `videovector_account`
    /// metadata must be `account`, the identifier of the VideoVector account using it, set
    /// by someone who may change the container (never by this service).
    ///
    /// # Errors
    /// `binding_missing`, `binding_mismatch` (which never says whose it is),
    /// `role_missing` when the app may not read the container's properties, or Azure's
    /// failure.
    pub async fn check_binding(&self, account: &str, client_id: &str) -> Result<(), ProviderError> {
        use ProviderErrorKind as K;
        let (storage, container) = (&self.account, &self.container);
        let answer = self
            .client()?
            .get_properties(None)
            .await
            .map_err(|e| self.binding_refusal(&e, client_id))?;
        let metadata = answer.metadata().unwrap_or_default();
        let bound = metadata
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(BINDING_METADATA))
            .map(|(_, value)| value.as_str());
        match bound {
            Some(value) if value == account => Ok(()),
            Some(_) => Err(ProviderError::new(
                K::BindingMismatch,
                format!(
                    "container {container} of storage account {storage} is bound to another \
                     VideoVector account: its metadata {BINDING_METADATA} must be this \
                     account's identifier (GET /api/v2/connectors/azure/identity-setup), \
                     set by the container's owner"
                ),
            )),
            None => Err(ProviderError::new(
                K::BindingMissing,
                format!(
                    "container {container} of storage account {storage} is not bound to this \
                     VideoVector account: its owner sets the container metadata \
                     {BINDING_METADATA}={account} (GET /api/v2/connectors/azure/identity-setup \
                     gives the command)"
                ),
            )),
        }
    }

    /// A failed read of the container's properties: a missing role is named, with the
    /// roles that carry the permission and how long a new assignment takes.
    fn binding_refusal(&self, err: &azure_core::Error, client_id: &str) -> ProviderError {
        let refused = self.classify(err, CONTAINER_READ_PERMISSION);
        if refused.kind != ProviderErrorKind::AccessDenied {
            return refused;
        }
        ProviderError::new(
            ProviderErrorKind::RoleMissing,
            format!(
                "the VideoVector app {client_id} has no role on container {} of storage \
                 account {}: assign it Storage Blob Data Reader (import) or Storage Blob Data \
                 Contributor (export) on the container; a new role assignment can take from \
                 minutes to an hour to reach Azure Storage",
                self.container, self.account
            ),
        )
    }

    /// One user delegation key valid from `start` to `expiry`, from the account's Blob
    /// service with the principal's token.
    ///
    /// # Errors
    /// The service's refusal, or an answer without a complete key.
    async fn delegation_key(
        &self,
        start: Timestamp,
        expiry: Timestamp,
    ) -> Result<DelegationKey, ProviderError> {
        let service = self.service()?;
        let key_info = KeyInfo {
            start: Some(instant(start)?),
            expiry: Some(instant(expiry)?),
            ..KeyInfo::default()
        };
        let body = RequestContent::try_from(key_info).map_err(|e| self.classify_delegation(&e))?;
        let key = service
            .get_user_delegation_key(body, None)
            .await
            .and_then(|response| response.into_model())
            .map_err(|e| self.classify_delegation(&e))?;
        let stamp = |t: OffsetDateTime| Timestamp::from_unix(t.unix_timestamp());
        match (
            key.signed_oid,
            key.signed_tid,
            key.signed_start,
            key.signed_expiry,
            key.signed_version,
            key.value,
        ) {
            (
                Some(oid),
                Some(tid),
                Some(key_start),
                Some(key_expiry),
                Some(version),
                Some(value),
            ) if !value.is_empty() => Ok(DelegationKey::new(
                oid,
                tid,
                stamp(key_start),
                stamp(key_expiry),
                key.signed_service.unwrap_or_else(|| "b".to_owned()),
                version,
                value,
            )),
            _ => Err(ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                format!(
                    "storage account {} answered Get User Delegation Key without a complete key; try again later",
                    self.account
                ),
            )),
        }
    }

    /// The container's URL, without a trailing `/`.
    fn container_url(&self) -> Result<&str, ProviderError> {
        Ok(self.client()?.url().as_str().trim_end_matches('/'))
    }

    /// One SAS for `resource`, signed with `key`.
    fn sign(
        &self,
        key: &DelegationKey,
        resource: SasResource<'_>,
        permissions: SasPermissions,
        (start, expiry): (Timestamp, Timestamp),
    ) -> Result<secrecy::SecretString, ProviderError> {
        let request = SasRequest {
            account: &self.account,
            container: &self.container,
            resource,
            permissions,
            start,
            expiry,
        };
        sas::sas_token(&request, key).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "the user delegation key Azure Storage issued cannot sign; try again later",
            )
        })
    }

    /// One URL per key for `method`, signed with `key`: the blob's URL (its name encoded
    /// once) and a blob SAS. A PUT must say it writes a block blob.
    fn signed_urls(
        &self,
        key: &DelegationKey,
        keys: &[String],
        method: UrlMethod,
        window: (Timestamp, Timestamp),
    ) -> Result<Vec<SignedUrl>, ProviderError> {
        let container_url = self.container_url()?;
        let (permissions, headers) = match method {
            UrlMethod::Get => (SasPermissions::Read, vec![]),
            UrlMethod::Put => (
                SasPermissions::CreateWrite,
                vec![("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())],
            ),
        };
        keys.iter()
            .map(|name| {
                let token = self.sign(key, SasResource::Blob(name), permissions, window)?;
                let url = format!(
                    "{container_url}/{}?{}",
                    sas::encode_blob_path(name),
                    token.expose_secret()
                );
                Ok(SignedUrl::new(name.clone(), method, url, headers.clone()))
            })
            .collect()
    }
}

/// The Azure RBAC action Get User Delegation Key needs.
const DELEGATION_PERMISSION: &str =
    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action";

/// How long before now a SAS and its key start: a client's clock may run behind Azure's.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// Why credentials for a prefix are refused.
const PREFIX_NEEDS_HNS: &str = "Azure credentials held to a prefix need a storage account with a hierarchical namespace (a directory SAS), which the service does not hand out; send `paths` for one signed URL per blob, or ask for the whole container (an empty prefix)";

/// From a little before now until `expires_in` from now, at most the seven days a user
/// delegation key may last.
///
/// # Errors
/// `access_not_supported` for a longer grant.
fn validity(expires_in: Duration) -> Result<(Timestamp, Timestamp), ProviderError> {
    if expires_in.as_secs() > sas::MAX_KEY_VALIDITY {
        return Err(access::not_supported(format!(
            "Azure signed URLs and SAS tokens last at most {} seconds (seven days)",
            sas::MAX_KEY_VALIDITY
        )));
    }
    let now = Timestamp::now();
    let seconds = i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX);
    Ok((
        now.plus_seconds(-CLOCK_SKEW_SECONDS),
        now.plus_seconds(seconds),
    ))
}

/// A `Timestamp` as the SDK's instant.
fn instant(t: Timestamp) -> Result<OffsetDateTime, ProviderError> {
    OffsetDateTime::from_unix_timestamp(t.unix()).map_err(|_| {
        ProviderError::new(
            ProviderErrorKind::AccessNotSupported,
            "the grant's expiry is out of range",
        )
    })
}

/// Whether a transport failure was the HTTP client giving up waiting.
pub(super) fn timed_out(err: &azure_core::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        let reqwest_timeout = e
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout);
        let io_timeout = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
        if reqwest_timeout || io_timeout {
            return true;
        }
        source = e.source();
    }
    false
}

/// The Azure RBAC action Get Container Properties needs (the binding's read).
const CONTAINER_READ_PERMISSION: &str =
    "Microsoft.Storage/storageAccounts/blobServices/containers/read";

const LIST_PERMISSION: &str =
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";

#[async_trait]
impl ObjectStore for AzureStore {
    async fn authenticate(&self) -> Result<(), ProviderError> {
        // Gets a token and lists at most one blob: the permission every import needs.
        self.list_page(ListRequest {
            prefix: "",
            delimiter: None,
            page_token: None,
            max_results: 1,
            glob: None,
        })
        .await
        .map(|_| ())
    }

    async fn list_page(&self, request: ListRequest<'_>) -> Result<ListPage, ProviderError> {
        let client = self.client()?;
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!request.prefix.is_empty()).then(|| request.prefix.to_owned()),
            marker: request.page_token.map(str::to_owned),
            maxresults: Some(i32::try_from(request.max_results).unwrap_or(5000)),
            ..Default::default()
        };
        let mut pages = client
            .list_blobs(Some(options))
            .map_err(|e| self.classify(&e, LIST_PERMISSION))?
            .into_pages();
        let Some(page) = pages.next().await else {
            return Ok(ListPage::default());
        };
        let list = page
            .and_then(|response| response.into_model())
            .map_err(|e| self.classify(&e, LIST_PERMISSION))?;
        // The Blob service has no delimiter in this SDK: direct children are those with no
        // further `/` below the prefix.
        let objects = list
            .blob_items
            .into_iter()
            .filter_map(|item| {
                let key = item.name?;
                let below = key.strip_prefix(request.prefix).unwrap_or(&key);
                if request.delimiter.is_some_and(|d| below.contains(d)) {
                    return None;
                }
                let properties = item.properties;
                Some(ObjectEntry {
                    size: properties
                        .as_ref()
                        .and_then(|p| p.content_length)
                        .unwrap_or(0),
                    last_modified: properties
                        .as_ref()
                        .and_then(|p| p.last_modified)
                        .map(|t| Timestamp::from_unix(t.unix_timestamp())),
                    content_type: properties.and_then(|p| p.content_type),
                    key,
                })
            })
            .collect();
        Ok(ListPage {
            objects,
            next_token: list.next_marker.filter(|m| !m.is_empty()),
        })
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), ProviderError> {
        self.client()?
            .blob_client(key)
            .upload(RequestContent::from(body.to_vec()), None)
            .await
            .map(|_| ())
            .map_err(|e| {
                self.classify(
                    &e,
                    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                )
            })
    }

    async fn delete_object(&self, key: &str) -> Result<(), ProviderError> {
        self.client()?
            .blob_client(key)
            .delete(None)
            .await
            .map(|_| ())
            .map_err(|e| {
                self.classify(
                    &e,
                    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                )
            })
    }

    async fn sign_urls(&self, grant: UrlGrant<'_>) -> Result<Vec<SignedUrl>, ProviderError> {
        let window = validity(grant.expires_in)?;
        if grant.keys.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.delegation_key(window.0, window.1).await?;
        self.signed_urls(&key, grant.keys, grant.method, window)
    }

    async fn prefix_credentials(
        &self,
        grant: PrefixGrant<'_>,
    ) -> Result<VendedCredentials, ProviderError> {
        // A container SAS reaches every blob; only a directory SAS (an account with a
        // hierarchical namespace) is held to a prefix.
        if !grant.prefix.is_empty() {
            return Err(access::not_supported(PREFIX_NEEDS_HNS));
        }
        let window = validity(grant.expires_in)?;
        let container_url = self.container_url()?.to_owned();
        let key = self.delegation_key(window.0, window.1).await?;
        let permissions = match grant.rights {
            PrefixRights::ReadList => SasPermissions::ReadList,
            PrefixRights::Write => SasPermissions::CreateWrite,
        };
        let sas_token = self.sign(&key, SasResource::Container, permissions, window)?;
        Ok(VendedCredentials::Azure {
            sas_token,
            container_url,
            expires_at: window.1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AzureStore {
        AzureStore {
            client: None,
            service: None,
            account: "mediastore01".into(),
            container: "raw-footage".into(),
        }
    }

    fn answered(status: StatusCode, code: &str) -> ProviderError {
        let err = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: Some(code.into()),
                raw_response: None,
            },
            "refused",
        );
        store().classify(&err, "blobs/write")
    }

    #[test]
    fn a_role_that_lacks_a_permission_is_access_denied_naming_it() {
        let e = answered(StatusCode::Forbidden, "AuthorizationPermissionMismatch");
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(e.message.contains("blobs/write") && e.message.contains("raw-footage"));
    }

    #[test]
    fn a_binding_read_the_role_refuses_is_role_missing_naming_both_roles_and_the_delay() {
        let err = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthorizationPermissionMismatch".into()),
                raw_response: None,
            },
            "refused",
        );
        let e = store().binding_refusal(&err, "app-id");
        assert_eq!(e.kind, ProviderErrorKind::RoleMissing);
        for part in [
            "app-id",
            "raw-footage",
            "Storage Blob Data Reader",
            "Storage Blob Data Contributor",
            "an hour",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        // A missing container is still a missing container.
        let err = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::NotFound,
                error_code: Some("ContainerNotFound".into()),
                raw_response: None,
            },
            "gone",
        );
        assert_eq!(
            store().binding_refusal(&err, "app-id").kind,
            ProviderErrorKind::BucketNotFound
        );
    }

    #[test]
    fn a_refused_token_is_invalid_credentials_and_a_missing_container_is_named() {
        let e = answered(StatusCode::Forbidden, "AuthenticationFailed");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        let e = answered(StatusCode::NotFound, "ContainerNotFound");
        assert_eq!(e.kind, ProviderErrorKind::BucketNotFound);
        assert!(e.message.contains("raw-footage") && e.message.contains("mediastore01"));
    }

    #[test]
    fn server_errors_are_retryable_and_a_refused_token_request_is_invalid_credentials() {
        let e = answered(StatusCode::ServiceUnavailable, "ServerBusy");
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
        let err = azure_core::Error::with_message(ErrorKind::Credential, "AADSTS7000215");
        let e = store().classify(&err, "blobs/read");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        assert!(
            !e.message.contains("AADSTS"),
            "the SDK's text is not repeated"
        );
    }

    /// A store whose container client is built but never reaches the network.
    fn offline_store() -> AzureStore {
        let url =
            Url::parse("https://mediastore01.blob.core.windows.net/raw-footage").expect("a URL");
        AzureStore {
            client: Some(BlobContainerClient::new(url, None, None).expect("a client")),
            ..store()
        }
    }

    fn test_key() -> DelegationKey {
        DelegationKey::new(
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            Timestamp::from_unix(1_775_560_000),
            Timestamp::from_unix(1_775_570_000),
            "b".into(),
            "2026-04-06".into(),
            b"sealed-delegation-key-value".to_vec(),
        )
    }

    #[test]
    fn a_refused_delegation_key_names_the_action_and_the_delegator_role() {
        let err = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthorizationPermissionMismatch".into()),
                raw_response: None,
            },
            "refused",
        );
        let e = store().classify_delegation(&err);
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(
            e.message.contains(
                "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"
            ) && e.message.contains("Storage Blob Delegator")
                && e.message.contains("mediastore01"),
            "{}",
            e.message
        );
        let token_refused = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthenticationFailed".into()),
                raw_response: None,
            },
            "refused",
        );
        let e = store().classify_delegation(&token_refused);
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
    }

    #[test]
    fn signed_urls_name_each_blob_encoded_once_and_a_put_carries_the_blob_type() {
        let keys = vec!["in/day 1/take+2 100%.mp4".to_owned(), "é.mov".to_owned()];
        let window = (
            Timestamp::from_unix(1_775_560_000),
            Timestamp::from_unix(1_775_563_600),
        );
        let store = offline_store();
        let urls = store
            .signed_urls(&test_key(), &keys, UrlMethod::Put, window)
            .expect("signs");
        assert_eq!(urls.len(), 2);
        let first = urls.first().expect("one per key");
        assert_eq!(first.key, "in/day 1/take+2 100%.mp4");
        assert!(
            first.url().starts_with(
                "https://mediastore01.blob.core.windows.net/raw-footage/in/day%201/take%2B2%20100%25.mp4?sp=cw&"
            ),
            "{}",
            first.url()
        );
        assert!(first.url().contains("&sr=b&") && first.url().contains("&sig="));
        assert_eq!(
            first.headers,
            vec![("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())]
        );
        let get = store
            .signed_urls(&test_key(), &keys, UrlMethod::Get, window)
            .expect("signs");
        let second = get.get(1).expect("one per key");
        assert!(
            second.url().starts_with(
                "https://mediastore01.blob.core.windows.net/raw-footage/%C3%A9.mov?sp=r&"
            ),
            "{}",
            second.url()
        );
        assert!(second.headers.is_empty());
    }

    #[test]
    fn no_secret_of_a_signed_url_shows_in_its_debug_output_or_errors() {
        let keys = vec!["a.mp4".to_owned()];
        let window = (
            Timestamp::from_unix(1_775_560_000),
            Timestamp::from_unix(1_775_563_600),
        );
        let urls = offline_store()
            .signed_urls(&test_key(), &keys, UrlMethod::Get, window)
            .expect("signs");
        let shown = format!("{urls:?} {:?}", test_key());
        assert!(
            !shown.contains("sig=") && !shown.contains("sealed"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn credentials_for_a_prefix_are_not_supported_and_say_what_to_send() {
        let e = offline_store()
            .prefix_credentials(PrefixGrant {
                prefix: "in/",
                rights: PrefixRights::ReadList,
                expires_in: Duration::from_secs(900),
            })
            .await
            .expect_err("a container SAS reaches more than the prefix");
        assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported);
        assert!(
            e.message.contains("hierarchical namespace") && e.message.contains("`paths`"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_grant_longer_than_a_delegation_key_lasts_is_refused_before_any_call() {
        let keys = vec!["a.mp4".to_owned()];
        let e = offline_store()
            .sign_urls(UrlGrant {
                keys: &keys,
                method: UrlMethod::Get,
                expires_in: Duration::from_secs(sas::MAX_KEY_VALIDITY + 1),
            })
            .await
            .expect_err("too long");
        assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported);
    }

    #[test]
    fn the_container_url_of_the_public_cloud_and_of_an_emulator_have_one_slash_each() {
        let account = StorageAccount::parse("mediastore01").expect("account");
        let container = ContainerName::parse("raw-footage").expect("container");
        let cloud = AzureFactory::new(AzureSettings::default());
        assert_eq!(
            cloud.container_url(&account, &container).map(String::from),
            Some("https://mediastore01.blob.core.windows.net/raw-footage".to_owned())
        );
        let emulator = AzureFactory::new(AzureSettings {
            endpoint_url: Some("https://127.0.0.1:10000".into()),
            ..AzureSettings::default()
        });
        assert_eq!(
            emulator.service_url(&account).map(String::from),
            Some("https://127.0.0.1:10000/mediastore01".to_owned())
        );
        assert_eq!(
            emulator
                .container_url(&account, &container)
                .map(String::from),
            Some("https://127.0.0.1:10000/mediastore01/raw-footage".to_owned())
        );
    }
}

/// Signed URLs and container SAS tokens against Azurite (`--oauth basic` over HTTPS), which
/// validates user-delegation SAS: the signature, start and expiry, and the permissions.
#[cfg(all(test, feature = "emulators"))]
mod azurite {
    use super::*;
    use crate::providers::azure::names::{AzureTenant, Guid};

    const ACCOUNT: &str = "devstoreaccount1";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn env(name: &str) -> String {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is set by infra/emulators.sh (source it first)"))
    }

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTPS client")
    }

    /// A block blob PUT to a signed URL, as an export job sends it.
    async fn put_blob(url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        http()
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(body)
            .send()
            .await
            .expect("PUT")
    }

    /// A new container in Azurite holding `blobs`, and a store for it.
    async fn container_with(blobs: &[(&str, &[u8])]) -> AzureStore {
        let factory = AzureFactory::new(AzureSettings {
            endpoint_url: Some(env("AZURITE_BLOB_ENDPOINT")),
            authority_host: Some(env("AZURE_TOKEN_ENDPOINT")),
            identity: None,
        });
        let creds = AzureCredentials::new(
            AzureTenant::parse(TENANT).expect("tenant"),
            Guid::parse(CLIENT).expect("client"),
            &env("TOKEN_ENDPOINT_CLIENT_SECRET"),
        )
        .expect("credentials");
        let name = format!("sas-{}", ulid::Ulid::new().to_string().to_ascii_lowercase());
        let store = factory.open(
            &StorageAccount::parse(ACCOUNT).expect("account"),
            &ContainerName::parse(&name).expect("container"),
            &creds,
            &http(),
        );
        store
            .client()
            .expect("a client")
            .create(None)
            .await
            .expect("create container");
        for (key, body) in blobs {
            store
                .put_object(key, Bytes::copy_from_slice(body))
                .await
                .expect("upload");
        }
        store
    }

    async fn sign(store: &AzureStore, key: &str, method: UrlMethod) -> SignedUrl {
        let keys = vec![key.to_owned()];
        let mut urls = store
            .sign_urls(UrlGrant {
                keys: &keys,
                method,
                expires_in: Duration::from_secs(600),
            })
            .await
            .expect("signs");
        assert_eq!(urls.len(), 1);
        urls.pop().expect("one URL")
    }

    fn put(url: &SignedUrl, body: &'static [u8]) -> reqwest::RequestBuilder {
        url.headers
            .iter()
            .fold(http().put(url.url()), |r, (name, value)| {
                r.header(name, value)
            })
            .body(body)
    }

    /// Azurite refused the request with 403 and this error code.
    fn refused(r: &reqwest::Response, code: &str) {
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()
                .get("x-ms-error-code")
                .and_then(|v| v.to_str().ok()),
            Some(code)
        );
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_signed_get_url_returns_the_blob_and_serves_a_range() {
        let body = bytes(1000);
        let store = container_with(&[("in/clip.mp4", &body)]).await;
        let url = sign(&store, "in/clip.mp4", UrlMethod::Get).await;
        assert!(url.headers.is_empty());

        let r = http().get(url.url()).send().await.expect("GET");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").as_ref(), body.as_slice());
        let (unsigned, _) = url.url().split_once('?').expect("a query");
        let r = http().get(unsigned).send().await.expect("GET");
        assert!(
            !r.status().is_success(),
            "the container is private: {}",
            r.status()
        );

        let r = http()
            .get(url.url())
            .header("range", "bytes=0-99")
            .send()
            .await
            .expect("ranged GET");
        assert_eq!(r.status(), 206);
        assert_eq!(
            r.bytes().await.expect("body").as_ref(),
            body.get(..100).expect("100 bytes")
        );
    }

    #[tokio::test]
    async fn a_signed_put_url_with_its_header_writes_a_blob_whose_name_needs_encoding() {
        let store = container_with(&[]).await;
        let name = "in/day 1/take+2 100% é.mp4";
        let url = sign(&store, name, UrlMethod::Put).await;
        let r = put(&url, b"new footage").send().await.expect("PUT");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

        let page = store
            .list_page(ListRequest {
                prefix: "in/",
                delimiter: None,
                page_token: None,
                max_results: 10,
                glob: None,
            })
            .await
            .expect("lists");
        let names: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(names, [name], "stored under its decoded name");
        let get = sign(&store, name, UrlMethod::Get).await;
        let r = http().get(get.url()).send().await.expect("GET");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").as_ref(), b"new footage");

        let replaced = put(&url, b"second take").send().await.expect("PUT again");
        assert_eq!(replaced.status(), 201, "c+w may replace the blob");
    }

    #[tokio::test]
    async fn a_put_without_the_blob_type_header_is_refused() {
        let store = container_with(&[]).await;
        let url = sign(&store, "in/a.mp4", UrlMethod::Put).await;
        let r = http().put(url.url()).body("x").send().await.expect("PUT");
        assert_eq!(r.status(), 400);
    }

    #[tokio::test]
    async fn an_expired_sas_is_refused_though_its_key_is_still_valid() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let now = Timestamp::now();
        let key = store
            .delegation_key(now.plus_seconds(-600), now.plus_seconds(600))
            .await
            .expect("a key");
        let url = |expiry: Timestamp| {
            let keys = vec!["a.mp4".to_owned()];
            let window = (now.plus_seconds(-600), expiry);
            let mut urls = store
                .signed_urls(&key, &keys, UrlMethod::Get, window)
                .expect("signs");
            urls.pop().expect("one URL")
        };
        let expired = url(now.plus_seconds(-60));
        let r = http().get(expired.url()).send().await.expect("GET");
        refused(&r, "AuthorizationFailure");
        let valid = url(now.plus_seconds(60));
        let r = http().get(valid.url()).send().await.expect("GET");
        assert_eq!(r.status(), 200, "the same key and blob, before expiry");
    }

    #[tokio::test]
    async fn a_sas_signed_with_an_expired_delegation_key_is_refused() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let now = Timestamp::now();
        let key = store
            .delegation_key(now.plus_seconds(-600), now.plus_seconds(-60))
            .await
            .expect("Azurite issues a key for any window");
        let keys = vec!["a.mp4".to_owned()];
        let urls = store
            .signed_urls(
                &key,
                &keys,
                UrlMethod::Get,
                (now.plus_seconds(-600), now.plus_seconds(600)),
            )
            .expect("signs");
        let url = urls.first().expect("one URL");
        let r = http().get(url.url()).send().await.expect("GET");
        refused(&r, "AuthorizationFailure");
    }

    #[tokio::test]
    async fn a_sas_that_starts_in_the_future_is_refused() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let now = Timestamp::now();
        let key = store
            .delegation_key(now.plus_seconds(-600), now.plus_seconds(3600))
            .await
            .expect("a key");
        let keys = vec!["a.mp4".to_owned()];
        let urls = store
            .signed_urls(
                &key,
                &keys,
                UrlMethod::Get,
                (now.plus_seconds(600), now.plus_seconds(1200)),
            )
            .expect("signs");
        let url = urls.first().expect("one URL");
        let r = http().get(url.url()).send().await.expect("GET");
        refused(&r, "AuthorizationFailure");
    }

    #[tokio::test]
    async fn a_read_sas_used_to_put_is_refused() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let read = sign(&store, "a.mp4", UrlMethod::Get).await;
        let r = put_blob(read.url(), "overwrite").await;
        refused(&r, "AuthorizationPermissionMismatch");
        let new = sign(&store, "b.mp4", UrlMethod::Get).await;
        let r = put_blob(new.url(), "create").await;
        refused(&r, "AuthorizationPermissionMismatch");
    }

    #[tokio::test]
    async fn a_put_sas_used_to_read_is_refused() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let write = sign(&store, "a.mp4", UrlMethod::Put).await;
        let r = http().get(write.url()).send().await.expect("GET");
        refused(&r, "AuthorizationPermissionMismatch");
    }

    #[tokio::test]
    async fn a_sas_for_one_blob_is_refused_for_another() {
        let store = container_with(&[("in/a.mp4", b"a"), ("in/b.mp4", b"b")]).await;
        let a = sign(&store, "in/a.mp4", UrlMethod::Get).await;
        let for_b = a.url().replacen("/in/a.mp4?", "/in/b.mp4?", 1);
        assert_ne!(for_b, a.url());
        let r = http().get(&for_b).send().await.expect("GET");
        refused(&r, "AuthorizationFailure");
        let put_a = sign(&store, "in/a.mp4", UrlMethod::Put).await;
        let to_c = put_a.url().replacen("/in/a.mp4?", "/in/c.mp4?", 1);
        let r = put_blob(&to_c, "c").await;
        refused(&r, "AuthorizationFailure");
    }

    #[tokio::test]
    async fn a_tampered_signature_or_permission_is_refused() {
        let store = container_with(&[("a.mp4", b"a")]).await;
        let read = sign(&store, "a.mp4", UrlMethod::Get).await;
        let widened = read.url().replacen("?sp=r&", "?sp=rw&", 1);
        assert_ne!(widened, read.url());
        let r = put_blob(&widened, "x").await;
        refused(&r, "AuthorizationFailure");
        let (url, sig) = read.url().rsplit_once("&sig=").expect("a signature");
        let other = if sig.starts_with('A') { "B" } else { "A" };
        let forged = format!("{url}&sig={other}{}", sig.get(1..).unwrap_or_default());
        let r = http().get(&forged).send().await.expect("GET");
        refused(&r, "AuthorizationFailure");
    }

    fn list_url(creds: &VendedCredentials) -> String {
        let VendedCredentials::Azure {
            sas_token,
            container_url,
            ..
        } = creds
        else {
            panic!("Azure credentials");
        };
        format!(
            "{container_url}?restype=container&comp=list&{}",
            sas_token.expose_secret()
        )
    }

    async fn container_sas(store: &AzureStore, rights: PrefixRights) -> VendedCredentials {
        store
            .prefix_credentials(PrefixGrant {
                prefix: "",
                rights,
                expires_in: Duration::from_secs(600),
            })
            .await
            .expect("a container SAS")
    }

    #[tokio::test]
    async fn a_read_list_container_sas_lists_and_reads_the_container_but_cannot_write() {
        let store = container_with(&[("in/a.mp4", b"a"), ("out/b.mp4", b"b")]).await;
        let creds = container_sas(&store, PrefixRights::ReadList).await;
        let expires_in = creds.expires_at().unix() - Timestamp::now().unix();
        assert!((590..=600).contains(&expires_in), "{expires_in}");

        let r = http().get(list_url(&creds)).send().await.expect("list");
        assert_eq!(r.status(), 200);
        let listing = r.text().await.expect("XML");
        assert!(
            listing.contains("<Name>in/a.mp4</Name>") && listing.contains("<Name>out/b.mp4</Name>"),
            "{listing}"
        );

        let VendedCredentials::Azure {
            sas_token,
            container_url,
            ..
        } = &creds
        else {
            panic!("Azure credentials");
        };
        let blob = format!("{container_url}/out/b.mp4?{}", sas_token.expose_secret());
        let r = http().get(&blob).send().await.expect("GET");
        assert_eq!(r.status(), 200);
        let r = put_blob(&blob, "x").await;
        refused(&r, "AuthorizationPermissionMismatch");
    }

    #[tokio::test]
    async fn a_write_container_sas_writes_a_blob_but_cannot_list_or_read() {
        let store = container_with(&[("in/a.mp4", b"a")]).await;
        let creds = container_sas(&store, PrefixRights::Write).await;
        let VendedCredentials::Azure {
            sas_token,
            container_url,
            ..
        } = &creds
        else {
            panic!("Azure credentials");
        };
        let blob = format!("{container_url}/out/new.mp4?{}", sas_token.expose_secret());
        let r = put_blob(&blob, "new").await;
        assert_eq!(r.status(), 201);
        let r = http().get(list_url(&creds)).send().await.expect("list");
        refused(&r, "AuthorizationPermissionMismatch");
        let r = http().get(&blob).send().await.expect("GET");
        refused(&r, "AuthorizationPermissionMismatch");
    }

    #[tokio::test]
    async fn a_wrong_client_secret_is_invalid_credentials_when_signing() {
        let factory = AzureFactory::new(AzureSettings {
            endpoint_url: Some(env("AZURITE_BLOB_ENDPOINT")),
            authority_host: Some(env("AZURE_TOKEN_ENDPOINT")),
            identity: None,
        });
        let creds = AzureCredentials::new(
            AzureTenant::parse(TENANT).expect("tenant"),
            Guid::parse(CLIENT).expect("client"),
            "not-the-secret",
        )
        .expect("credentials");
        let store = factory.open(
            &StorageAccount::parse(ACCOUNT).expect("account"),
            &ContainerName::parse("raw-footage").expect("container"),
            &creds,
            &http(),
        );
        let keys = vec!["a.mp4".to_owned()];
        let e = store
            .sign_urls(UrlGrant {
                keys: &keys,
                method: UrlMethod::Get,
                expires_in: Duration::from_secs(600),
            })
            .await
            .expect_err("no token");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        assert!(!e.message.contains("not-the-secret"), "{}", e.message);
    }
}
