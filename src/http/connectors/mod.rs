//! The connector resource: create (per provider, in `create`), list, get, update and
//! delete, under `/api/v2/connectors`.

mod create;
mod list;
mod patch;

use axum::Router;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::State;
use super::auth::{Admin, Read, Write};
use super::error::ApiError;
use super::extract::{ConnectorPath, JsonObject};
use super::wire::{connector_json, json_response, with_header};

/// Where every connector path starts.
pub(super) const BASE: &str = "/api/v2/connectors";

/// The connector resource's routes.
pub(super) fn router() -> Router<State> {
    Router::new()
        .route(BASE, get(list_connectors))
        .route(
            "/api/v2/connectors/s3",
            post(create::create::<create::S3Body>),
        )
        .route(
            "/api/v2/connectors/gcs",
            post(create::create::<create::GcsForm>),
        )
        .route(
            "/api/v2/connectors/azure",
            post(create::create::<create::AzureBody>),
        )
        .route(
            "/api/v2/connectors/{connector_id}",
            get(get_connector)
                .patch(update_connector)
                .delete(delete_connector),
        )
}

async fn get_connector(
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

async fn list_connectors(
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

async fn update_connector(
    Extract(state): Extract<State>,
    Write(caller): Write,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let patch = patch::parse_patch(body)?;
    let c = state
        .app
        .update_connector(caller.tenant(), &id, patch, patch::precondition(&headers))
        .await?;
    Ok(with_header(
        json_response(StatusCode::OK, connector_json(&c)?),
        header::ETAG,
        &c.etag(),
    ))
}

async fn delete_connector(
    Extract(state): Extract<State>,
    Admin(caller): Admin,
    ConnectorPath(id): ConnectorPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .app
        .delete_connector(caller.tenant(), &id, patch::precondition(&headers))
        .await?;
    let body = json!({ "message": format!("connector {id} deleted") }).to_string();
    Ok(json_response(StatusCode::OK, body))
}
