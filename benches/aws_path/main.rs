//! The AWS path measured: latency and round trips of each operation on DynamoDB, Secrets
//! Manager and S3 with network delay, cold start to a first answer read from DynamoDB over
//! TLS next to a Python boto3 handler, and peak memory in Lambda mode.
//!
//! `bash infra/bench-aws-path.sh [parts]` starts the emulators and runs `cargo bench
//! --bench aws_path -- [parts]`. Every AWS call goes through [`proxy::Proxy`], an HTTPS
//! proxy in front of moto (the test CA's certificate) that holds each request a fixed
//! delay and counts requests by service. Parts, all by default:
//! - `latency`: each operation through the router in process, on adapters wired as
//!   start-up wires them. Cold: a fresh instance (new clients, empty caches, no
//!   connections) per sample; warm: one instance, after a warm-up.
//! - `cold-start`: process start → the answer to `GET /connectors/{id}` read from DynamoDB,
//!   for the release binary in Lambda mode and for a boto3 handler doing the same reads,
//!   both through a local runtime API ([`runtime_api::RuntimeApi`]).
//! - `memory`: the release binary's peak resident memory in Lambda mode while it browses
//!   100,000 objects (seeded first, some minutes), and the log bytes a request writes;
//! - `concurrency`: its peak memory under 32 concurrent invocations
//!   (`AWS_LAMBDA_MAX_CONCURRENCY`, as on Lambda Managed Instances);
//! - `roles`: a test on an IAM role connector (AssumeRole included) against one on a key
//!   connector, cold and warm, on the moto that checks IAM ([`roles`]).
//! - `keyless`: a test on a keyless GCS connector and a keyless Azure connector (workload
//!   identity) against their key-file and client-secret twins, cold and warm ([`keyless`]).
//!
//! Under `cargo test` (no `--bench`) it runs a small latency pass, and skips when the
//! emulators are not running.

mod keyless;
mod proxy;
mod roles;
mod runtime_api;
#[path = "../support/seed.rs"]
mod seed;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::http::Api;
use connectors::providers::s3::S3Settings;
use connectors::providers::{ProviderSettings, Providers};
use connectors::service::App;
use connectors::service::limits::RateLimits;
use connectors::store::Storage;
use connectors::store::dynamodb::{DynamoStore, create_table};
use connectors::store::secrets_manager::SecretsManagerVault;
use http_body_util::BodyExt;
use proxy::{Calls, Proxy};
use runtime_api::RuntimeApi;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The binary's allocator, so the in-process figures are the shipped binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Plan {
    cold: usize,
    warm: usize,
    warmup: usize,
    starts: usize,
    objects: usize,
}

const FULL: Plan = Plan {
    cold: 30,
    warm: 300,
    warmup: 20,
    starts: 15,
    objects: 100_000,
};

const SMOKE: Plan = Plan {
    cold: 2,
    warm: 3,
    warmup: 1,
    starts: 1,
    objects: 50,
};

/// What each AWS call is held before it is forwarded: a same-region round trip.
const DELAY: Duration = Duration::from_millis(5);
const TENANT: &str = "bench";
const PREFIX: &str = "bench/connectors";

fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |part: &str| {
        if full {
            parts.is_empty() || parts.iter().any(|p| p == part)
        } else {
            part == "latency"
        }
    };
    let Ok(moto) = std::env::var("MOTO_ENDPOINT") else {
        println!("aws_path: MOTO_ENDPOINT is not set; run infra/bench-aws-path.sh");
        return Ok(());
    };
    let tls_dir = std::env::var("TEST_TLS_DIR").ok();
    ensure!(
        tls_dir.is_some() || !full,
        "TEST_TLS_DIR is not set; run infra/bench-aws-path.sh"
    );
    let plan = if full { &FULL } else { &SMOKE };
    connectors::telemetry::init_with(std::io::sink, "warn");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let tls = tls_dir.as_ref().map(|d| {
                (
                    format!("{d}/server.pem"),
                    format!("{d}/server-key.pem"),
                    format!("{d}/ca.pem"),
                )
            });
            let cert = tls.as_ref().map(|(c, k, _)| (c.as_str(), k.as_str()));
            if wants("latency") {
                let proxy = Proxy::start(&moto, cert, DELAY).await?;
                latency(plan, &proxy, &moto).await?;
            }
            if wants("roles") {
                roles::roles(plan, cert, DELAY).await?;
            }
            if wants("keyless") {
                keyless::keyless(plan, cert, &moto).await?;
            }
            if wants("cold-start") || wants("memory") || wants("concurrency") {
                let binary = std::env::var("CONNECTORS_RELEASE_BIN")
                    .context("CONNECTORS_RELEASE_BIN names the release binary")?;
                let proxy = Proxy::start(&moto, cert, Duration::ZERO).await?;
                let ca = tls
                    .as_ref()
                    .map(|(_, _, ca)| ca.clone())
                    .unwrap_or_default();
                let process = Process {
                    binary,
                    proxy: proxy.url.clone(),
                    ca,
                };
                if wants("cold-start") {
                    let fixture = Fixture::seed(&proxy, &moto, 20).await?;
                    cold_start(plan, &process, &fixture).await?;
                }
                if wants("memory") {
                    let fixture = Fixture::seed(&proxy, &moto, plan.objects).await?;
                    memory(&process, &fixture).await?;
                }
                if wants("concurrency") {
                    // 1,000 objects, one provider page: moto lists that for 32 callers at
                    // once within the browse's time bound (5,000 each, it does not).
                    let fixture = Fixture::seed(&proxy, &moto, 1_000).await?;
                    concurrency(&process, &fixture).await?;
                }
            }
            Ok(())
        })
}

