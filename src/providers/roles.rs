//! IAM role connectors: credentials from STS `AssumeRole` through the SDK's own provider,
//! with the connector's external ID and a session named after it, chained through the
//! service's own role, and kept per process until shortly before they expire; and the
//! check that a role refuses whoever comes without the external ID.

use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use tokio::sync::OnceCell;

use super::{ProviderError, ProviderErrorKind};
use crate::domain::connector::RoleGrant;
use crate::domain::names::RoleArn;

/// How long a session lasts: STS's shortest.
pub const SESSION_LENGTH: Duration = Duration::from_secs(15 * 60);
/// A session is not used in its last minutes: one taken from the cache lasts through any
/// test or browse that starts with it.
const REFRESH_BEFORE: Duration = Duration::from_secs(3 * 60);
/// The session name of the service's own role.
const SERVICE_SESSION: &str = "videovector-connectors";
/// The most role sessions one instance keeps.
const MAX_SESSIONS: u64 = 10_000;

/// Temporary credentials of an assumed role. `Debug` shows none of them.
#[derive(Clone)]
pub struct RoleSession(aws_credential_types::Credentials);

impl RoleSession {
    pub(super) fn credentials(&self) -> &aws_credential_types::Credentials {
        &self.0
    }

    /// Whether the session may still be handed out at `now`.
    fn fresh_at(&self, now: SystemTime) -> bool {
        self.0
            .expiry()
            .is_some_and(|expiry| expiry > now + REFRESH_BEFORE)
    }
}

impl std::fmt::Debug for RoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSession")
            .field("expiry", &self.0.expiry())
            .finish_non_exhaustive()
    }
}

/// A session held by a session policy to one access grant (one prefix, its actions): the
/// only kind of AWS credentials the service hands out. Made only here.
#[derive(Clone, Debug)]
pub struct ScopedSession(RoleSession);

impl ScopedSession {
    pub(super) fn session(&self) -> &RoleSession {
        &self.0
    }

    pub(super) fn credentials(&self) -> &aws_credential_types::Credentials {
        &self.0.0
    }
}

/// What a scoped session is asked for: its name, policy and length (STS allows 900 s to
/// an hour through a role chain, to 36 hours for a federation token).
pub struct ScopedRequest<'a> {
    pub session_name: &'a str,
    pub policy: String,
    pub length: Duration,
}

/// Which session of which role: the same role under another name (or external ID) is
/// another session.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    role_arn: String,
    external_id: Option<String>,
    session_name: String,
}

/// Assumes customers' roles, keeping sessions until shortly before they expire (the SDK's
/// provider caches nothing, and a per-call client cannot keep the SDK's identity cache).
pub struct RoleSessions {
    /// The service's own AWS configuration (credentials, region, `AWS_ENDPOINT_URL_STS`),
    /// loaded on first use unless given.
    base: OnceCell<SdkConfig>,
    /// The service's own role, assumed before any customer's (the principal they trust).
    service_role: Option<RoleArn>,
    sessions: moka::sync::Cache<SessionKey, RoleSession>,
    /// Roles seen to refuse a caller without the external ID, until that session expires.
    enforced: moka::sync::Cache<SessionKey, SystemTime>,
}

impl RoleSessions {
    /// `base`: the service's own AWS configuration, or `None` to load it from the
    /// environment. `service_role`: the role to assume first, if any.
    pub fn new(base: Option<SdkConfig>, service_role: Option<RoleArn>) -> Self {
        Self {
            base: base.map_or_else(OnceCell::new, |c| OnceCell::new_with(Some(c))),
            service_role,
            sessions: moka::sync::Cache::new(MAX_SESSIONS),
            enforced: moka::sync::Cache::new(MAX_SESSIONS),
        }
    }

