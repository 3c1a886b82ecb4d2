//! The shared schemas of the OpenAPI document that no handler type carries: the fields every
//! provider's body takes, the PATCH body (its settings here, each provider's fields and kinds
//! of credentials from its `schema` file), browse's body, the error envelope, the domain's
//! words and instants, and the helpers the providers' schemas are written with. Each body is
//! declared once, by [`crate::http::fields::request_fields!`]: the schema printed here and the
//! fields its parser reads come from that one declaration.
//!
//! The request schemas state what the parsers enforce, so that a value a generator draws
//! from them is one the service accepts: lengths, patterns (ECMA-262, without lookarounds or
//! `\d`/`\w`, whose reach differs between engines), enums, bounds, the names a rule refuses
//! (`not`), and which fields go together (`oneOf`: the S3 create's ways into a bucket, the
//! PATCH's kinds of credentials). Where a pattern cannot say all of a rule it admits a
//! subset of what the service accepts, never more, and the description says what it leaves
//! out; what no schema can say (a key that signs, a host that resolves, the provider of the
//! connector a PATCH names) is in the description and is the service's 422. The tests below
//! draw values from every pattern and hand them to the parser that field goes through.

#![expect(
    dead_code,
    reason = "schema types: read by the OpenAPI derive, never built"
)]

use std::borrow::Cow;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    ArrayBuilder, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::scopes::{EventType, ImportMode, Provider, Scope, Scopes, Status, TestResult};
use crate::domain::timestamp::Timestamp;
use crate::http::fields::request_fields;

/// A closed set of words as a string schema with `enum`.
pub(crate) fn words(description: &str, all: impl IntoIterator<Item = &'static str>) -> Object {
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
     `disabled` by a PATCH; `testing` is kept for clients and never produced."
);
word_schema!(TestResult, "The outcome of the last access test.");
word_schema!(
    EventType,
    "What an event records: `created`, `updated` (settings), `credentials_changed`, \
     `credentials_rejected` (new credentials failed a check and were not saved), `tested`, \
     `disabled`, `enabled`, `access_granted`, `deleted`."
);

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

/// JSON Schema keywords utoipa 6's model has no field for (`not`, and `allOf` beside an
/// object's own `properties`) go in a schema's `extensions`, which print their keys as given
/// (only `ExtensionsBuilder::add` prefixes `x-`). One keyword per schema, so that the printed
/// document does not depend on a map's order.
pub(crate) fn keyword(object: &mut Object, name: &str, value: serde_json::Value) {
    object.extensions = Some(Extensions::from_iter([(name, value)]));
}

/// `schema` with `add` applied to it, when it is an object schema (as every derived request
/// schema is; the tests below check what `add` adds is there).
pub(crate) fn extended(mut schema: RefOr<Schema>, add: impl FnOnce(&mut Object)) -> RefOr<Schema> {
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        add(object);
    }
    schema
}

/// Refuses the strings matching `pattern` in property `field` of `object` (a `null`, where
/// the property allows one, stays allowed).
pub(crate) fn refuse(object: &mut Object, field: &str, pattern: &str) {
    if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) {
        keyword(
            property,
            "not",
            serde_json::json!({"type": "string", "pattern": pattern}),
        );
    }
}

/// Also requires `constraints`, each a schema the value must match (an `allOf`).
pub(crate) fn also(object: &mut Object, constraints: serde_json::Value) {
    keyword(object, "allOf", constraints);
}

/// The string schema `object`, bounded to `max_bytes` bytes of UTF-8. `maxLength` counts
/// characters, so the bound is stated as: at most `max_bytes` characters, and either all of
/// them ASCII or at most a quarter as many (what fits in the bytes whatever they are).
pub(crate) fn bytes_at_most(object: ObjectBuilder, max_bytes: usize) -> Object {
    let mut object = object.max_length(Some(max_bytes)).build();
    also(
        &mut object,
        serde_json::json!([{"anyOf": [
            {"pattern": ASCII},
            {"maxLength": max_bytes / 4}
        ]}]),
    );
    object
}

/// ASCII only.
pub(crate) const ASCII: &str = r"^[\x00-\x7f]*$";
/// No control character anywhere.
pub(crate) const NO_CONTROL: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// An IPv4 address as the service reads one (four decimal octets, no leading zeros).
macro_rules! ipv4 {
    () => {
        r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
    };
}
pub(crate) use ipv4;

// An export path: segments of any characters but `/`, `\` and control characters, joined by
// single `/`, with an optional trailing `/`.
macro_rules! export_path {
    () => {
        r"[^/\\\x00-\x1f\x7f-\x9f]+(?:/[^/\\\x00-\x1f\x7f-\x9f]+)*/?"
    };
}
/// A segment that reads as `.` or `..` for a consumer that percent-decodes keys and folds
/// them with Unicode NFKC: one or two of the characters NFKC folds into one dot (`.` `․` `﹒`
/// `．`), or one that folds into two (`‥` `︰`), each as written or percent-encoded in UTF-8.
const DOT_SEGMENT: &str = concat!(
    r"(?:^|/)(?:(?:\.|%2[eE]|\u2024|%[eE]2%80%[aA]4|\ufe52|%[eE][fF]%[bB]9%92|\uff0e|%[eE][fF]%[bB][cC]%8[eE]){1,2}",
    r"|\u2025|%[eE]2%80%[aA]5|\ufe30|%[eE][fF]%[bB]8%[bB]0)(?:/|$)"
);
/// 1024 characters without the trailing `/` the service adds: 1025 bytes once stored.
const TOO_LONG_WITHOUT_SLASH: &str = r"^[\s\S]{1023}[^/]$";

