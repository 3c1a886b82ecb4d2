//! `POST /connectors/{s3,gcs,azure}`: each provider's body parsed into a
//! [`NewConnector`], `?dry_run`, and the create run once per `Idempotency-Key`.

use axum::extract::{FromRequest, RawQuery, Request, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::super::State;
use super::super::auth::Write;
use super::super::error::{ApiError, FieldError};
use super::super::extract::{FormValue, JsonObject, MultipartForm};
use super::super::fields::{Fields, text};
use super::super::idempotency::{
    Canonical, Fingerprinted, canonical_object, idempotency_key, respond,
};
use super::super::wire::{connector_json, json_response, with_quota};
use super::BASE;
use crate::domain::connector::{Connector, Location};
use crate::domain::credentials::{AzureCredentials, Credentials, GcsServiceAccount, S3Credentials};
use crate::domain::ids::ConnectorId;
use crate::domain::names::{
    AwsRegion, AzureTenant, ConnectorName, ContainerName, GcpProjectId, GcsBucketName, Guid,
    S3BucketName, StorageAccount,
};
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Scopes};
use crate::service::ServiceError;
use crate::service::connectors::NewConnector;
use crate::service::idempotency::StoredResponse;
use crate::service::limits::Limited;

const COMMON_FIELDS: [&str; 4] = ["name", "scopes", "export_base_path", "import_mode"];

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
pub struct GcsForm {
    fields: Map<String, Value>,
    key_file: Option<Vec<u8>>,
    /// Fields sent more than once: refused when the form is parsed.
    duplicates: Vec<String>,
}

impl<S: Send + Sync> FromRequest<S> for GcsForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let MultipartForm(parts) = MultipartForm::from_request(req, state).await?;
        let mut form = GcsForm {
            fields: Map::new(),
            key_file: None,
            duplicates: Vec::new(),
        };
        let mut scopes = Vec::new();
        for (name, value) in parts {
            match (name.as_str(), value) {
                ("credentials_file", FormValue::File(bytes)) => {
                    if form.key_file.replace(bytes.to_vec()).is_some() {
                        form.duplicates.push(name);
                    }
                }
                // An empty form field means "not given", as browsers and `curl -F x=` send
                // them: a `scopes=` alone leaves the default, `gcp_project_id=` the key
                // file's project.
                (_, FormValue::Text(s)) if s.is_empty() => {}
                ("scopes", FormValue::Text(s)) => scopes.push(Value::String(s)),
                (_, FormValue::Text(s)) => {
                    if form.fields.insert(name.clone(), Value::String(s)).is_some() {
                        form.duplicates.push(name);
                    }
                }
                (_, FormValue::File(_)) => {
                    form.fields.insert(name, Value::String(String::new()));
                }
            }
        }
        if !scopes.is_empty() {
            form.fields.insert("scopes".into(), Value::Array(scopes));
        }
        Ok(form)
    }
}

impl Canonical for GcsForm {
    fn write_canonical(&self, out: &mut String) {
        let Some(bytes) = &self.key_file else {
            return canonical_object(&self.fields, out);
        };
        // The parsed key file when it is JSON, so whitespace does not change the fingerprint.
        let file = serde_json::from_slice::<Value>(bytes)
            .unwrap_or_else(|_| Value::String(hex::encode(Sha256::digest(bytes))));
        let mut printed = self.fields.clone();
        printed.insert("credentials_file".into(), file);
        canonical_object(&printed, out);
    }
}

