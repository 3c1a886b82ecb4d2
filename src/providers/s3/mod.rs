//! Amazon S3 and S3-compatible services: everything that is S3's own, one file per layer
//! (see the crate's Layout and docs/adding-a-provider.md).

pub mod access;
pub mod adapter;
pub mod credentials;
pub mod endpoint;
pub mod location;
pub mod names;
pub mod schema;
pub mod setup;
pub mod setup_route;
pub mod wire;

pub use adapter::{S3Factory, S3Keys, S3Settings, S3Target};
