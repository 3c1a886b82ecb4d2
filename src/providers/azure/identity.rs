//! Azure without a stored secret: the service's own AWS identity made into a signed
//! assertion (STS `GetWebIdentityToken`, IAM outbound identity federation), which the
//! operator's multi-tenant Entra app trusts through a federated identity credential, traded
//! in the customer's tenant for a storage token (`azure_identity`'s
//! `ClientAssertionCredential`). The assertion and each tenant's token are kept per
//! process until shortly before they expire; nothing is built before the first keyless call.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions, StatusCode};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell};

use super::names::{AzureTenant, Guid};
use crate::providers::{ProviderError, ProviderErrorKind};

/// The audience Entra ID's federated identity credentials expect in Azure's public cloud.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The scope of a storage token.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The container metadata entry that binds a container to one VideoVector account: its
/// value must be the account's own identifier (see docs/security.md).
pub const BINDING_METADATA: &str = "videovector_account";

/// How long an assertion is asked to last: STS's default, and what the template allows.
const ASSERTION_SECONDS: i32 = 300;

/// An assertion or a token is used only while it has at least this long left.
const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The most tenants' credentials one process keeps.
const MAX_TENANTS: u64 = 10_000;

/// The most one `GetWebIdentityToken` call may take, retries included: the assertion is
/// made with a lock held, so that concurrent first uses make one.
const STS_TIMEOUT: Duration = Duration::from_secs(5);

/// The operator's Entra app that every keyless Azure connector goes through.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// The multi-tenant app's client (application) id.
    pub client_id: Guid,
    /// The assertion's audience: the app's federated identity credential names it.
    pub audience: String,
}

/// A keyless connector's way in: the customer's tenant, where the operator's app was
/// consented to and given a role. The record keeps only the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AzureIdentity {
    pub tenant_id: AzureTenant,
}

impl AzureIdentity {
    /// What the connector shows of it: the tenant (no secret is involved).
    pub fn hint(&self) -> String {
        format!("workload identity in tenant {}", self.tenant_id)
    }
}

/// A storage token of the operator's app in one tenant, as the test checked it.
#[derive(Clone)]
pub struct AzureToken(AccessToken);

impl std::fmt::Debug for AzureToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureToken")
            .field("token", &"[redacted]")
            .field("expires_on", &self.0.expires_on)
            .finish()
    }
}

impl AzureToken {
    /// A credential that answers exactly this token.
    pub(crate) fn credential(&self) -> Arc<dyn TokenCredential> {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl TokenCredential for AzureToken {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(self.0.clone())
    }
}

/// An assertion and when it stops being used. No `Debug` of its value.
#[derive(Clone)]
struct Assertion {
    jwt: SecretString,
    use_until: SystemTime,
}

/// The service's AWS identity as signed assertions, kept while one lasts.
#[derive(Clone)]
struct AssertionSource(Arc<Source>);

struct Source {
    sts: aws_sdk_sts::Client,
    audience: String,
    kept: Mutex<Option<Assertion>>,
}

impl std::fmt::Debug for AssertionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSource")
            .field("audience", &self.0.audience)
            .finish_non_exhaustive()
    }
}

