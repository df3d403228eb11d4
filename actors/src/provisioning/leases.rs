//! The box's own DHCP leases by MAC, as the provisioning front needs them: when the box's
//! DHCP server leased a phone's MAC an address, only that address may do the phone's armed
//! first fetch (a host that merely knows the MAC holds another address).
//!
//! Written by the DHCP service from its lease events (and its journal at start), read by
//! the front; in memory only, bounded by the pools' sizes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use ivm_provision::Mac;

/// Leases by MAC: (address, unix seconds when it ends).
#[derive(Debug, Default)]
pub struct Leases {
    by_mac: Mutex<HashMap<Mac, (IpAddr, u64)>>,
}

impl Leases {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// `mac` holds `ip` until `expires` (unix seconds).
    pub fn bound(&self, mac: Mac, ip: IpAddr, expires: u64) {
        self.lock().insert(mac, (ip, expires));
    }

    /// `mac` gave its address back (released, declined).
    pub fn ended(&self, mac: Mac) {
        self.lock().remove(&mac);
    }

    /// The address leased to `mac` at unix time `now`, if any.
    pub fn get(&self, mac: Mac, now: u64) -> Option<IpAddr> {
        self.lock()
            .get(&mac)
            .filter(|(_, until)| *until > now)
            .map(|(ip, _)| *ip)
    }

    /// Drops every lease (the DHCP server stopped: its leases no longer say anything).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Mac, (IpAddr, u64)>> {
        self.by_mac.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_expired_ended() {
        let l = Leases::new();
        let m = Mac([0, 0x15, 0x65, 1, 2, 3]);
        let ip: IpAddr = "10.0.0.7".parse().expect("ip");
        assert_eq!(l.get(m, 0), None);
        l.bound(m, ip, 100);
        assert_eq!(l.get(m, 99), Some(ip));
        assert_eq!(l.get(m, 100), None, "expired");
        l.bound(m, ip, 200);
        l.ended(m);
        assert_eq!(l.get(m, 99), None);
    }
}
