//! The HTTPS client AWS SDK clients are built with (DynamoDB and Secrets Manager at start,
//! S3 per call, each family with its own pool): rustls on aws-lc, pooled connections, and
//! trust roots read on first use rather than at start (the SDK's default reads them
//! eagerly, a measurable part of a cold start).

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDKs' shared client type (the same type behind every service crate's re-export).
pub use aws_sdk_dynamodb::config::SharedHttpClient;

/// A new HTTPS client with its own connection pool.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_https()
}

/// A new HTTPS client whose host names are resolved by `resolver` (the egress policy's,
/// for endpoints users choose).
pub fn https_client_resolving_with(
    resolver: impl aws_smithy_runtime_api::client::dns::ResolveDns + Clone + 'static,
) -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(resolver)
}
