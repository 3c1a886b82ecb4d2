//! The service layer of S3's role setup: what a customer needs to let the service into a bucket through an IAM role, before any
//! connector exists: the service's principal to trust, the account's external ID, the trust
//! policy requiring it, and, for a given bucket, scopes and export path, the
//! least-privilege permissions policy.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::ids::TenantId;
use crate::domain::names::ExternalId;
use crate::domain::paths::ExportBasePath;
use crate::domain::scopes::{Scope, Scopes};
use crate::providers::principal::partition_of;
use crate::providers::s3::names::S3BucketName;
use crate::service::App;
use crate::service::error::ServiceError;

/// The bucket, scopes and path a permissions policy is written for.
#[derive(Debug, Clone)]
pub struct PolicyRequest {
    pub bucket: S3BucketName,
    pub scopes: Scopes,
    pub export_base_path: Option<ExportBasePath>,
}

/// The answer of `GET /connectors/s3/role-setup`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "principal_arn": "arn:aws:iam::111122223333:role/videovector-connectors-access",
    "external_id": "vv-3f1c9a0e5b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c0e2b4d",
    "trust_policy": {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/videovector-connectors-access"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {
                "sts:ExternalId": "vv-3f1c9a0e5b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c0e2b4d"}}
        }]
    },
    "permissions_policy": null,
    "user_permissions_policy": null
})))]
pub struct RoleSetup {
    /// The service's AWS principal, which the customer's role trusts.
    pub principal_arn: String,
    /// The account's external ID: one per account, stable, not a secret.
    pub external_id: String,
    /// The role's trust policy, ready to paste: it requires the external ID.
    #[schema(value_type = Object)]
    pub trust_policy: Value,
    /// With `bucket`: the role's least-privilege permissions for that bucket, those scopes
    /// and that export path; null otherwise.
    #[schema(value_type = Option<Object>, required = true)]
    pub permissions_policy: Option<Value>,
    /// With `bucket`: the same permissions for an IAM user whose access keys a connector
    /// holds, plus `sts:GetFederationToken` for the federated users the service names
    /// (`vv-…`), which credentials from `POST /connectors/{id}/access` need; null otherwise.
    #[schema(value_type = Option<Object>, required = true)]
    pub user_permissions_policy: Option<Value>,
}

/// The prefix of every external ID, so a customer can tell where one came from.
const EXTERNAL_ID_PREFIX: &str = "vv-";

impl App {
    /// The account's external ID: an HMAC of the account under a key kept for nothing
    /// else (stored once, shared by every instance, never rotated: a new one would break
    /// every customer's trust policy).
    ///
    /// # Errors
    /// When the key cannot be read or stored.
    pub async fn external_id(&self, tenant: &TenantId) -> Result<ExternalId, ServiceError> {
        let mut candidate = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut candidate);
        let key = self
            .storage
            .service_keys
            .shared_key("external-id", candidate)
            .await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("an HMAC key: {e}")))?;
        mac.update(tenant.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        ExternalId::parse(&format!(
            "{EXTERNAL_ID_PREFIX}{}",
            hex::encode(&digest[..24])
        ))
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("an external ID: {e}")))
    }

    /// The role setup of an account, with a permissions policy when `policy` says for what.
    ///
    /// # Errors
    /// When the service's principal is unknown (503) or a key cannot be read.
    pub async fn role_setup(
        &self,
        tenant: &TenantId,
        policy: Option<&PolicyRequest>,
    ) -> Result<RoleSetup, ServiceError> {
        let principal_arn = self
            .providers
            .service_principal()
            .await
            .map_err(ServiceError::provider)?;
        let external_id = self.external_id(tenant).await?.to_string();
        let trust_policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
            }]
        });
        let partition = partition_of(&principal_arn);
        let permissions_policy = policy.map(|p| permissions(partition, p));
        let user_permissions_policy = permissions_policy
            .as_ref()
            .map(|p| for_a_user(partition, p.clone()));
        Ok(RoleSetup {
            principal_arn,
            external_id,
            trust_policy,
            permissions_policy,
            user_permissions_policy,
        })
    }
}

