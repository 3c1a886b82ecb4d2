//! Azure Blob user-delegation shared access signatures: the string to sign, its
//! HMAC-SHA256 signature with a user delegation key, and the SAS query string, as
//! Microsoft's "Create a user delegation SAS" describes them for signed versions
//! 2020-12-06 up to (not including) 2025-07-05.
//!
//! Nothing here touches the network or the clock: the caller names the instants and brings
//! the key. The key, the signature and every token built with them never appear in an
//! error message or in `Debug` output.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use crate::domain::timestamp::Timestamp;

/// The service version every SAS is signed with (`sv`). Its string to sign is the
/// 2020-12-06 layout; Azure accepts it, and Azurite 3.37 validates it.
pub const SIGNED_VERSION: &str = "2022-11-02";

/// The longest a user delegation key (and so a SAS signed with it) may be valid for:
/// seven days, in seconds.
pub const MAX_KEY_VALIDITY: u64 = 604_800;

/// RFC 3986's unreserved characters stay as they are; everything else is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A blob name in a URL path: as a query value, but `/` separates virtual directories.
const BLOB_PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// A user delegation key, as Get User Delegation Key returned it. Its value signs; the
/// rest is named in every SAS signed with it.
pub struct DelegationKey {
    /// The Entra ID object the key was issued to (`skoid`).
    pub object_id: String,
    /// Its Entra ID tenant (`sktid`).
    pub tenant_id: String,
    /// When the key starts to be valid (`skt`).
    pub start: Timestamp,
    /// When it stops (`ske`).
    pub expiry: Timestamp,
    /// The service it is for, `b` (`sks`).
    pub service: String,
    /// The service version that issued it (`skv`).
    pub version: String,
    value: SecretSlice<u8>,
}

impl DelegationKey {
    pub fn new(
        object_id: String,
        tenant_id: String,
        start: Timestamp,
        expiry: Timestamp,
        service: String,
        version: String,
        value: Vec<u8>,
    ) -> Self {
        Self {
            object_id,
            tenant_id,
            start,
            expiry,
            service,
            version,
            value: SecretSlice::from(value),
        }
    }
}

impl fmt::Debug for DelegationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegationKey")
            .field("object_id", &self.object_id)
            .field("tenant_id", &self.tenant_id)
            .field("start", &self.start)
            .field("expiry", &self.expiry)
            .field("value", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// What a SAS may do (`sp`), in the order Azure requires its letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SasPermissions {
    /// `r`: read a blob (and its properties), `Range` requests included.
    Read,
    /// `rl`: read blobs and list the container (or directory).
    ReadList,
    /// `cw`: create a blob and write (replace) it.
    CreateWrite,
}

impl SasPermissions {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::ReadList => "rl",
            Self::CreateWrite => "cw",
        }
    }
}

/// What a SAS reaches (`sr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SasResource<'a> {
    /// `sr=b`: one blob, by its name (not encoded).
    Blob(&'a str),
    /// `sr=c`: the whole container.
    Container,
    /// `sr=d`: a directory and everything below it, by its path without a trailing `/`
    /// (`raw/2026`). Only accounts with a hierarchical namespace accept it; no emulator
    /// here validates it.
    Directory(&'a str),
}

impl SasResource<'_> {
    fn code(self) -> &'static str {
        match self {
            Self::Blob(_) => "b",
            Self::Container => "c",
            Self::Directory(_) => "d",
        }
    }

    /// The number of directories in a directory's path (`sdd`).
    fn depth(self) -> Option<usize> {
        match self {
            Self::Directory(path) => Some(path.split('/').filter(|s| !s.is_empty()).count()),
            Self::Blob(_) | Self::Container => None,
        }
    }
}

/// One SAS to sign: over HTTPS only, with no IP range, encryption scope, snapshot or
/// response-header overrides.
#[derive(Debug, Clone, Copy)]
pub struct SasRequest<'a> {
    pub account: &'a str,
    pub container: &'a str,
    pub resource: SasResource<'a>,
    pub permissions: SasPermissions,
    /// When the SAS starts to be valid (`st`).
    pub start: Timestamp,
    /// When it stops (`se`).
    pub expiry: Timestamp,
}

/// `/blob/{account}/{container}[/{blob or directory}]`, with the name as stored (decoded).
pub fn canonicalized_resource(request: &SasRequest<'_>) -> String {
    let mut resource = format!("/blob/{}/{}", request.account, request.container);
    match request.resource {
        SasResource::Blob(name) | SasResource::Directory(name) => {
            resource.push('/');
            resource.push_str(name);
        }
        SasResource::Container => {}
    }
    resource
}

