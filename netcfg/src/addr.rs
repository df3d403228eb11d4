//! IPv4 settings as the installer enters them, and the checks that refuse bad ones.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// How the interface gets its IPv4 address.
///
/// Serialised as `{"mode":"dhcp"}` or `{"mode":"static","address":"…","prefix":24,…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Addressing {
    /// Ask a DHCP server on the LAN.
    Dhcp,
    /// A fixed address entered by the installer.
    Static(StaticV4),
}

impl Addressing {
    /// Checks the settings; DHCP is always valid.
    pub fn validate(&self) -> Result<(), NetError> {
        match self {
            Addressing::Dhcp => Ok(()),
            Addressing::Static(s) => s.validate(),
        }
    }
}

/// Fixed IPv4 settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticV4 {
    /// The box's address.
    pub address: Ipv4Addr,
    /// Prefix length of its subnet (8..=30).
    pub prefix: u8,
    /// Default gateway, inside the subnet.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Name servers, at most [`StaticV4::MAX_DNS`].
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
}

impl StaticV4 {
    /// Most name servers accepted (the resolver library uses three).
    pub const MAX_DNS: usize = 3;

    /// The subnet's network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & u32::from(prefix_to_mask(self.prefix)))
    }

    /// The subnet's broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) | !u32::from(prefix_to_mask(self.prefix)))
    }

    /// Whether `ip` is inside this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::from(prefix_to_mask(self.prefix));
        u32::from(ip) & mask == u32::from(self.address) & mask
    }

    /// Settings found rather than typed (a DHCP lease, the live interface): the address and
    /// prefix must be valid; a router off the subnet or an odd name server is dropped rather
    /// than the whole setting.
    pub fn salvage(
        address: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        dns: Vec<Ipv4Addr>,
    ) -> Option<StaticV4> {
        let mut s = StaticV4 {
            address,
            prefix,
            gateway,
            dns: Vec::new(),
        };
        if s.validate().is_err() {
            s.gateway = None;
        }
        s.validate().ok()?;
        s.dns = dns
            .into_iter()
            .filter(|d| {
                StaticV4 {
                    dns: vec![*d],
                    ..s.clone()
                }
                .validate()
                .is_ok()
            })
            .take(StaticV4::MAX_DNS)
            .collect();
        Some(s)
    }

    /// Refuses settings that cannot work. Each message fits a 20-column LCD line.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |m: &str| Err(NetError::Invalid(m.to_string()));
        if !(8..=30).contains(&self.prefix) {
            return bad("prefix must be 8-30");
        }
        let a = self.address;
        if a.is_unspecified() {
            return bad("address is 0.0.0.0");
        }
        if a.is_loopback() {
            return bad("address is loopback");
        }
        if a.is_multicast() {
            return bad("address is multicast");
        }
        if a.octets()[0] >= 240 || a.octets()[0] == 0 {
            // 240.0.0.0/4 (class E, with 255.255.255.255) and 0.0.0.0/8 ("this network").
            return bad("address is reserved");
        }
        if a.is_link_local() {
            return bad("link-local address");
        }
        if a == self.network() {
            return bad("address is network");
        }
        if a == self.broadcast() {
            return bad("address is broadcast");
        }
        if let Some(gw) = self.gateway {
            if gw == a {
                return bad("gateway is address");
            }
            if !self.contains(gw) {
                return bad("gateway off subnet");
            }
            if gw == self.network() {
                return bad("gateway is network");
            }
            if gw == self.broadcast() {
                return bad("gateway is broadcast");
            }
        }
        if self.dns.len() > Self::MAX_DNS {
            return bad("at most 3 DNS");
        }
        for d in &self.dns {
            if d.is_unspecified() {
                return bad("DNS is 0.0.0.0");
            }
            if d.is_multicast() {
                return bad("DNS is multicast");
            }
            if d.is_broadcast() || *d == self.broadcast() {
                return bad("DNS is broadcast");
            }
            if d.octets()[0] >= 240 {
                return bad("DNS is reserved");
            }
        }
        Ok(())
    }
}

/// The prefix length of a netmask, or `None` if its one bits are not contiguous.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let inv = !m;
    // Contiguous ones then zeros ⇔ the inverted mask is of the form 0…01…1.
    if inv & inv.wrapping_add(1) != 0 {
        return None;
    }
    Some(m.leading_ones() as u8)
}

