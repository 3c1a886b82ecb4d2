//! Access grants on all three clouds, each against its emulator, through a plain HTTP
//! client as a job would use them: a `GET` URL returns the object and serves `Range`, a
//! `PUT` URL writes an object that a later browse lists. (moto's S3 checks a presigned
//! URL's signature and expiry through `infra/moto_server.py`; Azurite checks SAS itself;
//! fake-gcs-server checks no signature, so GCS signing is held to Google's conformance
//! vectors in the crate's unit tests.)

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::helpers::*;

/// An object whose body (its own key) is longer than 100 bytes, for a range read.
fn long_key() -> String {
    format!("incoming/2026/{}.mp4", "clip-".repeat(24))
}

/// Fields that make `cloud`'s connector one whose URLs its emulator will accept.
fn signable(cloud: Cloud) -> Value {
    let mut fields = json!({"scopes": ["import", "export"], "export_base_path": "exports"});
    if cloud == Cloud::S3 {
        let (id, secret) = moto_user(&std::env::var("MOTO_ENDPOINT").expect("moto"), None);
        fields["aws_access_key_id"] = json!(id);
        fields["aws_secret_access_key"] = json!(secret);
    }
    fields
}

async fn grant(t: &TestApp, connector: &str, body: Value) -> Value {
    let r = t
        .json(Method::POST, &format!("{connector}/access"), &t.key, &body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// A request for a granted URL, with the headers the grant says it must carry.
fn request(http: &reqwest::Client, url: &Value) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(url["method"].as_str().expect("a method").as_bytes())
        .expect("a method");
    let mut r = http.request(method, url["url"].as_str().expect("a url"));
    for (name, value) in url["headers"].as_object().into_iter().flatten() {
        r = r.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    r
}

async fn urls_read_range_and_write_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let key = long_key();
    let bucket = cloud.bucket_with(&[&key, "incoming/2026/other.mp4"]).await;
    let connector = cloud.connector(&t, &bucket, signable(cloud)).await;
    let http = reqwest::Client::new();

    let read = grant(
        &t,
        &connector,
        json!({"purpose": "import", "paths": [key], "ttl_seconds": 300}),
    )
    .await;
    assert_eq!(read["permissions"], json!(["read"]));
    let url = &read["urls"][0];
    assert_eq!(url["path"].as_str(), Some(key.as_str()));
    let whole = request(&http, url).send().await.expect("GET");
    assert_eq!(whole.status(), 200, "{cloud:?}: {:?}", whole.text().await);
    assert_eq!(whole.bytes().await.expect("body").as_ref(), key.as_bytes());
    let part = request(&http, url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .expect("range GET");
    assert_eq!(part.status(), 206, "{cloud:?}");
    assert_eq!(
        part.bytes().await.expect("body").as_ref(),
        &key.as_bytes()[..100]
    );

    let write = grant(
        &t,
        &connector,
        json!({"purpose": "export", "subpath": "run-1", "paths": ["cuts.json"]}),
    )
    .await;
    assert_eq!(write["prefix"], "exports/run-1/");
    let put = &write["urls"][0];
    assert_eq!(put["path"], "exports/run-1/cuts.json");
    let r = request(&http, put)
        .body("{\"cuts\": []}")
        .send()
        .await
        .expect("PUT");
    assert!(
        r.status().is_success(),
        "{cloud:?}: {} {:?}",
        r.status(),
        r.text().await
    );
    let listed = t
        .json(
            Method::POST,
            &format!("{connector}/browse"),
            &t.key,
            &json!({"prefix": "exports/run-1/"}),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let paths: Vec<String> = listed
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(paths, vec!["exports/run-1/cuts.json"], "{cloud:?}");
}

#[tokio::test]
async fn a_get_url_reads_and_ranges_and_a_put_url_writes_on_s3() {
    urls_read_range_and_write_on(Cloud::S3).await;
}

#[tokio::test]
async fn a_get_url_reads_and_ranges_and_a_put_url_writes_on_gcs() {
    urls_read_range_and_write_on(Cloud::Gcs).await;
}

#[tokio::test]
async fn a_get_url_reads_and_ranges_and_a_put_url_writes_on_azure() {
    urls_read_range_and_write_on(Cloud::Azure).await;
}

/// What moto (through the wrapper) and Azurite refuse, as S3 and Azure do.
async fn altered_urls_are_refused_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let bucket = cloud
        .bucket_with(&["incoming/a.mp4", "incoming/b.mp4"])
        .await;
    let connector = cloud.connector(&t, &bucket, signable(cloud)).await;
    let http = reqwest::Client::new();
    let read = grant(
        &t,
        &connector,
        json!({"purpose": "import", "paths": ["incoming/a.mp4"], "ttl_seconds": 60}),
    )
    .await;
    let url = read["urls"][0]["url"].as_str().expect("a url");
    assert_eq!(
        http.get(url).send().await.expect("GET").status(),
        200,
        "{cloud:?}"
    );
    // The same signature for another object.
    let other = url.replacen("/incoming/a.mp4", "/incoming/b.mp4", 1);
    let r = http.get(&other).send().await.expect("GET");
    assert_eq!(r.status(), 403, "{cloud:?}: another object");
    // A URL signed for reading, used to write (with every header a write needs), is
    // refused for its signature or permissions, and the object is left as it was.
    let r = http
        .put(url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 403, "{cloud:?}: a write with a read URL");
    let kept = http.get(url).send().await.expect("GET");
    assert_eq!(kept.status(), 200, "{cloud:?}");
    assert_eq!(
        kept.bytes().await.expect("a body").as_ref(),
        b"incoming/a.mp4",
        "{cloud:?}: the object as it was"
    );
}

/// A URL works until `expires_at` and is refused after it.
async fn a_url_is_refused_once_expired_on(cloud: Cloud) {
    let t = TestApp::spawn().await;
    let bucket = cloud.bucket_with(&["incoming/a.mp4"]).await;
    let connector = cloud.connector(&t, &bucket, signable(cloud)).await;
    let g = grant(
        &t,
        &connector,
        json!({"purpose": "import", "paths": ["incoming/a.mp4"], "ttl_seconds": 60}),
    )
    .await;
    let url = g["urls"][0]["url"].as_str().expect("a url");
    let http = reqwest::Client::new();
    assert_eq!(http.get(url).send().await.expect("GET").status(), 200);
    let expires = connectors::domain::timestamp::Timestamp::parse(
        g["expires_at"].as_str().expect("expires_at"),
    )
    .expect("RFC 3339")
    .unix();
    let wait = expires + 2 - connectors::domain::timestamp::Timestamp::now().unix();
    tokio::time::sleep(std::time::Duration::from_secs(
        u64::try_from(wait).unwrap_or(0),
    ))
    .await;
    assert_eq!(
        http.get(url).send().await.expect("GET").status(),
        403,
        "{cloud:?}: a URL after its expires_at"
    );
}

#[tokio::test]
async fn urls_are_refused_once_expired_on_s3_and_azure() {
    // One wait for both, run while the rest of the suite does.
    tokio::join!(
        a_url_is_refused_once_expired_on(Cloud::S3),
        a_url_is_refused_once_expired_on(Cloud::Azure)
    );
}

#[tokio::test]
async fn a_url_altered_to_another_object_or_method_is_refused_on_s3() {
    altered_urls_are_refused_on(Cloud::S3).await;
}

#[tokio::test]
async fn a_url_altered_to_another_object_or_method_is_refused_on_azure() {
    altered_urls_are_refused_on(Cloud::Azure).await;
}

#[tokio::test]
async fn gcs_credentials_are_a_token_downscoped_to_the_prefix_for_an_hour() {
    let t = TestApp::spawn().await;
    let bucket = Cloud::Gcs.bucket_with(&["incoming/a.mp4"]).await;
    let connector = Cloud::Gcs
        .connector(&t, &bucket, signable(Cloud::Gcs))
        .await;
    let short = t
        .json(
            Method::POST,
            &format!("{connector}/access"),
            &t.key,
            &json!({"purpose": "import", "prefix": "incoming", "ttl_seconds": 900}),
        )
        .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "never stretched to an hour"
    );
    let before = connectors::domain::timestamp::Timestamp::now().unix();
    let g = grant(
        &t,
        &connector,
        json!({"purpose": "import", "prefix": "incoming", "ttl_seconds": 3600}),
    )
    .await;
    assert_eq!(g["prefix"], "incoming/");
    assert_eq!(g["permissions"], json!(["read", "list"]));
    let expires = connectors::domain::timestamp::Timestamp::parse(
        g["expires_at"].as_str().expect("expires_at"),
    )
    .expect("RFC 3339")
    .unix();
    assert!((before + 3500..=before + 3601).contains(&expires), "{g}");
    let token = g["credentials"]["access_token"].as_str().expect("a token");
    // What the service asked Google's STS for (the stand-in keeps it).
    let boundary: Value = super::stand_in(&format!("/google/boundaries/{token}")).await;
    // Exactly one rule: reading this bucket, held to the prefix for objects and listings.
    assert_eq!(
        boundary,
        json!({"accessBoundary": {"accessBoundaryRules": [{
            "availableResource": format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
            "availablePermissions": ["inRole:roles/storage.objectViewer"],
            "availabilityCondition": {"expression": format!(
                "resource.name.startsWith('projects/_/buckets/{bucket}/objects/incoming/') || \
                 api.getAttribute('storage.googleapis.com/objectListPrefix', '')\
                 .startsWith('incoming/')"
            )},
        }]}}),
    );
}

#[tokio::test]
async fn an_azure_container_sas_is_given_only_for_the_whole_container() {
    let t = TestApp::spawn().await;
    let bucket = Cloud::Azure.bucket_with(&["incoming/a.mp4"]).await;
    let mut fields = signable(Cloud::Azure);
    fields["export_base_path"] = Value::Null;
    let connector = Cloud::Azure.connector(&t, &bucket, fields).await;
    let r = t
        .json(
            Method::POST,
            &format!("{connector}/access"),
            &t.key,
            &json!({"purpose": "import", "prefix": "incoming/"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["error"]["code"], "access_not_supported");
    let g = grant(&t, &connector, json!({"purpose": "import"})).await;
    assert_eq!(g["prefix"], "");
    let c = &g["credentials"];
    let sas = c["sas_token"].as_str().expect("a SAS");
    let url = c["container_url"].as_str().expect("the container's URL");
    let http = reqwest::Client::new();
    let listed = http
        .get(format!("{url}?restype=container&comp=list&{sas}"))
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    assert!(listed.text().await.expect("XML").contains("incoming/a.mp4"));
    let put = http
        .put(format!("{url}/incoming/new.mp4?{sas}"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 403, "a read SAS may not write");
}
