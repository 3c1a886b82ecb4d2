//! A GCS connector's ways in: a stored service-account key file, checked to sign; or,
//! with nothing stored, the account's own service account from the operator's pool.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::{Invalid, Parsed};

/// The largest service-account key file accepted, in bytes.
pub const MAX_KEY_FILE_BYTES: usize = 64 * 1024;

/// The only token endpoint a service-account key may name.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A keyless connector's way in: the service account the operator's pool gave its
/// account, which the customer granted a bucket role. The record keeps only its email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GcsIdentity {
    pub service_account_email: String,
}

/// A Google service-account key file, checked to be one that can actually sign.
#[derive(Clone)]
pub struct GcsServiceAccount {
    key_json: SecretString,
    client_email: String,
    project_id: Option<String>,
}

#[derive(Deserialize)]
struct KeyFileFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<SecretString>,
    private_key_id: Option<String>,
    project_id: Option<String>,
    token_uri: Option<String>,
}

impl GcsServiceAccount {
    /// Parses and checks a service-account key: `type` is `service_account`, it has a
    /// `client_email` and `private_key_id`, the `private_key` is a PKCS#8 RSA key that signs,
    /// and any `token_uri` is Google's own.
    ///
    /// # Errors
    /// Naming the first problem found, never quoting key material.
    pub fn parse(key_file: &[u8]) -> Parsed<Self> {
        if key_file.len() > MAX_KEY_FILE_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {} KiB",
                MAX_KEY_FILE_BYTES / 1024
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(key_file)
            .map_err(|_| Invalid::new("is not valid JSON (expected a service-account key file)"))?;
        if !value.is_object() {
            return Err(Invalid::new(
                "must be a JSON object (a service-account key file)",
            ));
        }
        let fields: KeyFileFields = serde_json::from_value(value.clone()).map_err(|_| {
            Invalid::new("has a field of the wrong type (expected a service-account key file)")
        })?;
        if fields.kind.as_deref() != Some("service_account") {
            return Err(Invalid::new("must have \"type\": \"service_account\""));
        }
        let client_email = fields
            .client_email
            .filter(|e| e.contains('@') && e.len() <= 254 && !e.chars().any(char::is_control))
            .ok_or_else(|| Invalid::new("must have a client_email"))?;
        if fields
            .private_key_id
            .is_none_or(|id| id.is_empty() || id.len() > 128)
        {
            return Err(Invalid::new("must have a private_key_id"));
        }
        match fields.token_uri.as_deref() {
            None | Some(GOOGLE_TOKEN_URI) => {}
            Some(_) => {
                return Err(Invalid::new(format!(
                    "token_uri must be {GOOGLE_TOKEN_URI}; other token endpoints are refused"
                )));
            }
        }
        let private_key = fields
            .private_key
            .ok_or_else(|| Invalid::new("must have a private_key"))?;
        check_signing_key(private_key.expose_secret())?;
        let key_json = SecretString::from(value.to_string());
        Ok(Self {
            key_json,
            client_email,
            project_id: fields.project_id,
        })
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    pub fn key_json(&self) -> &SecretString {
        &self.key_json
    }
}

/// The PEM label of a PKCS#1 RSA key (spelled in two parts, so no line reads like a key).
const PKCS1_LABEL: &str = concat!("RSA PRIVATE", " KEY-----");

/// Proves that a PEM private key is PKCS#8 RSA and produces a signature with it.
fn check_signing_key(pem: &str) -> Parsed<()> {
    use aws_lc_rs::{rand::SystemRandom, signature};
    use rustls_pki_types::{PrivatePkcs8KeyDer, pem::PemObject};

    if pem.contains(PKCS1_LABEL) {
        return Err(Invalid::new(
            "private_key is a PKCS#1 RSA key; use the PKCS#8 key file Google issues",
        ));
    }
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| Invalid::new("private_key is not a PEM-encoded PKCS#8 key"))?;
    let pair = signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|_| Invalid::new("private_key is not a usable RSA key"))?;
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        b"videovector connector key check",
        &mut sig,
    )
    .map_err(|_| Invalid::new("private_key cannot sign"))?;
    Ok(())
}

impl std::fmt::Debug for GcsServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsServiceAccount")
            .field("client_email", &self.client_email)
            .field("key_json", &"[redacted]")
            .finish()
    }
}

/// The key file as the vault keeps it.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    credentials_json: String,
}

impl GcsServiceAccount {
    /// The form the vault keeps.
    pub fn to_stored(&self) -> Stored {
        Stored {
            credentials_json: self.key_json.expose_secret().to_owned(),
        }
    }

    /// # Errors
    /// When the stored key file no longer parses.
    pub fn from_stored(s: &Stored) -> Parsed<Self> {
        Self::parse(s.credentials_json.as_bytes())
    }

    /// The identity that is safe to show: the service account's email.
    pub fn hint(&self) -> String {
        self.client_email.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key_pem() -> String {
        use aws_lc_rs::encoding::AsDer;
        use base64::Engine;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("generate key");
        let der = pair.as_der().expect("pkcs8 der");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        let label = "PRIVATE KEY";
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn key_file(pem: &str, token_uri: &str) -> Vec<u8> {
        serde_json::json!({
            "type": "service_account",
            "project_id": "media-prod-1",
            "private_key_id": "abc123",
            "private_key": pem,
            "client_email": "importer@media-prod-1.iam.gserviceaccount.com",
            "token_uri": token_uri,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_real_service_account_key_is_accepted() {
        let sa = GcsServiceAccount::parse(&key_file(&test_key_pem(), GOOGLE_TOKEN_URI))
            .expect("valid key");
        assert_eq!(
            sa.client_email(),
            "importer@media-prod-1.iam.gserviceaccount.com"
        );
        assert_eq!(sa.project_id(), Some("media-prod-1"));
    }

    #[test]
    fn a_key_pointing_at_another_token_endpoint_is_refused() {
        let err = GcsServiceAccount::parse(&key_file(&test_key_pem(), "http://127.0.0.1:9/token"))
            .expect_err("refused");
        assert!(err.0.contains("token_uri"));
    }

    #[test]
    fn a_key_that_cannot_sign_is_refused_without_quoting_it() {
        let label = "PRIVATE KEY";
        let pem = format!("-----BEGIN {label}-----\nTUlJQ2VnSUJBREFO\n-----END {label}-----\n");
        let err = GcsServiceAccount::parse(&key_file(&pem, GOOGLE_TOKEN_URI)).expect_err("refused");
        assert!(!err.0.contains("TUlJ"));
        let label = "RSA PRIVATE KEY";
        let pkcs1 = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
        let err =
            GcsServiceAccount::parse(&key_file(&pkcs1, GOOGLE_TOKEN_URI)).expect_err("refused");
        assert!(err.0.contains("PKCS#1"));
    }

    #[test]
    fn key_files_of_the_wrong_type_or_shape_are_refused() {
        assert!(GcsServiceAccount::parse(b"not json").is_err());
        assert!(GcsServiceAccount::parse(b"[1]").is_err());
        assert!(GcsServiceAccount::parse(br#"{"type":"authorized_user"}"#).is_err());
        assert!(GcsServiceAccount::parse(&vec![b' '; MAX_KEY_FILE_BYTES + 1]).is_err());
    }
}
