//! Browsing a large bucket through the service, next to a raw paginated listing of the same
//! bucket, and the service's peak memory while it browses.
//!
//! `bash infra/bench-browse.sh` starts the emulators and runs `cargo bench --bench
//! browse_listing`: it puts 100,000 objects into moto's S3 and into fake-gcs-server (ten
//! folders of 10,000), then, for one folder and for the whole bucket, times
//! - a raw listing, 1,000 keys a page: `aws-sdk-s3`'s `list_objects_v2`, and for GCS the
//!   JSON API's `objects.list` over reqwest (the official Rust crate lists only over gRPC,
//!   which the emulator does not serve);
//! - `POST /connectors/{id}/browse` through the real router, 5,000 files a call, following
//!   `X-Next-Cursor` to the end;
//!
//! and reports the process's peak resident memory during each browse. Under `cargo test`
//! (no `--bench`) it runs a small smoke pass, and skips when the emulators are not running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connectors::config::Settings;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::http::Api;
use connectors::startup::build_app;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[path = "support/seed.rs"]
mod seed;
use seed::{put_all, s3_client, seed_s3};

struct Plan {
    folders: usize,
    per_folder: usize,
    runs: usize,
}

/// One run each: a page of fake-gcs-server's whole 100,000-object bucket takes it seconds
/// to produce, so a run of every listing takes a quarter of an hour.
const FULL: Plan = Plan {
    folders: 10,
    per_folder: 10_000,
    runs: 1,
};

const SMOKE: Plan = Plan {
    folders: 3,
    per_folder: 40,
    runs: 1,
};

const PAGE: usize = 1_000;
const BROWSE_LIMIT: usize = 5_000;

fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let (Ok(moto), Ok(gcs)) = (
        std::env::var("MOTO_ENDPOINT"),
        std::env::var("FAKE_GCS_ENDPOINT"),
    ) else {
        println!(
            "browse_listing: MOTO_ENDPOINT and FAKE_GCS_ENDPOINT are not set; run infra/bench-browse.sh"
        );
        return Ok(());
    };
    let plan = if full { &FULL } else { &SMOKE };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(plan, &moto, &gcs))
}

async fn run(plan: &Plan, moto: &str, gcs: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The bench browses far more often than an account may: its figures are the
    // listing's, not the per-account limit's.
    let settings = Settings {
        s3_endpoint_url: Some(moto.to_owned()),
        gcs_endpoint_url: Some(gcs.to_owned()),
        rate_limit_browses_per_minute: 0,
        ..Settings::embedded(dir.path())
    };
    let app = build_app(&settings).await?;
    let tenant = TenantId::parse("bench").context("tenant")?;
    let key = ApiKeyRecord::mint(tenant, vec![KeyScope::Admin], None);
    app.storage.api_keys.put_api_key(&key.record).await?;
    let api_key = key.reveal().to_owned();
    let router = connectors::http::api(app);

    let total = plan.folders * plan.per_folder;
    let keys: Arc<Vec<String>> = Arc::new(
        (0..total)
            .map(|i| format!("f{}/clip-{i:07}.mp4", i % plan.folders))
            .collect(),
    );
    let s3 = s3_client(moto);
    let http = reqwest::Client::new();
    let bucket = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());

    println!("seeding {total} objects into moto's S3 and fake-gcs-server …");
    let started = Instant::now();
    let (s3_seeded, gcs_seeded) = tokio::join!(
        seed_s3(&s3, &bucket, &keys),
        seed_gcs(&http, gcs, &bucket, &keys)
    );
    s3_seeded?;
    gcs_seeded?;
    println!("seeded in {:.1} s\n", started.elapsed().as_secs_f64());

    let s3_connector = create(&router, &api_key, "s3", s3_body(&bucket)).await?;
    let gcs_connector = create(&router, &api_key, "gcs", gcs_body(&bucket)).await?;

    println!(
        "{:<6} {:>8}  {:>12} {:>12} {:>7}  {:>14}",
        "cloud", "objects", "raw list ms", "browse ms", "ratio", "peak RSS +MiB"
    );
    for (prefix, expected) in [("f0/", plan.per_folder), ("", total)] {
        for cloud in ["s3", "gcs"] {
            let mut raw = Vec::new();
            let mut browsed = Vec::new();
            let mut peak = 0.0f64;
            for _ in 0..plan.runs {
                let (n, t) = match cloud {
                    "s3" => raw_s3(&s3, &bucket, prefix).await?,
                    _ => raw_gcs(&http, gcs, &bucket, prefix).await?,
                };
                ensure!(n == expected, "{cloud} raw listing saw {n} of {expected}");
                raw.push(t);
                let connector = if cloud == "s3" {
                    &s3_connector
                } else {
                    &gcs_connector
                };
                let baseline = rss_kib("VmRSS");
                reset_peak_rss();
                let (n, t) = browse_all(&router, &api_key, connector, prefix).await?;
                peak = peak.max((rss_kib("VmHWM") - baseline) as f64 / 1024.0);
                ensure!(n == expected, "{cloud} browse saw {n} of {expected}");
                browsed.push(t);
            }
            let (raw, browsed) = (median(&mut raw), median(&mut browsed));
            println!(
                "{:<6} {:>8}  {:>12.0} {:>12.0} {:>6.2}×  {:>14.1}",
                cloud,
                expected,
                raw.as_secs_f64() * 1e3,
                browsed.as_secs_f64() * 1e3,
                browsed.as_secs_f64() / raw.as_secs_f64(),
                peak
            );
        }
    }
    Ok(())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A line of `/proc/self/status` in KiB (0 where there is no procfs).
