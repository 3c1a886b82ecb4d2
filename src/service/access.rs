//! `POST /connectors/{id}/access`: short-lived access for one import or export job, held
//! to one prefix inside the connector's boundary — a signed URL per named object, or
//! credentials for the whole prefix — and logged once per grant.

use std::sync::Arc;
use std::time::Duration;

use super::App;
use super::api_keys::Caller;
use super::clients::open_error;
use super::connectors::WayIn;
use super::error::ServiceError;
use super::limits::{Limited, Quota};
use crate::domain::connector::Connector;
use crate::domain::events::EventType;
use crate::domain::ids::ConnectorId;
use crate::domain::paths::{MAX_PREFIX_BYTES, RelativeKey, Subpath};
use crate::domain::scopes::{Scope, Status};
use crate::domain::timestamp::Timestamp;
use crate::providers::Granted;
use crate::providers::access::{
    PrefixGrant, PrefixRights, SignedUrl, UrlGrant, UrlMethod, VendedCredentials,
    credential_lifetimes, policy_overflow,
};
use crate::providers::roles::{self, ScopedSession};

/// The most object keys one grant signs URLs for.
pub const MAX_PATHS: usize = 1000;
/// The shortest and longest a grant may last, and what it lasts when unsaid, in seconds.
pub const TTL_SECONDS: std::ops::RangeInclusive<u32> = 60..=3600;
pub const DEFAULT_TTL_SECONDS: u32 = 900;
/// STS makes no session shorter than this: S3 credentials are never asked for less.
const STS_SHORTEST_SECONDS: u32 = 900;

/// Where the job works: an import reads under a prefix of the bucket; an export writes
/// under a subpath of the connector's export boundary. Both follow the boundary's rules
/// (no `.`/`..`/empty segments), so no consumer can decode a URL to another object.
#[derive(Debug, Clone)]
pub enum Target {
    Import { prefix: Subpath },
    Export { subpath: Subpath },
}

/// A validated access request.
#[derive(Debug, Clone)]
pub struct AccessRequest {
    pub target: Target,
    /// Object keys relative to the resolved prefix: one URL each. None: credentials.
    pub paths: Option<Vec<RelativeKey>>,
    /// None: 900, or for credentials the nearest their provider can make.
    pub ttl_seconds: Option<u32>,
}

/// What one grant hands out.
#[derive(Debug)]
pub struct AccessGrant {
    pub connector: Arc<Connector>,
    pub purpose: Scope,
    /// The absolute prefix the access covers: empty (the whole bucket) or ending in `/`.
    pub prefix: String,
    pub permissions: &'static [&'static str],
    pub expires_at: Timestamp,
    pub urls: Vec<SignedUrl>,
    pub credentials: Option<VendedCredentials>,
    pub quota: Option<Quota>,
}

/// The absolute prefix a request covers on `connector`: an import's prefix (which ends in
/// `/`, so `data` never reaches `data_old/`), or the export boundary and the subpath under
/// it.
fn resolve(connector: &Connector, target: &Target) -> Result<String, ServiceError> {
    let (resolved, field) = match target {
        Target::Import { prefix } => (prefix.as_str().to_owned(), "prefix"),
        Target::Export { subpath } => {
            let base = connector
                .export_base_path
                .as_ref()
                .map_or("", |b| b.as_str());
            (format!("{base}{}", subpath.as_str()), "subpath")
        }
    };
    if resolved.len() > MAX_PREFIX_BYTES {
        return Err(ServiceError::validation(
            field,
            format!("the resolved prefix must be at most {MAX_PREFIX_BYTES} bytes"),
        ));
    }
    Ok(resolved)
}

/// Refuses a grant `connector` cannot make now: it is disabled, or lacks `purpose`'s scope.
fn admissible(connector: &Connector, purpose: Scope) -> Result<(), ServiceError> {
    if connector.status == Status::Disabled {
        return Err(ServiceError::ConnectorDisabled(connector.id.clone()));
    }
    if !connector.scopes.contains(purpose) {
        return Err(ServiceError::ScopeNotGranted(format!(
            "connector {} does not have the {} scope; add it with PATCH to ask for {} access",
            connector.id,
            purpose.as_str(),
            purpose.as_str()
        )));
    }
    Ok(())
}

