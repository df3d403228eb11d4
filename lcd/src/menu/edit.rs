//! The IPv4 field editor and the checks that refuse a bad value on the spot.
//!
//! An address is shown as four three-digit octets, `192.168.001.010`, with a caret under the
//! digit being edited. Up/Down change that digit (so an octet moves by 1, 10 or 100 per press),
//! Left/Right move from digit to digit and across octets. Why digits and not whole octets: a
//! panel key sends one press however long it is held, and stepping an octet from 0 to 192 one
//! press at a time would take 192 presses. An octet never leaves 0..=255: a change that would
//! push it past 255 sets it to 255.

use std::net::Ipv4Addr;

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

/// Prefix length of a contiguous mask, `None` for `255.0.255.0` and the like.
pub fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let p = m.leading_ones();
    (m.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
}

/// The mask of a prefix length.
pub fn prefix_mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// A unicast address a host may hold (not 0/8, loopback, link-local, multicast or class E).
fn host_like(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    first != 0 && first != 127 && first < 224 && !a.is_link_local()
}

/// The box's own address: `Err` carries a message that fits a 20-column line.
pub fn check_address(a: Ipv4Addr) -> Result<(), &'static str> {
    if host_like(a) {
        Ok(())
    } else {
        Err("not a host address")
    }
}

/// The mask, given the address: contiguous, /8../30, and the address not the subnet's
/// network or broadcast address.
pub fn check_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<u8, &'static str> {
    let p = mask_prefix(mask).ok_or("mask not contiguous")?;
    if !(8..=30).contains(&p) {
        return Err("mask must be /8-/30");
    }
    let host = u32::from(addr) & !u32::from(mask);
    if host == 0 || host == !u32::from(mask) {
        return Err("address is net/bcast");
    }
    Ok(p)
}

/// The gateway (`0.0.0.0`: none): inside the subnet, not the box, not network/broadcast.
pub fn check_gateway(addr: Ipv4Addr, prefix: u8, gw: Ipv4Addr) -> Result<(), &'static str> {
    if gw.is_unspecified() {
        return Ok(());
    }
    let mask = u32::from(prefix_mask(prefix));
    if u32::from(gw) & mask != u32::from(addr) & mask {
        return Err("gateway off subnet");
    }
    let host = u32::from(gw) & !mask;
    if gw == addr || host == 0 || host == !mask {
        return Err("bad gateway");
    }
    Ok(())
}

/// A DNS server (`0.0.0.0`: none).
pub fn check_dns(dns: Ipv4Addr) -> Result<(), &'static str> {
    if dns.is_unspecified() || host_like(dns) || dns.octets()[0] == 127 {
        Ok(())
    } else {
        Err("bad DNS address")
    }
}

/// A DHCP range for the box at `addr/prefix`: inside the subnet, ordered, not holding the box.
pub fn check_range(
    addr: Option<(Ipv4Addr, u8)>,
    start: Ipv4Addr,
    end: Ipv4Addr,
) -> Result<(), &'static str> {
    if !host_like(start) || !host_like(end) {
        return Err("not host addresses");
    }
    if u32::from(start) > u32::from(end) {
        return Err("start after end");
    }
    if let Some((a, p)) = addr {
        let mask = u32::from(prefix_mask(p));
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
        assert_eq!(mask_prefix(ip("255.255.255.0")), Some(24));
        assert_eq!(mask_prefix(ip("255.0.255.0")), None);
        assert_eq!(mask_prefix(ip("0.0.0.0")), Some(0));
        assert_eq!(prefix_mask(20), ip("255.255.240.0"));
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
            Err("gateway off subnet")
        );
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("10.0.0.5")).is_err());
        assert!(check_gateway(ip("10.0.0.5"), 24, ip("10.0.0.255")).is_err());
        assert!(check_dns(ip("0.0.0.0")).is_ok());
        assert!(check_dns(ip("9.9.9.9")).is_ok());
        assert!(check_dns(ip("127.0.0.53")).is_ok());
        assert!(check_dns(ip("255.255.255.255")).is_err());
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
