//! Azure's part of the wire (the http layer's): its create fields, its PATCH credential
//! fields, and its columns of the connector view.

use super::credentials::{AzureCredentials, AzureUpdate, parse_client_secret};
use super::location::AzureLocation;
use super::names::{AzureTenant, ContainerName, Guid, StorageAccount};
use crate::domain::connector::Location;
use crate::domain::credentials::Credentials;
use crate::http::fields::{Fields, text};
use crate::http::wire::Columns;
use crate::service::connectors::{CredentialUpdate, NewAccess};

/// The create body's fields besides the common ones.
pub(crate) const CREATE_FIELDS: [&str; 5] = [
    "storage_account",
    "container",
    "tenant_id",
    "client_id",
    "client_secret",
];

/// The PATCH fields that change how the service gets in.
pub(crate) const PATCH_CREDENTIAL_FIELDS: [&str; 3] = ["tenant_id", "client_id", "client_secret"];

/// Reads the Azure create fields: the container's location and the service principal,
/// naming every field at fault in `f`.
pub(crate) fn parse_create(f: &mut Fields) -> (Option<Location>, Option<NewAccess>) {
    let account = f.required("storage_account", StorageAccount::parse);
    let container = f.required("container", ContainerName::parse);
    let tenant_id = f.required("tenant_id", AzureTenant::parse);
    let client_id = f.required("client_id", Guid::parse);
    let secret = f.required("client_secret", text);
    let credentials = match (tenant_id, client_id, secret) {
        (Some(t), Some(id), Some(s)) => AzureCredentials::new(t, id, &s)
            .map_err(|e| f.fail("client_secret", e.0))
            .ok()
            .map(|c| NewAccess::Keys(Credentials::Azure(c))),
        _ => None,
    };
    let location = account.zip(container).map(|(storage_account, container)| {
        Location::Azure(AzureLocation {
            storage_account,
            container,
        })
    });
    (location, credentials)
}

/// Reads Azure's credential fields of a PATCH, if any was sent.
pub(crate) fn parse_patch(f: &mut Fields) -> Option<CredentialUpdate> {
    let update = AzureUpdate {
        tenant_id: f.optional("tenant_id", AzureTenant::parse),
        client_id: f.optional("client_id", Guid::parse),
        client_secret: f.optional("client_secret", parse_client_secret),
    };
    let sent =
        update.tenant_id.is_some() || update.client_id.is_some() || update.client_secret.is_some();
    sent.then_some(CredentialUpdate::Azure(update))
}

/// Azure's columns of the connector view.
pub(crate) fn columns(l: &AzureLocation) -> Columns<'_> {
    Columns {
        storage_account: Some(l.storage_account.as_str()),
        container: Some(l.container.as_str()),
        ..Columns::default()
    }
}
