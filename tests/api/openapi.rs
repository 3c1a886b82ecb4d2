//! The OpenAPI document: served without a key, equal to the committed `infra/openapi.json`,
//! and holding what the contract holds: its nine operations and the role setup (each one
//! routed), every status and header, both auth schemes, the GCS form, the schemas and their
//! examples.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// `GET /api/v2/openapi.json` without a key: a 200 in JSON.
async fn fetch(t: &TestApp) -> TestResponse {
    let r = t
        .send(
            t.request(Method::GET, "/api/v2/openapi.json", None)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json"))
    );
    r
}

/// The document as the service serves it.
async fn served() -> (TestApp, Value) {
    let t = TestApp::spawn().await;
    let doc = fetch(&t).await.json();
    (t, doc)
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            ops.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    ops
}

fn operation(doc: &Value, method: &str, path: &str) -> Value {
    doc["paths"][path][method].clone()
}

fn statuses(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .cloned()
        .collect()
}

/// A response of `op`, following a reference into the components.
fn response(doc: &Value, op: &Value, status: &str) -> Value {
    let r = &op["responses"][status];
    match r["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("a name");
            doc["components"]["responses"][name].clone()
        }
        None => r.clone(),
    }
}

fn header_names(response: &Value) -> BTreeSet<String> {
    response["headers"]
        .as_object()
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default()
}

fn parameter_names(op: &Value) -> BTreeSet<String> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const CREATES: [&str; 3] = [
    "/api/v2/connectors/s3",
    "/api/v2/connectors/gcs",
    "/api/v2/connectors/azure",
];
const ONE: &str = "/api/v2/connectors/{connector_id}";

