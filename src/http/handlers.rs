//! One handler per endpoint: authenticate (extractor), parse into domain values, call the
//! use case, shape the response.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::auth::{Admin, Read, Write};
use super::extract::{ConnectorPath, FormValue, JsonObject, MultipartForm, OptionalJsonObject};
use super::fields::Fields;
use super::idempotency::{self, IdempotencyKey, fingerprint};
use super::rendered;
use super::wire::{X_NEXT_CURSOR, connector_json, json_response, with_header};
use crate::domain::connector::{Connector, ListFilter, Location};
use crate::domain::credentials::{
    AzureCredentials, Credentials, GcsServiceAccount, S3Credentials, parse_client_secret,
};
use crate::domain::glob::GlobPattern;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::names::{
    AwsRegion, AzureTenant, ConnectorName, ContainerName, GcpProjectId, GcsBucketName, Guid,
    S3BucketName, StorageAccount,
};
use crate::domain::paths::{BrowsePrefix, ExportBasePath};
use crate::domain::scopes::{ImportMode, Provider, Scope, Scopes, Status};
use crate::domain::{Invalid, Parsed};
use crate::error::{ApiError, FieldError};
use crate::service::App;
use crate::service::browse::BrowseRequest;
use crate::service::connectors::{ConnectorPatch, CredentialUpdate, NewConnector, Precondition};
use crate::store::StoredResponse;

const BASE: &str = "/api/v2/connectors";
const COMMON_FIELDS: [&str; 4] = ["name", "scopes", "export_base_path", "import_mode"];

fn text(s: &str) -> Parsed<String> {
    Ok(s.to_owned())
}

/// A path id that is not a connector id names no connector: 404, like any unknown id.
/// The common fields of every create request.
struct Common {
    name: Option<ConnectorName>,
    scopes: Scopes,
    import_mode: ImportMode,
    export_base_path: Option<ExportBasePath>,
}

fn common(f: &mut Fields) -> Common {
    Common {
        name: f.required("name", ConnectorName::parse),
        scopes: f
            .list("scopes", Scopes::parse)
            .unwrap_or(Scopes::IMPORT_ONLY),
        import_mode: f
            .optional("import_mode", ImportMode::parse)
            .unwrap_or(ImportMode::All),
        export_base_path: f.optional("export_base_path", ExportBasePath::parse),
    }
}

fn allowed(specific: &[&'static str]) -> Vec<&'static str> {
    COMMON_FIELDS.iter().chain(specific).copied().collect()
}

/// Assembles a create request once every field parsed.
fn new_connector(
    f: Fields,
    c: Common,
    location: Option<Location>,
    credentials: Option<Credentials>,
) -> Result<NewConnector, ApiError> {
    f.finish()?;
    match (c.name, location, credentials) {
        (Some(name), Some(location), Some(credentials)) => Ok(NewConnector {
            name,
            location,
            scopes: c.scopes,
            import_mode: c.import_mode,
            export_base_path: c.export_base_path,
            credentials,
        }),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "fields missing without a field error"
        ))),
    }
}

fn parse_s3(map: Map<String, Value>) -> Result<NewConnector, ApiError> {
    let mut f = Fields::new(
        map,
        &allowed(&[
            "bucket",
            "region",
            "aws_access_key_id",
            "aws_secret_access_key",
        ]),
    )?;
    let c = common(&mut f);
    let bucket = f.required("bucket", S3BucketName::parse);
    let region = f.required("region", AwsRegion::parse);
    let key_id = f.required("aws_access_key_id", text);
    let secret = f.required("aws_secret_access_key", text);
    let credentials = match (key_id, secret) {
        (Some(k), Some(s)) => S3Credentials::parse(&k, &s)
            .map_err(|(field, e)| f.fail(field, e.0))
            .ok()
            .map(Credentials::S3),
        _ => None,
    };
    let location = bucket
        .zip(region)
        .map(|(bucket, region)| Location::S3 { bucket, region });
    new_connector(f, c, location, credentials)
}

