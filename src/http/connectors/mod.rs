//! The connector resource: create (per provider, in `create`), list, get, update and
//! delete, under `/api/v2/connectors`.

pub(super) mod create;
mod list;
pub(super) mod patch;

use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::State;
use super::auth::{Admin, Read, Write};
use super::error::ApiError;
use super::extract::{ConnectorPath, JsonObject, flag_query};
use super::wire::{connector_json, json_response, with_header};
use crate::service::connectors::RotationChecks;

/// Where every connector path starts.
pub(super) const BASE: &str = "/api/v2/connectors";

/// Retrieve a connector.
#[utoipa::path(
    get,
    path = "/api/v2/connectors/{connector_id}",
    tag = "connectors",
    summary = "Retrieve a connector",
    params(("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID.")),
    responses(
        (status = 200, description = "The connector.", body = crate::http::wire::ConnectorView,
            headers(("ETag" = String, description = "The connector's version, for `If-Match`."))),
        (status = 404, description = "`connector_not_found`: no connector of this account has \
            that id (another account's connector is answered the same).", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn get_connector(
    Extract(state): Extract<State>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
) -> Result<Response, ApiError> {
    let c = state.app.get_connector(caller.tenant(), &id).await?;
    let shown = state.rendered.connector(&c)?;
    let mut response = json_response(StatusCode::OK, shown.json);
    response.headers_mut().insert(header::ETAG, shown.etag);
    Ok(response)
}

/// List the account's connectors, newest first.
#[utoipa::path(
    get,
    path = "/api/v2/connectors",
    tag = "connectors",
    summary = "List connectors",
    description = "A bare JSON array, newest first. When more remain, `Link: <...>; rel=\"next\"` \
        carries the next page's path, with the same filters and a cursor.",
    params(
        ("provider" = Option<crate::domain::scopes::Provider>, Query, nullable = false, description = "Only this provider's."),
        ("scope" = Option<crate::domain::scopes::Scope>, Query, nullable = false, description = "Only connectors with this scope."),
        ("status" = Option<crate::domain::scopes::Status>, Query, nullable = false, description = "Only connectors in this state."),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "Page size, 1-1000 (default 1000)."),
        ("cursor" = Option<String>, Query, nullable = false, description = "The cursor of a `Link` header, as received."),
    ),
    responses(
        (status = 200, description = "One page of connectors.", body = Vec<crate::http::wire::ConnectorView>,
            headers(("Link" = Option<String>, description = "`<path>; rel=\"next\"` when more remain."))),
        (status = 400, description = "`invalid_cursor`: the cursor was altered, or is another account's.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an unknown, repeated or invalid parameter.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn list_connectors(
    Extract(state): Extract<State>,
    Read(caller): Read,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = list::ListQuery::parse(raw.as_deref())?;
    let page = state
        .app
        .list_connectors(caller.tenant(), &q.filter, q.cursor.as_deref(), q.limit)
        .await?;
    let mut r = json_response(StatusCode::OK, state.rendered.list(&page.items)?);
    if let Some(cursor) = &page.next_cursor {
        r = with_header(r, header::LINK, &q.next_link(cursor));
    }
    Ok(r)
}

/// Update a connector's mutable fields, or rotate its credentials.
#[utoipa::path(
    patch,
    path = "/api/v2/connectors/{connector_id}",
    tag = "connectors",
    summary = "Update a connector",
    description = "New credentials (S3 keys or `role_arn`, Azure `tenant_id`, `client_id` or \
        `client_secret`, GCS `credentials_json`) first pass the test's checks, run with the new \
        credentials on the connector as the PATCH leaves it, and are saved only if every check \
        passes, recorded as the connector's last test; a failed check is a 422 \
        `credentials_rejected` with the report in `details`, and nothing changes. \
        `?validate=false` saves them unchecked. The checks count against the account's test limit.",
    params(
        ("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID."),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`*`, or the `ETag`s (strong, quoted) the change is allowed against; 412 otherwise."),
        ("validate" = Option<bool>, Query, nullable = false, description = "`false` saves new credentials without checking them (default `true`)."),
    ),
    request_body(content = crate::http::openapi::ConnectorUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated connector.", body = crate::http::wire::ConnectorView,
            headers(("ETag" = String, description = "The connector's new version."))),
        (status = 400, description = "`malformed_json`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "`connector_not_found`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`identity_not_configured`: a switch to (or a new tenant for) \
            workload identity where the operator has set none up for the provider; nothing was changed.", body = crate::http::openapi::ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version.", body = crate::http::openapi::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: over 64 KiB.", body = crate::http::openapi::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an empty body, an immutable, read-only, \
            unknown or invalid field or query parameter, or credentials of another provider; \
            `credentials_rejected`: the new credentials failed a check (`details` is the test \
            report), nothing was changed.", body = crate::http::openapi::ErrorEnvelope),
        (status = 429, description = "`rate_limited`: new credentials to check, past the account's test limit.", body = crate::http::openapi::ErrorEnvelope),
        (status = 503, description = "`provider_unavailable`: the provider could not be reached to check new credentials; \
            `identity_pool_exhausted` (with `Retry-After`): a switch to workload identity found no service account \
            left to give the account; nothing was changed.", body = crate::http::openapi::ErrorEnvelope),
        (status = 504, description = "`timeout`: the provider did not answer the checks of new credentials in time; nothing was changed.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn update_connector(
    Extract(state): Extract<State>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let checks = if flag_query(query.as_deref(), "validate", true)? {
        RotationChecks::Run
    } else {
        RotationChecks::Skip
    };
    let body = patch::parse_patch(body)?;
    let c = state
        .app
        .update_connector(
            caller.tenant(),
            &id,
            |provider| body.for_provider(provider),
            patch::precondition(&headers),
            checks,
            &caller.actor(),
        )
        .await?;
    Ok(with_header(
        json_response(StatusCode::OK, connector_json(&c)?),
        header::ETAG,
        &c.etag(),
    ))
}

/// Delete a connector and its stored credentials.
#[utoipa::path(
    delete,
    path = "/api/v2/connectors/{connector_id}",
    tag = "connectors",
    summary = "Delete a connector",
    description = "Deletes the record and its stored credentials. Needs an `admin` key.",
    params(("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID."), ("If-Match" = Option<String>, Header, nullable = false, description = "`*`, or the `ETag`s (strong, quoted) the change is allowed against; 412 otherwise.")),
    responses(
        (status = 200, description = "Deleted.", body = crate::http::openapi::Deleted),
        (status = 404, description = "`connector_not_found`, also when deleted already.", body = crate::http::openapi::ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: `If-Match` names another version.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn delete_connector(
    Extract(state): Extract<State>,
    Admin(caller): Admin,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .app
        .delete_connector(
            caller.tenant(),
            &id,
            patch::precondition(&headers),
            &caller.actor(),
        )
        .await?;
    let body = json!({ "message": format!("connector {id} deleted") }).to_string();
    Ok(json_response(StatusCode::OK, body))
}
