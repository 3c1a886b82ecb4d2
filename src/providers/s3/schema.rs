//! S3's part of the OpenAPI document (the http layer's): the create body, with its two ways
//! into a bucket as a `oneOf`, and the patterns of its names.

use std::borrow::Cow;

use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::scopes::{ImportMode, Scopes};
use crate::http::fields::request_fields;
use crate::http::openapi::schemas::ipv4;
use crate::http::openapi::schemas::*;

/// What an S3 bucket name may not be, beyond its pattern: an IPv4 address, or starting or
/// ending with one of the prefixes and suffixes AWS reserves.
pub(crate) const S3_BUCKET_RESERVED: &str = concat!(
    r"^(?:",
    ipv4!(),
    r"$|xn--|sthree-|amzn-s3-demo-)|(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$"
);

/// An AWS region code: two letters, one to three words, a number of one or two digits.
pub(crate) const AWS_REGION: &str = r"^[a-z]{2}(?:-[a-z]+){1,3}-[0-9]{1,2}$";
/// An S3-compatible service's own region word (R2's `auto`, B2's `us-west-004`).
pub(crate) const COMPATIBLE_REGION: &str = r"^[a-z0-9][a-z0-9-]*$";

request_fields! {
/// `POST /connectors/s3`: every field the parser accepts (any other is a 422 naming it).
/// Exactly one way into the bucket, the `oneOf` below: `aws_access_key_id` with
/// `aws_secret_access_key` (on AWS or, with `endpoint_url`, on an S3-compatible service), or
/// `role_arn` (on AWS only); neither, both, or half a key pair is a 422 naming the fields.
/// `scopes` defaults to `["import"]`, `import_mode` to `all`, `export_base_path` to the whole
/// bucket. A field sent as `null` counts as not sent.
#[schema(
    as = S3ConnectorCreate,
    examples(json!({
        "name": "Archive S3",
        "bucket": "media-archive",
        "region": "us-east-1",
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "scopes": ["import", "export"],
        "import_mode": "new_only",
        "export_base_path": "exports/review/"
    }))
)]
#[serde(deny_unknown_fields)]
pub(crate) struct S3CreateFields as S3CreateSent {
    name: ConnectorNameSchema,
    scopes: Option<Scopes>,
    import_mode: Option<ImportMode>,
    export_base_path: Option<ExportBasePathSchema>,
    /// S3's general-purpose bucket naming rules: 3–63 lowercase letters, digits, `.` and
    /// `-`, starting and ending with a letter or digit, no `..`, not an IPv4 address, not
    /// starting `xn--`, `sthree-` or `amzn-s3-demo-`, not ending `-s3alias`,
    /// `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3` (the `not`).
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z0-9](?:\.?[a-z0-9-])*\.?[a-z0-9]$"
    )]
    bucket: String,
    /// On AWS, a region code: two lowercase letters, one to three lowercase words and a
    /// number of one or two digits, joined by `-` (`us-east-1`, `us-gov-west-1`). With
    /// `endpoint_url`, the service's own word: 1–32 lowercase letters, digits and `-`,
    /// starting with a letter or digit (R2's `auto`). Each way in below gives its pattern.
    #[schema(min_length = 1, max_length = 32)]
    region: String,
    /// 16–128 uppercase letters and digits. With `aws_secret_access_key`, instead of
    /// `role_arn`.
    #[schema(min_length = 16, max_length = 128, pattern = r"^[A-Z0-9]+$")]
    aws_access_key_id: Option<String>,
    /// 1–128 printable ASCII characters without spaces, written to the secret store only.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$", format = Password)]
    aws_secret_access_key: Option<String>,
    /// An IAM role in the customer's account, instead of keys, on AWS only: the service
    /// assumes it with the account's external ID (see `GET /connectors/s3/role-setup`), and
    /// stores no secret. Any partition (`aws`, `aws-cn`, `aws-us-gov`, …); a path and a name
    /// of IAM's characters, the name at most 64.
    #[schema(
        max_length = 2048,
        pattern = r"^arn:aws(?:[a-z0-9-]{0,28}[a-z0-9])?:iam::[0-9]{12}:role/(?:[A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$",
        examples("arn:aws:iam::111122223333:role/VideoVectorAccess")
    )]
    role_arn: Option<String>,
    /// An S3-compatible service instead of AWS (Cloudflare R2, Wasabi, Backblaze B2, MinIO,
    /// Ceph): an `https` origin (`https://host[:port]`, a trailing `/` allowed; no user name,
    /// password, path, query or fragment), stored normalised. Its host may not be, nor
    /// resolve to, an address inside a network (loopback, private, link-local, CGNAT,
    /// multicast, unspecified) unless the operator allowed it; the check is made here and
    /// again at every connection, and no schema can state it (a host that does not resolve is
    /// a 422 too). The pattern admits lowercase DNS names whose last label starts with a
    /// letter; the service also takes IP literals, capitals and internationalised names.
    #[schema(
        max_length = 2048,
        pattern = r"^https://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$",
        examples("https://account.r2.cloudflarestorage.com")
    )]
    endpoint_url: Option<String>,
    /// Path-style requests (`https://host/bucket/key`), which some compatible services
    /// need. Default `false`.
    force_path_style: Option<bool>,
}
}

