//! The service's own AWS principal, the one customers' IAM roles trust: the configured ARN
//! (the template passes its dedicated, retained role), or else the caller identity of the
//! service's own AWS credentials, from STS `GetCallerIdentity`, asked once per process.

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use super::{ProviderError, ProviderErrorKind};

/// Resolves, once, the ARN customers' trust policies name.
#[derive(Debug, Default)]
pub struct ServicePrincipal {
    configured: Option<String>,
    resolved: OnceCell<String>,
}

impl ServicePrincipal {
    pub fn new(configured: Option<String>) -> Self {
        Self {
            configured,
            resolved: OnceCell::new(),
        }
    }

    /// # Errors
    /// When no ARN is configured and STS cannot say who the service is.
    pub async fn arn(&self, base: &SdkConfig) -> Result<&str, ProviderError> {
        if let Some(arn) = &self.configured {
            return Ok(arn);
        }
        self.resolved
            .get_or_try_init(|| async {
                let identity = aws_sdk_sts::Client::new(base)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %aws_sdk_sts::error::DisplayErrorContext(&e), "GetCallerIdentity failed");
                        ProviderError::new(
                            ProviderErrorKind::ProviderUnavailable,
                            "the service's own AWS principal is unknown: STS did not answer \
                             (the operator can set SERVICE_PRINCIPAL_ARN)",
                        )
                    })?;
                identity.arn().map(role_of).ok_or_else(|| {
                    ProviderError::new(
                        ProviderErrorKind::ProviderUnavailable,
                        "STS named no principal for the service's credentials",
                    )
                })
            })
            .await
            .map(String::as_str)
    }
}

/// A trust policy names a role, not one of its sessions: `arn:aws:sts::1:assumed-role/R/s`
/// becomes `arn:aws:iam::1:role/R` (a role with a path needs SERVICE_PRINCIPAL_ARN, since
/// the session ARN does not carry the path). Any other ARN is kept as it is.
fn role_of(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [scheme, partition, "sts", _, account, resource] = parts.as_slice()
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.split_once('/')
    {
        return format!("{scheme}:{partition}:iam::{account}:role/{role}");
    }
    arn.to_owned()
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), for the ARNs a policy names.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_arn_is_turned_into_the_role_it_belongs_to() {
        assert_eq!(
            role_of("arn:aws:sts::123456789012:assumed-role/connectors-access/i-0abc"),
            "arn:aws:iam::123456789012:role/connectors-access"
        );
        assert_eq!(
            role_of("arn:aws-cn:sts::123456789012:assumed-role/r/s"),
            "arn:aws-cn:iam::123456789012:role/r"
        );
        assert_eq!(
            role_of("arn:aws:iam::123456789012:user/moto"),
            "arn:aws:iam::123456789012:user/moto"
        );
        assert_eq!(partition_of("arn:aws-us-gov:iam::1:role/r"), "aws-us-gov");
    }
}
