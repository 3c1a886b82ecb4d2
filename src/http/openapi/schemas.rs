//! The schemas of the OpenAPI document that no handler type carries: the request bodies
//! (parsed field by field by [`super::super::fields::Fields`], so their field lists are
//! checked against the parsers' own lists by the tests below), the error envelope, and the
//! domain's words and instants.
//!
//! Patterns here describe a value's shape; where a rule is more than a shape (an S3 bucket
//! may not read as an IPv4 address, a GCS bucket may not contain `google`), the description
//! says so and the service's 422 names it.

#![expect(
    dead_code,
    reason = "schema types: read by the OpenAPI derive, never built"
)]

use utoipa::openapi::schema::{
    ArrayBuilder, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::scopes::{ImportMode, Provider, Scope, Scopes, Status, TestResult};
use crate::domain::timestamp::Timestamp;

/// A closed set of words as a string schema with `enum`.
fn words(description: &str, all: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(description))
        .enum_values(Some(all))
        .build()
}

macro_rules! word_schema {
    ($ty:ty, $description:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                words($description, <$ty>::ALL.iter().map(|w| w.as_str())).into()
            }
        }
        impl ToSchema for $ty {}
    };
}

word_schema!(Provider, "The storage provider behind a connector.");
word_schema!(Scope, "What a connector may be used for.");
word_schema!(
    ImportMode,
    "Whether imports take every file (`all`) or only those not imported before (`new_only`)."
);
word_schema!(
    Status,
    "A connector's state: `active` after a successful test, `failed` after a failed one, \
     `disabled` by a PATCH, `testing` while a test runs."
);
word_schema!(TestResult, "The outcome of the last access test.");

impl PartialSchema for Scopes {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Scope::schema())
            .min_items(Some(1))
            .max_items(Some(Scope::ALL.len()))
            .unique_items(true)
            .description(Some("A non-empty set of scopes, without duplicates."))
            .into()
    }
}
impl ToSchema for Scopes {}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("An RFC 3339 UTC instant in whole seconds."))
            .examples(["2026-04-07T12:30:05Z"])
            .into()
    }
}
impl ToSchema for Timestamp {}

/// A relative object-key prefix: no leading `/`, no `.` or `..` segments (in any spelling:
/// `%2e%2e` and full-width dots count), no empty segments, no backslashes or control
/// characters, at most 1024 bytes; stored with one trailing `/`. `null` means the whole
/// bucket or container.
#[derive(ToSchema)]
#[schema(
    as = ExportBasePath,
    examples("exports/review/"),
    min_length = 1,
    max_length = 1024,
    pattern = r"^[^/\\\x00-\x1f\x7f-\x9f][^\\\x00-\x1f\x7f-\x9f]*$"
)]
pub struct ExportBasePathSchema(String);

/// A connector's display name: 1–100 characters after trimming, no control characters.
#[derive(ToSchema)]
#[schema(
    as = ConnectorName,
    examples("Archive S3"),
    min_length = 1,
    max_length = 100,
    pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
)]
pub struct ConnectorNameSchema(String);

