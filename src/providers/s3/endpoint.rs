//! The endpoint of an S3-compatible service a connector names (Cloudflare R2, Wasabi,
//! Backblaze B2, MinIO, Ceph): an `https` origin, nothing more. Whether its host may be
//! called at all is the egress policy's decision (`crate::providers::egress`), made at
//! create and again at every connection.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::domain::{Invalid, Parsed};

/// `https://host[:port]`, stored in that normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct S3Endpoint {
    origin: String,
    host: String,
}

/// What a host is: a name to resolve, or an address as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Name(&'a str),
    Address(IpAddr),
}

impl S3Endpoint {
    /// # Errors
    /// When the text is not an `https` URL with a host and nothing after it but a `/`
    /// (no user name or password, path, query or fragment).
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.len() > 2048 {
            return Err(Invalid::new("must be at most 2048 characters"));
        }
        let url = url::Url::parse(s)
            .map_err(|_| Invalid::new("must be an https URL such as https://s3.example.com"))?;
        if url.scheme() != "https" {
            return Err(Invalid::new(
                "must be an https URL: credentials are only sent over TLS",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new("must not carry a user name or password"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(Invalid::new(
                "must be the service's origin only, without a path, query or fragment \
                 (the bucket is its own field)",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(Invalid::new("must name a host")),
        };
        if host.is_empty() {
            return Err(Invalid::new("must name a host"));
        }
        let origin = url.origin().ascii_serialization();
        Ok(Self { origin, host })
    }

    /// `https://host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// The host: a name (lowercase, as the URL parser normalised it) or an address.
    pub fn host(&self) -> Host<'_> {
        match self.host.parse::<IpAddr>() {
            Ok(address) => Host::Address(address),
            Err(_) => Host::Name(&self.host),
        }
    }
}

impl TryFrom<String> for S3Endpoint {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

impl From<S3Endpoint> for String {
    fn from(e: S3Endpoint) -> Self {
        e.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_an_https_origin_stored_normalised() {
        let e = S3Endpoint::parse("https://ACCOUNT.r2.cloudflarestorage.com/").expect("valid");
        assert_eq!(e.as_str(), "https://account.r2.cloudflarestorage.com");
        assert_eq!(e.host(), Host::Name("account.r2.cloudflarestorage.com"));
        let e = S3Endpoint::parse("https://minio.internal:9000").expect("valid");
        assert_eq!(e.as_str(), "https://minio.internal:9000");
        let e = S3Endpoint::parse("https://[::1]:9000").expect("valid");
        assert_eq!(e.host(), Host::Address("::1".parse().expect("ip")));
    }

    #[test]
    fn an_ip_written_in_another_base_is_read_as_the_address_it_is() {
        let e = S3Endpoint::parse("https://2130706433").expect("the URL parser reads it");
        assert_eq!(e.host(), Host::Address("127.0.0.1".parse().expect("ip")));
        let e = S3Endpoint::parse("https://0x7f.1").expect("the URL parser reads it");
        assert_eq!(e.host(), Host::Address("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn endpoints_that_are_not_a_plain_https_origin_are_refused() {
        for bad in [
            "http://s3.example.com",
            "ftp://s3.example.com",
            "https://user:pass@s3.example.com",
            "https://user@s3.example.com",
            "https://s3.example.com/bucket",
            "https://s3.example.com/?x=1",
            "https://s3.example.com/#x",
            "s3.example.com",
            "",
            "https://",
        ] {
            assert!(S3Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
