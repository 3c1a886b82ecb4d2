//! Names the service itself and every provider use: the connector's display name, IAM
//! role ARNs and external IDs, and the newtype macro each provider's names are built with.
//! A provider's own names (buckets, regions, accounts) are in its folder under `providers`.

use super::{Invalid, Parsed, reject_control_chars};

/// Declares a string newtype that (de)serialises through its `parse` constructor.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::Invalid;
            fn try_from(s: String) -> $crate::domain::Parsed<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use string_newtype;

string_newtype!(
    /// A connector's display name: 1-100 characters after trimming, no control characters.
    ConnectorName
);

impl ConnectorName {
    /// # Errors
    /// When the trimmed name is empty, longer than 100 characters or has a control character.
    pub fn parse(s: &str) -> Parsed<Self> {
        let trimmed = s.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > 100 {
            return Err(Invalid::new("must be 1-100 characters after trimming"));
        }
        reject_control_chars(trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }
}

/// Whether a name reads as an IPv4 address, which bucket rules refuse.
pub(crate) fn is_ipv4_like(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Whether a lowercase text is a DNS domain name of at least two labels with an alphabetic
/// top-level label (`contoso.onmicrosoft.com`, `example.com`).
pub(crate) fn is_domain_name(lower: &str) -> bool {
    let labels: Vec<&str> = lower.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_alpha = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    lower.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_alpha
}

/// Whether a text is a GUID: five groups of 8, 4, 4, 4 and 12 hexadecimal digits.
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a name starts and ends with a lowercase letter or digit.
pub(crate) fn starts_and_ends_alphanumeric(s: &str) -> bool {
    let ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok(s.as_bytes().first()) && ok(s.as_bytes().last())
}

string_newtype!(
    /// An IAM role's ARN in any partition: `arn:aws:iam::111122223333:role/path/Name`.
    RoleArn
);

/// The characters IAM allows in a role's name and path segments.
fn iam_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)
}

impl RoleArn {
    /// # Errors
    /// When the text is not `arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>`
    /// with a name of 1-64 of IAM's characters, or is longer than 2048 characters.
    pub fn parse(s: &str) -> Parsed<Self> {
        let fail = || {
            Invalid::new(
                "must be an IAM role ARN such as arn:aws:iam::111122223333:role/VideoVectorAccess",
            )
        };
        if s.len() > 2048 {
            return Err(fail());
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
            return Err(fail());
        };
        let partition_ok = (3..=32).contains(&partition.len())
            && partition.starts_with("aws")
            && partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !partition.ends_with('-');
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(fail());
        };
        let segments: Vec<&str> = path_and_name.split('/').collect();
        let name = path_and_name
            .rsplit_once('/')
            .map_or(path_and_name, |(_, name)| name);
        let segments_ok = segments
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(iam_name_byte));
        if !partition_ok || !account_ok || !segments_ok || name.len() > 64 {
            return Err(fail());
        }
        Ok(Self(s.to_owned()))
    }

    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or("aws")
    }
}

string_newtype!(
    /// An external ID a role's trust policy requires: 2-1224 of the characters STS accepts.
    ExternalId
);

impl ExternalId {
    /// # Errors
    /// When the text is not 2-1224 letters, digits and `+=,.@:/-_`.
    pub fn parse(s: &str) -> Parsed<Self> {
        let ok = (2..=1224).contains(&s.len())
            && s.bytes()
                .all(|b| iam_name_byte(b) || b == b':' || b == b'/');
        if !ok {
            return Err(Invalid::new(
                "must be 2-1224 letters, digits and any of +=,.@:/-_",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_iam_roles_in_any_partition() {
        for good in [
            "arn:aws:iam::111122223333:role/VideoVectorAccess",
            "arn:aws-cn:iam::111122223333:role/media/VideoVector+Access@team",
            "arn:aws-us-gov:iam::111122223333:role/a",
            "arn:aws-iso-b:iam::111122223333:role/path/to/r_1=,.-",
        ] {
            assert!(RoleArn::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "arn:aws:iam::111122223333:user/someone",
            "arn:aws:iam::11112222333:role/short-account",
            "arn:aws:iam:us-east-1:111122223333:role/regional",
            "arn:aws:sts::111122223333:assumed-role/r/s",
            "arn:gcp:iam::111122223333:role/r",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role//double",
            "arn:aws:iam::111122223333:role/with space",
            "arn:aws:iam::111122223333:role/caf\u{e9}",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            RoleArn::parse(&format!(
                "arn:aws:iam::111122223333:role/{}",
                "r".repeat(65)
            ))
            .is_err()
        );
        assert_eq!(
            RoleArn::parse("arn:aws-cn:iam::111122223333:role/r").map(|r| r.partition().to_owned()),
            Ok("aws-cn".into())
        );
    }

    #[test]
    fn external_ids_follow_the_sts_rules() {
        assert!(ExternalId::parse("vv-0123456789abcdef").is_ok());
        assert!(ExternalId::parse("a:b/c=d,e.f@g+h_i-j").is_ok());
        assert!(ExternalId::parse("x").is_err());
        assert!(ExternalId::parse("with space").is_err());
        assert!(ExternalId::parse(&"x".repeat(1225)).is_err());
    }

    #[test]
    fn connector_names_are_trimmed_and_bounded() {
        assert_eq!(
            ConnectorName::parse("  Archive S3 ").map(String::from),
            Ok("Archive S3".into())
        );
        assert!(ConnectorName::parse("   ").is_err());
        assert!(ConnectorName::parse(&"é".repeat(100)).is_ok());
        assert!(ConnectorName::parse(&"é".repeat(101)).is_err());
        assert!(ConnectorName::parse("bad\u{7}name").is_err());
        assert!(ConnectorName::parse("bad\nname").is_err());
    }
}
