//! Typed settings from flags and environment variables, checked at start with a clear
//! message. `crate::startup` assembles the process from them.

use std::path::PathBuf;

use crate::providers::ProviderSettings;
use crate::providers::azure::AzureSettings;
use crate::providers::egress::EgressPolicy;
use crate::providers::gcs::identity::IdentitySettings;
use crate::providers::s3::S3Settings;
use crate::service::limits::RateLimits;

/// Settings shared by every command.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Where the embedded store, vault and keys live.
    #[arg(long, env = "DATA_DIR", default_value = ".data", global = true)]
    pub data_dir: PathBuf,
    /// Credentials are stored as `<prefix>/<tenant>/<connector_id>`.
    #[arg(long, env = "SECRET_PREFIX", default_value = "videovector/connectors", value_parser = parse_secret_prefix, global = true)]
    pub secret_prefix: String,
    /// An S3-compatible endpoint used for customer buckets instead of AWS (emulators only).
    #[arg(long, env = "PROVIDER_S3_ENDPOINT_URL", value_parser = parse_endpoint, global = true)]
    pub s3_endpoint_url: Option<String>,
    /// Hosts, addresses and CIDR ranges inside a network that connectors' own
    /// `endpoint_url` (S3-compatible services) may reach, comma-separated, such as
    /// `minio.internal,10.20.0.0/16`; none by default, so a connector can only name a
    /// service on the public internet.
    #[arg(long = "s3-allowed-endpoints", env = "PROVIDER_S3_ALLOWED_ENDPOINTS", value_parser = parse_egress, default_value = "", global = true)]
    pub s3_allowed_endpoints: EgressPolicy,
    /// The ARN of the service's own AWS principal, which customers' IAM roles trust (the
    /// template passes its dedicated role's); without it, STS `GetCallerIdentity` of the
    /// service's own credentials says. A role named here is assumed before any customer's
    /// role. STS itself is reached as the SDK says (`AWS_ENDPOINT_URL_STS`, else the
    /// region's endpoint).
    #[arg(long, env = "SERVICE_PRINCIPAL_ARN", value_parser = parse_principal_arn, global = true)]
    pub service_principal_arn: Option<String>,
    /// A Cloud Storage JSON API endpoint used instead of Google's (emulators only).
    #[arg(long, env = "PROVIDER_GCS_ENDPOINT_URL", value_parser = parse_endpoint, global = true)]
    pub gcs_endpoint_url: Option<String>,
    /// Google's OAuth token endpoint, which a GCS key's signed assertion is traded at for
    /// the token that credentials for a prefix are downscoped from (emulators and tests
    /// only; never a key file's own `token_uri`).
    #[arg(long, env = "PROVIDER_GCS_OAUTH_TOKEN_URL", value_parser = parse_endpoint, global = true)]
    pub gcs_oauth_token_url: Option<String>,
    /// Google's Security Token Service, which downscopes that token to a prefix (emulators
    /// and tests only).
    #[arg(long, env = "PROVIDER_GCS_STS_TOKEN_URL", value_parser = parse_endpoint, global = true)]
    pub gcs_sts_token_url: Option<String>,
    /// The workload identity pool provider that trusts the service's AWS role, for keyless
    /// GCS connectors: `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
    /// Unset (with `GCS_SERVICE_ACCOUNTS`), keyless GCS connectors are refused with
    /// `identity_not_configured`.
    #[arg(long, env = "GCS_WORKLOAD_IDENTITY_AUDIENCE", value_parser = parse_wif_audience, requires = "gcs_service_accounts", global = true)]
    pub gcs_workload_identity_audience: Option<String>,
    /// The service accounts given to accounts for keyless GCS connectors, one each, in
    /// order, comma-separated; append new ones at the end (docs/api.md).
    #[arg(long = "gcs-service-accounts", env = "GCS_SERVICE_ACCOUNTS", value_delimiter = ',', value_parser = parse_service_account, requires = "gcs_workload_identity_audience", global = true)]
    pub gcs_service_accounts: Vec<String>,
    /// Google's IAM Credentials API, where service accounts' tokens are made (emulators and
    /// tests only).
    #[arg(long, env = "PROVIDER_GCS_IAM_CREDENTIALS_URL", value_parser = parse_endpoint, global = true)]
    pub gcs_iam_credentials_url: Option<String>,
    /// A Blob service base URL used instead of `https://{account}.blob.core.windows.net`
    /// (emulators only); the account becomes the first path segment.
    #[arg(long, env = "PROVIDER_AZURE_ENDPOINT_URL", value_parser = parse_https_endpoint, global = true)]
    pub azure_endpoint_url: Option<String>,
    /// The Entra ID authority that issues Azure tokens, instead of Azure's public cloud.
    #[arg(long, env = "PROVIDER_AZURE_AUTHORITY_HOST", value_parser = parse_https_endpoint, global = true)]
    pub azure_authority_host: Option<String>,
    /// The client id of the operator's multi-tenant Entra app, for keyless Azure
    /// connectors: its federated identity credential trusts the service's AWS role.
    /// Unset, keyless Azure connectors are refused with `identity_not_configured`.
    #[arg(long, env = "AZURE_IDENTITY_CLIENT_ID", value_parser = parse_guid, global = true)]
    pub azure_identity_client_id: Option<String>,
    /// The audience of the service's assertions, as that federated identity credential
    /// names it: `api://AzureADTokenExchange` in Azure's public cloud.
    #[arg(long, env = "AZURE_IDENTITY_AUDIENCE", default_value = crate::providers::azure::identity::DEFAULT_AUDIENCE, value_parser = parse_audience, global = true)]
    pub azure_identity_audience: String,
    /// Keep records in this DynamoDB table and credentials in Secrets Manager, instead of
    /// the embedded store. The AWS SDK's own settings apply (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, credentials).
    #[arg(long, env = "TABLE_NAME", value_parser = parse_table_name, global = true)]
    pub table_name: Option<String>,
    /// The KMS key (id, ARN or alias) that encrypts stored credentials; Secrets Manager's
    /// default key when unset. Only with `TABLE_NAME`.
    #[arg(long, env = "KMS_KEY_ID", global = true)]
    pub kms_key_id: Option<String>,
    /// Origins whose pages may call the API from a browser (CORS), comma-separated, such
    /// as `https://app.example.com`; none by default.
    #[arg(long = "cors-allowed-origins", env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin, global = true)]
    pub cors_allowed_origins: Vec<String>,
    /// Access tests an account may run per minute (0: no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_TESTS_PER_MINUTE",
        default_value_t = 30,
        global = true
    )]
    pub rate_limit_tests_per_minute: u32,
    /// Browse calls an account may make per minute (0: no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_BROWSES_PER_MINUTE",
        default_value_t = 120,
        global = true
    )]
    pub rate_limit_browses_per_minute: u32,
    /// Creates (dry runs included) an account may make per minute (0: no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_CREATES_PER_MINUTE",
        default_value_t = 60,
        global = true
    )]
    pub rate_limit_creates_per_minute: u32,
    /// Access grants an account may ask for per minute (0: no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_ACCESS_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    pub rate_limit_access_per_minute: u32,
    /// How many days a connector's history keeps an event (1-3650), after a delete too.
    #[arg(
        long,
        env = "EVENT_RETENTION_DAYS",
        default_value_t = crate::service::EVENT_RETENTION_DAYS,
        value_parser = clap::value_parser!(u16).range(1..=3650),
        global = true
    )]
    pub event_retention_days: u16,
}

