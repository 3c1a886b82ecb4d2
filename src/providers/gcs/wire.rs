//! GCS's part of the wire (the http layer's): the create, a multipart form with its key
//! file or a keyless JSON body; the PATCH's `credentials_json` or `workload_identity`; and
//! its columns of the connector view.

use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::credentials::GcsServiceAccount;
use super::location::GcsLocation;
use super::names::{GcpProjectId, GcsBucketName};
use super::schema::{GcsCreateSent, GcsKeylessCreateSent, GcsPatchSent};
use crate::domain::connector::{Access, Location};
use crate::domain::credentials::Credentials;
use crate::http::error::ApiError;
use crate::http::extract::{FormValue, JsonObject, MultipartForm, is_json};
use crate::http::fields::Fields;
use crate::http::idempotency::{Canonical, canonical_object};
use crate::http::openapi::schemas::KeylessPatchSent;
use crate::http::wire::{AuthType, Columns};
use crate::service::connectors::{CredentialUpdate, NewAccess};

/// The GCS form as a JSON object (so it validates and fingerprints like the others), plus
/// the key file's bytes.
pub struct GcsForm {
    pub(crate) fields: Map<String, Value>,
    pub(crate) key_file: Option<Vec<u8>>,
    /// Fields sent more than once: refused when the form is parsed.
    pub(crate) duplicates: Vec<String>,
    /// Sent as JSON: a keyless create.
    pub(crate) keyless: bool,
}

impl<S: Send + Sync> FromRequest<S> for GcsForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if is_json(req.headers()) {
            let JsonObject(fields) = JsonObject::from_request(req, state).await?;
            return Ok(GcsForm {
                fields,
                key_file: None,
                duplicates: Vec::new(),
                keyless: true,
            });
        }
        let MultipartForm(parts) =
            MultipartForm::from_request(req, state)
                .await
                .map_err(|e| match e {
                    ApiError::UnsupportedMediaType(_) => ApiError::UnsupportedMediaType(
                        "this endpoint takes multipart/form-data (with the key file) or \
                     application/json (keyless)"
                            .into(),
                    ),
                    other => other,
                })?;
        let mut form = GcsForm {
            fields: Map::new(),
            key_file: None,
            duplicates: Vec::new(),
            keyless: false,
        };
        let mut scopes = Vec::new();
        for (name, value) in parts {
            match (name.as_str(), value) {
                ("credentials_file", FormValue::File(bytes)) => {
                    if form.key_file.replace(bytes.to_vec()).is_some() {
                        form.duplicates.push(name);
                    }
                }
                // An empty form field means "not given", as browsers and `curl -F x=` send
                // them: a `scopes=` alone leaves the default, `gcp_project_id=` the key
                // file's project.
                (_, FormValue::Text(s)) if s.is_empty() => {}
                ("scopes", FormValue::Text(s)) => scopes.push(Value::String(s)),
                (_, FormValue::Text(s)) => {
                    if form.fields.insert(name.clone(), Value::String(s)).is_some() {
                        form.duplicates.push(name);
                    }
                }
                (_, FormValue::File(_)) => {
                    form.fields.insert(name, Value::String(String::new()));
                }
            }
        }
        if !scopes.is_empty() {
            form.fields.insert("scopes".into(), Value::Array(scopes));
        }
        Ok(form)
    }
}

impl Canonical for GcsForm {
    fn write_canonical(&self, out: &mut String) {
        let Some(bytes) = &self.key_file else {
            return canonical_object(&self.fields, out);
        };
        // The parsed key file when it is JSON, so whitespace does not change the fingerprint.
        let file = serde_json::from_slice::<Value>(bytes)
            .unwrap_or_else(|_| Value::String(hex::encode(Sha256::digest(bytes))));
        let mut printed = self.fields.clone();
        printed.insert("credentials_file".into(), file);
        canonical_object(&printed, out);
    }
}

