//! Password-guessing limits, sans-IO: the caller passes `now`, so tests run on a virtual clock.
//!
//! Three budgets, all spent **before** the password is checked ([`LoginLimiter::begin`]
//! counts the attempt as a failure and hands back an [`Attempt`]; a right password gives it
//! back). Checking first and counting afterwards let 60 concurrent wrong passwords all be
//! checked against a nominal 5 (issue 10): now at most the budget is ever in flight.
//!
//! 1. **Per (address, name)**: [`Limits::free`] failures, then each further attempt must wait
//!    twice as long as the one before (1 s, 2 s, 4 s ... up to [`Limits::max_delay`]). A right
//!    password clears it. This is the budget a person mistyping their own password meets.
//! 2. **Per address**, across names: [`Limits::per_addr`] failures per window, so one host
//!    cannot spray one guess at every name.
//! 3. **Per name**, across addresses: [`Limits::per_name`] failures per window, so many hosts
//!    cannot share out the guessing at one name. It does not apply to an address that has
//!    logged in as that name before (a short remembered list per name): otherwise anyone could
//!    lock `admin` out of the admin's own desk by guessing from elsewhere.
//!
//! Addresses are grouped as in [`crate::conns::client_key`] (an IPv6 /64 is one client).
//! Every table is bounded, so a flood of addresses or names cannot grow memory without end.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::conns::client_key;

/// The limiter's numbers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failures per (address, name) before delays start.
    pub free: u32,
    /// The first delay; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A (address, name) pair without an attempt for this long starts afresh.
    pub forget_after: Duration,
    /// Failures per address (any names) per `window`.
    pub per_addr: u32,
    /// Failures per name (any addresses) per `window`.
    pub per_name: u32,
    /// The window of `per_addr` and `per_name`.
    pub window: Duration,
    /// Addresses remembered per name as having logged in.
    pub known_per_name: usize,
    /// Most entries in each table.
    pub max_keys: usize,
}

impl Default for Limits {
    /// 5 free failures per (address, name), then 1 s doubling to 15 min; 20 failures per
    /// address and 20 per name in 10 minutes; the last 8 addresses each name logged in from.
    fn default() -> Self {
        Limits {
            free: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            per_addr: 20,
            per_name: 20,
            window: Duration::from_secs(600),
            known_per_name: 8,
            max_keys: 10_000,
        }
    }
}

/// Failures counted in a fixed window that starts at the first one.
#[derive(Debug)]
struct Window<K> {
    limit: u32,
    window: Duration,
    max_keys: usize,
    entries: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        Window {
            limit,
            window,
            max_keys,
            entries: HashMap::new(),
        }
    }

    /// `Err(wait)` when `key` has used its budget.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key) {
            Some((start, n)) if now.duration_since(*start) < self.window && *n >= self.limit => {
                Err(self.window - now.duration_since(*start))
            }
            _ => Ok(()),
        }
    }

    fn count(&mut self, key: K, now: Instant) {
        if self.entries.len() >= self.max_keys && !self.entries.contains_key(&key) {
            let window = self.window;
            self.entries
                .retain(|_, (start, _)| now.duration_since(*start) < window);
            evict_oldest(&mut self.entries, |(start, _)| *start);
        }
        let e = self.entries.entry(key).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    fn refund(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            e.1 = e.1.saturating_sub(1);
        }
    }
}

/// Removes the entry with the smallest `age` key when the map is still full.
fn evict_oldest<K: Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, age: impl Fn(&V) -> Instant) {
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

/// One (address, name) pair's failures.
#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    last: Instant,
}

/// A reserved attempt: counted as a failure until settled with [`LoginLimiter::succeeded`] or
/// [`LoginLimiter::cancelled`]. Dropping it leaves it a failure, which is what a wrong
/// password is.
#[derive(Debug)]
#[must_use = "settle the attempt: a right password must give the reservation back"]
pub struct Attempt {
    addr: IpAddr,
    name: String,
}

/// The login limiter, shared by login and password change.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: Limits,
    pairs: HashMap<(IpAddr, String), Pair>,
    by_addr: Window<IpAddr>,
    by_name: Window<String>,
    /// Per name, the addresses it last logged in from (oldest first).
    known: HashMap<String, (Instant, Vec<IpAddr>)>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(Limits::default())
    }
}

impl LoginLimiter {
    /// A limiter with these numbers.
    pub fn new(limits: Limits) -> Self {
        LoginLimiter {
            by_addr: Window::new(limits.per_addr, limits.window, limits.max_keys),
            by_name: Window::new(limits.per_name, limits.window, limits.max_keys),
            pairs: HashMap::new(),
            known: HashMap::new(),
            limits,
        }
    }