fn parse_azure(map: Map<String, Value>) -> Result<NewConnector, ApiError> {
    let mut f = Fields::new(
        map,
        &allowed(&[
            "storage_account",
            "container",
            "tenant_id",
            "client_id",
            "client_secret",
        ]),
    )?;
    let c = common(&mut f);
    let account = f.required("storage_account", StorageAccount::parse);
    let container = f.required("container", ContainerName::parse);
    let tenant_id = f.required("tenant_id", AzureTenant::parse);
    let client_id = f.required("client_id", Guid::parse);
    let secret = f.required("client_secret", text);
    let credentials = match (tenant_id, client_id, secret) {
        (Some(t), Some(id), Some(s)) => AzureCredentials::new(t, id, &s)
            .map_err(|e| f.fail("client_secret", e.0))
            .ok()
            .map(Credentials::Azure),
        _ => None,
    };
    let location = account
        .zip(container)
        .map(|(storage_account, container)| Location::Azure {
            storage_account,
            container,
        });
    new_connector(f, c, location, credentials)
}

/// The GCS form as a JSON object (so it validates and fingerprints like the others), plus
/// the key file's bytes.
struct GcsForm {
    fields: Map<String, Value>,
    key_file: Option<Vec<u8>>,
}

fn gcs_form_to_object(form: MultipartForm) -> Result<GcsForm, ApiError> {
    let mut map = Map::new();
    let mut scopes = Vec::new();
    let mut key_file = None;
    let mut duplicates = Vec::new();
    for (name, value) in form.0 {
        match (name.as_str(), value) {
            ("credentials_file", FormValue::File(bytes)) => {
                if key_file.replace(bytes.to_vec()).is_some() {
                    duplicates.push(name);
                }
            }
            ("scopes", FormValue::Text(s)) => scopes.push(Value::String(s)),
            (_, FormValue::Text(s)) => {
                // An empty optional form field means "not given", as browsers send them.
                let v = if s.is_empty() {
                    Value::Null
                } else {
                    Value::String(s)
                };
                if map.insert(name.clone(), v).is_some() {
                    duplicates.push(name);
                }
            }
            (_, FormValue::File(_)) => {
                map.insert(name, Value::String(String::new()));
            }
        }
    }
    if !duplicates.is_empty() {
        return Err(ApiError::Validation(
            duplicates
                .into_iter()
                .map(|d| crate::error::FieldError::new(d, "must be sent once"))
                .collect(),
        ));
    }
    if !scopes.is_empty() {
        map.insert("scopes".into(), Value::Array(scopes));
    }
    Ok(GcsForm {
        fields: map,
        key_file,
    })
}

fn parse_gcs(map: Map<String, Value>, key_file: Option<&[u8]>) -> Result<NewConnector, ApiError> {
    let mut f = Fields::new(map, &allowed(&["bucket", "gcp_project_id"]))?;
    let c = common(&mut f);
    let bucket = f.required("bucket", GcsBucketName::parse);
    let mut project = f.optional("gcp_project_id", GcpProjectId::parse);
    let account = match key_file {
        None => {
            f.fail(
                "credentials_file",
                "is required (the service account's JSON key file)",
            );
            None
        }
        Some(bytes) => GcsServiceAccount::parse(bytes)
            .map_err(|e| f.fail("credentials_file", e.0))
            .ok(),
    };
    if project.is_none() && !f.has("gcp_project_id") {
        project = account
            .as_ref()
            .and_then(|a| a.project_id())
            .and_then(|p| GcpProjectId::parse(p).ok());
    }
    let location = bucket.map(|bucket| Location::Gcs {
        bucket,
        gcp_project_id: project,
    });
    new_connector(f, c, location, account.map(Credentials::Gcs))
}

/// A created connector as the response to store and send.
fn created(c: &Connector) -> Result<StoredResponse, ApiError> {
    Ok(StoredResponse {
        status: 201,
        body: connector_json(c)?,
        location: Some(format!("{BASE}/{}", c.id)),
        etag: Some(c.etag()),
    })
}

