//! The contract as an OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types, and served without a key at `GET /api/v2/openapi.json`.
//!
//! What every operation shares is added here once, by [`Contract`]: both auth schemes, the
//! errors any operation can answer (401, 403, 500, 503), `X-Request-Id` on every response,
//! and `Retry-After` (with the rate-limit fields on a 429) where the service sends it. The
//! document is built on its first request only, so a cold start never pays for it.

pub(crate) mod schemas;

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::wire::json_response;

pub use crate::providers::azure::schema::AzureCreate;
pub use crate::providers::gcs::schema::{GcsCreate, GcsKeylessCreate};
pub use crate::providers::s3::schema::S3Create;
pub use schemas::{AccessBody, BrowseBody, ConnectorUpdate, Deleted, ErrorEnvelope};

/// Where the document is served.
pub const PATH: &str = "/api/v2/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VideoVector Connectors API",
        version = "2.0.0",
        description = "Cloud storage connectors (Amazon S3, Google Cloud Storage, Azure Blob) \
            for VideoVector's imports and exports: create them per provider, list, get, \
            update, delete, test access, and browse files by prefix and glob.\n\n\
            Every error has the envelope `{\"error\": {code, message, details, request_id}}`, \
            and every response carries `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(schemas::ErrorEnvelope, crate::domain::scopes::Scope)),
    security(("api_key" = []), ("bearer" = [])),
    tags(
        (name = "connectors", description = "Create, list, get, update and delete connectors."),
        (name = "setup", description = "What a customer grants the service before creating a connector that stores no secret: an IAM role for S3, a bucket role for this account's own service account on GCS."),
        (name = "actions", description = "Test a connector's access, browse its files, and grant short-lived access to them for import and export jobs."),
        (name = "history", description = "Each connector's events: who created, changed, tested, disabled or deleted it, or was granted access, and when."),
    )
)]
struct ApiDoc;

/// The document as JSON text, built on first use (never at a cold start: building it costs
/// what `cargo bench --bench read_path -- openapi` prints).
pub fn document() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(build)
}

/// Builds the document afresh: the contract's parts, every operation's path
/// (`super::routes`), and what every operation shares.
pub fn build() -> String {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::routes::Operations::openapi());
    Contract.modify(&mut doc);
    let mut text = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document cannot be printed: {e}\"}}"));
    text.push('\n');
    text
}

/// `GET /api/v2/openapi.json`: the document, to anyone (it holds nothing secret).
pub async fn serve() -> Response {
    let mut r = json_response(StatusCode::OK, document());
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// What every operation shares, added to each.
struct Contract;

const ENVELOPE: &str = "#/components/schemas/ErrorEnvelope";

fn header(kind: Type, description: &str) -> RefOr<Header> {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new().schema_type(SchemaType::new(kind)),
        ))
        .description(Some(description))
        .build()
        .into()
}

/// The headers answers share, as components.
fn shared_headers() -> [(&'static str, RefOr<Header>); 4] {
    [
        (
            "X-Request-Id",
            header(
                Type::String,
                "The request's id, as in an error's `request_id` and the logs.",
            ),
        ),
        (
            "Retry-After",
            header(Type::Integer, "Seconds to wait before retrying."),
        ),
        (
            "RateLimit-Policy",
            header(
                Type::String,
                "The limit that applies: `\"name\";q=<requests>;w=<seconds>`.",
            ),
        ),
        (
            "RateLimit",
            header(
                Type::String,
                "What is left of it: `\"name\";r=<remaining>;t=<seconds>`.",
            ),
        ),
    ]
}

fn shared(name: &str) -> RefOr<Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

/// The errors any operation can answer, whatever it does: status, component name, meaning.
const EVERY_OPERATION: [(&str, &str, &str); 4] = [
    (
        "401",
        "Unauthenticated",
        "`authentication_required`: no key was sent; `invalid_api_key`: the key is unknown, \
         revoked or expired, or two different keys were sent.",
    ),
    (
        "403",
        "InsufficientScope",
        "`insufficient_scope`: the key's scope is too small for this operation.",
    ),
    (
        "500",
        "InternalError",
        "`internal_error`: a bug; the message is generic and the request id finds it in the logs. \
         `credentials_missing`: the connector points at credentials the secret store does \
         not have (an operator's `reconcile` reports it); rotate them with PATCH.",
    ),
    (
        "503",
        "Unavailable",
        "`dependency_unavailable`: the database or the secret store failed; on test and \
         browse, `provider_unavailable`: the provider failed. Retry after `Retry-After` seconds.",
    ),
];

/// The statuses whose answers carry `Retry-After`.
const RETRY_AFTER: [&str; 4] = ["409", "429", "503", "504"];

/// Adds the shared headers a response with `status` carries.
fn add_headers(status: &str, response: &mut utoipa::openapi::Response) {
    let mut names = vec!["X-Request-Id"];
    if RETRY_AFTER.contains(&status) {
        names.push("Retry-After");
    }
    if status == "429" {
        names.extend(["RateLimit-Policy", "RateLimit"]);
    }
    for name in names {
        response.headers.insert(name.into(), shared(name));
    }
}

impl Modify for Contract {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key: `sk_live_` and 48 lowercase hexadecimal characters.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http({
                let mut bearer = Http::new(HttpAuthScheme::Bearer);
                bearer.description =
                    Some("The same API key as `Authorization: Bearer <key>`.".into());
                bearer
            }),
        );
        components.headers.extend(
            shared_headers()
                .into_iter()
                .map(|(name, h)| (name.to_owned(), h)),
        );
        for (status, name, description) in EVERY_OPERATION {
            let mut response = ResponseBuilder::new()
                .description(description)
                .content("application/json", Content::new(Some(Ref::new(ENVELOPE))))
                .build();
            add_headers(status, &mut response);
            components.responses.insert(name.into(), response.into());
        }
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response {
                        add_headers(status, response);
                    }
                }
                for (status, name, _) in EVERY_OPERATION {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                    });
                }
            }
        }
    }
}
