//! The provider port: what `test` and `browse` need from a bucket or container, and the
//! factory that builds an [`ObjectStore`] per call from a connector and its credentials;
//! the machinery the providers share (`egress`, `roles`, `principal`, the HTTPS client);
//! and one folder per provider with everything that is its own (see the crate's Layout).

pub mod access;
pub mod azure;
pub mod egress;
pub mod gcs;
pub mod principal;
pub mod roles;
pub mod s3;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::connector::{Connector, Location, RoleGrant};
use crate::domain::credentials::Credentials;
use crate::domain::glob::GlobPattern;
use crate::domain::timestamp::Timestamp;
use crate::providers::s3::endpoint::S3Endpoint;

/// One object as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<Timestamp>,
    /// The provider's content type, when its listing reports one.
    pub content_type: Option<String>,
}

/// One listing request: `delimiter` set to `/` lists only direct children.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub page_token: Option<&'a str>,
    pub max_results: u32,
    /// The browse pattern, for providers that can filter with it server-side. A hint
    /// only: the caller filters every object again.
    pub glob: Option<&'a GlobPattern>,
}

/// One page of a listing, objects in ascending key order.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectEntry>,
    pub next_token: Option<String>,
}

/// Stable error codes of provider failures (the contract's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    InvalidCredentials,
    AccessDenied,
    BucketNotFound,
    WrongRegion,
    Timeout,
    ProviderUnavailable,
    /// A connector's own endpoint is (or resolves to) an address the egress policy refuses.
    EndpointNotAllowed,
    /// STS refused to let the service assume a connector's role with its external ID.
    AssumeRoleDenied,
    /// A connector's role can be assumed without the external ID.
    ExternalIdNotEnforced,
    /// The provider, or this kind of connector, cannot hand out what was asked.
    AccessNotSupported,
    /// Google's STS refused the service's own AWS identity (GCS workload identity).
    FederationDenied,
    /// IAM Credentials refused to let the service act as the account's service account.
    ImpersonationDenied,
    /// STS refused the service an assertion of its AWS identity (keyless Azure).
    AssertionDenied,
    /// The customer's tenant has not consented to the operator's Entra app.
    ConsentMissing,
    /// Entra ID refused the service's assertion for another reason.
    TokenDenied,
    /// The operator's Entra app holds no role on the container.
    RoleMissing,
    /// The container carries no binding to the account using it.
    BindingMissing,
    /// The container is bound to another account.
    BindingMismatch,
}

impl ProviderErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccessDenied => "access_denied",
            Self::BucketNotFound => "bucket_not_found",
            Self::WrongRegion => "wrong_region",
            Self::Timeout => "timeout",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::EndpointNotAllowed => "endpoint_not_allowed",
            Self::AssumeRoleDenied => "assume_role_denied",
            Self::ExternalIdNotEnforced => "external_id_not_enforced",
            Self::AccessNotSupported => "access_not_supported",
            Self::FederationDenied => "federation_denied",
            Self::ImpersonationDenied => "impersonation_denied",
            Self::AssertionDenied => "assertion_denied",
            Self::ConsentMissing => "consent_missing",
            Self::TokenDenied => "token_denied",
            Self::RoleMissing => "role_missing",
            Self::BindingMissing => "binding_missing",
            Self::BindingMismatch => "binding_mismatch",
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Timeout | Self::ProviderUnavailable)
    }
}

/// A provider failure with a message that tells a person what to fix. Messages are built
/// by the adapters from codes and names, never from credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub message: String,
    /// For `wrong_region`: where the bucket really is.
    pub actual_region: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            actual_region: None,
        }
    }
}