impl Settings {
    /// Settings for the embedded store under `data_dir`, with defaults elsewhere.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            secret_prefix: "videovector/connectors".into(),
            s3_endpoint_url: None,
            s3_allowed_endpoints: EgressPolicy::default(),
            service_principal_arn: None,
            gcs_endpoint_url: None,
            gcs_oauth_token_url: None,
            gcs_sts_token_url: None,
            gcs_workload_identity_audience: None,
            gcs_service_accounts: Vec::new(),
            gcs_iam_credentials_url: None,
            azure_endpoint_url: None,
            azure_authority_host: None,
            azure_identity_client_id: None,
            azure_identity_audience: crate::providers::azure::identity::DEFAULT_AUDIENCE.to_owned(),
            table_name: None,
            kms_key_id: None,
            cors_allowed_origins: Vec::new(),
            rate_limit_tests_per_minute: RateLimits::default().tests,
            rate_limit_browses_per_minute: RateLimits::default().browses,
            rate_limit_creates_per_minute: RateLimits::default().creates,
            rate_limit_access_per_minute: RateLimits::default().accesses,
            event_retention_days: crate::service::EVENT_RETENTION_DAYS,
        }
    }
}

impl Settings {
    /// The per-account limits on the expensive operations.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            tests: self.rate_limit_tests_per_minute,
            browses: self.rate_limit_browses_per_minute,
            creates: self.rate_limit_creates_per_minute,
            accesses: self.rate_limit_access_per_minute,
        }
    }

    /// Where each provider is reached.
    pub fn provider_settings(&self) -> ProviderSettings {
        ProviderSettings {
            s3: S3Settings {
                endpoint_url: self.s3_endpoint_url.clone(),
                egress: self.s3_allowed_endpoints.clone(),
            },
            gcs_endpoint_url: self.gcs_endpoint_url.clone(),
            gcs_tokens: match (&self.gcs_oauth_token_url, &self.gcs_sts_token_url) {
                (None, None) => None,
                (oauth, sts) => {
                    let google = crate::providers::gcs::adapter::TokenEndpoints::default();
                    Some(crate::providers::gcs::adapter::TokenEndpoints {
                        oauth: oauth.clone().unwrap_or(google.oauth),
                        sts: sts.clone().unwrap_or(google.sts),
                    })
                }
            },
            gcs_identity: self.gcs_identity(),
            service_principal_arn: self.service_principal_arn.clone(),
            aws: None,
            azure: AzureSettings {
                endpoint_url: self.azure_endpoint_url.clone(),
                authority_host: self.azure_authority_host.clone(),
                identity: self.azure_identity(),
            },
        }
    }
}

