//! Structured JSON logs on stdout (CloudWatch reads them under Lambda), filtered by
//! `RUST_LOG` (default `info`), one [`JsonLine`] per event.
//!
//! The AWS SDK's debug events print credential identities (the access key id), and the
//! Google and Azure crates' debug events describe token requests, so all of them (and the
//! HTTP client under them) are capped at `info` whatever `RUST_LOG` asks for.

mod json_line;
pub mod metrics;
mod request;

pub use json_line::{JsonLine, JsonMembers};
pub use request::{
    Invocation, RequestFields, current_request_id, current_route, in_request, note_route,
    note_tenant,
};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// An error and every `source()` below it, joined with `: `: what a log line or the
/// command line shows of a failure.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        // Some errors repeat their source's text in their own; print each once.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// `spec` (an `EnvFilter` directive such as `info` or `debug`) with the SDK crates capped.
pub fn credential_safe_filter(spec: &str) -> impl Filter<Registry> + Send + Sync + 'static {
    let env = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = Targets::new()
        .with_default(Level::TRACE)
        .with_target("aws_sdk_s3", Level::INFO)
        .with_target("aws_sdk_dynamodb", Level::INFO)
        .with_target("aws_sdk_secretsmanager", Level::INFO)
        .with_target("aws_sdk_sts", Level::INFO)
        // Its AssumeRole provider warns of every refusal, and the external-ID check
        // expects one; the test's report says what STS answered.
        .with_target("aws_config::sts", Level::ERROR)
        .with_target("aws_config", Level::INFO)
        .with_target("aws_smithy_runtime", Level::INFO)
        .with_target("aws_smithy_runtime_api", Level::INFO)
        .with_target("aws_smithy_http_client", Level::INFO)
        .with_target("aws_runtime", Level::INFO)
        .with_target("aws_sigv4", Level::INFO)
        .with_target("google_cloud_auth", Level::INFO)
        .with_target("azure_core", Level::INFO)
        .with_target("azure_identity", Level::INFO)
        .with_target("azure_storage_blob", Level::INFO)
        .with_target("typespec_client_core", Level::INFO)
        .with_target("reqwest", Level::INFO);
    env.and(cap)
}

/// Installs the global subscriber, writing to stdout; a second call does nothing.
pub fn init() {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    init_with(std::io::stdout, &spec);
}

/// Installs the global subscriber with the service's format and `spec` filter, writing to
/// `writer` (tests scan what is written; benchmarks pay for logging into a sink).
pub fn init_with<W>(writer: W, spec: &str)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonMembers)
        .event_format(JsonLine)
        .with_writer(writer)
        .with_filter(credential_safe_filter(spec));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
