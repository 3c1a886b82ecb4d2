//! Metrics in CloudWatch Embedded Metric Format, through the `metrics` facade and
//! `metrics_cloudwatch_embedded`: CloudWatch reads them out of the log stream, so they cost
//! no API call. Under Lambda the documents are written after every request (one request is
//! one invocation). A local server records none: nothing reads its stdout for them, its
//! access lines carry the same figures, and an EMF histogram holds at most 100 values
//! between writes, so a server writing on a timer dropped samples (and logged an error for
//! each) past 100 requests per interval.
//!
//! What is recorded, each under namespace [`NAMESPACE`]:
//! - `requests` (count) and `latency` (milliseconds), by `route` and `status_class`;
//! - `failures` (count) of 5xx answers, by `code` (`dependency_unavailable` for a storage
//!   failure or throttling, a provider's code, `internal_error`);
//! - `provider_checks` (count), by `check` and `outcome` (`ok` or the check's error code);
//! - `cache_lookups` (count), by `cache` (`api_keys`, `credentials`) and `result` (`hit`,
//!   `miss`): the hit rate is hits over lookups;
//! - `rate_limited` (count), by `operation`.

use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "VideoVector/Connectors";

/// When the metric documents are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// After every request: under Lambda, one request is one invocation.
    AfterEachRequest,
    /// Only through [`write_to`] (tests).
    WhenAsked,
}

/// The collector, once installed, and when it writes.
static INSTALLED: OnceLock<(&'static Collector, Writes)> = OnceLock::new();

/// Installs the global recorder; a second call does nothing.
pub fn install(writes: Writes) {
    if INSTALLED.get().is_some() {
        return;
    }
    let builder = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE);
    if let Ok(collector) = builder.init() {
        let _ = INSTALLED.set((collector, writes));
    }
}

/// Writes the documents of the request that just finished, when installed for Lambda.
pub fn after_request() {
    if let Some((collector, Writes::AfterEachRequest)) = INSTALLED.get()
        && let Err(e) = collector.flush(AtOnce(Vec::new()))
    {
        tracing::warn!(error = %e, "could not write metrics");
    }
}

/// Gathers what is written and hands it to stdout in one piece when dropped, so a metric
/// document is never interleaved with a log line written meanwhile (log lines are handed
/// over whole too).
struct AtOnce(Vec<u8>);

impl std::io::Write for AtOnce {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for AtOnce {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &self.0);
        }
    }
}

/// Writes every document recorded since the last write to `writer`, if installed.
///
/// # Errors
/// When the writer fails.
pub fn write_to(writer: impl std::io::Write) -> std::io::Result<()> {
    match INSTALLED.get() {
        Some((collector, _)) => collector.flush(writer),
        None => Ok(()),
    }
}

fn installed() -> bool {
    INSTALLED.get().is_some()
}

/// Counts one answered request and its latency, by the route it matched (`unmatched` for
/// none).
pub fn request(status: u16, latency_ms: f64) {
    if !installed() {
        return;
    }
    let route = super::current_route().unwrap_or_else(|| "unmatched".to_owned());
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("requests", "route" => route.clone(), "status_class" => class).increment(1);
    metrics::histogram!("latency", "route" => route).record(latency_ms);
}

/// Counts one 5xx answer by its code.
pub fn failure(code: &str) {
    if !installed() {
        return;
    }
    metrics::counter!("failures", "code" => code.to_owned()).increment(1);
}

/// Counts one provider check and its outcome.
pub fn provider_check(check: &'static str, outcome: &'static str) {
    metrics::counter!("provider_checks", "check" => check, "outcome" => outcome).increment(1);
}

/// Counts one cache lookup.
pub fn cache_lookup(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("cache_lookups", "cache" => cache, "result" => result).increment(1);
}

/// Counts one call refused by a per-account limit.
pub fn rate_limited(operation: &'static str) {
    metrics::counter!("rate_limited", "operation" => operation).increment(1);
}

/// Counts one access grant, and the URLs it signed.
pub fn access_granted(provider: &'static str, purpose: &'static str, urls: usize) {
    let kind = if urls == 0 { "credentials" } else { "urls" };
    metrics::counter!("access_grants", "provider" => provider, "purpose" => purpose, "kind" => kind)
        .increment(1);
    metrics::counter!("signed_urls", "provider" => provider)
        .increment(u64::try_from(urls).unwrap_or(u64::MAX));
}