impl AssertionSource {
    /// An assertion with at least [`REFRESH_BEFORE`] left: the kept one, or a new one.
    async fn get(&self) -> Result<Assertion, ProviderError> {
        let mut kept = self.0.kept.lock().await;
        if let Some(a) = kept.as_ref().filter(|a| a.use_until > SystemTime::now()) {
            return Ok(a.clone());
        }
        let call = self
            .0
            .sts
            .get_web_identity_token()
            .audience(&self.0.audience)
            .signing_algorithm("RS256")
            .duration_seconds(ASSERTION_SECONDS)
            .send();
        let answer = tokio::time::timeout(STS_TIMEOUT, call)
            .await
            .map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::Timeout,
                    "STS did not answer GetWebIdentityToken in time; try again",
                )
            })?
            .map_err(|e| assertion_error(&e, &self.0.audience))?;
        let jwt = answer.web_identity_token().filter(|t| !t.is_empty());
        let Some(jwt) = jwt else {
            return Err(ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "STS answered GetWebIdentityToken without a token; try again later",
            ));
        };
        let expires = answer
            .expiration()
            .and_then(|e| SystemTime::try_from(*e).ok())
            .unwrap_or_else(|| {
                SystemTime::now() + Duration::from_secs(ASSERTION_SECONDS.unsigned_abs().into())
            });
        let assertion = Assertion {
            jwt: SecretString::from(jwt.to_owned()),
            use_until: expires.checked_sub(REFRESH_BEFORE).unwrap_or(expires),
        };
        *kept = Some(assertion.clone());
        Ok(assertion)
    }
}

#[async_trait]
impl ClientAssertion for AssertionSource {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.get()
            .await
            .map(|a| a.jwt.expose_secret().to_owned())
            // The refusal itself travels inside, for `token_error` to answer as it is.
            .map_err(|e| azure_core::Error::new(ErrorKind::Credential, e))
    }
}

/// STS's refusal of an assertion, worded for the operator who can fix it.
fn assertion_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
    audience: &str,
) -> ProviderError {
    use ProviderErrorKind as K;
    match e {
        SdkError::TimeoutError(_) => {
            ProviderError::new(K::Timeout, "STS did not answer in time; try again")
        }
        SdkError::DispatchFailure(f) if f.is_timeout() => {
            ProviderError::new(K::Timeout, "STS did not answer in time; try again")
        }
        SdkError::ServiceError(_) => match e.code() {
            Some("OutboundWebIdentityFederationDisabledException") => ProviderError::new(
                K::AssertionDenied,
                "the service's AWS account has not enabled outbound identity federation: its \
                 operator runs `aws iam enable-outbound-web-identity-federation` once \
                 (docs/api.md)",
            ),
            Some("AccessDenied" | "AccessDeniedException") => ProviderError::new(
                K::AssertionDenied,
                format!(
                    "the service's AWS identity may not call sts:GetWebIdentityToken for \
                     audience {audience}: its operator grants it (template.yaml does)"
                ),
            ),
            code => {
                tracing::warn!(
                    code = code.unwrap_or("none"),
                    "STS refused a GetWebIdentityToken"
                );
                ProviderError::new(
                    K::ProviderUnavailable,
                    format!(
                        "STS answered {} to GetWebIdentityToken; try again later",
                        code.unwrap_or("an error")
                    ),
                )
            }
        },
        _ => {
            tracing::warn!(error = %aws_sdk_sts::error::DisplayErrorContext(e), "GetWebIdentityToken failed");
            ProviderError::new(
                K::ProviderUnavailable,
                "STS could not be reached; try again later",
            )
        }
    }
}

/// The assertions and every tenant's credential of one process.
pub struct WorkloadIdentity {
    settings: IdentitySettings,
    source: OnceCell<AssertionSource>,
    credentials: moka::sync::Cache<String, Arc<ClientAssertionCredential<AssertionSource>>>,
}

impl WorkloadIdentity {
    pub fn new(settings: IdentitySettings) -> Self {
        Self {
            settings,
            source: OnceCell::new(),
            credentials: moka::sync::Cache::new(MAX_TENANTS),
        }
    }

    /// The operator's app.
    pub fn client_id(&self) -> &Guid {
        &self.settings.client_id
    }

    async fn source(&self, base: &SdkConfig) -> &AssertionSource {
        self.source
            .get_or_init(|| async {
                AssertionSource(Arc::new(Source {
                    sts: aws_sdk_sts::Client::new(base),
                    audience: self.settings.audience.clone(),
                    kept: Mutex::new(None),
                }))
            })
            .await
    }