/// The schema of `export_base_path`: in a JSON body, or in the GCS form, where an empty
/// field counts as not sent.
fn export_base_path(in_form: bool) -> Object {
    let (pattern, min, absent) = if in_form {
        (
            concat!("^(?:", export_path!(), ")?$"),
            0,
            "An empty field means",
        )
    } else {
        (
            concat!("^", export_path!(), "$"),
            1,
            "`null` or absent means",
        )
    };
    let mut object = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(format!(
            "A relative object-key prefix: no leading `/`, no empty segments (`//`), no \
             backslashes or control characters, no segment that is `.` or `..` or reads as \
             one once percent-decoded or Unicode-normalised (NFKC: `%2e%2e`, `．．`, `‥`), at \
             most 1024 bytes once stored with one trailing `/` (the `allOf`: its `not`s, and \
             at most 1024 characters, either all ASCII or at most 255). {absent} the whole \
             bucket or container."
        )))
        .examples(["exports/review/"])
        .min_length(Some(min))
        .max_length(Some(1024))
        .pattern(Some(pattern))
        .build();
    also(
        &mut object,
        serde_json::json!([
            {"not": {"pattern": DOT_SEGMENT}},
            {"not": {"pattern": TOO_LONG_WITHOUT_SLASH}},
            {"anyOf": [{"pattern": ASCII}, {"maxLength": 255}]}
        ]),
    );
    object
}

/// A relative object-key prefix (the schema of `export_base_path` in a JSON body).
pub struct ExportBasePathSchema;

impl PartialSchema for ExportBasePathSchema {
    fn schema() -> RefOr<Schema> {
        export_base_path(false).into()
    }
}
impl ToSchema for ExportBasePathSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ExportBasePath")
    }
}

/// `export_base_path` in the GCS form.
pub struct FormExportBasePath;

impl PartialSchema for FormExportBasePath {
    fn schema() -> RefOr<Schema> {
        export_base_path(true).into()
    }
}
impl ToSchema for FormExportBasePath {}

/// A browse's key prefix.
pub struct BrowsePrefixSchema;

impl PartialSchema for BrowsePrefixSchema {
    fn schema() -> RefOr<Schema> {
        bytes_at_most(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .description(Some(
                    "Default `\"\"` (the whole bucket): any key prefix of at most 1024 bytes \
                     without control characters (at most 1024 ASCII characters, or 256 of any); \
                     object keys may start with `/` or hold `..`, and browsing only reads.",
                ))
                .pattern(Some(NO_CONTROL)),
            1024,
        )
        .into()
    }
}
impl ToSchema for BrowsePrefixSchema {}

/// A browse's glob.
pub struct GlobSchema;

impl PartialSchema for GlobSchema {
    fn schema() -> RefOr<Schema> {
        bytes_at_most(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .description(Some(
                    "A glob (default `*`): `*` `?` `[...]` `{a,b}` `**`, `\\` escaping the next \
                     character. Without `/` it matches the file name, with `/` the path below \
                     the prefix. At most 1024 bytes without control characters (at most 1024 \
                     ASCII characters, or 256 of any). That it is a glob (no unclosed `[` or \
                     `{`, no reversed range) and within the bounds on its cost (8 nested \
                     `{...}`, 128 alternatives, 8 runs of `**`) no pattern can state: a \
                     pattern past one is a 422 naming `pattern`.",
                ))
                .examples(["*.mp4", "**/*.{mp4,mov}"])
                .min_length(Some(1))
                .pattern(Some(NO_CONTROL)),
            1024,
        )
        .into()
    }
}
impl ToSchema for GlobSchema {}

// A display name as the service trims it (Unicode White_Space, as Rust's `str::trim`), and
// what is left: 1–100 characters, without control characters, first and last not blank.
macro_rules! blank {
    () => {
        r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
macro_rules! shown {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
const CONNECTOR_NAME: &str = concat!(
    "^",
    blank!(),
    "*",
    shown!(),
    r"(?:[^\x00-\x1f\x7f-\x9f]{0,98}",
    shown!(),
    ")?",
    blank!(),
    "*$"
);

/// A connector's display name.
pub struct ConnectorNameSchema;

impl PartialSchema for ConnectorNameSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .description(Some(
                "A connector's display name: 1–100 characters once leading and trailing \
                 whitespace is trimmed (and stored trimmed), no control characters.",
            ))
            .examples(["Archive S3"])
            .min_length(Some(1))
            .pattern(Some(CONNECTOR_NAME))
            .into()
    }
}
impl ToSchema for ConnectorNameSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ConnectorName")
    }
}

/// The statuses a PATCH may set.
pub struct SettableStatus;

impl PartialSchema for SettableStatus {
    fn schema() -> RefOr<Schema> {
        words(
            "Only `active` or `disabled` (`testing` and `failed` are the service's to set).",
            [Status::Active.as_str(), Status::Disabled.as_str()],
        )
        .into()
    }
}
impl ToSchema for SettableStatus {}

