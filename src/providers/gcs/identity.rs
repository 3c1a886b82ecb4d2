//! GCS without a stored key: the service's own AWS identity federated into Google
//! (Workload Identity Federation: `google-cloud-auth`'s external account with an `aws1`
//! source signs STS `GetCallerIdentity` and trades it at Google's STS), then the account's
//! service account impersonated through IAM Credentials' `generateAccessToken`. The
//! federated token and each service account's token are kept per process until shortly
//! before they expire; nothing is built before the first keyless call. A keyless
//! connector's URLs are signed by IAM Credentials' `signBlob` as its service account.

use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::{Duration, SystemTime};

use google_cloud_auth::credentials::AccessTokenCredentials;
use google_cloud_auth::credentials::external_account::Builder;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::adapter::{DEFAULT_STS_TOKEN_URL, transport_error};
use crate::providers::{ProviderError, ProviderErrorKind};

/// Google's IAM Credentials API, where a service account's tokens are made.
pub const DEFAULT_IAM_CREDENTIALS_URL: &str = "https://iamcredentials.googleapis.com";

/// The scope a federated token needs to call IAM Credentials.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The scope of a service account's token: objects read, written and deleted.
const STORAGE_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

/// How long a service account's token is asked to last (IAM Credentials' default, and
/// its most without an organisation policy).
const TOKEN_LIFETIME: &str = "3600s";

/// A token is used only while it has at least this long left, so no request carries one
/// that expires on the way.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The most service accounts' tokens one process keeps.
const MAX_TOKENS: u64 = 10_000;

/// The most one IAM Credentials call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a request waits for the federated token (the crate's exchange with Google's
/// STS, its retries included, has no bound of its own). An exchange still under way when
/// it passes goes on, and the next request waits for the same one.
const FEDERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials at least this old whose token a request still waits for past
/// [`FEDERATION_TIMEOUT`] are dropped: their exchange (the crate's, which no timeout ends)
/// is taken as hung, and the next request starts another.
const FEDERATION_HUNG_AFTER: Duration = Duration::from_secs(30);

/// The operator's Workload Identity Federation: the pool provider that trusts the
/// service's AWS role, the service accounts handed to accounts, and where Google's STS and
/// IAM Credentials are (tests name stand-ins).
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
    pub audience: String,
    /// The service accounts, each given to one account for good, in order.
    pub service_accounts: Vec<String>,
    pub sts_url: String,
    pub iam_url: String,
}

impl IdentitySettings {
    /// Google's own endpoints.
    pub fn new(audience: String, service_accounts: Vec<String>) -> Self {
        Self {
            audience,
            service_accounts,
            sts_url: DEFAULT_STS_TOKEN_URL.to_owned(),
            iam_url: DEFAULT_IAM_CREDENTIALS_URL.to_owned(),
        }
    }
}

/// A federated token: the service's AWS identity as Google's STS sees it, and the
/// credentials that made it. No `Debug`.
pub struct FederatedToken {
    token: SecretString,
    made_by: Made,
}

/// The federation's credentials of one process, built on the first keyless call. The
/// crate keeps their token until shortly before it expires. They are dropped when Google
/// refuses (the crate would answer that refusal for good) or IAM Credentials no longer
/// accepts their token, so the next call federates anew: an operator's fix is seen
/// without a new process.
#[derive(Clone, Default)]
struct Federation(Arc<Mutex<Option<Arc<Built>>>>);

/// The credentials a federated token came from, and the slot that holds them.
#[derive(Clone)]
struct Made {
    slot: Federation,
    credentials: Arc<Built>,
}

/// Credentials and when they were built.
struct Built {
    credentials: AccessTokenCredentials,
    at: std::time::Instant,
}

impl Made {
    /// Drops these credentials so that the next call federates anew (unless another call
    /// has already replaced them).
    fn forget(&self) {
        let mut slot = self.slot.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|kept| Arc::ptr_eq(kept, &self.credentials))
        {
            *slot = None;
        }
    }

    /// Forgets the credentials when IAM Credentials answered `status` 401: it no longer
    /// accepts their token.
    fn forget_if_unaccepted(&self, status: Option<StatusCode>) {
        if status == Some(StatusCode::UNAUTHORIZED) {
            self.forget();
        }
    }
}

