//! Test harness: a fresh app per test on its own data directory, driven through the router
//! with `oneshot`; generated credentials that every response and log line is checked for.

// Some helpers and imports serve only the emulator-backed suites.
#![cfg_attr(not(feature = "emulators"), allow(unused_imports, dead_code))]

use std::io::Write as _;
use std::sync::{Arc, Mutex, Once, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use connectors::config::Settings;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::http::Api;
use connectors::providers::ProviderSettings;
use connectors::providers::Providers;
use connectors::providers::azure::AzureSettings;
use connectors::providers::s3::S3Settings;
use connectors::service::App;
use connectors::startup::build_app;
use connectors::store::Storage;
use connectors::store::dynamodb::{DynamoStore, create_table};
use connectors::store::secrets_manager::SecretsManagerVault;
use http_body_util::BodyExt;
use rand::Rng;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Every credential a test generated; none may appear in a response or a log line.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Log lines that contained a registered credential.
static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// How many log lines the suite produced (to show the scan saw something).
pub static LOG_LINES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Every log line written inside a request, for tests of what a request logs.
static REQUEST_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The log lines of the request with this id, parsed, in the order written.
pub fn logged_for(request_id: &str) -> Vec<Value> {
    let needle = format!("\"request_id\":\"{request_id}\"");
    REQUEST_LINES
        .lock()
        .map(|lines| lines.clone())
        .unwrap_or_default()
        .iter()
        .filter(|l| l.contains(&needle))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn registered() -> Vec<String> {
    SECRETS.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Every credential registered so far, for scans of what the service answers.
pub fn registered_secrets() -> Vec<String> {
    registered()
}

/// Remembers a credential so the suite can prove it never leaks.
pub fn register_secret(s: &str) {
    if let Ok(mut v) = SECRETS.lock() {
        v.push(s.to_owned());
    }
}

/// A log writer that scans every line for registered credentials.
struct ScanningWriter;

impl std::io::Write for ScanningWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        LOG_LINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if line.contains("\"request_id\"")
            && let Ok(mut lines) = REQUEST_LINES.lock()
        {
            lines.push(line.to_string());
        }
        for s in registered() {
            if line.contains(&s)
                && let Ok(mut l) = LEAKS.lock()
            {
                l.push(line.to_string());
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // The service's own format and filter, at debug: what an operator could turn on
        // must not leak.
        connectors::telemetry::init_with(|| ScanningWriter, "debug,hyper=info,h2=info,rustls=info");
    });
}

/// Asserts that no registered credential was logged so far.
pub fn assert_no_leaks() {
    let leaks = LEAKS.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(leaks.is_empty(), "credentials leaked into logs: {leaks:?}");
}

pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A fresh AWS key pair, registered as secret.
pub fn s3_keys() -> (String, String) {
    let id = format!(
        "{}{}",
        "AKIA",
        random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    );
    let secret = random_string(
        40,
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/",
    );
    register_secret(&id);
    register_secret(&secret);
    (id, secret)
}

/// A fresh Azure client secret, registered.
pub fn azure_secret() -> String {
    let s = format!(
        "az~{}",
        random_string(34, b"abcdefghijklmnopqrstuvwxyz0123456789.-_")
    );
    register_secret(&s);
    s
}

/// A generated PKCS#8 RSA key in PEM; its base64 body is registered.
pub fn private_key_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
        let der = pair.as_der().expect("der");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        // Any 64-character line of the key body must not leak.
        for chunk in b64.as_bytes().chunks(64).skip(1).take(3) {
            register_secret(std::str::from_utf8(chunk).expect("ascii"));
        }
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN {}-----\n{}\n-----END {}-----\n",
            "PRIVATE KEY",
            lines.join("\n"),
            "PRIVATE KEY"
        )
    })
    .clone()
}

/// A service-account key file.
pub fn service_account_json(token_uri: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "media-prod-1",
        "private_key_id": random_string(40, b"0123456789abcdef"),
        "private_key": private_key_pem(),
        "client_email": "importer@media-prod-1.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
}

pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A multipart body with a chosen boundary: text fields, then an optional key file.
pub fn multipart(boundary: &str, fields: &[(&str, &str)], file: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .expect("write");
    }
    if let Some(bytes) = file {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"credentials_file\"; filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .expect("write");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").expect("write");
    body
}

