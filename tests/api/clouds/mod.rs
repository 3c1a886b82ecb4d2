//! Test and browse against the three clouds' emulators. This module sets each cloud up as
//! a customer would (a bucket or container with objects in each emulator, and a connector
//! to it), so that `every_cloud` runs one table unchanged on S3, GCS and Azure; `s3_only`
//! covers what only S3 has.

mod access;
mod azure_keyless;
mod every_cloud;
mod gcs_keyless;
mod s3_only;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, RequestContent};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_storage_blob::models::BlobClientUploadOptions;
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use serde_json::{Value, json};

use crate::helpers::*;

/// The storage account Azurite serves.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the test command"))
}

/// What the token stand-in (Google's STS and IAM Credentials, Entra ID) reports at `path`.
pub async fn stand_in(path: &str) -> Value {
    reqwest::get(format!("{}{path}", env("AZURE_TOKEN_ENDPOINT")))
        .await
        .expect("the stand-in answers")
        .json()
        .await
        .expect("JSON")
}

/// Tests, browses and grants `grant` on the connector at `path` `rounds` times, each
/// answered with success.
pub async fn use_repeatedly(t: &TestApp, path: &str, grant: &Value, rounds: usize) {
    for _ in 0..rounds {
        let report = t.post_empty(&format!("{path}/test"), &t.key).await.json();
        assert_eq!(report["success"], true, "{report}");
        t.post_empty(&format!("{path}/browse"), &t.key)
            .await
            .assert_status(StatusCode::OK);
        t.json(Method::POST, &format!("{path}/access"), &t.key, grant)
            .await
            .assert_status(StatusCode::OK);
    }
}

/// The client secret the stand-in token endpoint accepts.
pub fn azure_good_secret() -> String {
    let s = env("TOKEN_ENDPOINT_CLIENT_SECRET");
    register_secret(&s);
    s
}

pub const AZURE_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const AZURE_CLIENT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// The content type an uploader would set from the name, as `gsutil` and `azcopy` do.
fn content_type(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    mime_guess::from_ext(ext).first().map(|m| m.to_string())
}

fn fresh_name() -> String {
    format!(
        "media-{}",
        random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789")
    )
}

async fn gcs_bucket_with(keys: &[&str]) -> String {
    let endpoint = env("FAKE_GCS_ENDPOINT");
    let http = reqwest::Client::new();
    let name = fresh_name();
    let r = http
        .post(format!("{endpoint}/storage/v1/b"))
        .json(&json!({"name": name}))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    for key in keys {
        let mut request = http
            .post(format!("{endpoint}/upload/storage/v1/b/{name}/o"))
            .query(&[("uploadType", "media"), ("name", key)])
            .body(key.as_bytes().to_vec());
        if let Some(t) = content_type(key) {
            request = request.header("content-type", t);
        }
        let r = request.send().await.expect("upload");
        assert!(r.status().is_success(), "upload {key}: {}", r.status());
    }
    name
}

/// A container client for Azurite, signed in as the test service principal.
pub fn azure_container(container: &str) -> BlobContainerClient {
    let options = ClientOptions::default();
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = env("AZURE_TOKEN_ENDPOINT");
    let options = ClientOptions {
        cloud: Some(Arc::new(cloud.into())),
        ..options
    };
    let credential = ClientSecretCredential::new(
        AZURE_TENANT,
        AZURE_CLIENT.to_owned(),
        Secret::new(azure_good_secret()),
        Some(ClientSecretCredentialOptions {
            client_options: options.clone(),
        }),
    )
    .expect("credential");
    let url = format!(
        "{}/{AZURITE_ACCOUNT}/{container}",
        env("AZURITE_BLOB_ENDPOINT")
    );
    BlobContainerClient::new(
        url.parse().expect("url"),
        Some(credential as Arc<dyn TokenCredential>),
        Some(BlobContainerClientOptions {
            client_options: options,
            ..Default::default()
        }),
    )
    .expect("container client")
}

async fn azure_container_with(keys: &[&str]) -> String {
    let name = fresh_name();
    let container = azure_container(&name);
    container.create(None).await.expect("create container");
    for key in keys {
        container
            .blob_client(key)
            .upload(
                RequestContent::from(key.as_bytes().to_vec()),
                Some(BlobClientUploadOptions {
                    blob_content_type: content_type(key),
                    ..Default::default()
                }),
            )
            .await
            .expect("upload");
    }
    name
}

