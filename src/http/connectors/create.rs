//! `POST /connectors/{s3,gcs,azure}`: each provider's body parsed into a
//! [`NewConnector`], `?dry_run`, and the create run once per `Idempotency-Key`.

use axum::extract::{FromRequest, RawQuery, Request, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::super::State;
use super::super::auth::Write;
use super::super::error::{ApiError, FieldError};
use super::super::extract::{JsonObject, flag_query};
use super::super::fields::{Fields, Sent};
use super::super::idempotency::{Canonical, Fingerprinted, idempotency_key, respond};
use super::super::wire::{connector_json, json_response, to_json, with_header, with_quota};
use super::BASE;
use crate::domain::connector::{Connector, Location};
use crate::domain::names::ConnectorName;
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Scopes};
use crate::providers::azure::schema::AzureCreateSent;
use crate::providers::gcs::schema::{GcsCreateSent, GcsKeylessCreateSent};
use crate::providers::gcs::wire::GcsForm;
use crate::providers::s3::schema::S3CreateSent;
use crate::providers::{azure::wire as azure, gcs::wire as gcs, s3::wire as s3};
use crate::service::connectors::{NewAccess, NewConnector};
use crate::service::use_cases::{DryRun, Keyed};

/// The common fields of every create request.
struct Common {
    name: Option<ConnectorName>,
    scopes: Scopes,
    import_mode: ImportMode,
    export_base_path: Option<ExportBasePath>,
}

/// Reads the fields every create body declares: `name`, `scopes`, `import_mode`,
/// `export_base_path`.
fn common(f: &mut Fields, [name, scopes, import_mode, export_base_path]: [&Sent; 4]) -> Common {
    Common {
        name: f.required(name, ConnectorName::parse),
        scopes: f.list(scopes, Scopes::parse).unwrap_or(Scopes::IMPORT_ONLY),
        import_mode: f
            .optional(import_mode, ImportMode::parse)
            .unwrap_or(ImportMode::All),
        export_base_path: f.optional(export_base_path, ExportBasePath::parse),
    }
}

/// Assembles a create request once every field parsed.
fn new_connector(
    f: Fields,
    c: Common,
    location: Option<Location>,
    access: Option<NewAccess>,
) -> Result<NewConnector, ApiError> {
    f.finish()?;
    match (c.name, location, access) {
        (Some(name), Some(location), Some(access)) => Ok(NewConnector {
            name,
            location,
            scopes: c.scopes,
            import_mode: c.import_mode,
            export_base_path: c.export_base_path,
            access,
        }),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "fields missing without a field error"
        ))),
    }
}

fn parse_s3(map: Map<String, Value>) -> Result<NewConnector, ApiError> {
    let b = S3CreateSent::read(map)?;
    let mut f = Fields::new();
    let c = common(
        &mut f,
        [&b.name, &b.scopes, &b.import_mode, &b.export_base_path],
    );
    let (location, access) = s3::parse_create(&mut f, &b);
    new_connector(f, c, location, access)
}

fn parse_azure(map: Map<String, Value>) -> Result<NewConnector, ApiError> {
    let b = AzureCreateSent::read(map)?;
    let mut f = Fields::new();
    let c = common(
        &mut f,
        [&b.name, &b.scopes, &b.import_mode, &b.export_base_path],
    );
    let (location, access) = azure::parse_create(&mut f, &b);
    new_connector(f, c, location, access)
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
    let mut f = Fields::new();
    if form.keyless {
        let b = GcsKeylessCreateSent::read(form.fields)?;
        let c = common(
            &mut f,
            [&b.name, &b.scopes, &b.import_mode, &b.export_base_path],
        );
        let (location, access) = gcs::parse_keyless_create(&mut f, &b);
        return new_connector(f, c, location, access);
    }
    let b = GcsCreateSent::read(form.fields)?;
    let c = common(
        &mut f,
        [&b.name, &b.scopes, &b.import_mode, &b.export_base_path],
    );
    let (location, access) = gcs::parse_create(&mut f, &b, form.key_file);
    new_connector(f, c, location, access)
}

