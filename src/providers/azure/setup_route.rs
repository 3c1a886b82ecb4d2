//! The http layer of Azure's identity setup, `GET /connectors/azure/identity-setup`: the
//! operator's app, the tenant's admin-consent URL, the roles and the container binding;
//! with `?storage_account=&container=` also the `az` commands.

use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;

use super::names::{AzureTenant, ContainerName, StorageAccount};
use super::setup::ContainerRequest;
use crate::domain::scopes::Scopes;
use crate::http::State;
use crate::http::auth::Read;
use crate::http::error::ApiError;
use crate::http::fields::{Fields, query_object, request_fields};
use crate::http::wire::json_response;

request_fields!(struct AzureSetupQuerySent {
    tenant_id,
    storage_account,
    container,
    scopes
});

/// Reads `tenant_id` (required), and `storage_account`, `container` and `scopes`
/// (comma-separated, default `import`) for the commands.
fn parse(raw: Option<&str>) -> Result<(AzureTenant, Option<ContainerRequest>), ApiError> {
    let q = AzureSetupQuerySent::read(query_object(raw)?)?;
    let mut f = Fields::new();
    let tenant_id = f.required(&q.tenant_id, AzureTenant::parse);
    let wants_commands = q.storage_account.given() || q.container.given() || q.scopes.given();
    let (account, container) = if wants_commands {
        (
            f.required(&q.storage_account, StorageAccount::parse),
            f.required(&q.container, ContainerName::parse),
        )
    } else {
        (None, None)
    };
    let scopes = f
        .optional(&q.scopes, |s| {
            let words: Vec<String> = s.split(',').map(|w| w.trim().to_owned()).collect();
            Scopes::parse(&words)
        })
        .unwrap_or(Scopes::IMPORT_ONLY);
    f.finish()?;
    let request = account
        .zip(container)
        .map(|(storage_account, container)| ContainerRequest {
            storage_account,
            container,
            scopes,
        });
    tenant_id
        .map(|t| (t, request))
        .ok_or_else(|| ApiError::validation("tenant_id", "is required"))
}

/// What a customer does for a keyless Azure connector.
#[utoipa::path(
    get,
    path = "/api/v2/connectors/azure/identity-setup",
    tag = "setup",
    summary = "Set up a keyless Azure connector",
    description = "Answers the operator's multi-tenant Entra app (`client_id`, the same for \
        every account), the URL where an administrator of `tenant_id` consents to it, the \
        container role each scope needs (`Storage Blob Data Reader` to import, `Storage Blob \
        Data Contributor` to export), and the container metadata that binds the container to \
        this account: every account's connectors share the app, so a container is used only \
        once its owner has set `videovector_account` to this account's identifier. With \
        `storage_account` and `container` (and optionally `scopes`) it adds the `az` commands. \
        Then create the connector without `client_id` and `client_secret`.",
    params(
        ("tenant_id" = String, Query,
            max_length = 253,
            pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$",
            description = "The customer's Entra tenant: a GUID or a verified domain."),
        ("storage_account" = Option<String>, Query, nullable = false, min_length = 3,
            max_length = 24, pattern = r"^[a-z0-9]+$",
            description = "The storage account the commands are for. Needs `container`."),
        ("container" = Option<String>, Query, nullable = false, min_length = 3,
            max_length = 63, pattern = r"^(\$root|\$web|\$logs|[a-z0-9]+(-[a-z0-9]+)*)$",
            description = "The container the commands are for. Needs `storage_account`."),
        ("scopes" = Option<String>, Query, nullable = false,
            pattern = "^(import|export|import,export|export,import)$",
            description = "Comma-separated scopes (`import`, `export`); default `import`. \
                Needs `storage_account` and `container`."),
    ),
    responses(
        (status = 200, description = "The identity setup.", body = super::setup::AzureIdentitySetup),
        (status = 404, description = "`identity_not_configured`: the operator has set up \
            no Entra app for keyless Azure connectors (a client secret still works).",
            body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: `tenant_id` missing or invalid, \
            an unknown, repeated or invalid parameter, or `storage_account`, `container` \
            and `scopes` not sent together as described.",
            body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(crate) async fn azure_identity_setup(
    Extract(state): Extract<State>,
    Read(caller): Read,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant_id, request) = parse(raw.as_deref())?;
    let setup = state
        .app
        .azure_identity_setup(caller.tenant(), &tenant_id, request.as_ref())?;
    let body = serde_json::to_string(&setup).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("an identity setup cannot be printed: {e}"))
    })?;
    Ok(json_response(StatusCode::OK, body))
}
