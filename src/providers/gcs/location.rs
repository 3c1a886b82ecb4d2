//! Where a GCS connector's objects live: a bucket, and the project it bills.

use serde::{Deserialize, Serialize};

use super::names::{GcpProjectId, GcsBucketName};

/// A GCS connector's bucket, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcsLocation {
    pub bucket: GcsBucketName,
    pub gcp_project_id: Option<GcpProjectId>,
}
