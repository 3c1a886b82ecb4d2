//! GCS's part of the OpenAPI document (the http layer's): the multipart create form and
//! the key file a PATCH sends as `credentials_json`.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::credentials::GOOGLE_TOKEN_URI;
use crate::domain::scopes::{ImportMode, Scopes};
use crate::http::fields::request_fields;
use crate::http::openapi::schemas::ipv4;
use crate::http::openapi::schemas::*;

/// What a GCS bucket name may not be, beyond its pattern.
pub(crate) const GCS_BUCKET_RESERVED: &str = concat!(r"^goog|google|g00gle|^", ipv4!(), "$");

request_fields! {
/// `POST /connectors/gcs`: a multipart form. Empty text fields count as not sent. `scopes`
/// is the field repeated once per scope (default `import`), `import_mode` defaults to `all`,
/// `export_base_path` to the whole bucket.
#[schema(as = GcsConnectorCreate)]
#[serde(deny_unknown_fields)]
pub(crate) struct GcsCreateFields as GcsCreateSent {
    name: ConnectorNameSchema,
    /// Google's bucket naming rules: 3–63 characters (up to 222 with dots, each
    /// dot-separated part 1–63) of lowercase letters, digits, `-`, `_` and `.`, starting and
    /// ending with a letter or digit, not shaped like an IPv4 address, not starting `goog`,
    /// not containing `google` nor `g00gle` (the `not`).
    #[schema(
        min_length = 3,
        max_length = 222,
        pattern = r"^(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?|[a-z0-9][a-z0-9_-]{0,62}(?:\.[a-z0-9_-]{1,63})*\.[a-z0-9_-]{0,62}[a-z0-9])$"
    )]
    bucket: String,
    /// The project: 6–30 lowercase letters, digits or `-`, starting with a letter and not
    /// ending with `-`, optionally behind a domain (`example.com:my-project`). By default (or
    /// empty) the key file's `project_id`, when it is a valid one (else this field is
    /// required). The pattern admits domains of up to four labels; the service takes any
    /// verified domain of at most 253 characters.
    #[schema(
        nullable = false,
        max_length = 284,
        pattern = r"^(?:(?:(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,61}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):)?[a-z][a-z0-9-]{4,28}[a-z0-9])?$"
    )]
    gcp_project_id: Option<String>,
    #[schema(nullable = false)]
    scopes: Option<Scopes>,
    #[schema(nullable = false)]
    import_mode: Option<ImportMode>,
    #[schema(inline, nullable = false)]
    export_base_path: Option<FormExportBasePath>,
    /// The service account's JSON key file, at most 64 KiB: `type` `service_account`,
    /// `client_email`, `private_key_id`, `private_key` (a PKCS#8 PEM RSA key, checked by
    /// signing once) and optionally `project_id`; a `token_uri` other than Google's own is
    /// refused. A binary part cannot carry a schema of its content: a file that is not such
    /// a key is the service's 422 naming this field.
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
}

request_fields! {
/// `POST /connectors/gcs` as JSON: a keyless connector, reached through the account's own
/// service account (`GET /connectors/gcs/identity-setup` names it; grant it a role on the
/// bucket first). Nothing is stored in the secret store. `scopes` defaults to
/// `["import"]`, `import_mode` to `all`, `export_base_path` to the whole bucket.
#[schema(
    as = GcsKeylessConnectorCreate,
    examples(json!({
        "name": "Archive imports",
        "bucket": "media-archive",
        "gcp_project_id": "my-project",
        "scopes": ["import"]
    }))
)]
#[serde(deny_unknown_fields)]
pub(crate) struct GcsKeylessCreateFields as GcsKeylessCreateSent {
    name: ConnectorNameSchema,
    scopes: Option<Scopes>,
    import_mode: Option<ImportMode>,
    export_base_path: Option<ExportBasePathSchema>,
    /// Google's bucket naming rules, as in the multipart form.
    #[schema(
        min_length = 3,
        max_length = 222,
        pattern = r"^(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?|[a-z0-9][a-z0-9_-]{0,62}(?:\.[a-z0-9_-]{1,63})*\.[a-z0-9_-]{0,62}[a-z0-9])$"
    )]
    bucket: String,
    /// The bucket's project (required: there is no key file to name it), by the rules of
    /// the multipart form's field.
    #[schema(
        max_length = 284,
        pattern = r"^(?:(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,61}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):)?[a-z][a-z0-9-]{4,28}[a-z0-9]$"
    )]
    gcp_project_id: String,
}
}

