//! The provider port: what `test` and `browse` need from a bucket or container, and the
//! factory that builds an [`ObjectStore`] per call from a connector and its credentials.

pub mod s3;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::connector::{Connector, Location};
use crate::domain::credentials::Credentials;
use crate::domain::timestamp::Timestamp;

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

/// What test and browse do with a bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Proves the credentials are accepted and the bucket is reachable.
    async fn authenticate(&self) -> Result<(), ProviderError>;
    async fn list_page(&self, request: ListRequest<'_>) -> Result<ListPage, ProviderError>;
    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), ProviderError>;
    async fn delete_object(&self, key: &str) -> Result<(), ProviderError>;
}

/// Why no client could be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// This build has no adapter for the provider yet.
    NotSupported(crate::domain::scopes::Provider),
    /// The stored credentials do not belong to the connector's provider.
    CredentialsMismatch,
}

/// Builds a client for one connector, per call.
pub trait ProviderFactory: Send + Sync {
    /// # Errors
    /// When the provider has no adapter or the credentials are of another provider.
    fn open(
        &self,
        connector: &Connector,
        credentials: &Credentials,
    ) -> Result<Arc<dyn ObjectStore>, OpenError>;
}

/// The production factory: real adapters with shared HTTP/TLS machinery.
pub struct Providers {
    s3: s3::S3Factory,
}

impl Providers {
    pub fn new(settings: s3::S3Settings) -> Self {
        Self {
            s3: s3::S3Factory::new(settings),
        }
    }
}

impl ProviderFactory for Providers {
    fn open(
        &self,
        connector: &Connector,
        credentials: &Credentials,
    ) -> Result<Arc<dyn ObjectStore>, OpenError> {
        match (&connector.location, credentials) {
            (Location::S3 { bucket, region }, Credentials::S3(creds)) => {
                Ok(Arc::new(self.s3.open(bucket, region, creds)))
            }
            (Location::Gcs { .. }, Credentials::Gcs(_))
            | (Location::Azure { .. }, Credentials::Azure(_)) => {
                Err(OpenError::NotSupported(connector.provider()))
            }
            _ => Err(OpenError::CredentialsMismatch),
        }
    }
}