/// A service account's access token and when it stops being used.
#[derive(Clone)]
pub struct ServiceAccountToken {
    pub(crate) token: SecretString,
    pub(crate) expires_at: SystemTime,
    /// What signs as the service account, with the federated token it was made with
    /// (never kept beyond the call that federated).
    pub(crate) signer: Option<BlobSigner>,
}

impl std::fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("signer", &self.signer)
            .finish()
    }
}

/// Signs as a service account without its key: IAM Credentials' `signBlob`, called with
/// the federated token (the pool's principal needs `iam.serviceAccounts.signBlob` on the
/// service account). The signature is made with a key Google holds for it, so a V4 URL it
/// completes names the service account as its credential.
#[derive(Clone)]
pub struct BlobSigner {
    iam_url: String,
    email: String,
    federated: SecretString,
    made_by: Made,
}

impl std::fmt::Debug for BlobSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSigner")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `signBlob`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedBlob {
    signed_blob: String,
}

impl BlobSigner {
    /// The service account the signatures are made as.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// `payload`'s RSASSA-PKCS1-v1_5 SHA-256 signature by the service account.
    ///
    /// # Errors
    /// `impersonation_denied` when IAM Credentials refuses (naming the grant it needs); a
    /// timeout or unavailability.
    pub async fn sign(
        &self,
        http: &reqwest::Client,
        payload: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        let signed: SignedBlob = iam_call(
            http,
            &self.iam_url,
            &self.federated,
            IamCall::SignBlob,
            &self.email,
            &serde_json::json!({ "payload": STANDARD.encode(payload) }),
        )
        .await
        .map_err(|(status, e)| {
            self.made_by.forget_if_unaccepted(status);
            e
        })?;
        STANDARD
            .decode(signed.signed_blob)
            .ok()
            .filter(|signature| !signature.is_empty())
            .ok_or_else(unreadable)
    }
}

