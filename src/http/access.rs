//! `POST /connectors/{id}/access`: its body parsed into an [`AccessRequest`], and the grant
//! rendered — signed URLs or credentials in the provider's own SDK terms.

use std::collections::BTreeMap;

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value};

use super::State;
use super::auth::AccessGrant as AccessCaller;
use super::error::ApiError;
use super::extract::{ConnectorPath, JsonObject};
use super::fields::{Fields, Sent};
use super::openapi::schemas::AccessSent;
use super::wire::{columns, json_response, to_json, with_quota};
use crate::domain::paths::{RelativeKey, Subpath};
use crate::domain::scopes::Provider;
use crate::domain::timestamp::Timestamp;
use crate::providers::access::VendedCredentials;
use crate::service::access::{AccessGrant, AccessRequest, MAX_PATHS, TTL_SECONDS, Target};

fn parse_access(map: Map<String, Value>) -> Result<AccessRequest, ApiError> {
    let b = AccessSent::read(map)?;
    let mut f = Fields::new();
    let purpose = f.required(&b.purpose, |s| match s {
        "import" | "export" => Ok(s.to_owned()),
        _ => Err(crate::domain::Invalid::new(
            "must be one of: import, export",
        )),
    });
    let target = match purpose.as_deref() {
        Some("import") => {
            if b.subpath.given() {
                f.fail(
                    b.subpath.name(),
                    "applies only to export; an import reads under `prefix`",
                );
            }
            let prefix = f.optional(&b.prefix, Subpath::parse).unwrap_or_default();
            Some(Target::Import { prefix })
        }
        Some(_) => {
            if b.prefix.given() {
                f.fail(
                    b.prefix.name(),
                    "applies only to import; an export writes under `subpath`, relative to \
                     the connector's export_base_path",
                );
            }
            let subpath = f.optional(&b.subpath, Subpath::parse).unwrap_or_default();
            Some(Target::Export { subpath })
        }
        None => None,
    };
    let paths = parse_paths(&mut f, &b.paths);
    let ttl = f.integer(
        &b.ttl_seconds,
        u64::from(*TTL_SECONDS.start())..=u64::from(*TTL_SECONDS.end()),
    );
    f.finish()?;
    let Some(target) = target else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a checked access body lost its purpose"
        )));
    };
    // Within 60..=3600, a TTL always fits.
    let ttl_seconds = ttl.and_then(|t| u32::try_from(t).ok());
    Ok(AccessRequest {
        target,
        paths,
        ttl_seconds,
    })
}

/// `paths`: at most 1000 keys, each checked by the export boundary's rules; every bad one
/// is named by its index.
fn parse_paths(f: &mut Fields, paths: &Sent) -> Option<Vec<RelativeKey>> {
    let words = f.list(paths, |words| Ok(words.to_vec()))?;
    if words.is_empty() {
        f.fail(
            paths.name(),
            "must name at least one object; leave it out for credentials",
        );
        return None;
    }
    if words.len() > MAX_PATHS {
        f.fail(
            paths.name(),
            format!("must name at most {MAX_PATHS} objects"),
        );
        return None;
    }
    let mut keys = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        match RelativeKey::parse(word) {
            Ok(key) => keys.push(key),
            Err(e) => f.fail(&format!("{}[{i}]", paths.name()), e.to_string()),
        }
    }
    Some(keys)
}

/// One signed URL on the wire.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SignedUrl, examples(json!({
    "path": "exports/review/run-7/cuts.json", "method": "PUT",
    "url": "https://media-archive.s3.us-east-1.amazonaws.com/exports/review/run-7/cuts.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&…",
    "headers": {}
})))]
pub(crate) struct UrlView<'a> {
    /// The object's full key.
    path: &'a str,
    #[schema(value_type = String, pattern = "^(GET|PUT)$")]
    method: &'static str,
    /// Signed for this object and method only; `GET` serves `Range` requests.
    url: &'a str,
    /// Headers the request must carry, such as Azure's `x-ms-blob-type` on a `PUT`.
    headers: BTreeMap<&'a str, &'a str>,
}

/// Credentials in the provider's own SDK terms: S3's five fields, GCS's `access_token`, or
/// Azure's `sas_token` and `container_url`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = AccessCredentials)]
pub(crate) enum CredentialsView<'a> {
    S3 {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        session_token: &'a str,
        region: &'a str,
        #[schema(required = true)]
        endpoint_url: Option<&'a str>,
    },
    Gcs {
        access_token: &'a str,
    },
    Azure {
        sas_token: &'a str,
        container_url: &'a str,
    },
}

impl<'a> From<&'a VendedCredentials> for CredentialsView<'a> {
    fn from(c: &'a VendedCredentials) -> Self {
        match c {
            VendedCredentials::S3 {
                access_key_id,
                secret_access_key,
                session_token,
                region,
                endpoint_url,
                ..
            } => Self::S3 {
                access_key_id,
                secret_access_key: secret_access_key.expose_secret(),
                session_token: session_token.expose_secret(),
                region,
                endpoint_url: endpoint_url.as_deref(),
            },
            VendedCredentials::Gcs { access_token, .. } => Self::Gcs {
                access_token: access_token.expose_secret(),
            },
            VendedCredentials::Azure {
                sas_token,
                container_url,
                ..
            } => Self::Azure {
                sas_token: sas_token.expose_secret(),
                container_url,
            },
        }
    }
}