/// A response, with its body read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the status, showing the body when it is another.
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The created connector's path, after checking the answer was a 201.
    pub fn created_path(&self) -> String {
        self.assert_status(StatusCode::CREATED);
        format!(
            "/api/v2/connectors/{}",
            self.json()["connector_id"].as_str().expect("id")
        )
    }

    /// The error code of an error envelope, after checking the envelope's shape.
    pub fn error_code(&self) -> String {
        let v = self.json();
        let request_id = v["error"]["request_id"]
            .as_str()
            .expect("request_id in envelope");
        assert_eq!(
            Some(request_id),
            self.header("x-request-id"),
            "envelope id matches header"
        );
        assert!(
            v["error"]["message"].is_string(),
            "message in envelope: {v}"
        );
        v["error"]["code"].as_str().expect("code").to_owned()
    }

    /// The fields named in a validation error.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["error"]["details"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One app with its own data directory and an admin key for tenant `acme`.
pub struct TestApp {
    pub app: Arc<App>,
    pub router: Api,
    pub key: String,
    _dir: tempfile::TempDir,
}

/// The emulators the test command started: moto's S3, fake-gcs-server, Azurite and its
/// token endpoint. Without `--features emulators` no test reaches a provider, and none is
/// set.
pub fn emulators() -> ProviderSettings {
    let endpoint = |name: &str| {
        let value = std::env::var(name).ok();
        if cfg!(feature = "emulators") && value.is_none() {
            panic!(
                "{name} is not set: the emulator-backed suites need the emulators that \
                 `bash infra/test.sh` installs and starts (run that, or `cargo test` without \
                 --features emulators for the hermetic suites)"
            );
        }
        value
    };
    ProviderSettings {
        s3: S3Settings {
            endpoint_url: endpoint("MOTO_ENDPOINT"),
            ..S3Settings::default()
        },
        gcs_endpoint_url: endpoint("FAKE_GCS_ENDPOINT"),
        // The stand-in for Google's OAuth and STS (infra/token_endpoint.py).
        gcs_tokens: endpoint("AZURE_TOKEN_ENDPOINT").map(|base| {
            connectors::providers::gcs::adapter::TokenEndpoints {
                oauth: format!("{base}/google/token"),
                sts: format!("{base}/google/v1/token"),
            }
        }),
        gcs_identity: gcs_identity_pool(&impersonable()),
        azure: AzureSettings {
            endpoint_url: endpoint("AZURITE_BLOB_ENDPOINT"),
            authority_host: endpoint("AZURE_TOKEN_ENDPOINT"),
            identity: azure_app(),
        },
        service_principal_arn: None,
        aws: None,
    }
}

/// The operator's Entra app the test command's token stand-in knows (its federated
/// credential trusts moto's caller); none without the emulators.
pub fn azure_app() -> Option<connectors::providers::azure::identity::IdentitySettings> {
    let client_id = std::env::var("AZURE_IDENTITY_CLIENT_ID").ok()?;
    Some(connectors::providers::azure::identity::IdentitySettings {
        client_id: connectors::providers::azure::names::Guid::parse(&client_id).ok()?,
        audience: connectors::providers::azure::identity::DEFAULT_AUDIENCE.to_owned(),
    })
}

/// The service accounts the Google stand-in lets the service act as.
pub fn impersonable() -> Vec<String> {
    std::env::var("GOOGLE_IMPERSONABLE")
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The workload identity federation the test command's Google stand-ins trust, handing
/// out `service_accounts`; none without the emulators.
pub fn gcs_identity_pool(
    service_accounts: &[String],
) -> Option<connectors::providers::gcs::identity::IdentitySettings> {
    let base = std::env::var("AZURE_TOKEN_ENDPOINT").ok()?;
    Some(connectors::providers::gcs::identity::IdentitySettings {
        audience: std::env::var("GOOGLE_WIF_AUDIENCE").ok()?,
        service_accounts: service_accounts.to_vec(),
        sts_url: format!("{base}/google/v1/token"),
        iam_url: format!("{base}/google/iam"),
    })
}

#[cfg(feature = "emulators")]
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: the emulator-backed suites need `bash infra/test.sh`, \
         which installs and starts moto",
    )
}

