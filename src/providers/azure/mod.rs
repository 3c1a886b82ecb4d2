//! Azure Blob Storage: everything that is Azure's own, one file per layer (see the crate's
//! Layout and docs/adding-a-provider.md).

pub mod adapter;
pub mod credentials;
pub mod identity;
pub mod location;
pub mod names;
pub mod sas;
pub mod schema;
pub mod setup;
pub mod setup_route;
pub mod wire;

pub use adapter::{AzureFactory, AzureSettings};
