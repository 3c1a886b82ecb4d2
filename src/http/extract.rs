//! Extractors with the contract's limits and error envelope: the connector id of a path,
//! JSON objects (64 KiB) and multipart forms (128 KiB, one key file of at most 64 KiB).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use super::repeated_keys::first_repeated_key;
use crate::domain::ids::ConnectorId;
use crate::providers::gcs::credentials::MAX_KEY_FILE_BYTES;

/// The `{connector_id}` of the path, parsed. Text that cannot be a connector id (not even
/// text, once its percent-escapes are decoded) names no connector: 404, like an unknown id.
pub struct ConnectorPath(pub ConnectorId);

impl<S: Send + Sync> FromRequestParts<S> for ConnectorPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::ConnectorNotFound("no connector has that id".into()))?;
        let raw = params
            .iter()
            .find_map(|(name, value)| (name == "connector_id").then_some(value))
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a route without a connector id")))?;
        ConnectorId::parse(raw)
            .map(Self)
            .map_err(|_| ApiError::connector_not_found(raw))
    }
}

pub const JSON_LIMIT: usize = 64 * 1024;
pub const MULTIPART_LIMIT: usize = 128 * 1024;

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
    })
}

/// Reads a whole body, refusing more than `limit` bytes with 413.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("the body must be at most {} KiB", limit / 1024));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        message: format!("the body is not valid JSON: {e}"),
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    // Valid JSON, so the walk only fails where the parse already did.
    if let Ok(Some(path)) = first_repeated_key(bytes) {
        // A key name is the caller's text: shown, but never more than 100 characters of it.
        return Err(ApiError::validation(
            path.chars().take(100).collect::<String>(),
            "is sent more than once; send each field once",
        ));
    }
    Ok(map)
}

/// A JSON object body; `Content-Type: application/json` is required.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if !is_json(&parts.headers) {
            return Err(ApiError::UnsupportedMediaType(
                "this endpoint takes Content-Type: application/json".into(),
            ));
        }
        let bytes = read_limited(&parts.headers, body, JSON_LIMIT).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

/// A JSON object body that may be left out entirely (an empty body, or `null`, is `{}`).
pub struct OptionalJsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, JSON_LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonObject(Map::new()));
        }
        if !is_json(&parts.headers) {
            return Err(ApiError::UnsupportedMediaType(
                "this endpoint takes Content-Type: application/json".into(),
            ));
        }
        // `null` says "nothing", as an absent body does.
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJsonObject(Map::new()));
        }
        parse_object(&bytes).map(OptionalJsonObject)
    }
}

/// One part of a form.
#[derive(Debug, Clone)]
pub enum FormValue {
    Text(String),
    File(Bytes),
}

/// A `multipart/form-data` body, parts in order.
pub struct MultipartForm(pub Vec<(String, FormValue)>);

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: "malformed_multipart",
        message: message.into(),
    }
}

impl<S: Send + Sync> FromRequest<S> for MultipartForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let boundary = content_type(&parts.headers)
            .filter(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case("multipart/form-data"))
            })
            .ok_or_else(|| {
                ApiError::UnsupportedMediaType(
                    "this endpoint takes Content-Type: multipart/form-data".into(),
                )
            })
            .and_then(|ct| {
                multer::parse_boundary(ct)
                    .map_err(|_| malformed("the multipart boundary is missing"))
            })?;
        let bytes = read_limited(&parts.headers, body, MULTIPART_LIMIT).await?;
        let stream =
            futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut out = Vec::new();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return Err(malformed(format!("the multipart body is malformed: {e}"))),
            };
            let name = field
                .name()
                .map(str::to_owned)
                .ok_or_else(|| malformed("a multipart part has no name"))?;
            let is_file = field.file_name().is_some();
            let data = field
                .bytes()
                .await
                .map_err(|e| malformed(format!("the multipart body is malformed: {e}")))?;
            if name == "credentials_file" {
                if data.len() > MAX_KEY_FILE_BYTES {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "credentials_file must be at most {} KiB",
                        MAX_KEY_FILE_BYTES / 1024
                    )));
                }
                out.push((name, FormValue::File(data)));
            } else if is_file {
                out.push((name, FormValue::File(data)));
            } else {
                let text = String::from_utf8(data.to_vec())
                    .map_err(|_| ApiError::validation(name.clone(), "must be UTF-8 text"))?;
                out.push((name, FormValue::Text(text)));
            }
        }
        Ok(MultipartForm(out))
    }
}

/// Reads a query that may hold only the flag `name` (`true` or `false`, at most once;
/// `default` when absent): every other parameter, and a bad or repeated value, is a 422
/// naming it, all at once.
///
/// # Errors
/// 422 `validation_error` with one entry per parameter at fault.
pub(super) fn flag_query(
    raw: Option<&str>,
    name: &'static str,
    default: bool,
) -> Result<bool, ApiError> {
    let mut value = default;
    let mut seen = false;
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k != name {
            errors.push(FieldError::new(
                k,
                format!("is not a parameter of this endpoint (only {name})"),
            ));
        } else if std::mem::replace(&mut seen, true) {
            errors.push(FieldError::new(name, "must be given once"));
        } else {
            match v.as_ref() {
                "true" => value = true,
                "false" => value = false,
                _ => errors.push(FieldError::new(name, "must be true or false")),
            }
        }
    }
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::invalid(errors))
    }
}
