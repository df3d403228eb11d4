//! The IPv4 field editor and the checks that refuse a bad value on the spot.
//!
//! An address is shown as four three-digit octets, `192.168.001.010`, with a caret under the
//! digit being edited. Up/Down change that digit (so an octet moves by 1, 10 or 100 per press),
//! Left/Right move from digit to digit and across octets. Why digits and not whole octets: a
//! panel key sends one press however long it is held, and stepping an octet from 0 to 192 one
//! press at a time would take 192 presses. An octet never leaves 0..=255: a change that would
//! push it past 255 sets it to 255.

use std::net::Ipv4Addr;

use ivm_netcfg::{mask_to_prefix, prefix_to_mask, StaticV4};

/// An address being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Edit {
    octets: [u8; 4],
    /// Digit under the caret, 0..12 (octet = pos / 3, hundreds first).
    pos: usize,
}

impl Ipv4Edit {
    /// Starts on `addr` with the caret on the last octet's units digit (the one most often
    /// changed).
    pub fn new(addr: Ipv4Addr) -> Self {
        Ipv4Edit {
            octets: addr.octets(),
            pos: 11,
        }
    }

    /// The address as edited so far.
    pub fn value(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.octets)
    }

    /// Up (`+1`) or down (`-1`) on the digit under the caret; wraps within 0..=9 for that digit
    /// and caps the octet at 255.
    pub fn step(&mut self, up: bool) {
        let o = self.pos / 3;
        let weight: u16 = match self.pos % 3 {
            0 => 100,
            1 => 10,
            _ => 1,
        };
        let v = u16::from(self.octets[o]);
        let digit = (v / weight) % 10;
        let new_digit = if up {
            (digit + 1) % 10
        } else {
            (digit + 9) % 10
        };
        let nv = v - digit * weight + new_digit * weight;
        self.octets[o] = nv.min(255) as u8;
    }

    /// Moves the caret one digit left or right (stops at the ends).
    pub fn shift(&mut self, right: bool) {
        if right {
            self.pos = (self.pos + 1).min(11);
        } else {
            self.pos = self.pos.saturating_sub(1);
        }
    }

    /// `192.168.001.010`.
    pub fn text(&self) -> String {
        let [a, b, c, d] = self.octets;
        format!("{a:03}.{b:03}.{c:03}.{d:03}")
    }

    /// The column of the caret within [`Ipv4Edit::text`].
    pub fn caret(&self) -> usize {
        self.pos + self.pos / 3
    }
}

/// The rules the network backend applies ([`StaticV4::validate`]), checked field by field
/// as the installer enters them, so the panel refuses on the spot exactly what applying would
/// refuse. `Err` carries a reason that fits a 20-column line.
fn check(s: StaticV4) -> Result<(), String> {
    s.validate().map_err(|e| e.short())
}

fn setting(address: Ipv4Addr, prefix: u8) -> StaticV4 {
    StaticV4 {
        address,
        prefix,
        gateway: None,
        dns: Vec::new(),
    }
}

/// The box's own address, before the mask is known. A /8 stands in for the mask: an address
/// that is a network or broadcast address of its /8 is one for every allowed prefix too.
pub fn check_address(a: Ipv4Addr) -> Result<(), String> {
    check(setting(a, 8))
}

/// The mask, given the address: contiguous, and a prefix the backend accepts for it.
pub fn check_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<u8, String> {
    let p = mask_to_prefix(mask).ok_or("mask not contiguous")?;
    check(setting(addr, p)).map(|()| p)
}

/// The gateway (`0.0.0.0`: none).
pub fn check_gateway(addr: Ipv4Addr, prefix: u8, gw: Ipv4Addr) -> Result<(), String> {
    check(StaticV4 {
        gateway: (!gw.is_unspecified()).then_some(gw),
        ..setting(addr, prefix)
    })
}

/// A DNS server (`0.0.0.0`: none).
pub fn check_dns(addr: Ipv4Addr, prefix: u8, dns: Ipv4Addr) -> Result<(), String> {
    check(StaticV4 {
        dns: (!dns.is_unspecified()).then_some(dns).into_iter().collect(),
        ..setting(addr, prefix)
    })
}

