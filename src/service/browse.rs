//! `POST /connectors/{id}/browse`: lists files under a prefix that match a glob, page by
//! page from the provider, stopping at the caller's limit or at this call's time and byte
//! budget, and handing back a cursor that resumes exactly after the last file returned.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::App;
use super::error::ServiceError;
use super::limits::{Limited, Quota};
use crate::domain::connector::Connector;
use crate::domain::glob::GlobPattern;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::paths::BrowsePrefix;
use crate::domain::scopes::Scope;
use crate::domain::timestamp::Timestamp;
use crate::providers::{ListRequest, ObjectEntry};

/// Stop asking the provider for more pages after this long (a page may still be running).
const TIME_BUDGET: Duration = Duration::from_secs(10);
/// The most response bytes one call builds (a Lambda response is at most 6 MB).
pub const BYTE_BUDGET: usize = 5 * 1024 * 1024;
/// Objects asked of the provider per page.
const PAGE_SIZE: u32 = 1000;

/// A validated browse request.
#[derive(Debug, Clone)]
pub struct BrowseRequest {
    pub prefix: BrowsePrefix,
    pub pattern: GlobPattern,
    pub recursive: bool,
    pub case_insensitive: bool,
    pub limit: usize,
    pub cursor: Option<String>,
    /// Only files modified strictly later (for `new_only` imports). No provider's listing
    /// filters by time, so the service does, on the pages it reads.
    pub modified_after: Option<Timestamp>,
}

/// One file on the wire.
/// `last_modified` is never null: the epoch, `1970-01-01T00:00:00Z`,
/// stands for a provider that reports no modification time.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(examples(json!({
    "path": "incoming/2026/04/a.mp4", "name": "a.mp4", "size_bytes": 1048576,
    "last_modified": "2026-04-02T09:00:00Z", "content_type": "video/mp4", "extension": "mp4"
})))]
pub struct FileEntry {
    pub path: String,
    pub name: String,
    pub size_bytes: u64,
    // Never null (the published SDK requires a string): the epoch, `1970-01-01T00:00:00Z`,
    // when the provider reports no modification time. (A plain comment: a doc comment
    // would sit beside the schema's `$ref`, which OpenAPI tools read differently.)
    pub last_modified: Timestamp,
    #[schema(required = true)]
    pub content_type: Option<String>,
    pub extension: String,
}

impl FileEntry {
    fn from_object(o: ObjectEntry) -> Self {
        let name = o.key.rsplit('/').next().unwrap_or(&o.key).to_owned();
        let extension = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => ext.to_lowercase(),
            _ => String::new(),
        };
        let content_type = o.content_type.or_else(|| {
            (!extension.is_empty())
                .then(|| {
                    mime_guess::from_ext(&extension)
                        .first()
                        .map(|m| m.to_string())
                })
                .flatten()
        });
        Self {
            path: o.key,
            name,
            size_bytes: o.size,
            last_modified: o.last_modified.unwrap_or(Timestamp::from_unix(0)),
            content_type,
            extension,
        }
    }
}

/// Where a browse resumes: the provider page to re-read and the last key already returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    token: Option<String>,
    after: Option<String>,
}

/// The files of one call, already serialised as a JSON array, and the next cursor.
pub struct BrowseOutcome {
    pub body: Vec<u8>,
    pub next_cursor: Option<String>,
    /// Where the account stands against the browse limit.
    pub quota: Option<Quota>,
}

/// Builds the JSON array incrementally, so the byte budget is exact.
struct ArrayWriter {
    body: Vec<u8>,
    count: usize,
}

impl ArrayWriter {
    fn new() -> Self {
        Self {
            body: b"[".to_vec(),
            count: 0,
        }
    }

    /// Appends the entry unless that would pass the byte budget.
    fn try_push(&mut self, entry: &FileEntry) -> bool {
        let Ok(json) = serde_json::to_vec(entry) else {
            return false;
        };
        if self.body.len() + json.len() + 2 > BYTE_BUDGET {
            return false;
        }
        if self.count > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(&json);
        self.count += 1;
        true
    }

    fn finish(mut self, next_cursor: Option<String>, quota: Option<Quota>) -> BrowseOutcome {
        self.body.push(b']');
        BrowseOutcome {
            body: self.body,
            next_cursor,
            quota,
        }
    }
}

