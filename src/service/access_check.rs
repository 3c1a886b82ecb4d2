//! `POST /connectors/{id}/test`: checks the stored credentials against the provider
//! (authenticate; list with the import scope; write and delete a probe with the export
//! scope), records the outcome on the connector, and reports every check with its timing.
//! The same checks validate a connector before it is saved (`?dry_run=true` on create),
//! and new credentials before a PATCH saves them. A disabled connector is not tested.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::App;
use super::clients::{Steps, open_error};
use super::connectors::{NewAccess, NewConnector, WayIn, unsaved};
use super::error::ServiceError;
use crate::domain::connector::{Access, Connector};
use crate::domain::credentials::Credentials;
use crate::domain::events::{Actor, EventType};
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::scopes::{Scope, Status, TestResult};
use crate::domain::timestamp::Timestamp;
use crate::providers::roles::session_name;
use crate::providers::{
    Granted, ListRequest, ObjectStore, OpenError, ProviderError, ProviderErrorKind,
};

/// The most one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(8);
/// The most the whole test may take (API Gateway stops waiting at 29 s).
const TEST_BUDGET: Duration = Duration::from_secs(20);

/// Why a check failed: a stable code and a message telling a person what to fix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CheckError {
    /// `invalid_credentials`, `access_denied`, `bucket_not_found`, `wrong_region`,
    /// `timeout`, `provider_unavailable`, `endpoint_not_allowed`, for IAM role
    /// connectors `assume_role_denied` and `external_id_not_enforced`, for keyless GCS
    /// connectors `federation_denied` and `impersonation_denied`, and for keyless Azure
    /// connectors `assertion_denied`, `consent_missing`, `token_denied`, `role_missing`,
    /// `binding_missing` and `binding_mismatch`.
    pub code: Cow<'static, str>,
    pub message: String,
}

/// One step of a test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Check {
    /// `authenticate`, `list`, `write` or `delete`; an IAM role connector's test starts
    /// with `assume_role` and `external_id_enforced`, a keyless GCS connector's with
    /// `federation` (the service's AWS identity at Google's STS) and `impersonation`
    /// (the account's service account), a keyless Azure connector's with `assertion`
    /// (the service's AWS identity as a signed assertion), `token` (the operator's app in
    /// the tenant) and `binding` (the container bound to this account).
    #[schema(value_type = String)]
    pub name: Cow<'static, str>,
    pub ok: bool,
    pub duration_ms: u64,
    #[schema(required = true)]
    pub error: Option<CheckError>,
}

/// The answer of a test: `success` and `error_message` are what every client reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(examples(json!({
    "success": false,
    "error_message": "access denied: the credentials may not list bucket media-archive",
    "checks": [
        {"name": "authenticate", "ok": true, "duration_ms": 41, "error": null},
        {"name": "list", "ok": false, "duration_ms": 63, "error": {
            "code": "access_denied",
            "message": "access denied: the credentials may not list bucket media-archive"}}
    ],
    "duration_ms": 110
})))]
pub struct TestReport {
    pub success: bool,
    #[schema(required = true)]
    pub error_message: Option<String>,
    pub checks: Vec<Check>,
    pub duration_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The role chain's steps as checks of the report, each timed and bounded.
struct Reported<'a> {
    checks: &'a mut Vec<Check>,
    deadline: Instant,
}

impl Steps for Reported<'_> {
    async fn step<T, F>(&mut self, name: &'static str, f: F) -> Option<T>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let (check, value) = check_for(name, self.deadline, f).await;
        self.checks.push(check);
        value
    }
}

/// Runs one check under its own timeout and the overall deadline.
async fn check<F>(name: &'static str, deadline: Instant, f: F) -> Check
where
    F: Future<Output = Result<(), ProviderError>>,
{
    check_for(name, deadline, f).await.0
}

/// Runs one check that produces a value, and keeps the value when it passes.
async fn check_for<T, F>(name: &'static str, deadline: Instant, f: F) -> (Check, Option<T>)
where
    F: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    let budget = CHECK_TIMEOUT.min(deadline.saturating_duration_since(started));
    let outcome = match tokio::time::timeout(budget, f).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::new(
            ProviderErrorKind::Timeout,
            format!(
                "the {name} check did not finish within {} s",
                budget.as_secs()
            ),
        )),
    };
    let duration_ms = millis(started.elapsed());
    match outcome {
        Ok(value) => {
            crate::telemetry::metrics::provider_check(name, "ok");
            let passed = Check {
                name: Cow::Borrowed(name),
                ok: true,
                duration_ms,
                error: None,
            };
            (passed, Some(value))
        }
        Err(e) => (failed(name, duration_ms, e), None),
    }
}

