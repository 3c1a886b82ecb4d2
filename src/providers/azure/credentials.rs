//! An Azure connector's stored credentials: an Entra ID service principal.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::names::{AzureTenant, Guid};
use crate::domain::credentials::mask;
use crate::domain::{Invalid, Parsed};

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

    /// A principal from parts already checked (a parsed secret).
    pub fn with_secret(
        tenant_id: AzureTenant,
        client_id: Guid,
        client_secret: SecretString,
    ) -> Self {
        Self {
            tenant_id,
            client_id,
            client_secret,
        }
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

/// The service principal as the vault keeps it.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    tenant_id: String,
    client_id: String,
    client_secret: String,
}

impl AzureCredentials {
    /// The form the vault keeps.
    pub fn to_stored(&self) -> Stored {
        Stored {
            tenant_id: self.tenant_id.to_string(),
            client_id: self.client_id.to_string(),
            client_secret: self.client_secret.expose_secret().to_owned(),
        }
    }

    /// # Errors
    /// When the stored principal no longer parses.
    pub fn from_stored(s: &Stored) -> Parsed<Self> {
        let unreadable = |_| Invalid::new("stored credentials are invalid");
        Self::new(
            AzureTenant::parse(&s.tenant_id).map_err(unreadable)?,
            Guid::parse(&s.client_id).map_err(unreadable)?,
            &s.client_secret,
        )
    }

    /// A masked identity that is safe to show: the client id's ends.
    pub fn hint(&self) -> String {
        mask(self.client_id.as_str())
    }
}

/// A PATCH's new service-principal parts: any subset; the rest are kept.
#[derive(Debug)]
pub struct AzureUpdate {
    pub tenant_id: Option<AzureTenant>,
    pub client_id: Option<Guid>,
    pub client_secret: Option<SecretString>,
}

impl AzureUpdate {
    /// The stored principal with this update's parts replaced.
    pub fn applied_to(&self, old: &AzureCredentials) -> AzureCredentials {
        old.rotated(
            self.tenant_id.clone(),
            self.client_id.clone(),
            self.client_secret.clone(),
        )
    }
}