/// What test, browse and access grants do with a bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Proves the credentials are accepted and the bucket is reachable.
    async fn authenticate(&self) -> Result<(), ProviderError>;
    async fn list_page(&self, request: ListRequest<'_>) -> Result<ListPage, ProviderError>;
    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), ProviderError>;
    async fn delete_object(&self, key: &str) -> Result<(), ProviderError>;

    /// One URL per key, each for exactly that object and method.
    ///
    /// # Errors
    /// `access_not_supported` where the provider cannot sign, or the provider's refusal.
    async fn sign_urls(
        &self,
        grant: access::UrlGrant<'_>,
    ) -> Result<Vec<access::SignedUrl>, ProviderError> {
        let _ = grant;
        Err(access::not_supported("this provider cannot sign URLs yet"))
    }

    /// Credentials that reach no key outside the grant's prefix and do nothing beyond its
    /// rights.
    ///
    /// # Errors
    /// `access_not_supported` where the provider cannot hold credentials to a prefix, or
    /// the provider's refusal.
    async fn prefix_credentials(
        &self,
        grant: access::PrefixGrant<'_>,
    ) -> Result<access::VendedCredentials, ProviderError> {
        let _ = grant;
        Err(access::not_supported(
            "this provider cannot hand out credentials held to a prefix; send `paths` for \
             one signed URL per object",
        ))
    }
}

/// Why no client could be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The stored credentials do not belong to the connector's provider.
    CredentialsMismatch,
    /// The connector's endpoint is an address the egress policy refuses.
    Refused(ProviderError),
    /// The HTTPS client could not be built (its TLS configuration failed).
    NoClient(String),
}

/// Builds a client for one connector, per call.
#[async_trait]
pub trait ProviderFactory: Send + Sync {
    /// Whether a connector may name this endpoint: its host may not be (or resolve to) an
    /// address inside a network, unless the operator allowed it.
    ///
    /// # Errors
    /// The refusal, worded for the `endpoint_url` field.
    async fn vet_endpoint(&self, endpoint: &S3Endpoint) -> Result<(), egress::Refused>;

    /// The ARN of the service's own AWS principal, which customers' roles trust.
    ///
    /// # Errors
    /// When it is not configured and STS cannot say.
    async fn service_principal(&self) -> Result<String, ProviderError>;