impl ServiceAccountToken {
    /// Seconds it has left, as a vended credential reports it.
    pub(crate) fn seconds_left(&self) -> i64 {
        self.expires_at
            .duration_since(SystemTime::now())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The federation and the service accounts' tokens of one process.
pub struct WorkloadIdentity {
    settings: IdentitySettings,
    federation: Federation,
    tokens: moka::sync::Cache<String, ServiceAccountToken>,
    /// One `generateAccessToken` at a time per service account, so that requests arriving
    /// together on a cold instance share the first one's token; a request waits for
    /// another's call at most [`REQUEST_TIMEOUT`], then makes its own.
    making: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

/// `generateAccessToken`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    access_token: SecretString,
    expire_time: String,
}

impl WorkloadIdentity {
    pub fn new(settings: IdentitySettings) -> Self {
        Self {
            settings,
            federation: Federation::default(),
            tokens: moka::sync::Cache::new(MAX_TOKENS),
            making: moka::sync::Cache::new(MAX_TOKENS),
        }
    }

    /// The service accounts of the pool, in order.
    pub fn service_accounts(&self) -> &[String] {
        &self.settings.service_accounts
    }

    /// The federation's credentials, built on first use.
    fn federation(&self) -> Result<Made, ProviderError> {
        let mut slot = self
            .federation
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(built) = slot.as_ref() {
            return Ok(Made {
                slot: self.federation.clone(),
                credentials: Arc::clone(built),
            });
        }
        let config = serde_json::json!({
            "type": "external_account",
            "audience": self.settings.audience,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": self.settings.sts_url,
            "credential_source": {
                "environment_id": "aws1",
                "regional_cred_verification_url":
                    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            },
        });
        let built = Builder::new(config)
            .with_scopes([CLOUD_PLATFORM])
            .build_access_token_credentials()
            .map_err(|why| {
                tracing::error!(error = %why, "the GCS workload identity federation is misconfigured");
                ProviderError::new(
                    ProviderErrorKind::FederationDenied,
                    "the service's workload identity federation with Google is misconfigured; \
                     the operator must fix GCS_WORKLOAD_IDENTITY_AUDIENCE",
                )
            })?;
        let built = Arc::new(Built {
            credentials: built,
            at: std::time::Instant::now(),
        });
        *slot = Some(Arc::clone(&built));
        Ok(Made {
            slot: self.federation.clone(),
            credentials: built,
        })
    }

    /// The service's AWS identity traded at Google's STS (the `federation` step).
    ///
    /// # Errors
    /// `federation_denied` when Google's STS refuses the service's signed AWS identity;
    /// `provider_unavailable` when it cannot be reached; `timeout` when it does not answer
    /// within [`FEDERATION_TIMEOUT`].
    pub async fn federate(&self) -> Result<FederatedToken, ProviderError> {
        let federation = self.federation()?;
        let answer = tokio::time::timeout(
            FEDERATION_TIMEOUT,
            federation.credentials.credentials.access_token(),
        )
        .await;
        match answer {
            Ok(Ok(token)) => Ok(FederatedToken {
                token: SecretString::from(token.token),
                made_by: federation,
            }),
            Err(_) => {
                // A young exchange may be slow but working: the next request waits for it.
                if federation.credentials.at.elapsed() >= FEDERATION_HUNG_AFTER {
                    federation.forget();
                }
                Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    "Google's Security Token Service did not answer in time to federate the \
                     service's AWS identity; try again",
                ))
            }
            Ok(Err(e)) if e.is_transient() => Err(ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "Google's Security Token Service could not be reached to federate the \
                 service's AWS identity; try again later",
            )),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Google's STS refused the service's AWS identity");
                federation.forget();
                Err(ProviderError::new(
                    ProviderErrorKind::FederationDenied,
                    format!(
                        "Google's Security Token Service refused the service's AWS identity for \
                         the workload identity pool provider {}: the operator's pool must trust \
                         the service's AWS account and role",
                        self.settings.audience
                    ),
                ))
            }
        }
    }

    /// A token of `email`, made with the federated token (the `impersonation` step), or
    /// the one kept from an earlier call while it has a few minutes left.
    ///
    /// # Errors
    /// `impersonation_denied` when IAM Credentials refuses; a timeout or unavailability.
    pub async fn impersonate(
        &self,
        http: &reqwest::Client,
        federated: &FederatedToken,
        email: &str,
    ) -> Result<ServiceAccountToken, ProviderError> {
        let now = SystemTime::now();
        let signer = Some(BlobSigner {
            iam_url: self.settings.iam_url.clone(),
            email: email.to_owned(),
            federated: federated.token.clone(),
            made_by: federated.made_by.clone(),
        });
        let usable = |now: SystemTime| {
            self.tokens
                .get(email)
                .filter(|kept| kept.expires_at > now + REFRESH_BEFORE)
        };
        if let Some(kept) = usable(now) {
            return Ok(ServiceAccountToken { signer, ..kept });
        }
        let making = self
            .making
            .get_with_by_ref(email, || Arc::new(tokio::sync::Mutex::new(())));
        let _one_at_a_time = tokio::time::timeout(REQUEST_TIMEOUT, making.lock())
            .await
            .ok();
        if let Some(kept) = usable(SystemTime::now()) {
            return Ok(ServiceAccountToken { signer, ..kept });
        }
        let generated: Result<Generated, _> = iam_call(
            http,
            &self.settings.iam_url,
            &federated.token,
            IamCall::GenerateAccessToken,
            email,
            &serde_json::json!({ "scope": [STORAGE_SCOPE], "lifetime": TOKEN_LIFETIME }),
        )
        .await;
        let generated = match generated {
            Ok(generated) => generated,
            Err((status, e)) => {
                // A federated token IAM Credentials no longer accepts is not used again.
                federated.made_by.forget_if_unaccepted(status);
                return Err(e);
            }
        };
        // An expiry that does not parse leaves the token unkept: it serves this call only.
        let expires_at = crate::domain::timestamp::Timestamp::parse(&generated.expire_time)
            .ok()
            .and_then(|t| u64::try_from(t.unix()).ok())
            .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let token = ServiceAccountToken {
            token: generated.access_token,
            expires_at: expires_at.unwrap_or(now),
            signer: None,
        };
        if expires_at.is_some() {
            self.tokens.insert(email.to_owned(), token.clone());
        }
        Ok(ServiceAccountToken { signer, ..token })
    }
}

/// What the service asked IAM Credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IamCall {
    GenerateAccessToken,
    SignBlob,
}

impl IamCall {
    /// The method's name in its URL.
    fn method(self) -> &'static str {
        match self {
            Self::GenerateAccessToken => "generateAccessToken",
            Self::SignBlob => "signBlob",
        }
    }
}