/// The query of a create: only `dry_run=true|false`.
fn dry_run(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut dry = false;
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("dry_run", "true") => dry = true,
            ("dry_run", "false") => {}
            ("dry_run", _) => errors.push(FieldError::new("dry_run", "must be true or false")),
            (other, _) => errors.push(FieldError::new(
                other,
                "is not a parameter of this endpoint (only dry_run)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(dry)
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn create(
    app: &Arc<App>,
    tenant: &TenantId,
    headers: &HeaderMap,
    fingerprint: String,
    new: NewConnector,
    dry: bool,
) -> Result<Response, ApiError> {
    if dry {
        // Nothing is created, so there is nothing for an Idempotency-Key to protect.
        let report = app.dry_run(tenant, &new).await?;
        return Ok(json_response(
            StatusCode::OK,
            serde_json::to_string(&report).unwrap_or_default(),
        ));
    }
    let key = IdempotencyKey::from_headers(headers)?;
    let new_id = ConnectorId::generate().to_string();
    idempotency::once(app, tenant, key, fingerprint, new_id, |id| async move {
        let id = ConnectorId::parse(&id)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("reserved id unreadable: {e}")))?;
        app.create_connector(tenant, id, new)
            .await
            .and_then(|c| created(&c))
    })
    .await
}

pub async fn create_s3(
    State(app): State<Arc<App>>,
    Write(caller): Write,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let dry = dry_run(query.as_deref())?;
    let fp = fingerprint("POST", &format!("{BASE}/s3"), &Value::Object(body.clone()));
    let new = parse_s3(body)?;
    create(&app, caller.tenant(), &headers, fp, new, dry).await
}

pub async fn create_azure(
    State(app): State<Arc<App>>,
    Write(caller): Write,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let dry = dry_run(query.as_deref())?;
    let fp = fingerprint(
        "POST",
        &format!("{BASE}/azure"),
        &Value::Object(body.clone()),
    );
    let new = parse_azure(body)?;
    create(&app, caller.tenant(), &headers, fp, new, dry).await
}

pub async fn create_gcs(
    State(app): State<Arc<App>>,
    Write(caller): Write,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    form: MultipartForm,
) -> Result<Response, ApiError> {
    let dry = dry_run(query.as_deref())?;
    let GcsForm {
        fields: map,
        key_file,
    } = gcs_form_to_object(form)?;
    let mut printed = map.clone();
    if let Some(bytes) = &key_file {
        // The parsed key file when it is JSON, so whitespace does not change the fingerprint.
        let file = serde_json::from_slice::<Value>(bytes)
            .unwrap_or_else(|_| Value::String(hex::encode(Sha256::digest(bytes))));
        printed.insert("credentials_file".into(), file);
    }
    let fp = fingerprint("POST", &format!("{BASE}/gcs"), &Value::Object(printed));
    let new = parse_gcs(map, key_file.as_deref())?;
    create(&app, caller.tenant(), &headers, fp, new, dry).await
}

pub async fn get_connector(
    State(app): State<Arc<App>>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
) -> Result<Response, ApiError> {
    let c = app.get_connector(caller.tenant(), &id).await?;
    let shown = rendered::connector(&c)?;
    let mut response = json_response(StatusCode::OK, shown.json);
    response.headers_mut().insert(header::ETAG, shown.etag);
    Ok(response)
}

/// Query parameters of the list endpoint.
struct ListQuery {
    filter: ListFilter,
    limit: usize,
    cursor: Option<String>,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut map = Map::new();
    let mut repeated = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if map
            .insert(k.to_string(), Value::String(v.to_string()))
            .is_some()
        {
            repeated.push(crate::error::FieldError::new(k, "must be given once"));
        }
    }
    if !repeated.is_empty() {
        return Err(ApiError::Validation(repeated));
    }
    let limit = map.remove("limit");
    let mut f = Fields::new(map, &["provider", "scope", "status", "cursor"])?;
    let filter = ListFilter {
        provider: f.optional("provider", Provider::parse),
        scope: f.optional("scope", Scope::parse),
        status: f.optional("status", Status::parse),
    };
    let cursor = f.optional("cursor", text);
    let limit = match limit.as_ref().and_then(Value::as_str) {
        None => 1000,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                f.fail("limit", "must be a whole number from 1 to 1000");
                0
            }
        },
    };
    f.finish()?;
    Ok(ListQuery {
        filter,
        limit,
        cursor,
    })
}