/// The AWS SDK configuration for moto: its endpoint, a region, and dummy credentials.
#[cfg(feature = "emulators")]
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// Adapters on moto: a fresh table, and a secret prefix no other test uses.
#[cfg(feature = "emulators")]
pub async fn aws_adapters() -> (DynamoStore, SecretsManagerVault, String) {
    let config = moto_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let suffix = random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789");
    let table = format!("connectors-{suffix}");
    create_table(&dynamodb, &table)
        .await
        .expect("create table in moto");
    let prefix = format!("test-{suffix}/connectors");
    let vault = SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&config),
        None,
        prefix.clone(),
    );
    (DynamoStore::new(dynamodb, table), vault, prefix)
}

/// The app over the moto adapters, wired as on AWS (caches included), customer buckets in
/// moto's S3.
#[cfg(feature = "emulators")]
pub async fn aws_app() -> App {
    let (store, vault, prefix) = aws_adapters().await;
    App::new(
        connectors::startup::with_caches(Storage::on(Arc::new(store), Arc::new(vault))),
        Arc::new(Providers::new(emulators())),
        prefix,
    )
}

/// Registers a scenario, an `async fn(TestApp)` written just above the call, twice: on the
/// embedded adapters and on DynamoDB + Secrets Manager in moto, as the tests
/// `<scenario>::on_the_embedded_store` and `<scenario>::on_dynamodb_and_secrets_manager`.
macro_rules! on_every_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_the_embedded_store() {
                super::$name(crate::helpers::TestApp::spawn().await).await;
            }

            #[cfg(feature = "emulators")]
            #[tokio::test]
            async fn on_dynamodb_and_secrets_manager() {
                super::$name(crate::helpers::TestApp::spawn_on_aws().await).await;
            }
        }
    };
}

impl TestApp {
    /// An app on the embedded store, in a fresh data directory.
    pub async fn spawn() -> Self {
        Self::spawn_reaching(emulators()).await
    }