/// The netmask of a prefix length; prefixes above 32 give 255.255.255.255.
pub fn prefix_to_mask(prefix: u8) -> Ipv4Addr {
    let p = u32::from(prefix.min(32));
    let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    Ipv4Addr::from(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    fn good() -> StaticV4 {
        StaticV4 {
            address: ip("192.168.1.10"),
            prefix: 24,
            gateway: Some(ip("192.168.1.1")),
            dns: vec![ip("192.168.1.1"), ip("9.9.9.9")],
        }
    }

    fn refused(s: &StaticV4) -> String {
        match s.validate() {
            Err(NetError::Invalid(m)) => {
                assert!(m.chars().count() <= 20, "too long for the LCD: {m:?}");
                m
            }
            other => panic!("expected Invalid for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn good_settings_pass() {
        good().validate().expect("valid");
        let mut s = good();
        s.gateway = None;
        s.dns.clear();
        s.validate().expect("no gateway, no dns");
        let s = StaticV4 {
            address: ip("10.0.0.1"),
            prefix: 8,
            gateway: Some(ip("10.255.255.254")),
            dns: vec![],
        };
        s.validate().expect("/8 edge");
        let s = StaticV4 {
            address: ip("172.16.0.1"),
            prefix: 30,
            gateway: Some(ip("172.16.0.2")),
            dns: vec![],
        };
        s.validate().expect("/30");
        // A resolver stub on loopback is a legitimate DNS server.
        let s = StaticV4 {
            dns: vec![ip("127.0.0.53")],
            ..good()
        };
        s.validate().expect("loopback dns");
        Addressing::Dhcp.validate().expect("dhcp");
    }

    #[test]
    fn each_bad_case_is_refused() {
        let cases: &[(StaticV4, &str)] = &[
            (
                StaticV4 {
                    prefix: 7,
                    ..good()
                },
                "prefix must be 8-30",
            ),
            (
                StaticV4 {
                    prefix: 31,
                    ..good()
                },
                "prefix must be 8-30",
            ),
            (
                StaticV4 {
                    prefix: 32,
                    ..good()
                },
                "prefix must be 8-30",
            ),
            (
                StaticV4 {
                    address: ip("192.168.1.0"),
                    ..good()
                },
                "address is network",
            ),
            (
                StaticV4 {
                    address: ip("192.168.1.255"),
                    ..good()
                },
                "address is broadcast",
            ),
            (
                StaticV4 {
                    address: ip("0.0.0.0"),
                    gateway: None,
                    ..good()
                },
                "address is 0.0.0.0",
            ),
            (
                StaticV4 {
                    address: ip("0.1.2.3"),
                    gateway: None,
                    ..good()
                },
                "address is reserved",
            ),
            (
                StaticV4 {
                    address: ip("127.0.0.2"),
                    gateway: None,
                    ..good()
                },
                "address is loopback",
            ),
            (
                StaticV4 {
                    address: ip("224.0.0.5"),
                    gateway: None,
                    ..good()
                },
                "address is multicast",
            ),
            (
                StaticV4 {
                    address: ip("240.0.0.5"),
                    gateway: None,
                    ..good()
                },
                "address is reserved",
            ),
            (
                StaticV4 {
                    address: ip("255.255.255.255"),
                    gateway: None,
                    ..good()
                },
                "address is reserved",
            ),
            (
                StaticV4 {
                    address: ip("169.254.3.4"),
                    gateway: None,
                    prefix: 16,
                    ..good()
                },
                "link-local address",
            ),
            (
                StaticV4 {
                    gateway: Some(ip("192.168.2.1")),
                    ..good()
                },
                "gateway off subnet",
            ),
            (
                StaticV4 {
                    gateway: Some(ip("192.168.1.10")),
                    ..good()
                },
                "gateway is address",
            ),
            (
                StaticV4 {
                    gateway: Some(ip("192.168.1.0")),
                    ..good()
                },
                "gateway is network",
            ),
            (
                StaticV4 {
                    gateway: Some(ip("192.168.1.255")),
                    ..good()
                },
                "gateway is broadcast",
            ),
            (
                StaticV4 {
                    gateway: Some(ip("0.0.0.0")),
                    ..good()
                },
                "gateway off subnet",
            ),
            (
                StaticV4 {
                    dns: vec![ip("0.0.0.0")],
                    ..good()
                },
                "DNS is 0.0.0.0",
            ),
            (
                StaticV4 {
                    dns: vec![ip("239.1.1.1")],
                    ..good()
                },
                "DNS is multicast",
            ),
            (
                StaticV4 {
                    dns: vec![ip("255.255.255.255")],
                    ..good()
                },
                "DNS is broadcast",
            ),
            (
                StaticV4 {
                    dns: vec![ip("192.168.1.255")],
                    ..good()
                },
                "DNS is broadcast",
            ),
            (
                StaticV4 {
                    dns: vec![ip("250.1.1.1")],
                    ..good()
                },
                "DNS is reserved",
            ),
            (
                StaticV4 {
                    dns: vec![ip("1.1.1.1"); 4],
                    ..good()
                },
                "at most 3 DNS",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(refused(s), *want, "{s:?}");
        }
    }

    #[test]
    fn mask_and_prefix() {
        for p in 0..=32u8 {
            assert_eq!(mask_to_prefix(prefix_to_mask(p)), Some(p), "prefix {p}");
        }
        assert_eq!(prefix_to_mask(24), ip("255.255.255.0"));
        assert_eq!(prefix_to_mask(20), ip("255.255.240.0"));
        assert_eq!(prefix_to_mask(0), ip("0.0.0.0"));
        assert_eq!(prefix_to_mask(32), ip("255.255.255.255"));
        assert_eq!(prefix_to_mask(40), ip("255.255.255.255"));
        assert_eq!(mask_to_prefix(ip("255.255.255.128")), Some(25));
        assert_eq!(mask_to_prefix(ip("255.0.255.0")), None);
        assert_eq!(mask_to_prefix(ip("255.255.255.1")), None);
        assert_eq!(mask_to_prefix(ip("0.255.255.255")), None);
        assert_eq!(mask_to_prefix(ip("128.0.0.0")), Some(1));
    }

    #[test]
    fn serde_shape() {
        let j = serde_json::to_string(&Addressing::Dhcp).expect("json");
        assert_eq!(j, r#"{"mode":"dhcp"}"#);
        let s = Addressing::Static(good());
        let j = serde_json::to_string(&s).expect("json");
        assert!(
            j.starts_with(r#"{"mode":"static","address":"192.168.1.10","prefix":24"#),
            "{j}"
        );
        assert_eq!(serde_json::from_str::<Addressing>(&j).expect("back"), s);
        let min: Addressing =
            serde_json::from_str(r#"{"mode":"static","address":"10.0.0.2","prefix":8}"#)
                .expect("min");
        assert_eq!(
            min,
            Addressing::Static(StaticV4 {
                address: ip("10.0.0.2"),
                prefix: 8,
                gateway: None,
                dns: vec![]
            })
        );
    }
}
