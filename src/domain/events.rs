//! A connector's history: one event per change of its record, test of its access and grant
//! of short-lived access, naming who did it and what changed (field names and credential
//! hints, never a value).

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use ulid::{Generator, Ulid};

use super::connector::Connector;
use super::ids::{ConnectorId, TenantId};
pub use super::scopes::EventType;
use super::scopes::{Status, TestResult};
use super::timestamp::Timestamp;

/// Who caused an event: the key's id (never the key) and the request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub key_id: String,
    pub request_id: String,
}

/// One event of a connector's history, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorEvent {
    /// `evt_` and a ULID: events sort by it, oldest first.
    pub event_id: String,
    pub tenant: TenantId,
    pub connector_id: ConnectorId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: Timestamp,
    pub key_id: String,
    pub request_id: String,
    /// The names of what changed (wire names), never values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// A test's result (a test, or the checks of a rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TestResult>,
    /// The codes of the checks that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hint_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hint_after: Option<String>,
    /// When the store may forget it (the history's retention after `at`).
    pub expires_at: Timestamp,
}

/// Mints event ids that increase within the process, even within one millisecond.
static EVENT_IDS: Mutex<Option<Generator>> = Mutex::new(None);

fn fresh_event_id() -> String {
    let ulid = {
        let mut generator = EVENT_IDS.lock().unwrap_or_else(PoisonError::into_inner);
        generator
            .get_or_insert_with(Generator::new)
            .generate()
            .unwrap_or_else(|_| Ulid::new())
    };
    format!("evt_{}", ulid.to_string().to_ascii_lowercase())
}

/// Makes the events of one request: by `actor`, kept for `retention_seconds`.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub actor: Actor,
    pub retention_seconds: i64,
}

impl Recorder {
    /// An event of `kind` on `connector` at `at`, with nothing else said yet.
    pub fn event(&self, kind: EventType, connector: &Connector, at: Timestamp) -> ConnectorEvent {
        ConnectorEvent {
            event_id: fresh_event_id(),
            tenant: connector.tenant.clone(),
            connector_id: connector.id.clone(),
            kind,
            at,
            key_id: self.actor.key_id.clone(),
            request_id: self.actor.request_id.clone(),
            fields: Vec::new(),
            result: None,
            failed_checks: Vec::new(),
            credential_hint_before: None,
            credential_hint_after: None,
            expires_at: at.plus_seconds(self.retention_seconds),
        }
    }

    /// The event of a change from `before` to `after`, whose credentials changed if
    /// `credential_fields` (the credential fields sent) is not empty, after checks with
    /// `checked` as their result (`None`: unchecked): `disabled` or `enabled` when the
    /// status turned, else `credentials_changed` when credentials changed, else `updated`.
    /// `fields` names every setting that changed and the credential fields sent.
    pub fn change(
        &self,
        before: &Connector,
        after: &Connector,
        credential_fields: &[&str],
        checked: Option<TestResult>,
    ) -> ConnectorEvent {
        let turned = before.status != after.status;
        let kind = match after.status {
            Status::Disabled if turned => EventType::Disabled,
            _ if turned && before.status == Status::Disabled => EventType::Enabled,
            _ if !credential_fields.is_empty() => EventType::CredentialsChanged,
            _ => EventType::Updated,
        };
        let mut event = self.event(kind, after, after.updated_at);
        event.fields = changed_settings(before, after)
            .into_iter()
            .chain(credential_fields.iter().copied())
            .map(str::to_owned)
            .collect();
        if !credential_fields.is_empty() {
            event.credential_hint_before = Some(before.credential_hint.clone());
            event.credential_hint_after = Some(after.credential_hint.clone());
            event.result = checked;
        }
        event
    }
}

/// The wire names of the settings that differ between two versions of a record.
fn changed_settings(before: &Connector, after: &Connector) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if before.name != after.name {
        fields.push("name");
    }
    if before.scopes != after.scopes {
        fields.push("scopes");
    }
    if before.import_mode != after.import_mode {
        fields.push("import_mode");
    }
    if before.export_base_path != after.export_base_path {
        fields.push("export_base_path");
    }
    if before.location != after.location {
        fields.push("region");
    }
    if before.status != after.status {
        fields.push("status");
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_minted_in_one_millisecond_still_sort_in_order() {
        let ids: Vec<String> = (0..1000).map(|_| fresh_event_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(
            ids[0].starts_with("evt_") && ids[0].len() == 30,
            "{}",
            ids[0]
        );
    }
}
