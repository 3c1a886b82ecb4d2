//! `GET /connectors/{id}/events`: a connector's history, newest first, a page at a time
//! with a `Link` to the next, each event as [`EventView`] shows it.

use axum::extract::{RawQuery, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use super::State;
use super::auth::Read;
use super::connectors::BASE;
use super::error::ApiError;
use super::extract::ConnectorPath;
use super::fields::{Fields, query_object, request_fields, text};
use super::wire::{json_response, to_json, with_header};
use crate::domain::events::{ConnectorEvent, EventType};
use crate::domain::ids::ConnectorId;
use crate::domain::scopes::TestResult;
use crate::domain::timestamp::Timestamp;

/// The most events one page holds, and how many it holds unless told.
const LIMIT_AT_MOST: usize = 100;
const DEFAULT_LIMIT: usize = 50;

/// One event of a connector's history: who did what, and when; what changed by name only.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    as = ConnectorEvent,
    examples(json!({
        "event_id": "evt_01jd8x0k6m3q4r5s6t7v8w9xyz",
        "connector_id": "conn_01jd8x0k6m3q4r5s6t7v8w9xyz",
        "type": "credentials_changed",
        "at": "2026-04-07T12:30:05Z",
        "key_id": "key_01jd8x0k6m3q4r5s6t7v8w9xyz",
        "request_id": "req_01jd8x0k6m3q4r5s6t7v8w9xyz",
        "fields": ["aws_access_key_id", "aws_secret_access_key"],
        "result": "success",
        "failed_checks": [],
        "credential_hint_before": "AKIA…MPLE",
        "credential_hint_after": "AKIA…WXYZ"
    }))
)]
pub(crate) struct EventView<'a> {
    /// `evt_` and a ULID; ids sort in the order the events happened.
    #[schema(pattern = "^evt_[0-9a-hjkmnp-tv-z]{26}$")]
    event_id: &'a str,
    #[schema(pattern = "^conn_[0-9a-hjkmnp-tv-z]{26}$")]
    connector_id: &'a str,
    #[serde(rename = "type")]
    kind: EventType,
    at: Timestamp,
    /// The id of the API key that made the request (never the key).
    key_id: &'a str,
    /// The request's `X-Request-Id`.
    request_id: &'a str,
    /// The names of the fields that changed (or, for credentials, that were sent); never
    /// their values. Empty for a test, a grant, a create and a delete.
    fields: &'a [String],
    /// A test's result, or that of the checks new credentials passed or failed.
    #[schema(required = true)]
    result: Option<TestResult>,
    /// The codes of the checks that failed (those of a test report's `checks[].error.code`).
    failed_checks: &'a [String],
    /// For credentials: the masked identity before the change (as `credential_hint`).
    #[schema(required = true)]
    credential_hint_before: Option<&'a str>,
    /// For credentials: the masked identity they were changed to (or that was rejected);
    /// for a create, the one it was made with.
    #[schema(required = true)]
    credential_hint_after: Option<&'a str>,
}

impl<'a> EventView<'a> {
    fn of(e: &'a ConnectorEvent) -> Self {
        Self {
            event_id: &e.event_id,
            connector_id: e.connector_id.as_str(),
            kind: e.kind,
            at: e.at,
            key_id: &e.key_id,
            request_id: &e.request_id,
            fields: &e.fields,
            result: e.result,
            failed_checks: &e.failed_checks,
            credential_hint_before: e.credential_hint_before.as_deref(),
            credential_hint_after: e.credential_hint_after.as_deref(),
        }
    }
}

/// The query of the history: `limit` and `cursor`.
struct EventsQuery {
    limit: usize,
    cursor: Option<String>,
}

request_fields!(struct EventsQuerySent { limit, cursor });

fn parse_query(raw: Option<&str>) -> Result<EventsQuery, ApiError> {
    let q = EventsQuerySent::read(query_object(raw)?)?;
    let mut f = Fields::new();
    let cursor = f.optional(&q.cursor, text);
    let limit = f
        .integer_text(&q.limit, 1..=LIMIT_AT_MOST)
        .unwrap_or(DEFAULT_LIMIT);
    f.finish()?;
    Ok(EventsQuery { limit, cursor })
}

fn next_link(id: &ConnectorId, limit: usize, cursor: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("limit", &limit.to_string());
    s.append_pair("cursor", cursor);
    format!("<{BASE}/{id}/events?{}>; rel=\"next\"", s.finish())
}

/// Read a connector's history.
#[utoipa::path(
    get,
    path = "/api/v2/connectors/{connector_id}/events",
    tag = "history",
    summary = "List a connector's events",
    description = "A bare JSON array, newest first: one event per create, change, credential \
        change (or rejected one), test and access grant, and the delete; a browse leaves none. \
        Events are kept `EVENT_RETENTION_DAYS` (90 by default). A deleted connector's history \
        stays readable for that long by an `admin` key. When more remain, \
        `Link: <...>; rel=\"next\"` carries the next page's path.",
    params(
        ("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID."),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 100, description = "Page size, 1-100 (default 50)."),
        ("cursor" = Option<String>, Query, nullable = false, description = "The cursor of a `Link` header, as received."),
    ),
    responses(
        (status = 200, description = "One page of events.", body = Vec<EventView>,
            headers(("Link" = Option<String>, description = "`<path>; rel=\"next\"` when more remain."))),
        (status = 400, description = "`invalid_cursor`: the cursor was altered, or is another connector's.", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "`connector_not_found`: no connector of this account has \
            that id (another account's is answered the same), or it was deleted and the key \
            is not an `admin` key.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an unknown, repeated or invalid parameter.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn list_events(
    Extract(state): Extract<State>,
    Read(caller): Read,
    ConnectorPath(id): ConnectorPath,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse_query(raw.as_deref())?;
    let page = state
        .app
        .connector_events(&caller, &id, q.cursor.as_deref(), q.limit)
        .await?;
    let views: Vec<EventView<'_>> = page.items.iter().map(EventView::of).collect();
    let mut r = json_response(StatusCode::OK, to_json(&views)?);
    if let Some(cursor) = &page.next_cursor {
        r = with_header(r, header::LINK, &next_link(&id, q.limit, cursor));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    fn refused(query: &str) -> Vec<String> {
        match parse_query(Some(query)) {
            Err(ApiError::Service(ServiceError::Validation(fields))) => {
                fields.into_iter().map(|f| f.field).collect()
            }
            other => panic!("not a validation error: {:?}", other.map(|q| q.limit)),
        }
    }

    #[test]
    fn no_query_reads_fifty_events_from_the_newest() {
        let q = parse_query(None).expect("a query");
        assert_eq!((q.limit, q.cursor), (50, None));
    }

    #[test]
    fn a_limit_outside_one_to_a_hundred_or_an_unknown_parameter_is_named() {
        assert_eq!(refused("limit=0"), ["limit"]);
        assert_eq!(refused("limit=101"), ["limit"]);
        assert_eq!(refused("limit=many"), ["limit"]);
        assert_eq!(refused("type=tested"), ["type"]);
    }

    #[test]
    fn the_next_link_keeps_the_limit_and_carries_the_cursor_encoded() {
        let id = ConnectorId::parse("conn_01jd8x0k6m3q4r5s6t7v8w9xyz").expect("an id");
        assert_eq!(
            next_link(&id, 5, "c1/+="),
            "</api/v2/connectors/conn_01jd8x0k6m3q4r5s6t7v8w9xyz/events?limit=5&cursor=c1%2F%2B%3D>; rel=\"next\""
        );
    }
}
