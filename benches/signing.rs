//! What signing costs: `POST /connectors/{id}/access` with 1,000 paths, through the real
//! router in process, for S3 (SigV4 presigning, HMAC) and GCS (V4 signing, RSA-2048), next
//! to the same call with one path (the call's fixed cost, the baseline); and 1,000 Azure
//! user-delegation SAS (HMAC) next to 1,000 bare HMAC-SHA256s of the same strings. Azure's
//! grant also fetches one delegation key per call, a network round trip not timed here.
//!
//! `cargo bench --bench signing` runs it (no emulator: nothing here leaves the process).
//! Under `cargo test` (no `--bench`) it runs a short smoke pass.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connectors::config::Settings;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::domain::timestamp::Timestamp;
use connectors::http::Api;
use connectors::providers::azure::sas::{
    DelegationKey, SasPermissions, SasRequest, SasResource, sas_token,
};
use connectors::startup::build_app;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

/// The binary's allocator, so the figures are the shipped binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Google's published, inactive test service account (the conformance vectors' own).
const GCS_KEY_FILE: &str =
    include_str!("../src/providers/gcs/testdata/test_service_account.not-a-test.json");

struct Plan {
    paths: usize,
    runs: usize,
}

const FULL: Plan = Plan {
    paths: 1_000,
    runs: 20,
};
const SMOKE: Plan = Plan { paths: 10, runs: 1 };

fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = if full { FULL } else { SMOKE };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&plan))
}

async fn run(plan: &Plan) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = build_app(&Settings::embedded(dir.path())).await?;
    let key = ApiKeyRecord::mint(TenantId::parse("bench")?, vec![KeyScope::Admin], None);
    app.storage.api_keys.put_api_key(&key.record).await?;
    let api = connectors::http::api(app);
    let key = key.reveal().to_owned();

    let s3 = create(
        &api,
        &key,
        "s3",
        "application/json",
        json!({
            "name": "Bench S3", "bucket": "media-archive", "region": "us-east-1",
            "aws_access_key_id": "AKIABENCHEXAMPLE0001",
            "aws_secret_access_key": "bench/secret/bench/secret/bench/secret00",
            "scopes": ["import", "export"],
        })
        .to_string()
        .into_bytes(),
    )
    .await?;
    let boundary = "benchBOUNDARY";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nBench GCS\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"bucket\"\r\n\r\nmedia-archive\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"scopes\"\r\n\r\nimport\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"credentials_file\"; filename=\"key.json\"\r\n\
         Content-Type: application/json\r\n\r\n{GCS_KEY_FILE}\r\n--{boundary}--\r\n"
    );
    let gcs = create(
        &api,
        &key,
        "gcs",
        &format!("multipart/form-data; boundary={boundary}"),
        form.into_bytes(),
    )
    .await?;

    println!(
        "signing {} URLs in one access call, in process ({} runs each, median)",
        plan.paths, plan.runs
    );
    for (label, id) in [("s3 (SigV4, HMAC)", &s3), ("gcs (V4, RSA-2048)", &gcs)] {
        // Warm up: the first call reads the credentials from the vault and builds the client.
        access(&api, &key, id, plan.paths).await?;
        let one = median(plan.runs, || access(&api, &key, id, 1)).await?;
        let many = median(plan.runs, || access(&api, &key, id, plan.paths)).await?;
        let per_url = many.saturating_sub(one).as_secs_f64() * 1e6 / (plan.paths - 1) as f64;
        println!(
            "  {label:<20} 1 path {:>8.2} ms   {} paths {:>8.2} ms   {:>7.1} µs per extra URL",
            one.as_secs_f64() * 1e3,
            plan.paths,
            many.as_secs_f64() * 1e3,
            per_url
        );
    }
    azure(plan);
    Ok(())
}

async fn create(
    api: &Api,
    key: &str,
    provider: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<String> {
    let r = api
        .clone()
        .oneshot(
            Request::post(format!("/api/v2/connectors/{provider}"))
                .header("x-api-key", key)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))?,
        )
        .await?;
    let status = r.status();
    let body: Value = serde_json::from_slice(&r.into_body().collect().await?.to_bytes())?;
    ensure!(
        status == StatusCode::CREATED,
        "create {provider}: {status} {body}"
    );
    body["connector_id"]
        .as_str()
        .map(str::to_owned)
        .context("an id")
}

async fn access(api: &Api, key: &str, id: &str, paths: usize) -> Result<Duration> {
    let paths: Vec<String> = (0..paths)
        .map(|i| format!("incoming/2026/{i:05}.mp4"))
        .collect();
    let body = json!({"purpose": "import", "paths": paths}).to_string();
    let started = Instant::now();
    let r = api
        .clone()
        .oneshot(
            Request::post(format!("/api/v2/connectors/{id}/access"))
                .header("x-api-key", key)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))?,
        )
        .await?;
    let status = r.status();
    let bytes = r.into_body().collect().await?.to_bytes();
    let elapsed = started.elapsed();
    ensure!(
        status == StatusCode::OK,
        "access: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(elapsed)
}

async fn median<F, Fut>(runs: usize, mut f: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Duration>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        times.push(f().await?);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// 1,000 SAS tokens with one delegation key, next to 1,000 bare HMACs of their strings.
fn azure(plan: &Plan) {
    let now = Timestamp::now();
    let key = DelegationKey::new(
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
        "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        now,
        now.plus_seconds(3600),
        "b".into(),
        "2022-11-02".into(),
        vec![7u8; 32],
    );
    let names: Vec<String> = (0..plan.paths)
        .map(|i| format!("incoming/2026/{i:05}.mp4"))
        .collect();
    let mut sas_times = Vec::new();
    let mut hmac_times = Vec::new();
    for _ in 0..plan.runs {
        let started = Instant::now();
        for name in &names {
            let request = SasRequest {
                account: "mediastore01",
                container: "raw-footage",
                resource: SasResource::Blob(name),
                permissions: SasPermissions::Read,
                start: now,
                expiry: now.plus_seconds(900),
            };
            let _ = std::hint::black_box(sas_token(&request, &key));
        }
        sas_times.push(started.elapsed());
        let started = Instant::now();
        for name in &names {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(&[7u8; 32]).expect("any key length");
            mac.update(
                format!(
                    "r\n{now}\n/blob/mediastore01/raw-footage/{name}\n{:0>200}",
                    ""
                )
                .as_bytes(),
            );
            std::hint::black_box(mac.finalize());
        }
        hmac_times.push(started.elapsed());
    }
    sas_times.sort();
    hmac_times.sort();
    println!(
        "  {:<20} {} SAS {:>8.2} ms   {} bare HMAC-SHA256s {:>6.2} ms (baseline)",
        "azure (SAS, HMAC)",
        plan.paths,
        sas_times[sas_times.len() / 2].as_secs_f64() * 1e3,
        plan.paths,
        hmac_times[hmac_times.len() / 2].as_secs_f64() * 1e3
    );
}