request_fields! {
/// `PATCH /connectors/{connector_id}`: the fields to change, at least one. `provider`,
/// `bucket`, `storage_account`, `container`, `gcp_project_id`, `endpoint_url` and
/// `force_path_style` are immutable (a 422 says so); `export_base_path: null` clears it, and
/// no other field may be `null`. Credentials rotate by provider, at most one kind at a time
/// (the `oneOf` below): S3 `aws_access_key_id` with `aws_secret_access_key`, or `role_arn`;
/// Azure any of `tenant_id`, `client_id`, `client_secret`; GCS `credentials_json`; GCS and
/// Azure `workload_identity: true` (Azure with `tenant_id`). Fields of
/// another provider than the connector's, and `region` on a connector that is not S3, are
/// 422s naming them: the connector's provider is not in the request, so no schema can say.
#[schema(
    as = ConnectorUpdate,
    min_properties = 1,
    examples(json!({"name": "Archive S3 (2026)", "scopes": ["import", "export"]}))
)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectorUpdateFields as SettingsSent {
    #[schema(nullable = false)]
    name: Option<ConnectorNameSchema>,
    #[schema(nullable = false)]
    scopes: Option<Scopes>,
    export_base_path: Option<ExportBasePathSchema>,
    #[schema(nullable = false)]
    import_mode: Option<ImportMode>,
    #[schema(inline, nullable = false)]
    status: Option<SettableStatus>,
}
}

request_fields! {
/// The keyless switch of a PATCH, which GCS and Azure connectors take (merged into
/// `ConnectorUpdate`).
pub(crate) struct KeylessPatchFields as KeylessPatchSent {
    /// GCS and Azure only: `true` switches a connector to workload identity, nothing
    /// stored (GCS: the account's own service account; Azure: the operator's app in the
    /// connector's tenant, or in `tenant_id` when sent); its stored secret is deleted.
    /// `false` is refused: send a key file or a client secret to leave workload identity.
    #[schema(nullable = false)]
    workload_identity: Option<bool>,
}
}

/// The keyless switch, one kind for both providers that take it.
const KEYLESS_PATCH_KINDS: [PatchKind; 1] = [PatchKind {
    title: "Workload identity (GCS, Azure)",
    description: "`workload_identity: true`: GCS, the account's own service account instead \
        of a key file; Azure, the operator's Entra app instead of a client secret, with \
        `tenant_id` to change the tenant.",
    fields: &["workload_identity", "tenant_id"],
    required: &["workload_identity"],
    any_of: &[],
}];

/// The fields of a PATCH that every connector takes.
const PATCH_SETTINGS: [&str; 5] = [
    "name",
    "scopes",
    "export_base_path",
    "import_mode",
    "status",
];

/// One way a PATCH may touch credentials.
pub(crate) struct PatchKind {
    pub title: &'static str,
    pub description: &'static str,
    /// The fields it takes besides [`PATCH_SETTINGS`].
    pub fields: &'static [&'static str],
    /// Those it needs, all of them.
    pub required: &'static [&'static str],
    /// Those it needs one of, at least.
    pub any_of: &'static [&'static str],
}

/// A PATCH that changes no credentials: the settings, and each provider's own (added to
/// its fields where the kinds are printed).
const SETTINGS_ONLY: PatchKind = PatchKind {
    title: "Settings only",
    description: "No credentials; `region` for an S3 connector.",
    fields: &[],
    required: &[],
    any_of: &[],
};

/// Every provider's PATCH: its settings besides the common ones, its credential fields'
/// schema, and its kinds of credentials.
fn provider_patches() -> [(&'static [&'static str], RefOr<Schema>, &'static [PatchKind]); 4] {
    use crate::providers::{azure::schema as azure, gcs::schema as gcs, s3::schema as s3};
    [
        (
            &s3::PATCH_SETTINGS,
            s3::S3PatchFields::schema(),
            &s3::PATCH_KINDS,
        ),
        (&[], azure::AzurePatchFields::schema(), &azure::PATCH_KINDS),
        (&[], gcs::GcsPatchFields::schema(), &gcs::PATCH_KINDS),
        (&[], KeylessPatchFields::schema(), &KEYLESS_PATCH_KINDS),
    ]
}

/// `PATCH /connectors/{connector_id}`'s body (see [`ConnectorUpdateFields`]), with its kinds
/// of credentials.
pub struct ConnectorUpdate;

impl PartialSchema for ConnectorUpdate {
    fn schema() -> RefOr<Schema> {
        let patches = provider_patches();
        let settings: Vec<&str> = patches.iter().flat_map(|p| p.0.iter().copied()).collect();
        let kinds: Vec<serde_json::Value> = std::iter::once((&SETTINGS_ONLY, &settings[..]))
            .chain(
                patches
                    .iter()
                    .flat_map(|p| p.2.iter().map(|k| (k, &[][..]))),
            )
            .map(|(k, extra)| {
                let properties: serde_json::Map<String, serde_json::Value> = PATCH_SETTINGS
                    .iter()
                    .chain(extra)
                    .chain(k.fields)
                    .map(|f| ((*f).to_owned(), serde_json::json!({})))
                    .collect();
                let mut kind = serde_json::json!({
                    "title": k.title,
                    "description": k.description,
                    "properties": properties,
                    "additionalProperties": false,
                });
                if !k.required.is_empty() {
                    kind["required"] = serde_json::json!(k.required);
                }
                if !k.any_of.is_empty() {
                    kind["anyOf"] = k
                        .any_of
                        .iter()
                        .map(|f| serde_json::json!({"required": [f]}))
                        .collect();
                }
                kind
            })
            .collect();
        extended(ConnectorUpdateFields::schema(), |object| {
            for (_, fields, _) in patches {
                if let RefOr::T(Schema::Object(fields)) = fields {
                    object.properties.extend(fields.properties);
                }
            }
            also(object, serde_json::json!([{"oneOf": kinds}]));
        })
    }
}
impl ToSchema for ConnectorUpdate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ConnectorUpdate")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ConnectorUpdateFields::schemas(schemas);
    }
}