// ---------------------------------------------------------------------------------------
// Fixture and instances

/// A table with one account's admin key and one S3 connector on a seeded bucket.
struct Fixture {
    table: String,
    bucket: String,
    key: String,
    connector: String,
    objects: usize,
}

impl Fixture {
    async fn seed(proxy: &Proxy, moto: &str, objects: usize) -> Result<Self> {
        let suffix = ulid::Ulid::new().to_string().to_lowercase();
        let table = format!("bench-{suffix}");
        let bucket = format!("bench-{suffix}");
        let config = sdk_config(&proxy.url).await;
        create_table(&aws_sdk_dynamodb::Client::new(&config), &table).await?;
        let keys = Arc::new(
            (0..objects)
                .map(|i| format!("f{}/clip-{i:07}.mp4", i % 10))
                .collect::<Vec<_>>(),
        );
        let started = Instant::now();
        seed::seed_s3(&seed::s3_client(moto), &bucket, &keys).await?;
        if objects > 1_000 {
            println!(
                "seeded {objects} objects in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        let app = instance(proxy, &table).await;
        let tenant = TenantId::parse(TENANT).context("tenant")?;
        let minted = ApiKeyRecord::mint(tenant, vec![KeyScope::Admin], None);
        app.storage.api_keys.put_api_key(&minted.record).await?;
        let key = minted.reveal().to_owned();
        let router = connectors::http::api(app);
        let (status, body, _) = send(&router, create_request(&key, &bucket, None)).await?;
        ensure!(status == StatusCode::CREATED, "seeding answered {status}");
        let connector = body["connector_id"]
            .as_str()
            .context("a connector id")?
            .to_owned();
        proxy.take();
        Ok(Self {
            table,
            bucket,
            key,
            connector,
            objects,
        })
    }
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .http_client(connectors::aws_http::https_client())
        .load()
        .await
}

/// A fresh instance as start-up builds one on AWS (adapters, caches, provider factory),
/// with the per-account limits far above what the bench sends, so that every operation
/// still pays its limit counter.
async fn instance(proxy: &Proxy, table: &str) -> Arc<App> {
    let config = sdk_config(&proxy.url).await;
    instance_with(&config, table, ProviderSettings::default(), proxy)
}

/// An instance whose records and secrets are reached with `config` and whose providers
/// are `providers` with S3 behind the proxy.
fn instance_with(
    config: &aws_config::SdkConfig,
    table: &str,
    providers: ProviderSettings,
    proxy: &Proxy,
) -> Arc<App> {
    let storage = connectors::startup::with_caches(Storage::on(
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(config),
            table,
        )),
        Arc::new(SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(config),
            None,
            PREFIX,
        )),
    ));
    let providers = Providers::new(ProviderSettings {
        s3: S3Settings {
            endpoint_url: Some(proxy.url.clone()),
            ..S3Settings::default()
        },
        ..providers
    });
    let mut app = App::new(storage, Arc::new(providers), PREFIX.to_owned());
    app.limits = RateLimits {
        tests: 1_000_000,
        browses: 1_000_000,
        creates: 1_000_000,
        accesses: 1_000_000,
    };
    Arc::new(app)
}