    /// The credentials of a connector's role, assumed with its external ID in a session
    /// named `session_name` (kept until shortly before they expire).
    ///
    /// # Errors
    /// `assume_role_denied`, or STS being slow or unreachable.
    async fn assume_role(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<roles::RoleSession, ProviderError>;

    /// Proves the role refuses whoever assumes it without the external ID.
    ///
    /// # Errors
    /// `external_id_not_enforced`, or STS being slow or unreachable.
    async fn check_external_id_enforced(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<(), ProviderError>;

    /// A session of the connector's role held to `grant` by a session policy (the caller
    /// has run the role chain's checks), lasting `length`.
    ///
    /// # Errors
    /// `access_not_supported` for a connector that is not S3's, `assume_role_denied`, or
    /// STS being slow or unreachable.
    async fn assume_scoped(
        &self,
        connector: &Connector,
        role: &RoleGrant,
        grant: access::PrefixGrant<'_>,
        length: std::time::Duration,
    ) -> Result<roles::ScopedSession, ProviderError>;

    /// Credentials held to `grant`: from a scoped session, or made from the stored ones.
    ///
    /// # Errors
    /// `access_not_supported` where the provider or connector cannot hold credentials to
    /// a prefix, or the provider's refusal.
    async fn prefix_credentials(
        &self,
        connector: &Connector,
        credentials: Granted<'_>,
        grant: access::PrefixGrant<'_>,
    ) -> Result<access::VendedCredentials, OpenError>;

    /// The service accounts of the operator's GCS pool, in order; `None` when keyless GCS
    /// connectors are not configured.
    fn gcs_service_accounts(&self) -> Option<&[String]>;

    /// The service's AWS identity federated into Google (a keyless GCS connector's first
    /// step), kept while it lasts.
    ///
    /// # Errors
    /// `federation_denied`, Google's STS being slow or unreachable, or no federation
    /// configured.
    async fn gcs_federate(&self) -> Result<gcs::identity::FederatedToken, ProviderError>;

    /// A token of the service account `email`, made with the federated token (the second
    /// step), kept while it lasts.
    ///
    /// # Errors
    /// `impersonation_denied`, or IAM Credentials being slow or unreachable.
    async fn gcs_impersonate(
        &self,
        federated: &gcs::identity::FederatedToken,
        email: &str,
    ) -> Result<gcs::identity::ServiceAccountToken, ProviderError>;

    /// The operator's Entra app for keyless Azure connectors; `None` when not configured.
    fn azure_client_id(&self) -> Option<&azure::names::Guid>;

    /// Where a tenant's admin consents to that app.
    fn azure_authority_host(&self) -> &str;

    /// A keyless Azure connector's first step: a signed assertion of the service's AWS
    /// identity is at hand (kept while it lasts).
    ///
    /// # Errors
    /// `assertion_denied`, or STS being slow or unreachable.
    async fn azure_assertion(&self) -> Result<(), ProviderError>;

    /// The second step: the app's storage token in `tenant` (kept while it lasts).
    ///
    /// # Errors
    /// `consent_missing`, `token_denied`, or Entra ID being slow or unreachable.
    async fn azure_token(
        &self,
        tenant: &azure::names::AzureTenant,
    ) -> Result<azure::identity::AzureToken, ProviderError>;

    /// The third step: the connector's container is bound to `account`.
    ///
    /// # Errors
    /// `binding_missing`, `binding_mismatch`, `role_missing`, or Azure's failure.
    async fn azure_binding(
        &self,
        connector: &Connector,
        token: &azure::identity::AzureToken,
        account: &str,
    ) -> Result<(), ProviderError>;

    /// # Errors
    /// When the provider has no adapter or the credentials are of another provider.
    fn open(
        &self,
        connector: &Connector,
        credentials: Granted<'_>,
    ) -> Result<Arc<dyn ObjectStore>, OpenError>;
}

/// What a client is built with: stored credentials, or an assumed role's session (one
/// held to an access grant, for what is handed out).
#[derive(Debug, Clone, Copy)]
pub enum Granted<'a> {
    Stored(&'a Credentials),
    Session(&'a roles::RoleSession),
    Scoped(&'a roles::ScopedSession),
    /// A GCS service account's token (a keyless connector's).
    GcsToken(&'a gcs::identity::ServiceAccountToken),
    /// The operator's Entra app's token in a tenant (a keyless Azure connector's).
    AzureToken(&'a azure::identity::AzureToken),
}

/// Where each provider is reached: the real services unless an emulator is named.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    pub s3: s3::S3Settings,
    /// A Cloud Storage JSON API base URL instead of Google's.
    pub gcs_endpoint_url: Option<String>,
    /// Where GCS credentials for a prefix are minted, instead of Google's OAuth and STS.
    pub gcs_tokens: Option<gcs::adapter::TokenEndpoints>,
    /// The operator's workload identity federation for keyless GCS connectors; none
    /// configured, such connectors cannot be made.
    pub gcs_identity: Option<gcs::identity::IdentitySettings>,
    pub azure: azure::AzureSettings,
    /// The ARN customers' IAM roles trust; STS `GetCallerIdentity` says when unset. When
    /// it names a role, the service assumes that role before assuming customers' roles.
    pub service_principal_arn: Option<String>,
    /// The service's own AWS configuration for STS; loaded from the environment (with
    /// `AWS_ENDPOINT_URL_STS`) when unset. One given must come from `aws_config`'s loader,
    /// which sets the time source the SDK's AssumeRole provider requires.
    pub aws: Option<aws_config::SdkConfig>,
}

/// The production factory: real adapters with shared HTTP/TLS machinery.
pub struct Providers {
    s3: s3::S3Factory,
    gcs: gcs::GcsFactory,
    azure: azure::AzureFactory,
    principal: principal::ServicePrincipal,
    roles: roles::RoleSessions,
    gcs_identity: Option<gcs::identity::WorkloadIdentity>,
    /// Built on the first GCS or Azure call, not at start: a cold start that serves only
    /// S3 or the API itself never pays for it.
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl Providers {
    pub fn new(settings: ProviderSettings) -> Self {
        Self {
            s3: s3::S3Factory::new(settings.s3),
            gcs: gcs::GcsFactory::new(settings.gcs_endpoint_url)
                .with_token_endpoints(settings.gcs_tokens.unwrap_or_default()),
            azure: azure::AzureFactory::new(settings.azure),
            roles: roles::RoleSessions::new(
                settings.aws,
                settings
                    .service_principal_arn
                    .as_deref()
                    .and_then(|arn| crate::domain::names::RoleArn::parse(arn).ok()),
            ),
            principal: principal::ServicePrincipal::new(settings.service_principal_arn),
            gcs_identity: settings
                .gcs_identity
                .map(gcs::identity::WorkloadIdentity::new),
            http: std::sync::OnceLock::new(),
        }
    }

    fn gcs_identity(&self) -> Result<&gcs::identity::WorkloadIdentity, ProviderError> {
        self.gcs_identity.as_ref().ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::FederationDenied,
                "keyless GCS connectors are not configured on this service: the operator must set \
                 GCS_WORKLOAD_IDENTITY_AUDIENCE and GCS_SERVICE_ACCOUNTS (the template's \
                 GcsWorkloadIdentityAudience and GcsServiceAccounts)",
            )
        })
    }

    fn http(&self) -> Result<&reqwest::Client, OpenError> {
        self.http
            .get_or_init(http_client)
            .as_ref()
            .map_err(|e| OpenError::NoClient(e.clone()))
    }
}

/// The shared HTTPS client's failure, as a step of an identity chain reports it.
fn unreachable_client(e: OpenError) -> ProviderError {
    match e {
        OpenError::NoClient(why) => ProviderError::new(ProviderErrorKind::ProviderUnavailable, why),
        OpenError::Refused(refused) => refused,
        OpenError::CredentialsMismatch => ProviderError::new(
            ProviderErrorKind::ProviderUnavailable,
            "no HTTPS client for Google and Azure",
        ),
    }
}

/// One pooled HTTPS client for the Google and Azure adapters: rustls, the platform's trust
/// roots (`SSL_CERT_FILE` honoured), bounded connection and request times.
/// A client that cannot be built is an error, never a default one without those bounds.
fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(8))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| format!("the HTTPS client for Google and Azure could not be built: {e}"))
}

