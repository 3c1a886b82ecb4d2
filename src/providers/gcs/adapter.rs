//! The Google Cloud Storage [`ObjectStore`]: a self-signed JWT from the connector's
//! service-account key (`google-cloud-auth`, no token server), and the JSON API over one
//! shared HTTPS client; V4 signed URLs for objects, signed locally with the same key (or,
//! for a keyless connector, by IAM Credentials' `signBlob` as its service account); and
//! access tokens held to a prefix by a Credential Access Boundary (the key traded for an
//! OAuth token, which Google's Security Token Service downscopes).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use google_cloud_auth::credentials::service_account::{AccessSpecifier, Builder};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::credentials::GOOGLE_TOKEN_URI;
use super::credentials::GcsServiceAccount;
use super::identity::{BlobSigner, ServiceAccountToken};
use super::names::GcsBucketName;
use super::signing::{ASSERTION_LIFETIME_SECS, Assertion, KeySigner, SignRequest, UrlToSign};
use crate::domain::glob::GlobPattern;
use crate::domain::timestamp::Timestamp;
use crate::providers::access::{
    PrefixGrant, PrefixRights, SignedUrl, UrlGrant, UrlMethod, VendedCredentials,
};
use crate::providers::{
    ListPage, ListRequest, ObjectEntry, ObjectStore, ProviderError, ProviderErrorKind,
};

/// Google's endpoint for the JSON API.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The narrowest OAuth scope that reads, writes and deletes objects.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

/// The OAuth scope of a token vended to read and list.
const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// Google's Security Token Service, which downscopes a token to an access boundary.
pub const DEFAULT_STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";

/// The CEL value of a listing request's `prefix` parameter (empty when it names none).
const LIST_PREFIX: &str = "api.getAttribute('storage.googleapis.com/objectListPrefix', '')";

/// RFC 7523: a signed JWT traded for an access token.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// RFC 8693: one token traded for another.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Only the fields a listing needs: a fraction of the default response.
const LIST_FIELDS: &str = "items(name,size,updated,contentType),nextPageToken";

/// The most one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The most `signBlob` calls one grant has in flight (a grant names up to 1,000 objects).
const SIGNATURES_IN_FLIGHT: usize = 32;

/// The most all of one grant's `signBlob` calls may take together, well inside the
/// function's 29 seconds, so that a slow IAM Credentials gets the contract's 504 rather
/// than the gateway's.
const SIGNING_DEADLINE: Duration = Duration::from_secs(20);

/// Where credentials held to a prefix are minted: Google's OAuth token endpoint (the
/// key's signed JWT traded for an access token) and its Security Token Service (that token
/// downscoped). Both are the operator's to name, never a connector's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpoints {
    pub oauth: String,
    pub sts: String,
}

impl Default for TokenEndpoints {
    fn default() -> Self {
        Self {
            oauth: GOOGLE_TOKEN_URI.to_owned(),
            sts: DEFAULT_STS_TOKEN_URL.to_owned(),
        }
    }
}

/// Builds per-call GCS clients over the shared connection pool.
pub struct GcsFactory {
    endpoint: String,
    tokens: TokenEndpoints,
}

impl GcsFactory {
    /// Google's token endpoints unless [`Self::with_token_endpoints`] names others.
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint: endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            tokens: TokenEndpoints::default(),
        }
    }

    /// The OAuth and STS endpoints vended credentials are minted at (emulators, tests).
    #[must_use]
    pub fn with_token_endpoints(mut self, tokens: TokenEndpoints) -> Self {
        self.tokens = tokens;
        self
    }

    pub fn open(
        &self,
        bucket: &GcsBucketName,
        key: &GcsServiceAccount,
        http: &reqwest::Client,
    ) -> GcsStore {
        // The key was proven to sign when it was saved; a key that no longer builds is
        // reported as invalid credentials on first use.
        let credentials = serde_json::from_str(key.key_json().expose_secret())
            .ok()
            .and_then(|json| {
                Builder::new(json)
                    .with_access_specifier(AccessSpecifier::from_scopes([SCOPE]))
                    .build()
                    .ok()
            });
        self.store(
            bucket,
            Auth::Key {
                credentials,
                account: key.clone(),
            },
            http,
        )
    }

    /// A client that presents a service account's token (a keyless connector's).
    pub fn open_with_token(
        &self,
        bucket: &GcsBucketName,
        token: &ServiceAccountToken,
        http: &reqwest::Client,
    ) -> GcsStore {
        self.store(bucket, Auth::Token(token.clone()), http)
    }

    fn store(&self, bucket: &GcsBucketName, auth: Auth, http: &reqwest::Client) -> GcsStore {
        GcsStore {
            http: http.clone(),
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_string(),
            auth,
            tokens: self.tokens.clone(),
        }
    }
}

/// How a store gets in: the connector's key file (its tokens made by `google-cloud-auth`,
/// URLs signed with it), or a service account's token made for a keyless connector.
enum Auth {
    Key {
        credentials: Option<Credentials>,
        /// The key file itself, for signing URLs and assertions (parsed only when asked).
        account: GcsServiceAccount,
    },
    Token(ServiceAccountToken),
}

