//! Cloud Storage V4 signed URLs (`GOOG4-RSA-SHA256`, path style: the canonical request,
//! the string to sign and the URL, as
//! <https://cloud.google.com/storage/docs/authentication/signatures> describes them),
//! signed locally by a service account's RSA key or remotely (IAM Credentials' `signBlob`,
//! for a keyless connector); and the JWT assertion that trades a key for an OAuth access
//! token (RFC 7523).
//!
//! Nothing here touches the network or the clock: the caller names the instant. The key,
//! signatures, URLs and assertions never appear in an error message or in `Debug` output.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls_pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::domain::timestamp::Timestamp;
use crate::providers::{ProviderError, ProviderErrorKind};

/// The longest a V4 signed URL may be valid for: seven days, in seconds.
pub const MAX_EXPIRES_IN: u64 = 604_800;

/// The algorithm every URL names (and the first line of the string to sign).
const ALGORITHM: &str = "GOOG4-RSA-SHA256";

/// What a request's payload is signed as when no `x-goog-content-sha256` header is signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Query parameters the signer writes itself; a caller may not name them (in any case).
const RESERVED_QUERY: [&str; 6] = [
    "x-goog-algorithm",
    "x-goog-credential",
    "x-goog-date",
    "x-goog-expires",
    "x-goog-signedheaders",
    "x-goog-signature",
];

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded:
/// the rule for query names and values.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The same, keeping `/`: the rule for the path, so each segment of an object key is
/// encoded on its own and the separators stay.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// One URL to sign. Every string is taken as it is: an object key is encoded here exactly
/// once, so a key that already contains `%20` is signed as that name (`%2520`).
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub method: &'a http::Method,
    /// `scheme://host[:port]`, nothing after it but an optional `/`: Google's
    /// `https://storage.googleapis.com` or an emulator's origin. The URL keeps the
    /// authority as written; the signed `host` header is its host name without the port,
    /// as Google's client libraries sign it.
    pub base_url: &'a str,
    pub bucket: &'a str,
    /// The object, or `None` for the bucket itself (a signed listing).
    pub object: Option<&'a str>,
    pub signed_at: Timestamp,
    /// Seconds, 1 to [`MAX_EXPIRES_IN`].
    pub expires_in: u64,
    /// Further headers the request must carry, signed with `host`. A signed
    /// `x-goog-content-sha256` becomes the payload hash instead of `UNSIGNED-PAYLOAD`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Further query parameters, signed with the ones the signer writes.
    pub query: &'a [(&'a str, &'a str)],
}

/// How long an OAuth assertion (and the access token Google issues for it) may last.
pub const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The claims of one JWT assertion for Google's OAuth token endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Assertion<'a> {
    /// The key file's `private_key_id`, sent as the JWT's `kid`.
    pub key_id: Option<&'a str>,
    /// Space-separated OAuth scopes the token is for.
    pub scope: &'a str,
    /// The token endpoint the assertion is posted to.
    pub audience: &'a str,
    pub issued_at: Timestamp,
}

/// A service account's signing key, parsed once and used for any number of signatures.
pub struct KeySigner {
    client_email: String,
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

/// One URL waiting for its signature: what the signer signs, and the URL the signature
/// completes (tests compare each part with Google's).
pub struct UrlToSign {
    canonical_request: String,
    /// `YYYYMMDDTHHMMSSZ`.
    datetime: String,
    /// `YYYYMMDD/auto/storage/goog4_request`.
    scope: String,
    /// The URL without its `X-Goog-Signature`.
    unsigned_url: String,
}

impl fmt::Debug for UrlToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlToSign")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl UrlToSign {
    /// The request for `client_email`'s signature.
    ///
    /// # Errors
    /// `provider_unavailable` for a base URL that is not an origin; `access_not_supported`
    /// for an expiry, object key, header or query parameter a V4 signature cannot carry.
    pub fn new(client_email: &str, request: &SignRequest<'_>) -> Result<Self, ProviderError> {
        canonical(client_email, request)
    }

