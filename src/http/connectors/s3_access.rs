//! How an S3 body says the service gets into the bucket: an access key pair, or the IAM
//! role to assume (`role_arn`), never both. Create requires one of them; PATCH may switch.

use super::super::fields::{Fields, text};
use crate::domain::credentials::S3Credentials;
use crate::domain::names::RoleArn;

/// The fields of either way in.
const KEY_FIELDS: [&str; 2] = ["aws_access_key_id", "aws_secret_access_key"];

/// One way into an S3 bucket.
pub(super) enum S3Access {
    Keys(S3Credentials),
    Role(RoleArn),
}

/// Reads the way in from `f`, naming every field at fault: both ways at once, half a key
/// pair, or (when `required`) neither.
pub(super) fn s3_access(f: &mut Fields, required: bool) -> Option<S3Access> {
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
