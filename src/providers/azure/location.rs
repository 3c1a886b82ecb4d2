//! Where an Azure connector's blobs live: a container in a storage account.

use serde::{Deserialize, Serialize};

use super::names::{ContainerName, StorageAccount};

/// An Azure connector's container, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureLocation {
    pub storage_account: StorageAccount,
    pub container: ContainerName,
}