/// A created connector's answer: 201 with its `Location` and `ETag`.
fn created(c: &Connector) -> Result<Response, ApiError> {
    let r = json_response(StatusCode::CREATED, connector_json(c)?);
    let r = with_header(r, header::LOCATION, &format!("{BASE}/{}", c.id));
    Ok(with_header(r, header::ETAG, &c.etag()))
}

/// The query of a create: only `dry_run=true|false`.
fn dry_run(raw: Option<&str>) -> Result<bool, ApiError> {
    flag_query(raw, "dry_run", false)
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

/// One provider's create operation: the handler, and its part of the OpenAPI document.
macro_rules! create_operation {
    ($handler:ident, $body:ty, $path:literal, [$(($schema:ty = $content_type:literal)),+], $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            post,
            path = $path,
            tag = "connectors",
            summary = $summary,
            description = "Validates every field (a 422 names each problem), stores the \
                credentials in the secret store only (an S3 connector with `role_arn` and a \
                GCS connector created as JSON, through workload identity, store none), and \
                answers the connector. With \
                `?dry_run=true` nothing is stored: the access test runs on the draft and its \
                report is the answer.",
            params(
                ("dry_run" = Option<bool>, Query, nullable = false,
                    description = "`true`: test the draft's access and store nothing."),
                ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$",
                    description = "1-255 printable ASCII characters. A retry with the same \
                        key and body replays the first answer for 24 hours."),
            ),
            request_body(content($(($schema = $content_type)),+)),
            responses(
                (status = 201, description = "Created.", body = crate::http::wire::ConnectorView,
                    headers(
                        ("Location" = String, description = "The new connector's path."),
                        ("ETag" = String, description = "The connector's version."),
                        ("Idempotent-Replayed" = Option<String>,
                            description = "`true` when this answer is a replay."),
                        ("RateLimit-Policy" = String, description = "The create limit."),
                        ("RateLimit" = String, description = "What is left of it."),
                    )),
                (status = 200, description = "`?dry_run=true`: the draft's access test; \
                    nothing was stored.", body = crate::service::access_check::TestReport),
                (status = 400, description = "`malformed_json` or `malformed_multipart`.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 409, description = "`idempotency_request_in_progress`: the first \
                    request with this key is still running; `identity_not_configured`: a \
                    keyless create where the operator has set no workload identity up.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 413, description = "`payload_too_large`: JSON over 64 KiB, a form \
                    over 128 KiB or a key file over 64 KiB.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 415, description = "`unsupported_media_type`.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 422, description = "`validation_error` naming every field at \
                    fault, or `idempotency_key_reused` with another body.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 429, description = "`rate_limited`: too many creates this minute.",
                    body = crate::http::openapi::ErrorEnvelope),
                (status = 503, description = "`identity_pool_exhausted` (with `Retry-After`): \
                    no service account is left to give this account a keyless connector; \
                    `dependency_unavailable`.",
                    body = crate::http::openapi::ErrorEnvelope),
            ),
        )]
        pub async fn $handler(
            state: Extract<State>,
            caller: Write,
            query: RawQuery,
            headers: HeaderMap,
            request: Fingerprinted<$body>,
        ) -> Result<Response, ApiError> {
            create(state, caller, query, headers, request).await
        }
    };
}

create_operation!(
    create_s3,
    S3Body,
    "/api/v2/connectors/s3",
    [(crate::http::openapi::S3Create = "application/json")],
    "Create an Amazon S3 connector"
);
create_operation!(
    create_gcs,
    GcsForm,
    "/api/v2/connectors/gcs",
    [
        (crate::http::openapi::GcsCreate = "multipart/form-data"),
        (crate::http::openapi::GcsKeylessCreate = "application/json")
    ],
    "Create a Google Cloud Storage connector"
);
create_operation!(
    create_azure,
    AzureBody,
    "/api/v2/connectors/azure",
    [(crate::http::openapi::AzureCreate = "application/json")],
    "Create an Azure Blob connector"
);

