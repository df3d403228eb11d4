//! Failed provisioning credentials per (address, MAC), with a progressive delay; sans-IO
//! (`now` is passed in).
//!
//! The box's generated credentials are 128-bit random and cannot be guessed, but an
//! installer may set a weaker one by hand (`ivmd phone add --http-password`). After
//! [`CredentialLimiter::free`] wrong answers for one phone from one address, every further
//! wrong answer locks that pair out for twice as long as the last (1 s, 2 s, 4 s, ... up to
//! [`CredentialLimiter::max`]); while locked, its requests are refused before any digest is
//! computed. Keyed by the pair, so a host hammering one MAC locks out only itself for that
//! phone: the real phone at its own address is not affected. The table is bounded; a flood
//! of spoofed pairs evicts the least recently used entry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ivm_wire::phone::Mac;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// Counts wrong provisioning credentials per (address, MAC).
#[derive(Debug)]
pub struct CredentialLimiter {
    free: u32,
    base: Duration,
    max: Duration,
    forget: Duration,
    max_entries: usize,
    table: HashMap<(IpAddr, Mac), Entry>,
}

impl Default for CredentialLimiter {
    /// 3 free failures, then 1 s doubling up to 5 minutes; a pair quiet for 15 minutes is
    /// forgotten; 4096 pairs tracked.
    fn default() -> Self {
        CredentialLimiter::new(
            3,
            Duration::from_secs(1),
            Duration::from_secs(300),
            Duration::from_secs(900),
            4096,
        )
    }
}

impl CredentialLimiter {
    /// `free` failures without delay, then `base` doubling up to `max`; entries idle for
    /// `forget` are dropped; at most `max_entries` pairs.
    pub fn new(
        free: u32,
        base: Duration,
        max: Duration,
        forget: Duration,
        max_entries: usize,
    ) -> Self {
        CredentialLimiter {
            free,
            base,
            max,
            forget,
            max_entries: max_entries.max(1),
            table: HashMap::new(),
        }
    }

    /// Failures allowed before delays start.
    pub fn free(&self) -> u32 {
        self.free
    }

    /// The longest lockout.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Pairs tracked.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Nothing tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `Err(retry_after)` while the pair is locked out: refuse without checking anything.
    pub fn check(&self, peer: IpAddr, mac: Mac, now: Instant) -> Result<(), Duration> {
        match self.table.get(&(peer, mac)).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a wrong credential; returns the lockout it starts, if any.
    pub fn failure(&mut self, peer: IpAddr, mac: Mac, now: Instant) -> Option<Duration> {
        let key = (peer, mac);
        if !self.table.contains_key(&key) && self.table.len() >= self.max_entries {
            self.make_room(now);
        }
        let forget = self.forget;
        let e = self.table.entry(key).or_insert(Entry {
            failures: 0,
            locked_until: None,
            last: now,
        });
        if now.saturating_duration_since(e.last) >= forget {
            e.failures = 0;
            e.locked_until = None;
        }
        e.last = now;
        e.failures = e.failures.saturating_add(1);
        let over = e.failures.checked_sub(self.free)?.checked_sub(1)?;
        let delay = self
            .base
            .checked_mul(1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        e.locked_until = Some(now + delay);
        Some(delay)
    }

    /// A verified credential: the pair starts again.
    pub fn success(&mut self, peer: IpAddr, mac: Mac) {
        self.table.remove(&(peer, mac));
    }

    fn make_room(&mut self, now: Instant) {
        let forget = self.forget;
        self.table.retain(|_, e| {
            now.saturating_duration_since(e.last) < forget
                || e.locked_until.is_some_and(|u| u > now)
        });
        if self.table.len() >= self.max_entries {
            if let Some(oldest) = self
                .table
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| *k)
            {
                self.table.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    fn mac(n: u8) -> Mac {
        Mac([0x00, 0x15, 0x65, 0, 0, n])
    }

    #[test]
    fn free_failures_then_doubling_delays_up_to_the_cap() {
        let t = Instant::now();
        let mut l = CredentialLimiter::new(
            2,
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(900),
            100,
        );
        assert_eq!(l.failure(ip(1), mac(1), t), None);
        assert_eq!(l.failure(ip(1), mac(1), t), None);
        assert!(l.check(ip(1), mac(1), t).is_ok());
        let mut now = t;
        for want in [1, 2, 4, 5, 5] {
            assert_eq!(
                l.failure(ip(1), mac(1), now),
                Some(Duration::from_secs(want))
            );
            assert_eq!(
                l.check(ip(1), mac(1), now),
                Err(Duration::from_secs(want)),
                "locked for {want} s"
            );
            now += Duration::from_secs(want);
            assert!(
                l.check(ip(1), mac(1), now).is_ok(),
                "free again after {want} s"
            );
        }
    }

    #[test]
    fn keyed_by_address_and_mac() {
        let t = Instant::now();
        let mut l = CredentialLimiter::new(
            0,
            Duration::from_secs(60),
            Duration::from_secs(600),
            Duration::from_secs(900),
            100,
        );
        l.failure(ip(66), mac(1), t);
        assert!(
            l.check(ip(66), mac(1), t).is_err(),
            "the guesser is locked out"
        );
        assert!(l.check(ip(7), mac(1), t).is_ok(), "the phone itself is not");
        assert!(l.check(ip(66), mac(2), t).is_ok(), "nor another phone");
        l.success(ip(66), mac(1));
        assert!(l.check(ip(66), mac(1), t).is_ok());
    }

    #[test]
    fn forgets_quiet_pairs_and_stays_bounded() {
        let t = Instant::now();
        let mut l = CredentialLimiter::new(
            1,
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_secs(60),
            16,
        );
        l.failure(ip(1), mac(1), t);
        assert_eq!(
            l.failure(ip(1), mac(1), t + Duration::from_secs(61)),
            None,
            "the count started again after a quiet minute"
        );
        for n in 0..=255u8 {
            l.failure(ip(n), mac(n), t);
        }
        assert!(l.len() <= 16, "{}", l.len());
    }
}