/// One bucket, reached with one service account.
pub struct GcsStore {
    http: reqwest::Client,
    endpoint: String,
    bucket: String,
    auth: Auth,
    tokens: TokenEndpoints,
}

/// The fields of the key file the signer needs beyond the email.
#[derive(Deserialize)]
struct SigningFields {
    private_key: SecretString,
    private_key_id: Option<String>,
}

/// What a token endpoint answers (OAuth's and STS's alike). No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    /// Seconds; STS may leave it out, and the token then lasts as long as its source.
    expires_in: Option<i64>,
}

/// A token endpoint's refusal (RFC 6749 §5.2): only the code is kept, never the text.
#[derive(Deserialize)]
struct TokenRefusal {
    error: Option<String>,
}

/// Which token endpoint answered, for the message of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenService {
    OAuth,
    Sts,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectList {
    #[serde(default)]
    items: Vec<ObjectResource>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectResource {
    name: String,
    /// The JSON API sends 64-bit integers as strings.
    size: Option<String>,
    updated: Option<String>,
    content_type: Option<String>,
}

impl From<ObjectResource> for ObjectEntry {
    fn from(o: ObjectResource) -> Self {
        Self {
            key: o.name,
            size: o.size.and_then(|s| s.parse().ok()).unwrap_or(0),
            last_modified: o.updated.and_then(|t| Timestamp::parse(&t).ok()),
            content_type: o.content_type,
        }
    }
}

impl GcsStore {
    async fn auth_headers(&self) -> Result<HeaderMap, ProviderError> {
        let invalid = || {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "the service-account key could not produce a token: upload a current key file",
            )
        };
        let credentials = match &self.auth {
            Auth::Key { credentials, .. } => credentials.as_ref().ok_or_else(invalid)?,
            Auth::Token(token) => {
                let mut headers = HeaderMap::new();
                let value = format!("Bearer {}", token.token.expose_secret());
                let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
                    ProviderError::new(
                        ProviderErrorKind::ProviderUnavailable,
                        "IAM Credentials made a token that cannot be sent; try again later",
                    )
                })?;
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
                return Ok(headers);
            }
        };
        match credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) | Err(_) => Err(invalid()),
        }
    }

    /// The signer for this store's service account (the RSA key parsed once, for every
    /// URL of one grant) and the key's id.
    fn signer(&self) -> Result<(KeySigner, Option<String>), ProviderError> {
        let Auth::Key { account, .. } = &self.auth else {
            return Err(crate::providers::access::not_supported(
                "a keyless GCS connector has no key to sign with",
            ));
        };
        let fields: SigningFields = serde_json::from_str(account.key_json().expose_secret())
            .map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::InvalidCredentials,
                    "the service-account key file has no private_key: upload a current key file",
                )
            })?;
        let signer = KeySigner::new(account.client_email(), fields.private_key.expose_secret())?;
        Ok((signer, fields.private_key_id))
    }

    /// Posts one form to a token endpoint and reads the token it answers with.
    async fn token(
        &self,
        service: TokenService,
        url: &str,
        form: String,
    ) -> Result<TokenAnswer, ProviderError> {
        let response = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let code = response
                .json::<TokenRefusal>()
                .await
                .ok()
                .and_then(|r| r.error);
            return Err(token_refusal(service, status, code.as_deref()));
        }
        response.json::<TokenAnswer>().await.map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                format!(
                    "{} sent an answer this service could not read; try again later",
                    service.name()
                ),
            )
        })
    }

    /// The key's signed JWT traded at Google's OAuth endpoint for a token (read-only scope
    /// for `ReadList`).
    async fn key_token(
        &self,
        rights: PrefixRights,
        issued_at: Timestamp,
    ) -> Result<TokenAnswer, ProviderError> {
        let (signer, key_id) = self.signer()?;
        let scope = match rights {
            PrefixRights::ReadList => READ_ONLY_SCOPE,
            PrefixRights::Write => SCOPE,
        };
        let assertion = signer.oauth_assertion(&Assertion {
            key_id: key_id.as_deref(),
            scope,
            audience: &self.tokens.oauth,
            issued_at,
        })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", assertion.expose_secret())
            .finish();
        self.token(TokenService::OAuth, &self.tokens.oauth, form)
            .await
    }

    fn objects_url(&self) -> String {
        format!("{}/storage/v1/b/{}/o", self.endpoint, self.bucket)
    }

    /// Sends one request with the service account's token and classifies a failure.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        permission: &str,
    ) -> Result<reqwest::Response, ProviderError> {
        let headers = self.auth_headers().await?;
        let response = request
            .headers(headers)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.classify(response.status(), permission))
    }

    /// Turns an HTTP status into a stable code and a message naming what to fix.
    fn classify(&self, status: StatusCode, permission: &str) -> ProviderError {
        use ProviderErrorKind as K;
        let bucket = &self.bucket;
        match status {
            StatusCode::UNAUTHORIZED => ProviderError::new(
                K::InvalidCredentials,
                "Google rejected the service-account key: check that the key is current and the account is enabled",
            ),
            StatusCode::FORBIDDEN => ProviderError::new(
                K::AccessDenied,
                format!("access denied: the service account needs {permission} on bucket {bucket}"),
            ),
            StatusCode::NOT_FOUND => ProviderError::new(
                K::BucketNotFound,
                format!(
                    "bucket {bucket} does not exist (or is not visible to this service account)"
                ),
            ),
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ProviderError::new(
                K::Timeout,
                "Cloud Storage did not answer in time; try again",
            ),
            other => ProviderError::new(
                K::ProviderUnavailable,
                format!("Cloud Storage answered {}; try again later", other.as_u16()),
            ),
        }
    }
}

