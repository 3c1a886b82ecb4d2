//! `Idempotency-Key` for creates and tests: the first request's fingerprint (method, path,
//! parsed body) and successful response are remembered per account for 24 hours.
//!
//! Errors are not pinned: a request that failed (4xx after the key was claimed, or any 5xx)
//! releases the key, so a corrected retry runs afresh.

use std::future::Future;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::wire::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, json_response, with_header};
use crate::domain::ids::TenantId;
use crate::domain::timestamp::Timestamp;
use crate::error::ApiError;
use crate::service::App;
use crate::store::{Claim, StoredResponse};

/// A valid `Idempotency-Key`, kept only as its hash.
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// 422 when the header is not 1-255 printable ASCII characters.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        let bytes = v.as_bytes();
        if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        {
            return Err(ApiError::validation(
                "Idempotency-Key",
                "must be 1-255 printable ASCII characters",
            ));
        }
        Ok(Some(Self(hex::encode(Sha256::digest(bytes)))))
    }
}

/// Writes a JSON value with object keys sorted, so equal bodies print equal.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
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

/// The fingerprint of a request: method, path and parsed body.
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    let mut text = format!("{method} {path}\n");
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Turns a stored response into an HTTP one.
pub fn respond(stored: &StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut r = json_response(status, stored.body.clone());
    if let Some(location) = &stored.location {
        r = with_header(r, header::LOCATION, location);
    }
    if let Some(etag) = &stored.etag {
        r = with_header(r, header::ETAG, etag);
    }
    if replayed {
        r = with_header(r, IDEMPOTENT_REPLAYED, "true");
    }
    r
}

/// Runs `run` at most once per key and fingerprint, passing it the id to create (reserved
/// by the first attempt, so a takeover after a crash creates the same resource).
///
/// # Errors
/// 422 `idempotency_key_reused`, 409 `idempotency_request_in_progress`, or `run`'s error.
pub async fn once<F, Fut>(
    app: &App,
    tenant: &TenantId,
    key: Option<IdempotencyKey>,
    fingerprint: String,
    new_id: String,
    run: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<StoredResponse, ApiError>>,
{
    let Some(IdempotencyKey(key_hash)) = key else {
        return run(new_id).await.map(|r| respond(&r, false));
    };
    let claim = app
        .store
        .claim_idempotency(tenant, &key_hash, &fingerprint, &new_id, Timestamp::now())
        .await?;
    let resource_id = match claim {
        Claim::Acquired { resource_id } => resource_id,
        Claim::Replay(stored) => return Ok(respond(&stored, true)),
        Claim::InProgress => return Err(ApiError::IdempotencyInProgress),
        Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
    };
    match run(resource_id).await {
        Ok(stored) => {
            if let Err(e) = app
                .store
                .complete_idempotency(tenant, &key_hash, &stored, Timestamp::now())
                .await
            {
                // The work is done; the claim's lease will lapse and a retry re-finds it.
                tracing::warn!(error = %e, "could not record idempotent response");
            }
            Ok(respond(&stored, false))
        }
        Err(err) => {
            if let Err(e) = app.store.release_idempotency(tenant, &key_hash).await {
                tracing::warn!(error = %e, "could not release idempotency key; its lease will lapse");
            }
            Err(err)
        }
    }
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
}