fn rss_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Makes the peak RSS (`VmHWM`) restart from the current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn seed_gcs(
    http: &reqwest::Client,
    endpoint: &str,
    bucket: &str,
    keys: &Arc<Vec<String>>,
) -> Result<()> {
    let r = http
        .post(format!("{endpoint}/storage/v1/b"))
        .json(&serde_json::json!({"name": bucket}))
        .send()
        .await?;
    ensure!(r.status().is_success(), "create bucket: {}", r.status());
    let url = format!("{endpoint}/upload/storage/v1/b/{bucket}/o");
    put_all(keys, |key| {
        let request = http
            .post(&url)
            .query(&[("uploadType", "media"), ("name", key.as_str())])
            .header("content-type", "video/mp4")
            .body(key.into_bytes());
        async move {
            let r = request.send().await?;
            ensure!(r.status().is_success(), "upload: {}", r.status());
            Ok(())
        }
    })
    .await
}

async fn raw_s3(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(PAGE as i32)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page?.contents().len();
    }
    Ok((n, started.elapsed()))
}

async fn raw_gcs(
    http: &reqwest::Client,
    endpoint: &str,
    bucket: &str,
    prefix: &str,
) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let mut n = 0;
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("prefix", prefix.to_owned()),
            ("maxResults", PAGE.to_string()),
        ];
        if let Some(t) = token.take() {
            query.push(("pageToken", t));
        }
        let page: serde_json::Value = http
            .get(format!("{endpoint}/storage/v1/b/{bucket}/o"))
            .query(&query)
            .send()
            .await?
            .json()
            .await?;
        n += page["items"].as_array().map_or(0, Vec::len);
        match page["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok((n, started.elapsed())),
        }
    }
}

async fn browse_all(
    router: &Api,
    api_key: &str,
    connector: &str,
    prefix: &str,
) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut body =
            serde_json::json!({"prefix": prefix, "pattern": "*.mp4", "limit": BROWSE_LIMIT});
        if let Some(c) = cursor.take() {
            body["cursor"] = serde_json::json!(c);
        }
        let request = Request::post(format!("/api/v2/connectors/{connector}/browse"))
            .header("x-api-key", api_key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))?;
        let response = router.clone().oneshot(request).await?;
        if response.status() != StatusCode::OK {
            bail!("browse answered {}", response.status());
        }
        let next = response
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await?.to_bytes();
        let files: Vec<serde_json::Value> = serde_json::from_slice(&bytes)?;
        n += files.len();
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok((n, started.elapsed())),
        }
    }
}

async fn create(
    router: &Api,
    api_key: &str,
    provider: &str,
    (content_type, body): (String, Vec<u8>),
) -> Result<String> {
    let request = Request::post(format!("/api/v2/connectors/{provider}"))
        .header("x-api-key", api_key)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    ensure!(
        status == StatusCode::CREATED,
        "creating a {provider} connector answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let created: serde_json::Value = serde_json::from_slice(&bytes)?;
    created["connector_id"]
        .as_str()
        .map(str::to_owned)
        .context("no connector id")
}

fn s3_body(bucket: &str) -> (String, Vec<u8>) {
    let body = serde_json::json!({
        "name": "Bench S3",
        "bucket": bucket,
        "region": "us-east-1",
        "aws_access_key_id": "ASIABENCHBENCHBENCH0",
        "aws_secret_access_key": "bench-secret-bench-secret",
        "scopes": ["import"],
    });
    ("application/json".into(), body.to_string().into_bytes())
}

/// A form with a freshly generated service-account key (nothing checks its signature).
fn gcs_body(bucket: &str) -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("an RSA key can be generated");
    let der = pair.as_der().expect("a generated key encodes");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let label = concat!("PRIVATE", " KEY");
    let pem = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    );
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "bench-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "bench@bench.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let boundary = "benchBOUNDARY";
    let mut body = String::new();
    for (name, value) in [
        ("name", "Bench GCS"),
        ("bucket", bucket),
        ("scopes", "import"),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"credentials_file\"; filename=\"key.json\"\r\ncontent-type: application/json\r\n\r\n{key}\r\n--{boundary}--\r\n"
    ));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}
