//! The connector actions: `POST /connectors/{id}/test` (run once per `Idempotency-Key`)
//! and `POST /connectors/{id}/browse` (its body parsed into a [`BrowseRequest`]).

use axum::Router;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Map, Value};

use super::State;
use super::auth::{Read, Write};
use super::error::ApiError;
use super::extract::{ConnectorPath, OptionalJsonObject};
use super::fields::{Fields, text};
use super::idempotency::{Fingerprinted, NoBody, idempotency_key, respond};
use super::wire::{X_NEXT_CURSOR, json_response, with_header, with_quota};
use crate::domain::glob::GlobPattern;
use crate::domain::paths::BrowsePrefix;
use crate::service::browse::BrowseRequest;
use crate::service::idempotency::StoredResponse;
use crate::service::limits::Limited;

/// The actions' routes.
pub(super) fn router() -> Router<State> {
    Router::new()
        .route(
            "/api/v2/connectors/{connector_id}/test",
            post(test_connector),
        )
        .route(
            "/api/v2/connectors/{connector_id}/browse",
            post(browse_connector),
        )
}

async fn test_connector(
    Extract(state): Extract<State>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
    request: Fingerprinted<NoBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let tenant = caller.tenant();
    let app = &state.app;
    let quota = app.admit(tenant, Limited::Test).await?;
    let once = app
        .run_once(tenant, key, &request.fingerprint, id, |id| async move {
            let report = app.test_connector(tenant, &id).await?;
            Ok(StoredResponse {
                status: StatusCode::OK.as_u16(),
                body: serde_json::to_string(&report).unwrap_or_default(),
                location: None,
                etag: None,
            })
        })
        .await?;
    Ok(with_quota(respond(&once), quota.as_ref()))
}

fn parse_browse(map: Map<String, Value>) -> Result<BrowseRequest, ApiError> {
    let mut f = Fields::new(
        map,
        &[
            "prefix",
            "pattern",
            "recursive",
            "limit",
            "cursor",
            "case_insensitive",
        ],
    )?;
    let case_insensitive = f.boolean("case_insensitive").unwrap_or(false);
    let prefix = f
        .optional("prefix", BrowsePrefix::parse)
        .unwrap_or_default();
    let pattern = f
        .optional("pattern", |s| GlobPattern::parse(s, case_insensitive))
        .unwrap_or_default();
    let recursive = f.boolean("recursive").unwrap_or(true);
    let limit = f.integer("limit", 1..=5000).unwrap_or(1000);
    let cursor = f.optional("cursor", text);
    f.finish()?;
    Ok(BrowseRequest {
        prefix,
        pattern,
        recursive,
        case_insensitive,
        limit: usize::try_from(limit).unwrap_or(1000),
        cursor,
    })
}

async fn browse_connector(
    Extract(state): Extract<State>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let request = parse_browse(body)?;
    let quota = state.app.admit(caller.tenant(), Limited::Browse).await?;
    let outcome = state.app.browse(caller.tenant(), &id, request).await?;
    let mut r = json_response(StatusCode::OK, outcome.body);
    if let Some(cursor) = &outcome.next_cursor {
        r = with_header(r, X_NEXT_CURSOR, cursor);
    }
    Ok(with_quota(r, quota.as_ref()))
}