/// A create body's schema: its declaration's, with Google's reserved bucket names refused.
macro_rules! gcs_create_schema {
    ($(#[$doc:meta])* $name:ident, $fields:ident, $printed:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                extended($fields::schema(), |object| {
                    refuse(object, "bucket", GCS_BUCKET_RESERVED);
                })
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($printed)
            }
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $fields::schemas(schemas);
            }
        }
    };
}

gcs_create_schema!(
    /// `POST /connectors/gcs`'s JSON body (see [`GcsKeylessCreateFields`]).
    GcsKeylessCreate,
    GcsKeylessCreateFields,
    "GcsKeylessConnectorCreate"
);
gcs_create_schema!(
    /// `POST /connectors/gcs`'s form (see [`GcsCreateFields`]).
    GcsCreate,
    GcsCreateFields,
    "GcsConnectorCreate"
);

/// A service account's key file as a JSON object, for a PATCH's `credentials_json`.
pub struct GcsKeyFile;

impl PartialSchema for GcsKeyFile {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .description(Some(description))
        };
        let mut token_uri = words(
            "Absent, `null`, or Google's own token endpoint: the service never calls an \
             address a user chose.",
            [GOOGLE_TOKEN_URI],
        );
        token_uri.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
        token_uri.enum_values = Some(vec![GOOGLE_TOKEN_URI.into(), serde_json::Value::Null]);
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .description(Some(
                "GCS only: the service account's key file as a JSON object, at most 64 KiB \
                 printed. Its other fields (`client_id`, `auth_uri`, …) are kept as they are.",
            ))
            .property("type", words("The key file's kind.", ["service_account"]))
            .property(
                "client_email",
                bytes_at_most(
                    text(
                        "The service account's email: with an `@`, without control characters, \
                         at most 254 bytes (254 ASCII characters, or 63 of any).",
                    )
                    .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*@[^\x00-\x1f\x7f-\x9f]*$")),
                    254,
                ),
            )
            .property(
                "private_key_id",
                bytes_at_most(
                    text("The key's id: 1–128 bytes (128 ASCII characters, or 32 of any).")
                        .min_length(Some(1)),
                    128,
                ),
            )
            .property(
                "private_key",
                text(
                    "A PEM PKCS#8 RSA key, checked by signing once (a PKCS#1 key is refused): \
                     no schema can say that, so a key that does not sign is the service's 422 \
                     naming `credentials_json`.",
                )
                .pattern(Some(r"^-----BEGIN PRIVATE KEY-----"))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))),
            )
            .property("token_uri", token_uri)
            .property(
                "project_id",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some(
                        "The project the key belongs to, if the file names one.",
                    )),
            )
            .required("type")
            .required("client_email")
            .required("private_key_id")
            .required("private_key")
            .into()
    }
}
impl ToSchema for GcsKeyFile {}

request_fields! {
/// GCS's fields of a PATCH (merged into `ConnectorUpdate`).
pub(crate) struct GcsPatchFields as GcsPatchSent {
    #[schema(inline, nullable = false)]
    credentials_json: Option<GcsKeyFile>,
}
}

/// GCS's kind of PATCH credentials (its keyless switch is the shared
/// `KEYLESS_PATCH_KINDS`).
pub(crate) const PATCH_KINDS: [PatchKind; 1] = [PatchKind {
    title: "GCS key file",
    description: "`credentials_json`, replacing the key file (or the service account).",
    fields: &["credentials_json"],
    required: &["credentials_json"],
    any_of: &[],
}];
