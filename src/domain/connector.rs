//! The connector record: what the store keeps about one connector (never its credentials,
//! only a reference to them in the secret vault, or the IAM role it assumes).

use serde::{Deserialize, Serialize};

use super::ids::{ConnectorId, TenantId};
use super::names::{ConnectorName, ExternalId, RoleArn};
use super::paths::ExportBasePath;
use super::scopes::{ImportMode, Provider, Scopes, Status, TestResult};
use super::timestamp::Timestamp;
use crate::providers::azure::location::AzureLocation;
use crate::providers::gcs::location::GcsLocation;
use crate::providers::s3::location::S3Location;

/// Where the connector's objects live; the variant is the provider, each provider's own
/// type its fields (stored flat beside the `provider` tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Location {
    S3(S3Location),
    Gcs(GcsLocation),
    Azure(AzureLocation),
}

impl Location {
    pub fn provider(&self) -> Provider {
        match self {
            Location::S3(_) => Provider::S3,
            Location::Gcs(_) => Provider::Gcs,
            Location::Azure(_) => Provider::Azure,
        }
    }

    /// The bucket or container name, for messages.
    pub fn bucket_name(&self) -> &str {
        match self {
            Location::S3(l) => l.bucket.as_str(),
            Location::Gcs(l) => l.bucket.as_str(),
            Location::Azure(l) => l.container.as_str(),
        }
    }
}

/// Where a connector's credentials are kept: a secret name and the version in use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
    pub version: String,
}

/// A role in the customer's account the service assumes, with the account's external ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    pub role_arn: RoleArn,
    pub external_id: ExternalId,
}

/// How the service gets into the bucket. Stored as a `secret` or an `iam_role` field of
/// the record, so records written before roles existed read as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Credentials in the secret vault.
    Secret(SecretRef),
    /// An IAM role (S3 only); nothing is kept in the vault.
    IamRole(RoleGrant),
    /// The account's service account, reached through workload identity federation (GCS
    /// only); nothing is kept in the vault.
    GcsIdentity(crate::providers::gcs::credentials::GcsIdentity),
    /// The operator's Entra app in the customer's tenant, reached through workload
    /// identity federation (Azure only); nothing is kept in the vault.
    AzureIdentity(crate::providers::azure::identity::AzureIdentity),
}

impl Access {
    /// The secret this access reads, if it reads one.
    pub fn secret(&self) -> Option<&SecretRef> {
        match self {
            Access::Secret(s) => Some(s),
            Access::IamRole(_) | Access::GcsIdentity(_) | Access::AzureIdentity(_) => None,
        }
    }
}

/// One connector as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    pub id: ConnectorId,
    pub tenant: TenantId,
    pub name: ConnectorName,
    pub location: Location,
    pub status: Status,
    pub scopes: Scopes,
    pub import_mode: ImportMode,
    pub export_base_path: Option<ExportBasePath>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the way in last changed (new keys, another role, a new secret or key file);
    /// absent from records written before it was kept, which show `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_updated_at: Option<Timestamp>,
    pub last_tested_at: Option<Timestamp>,
    pub last_test_result: Option<TestResult>,
    pub last_test_error: Option<String>,
    /// A masked identity safe to show (`AKIA…WXYZ`, a service account's email).
    pub credential_hint: String,
    #[serde(flatten)]
    pub access: Access,
    /// Bumped by every write; the ETag is derived from it.
    pub version: u64,
}

impl Connector {
    pub fn provider(&self) -> Provider {
        self.location.provider()
    }

    /// When the way in last changed: the create's time until a rotation.
    pub fn credentials_changed_at(&self) -> Timestamp {
        self.credentials_updated_at.unwrap_or(self.created_at)
    }

    /// The strong entity tag of this version of the record.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// Filters of a list request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub provider: Option<Provider>,
    pub scope: Option<super::scopes::Scope>,
    pub status: Option<Status>,
}

impl ListFilter {
    /// Whether the filter accepts every connector.
    pub fn is_empty(&self) -> bool {
        self.provider.is_none() && self.scope.is_none() && self.status.is_none()
    }

    pub fn accepts(&self, c: &Connector) -> bool {
        self.provider.is_none_or(|p| c.provider() == p)
            && self.scope.is_none_or(|s| c.scopes.contains(s))
            && self.status.is_none_or(|s| c.status == s)
    }
}