/// A request that got no HTTP answer.
pub(crate) fn transport_error(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::new(
            ProviderErrorKind::Timeout,
            "the storage service did not answer in time; try again",
        )
    } else {
        ProviderError::new(
            ProviderErrorKind::ProviderUnavailable,
            "the storage service could not be reached; try again later",
        )
    }
}

/// Characters that make a literal mean something else in a `matchGlob`.
const GLOB_META: &[char] = &['*', '?', '[', ']', '{', '}', '\\', ','];

/// A `matchGlob` for the listing that lets through at least every object `pattern`
/// matches below `prefix`, or `None` when no such filter is safe to send (classes and
/// escapes, case-insensitive patterns, a prefix with glob characters). The service always
/// filters again with its own matcher.
pub fn match_glob(prefix: &str, pattern: &GlobPattern) -> Option<String> {
    let source = pattern.as_str();
    if pattern.is_case_insensitive()
        || source == "*"
        || source == "**"
        || prefix.contains(GLOB_META)
        || source.contains(['[', ']', '\\'])
        || !braces_are_flat(source)
    {
        return None;
    }
    if pattern.on_name() {
        // Any folder depth, then the name: `**` already covers a leading `*`.
        Some(format!("{prefix}**{}", source.trim_start_matches('*')))
    } else {
        Some(format!("{prefix}{source}"))
    }
}

/// Whether every `{...}` holds only literal alternatives, as Cloud Storage expects.
fn braces_are_flat(source: &str) -> bool {
    let mut depth = 0u32;
    for c in source.chars() {
        match c {
            '{' if depth == 0 => depth = 1,
            '}' if depth == 1 => depth = 0,
            '{' | '}' => return false,
            '*' | '?' | '/' if depth == 1 => return false,
            _ => {}
        }
    }
    depth == 0
}

#[async_trait]
impl ObjectStore for GcsStore {
    async fn authenticate(&self) -> Result<(), ProviderError> {
        // Lists at most one object: proves the token is accepted and the bucket visible
        // with the permission every import needs, without asking for bucket metadata.
        let request = self
            .http
            .get(self.objects_url())
            .query(&[("maxResults", "1"), ("fields", "nextPageToken")]);
        self.send(request, "storage.objects.list").await.map(|_| ())
    }