/// The answer of an access grant.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AccessGrant, examples(json!({
    "connector_id": "conn_01jd8x0k6m3q4r5s6t7v8w9xyz",
    "provider": "s3",
    "purpose": "import",
    "bucket": "media-archive",
    "container": null,
    "storage_account": null,
    "prefix": "incoming/2026/",
    "permissions": ["read"],
    "expires_at": "2026-04-07T12:45:05Z",
    "urls": [{"path": "incoming/2026/a.mp4", "method": "GET",
              "url": "https://media-archive.s3.us-east-1.amazonaws.com/incoming/2026/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&…",
              "headers": {}}],
    "credentials": null
})))]
pub(crate) struct AccessView<'a> {
    #[schema(pattern = "^conn_[0-9a-hjkmnp-tv-z]{26}$")]
    connector_id: &'a str,
    provider: Provider,
    #[schema(value_type = String, pattern = "^(import|export)$")]
    purpose: &'static str,
    /// S3 and GCS: the bucket; null for Azure.
    #[schema(required = true)]
    bucket: Option<&'a str>,
    /// Azure: the container; null otherwise.
    #[schema(required = true)]
    container: Option<&'a str>,
    /// Azure: the storage account; null otherwise.
    #[schema(required = true)]
    storage_account: Option<&'a str>,
    /// The absolute prefix the access covers: `""` (the whole bucket or container) or a
    /// prefix ending in `/`.
    prefix: &'a str,
    /// import: `["read", "list"]` for credentials, `["read"]` for URLs; export: `["write"]`.
    #[schema(value_type = Vec<String>)]
    permissions: &'static [&'static str],
    /// When the URLs or credentials stop working.
    expires_at: Timestamp,
    /// One per requested path, in the order asked; empty for credentials.
    urls: Vec<UrlView<'a>>,
    /// Given when no `paths` were sent; null otherwise.
    #[schema(required = true)]
    credentials: Option<CredentialsView<'a>>,
}

fn view(grant: &AccessGrant) -> AccessView<'_> {
    let c = &grant.connector;
    let cols = columns(c);
    AccessView {
        connector_id: c.id.as_str(),
        provider: c.provider(),
        purpose: grant.purpose.as_str(),
        bucket: cols.bucket,
        container: cols.container,
        storage_account: cols.storage_account,
        prefix: &grant.prefix,
        permissions: grant.permissions,
        expires_at: grant.expires_at,
        urls: grant
            .urls
            .iter()
            .map(|u| UrlView {
                path: &u.key,
                method: u.method.as_str(),
                url: u.url(),
                headers: u
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
            })
            .collect(),
        credentials: grant.credentials.as_ref().map(CredentialsView::from),
    }
}