/// Reads the GCS form's own fields and key file: the bucket's location and the service
/// account, naming every field at fault in `f`.
pub(crate) fn parse_create(
    f: &mut Fields,
    b: &GcsCreateSent,
    key_file: Option<Vec<u8>>,
) -> (Option<Location>, Option<NewAccess>) {
    let bucket = f.required(&b.bucket, GcsBucketName::parse);
    let mut project = f.optional(&b.gcp_project_id, GcpProjectId::parse);
    let key = b.credentials_file.name();
    let account = match key_file {
        // A text part of that name, where a file was expected.
        None if b.credentials_file.sent() => {
            f.fail(
                key,
                "must be a file part (the service account's JSON key file)",
            );
            None
        }
        None => {
            f.fail(
                key,
                "is required (the service account's JSON key file); a keyless connector is \
                 created with a JSON body instead",
            );
            None
        }
        Some(bytes) => GcsServiceAccount::parse(&bytes)
            .map_err(|e| f.fail(key, e.0))
            .ok(),
    };
    if project.is_none() && !b.gcp_project_id.sent() {
        project = account
            .as_ref()
            .and_then(|a| a.project_id())
            .and_then(|p| GcpProjectId::parse(p).ok());
        if project.is_none() && account.is_some() {
            f.fail(
                b.gcp_project_id.name(),
                "is required: the key file names no valid project_id",
            );
        }
    }
    let location = bucket.map(|bucket| {
        Location::Gcs(GcsLocation {
            bucket,
            gcp_project_id: project,
        })
    });
    (
        location,
        account.map(|a| NewAccess::Keys(Credentials::Gcs(a))),
    )
}

/// Reads the keyless create's own fields: the bucket and its project (required, as no key
/// file names one).
pub(crate) fn parse_keyless_create(
    f: &mut Fields,
    b: &GcsKeylessCreateSent,
) -> (Option<Location>, Option<NewAccess>) {
    let bucket = f.required(&b.bucket, GcsBucketName::parse);
    let project = f.required(&b.gcp_project_id, GcpProjectId::parse);
    let location = bucket.zip(project).map(|(bucket, project)| {
        Location::Gcs(GcsLocation {
            bucket,
            gcp_project_id: Some(project),
        })
    });
    (location, Some(NewAccess::GcsIdentity))
}

/// Reads GCS's credential fields of a PATCH, if sent: the key file as a JSON object, or
/// `workload_identity: true`.
pub(crate) fn parse_patch(
    f: &mut Fields,
    b: &GcsPatchSent,
    k: &KeylessPatchSent,
) -> Option<CredentialUpdate> {
    let keyless = f.boolean(&k.workload_identity);
    let key = f.object(&b.credentials_json);
    match (key, keyless) {
        (Some(_), Some(_)) => {
            f.fail(
                k.workload_identity.name(),
                "cannot be sent with credentials_json: a connector has a key file or the \
                 account's service account, not both",
            );
            None
        }
        (None, Some(true)) => Some(CredentialUpdate::GcsIdentity),
        (None, Some(false)) => {
            f.fail(
                k.workload_identity.name(),
                "may only be true; send credentials_json to use a key file instead",
            );
            None
        }
        (Some(key), None) => {
            match GcsServiceAccount::parse(Value::Object(key).to_string().as_bytes()) {
                Ok(sa) => Some(CredentialUpdate::Gcs(sa)),
                Err(e) => {
                    f.fail(b.credentials_json.name(), e.0);
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// GCS's columns of the connector view: a key file's hint is its service account's
/// email; a keyless connector names its account's own.
pub(crate) fn columns<'a>(
    l: &'a GcsLocation,
    access: &'a Access,
    credential_hint: &'a str,
) -> Columns<'a> {
    let (auth_type, email) = match access {
        Access::GcsIdentity(identity) => (
            AuthType::WorkloadIdentity,
            identity.service_account_email.as_str(),
        ),
        Access::Secret(_) | Access::IamRole(_) | Access::AzureIdentity(_) => {
            (AuthType::ServiceAccountKey, credential_hint)
        }
    };
    Columns {
        bucket: Some(l.bucket.as_str()),
        gcp_project_id: l.gcp_project_id.as_ref().map(|p| p.as_str()),
        auth_type: Some(auth_type),
        client_email: Some(email),
        service_account_email: Some(email),
        ..Columns::default()
    }
}