    async fn list_page(&self, request: ListRequest<'_>) -> Result<ListPage, ProviderError> {
        let mut query: Vec<(&str, String)> = vec![
            ("prefix", request.prefix.to_owned()),
            ("maxResults", request.max_results.to_string()),
            ("fields", LIST_FIELDS.to_owned()),
        ];
        if let Some(d) = request.delimiter {
            query.push(("delimiter", d.to_owned()));
        }
        if let Some(t) = request.page_token {
            query.push(("pageToken", t.to_owned()));
        }
        if let Some(glob) = request.glob.and_then(|g| match_glob(request.prefix, g)) {
            query.push(("matchGlob", glob));
        }
        let response = self
            .send(
                self.http.get(self.objects_url()).query(&query),
                "storage.objects.list",
            )
            .await?;
        let list: ObjectList = response.json().await.map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "Cloud Storage sent a listing this service could not read; try again later",
            )
        })?;
        Ok(ListPage {
            objects: list.items.into_iter().map(ObjectEntry::from).collect(),
            next_token: list.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), ProviderError> {
        let url = format!("{}/upload/storage/v1/b/{}/o", self.endpoint, self.bucket);
        let request = self
            .http
            .request(Method::POST, url)
            .query(&[("uploadType", "media"), ("name", key), ("fields", "name")])
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(body);
        self.send(request, "storage.objects.create")
            .await
            .map(|_| ())
    }

    async fn delete_object(&self, key: &str) -> Result<(), ProviderError> {
        let mut url = reqwest::Url::parse(&self.objects_url()).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                "the Cloud Storage endpoint is not a valid URL",
            )
        })?;
        // One path segment, `/` included, percent-encoded.
        url.path_segments_mut()
            .map_err(|()| {
                ProviderError::new(
                    ProviderErrorKind::ProviderUnavailable,
                    "the Cloud Storage endpoint is not a valid URL",
                )
            })?
            .push(key);
        self.send(self.http.delete(url), "storage.objects.delete")
            .await
            .map(|_| ())
    }

    /// Path-style V4 URLs against the same endpoint the JSON API uses (Google's, or an
    /// emulator's), all signed at one instant. A GET URL serves `Range` requests; no
    /// header beyond `host` (which every client sends) is signed, so none is returned.
    async fn sign_urls(&self, grant: UrlGrant<'_>) -> Result<Vec<SignedUrl>, ProviderError> {
        if grant.keys.is_empty() {
            return Ok(Vec::new());
        }
        let method = match grant.method {
            UrlMethod::Get => http::Method::GET,
            UrlMethod::Put => http::Method::PUT,
        };
        let signed_at = Timestamp::now();
        // Whole seconds, never longer than granted.
        let expires_in = grant.expires_in.as_secs();
        let request = |key| SignRequest {
            method: &method,
            base_url: &self.endpoint,
            bucket: &self.bucket,
            object: Some(key),
            signed_at,
            expires_in,
            headers: &[],
            query: &[],
        };
        let signed = |key: &String, url| SignedUrl::new(key.clone(), grant.method, url, Vec::new());
        let remote = match &self.auth {
            Auth::Token(token) => token.signer.as_ref().ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::ProviderUnavailable,
                    "the service account's token came without its signer; try again",
                )
            })?,
            Auth::Key { .. } => {
                let (signer, _) = self.signer()?;
                return grant
                    .keys
                    .iter()
                    .map(|key| Ok(signed(key, signer.sign(&request(key))?)))
                    .collect();
            }
        };
        // Every URL is checked before any is signed, so a bad key costs no call.
        let mut pending = Vec::with_capacity(grant.keys.len());
        for key in grant.keys {
            let url = UrlToSign::new(remote.email(), &request(key))?;
            pending.push(sign_remotely(
                remote,
                &self.http,
                key.clone(),
                grant.method,
                url,
            ));
        }
        all_within(SIGNING_DEADLINE, pending).await
    }

    /// An access token held to the prefix by a Credential Access Boundary: the key's
    /// signed JWT is traded at Google's OAuth endpoint for a token (read-only scope for
    /// `ReadList`), which STS downscopes. The token lasts as long as Google's source token
    /// (about an hour, whatever the grant asks); `expires_at` says when, truthfully.
    async fn prefix_credentials(
        &self,
        grant: PrefixGrant<'_>,
    ) -> Result<VendedCredentials, ProviderError> {
        let boundary = access_boundary(&self.bucket, grant.prefix, grant.rights)?;
        let issued_at = Timestamp::now();
        let source = match &self.auth {
            Auth::Token(token) => TokenAnswer {
                access_token: token.token.clone(),
                expires_in: Some(token.seconds_left()),
            },
            Auth::Key { .. } => self.key_token(grant.rights, issued_at).await?,
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", TOKEN_EXCHANGE)
            .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
            .append_pair("requested_token_type", ACCESS_TOKEN_TYPE)
            .append_pair("subject_token", source.access_token.expose_secret())
            .append_pair("options", &boundary.to_string())
            .finish();
        let downscoped = self
            .token(TokenService::Sts, &self.tokens.sts, form)
            .await?;
        let lifetime = downscoped
            .expires_in
            .or(source.expires_in)
            .unwrap_or(ASSERTION_LIFETIME_SECS)
            .clamp(0, ASSERTION_LIFETIME_SECS);
        Ok(VendedCredentials::Gcs {
            access_token: downscoped.access_token,
            expires_at: issued_at.plus_seconds(lifetime),
        })
    }
}

/// One URL completed by IAM Credentials' signature.
async fn sign_remotely(
    signer: &BlobSigner,
    http: &reqwest::Client,
    key: String,
    method: UrlMethod,
    url: UrlToSign,
) -> Result<SignedUrl, ProviderError> {
    let signature = signer.sign(http, url.string_to_sign().as_bytes()).await?;
    Ok(SignedUrl::new(
        key,
        method,
        url.finish(&signature),
        Vec::new(),
    ))
}

/// Every one of `calls`, in order, at most `SIGNATURES_IN_FLIGHT` at a time: the first
/// failure, or `deadline` passing, ends them all and answers no URL.
async fn all_within<F>(deadline: Duration, calls: Vec<F>) -> Result<Vec<SignedUrl>, ProviderError>
where
    F: std::future::Future<Output = Result<SignedUrl, ProviderError>>,
{
    let count = calls.len();
    let signed = futures_util::stream::iter(calls)
        .buffered(SIGNATURES_IN_FLIGHT)
        .try_collect();
    tokio::time::timeout(deadline, signed)
        .await
        .unwrap_or_else(|_| {
            Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                format!(
                    "IAM Credentials did not sign {count} URLs within {} seconds; try again, \
                     or ask for fewer paths in one grant",
                    deadline.as_secs()
                ),
            ))
        })
}

impl TokenService {
    fn name(self) -> &'static str {
        match self {
            Self::OAuth => "Google's OAuth token endpoint",
            Self::Sts => "Google's Security Token Service",
        }
    }
}