    /// The service's own AWS configuration.
    pub async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                aws_config::defaults(BehaviorVersion::latest())
                    .http_client(crate::aws_http::https_client())
                    .load()
                    .await
            })
            .await
    }

    /// The role's credentials, assumed with its external ID in a session named
    /// `session_name`, or the ones kept from an earlier call while they last.
    ///
    /// # Errors
    /// `assume_role_denied` when STS refuses, or a timeout or unavailability.
    pub async fn assume(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<RoleSession, ProviderError> {
        let key = SessionKey {
            role_arn: grant.role_arn.to_string(),
            external_id: Some(grant.external_id.to_string()),
            session_name: session_name.to_owned(),
        };
        self.session(&key).await.map_err(|e| match e {
            Failure::Denied => ProviderError::new(
                ProviderErrorKind::AssumeRoleDenied,
                format!(
                    "the service could not assume role {}: its trust policy must allow the \
                     principal from GET /api/v2/connectors/s3/role-setup with sts:ExternalId \
                     {}. IAM changes can take a minute to propagate; test again",
                    grant.role_arn, grant.external_id
                ),
            ),
            Failure::Other(e) => e,
        })
    }

    /// Proves that the role refuses whoever assumes it without the external ID: anyone who
    /// learns the role's ARN could otherwise have the service reach the bucket for them.
    /// A refusal is remembered as long as a session lasts.
    ///
    /// # Errors
    /// `external_id_not_enforced` when STS lets the role be assumed without the ID, or a
    /// timeout or unavailability.
    pub async fn check_external_id_enforced(
        &self,
        grant: &RoleGrant,
        session_name: &str,
    ) -> Result<(), ProviderError> {
        let key = SessionKey {
            role_arn: grant.role_arn.to_string(),
            external_id: None,
            session_name: format!("{session_name}-probe"),
        };
        let now = SystemTime::now();
        if self.enforced.get(&key).is_some_and(|until| until > now) {
            return Ok(());
        }
        match self.fresh(&key).await {
            Err(Failure::Denied) => {
                self.enforced
                    .insert(key, now + SESSION_LENGTH - REFRESH_BEFORE);
                Ok(())
            }
            Err(Failure::Other(e)) => Err(e),
            Ok(_) => Err(ProviderError::new(
                ProviderErrorKind::ExternalIdNotEnforced,
                format!(
                    "role {} can be assumed without the external ID, so anyone who learns \
                     its ARN could reach the bucket through this service: add the condition \
                     \"StringEquals\": {{\"sts:ExternalId\": \"{}\"}} to the statement of its \
                     trust policy that allows the service (the role-setup answer's \
                     trust_policy has it). IAM changes can take a minute to propagate; test \
                     again",
                    grant.role_arn, grant.external_id
                ),
            )),
        }
    }

    /// A new session of the role held to one grant by `request.policy`; never kept, so
    /// each grant's session is its own. The caller has checked the role enforces the ID.
    ///
    /// # Errors
    /// `assume_role_denied` when STS refuses, or a timeout or unavailability.
    pub async fn assume_scoped(
        &self,
        grant: &RoleGrant,
        request: ScopedRequest<'_>,
    ) -> Result<ScopedSession, ProviderError> {
        let key = SessionKey {
            role_arn: grant.role_arn.to_string(),
            external_id: Some(grant.external_id.to_string()),
            session_name: request.session_name.to_owned(),
        };
        match self
            .fresh_with(&key, Some(request.policy), request.length)
            .await
        {
            Ok(session) => Ok(ScopedSession(session)),
            Err(Failure::Denied) => Err(ProviderError::new(
                ProviderErrorKind::AssumeRoleDenied,
                format!(
                    "the service could not assume role {} with a session policy for this \
                     grant: its trust policy must allow the principal from GET \
                     /api/v2/connectors/s3/role-setup with sts:ExternalId {}, and the role's \
                     maximum session duration must be at least the ttl_seconds asked. IAM \
                     changes can take a minute to propagate; try again",
                    grant.role_arn, grant.external_id
                ),
            )),
            Err(Failure::Other(e)) => Err(e),
        }
    }

    /// A federation token of the IAM user whose keys these are, held to one grant by
    /// `request.policy` (with no policy, a federation token may do nothing at all).
    ///
    /// # Errors
    /// `access_denied` when the user may not call `sts:GetFederationToken`,
    /// `invalid_credentials` for keys STS does not know, or a timeout or unavailability.
    pub async fn federate(
        &self,
        keys: aws_credential_types::Credentials,
        request: ScopedRequest<'_>,
    ) -> Result<ScopedSession, ProviderError> {
        use ProviderErrorKind as K;
        let base = self.base().await;
        let config = aws_sdk_sts::config::Builder::from(base)
            .credentials_provider(keys)
            .build();
        let client = aws_sdk_sts::Client::from_conf(config);
        let seconds = i32::try_from(request.length.as_secs()).unwrap_or(i32::MAX);
        let answer = client
            .get_federation_token()
            .name(request.session_name)
            .policy(request.policy)
            .duration_seconds(seconds)
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                return Err(match (&e, e.code()) {
                    (SdkError::TimeoutError(_), _) => {
                        ProviderError::new(K::Timeout, "STS did not answer in time; try again")
                    }
                    (SdkError::DispatchFailure(f), _) if f.is_timeout() => {
                        ProviderError::new(K::Timeout, "STS did not answer in time; try again")
                    }
                    (_, Some("AccessDenied")) => ProviderError::new(
                        K::AccessDenied,
                        "the connector's IAM user may not call sts:GetFederationToken, which \
                         credentials for a prefix are made with: allow it in the user's policy \
                         (or send paths for signed URLs, which need no STS call)",
                    ),
                    (_, Some("InvalidClientTokenId" | "SignatureDoesNotMatch")) => {
                        ProviderError::new(
                            K::InvalidCredentials,
                            "STS does not accept the connector's access key; rotate it with PATCH",
                        )
                    }
                    (_, code) => {
                        tracing::warn!(
                            code = code.unwrap_or("none"),
                            error = %aws_sdk_sts::error::DisplayErrorContext(&e),
                            "GetFederationToken failed"
                        );
                        ProviderError::new(
                            K::ProviderUnavailable,
                            "STS could not issue a federation token; try again later",
                        )
                    }
                });
            }
        };
        let Some(c) = out.credentials else {
            return Err(ProviderError::new(
                K::ProviderUnavailable,
                "STS answered a federation token without credentials; try again",
            ));
        };
        let expiry = SystemTime::try_from(c.expiration).ok();
        Ok(ScopedSession(RoleSession(
            aws_credential_types::Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                expiry,
                "federation-token",
            ),
        )))
    }

    /// A kept session of `key`, or a new one.
    async fn session(&self, key: &SessionKey) -> Result<RoleSession, Failure> {
        if let Some(kept) = self.sessions.get(key)
            && kept.fresh_at(SystemTime::now())
        {
            return Ok(kept);
        }
        let session = self.fresh(key).await?;
        self.sessions.insert(key.clone(), session.clone());
        Ok(session)
    }

    /// A new session of `key`, from the service's own role when there is one.
    async fn fresh(&self, key: &SessionKey) -> Result<RoleSession, Failure> {
        self.fresh_with(key, None, SESSION_LENGTH).await
    }

    /// A new session of `key` under a session policy, if one is given.
    async fn fresh_with(
        &self,
        key: &SessionKey,
        policy: Option<String>,
        length: Duration,
    ) -> Result<RoleSession, Failure> {
        let base = self.base().await;
        let mut builder = AssumeRoleProvider::builder(key.role_arn.clone())
            .session_name(key.session_name.clone())
            .session_length(length)
            .configure(base);
        if let Some(id) = &key.external_id {
            builder = builder.external_id(id.clone());
        }
        if let Some(policy) = policy {
            builder = builder.policy(policy);
        }
        let provider = match &self.service_role {
            Some(own) => {
                let own = self.own_session(own).await?;
                builder.build_from_provider(own.0).await
            }
            None => builder.build().await,
        };
        provider
            .provide_credentials()
            .await
            .map(RoleSession)
            .map_err(|e| classify(&e))
    }

    /// The service's own role's session, which customers' roles trust.
    async fn own_session(&self, role: &RoleArn) -> Result<RoleSession, Failure> {
        let key = SessionKey {
            role_arn: role.to_string(),
            external_id: None,
            session_name: SERVICE_SESSION.to_owned(),
        };
        if let Some(kept) = self.sessions.get(&key)
            && kept.fresh_at(SystemTime::now())
        {
            return Ok(kept);
        }
        let provider = AssumeRoleProvider::builder(key.role_arn.clone())
            .session_name(SERVICE_SESSION)
            .session_length(SESSION_LENGTH)
            .configure(self.base().await)
            .build()
            .await;
        let session = provider
            .provide_credentials()
            .await
            .map(RoleSession)
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_sts::error::DisplayErrorContext(&e), role = %role, "the service could not assume its own role");
                Failure::Other(ProviderError::new(
                    ProviderErrorKind::ProviderUnavailable,
                    "the service could not assume its own AWS role; try again later",
                ))
            })?;
        self.sessions.insert(key, session.clone());
        Ok(session)
    }
}

