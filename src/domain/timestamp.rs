//! Instants on the wire: RFC 3339 UTC with whole seconds (`2026-04-07T12:30:05Z`).

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{Invalid, Parsed};

/// A UTC instant truncated to whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_unix(OffsetDateTime::now_utc().unix_timestamp())
    }

    pub fn from_unix(seconds: i64) -> Self {
        Self(OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The instant `seconds` later (saturating far in the future).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self::from_unix(self.unix().saturating_add(seconds))
    }

    /// # Errors
    /// When the text is not an RFC 3339 instant.
    pub fn parse(s: &str) -> Parsed<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Self::from_unix(t.unix_timestamp()))
            .map_err(|_| Invalid::new("must be an RFC 3339 instant"))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(std::fmt::Error),
        }
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> Self {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_utc_with_whole_seconds() {
        let t = Timestamp::parse("2026-04-07T14:30:05.123+02:00").expect("valid");
        assert_eq!(t.to_string(), "2026-04-07T12:30:05Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
    }
}
