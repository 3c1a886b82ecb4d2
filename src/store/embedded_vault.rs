//! The embedded [`SecretVault`]: secrets encrypted with AES-256-GCM in a redb file, under a
//! key kept in a file only its owner can read (mode 0600).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use rand::RngCore;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{SecretTags, SecretVault, VaultError};
use crate::domain::connector::SecretRef;

/// `"<name>#<version>"` → sealed secret JSON.
const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");

/// Reads a 32-byte key file, or creates one with mode 0600 if it does not exist.
///
/// # Errors
/// When the file cannot be created or read, has the wrong length, or can be read by others.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32], String> {
    let shown = path.display();
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write key file {shown}: {e}"))?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create key file {shown}: {e}")),
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read key file {shown}: {e}"))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file {shown} is readable by others (mode {:o}); run: chmod 600 {shown}",
            mode & 0o777
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read key file {shown}: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("key file {shown} must hold exactly 32 bytes"))
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    tenant: String,
    connector_id: String,
    nonce: String,
    ciphertext: String,
}

/// An encrypted, file-backed vault; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedVault {
    db: Arc<Database>,
    cipher: Arc<Aes256Gcm>,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> VaultError {
    VaultError::Unavailable(Box::new(e))
}

fn row_key(name: &str, version: &str) -> String {
    format!("{name}#{version}")
}

impl EmbeddedVault {
    /// Opens the vault file, creating it and its key file when missing.
    ///
    /// # Errors
    /// When either file cannot be opened or the key file is unsafe.
    pub fn open(db_path: &Path, key_path: &Path) -> Result<Self, VaultError> {
        let key = load_or_create_key(key_path).map_err(|e| VaultError::Unavailable(e.into()))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(unavailable)?;
        let db = Database::create(db_path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(SECRETS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(Self {
            db: Arc::new(db),
            cipher: Arc::new(cipher),
        })
    }

    async fn write<T, F>(&self, f: F) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<T, VaultError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(unavailable)?;
            let out = {
                let mut t = txn.open_table(SECRETS).map_err(unavailable)?;
                f(&mut t)?
            };
            txn.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }
}

#[async_trait]
impl SecretVault for EmbeddedVault {
    async fn put(
        &self,
        name: &str,
        value: &SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError> {
        let version = crate::domain::ids::fresh_ulid("");
        let key = row_key(name, &version);
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // The row key is authenticated with the ciphertext, so a row cannot be moved.
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt("encryption failed".into()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sealed = serde_json::to_vec(&Sealed {
            tenant: tags.tenant.to_string(),
            connector_id: tags.connector_id.to_string(),
            nonce: b64.encode(nonce),
            ciphertext: b64.encode(ciphertext),
        })
        .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        self.write(move |t| {
            t.insert(key.as_str(), sealed.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await?;
        Ok(SecretRef {
            name: name.to_owned(),
            version,
        })
    }

    async fn get(&self, reference: &SecretRef) -> Result<SecretString, VaultError> {
        let key = row_key(&reference.name, &reference.version);
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(SECRETS).map_err(unavailable)?;
        let row = t
            .get(key.as_str())
            .map_err(unavailable)?
            .ok_or(VaultError::NotFound)?;
        let sealed: Sealed =
            serde_json::from_slice(row.value()).map_err(|e| VaultError::Corrupt(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let corrupt = |_| VaultError::Corrupt("undecodable secret".into());
        let nonce = b64.decode(&sealed.nonce).map_err(corrupt)?;
        let ciphertext = b64.decode(&sealed.ciphertext).map_err(corrupt)?;
        if nonce.len() != 12 {
            return Err(VaultError::Corrupt("bad nonce".into()));
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt("secret fails authentication".into()))?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| VaultError::Corrupt("secret is not text".into()))
    }

    async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError> {
        let key = row_key(&reference.name, &reference.version);
        self.write(move |t| {
            t.remove(key.as_str()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        let (start, end) = (format!("{name}#"), format!("{name}$"));
        self.write(move |t| {
            t.retain_in(start.as_str()..end.as_str(), |_, _| false)
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn names(&self) -> Result<Vec<String>, VaultError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(SECRETS).map_err(unavailable)?;
        let mut names: Vec<String> = Vec::new();
        for row in t.iter().map_err(unavailable)? {
            let (k, _) = row.map_err(unavailable)?;
            if let Some((name, _)) = k.value().rsplit_once('#')
                && names.last().map(String::as_str) != Some(name)
            {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ConnectorId, TenantId};

    fn tags() -> SecretTags {
        SecretTags {
            tenant: TenantId::parse("acme").expect("valid"),
            connector_id: ConnectorId::generate(),
        }
    }

    #[tokio::test]
    async fn secrets_are_encrypted_at_rest_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, key) = (dir.path().join("s.redb"), dir.path().join("k"));
        let vault = EmbeddedVault::open(&db, &key).expect("open");
        let r = vault
            .put(
                "p/acme/c1",
                &SecretString::from("hunter2-plaintext".to_owned()),
                &tags(),
            )
            .await
            .expect("put");
        assert_eq!(
            vault.get(&r).await.expect("get").expose_secret(),
            "hunter2-plaintext"
        );
        drop(vault);
        let raw = std::fs::read(&db).expect("read file");
        assert!(!raw.windows(17).any(|w| w == b"hunter2-plaintext"));
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let reopened = EmbeddedVault::open(&db, &key).expect("reopen");
        assert_eq!(
            reopened.get(&r).await.expect("get").expose_secret(),
            "hunter2-plaintext"
        );
    }

    #[tokio::test]
    async fn deleting_a_secret_removes_every_version_and_only_that_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault =
            EmbeddedVault::open(&dir.path().join("s"), &dir.path().join("k")).expect("open");
        let v = SecretString::from("x".to_owned());
        let a1 = vault.put("p/t/a", &v, &tags()).await.expect("put");
        vault.put("p/t/a", &v, &tags()).await.expect("put");
        let b = vault.put("p/t/ab", &v, &tags()).await.expect("put");
        assert_eq!(vault.names().await.expect("names"), vec!["p/t/a", "p/t/ab"]);
        vault.delete("p/t/a").await.expect("delete");
        assert!(matches!(vault.get(&a1).await, Err(VaultError::NotFound)));
        assert!(vault.get(&b).await.is_ok());
        assert_eq!(vault.names().await.expect("names"), vec!["p/t/ab"]);
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        std::fs::write(&path, [0u8; 32]).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(
            load_or_create_key(&path)
                .expect_err("refused")
                .contains("chmod 600")
        );
    }
}
