//! Typed settings from flags and environment variables, checked at start with a clear
//! message; and [`build_app`], which opens every adapter once per process.

use std::path::PathBuf;
use std::sync::Arc;

use crate::providers::Providers;
use crate::providers::s3::S3Settings;
use crate::service::App;
use crate::service::cursor::CursorCodec;
use crate::store::embedded::EmbeddedStore;
use crate::store::vault::{EmbeddedVault, load_or_create_key};

/// Settings shared by every command.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Where the embedded store, vault and keys live.
    #[arg(long, env = "DATA_DIR", default_value = ".data", global = true)]
    pub data_dir: PathBuf,
    /// Credentials are stored as `<prefix>/<tenant>/<connector_id>`.
    #[arg(long, env = "SECRET_PREFIX", default_value = "videovector/connectors", value_parser = parse_secret_prefix, global = true)]
    pub secret_prefix: String,
    /// An S3-compatible endpoint used for customer buckets instead of AWS (emulators only).
    #[arg(long, env = "PROVIDER_S3_ENDPOINT_URL", value_parser = parse_endpoint, global = true)]
    pub s3_endpoint_url: Option<String>,
}

fn parse_secret_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('/')
        && !s.ends_with('/')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be 1-128 characters of letters, digits and /_+=.@-, without a leading or trailing /".into())
    }
}

fn parse_endpoint(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// A setting or adapter that could not be used, said plainly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Opens the embedded store and vault under the data directory and builds the [`App`].
///
/// # Errors
/// When the data directory cannot be created or is in use by another process.
pub fn build_app(settings: &Settings) -> Result<Arc<App>, StartupError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = &settings.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            StartupError(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
    let in_use = |what: &str, e: &dyn std::fmt::Display| {
        StartupError(format!(
            "cannot open the {what} in {} ({e}); is another server using this data directory?",
            dir.display()
        ))
    };
    let store =
        EmbeddedStore::open(&dir.join("connectors.redb")).map_err(|e| in_use("store", &e))?;
    let vault = EmbeddedVault::open(&dir.join("secrets.redb"), &dir.join("vault.key"))
        .map_err(|e| in_use("vault", &e))?;
    let cursor_key = load_or_create_key(&dir.join("cursor.key")).map_err(StartupError)?;
    let providers = Providers::new(S3Settings {
        endpoint_url: settings.s3_endpoint_url.clone(),
    });
    Ok(Arc::new(App {
        store: Arc::new(store),
        vault: Arc::new(vault),
        providers: Arc::new(providers),
        cursors: CursorCodec::new(cursor_key),
        secret_prefix: settings.secret_prefix.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prefixes_and_endpoints_are_checked() {
        assert!(parse_secret_prefix("videovector/connectors").is_ok());
        assert!(parse_secret_prefix("/abs").is_err());
        assert!(parse_secret_prefix("a b").is_err());
        assert_eq!(
            parse_endpoint("http://127.0.0.1:5000/").as_deref(),
            Ok("http://127.0.0.1:5000")
        );
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("not a url").is_err());
    }
}
