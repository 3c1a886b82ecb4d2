//! Where an S3 connector's objects live: a bucket in a region, on AWS or on an
//! S3-compatible service.

use serde::{Deserialize, Serialize};

use super::endpoint::S3Endpoint;
use super::names::{AwsRegion, S3BucketName};
use crate::domain::Invalid;

/// An S3 connector's bucket, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: S3BucketName,
    pub region: AwsRegion,
    /// An S3-compatible service instead of AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<S3Endpoint>,
    /// Path-style addressing (`https://host/bucket/key`), which some compatible services
    /// require.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_path_style: bool,
}

impl S3Location {
    /// Whether the service can reach this bucket through an IAM role: only on AWS, whose STS
    /// no S3-compatible service shares.
    pub fn admits_role(&self) -> bool {
        self.endpoint_url.is_none()
    }

    /// Moves the bucket's region, as a PATCH may.
    ///
    /// # Errors
    /// On AWS, when the region is not an AWS region code (a compatible service's regions
    /// are its own words).
    pub fn set_region(&mut self, region: &AwsRegion) -> Result<(), Invalid> {
        if self.endpoint_url.is_none() && AwsRegion::parse_aws(region.as_str()).is_err() {
            return Err(Invalid::new("must be an AWS region code such as us-east-1"));
        }
        self.region = region.clone();
        Ok(())
    }
}
