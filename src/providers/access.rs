//! What a provider hands out for imports and exports: signed URLs for named objects and
//! short-lived credentials held to one prefix. Both are secrets; neither is ever printed.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{ProviderError, ProviderErrorKind};
use crate::domain::connector::Location;
use crate::domain::timestamp::Timestamp;

/// The method a signed URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlMethod {
    /// Reads the object; serves `Range` requests.
    Get,
    /// Writes (creates or replaces) the object.
    Put,
}

impl UrlMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// URLs to sign: one per key, all for one method, each valid for `expires_in` from now.
#[derive(Debug, Clone, Copy)]
pub struct UrlGrant<'a> {
    /// Full object keys, already checked to lie under the granted prefix.
    pub keys: &'a [String],
    pub method: UrlMethod,
    pub expires_in: Duration,
}

/// One signed URL. The URL carries its signature, so `Debug` shows only the key.
pub struct SignedUrl {
    pub key: String,
    pub method: UrlMethod,
    url: SecretString,
    /// Headers the request must carry (names lower-case), such as Azure's `x-ms-blob-type`.
    pub headers: Vec<(String, String)>,
}

impl SignedUrl {
    pub fn new(
        key: String,
        method: UrlMethod,
        url: String,
        headers: Vec<(String, String)>,
    ) -> Self {
        Self {
            key,
            method,
            url: SecretString::from(url),
            headers,
        }
    }

    /// The URL itself, for the response body only.
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedUrl")
            .field("key", &self.key)
            .field("method", &self.method)
            .field("url", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// What credentials for a prefix may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixRights {
    /// Read objects under the prefix and list keys that start with it.
    ReadList,
    /// Write objects under the prefix, nothing else.
    Write,
}

/// Credentials to ask for: held to every key that starts with `prefix` (empty: the whole
/// bucket or container; otherwise it ends with `/`), for `expires_in`.
#[derive(Debug, Clone, Copy)]
pub struct PrefixGrant<'a> {
    pub prefix: &'a str,
    pub rights: PrefixRights,
    pub expires_in: Duration,
}

/// Credentials in the provider's own SDK terms, and when they stop working.
pub enum VendedCredentials {
    S3 {
        access_key_id: String,
        secret_access_key: SecretString,
        session_token: SecretString,
        region: String,
        endpoint_url: Option<String>,
        expires_at: Timestamp,
    },
    Gcs {
        access_token: SecretString,
        expires_at: Timestamp,
    },
    Azure {
        sas_token: SecretString,
        container_url: String,
        expires_at: Timestamp,
    },
}

impl VendedCredentials {
    pub fn expires_at(&self) -> Timestamp {
        match self {
            Self::S3 { expires_at, .. }
            | Self::Gcs { expires_at, .. }
            | Self::Azure { expires_at, .. } => *expires_at,
        }
    }
}

impl fmt::Debug for VendedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let provider = match self {
            Self::S3 { .. } => "s3",
            Self::Gcs { .. } => "gcs",
            Self::Azure { .. } => "azure",
        };
        f.debug_struct("VendedCredentials")
            .field("provider", &provider)
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

/// How long a provider's credentials for a prefix can be made to last, in seconds, with
/// the reason, where that is narrower than what the API allows: credentials never outlive
/// what was asked, so a TTL outside is refused rather than stretched.
pub fn credential_lifetimes(
    location: &Location,
) -> Option<(std::ops::RangeInclusive<u32>, &'static str)> {
    match location {
        // An S3-compatible endpoint makes no credentials at all: refused as such, not for TTL.
        Location::S3(l) if l.endpoint_url.is_some() => None,
        Location::S3(_) => Some((
            900..=3600,
            "S3 credentials last from 900 seconds (STS's shortest session) to 3600",
        )),
        Location::Gcs(_) => Some((
            3600..=3600,
            "GCS credentials last 3600 seconds: Google issues the token they are downscoped \
             from for an hour, and a downscoped token lives as long",
        )),
        Location::Azure(_) => None,
    }
}

/// Why credentials or a session held to `prefix` cannot be made on `location`, where the
/// provider bounds the policy that would hold them (S3's session policy). None when it fits.
pub fn policy_overflow(location: &Location, prefix: &str, rights: PrefixRights) -> Option<String> {
    match location {
        Location::S3(l) if l.endpoint_url.is_none() => {
            super::s3::access::policy_overflow(l, prefix, rights)
        }
        Location::S3(_) | Location::Gcs(_) | Location::Azure(_) => None,
    }
}

/// The refusal for what a provider (or this kind of connector) cannot hand out.
pub fn not_supported(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::AccessNotSupported, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_url_never_shows_its_signature_in_debug_output() {
        let url = SignedUrl::new(
            "a/b.mp4".into(),
            UrlMethod::Get,
            "https://bucket.example/a/b.mp4?X-Amz-Signature=deadbeef".into(),
            vec![],
        );
        let shown = format!("{url:?}");
        assert!(
            shown.contains("a/b.mp4") && !shown.contains("deadbeef"),
            "{shown}"
        );
        assert!(url.url().ends_with("deadbeef"));
    }

    #[test]
    fn vended_credentials_show_only_their_provider_and_expiry_in_debug_output() {
        let creds = VendedCredentials::Gcs {
            access_token: SecretString::from("ya29.secret-token"),
            expires_at: Timestamp::from_unix(0),
        };
        let shown = format!("{creds:?}");
        assert!(shown.contains("gcs") && !shown.contains("ya29"), "{shown}");
    }
}