    /// The `assertion` step: a signed assertion of the service's AWS identity is at hand.
    ///
    /// # Errors
    /// `assertion_denied`, or STS being slow or unreachable.
    pub async fn assertion(&self, base: &SdkConfig) -> Result<(), ProviderError> {
        self.source(base).await.get().await.map(|_| ())
    }

    /// The `token` step: a storage token of the app in `tenant`, kept by the tenant's
    /// credential until shortly before it expires.
    ///
    /// # Errors
    /// `consent_missing`, `token_denied`, or Entra ID being slow or unreachable.
    pub async fn token(
        &self,
        base: &SdkConfig,
        tenant: &AzureTenant,
        options: ClientOptions,
    ) -> Result<AzureToken, ProviderError> {
        let source = self.source(base).await.clone();
        let client_id = self.settings.client_id.to_string();
        let credential = self
            .credentials
            .try_get_with(tenant.to_string(), || {
                ClientAssertionCredential::new(
                    tenant.to_string(),
                    client_id.clone(),
                    source,
                    Some(ClientAssertionCredentialOptions {
                        client_options: options,
                    }),
                )
            })
            .map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::InvalidCredentials,
                    format!("no Entra ID credential can be made for tenant {tenant}"),
                )
            })?;
        credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map(AzureToken)
            .map_err(|e| token_error(&e, tenant, &self.settings.client_id))
    }
}

/// The AADSTS codes of an Entra ID refusal, wherever the credential wrapped it.
fn entra_codes(err: &azure_core::Error) -> (Option<StatusCode>, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(ErrorKind::HttpResponse {
            status, error_code, ..
        }) = e
            .downcast_ref::<azure_core::Error>()
            .map(azure_core::Error::kind)
        {
            return (Some(*status), error_code.clone().unwrap_or_default());
        }
        source = e.source();
    }
    (None, String::new())
}

/// The URL where a tenant's admin consents to the operator's app.
pub fn consent_url(authority: &str, tenant: &AzureTenant, client_id: &Guid) -> String {
    format!(
        "{}/{tenant}/adminconsent?client_id={client_id}",
        authority.trim_end_matches('/')
    )
}

/// The assertion step's own refusal, when the credential met it refreshing its token.
fn assertion_refusal(err: &azure_core::Error) -> Option<ProviderError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<ProviderError>() {
            return Some(refused.clone());
        }
        source = e.source();
    }
    None
}

