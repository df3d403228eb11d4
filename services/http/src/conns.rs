//! Connection caps: how many connections the box holds open at once, in all and per client
//! address. Sans-IO: a counter behind a mutex, no sockets.
//!
//! One host on the LAN must not be able to take every service down by opening connections
//! and sending nothing (issue 10: 520 half-sent requests ran the process out of file
//! descriptors, and TFTP stopped answering too). The accept loop asks for a [`ConnSlot`]
//! before it spends anything on a connection; over either cap the socket is closed at once.
//! The slot travels with the connection's I/O, into an upgraded WebSocket too, so open
//! sockets count until they close.
//!
//! Addresses are grouped by [`client_key`]: an IPv6 host can pick any address in its /64, so
//! the /64 is what counts as one client.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The address a cap or a login budget is kept for: IPv4 as is (an IPv4-mapped IPv6 address
/// as its IPv4), IPv6 as its /64 network.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The box holds its maximum number of connections.
    #[error("the box holds {0} connections, its limit")]
    Global(usize),
    /// This address holds its maximum number of connections.
    #[error("this address holds {0} connections, its limit")]
    PerAddress(usize),
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_addr: HashMap<IpAddr, usize>,
    refused: u64,
}

/// The open-connection counter shared by every listener of the service (the file-descriptor
/// limit is the process's, not a listener's).
#[derive(Debug)]
pub struct ConnLimiter {
    global: usize,
    per_addr: usize,
    counts: Mutex<Counts>,
}

impl ConnLimiter {
    /// At most `global` connections in all and `per_addr` per client (see [`client_key`]).
    pub fn new(global: usize, per_addr: usize) -> Arc<Self> {
        Arc::new(ConnLimiter {
            global: global.max(1),
            per_addr: per_addr.max(1),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `ip`, released when the slot drops.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, Refused> {
        let key = client_key(ip);
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.global {
            c.refused += 1;
            return Err(Refused::Global(self.global));
        }
        let n = c.by_addr.get(&key).copied().unwrap_or(0);
        if n >= self.per_addr {
            c.refused += 1;
            return Err(Refused::PerAddress(self.per_addr));
        }
        c.total += 1;
        c.by_addr.insert(key, n + 1);
        Ok(ConnSlot {
            limiter: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.counts.lock().map(|c| c.refused).unwrap_or(0)
    }

    fn release(&self, key: IpAddr) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_addr.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                c.by_addr.remove(&key);
            }
        }
    }
}

/// One open connection's place in the count; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnSlot {
    limiter: Arc<ConnLimiter>,
    key: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.limiter.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn per_address_and_global_caps() {
        let l = ConnLimiter::new(5, 2);
        let a1 = l.try_acquire(ip("10.0.0.1")).expect("first");
        let _a2 = l.try_acquire(ip("10.0.0.1")).expect("second");
        assert_eq!(
            l.try_acquire(ip("10.0.0.1")).expect_err("refused"),
            Refused::PerAddress(2)
        );
        let _b1 = l.try_acquire(ip("10.0.0.2")).expect("other address");
        let _b2 = l.try_acquire(ip("10.0.0.2")).expect("other address");
        let _c1 = l.try_acquire(ip("10.0.0.3")).expect("fifth");
        assert_eq!(
            l.try_acquire(ip("10.0.0.4")).expect_err("refused"),
            Refused::Global(5)
        );
        assert_eq!(l.open(), 5);
        drop(a1);
        assert_eq!(l.open(), 4);
        let _a3 = l.try_acquire(ip("10.0.0.1")).expect("a slot came back");
        assert_eq!(l.refused(), 2);
    }

    #[test]
    fn the_table_forgets_closed_addresses() {
        let l = ConnLimiter::new(10, 10);
        for i in 0..200u8 {
            drop(l.try_acquire(IpAddr::from([10, 0, 1, i])).expect("slot"));
        }
        assert_eq!(l.open(), 0);
        assert!(l.counts.lock().expect("lock").by_addr.is_empty());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = ConnLimiter::new(10, 1);
        let _a = l.try_acquire(ip("2001:db8:1:2::1")).expect("first");
        assert!(
            l.try_acquire(ip("2001:db8:1:2:ffff::9")).is_err(),
            "same /64, same client"
        );
        let _b = l.try_acquire(ip("2001:db8:1:3::1")).expect("another /64");
        let _c = l.try_acquire(ip("10.1.1.1")).expect("v4");
        assert!(l.try_acquire(ip("::ffff:10.1.1.1")).is_err(), "mapped = v4");
        assert_eq!(client_key(ip("::1")), ip("::"));
    }
}