/// `POST /connectors/s3`: every field the parser accepts (any other is a 422 naming it).
/// Exactly one way into the bucket: `aws_access_key_id` with `aws_secret_access_key`, or
/// `role_arn` (neither, or both, is a 422 naming the fields). `scopes` defaults to
/// `["import"]`, `import_mode` to `all`, `export_base_path` to the whole bucket.
#[derive(ToSchema)]
#[schema(
    as = S3ConnectorCreate,
    examples(json!({
        "name": "Archive S3",
        "bucket": "media-archive",
        "region": "us-east-1",
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "scopes": ["import", "export"],
        "import_mode": "new_only",
        "export_base_path": "exports/review/"
    }))
)]
#[serde(deny_unknown_fields)]
pub struct S3Create {
    name: ConnectorNameSchema,
    scopes: Option<Scopes>,
    import_mode: Option<ImportMode>,
    export_base_path: Option<ExportBasePathSchema>,
    /// S3's general-purpose bucket naming rules: 3–63 lowercase letters, digits, `.` and
    /// `-`, starting and ending with a letter or digit, no `..`, not shaped like an IPv4
    /// address, not starting `xn--`, `sthree-` or `amzn-s3-demo-`, not ending `-s3alias`,
    /// `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z0-9](\.?[a-z0-9-])*\.?[a-z0-9]$"
    )]
    bucket: String,
    /// For AWS, a region code: two letters, one to three words, a number (`us-east-1`,
    /// `us-gov-west-1`). With `endpoint_url`, the service's own word: 1–32 lowercase
    /// letters, digits and `-` (R2's `auto`).
    #[schema(min_length = 1, max_length = 32, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    region: String,
    /// 16–128 uppercase letters and digits. With `aws_secret_access_key`, instead of
    /// `role_arn`.
    #[schema(min_length = 16, max_length = 128, pattern = r"^[A-Z0-9]+$")]
    aws_access_key_id: Option<String>,
    /// 1–128 printable ASCII characters without spaces, written to the secret store only.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$", format = Password)]
    aws_secret_access_key: Option<String>,
    /// An IAM role in the customer's account, instead of keys: the service assumes it with
    /// the account's external ID (see `GET /connectors/s3/role-setup`), and stores no
    /// secret. Any partition.
    #[schema(
        max_length = 2048,
        pattern = r"^arn:aws[a-z0-9-]*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$",
        examples("arn:aws:iam::111122223333:role/VideoVectorAccess")
    )]
    role_arn: Option<String>,
    /// An S3-compatible service instead of AWS (Cloudflare R2, Wasabi, Backblaze B2, MinIO,
    /// Ceph): an `https` origin without a path. Its host may not be, nor resolve to, an
    /// address inside a network (loopback, private, link-local, CGNAT, multicast,
    /// unspecified) unless the operator allowed it; the check is made here and again at
    /// every connection.
    #[schema(
        max_length = 2048,
        pattern = "^https://[^/?#@]+/?$",
        examples("https://account.r2.cloudflarestorage.com")
    )]
    endpoint_url: Option<String>,
    /// Path-style requests (`https://host/bucket/key`), which some compatible services
    /// need. Default `false`.
    force_path_style: Option<bool>,
}

/// `POST /connectors/azure`: every field the parser accepts (any other is a 422 naming it).
/// `scopes` defaults to `["import"]`, `import_mode` to `all`, `export_base_path` to the
/// whole container.
#[derive(ToSchema)]
#[schema(
    as = AzureConnectorCreate,
    examples(json!({
        "name": "Review exports",
        "storage_account": "mediastore01",
        "container": "exports",
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "0c8a4e7e-2b1d-4b8e-9d2e-5f6a7b8c9d0e",
        "client_secret": "example~client~secret~value",
        "scopes": ["export"]
    }))
)]
#[serde(deny_unknown_fields)]
pub struct AzureCreate {
    name: ConnectorNameSchema,
    scopes: Option<Scopes>,
    import_mode: Option<ImportMode>,
    export_base_path: Option<ExportBasePathSchema>,
    /// 3–24 lowercase letters and digits.
    #[schema(min_length = 3, max_length = 24, pattern = r"^[a-z0-9]+$")]
    storage_account: String,
    /// 3–63 lowercase letters, digits and single `-`, starting and ending with a letter or
    /// digit; or `$root`, `$web`, `$logs`.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^(\$root|\$web|\$logs|[a-z0-9]+(-[a-z0-9]+)*)$"
    )]
    container: String,
    /// The Entra ID tenant: a GUID, or a verified domain such as `contoso.onmicrosoft.com`.
    #[schema(
        max_length = 253,
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
    )]
    tenant_id: String,
    /// The app registration's client id, a GUID.
    #[schema(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    client_id: String,
    /// 1–256 bytes without control characters, written to the secret store only.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$", format = Password)]
    client_secret: String,
}