/// `POST /connectors/s3`'s body (see [`S3CreateFields`]), with its ways into the bucket.
pub struct S3Create;

impl PartialSchema for S3Create {
    fn schema() -> RefOr<Schema> {
        let given = serde_json::json!({"type": "string"});
        let absent = serde_json::json!({"type": "null"});
        extended(S3CreateFields::schema(), |object| {
            refuse(object, "bucket", S3_BUCKET_RESERVED);
            refuse(object, "endpoint_url", "xn--");
            also(
                object,
                serde_json::json!([{"oneOf": [
                    {
                        "title": "Access keys, on AWS",
                        "description": "`aws_access_key_id` and `aws_secret_access_key`; no \
                            `endpoint_url`, no `role_arn`; `region` an AWS region code.",
                        "required": ["aws_access_key_id", "aws_secret_access_key"],
                        "properties": {
                            "aws_access_key_id": given,
                            "aws_secret_access_key": given,
                            "role_arn": absent,
                            "endpoint_url": absent,
                            "region": {"pattern": AWS_REGION}
                        }
                    },
                    {
                        "title": "An IAM role, on AWS",
                        "description": "`role_arn`; no keys, no `endpoint_url` (sessions come from \
                            AWS's STS, which no S3-compatible service accepts); `region` an AWS \
                            region code.",
                        "required": ["role_arn"],
                        "properties": {
                            "role_arn": given,
                            "aws_access_key_id": absent,
                            "aws_secret_access_key": absent,
                            "endpoint_url": absent,
                            "region": {"pattern": AWS_REGION}
                        }
                    },
                    {
                        "title": "Access keys, on an S3-compatible service",
                        "description": "`endpoint_url`, `aws_access_key_id` and \
                            `aws_secret_access_key`; no `role_arn`; `region` the service's own word.",
                        "required": ["endpoint_url", "aws_access_key_id", "aws_secret_access_key"],
                        "properties": {
                            "endpoint_url": given,
                            "aws_access_key_id": given,
                            "aws_secret_access_key": given,
                            "role_arn": absent,
                            "region": {"pattern": COMPATIBLE_REGION}
                        }
                    }
                ]}]),
            );
        })
    }
}
impl ToSchema for S3Create {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("S3ConnectorCreate")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        S3CreateFields::schemas(schemas);
    }
}

/// S3's settings a PATCH may change besides the common ones.
pub(crate) const PATCH_SETTINGS: [&str; 1] = ["region"];

request_fields! {
/// S3's fields of a PATCH (merged into `ConnectorUpdate`).
pub(crate) struct S3PatchFields as S3PatchSent {
    /// S3 only: an AWS region code (`us-east-1`), or, on a connector with an
    /// `endpoint_url`, the compatible service's own word (`auto`); the pattern is the wider
    /// of the two, since which applies depends on the connector.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 32,
        pattern = r"^[a-z0-9][a-z0-9-]*$"
    )]
    region: Option<String>,
    /// S3 only, with `aws_secret_access_key`: 16–128 uppercase letters and digits.
    #[schema(
        nullable = false,
        min_length = 16,
        max_length = 128,
        pattern = r"^[A-Z0-9]+$"
    )]
    aws_access_key_id: Option<String>,
    /// S3 only, with `aws_access_key_id`: 1–128 printable ASCII characters without spaces.
    #[schema(nullable = false, min_length = 1, max_length = 128, pattern = "^[!-~]+$", format = Password)]
    aws_secret_access_key: Option<String>,
    /// S3 on AWS only, instead of a key pair: the IAM role the service assumes from now on (a
    /// connector with keys switches to it, and its stored secret is deleted). Keys sent
    /// later switch it back.
    #[schema(
        nullable = false,
        max_length = 2048,
        pattern = r"^arn:aws(?:[a-z0-9-]{0,28}[a-z0-9])?:iam::[0-9]{12}:role/(?:[A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$"
    )]
    role_arn: Option<String>,
}
}

/// S3's kinds of PATCH credentials.
pub(crate) const PATCH_KINDS: [PatchKind; 2] = [
    PatchKind {
        title: "S3 access keys",
        description: "Both keys, replacing the stored pair (or the role of a connector that has \
            one).",
        fields: &["region", "aws_access_key_id", "aws_secret_access_key"],
        required: &["aws_access_key_id", "aws_secret_access_key"],
        any_of: &[],
    },
    PatchKind {
        title: "S3 IAM role",
        description: "`role_arn`, replacing the keys (or the role) of a connector on AWS.",
        fields: &["region", "role_arn"],
        required: &["role_arn"],
        any_of: &[],
    },
];
