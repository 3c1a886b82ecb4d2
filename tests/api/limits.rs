//! Per-account limits on the expensive operations: counted per account in one-minute
//! windows shared by every instance (the store holds the counters), answered 429 in the
//! envelope with `Retry-After`, `RateLimit` and `RateLimit-Policy`.

use axum::http::{Method, StatusCode};
use connectors::domain::apikey::KeyScope;
use connectors::service::App;
use connectors::service::limits::RateLimits;
use serde_json::json;

use crate::helpers::*;

/// The app of `t` with `limits`.
fn limited(t: TestApp, limits: RateLimits) -> TestApp {
    let mut app = App::clone(&t.app);
    app.limits = limits;
    t.with_app(app)
}

/// Waits out the last seconds of a minute, so that a test's calls share one window.
async fn in_one_window() {
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs()
        % 60;
    if into >= 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into)).await;
    }
}

async fn creates_past_an_accounts_limit_are_a_429_that_stores_nothing(t: TestApp) {
    let t = limited(
        t,
        RateLimits {
            tests: 0,
            browses: 0,
            creates: 2,
            accesses: 0,
        },
    );
    in_one_window().await;
    for remaining in [1, 0] {
        let r = t.post_s3(&t.key, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.header("ratelimit-policy"), Some("\"create\";q=2;w=60"));
        let state = r.header("ratelimit").expect("RateLimit");
        assert!(
            state.starts_with(&format!("\"create\";r={remaining};t=")),
            "{state}"
        );
    }
    let r = t.post_s3(&t.key, json!({})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    assert_eq!(
        r.json()["error"]["request_id"].as_str(),
        r.header("x-request-id")
    );
    let retry: u32 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.header("ratelimit-policy"), Some("\"create\";q=2;w=60"));
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"create\";r=0;t={retry}").as_str())
    );
    assert_eq!(
        t.secret_count().await,
        2,
        "the refused create stored nothing"
    );

    // Another account has its own count.
    let other = t.key_for("globex", &[KeyScope::Write]).await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/s3",
            &other,
            &s3_body(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}
on_every_backend!(creates_past_an_accounts_limit_are_a_429_that_stores_nothing);

async fn browse_calls_past_an_accounts_limit_are_a_429_before_any_work(t: TestApp) {
    let t = limited(
        t,
        RateLimits {
            tests: 0,
            browses: 1,
            creates: 0,
            accesses: 0,
        },
    );
    // An export-only connector: the browse that passes the limit stops at the scope
    // check, before any provider is called.
    let c = t
        .create_s3(
            &t.key,
            json!({"scopes": ["export"], "export_base_path": "out/"}),
        )
        .await;
    let path = format!(
        "/api/v2/connectors/{}/browse",
        c["connector_id"].as_str().expect("id")
    );
    in_one_window().await;
    let first = t.json(Method::POST, &path, &t.key, &json!({})).await;
    assert_eq!(first.status, StatusCode::CONFLICT);
    let second = t.json(Method::POST, &path, &t.key, &json!({})).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        second.header("ratelimit-policy"),
        Some("\"browse\";q=1;w=60")
    );
}
on_every_backend!(browse_calls_past_an_accounts_limit_are_a_429_before_any_work);

/// A keyed create, as the published SDK sends it: the same body with the same key.
async fn create_keyed(t: &TestApp, key: &str, body: &serde_json::Value) -> TestResponse {
    let request = t
        .request(Method::POST, "/api/v2/connectors/s3", Some(&t.key))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(body.to_string()))
        .expect("a request");
    t.send(request).await
}

async fn a_retried_create_replays_past_the_limit_and_spends_no_quota(t: TestApp) {
    let t = limited(
        t,
        RateLimits {
            tests: 0,
            browses: 0,
            creates: 2,
            accesses: 0,
        },
    );
    let [k1, k2, k3] = ["k1", "k2", "k3"].map(|k| (k, s3_body(json!({"name": k}))));
    in_one_window().await;
    let first = create_keyed(&t, k1.0, &k1.1).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        create_keyed(&t, k2.0, &k2.1).await.status,
        StatusCode::CREATED
    );
    let refused = create_keyed(&t, k3.0, &k3.1).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_code(), "rate_limited");

    // The SDK's retry of k1 after a timeout is its recovery path: it replays, spending
    // nothing, however often it comes.
    for _ in 0..3 {
        let replay = create_keyed(&t, k1.0, &k1.1).await;
        assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.json());
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.json(), first.json());
    }
    // k3 was refused, so its key holds nothing and its retry is refused again.
    assert_eq!(
        create_keyed(&t, k3.0, &k3.1).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(t.connector_count().await, 2);
}
on_every_backend!(a_retried_create_replays_past_the_limit_and_spends_no_quota);

#[tokio::test]
async fn without_limits_nothing_is_counted_or_refused() {
    let t = limited(
        TestApp::spawn().await,
        RateLimits {
            tests: 0,
            browses: 0,
            creates: 0,
            accesses: 0,
        },
    );
    for _ in 0..3 {
        let r = t.post_s3(&t.key, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.header("ratelimit"), None);
    }
}