request_fields! {
/// `POST /connectors/{connector_id}/browse`: every field optional (`null` counts as not
/// sent); an absent or empty body browses the whole bucket.
#[schema(
    as = BrowseRequest,
    examples(json!({"prefix": "incoming/2026/04/", "pattern": "clip-*.mp4", "recursive": true}))
)]
#[serde(deny_unknown_fields)]
pub struct BrowseBody as BrowseSent {
    #[schema(inline)]
    prefix: Option<BrowsePrefixSchema>,
    #[schema(inline)]
    pattern: Option<GlobSchema>,
    /// Default `true`; `false` lists only the prefix's direct children.
    recursive: Option<bool>,
    /// Default `false`: match `pattern` ignoring case.
    case_insensitive: Option<bool>,
    /// Default 1000: a whole number from 1 to 5000, written without a fraction (`10`, not
    /// `10.0`, which JSON Schema's `integer` admits and the service does not).
    #[schema(minimum = 1, maximum = 5000)]
    limit: Option<u32>,
    /// The `X-Next-Cursor` of the previous page, as received: opaque and signed, so any
    /// other string is a 400 `invalid_cursor`.
    cursor: Option<String>,
    /// RFC 3339 (`2026-04-02T09:00:00Z`): only files modified strictly later, for an
    /// import that lists what is new since its last run. No provider's listing filters by
    /// time, so the service filters the pages it reads (a call still reads every key under
    /// the prefix, within its time and byte bounds).
    #[schema(format = DateTime)]
    modified_after: Option<String>,
}
}

/// An import's `prefix`, `subpath`, and each of `paths`: the export boundary's rules.
pub struct RelativePathSchema;

impl PartialSchema for RelativePathSchema {
    fn schema() -> RefOr<Schema> {
        let mut object = export_base_path(true);
        object.description = Some(
            "Relative (a `prefix` to the bucket, a `subpath` to `export_base_path`, each of \
             `paths` to the resolved prefix), under the same rules as `export_base_path`: no \
             leading `/`, no empty segments, no backslashes or control characters, no segment \
             that is `.` or `..` or reads as one once percent-decoded or NFKC-normalised, at \
             most 1024 bytes with the prefix. Anything else is a 422 naming the field."
                .to_owned(),
        );
        object.into()
    }
}
impl ToSchema for RelativePathSchema {}