/// The string to sign of the 2020-12-06 layout: one line per field, unused fields empty.
pub fn string_to_sign(request: &SasRequest<'_>, key: &DelegationKey) -> String {
    [
        request.permissions.as_str(),
        &request.start.to_string(),
        &request.expiry.to_string(),
        &canonicalized_resource(request),
        &key.object_id,
        &key.tenant_id,
        &key.start.to_string(),
        &key.expiry.to_string(),
        &key.service,
        &key.version,
        "", // signedAuthorizedUserObjectId (saoid)
        "", // signedUnauthorizedUserObjectId (suoid)
        "", // signedCorrelationId (scid)
        "", // signedIP (sip)
        "https",
        SIGNED_VERSION,
        request.resource.code(),
        "", // signedSnapshotTime
        "", // signedEncryptionScope (ses)
        "", // rscc
        "", // rscd
        "", // rsce
        "", // rscl
        "", // rsct
    ]
    .join("\n")
}

/// The key's value is not usable as an HMAC key (it cannot happen: HMAC takes any length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the user delegation key cannot sign")]
pub struct UnusableKey;

/// The SAS token: the query string (without `?`) that authorizes `request`, every value
/// percent-encoded once.
///
/// # Errors
/// When the key's value cannot key an HMAC.
pub fn sas_token(
    request: &SasRequest<'_>,
    key: &DelegationKey,
) -> Result<SecretString, UnusableKey> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.value.expose_secret()).map_err(|_| UnusableKey)?;
    mac.update(string_to_sign(request, key).as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    let depth = request.resource.depth().map(|d| d.to_string());
    let fields = [
        ("sp", Some(request.permissions.as_str())),
        ("st", Some(&request.start.to_string())),
        ("se", Some(&request.expiry.to_string())),
        ("skoid", Some(&key.object_id)),
        ("sktid", Some(&key.tenant_id)),
        ("skt", Some(&key.start.to_string())),
        ("ske", Some(&key.expiry.to_string())),
        ("sks", Some(&key.service)),
        ("skv", Some(&key.version)),
        ("spr", Some("https")),
        ("sv", Some(SIGNED_VERSION)),
        ("sr", Some(request.resource.code())),
        ("sdd", depth.as_deref()),
        ("sig", Some(&signature)),
    ];
    let token = fields
        .iter()
        .filter_map(|(name, value)| {
            value.map(|v| format!("{name}={}", utf8_percent_encode(v, QUERY_VALUE)))
        })
        .collect::<Vec<_>>()
        .join("&");
    Ok(SecretString::from(token))
}

