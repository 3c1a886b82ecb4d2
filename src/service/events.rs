//! A connector's history: the events its changes, tests and access grants leave, read
//! newest first a page at a time, and the recorder that makes them for one request.

use serde::{Deserialize, Serialize};

use super::App;
use super::api_keys::Caller;
use super::error::ServiceError;
use crate::domain::apikey::KeyScope;
use crate::domain::events::{Actor, ConnectorEvent, Recorder};
use crate::domain::ids::ConnectorId;
use crate::domain::timestamp::Timestamp;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

#[derive(Serialize, Deserialize)]
struct EventCursor {
    after: String,
}

/// One page of a connector's history and the cursor of the next, if any.
pub struct EventsOutcome {
    pub items: Vec<ConnectorEvent>,
    pub next_cursor: Option<String>,
}

impl App {
    /// Makes the events of a request by `actor`, kept as long as the history keeps them.
    pub(crate) fn recorder(&self, actor: &Actor) -> Recorder {
        Recorder {
            actor: actor.clone(),
            retention_seconds: i64::from(self.event_retention_days) * SECONDS_PER_DAY,
        }
    }

    /// Stores an event that changes no record (a test whose record moved on, rejected
    /// credentials, an access grant).
    ///
    /// # Errors
    /// `Dependency` when the store fails: the caller answers it rather than act unrecorded.
    pub(crate) async fn append_event(&self, event: &ConnectorEvent) -> Result<(), ServiceError> {
        Ok(self.storage.events.append_event(event).await?)
    }

    /// A page of connector `id`'s history, newest first. A deleted connector's history is
    /// read by an `admin` key only, for as long as it is kept; another account's
    /// connector is an unknown one.
    ///
    /// # Errors
    /// `ConnectorNotFound`, `InvalidCursor`, or `Dependency` when the store fails.
    pub async fn connector_events(
        &self,
        caller: &Caller,
        id: &ConnectorId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EventsOutcome, ServiceError> {
        let tenant = caller.tenant();
        let binding = format!("events|{tenant}|{id}");
        let after = match cursor {
            Some(c) => Some(
                self.cursors()
                    .await?
                    .open::<EventCursor>(&binding, c)?
                    .after,
            ),
            None => None,
        };
        let (record, page) = tokio::join!(
            self.storage.connectors.get_connector(tenant, id),
            self.storage
                .events
                .list_events(tenant, id, after.as_deref(), limit, Timestamp::now())
        );
        let (exists, page) = (record?.is_some(), page?);
        let gone_for_caller = !exists
            && (!caller.grants(KeyScope::Admin) || (page.items.is_empty() && after.is_none()));
        if gone_for_caller {
            return Err(ServiceError::ConnectorNotFound(id.clone()));
        }
        let next_cursor = match &page.resume_after {
            Some(after) => Some(self.cursors().await?.seal(
                &binding,
                &EventCursor {
                    after: after.clone(),
                },
            )?),
            None => None,
        };
        Ok(EventsOutcome {
            items: page.items,
            next_cursor,
        })
    }
}
