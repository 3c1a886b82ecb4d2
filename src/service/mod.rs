//! Use cases: create, read, list, update, delete, test and browse connectors, over the
//! storage and provider ports. Handlers call these with parsed domain values only.

pub mod access_test;
pub mod browse;
pub mod connectors;
pub mod cursor;
pub mod reconcile;

use std::sync::Arc;

use rand::RngCore;
use tokio::sync::OnceCell;

use crate::error::ApiError;

use crate::providers::ProviderFactory;
use crate::store::{ConnectorStore, SecretVault};

/// Everything a request may need, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn ConnectorStore>,
    pub vault: Arc<dyn SecretVault>,
    pub providers: Arc<dyn ProviderFactory>,
    /// Secrets are named `<secret_prefix>/<tenant>/<connector_id>`.
    pub secret_prefix: String,
    /// The cursor codec, its key read from the store on first use (so a cold start that
    /// serves no list pays nothing for it).
    cursors: Arc<OnceCell<cursor::CursorCodec>>,
}

impl App {
    pub fn new(
        store: Arc<dyn ConnectorStore>,
        vault: Arc<dyn SecretVault>,
        providers: Arc<dyn ProviderFactory>,
        secret_prefix: String,
    ) -> Self {
        Self {
            store,
            vault,
            providers,
            secret_prefix,
            cursors: Arc::default(),
        }
    }

    /// The codec that seals and opens cursors, with the key every instance shares.
    pub(crate) async fn cursors(&self) -> Result<&cursor::CursorCodec, ApiError> {
        self.cursors
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                rand::rng().fill_bytes(&mut candidate);
                let key = self.store.shared_key("cursor", candidate).await?;
                Ok::<_, ApiError>(cursor::CursorCodec::new(key))
            })
            .await
    }
}