/// `POST /connectors/gcs`: a multipart form. Empty text fields count as not sent. `scopes`
/// is the field repeated once per scope (default `import`), `import_mode` defaults to `all`,
/// `export_base_path` to the whole bucket.
#[derive(ToSchema)]
#[schema(as = GcsConnectorCreate)]
#[serde(deny_unknown_fields)]
pub struct GcsCreate {
    name: ConnectorNameSchema,
    /// GCS bucket naming rules: 3–63 lowercase letters, digits, `-`, `_` and `.` (up to
    /// 222 with dots, each dot-separated part 1–63), starting and ending with a letter or
    /// digit, not shaped like an IPv4 address, not starting `goog`, not containing `google`.
    #[schema(
        min_length = 3,
        max_length = 222,
        pattern = r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$"
    )]
    bucket: String,
    /// The project; by default the key file's `project_id`.
    #[schema(nullable = false, max_length = 284)]
    gcp_project_id: Option<String>,
    #[schema(nullable = false)]
    scopes: Option<Scopes>,
    #[schema(nullable = false)]
    import_mode: Option<ImportMode>,
    #[schema(nullable = false)]
    export_base_path: Option<ExportBasePathSchema>,
    /// The service account's JSON key file, at most 64 KiB: `type` `service_account`,
    /// `client_email`, `private_key` (a PKCS#8 PEM key) and `private_key_id`; a `token_uri`
    /// other than Google's own is refused.
    // `contentMediaType` is how OpenAPI 3.1 marks a file; `format: binary` is how 3.0 did,
    // and what most client generators still read as a file part (openapi-python-client
    // makes a `File` of it; without it, a plain string).
    #[schema(
        content_media_type = "application/octet-stream",
        format = Binary,
        value_type = String
    )]
    credentials_file: Vec<u8>,
}

