//! Metrics in CloudWatch Embedded Metric Format: what a request, a refused call and the
//! caches record, as the documents CloudWatch would read out of the log stream.

use axum::http::StatusCode;
use connectors::service::App;
use connectors::service::limits::RateLimits;
use connectors::telemetry::metrics::{self, NAMESPACE, Writes};
use serde_json::{Value, json};

use crate::helpers::*;

/// The documents written since the last call.
fn documents() -> Vec<Value> {
    let mut out = Vec::new();
    metrics::write_to(&mut out).expect("written");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON document"))
        .collect()
}

/// The document that records `metric` with these dimension values.
fn find<'a>(docs: &'a [Value], metric: &str, dims: &[(&str, &str)]) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d.get(metric).is_some() && dims.iter().all(|(k, v)| d.get(*k) == Some(&json!(v))))
}

#[tokio::test]
async fn requests_refusals_and_cache_lookups_are_written_as_embedded_metric_documents() {
    metrics::install(Writes::WhenAsked);
    let t = TestApp::spawn().await;
    // The AWS wiring's caches, over this app's storage.
    let mut app = App::new(
        connectors::startup::with_caches(t.app.storage.clone()),
        t.app.providers.clone(),
        t.app.secret_prefix.clone(),
    );
    app.limits = RateLimits {
        tests: 0,
        browses: 0,
        creates: 1,
        accesses: 0,
    };
    let t = t.with_app(app);
    assert_eq!(
        t.get("/api/v2/connectors", &t.key).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/api/v2/connectors", &t.key).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/api/v2/nowhere", &t.key).await.status,
        StatusCode::NOT_FOUND
    );
    for expected in [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS] {
        let r = t.post_s3(&t.key, json!({})).await;
        assert_eq!(r.status, expected);
    }

    let docs = documents();
    let listed = find(
        &docs,
        "requests",
        &[("route", "/api/v2/connectors"), ("status_class", "2xx")],
    )
    .unwrap_or_else(|| panic!("no requests document: {docs:?}"));
    assert!(
        listed["requests"].as_u64().is_some_and(|n| n >= 2),
        "{listed}"
    );
    let aws = &listed["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(aws["Namespace"], NAMESPACE);
    assert!(
        aws["Metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["Name"] == "requests")),
        "{aws}"
    );
    let latency = find(&docs, "latency", &[("route", "/api/v2/connectors")])
        .unwrap_or_else(|| panic!("no latency document: {docs:?}"));
    assert!(latency["latency"].is_array(), "{latency}");
    assert!(
        find(
            &docs,
            "requests",
            &[("route", "unmatched"), ("status_class", "4xx")]
        )
        .is_some()
    );
    assert!(
        find(
            &docs,
            "requests",
            &[("route", "/api/v2/connectors/s3"), ("status_class", "4xx")]
        )
        .is_some(),
        "the 429: {docs:?}"
    );
    assert!(find(&docs, "rate_limited", &[("operation", "create")]).is_some());
    assert!(
        find(
            &docs,
            "cache_lookups",
            &[("cache", "api_keys"), ("result", "miss")]
        )
        .is_some()
    );
    assert!(
        find(
            &docs,
            "cache_lookups",
            &[("cache", "api_keys"), ("result", "hit")]
        )
        .is_some()
    );
}
