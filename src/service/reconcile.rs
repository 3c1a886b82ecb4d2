//! Repairs what a crash between two writes can leave: secrets that no connector record
//! points at are deleted; records whose credentials cannot be read are reported (only the
//! customer can supply new ones).
//!
//! Creates write the secret before the record, so a secret seen without a record may belong
//! to a create still in flight. A secret is therefore deleted only if it is still without a
//! record after `grace`, longer than any request may run.

use std::collections::HashSet;
use std::time::Duration;

use super::App;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::store::{StoreError, VaultError};

/// What a reconcile pass found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Secrets without a record, deleted (or, in a dry run, that would be).
    pub orphan_secrets: Vec<String>,
    /// Connectors (`tenant/connector_id`) whose stored credentials cannot be read.
    pub records_without_credentials: Vec<String>,
}

/// Why reconcile stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl App {
    /// Finds orphans and, unless `dry_run`, deletes orphan secrets.
    ///
    /// # Errors
    /// When the store or vault cannot be listed or a deletion fails.
    pub async fn reconcile(
        &self,
        grace: Duration,
        dry_run: bool,
    ) -> Result<ReconcileReport, ReconcileError> {
        let mut report = ReconcileReport::default();
        let candidates = self.orphan_secrets().await?;
        if !candidates.is_empty() && !grace.is_zero() {
            tokio::time::sleep(grace).await;
        }
        // Only secrets that stayed without a record through the grace period go.
        let still = self.orphan_secrets().await?;
        report.orphan_secrets = candidates
            .into_iter()
            .filter(|n| still.contains(n))
            .collect();
        if !dry_run {
            for name in &report.orphan_secrets {
                self.storage.vault.delete(name).await?;
                tracing::info!(secret = %name, "deleted a secret no connector points at");
            }
        }
        for c in self.storage.connectors.all_connectors().await? {
            let Some(secret) = c.access.secret() else {
                continue;
            };
            match self.storage.vault.get(secret).await {
                Ok(_) => {}
                Err(VaultError::NotFound | VaultError::Corrupt(_)) => {
                    report
                        .records_without_credentials
                        .push(format!("{}/{}", c.tenant, c.id));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// Connector secrets (`<prefix>/<tenant>/<connector_id>`) that no record names.
    async fn orphan_secrets(&self) -> Result<Vec<String>, ReconcileError> {
        let referenced: HashSet<String> = self
            .storage
            .connectors
            .all_connectors()
            .await?
            .into_iter()
            .filter_map(|c| c.access.secret().map(|s| s.name.clone()))
            .collect();
        let mut orphans: Vec<String> = self
            .storage
            .vault
            .names()
            .await?
            .into_iter()
            .filter(|n| self.is_connector_secret(n) && !referenced.contains(n))
            .collect();
        orphans.sort();
        Ok(orphans)
    }

    fn is_connector_secret(&self, name: &str) -> bool {
        name.strip_prefix(&self.secret_prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(tenant, id)| {
                TenantId::parse(tenant).is_ok() && ConnectorId::parse(id).is_ok()
            })
    }
}
