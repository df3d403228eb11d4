//! Failed-authentication limiter, sans-IO (`now` is passed in).
//!
//! Two budgets, because they stop two different attacks without locking the real user out:
//! - **per (address, user)**, guessing one account: the first
//!   [`LimiterConfig::free_failures`] wrong answers cost nothing (a mistyped password on a
//!   phone's keypad); each further one locks that user *from that address* for a delay that
//!   doubles, from [`LimiterConfig::first_delay`] up to [`LimiterConfig::max_delay`]. The
//!   real user, from their own phone's address, is not affected by what another host does,
//!   and a user who locked themselves out gets in again after the delay. A success, or
//!   [`LimiterConfig::forget_after`] without a failure, clears the count.
//! - **per address**, spraying many accounts: [`LimiterConfig::address_failures`] wrong
//!   answers within [`LimiterConfig::address_window`], whatever the users, ban the address
//!   for [`LimiterConfig::address_ban`].
//!
//! Locked or banned requests are refused (403 with Retry-After) before any digest is
//! computed, so a guessing script costs the box almost nothing. Both tables are bounded: a
//! flood of addresses evicts idle entries first, then the oldest. Nonces are bound to the
//! client's address (see [`super::nonce`]), so a host spoofing a phone's address cannot add
//! failures to that address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This user, from this address.
    User,
    /// Every user, from this address.
    Address,
}

/// A refused request: retry after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed authentications; retry after {retry_after:?}")]
pub struct Banned {
    /// Time left.
    pub retry_after: Duration,
    /// User lock or address ban.
    pub scope: Scope,
}

/// A lock or ban that a failure just started (log it once).
pub type Lockout = Banned;

/// The limiter's numbers.
#[derive(Debug, Clone)]
pub struct LimiterConfig {
    /// Failures per (address, user) before the first delay.
    pub free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A (address, user) count is forgotten this long after its last failure.
    pub forget_after: Duration,
    /// Failures from one address, any users, within `address_window` that ban it.
    pub address_failures: u32,
    /// Window for `address_failures`.
    pub address_window: Duration,
    /// How long an address ban lasts.
    pub address_ban: Duration,
    /// Most entries per table.
    pub max_entries: usize,
}

