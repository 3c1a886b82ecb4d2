//! Identifiers: connector ids (`conn_` + lowercase ULID) and tenant (account) ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{Invalid, Parsed};

const CONNECTOR_PREFIX: &str = "conn_";

/// `prefix` followed by a fresh ULID in lowercase: the shape of every id the service
/// mints (`conn_…`, `key_…`, `req_…`), sortable by creation time.
pub fn fresh_ulid(prefix: &str) -> String {
    let mut buf = [0u8; ulid::ULID_LEN];
    let text = Ulid::new().array_to_str(&mut buf);
    text.make_ascii_lowercase();
    let mut id = String::with_capacity(prefix.len() + text.len());
    id.push_str(prefix);
    id.push_str(text);
    id
}

/// A connector id: `conn_` followed by a lowercase ULID, so ids sort by creation time.
///
/// The ULID is kept decoded too, a 128-bit number that indexes in memory without text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectorId {
    text: String,
    ulid: Ulid,
}

impl ConnectorId {
    /// A fresh id for a connector created now.
    pub fn generate() -> Self {
        let ulid = Ulid::new();
        let mut text = format!("{CONNECTOR_PREFIX}{ulid}");
        text.make_ascii_lowercase();
        Self { text, ulid }
    }

    /// Parses an id as it appears in a path or a stored record.
    ///
    /// # Errors
    /// When the text is not `conn_` followed by a valid ULID.
    pub fn parse(s: &str) -> Parsed<Self> {
        let ulid = s
            .strip_prefix(CONNECTOR_PREFIX)
            .ok_or_else(|| Invalid::new("must start with conn_"))?;
        match Ulid::from_string(ulid) {
            Ok(parsed) if ulid.len() == 26 => Ok(Self {
                text: s.to_ascii_lowercase(),
                ulid: parsed,
            }),
            _ => Err(Invalid::new("is not a connector id")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id's ULID, which identifies the connector as the text does.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }
}

impl TryFrom<String> for ConnectorId {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

impl From<ConnectorId> for String {
    fn from(id: ConnectorId) -> Self {
        id.text
    }
}

impl fmt::Display for ConnectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An account (tenant): 1-64 characters of lowercase letters, digits, `-` and `_`.
///
/// Tenants appear in storage keys and secret names, so the alphabet is kept narrow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// # Errors
    /// When the text is empty, longer than 64 characters or outside `[a-z0-9_-]`.
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.is_empty() || s.len() > 64 {
            return Err(Invalid::new("must be 1-64 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(Invalid::new(
                "may contain only lowercase letters, digits, '-' and '_'",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_connector_ids_parse_back_and_sort_by_creation() {
        let a = ConnectorId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ConnectorId::generate();
        assert_eq!(ConnectorId::parse(a.as_str()), Ok(a.clone()));
        assert!(a < b);
    }

    #[test]
    fn an_id_given_in_capitals_is_the_same_connector() {
        let id = ConnectorId::generate();
        let shouted = format!("conn_{}", id.ulid());
        assert_ne!(shouted, id.as_str());
        assert_eq!(ConnectorId::parse(&shouted), Ok(id));
    }

    #[test]
    fn connector_ids_without_prefix_or_with_a_bad_ulid_are_refused() {
        assert!(ConnectorId::parse("01jd8x0k6m3q4r5s6t7v8w9xyz").is_err());
        assert!(ConnectorId::parse("conn_123").is_err());
        assert!(ConnectorId::parse("conn_01jd8x0k6m3q4r5s6t7v8w9xy!").is_err());
    }

    #[test]
    fn tenant_ids_are_narrow() {
        assert!(TenantId::parse("local").is_ok());
        assert!(TenantId::parse("acme_co-2").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }
}