fn binding(tenant: &TenantId, c: &Connector, r: &BrowseRequest) -> String {
    format!(
        "browse|{tenant}|{}|{}|{}|{}|{}|{}",
        c.id,
        r.prefix.as_str(),
        r.pattern.as_str(),
        r.recursive,
        r.case_insensitive,
        r.modified_after
            .map_or(String::new(), |t| t.unix().to_string())
    )
}

impl App {
    /// Browses a connector's files.
    ///
    /// # Errors
    /// `RateLimited`, `ConnectorNotFound`, `ConnectorDisabled`, `ScopeNotGranted` without
    /// the import scope,
    /// `InvalidCursor`, `ProviderRefused` or `ProviderUnavailable`.
    #[tracing::instrument(skip_all, fields(connector_id = %id))]
    pub async fn browse(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        request: BrowseRequest,
    ) -> Result<BrowseOutcome, ServiceError> {
        // The account's count and the record are read together; a call past the limit is
        // refused first, whatever the record says.
        let (quota, connector) = tokio::join!(
            self.admit(tenant, Limited::Browse),
            self.get_connector(tenant, id)
        );
        let quota = quota?;
        let connector = connector?;
        super::connectors::usable(&connector)?;
        if !connector.scopes.contains(Scope::Import) {
            return Err(ServiceError::ScopeNotGranted(format!(
                "connector {id} does not have the import scope; add it with PATCH to browse"
            )));
        }
        let binding = binding(tenant, &connector, &request);
        let mut position: Position = match &request.cursor {
            Some(c) => self.cursors().await?.open(&binding, c)?,
            None => Position::default(),
        };
        let store = self.object_store(&connector).await?;
        let prefix = request.prefix.as_str();
        let delimiter = (!request.recursive).then_some("/");
        let started = Instant::now();
        let mut out = ArrayWriter::new();
        let mut last_key: Option<String> = None;
        loop {
            let page = store
                .list_page(ListRequest {
                    prefix,
                    delimiter,
                    page_token: position.token.as_deref(),
                    max_results: PAGE_SIZE,
                    glob: Some(&request.pattern),
                })
                .await
                .map_err(ServiceError::provider)?;
            for object in page.objects {
                if position
                    .after
                    .as_ref()
                    .is_some_and(|a| object.key.as_str() <= a.as_str())
                {
                    continue;
                }
                if object.key.ends_with('/') {
                    continue;
                }
                if let Some(after) = request.modified_after
                    && object.last_modified.is_none_or(|m| m <= after)
                {
                    continue;
                }
                let relative = object.key.strip_prefix(prefix).unwrap_or(&object.key);
                if !request.pattern.matches(relative) {
                    continue;
                }
                let entry = FileEntry::from_object(object);
                if out.count == request.limit || !out.try_push(&entry) {
                    // More matches remain: resume on this page, after the last file sent.
                    position.after = last_key;
                    return Ok(out.finish(
                        Some(self.cursors().await?.seal(&binding, &position)?),
                        quota,
                    ));
                }
                last_key = Some(entry.path);
            }
            let Some(token) = page.next_token else {
                return Ok(out.finish(None, quota));
            };
            position = Position {
                token: Some(token),
                after: None,
            };
            if out.count == request.limit || started.elapsed() >= TIME_BUDGET {
                return Ok(out.finish(
                    Some(self.cursors().await?.seal(&binding, &position)?),
                    quota,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, content_type: Option<&str>) -> FileEntry {
        FileEntry::from_object(ObjectEntry {
            key: key.into(),
            size: 1,
            last_modified: None,
            content_type: content_type.map(str::to_owned),
        })
    }

    #[test]
    fn file_entries_take_their_name_extension_and_a_guessed_content_type() {
        let e = entry("incoming/2026/04/Clip.MP4", None);
        assert_eq!(e.name, "Clip.MP4");
        assert_eq!(e.extension, "mp4");
        assert_eq!(e.content_type.as_deref(), Some("video/mp4"));
    }

    #[test]
    fn a_file_without_a_modification_time_shows_the_epoch_never_null() {
        let json = serde_json::to_value(entry("a.mp4", None)).expect("serializes");
        assert_eq!(json["last_modified"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_providers_content_type_wins_and_unknown_extensions_have_none() {
        assert_eq!(
            entry("a.mp4", Some("application/x-custom"))
                .content_type
                .as_deref(),
            Some("application/x-custom")
        );
        let e = entry("notes/README", None);
        assert_eq!((e.extension.as_str(), e.content_type), ("", None));
        assert_eq!(entry("dir/.hidden", None).extension, "");
        assert_eq!(entry("x.zzzunknown", None).content_type, None);
    }
}