/// `PATCH /connectors/{connector_id}`: the fields to change, at least one. Credentials
/// rotate as a whole: S3 `aws_access_key_id` with `aws_secret_access_key`; Azure any of
/// `tenant_id`, `client_id`, `client_secret`; GCS `credentials_json`. `provider`, `bucket`,
/// `storage_account`, `container` and `gcp_project_id` are immutable (a 422 says so).
/// `export_base_path: null` clears it.
#[derive(ToSchema)]
#[schema(
    as = ConnectorUpdate,
    examples(json!({"name": "Archive S3 (2026)", "scopes": ["import", "export"]}))
)]
#[serde(deny_unknown_fields)]
pub struct ConnectorUpdate {
    #[schema(nullable = false)]
    name: Option<ConnectorNameSchema>,
    #[schema(nullable = false)]
    scopes: Option<Scopes>,
    export_base_path: Option<ExportBasePathSchema>,
    #[schema(nullable = false)]
    import_mode: Option<ImportMode>,
    /// Only `active` or `disabled`.
    #[schema(nullable = false, pattern = "^(active|disabled)$")]
    status: Option<String>,
    /// S3 only: an AWS region code, or the compatible service's own word when the
    /// connector has an `endpoint_url`.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 32,
        pattern = r"^[a-z0-9][a-z0-9-]*$"
    )]
    region: Option<String>,
    /// S3 only, with `aws_secret_access_key`.
    #[schema(
        nullable = false,
        min_length = 16,
        max_length = 128,
        pattern = r"^[A-Z0-9]+$"
    )]
    aws_access_key_id: Option<String>,
    /// S3 only, with `aws_access_key_id`.
    #[schema(nullable = false, min_length = 1, max_length = 128, pattern = "^[!-~]+$", format = Password)]
    aws_secret_access_key: Option<String>,
    /// S3 only, instead of a key pair: the IAM role the service assumes from now on (a
    /// connector with keys switches to it, and its stored secret is deleted). Keys sent
    /// later switch it back.
    #[schema(
        nullable = false,
        max_length = 2048,
        pattern = r"^arn:aws[a-z0-9-]*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"
    )]
    role_arn: Option<String>,
    /// Azure only.
    #[schema(
        nullable = false,
        max_length = 253,
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
    )]
    tenant_id: Option<String>,
    /// Azure only.
    #[schema(
        nullable = false,
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    client_id: Option<String>,
    /// Azure only.
    #[schema(nullable = false, min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$", format = Password)]
    client_secret: Option<String>,
    /// GCS only: the service account's key file as a JSON object.
    #[schema(nullable = false)]
    credentials_json: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /connectors/{connector_id}/browse`: every field optional; an absent or empty body
/// browses the whole bucket.
#[derive(ToSchema)]
#[schema(
    as = BrowseRequest,
    examples(json!({"prefix": "incoming/2026/04/", "pattern": "*.mp4", "recursive": true}))
)]
#[serde(deny_unknown_fields)]
pub struct BrowseBody {
    /// Default `""`: at most 1024 bytes, no control characters.
    #[schema(max_length = 1024)]
    prefix: Option<String>,
    /// A glob (default `*`): `*` `?` `[...]` `{a,b}` `**`. Without `/` it matches the file
    /// name, with `/` the path below the prefix. At most 1024 bytes, 8 nested `{...}`, 128
    /// alternatives and 8 `**`.
    #[schema(min_length = 1, max_length = 1024)]
    pattern: Option<String>,
    /// Default `true`; `false` lists only the prefix's direct children.
    recursive: Option<bool>,
    /// Default `false`: match `pattern` ignoring case.
    case_insensitive: Option<bool>,
    /// Default 1000.
    #[schema(minimum = 1, maximum = 5000)]
    limit: Option<u32>,
    /// The `X-Next-Cursor` of the previous page, as received.
    cursor: Option<String>,
}

/// `DELETE`'s answer.
#[derive(ToSchema)]
#[schema(as = Deleted, examples(json!({"message": "connector conn_01jd8x0k6m3q4r5s6t7v8w9xyz deleted"})))]
pub struct Deleted {
    message: String,
}

/// One field's problem in a `validation_error`.
#[derive(ToSchema)]
#[schema(as = FieldProblem)]
pub struct FieldProblem {
    /// The field, header or query parameter, as sent.
    field: String,
    /// What is wrong with it; never quotes the value.
    message: String,
}

/// What a `validation_error` (and a `wrong_region`) details.
#[derive(ToSchema)]
#[schema(as = ErrorDetails)]
pub struct ErrorDetails {
    /// Every problem found, for a `validation_error`.
    fields: Option<Vec<FieldProblem>>,
    /// The bucket's real region, for `wrong_region`.
    region: Option<String>,
}

/// The error itself. `details` is present for `validation_error` and `wrong_region`.
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable word: `validation_error`, `connector_not_found`, `invalid_api_key`, ….
    code: String,
    /// What happened and what to do, for a person; never internals or secrets.
    message: String,
    details: Option<ErrorDetails>,
    /// The request's id, equal to its `X-Request-Id` header.
    request_id: String,
}

/// Every error, from every layer.
#[derive(ToSchema)]
#[schema(
    as = ErrorEnvelope,
    examples(json!({"error": {
        "code": "validation_error",
        "message": "bucket: must be 3-63 characters",
        "details": {"fields": [{"field": "bucket", "message": "must be 3-63 characters"}]},
        "request_id": "req_01jd8x0k6m3q4r5s6t7v8w9xyz"
    }}))
)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::http::actions::BROWSE_FIELDS;
    use crate::http::connectors::create::{AZURE_FIELDS, COMMON_FIELDS, GCS_FIELDS, S3_FIELDS};
    use crate::http::connectors::patch::PATCHABLE;

    /// The property names of a request schema.
    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("a schema prints");
        schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect()
    }

    fn names<'a>(lists: impl IntoIterator<Item = &'a [&'a str]>) -> BTreeSet<String> {
        lists
            .into_iter()
            .flatten()
            .map(|s| (*s).to_owned())
            .collect()
    }

    #[test]
    fn each_request_schema_lists_exactly_the_fields_its_parser_accepts() {
        assert_eq!(
            properties::<S3Create>(),
            names([&COMMON_FIELDS[..], &S3_FIELDS])
        );
        assert_eq!(
            properties::<AzureCreate>(),
            names([&COMMON_FIELDS[..], &AZURE_FIELDS])
        );
        assert_eq!(
            properties::<GcsCreate>(),
            names([&COMMON_FIELDS[..], &GCS_FIELDS, &["credentials_file"]])
        );
        assert_eq!(properties::<ConnectorUpdate>(), names([&PATCHABLE[..]]));
        assert_eq!(properties::<BrowseBody>(), names([&BROWSE_FIELDS[..]]));
    }

    #[test]
    fn json_request_schemas_refuse_unknown_fields_as_the_parsers_do() {
        for schema in [
            S3Create::schema(),
            AzureCreate::schema(),
            ConnectorUpdate::schema(),
            BrowseBody::schema(),
        ] {
            let schema = serde_json::to_value(schema).expect("a schema prints");
            assert_eq!(schema["additionalProperties"], false, "{schema}");
        }
    }

    #[test]
    fn word_schemas_list_every_word_of_their_vocabulary() {
        let schema = serde_json::to_value(Status::schema()).expect("a schema prints");
        assert_eq!(
            schema["enum"],
            serde_json::json!(["active", "testing", "failed", "disabled"])
        );
    }
}