/// One IAM Credentials call on `email`, authorised by the federated token, and its answer
/// read as `T`; a refusal comes with the status IAM Credentials answered.
async fn iam_call<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    iam_url: &str,
    federated: &SecretString,
    call: IamCall,
    email: &str,
    body: &serde_json::Value,
) -> Result<T, (Option<StatusCode>, ProviderError)> {
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{email}:{}",
        iam_url.trim_end_matches('/'),
        call.method()
    );
    let response = http
        .post(url)
        .bearer_auth(federated.expose_secret())
        .json(body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| (None, transport_error(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err((Some(status), iam_refusal(call, status, email)));
    }
    response.json().await.map_err(|_| (None, unreadable()))
}

/// An IAM Credentials answer that does not read as it should.
fn unreadable() -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::ProviderUnavailable,
        "IAM Credentials sent an answer this service could not read; try again later",
    )
}

/// IAM Credentials' refusal as a stable code and what to fix.
fn iam_refusal(call: IamCall, status: StatusCode, email: &str) -> ProviderError {
    use ProviderErrorKind as K;
    let (what, role) = match call {
        IamCall::GenerateAccessToken => ("act as", "roles/iam.workloadIdentityUser"),
        IamCall::SignBlob => (
            "sign URLs as",
            "roles/iam.serviceAccountTokenCreator (iam.serviceAccounts.signBlob)",
        ),
    };
    match status {
        // The federated token itself was not accepted (it can lapse between two calls of
        // one request): federating again is the fix, not a grant.
        StatusCode::UNAUTHORIZED => ProviderError::new(
            K::ProviderUnavailable,
            "IAM Credentials did not accept the service's federated token (it may just have \
             expired); try again",
        ),
        StatusCode::FORBIDDEN => ProviderError::new(
            K::ImpersonationDenied,
            format!(
                "the service may not {what} service account {email}: the operator must grant \
                 the workload identity pool's principal {role} on it (IAM changes can take \
                 minutes to propagate; try again)"
            ),
        ),
        StatusCode::NOT_FOUND => ProviderError::new(
            K::ImpersonationDenied,
            format!("service account {email} does not exist: the operator's pool names it"),
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ProviderError::new(
            K::Timeout,
            "IAM Credentials did not answer in time; try again",
        ),
        other => ProviderError::new(
            K::ProviderUnavailable,
            format!(
                "IAM Credentials answered {}; try again later",
                other.as_u16()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unaccepted_federated_token_is_retryable_and_blames_no_grant() {
        let email = "sa-1@pool.iam.gserviceaccount.com";
        for call in [IamCall::GenerateAccessToken, IamCall::SignBlob] {
            let e = iam_refusal(call, StatusCode::UNAUTHORIZED, email);
            assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
            assert!(e.kind.is_retryable());
            assert!(!e.message.contains("roles/"), "{}", e.message);
        }
    }

    #[test]
    fn a_refused_impersonation_names_the_service_account_and_the_grant_it_needs() {
        let email = "sa-1@pool.iam.gserviceaccount.com";
        let e = iam_refusal(IamCall::GenerateAccessToken, StatusCode::FORBIDDEN, email);
        assert_eq!(e.kind, ProviderErrorKind::ImpersonationDenied);
        assert!(e.message.contains(email));
        assert!(e.message.contains("roles/iam.workloadIdentityUser"));
        assert_eq!(
            iam_refusal(IamCall::SignBlob, StatusCode::SERVICE_UNAVAILABLE, "x@y").kind,
            ProviderErrorKind::ProviderUnavailable
        );
    }

    #[test]
    fn a_service_account_that_does_not_exist_is_refused_naming_it_and_the_pool() {
        let email = "vv-0999@pool.iam.gserviceaccount.com";
        let e = iam_refusal(IamCall::GenerateAccessToken, StatusCode::NOT_FOUND, email);
        assert_eq!(e.kind, ProviderErrorKind::ImpersonationDenied);
        assert!(
            e.message.contains(email) && e.message.contains("pool"),
            "{}",
            e.message
        );
        let e = iam_refusal(IamCall::SignBlob, StatusCode::GATEWAY_TIMEOUT, email);
        assert_eq!(e.kind, ProviderErrorKind::Timeout);
    }

    #[test]
    fn a_refused_signature_names_the_service_account_and_the_sign_blob_grant() {
        let email = "sa-1@pool.iam.gserviceaccount.com";
        let e = iam_refusal(IamCall::SignBlob, StatusCode::FORBIDDEN, email);
        assert_eq!(e.kind, ProviderErrorKind::ImpersonationDenied);
        assert!(e.message.contains(email), "{}", e.message);
        assert!(
            e.message.contains("roles/iam.serviceAccountTokenCreator"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("workloadIdentityUser"), "{}", e.message);
    }
}