/// A failed check, counted in the metrics by its name and code.
fn failed(name: &'static str, duration_ms: u64, e: ProviderError) -> Check {
    let code = e.kind.code();
    crate::telemetry::metrics::provider_check(name, code);
    Check {
        name: Cow::Borrowed(name),
        ok: false,
        duration_ms,
        error: Some(CheckError {
            code: Cow::Borrowed(code),
            message: e.message,
        }),
    }
}

/// The probe's key: under the export boundary, unique per test.
fn probe_key(c: &Connector) -> String {
    let base = c.export_base_path.as_ref().map_or("", |p| p.as_str());
    crate::domain::ids::fresh_ulid(&format!("{base}.videovector-probe-"))
}

async fn run_checks(store: &dyn ObjectStore, c: &Connector, deadline: Instant) -> Vec<Check> {
    let auth = check("authenticate", deadline, store.authenticate()).await;
    let authenticated = auth.ok;
    let mut checks = vec![auth];
    if !authenticated {
        return checks;
    }
    // Listing and the probe's write and delete are independent: they run together, and
    // are reported in their fixed order.
    let list = async {
        if !c.scopes.contains(Scope::Import) {
            return None;
        }
        let request = ListRequest {
            prefix: "",
            delimiter: Some("/"),
            page_token: None,
            max_results: 1,
            glob: None,
        };
        Some(
            check("list", deadline, async {
                store.list_page(request).await.map(|_| ())
            })
            .await,
        )
    };
    let probe = async {
        if !c.scopes.contains(Scope::Export) {
            return Vec::new();
        }
        let key = probe_key(c);
        let body = Bytes::from_static(b"VideoVector connector write probe; safe to delete.\n");
        let write = check("write", deadline, store.put_object(&key, body)).await;
        if !write.ok {
            return vec![write];
        }
        vec![
            write,
            check("delete", deadline, store.delete_object(&key)).await,
        ]
    };
    let (listed, probed) = tokio::join!(list, probe);
    checks.extend(listed);
    checks.extend(probed);
    checks
}

/// What a chain of identity steps ends with.
enum Chained {
    Role(crate::providers::roles::RoleSession),
    GcsToken(crate::providers::gcs::identity::ServiceAccountToken),
    AzureToken(crate::providers::azure::identity::AzureToken),
}

/// Records a test's outcome on `c`: when it ran, what it found, and the status that
/// follows (`active` or `failed`), except that a disabled connector stays disabled.
pub(super) fn record_outcome(c: &mut Connector, report: &TestReport, at: Timestamp) {
    c.last_tested_at = Some(at);
    c.last_test_result = Some(if report.success {
        TestResult::Success
    } else {
        TestResult::Failure
    });
    c.last_test_error.clone_from(&report.error_message);
    if c.status != Status::Disabled {
        c.status = if report.success {
            Status::Active
        } else {
            Status::Failed
        };
    }
}

impl App {
    /// Tests a connector's access and records the result on it.
    ///
    /// # Errors
    /// `ConnectorNotFound`, `ConnectorDisabled`, or `Dependency` when the store fails.
    pub async fn test_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        actor: &Actor,
    ) -> Result<TestReport, ServiceError> {
        let connector = self.get_connector(tenant, id).await?;
        self.test_record(connector, actor).await
    }

    /// Tests the connector whose record was just read, and records the result on it with
    /// a `tested` event (the event alone when the record moved on meanwhile).
    ///
    /// # Errors
    /// `ConnectorDisabled`, `ConnectorNotFound` when it is deleted meanwhile, or
    /// `Dependency` when the store fails.
    #[tracing::instrument(skip_all, fields(connector_id = %connector.id))]
    pub async fn test_record(
        &self,
        connector: Arc<Connector>,
        actor: &Actor,
    ) -> Result<TestReport, ServiceError> {
        let (connector, way_in) = self.credentials_in_use(connector).await?;
        let stored = match way_in {
            WayIn::Keys(credentials) => Some(credentials),
            WayIn::Role(_) | WayIn::GcsIdentity(_) | WayIn::AzureIdentity(_) => None,
        };
        let report = self.check_access(&connector, stored.as_ref(), true).await?;
        let now = Timestamp::now();
        let tested = &connector;
        let mut event = self.recorder(actor).event(EventType::Tested, tested, now);
        event.result = Some(if report.success {
            TestResult::Success
        } else {
            TestResult::Failure
        });
        event.failed_checks = super::connectors::failed_codes(&report);
        self.modify_connector(Arc::clone(&connector), &event, |current| {
            // An outcome is of the access and location tested: after a rotation, or a
            // change of region, it says nothing.
            if current.access != tested.access || current.location != tested.location {
                return None;
            }
            let mut c = current.clone();
            record_outcome(&mut c, &report, now);
            Some(c)
        })
        .await?;
        tracing::info!(success = report.success, "connector tested");
        Ok(report)
    }
}

