//! S3's part of the wire (the http layer's): its create fields, its PATCH credential
//! fields, and its columns of the connector view. The way into a bucket is an access key
//! pair or the IAM role to assume (`role_arn`), never both; create requires one of them,
//! PATCH may switch.

use super::credentials::{S3Access, S3Credentials};
use super::endpoint::S3Endpoint;
use super::location::S3Location;
use super::names::{AwsRegion, S3BucketName};
use crate::domain::connector::{Access, Location};
use crate::domain::credentials::Credentials;
use crate::domain::names::RoleArn;
use crate::http::fields::{Fields, text};
use crate::http::wire::{AuthType, Columns};
use crate::service::connectors::{CredentialUpdate, NewAccess};

/// The create body's fields besides the common ones.
pub(crate) const CREATE_FIELDS: [&str; 7] = [
    "bucket",
    "region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "role_arn",
    "endpoint_url",
    "force_path_style",
];

/// The PATCH fields that change how the service gets in.
pub(crate) const PATCH_CREDENTIAL_FIELDS: [&str; 3] =
    ["aws_access_key_id", "aws_secret_access_key", "role_arn"];

/// The fields of either way in.
const KEY_FIELDS: [&str; 2] = ["aws_access_key_id", "aws_secret_access_key"];

/// Reads the way in from `f`, naming every field at fault: both ways at once, half a key
/// pair, or (when `required`) neither.
fn s3_access(f: &mut Fields, required: bool) -> Option<S3Access> {
    let role_given = f.given("role_arn");
    let keys_given: Vec<&str> = KEY_FIELDS.into_iter().filter(|k| f.given(k)).collect();
    if role_given && !keys_given.is_empty() {
        for field in std::iter::once("role_arn").chain(keys_given) {
            f.fail(
                field,
                "give either role_arn or aws_access_key_id and aws_secret_access_key, not both",
            );
        }
        return None;
    }
    if role_given {
        return f.optional("role_arn", RoleArn::parse).map(S3Access::Role);
    }
    if keys_given.is_empty() && !required {
        return None;
    }
    if keys_given.is_empty() {
        for field in KEY_FIELDS.into_iter().chain(["role_arn"]) {
            f.fail(
                field,
                "is required: give aws_access_key_id and aws_secret_access_key, or role_arn",
            );
        }
        return None;
    }
    let (key_id, secret) = (
        f.optional("aws_access_key_id", text),
        f.optional("aws_secret_access_key", text),
    );
    match (key_id, secret) {
        (Some(k), Some(s)) => S3Credentials::parse(&k, &s)
            .map_err(|(field, e)| f.fail(field, e.0))
            .ok()
            .map(S3Access::Keys),
        (Some(_), None) if !f.given("aws_secret_access_key") => {
            f.fail(
                "aws_secret_access_key",
                "is required with aws_access_key_id",
            );
            None
        }
        (None, Some(_)) if !f.given("aws_access_key_id") => {
            f.fail(
                "aws_access_key_id",
                "is required with aws_secret_access_key",
            );
            None
        }
        // A field that is not a string has been named already.
        _ => None,
    }
}

/// Reads the S3 create fields: the bucket's location and the way in, naming every field at
/// fault in `f`.
pub(crate) fn parse_create(f: &mut Fields) -> (Option<Location>, Option<NewAccess>) {
    let bucket = f.required("bucket", S3BucketName::parse);
    // AWS's region codes, unless the connector names an S3-compatible service, whose
    // regions are its own words (R2's `auto`).
    let compatible = f.value("endpoint_url").is_some_and(|v| !v.is_null());
    let region = if compatible {
        f.required("region", AwsRegion::parse)
    } else {
        f.required("region", AwsRegion::parse_aws)
    };
    let endpoint_url = f.optional("endpoint_url", S3Endpoint::parse);
    let force_path_style = f.boolean("force_path_style").unwrap_or(false);
    if compatible && f.given("role_arn") {
        // Sessions come from AWS's STS, which no S3-compatible service accepts.
        f.fail(
            "role_arn",
            "applies only to buckets on AWS (a connector with endpoint_url needs keys)",
        );
    }
    let access = s3_access(f, true).map(|a| match a {
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

/// Reads S3's credential fields of a PATCH, if any was sent.
pub(crate) fn parse_patch(f: &mut Fields) -> Option<CredentialUpdate> {
    s3_access(f, false).map(CredentialUpdate::S3)
}

/// S3's columns of the connector view.
pub(crate) fn columns<'a>(l: &'a S3Location, access: &'a Access) -> Columns<'a> {
    let (auth_type, role_arn, external_id) = match access {
        Access::IamRole(g) => (
            AuthType::IamRole,
            Some(g.role_arn.as_str()),
            Some(g.external_id.as_str()),
        ),
        Access::Secret(_) => (AuthType::AccessKey, None, None),
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