/// Grant short-lived access for an import or export job.
#[utoipa::path(
    post,
    path = "/api/v2/connectors/{connector_id}/access",
    tag = "actions",
    summary = "Grant access for an import or export job",
    description = "Short-lived, least-privilege access to one prefix inside the connector's \
        boundary. With `paths`: one signed URL per object (import: `GET`, which serves \
        `Range` requests; export: `PUT`). Without: credentials for the whole prefix, in the \
        provider's own SDK terms, where the provider can hold them to it (else 409 \
        `access_not_supported`). Needs a key with the `access` scope (`admin` includes it). \
        Nothing is stored; each grant is logged once, without its URLs or credentials.",
    params(("connector_id" = String, Path, description = "The connector's id: `conn_` and a ULID.")),
    request_body(content = crate::http::openapi::AccessBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The access granted.", body = AccessView,
            headers(
                ("Cache-Control" = String, description = "`no-store`: the answer carries secrets."),
                ("RateLimit-Policy" = String, description = "The access limit."),
                ("RateLimit" = String, description = "What is left of it."),
            )),
        (status = 400, description = "`malformed_json`, or the provider's refusal: \
            `access_denied` (for S3 keys, `sts:GetFederationToken` not allowed), \
            `invalid_credentials`, `assume_role_denied`, `external_id_not_enforced`; for \
            keyless connectors `federation_denied`, `impersonation_denied` (on GCS also when \
            the service may not sign URLs as the service account), `assertion_denied`, \
            `consent_missing`, `token_denied`, `role_missing`, `binding_missing`, \
            `binding_mismatch`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "`insufficient_scope`: the key lacks the `access` scope.", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "`connector_not_found`.", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`connector_disabled`; `scope_not_granted` (the purpose is \
            not one of the connector's scopes); `access_not_supported` (credentials this \
            provider or connector cannot hold to the prefix: send `paths`).", body = crate::http::openapi::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: over 64 KiB.", body = crate::http::openapi::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON.", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`validation_error`: an unknown or invalid field, a \
            `prefix`, `subpath` or path that breaks the boundary's rules, more than 1000 \
            `paths`, `ttl_seconds` outside 60-3600 (S3 credentials: 900-3600; GCS \
            credentials: 3600), or a prefix too long for an S3 session policy (2048 \
            characters).", body = crate::http::openapi::ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many grants this minute.", body = crate::http::openapi::ErrorEnvelope),
        (status = 503, description = "`provider_unavailable`: STS or the provider could not be reached.", body = crate::http::openapi::ErrorEnvelope),
        (status = 504, description = "`timeout`: the provider did not answer in time.", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub(in crate::http) async fn grant_access(
    Extract(state): Extract<State>,
    AccessCaller(caller): AccessCaller,
    ConnectorPath(id): ConnectorPath,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let request = parse_access(body)?;
    let grant = state.app.grant_access(&caller, &id, request).await?;
    let body = to_json(&view(&grant))?;
    let mut r = json_response(StatusCode::OK, body);
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(with_quota(r, grant.quota.as_ref()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(body: Value) -> Result<AccessRequest, ApiError> {
        match body {
            Value::Object(map) => parse_access(map),
            _ => panic!("bodies here are objects"),
        }
    }

    fn fields_of(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Service(crate::service::ServiceError::Validation(fields)) => {
                fields.into_iter().map(|f| f.field).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn an_import_defaults_to_the_whole_bucket_and_leaves_the_ttl_to_the_service() {
        let r = parsed(json!({"purpose": "import"})).expect("valid");
        assert!(matches!(r.target, Target::Import { ref prefix } if prefix.as_str().is_empty()));
        assert_eq!((r.paths.is_none(), r.ttl_seconds), (true, None));
    }

    #[test]
    fn an_import_prefix_follows_the_boundary_rules_and_ends_in_a_slash() {
        for bad in [
            "../x", "a/../b", "a/./b", "a//b", "/abs", "a\\b", "%2e%2e/x",
        ] {
            let e = parsed(json!({"purpose": "import", "prefix": bad})).err();
            assert_eq!(fields_of(e.expect("refused")), vec!["prefix"], "{bad}");
        }
        let r = parsed(json!({"purpose": "import", "prefix": "data"})).expect("valid");
        assert!(matches!(r.target, Target::Import { ref prefix } if prefix.as_str() == "data/"));
    }

    #[test]
    fn purpose_is_required_and_must_be_import_or_export() {
        for body in [
            json!({}),
            json!({"purpose": "delete"}),
            json!({"purpose": null}),
        ] {
            assert_eq!(
                fields_of(parsed(body).expect_err("refused")),
                vec!["purpose"]
            );
        }
    }

    #[test]
    fn each_purpose_refuses_the_other_purposes_field() {
        let e = parsed(json!({"purpose": "import", "subpath": "a"})).expect_err("refused");
        assert_eq!(fields_of(e), vec!["subpath"]);
        let e = parsed(json!({"purpose": "export", "prefix": "a"})).expect_err("refused");
        assert_eq!(fields_of(e), vec!["prefix"]);
    }

    #[test]
    fn ttl_outside_60_to_3600_is_refused_never_clamped() {
        for ttl in [0, 59, 3601, -1] {
            let e = parsed(json!({"purpose": "import", "ttl_seconds": ttl})).err();
            assert_eq!(fields_of(e.expect("refused")), vec!["ttl_seconds"], "{ttl}");
        }
        for ttl in [60, 3600] {
            let r = parsed(json!({"purpose": "import", "ttl_seconds": ttl})).expect("valid");
            assert_eq!(r.ttl_seconds.map(i64::from), Some(ttl));
        }
    }

    #[test]
    fn every_path_that_would_leave_the_prefix_is_named_by_its_index() {
        let e = parsed(
            json!({"purpose": "export", "paths": ["ok.json", "../x", "a/%2e%2e/b", "/abs"]}),
        )
        .expect_err("refused");
        assert_eq!(fields_of(e), vec!["paths[1]", "paths[2]", "paths[3]"]);
    }

    #[test]
    fn at_most_1000_paths_and_at_least_one() {
        let many: Vec<String> = (0..1001).map(|i| format!("f{i}.mp4")).collect();
        let e = parsed(json!({"purpose": "import", "paths": many})).expect_err("refused");
        assert_eq!(fields_of(e), vec!["paths"]);
        let e = parsed(json!({"purpose": "import", "paths": []})).expect_err("refused");
        assert_eq!(fields_of(e), vec!["paths"]);
        let thousand: Vec<String> = (0..1000).map(|i| format!("f{i}.mp4")).collect();
        let r = parsed(json!({"purpose": "import", "paths": thousand})).expect("valid");
        assert_eq!(r.paths.map(|p| p.len()), Some(1000));
    }

    #[test]
    fn a_subpath_that_escapes_the_export_boundary_is_refused() {
        for bad in [
            "..",
            "a/../b",
            "/abs",
            "a//b",
            "%2e%2e",
            "\u{ff0e}\u{ff0e}",
            "a\\b",
        ] {
            let e = parsed(json!({"purpose": "export", "subpath": bad})).expect_err("refused");
            assert_eq!(fields_of(e), vec!["subpath"], "{bad:?}");
        }
    }
}
