//! What a request logs: one access line with its id, tenant, route, status and latency,
//! and every other line logged while it ran carrying the same id and tenant.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, logged_for};

fn the_access_line(lines: &[Value]) -> &Value {
    let access: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(access.len(), 1, "one access line per request: {lines:?}");
    access[0]
}

#[tokio::test]
async fn a_request_logs_one_access_line_and_its_other_lines_share_its_id_and_tenant() {
    let t = TestApp::spawn().await;
    let r = t.post_s3(&t.key, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let request_id = r.header("x-request-id").expect("request id");
    let lines = logged_for(request_id);

    let access = the_access_line(&lines);
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["route"], "/api/v2/connectors/s3");
    assert_eq!(access["tenant"], "acme");
    assert_eq!(access["status"], 201);
    assert!(access["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert!(access["timestamp"].is_string());

    let created = lines
        .iter()
        .find(|l| l["message"] == "connector created")
        .unwrap_or_else(|| panic!("no creation line: {lines:?}"));
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["connector_id"], r.json()["connector_id"]);
    assert_eq!(created["provider"], "s3");
}

#[tokio::test]
async fn a_refused_key_logs_the_route_but_no_tenant() {
    let t = TestApp::spawn().await;
    let r = t.get("/api/v2/connectors", "vv_not_a_real_key").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let lines = logged_for(r.header("x-request-id").expect("request id"));
    let access = the_access_line(&lines);
    assert_eq!(access["route"], "/api/v2/connectors");
    assert_eq!(access["status"], 401);
    assert_eq!(access.get("tenant"), None);
}

#[tokio::test]
async fn an_unknown_route_logs_its_status_without_a_route() {
    let t = TestApp::spawn().await;
    let r = t.get("/api/v2/nowhere", &t.key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let lines = logged_for(r.header("x-request-id").expect("request id"));
    let access = the_access_line(&lines);
    assert_eq!(access["status"], 404);
    assert_eq!(access["method"], "GET");
    assert_eq!(access.get("route"), None);
}

#[tokio::test]
async fn under_lambda_every_line_carries_the_invocations_request_id_and_trace_id() {
    use lambda_http::lambda_runtime::{Context, LambdaEvent};
    use lambda_http::request::LambdaRequest;
    use tower::{Service, ServiceExt};

    let t = TestApp::spawn().await;
    let event = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/16-unknown-route.json"),
    )
    .expect("an event");
    let request: LambdaRequest = serde_json::from_slice(&event).expect("an API Gateway event");
    let mut context = Context::default();
    context.request_id = "3f0c9a52-lambda-invocation".into();
    context.xray_trace_id = Some("Root=1-6745f0a1-0123456789abcdef01234567;Sampled=1".into());
    let mut entry = lambda_http::Adapter::from(t.router.clone());
    let response = entry
        .ready()
        .await
        .expect("ready")
        .call(LambdaEvent::new(request, context))
        .await
        .expect("the adapter answers");
    let response = serde_json::to_value(&response).expect("a Lambda response");
    let request_id = response["headers"]["x-request-id"]
        .as_str()
        .expect("X-Request-Id");
    let lines = logged_for(request_id);
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(
            line["lambda_request_id"], "3f0c9a52-lambda-invocation",
            "{line}"
        );
        assert_eq!(
            line["xray_trace_id"], "Root=1-6745f0a1-0123456789abcdef01234567;Sampled=1",
            "{line}"
        );
    }
    // Outside Lambda there is no invocation to name.
    let local = t.get("/api/v2/nowhere", &t.key).await;
    let local_lines = logged_for(local.header("x-request-id").expect("request id"));
    assert!(
        local_lines
            .iter()
            .all(|l| l.get("lambda_request_id").is_none())
    );
}