fn next_link(q: &ListQuery, cursor: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("limit", &q.limit.to_string());
    if let Some(p) = q.filter.provider {
        s.append_pair("provider", p.as_str());
    }
    if let Some(sc) = q.filter.scope {
        s.append_pair("scope", sc.as_str());
    }
    if let Some(st) = q.filter.status {
        s.append_pair("status", st.as_str());
    }
    s.append_pair("cursor", cursor);
    format!("<{BASE}?{}>; rel=\"next\"", s.finish())
}

pub async fn list_connectors(
    State(app): State<Arc<App>>,
    Read(caller): Read,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse_list_query(raw.as_deref())?;
    let page = app
        .list_connectors(caller.tenant(), &q.filter, q.cursor.as_deref(), q.limit)
        .await?;
    let mut r = json_response(StatusCode::OK, rendered::list(&page.items)?);
    if let Some(cursor) = &page.next_cursor {
        r = with_header(r, header::LINK, &next_link(&q, cursor));
    }
    Ok(r)
}

/// Reads `If-Match`: `*`, or a list of strong ETags (weak ones never match).
fn precondition(headers: &HeaderMap) -> Option<Precondition> {
    let raw = headers.get(header::IF_MATCH)?.to_str().unwrap_or("");
    if raw.trim() == "*" {
        return Some(Precondition::Any);
    }
    let versions = raw
        .split(',')
        .filter_map(|t| {
            t.trim()
                .strip_prefix('"')?
                .strip_suffix('"')?
                .parse::<u64>()
                .ok()
        })
        .collect();
    Some(Precondition::Versions(versions))
}

const IMMUTABLE: [&str; 5] = [
    "provider",
    "bucket",
    "storage_account",
    "container",
    "gcp_project_id",
];
const READ_ONLY: [&str; 8] = [
    "connector_id",
    "created_at",
    "updated_at",
    "last_tested_at",
    "last_test_result",
    "last_test_error",
    "credential_hint",
    "client_email",
];
const PATCHABLE: [&str; 12] = [
    "name",
    "scopes",
    "export_base_path",
    "import_mode",
    "status",
    "region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "tenant_id",
    "client_id",
    "client_secret",
    "credentials_json",
];