/// What an `AssumeRole` came to.
enum Failure {
    /// STS refused: the role does not exist or its trust policy does not allow this.
    Denied,
    Other(ProviderError),
}

/// Sorts the SDK provider's failure: a refusal, or STS being slow or unreachable.
fn classify(e: &CredentialsError) -> Failure {
    use ProviderErrorKind as K;
    let sdk = std::error::Error::source(e).and_then(|s| {
        s.downcast_ref::<SdkError<AssumeRoleError, aws_sdk_sts::config::http::HttpResponse>>()
    });
    match (e, sdk) {
        (CredentialsError::ProviderTimedOut(_), _) | (_, Some(SdkError::TimeoutError(_))) => {
            Failure::Other(ProviderError::new(
                K::Timeout,
                "STS did not answer in time; try again",
            ))
        }
        (_, Some(SdkError::DispatchFailure(f))) if f.is_timeout() => Failure::Other(
            ProviderError::new(K::Timeout, "STS did not answer in time; try again"),
        ),
        (_, Some(err @ SdkError::ServiceError(_))) => match err.code() {
            Some("AccessDenied") => Failure::Denied,
            Some("RegionDisabledException") => Failure::Other(ProviderError::new(
                K::ProviderUnavailable,
                "STS is not activated in the service's region for the role's account",
            )),
            code => {
                tracing::warn!(code = code.unwrap_or("none"), "STS refused an AssumeRole");
                Failure::Other(ProviderError::new(
                    K::ProviderUnavailable,
                    format!(
                        "STS answered {}; try again later",
                        code.unwrap_or("an error")
                    ),
                ))
            }
        },
        _ => {
            tracing::warn!(error = %aws_sdk_sts::error::DisplayErrorContext(e), "AssumeRole failed");
            Failure::Other(ProviderError::new(
                K::ProviderUnavailable,
                "STS could not be reached; try again later",
            ))
        }
    }
}

