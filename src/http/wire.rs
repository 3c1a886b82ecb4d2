//! The connector object as the contract shows it, and JSON response helpers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use super::error::ApiError;
use crate::domain::connector::{Connector, Location};
use crate::domain::scopes::{ImportMode, Provider, Status, TestResult};
use crate::domain::timestamp::Timestamp;
use crate::providers;
use crate::service::ServiceError;
use crate::service::limits::{Quota, WINDOW_SECONDS};

/// Every field of the contract's connector object, always present, plus the masked
/// `credential_hint` (and a GCS connector's `client_email`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    as = Connector,
    examples(json!({
        "connector_id": "conn_01jd8x0k6m3q4r5s6t7v8w9xyz",
        "name": "Archive S3",
        "provider": "s3",
        "status": "active",
        "scopes": ["import", "export"],
        "import_mode": "new_only",
        "export_base_path": "exports/review/",
        "bucket": "media-archive",
        "region": "us-east-1",
        "storage_account": null,
        "container": null,
        "gcp_project_id": null,
        "endpoint_url": null,
        "force_path_style": false,
        "auth_type": "access_key",
        "role_arn": null,
        "external_id": null,
        "created_at": "2026-04-07T12:30:05Z",
        "updated_at": "2026-04-07T12:30:05Z",
        "credentials_updated_at": "2026-04-07T12:30:05Z",
        "last_tested_at": null,
        "last_test_result": null,
        "last_test_error": null,
        "credential_hint": "AKIA…MPLE"
    }))
)]
pub(crate) struct ConnectorView<'a> {
    /// `conn_` and a ULID.
    #[schema(pattern = "^conn_[0-9a-hjkmnp-tv-z]{26}$")]
    connector_id: &'a str,
    name: &'a str,
    provider: Provider,
    status: Status,
    #[schema(value_type = crate::domain::scopes::Scopes)]
    scopes: Vec<&'static str>,
    import_mode: ImportMode,
    #[schema(required = true)]
    export_base_path: Option<&'a str>,
    #[schema(required = true)]
    bucket: Option<&'a str>,
    #[schema(required = true)]
    region: Option<&'a str>,
    #[schema(required = true)]
    storage_account: Option<&'a str>,
    #[schema(required = true)]
    container: Option<&'a str>,
    #[schema(required = true)]
    gcp_project_id: Option<&'a str>,
    /// S3 only: the S3-compatible service the connector reaches instead of AWS; null for
    /// AWS itself.
    #[schema(required = true)]
    endpoint_url: Option<&'a str>,
    /// S3 only: whether requests use path-style addressing; null for other providers.
    #[schema(required = true)]
    force_path_style: Option<bool>,
    /// How the service gets in. S3: `access_key` (a stored key pair) or `iam_role` (a
    /// role the service assumes); GCS: `service_account_key` (a stored key file) or
    /// `workload_identity` (the account's own service account, nothing stored); Azure:
    /// `client_secret` (a stored service principal) or `workload_identity` (the
    /// operator's Entra app in the customer's tenant, nothing stored). Never null.
    #[schema(required = true)]
    auth_type: Option<AuthType>,
    /// `iam_role` only: the role the service assumes.
    #[schema(required = true)]
    role_arn: Option<&'a str>,
    /// `iam_role` only: the external ID the service presents, which the role's trust
    /// policy must require (the account's, from the role setup).
    #[schema(required = true)]
    external_id: Option<&'a str>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// When the way in last changed (new keys, another role, a new client secret or key
    /// file): the create's time until a rotation.
    credentials_updated_at: Timestamp,
    #[schema(required = true)]
    last_tested_at: Option<Timestamp>,
    #[schema(required = true)]
    last_test_result: Option<TestResult>,
    #[schema(required = true)]
    last_test_error: Option<&'a str>,
    /// A masked identity: the access key id's ends, the client id's, the service
    /// account's email, or an IAM role connector's role ARN.
    credential_hint: &'a str,
    /// GCS only: the service account's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_email: Option<&'a str>,
    /// GCS only: the service account the service acts as (the key file's, or the
    /// account's own for `workload_identity`); null for other providers.
    #[schema(required = true)]
    service_account_email: Option<&'a str>,
}