fn parse_patch(mut map: Map<String, Value>) -> Result<ConnectorPatch, ApiError> {
    let mut refused = Vec::new();
    for field in IMMUTABLE {
        if map.remove(field).is_some() {
            refused.push(crate::error::FieldError::new(
                field,
                "is immutable; create a new connector instead",
            ));
        }
    }
    for field in READ_ONLY {
        if map.remove(field).is_some() {
            refused.push(crate::error::FieldError::new(field, "is read-only"));
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::Validation(refused));
    }
    let mut f = Fields::new(map, &PATCHABLE)?;
    if f.is_empty() {
        return Err(ApiError::validation(
            "body",
            "must name at least one field to change",
        ));
    }
    let mut patch = ConnectorPatch {
        name: f.optional("name", ConnectorName::parse),
        scopes: f.list("scopes", Scopes::parse),
        export_base_path: f.nullable("export_base_path", ExportBasePath::parse),
        import_mode: f.optional("import_mode", ImportMode::parse),
        status: f.optional("status", |s| match Status::parse(s)? {
            st @ (Status::Active | Status::Disabled) => Ok(st),
            _ => Err(Invalid::new("may only be set to active or disabled")),
        }),
        region: f.optional("region", AwsRegion::parse),
        credentials: None,
    };
    for field in ["name", "scopes", "import_mode", "status", "region"] {
        if f.value(field).is_some_and(Value::is_null) {
            f.fail(field, "cannot be null");
        }
    }
    let (key_id, secret) = (
        f.optional("aws_access_key_id", text),
        f.optional("aws_secret_access_key", text),
    );
    match (key_id, secret) {
        (Some(k), Some(s)) => match S3Credentials::parse(&k, &s) {
            Ok(c) => patch.credentials = Some(CredentialUpdate::S3(c)),
            Err((field, e)) => f.fail(field, e.0),
        },
        (Some(_), None) => f.fail(
            "aws_secret_access_key",
            "is required with aws_access_key_id",
        ),
        (None, Some(_)) => f.fail(
            "aws_access_key_id",
            "is required with aws_secret_access_key",
        ),
        (None, None) => {}
    }
    let tenant_id = f.optional("tenant_id", AzureTenant::parse);
    let client_id = f.optional("client_id", Guid::parse);
    let client_secret = f.optional("client_secret", parse_client_secret);
    if tenant_id.is_some() || client_id.is_some() || client_secret.is_some() {
        patch.credentials = Some(CredentialUpdate::Azure {
            tenant_id,
            client_id,
            client_secret,
        });
    }
    if let Some(key) = f.object("credentials_json") {
        match GcsServiceAccount::parse(Value::Object(key).to_string().as_bytes()) {
            Ok(sa) => patch.credentials = Some(CredentialUpdate::Gcs(sa)),
            Err(e) => f.fail("credentials_json", e.0),
        }
    }
    f.finish()?;
    Ok(patch)
}

pub async fn update_connector(
    State(app): State<Arc<App>>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let patch = parse_patch(body)?;
    let c = app
        .update_connector(caller.tenant(), &id, patch, precondition(&headers))
        .await?;
    Ok(with_header(
        json_response(StatusCode::OK, connector_json(&c)?),
        header::ETAG,
        &c.etag(),
    ))
}

pub async fn delete_connector(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.delete_connector(caller.tenant(), &id, precondition(&headers))
        .await?;
    let body = json!({ "message": format!("connector {id} deleted") }).to_string();
    Ok(json_response(StatusCode::OK, body))
}

pub async fn test_connector(
    State(app): State<Arc<App>>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    let fp = fingerprint("POST", &format!("{BASE}/{id}/test"), &Value::Null);
    let tenant = caller.tenant();
    idempotency::once(&app, tenant, key, fp, id.to_string(), |_| async {
        let report = app.test_connector(tenant, &id).await?;
        Ok(StoredResponse {
            status: 200,
            body: serde_json::to_string(&report).unwrap_or_default(),
            location: None,
            etag: None,
        })
    })
    .await
}

fn parse_browse(map: Map<String, Value>) -> Result<BrowseRequest, ApiError> {
    let mut f = Fields::new(
        map,
        &[
            "prefix",
            "pattern",
            "recursive",
            "limit",
            "cursor",
            "case_insensitive",
        ],
    )?;
    let case_insensitive = f.boolean("case_insensitive").unwrap_or(false);
    let prefix = f
        .optional("prefix", BrowsePrefix::parse)
        .unwrap_or_default();
    let pattern = f
        .optional("pattern", |s| GlobPattern::parse(s, case_insensitive))
        .unwrap_or_default();
    let recursive = f.boolean("recursive").unwrap_or(true);
    let limit = f.integer("limit", 1..=5000).unwrap_or(1000);
    let cursor = f.optional("cursor", text);
    f.finish()?;
    Ok(BrowseRequest {
        prefix,
        pattern,
        recursive,
        case_insensitive,
        limit: usize::try_from(limit).unwrap_or(1000),
        cursor,
    })
}

pub async fn browse_connector(
    State(app): State<Arc<App>>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let request = parse_browse(body)?;
    let outcome = app.browse(caller.tenant(), &id, request).await?;
    let mut r = json_response(StatusCode::OK, outcome.body);
    if let Some(cursor) = &outcome.next_cursor {
        r = with_header(r, X_NEXT_CURSOR, cursor);
    }
    Ok(r)
}
