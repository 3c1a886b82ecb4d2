//! Per-account limits on the expensive operations (tests, browses, creates and dry runs,
//! access grants), counted in fixed one-minute windows shared by every instance through
//! the storage port.

use super::App;
use super::error::ServiceError;
use crate::domain::ids::TenantId;
use crate::domain::timestamp::Timestamp;

/// The length of a counting window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;

/// An operation whose calls an account may make only so often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `POST /connectors/{id}/test`.
    Test,
    /// `POST /connectors/{id}/browse`.
    Browse,
    /// `POST /connectors/{provider}`, dry runs included.
    Create,
    /// `POST /connectors/{id}/access`.
    Access,
}

impl Limited {
    /// The policy's name on the wire (`RateLimit-Policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Limited::Test => "test",
            Limited::Browse => "browse",
            Limited::Create => "create",
            Limited::Access => "access",
        }
    }
}

/// Calls allowed per account and window, per operation; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub tests: u32,
    pub browses: u32,
    pub creates: u32,
    pub accesses: u32,
}

impl Default for RateLimits {
    /// 30 tests, 120 browse calls, 60 creates (dry runs included) and 600 access grants a
    /// minute per account (a grant may sign up to 1000 URLs; a worker asks once per batch).
    fn default() -> Self {
        Self {
            tests: 30,
            browses: 120,
            creates: 60,
            accesses: 600,
        }
    }
}

impl RateLimits {
    fn of(&self, what: Limited) -> u32 {
        match what {
            Limited::Test => self.tests,
            Limited::Browse => self.browses,
            Limited::Create => self.creates,
            Limited::Access => self.accesses,
        }
    }
}

/// Where an account stands against one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub policy: Limited,
    /// Calls allowed in a window.
    pub limit: u32,
    /// Calls left in this window.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_seconds: u32,
}

/// One call counted against a limit: where the account stands after it, and what a give
/// back needs.
#[derive(Debug, Clone)]
pub struct Hit {
    counter: String,
    window_end: Timestamp,
    count: u64,
    quota: Quota,
}

impl Hit {
    /// The account's standing, or `RateLimited` when this call is past the limit.
    ///
    /// # Errors
    /// `RateLimited` past the limit.
    pub fn verdict(&self) -> Result<Quota, ServiceError> {
        if self.count > u64::from(self.quota.limit) {
            crate::telemetry::metrics::rate_limited(self.quota.policy.as_str());
            return Err(ServiceError::RateLimited(self.quota));
        }
        Ok(self.quota)
    }
}

impl App {
    /// Counts one call of `what` for `tenant`, and answers where the account stands.
    ///
    /// # Errors
    /// `RateLimited` past the limit (the call is not to be made), `Dependency` when the
    /// counter cannot be written.
    pub async fn admit(
        &self,
        tenant: &TenantId,
        what: Limited,
    ) -> Result<Option<Quota>, ServiceError> {
        self.hit(tenant, what)
            .await?
            .map(|hit| hit.verdict())
            .transpose()
    }

    /// Counts one call of `what` for `tenant` without judging it yet; `None` when the
    /// operation has no limit.
    ///
    /// # Errors
    /// `Dependency` when the counter cannot be written.
    pub(crate) async fn hit(
        &self,
        tenant: &TenantId,
        what: Limited,
    ) -> Result<Option<Hit>, ServiceError> {
        let limit = self.limits.of(what);
        if limit == 0 {
            return Ok(None);
        }
        let now = Timestamp::now().unix();
        let window_end =
            Timestamp::from_unix(now - now.rem_euclid(WINDOW_SECONDS) + WINDOW_SECONDS);
        let counter = format!("{tenant}|{}", what.as_str());
        let count = self.storage.rate_counters.hit(&counter, window_end).await?;
        let quota = Quota {
            policy: what,
            limit,
            remaining: u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(0),
            reset_seconds: u32::try_from(window_end.unix() - now).unwrap_or(1).max(1),
        };
        Ok(Some(Hit {
            counter,
            window_end,
            count,
            quota,
        }))
    }

    /// Takes back a call counted before it was known to cost nothing (a replay). A failure
    /// is logged: the account is charged one call it did not make, until the window ends.
    pub(crate) async fn give_back(&self, hit: &Hit) {
        if let Err(e) = self
            .storage
            .rate_counters
            .give_back(&hit.counter, hit.window_end)
            .await
        {
            tracing::warn!(error = %e, "could not give back a counted call");
        }
    }
}
