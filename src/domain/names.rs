//! Names the providers impose rules on: buckets, regions, accounts, containers, GUIDs,
//! tenants of Entra ID, GCP projects, and the connector's own display name.

use serde::{Deserialize, Serialize};

use super::{Invalid, Parsed, reject_control_chars};

/// Declares a string newtype that (de)serialises through its `parse` constructor.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Parsed<Self> {
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

fn is_ipv4_like(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn starts_and_ends_alphanumeric(s: &str) -> bool {
    let ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok(s.as_bytes().first()) && ok(s.as_bytes().last())
}

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

string_newtype!(
    /// An Azure storage account name: 3-24 lowercase letters and digits.
    StorageAccount
);

impl StorageAccount {
    /// # Errors
    /// When the name is not 3-24 lowercase letters and digits.
    pub fn parse(s: &str) -> Parsed<Self> {
        if !(3..=24).contains(&s.len())
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(Invalid::new("must be 3-24 lowercase letters and digits"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// An Azure Blob container name, or one of the reserved `$root`, `$web`, `$logs`.
    ContainerName
);

impl ContainerName {
    /// # Errors
    /// When the name breaks an Azure container naming rule.
    pub fn parse(s: &str) -> Parsed<Self> {
        if matches!(s, "$root" | "$web" | "$logs") {
            return Ok(Self(s.to_owned()));
        }
        if !(3..=63).contains(&s.len()) {
            return Err(Invalid::new("must be 3-63 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Invalid::new(
                "may contain only lowercase letters, digits and '-'",
            ));
        }
        if !starts_and_ends_alphanumeric(s) {
            return Err(Invalid::new("must start and end with a letter or digit"));
        }
        if s.contains("--") {
            return Err(Invalid::new("must not contain consecutive '-'"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// A GUID in its 8-4-4-4-12 hexadecimal form, kept lowercase.
    Guid
);

impl Guid {
    /// # Errors
    /// When the text is not a GUID.
    pub fn parse(s: &str) -> Parsed<Self> {
        let groups: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip(lens)
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(Invalid::new(
                "must be a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47",
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}

string_newtype!(
    /// An Entra ID (Azure AD) tenant: a GUID or a verified domain such as
    /// `contoso.onmicrosoft.com`.
    AzureTenant
);

impl AzureTenant {
    /// # Errors
    /// When the text is neither a GUID nor a domain name.
    pub fn parse(s: &str) -> Parsed<Self> {
        if let Ok(guid) = Guid::parse(s) {
            return Ok(Self(guid.0));
        }
        let lower = s.to_ascii_lowercase();
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
        if lower.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_alpha {
            return Err(Invalid::new(
                "must be a tenant GUID or a verified domain such as contoso.onmicrosoft.com",
            ));
        }
        Ok(Self(lower))
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
            Some((domain, local)) if AzureTenant::parse(domain).is_ok() => local,
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

    #[test]
    fn storage_accounts_and_containers_follow_the_azure_rules() {
        assert!(StorageAccount::parse("mediastore01").is_ok());
        assert!(StorageAccount::parse("Media").is_err());
        assert!(StorageAccount::parse("ab").is_err());
        assert!(StorageAccount::parse(&"a".repeat(25)).is_err());
        assert!(ContainerName::parse("raw-footage").is_ok());
        assert!(ContainerName::parse("$web").is_ok());
        assert!(ContainerName::parse("raw--footage").is_err());
        assert!(ContainerName::parse("-raw").is_err());
        assert!(ContainerName::parse("Raw").is_err());
    }

    #[test]
    fn guids_and_tenants_are_recognised() {
        let g = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
        assert_eq!(Guid::parse(g).map(String::from), Ok(g.to_ascii_lowercase()));
        assert!(Guid::parse("72f988bf86f141af91ab2d7cd011db47").is_err());
        assert!(AzureTenant::parse(g).is_ok());
        assert!(AzureTenant::parse("contoso.onmicrosoft.com").is_ok());
        assert!(AzureTenant::parse("contoso").is_err());
        assert!(AzureTenant::parse("http://evil.example/").is_err());
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