impl Default for LimiterConfig {
    /// 5 free failures per (address, user), then 30 s doubling up to 1 h; 20 failures from
    /// one address in 10 minutes ban it for 15 minutes; 65,536 entries per table.
    fn default() -> Self {
        LimiterConfig {
            free_failures: 5,
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            forget_after: Duration::from_secs(3600),
            address_failures: 20,
            address_window: Duration::from_secs(600),
            address_ban: Duration::from_secs(900),
            max_entries: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct UserEntry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct AddressEntry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

/// Counts failures per (address, user) and per address.
#[derive(Debug)]
pub struct Limiter {
    cfg: LimiterConfig,
    users: HashMap<(IpAddr, String), UserEntry>,
    addresses: HashMap<IpAddr, AddressEntry>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(LimiterConfig::default())
    }
}

/// User names longer than this are cut in the key (the registrar refuses them anyway).
const MAX_USER: usize = 64;

fn key(ip: IpAddr, user: &str) -> (IpAddr, String) {
    let mut end = user.len().min(MAX_USER);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    (crate::transaction::canonical_ip(ip), user[..end].to_owned())
}

impl Limiter {
    /// A limiter with these numbers.
    pub fn new(cfg: LimiterConfig) -> Limiter {
        Limiter {
            cfg: LimiterConfig {
                free_failures: cfg.free_failures,
                max_entries: cfg.max_entries.max(1),
                address_failures: cfg.address_failures.max(1),
                ..cfg
            },
            users: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// Entries held (both tables).
    pub fn len(&self) -> usize {
        self.users.len() + self.addresses.len()
    }

    /// No entry held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Err` while `ip` is banned, or `user` is locked from `ip`.
    pub fn check(&mut self, ip: IpAddr, user: Option<&str>, now: Instant) -> Result<(), Banned> {
        let ip = crate::transaction::canonical_ip(ip);
        if let Some(a) = self.addresses.get(&ip) {
            if let Some(until) = a.banned_until {
                if until > now {
                    return Err(Banned {
                        retry_after: until - now,
                        scope: Scope::Address,
                    });
                }
                self.addresses.remove(&ip);
            }
        }
        let Some(user) = user else { return Ok(()) };
        let k = key(ip, user);
        if let Some(e) = self.users.get(&k) {
            if let Some(until) = e.locked_until.filter(|u| *u > now) {
                return Err(Banned {
                    retry_after: until - now,
                    scope: Scope::User,
                });
            }
            if now.saturating_duration_since(e.last_failure) >= self.cfg.forget_after {
                self.users.remove(&k);
            }
        }
        Ok(())
    }

    /// Records a failure of `user` from `ip`; returns the lock or ban it starts, if any.
    pub fn failure(&mut self, ip: IpAddr, user: &str, now: Instant) -> Option<Lockout> {
        let ip = crate::transaction::canonical_ip(ip);
        let ban = self.address_failure(ip, now);
        let k = key(ip, user);
        if !self.users.contains_key(&k) && self.users.len() >= self.cfg.max_entries {
            self.make_room_users(now);
        }
        let cfg = &self.cfg;
        let e = self.users.entry(k).or_insert(UserEntry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.saturating_duration_since(e.last_failure) >= cfg.forget_after {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        let lock = (e.failures > cfg.free_failures).then(|| {
            let doublings = (e.failures - cfg.free_failures - 1).min(20);
            let delay = cfg
                .first_delay
                .saturating_mul(1u32 << doublings)
                .min(cfg.max_delay);
            e.locked_until = Some(now + delay);
            Banned {
                retry_after: delay,
                scope: Scope::User,
            }
        });
        ban.or(lock)
    }

    fn address_failure(&mut self, ip: IpAddr, now: Instant) -> Option<Lockout> {
        if !self.addresses.contains_key(&ip) && self.addresses.len() >= self.cfg.max_entries {
            self.make_room_addresses(now);
        }
        let cfg = &self.cfg;
        let e = self.addresses.entry(ip).or_insert(AddressEntry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        if e.banned_until.is_some_and(|u| u > now) {
            return None;
        }
        if e.banned_until.is_some()
            || now.saturating_duration_since(e.window_start) >= cfg.address_window
        {
            *e = AddressEntry {
                window_start: now,
                failures: 0,
                banned_until: None,
            };
        }
        e.failures += 1;
        (e.failures >= cfg.address_failures).then(|| {
            e.banned_until = Some(now + cfg.address_ban);
            Banned {
                retry_after: cfg.address_ban,
                scope: Scope::Address,
            }
        })
    }

    /// `user` authenticated from `ip`: its count from there is cleared (an address ban
    /// stays).
    pub fn success(&mut self, ip: IpAddr, user: &str) {
        self.users.remove(&key(ip, user));
    }

    fn make_room_users(&mut self, now: Instant) {
        let forget = self.cfg.forget_after;
        self.users.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || now.saturating_duration_since(e.last_failure) < forget
        });
        if self.users.len() >= self.cfg.max_entries {
            // Still full of live entries: forget the oldest unlocked one, else the oldest.
            let victim = self
                .users
                .iter()
                .min_by_key(|(_, e)| (e.locked_until.is_some_and(|u| u > now), e.last_failure))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                self.users.remove(&k);
            }
        }
    }

    fn make_room_addresses(&mut self, now: Instant) {
        let window = self.cfg.address_window;
        self.addresses.retain(|_, e| match e.banned_until {
            Some(until) => until > now,
            None => now.saturating_duration_since(e.window_start) < window,
        });
        if self.addresses.len() >= self.cfg.max_entries {
            let victim = self
                .addresses
                .iter()
                .min_by_key(|(_, e)| (e.banned_until.is_some(), e.window_start))
                .map(|(ip, _)| *ip);
            if let Some(ip) = victim {
                self.addresses.remove(&ip);
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

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn limiter() -> Limiter {
        Limiter::new(LimiterConfig {
            free_failures: 3,
            first_delay: secs(10),
            max_delay: secs(60),
            forget_after: secs(600),
            address_failures: 8,
            address_window: secs(60),
            address_ban: secs(300),
            max_entries: 100,
        })
    }

    #[test]
    fn a_guessed_user_is_locked_only_from_the_guessing_address() {
        let t = Instant::now();
        let mut l = limiter();
        for _ in 0..3 {
            assert_eq!(l.failure(ip(1), "201", t), None);
        }
        let lock = l.failure(ip(1), "201", t).expect("locked");
        assert_eq!((lock.scope, lock.retry_after), (Scope::User, secs(10)));
        let e = l
            .check(ip(1), Some("201"), t + secs(4))
            .expect_err("locked");
        assert_eq!((e.scope, e.retry_after), (Scope::User, secs(6)));
        // The real user from their own phone, and other users from the guessing address.
        assert!(l.check(ip(2), Some("201"), t).is_ok());
        assert!(l.check(ip(1), Some("202"), t).is_ok());
        assert!(l.check(ip(1), None, t).is_ok());
        // After the delay one more guess; failing doubles the delay, up to the cap.
        assert!(l.check(ip(1), Some("201"), t + secs(10)).is_ok());
        let lock = l.failure(ip(1), "201", t + secs(10)).expect("locked");
        assert_eq!(lock.retry_after, secs(20));
        let lock = l.failure(ip(1), "201", t + secs(30)).expect("locked");
        assert_eq!(lock.retry_after, secs(40));
        let lock = l.failure(ip(1), "201", t + secs(70)).expect("locked");
        assert_eq!(lock.retry_after, secs(60), "capped");
        // A success clears the count (after the lock lapsed).
        l.success(ip(1), "201");
        assert!(l.check(ip(1), Some("201"), t + secs(71)).is_ok());
        assert_eq!(l.failure(ip(1), "201", t + secs(71)), None);
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_period() {
        let t = Instant::now();
        let mut l = limiter();
        for _ in 0..3 {
            l.failure(ip(1), "201", t);
        }
        assert_eq!(l.failure(ip(1), "201", t + secs(600)), None);
    }

    #[test]
    fn spraying_many_users_bans_the_address() {
        let t = Instant::now();
        let mut l = limiter();
        let mut ban = None;
        for n in 0..8u32 {
            ban = l.failure(ip(1), &format!("2{n:02}"), t);
        }
        let ban = ban.expect("banned on the 8th failure");
        assert_eq!((ban.scope, ban.retry_after), (Scope::Address, secs(300)));
        let e = l.check(ip(1), None, t + secs(100)).expect_err("banned");
        assert_eq!(e.scope, Scope::Address);
        assert!(
            l.check(ip(2), Some("201"), t).is_ok(),
            "other addresses unaffected"
        );
        l.success(ip(1), "200"); // does not lift the ban
        assert!(l.check(ip(1), Some("299"), t + secs(299)).is_err());
        assert!(l.check(ip(1), Some("299"), t + secs(300)).is_ok());
    }

    #[test]
    fn bounded() {
        let t = Instant::now();
        let mut l = Limiter::new(LimiterConfig {
            max_entries: 10,
            ..LimiterConfig::default()
        });
        for i in 0..=255u8 {
            l.failure(ip(i), &"9".repeat(200), t);
        }
        assert!(l.len() <= 20);
    }
}