/// The names of every object left in a bucket or container.
pub async fn objects_in(cloud: Cloud, bucket: &str) -> Vec<String> {
    match cloud {
        Cloud::S3 => moto_client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect(),
        Cloud::Gcs => {
            let endpoint = env("FAKE_GCS_ENDPOINT");
            let list: Value = reqwest::get(format!("{endpoint}/storage/v1/b/{bucket}/o"))
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|o| o["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        }
        Cloud::Azure => {
            use futures_util::StreamExt;
            let mut pages = azure_container(bucket)
                .list_blobs(None)
                .expect("list")
                .into_pages();
            let mut names = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.expect("page").into_model().expect("model");
                names.extend(page.blob_items.into_iter().filter_map(|b| b.name));
            }
            names
        }
    }
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::S3, Cloud::Gcs, Cloud::Azure];

    /// A new bucket (or container) holding `keys`, each object's body being its key.
    pub async fn bucket_with(self, keys: &[&str]) -> String {
        match self {
            Cloud::S3 => bucket_with(keys).await,
            Cloud::Gcs => gcs_bucket_with(keys).await,
            Cloud::Azure => azure_container_with(keys).await,
        }
    }

    /// The create request for a connector to `bucket`; `fields` adds or replaces fields
    /// (`scopes` as an array, `export_base_path`, `client_secret` for Azure).
    pub fn create_request(self, bucket: &str, fields: &Value) -> (String, Body, &'static str) {
        let scopes = fields
            .get("scopes")
            .cloned()
            .unwrap_or_else(|| json!(["import", "export"]));
        match self {
            Cloud::S3 => {
                let mut body = s3_body(json!({"bucket": bucket, "scopes": scopes}));
                merge(&mut body, fields);
                (
                    "s3".into(),
                    Body::from(body.to_string()),
                    "application/json",
                )
            }
            Cloud::Azure => {
                let mut body = azure_body();
                merge(
                    &mut body,
                    &json!({
                        "storage_account": AZURITE_ACCOUNT,
                        "container": bucket,
                        "tenant_id": AZURE_TENANT,
                        "client_id": AZURE_CLIENT,
                        "client_secret": azure_good_secret(),
                        "scopes": scopes,
                    }),
                );
                merge(&mut body, fields);
                (
                    "azure".into(),
                    Body::from(body.to_string()),
                    "application/json",
                )
            }
            Cloud::Gcs => {
                let mut form: Vec<(String, String)> = vec![
                    ("name".into(), "Media GCS".into()),
                    ("bucket".into(), bucket.into()),
                ];
                for s in scopes.as_array().into_iter().flatten() {
                    form.push(("scopes".into(), s.as_str().unwrap_or_default().into()));
                }
                if let Some(p) = fields.get("export_base_path").and_then(Value::as_str) {
                    form.push(("export_base_path".into(), p.into()));
                }
                let pairs: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let key = service_account_json(GOOGLE_TOKEN_URI).to_string();
                (
                    "gcs".into(),
                    Body::from(multipart("cloudsBOUNDARY", &pairs, Some(key.as_bytes()))),
                    "multipart/form-data; boundary=cloudsBOUNDARY",
                )
            }
        }
    }

    /// Creates a connector to `bucket` and answers its path.
    pub async fn connector(self, t: &TestApp, bucket: &str, fields: Value) -> String {
        self.connector_as(t, &t.key, bucket, fields).await
    }

    /// [`Self::connector`], created with `key` (another account's, say).
    pub async fn connector_as(self, t: &TestApp, key: &str, bucket: &str, fields: Value) -> String {
        let (provider, body, content_type) = self.create_request(bucket, &fields);
        let request = t
            .request(
                Method::POST,
                &format!("/api/v2/connectors/{provider}"),
                Some(key),
            )
            .header("content-type", content_type)
            .body(body)
            .expect("request");
        let r = t.send(request).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        format!(
            "/api/v2/connectors/{}",
            r.json()["connector_id"].as_str().expect("id")
        )
    }
}

fn merge(body: &mut Value, fields: &Value) {
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
}
