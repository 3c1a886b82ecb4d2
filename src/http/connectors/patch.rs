//! `PATCH /connectors/{id}`: the body parsed into a [`ConnectorPatch`], and `If-Match`.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use super::super::error::{ApiError, FieldError};
use super::super::fields::{Fields, Sent, refuse_unknown};
use super::super::openapi::schemas::{KeylessPatchSent, SettingsSent};
use crate::domain::Invalid;
use crate::domain::names::ConnectorName;
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{ImportMode, Provider, Scopes, Status};
use crate::providers::azure::schema::AzurePatchSent;
use crate::providers::gcs::schema::GcsPatchSent;
use crate::providers::s3::names::AwsRegion;
use crate::providers::s3::schema::S3PatchSent;
use crate::providers::{azure::wire as azure, gcs::wire as gcs, s3::wire as s3};
use crate::service::ServiceError;
use crate::service::connectors::{ConnectorPatch, Precondition};

/// Reads `If-Match`: `*`, or a list of strong ETags (weak ones never match).
pub(super) fn precondition(headers: &HeaderMap) -> Option<Precondition> {
    let raw = headers.get(header::IF_MATCH)?.to_str().unwrap_or("");
    if raw.trim() == "*" {
        return Some(Precondition::Any);
    }
    let versions = raw
        .split(',')
        .filter_map(|t| {
            t.trim()
                .strip_prefix('"')?
                .strip_suffix('"')?
                .parse::<u64>()
                .ok()
        })
        .collect();
    Some(Precondition::Versions(versions))
}

const IMMUTABLE: [&str; 7] = [
    "provider",
    "bucket",
    "storage_account",
    "container",
    "gcp_project_id",
    "endpoint_url",
    "force_path_style",
];
const READ_ONLY: [&str; 11] = [
    "connector_id",
    "created_at",
    "updated_at",
    "credentials_updated_at",
    "last_tested_at",
    "last_test_result",
    "last_test_error",
    "credential_hint",
    "client_email",
    "auth_type",
    "external_id",
];
/// Every field a PATCH may name, as the schemas declare them: the settings, then every
/// provider's own.
pub(in crate::http) fn patchable() -> Vec<&'static str> {
    [
        SettingsSent::FIELDS,
        S3PatchSent::FIELDS,
        AzurePatchSent::FIELDS,
        GcsPatchSent::FIELDS,
        KeylessPatchSent::FIELDS,
    ]
    .concat()
}

/// A PATCH body whose settings are read and whose credential fields wait for the
/// connector's provider, the only one that may read them.
pub(super) struct PatchBody {
    settings: ConnectorPatch,
    s3: S3PatchSent,
    azure: AzurePatchSent,
    gcs: GcsPatchSent,
    keyless: KeylessPatchSent,
    /// Every error found so far.
    fields: Fields,
}