// ---------------------------------------------------------------------------------------
// Latency and round trips

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Get,
    List,
    Browse,
    Test,
    Create,
    Rotate,
    RotateUnchecked,
}

const OPERATIONS: [(Operation, &str); 7] = [
    (Operation::Get, "GET /connectors/{id}"),
    (Operation::List, "GET /connectors"),
    (Operation::Browse, "POST /connectors/{id}/browse"),
    (Operation::Test, "POST /connectors/{id}/test"),
    (Operation::Create, "POST /connectors/s3 (keyed)"),
    (Operation::Rotate, "PATCH new keys, checked"),
    (
        Operation::RotateUnchecked,
        "PATCH new keys, ?validate=false",
    ),
];

fn request(op: Operation, f: &Fixture) -> Result<Request<Body>> {
    let id = &f.connector;
    let builder = |method: &str, path: String| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", &f.key)
    };
    Ok(match op {
        Operation::Get => builder("GET", format!("/api/v2/connectors/{id}")).body(Body::empty())?,
        Operation::List => builder("GET", "/api/v2/connectors".into()).body(Body::empty())?,
        Operation::Browse => builder("POST", format!("/api/v2/connectors/{id}/browse"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"prefix": "f0/", "pattern": "*.mp4"}).to_string(),
            ))?,
        Operation::Test => {
            builder("POST", format!("/api/v2/connectors/{id}/test")).body(Body::empty())?
        }
        Operation::Create => {
            create_request(&f.key, &f.bucket, Some(&ulid::Ulid::new().to_string()))
        }
        Operation::Rotate | Operation::RotateUnchecked => {
            let query = if op == Operation::Rotate {
                ""
            } else {
                "?validate=false"
            };
            builder("PATCH", format!("/api/v2/connectors/{id}{query}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({
                        "aws_access_key_id": "AKIABENCHBENCHBENCH1",
                        "aws_secret_access_key": "bench-secret-rotated-bench",
                    })
                    .to_string(),
                ))?
        }
    })
}

fn create_request(key: &str, bucket: &str, idempotency_key: Option<&str>) -> Request<Body> {
    let body = json!({
        "name": "Bench S3",
        "bucket": bucket,
        "region": "us-east-1",
        "aws_access_key_id": "AKIABENCHBENCHBENCH0",
        "aws_secret_access_key": "bench-secret-bench-secret",
        "scopes": ["import", "export"],
    });
    let mut builder = Request::post("/api/v2/connectors/s3")
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = idempotency_key {
        builder = builder.header("idempotency-key", k);
    }
    builder
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

async fn send(router: &Api, request: Request<Body>) -> Result<(StatusCode, Value, Duration)> {
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let took = started.elapsed();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    ensure!(
        status.is_success(),
        "answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok((status, body, took))
}

/// Samples of one operation and the calls the last one made.
struct Sampled {
    times: Vec<Duration>,
    calls: Calls,
}

impl Sampled {
    fn percentile(&self, p: f64) -> f64 {
        let mut t = self.times.clone();
        t.sort();
        let i = ((t.len() as f64 - 1.0) * p).round() as usize;
        t.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

/// `plan.cold` samples of `request`, each on a fresh instance from `fresh`.
async fn cold<F, Fut>(
    plan: &Plan,
    proxy: &Proxy,
    fresh: F,
    request: impl Fn() -> Result<Request<Body>>,
) -> Result<Sampled>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<App>>,
{
    let mut times = Vec::new();
    let mut calls = Calls::new();
    for _ in 0..plan.cold {
        let router = connectors::http::api(fresh().await);
        proxy.take();
        let (_, _, took) = send(&router, request()?).await?;
        times.push(took);
        calls = proxy.take();
    }
    Ok(Sampled { times, calls })
}

/// `plan.warm` samples of `request` on one instance, after `plan.warmup` more.
async fn warm(
    plan: &Plan,
    router: &Api,
    proxy: &Proxy,
    request: impl Fn() -> Result<Request<Body>>,
) -> Result<Sampled> {
    for _ in 0..plan.warmup {
        send(router, request()?).await?;
    }
    let mut times = Vec::new();
    let mut calls = Calls::new();
    for _ in 0..plan.warm {
        proxy.take();
        let (_, _, took) = send(router, request()?).await?;
        times.push(took);
        calls = proxy.take();
    }
    Ok(Sampled { times, calls })
}

/// The heading of a latency table.
fn heading(first: &str) {
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}   {:<26} {:<24}",
        first,
        "cold p50",
        "cold p99",
        "warm p50",
        "warm p99",
        "calls cold (ddb/sm/sts/s3)",
        "calls warm"
    );
}

/// One row of a latency table: percentiles and the calls of the last sample.
fn row(label: &str, c: &Sampled, w: &Sampled) {
    let calls = |s: &Sampled| {
        format!(
            "{}/{}/{}/{}",
            count(&s.calls, "dynamodb"),
            count(&s.calls, "secretsmanager"),
            count(&s.calls, "sts"),
            count(&s.calls, "s3")
        )
    };
    println!(
        "{:<34} {:>6.1} ms {:>6.1} ms {:>6.1} ms {:>6.1} ms   {:<26} {:<24}",
        label,
        c.percentile(0.5),
        c.percentile(0.99),
        w.percentile(0.5),
        w.percentile(0.99),
        calls(c),
        calls(w)
    );
}

/// The baseline: one `GetItem` of the connector's record by the SDK alone, through the
/// same proxy, on a fresh client (cold) and on one client (warm).
async fn raw_get_item(plan: &Plan, proxy: &Proxy, f: &Fixture) -> Result<(Sampled, Sampled)> {
    let get = |client: aws_sdk_dynamodb::Client| {
        let (table, connector) = (f.table.clone(), f.connector.clone());
        async move {
            let started = Instant::now();
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
                .key("sk", AttributeValue::S(format!("CONN#{connector}")))
                .send()
                .await?;
            Ok::<_, anyhow::Error>(started.elapsed())
        }
    };
    let mut cold = Vec::new();
    for _ in 0..plan.cold {
        cold.push(get(aws_sdk_dynamodb::Client::new(&sdk_config(&proxy.url).await)).await?);
    }
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&proxy.url).await);
    for _ in 0..plan.warmup {
        get(client.clone()).await?;
    }
    let mut warm = Vec::new();
    for _ in 0..plan.warm {
        warm.push(get(client.clone()).await?);
    }
    proxy.take();
    let sampled = |times| Sampled {
        times,
        calls: Calls::new(),
    };
    Ok((sampled(cold), sampled(warm)))
}

