//! The names Azure imposes rules on: storage accounts, containers, GUIDs and Entra ID
//! tenants.

use crate::domain::names::{is_domain_name, is_guid, starts_and_ends_alphanumeric, string_newtype};
use crate::domain::{Invalid, Parsed};

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
        if !is_guid(s) {
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
        if !is_domain_name(&lower) {
            return Err(Invalid::new(
                "must be a tenant GUID or a verified domain such as contoso.onmicrosoft.com",
            ));
        }
        Ok(Self(lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