    /// The bytes the service account signs (RSASSA-PKCS1-v1_5 with SHA-256).
    pub fn string_to_sign(&self) -> String {
        let request_hash = hex::encode(digest(&SHA256, self.canonical_request.as_bytes()));
        format!(
            "{ALGORITHM}\n{}\n{}\n{request_hash}",
            self.datetime, self.scope
        )
    }

    /// The signed URL, once the signature over [`Self::string_to_sign`] is made.
    pub fn finish(self, signature: &[u8]) -> String {
        let mut url = self.unsigned_url;
        url.reserve(20 + 2 * signature.len());
        url.push_str("&X-Goog-Signature=");
        url.push_str(&hex::encode(signature));
        url
    }
}

impl KeySigner {
    /// Parses the service account's PEM-encoded PKCS#8 RSA key.
    ///
    /// # Errors
    /// `invalid_credentials`, naming what is wrong with the key but never quoting it.
    pub fn new(client_email: &str, private_key_pem: &str) -> Result<Self, ProviderError> {
        let invalid = |what: &str| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                format!(
                    "the service-account key cannot sign URLs: {what}; upload a current key file"
                ),
            )
        };
        if client_email.is_empty() || client_email.chars().any(char::is_control) {
            return Err(invalid("its client_email is missing"));
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|_| invalid("its private_key is not a PEM-encoded PKCS#8 key"))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|_| invalid("its private_key is not a usable RSA key"))?;
        Ok(Self {
            client_email: client_email.to_owned(),
            key,
            rng: SystemRandom::new(),
        })
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The signed URL for one request.
    ///
    /// # Errors
    /// `provider_unavailable` for a base URL that is not an origin; `access_not_supported`
    /// for an expiry, object key, header or query parameter a V4 signature cannot carry;
    /// `invalid_credentials` when the key fails to sign.
    pub fn sign(&self, request: &SignRequest<'_>) -> Result<String, ProviderError> {
        let unsigned = canonical(&self.client_email, request)?;
        let signature = self.rs256(unsigned.string_to_sign().as_bytes())?;
        Ok(unsigned.finish(&signature))
    }

    /// A signed JWT (`RS256`) asserting this service account, valid for
    /// [`ASSERTION_LIFETIME_SECS`] from `issued_at`: what Google's OAuth token endpoint
    /// takes with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
    ///
    /// # Errors
    /// `invalid_credentials` when the key fails to sign.
    pub fn oauth_assertion(&self, claims: &Assertion<'_>) -> Result<SecretString, ProviderError> {
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = claims.key_id {
            header["kid"] = kid.into();
        }
        let iat = claims.issued_at.unix();
        let body = serde_json::json!({
            "iss": self.client_email,
            "scope": claims.scope,
            "aud": claims.audience,
            "iat": iat,
            "exp": iat.saturating_add(ASSERTION_LIFETIME_SECS),
        });
        let mut jwt = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(body.to_string())
        );
        let signature = self.rs256(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(SecretString::from(jwt))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    fn rs256(&self, message: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::InvalidCredentials,
                    "the service-account key failed to sign; upload a current key file",
                )
            })?;
        Ok(signature)
    }
}

