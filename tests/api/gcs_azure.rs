//! GCS (multipart) and Azure creation, and their credential rotation.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn gcs_request(
    t: &TestApp,
    boundary: &str,
    fields: &[(&str, &str)],
    file: Option<&[u8]>,
) -> axum::http::Request<Body> {
    t.request(Method::POST, "/api/v2/connectors/gcs", Some(&t.key))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(multipart(boundary, fields, file)))
        .expect("req")
}

const FORM: [(&str, &str); 4] = [
    ("name", "Media GCS"),
    ("bucket", "media_archive"),
    ("scopes", "import"),
    ("scopes", "export"),
];

#[tokio::test]
async fn creating_a_gcs_connector_from_a_form_with_a_key_file_answers_201() {
    let t = TestApp::spawn().await;
    let key = service_account_json(GOOGLE_TOKEN_URI).to_string();
    let r = t
        .send(gcs_request(&t, "xyzBOUNDARY", &FORM, Some(key.as_bytes())))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let c = r.json();
    assert_eq!(c["provider"], "gcs");
    assert_eq!(c["scopes"], json!(["import", "export"]));
    assert_eq!(c["gcp_project_id"], "media-prod-1");
    assert_eq!(
        c["client_email"],
        "importer@media-prod-1.iam.gserviceaccount.com"
    );
    assert_eq!(t.secret_count().await, 1);
}

#[tokio::test]
async fn empty_form_fields_count_as_not_sent_so_defaults_and_the_key_files_project_apply() {
    let t = TestApp::spawn().await;
    let key = service_account_json(GOOGLE_TOKEN_URI).to_string();
    let fields = [
        ("name", "Media GCS"),
        ("bucket", "media_archive"),
        ("gcp_project_id", ""),
        ("scopes", ""),
        ("export_base_path", ""),
    ];
    let r = t
        .send(gcs_request(&t, "b0", &fields, Some(key.as_bytes())))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let c = r.json();
    assert_eq!(c["gcp_project_id"], "media-prod-1");
    assert_eq!(c["scopes"], json!(["import"]));
    assert_eq!(c["export_base_path"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_gcs_connector_with_no_project_anywhere_is_a_422_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let mut key = service_account_json(GOOGLE_TOKEN_URI);
    key.as_object_mut().expect("object").remove("project_id");
    let key = key.to_string();
    let r = t
        .send(gcs_request(&t, "b9", &FORM, Some(key.as_bytes())))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["gcp_project_id"]);
    assert_eq!(t.secret_count().await, 0);
    assert!(t.get("/api/v2/connectors", &t.key).await.json() == json!([]));
}

#[tokio::test]
async fn a_key_file_naming_another_token_endpoint_is_refused() {
    let t = TestApp::spawn().await;
    let key = service_account_json("http://127.0.0.1:9/token").to_string();
    let r = t
        .send(gcs_request(&t, "b1", &FORM, Some(key.as_bytes())))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["credentials_file"]);
    assert_eq!(t.secret_count().await, 0);
}

#[tokio::test]
async fn a_missing_or_oversized_key_file_is_refused() {
    let t = TestApp::spawn().await;
    let r = t.send(gcs_request(&t, "b2", &FORM, None)).await;
    assert_eq!(r.error_fields(), ["credentials_file"]);
    let big = vec![b' '; 65 * 1024];
    let r = t.send(gcs_request(&t, "b3", &FORM, Some(&big))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let huge = vec![b' '; 129 * 1024];
    let r = t.send(gcs_request(&t, "b4", &FORM, Some(&huge))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_malformed_multipart_body_is_a_400() {
    let t = TestApp::spawn().await;
    let req = t
        .request(Method::POST, "/api/v2/connectors/gcs", Some(&t.key))
        .header("content-type", "multipart/form-data; boundary=abc")
        .body(Body::from(
            "--abc\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nunterminated",
        ))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "malformed_multipart");
}

#[tokio::test]
async fn unknown_or_repeated_form_fields_are_refused() {
    let t = TestApp::spawn().await;
    let key = service_account_json(GOOGLE_TOKEN_URI).to_string();
    let mut fields = FORM.to_vec();
    fields.push(("colour", "red"));
    assert_eq!(
        t.send(gcs_request(&t, "b5", &fields, Some(key.as_bytes())))
            .await
            .error_fields(),
        ["colour"]
    );
    let mut fields = FORM.to_vec();
    fields.push(("name", "again"));
    assert_eq!(
        t.send(gcs_request(&t, "b6", &fields, Some(key.as_bytes())))
            .await
            .error_fields(),
        ["name"]
    );
}

#[tokio::test]
async fn creating_an_azure_connector_answers_201_and_its_secret_can_be_rotated_alone() {
    let t = TestApp::spawn().await;
    let r = t
        .json(
            Method::POST,
            "/api/v2/connectors/azure",
            &t.key,
            &azure_body(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let c = r.json();
    assert_eq!(
        (c["storage_account"].as_str(), c["container"].as_str()),
        (Some("mediastore01"), Some("raw-footage"))
    );
    assert_eq!(c["bucket"], serde_json::Value::Null);
    let path = format!(
        "/api/v2/connectors/{}",
        c["connector_id"].as_str().expect("id")
    );
    let secret = azure_secret();
    // Saved unchecked: no provider is called here (the checks: tests/api/lifecycle.rs).
    let r = t
        .json(
            Method::PATCH,
            &format!("{path}?validate=false"),
            &t.key,
            &json!({"client_secret": secret}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let stored = t.only_stored_secret().await;
    assert!(stored.contains(&secret) && stored.contains("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"));
}

#[tokio::test]
async fn azure_fields_are_validated() {
    let t = TestApp::spawn().await;
    let mut body = azure_body();
    body["storage_account"] = json!("Media-Store");
    body["tenant_id"] = json!("not a tenant");
    body["client_id"] = json!("1234");
    let r = t
        .json(Method::POST, "/api/v2/connectors/azure", &t.key, &body)
        .await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["client_id", "storage_account", "tenant_id"]);
}
