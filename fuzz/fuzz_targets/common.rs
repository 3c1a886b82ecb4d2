//! One router on the embedded store, built once per fuzzing process with an admin key and
//! one S3 connector, and a way to send it a request.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use connectors::config::Settings;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::http::Api;
use http_body_util::BodyExt;
use tower::ServiceExt;

pub struct Target {
    runtime: tokio::runtime::Runtime,
    router: Api,
    key: String,
    /// The fixture connector's path, `/api/v2/connectors/conn_…`.
    pub connector: String,
    _data: tempfile::TempDir,
}

impl Target {
    /// Sends one request and answers its status and body.
    pub fn send(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", &self.key)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("a request");
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.expect("a body").to_bytes();
            (status, body.to_vec())
        })
    }

    /// Sends one request and fails the run on a 500: bad input must be a 4xx. A browse, or a
    /// PATCH with new credentials (checked before they are saved), that passes validation
    /// reaches the provider, which is not there: its 502/503/504 is the documented answer
    /// to a provider failure.
    pub fn client_error_or_success(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) {
        let (status, answer) = self.send(method, path, content_type, body);
        assert!(
            status < 500 || (502..=504).contains(&status),
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
}

/// The router, made on first use. Per-account limits are off, so every input reaches the
/// parsers; S3 and STS are "reached" at a closed loopback port, so no input leaves the
/// machine.
pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        // An input may turn the fixture into an IAM role connector: its STS is the same
        // closed port, with credentials from here, so nothing leaves the machine either.
        // SAFETY: set once, before the runtime or any other thread reads the environment.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
            std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAFUZZFUZZFUZZFUZZ");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "fuzz-secret");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let data = tempfile::tempdir().expect("a data directory");
        let settings = Settings {
            // Nothing listens on the discard port: a provider call fails at once.
            s3_endpoint_url: Some("http://127.0.0.1:9".into()),
            rate_limit_tests_per_minute: 0,
            rate_limit_browses_per_minute: 0,
            rate_limit_creates_per_minute: 0,
            ..Settings::embedded(data.path())
        };
        let (router, key) = runtime.block_on(async {
            let app = connectors::startup::build_app(&settings).await.expect("an app");
            let minted = ApiKeyRecord::mint(
                TenantId::parse("fuzz").expect("a tenant"),
                vec![KeyScope::Admin],
                None,
            );
            app.storage.api_keys.put_api_key(&minted.record).await.expect("a key");
            (connectors::http::api(app), minted.reveal().to_owned())
        });
        let mut target = Target {
            runtime,
            router,
            key,
            connector: String::new(),
            _data: data,
        };
        let body = br#"{"name": "Fuzz", "bucket": "media-archive", "region": "us-east-1",
            "aws_access_key_id": "AKIAFUZZFUZZFUZZFUZZ", "aws_secret_access_key": "fuzz-secret",
            "scopes": ["import", "export"]}"#;
        let (status, answer) =
            target.send("POST", "/api/v2/connectors/s3", "application/json", body.to_vec());
        assert_eq!(status, 201, "the fixture connector");
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        let id = answer["connector_id"].as_str().expect("an id");
        target.connector = format!("/api/v2/connectors/{id}");
        target
    })
}
