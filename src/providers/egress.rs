//! Where the service may connect when a user names the endpoint (an S3-compatible
//! service): never to an address inside a network (loopback, private, link-local with the
//! instance metadata address, CGNAT, multicast, unspecified, reserved, and the IPv6 forms
//! that carry one of those IPv4 addresses), unless the operator allowed that host or range.
//!
//! The check runs twice: when a connector is created (a clear 422), and inside the DNS
//! resolver of the client that connects ([`GuardedResolver`]), so that a name resolving
//! outside at create and inside later (DNS rebinding) is refused before any connection.
//! The S3 SDK follows no redirects, so the connection made is the one checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use ipnet::IpNet;

use crate::providers::s3::endpoint::{Host, S3Endpoint};

/// Why an address may not be called, in words for messages; `None` when it may.
pub fn inside(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => inside_v4(v4),
        IpAddr::V6(v6) => inside_v6(v6),
    }
}

fn inside_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared (CGNAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && (b & 0xfe) == 18) || ip.is_documentation() {
        Some("special-purpose")
    } else {
        None
    }
}

fn inside_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // IPv6 forms that carry an IPv4 address: mapped, compatible, NAT64, 6to4.
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return inside_v4(v4);
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if s[..6] == [0; 6] {
        return inside_v4(embedded(s[6], s[7])).or(Some("IPv4-compatible"));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return inside_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return inside_v4(embedded(s[1], s[2]));
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        Some("unique local (private)")
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8) {
        Some("special-purpose")
    } else {
        None
    }
}

/// Why an endpoint may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// An address written in the URL.
    #[error("is a {0} address: the service never calls addresses inside a network")]
    Address(&'static str),
    /// A name that resolves inside (the address is not repeated: it may be a secret of
    /// the network it belongs to).
    #[error(
        "has a host that resolves to an address inside a network (loopback, private, \
         link-local, shared, multicast or unspecified): the service never calls those"
    )]
    ResolvesInside,
    #[error("has a host that could not be resolved")]
    Unresolvable,
}

/// The operator's exceptions: hosts and address ranges that may be called although they
/// are inside (private deployments, emulators in tests). None by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    hosts: Vec<String>,
    ranges: Vec<IpNet>,
}

impl EgressPolicy {
    /// From a list of host names, addresses and CIDR ranges (`minio.internal`,
    /// `127.0.0.1`, `10.20.0.0/16`).
    ///
    /// # Errors
    /// When an entry is empty or has characters a host name cannot have.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.ranges.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                policy.ranges.push(IpNet::from(ip));
            } else if entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                policy.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "{entry:?} is neither a host name, an address nor a range"
                ));
            }
        }
        Ok(policy)
    }

    fn allows_host(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// # Errors
    /// When the address is inside and no allowed range holds it.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.ranges.iter().any(|r| r.contains(&ip)) {
            return Ok(());
        }
        inside(ip).map_or(Ok(()), |why| Err(Refused::Address(why)))
    }

    /// The addresses `name` may be reached at, all of them checked.
    ///
    /// # Errors
    /// When it cannot be resolved, or any of its addresses is inside (a name that
    /// resolves both outside and inside is refused: which one a connection takes is not
    /// the service's choice).
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, Refused> {
        let lookup = tokio::net::lookup_host((name, 443));
        let addresses: Vec<IpAddr> =
            match tokio::time::timeout(Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => return Err(Refused::Unresolvable),
            };
        if addresses.is_empty() {
            return Err(Refused::Unresolvable);
        }
        if !self.allows_host(name) && addresses.iter().any(|ip| self.check_address(*ip).is_err()) {
            return Err(Refused::ResolvesInside);
        }
        Ok(addresses)
    }

    /// Whether an endpoint may be called now.
    ///
    /// # Errors
    /// As [`Self::check_address`] and [`Self::resolve`].
    pub async fn vet(&self, endpoint: &S3Endpoint) -> Result<(), Refused> {
        match endpoint.host() {
            Host::Address(ip) => self.check_address(ip),
            Host::Name(name) => self.resolve(name).await.map(|_| ()),
        }
    }
}

/// The DNS resolver of the client that calls user-chosen endpoints: it answers only
/// addresses the policy allows, so a refused name never gets a connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<EgressPolicy>);

impl ResolveDns for GuardedResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move { self.0.resolve(name).await.map_err(ResolveDnsError::new) })
    }
}

/// Whether an error (or one of its causes) is the policy's refusal.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn addresses_inside_a_network_are_refused_in_every_spelling() {
        for inside_address in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "::",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(inside(ip(inside_address)).is_some(), "{inside_address}");
            assert!(
                EgressPolicy::default()
                    .check_address(ip(inside_address))
                    .is_err(),
                "{inside_address}"
            );
        }
    }

    #[test]
    fn public_addresses_may_be_called() {
        for public in [
            "52.216.8.1",
            "104.18.2.3",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2600:1f18::1",
            "::ffff:52.216.8.1",
            "64:ff9b::3418:801",
        ] {
            assert_eq!(inside(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_operator_allows_named_hosts_and_ranges_and_nothing_else() {
        let policy = EgressPolicy::parse(&[
            "127.0.0.1".into(),
            "10.20.0.0/16".into(),
            "MinIO.internal".into(),
        ])
        .expect("valid");
        assert_eq!(policy.check_address(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check_address(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check_address(ip("10.20.3.4")), Ok(()));
        assert!(policy.check_address(ip("10.21.0.1")).is_err());
        assert!(policy.check_address(ip("127.0.0.2")).is_err());
        assert!(policy.allows_host("minio.internal"));
        assert!(EgressPolicy::parse(&["a b".into()]).is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_without_saying_where() {
        let refused = EgressPolicy::default().resolve("localhost").await;
        assert_eq!(refused, Err(Refused::ResolvesInside));
        assert!(!Refused::ResolvesInside.to_string().contains("127."));
        let allowed = EgressPolicy::parse(&["localhost".into()]).expect("valid");
        assert!(allowed.resolve("localhost").await.is_ok());
    }
}