/// A blob name as its URL path after the container: each byte outside RFC 3986's
/// unreserved characters and `/` percent-encoded, once.
pub fn encode_blob_path(name: &str) -> String {
    utf8_percent_encode(name, BLOB_PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_VALUE: &[u8] = b"a user delegation key of 32 byte";

    fn key() -> DelegationKey {
        DelegationKey::new(
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            Timestamp::parse("2026-04-07T11:55:00Z").expect("instant"),
            Timestamp::parse("2026-04-07T13:00:00Z").expect("instant"),
            "b".into(),
            "2026-06-06".into(),
            KEY_VALUE.to_vec(),
        )
    }

    fn request(resource: SasResource<'_>, permissions: SasPermissions) -> SasRequest<'_> {
        SasRequest {
            account: "mediastore01",
            container: "raw-footage",
            resource,
            permissions,
            start: Timestamp::parse("2026-04-07T11:55:00Z").expect("instant"),
            expiry: Timestamp::parse("2026-04-07T12:55:00Z").expect("instant"),
        }
    }

    fn query_value<'a>(token: &'a str, name: &str) -> Option<&'a str> {
        token
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    #[test]
    fn the_string_to_sign_of_a_blob_sas_is_the_documented_one_line_per_field() {
        let name = "in/day 1/take+2 100%.mp4";
        let expected = "r\n\
            2026-04-07T11:55:00Z\n\
            2026-04-07T12:55:00Z\n\
            /blob/mediastore01/raw-footage/in/day 1/take+2 100%.mp4\n\
            0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n\
            72f988bf-86f1-41af-91ab-2d7cd011db47\n\
            2026-04-07T11:55:00Z\n\
            2026-04-07T13:00:00Z\n\
            b\n\
            2026-06-06\n\
            \n\
            \n\
            \n\
            \n\
            https\n\
            2022-11-02\n\
            b\n\
            \n\
            \n\
            \n\
            \n\
            \n\
            \n";
        let signed = string_to_sign(
            &request(SasResource::Blob(name), SasPermissions::Read),
            &key(),
        );
        assert_eq!(signed, expected);
        assert_eq!(signed.split('\n').count(), 24, "24 fields");
    }

    #[test]
    fn the_signature_is_base64_hmac_sha256_of_the_string_to_sign_with_the_key() {
        let request = request(SasResource::Blob("a/b.mp4"), SasPermissions::Read);
        let token = sas_token(&request, &key()).expect("signs");
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY_VALUE).expect("any length");
        mac.update(string_to_sign(&request, &key()).as_bytes());
        let expected = BASE64.encode(mac.finalize().into_bytes());
        let sig = query_value(token.expose_secret(), "sig").expect("a signature");
        let decoded = percent_encoding::percent_decode_str(sig).decode_utf8_lossy();
        assert_eq!(decoded, expected);
        assert!(!sig.contains(['+', '/', '=']), "encoded: {sig}");
    }

    #[test]
    fn a_known_key_and_request_sign_to_a_known_signature() {
        // Computed by hand from the 24 documented fields, outside this code:
        //   printf 'rl\n2026-04-07T11:55:00Z\n…\nc\n\n\n\n\n\n\n' |
        //   openssl dgst -sha256 -hmac 'a user delegation key of 32 byte' -binary | base64
        let request = request(SasResource::Container, SasPermissions::ReadList);
        let token = sas_token(&request, &key()).expect("signs");
        let sig = query_value(token.expose_secret(), "sig").expect("a signature");
        let decoded = percent_encoding::percent_decode_str(sig).decode_utf8_lossy();
        assert_eq!(decoded, "JyW24COsNlObjvTh348nQb/+SrPwYrkOFd+Bhde9m7g=");
        assert_eq!(sig, "JyW24COsNlObjvTh348nQb%2F%2BSrPwYrkOFd%2BBhde9m7g%3D");
    }

    #[test]
    fn the_canonicalized_resource_names_the_blob_the_container_or_the_directory() {
        let blob = request(SasResource::Blob("a/b c.mp4"), SasPermissions::Read);
        assert_eq!(
            canonicalized_resource(&blob),
            "/blob/mediastore01/raw-footage/a/b c.mp4"
        );
        let container = request(SasResource::Container, SasPermissions::ReadList);
        assert_eq!(
            canonicalized_resource(&container),
            "/blob/mediastore01/raw-footage"
        );
        let directory = request(
            SasResource::Directory("raw/2026"),
            SasPermissions::CreateWrite,
        );
        assert_eq!(
            canonicalized_resource(&directory),
            "/blob/mediastore01/raw-footage/raw/2026"
        );
    }

    #[test]
    fn the_token_carries_every_field_encoded_and_a_depth_only_for_a_directory() {
        let token = sas_token(
            &request(SasResource::Container, SasPermissions::ReadList),
            &key(),
        )
        .expect("signs");
        let token = token.expose_secret();
        assert_eq!(query_value(token, "sp"), Some("rl"));
        assert_eq!(query_value(token, "st"), Some("2026-04-07T11%3A55%3A00Z"));
        assert_eq!(query_value(token, "se"), Some("2026-04-07T12%3A55%3A00Z"));
        assert_eq!(query_value(token, "ske"), Some("2026-04-07T13%3A00%3A00Z"));
        assert_eq!(query_value(token, "sks"), Some("b"));
        assert_eq!(query_value(token, "skv"), Some("2026-06-06"));
        assert_eq!(query_value(token, "spr"), Some("https"));
        assert_eq!(query_value(token, "sv"), Some(SIGNED_VERSION));
        assert_eq!(query_value(token, "sr"), Some("c"));
        assert_eq!(query_value(token, "sdd"), None);
        assert!(token.starts_with("sp=") && !token.contains('?'));

        let directory = sas_token(
            &request(
                SasResource::Directory("raw/2026"),
                SasPermissions::CreateWrite,
            ),
            &key(),
        )
        .expect("signs");
        let directory = directory.expose_secret();
        assert_eq!(query_value(directory, "sr"), Some("d"));
        assert_eq!(query_value(directory, "sdd"), Some("2"));
        assert_eq!(query_value(directory, "sp"), Some("cw"));
    }

    #[test]
    fn blob_names_are_encoded_once_in_the_path_and_keep_their_slashes() {
        assert_eq!(
            encode_blob_path("in/day 1/take+2 100%.mp4"),
            "in/day%201/take%2B2%20100%25.mp4"
        );
        assert_eq!(encode_blob_path("é/ü.mov"), "%C3%A9/%C3%BC.mov");
        assert_eq!(encode_blob_path("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_blob_path("q?x#y&z=1"), "q%3Fx%23y%26z%3D1");
        let decoded = percent_encoding::percent_decode_str(&encode_blob_path("a b+%20é"))
            .decode_utf8_lossy()
            .into_owned();
        assert_eq!(decoded, "a b+%20é", "decoding once gives the name back");
    }

    #[test]
    fn a_delegation_key_never_shows_its_value_in_debug_output() {
        let shown = format!("{:?}", key());
        assert!(
            shown.contains("0a1b2c3d") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(
            !shown.contains("32 byte") && !shown.contains("97, 32"),
            "{shown}"
        );
    }
}