/// How a connector gets into its bucket: each provider's kinds.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthType {
    AccessKey,
    IamRole,
    ServiceAccountKey,
    WorkloadIdentity,
    ClientSecret,
}

/// The view's provider columns: each provider fills its own (`providers::<name>::wire`),
/// and the others stay null.
#[derive(Default)]
pub(crate) struct Columns<'a> {
    pub bucket: Option<&'a str>,
    pub region: Option<&'a str>,
    pub storage_account: Option<&'a str>,
    pub container: Option<&'a str>,
    pub gcp_project_id: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    pub force_path_style: Option<bool>,
    pub auth_type: Option<AuthType>,
    pub role_arn: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub client_email: Option<&'a str>,
    pub service_account_email: Option<&'a str>,
}

/// A connector's provider columns, from its provider's own `wire` module.
pub(crate) fn columns(c: &Connector) -> Columns<'_> {
    match &c.location {
        Location::S3(l) => providers::s3::wire::columns(l, &c.access),
        Location::Gcs(l) => providers::gcs::wire::columns(l, &c.access, &c.credential_hint),
        Location::Azure(l) => providers::azure::wire::columns(l, &c.access),
    }
}

fn view(c: &Connector) -> ConnectorView<'_> {
    let columns = columns(c);
    ConnectorView {
        connector_id: c.id.as_str(),
        name: c.name.as_str(),
        provider: c.provider(),
        status: c.status,
        scopes: c.scopes.to_vec(),
        import_mode: c.import_mode,
        export_base_path: c.export_base_path.as_ref().map(|p| p.as_str()),
        bucket: columns.bucket,
        region: columns.region,
        storage_account: columns.storage_account,
        container: columns.container,
        gcp_project_id: columns.gcp_project_id,
        endpoint_url: columns.endpoint_url,
        force_path_style: columns.force_path_style,
        auth_type: columns.auth_type,
        role_arn: columns.role_arn,
        external_id: columns.external_id,
        created_at: c.created_at,
        updated_at: c.updated_at,
        credentials_updated_at: c.credentials_changed_at(),
        last_tested_at: c.last_tested_at,
        last_test_result: c.last_test_result,
        last_test_error: c.last_test_error.as_deref(),
        credential_hint: &c.credential_hint,
        client_email: columns.client_email,
        service_account_email: columns.service_account_email,
    }
}

/// Room for one rendered connector (most print 450–700 bytes), so the buffer is
/// allocated once rather than grown.
const CONNECTOR_JSON_BYTES: usize = 768;

/// The connector object as JSON text.
///
/// # Errors
/// Only for a connector whose instants RFC 3339 cannot print (a year outside 0–9999).
pub fn connector_json(c: &Connector) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(CONNECTOR_JSON_BYTES);
    serde_json::to_writer(&mut out, &view(c)).map_err(unprintable)?;
    String::from_utf8(out).map_err(unprintable)
}

/// A service value as a JSON body. Serialising one cannot fail short of a bug, which is
/// answered as a 500 rather than an empty body.
///
/// # Errors
/// `Internal` when the value does not serialise.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("an answer cannot be printed: {e}")))
}

fn unprintable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("a stored connector cannot be printed: {e}"))
}

/// The service's own headers, named once (a name given as text is parsed on every use).
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const X_NEXT_CURSOR: HeaderName = HeaderName::from_static("x-next-cursor");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Where the account stands against a limit, as the IETF httpapi draft's fields say it:
/// `RateLimit-Policy: "test";q=30;w=60` and `RateLimit: "test";r=12;t=45`.
pub fn put_quota(headers: &mut axum::http::HeaderMap, quota: &Quota) {
    let name = quota.policy.as_str();
    let policy = format!("\"{name}\";q={};w={WINDOW_SECONDS}", quota.limit);
    let state = format!("\"{name}\";r={};t={}", quota.remaining, quota.reset_seconds);
    for (header, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(header, v);
        }
    }
}

/// A response with the account's standing against a limit, if one applies.
pub fn with_quota(mut r: Response, quota: Option<&Quota>) -> Response {
    if let Some(q) = quota {
        put_quota(r.headers_mut(), q);
    }
    r
}

/// A JSON response with the given status and body.
pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Adds a header whose value is known to be valid ASCII (ids, ETags, cursors).
pub fn with_header(mut r: Response, name: HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}