impl Settings {
    /// The operator's workload identity federation for GCS, when both halves are set.
    fn gcs_identity(&self) -> Option<IdentitySettings> {
        let audience = self.gcs_workload_identity_audience.clone()?;
        let accounts: Vec<String> = self
            .gcs_service_accounts
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect();
        if accounts.is_empty() {
            return None;
        }
        let mut identity = IdentitySettings::new(audience, accounts);
        if let Some(sts) = &self.gcs_sts_token_url {
            identity.sts_url.clone_from(sts);
        }
        if let Some(iam) = &self.gcs_iam_credentials_url {
            identity.iam_url.clone_from(iam);
        }
        Some(identity)
    }
}

impl Settings {
    /// The operator's Entra app for Azure, when its client id is set.
    fn azure_identity(&self) -> Option<crate::providers::azure::identity::IdentitySettings> {
        let client_id = self.azure_identity_client_id.as_deref()?;
        Some(crate::providers::azure::identity::IdentitySettings {
            client_id: crate::providers::azure::names::Guid::parse(client_id).ok()?,
            audience: self.azure_identity_audience.clone(),
        })
    }
}

/// An Entra app's client id.
fn parse_guid(s: &str) -> Result<String, String> {
    crate::providers::azure::names::Guid::parse(s)
        .map(String::from)
        .map_err(|e| e.0)
}

/// An assertion audience: 1-1000 printable ASCII characters, as STS takes one.
fn parse_audience(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 1000 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1-1000 printable ASCII characters".to_owned());
    }
    Ok(s.to_owned())
}

/// A workload identity pool provider's resource name, as Google's STS takes it.
fn parse_wif_audience(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("//iam.googleapis.com/projects/");
    let parts: Vec<&str> = rest.map(|r| r.split('/').collect()).unwrap_or_default();
    let named = |p: &str| {
        !p.is_empty() && p.len() <= 63 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    match parts.as_slice() {
        [number, "locations", "global", "workloadIdentityPools", pool, "providers", provider]
            if number.bytes().all(|b| b.is_ascii_digit())
                && !number.is_empty()
                && named(pool)
                && named(provider) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(
            "must be //iam.googleapis.com/projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>"
                .to_owned(),
        ),
    }
}

/// A service account's email, as it goes into IAM Credentials' path: `name@domain`, of
/// lowercase letters, digits, `-` and `.` (an empty entry, as an unset template parameter
/// gives, is dropped later).
fn parse_service_account(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
    };
    match s.split_once('@') {
        Some((name, domain))
            if s.len() <= 254 && ok(name) && ok(domain) && domain.contains('.') =>
        {
            Ok(s.to_owned())
        }
        _ => Err(format!(
            "must be a service account's email such as vv-1@my-project.iam.gserviceaccount.com, not {s}"
        )),
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing more. An empty entry (as
/// an unset template parameter gives) is dropped later.
fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let url = url::Url::parse(s).map_err(|e| format!("is not an origin: {e}"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != s.trim_end_matches('/') {
        return Err(format!(
            "must be an origin such as https://app.example.com (scheme, host and port only), not {s}"
        ));
    }
    Ok(origin)
}

fn parse_table_name(s: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be 3-255 characters of letters, digits and _.-".into())
    }
}

fn parse_secret_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('/')
        && !s.ends_with('/')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be 1-128 characters of letters, digits and /_+=.@-, without a leading or trailing /".into())
    }
}

fn parse_endpoint(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// An IAM principal's ARN in any partition: `arn:<partition>:iam::<12 digits>:<resource>`.
fn parse_principal_arn(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !resource.is_empty());
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be an IAM ARN such as arn:aws:iam::123456789012:role/connectors-access".into())
    }
}

fn parse_egress(s: &str) -> Result<EgressPolicy, String> {
    EgressPolicy::parse(&s.split(',').map(str::to_owned).collect::<Vec<_>>())
}

/// Azure sends tokens only over HTTPS, so its endpoints must be `https`.
fn parse_https_endpoint(s: &str) -> Result<String, String> {
    let url = parse_endpoint(s)?;
    if url.starts_with("https://") {
        Ok(url)
    } else {
        Err("must be an https URL (Azure credentials are only sent over HTTPS)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prefixes_and_endpoints_are_checked() {
        assert!(parse_secret_prefix("videovector/connectors").is_ok());
        assert!(parse_secret_prefix("/abs").is_err());
        assert!(parse_secret_prefix("a b").is_err());
        assert_eq!(
            parse_endpoint("http://127.0.0.1:5000/").as_deref(),
            Ok("http://127.0.0.1:5000")
        );
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("not a url").is_err());
        assert_eq!(
            parse_origin("https://app.example.com").as_deref(),
            Ok("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert_eq!(parse_origin(" ").as_deref(), Ok(""));
        assert!(parse_origin("https://app.example.com/path").is_err());
        assert!(parse_origin("ftp://x").is_err());
        assert!(parse_origin("*").is_err());
    }
}