impl App {
    /// Runs a test's checks for a connector that is not created yet, with the credentials
    /// submitted; stores nothing (`POST /connectors/{provider}?dry_run=true`).
    ///
    /// # Errors
    /// Only when no client can be built for the submitted location and credentials.
    #[tracing::instrument(skip_all, fields(provider = %new.location.provider()))]
    pub async fn dry_run(
        &self,
        tenant: &TenantId,
        new: &NewConnector,
    ) -> Result<TestReport, ServiceError> {
        let (access, stored) = match &new.access {
            NewAccess::Keys(credentials) => (unsaved(), Some(credentials)),
            NewAccess::Role(role_arn) => (
                Access::IamRole(self.role_grant(tenant, role_arn).await?),
                None,
            ),
            NewAccess::GcsIdentity => (Access::GcsIdentity(self.gcs_identity(tenant).await?), None),
            NewAccess::AzureIdentity(tenant_id) => {
                (Access::AzureIdentity(self.azure_identity(tenant_id)?), None)
            }
        };
        let draft = new.record(tenant, ConnectorId::generate(), access);
        let report = self.check_access(&draft, stored, false).await?;
        tracing::info!(
            success = report.success,
            "credentials checked without saving"
        );
        Ok(report)
    }

    /// Runs a test's checks on `draft`, the connector as a PATCH would leave it, with its
    /// new way in (`credentials`, or the role in its access): what a rotation must pass
    /// before it is saved.
    ///
    /// # Errors
    /// `CredentialsRejected` with the report when a check fails; `ProviderUnavailable` when
    /// the provider could not be reached or did not answer in time, which says nothing of
    /// the credentials.
    pub(super) async fn check_rotation(
        &self,
        draft: &Connector,
        credentials: Option<&Credentials>,
    ) -> Result<TestReport, ServiceError> {
        let report = self.check_access(draft, credentials, true).await?;
        let failed = report.checks.iter().find_map(|c| c.error.as_ref());
        let Some(failed) = failed else {
            return Ok(report);
        };
        let unreachable = [
            ProviderErrorKind::Timeout,
            ProviderErrorKind::ProviderUnavailable,
        ]
        .into_iter()
        .find(|kind| kind.code() == failed.code);
        Err(match unreachable {
            Some(kind) => {
                ServiceError::ProviderUnavailable(ProviderError::new(kind, failed.message.clone()))
            }
            None => ServiceError::CredentialsRejected(Box::new(report)),
        })
    }

    /// Builds the provider client and runs the checks the connector's scopes call for: a
    /// role connector's role is assumed first, and must refuse a caller without the
    /// external ID before it is used for anything.
    async fn check_access(
        &self,
        connector: &Connector,
        stored: Option<&Credentials>,
        saved: bool,
    ) -> Result<TestReport, ServiceError> {
        let started = Instant::now();
        let deadline = started + TEST_BUDGET;
        let mut checks = Vec::new();
        let mut reported = Reported {
            checks: &mut checks,
            deadline,
        };
        let chained = match &connector.access {
            Access::IamRole(grant) => {
                // CloudTrail shows the customer this name: a saved connector's id.
                let name = session_name(saved.then_some(&connector.id));
                self.role_session(grant, &name, &mut reported)
                    .await
                    .map(Chained::Role)
            }
            Access::GcsIdentity(identity) => self
                .gcs_token(identity, &mut reported)
                .await
                .map(Chained::GcsToken),
            Access::AzureIdentity(identity) => self
                .azure_token(connector, identity, &mut reported)
                .await
                .map(Chained::AzureToken),
            Access::Secret(_) => None,
        };
        let granted = match (&chained, stored) {
            (Some(Chained::Role(session)), _) => Some(Granted::Session(session)),
            (Some(Chained::GcsToken(token)), _) => Some(Granted::GcsToken(token)),
            (Some(Chained::AzureToken(token)), _) => Some(Granted::AzureToken(token)),
            (None, Some(credentials)) if checks.is_empty() => Some(Granted::Stored(credentials)),
            // A chain that failed, or may not be used: nothing more is tried.
            (None, _) if !checks.is_empty() => None,
            (None, _) => {
                return Err(ServiceError::Internal(anyhow::anyhow!(
                    "connector {} has no credentials to test",
                    connector.id
                )));
            }
        };
        if let Some(granted) = granted {
            match self.providers.open(connector, granted) {
                Ok(store) => checks.extend(run_checks(store.as_ref(), connector, deadline).await),
                // Refused before any connection: the first check fails with the reason.
                Err(OpenError::Refused(refused)) => checks.push(failed("authenticate", 0, refused)),
                Err(other) => return Err(open_error(other)),
            }
        }
        let failure = checks
            .iter()
            .find_map(|c| c.error.as_ref())
            .map(|e| e.message.clone());
        Ok(TestReport {
            success: failure.is_none(),
            error_message: failure,
            checks,
            duration_ms: millis(started.elapsed()),
        })
    }
}
