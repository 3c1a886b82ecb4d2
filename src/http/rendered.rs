//! Connectors' JSON and ETag kept beside the shared record they were rendered from, so that
//! a record read again unchanged is not rendered again.
//!
//! It relies on what the storage port for connector records promises (`ConnectorRecords`
//! in the store module): records are immutable and
//! shared, so the same allocation means the same content. An entry serves only the very
//! record it was made from (`Arc::ptr_eq`), and holding that record keeps its address from
//! being reused. The embedded store hands out the same `Arc` until a write replaces it; a
//! record no one else holds (a DynamoDB read, made afresh for each request) can never be
//! read again, so it is rendered and not kept.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::http::HeaderValue;
use bytes::Bytes;
use ulid::Ulid;

use super::error::ApiError;
use super::wire::connector_json;
use crate::domain::connector::Connector;

/// Entries kept before the cache starts over: about 10 MB of records and their JSON.
const CAPACITY: usize = 10_000;

/// A connector as a response shows it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The connector object as JSON text.
    pub json: Bytes,
    /// Its `ETag` header.
    pub etag: HeaderValue,
}

struct Entry {
    record: Arc<Connector>,
    rendered: Rendered,
}

/// By the ULID of the connector's id, the last record rendered for it. One per router, held
/// in its state.
#[derive(Default)]
pub struct RenderCache {
    entries: RwLock<HashMap<Ulid, Entry>>,
}

impl RenderCache {
    /// `c` as JSON with its ETag, rendered once for as long as the store shares this record.
    ///
    /// # Errors
    /// As [`connector_json`].
    pub fn connector(&self, c: &Arc<Connector>) -> Result<Rendered, ApiError> {
        if let Some(rendered) = self.cached(c) {
            return Ok(rendered);
        }
        let rendered = Rendered {
            json: Bytes::from(connector_json(c)?),
            etag: HeaderValue::from_str(&c.etag()).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("an ETag that is no header: {e}"))
            })?,
        };
        if Arc::strong_count(c) > 1 {
            let mut cache = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= CAPACITY && !cache.contains_key(&c.id.ulid()) {
                cache.clear();
            }
            cache.insert(
                c.id.ulid(),
                Entry {
                    record: Arc::clone(c),
                    rendered: rendered.clone(),
                },
            );
        }
        Ok(rendered)
    }

    fn cached(&self, c: &Arc<Connector>) -> Option<Rendered> {
        let cache = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(&c.id.ulid())
            .filter(|e| Arc::ptr_eq(&e.record, c))
            .map(|e| e.rendered.clone())
    }

    /// `items` as one JSON array.
    ///
    /// # Errors
    /// As [`connector_json`].
    pub fn list(&self, items: &[Arc<Connector>]) -> Result<Vec<u8>, ApiError> {
        let mut parts = Vec::with_capacity(items.len());
        for c in items {
            parts.push(self.connector(c)?.json);
        }
        let size = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 2;
        let mut out = Vec::with_capacity(size);
        out.push(b'[');
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(part);
        }
        out.push(b']');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::connector::{Access, Location, SecretRef};
    use crate::domain::ids::{ConnectorId, TenantId};
    use crate::domain::names::ConnectorName;
    use crate::domain::scopes::{ImportMode, Scopes, Status};
    use crate::domain::timestamp::Timestamp;
    use crate::providers::s3::location::S3Location;
    use crate::providers::s3::names::{AwsRegion, S3BucketName};

    fn record(name: &str) -> Connector {
        let id = ConnectorId::generate();
        let at = Timestamp::from_unix(1_790_000_000);
        Connector {
            access: Access::Secret(SecretRef {
                name: format!("p/acme/{id}"),
                version: "v1".into(),
            }),
            id,
            tenant: TenantId::parse("acme").expect("a tenant"),
            name: ConnectorName::parse(name).expect("a name"),
            location: Location::S3(S3Location {
                bucket: S3BucketName::parse("media-archive").expect("a bucket"),
                region: AwsRegion::parse("eu-west-1").expect("a region"),
                endpoint_url: None,
                force_path_style: false,
            }),
            status: Status::Active,
            scopes: Scopes::IMPORT_ONLY,
            import_mode: ImportMode::All,
            export_base_path: None,
            created_at: at,
            updated_at: at,
            credentials_updated_at: Some(at),
            last_tested_at: None,
            last_test_result: None,
            last_test_error: None,
            credential_hint: "AKIA…WXYZ".into(),
            version: 1,
        }
    }

    fn parsed(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("JSON")
    }

    #[test]
    fn a_shared_record_read_again_is_answered_with_the_same_rendering() {
        let cache = RenderCache::default();
        let stored = Arc::new(record("Archive"));
        let read = Arc::clone(&stored);
        let first = cache.connector(&read).expect("renders");
        let again = cache.connector(&Arc::clone(&stored)).expect("renders");
        assert_eq!(first.json.as_ptr(), again.json.as_ptr(), "rendered once");
        assert_eq!(
            parsed(&again.json),
            parsed(connector_json(&stored).expect("renders").as_bytes())
        );
        assert_eq!(again.etag, stored.etag());
    }

    #[test]
    fn a_replaced_record_is_rendered_afresh() {
        let cache = RenderCache::default();
        let old = Arc::new(record("Before"));
        let _held = Arc::clone(&old);
        assert_eq!(
            parsed(&cache.connector(&old).expect("renders").json)["name"],
            "Before"
        );
        let mut changed = Connector::clone(&old);
        changed.name = ConnectorName::parse("After").expect("a name");
        changed.version += 1;
        let new = Arc::new(changed);
        let _held_new = Arc::clone(&new);
        let rendered = cache.connector(&new).expect("renders");
        let json = parsed(&rendered.json);
        assert_eq!(
            (json["name"].clone(), json["connector_id"].clone()),
            (json!("After"), json!(old.id.as_str()))
        );
        assert_eq!(rendered.etag, new.etag());
    }

    #[test]
    fn a_record_no_one_else_holds_is_rendered_but_not_kept() {
        let cache = RenderCache::default();
        let alone = Arc::new(record("Alone"));
        let first = cache.connector(&alone).expect("renders");
        let again = cache.connector(&alone).expect("renders");
        assert_ne!(
            first.json.as_ptr(),
            again.json.as_ptr(),
            "rendered each time"
        );
        assert!(cache.cached(&alone).is_none());
    }

    #[test]
    fn a_list_is_the_array_of_its_connectors_in_order() {
        let cache = RenderCache::default();
        let items: Vec<Arc<Connector>> = ["One", "Two", "Three"]
            .map(|n| Arc::new(record(n)))
            .into_iter()
            .collect();
        let kept: Vec<Arc<Connector>> = items.iter().map(Arc::clone).collect();
        let expected: Vec<Value> = items
            .iter()
            .map(|c| parsed(connector_json(c).expect("renders").as_bytes()))
            .collect();
        assert_eq!(
            parsed(&cache.list(&items).expect("renders")),
            Value::Array(expected.clone())
        );
        assert_eq!(
            parsed(&cache.list(&kept).expect("renders")),
            Value::Array(expected)
        );
        assert_eq!(parsed(&cache.list(&[]).expect("renders")), json!([]));
    }
}