fn count(calls: &Calls, service: &str) -> usize {
    calls.get(service).copied().unwrap_or(0)
}

async fn latency(plan: &Plan, proxy: &Proxy, moto: &str) -> Result<()> {
    let f = Fixture::seed(proxy, moto, 20).await?;
    let router = connectors::http::api(instance(proxy, &f.table).await);
    println!(
        "every AWS call held {} ms at a {} proxy; {} cold samples (a fresh instance each), {} warm",
        DELAY.as_millis(),
        if proxy.url.starts_with("https") {
            "TLS"
        } else {
            "plain-HTTP"
        },
        plan.cold,
        plan.warm
    );
    heading("operation");
    let (c, w) = raw_get_item(plan, proxy, &f).await?;
    println!(
        "{:<34} {:>6.1} ms {:>6.1} ms {:>6.1} ms {:>6.1} ms   {:<26} {:<24}",
        "baseline: one raw GetItem",
        c.percentile(0.5),
        c.percentile(0.99),
        w.percentile(0.5),
        w.percentile(0.99),
        "1/0/0/0",
        "1/0/0/0"
    );
    for (op, label) in OPERATIONS {
        let c = cold(
            plan,
            proxy,
            || instance(proxy, &f.table),
            || request(op, &f),
        )
        .await?;
        let w = warm(plan, &router, proxy, || request(op, &f)).await?;
        row(label, &c, &w);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Processes under a runtime API: cold start and memory

struct Process {
    binary: String,
    proxy: String,
    ca: String,
}

impl Process {
    /// Starts `command` as a Lambda function polling `api`, with AWS reached through the
    /// proxy and its certificate trusted (`SSL_CERT_FILE` for the binary, `AWS_CA_BUNDLE`
    /// for boto3).
    fn spawn(
        &self,
        command: &[&str],
        api: &RuntimeApi,
        f: &Fixture,
        extra: &[(&str, &str)],
        stdout: Stdio,
    ) -> Result<Child> {
        let mut c = Command::new(command[0]);
        c.args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "connectors")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/connectors")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_ENDPOINT_URL", &self.proxy)
            .env("PROVIDER_S3_ENDPOINT_URL", &self.proxy)
            .env("SSL_CERT_FILE", &self.ca)
            .env("AWS_CA_BUNDLE", &self.ca)
            .env("TABLE_NAME", &f.table)
            .env("SECRET_PREFIX", PREFIX)
            .env("RATE_LIMIT_BROWSES_PER_MINUTE", "1000000")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_CHILD_LOG").unwrap_or("info".into()),
            )
            .stdout(stdout)
            .stderr(Stdio::null());
        for (k, v) in extra {
            c.env(k, v);
        }
        Ok(c.spawn()?)
    }
}

