//! Azure's part of the OpenAPI document (the http layer's): the create body and the client
//! secret.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::scopes::{ImportMode, Scopes};
use crate::http::fields::request_fields;
use crate::http::openapi::schemas::*;

/// An Azure client secret.
pub struct ClientSecret;

impl PartialSchema for ClientSecret {
    fn schema() -> RefOr<Schema> {
        bytes_at_most(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
                .description(Some(
                    "1–256 bytes without control characters (at most 256 ASCII characters, \
                     or 64 of any), written to the secret store only.",
                ))
                .min_length(Some(1))
                .pattern(Some(NO_CONTROL)),
            256,
        )
        .into()
    }
}
impl ToSchema for ClientSecret {}

request_fields! {
/// `POST /connectors/azure`: every field the parser accepts (any other is a 422 naming it).
/// `scopes` defaults to `["import"]`, `import_mode` to `all`, `export_base_path` to the
/// whole container. With `client_id` and `client_secret` the connector uses that service
/// principal; with neither it is keyless: the operator's Entra app in `tenant_id`, nothing
/// stored (see `GET /connectors/azure/identity-setup`).
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
pub(crate) struct AzureCreateFields as AzureCreateSent {
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
    /// The Entra ID tenant: a GUID, or a verified domain such as `contoso.onmicrosoft.com`
    /// (dot-separated labels of at most 63 letters, digits and inner `-`, an alphabetic
    /// top-level label, at most 253 characters).
    #[schema(
        max_length = 253,
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
    )]
    tenant_id: String,
    /// The app registration's client id, a GUID; with `client_secret`, or neither for a
    /// keyless connector.
    #[schema(
        nullable = false,
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    client_id: Option<String>,
    #[schema(inline, nullable = false)]
    client_secret: Option<ClientSecret>,
}
}

/// `POST /connectors/azure`'s body (see [`AzureCreateFields`]), with its two ways in.
pub struct AzureCreate;

impl PartialSchema for AzureCreate {
    fn schema() -> RefOr<Schema> {
        extended(AzureCreateFields::schema(), |object| {
            also(
                object,
                serde_json::json!([{"oneOf": [
                    {
                        "title": "A service principal",
                        "description": "`client_id` and `client_secret` of an app registration \
                            in `tenant_id`.",
                        "required": ["client_id", "client_secret"]
                    },
                    {
                        "title": "Workload identity",
                        "description": "Neither `client_id` nor `client_secret`: the operator's \
                            Entra app in `tenant_id`, once its admin consented, the app holds a \
                            role on the container and the container is bound to this account.",
                        "not": {"anyOf": [
                            {"required": ["client_id"]},
                            {"required": ["client_secret"]}
                        ]}
                    }
                ]}]),
            );
        })
    }
}

impl ToSchema for AzureCreate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AzureConnectorCreate")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        AzureCreateFields::schemas(schemas);
    }
}

request_fields! {
/// Azure's fields of a PATCH (merged into `ConnectorUpdate`).
pub(crate) struct AzurePatchFields as AzurePatchSent {
    /// Azure only: a GUID or a verified domain.
    #[schema(
        nullable = false,
        max_length = 253,
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
    )]
    tenant_id: Option<String>,
    /// Azure only: a GUID.
    #[schema(
        nullable = false,
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    client_id: Option<String>,
    #[schema(inline, nullable = false)]
    client_secret: Option<ClientSecret>,
}
}

/// Azure's kind of PATCH credentials (its keyless switch is the shared
/// `KEYLESS_PATCH_KINDS`).
pub(crate) const PATCH_KINDS: [PatchKind; 1] = [PatchKind {
    title: "Azure service principal",
    description: "Any of `tenant_id`, `client_id`, `client_secret`; the others are kept (a \
        keyless connector takes `client_id` and `client_secret` together, and `tenant_id` \
        alone moves it to another tenant).",
    fields: &["tenant_id", "client_id", "client_secret"],
    required: &[],
    any_of: &["tenant_id", "client_id", "client_secret"],
}];
