//! `Idempotency-Key` at the HTTP edge: the header, read into the service's key; the
//! request's fingerprint (method, path and parsed body), computed by the [`Fingerprinted`]
//! extractor; and a remembered answer turned back into a response. The protocol itself is
//! the service's (`crate::service::idempotency`).

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::JsonObject;
use super::wire::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, json_response, with_header};
use crate::domain::ids::ConnectorId;
use crate::service::idempotency::{Answer, IdempotencyKey, Once};

/// Reads `Idempotency-Key`, if sent.
///
/// # Errors
/// 422 when the header is not 1-255 printable ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bytes = v.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "must be 1-255 printable ASCII characters",
        ));
    }
    Ok(Some(IdempotencyKey::from_hash(hex::encode(
        Sha256::digest(bytes),
    ))))
}

/// A body that can be written in a canonical form, so equal requests print equal.
pub trait Canonical {
    fn write_canonical(&self, out: &mut String);
}

/// Writes a JSON object with its keys sorted, recursively.
pub fn canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(k, out);
        out.push(':');
        if let Some(v) = map.get(k) {
            canonical(v, out);
        }
    }
    out.push('}');
}

fn push_json_string(s: &str, out: &mut String) {
    // A JSON value prints without a way to fail.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Writes a JSON value with object keys sorted, so equal bodies print equal.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl Canonical for Value {
    fn write_canonical(&self, out: &mut String) {
        canonical(self, out);
    }
}

impl Canonical for JsonObject {
    fn write_canonical(&self, out: &mut String) {
        canonical_object(&self.0, out);
    }
}

/// The fingerprint of a request: method, path and parsed body.
pub fn fingerprint(method: &str, path: &str, body: &impl Canonical) -> String {
    let mut text = format!("{method} {path}\n");
    body.write_canonical(&mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A body, with the fingerprint of the request that carried it.
pub struct Fingerprinted<T> {
    pub body: T,
    pub fingerprint: String,
}

/// The path as the fingerprint names it: the route with its connector id in canonical form,
/// so the same connector named in another case fingerprints the same.
async fn canonical_path<S: Send + Sync>(
    parts: &mut axum::http::request::Parts,
    state: &S,
) -> String {
    let Some(route) = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return parts.uri.path().to_owned();
    };
    let id = RawPathParams::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|params| {
            params.iter().find_map(|(name, value)| {
                (name == "connector_id").then(|| ConnectorId::parse(value))
            })
        });
    match id {
        Some(Ok(id)) => route.replace("{connector_id}", id.as_str()),
        _ => parts.uri.path().to_owned(),
    }
}

impl<S, T> FromRequest<S> for Fingerprinted<T>
where
    S: Send + Sync,
    T: FromRequest<S, Rejection = ApiError> + Canonical,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let method = parts.method.clone();
        let path = canonical_path(&mut parts, state).await;
        let body = T::from_request(Request::from_parts(parts, body), state).await?;
        let fingerprint = fingerprint(method.as_str(), &path, &body);
        Ok(Self { body, fingerprint })
    }
}

/// A request whose body is ignored (the test action): it fingerprints as `null`.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(_: Request, _: &S) -> Result<Self, ApiError> {
        Ok(NoBody)
    }
}

impl Canonical for NoBody {
    fn write_canonical(&self, out: &mut String) {
        out.push_str("null");
    }
}

/// Turns a request run once into an HTTP response: its value rendered by `render`, the
/// same way for the first answer and its replays.
///
/// # Errors
/// `render`'s.
pub fn respond<T>(
    once: &Once<T>,
    render: impl FnOnce(&T) -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let mut r = match &once.answer {
        Answer::Value(value) => render(value)?,
        Answer::Rendered(kept) => {
            let status = StatusCode::from_u16(kept.status).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("a kept answer has no status: {e}"))
            })?;
            let mut r = json_response(status, kept.body.clone());
            if let Some(location) = &kept.location {
                r = with_header(r, header::LOCATION, location);
            }
            if let Some(etag) = &kept.etag {
                r = with_header(r, header::ETAG, etag);
            }
            r
        }
    };
    if once.replayed {
        r = with_header(r, IDEMPOTENT_REPLAYED, "true");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_key_order_but_not_values_or_paths() {
        let a = fingerprint(
            "POST",
            "/x",
            &json!({"a": 1, "b": {"c": [1, 2], "d": null}}),
        );
        let b = fingerprint(
            "POST",
            "/x",
            &json!({"b": {"d": null, "c": [1, 2]}, "a": 1}),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint(
                "POST",
                "/y",
                &json!({"a": 1, "b": {"c": [1, 2], "d": null}})
            )
        );
        assert_ne!(
            a,
            fingerprint(
                "POST",
                "/x",
                &json!({"a": 2, "b": {"c": [1, 2], "d": null}})
            )
        );
    }

    #[test]
    fn an_ignored_body_fingerprints_like_json_null() {
        assert_eq!(
            fingerprint("POST", "/x", &NoBody),
            fingerprint("POST", "/x", &Value::Null)
        );
    }
}
