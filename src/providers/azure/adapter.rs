//! The Azure Blob Storage [`ObjectStore`]: `azure_storage_blob` with an Entra ID service
//! principal (`azure_identity`'s client-secret credential), over one shared HTTPS client.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode, Transport,
    Url,
};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use secrecy::ExposeSecret;

use super::credentials::AzureCredentials;
use super::names::{ContainerName, StorageAccount};
use crate::domain::timestamp::Timestamp;
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
}

/// Builds per-call Azure clients over the shared connection pool.
pub struct AzureFactory {
    settings: AzureSettings,
}

impl AzureFactory {
    pub fn new(settings: AzureSettings) -> Self {
        Self { settings }
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

    fn container_url(&self, account: &StorageAccount, container: &ContainerName) -> Option<Url> {
        let mut url = match &self.settings.endpoint_url {
            Some(base) => {
                let mut url = Url::parse(base).ok()?;
                url.path_segments_mut().ok()?.push(account.as_str());
                url
            }
            None => Url::parse(&format!("https://{account}.blob.core.windows.net")).ok()?,
        };
        url.path_segments_mut().ok()?.push(container.as_str());
        Some(url)
    }

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
        let client = match (credential, self.container_url(account, container)) {
            (Ok(credential), Some(url)) => BlobContainerClient::new(
                url,
                Some(credential as Arc<dyn TokenCredential>),
                Some(BlobContainerClientOptions {
                    client_options: options,
                    ..BlobContainerClientOptions::default()
                }),
            )
            .ok(),
            _ => None,
        };
        AzureStore {
            client,
            account: account.to_string(),
            container: container.to_string(),
        }
    }
}

/// One container, reached with one service principal.
pub struct AzureStore {
    /// `None` when no client could be built (a malformed endpoint or tenant).
    client: Option<BlobContainerClient>,
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

/// Whether a transport failure was the HTTP client giving up waiting.
fn timed_out(err: &azure_core::Error) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AzureStore {
        AzureStore {
            client: None,
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
}
