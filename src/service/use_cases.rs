//! The use cases that take an `Idempotency-Key` — create a connector, test one — each one
//! method owning its steps in order: run once (a replay, or a wait for the first request,
//! ends here), count against the account's limit, vet, act. A retry that replays spends no
//! quota: the published clients retry a timed-out create with the same key, and that
//! recovery must not be refused for the attempt it recovers.
//!
//! Each answers the operation's value, fresh or kept whole for a replay; the transport
//! renders it.

use super::App;
use super::access_check::TestReport;
use super::connectors::NewConnector;
use super::error::ServiceError;
use super::idempotency::{Answer, IdempotencyKey, Once};
use super::limits::{Limited, Quota};
use crate::domain::connector::Connector;
use crate::domain::events::Actor;
use crate::domain::ids::{ConnectorId, TenantId};

/// A request to run at most once per key.
pub struct Keyed<'a> {
    pub key: Option<IdempotencyKey>,
    /// What identifies the request (method, path and parsed body).
    pub fingerprint: &'a str,
}

/// What a use case run once answered, and where the account stands against the limit
/// it counted (`None` for a replay, which counts nothing, or where no limit is set).
pub struct Answered<T> {
    pub once: Once<T>,
    pub quota: Option<Quota>,
}

/// A dry run's report, and the limit it counted against.
pub struct DryRun {
    pub report: TestReport,
    pub quota: Option<Quota>,
}

impl App {
    /// Creates a connector at most once per key: admitted against the create limit and
    /// its location vetted only when this request is the first to run.
    ///
    /// # Errors
    /// `IdempotencyKeyReused`, `IdempotencyInProgress`, `RateLimited`, `Validation` for a
    /// location the service may not call, or the create's own errors.
    pub async fn create_once(
        &self,
        tenant: &TenantId,
        new: NewConnector,
        keyed: Keyed<'_>,
        actor: &Actor,
    ) -> Result<Answered<Connector>, ServiceError> {
        let (once, quota) = self
            .run_once(
                tenant,
                keyed.key,
                keyed.fingerprint,
                ConnectorId::generate(),
                Limited::Create,
                |id| async move {
                    self.vet_location(&new.location).await?;
                    self.create_connector(tenant, id, new, actor).await
                },
            )
            .await?;
        Ok(Answered { once, quota })
    }

    /// Tests a draft's access and stores nothing (`?dry_run=true`): counted against the
    /// create limit, its location vetted first.
    ///
    /// # Errors
    /// `RateLimited`, `Validation` for a location the service may not call.
    pub async fn dry_run_create(
        &self,
        tenant: &TenantId,
        new: &NewConnector,
    ) -> Result<DryRun, ServiceError> {
        let quota = self.admit(tenant, Limited::Create).await?;
        self.vet_location(&new.location).await?;
        let report = self.dry_run(tenant, new).await?;
        Ok(DryRun { report, quota })
    }

    /// Tests a connector at most once per key, admitted against the test limit only when
    /// this request is the first to run.
    ///
    /// # Errors
    /// `IdempotencyKeyReused`, `IdempotencyInProgress`, `RateLimited`, or the test's own
    /// errors.
    pub async fn test_once(
        &self,
        tenant: &TenantId,
        id: ConnectorId,
        keyed: Keyed<'_>,
        actor: &Actor,
    ) -> Result<Answered<TestReport>, ServiceError> {
        let Some(key) = keyed.key else {
            // Nothing to claim: the count and the record are read together.
            let (quota, connector) = tokio::join!(
                self.admit(tenant, Limited::Test),
                self.get_connector(tenant, &id)
            );
            let quota = quota?;
            let once = Once {
                answer: Answer::Value(self.test_record(connector?, actor).await?),
                replayed: false,
            };
            return Ok(Answered { once, quota });
        };
        let (once, quota) = self
            .run_once(
                tenant,
                Some(key),
                keyed.fingerprint,
                id,
                Limited::Test,
                |id| async move { self.test_connector(tenant, &id, actor).await },
            )
            .await?;
        Ok(Answered { once, quota })
    }
}