fn parse_gcs(form: GcsForm) -> Result<NewConnector, ApiError> {
    if !form.duplicates.is_empty() {
        return Err(ApiError::invalid(
            form.duplicates
                .into_iter()
                .map(|d| FieldError::new(d, "must be sent once"))
                .collect(),
        ));
    }
    let mut f = Fields::new(form.fields, &allowed(&["bucket", "gcp_project_id"]))?;
    let c = common(&mut f);
    let bucket = f.required("bucket", GcsBucketName::parse);
    let mut project = f.optional("gcp_project_id", GcpProjectId::parse);
    let account = match form.key_file {
        None => {
            f.fail(
                "credentials_file",
                "is required (the service account's JSON key file)",
            );
            None
        }
        Some(bytes) => GcsServiceAccount::parse(&bytes)
            .map_err(|e| f.fail("credentials_file", e.0))
            .ok(),
    };
    if project.is_none() && !f.has("gcp_project_id") {
        project = account
            .as_ref()
            .and_then(|a| a.project_id())
            .and_then(|p| GcpProjectId::parse(p).ok());
        if project.is_none() && account.is_some() {
            f.fail(
                "gcp_project_id",
                "is required: the key file names no valid project_id",
            );
        }
    }
    let location = bucket.map(|bucket| Location::Gcs {
        bucket,
        gcp_project_id: project,
    });
    new_connector(f, c, location, account.map(Credentials::Gcs))
}

/// A created connector as the response to remember and send.
fn created(c: &Connector) -> Result<StoredResponse, ServiceError> {
    Ok(StoredResponse {
        status: StatusCode::CREATED.as_u16(),
        body: connector_json(c).map_err(|e| ServiceError::Internal(e.into()))?,
        location: Some(format!("{BASE}/{}", c.id)),
        etag: Some(c.etag()),
    })
}

/// The query of a create: only `dry_run=true|false`.
fn dry_run(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut dry = false;
    let mut seen = false;
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k == "dry_run" && std::mem::replace(&mut seen, true) {
            errors.push(FieldError::new("dry_run", "must be given once"));
            continue;
        }
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
        Err(ApiError::invalid(errors))
    }
}

/// A create body of one provider: read from the request, fingerprinted, then parsed.
pub trait CreateBody: Canonical + Sized {
    /// # Errors
    /// 422 with every field that is missing, unknown or invalid.
    fn parse(self) -> Result<NewConnector, ApiError>;
}

/// `POST /connectors/s3`: a JSON body.
pub struct S3Body(JsonObject);
/// `POST /connectors/azure`: a JSON body.
pub struct AzureBody(JsonObject);

macro_rules! json_create_body {
    ($name:ident, $parse:ident) => {
        impl<S: Send + Sync> FromRequest<S> for $name {
            type Rejection = ApiError;

            async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
                JsonObject::from_request(req, state).await.map($name)
            }
        }

        impl Canonical for $name {
            fn write_canonical(&self, out: &mut String) {
                self.0.write_canonical(out);
            }
        }

        impl CreateBody for $name {
            fn parse(self) -> Result<NewConnector, ApiError> {
                $parse(self.0.0)
            }
        }
    };
}

json_create_body!(S3Body, parse_s3);
json_create_body!(AzureBody, parse_azure);

impl CreateBody for GcsForm {
    fn parse(self) -> Result<NewConnector, ApiError> {
        parse_gcs(self)
    }
}

/// `POST /connectors/{provider}` for the provider whose body `B` is.
pub async fn create<B: CreateBody>(
    Extract(state): Extract<State>,
    Write(caller): Write,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Fingerprinted<B>,
) -> Result<Response, ApiError> {
    let dry = dry_run(query.as_deref())?;
    let new = request.body.parse()?;
    let (app, tenant) = (&state.app, caller.tenant());
    let quota = app.admit(tenant, Limited::Create).await?;
    if dry {
        // Nothing is created, so there is nothing for an Idempotency-Key to protect.
        let report = app.dry_run(tenant, &new).await?;
        let body = serde_json::to_string(&report).unwrap_or_default();
        return Ok(with_quota(
            json_response(StatusCode::OK, body),
            quota.as_ref(),
        ));
    }
    let key = idempotency_key(&headers)?;
    let once = app
        .run_once(
            tenant,
            key,
            &request.fingerprint,
            ConnectorId::generate(),
            |id| async move {
                let c = app.create_connector(tenant, id, new).await?;
                created(&c)
            },
        )
        .await?;
    Ok(with_quota(respond(&once), quota.as_ref()))
}
