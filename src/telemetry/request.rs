//! The request a log line is written for: its id, under Lambda the invocation's request id
//! and X-Ray trace id, and once known its tenant and route.
//!
//! They live in a task-local for the duration of the request rather than on a tracing
//! span, so a request pays for no span (created, formatted, entered on every poll, closed)
//! while every line logged in its task still carries them. [`super::JsonLine`] adds them.

use std::cell::OnceCell;
use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CURRENT: RequestFields;
}

/// What every line of one request carries.
#[derive(Debug)]
pub struct RequestFields {
    id: String,
    invocation: Option<Invocation>,
    tenant: OnceCell<String>,
    route: OnceCell<String>,
}

/// The Lambda invocation serving a request: what CloudWatch and X-Ray know it by.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    pub trace_id: Option<String>,
}

impl RequestFields {
    fn new(id: String, invocation: Option<Invocation>) -> Self {
        Self {
            id,
            invocation,
            tenant: OnceCell::new(),
            route: OnceCell::new(),
        }
    }

    /// The members to append to a JSON line: `"request_id":…`, under Lambda
    /// `"lambda_request_id":…` and `"xray_trace_id":…`, and when known `"tenant":…` and
    /// `"route":…`, each preceded by a comma.
    pub(super) fn write_members(&self, out: &mut Vec<u8>) {
        member(out, "request_id", &self.id);
        if let Some(invocation) = &self.invocation {
            member(out, "lambda_request_id", &invocation.request_id);
            if let Some(trace) = &invocation.trace_id {
                member(out, "xray_trace_id", trace);
            }
        }
        if let Some(tenant) = self.tenant.get() {
            member(out, "tenant", tenant);
        }
        if let Some(route) = self.route.get() {
            member(out, "route", route);
        }
    }
}

fn member(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    super::json_line::write_json(out, value);
}

/// Runs `request` with `id` as the request id of every line it logs, and the Lambda
/// invocation's ids when there is one.
pub fn in_request<F: Future>(
    id: String,
    invocation: Option<Invocation>,
    request: F,
) -> TaskLocalFuture<RequestFields, F> {
    CURRENT.scope(RequestFields::new(id, invocation), request)
}

/// Notes the tenant whose key was accepted; the first note of a request stands.
pub fn note_tenant(tenant: &str) {
    let _ = CURRENT.try_with(|r| r.tenant.set(tenant.to_owned()));
}

/// Notes the route template the request matched; the first note of a request stands.
pub fn note_route(route: &str) {
    let _ = CURRENT.try_with(|r| r.route.set(route.to_owned()));
}

/// The id of the request running on this task (`req_…`), which its answer carries in
/// `X-Request-Id`; empty outside a request (an operator command).
pub fn current_request_id() -> String {
    CURRENT.try_with(|r| r.id.clone()).unwrap_or_default()
}

/// The route template the current request matched, if any was noted.
pub fn current_route() -> Option<String> {
    CURRENT.try_with(|r| r.route.get().cloned()).ok().flatten()
}

/// Calls `f` with the current request's fields, if a request is running on this task.
pub(super) fn with_current<R>(f: impl FnOnce(&RequestFields) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}
