//! The Amazon S3 [`ObjectStore`]: an `aws-sdk-s3` client built per call from the connector's
//! bucket, region and keys (stored, or an assumed role's session), over one shared
//! HTTPS client.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

use super::credentials::S3Credentials;
use super::endpoint::{Host, S3Endpoint};
use super::names::{AwsRegion, S3BucketName};
use crate::domain::timestamp::Timestamp;
use crate::providers::access::{SignedUrl, UrlGrant, UrlMethod};
use crate::providers::egress::{EgressPolicy, GuardedResolver, Refused, refusal_in};
use crate::providers::roles::RoleSession;
use crate::providers::{
    ListPage, ListRequest, ObjectEntry, ObjectStore, ProviderError, ProviderErrorKind,
};

/// Process-wide S3 settings.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// An endpoint to use instead of AWS for every connector (an emulator), with
    /// path-style addressing. The operator's choice, so not subject to the egress policy.
    pub endpoint_url: Option<String>,
    /// Hosts and ranges a connector's own `endpoint_url` may reach although they are inside
    /// a network (none by default).
    pub egress: EgressPolicy,
}

/// Where one S3 connector's bucket is.
pub struct S3Target<'a> {
    pub bucket: &'a S3BucketName,
    pub region: &'a AwsRegion,
    pub endpoint_url: Option<&'a S3Endpoint>,
    pub force_path_style: bool,
}

/// The keys a client signs with.
#[derive(Debug, Clone, Copy)]
pub enum S3Keys<'a> {
    /// A connector's stored access key.
    Stored(&'a S3Credentials),
    /// A role connector's assumed session.
    Session(&'a RoleSession),
}

/// Builds per-call clients that share connection pools: one for AWS (and the operator's
/// endpoint), one whose resolver enforces the egress policy for connectors' own endpoints.
pub struct S3Factory {
    settings: S3Settings,
    egress: Arc<EgressPolicy>,
    http: aws_sdk_s3::config::SharedHttpClient,
    /// Built on the first call to an S3-compatible endpoint.
    guarded: OnceLock<aws_sdk_s3::config::SharedHttpClient>,
}

impl S3Factory {
    pub fn new(settings: S3Settings) -> Self {
        Self {
            egress: Arc::new(settings.egress.clone()),
            settings,
            http: crate::aws_http::https_client(),
            guarded: OnceLock::new(),
        }
    }

    /// The egress policy for connectors' own endpoints.
    pub fn egress(&self) -> &EgressPolicy {
        &self.egress
    }

    /// # Errors
    /// When the connector's endpoint is an address the egress policy refuses (names are
    /// checked when they are resolved, at connection).
    pub fn open(&self, target: &S3Target<'_>, keys: S3Keys<'_>) -> Result<S3Store, Refused> {
        let S3Target {
            bucket,
            region,
            endpoint_url,
            force_path_style,
        } = target;
        let credentials = match keys {
            S3Keys::Stored(creds) => creds.sdk_credentials(),
            S3Keys::Session(session) => session.credentials().clone(),
        };
        let holder = match keys {
            S3Keys::Stored(_) => "the credentials",
            S3Keys::Session(_) => "the role",
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(8))
            .build();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(credentials)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if let Some(endpoint) = endpoint_url {
            if let Host::Address(ip) = endpoint.host() {
                // A written address is never resolved, so it is checked here.
                self.egress.check_address(ip)?;
            }
            let guarded = self.guarded.get_or_init(|| {
                crate::aws_http::https_client_resolving_with(GuardedResolver(Arc::clone(
                    &self.egress,
                )))
            });
            config = config
                .http_client(guarded.clone())
                .endpoint_url(endpoint.as_str())
                .force_path_style(*force_path_style);
        } else if let Some(endpoint) = &self.settings.endpoint_url {
            config = config
                .http_client(self.http.clone())
                .endpoint_url(endpoint)
                .force_path_style(true);
        } else {
            config = config
                .http_client(self.http.clone())
                .force_path_style(*force_path_style);
        }
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.to_string(),
            region: region.to_string(),
            holder,
        })
    }
}