/// The full keys of `paths` under `prefix`, each at most 1024 bytes.
fn full_keys(prefix: &str, paths: &[RelativeKey]) -> Result<Vec<String>, ServiceError> {
    let mut keys = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let key = format!("{prefix}{}", path.as_str());
        if key.len() > MAX_PREFIX_BYTES {
            return Err(ServiceError::validation(
                format!("paths[{i}]"),
                format!("the object's full key must be at most {MAX_PREFIX_BYTES} bytes"),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

impl App {
    /// Grants short-lived access to one prefix of a connector for `purpose`.
    ///
    /// # Errors
    /// `RateLimited`, `ConnectorNotFound`, `ConnectorDisabled`, `ScopeNotGranted` when the
    /// purpose is not one of the connector's scopes, `Validation` for a prefix or key past
    /// its bounds, `ProviderRefused` (`access_not_supported` included) or
    /// `ProviderUnavailable`.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn grant_access(
        &self,
        caller: &Caller,
        id: &ConnectorId,
        request: AccessRequest,
    ) -> Result<AccessGrant, ServiceError> {
        let tenant = caller.tenant();
        let (quota, connector) = tokio::join!(
            self.admit(tenant, Limited::Access),
            self.get_connector(tenant, id)
        );
        let quota = quota?;
        let purpose = match request.target {
            Target::Import { .. } => Scope::Import,
            Target::Export { .. } => Scope::Export,
        };
        let first = connector?;
        admissible(&first, purpose)?;
        // Every check reads the record the credentials were read with: a PATCH that
        // rotates them while narrowing the boundary, dropping a scope or disabling the
        // connector is seen whole, never half.
        let (connector, way_in) = self.credentials_in_use(Arc::clone(&first)).await?;
        if !Arc::ptr_eq(&first, &connector) {
            admissible(&connector, purpose)?;
        }
        let prefix = resolve(&connector, &request.target)?;
        let keys = request
            .paths
            .as_deref()
            .map(|paths| full_keys(&prefix, paths))
            .transpose()?;
        let lifetimes = keys
            .is_none()
            .then(|| credential_lifetimes(&connector.location))
            .flatten();
        // Unsaid, a TTL is 900 s, or the shortest the provider's credentials can last.
        let ttl_seconds = request.ttl_seconds.unwrap_or_else(|| {
            lifetimes.as_ref().map_or(DEFAULT_TTL_SECONDS, |(l, _)| {
                DEFAULT_TTL_SECONDS.clamp(*l.start(), *l.end())
            })
        });
        if let Some((lifetimes, why)) = lifetimes
            && !lifetimes.contains(&ttl_seconds)
        {
            let range = if lifetimes.start() == lifetimes.end() {
                lifetimes.start().to_string()
            } else {
                format!("{}-{}", lifetimes.start(), lifetimes.end())
            };
            return Err(ServiceError::validation(
                "ttl_seconds",
                format!(
                    "{why}; ask for {range} seconds, or send `paths` for signed URLs, which \
                     last 60-3600"
                ),
            ));
        }
        let expires_in = Duration::from_secs(u64::from(ttl_seconds));
        // Fixed before anything is signed, so it is never later than what was signed.
        let requested_expiry = Timestamp::now().plus_seconds(i64::from(ttl_seconds));
        let rights = match purpose {
            Scope::Import => PrefixRights::ReadList,
            Scope::Export => PrefixRights::Write,
        };
        // A role's session and S3 credentials are held by a policy that has a length limit.
        let policy_held = keys.is_none() || matches!(way_in, WayIn::Role(_));
        if policy_held && let Some(why) = policy_overflow(&connector.location, &prefix, rights) {
            let field = match request.target {
                Target::Import { .. } => "prefix",
                Target::Export { .. } => "subpath",
            };
            return Err(ServiceError::validation(field, why));
        }
        let prefix_grant = PrefixGrant {
            prefix: &prefix,
            rights,
            expires_in,
        };
        // A keyless GCS connector's grant is made from its service account's token.
        let gcs_token = match &way_in {
            WayIn::GcsIdentity(identity) => {
                let mut refusal = super::clients::FirstRefusal::default();
                match self.gcs_token(identity, &mut refusal).await {
                    Some(token) => Some(token),
                    None => return Err(refusal.into_error()),
                }
            }
            WayIn::Keys(_) | WayIn::Role(_) | WayIn::AzureIdentity(_) => None,
        };
        // A keyless Azure connector's grant is signed through its app's token, once its
        // container is seen bound to this account.
        let azure_token = match &way_in {
            WayIn::AzureIdentity(identity) => {
                let mut refusal = super::clients::FirstRefusal::default();
                match self.azure_token(&connector, identity, &mut refusal).await {
                    Some(token) => Some(token),
                    None => return Err(refusal.into_error()),
                }
            }
            WayIn::Keys(_) | WayIn::Role(_) | WayIn::GcsIdentity(_) => None,
        };
        // A role connector's grant runs on a session of its own, held to the prefix.
        let scoped: Option<ScopedSession> = match &way_in {
            WayIn::Keys(_) | WayIn::GcsIdentity(_) | WayIn::AzureIdentity(_) => None,
            WayIn::Role(grant) => {
                let mut refusal = super::clients::FirstRefusal::default();
                let name = roles::session_name(Some(&connector.id));
                if self
                    .role_session(grant, &name, &mut refusal)
                    .await
                    .is_none()
                {
                    return Err(refusal.into_error());
                }
                let length = expires_in.max(Duration::from_secs(u64::from(STS_SHORTEST_SECONDS)));
                Some(
                    self.providers
                        .assume_scoped(&connector, grant, prefix_grant, length)
                        .await
                        .map_err(ServiceError::provider)?,
                )
            }
        };
        let granted = match (&way_in, &scoped, &gcs_token, &azure_token) {
            (_, Some(session), _, _) => Granted::Scoped(session),
            (_, None, Some(token), _) => Granted::GcsToken(token),
            (_, None, None, Some(token)) => Granted::AzureToken(token),
            (WayIn::Keys(credentials), None, None, None) => Granted::Stored(credentials),
            (
                WayIn::Role(_) | WayIn::GcsIdentity(_) | WayIn::AzureIdentity(_),
                None,
                None,
                None,
            ) => {
                return Err(ServiceError::Internal(anyhow::anyhow!(
                    "a connector without stored credentials reached no session or token"
                )));
            }
        };
        let (urls, credentials, permissions) = match &keys {
            Some(keys) => {
                let method = match purpose {
                    Scope::Import => UrlMethod::Get,
                    Scope::Export => UrlMethod::Put,
                };
                let store = self
                    .providers
                    .open(&connector, granted)
                    .map_err(open_error)?;
                let urls = store
                    .sign_urls(UrlGrant {
                        keys,
                        method,
                        expires_in,
                    })
                    .await
                    .map_err(ServiceError::provider)?;
                let permissions: &'static [&'static str] = match purpose {
                    Scope::Import => &["read"],
                    Scope::Export => &["write"],
                };
                (urls, None, permissions)
            }
            None => {
                let credentials = self
                    .providers
                    .prefix_credentials(&connector, granted, prefix_grant)
                    .await
                    .map_err(open_error)?;
                let permissions: &'static [&'static str] = match purpose {
                    Scope::Import => &["read", "list"],
                    Scope::Export => &["write"],
                };
                (Vec::new(), Some(credentials), permissions)
            }
        };
        let expires_at = credentials
            .as_ref()
            .map_or(requested_expiry, VendedCredentials::expires_at);
        // No grant leaves unrecorded: a history that cannot be written fails the grant.
        let event = self.recorder(&caller.actor()).event(
            EventType::AccessGranted,
            &connector,
            Timestamp::now(),
        );
        self.append_event(&event).await?;
        tracing::info!(
            tenant = %tenant,
            key_id = caller.key_id(),
            connector_id = %connector.id,
            purpose = purpose.as_str(),
            prefix = %prefix,
            paths = keys.as_ref().map_or(0, Vec::len),
            ttl_seconds,
            kind = if keys.is_some() { "urls" } else { "credentials" },
            "access granted"
        );
        crate::telemetry::metrics::access_granted(
            connector.provider().as_str(),
            purpose.as_str(),
            keys.as_ref().map_or(0, Vec::len),
        );
        Ok(AccessGrant {
            connector,
            purpose,
            prefix,
            permissions,
            expires_at,
            urls,
            credentials,
            quota,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(prefix: &str, paths: &[&str]) -> Result<Vec<String>, ServiceError> {
        let paths: Vec<RelativeKey> = paths
            .iter()
            .map(|p| RelativeKey::parse(p).expect("a valid key"))
            .collect();
        full_keys(prefix, &paths)
    }

    #[test]
    fn paths_are_joined_under_the_resolved_prefix() {
        assert_eq!(
            keys("out/run-7/", &["a.mp4", "sub/b.json"]).ok(),
            Some(vec![
                "out/run-7/a.mp4".into(),
                "out/run-7/sub/b.json".into()
            ])
        );
    }

    #[test]
    fn a_full_key_past_1024_bytes_is_refused_naming_its_index() {
        let long = "k".repeat(1000);
        match keys(&"p/".repeat(20), &["ok.mp4", &long]) {
            Err(ServiceError::Validation(fields)) => assert_eq!(fields[0].field, "paths[1]"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
