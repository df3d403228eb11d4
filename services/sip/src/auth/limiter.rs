//! Failed-authentication limiter per source address, sans-IO (`now` is passed in).
//!
//! `max_failures` wrong answers inside `window` ban the address for `ban`; while banned, its
//! requests are refused (403 with Retry-After, or dropped) before any digest is computed, so a
//! password-guessing phone or script costs the box almost nothing. The table is bounded: a
//! flood of spoofed addresses evicts idle entries first, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// An address is banned until `retry_after` from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed authentications; retry after {retry_after:?}")]
pub struct Banned {
    /// Time left on the ban.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

/// Counts failures per address.
#[derive(Debug)]
pub struct Limiter {
    max_failures: u32,
    window: Duration,
    ban: Duration,
    max_entries: usize,
    table: HashMap<IpAddr, Entry>,
}

impl Default for Limiter {
    /// 10 failures a minute → 5 minute ban; 10 000 addresses tracked.
    fn default() -> Self {
        Limiter::new(
            10,
            Duration::from_secs(60),
            Duration::from_secs(300),
            10_000,
        )
    }
}

impl Limiter {
    /// A limiter: `max_failures` per `window` bans for `ban`; at most `max_entries` addresses.
    pub fn new(max_failures: u32, window: Duration, ban: Duration, max_entries: usize) -> Limiter {
        Limiter {
            max_failures: max_failures.max(1),
            window,
            ban,
            max_entries: max_entries.max(1),
            table: HashMap::new(),
        }
    }

    /// Addresses tracked.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No address tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `Err` while `ip` is banned.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Banned> {
        let Some(e) = self.table.get(&ip) else {
            return Ok(());
        };
        match e.banned_until {
            Some(until) if until > now => Err(Banned {
                retry_after: until - now,
            }),
            Some(_) => {
                self.table.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failure; returns the ban when this failure starts one (log it once).
    pub fn failure(&mut self, ip: IpAddr, now: Instant) -> Option<Banned> {
        if !self.table.contains_key(&ip) && self.table.len() >= self.max_entries {
            self.make_room(now);
        }
        let window = self.window;
        let e = self.table.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        if let Some(until) = e.banned_until {
            if until > now {
                return None;
            }
            *e = Entry {
                window_start: now,
                failures: 0,
                banned_until: None,
            };
        }
        if now.saturating_duration_since(e.window_start) >= window {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            e.banned_until = Some(now + self.ban);
            return Some(Banned {
                retry_after: self.ban,
            });
        }
        None
    }

    /// A successful authentication clears the address's count.
    pub fn success(&mut self, ip: IpAddr) {
        if self
            .table
            .get(&ip)
            .is_some_and(|e| e.banned_until.is_none())
        {
            self.table.remove(&ip);
        }
    }

    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.table.retain(|_, e| match e.banned_until {
            Some(until) => until > now,
            None => now.saturating_duration_since(e.window_start) < window,
        });
        if self.table.len() >= self.max_entries {
            // Still full of live entries: forget the oldest unbanned one, else the oldest.
            let victim = self
                .table
                .iter()
                .min_by_key(|(_, e)| (e.banned_until.is_some(), e.window_start))
                .map(|(ip, _)| *ip);
            if let Some(ip) = victim {
                self.table.remove(&ip);
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

    #[test]
    fn ban_after_n_then_expire() {
        let t = Instant::now();
        let mut l = Limiter::new(3, Duration::from_secs(60), Duration::from_secs(300), 100);
        assert_eq!(l.failure(ip(1), t), None);
        assert_eq!(l.failure(ip(1), t), None);
        assert_eq!(
            l.failure(ip(1), t),
            Some(Banned {
                retry_after: Duration::from_secs(300)
            })
        );
        assert_eq!(
            l.check(ip(1), t + Duration::from_secs(100)),
            Err(Banned {
                retry_after: Duration::from_secs(200)
            })
        );
        assert!(l.check(ip(2), t).is_ok());
        l.success(ip(1)); // does not lift a ban
        assert!(l.check(ip(1), t + Duration::from_secs(299)).is_err());
        assert!(l.check(ip(1), t + Duration::from_secs(300)).is_ok());
    }

    #[test]
    fn window_resets_and_success_clears() {
        let t = Instant::now();
        let mut l = Limiter::new(2, Duration::from_secs(60), Duration::from_secs(300), 100);
        l.failure(ip(1), t);
        assert_eq!(l.failure(ip(1), t + Duration::from_secs(61)), None);
        l.success(ip(1));
        assert_eq!(l.failure(ip(1), t + Duration::from_secs(62)), None);
    }

    #[test]
    fn bounded() {
        let t = Instant::now();
        let mut l = Limiter::new(2, Duration::from_secs(60), Duration::from_secs(300), 10);
        for i in 0..=255u8 {
            l.failure(ip(i), t);
        }
        assert!(l.len() <= 10);
    }
}
