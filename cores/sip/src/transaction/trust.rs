//! Which source addresses have authenticated recently, sans-IO (`now` is passed in).
//!
//! Why the transaction layer keeps this: on a hostile LAN most SIP traffic that costs the box
//! anything comes from hosts that never authenticate (scanners, floods, spoofed sources). The
//! layer gives such sources a small budget of their own and answers them statelessly (see the
//! module docs of [`super`]), so only a host that has proven a password gets retransmissions
//! and the large per-address share. The TU marks an address with [`Trust::mark`] when a
//! request from it passes digest authentication.
//!
//! Keyed by IP address, not address and port: one host can open any number of ports. The
//! table is bounded ([`Trust::new`]'s `max`): when full, the entry closest to expiry is
//! forgotten. Only a host that knows a password can add entries, so the bound is a safety
//! net, not the first defence.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Recently authenticated addresses, each with the instant its trust lapses.
#[derive(Debug)]
pub(crate) struct Trust {
    ttl: Duration,
    max: usize,
    until: HashMap<IpAddr, Instant>,
}

impl Trust {
    /// Trust lasts `ttl` after the last successful authentication; at most `max` addresses.
    pub(crate) fn new(ttl: Duration, max: usize) -> Trust {
        Trust {
            ttl,
            max: max.max(1),
            until: HashMap::new(),
        }
    }

    /// `ip` passed authentication at `now`.
    pub(crate) fn mark(&mut self, ip: IpAddr, now: Instant) {
        let ip = canonical(ip);
        if !self.until.contains_key(&ip) && self.until.len() >= self.max {
            self.until.retain(|_, t| *t > now);
            if self.until.len() >= self.max {
                let oldest = self.until.iter().min_by_key(|(_, t)| **t).map(|(a, _)| *a);
                if let Some(a) = oldest {
                    self.until.remove(&a);
                }
            }
        }
        self.until.insert(ip, now + self.ttl);
    }

    /// Whether `ip` authenticated within the trust period.
    pub(crate) fn contains(&self, ip: IpAddr, now: Instant) -> bool {
        self.until.get(&canonical(ip)).is_some_and(|t| *t > now)
    }

    /// Addresses held (expired ones included until they are pruned).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address (a dual-stack socket reports
/// `::ffff:a.b.c.d`).
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn marks_expire_and_stay_bounded() {
        let t0 = Instant::now();
        let mut t = Trust::new(Duration::from_secs(60), 3);
        assert!(!t.contains(ip(1), t0));
        t.mark(ip(1), t0);
        assert!(t.contains(ip(1), t0 + Duration::from_secs(59)));
        assert!(!t.contains(ip(1), t0 + Duration::from_secs(60)));
        // The mapped form of an IPv4 address is the same host.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert!(t.contains(mapped, t0));
        for n in 2..=5 {
            t.mark(ip(n), t0 + Duration::from_secs(u64::from(n)));
        }
        assert!(t.len() <= 3);
        // The oldest went first; the newest are kept.
        assert!(!t.contains(ip(1), t0 + Duration::from_secs(6)));
        assert!(t.contains(ip(5), t0 + Duration::from_secs(6)));
        assert!(t.contains(ip(4), t0 + Duration::from_secs(6)));
    }
}