/// A token endpoint's refusal as a stable code, with its OAuth error code (`invalid_grant`
/// and the like, never the description) when it sent a plausible one.
fn token_refusal(service: TokenService, status: StatusCode, code: Option<&str>) -> ProviderError {
    use ProviderErrorKind as K;
    let name = service.name();
    let code = code
        .filter(|c| {
            !c.is_empty() && c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    match (service, status) {
        (TokenService::OAuth, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED)
        | (TokenService::Sts, StatusCode::UNAUTHORIZED) => ProviderError::new(
            K::InvalidCredentials,
            format!(
                "{name} refused the service-account key{code}: check that the key is current \
                 and the account is enabled"
            ),
        ),
        (TokenService::Sts, StatusCode::FORBIDDEN) => ProviderError::new(
            K::AccessDenied,
            format!(
                "{name} refused{code}: the service account's project must enable the Security \
                 Token Service API (sts.googleapis.com) to hand out credentials held to a prefix"
            ),
        ),
        (TokenService::OAuth, StatusCode::FORBIDDEN) => ProviderError::new(
            K::AccessDenied,
            format!("{name} refused to issue a token for the service account{code}"),
        ),
        (_, StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT) => ProviderError::new(
            K::Timeout,
            format!("{name} did not answer in time; try again"),
        ),
        (_, other) => ProviderError::new(
            K::ProviderUnavailable,
            format!("{name} answered {}{code}; try again later", other.as_u16()),
        ),
    }
}

/// The Credential Access Boundary (STS's `options`) that holds a token to `prefix` in
/// `bucket`: for `ReadList`, `roles/storage.objectViewer` on objects under the prefix and on
/// listings whose own prefix starts with it; for `Write`, `roles/storage.objectCreator` on
/// objects under it. An empty prefix is the whole bucket, with no condition.
///
/// # Errors
/// `access_not_supported` for a prefix that does not end with `/` or holds a control
/// character.
pub fn access_boundary(
    bucket: &str,
    prefix: &str,
    rights: PrefixRights,
) -> Result<serde_json::Value, ProviderError> {
    if !prefix.is_empty() && !prefix.ends_with('/') {
        return Err(crate::providers::access::not_supported(
            "credentials can be held only to a prefix that ends with `/`",
        ));
    }
    let role = match rights {
        PrefixRights::ReadList => "inRole:roles/storage.objectViewer",
        PrefixRights::Write => "inRole:roles/storage.objectCreator",
    };
    let mut rule = serde_json::json!({
        "availableResource": format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
        "availablePermissions": [role],
    });
    if !prefix.is_empty() {
        let objects = cel_string(&format!("projects/_/buckets/{bucket}/objects/{prefix}"))?;
        let expression = match rights {
            // A listing's resource is the bucket; what it lists is its `prefix` parameter.
            PrefixRights::ReadList => format!(
                "resource.name.startsWith({objects}) || {LIST_PREFIX}.startsWith({})",
                cel_string(prefix)?
            ),
            PrefixRights::Write => format!("resource.name.startsWith({objects})"),
        };
        rule["availabilityCondition"] = serde_json::json!({ "expression": expression });
    }
    Ok(serde_json::json!({ "accessBoundary": { "accessBoundaryRules": [rule] } }))
}

/// `text` as a single-quoted CEL string literal: `\` and `'` escaped; a control character,
/// which no object key holds, is refused rather than escaped.
fn cel_string(text: &str) -> Result<String, ProviderError> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => {
                return Err(crate::providers::access::not_supported(
                    "credentials cannot be held to a prefix with a control character",
                ));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(key: &str) -> SignedUrl {
        SignedUrl::new(
            key.to_owned(),
            UrlMethod::Get,
            format!("https://x/{key}"),
            Vec::new(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn remote_signatures_answer_every_url_in_the_order_asked() {
        let calls: Vec<_> = (0..100)
            .map(|i| async move {
                // Later keys finish first: the answer keeps the order asked.
                tokio::time::sleep(Duration::from_millis(100 - i)).await;
                Ok(url(&format!("k{i}")))
            })
            .collect();
        let signed = all_within(SIGNING_DEADLINE, calls)
            .await
            .expect("all signed");
        let keys: Vec<_> = signed.iter().map(|u| u.key.clone()).collect();
        let asked: Vec<_> = (0..100).map(|i| format!("k{i}")).collect();
        assert_eq!(keys, asked);
    }

    #[tokio::test(start_paused = true)]
    async fn remote_signatures_that_outlast_the_deadline_answer_a_timeout_and_no_url() {
        let calls: Vec<_> = (0..40)
            .map(|i| async move {
                if i == 39 {
                    std::future::pending::<()>().await;
                }
                Ok(url("k"))
            })
            .collect();
        let e = all_within(SIGNING_DEADLINE, calls)
            .await
            .expect_err("the deadline passes");
        assert_eq!(e.kind, ProviderErrorKind::Timeout);
        assert!(
            e.message.contains("40 URLs within 20 seconds"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn one_refused_signature_fails_the_whole_grant() {
        let calls: Vec<_> = (0..10)
            .map(|i| async move {
                if i == 7 {
                    Err(ProviderError::new(
                        ProviderErrorKind::ImpersonationDenied,
                        "no",
                    ))
                } else {
                    Ok(url("k"))
                }
            })
            .collect();
        let e = all_within(SIGNING_DEADLINE, calls)
            .await
            .expect_err("refused");
        assert_eq!(e.kind, ProviderErrorKind::ImpersonationDenied);
    }

    fn glob(p: &str, ci: bool) -> GlobPattern {
        GlobPattern::parse(p, ci).expect("pattern")
    }

    /// Google's inactive conformance-test key (see testdata/README.md).
    const TEST_KEY_FILE: &[u8] = include_bytes!("testdata/test_service_account.not-a-test.json");

    fn store() -> GcsStore {
        GcsStore {
            http: reqwest::Client::new(),
            endpoint: DEFAULT_ENDPOINT.into(),
            bucket: "media_archive".into(),
            auth: Auth::Key {
                credentials: None,
                account: GcsServiceAccount::parse(TEST_KEY_FILE).expect("test key file"),
            },
            tokens: TokenEndpoints::default(),
        }
    }

    fn grant(keys: &[String], method: UrlMethod, expires_in: Duration) -> UrlGrant<'_> {
        UrlGrant {
            keys,
            method,
            expires_in,
        }
    }

    #[tokio::test]
    async fn each_key_gets_one_path_style_url_for_the_method_and_whole_seconds_granted() {
        let keys = vec![
            "in coming/a.mp4".to_owned(),
            "in coming/b%20c.mov".to_owned(),
        ];
        let urls = store()
            .sign_urls(grant(&keys, UrlMethod::Put, Duration::from_millis(900_999)))
            .await
            .expect("signed");
        assert_eq!(urls.len(), 2);
        let paths = ["in%20coming/a.mp4", "in%20coming/b%2520c.mov"];
        for ((url, key), path) in urls.iter().zip(&keys).zip(paths) {
            assert_eq!((&url.key, url.method), (key, UrlMethod::Put));
            assert!(url.headers.is_empty());
            let prefix = format!(
                "https://storage.googleapis.com/media_archive/{path}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F"
            );
            assert!(url.url().starts_with(&prefix), "{}", url.url());
            assert!(
                url.url()
                    .contains("&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature="),
                "{}",
                url.url()
            );
        }
    }

    #[tokio::test]
    async fn urls_are_signed_against_the_endpoint_the_store_talks_to() {
        let store = GcsStore {
            endpoint: "http://127.0.0.1:4443".into(),
            ..store()
        };
        let keys = vec!["a.mp4".to_owned()];
        let urls = store
            .sign_urls(grant(&keys, UrlMethod::Get, Duration::from_secs(60)))
            .await
            .expect("signed");
        assert!(
            urls[0]
                .url()
                .starts_with("http://127.0.0.1:4443/media_archive/a.mp4?"),
            "{}",
            urls[0].url()
        );
    }

    #[tokio::test]
    async fn grants_shorter_than_a_second_or_longer_than_seven_days_are_refused() {
        let keys = vec!["a.mp4".to_owned()];
        for expires_in in [Duration::from_millis(999), Duration::from_secs(604_801)] {
            let e = store()
                .sign_urls(grant(&keys, UrlMethod::Get, expires_in))
                .await
                .expect_err("refused");
            assert_eq!(
                e.kind,
                ProviderErrorKind::AccessNotSupported,
                "{expires_in:?}"
            );
        }
    }

    #[test]
    fn a_read_list_boundary_allows_viewing_objects_and_listings_under_the_prefix_only() {
        let boundary =
            access_boundary("media_archive", "in/2026/", PrefixRights::ReadList).expect("cab");
        assert_eq!(
            boundary,
            serde_json::json!({ "accessBoundary": { "accessBoundaryRules": [{
                "availableResource": "//storage.googleapis.com/projects/_/buckets/media_archive",
                "availablePermissions": ["inRole:roles/storage.objectViewer"],
                "availabilityCondition": { "expression":
                    "resource.name.startsWith('projects/_/buckets/media_archive/objects/in/2026/') \
                     || api.getAttribute('storage.googleapis.com/objectListPrefix', '')\
                     .startsWith('in/2026/')" },
            }]}})
        );
    }

    #[test]
    fn a_write_boundary_allows_creating_objects_under_the_prefix_only() {
        let boundary = access_boundary("media_archive", "out/", PrefixRights::Write).expect("cab");
        assert_eq!(
            boundary,
            serde_json::json!({ "accessBoundary": { "accessBoundaryRules": [{
                "availableResource": "//storage.googleapis.com/projects/_/buckets/media_archive",
                "availablePermissions": ["inRole:roles/storage.objectCreator"],
                "availabilityCondition": { "expression":
                    "resource.name.startsWith('projects/_/buckets/media_archive/objects/out/')" },
            }]}})
        );
    }

    #[test]
    fn an_empty_prefix_is_the_whole_bucket_without_a_condition() {
        for rights in [PrefixRights::ReadList, PrefixRights::Write] {
            let boundary = access_boundary("media_archive", "", rights).expect("cab");
            let rule = &boundary["accessBoundary"]["accessBoundaryRules"][0];
            assert!(rule.get("availabilityCondition").is_none(), "{rule}");
            assert_eq!(
                rule["availableResource"],
                "//storage.googleapis.com/projects/_/buckets/media_archive"
            );
        }
    }

    #[test]
    fn quotes_and_backslashes_in_a_prefix_are_escaped_in_the_condition() {
        let boundary = access_boundary("b", r"it's\ 'x'/", PrefixRights::ReadList).expect("cab");
        let expression = boundary["accessBoundary"]["accessBoundaryRules"][0]
            ["availabilityCondition"]["expression"]
            .as_str()
            .expect("expression")
            .to_owned();
        assert_eq!(
            expression,
            r"resource.name.startsWith('projects/_/buckets/b/objects/it\'s\\ \'x\'/') || api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('it\'s\\ \'x\'/')"
        );
        // The JSON STS receives carries the same text.
        let options = boundary.to_string();
        let back: serde_json::Value = serde_json::from_str(&options).expect("json");
        assert_eq!(
            back["accessBoundary"]["accessBoundaryRules"][0]["availabilityCondition"]["expression"],
            expression.as_str()
        );
    }

    #[test]
    fn prefixes_without_a_trailing_slash_or_with_control_characters_are_refused() {
        for prefix in ["in", "in/x", "in\n/", "a\u{7f}/"] {
            let e = access_boundary("b", prefix, PrefixRights::ReadList).expect_err(prefix);
            assert_eq!(e.kind, ProviderErrorKind::AccessNotSupported, "{prefix:?}");
        }
    }

    #[test]
    fn token_endpoint_refusals_map_to_stable_codes_without_their_descriptions() {
        use TokenService::{OAuth, Sts};
        let e = token_refusal(OAuth, StatusCode::BAD_REQUEST, Some("invalid_grant"));
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        assert!(e.message.contains("(invalid_grant)"), "{}", e.message);
        let e = token_refusal(Sts, StatusCode::FORBIDDEN, None);
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(e.message.contains("sts.googleapis.com"), "{}", e.message);
        let e = token_refusal(OAuth, StatusCode::FORBIDDEN, None);
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(!e.message.contains("sts.googleapis.com"), "{}", e.message);
        assert_eq!(
            token_refusal(Sts, StatusCode::UNAUTHORIZED, None).kind,
            ProviderErrorKind::InvalidCredentials
        );
        assert_eq!(
            token_refusal(Sts, StatusCode::GATEWAY_TIMEOUT, None).kind,
            ProviderErrorKind::Timeout
        );
        let e = token_refusal(Sts, StatusCode::BAD_REQUEST, Some("Bearer ya29.secret"));
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
        assert!(!e.message.contains("ya29"), "{}", e.message);
    }

    /// Every form a stand-in token endpoint was sent: its path and its fields.
    type Forms = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<(String, String)>)>>>;

    /// A loopback stand-in for Google's OAuth endpoint (`/token`) and STS (`/v1/token`):
    /// answers each with `(status, body)` and keeps every form it was sent.
    struct TokenServers {
        base: String,
        forms: Forms,
    }

    async fn token_servers(oauth: (u16, &'static str), sts: (u16, &'static str)) -> TokenServers {
        use axum::extract::State;
        use axum::http::Uri;
        let forms: Forms = std::sync::Arc::default();
        let answer = move |(status, body): (u16, &'static str)| {
            move |State(forms): State<Forms>, uri: Uri, form: String| async move {
                let pairs = url::form_urlencoded::parse(form.as_bytes())
                    .into_owned()
                    .collect();
                forms
                    .lock()
                    .expect("forms")
                    .push((uri.path().to_owned(), pairs));
                (
                    StatusCode::from_u16(status).expect("status"),
                    [(reqwest::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        };
        let app = axum::Router::new()
            .route("/token", axum::routing::post(answer(oauth)))
            .route("/v1/token", axum::routing::post(answer(sts)))
            .with_state(forms.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        TokenServers { base, forms }
    }

    fn store_minting_at(servers: &TokenServers) -> GcsStore {
        GcsStore {
            tokens: TokenEndpoints {
                oauth: format!("{}/token", servers.base),
                sts: format!("{}/v1/token", servers.base),
            },
            ..store()
        }
    }

    fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
        form.iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn prefix_credentials_trade_the_key_for_a_token_that_sts_downscopes_to_the_prefix() {
        let servers = token_servers(
            (200, r#"{"access_token":"source-token","expires_in":3599,"token_type":"Bearer"}"#),
            (200, r#"{"access_token":"downscoped-token","expires_in":3000,"token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#),
        )
        .await;
        let before = Timestamp::now();
        let creds = store_minting_at(&servers)
            .prefix_credentials(PrefixGrant {
                prefix: "in/2026/",
                rights: PrefixRights::ReadList,
                expires_in: Duration::from_secs(900),
            })
            .await
            .expect("vended");
        let VendedCredentials::Gcs {
            access_token,
            expires_at,
        } = creds
        else {
            panic!("not GCS credentials");
        };
        assert_eq!(access_token.expose_secret(), "downscoped-token");
        assert!(
            expires_at >= before.plus_seconds(3000)
                && expires_at <= Timestamp::now().plus_seconds(3000)
        );

        let forms = servers.forms.lock().expect("forms").clone();
        assert_eq!(forms.len(), 2);
        let (path, oauth) = &forms[0];
        assert_eq!(path, "/token");
        assert_eq!(field(oauth, "grant_type"), JWT_BEARER);
        let claims = field(oauth, "assertion").split('.').nth(1).expect("claims");
        let claims: serde_json::Value = {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .expect("base64url");
            serde_json::from_slice(&bytes).expect("json")
        };
        assert_eq!(claims["aud"], format!("{}/token", servers.base));
        assert_eq!(claims["scope"], READ_ONLY_SCOPE);
        assert_eq!(
            claims["iss"],
            "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com"
        );

        let (path, sts) = &forms[1];
        assert_eq!(path, "/v1/token");
        assert_eq!(field(sts, "grant_type"), TOKEN_EXCHANGE);
        assert_eq!(field(sts, "subject_token"), "source-token");
        assert_eq!(field(sts, "subject_token_type"), ACCESS_TOKEN_TYPE);
        assert_eq!(field(sts, "requested_token_type"), ACCESS_TOKEN_TYPE);
        let options: serde_json::Value =
            serde_json::from_str(field(sts, "options")).expect("options");
        assert_eq!(
            options,
            access_boundary("media_archive", "in/2026/", PrefixRights::ReadList).expect("cab")
        );
    }

    #[tokio::test]
    async fn write_credentials_ask_for_the_read_write_scope_and_last_as_long_as_their_source() {
        let servers = token_servers(
            (200, r#"{"access_token":"source-token","expires_in":1200}"#),
            (
                200,
                r#"{"access_token":"downscoped-token","token_type":"Bearer"}"#,
            ),
        )
        .await;
        let before = Timestamp::now();
        let creds = store_minting_at(&servers)
            .prefix_credentials(PrefixGrant {
                prefix: "out/",
                rights: PrefixRights::Write,
                expires_in: Duration::from_secs(900),
            })
            .await
            .expect("vended");
        assert!(creds.expires_at() >= before.plus_seconds(1200));
        assert!(creds.expires_at() <= Timestamp::now().plus_seconds(1200));
        let forms = servers.forms.lock().expect("forms").clone();
        let assertion = field(&forms[0].1, "assertion");
        let claims = assertion.split('.').nth(1).expect("claims");
        use base64::Engine as _;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .expect("base64url"),
        )
        .expect("json");
        assert_eq!(claims["scope"], SCOPE);
    }

    #[tokio::test]
    async fn a_refused_key_or_exchange_is_reported_without_tokens_or_assertions() {
        let servers = token_servers(
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            ),
            (200, r#"{"access_token":"never"}"#),
        )
        .await;
        let grant = PrefixGrant {
            prefix: "in/",
            rights: PrefixRights::ReadList,
            expires_in: Duration::from_secs(900),
        };
        let e = store_minting_at(&servers)
            .prefix_credentials(grant)
            .await
            .expect_err("refused");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
        assert!(e.message.contains("invalid_grant") && !e.message.contains("JWT Signature"));
        assert_eq!(
            servers.forms.lock().expect("forms").len(),
            1,
            "STS is not asked"
        );

        let servers = token_servers(
            (200, r#"{"access_token":"source-token","expires_in":3599}"#),
            (
                403,
                r#"{"error":"access_denied","error_description":"source-token"}"#,
            ),
        )
        .await;
        let e = store_minting_at(&servers)
            .prefix_credentials(grant)
            .await
            .expect_err("refused");
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(!e.message.contains("source-token"), "{}", e.message);

        let servers = token_servers((200, "not json"), (200, "{}")).await;
        let e = store_minting_at(&servers)
            .prefix_credentials(grant)
            .await
            .expect_err("unreadable");
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
    }

    #[tokio::test]
    async fn a_grant_without_keys_signs_nothing() {
        let urls = store()
            .sign_urls(grant(&[], UrlMethod::Get, Duration::from_secs(60)))
            .await
            .expect("nothing to sign");
        assert!(urls.is_empty());
    }

    #[test]
    fn http_refusals_map_to_stable_codes_with_what_to_fix() {
        let s = store();
        let e = s.classify(StatusCode::FORBIDDEN, "storage.objects.create");
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert!(
            e.message.contains("storage.objects.create") && e.message.contains("media_archive")
        );
        assert_eq!(
            s.classify(StatusCode::UNAUTHORIZED, "x").kind,
            ProviderErrorKind::InvalidCredentials
        );
        assert_eq!(
            s.classify(StatusCode::NOT_FOUND, "x").kind,
            ProviderErrorKind::BucketNotFound
        );
        assert_eq!(
            s.classify(StatusCode::SERVICE_UNAVAILABLE, "x").kind,
            ProviderErrorKind::ProviderUnavailable
        );
    }

    #[tokio::test]
    async fn a_key_that_cannot_build_credentials_is_reported_as_invalid_credentials() {
        let e = store().auth_headers().await.expect_err("no credentials");
        assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials);
    }

    #[test]
    fn name_patterns_are_pushed_down_at_any_depth_below_the_prefix() {
        assert_eq!(
            match_glob("incoming/", &glob("*.mp4", false)).as_deref(),
            Some("incoming/**.mp4")
        );
        assert_eq!(
            match_glob("", &glob("clip-??.{mp4,mov}", false)).as_deref(),
            Some("**clip-??.{mp4,mov}")
        );
    }

    #[test]
    fn path_patterns_are_pushed_down_below_the_prefix() {
        assert_eq!(
            match_glob("in/", &glob("2026/*/a?.mov", false)).as_deref(),
            Some("in/2026/*/a?.mov")
        );
    }

    #[test]
    fn patterns_cloud_storage_could_read_differently_are_not_pushed_down() {
        for p in ["*", "**", "[ab]*.mp4", "a\\*b", "{a/b,c}", "{*.mp4,x}"] {
            assert_eq!(match_glob("", &glob(p, false)), None, "{p}");
        }
        assert_eq!(match_glob("", &glob("*.mp4", true)), None);
        assert_eq!(match_glob("we{ird}/", &glob("*.mp4", false)), None);
    }
}