    /// An app on the embedded store whose provider clients go where `providers` says.
    pub async fn spawn_reaching(providers: ProviderSettings) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            s3_endpoint_url: providers.s3.endpoint_url,
            s3_allowed_endpoints: providers.s3.egress,
            gcs_endpoint_url: providers.gcs_endpoint_url,
            gcs_oauth_token_url: providers.gcs_tokens.as_ref().map(|t| t.oauth.clone()),
            gcs_sts_token_url: providers
                .gcs_identity
                .as_ref()
                .map(|i| i.sts_url.clone())
                .or_else(|| providers.gcs_tokens.as_ref().map(|t| t.sts.clone())),
            gcs_workload_identity_audience: providers
                .gcs_identity
                .as_ref()
                .map(|i| i.audience.clone()),
            gcs_service_accounts: providers
                .gcs_identity
                .as_ref()
                .map(|i| i.service_accounts.clone())
                .unwrap_or_default(),
            gcs_iam_credentials_url: providers.gcs_identity.as_ref().map(|i| i.iam_url.clone()),
            azure_endpoint_url: providers.azure.endpoint_url,
            azure_authority_host: providers.azure.authority_host,
            azure_identity_client_id: providers
                .azure
                .identity
                .as_ref()
                .map(|i| i.client_id.to_string()),
            azure_identity_audience: providers.azure.identity.as_ref().map_or_else(
                || connectors::providers::azure::identity::DEFAULT_AUDIENCE.to_owned(),
                |i| i.audience.clone(),
            ),
            service_principal_arn: providers.service_principal_arn,
            ..Settings::embedded(dir.path())
        };
        let app = build_app(&settings).await.expect("app");
        Self::around(app, dir).await
    }

    /// An app on DynamoDB and Secrets Manager in moto, with its own table and secret prefix.
    #[cfg(feature = "emulators")]
    pub async fn spawn_on_aws() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::around(Arc::new(aws_app().await), dir).await
    }

    /// Serves `app` and mints the admin key of tenant `acme`.
    async fn around(app: Arc<App>, dir: tempfile::TempDir) -> Self {
        init_logs();
        let router = connectors::http::api(Arc::clone(&app));
        let mut t = Self {
            app,
            router,
            key: String::new(),
            _dir: dir,
        };
        t.key = t.key_for("acme", &[KeyScope::Admin]).await;
        t
    }

    /// The same data and key, served by another app (e.g. one whose adapters are wrapped).
    pub fn with_app(self, app: App) -> Self {
        let app = Arc::new(app);
        Self {
            router: connectors::http::api(Arc::clone(&app)),
            app,
            ..self
        }
    }

    /// Another instance of the service over the same stores, as a second Lambda would
    /// be: its own caches (keys, credentials) in front of the same records and vault, its
    /// own provider clients; the same admin key works on both.
    pub fn another_instance(&self) -> TestApp {
        let app = App::new(
            connectors::startup::with_caches(self.app.storage.clone()),
            Arc::new(Providers::new(emulators())),
            self.app.secret_prefix.clone(),
        );
        let app = Arc::new(app);
        TestApp {
            router: connectors::http::api(Arc::clone(&app)),
            app,
            key: self.key.clone(),
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Mints a key for a tenant with scopes.
    pub async fn key_for(&self, tenant: &str, scopes: &[KeyScope]) -> String {
        let key = ApiKeyRecord::mint(
            TenantId::parse(tenant).expect("tenant"),
            scopes.to_vec(),
            None,
        );
        self.app
            .storage
            .api_keys
            .put_api_key(&key.record)
            .await
            .expect("store key");
        key.reveal().to_owned()
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        let text = String::from_utf8_lossy(&body);
        for s in registered() {
            assert!(
                !text.contains(&s),
                "a credential leaked into a response body: {text}"
            );
            for v in parts.headers.values() {
                assert!(
                    !v.to_str().unwrap_or("").contains(&s),
                    "a credential leaked into a header"
                );
            }
        }
        assert!(
            parts.headers.contains_key("x-request-id"),
            "every response has X-Request-Id"
        );
        assert_no_leaks();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            b = b.header("x-api-key", k);
        }
        b
    }

    pub async fn json(&self, method: Method, path: &str, key: &str, body: &Value) -> TestResponse {
        let req = self
            .request(method, path, Some(key))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(req).await
    }

    pub async fn get(&self, path: &str, key: &str) -> TestResponse {
        self.send(
            self.request(Method::GET, path, Some(key))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn post_empty(&self, path: &str, key: &str) -> TestResponse {
        self.send(
            self.request(Method::POST, path, Some(key))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> TestResponse {
        self.send(
            self.request(Method::DELETE, path, Some(key))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    /// Creates an S3 connector with the given overrides and returns its JSON.
    pub async fn create_s3(&self, key: &str, overrides: Value) -> Value {
        let r = self
            .json(
                Method::POST,
                "/api/v2/connectors/s3",
                key,
                &s3_body(overrides),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    /// Revokes the key whose plaintext is `key`, as the operator's command does.
    pub async fn revoke_key(&self, key: &str) {
        let keys = &self.app.storage.api_keys;
        let record = keys
            .list_api_keys()
            .await
            .expect("keys")
            .into_iter()
            .find(|k| k.hash == connectors::domain::apikey::KeyHash::of(key))
            .expect("the key's record");
        keys.revoke_api_key(
            &record.key_id,
            connectors::domain::timestamp::Timestamp::now(),
        )
        .await
        .expect("revoke");
    }

    /// Sends an S3 create with the given overrides, whatever it answers.
    pub async fn post_s3(&self, key: &str, overrides: Value) -> TestResponse {
        self.json(
            Method::POST,
            "/api/v2/connectors/s3",
            key,
            &s3_body(overrides),
        )
        .await
    }

    /// How many connectors are stored, of every account.
    pub async fn connector_count(&self) -> usize {
        self.app
            .storage
            .connectors
            .all_connectors()
            .await
            .expect("all connectors")
            .len()
    }

    /// The plaintext stored for the only connector of this app.
    pub async fn only_stored_secret(&self) -> String {
        let mut all = self
            .app
            .storage
            .connectors
            .all_connectors()
            .await
            .expect("all");
        assert_eq!(all.len(), 1, "exactly one connector");
        let record = all.pop().expect("one");
        let stored = self
            .app
            .storage
            .vault
            .get(record.access.secret().expect("a stored secret"))
            .await
            .expect("secret");
        secrecy::ExposeSecret::expose_secret(&stored).to_owned()
    }

    pub async fn secret_count(&self) -> usize {
        self.app.storage.vault.names().await.expect("names").len()
    }
}

/// A valid S3 create body, with fields replaced or added from `overrides`.
pub fn s3_body(overrides: Value) -> Value {
    let (id, secret) = s3_keys();
    let mut body = json!({
        "name": "Archive S3",
        "bucket": "media-archive",
        "region": "us-east-1",
        "aws_access_key_id": id,
        "aws_secret_access_key": secret,
    });
    if let (Some(b), Some(o)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

pub fn azure_body() -> Value {
    json!({
        "name": "Footage",
        "storage_account": "mediastore01",
        "container": "raw-footage",
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "client_secret": azure_secret(),
        "scopes": ["import", "export"],
    })
}

/// An S3 client for moto, to set up buckets as a customer would.
#[cfg(feature = "emulators")]
pub fn moto_client() -> aws_sdk_s3::Client {
    s3_client_at(&moto_endpoint())
}

/// An S3 client for an S3 service at `endpoint` (moto, over HTTP or HTTPS).
#[cfg(feature = "emulators")]
pub fn s3_client_at(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .http_client(connectors::aws_http::https_client())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A fresh bucket holding `keys` (each object's body is its key).
#[cfg(feature = "emulators")]
pub async fn bucket_with(keys: &[&str]) -> String {
    bucket_on(&moto_client(), keys).await
}

/// A fresh bucket holding `keys` on the service `client` reaches.
#[cfg(feature = "emulators")]
pub async fn bucket_on(client: &aws_sdk_s3::Client, keys: &[&str]) -> String {
    let name = format!(
        "media-{}",
        random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789")
    );
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    for key in keys {
        client
            .put_object()
            .bucket(&name)
            .key(*key)
            .body(key.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put object");
    }
    name
}

/// The names of a test report's checks, in order.
pub fn check_names(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .map(|checks| checks.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default()
}

/// The keys the files in `events/` carry (see `infra/make-events.py`).
pub const EVENTS_ACME_KEY: &str = "sk_live_example_acme_admin_events_0000000001";
pub const EVENTS_GLOBEX_KEY: &str = "sk_live_example_globex_read_events_000000001";

/// A stored key whose plaintext the caller chose (the events' fixed keys).
pub fn known_key(tenant: &str, plaintext: &str, scope: KeyScope) -> ApiKeyRecord {
    ApiKeyRecord {
        key_id: format!("key_events_{tenant}"),
        hash: connectors::domain::apikey::KeyHash::of(plaintext),
        tenant: TenantId::parse(tenant).expect("tenant"),
        scopes: vec![scope],
        created_at: connectors::domain::timestamp::Timestamp::now(),
        expires_at: None,
        revoked_at: None,
    }
}

/// A new IAM user on the moto at `endpoint`, with `permissions` inline when given, and its
/// key pair (`infra/moto_iam.py user`): keys moto knows, so the presigned URLs and
/// federation tokens made with them are checked as AWS checks them. The secret is
/// registered as one that must never leak; the key id may appear in a presigned URL.
#[cfg(feature = "emulators")]
pub fn moto_user(endpoint: &str, permissions: Option<&Value>) -> (String, String) {
    let name = format!(
        "uploader-{}",
        random_string(10, b"abcdefghijklmnopqrstuvwxyz")
    );
    let mut args = vec![
        "infra/moto_iam.py".to_owned(),
        "user".into(),
        endpoint.into(),
        name,
    ];
    if let Some(p) = permissions {
        args.push(p.to_string());
    }
    let out = std::process::Command::new(".venv/bin/python")
        .args(&args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: Value = serde_json::from_slice(&out.stdout).expect("the key as JSON");
    let secret = key["SecretAccessKey"]
        .as_str()
        .expect("a secret")
        .to_owned();
    register_secret(&secret);
    (
        key["AccessKeyId"].as_str().expect("an id").to_owned(),
        secret,
    )
}

/// `t` without per-account limits: the races send more calls than a minute allows.
pub fn unlimited(t: TestApp) -> TestApp {
    let mut app = connectors::service::App::clone(&t.app);
    app.limits = connectors::service::limits::RateLimits {
        tests: 0,
        browses: 0,
        creates: 0,
        accesses: 0,
    };
    t.with_app(app)
}
