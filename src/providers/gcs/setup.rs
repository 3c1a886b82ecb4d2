//! The service layer of GCS's identity setup: the account's own service account (given
//! from the operator's pool the first time it is asked, for good), the bucket role each
//! scope needs, and, for a given bucket, the `gcloud` commands that grant them.

use serde::Serialize;

use super::names::{GcpProjectId, GcsBucketName};
use crate::domain::ids::TenantId;
use crate::domain::scopes::{Scope, Scopes};
use crate::service::App;
use crate::service::error::ServiceError;

/// The predefined role an import needs: objects listed and read, nothing written.
pub const IMPORT_ROLE: &str = "roles/storage.objectViewer";

/// The custom role an export needs, its id in the bucket's project.
pub const EXPORT_ROLE_ID: &str = "videovectorExport";

/// What an export does (the test's listing, its probe written and deleted, the results
/// written): no predefined role is this narrow (`roles/storage.objectUser` also reads and
/// updates every object; `roles/storage.objectCreator` cannot delete the probe).
pub const EXPORT_PERMISSIONS: [&str; 3] = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.list",
];

/// Where the commands are for.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub bucket: GcsBucketName,
    pub scopes: Scopes,
    /// The bucket's project, where the export role is made; a placeholder when not given.
    pub gcp_project_id: Option<GcpProjectId>,
}

/// The answer of `GET /connectors/gcs/identity-setup`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "service_account_email": "vv-0001@videovector-identities.iam.gserviceaccount.com",
    "roles": {
        "import": "roles/storage.objectViewer",
        "export": "projects/my-project/roles/videovectorExport"
    },
    "export_role_permissions": ["storage.objects.create", "storage.objects.delete", "storage.objects.list"],
    "commands": [
        "gcloud storage buckets add-iam-policy-binding gs://media-archive --member=serviceAccount:vv-0001@videovector-identities.iam.gserviceaccount.com --role=roles/storage.objectViewer"
    ]
})))]
pub struct GcsIdentitySetup {
    /// This account's own service account: the same on every call, and no other
    /// account's. Grant it a role on the bucket, then create the connector as JSON.
    pub service_account_email: String,
    /// The role each scope needs on the bucket.
    pub roles: ScopeRoles,
    /// What the export role holds (a custom role: no predefined one is this narrow).
    pub export_role_permissions: [&'static str; 3],
    /// With `bucket`: the `gcloud` commands that grant the roles of `scopes` on it, in
    /// order; null otherwise.
    #[schema(required = true)]
    pub commands: Option<Vec<String>>,
}

/// A role per scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScopeRoles {
    /// `roles/storage.objectViewer`.
    pub import: &'static str,
    /// The custom role `projects/<project>/roles/videovectorExport` (`PROJECT_ID` until
    /// `gcp_project_id` names the project).
    pub export: String,
}

/// The project placeholder of commands for an unnamed project.
const PROJECT_PLACEHOLDER: &str = "PROJECT_ID";

impl App {
    /// The account's GCS identity setup, with the commands for a bucket when asked.
    ///
    /// # Errors
    /// `IdentityNotConfigured` (404) without the operator's pool, `IdentityPoolExhausted`,
    /// `Dependency`.
    pub async fn gcs_identity_setup(
        &self,
        tenant: &TenantId,
        grant: Option<&GrantRequest>,
    ) -> Result<GcsIdentitySetup, ServiceError> {
        let identity = self.gcs_identity(tenant).await.map_err(|e| match e {
            ServiceError::IdentityNotConfigured { provider, .. } => {
                ServiceError::IdentityNotConfigured {
                    provider,
                    setup: true,
                }
            }
            other => other,
        })?;
        let email = identity.service_account_email;
        let project = grant
            .and_then(|g| g.gcp_project_id.as_ref())
            .map_or(PROJECT_PLACEHOLDER, |p| p.as_str());
        let export = format!("projects/{project}/roles/{EXPORT_ROLE_ID}");
        let commands = grant.map(|g| commands(&email, g, project, &export));
        Ok(GcsIdentitySetup {
            service_account_email: email,
            roles: ScopeRoles {
                import: IMPORT_ROLE,
                export,
            },
            export_role_permissions: EXPORT_PERMISSIONS,
            commands,
        })
    }
}

/// The `gcloud` commands granting `email` the roles of `g.scopes` on `g.bucket`.
fn commands(email: &str, g: &GrantRequest, project: &str, export_role: &str) -> Vec<String> {
    let bind = |role: &str| {
        format!(
            "gcloud storage buckets add-iam-policy-binding gs://{} \
             --member=serviceAccount:{email} --role={role}",
            g.bucket
        )
    };
    let mut out = Vec::new();
    if g.scopes.contains(Scope::Import) {
        out.push(bind(IMPORT_ROLE));
    }
    if g.scopes.contains(Scope::Export) {
        // Made once per project: a second bucket of the same project finds it there.
        out.push(format!(
            "gcloud iam roles describe {EXPORT_ROLE_ID} --project={project} >/dev/null 2>&1 || \
             gcloud iam roles create {EXPORT_ROLE_ID} --project={project} \
             --title=\"VideoVector export\" --permissions={}",
            EXPORT_PERMISSIONS.join(",")
        ));
        out.push(bind(export_role));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scopes: Scopes, project: Option<&str>) -> GrantRequest {
        GrantRequest {
            bucket: GcsBucketName::parse("media-archive").expect("bucket"),
            scopes,
            gcp_project_id: project.map(|p| GcpProjectId::parse(p).expect("project")),
        }
    }

    #[test]
    fn an_import_grant_is_one_binding_of_the_object_viewer_role() {
        let out = commands(
            "vv-1@ids.iam.gserviceaccount.com",
            &request(Scopes::IMPORT_ONLY, None),
            PROJECT_PLACEHOLDER,
            "unused",
        );
        assert_eq!(
            out,
            vec![
                "gcloud storage buckets add-iam-policy-binding gs://media-archive \
                 --member=serviceAccount:vv-1@ids.iam.gserviceaccount.com \
                 --role=roles/storage.objectViewer"
            ]
        );
    }

    #[test]
    fn an_export_grant_makes_the_narrow_role_in_the_named_project_then_binds_it() {
        let scopes = Scopes::parse(&["export".to_owned()]).expect("scopes");
        let out = commands(
            "vv-1@ids.iam.gserviceaccount.com",
            &request(scopes, Some("my-project")),
            "my-project",
            "projects/my-project/roles/videovectorExport",
        );
        assert_eq!(out.len(), 2);
        // Made only where the project lacks it, so a second bucket's setup runs as well.
        assert!(out[0].starts_with(
            "gcloud iam roles describe videovectorExport --project=my-project >/dev/null 2>&1 || \
             gcloud iam roles create videovectorExport --project=my-project"
        ));
        assert!(out[0].ends_with(
            "--permissions=storage.objects.create,storage.objects.delete,storage.objects.list"
        ));
        assert!(out[1].ends_with("--role=projects/my-project/roles/videovectorExport"));
    }
}
