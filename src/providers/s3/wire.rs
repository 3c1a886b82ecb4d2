//! S3's part of the wire (the http layer's): its create and PATCH fields read (they are
//! declared in `schema.rs`), and its columns of the connector view. The way into a bucket
//! is an access key pair or the IAM role to assume (`role_arn`), never both; create requires
//! one of them, PATCH may switch.

use super::credentials::{S3Access, S3Credentials};
use super::endpoint::S3Endpoint;
use super::location::S3Location;
use super::names::{AwsRegion, S3BucketName};
use super::schema::{S3CreateSent, S3PatchSent};
use crate::domain::connector::{Access, Location};
use crate::domain::credentials::Credentials;
use crate::domain::names::RoleArn;
use crate::http::fields::{Fields, Sent, text};
use crate::http::wire::{AuthType, Columns};
use crate::service::connectors::{CredentialUpdate, NewAccess};

/// The fields of a way in, whether a create's or a PATCH's.
struct WayIn<'a> {
    key_id: &'a Sent,
    secret: &'a Sent,
    role_arn: &'a Sent,
}

/// Reads the way in, naming every field at fault: both ways at once, half a key pair, or
/// (when `required`) neither.
fn s3_access(f: &mut Fields, w: &WayIn<'_>, required: bool) -> Option<S3Access> {
    let role_given = w.role_arn.given();
    let keys_given: Vec<&Sent> = [w.key_id, w.secret]
        .into_iter()
        .filter(|k| k.given())
        .collect();
    if role_given && !keys_given.is_empty() {
        for field in std::iter::once(w.role_arn).chain(keys_given) {
            f.fail(
                field.name(),
                "give either role_arn or aws_access_key_id and aws_secret_access_key, not both",
            );
        }
        return None;
    }
    if role_given {
        return f.optional(w.role_arn, RoleArn::parse).map(S3Access::Role);
    }
    if keys_given.is_empty() && !required {
        return None;
    }
    if keys_given.is_empty() {
        for field in [w.key_id, w.secret, w.role_arn] {
            f.fail(
                field.name(),
                "is required: give aws_access_key_id and aws_secret_access_key, or role_arn",
            );
        }
        return None;
    }
    let (key_id, secret) = (f.optional(w.key_id, text), f.optional(w.secret, text));
    match (key_id, secret) {
        (Some(k), Some(s)) => S3Credentials::parse(&k, &s)
            .map_err(|(field, e)| f.fail(field, e.0))
            .ok()
            .map(S3Access::Keys),
        (Some(_), None) if !w.secret.given() => {
            f.fail(w.secret.name(), "is required with aws_access_key_id");
            None
        }
        (None, Some(_)) if !w.key_id.given() => {
            f.fail(w.key_id.name(), "is required with aws_secret_access_key");
            None
        }
        // A field that is not a string has been named already.
        _ => None,
    }
}

/// Reads the S3 create fields: the bucket's location and the way in, naming every field at
/// fault in `f`.
pub(crate) fn parse_create(
    f: &mut Fields,
    b: &S3CreateSent,
) -> (Option<Location>, Option<NewAccess>) {
    let bucket = f.required(&b.bucket, S3BucketName::parse);
    // AWS's region codes, unless the connector names an S3-compatible service, whose
    // regions are its own words (R2's `auto`).
    let compatible = b.endpoint_url.given();
    let region = if compatible {
        f.required(&b.region, AwsRegion::parse)
    } else {
        f.required(&b.region, AwsRegion::parse_aws)
    };
    let endpoint_url = f.optional(&b.endpoint_url, S3Endpoint::parse);
    let force_path_style = f.boolean(&b.force_path_style).unwrap_or(false);
    if compatible && b.role_arn.given() {
        // Sessions come from AWS's STS, which no S3-compatible service accepts.
        f.fail(
            b.role_arn.name(),
            "applies only to buckets on AWS (a connector with endpoint_url needs keys)",
        );
    }
    let way_in = WayIn {
        key_id: &b.aws_access_key_id,
        secret: &b.aws_secret_access_key,
        role_arn: &b.role_arn,
    };
    let access = s3_access(f, &way_in, true).map(|a| match a {
        S3Access::Keys(keys) => NewAccess::Keys(Credentials::S3(keys)),
        S3Access::Role(role_arn) => NewAccess::Role(role_arn),
    });
    let location = bucket.zip(region).map(|(bucket, region)| {
        Location::S3(S3Location {
            bucket,
            region,
            endpoint_url,
            force_path_style,
        })
    });
    (location, access)
}

/// Reads S3's credential fields of a PATCH, if any was sent (its `region` is a setting,
/// read with the others).
pub(crate) fn parse_patch(f: &mut Fields, b: &S3PatchSent) -> Option<CredentialUpdate> {
    let way_in = WayIn {
        key_id: &b.aws_access_key_id,
        secret: &b.aws_secret_access_key,
        role_arn: &b.role_arn,
    };
    s3_access(f, &way_in, false).map(CredentialUpdate::S3)
}

/// The fields of S3's PATCH that change how the service gets in.
pub(crate) fn patch_credentials(b: &S3PatchSent) -> [&Sent; 3] {
    [&b.aws_access_key_id, &b.aws_secret_access_key, &b.role_arn]
}

/// S3's columns of the connector view.
pub(crate) fn columns<'a>(l: &'a S3Location, access: &'a Access) -> Columns<'a> {
    let (auth_type, role_arn, external_id) = match access {
        Access::IamRole(g) => (
            AuthType::IamRole,
            Some(g.role_arn.as_str()),
            Some(g.external_id.as_str()),
        ),
        // Another provider's kind never reaches an S3 connector's view.
        Access::Secret(_) | Access::GcsIdentity(_) | Access::AzureIdentity(_) => {
            (AuthType::AccessKey, None, None)
        }
    };
    Columns {
        bucket: Some(l.bucket.as_str()),
        region: Some(l.region.as_str()),
        endpoint_url: l.endpoint_url.as_ref().map(|e| e.as_str()),
        force_path_style: Some(l.force_path_style),
        auth_type: Some(auth_type),
        role_arn,
        external_id,
        ..Columns::default()
    }
}
