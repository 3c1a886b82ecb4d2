//! Small closed vocabularies of the contract: providers, connector scopes, import modes,
//! statuses, test results and the kinds of history events.

use serde::{Deserialize, Serialize};

use super::{Invalid, Parsed};

/// Declares a closed set of lowercase words with `parse` and `as_str`.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// # Errors
            /// When the word is not one of the set; the message lists the allowed words.
            pub fn parse(s: &str) -> Parsed<Self> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(Invalid::new(format!(
                        "must be one of: {}",
                        [$($word),+].join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// The storage provider behind a connector.
    Provider { Gcs = "gcs", S3 = "s3", Azure = "azure" }
);

word_enum!(
    /// What a connector may be used for.
    Scope { Import = "import", Export = "export" }
);

word_enum!(
    /// Whether imports take every file or only those not imported before.
    ImportMode { All = "all", NewOnly = "new_only" }
);

word_enum!(
    /// A connector's lifecycle state.
    Status { Active = "active", Testing = "testing", Failed = "failed", Disabled = "disabled" }
);

word_enum!(
    /// The outcome of the last access test.
    TestResult { Success = "success", Failure = "failure" }
);

word_enum!(
    /// What an event of a connector's history records: `updated` is a change of settings,
    /// `credentials_changed` of the way in, `credentials_rejected` new credentials that
    /// failed a check and were not saved.
    EventType {
        Created = "created",
        Updated = "updated",
        CredentialsChanged = "credentials_changed",
        CredentialsRejected = "credentials_rejected",
        Tested = "tested",
        Disabled = "disabled",
        Enabled = "enabled",
        AccessGranted = "access_granted",
        Deleted = "deleted",
    }
);

/// A non-empty set of [`Scope`]s without duplicates, always listed import first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scopes {
    import: bool,
    export: bool,
}

impl Scopes {
    pub const IMPORT_ONLY: Scopes = Scopes {
        import: true,
        export: false,
    };

    /// # Errors
    /// When the list is empty, has an unknown word or names a scope twice.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Parsed<Self> {
        if words.is_empty() {
            return Err(Invalid::new("must name at least one of: import, export"));
        }
        let mut scopes = Scopes {
            import: false,
            export: false,
        };
        for word in words {
            let slot = match Scope::parse(word.as_ref())? {
                Scope::Import => &mut scopes.import,
                Scope::Export => &mut scopes.export,
            };
            if *slot {
                return Err(Invalid::new(format!(
                    "lists '{}' more than once",
                    word.as_ref()
                )));
            }
            *slot = true;
        }
        Ok(scopes)
    }

    pub fn contains(self, scope: Scope) -> bool {
        match scope {
            Scope::Import => self.import,
            Scope::Export => self.export,
        }
    }

    pub fn to_vec(self) -> Vec<&'static str> {
        let mut v = Vec::with_capacity(2);
        if self.import {
            v.push(Scope::Import.as_str());
        }
        if self.export {
            v.push(Scope::Export.as_str());
        }
        v
    }
}

impl TryFrom<Vec<String>> for Scopes {
    type Error = Invalid;
    fn try_from(v: Vec<String>) -> Parsed<Self> {
        Self::parse(&v)
    }
}

impl From<Scopes> for Vec<String> {
    fn from(s: Scopes) -> Self {
        s.to_vec().into_iter().map(String::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_a_non_empty_set_in_canonical_order() {
        let s = Scopes::parse(&["export", "import"]).expect("valid");
        assert_eq!(s.to_vec(), vec!["import", "export"]);
        assert!(Scopes::parse::<&str>(&[]).is_err());
        assert!(Scopes::parse(&["import", "import"]).is_err());
        assert!(Scopes::parse(&["read"]).is_err());
    }

    #[test]
    fn words_parse_and_print_the_same() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Ok(*p));
        }
        assert_eq!(ImportMode::parse("new_only"), Ok(ImportMode::NewOnly));
        assert!(Status::parse("Active").is_err());
    }
}
