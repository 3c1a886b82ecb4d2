//! Properties of every domain parser, over generated input: no input makes one panic, and
//! whatever one accepts prints to text that parses back to the same value.

use proptest::prelude::*;

use super::apikey::{KeyHash, KeyScope, looks_like_key};
use super::ids::{ConnectorId, TenantId};
use super::names::ConnectorName;
use super::paths::{BrowsePrefix, ExportBasePath};
use super::scopes::{ImportMode, Provider, Scope, Scopes, Status};
use super::timestamp::Timestamp;
use crate::providers::azure::credentials::parse_client_secret;
use crate::providers::azure::names::{AzureTenant, ContainerName, Guid, StorageAccount};
use crate::providers::gcs::credentials::GcsServiceAccount;
use crate::providers::gcs::names::{GcpProjectId, GcsBucketName};
use crate::providers::s3::credentials::S3Credentials;
use crate::providers::s3::names::{AwsRegion, S3BucketName};

/// Text shaped like the values these parsers see: their alphabets, separators, and a few
/// characters from outside them (upper case, Unicode, controls).
fn near_valid() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.\\-_]{0,70}",
        "[a-zA-Z0-9.\\-_:/ ]{0,70}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[a-z]{2}(-[a-z]{2,9}){1,3}-[0-9]{1,3}",
        "conn_[0-9a-zA-Z]{24,28}",
        "(\\.\\.|\\.|[a-zé_\\-]{1,6}|/|\\\\|%2e|．){0,12}",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

/// Parses `s`; if it is accepted, printing and parsing again gives the same text.
macro_rules! round_trips {
    ($parse:expr, $print:expr, $s:expr) => {{
        if let Ok(value) = $parse($s) {
            let printed = $print(&value).to_owned();
            let again = $parse(&printed).expect("printed text parses");
            prop_assert_eq!($print(&again), printed.as_str());
        }
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn names_and_ids_round_trip_and_never_panic(s in near_valid()) {
        round_trips!(ConnectorName::parse, ConnectorName::as_str, &s);
        round_trips!(S3BucketName::parse, S3BucketName::as_str, &s);
        round_trips!(GcsBucketName::parse, GcsBucketName::as_str, &s);
        round_trips!(AwsRegion::parse, AwsRegion::as_str, &s);
        round_trips!(AwsRegion::parse_aws, AwsRegion::as_str, &s);
        round_trips!(StorageAccount::parse, StorageAccount::as_str, &s);
        round_trips!(ContainerName::parse, ContainerName::as_str, &s);
        round_trips!(Guid::parse, Guid::as_str, &s);
        round_trips!(AzureTenant::parse, AzureTenant::as_str, &s);
        round_trips!(GcpProjectId::parse, GcpProjectId::as_str, &s);
        round_trips!(TenantId::parse, TenantId::as_str, &s);
        round_trips!(ConnectorId::parse, ConnectorId::as_str, &s);
    }

    #[test]
    fn paths_round_trip_and_never_panic(s in near_valid()) {
        round_trips!(ExportBasePath::parse, ExportBasePath::as_str, &s);
        round_trips!(BrowsePrefix::parse, BrowsePrefix::as_str, &s);
    }

    #[test]
    fn words_and_scopes_round_trip_and_never_panic(
        s in near_valid(),
        words in proptest::collection::vec("import|export|all|x|IMPORT|", 0..4),
    ) {
        round_trips!(Provider::parse, |v: &Provider| v.as_str(), &s);
        round_trips!(Scope::parse, |v: &Scope| v.as_str(), &s);
        round_trips!(ImportMode::parse, |v: &ImportMode| v.as_str(), &s);
        round_trips!(Status::parse, |v: &Status| v.as_str(), &s);
        if let Ok(scopes) = Scopes::parse(&words) {
            prop_assert_eq!(Scopes::parse(&scopes.to_vec()), Ok(scopes));
        }
        let _ = KeyScope::parse(&s);
    }

    #[test]
    fn timestamps_round_trip_and_never_panic(s in near_valid(), seconds in any::<i64>()) {
        if let Ok(t) = Timestamp::parse(&s) {
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }
        let t = Timestamp::from_unix(seconds);
        prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        prop_assert_eq!(Timestamp::parse(&t.plus_seconds(seconds).to_string()).is_ok(), true);
    }

    #[test]
    fn credentials_parsers_never_panic(
        s in near_valid(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        json in "\\{(\"[a-z_]{1,12}\": (\"[^\"]{0,20}\"|[0-9]{1,3}|null|\\[\\]|\\{\\}), ){0,6}\"type\": \"service_account\"\\}",
    ) {
        let _ = S3Credentials::parse(&s, &s);
        let _ = parse_client_secret(&s);
        let _ = GcsServiceAccount::parse(&bytes);
        let _ = GcsServiceAccount::parse(json.as_bytes());
        let _ = GcsServiceAccount::parse(s.as_bytes());
        let _ = looks_like_key(&s);
        let _ = KeyHash::of(&s);
    }
}
