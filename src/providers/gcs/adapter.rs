//! The Google Cloud Storage [`ObjectStore`]: a self-signed JWT from the connector's
//! service-account key (`google-cloud-auth`, no token server), and the JSON API over one
//! shared HTTPS client.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use google_cloud_auth::credentials::service_account::{AccessSpecifier, Builder};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::credentials::GcsServiceAccount;
use super::names::GcsBucketName;
use crate::domain::glob::GlobPattern;
use crate::domain::timestamp::Timestamp;
use crate::providers::{
    ListPage, ListRequest, ObjectEntry, ObjectStore, ProviderError, ProviderErrorKind,
};

/// Google's endpoint for the JSON API.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The narrowest OAuth scope that reads, writes and deletes objects.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

/// Only the fields a listing needs: a fraction of the default response.
const LIST_FIELDS: &str = "items(name,size,updated,contentType),nextPageToken";

/// The most one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds per-call GCS clients over the shared connection pool.
pub struct GcsFactory {
    endpoint: String,
}

impl GcsFactory {
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint: endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
        }
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
        GcsStore {
            http: http.clone(),
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_string(),
            credentials,
        }
    }
}

/// One bucket, reached with one service account.
pub struct GcsStore {
    http: reqwest::Client,
    endpoint: String,
    bucket: String,
    credentials: Option<Credentials>,
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
        let credentials = self.credentials.as_ref().ok_or_else(invalid)?;
        match credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) | Err(_) => Err(invalid()),
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, ci: bool) -> GlobPattern {
        GlobPattern::parse(p, ci).expect("pattern")
    }

    fn store() -> GcsStore {
        GcsStore {
            http: reqwest::Client::new(),
            endpoint: DEFAULT_ENDPOINT.into(),
            bucket: "media_archive".into(),
            credentials: None,
        }
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
