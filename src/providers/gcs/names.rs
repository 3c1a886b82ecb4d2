//! The names Google Cloud Storage imposes rules on: bucket names and project ids.

use crate::domain::names::{
    is_domain_name, is_guid, is_ipv4_like, starts_and_ends_alphanumeric, string_newtype,
};
use crate::domain::{Invalid, Parsed};

string_newtype!(
    /// A Google Cloud Storage bucket name.
    GcsBucketName
);

impl GcsBucketName {
    /// # Errors
    /// When the name breaks a GCS bucket naming rule; the message names the rule.
    pub fn parse(s: &str) -> Parsed<Self> {
        if !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        }) {
            return Err(Invalid::new(
                "may contain only lowercase letters, digits, '-', '_' and '.'",
            ));
        }
        let max = if s.contains('.') { 222 } else { 63 };
        if s.len() < 3 || s.len() > max {
            return Err(Invalid::new(
                "must be 3-63 characters (up to 222 when it contains dots)",
            ));
        }
        if s.split('.')
            .any(|label| label.is_empty() || label.len() > 63)
        {
            return Err(Invalid::new(
                "each dot-separated part must be 1-63 characters",
            ));
        }
        if !starts_and_ends_alphanumeric(s) {
            return Err(Invalid::new("must start and end with a letter or digit"));
        }
        if is_ipv4_like(s) {
            return Err(Invalid::new("must not be formatted as an IP address"));
        }
        if s.starts_with("goog") || s.contains("google") || s.contains("g00gle") {
            return Err(Invalid::new(
                "must not start with 'goog' or contain 'google'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// A Google Cloud project id: 6-30 characters of lowercase letters, digits and `-`,
    /// starting with a letter and not ending with `-` (optionally `domain.com:` scoped).
    GcpProjectId
);

impl GcpProjectId {
    /// # Errors
    /// When the text breaks the project id rules.
    pub fn parse(s: &str) -> Parsed<Self> {
        let local = match s.rsplit_once(':') {
            // A domain as an Entra ID tenant may be named: a GUID or a domain name.
            Some((domain, local))
                if is_guid(domain) || is_domain_name(&domain.to_ascii_lowercase()) =>
            {
                local
            }
            Some(_) => return Err(Invalid::new("has a malformed domain prefix")),
            None => s,
        };
        let ok = (6..=30).contains(&local.len())
            && local.starts_with(|c: char| c.is_ascii_lowercase())
            && !local.ends_with('-')
            && local
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Invalid::new(
                "must be 6-30 lowercase letters, digits or '-', starting with a letter",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcs_bucket_names_follow_the_google_rules() {
        for good in ["media_archive", "my-bucket", "a.b.example.com"] {
            assert!(GcsBucketName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "goog-bucket",
            "my-google-bucket",
            "_abc",
            "ab",
            "UPPER",
            "10.0.0.1",
        ] {
            assert!(GcsBucketName::parse(bad).is_err(), "{bad}");
        }
        assert!(GcsBucketName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn gcp_project_ids_are_recognised() {
        assert!(GcpProjectId::parse("media-prod-123").is_ok());
        assert!(GcpProjectId::parse("example.com:media-prod").is_ok());
        assert!(GcpProjectId::parse("1media").is_err());
        assert!(GcpProjectId::parse("short").is_err());
        assert!(GcpProjectId::parse("media-prod-").is_err());
    }
}
