//! Provider credentials. They live only inside `secrecy` wrappers, print as redacted in
//! `Debug`, and are turned into bytes for the secret vault and nowhere else.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::names::{AzureTenant, Guid};
use super::scopes::Provider;
use super::{Invalid, Parsed};

/// The largest service-account key file accepted, in bytes.
pub const MAX_KEY_FILE_BYTES: usize = 64 * 1024;

/// The only token endpoint a service-account key may name.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Shows the first and last four characters of an identifier, e.g. `AKIA…WXYZ`.
pub fn mask(identifier: &str) -> String {
    let chars: Vec<char> = identifier.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn secret_text(s: &str, what: &str, max: usize) -> Parsed<SecretString> {
    if s.is_empty() || s.len() > max {
        return Err(Invalid::new(format!("{what} must be 1-{max} characters")));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Invalid::new(format!(
            "{what} must be printable ASCII without spaces"
        )));
    }
    Ok(SecretString::from(s.to_owned()))
}

/// An AWS access key pair.
#[derive(Clone)]
pub struct S3Credentials {
    access_key_id: String,
    secret_access_key: SecretString,
}

impl S3Credentials {
    /// # Errors
    /// When the key id is not 16-128 uppercase letters and digits, or the secret is not
    /// 1-128 printable characters. Messages never repeat the values.
    pub fn parse(
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Self, (&'static str, Invalid)> {
        if !(16..=128).contains(&access_key_id.len())
            || !access_key_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err((
                "aws_access_key_id",
                Invalid::new("must be 16-128 uppercase letters and digits"),
            ));
        }
        let secret = secret_text(secret_access_key, "the secret access key", 128)
            .map_err(|e| ("aws_secret_access_key", e))?;
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret,
        })
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &SecretString {
        &self.secret_access_key
    }
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &mask(&self.access_key_id))
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// An Entra ID service principal allowed to read or write the storage account.
#[derive(Clone)]
pub struct AzureCredentials {
    pub tenant_id: AzureTenant,
    pub client_id: Guid,
    client_secret: SecretString,
}

impl AzureCredentials {
    /// # Errors
    /// When the client secret is not 1-256 printable characters.
    pub fn new(tenant_id: AzureTenant, client_id: Guid, client_secret: &str) -> Parsed<Self> {
        let client_secret = parse_client_secret(client_secret)?;
        Ok(Self {
            tenant_id,
            client_id,
            client_secret,
        })
    }

    pub fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }

    /// A copy with some parts replaced, for credential rotation.
    pub fn rotated(
        &self,
        tenant_id: Option<AzureTenant>,
        client_id: Option<Guid>,
        client_secret: Option<SecretString>,
    ) -> Self {
        Self {
            tenant_id: tenant_id.unwrap_or_else(|| self.tenant_id.clone()),
            client_id: client_id.unwrap_or_else(|| self.client_id.clone()),
            client_secret: client_secret.unwrap_or_else(|| self.client_secret.clone()),
        }
    }
}

/// Parses an Entra ID client secret on its own (rotation may send only this).
///
/// # Errors
/// When it is not 1-256 printable characters.
pub fn parse_client_secret(s: &str) -> Parsed<SecretString> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(Invalid::new(
            "must be 1-256 characters without control characters",
        ));
    }
    Ok(SecretString::from(s.to_owned()))
}

impl std::fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
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

/// The credentials of one connector, of its provider's kind.
#[derive(Clone, Debug)]
pub enum Credentials {
    S3(S3Credentials),
    Gcs(GcsServiceAccount),
    Azure(AzureCredentials),
}

/// The vault's view of credentials: only ever built to be serialised into a secret.
#[derive(Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
enum Payload {
    S3 {
        aws_access_key_id: String,
        aws_secret_access_key: String,
    },
    Gcs {
        credentials_json: String,
    },
    Azure {
        tenant_id: String,
        client_id: String,
        client_secret: String,
    },
}

impl Credentials {
    pub fn provider(&self) -> Provider {
        match self {
            Credentials::S3(_) => Provider::S3,
            Credentials::Gcs(_) => Provider::Gcs,
            Credentials::Azure(_) => Provider::Azure,
        }
    }

    /// A masked identity that is safe to show: `AKIA…WXYZ`, the service account's email, or
    /// the masked client id.
    pub fn hint(&self) -> String {
        match self {
            Credentials::S3(c) => mask(c.access_key_id()),
            Credentials::Gcs(c) => c.client_email().to_owned(),
            Credentials::Azure(c) => mask(c.client_id.as_str()),
        }
    }

    /// The bytes the vault stores.
    ///
    /// # Errors
    /// When they do not serialise (a bug): never an empty secret.
    pub fn to_secret(&self) -> Result<SecretString, Invalid> {
        let payload = match self {
            Credentials::S3(c) => Payload::S3 {
                aws_access_key_id: c.access_key_id.clone(),
                aws_secret_access_key: c.secret_access_key.expose_secret().to_owned(),
            },
            Credentials::Gcs(c) => Payload::Gcs {
                credentials_json: c.key_json.expose_secret().to_owned(),
            },
            Credentials::Azure(c) => Payload::Azure {
                tenant_id: c.tenant_id.to_string(),
                client_id: c.client_id.to_string(),
                client_secret: c.client_secret.expose_secret().to_owned(),
            },
        };
        serde_json::to_string(&payload)
            .map(SecretString::from)
            .map_err(|e| Invalid::new(format!("credentials cannot be stored: {e}")))
    }

    /// Reads credentials back from the vault's bytes.
    ///
    /// # Errors
    /// When the stored secret is not a payload this version understands.
    pub fn from_secret(secret: &SecretString) -> Parsed<Self> {
        let payload: Payload = serde_json::from_str(secret.expose_secret())
            .map_err(|_| Invalid::new("stored credentials are unreadable"))?;
        let unreadable = |_| Invalid::new("stored credentials are invalid");
        Ok(match payload {
            Payload::S3 {
                aws_access_key_id,
                aws_secret_access_key,
            } => Credentials::S3(
                S3Credentials::parse(&aws_access_key_id, &aws_secret_access_key)
                    .map_err(|(_, e)| e)?,
            ),
            Payload::Gcs { credentials_json } => {
                Credentials::Gcs(GcsServiceAccount::parse(credentials_json.as_bytes())?)
            }
            Payload::Azure {
                tenant_id,
                client_id,
                client_secret,
            } => Credentials::Azure(AzureCredentials::new(
                AzureTenant::parse(&tenant_id).map_err(unreadable)?,
                Guid::parse(&client_id).map_err(unreadable)?,
                &client_secret,
            )?),
        })
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

    /// A key id made at run time, so no literal key id is ever committed.
    fn key_id() -> String {
        format!("{}{}", "AKIA", "ABCDEFGHIJKLWXYZ")
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let s3 = S3Credentials::parse(&key_id(), "very-secret-value").expect("valid");
        let shown = format!("{:?}", Credentials::S3(s3.clone()));
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains(&key_id()));
        assert_eq!(Credentials::S3(s3).hint(), "AKIA…WXYZ");
    }

    #[test]
    fn credentials_round_trip_through_the_secret_payload() {
        let s3 = Credentials::S3(S3Credentials::parse(&key_id(), "s3cr3t").expect("valid"));
        let back = Credentials::from_secret(&s3.to_secret().expect("storable")).expect("readable");
        match back {
            Credentials::S3(c) => assert_eq!(c.secret_access_key().expose_secret(), "s3cr3t"),
            other => panic!("wrong provider: {other:?}"),
        }
    }
}