/// The name of a connector's federation token: CloudTrail shows it to the customer, and
/// STS allows 2-32 of `[\w+=,.@-]`, so it is `vv-` and the id's ULID.
pub fn federation_name(connector: &crate::domain::ids::ConnectorId) -> String {
    let id = connector.as_str();
    format!("vv-{}", id.strip_prefix("conn_").unwrap_or(id))
}

/// The session name a connector's role is assumed under: CloudTrail shows it to the
/// customer, so it names the connector (STS allows 2-64 of `[\w+=,.@-]`).
pub fn session_name(connector: Option<&crate::domain::ids::ConnectorId>) -> String {
    match connector {
        Some(id) => format!("videovector-{id}"),
        None => "videovector-dry-run".to_owned(),
    }
}

/// Credentials expiring at `expiry`, for the tests of freshness.
#[cfg(test)]
fn expiring(expiry: SystemTime) -> RoleSession {
    RoleSession(aws_credential_types::Credentials::new(
        "ASIATESTTESTTEST",
        "secret",
        Some("token".into()),
        Some(expiry),
        "test",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_not_handed_out_in_its_last_minutes() {
        let now = SystemTime::now();
        assert!(expiring(now + Duration::from_secs(10 * 60)).fresh_at(now));
        assert!(!expiring(now + Duration::from_secs(2 * 60)).fresh_at(now));
        assert!(!expiring(now - Duration::from_secs(1)).fresh_at(now));
    }

    #[test]
    fn a_session_prints_none_of_its_credentials() {
        let printed = format!("{:?}", expiring(SystemTime::now()));
        assert!(
            !printed.contains("ASIA") && !printed.contains("secret") && !printed.contains("token"),
            "{printed}"
        );
    }

    #[test]
    fn session_names_name_the_connector_within_the_sts_limit() {
        let id = crate::domain::ids::ConnectorId::generate();
        let name = session_name(Some(&id));
        let probe = format!("{name}-probe");
        assert!(name.contains(id.as_str()));
        assert!(probe.len() <= 64, "{probe}");
        assert!(
            probe
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        );
    }
}
