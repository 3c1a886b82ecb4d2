//! Use cases: create, read, list, update, delete, test and browse connectors, over the
//! storage and provider ports. Handlers call these with parsed domain values only.

pub mod access_test;
pub mod browse;
pub mod connectors;
pub mod cursor;

use std::sync::Arc;

use crate::providers::ProviderFactory;
use crate::store::{ConnectorStore, SecretVault};

/// Everything a request may need, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn ConnectorStore>,
    pub vault: Arc<dyn SecretVault>,
    pub providers: Arc<dyn ProviderFactory>,
    pub cursors: cursor::CursorCodec,
    /// Secrets are named `<secret_prefix>/<tenant>/<connector_id>`.
    pub secret_prefix: String,
}