/// An API Gateway (HTTP API, payload 2.0) event.
fn event(method: &str, path: &str, key: &str, body: Option<Value>) -> Value {
    let host = "abc123defg.execute-api.us-east-1.amazonaws.com";
    let mut headers = json!({"host": host, "accept": "application/json", "x-api-key": key});
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": host,
            "domainPrefix": "abc123defg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_773_600_000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// The usual alternative: a handler that imports boto3, builds a DynamoDB client and
/// answers `GET /connectors/{id}` with the same two reads (the key, then the record).
const PYTHON_HANDLER: &str = r#"
import hashlib, json, os, urllib.request
import boto3
client = boto3.client("dynamodb")
table = os.environ["TABLE_NAME"]
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    key = event["headers"]["x-api-key"]
    found = client.get_item(TableName=table, Key={
        "pk": {"S": "KEY#" + hashlib.sha256(key.encode()).hexdigest()}, "sk": {"S": "KEY"}}).get("Item")
    if found is None:
        answer = {"statusCode": 401, "body": "{}"}
    else:
        connector = event["rawPath"].rsplit("/", 1)[1]
        item = client.get_item(TableName=table, Key={
            "pk": {"S": "TENANT#" + found["tenant"]["S"]}, "sk": {"S": "CONN#" + connector}}).get("Item")
        answer = {"statusCode": 200 if item else 404, "body": json.dumps(item)}
    urllib.request.urlopen(urllib.request.Request(
        api + request_id + "/response", data=json.dumps(answer).encode(), method="POST")).read()
"#;

/// Start → answer, for one fresh process.
async fn one_start(process: &Process, command: &[&str], f: &Fixture) -> Result<Duration> {
    let api = RuntimeApi::start().await?;
    let get = event(
        "GET",
        &format!("/api/v2/connectors/{}", f.connector),
        &f.key,
        None,
    );
    let started = Instant::now();
    let log = match std::env::var_os("BENCH_CHILD_LOG") {
        Some(_) => Stdio::inherit(),
        None => Stdio::null(),
    };
    let mut child = process.spawn(command, &api, f, &[], log)?;
    let answer = api.invoke(get).await;
    let took = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer?;
    ensure!(
        answer["statusCode"] == 200,
        "{} answered {}",
        command[0],
        answer["statusCode"]
    );
    Ok(took)
}

fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    (
        ms(&times[times.len() / 2]),
        times.first().map_or(0.0, ms),
        times.last().map_or(0.0, ms),
    )
}

async fn cold_start(plan: &Plan, process: &Process, f: &Fixture) -> Result<()> {
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let dir = tempfile::tempdir()?;
    let handler = dir.path().join("handler.py");
    std::fs::write(&handler, PYTHON_HANDLER)?;
    let handler = handler.to_string_lossy().into_owned();
    let rust: [&str; 1] = [&process.binary];
    let py: [&str; 2] = [&python, &handler];
    // One run each first, so that both start from a warm page cache, as a second cold
    // start on a host would.
    one_start(process, &rust, f).await?;
    one_start(process, &py, f).await?;
    let (mut r, mut p) = (Vec::new(), Vec::new());
    for _ in 0..plan.starts {
        r.push(one_start(process, &rust, f).await?);
        p.push(one_start(process, &py, f).await?);
    }
    let (r, p) = (summary(&mut r), summary(&mut p));
    println!(
        "\ncold start → GET /connectors/{{id}} answered from DynamoDB over TLS, {} runs each, alternating",
        plan.starts
    );
    println!("{:<44} {:>9} {:>9} {:>9}", "", "median", "min", "max");
    println!(
        "{:<44} {:>6.1} ms {:>6.1} ms {:>6.1} ms",
        "release binary (Lambda mode)", r.0, r.1, r.2
    );
    println!(
        "{:<44} {:>6.1} ms {:>6.1} ms {:>6.1} ms",
        "python3 + boto3 handler (same two reads)", p.0, p.1, p.2
    );
    println!("ratio: {:.3} of the Python handler's time", r.0 / p.0);
    Ok(())
}

