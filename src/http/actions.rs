//! The connector actions: `POST /connectors/{id}/test` (run once per `Idempotency-Key`)
//! and `POST /connectors/{id}/browse` (its body parsed into a [`BrowseRequest`]).

use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::State;
use super::auth::{Read, Write};
use super::error::ApiError;
use super::extract::{ConnectorPath, OptionalJsonObject};
use super::fields::{Fields, text};
use super::idempotency::{Fingerprinted, NoBody, idempotency_key, respond};
use super::openapi::schemas::BrowseSent;
use super::wire::{X_NEXT_CURSOR, json_response, to_json, with_header, with_quota};
use crate::domain::glob::GlobPattern;
use crate::domain::paths::BrowsePrefix;
use crate::domain::timestamp::Timestamp;
use crate::service::browse::BrowseRequest;
use crate::service::use_cases::Keyed;

/// Test a connector's stored credentials against its provider.
#[utoipa::path(
    post,
    path = "/api/v2/connectors/{connector_id}/test",
    tag = "actions",
    summary = "Test a connector's access",
    description = "Answers 200 whenever the check ran, whatever it found: `success` and \
        `error_message` say what every client needs, `checks` the detail (authenticate; \
        list with the `import` scope; write and delete a probe under `export_base_path` \
        with `export`). The connector's `status` and `last_test_*` fields are updated. \
        Bounded in time well under 29 s.",
    params(
        ("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID."),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$",
            description = "1-255 printable ASCII characters; a retry replays the first report."),
    ),
    responses(
        (status = 200, description = "The check ran.", body = crate::service::access_check::TestReport,
            headers(
                ("Idempotent-Replayed" = Option<String>, description = "`true` when this answer is a replay."),
                ("RateLimit-Policy" = String, description = "The test limit."),
                ("RateLimit" = String, description = "What is left of it."),
            )),
        (status = 404, description = "`connector_not_found`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`idempotency_request_in_progress`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error` (a malformed `Idempotency-Key`) or \
            `idempotency_key_reused`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many tests this minute.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn test_connector(
    Extract(state): Extract<State>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
    request: Fingerprinted<NoBody>,
) -> Result<Response, ApiError> {
    let keyed = Keyed {
        key: idempotency_key(&headers)?,
        fingerprint: &request.fingerprint,
    };
    let answered = state
        .app
        .test_once(caller.tenant(), id, keyed, &caller.actor())
        .await?;
    let r = respond(&answered.once, |report| {
        Ok(json_response(StatusCode::OK, to_json(report)?))
    })?;
    Ok(with_quota(r, answered.quota.as_ref()))
}

fn parse_browse(map: Map<String, Value>) -> Result<BrowseRequest, ApiError> {
    let b = BrowseSent::read(map)?;
    let mut f = Fields::new();
    let case_insensitive = f.boolean(&b.case_insensitive).unwrap_or(false);
    let prefix = f
        .optional(&b.prefix, BrowsePrefix::parse)
        .unwrap_or_default();
    let pattern = f
        .optional(&b.pattern, |s| GlobPattern::parse(s, case_insensitive))
        .unwrap_or_default();
    let recursive = f.boolean(&b.recursive).unwrap_or(true);
    let limit = f.integer(&b.limit, 1..=5000).unwrap_or(1000);
    let cursor = f.optional(&b.cursor, text);
    let modified_after = f.optional(&b.modified_after, Timestamp::parse);
    f.finish()?;
    Ok(BrowseRequest {
        prefix,
        pattern,
        recursive,
        case_insensitive,
        limit: usize::try_from(limit).unwrap_or(1000),
        cursor,
        modified_after,
    })
}

/// List a connector's files by prefix and glob.
#[utoipa::path(
    post,
    path = "/api/v2/connectors/{connector_id}/browse",
    tag = "actions",
    summary = "Browse a connector's files",
    description = "A bare JSON array of files. Each call is bounded in time and bytes; when \
        more matches remain, `X-Next-Cursor` carries the cursor to send back. A first page is \
        filled as far as those bounds allow, never empty with a cursor while time remains.",
    params(("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID.")),
    request_body(content = Option<crate::http::openapi::BrowseBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "One page of files.", body = Vec<crate::service::browse::FileEntry>,
            headers(
                ("X-Next-Cursor" = Option<String>, description = "Present when more matches remain."),
                ("RateLimit-Policy" = String, description = "The browse limit."),
                ("RateLimit" = String, description = "What is left of it."),
            )),
        (status = 400, description = "`malformed_json`, `invalid_cursor`, or the provider's \
            refusal: `access_denied`, `invalid_credentials`, `bucket_not_found`, `wrong_region` \
            (with the bucket's real region in `details`).", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "`connector_not_found`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`scope_not_granted`: the connector has no `import` scope.", body = crate::http::openapi::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: over 64 KiB.", body = crate::http::openapi::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an unknown or invalid field, or a \
            pattern past its bounds.", body = crate::http::openapi::ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many browses this minute.", body = crate::http::openapi::ErrorEnvelope),
        (status = 504, description = "`timeout`: the provider did not answer in time.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn browse_connector(
    Extract(state): Extract<State>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let request = parse_browse(body)?;
    let outcome = state.app.browse(caller.tenant(), &id, request).await?;
    let mut r = json_response(StatusCode::OK, outcome.body);
    if let Some(cursor) = &outcome.next_cursor {
        r = with_header(r, X_NEXT_CURSOR, cursor);
    }
    Ok(with_quota(r, outcome.quota.as_ref()))
}