/// Reads what any connector's PATCH may carry; the credential fields are read once the
/// connector's provider is known ([`PatchBody::for_provider`]).
///
/// # Errors
/// 422 for immutable or read-only fields (named first, alone), an unknown field, or an
/// empty body.
pub(super) fn parse_patch(mut map: Map<String, Value>) -> Result<PatchBody, ApiError> {
    let mut refused = Vec::new();
    for field in IMMUTABLE {
        if map.remove(field).is_some() {
            refused.push(FieldError::new(
                field,
                "is immutable; create a new connector instead",
            ));
        }
    }
    for field in READ_ONLY {
        if map.remove(field).is_some() {
            refused.push(FieldError::new(field, "is read-only"));
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::invalid(refused));
    }
    refuse_unknown(&map, &patchable())?;
    if map.is_empty() {
        return Err(ApiError::validation(
            "body",
            "must name at least one field to change",
        ));
    }
    let sent = SettingsSent::take(&mut map);
    let (s3, azure, gcs, keyless) = (
        S3PatchSent::take(&mut map),
        AzurePatchSent::take(&mut map),
        GcsPatchSent::take(&mut map),
        KeylessPatchSent::take(&mut map),
    );
    let mut f = Fields::new();
    let settings = ConnectorPatch {
        name: f.optional(&sent.name, ConnectorName::parse),
        scopes: f.list(&sent.scopes, Scopes::parse),
        export_base_path: f.nullable(&sent.export_base_path, ExportBasePath::parse),
        import_mode: f.optional(&sent.import_mode, ImportMode::parse),
        status: f.optional(&sent.status, |s| match Status::parse(s)? {
            st @ (Status::Active | Status::Disabled) => Ok(st),
            _ => Err(Invalid::new("may only be set to active or disabled")),
        }),
        region: f.optional(&s3.region, AwsRegion::parse),
        credentials: None,
    };
    // Only `export_base_path` may be cleared; null anywhere else changes nothing, so it is
    // refused rather than ignored.
    let every = [sent.all(), s3.all(), azure.all(), gcs.all(), keyless.all()].concat();
    for field in every {
        if field.is_null() && !std::ptr::eq(field, &sent.export_base_path) {
            f.fail(field.name(), "cannot be null");
        }
    }
    Ok(PatchBody {
        settings,
        s3,
        azure,
        gcs,
        keyless,
        fields: f,
    })
}

impl PatchBody {
    /// The whole PATCH for a connector of `provider`: its credential fields read by that
    /// provider, any other provider's named as not applying; every error at once.
    ///
    /// # Errors
    /// `Validation` naming every field at fault.
    pub(super) fn for_provider(self, provider: Provider) -> Result<ConnectorPatch, ServiceError> {
        let PatchBody {
            mut settings,
            s3,
            azure,
            gcs,
            keyless,
            fields: mut f,
        } = self;
        settings.credentials = match provider {
            Provider::S3 => s3::parse_patch(&mut f, &s3),
            Provider::Gcs => gcs::parse_patch(&mut f, &gcs, &keyless),
            Provider::Azure => azure::parse_patch(&mut f, &azure, &keyless),
        };
        // The keyless switch is read by GCS and Azure, and refused for S3 alone.
        let keyless_foreign = match provider {
            Provider::S3 => keyless.all(),
            Provider::Gcs | Provider::Azure => Vec::new(),
        };
        let others = [
            (Provider::S3, s3::patch_credentials(&s3).to_vec()),
            (Provider::Gcs, gcs.all()),
            (Provider::Azure, azure.all()),
        ];
        // A null one is already refused as null.
        let foreign: Vec<&Sent> = others
            .into_iter()
            .filter(|(p, _)| *p != provider)
            .flat_map(|(_, fields)| fields)
            .chain(keyless_foreign)
            .filter(|field| field.given())
            .collect();
        for field in foreign {
            f.fail(
                field.name(),
                format!("does not apply to {} connector", with_article(provider)),
            );
        }
        f.finish().map_err(|e| match e {
            ApiError::Service(e) => e,
            other => ServiceError::Internal(anyhow::anyhow!("a PATCH body: {other}")),
        })?;
        Ok(settings)
    }
}

