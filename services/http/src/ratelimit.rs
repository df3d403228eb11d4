//! Login throttling, sans-IO: the caller passes `now`, so tests need no clock.
//!
//! Failures are counted per source address and per user name over a sliding window; past the
//! limit, further attempts from that address (or against that name) are refused until the
//! window has passed, without even checking the password. Successful logins clear the
//! address's count. The table is bounded so a flood of addresses cannot grow it without end.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failure counts per key with a fixed window.
#[derive(Debug)]
struct Window<K> {
    limit: u32,
    window: Duration,
    max_keys: usize,
    entries: HashMap<K, (Instant, u32)>,
}

impl<K: std::hash::Hash + Eq + Clone> Window<K> {
    fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        Window {
            limit,
            window,
            max_keys,
            entries: HashMap::new(),
        }
    }

    fn check(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key) {
            Some((start, n)) if now.duration_since(*start) < self.window => {
                if *n >= self.limit {
                    Err(self.window - now.duration_since(*start))
                } else {
                    Ok(())
                }
            }
            Some(_) => {
                self.entries.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn fail(&mut self, key: K, now: Instant) {
        if self.entries.len() >= self.max_keys && !self.entries.contains_key(&key) {
            let window = self.window;
            self.entries
                .retain(|_, (start, _)| now.duration_since(*start) < window);
            if self.entries.len() >= self.max_keys {
                // Still full of live entries: forget the oldest rather than grow.
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(k, _)| k.clone())
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        let e = self.entries.entry(key).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

/// The login limiter: per-address and per-name windows.
#[derive(Debug)]
pub struct LoginLimiter {
    by_addr: Window<IpAddr>,
    by_name: Window<String>,
}

impl Default for LoginLimiter {
    /// 5 failures a minute per address, 20 per 10 minutes per name.
    fn default() -> Self {
        LoginLimiter::new(5, Duration::from_secs(60), 20, Duration::from_secs(600))
    }
}

impl LoginLimiter {
    /// A limiter allowing `per_addr` failures per `addr_window` and `per_name` per `name_window`.
    pub fn new(per_addr: u32, addr_window: Duration, per_name: u32, name_window: Duration) -> Self {
        LoginLimiter {
            by_addr: Window::new(per_addr, addr_window, 10_000),
            by_name: Window::new(per_name, name_window, 10_000),
        }
    }

    /// `Err(retry_after)` if this attempt must be refused without checking the password.
    pub fn check(&mut self, addr: IpAddr, name: &str, now: Instant) -> Result<(), Duration> {
        let a = self.by_addr.check(&addr, now);
        let n = self.by_name.check(&name.to_owned(), now);
        match (a, n) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(x), Err(y)) => Err(x.max(y)),
            (Err(x), _) | (_, Err(x)) => Err(x),
        }
    }

    /// Counts a wrong password.
    pub fn failed(&mut self, addr: IpAddr, name: &str, now: Instant) {
        self.by_addr.fail(addr, now);
        self.by_name.fail(name.to_owned(), now);
    }

    /// A correct password from `addr`: its count starts again.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.by_addr.clear(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn blocks_after_limit_then_recovers() {
        let mut l = LoginLimiter::new(3, Duration::from_secs(60), 100, Duration::from_secs(600));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip(1), "ann", t0).is_ok());
            l.failed(ip(1), "ann", t0);
        }
        let wait = l
            .check(ip(1), "ann", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            l.check(ip(2), "bob", t0).is_ok(),
            "other addresses are not affected"
        );
        assert!(l.check(ip(1), "ann", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn per_name_limit_catches_spread_addresses() {
        let mut l = LoginLimiter::new(100, Duration::from_secs(60), 4, Duration::from_secs(600));
        let t0 = Instant::now();
        for i in 0..4 {
            l.failed(ip(i), "admin", t0);
        }
        assert!(l.check(ip(99), "admin", t0).is_err());
        assert!(l.check(ip(99), "ann", t0).is_ok());
    }

    #[test]
    fn table_is_bounded() {
        let mut w: Window<u32> = Window::new(1, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        for k in 0..10_000 {
            w.fail(k, t0);
        }
        assert!(w.entries.len() <= 100);
    }

    #[test]
    fn success_clears_the_address() {
        let mut l = LoginLimiter::new(2, Duration::from_secs(60), 100, Duration::from_secs(600));
        let t0 = Instant::now();
        l.failed(ip(1), "ann", t0);
        l.failed(ip(1), "ann", t0);
        assert!(l.check(ip(1), "ann", t0).is_err());
        l.succeeded(ip(1));
        assert!(l.check(ip(1), "ann", t0).is_ok());
    }
}
