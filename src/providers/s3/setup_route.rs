//! The http layer of S3's role setup, `GET /connectors/s3/role-setup`: what a customer pastes into IAM to let the service in
//! through a role, before any connector exists; with `?bucket=` also the permissions.

use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;

use super::setup::PolicyRequest;
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::Scopes;
use crate::http::State;
use crate::http::auth::Read;
use crate::http::error::ApiError;
use crate::http::fields::{Fields, query_object, request_fields};
use crate::http::wire::json_response;
use crate::providers::s3::names::S3BucketName;

request_fields!(struct SetupQuerySent {
    bucket,
    scopes,
    export_base_path
});

/// Reads `bucket`, `scopes` (comma-separated, default `import`) and `export_base_path`.
fn parse(raw: Option<&str>) -> Result<Option<PolicyRequest>, ApiError> {
    let map = query_object(raw)?;
    if map.is_empty() {
        return Ok(None);
    }
    let q = SetupQuerySent::read(map)?;
    let mut f = Fields::new();
    let bucket = f.required(&q.bucket, S3BucketName::parse);
    let scopes = f
        .optional(&q.scopes, |s| {
            let words: Vec<String> = s.split(',').map(|w| w.trim().to_owned()).collect();
            Scopes::parse(&words)
        })
        .unwrap_or(Scopes::IMPORT_ONLY);
    let export_base_path = f.optional(&q.export_base_path, ExportBasePath::parse);
    f.finish()?;
    Ok(bucket.map(|bucket| PolicyRequest {
        bucket,
        scopes,
        export_base_path,
    }))
}

/// What a customer needs to grant the service access through an IAM role.
#[utoipa::path(
    get,
    path = "/api/v2/connectors/s3/role-setup",
    tag = "setup",
    summary = "Set up an IAM role for S3",
    description = "Answers, before any connector exists, what a customer puts in their AWS \
        account to let the service in through an IAM role: the service's principal to trust, \
        the account's external ID (stable, one per account, not a secret), and the trust \
        policy requiring it. With `bucket` (and optionally `scopes`, `export_base_path`) it \
        adds the least-privilege permissions policy for exactly that bucket, those scopes \
        and that path.",
    params(
        ("bucket" = Option<String>, Query, nullable = false, min_length = 3, max_length = 63,
            pattern = r"^[a-z0-9](\.?[a-z0-9-])*\.?[a-z0-9]$",
            description = "The bucket the permissions policy is for (S3's naming rules)."),
        ("scopes" = Option<String>, Query, nullable = false,
            pattern = "^(import|export|import,export|export,import)$",
            description = "Comma-separated scopes (`import`, `export`); default `import`. Needs `bucket`."),
        ("export_base_path" = Option<String>, Query, nullable = false, min_length = 1,
            max_length = 1024, pattern = r"^[^/\\\x00-\x1f\x7f-\x9f][^\\\x00-\x1f\x7f-\x9f]*$",
            description = "The export path the write permissions are limited to (the \
                connector's `export_base_path` rules). Needs `bucket`."),
    ),
    responses(
        (status = 200, description = "The role setup.", body = crate::providers::s3::setup::RoleSetup),
        (status = 422, description = "`validation_error`: an unknown, repeated or invalid \
            parameter, or `scopes`/`export_base_path` without `bucket`.",
            body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(crate) async fn role_setup(
    Extract(state): Extract<State>,
    Read(caller): Read,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let policy = parse(raw.as_deref())?;
    let setup = state
        .app
        .role_setup(caller.tenant(), policy.as_ref())
        .await?;
    let body = serde_json::to_string(&setup)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a role setup cannot be printed: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}
