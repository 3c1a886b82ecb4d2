//! S3's access grants: the session policy that holds a federation token or a role session
//! to one prefix and its actions, and the credentials handed out from such a session.

use std::time::SystemTime;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::location::S3Location;
use crate::domain::timestamp::Timestamp;
use crate::providers::access::{PrefixRights, VendedCredentials};
use crate::providers::roles::ScopedSession;

/// Writes `text` so that IAM reads every character literally where it matches wildcards
/// (`*`, `?`) and policy variables (`$`).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

/// The ARN partition of a region.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The session policy for `rights` on every key of `bucket` that starts with `prefix`
/// (empty, or ending with `/`): reading lists only under the prefix, writing may do
/// nothing else. Never empty (a federation token without a policy may do nothing; a role
/// session without one may do all the role may).
pub fn session_policy(bucket: &str, region: &str, prefix: &str, rights: PrefixRights) -> String {
    let bucket_arn = format!("arn:{}:s3:::{bucket}", partition(region));
    let objects = format!("{bucket_arn}/{}*", literal(prefix));
    let statements: Vec<Value> = match rights {
        PrefixRights::ReadList => {
            let mut list = json!({
                "Sid": "ListThePrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
            });
            if !prefix.is_empty() {
                list["Condition"] =
                    json!({"StringLike": {"s3:prefix": [format!("{}*", literal(prefix))]}});
            }
            vec![
                list,
                json!({
                    "Sid": "ReadThePrefix",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": objects,
                }),
            ]
        }
        PrefixRights::Write => vec![json!({
            "Sid": "WriteThePrefix",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": objects,
        })],
    };
    ascii_only(&json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

/// `json` with every character outside ASCII written as a `\uXXXX` escape: STS takes
/// policy text only in U+0009-U+00FF, and a key may be in any script.
fn ascii_only(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The longest plaintext session policy STS accepts, in characters.
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;

/// Why a session policy for `prefix` on `location` cannot be made: it would be longer
/// than STS accepts. None when it fits.
pub fn policy_overflow(
    location: &S3Location,
    prefix: &str,
    rights: PrefixRights,
) -> Option<String> {
    let policy = session_policy(
        location.bucket.as_str(),
        location.region.as_str(),
        prefix,
        rights,
    );
    let length = policy.chars().count();
    (length > MAX_SESSION_POLICY_CHARS).then(|| {
        format!(
            "this prefix makes an S3 session policy of {length} characters, over STS's limit \
             of {MAX_SESSION_POLICY_CHARS} (the bucket and the prefix appear in it up to \
             twice, '*', '?' and '$' as four characters each); use a shorter prefix"
        )
    })
}

/// A scoped session's credentials in the SDK's terms, for the bucket at `location`.
pub fn vend(
    session: &ScopedSession,
    location: &S3Location,
    fallback_expiry: Timestamp,
) -> VendedCredentials {
    use aws_credential_types::Credentials;
    let c: &Credentials = session.credentials();
    let expires_at = c
        .expiry()
        .and_then(|e| e.duration_since(SystemTime::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .map_or(fallback_expiry, Timestamp::from_unix);
    VendedCredentials::S3 {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: SecretString::from(c.secret_access_key().to_owned()),
        session_token: SecretString::from(c.session_token().unwrap_or_default().to_owned()),
        region: location.region.to_string(),
        endpoint_url: None,
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(policy: &str) -> Value {
        serde_json::from_str(policy).expect("a policy is JSON")
    }

    fn location() -> S3Location {
        serde_json::from_value(json!({"bucket": "media", "region": "eu-west-1"}))
            .expect("a location")
    }

    #[test]
    fn a_prefix_in_any_script_is_sent_as_ascii_and_read_back_as_itself() {
        let policy = session_policy("media", "eu-west-1", "映像/🎬/", PrefixRights::Write);
        assert!(policy.is_ascii(), "{policy}");
        assert!(
            policy.contains("\\u6620\\u50cf/\\ud83c\\udfac/"),
            "{policy}"
        );
        assert_eq!(
            parsed(&policy)["Statement"][0]["Resource"],
            "arn:aws:s3:::media/映像/🎬/*"
        );
    }

    #[test]
    fn a_policy_past_stss_2048_characters_is_refused_before_sts_is_asked() {
        let l = location();
        let read = PrefixRights::ReadList;
        assert_eq!(policy_overflow(&l, "in/2026/", read), None);
        // Reading names the prefix twice; writing once, so the same prefix may still fit.
        let long = format!("{}/", "p".repeat(999));
        let why = policy_overflow(&l, &long, read).expect("too long to read");
        assert!(why.contains("2048"), "{why}");
        assert_eq!(policy_overflow(&l, &long, PrefixRights::Write), None);
        // A wildcard is written as four characters, and counted so.
        let starred = format!("{}/", "*".repeat(300));
        assert!(policy_overflow(&l, &starred, read).is_some());
        assert_eq!(
            policy_overflow(&l, &format!("{}/", "p".repeat(300)), read),
            None
        );
    }

    #[test]
    fn reading_a_prefix_lists_and_reads_only_under_it() {
        let p = parsed(&session_policy(
            "media",
            "eu-west-1",
            "in/2026/",
            PrefixRights::ReadList,
        ));
        assert_eq!(p["Statement"][0]["Action"], "s3:ListBucket");
        assert_eq!(p["Statement"][0]["Resource"], "arn:aws:s3:::media");
        assert_eq!(
            p["Statement"][0]["Condition"]["StringLike"]["s3:prefix"],
            json!(["in/2026/*"])
        );
        assert_eq!(p["Statement"][1]["Action"], "s3:GetObject");
        assert_eq!(
            p["Statement"][1]["Resource"],
            "arn:aws:s3:::media/in/2026/*"
        );
        assert_eq!(p["Statement"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn writing_a_prefix_may_only_put_objects_under_it() {
        let p = parsed(&session_policy(
            "media",
            "cn-north-1",
            "out/",
            PrefixRights::Write,
        ));
        assert_eq!(
            p["Statement"],
            json!([{"Sid": "WriteThePrefix", "Effect": "Allow", "Action": "s3:PutObject",
                    "Resource": "arn:aws-cn:s3:::media/out/*"}])
        );
    }

    #[test]
    fn the_whole_bucket_is_listed_without_a_condition() {
        let p = parsed(&session_policy(
            "media",
            "us-east-1",
            "",
            PrefixRights::ReadList,
        ));
        assert!(p["Statement"][0].get("Condition").is_none());
        assert_eq!(p["Statement"][1]["Resource"], "arn:aws:s3:::media/*");
    }

    #[test]
    fn wildcards_and_variables_in_a_prefix_are_read_literally_by_iam() {
        let p = parsed(&session_policy(
            "media",
            "us-east-1",
            "a*b?/$x/",
            PrefixRights::Write,
        ));
        assert_eq!(
            p["Statement"][0]["Resource"],
            "arn:aws:s3:::media/a${*}b${?}/${$}x/*"
        );
    }
}
