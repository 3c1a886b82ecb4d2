//! An S3 connector's stored credentials: an AWS access key pair.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::credentials::mask;
use crate::domain::names::RoleArn;
use crate::domain::{Invalid, Parsed};

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

    /// The keys as the AWS SDK signs with them.
    pub fn sdk_credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id(),
            secrecy::ExposeSecret::expose_secret(self.secret_access_key()),
            None,
            None,
            "connector",
        )
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

/// The key pair as the vault keeps it.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    aws_access_key_id: String,
    aws_secret_access_key: String,
}

impl S3Credentials {
    /// The form the vault keeps.
    pub fn to_stored(&self) -> Stored {
        Stored {
            aws_access_key_id: self.access_key_id.clone(),
            aws_secret_access_key: self.secret_access_key.expose_secret().to_owned(),
        }
    }

    /// # Errors
    /// When the stored pair no longer parses.
    pub fn from_stored(s: &Stored) -> Parsed<Self> {
        Self::parse(&s.aws_access_key_id, &s.aws_secret_access_key).map_err(|(_, e)| e)
    }

    /// A masked identity that is safe to show: `AKIA…WXYZ`.
    pub fn hint(&self) -> String {
        mask(&self.access_key_id)
    }
}

/// One way into an S3 bucket, as a create or a PATCH gives it.
#[derive(Debug)]
pub enum S3Access {
    Keys(S3Credentials),
    Role(RoleArn),
}