/// The canonical request, its scope and the unsigned URL of `request`, for `client_email`.
fn canonical(client_email: &str, request: &SignRequest<'_>) -> Result<UrlToSign, ProviderError> {
    let origin = Origin::parse(request.base_url)?;
    if !(1..=MAX_EXPIRES_IN).contains(&request.expires_in) {
        return Err(unsupported(format!(
            "Cloud Storage signs URLs valid for 1 to {MAX_EXPIRES_IN} seconds (7 days), \
             not {}",
            request.expires_in
        )));
    }
    let path = resource_path(request.bucket, request.object)?;
    let headers = canonical_headers(&origin.host, request.headers)?;
    let (datetime, date) = goog_date(request.signed_at)?;

    let scope = format!("{date}/auto/storage/goog4_request");
    let signed_headers = headers
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<(String, String)> = vec![
        ("X-Goog-Algorithm".into(), ALGORITHM.into()),
        (
            "X-Goog-Credential".into(),
            format!("{client_email}/{scope}"),
        ),
        ("X-Goog-Date".into(), datetime.clone()),
        ("X-Goog-Expires".into(), request.expires_in.to_string()),
        ("X-Goog-SignedHeaders".into(), signed_headers.clone()),
    ];
    for (name, value) in request.query {
        if RESERVED_QUERY.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(unsupported(format!(
                "the query parameter {name} is written by the signer itself"
            )));
        }
        query.push(((*name).to_owned(), (*value).to_owned()));
    }
    let canonical_query = canonical_query(&query);

    let mut header_lines = String::new();
    for (name, value) in &headers {
        // Writing to a String cannot fail.
        let _ = writeln!(header_lines, "{name}:{value}");
    }
    let payload = headers
        .get("x-goog-content-sha256")
        .map_or(UNSIGNED_PAYLOAD, String::as_str);
    let canonical_request = format!(
        "{method}\n{path}\n{canonical_query}\n{header_lines}\n{signed_headers}\n{payload}",
        method = request.method.as_str(),
    );
    let unsigned_url = format!(
        "{}://{}{path}?{canonical_query}",
        origin.scheme, origin.authority
    );
    Ok(UrlToSign {
        canonical_request,
        datetime,
        scope,
        unsigned_url,
    })
}

fn unsupported(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::AccessNotSupported, message)
}

/// The base URL, taken apart: the URL keeps the authority as written, the `host` header
/// gets the host name alone.
struct Origin<'a> {
    scheme: &'a str,
    authority: &'a str,
    host: String,
}

impl<'a> Origin<'a> {
    fn parse(base: &'a str) -> Result<Self, ProviderError> {
        let invalid = || {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "the Cloud Storage endpoint is not an http(s) origin such as \
                 https://storage.googleapis.com",
            )
        };
        let (scheme, rest) = base.split_once("://").ok_or_else(invalid)?;
        if scheme != "https" && scheme != "http" {
            return Err(invalid());
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        // Host name, IPv6 literal and port characters only: no user, path, query,
        // fragment or escape can hide in it.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']');
        if authority.is_empty() || !authority.chars().all(plain) {
            return Err(invalid());
        }
        let parsed = url::Url::parse(&format!("{scheme}://{authority}/")).map_err(|_| invalid())?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(invalid)?
            .to_owned();
        Ok(Self {
            scheme,
            authority,
            host,
        })
    }
}

/// `/{bucket}` or `/{bucket}/{object}`, each path segment percent-encoded once.
fn resource_path(bucket: &str, object: Option<&str>) -> Result<String, ProviderError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(unsupported("a signed URL needs a bucket name without `/`"));
    }
    let mut path = format!("/{}", utf8_percent_encode(bucket, PATH));
    if let Some(object) = object {
        if object.is_empty() {
            return Err(unsupported("a signed URL for an object needs its key"));
        }
        // Clients rewrite `.` and `..` segments before sending, so the URL would name
        // another path than the one signed.
        if object.split('/').any(|s| s == "." || s == "..") {
            return Err(unsupported(
                "an object key with a `.` or `..` segment cannot be reached by a signed URL",
            ));
        }
        path.push('/');
        path.extend(utf8_percent_encode(object, PATH));
    }
    Ok(path)
}