/// `POST /connectors/{provider}` for the provider whose body `B` is.
async fn create<B: CreateBody>(
    Extract(state): Extract<State>,
    Write(caller): Write,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Fingerprinted<B>,
) -> Result<Response, ApiError> {
    let dry = dry_run(query.as_deref())?;
    // Read even for a dry run, which has nothing to protect: a malformed key is refused the
    // same way whatever the query says.
    let key = idempotency_key(&headers)?;
    let new = request.body.parse()?;
    let (app, tenant) = (&state.app, caller.tenant());
    if dry {
        // Nothing is created, so there is nothing for an Idempotency-Key to protect.
        let DryRun { report, quota } = app.dry_run_create(tenant, &new).await?;
        return Ok(with_quota(
            json_response(StatusCode::OK, to_json(&report)?),
            quota.as_ref(),
        ));
    }
    let keyed = Keyed {
        key,
        fingerprint: &request.fingerprint,
    };
    let answered = app.create_once(tenant, new, keyed, &caller.actor()).await?;
    let r = respond(&answered.once, created)?;
    Ok(with_quota(r, answered.quota.as_ref()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::ServiceError;

    /// The fields a refused S3 body names, sorted.
    fn s3_refused(body: Value) -> Vec<String> {
        let Value::Object(map) = body else {
            panic!("a JSON object");
        };
        match parse_s3(map) {
            Err(ApiError::Service(ServiceError::Validation(fields))) => {
                let mut named: Vec<String> = fields.into_iter().map(|f| f.field).collect();
                named.sort();
                named
            }
            other => panic!("not a validation error: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn dry_run_is_true_or_false_once_and_nothing_else_is_a_parameter() {
        assert_eq!(dry_run(None).ok(), Some(false));
        assert_eq!(dry_run(Some("dry_run=true")).ok(), Some(true));
        assert_eq!(dry_run(Some("dry_run=false")).ok(), Some(false));
        for bad in ["dry_run=yes", "dry_run=true&dry_run=true", "force=1"] {
            assert!(dry_run(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_s3_body_names_every_field_at_fault_at_once() {
        assert_eq!(
            s3_refused(json!({"bucket": "A", "region": "mars-1"})),
            [
                "aws_access_key_id",
                "aws_secret_access_key",
                "bucket",
                "name",
                "region",
                "role_arn"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name_before_the_others_are_read() {
        assert_eq!(
            s3_refused(json!({"bucket": "A", "colour": "red", "size": 1})),
            ["colour", "size"]
        );
    }

    #[test]
    fn a_role_is_for_buckets_on_aws_only() {
        assert_eq!(
            s3_refused(json!({
                "name": "R2",
                "bucket": "media",
                "region": "auto",
                "endpoint_url": "https://example.r2.cloudflarestorage.com",
                "role_arn": "arn:aws:iam::111122223333:role/Access",
            })),
            ["role_arn"]
        );
    }

    #[test]
    fn a_key_file_sent_as_a_text_part_is_asked_for_as_a_file() {
        let Value::Object(fields) = json!({
            "name": "Archive GCS",
            "bucket": "media-archive",
            "credentials_file": "{\"type\": \"service_account\"}",
        }) else {
            panic!("a JSON object");
        };
        let form = GcsForm {
            fields,
            key_file: None,
            duplicates: Vec::new(),
            keyless: false,
        };
        match parse_gcs(form) {
            Err(ApiError::Service(ServiceError::Validation(fields))) => {
                let problems: Vec<(String, String)> =
                    fields.into_iter().map(|f| (f.field, f.message)).collect();
                assert_eq!(
                    problems,
                    [(
                        "credentials_file".to_owned(),
                        "must be a file part (the service account's JSON key file)".to_owned()
                    )]
                );
            }
            other => panic!("not a validation error: {:?}", other.map(|_| ())),
        }
    }
}