/// Entra ID's refusal of the app in a tenant, worded for whoever can fix it; anything
/// that is not an answer from Entra ID (a connection refused, a timeout) is retryable.
fn token_error(err: &azure_core::Error, tenant: &AzureTenant, client_id: &Guid) -> ProviderError {
    use ProviderErrorKind as K;
    if let Some(refused) = assertion_refusal(err) {
        return refused;
    }
    let (status, codes) = entra_codes(err);
    let has = |code: &str| codes.split(',').any(|c| c == code);
    // The app has no service principal in the tenant (700016, 7000229) or lacks consent
    // for what it asks (65001): the tenant's admin consent is the fix for each.
    if has("700016") || has("7000229") || has("65001") {
        return ProviderError::new(
            K::ConsentMissing,
            format!(
                "tenant {tenant} has not consented to the VideoVector app {client_id}: an \
                 administrator of the tenant opens the admin-consent URL of \
                 GET /api/v2/connectors/azure/identity-setup; consent can take from minutes \
                 to an hour to reach Entra ID; test again then"
            ),
        );
    }
    if has("90002") || has("90072") {
        return ProviderError::new(
            K::InvalidCredentials,
            format!("Entra ID knows no tenant {tenant}: check tenant_id"),
        );
    }
    match status {
        Some(s) if s.is_server_error() || s == StatusCode::TooManyRequests => ProviderError::new(
            K::ProviderUnavailable,
            "Entra ID could not issue a token; try again later",
        ),
        Some(_) => ProviderError::new(
            K::TokenDenied,
            format!(
                "Entra ID refused the service's assertion in tenant {tenant} (AADSTS{}): the \
                 operator's app must hold a federated identity credential that trusts the \
                 service's AWS identity (docs/api.md)",
                if codes.is_empty() { "?" } else { &codes }
            ),
        ),
        None if super::adapter::timed_out(err) => {
            ProviderError::new(K::Timeout, "Entra ID did not answer in time; try again")
        }
        None => ProviderError::new(
            K::ProviderUnavailable,
            "Entra ID could not be reached; try again later",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_url_names_the_tenant_and_the_app() {
        let tenant = AzureTenant::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").expect("tenant");
        let app = Guid::parse("0c8a4e7e-2b1d-4b8e-9d2e-5f6a7b8c9d0e").expect("guid");
        assert_eq!(
            consent_url("https://login.microsoftonline.com/", &tenant, &app),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/adminconsent?client_id=0c8a4e7e-2b1d-4b8e-9d2e-5f6a7b8c9d0e"
        );
    }

    /// Entra ID's refusal as the credential wraps it.
    fn refused(status: StatusCode, codes: &str) -> azure_core::Error {
        let inner = azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: Some(codes.to_owned()),
                raw_response: None,
            },
            "AADSTS: refused",
        );
        azure_core::Error::with_error(ErrorKind::Credential, inner, "authentication failed")
    }

    fn tenant() -> AzureTenant {
        AzureTenant::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").expect("tenant")
    }

    fn app() -> Guid {
        Guid::parse("0c8a4e7e-2b1d-4b8e-9d2e-5f6a7b8c9d0e").expect("guid")
    }

    #[test]
    fn an_app_unknown_in_the_tenant_is_consent_missing_naming_the_tenant_and_the_app() {
        for code in ["700016", "7000229", "65001"] {
            let e = token_error(&refused(StatusCode::BadRequest, code), &tenant(), &app());
            assert_eq!(e.kind, ProviderErrorKind::ConsentMissing, "{code}");
            assert!(e.message.contains(tenant().as_str()) && e.message.contains(app().as_str()));
            assert!(e.message.contains("minutes to an hour"), "{}", e.message);
        }
    }

    #[test]
    fn an_assertion_the_federated_credential_does_not_match_is_token_denied_with_its_code() {
        let e = token_error(
            &refused(StatusCode::BadRequest, "700213"),
            &tenant(),
            &app(),
        );
        assert_eq!(e.kind, ProviderErrorKind::TokenDenied);
        assert!(e.message.contains("AADSTS700213"), "{}", e.message);
        let e = token_error(&refused(StatusCode::BadRequest, "90002"), &tenant(), &app());
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        let e = token_error(
            &refused(StatusCode::ServiceUnavailable, "50001"),
            &tenant(),
            &app(),
        );
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
    }

    #[test]
    fn an_unreachable_entra_id_is_retryable_and_an_assertion_refusal_keeps_its_code() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let unreachable = azure_core::Error::with_error(
            ErrorKind::Credential,
            azure_core::Error::new(ErrorKind::Io, io),
            "authentication failed",
        );
        let e = token_error(&unreachable, &tenant(), &app());
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
        assert!(e.kind.is_retryable());
        let sts_down = ProviderError::new(ProviderErrorKind::Timeout, "STS did not answer");
        let wrapped = azure_core::Error::with_error(
            ErrorKind::Credential,
            azure_core::Error::new(ErrorKind::Credential, sts_down),
            "authentication failed",
        );
        assert_eq!(
            token_error(&wrapped, &tenant(), &app()).kind,
            ProviderErrorKind::Timeout
        );
        let throttled = token_error(&refused(StatusCode::TooManyRequests, ""), &tenant(), &app());
        assert_eq!(throttled.kind, ProviderErrorKind::ProviderUnavailable);
    }

    #[test]
    fn a_token_is_never_printed() {
        let token = AzureToken(AccessToken::new(
            "eyJ-secret-token",
            azure_core::time::OffsetDateTime::now_utc(),
        ));
        assert!(!format!("{token:?}").contains("secret"));
    }
}