/// A DHCP range for the box at `addr/prefix`: inside the subnet, ordered, not holding the box.
pub fn check_range(
    addr: Option<(Ipv4Addr, u8)>,
    start: Ipv4Addr,
    end: Ipv4Addr,
) -> Result<(), &'static str> {
    if check_address(start).is_err() || check_address(end).is_err() {
        return Err("not host addresses");
    }
    if u32::from(start) > u32::from(end) {
        return Err("start after end");
    }
    if let Some((a, p)) = addr {
        let mask = u32::from(prefix_to_mask(p));
        let net = u32::from(a) & mask;
        if u32::from(start) & mask != net || u32::from(end) & mask != net {
            return Err("range off subnet");
        }
        if (u32::from(start)..=u32::from(end)).contains(&u32::from(a)) {
            return Err("range holds box IP");
        }
        let bcast = net | !mask;
        if u32::from(start) == net || u32::from(end) == bcast {
            return Err("range has net/bcast");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    #[test]
    fn digits_step_and_cap_at_255() {
        let mut e = Ipv4Edit::new(ip("192.168.1.10"));
        assert_eq!(e.text(), "192.168.001.010");
        assert_eq!(e.caret(), 14);
        e.step(true);
        assert_eq!(e.value(), ip("192.168.1.11"));
        e.shift(false);
        e.step(false);
        assert_eq!(e.value(), ip("192.168.1.1"));
        for _ in 0..4 {
            e.shift(false);
        }
        assert_eq!(e.caret(), 8); // hundreds digit of the third octet
        e.step(true);
        e.step(true);
        e.step(true);
        assert_eq!(e.value(), ip("192.168.255.1"), "301 is capped at 255");
        for _ in 0..20 {
            e.shift(false);
        }
        assert_eq!(e.caret(), 0);
        e.step(false);
        assert_eq!(e.value(), ip("92.168.255.1"));
        for _ in 0..20 {
            e.shift(true);
        }
        assert_eq!(e.caret(), 14);
    }

    #[test]
    fn units_wrap_within_the_digit() {
        let mut e = Ipv4Edit::new(ip("10.0.0.9"));
        e.step(true);
        assert_eq!(e.value(), ip("10.0.0.0"));
        e.step(false);
        assert_eq!(e.value(), ip("10.0.0.9"));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_to_prefix(ip("255.255.255.0")), Some(24));
        assert_eq!(mask_to_prefix(ip("255.0.255.0")), None);
        assert_eq!(mask_to_prefix(ip("0.0.0.0")), Some(0));
        assert_eq!(prefix_to_mask(20), ip("255.255.240.0"));
        assert_eq!(check_mask(ip("10.0.0.5"), ip("255.255.255.0")), Ok(24));
        assert!(check_mask(ip("10.0.0.0"), ip("255.255.255.0")).is_err());
        assert!(check_mask(ip("10.0.0.255"), ip("255.255.255.0")).is_err());
        assert!(check_mask(ip("10.0.0.5"), ip("255.255.255.254")).is_err());
        assert!(check_mask(ip("10.0.0.5"), ip("255.0.255.0")).is_err());
    }

    #[test]
    fn addresses_gateways_dns() {
        assert!(check_address(ip("10.1.2.3")).is_ok());
        for bad in [
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "240.1.1.1",
            "169.254.1.1",
        ] {
            assert!(check_address(ip(bad)).is_err(), "{bad}");
        }
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("10.0.0.1")).is_ok());
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("0.0.0.0")).is_ok());
        assert_eq!(
            check_gateway(ip("10.0.0.5"), 24, ip("10.0.1.1")),
            Err("gateway off subnet".into())
        );
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("10.0.0.5")).is_err());
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("10.0.0.255")).is_err());
        let dns = |d| check_dns(ip("10.0.0.5"), 24, ip(d));
        assert!(dns("0.0.0.0").is_ok());
        assert!(dns("9.9.9.9").is_ok());
        assert!(dns("127.0.0.53").is_ok());
        assert!(dns("255.255.255.255").is_err());
    }

    #[test]
    fn ranges() {
        let a = Some((ip("10.0.0.1"), 24));
        assert!(check_range(a, ip("10.0.0.100"), ip("10.0.0.200")).is_ok());
        assert_eq!(
            check_range(a, ip("10.0.0.200"), ip("10.0.0.100")),
            Err("start after end")
        );
        assert_eq!(
            check_range(a, ip("10.0.0.1"), ip("10.0.0.20")),
            Err("range holds box IP")
        );
        assert_eq!(
            check_range(a, ip("10.0.0.100"), ip("10.0.1.20")),
            Err("range off subnet")
        );
        assert!(check_range(a, ip("10.0.0.100"), ip("10.0.0.255")).is_err());
        assert!(check_range(None, ip("10.0.0.100"), ip("10.0.0.200")).is_ok());
    }
}
