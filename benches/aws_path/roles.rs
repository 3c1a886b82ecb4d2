//! Part `roles`: `POST /connectors/{id}/test` on an IAM role connector against the same
//! test on a key connector, cold and warm, in one run, on the moto that checks IAM
//! (`MOTO_IAM_ENDPOINT`) behind the same delaying proxy. Cold, a role connector's test
//! assumes the service's own role, then the customer's with the external ID, then tries
//! it without (the `external_id_enforced` check); warm, the instance keeps the session
//! and the check's verdict, so it calls STS no more. Then `POST /connectors/{id}/access`
//! on both: ten signed URLs, and credentials for a prefix (a key connector's from
//! `GetFederationToken`, a role connector's from an `AssumeRole` with a session policy).

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::providers::ProviderSettings;
use connectors::service::App;
use connectors::store::dynamodb::create_table;
use serde_json::{Value, json};

use super::proxy::Proxy;
use super::{Plan, TENANT, cold, heading, instance_with, row, send, warm};

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set; run infra/bench-aws-path.sh"))
}

/// An SDK configuration reaching the IAM-checking moto through the proxy with `keys`.
async fn config(proxy: &Proxy, keys: (&str, &str)) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&proxy.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            keys.0, keys.1, None, None, "bench",
        ))
        .http_client(connectors::aws_http::https_client())
        .load()
        .await
}

/// The keys of the IAM-checking moto's users.
struct Keys {
    admin: (String, String),
    service: (String, String),
    service_role: String,
}

impl Keys {
    fn admin(&self) -> (&str, &str) {
        (&self.admin.0, &self.admin.1)
    }
}

/// A fresh instance as start-up builds one on AWS: records and secrets signed by the admin
/// user, STS by the service's user, whose own role it assumes first.
async fn instance(proxy: &Proxy, keys: &Keys, table: &str) -> Arc<App> {
    let admin = config(proxy, keys.admin()).await;
    let providers = ProviderSettings {
        service_principal_arn: Some(keys.service_role.clone()),
        aws: Some(config(proxy, (&keys.service.0, &keys.service.1)).await),
        ..ProviderSettings::default()
    };
    instance_with(&admin, table, providers, proxy)
}

fn post(key: &str, path: &str, body: &Value) -> Result<Request<Body>> {
    Ok(Request::post(path)
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?)
}

fn test_request(key: &str, id: &str) -> Result<Request<Body>> {
    Ok(Request::post(format!("/api/v2/connectors/{id}/test"))
        .header("x-api-key", key)
        .body(Body::empty())?)
}

/// A customer's role made as the role setup says, by the admin user.
fn customer_role(python: &str, endpoint: &str, setup: &Value) -> Result<String> {
    let name = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let out = std::process::Command::new(python)
        .args([
            "infra/moto_iam.py",
            "role",
            endpoint,
            &name,
            &setup["trust_policy"].to_string(),
            &setup["permissions_policy"].to_string(),
        ])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The table, the account's key, and a key connector and a role connector on one bucket.
struct Fixture {
    table: String,
    key: String,
    keyed: String,
    role: String,
}

async fn seed(proxy: &Proxy, keys: &Keys, endpoint: &str) -> Result<Fixture> {
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let (table, bucket) = (format!("bench-{suffix}"), format!("bench-{suffix}"));
    let admin = config(proxy, keys.admin()).await;
    create_table(&aws_sdk_dynamodb::Client::new(&admin), &table).await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&admin)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await?;
    for i in 0..20 {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("f0/clip-{i:03}.mp4"))
            .body(b"clip".to_vec().into())
            .send()
            .await?;
    }
    let app = instance(proxy, keys, &table).await;
    let minted = ApiKeyRecord::mint(
        TenantId::parse(TENANT).context("tenant")?,
        vec![KeyScope::Admin],
        None,
    );
    app.storage.api_keys.put_api_key(&minted.record).await?;
    let key = minted.reveal().to_owned();
    let router = connectors::http::api(app);
    let setup_path =
        format!("/api/v2/connectors/s3/role-setup?bucket={bucket}&scopes=import,export");
    let setup_request = Request::get(setup_path)
        .header("x-api-key", &key)
        .body(Body::empty())?;
    let (_, setup, _) = send(&router, setup_request).await?;
    let role_arn = customer_role(&var("BENCH_PYTHON")?, endpoint, &setup)?;
    let base = json!({"name": "Bench", "bucket": bucket, "region": "us-east-1",
                      "scopes": ["import", "export"]});
    let mut keyed = base.clone();
    keyed["aws_access_key_id"] = json!(keys.admin.0);
    keyed["aws_secret_access_key"] = json!(keys.admin.1);
    let mut role = base;
    role["role_arn"] = json!(role_arn);
    let mut ids = Vec::new();
    for body in [keyed, role] {
        let (status, created, _) =
            send(&router, post(&key, "/api/v2/connectors/s3", &body)?).await?;
        ensure!(status == StatusCode::CREATED, "seeding answered {status}");
        ids.push(
            created["connector_id"]
                .as_str()
                .context("an id")?
                .to_owned(),
        );
    }
    // Both tests must pass, or the figures would be of a shorter failure.
    for id in &ids {
        let (_, report, _) = send(&router, test_request(&key, id)?).await?;
        ensure!(report["success"] == true, "a seeded test failed: {report}");
    }
    proxy.take();
    let [keyed, role] = <[String; 2]>::try_from(ids).map_err(|_| anyhow::anyhow!("two ids"))?;
    Ok(Fixture {
        table,
        key,
        keyed,
        role,
    })
}