/// "an S3", "a GCS", "an Azure": the provider as a message names a connector of it.
fn with_article(provider: Provider) -> &'static str {
    match provider {
        Provider::S3 => "an S3",
        Provider::Gcs => "a GCS",
        Provider::Azure => "an Azure",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::ServiceError;
    use crate::service::connectors::CredentialUpdate;

    /// The PATCH `body` would be for a connector of `provider`.
    fn parsed_for(provider: Provider, body: Value) -> Result<ConnectorPatch, ServiceError> {
        let Value::Object(map) = body else {
            panic!("a JSON object");
        };
        match parse_patch(map) {
            Ok(read) => read.for_provider(provider),
            Err(ApiError::Service(e)) => Err(e),
            Err(other) => panic!("not a service error: {other}"),
        }
    }

    fn parsed(body: Value) -> Result<ConnectorPatch, ServiceError> {
        parsed_for(Provider::S3, body)
    }

    /// The fields a refused PATCH names, for a connector of `provider`.
    fn refused_for(provider: Provider, body: Value) -> Vec<String> {
        match parsed_for(provider, body) {
            Err(ServiceError::Validation(fields)) => fields.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {:?}", other.map(|_| ())),
        }
    }

    fn refused(body: Value) -> Vec<String> {
        refused_for(Provider::S3, body)
    }

    #[test]
    fn immutable_and_read_only_fields_are_named_before_anything_else_is_read() {
        assert_eq!(
            refused(json!({"bucket": "b", "connector_id": "x", "name": 7})),
            ["bucket", "connector_id"]
        );
    }

    #[test]
    fn an_empty_patch_and_nulls_other_than_export_base_path_are_refused() {
        assert_eq!(refused(json!({})), ["body"]);
        assert_eq!(
            refused(json!({"name": null, "region": null})),
            ["name", "region"]
        );
        let clears = parsed(json!({"export_base_path": null})).expect("a patch");
        assert!(matches!(clears.export_base_path, Some(None)));
    }

    #[test]
    fn status_may_only_be_set_to_active_or_disabled() {
        assert_eq!(refused(json!({"status": "failed"})), ["status"]);
        assert_eq!(refused(json!({"status": "testing"})), ["status"]);
        let p = parsed(json!({"status": "disabled"})).expect("a patch");
        assert_eq!(p.status, Some(Status::Disabled));
    }

    #[test]
    fn credential_fields_are_read_by_the_connectors_own_provider_and_others_refused_by_name() {
        let body = json!({
            "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "client_secret": "a-secret",
            "name": "Renamed",
        });
        assert_eq!(
            refused_for(Provider::Azure, body.clone()),
            ["aws_access_key_id", "aws_secret_access_key"]
        );
        assert_eq!(refused_for(Provider::S3, body.clone()), ["client_secret"]);
        assert_eq!(
            refused_for(Provider::Gcs, body),
            [
                "aws_access_key_id",
                "aws_secret_access_key",
                "client_secret"
            ]
        );
        let azure =
            parsed_for(Provider::Azure, json!({"client_secret": "a-secret"})).expect("a patch");
        assert!(matches!(
            azure.credentials,
            Some(CredentialUpdate::Azure(_))
        ));
        // Another provider's field with a bad value is named once, as not applying.
        assert_eq!(
            refused_for(Provider::Gcs, json!({"tenant_id": "not a tenant"})),
            ["tenant_id"]
        );
    }

    #[test]
    fn settings_and_credential_errors_are_named_together() {
        assert_eq!(
            refused_for(
                Provider::Azure,
                json!({"name": "", "role_arn": "arn:aws:iam::111122223333:role/Access"})
            ),
            ["name", "role_arn"]
        );
    }

    #[test]
    fn keys_and_a_role_together_or_half_a_key_pair_are_refused_by_name() {
        assert_eq!(
            refused(json!({
                "role_arn": "arn:aws:iam::111122223333:role/Access",
                "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
            })),
            ["role_arn", "aws_access_key_id"]
        );
        assert_eq!(
            refused(json!({"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE"})),
            ["aws_secret_access_key"]
        );
    }

    #[test]
    fn if_match_reads_star_and_strong_tags_and_ignores_weak_ones() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, v.parse().expect("a header"));
            precondition(&h)
        };
        assert_eq!(with("*"), Some(Precondition::Any));
        assert_eq!(
            with("\"3\", W/\"4\", \"5\""),
            Some(Precondition::Versions(vec![3, 5]))
        );
        assert_eq!(with("W/\"4\""), Some(Precondition::Versions(vec![])));
        assert_eq!(precondition(&HeaderMap::new()), None);
    }
}