/// The signed headers, names lower-case and sorted, each value trimmed with inner runs of
/// spaces and tabs collapsed to one space; a name given twice gets its values joined with
/// `,`. `host` is always there, and the caller may not set it.
fn canonical_headers(
    host: &str,
    extra: &[(&str, &str)],
) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut headers = BTreeMap::from([("host".to_owned(), host.to_owned())]);
    for (name, value) in extra {
        // Visible ASCII only, and neither `:` nor `;`, which delimit the signed lists.
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':' && b != b';');
        if !name_ok {
            return Err(unsupported(
                "a signed header name must be visible ASCII without `:` or `;`",
            ));
        }
        let name = name.to_ascii_lowercase();
        if name == "host" {
            return Err(unsupported("the host header is signed from the endpoint"));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(unsupported(format!(
                "the value of the signed header {name} has a control character"
            )));
        }
        let value = value
            .split([' ', '\t'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        headers
            .entry(name)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(headers)
}

/// `name=value` pairs, both encoded, sorted by encoded name then value, joined with `&`.
fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| {
            (
                utf8_percent_encode(n, UNRESERVED).to_string(),
                utf8_percent_encode(v, UNRESERVED).to_string(),
            )
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` of the signing instant (UTC).
fn goog_date(at: Timestamp) -> Result<(String, String), ProviderError> {
    let t = OffsetDateTime::from_unix_timestamp(at.unix())
        .map_err(|_| unsupported("the signing time is out of range"))?;
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let datetime = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    Ok((datetime, date))
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::Deserialize;

    /// Google's V4 signing conformance vectors and the inactive key they are signed with
    /// (see testdata/README.md).
    const VECTORS: &str = include_str!("testdata/v4_signatures.json");
    const TEST_KEY_FILE: &str = include_str!("testdata/test_service_account.not-a-test.json");

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct VectorFile {
        signing_v4_tests: Vec<Vector>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Vector {
        description: String,
        bucket: String,
        #[serde(default)]
        object: String,
        method: String,
        expiration: u64,
        timestamp: String,
        expected_url: String,
        expected_canonical_request: String,
        expected_string_to_sign: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        query_parameters: BTreeMap<String, String>,
        scheme: Option<String>,
        url_style: Option<String>,
        hostname: Option<String>,
        client_endpoint: Option<String>,
        emulator_hostname: Option<String>,
        universe_domain: Option<String>,
    }

    impl Vector {
        /// The base URL a client configured as the vector says signs against: an explicit
        /// hostname, else the client's endpoint, else the emulator's host, else the
        /// universe's storage host, else Google's.
        fn base_url(&self) -> String {
            let scheme = self.scheme.as_deref().unwrap_or("https");
            let with_scheme = |h: &String| {
                if h.contains("://") {
                    h.clone()
                } else {
                    format!("{scheme}://{h}")
                }
            };
            self.hostname
                .as_ref()
                .or(self.client_endpoint.as_ref())
                .or(self.emulator_hostname.as_ref())
                .map(with_scheme)
                .or_else(|| {
                    self.universe_domain
                        .as_ref()
                        .map(|u| format!("https://storage.{u}"))
                })
                .unwrap_or_else(|| format!("{scheme}://storage.googleapis.com"))
        }
    }

    #[derive(Deserialize)]
    struct KeyFile {
        client_email: String,
        private_key: String,
    }

    fn test_signer() -> KeySigner {
        let key: KeyFile = serde_json::from_str(TEST_KEY_FILE).expect("test key file");
        KeySigner::new(&key.client_email, &key.private_key).expect("test key parses")
    }

    fn request<'a>(method: &'a http::Method, object: Option<&'a str>) -> SignRequest<'a> {
        SignRequest {
            method,
            base_url: "https://storage.googleapis.com",
            bucket: "media_archive",
            object,
            signed_at: Timestamp::parse("2026-04-07T12:30:05Z").expect("instant"),
            expires_in: 900,
            headers: &[],
            query: &[],
        }
    }

    /// Runs every signing vector for path-style URLs. Skipped, because this signer makes
    /// path-style URLs only (the adapter never asks for another style):
    /// `VIRTUAL_HOSTED_STYLE` (`bucket.storage.googleapis.com/object`, including the
    /// universe-domain variant) and `BUCKET_BOUND_HOSTNAME` (a custom domain mapped to a
    /// bucket). The file's `postPolicyV4Tests` (signed HTML form uploads) are a different
    /// operation, not implemented, and not read.
    #[test]
    fn every_published_v4_vector_for_path_style_urls_signs_to_googles_url() {
        let file: VectorFile = serde_json::from_str(VECTORS).expect("vector file");
        let signer = test_signer();
        let (mut ran, mut skipped) = (0, Vec::new());
        for v in &file.signing_v4_tests {
            match v.url_style.as_deref() {
                None | Some("PATH_STYLE") => {}
                Some(style @ ("VIRTUAL_HOSTED_STYLE" | "BUCKET_BOUND_HOSTNAME")) => {
                    skipped.push(format!("{} ({style})", v.description));
                    continue;
                }
                Some(other) => panic!("{}: unknown url style {other}", v.description),
            }
            let method = http::Method::from_bytes(v.method.as_bytes()).expect("method");
            let base_url = v.base_url();
            let headers: Vec<(&str, &str)> = v
                .headers
                .iter()
                .map(|(n, x)| (n.as_str(), x.as_str()))
                .collect();
            let query: Vec<(&str, &str)> = v
                .query_parameters
                .iter()
                .map(|(n, x)| (n.as_str(), x.as_str()))
                .collect();
            let request = SignRequest {
                method: &method,
                base_url: &base_url,
                bucket: &v.bucket,
                object: Some(v.object.as_str()).filter(|o| !o.is_empty()),
                signed_at: Timestamp::parse(&v.timestamp).expect("vector timestamp"),
                expires_in: v.expiration,
                headers: &headers,
                query: &query,
            };
            let canonical = UrlToSign::new(signer.client_email(), &request).expect(&v.description);
            assert_eq!(
                canonical.canonical_request, v.expected_canonical_request,
                "canonical request of {:?}",
                v.description
            );
            assert_eq!(
                canonical.string_to_sign(),
                v.expected_string_to_sign,
                "string to sign of {:?}",
                v.description
            );
            let url = signer.sign(&request).expect(&v.description);
            assert_eq!(url, v.expected_url, "URL of {:?}", v.description);
            ran += 1;
        }
        assert!(ran >= 25, "only {ran} vectors ran");
        assert!(
            skipped.len() <= 4,
            "skipped more than the four other styles: {skipped:?}"
        );
    }

    #[test]
    fn object_keys_are_percent_encoded_once_per_segment_with_slashes_kept() {
        let signer = test_signer();
        for (key, path) in [
            ("a%20b.mp4", "/media_archive/a%2520b.mp4"),
            (
                "vidéos/été 2026/clip+1.mov",
                "/media_archive/vid%C3%A9os/%C3%A9t%C3%A9%202026/clip%2B1.mov",
            ),
            ("q?x=1#frag&y", "/media_archive/q%3Fx%3D1%23frag%26y"),
            ("~tilde_-.x", "/media_archive/~tilde_-.x"),
            ("a//b/", "/media_archive/a//b/"),
        ] {
            let url = signer
                .sign(&request(&http::Method::GET, Some(key)))
                .expect(key);
            let expected = format!("https://storage.googleapis.com{path}?");
            assert!(url.starts_with(&expected), "{key}: {url}");
        }
    }

    #[test]
    fn a_url_carries_the_method_expiry_credential_and_a_full_length_signature() {
        let signer = test_signer();
        let get = signer
            .sign(&request(&http::Method::GET, Some("a.mp4")))
            .expect("get");
        let put = signer
            .sign(&request(&http::Method::PUT, Some("a.mp4")))
            .expect("put");
        assert_ne!(get, put, "the method is signed");
        assert!(
            get.contains("&X-Goog-Date=20260407T123005Z&X-Goog-Expires=900&"),
            "{get}"
        );
        assert!(get.contains(
            "X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F20260407%2Fauto%2Fstorage%2Fgoog4_request"
        ));
        let signature = get.rsplit_once("&X-Goog-Signature=").expect("signature").1;
        assert_eq!(signature.len(), 2 * 256);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn expiries_outside_one_second_to_seven_days_are_refused() {
        let signer = test_signer();
        let method = http::Method::GET;
        for expires_in in [0, MAX_EXPIRES_IN + 1, u64::MAX] {
            let e = signer
                .sign(&SignRequest {
                    expires_in,
                    ..request(&method, Some("a"))
                })
                .expect_err("refused");
            assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported);
        }
        let longest = SignRequest {
            expires_in: MAX_EXPIRES_IN,
            ..request(&method, Some("a"))
        };
        assert!(signer.sign(&longest).is_ok());
    }

    #[test]
    fn base_urls_that_are_not_plain_origins_are_refused() {
        let signer = test_signer();
        let method = http::Method::GET;
        for base_url in [
            "",
            "storage.googleapis.com",
            "ftp://storage.googleapis.com",
            "https://",
            "https://user@storage.googleapis.com",
            "https://storage.googleapis.com/prefix",
            "https://storage.googleapis.com?x=1",
            "https://storage.googleapis.com#f",
            "https://stor%61ge.googleapis.com",
            "https://[::1",
            "https://host:99999",
        ] {
            let e = signer
                .sign(&SignRequest {
                    base_url,
                    ..request(&method, Some("a"))
                })
                .expect_err(base_url);
            assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable, "{base_url}");
        }
        for (base_url, prefix) in [
            (
                "https://storage.googleapis.com/",
                "https://storage.googleapis.com/media_archive/a?",
            ),
            (
                "http://127.0.0.1:4443",
                "http://127.0.0.1:4443/media_archive/a?",
            ),
            ("http://[::1]:4443", "http://[::1]:4443/media_archive/a?"),
        ] {
            let url = signer
                .sign(&SignRequest {
                    base_url,
                    ..request(&method, Some("a"))
                })
                .expect(base_url);
            assert!(url.starts_with(prefix), "{url}");
        }
    }

    #[test]
    fn keys_without_a_name_or_with_dot_segments_are_refused() {
        let signer = test_signer();
        let method = http::Method::GET;
        for key in ["", ".", "..", "a/../b", "a/./b", "a/.."] {
            let e = signer.sign(&request(&method, Some(key))).expect_err(key);
            assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported, "{key:?}");
        }
        assert!(signer.sign(&request(&method, Some("a/..b/.c"))).is_ok());
        let e = signer
            .sign(&SignRequest {
                bucket: "",
                ..request(&method, Some("a"))
            })
            .expect_err("no bucket");
        assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported);
    }

    #[test]
    fn headers_and_query_parameters_that_would_change_what_is_signed_are_refused() {
        let signer = test_signer();
        let method = http::Method::GET;
        let bad_headers: [&[(&str, &str)]; 6] = [
            &[("Host", "evil.example")],
            &[("", "x")],
            &[("a:b", "x")],
            &[("a;b", "x")],
            &[("x-goog-meta-a", "line\nx-injected:1")],
            &[("x goog", "x")],
        ];
        for headers in bad_headers {
            let e = signer
                .sign(&SignRequest {
                    headers,
                    ..request(&method, Some("a"))
                })
                .expect_err("refused header");
            assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported, "{headers:?}");
        }
        for name in ["X-Goog-Signature", "x-goog-expires", "X-GOOG-CREDENTIAL"] {
            let e = signer
                .sign(&SignRequest {
                    query: &[(name, "1")],
                    ..request(&method, Some("a"))
                })
                .expect_err(name);
            assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported);
        }
    }

    #[test]
    fn a_header_given_twice_is_signed_once_with_its_values_joined() {
        let headers = canonical_headers(
            "storage.googleapis.com",
            &[("X-Goog-Meta-A", " one "), ("x-goog-meta-a", "two\t three")],
        )
        .expect("headers");
        assert_eq!(
            headers.get("x-goog-meta-a").map(String::as_str),
            Some("one,two three")
        );
    }

    #[test]
    fn keys_that_cannot_sign_are_invalid_credentials_and_never_quoted() {
        let label = "PRIVATE KEY";
        let garbage = format!("-----BEGIN {label}-----\nTUlJQ2VnSUJBREFO\n-----END {label}-----\n");
        let pkcs1_label = "RSA PRIVATE KEY";
        let pkcs1 = format!(
            "-----BEGIN {pkcs1_label}-----\nTUlJQ2VnSUJBREFO\n-----END {pkcs1_label}-----\n"
        );
        let ec = {
            use base64::Engine;
            let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &SystemRandom::new(),
            )
            .expect("ec key");
            let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
            format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
        };
        for pem in [
            "",
            "not a key",
            garbage.as_str(),
            pkcs1.as_str(),
            ec.as_str(),
        ] {
            let e = KeySigner::new("sa@p.iam.gserviceaccount.com", pem).expect_err("refused");
            assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
            assert!(
                !e.message.contains("TUlJ") && !e.message.contains("BEGIN"),
                "{}",
                e.message
            );
        }
        let key: KeyFile = serde_json::from_str(TEST_KEY_FILE).expect("test key file");
        let e = KeySigner::new("", &key.private_key).expect_err("no email");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
    }

    #[test]
    fn a_signer_shows_only_its_service_account_in_debug_output() {
        assert_eq!(
            format!("{:?}", test_signer()),
            r#"KeySigner { client_email: "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com", .. }"#
        );
    }

    #[test]
    fn an_oauth_assertion_is_a_jwt_for_the_token_endpoint_that_the_public_key_verifies() {
        use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        use secrecy::ExposeSecret as _;

        let signer = test_signer();
        let jwt = signer
            .oauth_assertion(&Assertion {
                key_id: Some("ffff"),
                scope: "https://www.googleapis.com/auth/devstorage.read_only",
                audience: "https://oauth2.googleapis.com/token",
                issued_at: Timestamp::from_unix(1_775_565_005),
            })
            .expect("assertion");
        let jwt = jwt.expose_secret();
        let (signed, signature) = jwt.rsplit_once('.').expect("three parts");
        let (header, claims) = signed.split_once('.').expect("three parts");
        let decode = |part: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
        };
        assert_eq!(
            decode(header),
            serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "ffff" })
        );
        assert_eq!(
            decode(claims),
            serde_json::json!({
                "iss": "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/devstorage.read_only",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_775_565_005,
                "exp": 1_775_568_605,
            })
        );
        let public_key = UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            signer.key.public_key().as_ref().to_vec(),
        );
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        assert!(public_key.verify(signed.as_bytes(), &signature).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_key_either_signs_to_a_path_that_decodes_back_to_it_or_is_refused(
            key in "\\PC{0,40}",
            header in "\\PC{0,12}",
            value in "\\PC{0,12}",
        ) {
            let signer = test_signer();
            let method = http::Method::PUT;
            let headers = [(header.as_str(), value.as_str())];
            let result = signer.sign(&SignRequest {
                headers: &headers,
                ..request(&method, Some(&key))
            });
            if let Ok(url) = result {
                let rest = url
                    .strip_prefix("https://storage.googleapis.com/media_archive/")
                    .expect("origin and bucket");
                let (path, _) = rest.split_once('?').expect("query");
                proptest::prop_assert!(!path.contains(['?', '#', ' ']));
                let decoded = percent_encoding::percent_decode_str(path)
                    .decode_utf8()
                    .expect("utf-8");
                proptest::prop_assert_eq!(decoded.as_ref(), key.as_str());
            }
        }
    }
}