/// The egress policy's refusal inside a connection failure, if that is what it was.
fn refusal(failure: &aws_smithy_runtime_api::client::result::DispatchFailure) -> Option<Refused> {
    failure.as_connector_error().and_then(|e| refusal_in(e))
}

/// One bucket, reached with one connector's keys.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    region: String,
    /// Who needs a missing permission, for messages: "the credentials" or "the role".
    holder: &'static str,
}

impl S3Store {
    /// Turns an SDK failure into a stable code and a message naming what to fix.
    fn classify<E: ProvideErrorMetadata>(
        &self,
        err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
        permission: &str,
    ) -> ProviderError {
        use ProviderErrorKind as K;
        let bucket = &self.bucket;
        match err {
            SdkError::TimeoutError(_) => {
                return ProviderError::new(K::Timeout, "S3 did not answer in time; try again");
            }
            SdkError::DispatchFailure(f) if f.is_timeout() => {
                return ProviderError::new(K::Timeout, "S3 did not answer in time; try again");
            }
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                if let SdkError::DispatchFailure(f) = err
                    && let Some(refused) = refusal(f)
                {
                    return ProviderError::new(
                        K::EndpointNotAllowed,
                        format!("endpoint_url {refused}"),
                    );
                }
                return ProviderError::new(
                    K::ProviderUnavailable,
                    "S3 could not be reached; try again later",
                );
            }
            _ => {}
        }
        let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
        let header_region = err
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_owned);
        match (err.code(), status) {
            (Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken"), _) => {
                ProviderError::new(
                    K::InvalidCredentials,
                    "the AWS credentials were rejected: check aws_access_key_id and aws_secret_access_key",
                )
            }
            (Some("NoSuchBucket"), _) | (_, 404) => ProviderError::new(
                K::BucketNotFound,
                format!(
                    "bucket {bucket} does not exist (or is not visible to {})",
                    self.holder
                ),
            ),
            (Some("PermanentRedirect" | "AuthorizationHeaderMalformed"), _) | (_, 301) => {
                let message = match &header_region {
                    Some(actual) => format!(
                        "bucket {bucket} is in region {actual}, not {}: update the connector's region",
                        self.region
                    ),
                    None => format!(
                        "bucket {bucket} is not in region {}: update the connector's region",
                        self.region
                    ),
                };
                ProviderError {
                    kind: K::WrongRegion,
                    message,
                    actual_region: header_region,
                }
            }
            (Some("AccessDenied" | "AllAccessDisabled"), _) | (_, 403) => ProviderError::new(
                K::AccessDenied,
                format!(
                    "access denied: {} need{} {permission} on bucket {bucket}",
                    self.holder,
                    if self.holder == "the role" { "s" } else { "" }
                ),
            ),
            (code, status) => ProviderError::new(
                K::ProviderUnavailable,
                format!(
                    "S3 answered {} ({status}); try again later",
                    code.unwrap_or("an error")
                ),
            ),
        }
    }
}

