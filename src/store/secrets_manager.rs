//! The Secrets Manager [`SecretVault`]: one secret per connector, named
//! `<prefix>/<tenant>/<connector_id>`, tagged with tenant and connector, encrypted with the
//! configured KMS key; each credential rotation is a new version that the record names.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretVersionsListEntry, Tag};
use secrecy::{ExposeSecret, SecretString};

use super::{SecretTags, SecretVault, VaultError};
use crate::domain::connector::SecretRef;

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

/// A Secrets Manager vault; the client is built once per process.
#[derive(Clone, Debug)]
pub struct SecretsManagerVault {
    client: Client,
    kms_key_id: Option<String>,
    /// Only secrets under `<prefix>/` are listed.
    prefix: String,
}

fn fault<E, R>(e: SdkError<E, R>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.code() == Some("ResourceNotFoundException") {
        VaultError::NotFound
    } else {
        VaultError::Unavailable(Box::new(e))
    }
}

fn has_stage(v: &SecretVersionsListEntry, stage: &str) -> bool {
    v.version_stages().iter().any(|s| s == stage)
}

impl SecretsManagerVault {
    pub fn new(client: Client, kms_key_id: Option<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            kms_key_id,
            prefix: prefix.into(),
        }
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretVersionsListEntry>, VaultError> {
        let pages = self
            .client
            .list_secret_version_ids()
            .secret_id(name)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(fault)?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.versions.unwrap_or_default())
            .collect())
    }

    async fn move_stage(
        &self,
        name: &str,
        stage: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<(), VaultError> {
        self.client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(stage)
            .remove_from_version_id(from)
            .set_move_to_version_id(to.map(str::to_owned))
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }
}

#[async_trait]
impl SecretVault for SecretsManagerVault {
    async fn put(
        &self,
        name: &str,
        value: &SecretString,
        tags: &SecretTags,
    ) -> Result<SecretRef, VaultError> {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .set_kms_key_id(self.kms_key_id.clone())
            .tags(tag("tenant", tags.tenant.as_str()))
            .tags(tag("connector_id", tags.connector_id.as_str()))
            .description("Credentials of a VideoVector storage connector")
            .send()
            .await;
        let version = match created {
            Ok(out) => out.version_id,
            Err(e) if e.code() == Some("ResourceExistsException") => {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(fault)?
                    .version_id
            }
            Err(e) => return Err(fault(e)),
        };
        let version = version
            .ok_or_else(|| VaultError::Unavailable("Secrets Manager returned no version".into()))?;
        Ok(SecretRef {
            name: name.to_owned(),
            version,
        })
    }

    async fn get(&self, reference: &SecretRef) -> Result<SecretString, VaultError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&reference.name)
            .version_id(&reference.version)
            .send()
            .await
            .map_err(fault)?;
        out.secret_string
            .map(SecretString::from)
            .ok_or_else(|| VaultError::Corrupt("the secret has no string value".into()))
    }

    /// Secrets Manager has no call that deletes one version: a version without a staging
    /// label is deprecated and removed by the service. So the version loses its labels
    /// (`AWSCURRENT` goes back to the other version), and a secret whose only version this
    /// is is deleted outright.
    async fn delete_version(&self, reference: &SecretRef) -> Result<(), VaultError> {
        let versions = match self.versions(&reference.name).await {
            Ok(v) => v,
            Err(VaultError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(target) = versions
            .iter()
            .find(|v| v.version_id() == Some(reference.version.as_str()))
        else {
            return Ok(());
        };
        let others: Vec<&SecretVersionsListEntry> = versions
            .iter()
            .filter(|v| v.version_id() != target.version_id())
            .collect();
        if others.is_empty() {
            return self.delete(&reference.name).await;
        }
        if has_stage(target, CURRENT) {
            let fallback = others
                .iter()
                .find(|v| has_stage(v, PREVIOUS))
                .or_else(|| others.first())
                .and_then(|v| v.version_id());
            self.move_stage(&reference.name, CURRENT, &reference.version, fallback)
                .await?;
        }
        if has_stage(target, PREVIOUS) {
            self.move_stage(&reference.name, PREVIOUS, &reference.version, None)
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                VaultError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn names(&self) -> Result<Vec<String>, VaultError> {
        let under = format!("{}/", self.prefix);
        let filter = Filter::builder()
            .key(FilterNameStringType::Name)
            .values(&under)
            .build();
        let pages = self
            .client
            .list_secrets()
            .filters(filter)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(fault)?;
        // The name filter matches prefixes of words too: keep only names under the prefix.
        Ok(pages
            .into_iter()
            .flat_map(|p| p.secret_list.unwrap_or_default())
            .filter_map(|s| s.name)
            .filter(|n| n.starts_with(&under))
            .collect())
    }
}