request_fields! {
/// The body of `POST /connectors/{id}/access`.
#[schema(
    as = AccessBody,
    examples(
        json!({"purpose": "import", "prefix": "incoming/2026/", "paths": ["a.mp4"], "ttl_seconds": 900}),
        json!({"purpose": "export", "subpath": "run-7/"})
    )
)]
#[serde(deny_unknown_fields)]
pub struct AccessBody as AccessSent {
    /// One of the connector's `scopes`, else 409 `scope_not_granted`.
    #[schema(pattern = "^(import|export)$")]
    purpose: String,
    /// Import only (default `""`, the whole bucket): where to read, under the same rules as
    /// `subpath` (relative, no `.`, `..` or empty segments); a `/` is added at its end when
    /// missing, so `data` never reaches `data_old/`.
    #[schema(inline)]
    prefix: Option<RelativePathSchema>,
    /// Export only (default `""`): a sub-prefix under the connector's `export_base_path`.
    #[schema(inline)]
    subpath: Option<RelativePathSchema>,
    /// 1-1000 object keys relative to the resolved prefix: one signed URL each. Leave it
    /// out for credentials for the whole prefix.
    #[schema(inline, min_items = 1, max_items = 1000)]
    paths: Option<Vec<RelativePathSchema>>,
    /// 60-3600, never clamped. Unsaid: 900, except GCS credentials (no `paths`), which
    /// last exactly 3600 and so default to it. S3 credentials (no `paths`) need at least
    /// 900, STS's shortest session; GCS credentials exactly 3600.
    #[schema(minimum = 60, maximum = 3600)]
    ttl_seconds: Option<u32>,
}
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

    use proptest::test_runner::{Config, TestRunner};
    use regex_automata::meta::Regex;
    use serde_json::Value;

    use super::*;
    use crate::domain::Parsed;
    use crate::domain::glob::GlobPattern;
    use crate::domain::names::{ConnectorName, RoleArn};
    use crate::domain::paths::{BrowsePrefix, ExportBasePath};
    use crate::http::connectors::patch::patchable;
    use crate::http::openapi::{AzureCreate, GcsCreate, S3Create};
    use crate::providers::azure::credentials::parse_client_secret;
    use crate::providers::azure::names::{AzureTenant, ContainerName, Guid, StorageAccount};
    use crate::providers::azure::schema::AzureCreateSent;
    use crate::providers::gcs::names::{GcpProjectId, GcsBucketName};
    use crate::providers::gcs::schema::*;
    use crate::providers::s3::credentials::S3Credentials;
    use crate::providers::s3::endpoint::S3Endpoint;
    use crate::providers::s3::names::{AwsRegion, S3BucketName};
    use crate::providers::s3::schema::*;

    fn printed<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).expect("a schema prints")
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The property names of a request schema.
    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        let schema = printed::<T>();
        assert!(schema["properties"].is_object(), "an object schema");
        keys(&schema["properties"])
    }

    fn names<'a>(lists: impl IntoIterator<Item = &'a [&'a str]>) -> BTreeSet<String> {
        lists
            .into_iter()
            .flatten()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The branches of a request schema's `allOf: [{oneOf: [...]}]`.
    fn ways<T: PartialSchema>() -> Vec<Value> {
        printed::<T>()["allOf"][0]["oneOf"]
            .as_array()
            .expect("a oneOf of ways")
            .clone()
    }

    #[test]
    fn each_request_schema_prints_exactly_the_fields_its_declaration_reads() {
        assert_eq!(properties::<S3Create>(), names([S3CreateSent::FIELDS]));
        assert_eq!(
            properties::<AzureCreate>(),
            names([AzureCreateSent::FIELDS])
        );
        assert_eq!(properties::<GcsCreate>(), names([GcsCreateSent::FIELDS]));
        assert_eq!(properties::<ConnectorUpdate>(), names([&patchable()[..]]));
        assert_eq!(properties::<BrowseBody>(), names([BrowseSent::FIELDS]));
        assert_eq!(properties::<AccessBody>(), names([AccessSent::FIELDS]));
    }

    #[test]
    fn json_request_schemas_refuse_unknown_fields_as_the_parsers_do() {
        for schema in [
            S3Create::schema(),
            AzureCreate::schema(),
            ConnectorUpdate::schema(),
            BrowseBody::schema(),
            AccessBody::schema(),
        ] {
            let schema = serde_json::to_value(schema).expect("a schema prints");
            assert_eq!(schema["additionalProperties"], false, "{schema}");
        }
    }

    #[test]
    fn the_ways_in_name_only_fields_their_schema_has() {
        for (schema, ways) in [
            (properties::<S3Create>(), ways::<S3Create>()),
            (properties::<ConnectorUpdate>(), ways::<ConnectorUpdate>()),
        ] {
            for way in &ways {
                let named = keys(&way["properties"]);
                assert!(named.is_subset(&schema), "{way}");
                for field in way["required"].as_array().into_iter().flatten() {
                    assert!(named.contains(field.as_str().unwrap_or_default()), "{way}");
                }
            }
        }
        // Every S3 way decides both key fields and the role, so that exactly one matches.
        for way in ways::<S3Create>() {
            for field in ["aws_access_key_id", "aws_secret_access_key", "role_arn"] {
                assert!(way["properties"][field].is_object(), "{field} in {way}");
            }
        }
        // Every field a PATCH takes belongs to some kind, each kind lists what it allows.
        let kinds = ways::<ConnectorUpdate>();
        let allowed: BTreeSet<String> = kinds.iter().flat_map(|k| keys(&k["properties"])).collect();
        assert_eq!(allowed, names([&patchable()[..]]));
        for kind in &kinds {
            assert_eq!(kind["additionalProperties"], false, "{kind}");
        }
    }

    #[test]
    fn the_keywords_utoipa_lacks_print_as_json_schema_keywords() {
        let s3 = printed::<S3Create>();
        assert_eq!(
            s3["properties"]["bucket"]["not"]["pattern"],
            S3_BUCKET_RESERVED
        );
        assert_eq!(ways::<S3Create>().len(), 3);
        let gcs = printed::<GcsCreate>();
        assert_eq!(
            gcs["properties"]["bucket"]["not"]["pattern"],
            GCS_BUCKET_RESERVED
        );
        let kinds = provider_patches().iter().map(|p| p.2.len()).sum::<usize>();
        assert_eq!(ways::<ConnectorUpdate>().len(), 1 + kinds);
    }

    #[test]
    fn word_schemas_list_every_word_of_their_vocabulary() {
        let schema = serde_json::to_value(Status::schema()).expect("a schema prints");
        assert_eq!(
            schema["enum"],
            serde_json::json!(["active", "testing", "failed", "disabled"])
        );
        let settable = printed::<ConnectorUpdate>()["properties"]["status"]["enum"].clone();
        assert_eq!(settable, serde_json::json!(["active", "disabled"]));
    }

    /// JSON Schema's verdict on a string, for the keywords these schemas use on strings:
    /// `type`, lengths in characters, `pattern` (a search), `enum`, `not`, `allOf`, `anyOf`,
    /// `oneOf`. Patterns are compiled once.
    struct Judge(std::cell::RefCell<std::collections::HashMap<String, Regex>>);

    impl Judge {
        fn new() -> Self {
            Self(std::cell::RefCell::default())
        }

        fn matches(&self, pattern: &str, value: &str) -> bool {
            let mut cache = self.0.borrow_mut();
            cache
                .entry(pattern.to_owned())
                .or_insert_with(|| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
                .is_match(value)
        }

        fn admits(&self, schema: &Value, value: &str) -> bool {
            let length = value.chars().count() as u64;
            let all = |key: &str| schema[key].as_array().cloned().unwrap_or_default();
            let typed = match &schema["type"] {
                Value::String(t) => t == "string",
                Value::Array(ts) => ts.iter().any(|t| t == "string"),
                _ => true,
            };
            typed
                && schema["minLength"].as_u64().is_none_or(|min| length >= min)
                && schema["maxLength"].as_u64().is_none_or(|max| length <= max)
                && schema["pattern"]
                    .as_str()
                    .is_none_or(|p| self.matches(p, value))
                && schema["enum"]
                    .as_array()
                    .is_none_or(|e| e.iter().any(|w| w == value))
                && (schema["not"].is_null() || !self.admits(&schema["not"], value))
                && all("allOf").iter().all(|s| self.admits(s, value))
                && (schema["anyOf"].is_null() || all("anyOf").iter().any(|s| self.admits(s, value)))
                && (schema["oneOf"].is_null()
                    || all("oneOf")
                        .iter()
                        .filter(|s| self.admits(s, value))
                        .count()
                        == 1)
        }
    }

    /// The pattern a string schema's values are drawn from (through an `Option`'s `oneOf`).
    fn pattern_of(schema: &Value) -> String {
        let string = schema["oneOf"][0]
            .as_object()
            .map_or(schema, |_| &schema["oneOf"][0]);
        let pattern = string["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("a pattern: {schema}"));
        pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .unwrap_or_else(|| panic!("an anchored pattern: {pattern}"))
            .to_owned()
    }

    /// Draws 512 strings from `draw` (a regex), judges each against `schema`, and calls
    /// `check(admitted, value)`; `check` answers whether the verdict is right. The draws are
    /// the same on every run (a fixed seed), so how many fit the schema does not vary.
    fn judged(what: &str, schema: &Value, draw: &str, check: impl Fn(bool, &str) -> bool) -> u32 {
        let strategy =
            proptest::string::string_regex(draw).unwrap_or_else(|e| panic!("{what}: {draw}: {e}"));
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 512,
                failure_persistence: None,
                ..Config::default()
            },
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        let judge = Judge::new();
        let admitted = std::cell::Cell::new(0u32);
        let outcome = runner.run(&strategy, |value| {
            let verdict = judge.admits(schema, &value);
            admitted.set(admitted.get() + u32::from(verdict));
            proptest::prop_assert!(
                check(verdict, &value),
                "{what}: {value:?} is {} by the schema",
                if verdict { "admitted" } else { "refused" }
            );
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("{e}");
        }
        admitted.get()
    }

    /// Draws strings from `schema`'s own pattern and hands those the whole schema admits to
    /// `parse`: not one may be refused. Enough draws must be admitted, or the test says little.
    fn only_accepted(what: &str, schema: &Value, parse: impl Fn(&str) -> bool) {
        let admitted = judged(what, schema, &pattern_of(schema), |admitted, value| {
            !admitted || parse(value)
        });
        assert!(
            admitted >= 64,
            "{what}: only {admitted} draws fit the schema"
        );
    }

    /// Draws strings from `draw`, near the rule's edges, and asks that the schema admit
    /// exactly those `parse` accepts.
    fn exactly(what: &str, schema: &Value, draw: &str, parse: impl Fn(&str) -> bool) {
        let admitted = judged(what, schema, draw, |admitted, value| {
            admitted == parse(value)
        });
        assert!(
            admitted >= 8,
            "{what}: only {admitted} draws fit the schema"
        );
    }

    fn ok<T>(r: Parsed<T>) -> bool {
        r.is_ok()
    }

    /// The region pattern of the S3 create's way in titled `title`.
    fn region_of(title: &str) -> Value {
        let way = ways::<S3Create>()
            .into_iter()
            .find(|w| w["title"] == title)
            .unwrap_or_else(|| panic!("no way in titled {title}"));
        let mut region = printed::<S3Create>()["properties"]["region"].clone();
        region["pattern"] = way["properties"]["region"]["pattern"].clone();
        region
    }

    #[test]
    fn every_pattern_admits_only_values_its_parser_accepts() {
        let s3 = printed::<S3Create>()["properties"].clone();
        let azure = printed::<AzureCreate>()["properties"].clone();
        let gcs = printed::<GcsCreate>()["properties"].clone();
        let patch = printed::<ConnectorUpdate>()["properties"].clone();
        let browse = printed::<BrowseBody>()["properties"].clone();
        let key_id = "A".repeat(16);

        only_accepted("name", &printed::<ConnectorNameSchema>(), |s| {
            ok(ConnectorName::parse(s))
        });
        only_accepted(
            "export_base_path",
            &printed::<ExportBasePathSchema>(),
            |s| ok(ExportBasePath::parse(s)),
        );
        only_accepted("s3 bucket", &s3["bucket"], |s| ok(S3BucketName::parse(s)));
        only_accepted("aws region", &region_of("Access keys, on AWS"), |s| {
            ok(AwsRegion::parse_aws(s))
        });
        only_accepted("role region", &region_of("An IAM role, on AWS"), |s| {
            ok(AwsRegion::parse_aws(s))
        });
        only_accepted(
            "compatible region",
            &region_of("Access keys, on an S3-compatible service"),
            |s| ok(AwsRegion::parse(s)),
        );
        for fields in [&s3, &patch] {
            only_accepted("aws_access_key_id", &fields["aws_access_key_id"], |s| {
                S3Credentials::parse(s, "secret").is_ok()
            });
            only_accepted(
                "aws_secret_access_key",
                &fields["aws_secret_access_key"],
                |s| S3Credentials::parse(&key_id, s).is_ok(),
            );
            only_accepted("role_arn", &fields["role_arn"], |s| ok(RoleArn::parse(s)));
        }
        only_accepted("endpoint_url", &s3["endpoint_url"], |s| {
            ok(S3Endpoint::parse(s))
        });
        only_accepted("storage_account", &azure["storage_account"], |s| {
            ok(StorageAccount::parse(s))
        });
        only_accepted("container", &azure["container"], |s| {
            ok(ContainerName::parse(s))
        });
        for fields in [&azure, &patch] {
            only_accepted("tenant_id", &fields["tenant_id"], |s| {
                ok(AzureTenant::parse(s))
            });
            only_accepted("client_id", &fields["client_id"], |s| ok(Guid::parse(s)));
            only_accepted("client_secret", &fields["client_secret"], |s| {
                parse_client_secret(s).is_ok()
            });
        }
        only_accepted("gcs bucket", &gcs["bucket"], |s| {
            ok(GcsBucketName::parse(s))
        });
        // An empty form field counts as not sent.
        only_accepted("gcp_project_id", &gcs["gcp_project_id"], |s| {
            s.is_empty() || ok(GcpProjectId::parse(s))
        });
        only_accepted("patch region", &patch["region"], |s| {
            ok(AwsRegion::parse(s))
        });
        only_accepted("prefix", &browse["prefix"], |s| ok(BrowsePrefix::parse(s)));
    }

    #[test]
    fn where_the_rule_is_a_shape_the_schema_admits_exactly_what_the_parser_accepts() {
        let s3 = printed::<S3Create>()["properties"].clone();
        let azure = printed::<AzureCreate>()["properties"].clone();
        let gcs = printed::<GcsCreate>()["properties"].clone();
        let browse = printed::<BrowseBody>()["properties"].clone();
        let export = printed::<ExportBasePathSchema>();
        let key_id = "A".repeat(16);

        for draw in [
            "[ \\ta-z\\u{85}\\u{a0}\\u{3000}\\u{e9}]{0,12}",
            "[ \\t\\na-z\\u{85}\\u{a0}\\u{1c}\\u{7f}\\u{feff}]{0,6}",
            "[ \\u{3000}]{0,3}[a\\u{e9} ]{98,103}[ \\t]{0,3}",
        ] {
            exactly("name", &printed::<ConnectorNameSchema>(), draw, |s| {
                ok(ConnectorName::parse(s))
            });
        }
        let dots = "(?:a|\\u{e9}|\\.|%2[eE]|%[eE]2%80%[aA][45]|%[eE][fF]%[bB][89cC]%(?:8[eE]|92|[bB]0)\
            |\\u{2024}|\\u{2025}|\\u{2026}|\\u{fe30}|\\u{fe52}|\\u{ff0e}|%|/|\\\\|\\t){1,8}";
        exactly("export_base_path", &export, dots, |s| {
            ok(ExportBasePath::parse(s))
        });
        exactly("export_base_path", &export, "a{1018,1026}/?", |s| {
            ok(ExportBasePath::parse(s))
        });
        exactly(
            "form export_base_path",
            &gcs["export_base_path"],
            dots,
            |s| s.is_empty() || ok(ExportBasePath::parse(s)),
        );
        let s3_names = "(?:[a-z0-9.-]|xn--|sthree-|amzn-s3-demo-|-s3alias|--ol-s3|\\.mrap|--x-s3\
            |--table-s3|25[0-6]|0[0-9]|[A_]){1,16}";
        let dotted = "[0-9]{1,3}(?:\\.[0-9]{1,3}){2,4}";
        for draw in [s3_names, dotted] {
            exactly("s3 bucket", &s3["bucket"], draw, |s| {
                ok(S3BucketName::parse(s))
            });
        }
        let gcs_names = "(?:[a-z0-9._-]|goog|google|g00gle|25[0-6]|A){1,16}";
        for draw in [gcs_names, dotted, "[a-z]{60,66}(?:\\.[a-z]{1,3}){0,2}"] {
            exactly("gcs bucket", &gcs["bucket"], draw, |s| {
                ok(GcsBucketName::parse(s))
            });
        }
        exactly(
            "aws region",
            &region_of("Access keys, on AWS"),
            "[a-z0-9-]{1,12}|[a-z]{1,3}(?:-[a-z]{1,4}){0,4}-[0-9]{1,3}",
            |s| ok(AwsRegion::parse_aws(s)),
        );
        exactly(
            "compatible region",
            &region_of("Access keys, on an S3-compatible service"),
            "[a-zA-Z0-9_-]{1,34}",
            |s| ok(AwsRegion::parse(s)),
        );
        exactly(
            "aws_access_key_id",
            &s3["aws_access_key_id"],
            "[A-Z0-9]{14,130}[a_]?",
            |s| S3Credentials::parse(s, "secret").is_ok(),
        );
        exactly(
            "aws_secret_access_key",
            &s3["aws_secret_access_key"],
            "[!-~]{0,130}[ \\t\\u{e9}]?",
            |s| S3Credentials::parse(&key_id, s).is_ok(),
        );
        exactly(
            "role_arn",
            &s3["role_arn"],
            "arn:aws[a-z0-9-]{0,30}:iam::[0-9]{11,13}:role/(?:[A-Za-z0-9+=,.@_-]{0,9}/){0,2}\
             [A-Za-z0-9+=,.@_-]{0,66}[:/\\u{e9}]?",
            |s| ok(RoleArn::parse(s)),
        );
        exactly(
            "storage_account",
            &azure["storage_account"],
            "[a-z0-9]{1,26}[A_]?",
            |s| ok(StorageAccount::parse(s)),
        );
        exactly(
            "container",
            &azure["container"],
            "\\$?(?:[a-z0-9]{1,5}-{0,2}){1,14}|\\$root|\\$web|\\$logs|\\$Web",
            |s| ok(ContainerName::parse(s)),
        );
        exactly(
            "tenant_id",
            &azure["tenant_id"],
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{3,5}-[0-9a-fA-F]{4}-[0-9a-fA-Fg]{11,13}\
             |(?:[A-Za-z0-9-]{1,5}\\.){0,3}[A-Za-z0-9-]{1,4}",
            |s| ok(AzureTenant::parse(s)),
        );
        exactly(
            "client_id",
            &azure["client_id"],
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{3,5}-[0-9a-fA-F]{4}-[0-9a-fA-Fg]{11,13}",
            |s| ok(Guid::parse(s)),
        );
        // In bytes, the bounds are exact for ASCII and for what is short enough whatever it is.
        for draw in ["[ -~]{0,258}[\\x00-\\x1f]?", "[a\\u{e9}\\t]{0,64}"] {
            exactly("client_secret", &azure["client_secret"], draw, |s| {
                parse_client_secret(s).is_ok()
            });
        }
        for draw in [
            "[ -~]{1021,1025}\\t?",
            "[ -~]{0,20}\\t?",
            "[a\\u{e9}]{0,256}\\t?",
        ] {
            exactly("prefix", &browse["prefix"], draw, |s| {
                ok(BrowsePrefix::parse(s))
            });
        }
        // That a pattern is a glob no schema can say: every glob the service takes is admitted.
        let judge = Judge::new();
        for draw in ["[*?\\[\\]{},a/\\u{e9}\\\\!-]{1,20}", "a{1020,1026}"] {
            judged("pattern", &browse["pattern"], draw, |admitted, s| {
                admitted || GlobPattern::parse(s, false).is_err()
            });
        }
        assert!(judge.admits(&browse["pattern"], "[abc"));
    }

    #[test]
    fn the_patterns_admit_realistic_values_and_refuse_what_the_service_refuses() {
        let s3 = printed::<S3Create>()["properties"].clone();
        let gcs = printed::<GcsCreate>()["properties"].clone();
        let azure = printed::<AzureCreate>()["properties"].clone();
        let browse = printed::<BrowseBody>()["properties"].clone();
        let cases: [(&str, Value, &[&str], &[&str]); 12] = [
            (
                "name",
                printed::<ConnectorNameSchema>(),
                &["Archive S3", "  Vidéo 2026 ", "日本語"],
                &["", "   ", "bad\nname"],
            ),
            (
                "export_base_path",
                printed::<ExportBasePathSchema>(),
                &[
                    "exports/review/",
                    "exports/review",
                    "a",
                    "café/2026",
                    "v1..2/x",
                    "100%x/y",
                ],
                &[
                    "/abs",
                    "a//b",
                    "../x",
                    "a/.",
                    "%2e%2e/x",
                    "\u{ff0e}\u{ff0e}/x",
                    "\u{2025}",
                    "a\\b",
                ],
            ),
            (
                "s3 bucket",
                s3["bucket"].clone(),
                &[
                    "media-archive",
                    "my.bucket.2026",
                    "logs-123456789012",
                    "my.-bucket",
                ],
                &[
                    "Media",
                    "a..b",
                    "192.168.1.1",
                    "xn--abc",
                    "sthree-x",
                    "abc-s3alias",
                    "abc.mrap",
                ],
            ),
            (
                "aws region",
                region_of("Access keys, on AWS"),
                &[
                    "us-east-1",
                    "us-gov-west-1",
                    "eu-central-2",
                    "ap-southeast-4",
                ],
                &["auto", "us-east", "US-EAST-1", "us-east-123"],
            ),
            (
                "compatible region",
                region_of("Access keys, on an S3-compatible service"),
                &["auto", "us-west-004", "us-east-1"],
                &["", "-auto", "Auto", "us_east"],
            ),
            (
                "role_arn",
                s3["role_arn"].clone(),
                &[
                    "arn:aws:iam::111122223333:role/VideoVectorAccess",
                    "arn:aws-cn:iam::111122223333:role/media/VideoVector+Access@team",
                ],
                &[
                    "arn:aws:iam::111122223333:user/x",
                    "arn:aws:iam::111122223333:role/caf\u{e9}",
                ],
            ),
            (
                "endpoint_url",
                s3["endpoint_url"].clone(),
                &[
                    "https://account.r2.cloudflarestorage.com",
                    "https://s3.wasabisys.com/",
                    "https://minio.example.com:9000",
                ],
                &[
                    "http://s3.example.com",
                    "https://s3.example.com/bucket",
                    "https://u@s3.example.com",
                ],
            ),
            (
                "gcs bucket",
                gcs["bucket"].clone(),
                &["media_archive", "my-bucket", "a.b.example.com"],
                &[
                    "goog-bucket",
                    "my-google-bucket",
                    "10.0.0.1",
                    "_abc",
                    "a..b",
                ],
            ),
            (
                "gcp_project_id",
                gcs["gcp_project_id"].clone(),
                &["media-prod-123", "example.com:media-prod"],
                &["1media", "short", "media-prod-"],
            ),
            (
                "client_secret",
                azure["client_secret"].clone(),
                &["example~client~secret~value", "p\u{e2}ss w\u{f6}rd"],
                &["", "a\u{7}b"],
            ),
            (
                "prefix",
                browse["prefix"].clone(),
                &["", "incoming/2026/04/", "vidéos/", "/odd/../keys"],
                &["a\tb"],
            ),
            (
                "pattern",
                browse["pattern"].clone(),
                &[
                    "*",
                    "**",
                    "*.mp4",
                    "*.{mp4,mov}",
                    "**/*.mp4",
                    "clip?.mp4",
                    "day1/**/cam[1-2]*.mov",
                ],
                &["", "a\u{1}b"],
            ),
        ];
        let judge = Judge::new();
        for (what, schema, admitted, refused) in cases {
            for value in admitted {
                assert!(
                    judge.admits(&schema, value),
                    "{what}: {value:?} should be admitted"
                );
            }
            for value in refused {
                assert!(
                    !judge.admits(&schema, value),
                    "{what}: {value:?} should be refused"
                );
            }
        }
    }
}
