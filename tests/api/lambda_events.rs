//! Lambda mode: every API Gateway event in `events/` replayed, in order, through the entry
//! point `lambda_http::run` uses (its `Adapter` around the same router), with the status and
//! body each one must produce.

use std::path::PathBuf;

use connectors::domain::apikey::KeyScope;
use connectors::domain::connector::Location;
use connectors::domain::credentials::Credentials;
use connectors::domain::ids::{ConnectorId, TenantId};
use connectors::domain::names::ConnectorName;
use connectors::domain::paths::ExportBasePath;
use connectors::domain::scopes::{ImportMode, Scopes};
use connectors::providers::s3::credentials::S3Credentials;
use connectors::providers::s3::location::S3Location;
use connectors::providers::s3::names::{AwsRegion, S3BucketName};
use connectors::service::connectors::{NewAccess, NewConnector};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use tower::{Service, ServiceExt};

use crate::helpers::*;

/// The connector the events name (see `infra/make-events.py`).
const FIXTURE_ID: &str = "conn_01jd8x0k6m3q4r5s6t7v8w9xyz";

type Check = fn(&Value);

fn error_code(code: &'static str) -> impl Fn(&Value) {
    move |body: &Value| assert_eq!(body["error"]["code"], code, "{body}")
}

/// What each event must produce: its status, and a look at its body.
fn expectations() -> Vec<(&'static str, u16, Check)> {
    vec![
        ("01-create-s3", 201, |b| assert_eq!(b["provider"], "s3")),
        ("02-create-azure", 201, |b| {
            assert_eq!(b["provider"], "azure")
        }),
        ("03-create-gcs-multipart", 201, |b| {
            assert_eq!(
                (b["provider"].as_str(), b["gcp_project_id"].as_str()),
                (Some("gcs"), Some("media-prod-1"))
            );
            assert_eq!(b["scopes"], serde_json::json!(["import", "export"]));
        }),
        ("04-create-gcs-bad-key", 422, |b| {
            error_code("validation_error")(b)
        }),
        ("05-create-invalid-bucket", 422, |b| {
            assert_eq!(b["error"]["details"]["fields"][0]["field"], "bucket", "{b}");
        }),
        ("06-list", 200, |b| {
            assert_eq!(b.as_array().map(Vec::len), Some(4), "{b}");
        }),
        ("07-list-filtered", 200, |b| {
            let all = b.as_array().expect("array");
            assert_eq!(all.len(), 1);
            assert_eq!(all[0]["provider"], "gcs");
        }),
        ("08-get", 200, |b| assert_eq!(b["connector_id"], FIXTURE_ID)),
        ("09-get-foreign-tenant", 404, |b| {
            error_code("connector_not_found")(b)
        }),
        ("10-patch", 200, |b| {
            assert_eq!(b["name"], "Archive (renamed)")
        }),
        ("11-patch-stale-if-match", 412, |b| {
            error_code("precondition_failed")(b)
        }),
        ("12-test", 200, |b| {
            assert_eq!(b["success"], true, "{b}");
            let names: Vec<&str> = b["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            assert!(
                names.contains(&"list") && names.contains(&"authenticate"),
                "{b}"
            );
        }),
        ("13-browse", 200, |b| {
            let paths: Vec<&str> = b
                .as_array()
                .expect("array")
                .iter()
                .filter_map(|f| f["path"].as_str())
                .collect();
            assert_eq!(paths, ["footage/a.mp4", "footage/day2/b.mp4"], "{b}");
        }),
        ("14-read-key-may-not-delete", 403, |b| {
            error_code("insufficient_scope")(b)
        }),
        ("15-unauthenticated", 401, |b| {
            error_code("authentication_required")(b)
        }),
        ("16-unknown-route", 404, |b| error_code("not_found")(b)),
        ("17-wrong-method", 405, |b| {
            error_code("method_not_allowed")(b)
        }),
        ("18-malformed-json", 400, |b| {
            error_code("malformed_json")(b)
        }),
        ("19-delete", 200, |b| {
            assert_eq!(b["message"], format!("connector {FIXTURE_ID} deleted"));
        }),
        ("20-get-deleted", 404, |b| {
            error_code("connector_not_found")(b)
        }),
    ]
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

/// Two tenants with the events' keys, and acme's S3 connector on a moto bucket.
async fn fixture() -> TestApp {
    let t = TestApp::spawn().await;
    for (tenant, key, scope) in [
        ("acme", EVENTS_ACME_KEY, KeyScope::Admin),
        ("globex", EVENTS_GLOBEX_KEY, KeyScope::Read),
    ] {
        let record = known_key(tenant, key, scope);
        t.app
            .storage
            .api_keys
            .put_api_key(&record)
            .await
            .expect("key");
    }
    let bucket = bucket_with(&["footage/a.mp4", "footage/day2/b.mp4", "footage/c.mov"]).await;
    let (key_id, secret) = s3_keys();
    let new = NewConnector {
        name: ConnectorName::parse("Archive").expect("name"),
        location: Location::S3(S3Location {
            bucket: S3BucketName::parse(&bucket).expect("bucket"),
            region: AwsRegion::parse("us-east-1").expect("region"),
            endpoint_url: None,
            force_path_style: false,
        }),
        scopes: Scopes::parse(&["import", "export"]).expect("scopes"),
        import_mode: ImportMode::parse("all").expect("mode"),
        export_base_path: Some(ExportBasePath::parse("exports/").expect("path")),
        access: NewAccess::Keys(Credentials::S3(
            S3Credentials::parse(&key_id, &secret).expect("creds"),
        )),
    };
    t.app
        .create_connector(
            &TenantId::parse("acme").expect("tenant"),
            ConnectorId::parse(FIXTURE_ID).expect("id"),
            new,
            &connectors::domain::events::Actor {
                key_id: "key_fixture".into(),
                request_id: "req_fixture".into(),
            },
        )
        .await
        .expect("fixture connector");
    t
}

#[tokio::test]
async fn every_event_in_events_replays_through_the_lambda_entry_point() {
    let t = fixture().await;
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    files.sort();
    let expected = expectations();
    let named: Vec<&str> = expected.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        files, named,
        "every event has an expectation and every expectation an event \
         (03 is written by `python3 infra/make-events.py`, which the test command runs)"
    );

    let mut entry = lambda_http::Adapter::from(t.router.clone());
    for (name, status, check) in expected {
        let raw = std::fs::read(events_dir().join(format!("{name}.json"))).expect("read event");
        let request: LambdaRequest = serde_json::from_slice(&raw).expect("an API Gateway event");
        let response = entry
            .ready()
            .await
            .expect("ready")
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .expect("the adapter answers");
        let response = serde_json::to_value(&response).expect("a Lambda response");
        assert_eq!(response["statusCode"], status, "{name}: {response}");
        assert!(
            response["headers"]["x-request-id"].is_string(),
            "{name}: X-Request-Id"
        );
        let text = response["body"].as_str().unwrap_or_default();
        let body: Value = if response["isBase64Encoded"] == true {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64");
            serde_json::from_slice(&bytes).expect("JSON body")
        } else {
            serde_json::from_str(text).expect("JSON body")
        };
        check(&body);
    }
}
