//! The http layer of GCS's identity setup, `GET /connectors/gcs/identity-setup`: the
//! account's own service account and the roles to grant it; with `?bucket=` also the
//! `gcloud` commands.

use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;

use super::names::{GcpProjectId, GcsBucketName};
use super::setup::GrantRequest;
use crate::domain::scopes::Scopes;
use crate::http::State;
use crate::http::auth::Read;
use crate::http::error::ApiError;
use crate::http::fields::{Fields, query_object, request_fields};
use crate::http::wire::json_response;

request_fields!(struct GcsSetupQuerySent {
    bucket,
    scopes,
    gcp_project_id
});

/// Reads `bucket`, `scopes` (comma-separated, default `import`) and `gcp_project_id`.
fn parse(raw: Option<&str>) -> Result<Option<GrantRequest>, ApiError> {
    let map = query_object(raw)?;
    if map.is_empty() {
        return Ok(None);
    }
    let q = GcsSetupQuerySent::read(map)?;
    let mut f = Fields::new();
    let bucket = f.required(&q.bucket, GcsBucketName::parse);
    let scopes = f
        .optional(&q.scopes, |s| {
            let words: Vec<String> = s.split(',').map(|w| w.trim().to_owned()).collect();
            Scopes::parse(&words)
        })
        .unwrap_or(Scopes::IMPORT_ONLY);
    let gcp_project_id = f.optional(&q.gcp_project_id, GcpProjectId::parse);
    f.finish()?;
    Ok(bucket.map(|bucket| GrantRequest {
        bucket,
        scopes,
        gcp_project_id,
    }))
}

/// The identity a customer grants for a keyless GCS connector.
#[utoipa::path(
    get,
    path = "/api/v2/connectors/gcs/identity-setup",
    tag = "setup",
    summary = "Set up a keyless GCS connector",
    description = "Answers this account's own service account (given from the operator's \
        pool on the first call, then the same for good, and never another account's) and \
        the bucket role each scope needs: `roles/storage.objectViewer` to import, a custom \
        role of exactly `storage.objects.create`, `storage.objects.delete` and \
        `storage.objects.list` to export. With `bucket` (and optionally `scopes`, \
        `gcp_project_id`) it adds the `gcloud` commands that grant them. Then create the \
        connector with a JSON body and no key file.",
    params(
        ("bucket" = Option<String>, Query, nullable = false, min_length = 3, max_length = 222,
            pattern = r"^[a-z0-9][a-z0-9_.-]*[a-z0-9]$",
            description = "The bucket the commands are for (Google's naming rules)."),
        ("scopes" = Option<String>, Query, nullable = false,
            pattern = "^(import|export|import,export|export,import)$",
            description = "Comma-separated scopes (`import`, `export`); default `import`. Needs `bucket`."),
        ("gcp_project_id" = Option<String>, Query, nullable = false, max_length = 284,
            pattern = r"^(?:(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,61}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):)?[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            description = "The bucket's project (optionally behind a domain, `example.com:my-project`), where the export role is made \
                (`PROJECT_ID` in the commands otherwise). Needs `bucket`."),
    ),
    responses(
        (status = 200, description = "The identity setup.", body = super::setup::GcsIdentitySetup),
        (status = 404, description = "`identity_not_configured`: the operator has set up \
            no workload identity for GCS (a connector with a key file still works).",
            body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an unknown, repeated or invalid \
            parameter, or `scopes`/`gcp_project_id` without `bucket`.",
            body = crate::http::openapi::ErrorEnvelope),
        (status = 503, description = "`identity_pool_exhausted`: every service account of \
            the operator's pool is taken (the operator is alerted); `Retry-After` says when \
            to ask again.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(crate) async fn gcs_identity_setup(
    Extract(state): Extract<State>,
    Read(caller): Read,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let grant = parse(raw.as_deref())?;
    let setup = state
        .app
        .gcs_identity_setup(caller.tenant(), grant.as_ref())
        .await?;
    let body = serde_json::to_string(&setup).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("an identity setup cannot be printed: {e}"))
    })?;
    Ok(json_response(StatusCode::OK, body))
}