pub async fn roles(
    plan: &Plan,
    cert: Option<(&str, &str)>,
    delay: std::time::Duration,
) -> Result<()> {
    let endpoint = var("MOTO_IAM_ENDPOINT")?;
    let keys = Keys {
        admin: (var("MOTO_IAM_ADMIN_KEY_ID")?, var("MOTO_IAM_ADMIN_SECRET")?),
        service: (
            var("MOTO_IAM_SERVICE_KEY_ID")?,
            var("MOTO_IAM_SERVICE_SECRET")?,
        ),
        service_role: var("MOTO_IAM_SERVICE_ROLE_ARN")?,
    };
    let proxy = Proxy::start(&endpoint, cert, delay).await?;
    let f = seed(&proxy, &keys, &endpoint).await?;
    let router = connectors::http::api(instance(&proxy, &keys, &f.table).await);
    println!(
        "test on a role connector against a key connector: moto checking IAM, every call held {} ms; {} cold samples, {} warm",
        delay.as_millis(),
        plan.cold,
        plan.warm
    );
    heading("connector");
    for (label, id) in [
        ("key connector", &f.keyed),
        ("role connector (AssumeRole)", &f.role),
    ] {
        let tested = || test_request(&f.key, id);
        let c = cold(plan, &proxy, || instance(&proxy, &keys, &f.table), tested).await?;
        let w = warm(plan, &router, &proxy, tested).await?;
        row(label, &c, &w);
    }
    println!();
    println!("access grants, import, on the same connectors (ten URLs; credentials for f0/)");
    heading("grant");
    let paths: Vec<String> = (0..10).map(|i| format!("f0/clip-{i:03}.mp4")).collect();
    let grants = [
        (
            "key connector, 10 URLs",
            &f.keyed,
            json!({"purpose": "import", "paths": paths}),
        ),
        (
            "key connector, credentials",
            &f.keyed,
            json!({"purpose": "import", "prefix": "f0"}),
        ),
        (
            "role connector, 10 URLs",
            &f.role,
            json!({"purpose": "import", "paths": paths}),
        ),
        (
            "role connector, credentials",
            &f.role,
            json!({"purpose": "import", "prefix": "f0"}),
        ),
    ];
    for (label, id, body) in grants {
        let path = format!("/api/v2/connectors/{id}/access");
        let granted = || post(&f.key, &path, &body);
        let c = cold(plan, &proxy, || instance(&proxy, &keys, &f.table), granted).await?;
        let w = warm(plan, &router, &proxy, granted).await?;
        row(label, &c, &w);
    }
    Ok(())
}
