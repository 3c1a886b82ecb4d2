//! Azure's part of the wire (the http layer's): its create and PATCH fields read (they are
//! declared in `schema.rs`), and its columns of the connector view.

use super::credentials::{AzureCredentials, AzureUpdate, parse_client_secret};
use super::location::AzureLocation;
use super::names::{AzureTenant, ContainerName, Guid, StorageAccount};
use super::schema::{AzureCreateSent, AzurePatchSent};
use crate::domain::connector::{Access, Location};
use crate::domain::credentials::Credentials;
use crate::http::fields::{Fields, text};
use crate::http::openapi::schemas::KeylessPatchSent;
use crate::http::wire::{AuthType, Columns};
use crate::service::connectors::{CredentialUpdate, NewAccess};

/// Reads the Azure create fields: the container's location and the service principal, or
/// none of its client parts for a keyless connector, naming every field at fault in `f`.
pub(crate) fn parse_create(
    f: &mut Fields,
    b: &AzureCreateSent,
) -> (Option<Location>, Option<NewAccess>) {
    let account = f.required(&b.storage_account, StorageAccount::parse);
    let container = f.required(&b.container, ContainerName::parse);
    let tenant_id = f.required(&b.tenant_id, AzureTenant::parse);
    // Absent, not null: a null is refused by `required` below, never read as keyless.
    let keyless = !b.client_id.sent() && !b.client_secret.sent();
    let credentials = if keyless {
        tenant_id.map(NewAccess::AzureIdentity)
    } else {
        let client_id = f.required(&b.client_id, Guid::parse);
        let secret = f.required(&b.client_secret, text);
        match (tenant_id, client_id, secret) {
            (Some(t), Some(id), Some(s)) => AzureCredentials::new(t, id, &s)
                .map_err(|e| f.fail(b.client_secret.name(), e.0))
                .ok()
                .map(|c| NewAccess::Keys(Credentials::Azure(c))),
            _ => None,
        }
    };
    let location = account.zip(container).map(|(storage_account, container)| {
        Location::Azure(AzureLocation {
            storage_account,
            container,
        })
    });
    (location, credentials)
}

/// Reads Azure's credential fields of a PATCH, if any was sent: parts of the service
/// principal, or `workload_identity: true` (with `tenant_id` to change the tenant).
pub(crate) fn parse_patch(
    f: &mut Fields,
    b: &AzurePatchSent,
    k: &KeylessPatchSent,
) -> Option<CredentialUpdate> {
    let update = AzureUpdate {
        tenant_id: f.optional(&b.tenant_id, AzureTenant::parse),
        client_id: f.optional(&b.client_id, Guid::parse),
        client_secret: f.optional(&b.client_secret, parse_client_secret),
    };
    match f.boolean(&k.workload_identity) {
        Some(true) => {
            for part in [&b.client_id, &b.client_secret] {
                if part.given() {
                    f.fail(
                        part.name(),
                        "cannot be sent with workload_identity: a connector has a client \
                         secret or the operator's app, not both",
                    );
                }
            }
            return Some(CredentialUpdate::AzureIdentity(update.tenant_id));
        }
        Some(false) => {
            f.fail(
                k.workload_identity.name(),
                "may only be true; send client_id and client_secret to use a service \
                 principal instead",
            );
            return None;
        }
        None => {}
    }
    let sent =
        update.tenant_id.is_some() || update.client_id.is_some() || update.client_secret.is_some();
    sent.then_some(CredentialUpdate::Azure(update))
}

/// Azure's columns of the connector view.
pub(crate) fn columns<'a>(l: &'a AzureLocation, access: &Access) -> Columns<'a> {
    let auth_type = match access {
        Access::AzureIdentity(_) => AuthType::WorkloadIdentity,
        Access::Secret(_) | Access::IamRole(_) | Access::GcsIdentity(_) => AuthType::ClientSecret,
    };
    Columns {
        storage_account: Some(l.storage_account.as_str()),
        container: Some(l.container.as_str()),
        auth_type: Some(auth_type),
        ..Columns::default()
    }
}
