//! Part `keyless`: `POST /connectors/{id}/test` on a keyless GCS connector (the service's
//! AWS identity federated at Google's STS, then the account's service account
//! impersonated at IAM Credentials) against the same test on a GCS connector with a key
//! file (a signed JWT traded at Google's OAuth endpoint), and on a keyless Azure connector
//! (an STS `GetWebIdentityToken` assertion traded at Entra ID, then the container's
//! binding read) against one with a client secret, cold and warm, in one run. The records,
//! secrets and STS are on moto behind the delaying proxy; the token stand-in
//! (`infra/token_endpoint.py`), fake-gcs-server and Azurite are reached directly, so their
//! calls add loopback time only, and are counted from the stand-in's tallies.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use aws_lc_rs::encoding::AsDer;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::providers::ProviderSettings;
use connectors::providers::azure::AzureSettings;
use connectors::providers::azure::identity::{
    DEFAULT_AUDIENCE, IdentitySettings as AzureIdentitySettings,
};
use connectors::providers::azure::names::Guid;
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

/// Where GCS, Azure and their token services are: the emulators and stand-ins; STS is
/// moto's, behind the proxy.
fn providers(aws: &aws_config::SdkConfig) -> Result<ProviderSettings> {
    let base = var("AZURE_TOKEN_ENDPOINT")?;
    Ok(ProviderSettings {
        aws: Some(aws.clone()),
        azure: AzureSettings {
            endpoint_url: Some(var("AZURITE_BLOB_ENDPOINT")?),
            authority_host: Some(base.clone()),
            identity: Some(AzureIdentitySettings {
                client_id: Guid::parse(&var("AZURE_IDENTITY_CLIENT_ID")?)
                    .map_err(|e| anyhow::anyhow!("AZURE_IDENTITY_CLIENT_ID: {}", e.0))?,
                audience: DEFAULT_AUDIENCE.to_owned(),
            }),
        },
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
    Ok(instance_with(&config, table, providers(&config)?, proxy))
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

/// How many tokens the Entra stand-in has issued through assertions, every tenant.
async fn assertions() -> Result<u64> {
    let counts: Value = reqwest::get(format!("{}/azure/assertions", var("AZURE_TOKEN_ENDPOINT")?))
        .await?
        .json()
        .await?;
    Ok(counts
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum()))
}

/// The Azurite account of the test command.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// A container in Azurite with 20 blobs under `f0/`, bound to the bench's account.
async fn container(name: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!(
            "{}/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token",
            var("AZURE_TOKEN_ENDPOINT")?
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
            ("client_secret", &var("TOKEN_ENDPOINT_CLIENT_SECRET")?),
            ("scope", "https://storage.azure.com/.default"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().context("a token")?
    );
    let base = format!("{}/{AZURITE_ACCOUNT}/{name}", var("AZURITE_BLOB_ENDPOINT")?);
    let put = |url: String| {
        http.put(url)
            .header("authorization", &bearer)
            .header("x-ms-version", "2025-01-05")
    };
    put(format!("{base}?restype=container"))
        .send()
        .await?
        .error_for_status()?;
    put(format!("{base}?restype=container&comp=metadata"))
        .header("x-ms-meta-videovector_account", TENANT)
        .send()
        .await?
        .error_for_status()?;
    for i in 0..20 {
        put(format!("{base}/f0/clip-{i:03}.mp4"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(b"clip".to_vec())
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
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
    container(&name).await?;
    let azure = |extra: Value| -> Result<Request<Body>> {
        let mut body = json!({"name": "Bench Azure", "storage_account": AZURITE_ACCOUNT,
                              "container": name, "scopes": ["import", "export"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        Ok(Request::post("/api/v2/connectors/azure")
            .header("x-api-key", &key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))?)
    };
    let consented = var("AZURE_CONSENTED_TENANTS")?;
    let secret_twin = azure(json!({
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "client_secret": var("TOKEN_ENDPOINT_CLIENT_SECRET")?,
    }))?;
    let azure_keyless = azure(json!({
        "tenant_id": consented.split(',').next().context("a consented tenant")?,
    }))?;
    let mut ids = Vec::new();
    for request in [keyed, keyless, secret_twin, azure_keyless] {
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
        "test on a keyless GCS connector against a key-file one, and on a keyless Azure \
         connector against a client-secret one: DynamoDB, Secrets Manager and STS behind the \
         proxy ({} ms a call), the token stand-in, fake-gcs-server and Azurite on loopback; \
         {} cold samples, {} warm",
        super::DELAY.as_millis(),
        plan.cold,
        plan.warm
    );
    heading("connector");
    for (label, id) in [
        ("GCS key file", &ids[0]),
        ("GCS workload identity", &ids[1]),
        ("Azure client secret", &ids[2]),
        ("Azure workload identity", &ids[3]),
    ] {
        let tested = || test_request(&key, id);
        let tally = || async {
            if label.starts_with("GCS") {
                impersonations().await
            } else {
                assertions().await
            }
        };
        let before = tally().await?;
        let c = cold(
            plan,
            &proxy,
            || async { instance(&proxy, &table).await.expect("instance") },
            tested,
        )
        .await?;
        let during_cold = tally().await? - before;
        let w = warm(plan, &router, &proxy, tested).await?;
        let during_warm = tally().await? - before - during_cold;
        row(label, &c, &w);
        let counted = if label.starts_with("GCS") {
            "generateAccessToken calls"
        } else {
            "tokens issued for an assertion"
        };
        println!(
            "    {counted}: {during_cold} over {} cold samples, {during_warm} over {} warm (and warm-up)",
            plan.cold, plan.warm
        );
    }
    Ok(())
}
