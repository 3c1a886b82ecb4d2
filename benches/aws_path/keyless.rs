//! Part `keyless`: `POST /connectors/{id}/test` on a keyless GCS connector (the service's
//! AWS identity federated at Google's STS, then the account's service account
//! impersonated at IAM Credentials) against the same test on a GCS connector with a key
//! file (a signed JWT traded at Google's OAuth endpoint), cold and warm, in one run. The
//! records and secrets are on DynamoDB and Secrets Manager behind the delaying proxy; the
//! Google stand-ins (`infra/token_endpoint.py`) and fake-gcs-server are reached directly,
//! so their calls add loopback time only, and are counted from the stand-in's tally.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use aws_lc_rs::encoding::AsDer;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::providers::ProviderSettings;
use connectors::providers::gcs::adapter::TokenEndpoints;
use connectors::providers::gcs::identity::IdentitySettings;
use connectors::service::App;
use connectors::store::dynamodb::create_table;
use serde_json::{Value, json};

use super::proxy::Proxy;
use super::{Plan, TENANT, cold, heading, instance_with, row, sdk_config, send, warm};

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set; run infra/bench-aws-path.sh"))
}

/// Where GCS and Google's token services are: the emulators and stand-ins.
fn providers() -> Result<ProviderSettings> {
    let base = var("AZURE_TOKEN_ENDPOINT")?;
    Ok(ProviderSettings {
        gcs_endpoint_url: Some(var("FAKE_GCS_ENDPOINT")?),
        gcs_tokens: Some(TokenEndpoints {
            oauth: format!("{base}/google/token"),
            sts: format!("{base}/google/v1/token"),
        }),
        gcs_identity: Some(IdentitySettings {
            audience: var("GOOGLE_WIF_AUDIENCE")?,
            service_accounts: var("GOOGLE_IMPERSONABLE")?
                .split(',')
                .map(str::to_owned)
                .collect(),
            sts_url: format!("{base}/google/v1/token"),
            iam_url: format!("{base}/google/iam"),
        }),
        ..ProviderSettings::default()
    })
}

async fn instance(proxy: &Proxy, table: &str) -> Result<Arc<App>> {
    let config = sdk_config(&proxy.url).await;
    Ok(instance_with(&config, table, providers()?, proxy))
}

/// A service-account key file with a fresh RSA key.
fn key_file() -> Result<String> {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| anyhow::anyhow!("RSA key: {e}"))?;
    let der = pair.as_der().map_err(|e| anyhow::anyhow!("DER: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    Ok(json!({
        "type": "service_account",
        "project_id": "bench-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "bench@bench-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string())
}

/// A bucket in fake-gcs-server with 20 objects under `f0/`.
async fn bucket(name: &str) -> Result<()> {
    let endpoint = var("FAKE_GCS_ENDPOINT")?;
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{endpoint}/storage/v1/b"))
        .json(&json!({"name": name}))
        .send()
        .await?;
    ensure!(made.status().is_success(), "bucket: {}", made.status());
    for i in 0..20 {
        http.post(format!("{endpoint}/upload/storage/v1/b/{name}/o"))
            .query(&[
                ("uploadType", "media"),
                ("name", &format!("f0/clip-{i:03}.mp4")),
            ])
            .body(b"clip".to_vec())
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

/// How many service-account tokens the IAM Credentials stand-in has made.
async fn impersonations() -> Result<u64> {
    let counts: Value = reqwest::get(format!(
        "{}/google/impersonations",
        var("AZURE_TOKEN_ENDPOINT")?
    ))
    .await?
    .json()
    .await?;
    Ok(counts
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum()))
}

fn test_request(key: &str, id: &str) -> Result<Request<Body>> {
    Ok(Request::post(format!("/api/v2/connectors/{id}/test"))
        .header("x-api-key", key)
        .body(Body::empty())?)
}

pub async fn keyless(plan: &Plan, cert: Option<(&str, &str)>, moto: &str) -> Result<()> {
    let proxy = Proxy::start(moto, cert, super::DELAY).await?;
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let (table, name) = (format!("bench-{suffix}"), format!("bench-{suffix}"));
    create_table(
        &aws_sdk_dynamodb::Client::new(&sdk_config(&proxy.url).await),
        &table,
    )
    .await?;
    bucket(&name).await?;
    let app = instance(&proxy, &table).await?;
    let minted = ApiKeyRecord::mint(
        TenantId::parse(TENANT).context("tenant")?,
        vec![KeyScope::Admin],
        None,
    );
    app.storage.api_keys.put_api_key(&minted.record).await?;
    let key = minted.reveal().to_owned();
    let router = connectors::http::api(app);

    let boundary = "benchBOUNDARY";
    let mut form = String::new();
    for (field, value) in [
        ("name", "Bench key"),
        ("bucket", &name),
        ("scopes", "import"),
        ("scopes", "export"),
    ] {
        form.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
        ));
    }
    form.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"credentials_file\"; filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}--\r\n",
        key_file()?
    ));
    let keyed = Request::post("/api/v2/connectors/gcs")
        .header("x-api-key", &key)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(form))?;
    let keyless = Request::post("/api/v2/connectors/gcs")
        .header("x-api-key", &key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": "Bench keyless", "bucket": name, "gcp_project_id": "bench-project",
                   "scopes": ["import", "export"]})
            .to_string(),
        ))?;
    let mut ids = Vec::new();
    for request in [keyed, keyless] {
        let (status, created, _) = send(&router, request).await?;
        ensure!(
            status == StatusCode::CREATED,
            "seeding answered {status}: {created}"
        );
        let id = created["connector_id"]
            .as_str()
            .context("an id")?
            .to_owned();
        // Both tests must pass, or the figures would be of a shorter failure.
        let (_, report, _) = send(&router, test_request(&key, &id)?).await?;
        ensure!(report["success"] == true, "a seeded test failed: {report}");
        ids.push(id);
    }
    proxy.take();
    println!(
        "test on a keyless GCS connector against a key-file one: DynamoDB and Secrets Manager \
         behind the proxy ({} ms a call), Google's stand-ins and fake-gcs-server on loopback; \
         {} cold samples, {} warm",
        super::DELAY.as_millis(),
        plan.cold,
        plan.warm
    );
    heading("connector");
    for (label, id) in [
        ("GCS key file", &ids[0]),
        ("GCS workload identity", &ids[1]),
    ] {
        let tested = || test_request(&key, id);
        let before = impersonations().await?;
        let c = cold(
            plan,
            &proxy,
            || async { instance(&proxy, &table).await.expect("instance") },
            tested,
        )
        .await?;
        let during_cold = impersonations().await? - before;
        let w = warm(plan, &router, &proxy, tested).await?;
        let during_warm = impersonations().await? - before - during_cold;
        row(label, &c, &w);
        println!(
            "    generateAccessToken calls: {during_cold} over {} cold samples, {during_warm} over {} warm (and warm-up)",
            plan.cold, plan.warm
        );
    }
    Ok(())
}