fn peak_rss_kib(child: &Child) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM in /proc/<pid>/status")
}

fn header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"][name].as_str()
}

/// Follows `X-Next-Cursor` through the whole bucket; the number of files seen.
async fn browse_everything(api: &RuntimeApi, f: &Fixture) -> Result<usize> {
    let path = format!("/api/v2/connectors/{}/browse", f.connector);
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut body = json!({"pattern": "**/*.mp4", "limit": 5000});
        if let Some(c) = cursor.take() {
            body["cursor"] = json!(c);
        }
        let answer = api.invoke(event("POST", &path, &f.key, Some(body))).await?;
        if answer["statusCode"] != 200 {
            bail!(
                "browse answered {}: {}",
                answer["statusCode"],
                answer["body"]
            );
        }
        let files: Vec<Value> = serde_json::from_str(answer["body"].as_str().unwrap_or("[]"))?;
        seen += files.len();
        match header(&answer, "x-next-cursor") {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(seen),
        }
    }
}

async fn memory(process: &Process, f: &Fixture) -> Result<()> {
    let binary: [&str; 1] = [&process.binary];
    println!("\npeak resident memory (VmHWM) of the release binary in Lambda mode");

    let api = RuntimeApi::start().await?;
    let log = tempfile::NamedTempFile::new()?;
    let mut child = process.spawn(&binary, &api, f, &[], Stdio::from(log.reopen()?))?;
    let get = event(
        "GET",
        &format!("/api/v2/connectors/{}", f.connector),
        &f.key,
        None,
    );
    api.invoke(get.clone()).await?;
    let after_first = peak_rss_kib(&child)?;
    // What a request writes to the log (its access line and its EMF metrics document), at
    // the template's RUST_LOG=info.
    let logged = std::fs::metadata(log.path())?.len();
    for _ in 0..100 {
        api.invoke(get.clone()).await?;
    }
    let per_request = (std::fs::metadata(log.path())?.len() - logged) / 100;
    println!("log bytes per request {per_request} (a warm GET: its access line and EMF document)");
    let started = Instant::now();
    let seen = browse_everything(&api, f).await?;
    let after_browse = peak_rss_kib(&child)?;
    let _ = child.kill();
    let _ = child.wait();
    ensure!(
        seen == f.objects,
        "the browse saw {seen} of {} files",
        f.objects
    );
    println!(
        "after the first GET                             {:>7.1} MiB",
        after_first as f64 / 1024.0
    );
    println!(
        "after browsing {} objects (5,000 a call, {:.0} s) {:>7.1} MiB",
        f.objects,
        started.elapsed().as_secs_f64(),
        after_browse as f64 / 1024.0
    );
    Ok(())
}

/// Peak memory with 32 invocations at once (Lambda Managed Instances): 32 browses of a
/// 1,000-file page, then 32 GETs.
async fn concurrency(process: &Process, f: &Fixture) -> Result<()> {
    let binary: [&str; 1] = [&process.binary];
    let get = event(
        "GET",
        &format!("/api/v2/connectors/{}", f.connector),
        &f.key,
        None,
    );
    let api = Arc::new(RuntimeApi::start().await?);
    let mut child = process.spawn(
        &binary,
        &api,
        f,
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "32")],
        Stdio::null(),
    )?;
    api.invoke(get.clone()).await?;
    let browse = event(
        "POST",
        &format!("/api/v2/connectors/{}/browse", f.connector),
        &f.key,
        Some(json!({"pattern": "**/*.mp4", "limit": 1000})),
    );
    let mut answered = Vec::new();
    for round in [browse, get] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let (api, e) = (Arc::clone(&api), round.clone());
            tasks.spawn(async move { api.invoke(e).await });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            let answer = done??;
            if answer["statusCode"] == 200 {
                ok += 1;
            } else {
                println!("answered {}: {}", answer["statusCode"], answer["body"]);
            }
        }
        answered.push(ok);
    }
    let concurrent = peak_rss_kib(&child)?;
    let _ = child.kill();
    let _ = child.wait();
    ensure!(answered[0] > 0, "no concurrent browse answered 200");
    println!(
        "32 concurrent browses (1,000 files each; {} answered 200), then 32 GETs ({} answered 200) {:>7.1} MiB",
        answered[0],
        answered[1],
        concurrent as f64 / 1024.0
    );
    Ok(())
}