/// Least privilege for `p`: listing and reading the bucket with `import` (imports read the
/// media; a test lists), writing and deleting under the export path with `export` (exports
/// write results; a test writes and deletes one probe object there).
fn permissions(partition: &str, p: &PolicyRequest) -> Value {
    let bucket = format!("arn:{partition}:s3:::{}", p.bucket.as_str());
    let mut statements = Vec::new();
    if p.scopes.contains(Scope::Import) {
        statements.push(json!({
            "Sid": "ImportList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
        }));
        statements.push(json!({
            "Sid": "ImportRead",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("{bucket}/*"),
        }));
    } else {
        // A test authenticates with HeadBucket, which needs the bucket's ListBucket; with
        // export alone it is limited to the export path.
        let mut list = json!({
            "Sid": "ExportLocate",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
        });
        if let Some(path) = &p.export_base_path {
            list["Condition"] =
                json!({"StringLike": {"s3:prefix": [format!("{}*", path.as_str())]}});
        }
        statements.push(list);
    }
    if p.scopes.contains(Scope::Export) {
        let path = p.export_base_path.as_ref().map_or("", |e| e.as_str());
        statements.push(json!({
            "Sid": "ExportWrite",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": format!("{bucket}/{path}*"),
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// `permissions` for an IAM user's keys: what a role may do, and getting the federation
/// tokens that `POST /access` hands out as credentials (`vv-` and the connector's id).
fn for_a_user(partition: &str, mut permissions: Value) -> Value {
    if let Some(statements) = permissions["Statement"].as_array_mut() {
        statements.push(json!({
            "Sid": "AccessGrants",
            "Effect": "Allow",
            "Action": "sts:GetFederationToken",
            "Resource": format!("arn:{partition}:sts::*:federated-user/vv-*"),
        }));
    }
    permissions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scopes: &[&str], path: Option<&str>) -> PolicyRequest {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        PolicyRequest {
            bucket: S3BucketName::parse("media-archive").expect("bucket"),
            scopes: Scopes::parse(&scopes).expect("scopes"),
            export_base_path: path.map(|p| ExportBasePath::parse(p).expect("path")),
        }
    }

    fn actions(policy: &Value) -> Vec<(String, String)> {
        policy["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| {
                let resource = s["Resource"].as_str().expect("a resource").to_owned();
                let actions = match &s["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => vec![],
                };
                actions.into_iter().map(move |a| (a, resource.clone()))
            })
            .collect()
    }

    #[test]
    fn import_may_list_and_read_the_bucket_and_nothing_else() {
        let p = permissions("aws", &request(&["import"], None));
        assert_eq!(
            actions(&p),
            vec![
                ("s3:ListBucket".into(), "arn:aws:s3:::media-archive".into()),
                ("s3:GetObject".into(), "arn:aws:s3:::media-archive/*".into()),
            ]
        );
    }

    #[test]
    fn export_may_write_and_delete_under_its_path_only() {
        let p = permissions("aws-cn", &request(&["export"], Some("exports/review")));
        let found = actions(&p);
        assert!(found.contains(&(
            "s3:PutObject".into(),
            "arn:aws-cn:s3:::media-archive/exports/review/*".into()
        )));
        assert!(found.contains(&(
            "s3:DeleteObject".into(),
            "arn:aws-cn:s3:::media-archive/exports/review/*".into()
        )));
        assert!(!found.iter().any(|(a, _)| a == "s3:GetObject"));
        assert_eq!(
            p["Statement"][0]["Condition"]["StringLike"]["s3:prefix"],
            json!(["exports/review/*"])
        );
    }

    #[test]
    fn a_users_policy_is_the_roles_and_getting_federation_tokens_named_by_the_service() {
        let role = permissions("aws", &request(&["import"], None));
        let user = for_a_user("aws", role.clone());
        let mut found = actions(&user);
        assert_eq!(
            found.pop(),
            Some((
                "sts:GetFederationToken".into(),
                "arn:aws:sts::*:federated-user/vv-*".into()
            ))
        );
        assert_eq!(found, actions(&role));
        // The names the service gives its federated users are the ones allowed.
        let id = crate::domain::ids::ConnectorId::generate();
        assert!(crate::providers::roles::federation_name(&id).starts_with("vv-"));
    }
}