    /// The delay owed after `failures` failures of one pair.
    fn delay(&self, failures: u32) -> Duration {
        if failures < self.limits.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.limits.free).min(30);
        self.limits
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.limits.max_delay)
    }

    fn is_known(&self, addr: IpAddr, name: &str) -> bool {
        self.known
            .get(name)
            .is_some_and(|(_, addrs)| addrs.contains(&addr))
    }

    /// Reserves one attempt by `ip` at `name`: `Err(wait)` if it must be refused without
    /// checking the password, else the [`Attempt`], already counted as a failure.
    pub fn begin(&mut self, ip: IpAddr, name: &str, now: Instant) -> Result<Attempt, Duration> {
        let addr = client_key(ip);
        let key = (addr, name.to_owned());
        let mut wait = Duration::ZERO;
        if let Some(p) = self.pairs.get(&key) {
            if now.duration_since(p.last) < self.limits.forget_after {
                let until = p.last + self.delay(p.failures);
                wait = wait.max(until.saturating_duration_since(now));
            }
        }
        if let Err(w) = self.by_addr.check(&addr, now) {
            wait = wait.max(w);
        }
        if !self.is_known(addr, name) {
            if let Err(w) = self.by_name.check(&key.1, now) {
                wait = wait.max(w);
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if self.pairs.len() >= self.limits.max_keys && !self.pairs.contains_key(&key) {
            let forget = self.limits.forget_after;
            self.pairs
                .retain(|_, p| now.duration_since(p.last) < forget);
            if self.pairs.len() >= self.limits.max_keys {
                evict_oldest(&mut self.pairs, |p| p.last);
            }
        }
        let forget = self.limits.forget_after;
        let p = self.pairs.entry(key.clone()).or_insert(Pair {
            failures: 0,
            last: now,
        });
        if now.duration_since(p.last) >= forget {
            p.failures = 0;
        }
        p.failures += 1;
        p.last = now;
        self.by_addr.count(addr, now);
        self.by_name.count(key.1.clone(), now);
        Ok(Attempt { addr, name: key.1 })
    }

    /// The password was right: the reservation is given back, the pair starts afresh, and the
    /// address is remembered for the name.
    pub fn succeeded(&mut self, attempt: Attempt, now: Instant) {
        self.pairs.remove(&(attempt.addr, attempt.name.clone()));
        self.by_addr.refund(&attempt.addr);
        self.by_name.refund(&attempt.name);
        if !self.known.contains_key(&attempt.name) && self.known.len() >= self.limits.max_keys {
            evict_oldest(&mut self.known, |(t, _)| *t);
        }
        let (seen, addrs) = self
            .known
            .entry(attempt.name)
            .or_insert_with(|| (now, Vec::new()));
        *seen = now;
        addrs.retain(|a| *a != attempt.addr);
        addrs.push(attempt.addr);
        if addrs.len() > self.limits.known_per_name {
            addrs.remove(0);
        }
    }

    /// The password was never checked (the verification pool was full, the store failed):
    /// the reservation is given back and nothing else changes.
    pub fn cancelled(&mut self, attempt: Attempt) {
        if let Some(p) = self.pairs.get_mut(&(attempt.addr, attempt.name.clone())) {
            p.failures = p.failures.saturating_sub(1);
        }
        self.by_addr.refund(&attempt.addr);
        self.by_name.refund(&attempt.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn concurrent_attempts_reserve_before_checking() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        // 60 attempts arrive before any answer: only the free budget gets through.
        let admitted: Vec<Attempt> = (0..60)
            .filter_map(|_| l.begin(ip(1), "ann", t0).ok())
            .collect();
        assert_eq!(admitted.len(), 5);
        drop(admitted); // all wrong
        assert_eq!(l.begin(ip(1), "ann", t0).expect_err("refused"), secs(1));
    }

    #[test]
    fn delays_double_then_stop_growing() {
        let mut l = LoginLimiter::default();
        let mut t = Instant::now();
        for _ in 0..5 {
            let _ = l.begin(ip(1), "ann", t).expect("free");
        }
        let mut waits = Vec::new();
        for _ in 0..14 {
            let w = l.begin(ip(1), "ann", t).expect_err("refused");
            waits.push(w.as_secs());
            t += w;
            // Not a moment early.
            assert!(l.begin(ip(1), "ann", t - Duration::from_millis(1)).is_err());
            let _ = l.begin(ip(1), "ann", t).expect("after the wait");
            // The per-address and per-name windows would stop this test; keep them out.
            l.by_addr.entries.clear();
            l.by_name.entries.clear();
        }
        assert_eq!(&waits[..11], &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]);
        assert!(waits[11..].iter().all(|w| *w == 900), "{waits:?}");
    }

    #[test]
    fn a_right_password_clears_the_pair_and_refunds() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            let _ = l.begin(ip(1), "ann", t0).expect("free");
        }
        let a = l.begin(ip(1), "ann", t0).expect("fifth");
        l.succeeded(a, t0);
        for _ in 0..5 {
            let _ = l.begin(ip(1), "ann", t0).expect("a fresh budget");
        }
        assert!(l.begin(ip(1), "ann", t0).is_err());
    }

    #[test]
    fn a_cancelled_attempt_costs_nothing() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..100 {
            let a = l.begin(ip(1), "ann", t0).expect("never spent");
            l.cancelled(a);
        }
    }

    #[test]
    fn pairs_are_forgotten_after_an_hour() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            let _ = l.begin(ip(1), "ann", t0).expect("free");
        }
        assert!(l.begin(ip(1), "ann", t0 + secs(0)).is_err());
        let t1 = t0 + secs(3601);
        for _ in 0..5 {
            let _ = l.begin(ip(1), "ann", t1).expect("free again");
        }
    }

    #[test]
    fn one_address_cannot_spray_every_name() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let _ = l
                .begin(ip(1), &format!("user{i}"), t0)
                .expect("within the address budget");
        }
        let w = l
            .begin(ip(1), "user99", t0 + secs(60))
            .expect_err("refused");
        assert_eq!(w, secs(540), "until the address's window ends");
        assert!(
            l.begin(ip(2), "user99", t0).is_ok(),
            "other addresses go on"
        );
        assert!(l.begin(ip(1), "user99", t0 + secs(601)).is_ok());
    }

    #[test]
    fn many_addresses_cannot_share_out_one_name() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let _ = l.begin(ip(i), "admin", t0).expect("within the name budget");
        }
        assert!(
            l.begin(ip(100), "admin", t0).is_err(),
            "a new host is refused"
        );
        assert!(l.begin(ip(100), "ann", t0).is_ok(), "other names go on");
    }

    #[test]
    fn guessing_from_elsewhere_does_not_lock_admin_out_of_their_own_host() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        let desk = ip(50);
        let a = l.begin(desk, "admin", t0).expect("first login");
        l.succeeded(a, t0);
        // An attacker guesses from many hosts, past the per-name budget.
        for i in 0..40 {
            let _ = l.begin(ip(i), "admin", t0 + secs(1));
        }
        assert!(l.begin(ip(99), "admin", t0 + secs(2)).is_err());
        // The admin, at their own desk, still gets in; a typo there costs only their own pair.
        let typo = l.begin(desk, "admin", t0 + secs(2)).expect("own host");
        drop(typo);
        let a = l
            .begin(desk, "admin", t0 + secs(3))
            .expect("own host again");
        l.succeeded(a, t0 + secs(3));
    }

    #[test]
    fn remembered_addresses_are_bounded_per_name() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let a = l.begin(ip(i), "ann", t0).expect("ok");
            l.succeeded(a, t0);
        }
        assert_eq!(l.known["ann"].1.len(), 8);
        assert!(l.is_known(ip(19), "ann") && !l.is_known(ip(0), "ann"));
    }

    #[test]
    fn ipv6_hosts_in_one_64_share_a_budget() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..5u16 {
            let a = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
            let _ = l.begin(a, "ann", t0).expect("free");
        }
        let other = IpAddr::from([0x2001, 0xdb8, 0, 1, 9, 9, 9, 9]);
        assert!(l.begin(other, "ann", t0).is_err());
    }

    #[test]
    fn tables_are_bounded() {
        let mut l = LoginLimiter::new(Limits {
            max_keys: 100,
            per_addr: 1_000_000,
            per_name: 1_000_000,
            ..Limits::default()
        });
        let t0 = Instant::now();
        for i in 0..5_000u32 {
            let a = IpAddr::from(i.to_be_bytes());
            if let Ok(att) = l.begin(a, &format!("n{i}"), t0) {
                l.succeeded(att, t0);
            }
        }
        assert!(l.pairs.len() <= 100);
        assert!(l.by_addr.entries.len() <= 100);
        assert!(l.by_name.entries.len() <= 100);
        assert!(l.known.len() <= 100);
    }
}