fn timestamp(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<Timestamp> {
    t.map(|t| Timestamp::from_unix(t.secs()))
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn authenticate(&self) -> Result<(), ProviderError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e, "s3:ListBucket"))
    }

    async fn list_page(&self, request: ListRequest<'_>) -> Result<ListPage, ProviderError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(request.prefix)
            .set_delimiter(request.delimiter.map(str::to_owned))
            .set_continuation_token(request.page_token.map(str::to_owned))
            .max_keys(i32::try_from(request.max_results).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| self.classify(&e, "s3:ListBucket"))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectEntry {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    last_modified: timestamp(o.last_modified()),
                    content_type: None,
                })
            })
            .collect();
        let next_token = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(ListPage {
            objects,
            next_token,
        })
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), ProviderError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::new(SdkBody::from(body)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e, "s3:PutObject"))
    }

    async fn delete_object(&self, key: &str) -> Result<(), ProviderError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e, "s3:DeleteObject"))
    }

    async fn sign_urls(&self, grant: UrlGrant<'_>) -> Result<Vec<SignedUrl>, ProviderError> {
        // Presigning signs in process: no call reaches S3 (or anywhere) here.
        let config = PresigningConfig::expires_in(grant.expires_in).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::ProviderUnavailable,
                format!("a URL could not be signed for that long: {e}"),
            )
        })?;
        let mut urls = Vec::with_capacity(grant.keys.len());
        for key in grant.keys {
            let signed = match grant.method {
                UrlMethod::Get => self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .presigned(config.clone())
                    .await
                    .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
                UrlMethod::Put => self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .presigned(config.clone())
                    .await
                    .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
            };
            let signed = signed.map_err(|error| {
                tracing::warn!(%error, "presigning failed");
                ProviderError::new(
                    ProviderErrorKind::ProviderUnavailable,
                    "a URL could not be signed; try again",
                )
            })?;
            let headers = signed
                .headers()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                .collect();
            urls.push(SignedUrl::new(
                key.clone(),
                grant.method,
                signed.uri().to_owned(),
                headers,
            ));
        }
        Ok(urls)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::head_bucket::HeadBucketError;

    use super::*;

    fn store(holder: &'static str) -> S3Store {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: "media-archive".into(),
            region: "us-east-1".into(),
            holder,
        }
    }

    /// What S3 answers: a status, an error code (S3 gives none for a HEAD), and the
    /// bucket's region header.
    fn answered(
        status: u16,
        code: Option<&str>,
        region: Option<&'static str>,
    ) -> SdkError<HeadBucketError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let mut raw = HttpResponse::new(status.try_into().expect("a status"), SdkBody::empty());
        if let Some(region) = region {
            raw.headers_mut().insert("x-amz-bucket-region", region);
        }
        SdkError::service_error(HeadBucketError::generic(meta.build()), raw)
    }

    #[test]
    fn rejected_keys_are_invalid_credentials_naming_both_fields() {
        for code in [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidToken",
        ] {
            let e = store("the credentials").classify(&answered(403, Some(code), None), "x");
            assert_eq!(e.kind, ProviderErrorKind::InvalidCredentials, "{code}");
            assert!(e.message.contains("aws_secret_access_key"), "{}", e.message);
        }
    }

    #[test]
    fn a_missing_bucket_is_bucket_not_found_by_code_or_by_a_bare_404() {
        let s = store("the credentials");
        for err in [
            answered(404, Some("NoSuchBucket"), None),
            answered(404, None, None),
        ] {
            let e = s.classify(&err, "s3:ListBucket");
            assert_eq!(e.kind, ProviderErrorKind::BucketNotFound);
            assert!(e.message.contains("media-archive"), "{}", e.message);
        }
    }

    #[test]
    fn a_bucket_in_another_region_is_wrong_region_with_the_real_one() {
        let s = store("the credentials");
        let e = s.classify(&answered(301, None, Some("eu-west-1")), "s3:ListBucket");
        assert_eq!(e.kind, ProviderErrorKind::WrongRegion);
        assert_eq!(e.actual_region.as_deref(), Some("eu-west-1"));
        assert!(e.message.contains("eu-west-1") && e.message.contains("us-east-1"));
        // Without the header the message still says what to fix.
        let e = s.classify(
            &answered(400, Some("PermanentRedirect"), None),
            "s3:ListBucket",
        );
        assert_eq!(e.kind, ProviderErrorKind::WrongRegion);
        assert_eq!(e.actual_region, None);
        assert!(e.message.contains("update the connector's region"));
    }

    #[test]
    fn access_denied_names_the_permission_and_who_lacks_it() {
        let e = store("the credentials").classify(&answered(403, None, None), "s3:PutObject");
        assert_eq!(e.kind, ProviderErrorKind::AccessDenied);
        assert_eq!(
            e.message,
            "access denied: the credentials need s3:PutObject on bucket media-archive"
        );
        let e =
            store("the role").classify(&answered(403, Some("AccessDenied"), None), "s3:ListBucket");
        assert_eq!(
            e.message,
            "access denied: the role needs s3:ListBucket on bucket media-archive"
        );
    }

    #[test]
    fn other_answers_are_retryable_and_say_what_s3_said() {
        let e = store("the credentials").classify(&answered(503, Some("SlowDown"), None), "x");
        assert_eq!(e.kind, ProviderErrorKind::ProviderUnavailable);
        assert!(e.kind.is_retryable());
        assert!(
            e.message.contains("SlowDown") && e.message.contains("503"),
            "{}",
            e.message
        );
    }
}