#[tokio::test]
async fn the_served_document_equals_the_committed_infra_openapi_json() {
    let t = TestApp::spawn().await;
    let r = fetch(&t).await;
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/openapi.json"))
        .expect("infra/openapi.json");
    assert!(
        r.body == committed,
        "infra/openapi.json is not what the service serves; regenerate it with \
         `cargo run -- openapi > infra/openapi.json`"
    );
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_contracts_nine_operations_the_three_setups_access_and_events()
 {
    let (_, doc) = served().await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    let found: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let contract: BTreeSet<(String, String)> = [
        ("POST", "/api/v2/connectors/gcs"),
        ("POST", "/api/v2/connectors/s3"),
        ("POST", "/api/v2/connectors/azure"),
        ("GET", "/api/v2/connectors"),
        ("GET", ONE),
        ("PATCH", ONE),
        ("POST", "/api/v2/connectors/{connector_id}/test"),
        ("POST", "/api/v2/connectors/{connector_id}/browse"),
        ("DELETE", ONE),
        ("GET", "/api/v2/connectors/s3/role-setup"),
        ("GET", "/api/v2/connectors/gcs/identity-setup"),
        ("GET", "/api/v2/connectors/azure/identity-setup"),
        ("POST", "/api/v2/connectors/{connector_id}/access"),
        ("GET", "/api/v2/connectors/{connector_id}/events"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(found, contract);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_asks_for_a_key() {
    let (t, doc) = served().await;
    for (method, path, _) in operations(&doc) {
        let path = path.replace("{connector_id}", "conn_01jd8x0k6m3q4r5s6t7v8w9xyz");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let r = t
            .send(
                t.request(method.clone(), &path, None)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.error_code(), "authentication_required", "{method} {path}");
    }
}

#[tokio::test]
async fn every_operation_documents_the_statuses_the_contract_lists_for_it() {
    let (_, doc) = served().await;
    let every = ["401", "403", "500", "503"];
    let expected: Vec<(&str, &str, Vec<&str>)> = CREATES
        .iter()
        .map(|p| {
            (
                "post",
                *p,
                vec!["201", "200", "400", "409", "413", "415", "422", "429"],
            )
        })
        .chain([
            ("get", "/api/v2/connectors", vec!["200", "400", "422"]),
            ("get", ONE, vec!["200", "404"]),
            (
                "get",
                "/api/v2/connectors/{connector_id}/events",
                vec!["200", "400", "404", "422"],
            ),
            (
                "patch",
                ONE,
                vec!["200", "400", "404", "409", "412", "413", "415", "422"],
            ),
            ("delete", ONE, vec!["200", "404", "412"]),
            (
                "get",
                "/api/v2/connectors/s3/role-setup",
                vec!["200", "422"],
            ),
            (
                "get",
                "/api/v2/connectors/azure/identity-setup",
                vec!["200", "404", "422"],
            ),
            (
                "get",
                "/api/v2/connectors/gcs/identity-setup",
                vec!["200", "404", "422"],
            ),
            (
                "post",
                "/api/v2/connectors/{connector_id}/test",
                vec!["200", "404", "409", "422", "429"],
            ),
            (
                "post",
                "/api/v2/connectors/{connector_id}/browse",
                vec![
                    "200", "400", "404", "409", "413", "415", "422", "429", "504",
                ],
            ),
        ])
        .collect();
    for (method, path, own) in expected {
        let op = operation(&doc, method, path);
        let found = statuses(&op);
        for status in own.iter().chain(&every) {
            assert!(found.contains(*status), "{method} {path} lacks {status}");
            let r = response(&doc, &op, status);
            assert!(
                r["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
            let schema = &r["content"]["application/json"]["schema"];
            if status.starts_with(['4', '5']) {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorEnvelope",
                    "{method} {path} {status}"
                );
            } else {
                assert!(schema.is_object(), "{method} {path} {status} has no body");
            }
        }
    }
}

#[tokio::test]
async fn every_response_documents_x_request_id_and_retries_document_retry_after() {
    let (_, doc) = served().await;
    for (method, path, op) in operations(&doc) {
        for status in statuses(&op) {
            let headers = header_names(&response(&doc, &op, &status));
            assert!(headers.contains("X-Request-Id"), "{method} {path} {status}");
            if ["409", "429", "503", "504"].contains(&status.as_str()) {
                assert!(headers.contains("Retry-After"), "{method} {path} {status}");
            }
            if status == "429" {
                assert!(headers.contains("RateLimit"), "{method} {path} {status}");
                assert!(
                    headers.contains("RateLimit-Policy"),
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_contracts_headers_are_documented_where_they_are_sent() {
    let (_, doc) = served().await;
    for path in CREATES {
        let op = operation(&doc, "post", path);
        assert!(
            parameter_names(&op).is_superset(&set(&["dry_run", "Idempotency-Key"])),
            "{path}"
        );
        let created = header_names(&response(&doc, &op, "201"));
        assert!(
            created.is_superset(&set(&["Location", "ETag", "Idempotent-Replayed"])),
            "{path}: {created:?}"
        );
    }
    let get = operation(&doc, "get", ONE);
    assert!(header_names(&response(&doc, &get, "200")).contains("ETag"));
    for method in ["patch", "delete"] {
        assert!(parameter_names(&operation(&doc, method, ONE)).contains("If-Match"));
    }
    let list = operation(&doc, "get", "/api/v2/connectors");
    assert!(header_names(&response(&doc, &list, "200")).contains("Link"));
    assert!(
        parameter_names(&list)
            .is_superset(&set(&["provider", "scope", "status", "limit", "cursor"]))
    );
    let test = operation(&doc, "post", "/api/v2/connectors/{connector_id}/test");
    assert!(parameter_names(&test).contains("Idempotency-Key"));
    assert!(header_names(&response(&doc, &test, "200")).contains("Idempotent-Replayed"));
    let browse = operation(&doc, "post", "/api/v2/connectors/{connector_id}/browse");
    assert!(header_names(&response(&doc, &browse, "200")).contains("X-Next-Cursor"));
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn both_auth_schemes_are_declared_and_either_one_is_enough() {
    let (_, doc) = served().await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["api_key"],
        json!({"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": schemes["api_key"]["description"]})
    );
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{"api_key": []}, {"bearer": []}]));
}

#[tokio::test]
async fn the_gcs_create_is_a_multipart_form_with_the_key_file_as_binary_or_keyless_json() {
    let (_, doc) = served().await;
    let op = operation(&doc, "post", "/api/v2/connectors/gcs");
    let body = &op["requestBody"]["content"];
    assert_eq!(
        body.as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "application/json".to_owned(),
            "multipart/form-data".to_owned()
        ])
    );
    assert_eq!(
        body["application/json"]["schema"]["$ref"],
        "#/components/schemas/GcsKeylessConnectorCreate"
    );
    let keyless = &doc["components"]["schemas"]["GcsKeylessConnectorCreate"];
    assert_eq!(keyless["additionalProperties"], false, "{keyless}");
    assert!(keyless["properties"].get("credentials_file").is_none());
    for field in ["name", "bucket", "gcp_project_id"] {
        assert!(
            keyless["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(field))),
            "{field}"
        );
    }
    let form = &doc["components"]["schemas"]["GcsConnectorCreate"];
    assert_eq!(
        form["properties"]["credentials_file"]["contentMediaType"],
        "application/octet-stream"
    );
    let required = form["required"].as_array().expect("required fields");
    for field in ["name", "bucket", "credentials_file"] {
        assert!(required.contains(&json!(field)), "{field}");
    }
    let scopes = &doc["components"]["schemas"]["Scopes"];
    assert_eq!(scopes["type"], "array");
    assert_eq!(scopes["uniqueItems"], true);
}

#[tokio::test]
async fn the_connector_schema_has_every_contract_field_always_present_with_its_example() {
    let (_, doc) = served().await;
    let connector = &doc["components"]["schemas"]["Connector"];
    let example = &connector["examples"][0];
    let required = connector["required"].as_array().expect("required");
    for field in example.as_object().expect("an example object").keys() {
        assert!(required.contains(&json!(field)), "{field} is not required");
        assert!(
            connector["properties"][field].is_object(),
            "{field} has no schema"
        );
    }
    assert_eq!(example["connector_id"], "conn_01jd8x0k6m3q4r5s6t7v8w9xyz");
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if [
            "Connector",
            "TestReport",
            "FileEntry",
            "ErrorEnvelope",
            "S3ConnectorCreate",
            "AzureConnectorCreate",
            "BrowseRequest",
        ]
        .contains(&name.as_str())
        {
            assert!(schema["examples"].is_array(), "{name} has no example");
        }
    }
    let list = operation(&doc, "get", "/api/v2/connectors");
    let page = &list["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(page["type"], "array", "the list is a bare array");
}

/// The schema `r` names in `doc` (`#/components/schemas/<name>`), or `r` itself.
#[cfg(feature = "emulators")]
fn resolved<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r["$ref"]
        .as_str()
        .and_then(|p| p.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => r,
    }
}

/// The required properties of `schema` that `value` lacks, nested objects included.
#[cfg(feature = "emulators")]
fn missing(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolved(doc, schema);
    let mut out: Vec<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|k| value.get(*k).is_none())
        .map(|k| format!("{at}.{k}"))
        .collect();
    if let Some(properties) = schema["properties"].as_object() {
        for (k, s) in properties {
            if value[k.as_str()].is_object() {
                out.extend(missing(doc, s, &value[k.as_str()], &format!("{at}.{k}")));
            }
        }
    }
    out
}

/// Two response types of one name would print as one schema, and one provider's answer
/// would then be described by the other's.
#[cfg(feature = "emulators")]
#[tokio::test]
async fn each_setups_answer_has_every_property_its_documented_schema_requires() {
    let (t, doc) = served().await;
    let tenant = std::env::var("AZURE_CONSENTED_TENANTS").expect("tenants");
    let tenant = tenant.split(',').next().expect("a tenant");
    for path in [
        "/api/v2/connectors/gcs/identity-setup?bucket=media-archive".to_owned(),
        format!(
            "/api/v2/connectors/azure/identity-setup?tenant_id={tenant}&storage_account=mediastore01&container=footage"
        ),
    ] {
        let r = t.get(&path, &t.key).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let documented = path.split('?').next().expect("a path");
        let op = operation(&doc, "get", documented);
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{documented} documents its answer");
        assert_eq!(
            missing(&doc, schema, &r.json(), "answer"),
            Vec::<String>::new(),
            "{path}"
        );
    }
}
