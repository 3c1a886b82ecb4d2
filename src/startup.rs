//! Process assembly: from [`Settings`], the storage adapters (DynamoDB and Secrets Manager
//! when a table is named, the embedded ones otherwise), the provider factory and the
//! [`App`]. The only place that names a storage adapter.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::providers::Providers;
use crate::service::App;
use crate::store::cache::{CachedApiKeys, CachedVault, KEY_TTL, SECRET_TTL, SECRETS_KEPT};
use crate::store::dynamodb::DynamoStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::embedded_vault::EmbeddedVault;
use crate::store::secrets_manager::SecretsManagerVault;
use crate::store::{Storage, StoreError};

/// A setting or adapter that could not be used, said plainly, with its cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StartupError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StartupError {
    /// A problem with no underlying error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A problem caused by `source`.
    pub fn caused(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Opens the storage the settings name and builds the [`App`].
///
/// # Errors
/// A setting that cannot work, said plainly: no AWS region, a data directory in use.
pub async fn build_app(settings: &Settings) -> Result<Arc<App>, StartupError> {
    let providers = Arc::new(Providers::new(settings.provider_settings()));
    let storage = match &settings.table_name {
        Some(table) => aws_storage(settings, table).await?,
        None => {
            if settings.kms_key_id.is_some() {
                return Err(StartupError::new(
                    "KMS_KEY_ID applies only with TABLE_NAME (Secrets Manager)",
                ));
            }
            embedded_storage(&settings.data_dir)?
        }
    };
    let mut app = App::new(storage, providers, settings.secret_prefix.clone());
    app.limits = settings.rate_limits();
    app.event_retention_days = settings.event_retention_days;
    Ok(Arc::new(app))
}

/// The AWS SDK configuration for the service's own storage, loaded the SDK's way, with
/// bounded timeouts and its own connection pool.
///
/// # Errors
/// When no region is configured.
pub async fn aws_config() -> Result<aws_config::SdkConfig, StartupError> {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(4))
        .operation_timeout(Duration::from_secs(10))
        .build();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::aws_http::https_client())
        .timeout_config(timeouts)
        .load()
        .await;
    if config.region().is_none() {
        return Err(StartupError::new(
            "TABLE_NAME is set but no AWS region is: set AWS_REGION (Lambda sets it)",
        ));
    }
    Ok(config)
}

async fn aws_storage(settings: &Settings, table: &str) -> Result<Storage, StartupError> {
    let config = aws_config().await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let vault = SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&config),
        // An empty KMS_KEY_ID (as `sam local` passes it) means Secrets Manager's own key.
        settings.kms_key_id.clone().filter(|k| !k.is_empty()),
        settings.secret_prefix.clone(),
    );
    Ok(with_caches(Storage::on(Arc::new(store), Arc::new(vault))))
}

/// Storage whose every call is a round trip (DynamoDB, Secrets Manager), with found API
/// keys kept for 30 s (the revocation delay) and credentials kept by version.
pub fn with_caches(mut storage: Storage) -> Storage {
    storage.api_keys = Arc::new(CachedApiKeys::new(storage.api_keys, KEY_TTL));
    storage.vault = Arc::new(CachedVault::new(storage.vault, SECRETS_KEPT, SECRET_TTL));
    storage
}

fn embedded_storage(dir: &Path) -> Result<Storage, StartupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            StartupError::caused(format!("cannot create data directory {}", dir.display()), e)
        })?;
    let in_use = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| {
        StartupError::caused(
            format!(
                "cannot open the {what} in {}; is another server using this data directory?",
                dir.display()
            ),
            e,
        )
    };
    let store = EmbeddedStore::open(&dir.join("connectors.redb")).map_err(|e| match e {
        StoreError::Corrupt(_) => StartupError::caused(
            format!(
                "the store in {} holds a record this version cannot read",
                dir.display()
            ),
            e,
        ),
        e => in_use("store", e.into()),
    })?;
    let vault = EmbeddedVault::open(&dir.join("secrets.redb"), &dir.join("vault.key"))
        .map_err(|e| in_use("vault", e.into()))?;
    Ok(Storage::on(Arc::new(store), Arc::new(vault)))
}
