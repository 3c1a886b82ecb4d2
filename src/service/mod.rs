//! Use cases over the storage and provider ports: authenticate a key, manage API keys, run
//! a request once per `Idempotency-Key`, and create, read, list, update, delete, test and
//! browse connectors. Callers hand in parsed domain values only and get a
//! [`ServiceError`] back, never an HTTP type.

pub mod access;
pub mod access_check;
pub mod api_keys;
pub mod browse;
pub mod clients;
pub mod connectors;
pub mod cursor;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod limits;
pub mod reconcile;
pub mod use_cases;
mod write;

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use tokio::sync::OnceCell;

pub use error::{FieldError, ServiceError};

use crate::providers::ProviderFactory;
use crate::store::Storage;

/// Everything a request may need, built once per process.
#[derive(Clone)]
pub struct App {
    pub storage: Storage,
    pub providers: Arc<dyn ProviderFactory>,
    /// Secrets are named `<secret_prefix>/<tenant>/<connector_id>`.
    pub secret_prefix: String,
    /// Calls allowed per account and minute on the expensive operations.
    pub limits: limits::RateLimits,
    /// How long a request waits for an identical one (same `Idempotency-Key`) to finish
    /// before answering 409.
    pub idempotency_wait: Duration,
    /// How many days a connector's history keeps an event.
    pub event_retention_days: u16,
    /// The cursor codec, its key read from the store on first use (so a cold start that
    /// serves no list pays nothing for it).
    cursors: Arc<OnceCell<cursor::CursorCodec>>,
}

/// The default of [`App::idempotency_wait`]: well inside API Gateway's 29 s, and longer
/// than a create takes.
pub const IDEMPOTENCY_WAIT: Duration = Duration::from_secs(20);

/// The default of [`App::event_retention_days`].
pub const EVENT_RETENTION_DAYS: u16 = 90;

impl App {
    pub fn new(
        storage: Storage,
        providers: Arc<dyn ProviderFactory>,
        secret_prefix: String,
    ) -> Self {
        Self {
            storage,
            providers,
            secret_prefix,
            limits: limits::RateLimits::default(),
            idempotency_wait: IDEMPOTENCY_WAIT,
            event_retention_days: EVENT_RETENTION_DAYS,
            cursors: Arc::default(),
        }
    }

    /// The same app, reaching providers through `providers`.
    #[must_use]
    pub fn reaching(mut self, providers: Arc<dyn ProviderFactory>) -> Self {
        self.providers = providers;
        self
    }

    /// The codec that seals and opens cursors, with the key every instance shares.
    pub(crate) async fn cursors(&self) -> Result<&cursor::CursorCodec, ServiceError> {
        self.cursors
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                rand::rng().fill_bytes(&mut candidate);
                let key = self
                    .storage
                    .service_keys
                    .shared_key("cursor", candidate)
                    .await?;
                Ok::<_, ServiceError>(cursor::CursorCodec::new(key))
            })
            .await
    }
}
