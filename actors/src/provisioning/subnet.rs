//! Networks whose hosts may ask for phone files at all (`[provision] subnets`).

use std::net::IpAddr;

/// An IPv4 or IPv6 network, `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Subnet {
    /// Parses `addr/prefix` (or a bare address: a single host).
    pub fn parse(s: &str) -> Option<Subnet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Subnet { addr, prefix })
    }

    /// The network an interface address with `netmask` is on (`10.1.2.3` and
    /// `255.255.255.0` give `10.1.2.0/24`). A non-contiguous mask counts its leading ones.
    pub fn of_interface(ip: IpAddr, netmask: IpAddr) -> Subnet {
        let prefix = match netmask {
            IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
            IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
        };
        let addr = match ip {
            IpAddr::V4(a) => IpAddr::V4(
                (u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)).into(),
            ),
            IpAddr::V6(a) => IpAddr::V6(
                (u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0))
                    .into(),
            ),
        };
        Subnet { addr, prefix }
    }

    /// Whether `ip` is inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Loopback, always among the defaults: local tools and the tests run there.
pub const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128"];

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.0.0.0/8").expect("parse");
        assert!(s.contains(ip("10.1.2.3")));
        assert!(!s.contains(ip("11.0.0.1")));
        assert!(s.contains(ip("::ffff:10.0.0.1")));
        let any = Subnet::parse("0.0.0.0/0").expect("parse");
        assert!(any.contains(ip("8.8.8.8")));
        let host = Subnet::parse("192.168.1.5").expect("parse");
        assert!(host.contains(ip("192.168.1.5")));
        assert!(!host.contains(ip("192.168.1.6")));
        assert!(Subnet::parse("10.0.0.0/33").is_none());
        assert!(Subnet::parse("fc00::/7")
            .expect("v6")
            .contains(ip("fd12::1")));
        for d in LOOPBACK {
            assert!(Subnet::parse(d).is_some(), "{d}");
        }
    }

    #[test]
    fn of_an_interface() {
        let s = Subnet::of_interface(ip("192.168.7.42"), ip("255.255.255.0"));
        assert_eq!(s.to_string(), "192.168.7.0/24");
        assert!(s.contains(ip("192.168.7.1")) && !s.contains(ip("192.168.8.1")));
        let s = Subnet::of_interface(ip("fd00:1:2:3::9"), ip("ffff:ffff:ffff:ffff::"));
        assert_eq!(s.to_string(), "fd00:1:2:3::/64");
        let host = Subnet::of_interface(ip("10.0.0.1"), ip("255.255.255.255"));
        assert!(host.contains(ip("10.0.0.1")) && !host.contains(ip("10.0.0.2")));
    }
}
