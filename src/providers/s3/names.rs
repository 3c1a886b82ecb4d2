//! The names S3 imposes rules on: bucket names and region codes.

use crate::domain::names::{is_ipv4_like, starts_and_ends_alphanumeric, string_newtype};
use crate::domain::{Invalid, Parsed};

string_newtype!(
    /// An Amazon S3 bucket name under the general-purpose bucket naming rules.
    S3BucketName
);

impl S3BucketName {
    /// # Errors
    /// When the name breaks an S3 bucket naming rule; the message names the rule.
    pub fn parse(s: &str) -> Parsed<Self> {
        if !(3..=63).contains(&s.len()) {
            return Err(Invalid::new("must be 3-63 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(Invalid::new(
                "may contain only lowercase letters, digits, '.' and '-'",
            ));
        }
        if !starts_and_ends_alphanumeric(s) {
            return Err(Invalid::new("must start and end with a letter or digit"));
        }
        // AWS's current rules refuse only adjacent periods; `my.-bucket` is a valid name.
        if s.contains("..") {
            return Err(Invalid::new("must not contain two adjacent periods"));
        }
        if is_ipv4_like(s) {
            return Err(Invalid::new("must not be formatted as an IP address"));
        }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
            if s.starts_with(prefix) {
                return Err(Invalid::new(format!("must not start with '{prefix}'")));
            }
        }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
            if s.ends_with(suffix) {
                return Err(Invalid::new(format!("must not end with '{suffix}'")));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// An AWS region code such as `us-east-1`, `eu-central-2` or `us-gov-west-1`.
    AwsRegion
);

impl AwsRegion {
    /// A region as S3-compatible services name theirs (R2's `auto`, B2's `us-west-004`,
    /// a Ceph zone group): 1-32 lowercase letters, digits and `-`, starting with a letter
    /// or digit. Every AWS region code is one; stored records are read with this rule.
    ///
    /// # Errors
    /// When the text breaks that rule.
    pub fn parse(s: &str) -> Parsed<Self> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Invalid::new(
                "must be 1-32 lowercase letters, digits and '-' (such as auto or us-east-1)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// # Errors
    /// When the text is not shaped like an AWS region code.
    pub fn parse_aws(s: &str) -> Parsed<Self> {
        let fail = || Invalid::new("must be an AWS region code such as us-east-1");
        let parts: Vec<&str> = s.split('-').collect();
        if s.len() > 32 || !(3..=5).contains(&parts.len()) {
            return Err(fail());
        }
        let (first, rest) = parts.split_first().ok_or_else(fail)?;
        let (number, middle) = rest.split_last().ok_or_else(fail)?;
        let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        if first.len() != 2 || !letters(first) || !middle.iter().all(|p| letters(p)) {
            return Err(fail());
        }
        if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail());
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_bucket_names_follow_the_aws_rules() {
        for good in [
            "media-archive",
            "abc",
            "a.b.c",
            "my-bucket-2026",
            "my.-bucket",
            "my-.bucket",
        ] {
            assert!(S3BucketName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Media",
            "media_archive",
            "-media",
            "media-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "sthree-x",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "amzn-s3-demo-bucket",
        ] {
            assert!(S3BucketName::parse(bad).is_err(), "{bad}");
        }
        assert!(S3BucketName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn region_codes_are_recognised() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
            "cn-north-1",
        ] {
            assert!(AwsRegion::parse_aws(good).is_ok(), "{good}");
            assert!(AwsRegion::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-123",
            "u-east-1",
            "us--1",
        ] {
            assert!(AwsRegion::parse_aws(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compatible_services_regions_are_accepted_where_an_endpoint_is_named() {
        for good in ["auto", "us-west-004", "default", "us-east-1", "eu2"] {
            assert!(AwsRegion::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-auto",
            "Auto",
            "us east",
            "a".repeat(33).as_str(),
            "us_east",
        ] {
            assert!(AwsRegion::parse(bad).is_err(), "{bad}");
        }
        assert!(AwsRegion::parse_aws("auto").is_err());
    }
}