#[async_trait]
impl ProviderFactory for Providers {
    async fn vet_endpoint(&self, endpoint: &S3Endpoint) -> Result<(), egress::Refused> {
        self.s3.egress().vet(endpoint).await
    }

    async fn service_principal(&self) -> Result<String, ProviderError> {
        let base = self.roles.base().await;
        self.principal.arn(base).await.map(str::to_owned)
    }

    async fn assume_role(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<roles::RoleSession, ProviderError> {
        self.roles.assume(grant, session_name).await
    }

    async fn check_external_id_enforced(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<(), ProviderError> {
        self.roles
            .check_external_id_enforced(grant, session_name)
            .await
    }

    async fn assume_scoped(
        &self,
        connector: &Connector,
        role: &RoleGrant,
        grant: access::PrefixGrant<'_>,
        length: std::time::Duration,
    ) -> Result<roles::ScopedSession, ProviderError> {
        let Location::S3(l) = &connector.location else {
            return Err(access::not_supported("only S3 connectors assume roles"));
        };
        let request = roles::ScopedRequest {
            session_name: &roles::session_name(Some(&connector.id)),
            policy: s3::access::session_policy(
                l.bucket.as_str(),
                l.region.as_str(),
                grant.prefix,
                grant.rights,
            ),
            length,
        };
        self.roles.assume_scoped(role, request).await
    }

    async fn prefix_credentials(
        &self,
        connector: &Connector,
        credentials: Granted<'_>,
        grant: access::PrefixGrant<'_>,
    ) -> Result<access::VendedCredentials, OpenError> {
        let expires_at = Timestamp::now()
            .plus_seconds(i64::try_from(grant.expires_in.as_secs()).unwrap_or(i64::MAX / 2));
        match (&connector.location, credentials) {
            (Location::S3(l), _) if l.endpoint_url.is_some() => {
                Err(OpenError::Refused(access::not_supported(
                    "an S3-compatible endpoint has no STS to make credentials held to a \
                     prefix; send `paths` for one signed URL per object",
                )))
            }
            (Location::S3(l), Granted::Scoped(scoped)) => {
                Ok(s3::access::vend(scoped, l, expires_at))
            }
            (Location::S3(l), Granted::Stored(Credentials::S3(keys))) => {
                let request = roles::ScopedRequest {
                    session_name: &roles::federation_name(&connector.id),
                    policy: s3::access::session_policy(
                        l.bucket.as_str(),
                        l.region.as_str(),
                        grant.prefix,
                        grant.rights,
                    ),
                    length: grant.expires_in,
                };
                let scoped = self
                    .roles
                    .federate(keys.sdk_credentials(), request)
                    .await
                    .map_err(OpenError::Refused)?;
                Ok(s3::access::vend(&scoped, l, expires_at))
            }
            // An unscoped role session is never handed out.
            (Location::S3(_), _) => Err(OpenError::CredentialsMismatch),
            _ => self
                .open(connector, credentials)?
                .prefix_credentials(grant)
                .await
                .map_err(OpenError::Refused),
        }
    }

    fn gcs_service_accounts(&self) -> Option<&[String]> {
        self.gcs_identity
            .as_ref()
            .map(gcs::identity::WorkloadIdentity::service_accounts)
    }

    async fn gcs_federate(&self) -> Result<gcs::identity::FederatedToken, ProviderError> {
        self.gcs_identity()?.federate().await
    }

    async fn gcs_impersonate(
        &self,
        federated: &gcs::identity::FederatedToken,
        email: &str,
    ) -> Result<gcs::identity::ServiceAccountToken, ProviderError> {
        let http = self.http().map_err(unreachable_client)?;
        self.gcs_identity()?
            .impersonate(http, federated, email)
            .await
    }

    fn azure_client_id(&self) -> Option<&azure::names::Guid> {
        self.azure
            .identity()
            .map(azure::identity::WorkloadIdentity::client_id)
    }

    fn azure_authority_host(&self) -> &str {
        self.azure.authority_host()
    }

    async fn azure_assertion(&self) -> Result<(), ProviderError> {
        let base = self.roles.base().await;
        self.azure.assertion(base).await
    }

    async fn azure_token(
        &self,
        tenant: &azure::names::AzureTenant,
    ) -> Result<azure::identity::AzureToken, ProviderError> {
        let http = self.http().map_err(unreachable_client)?;
        let base = self.roles.base().await;
        self.azure.token(base, tenant, http).await
    }

    async fn azure_binding(
        &self,
        connector: &Connector,
        token: &azure::identity::AzureToken,
        account: &str,
    ) -> Result<(), ProviderError> {
        let Location::Azure(l) = &connector.location else {
            return Err(access::not_supported("only Azure containers are bound"));
        };
        let http = self.http().map_err(unreachable_client)?;
        let client_id = self
            .azure_client_id()
            .map(ToString::to_string)
            .unwrap_or_default();
        self.azure
            .open_with_token(&l.storage_account, &l.container, token, http)
            .check_binding(account, &client_id)
            .await
    }

    fn open(
        &self,
        connector: &Connector,
        credentials: Granted<'_>,
    ) -> Result<Arc<dyn ObjectStore>, OpenError> {
        let s3_keys = match credentials {
            Granted::Stored(Credentials::S3(keys)) => Some(s3::S3Keys::Stored(keys)),
            Granted::Session(session) => Some(s3::S3Keys::Session(session)),
            Granted::Scoped(scoped) => Some(s3::S3Keys::Session(scoped.session())),
            Granted::Stored(_) | Granted::GcsToken(_) | Granted::AzureToken(_) => None,
        };
        match (&connector.location, credentials, s3_keys) {
            (Location::S3(l), _, Some(keys)) => {
                let target = s3::S3Target {
                    bucket: &l.bucket,
                    region: &l.region,
                    endpoint_url: l.endpoint_url.as_ref(),
                    force_path_style: l.force_path_style,
                };
                match self.s3.open(&target, keys) {
                    Ok(store) => Ok(Arc::new(store)),
                    Err(refused) => Err(OpenError::Refused(ProviderError::new(
                        ProviderErrorKind::EndpointNotAllowed,
                        format!("endpoint_url {refused}"),
                    ))),
                }
            }
            (Location::Gcs(l), Granted::Stored(Credentials::Gcs(key)), _) => {
                Ok(Arc::new(self.gcs.open(&l.bucket, key, self.http()?)))
            }
            (Location::Gcs(l), Granted::GcsToken(token), _) => Ok(Arc::new(
                self.gcs.open_with_token(&l.bucket, token, self.http()?),
            )),
            (Location::Azure(l), Granted::Stored(Credentials::Azure(creds)), _) => Ok(Arc::new(
                self.azure
                    .open(&l.storage_account, &l.container, creds, self.http()?),
            )),
            (Location::Azure(l), Granted::AzureToken(token), _) => Ok(Arc::new(
                self.azure
                    .open_with_token(&l.storage_account, &l.container, token, self.http()?),
            )),
            _ => Err(OpenError::CredentialsMismatch),
        }
    }
}
