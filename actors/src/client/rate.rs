//! Messages per minute per sender, sans-IO (the caller passes `now`).
//!
//! Each post costs audio work (decode, resample, encode) and a durable commit with fsyncs. A
//! person records a message in seconds and sends a few a minute at most; a script with a
//! stolen or careless token must not be able to keep the box busy for everyone. A sliding
//! window of the last minute's posts per sender, bounded by the limit itself.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use ivm_wire::Guid;

const MINUTE: Duration = Duration::from_secs(60);

/// Posts per sender in the last minute.
#[derive(Debug)]
pub struct PostRate {
    per_minute: u32,
    recent: HashMap<Guid, VecDeque<Instant>>,
}

impl PostRate {
    /// At most `per_minute` posts per sender in any 60 seconds; 0 = no limit.
    pub fn new(per_minute: u32) -> Self {
        PostRate {
            per_minute,
            recent: HashMap::new(),
        }
    }

    /// The limit (0 = none).
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one post for `sender`, or `Err(wait)` until the oldest of the last minute's
    /// posts leaves the window.
    pub fn try_take(&mut self, sender: Guid, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let q = self.recent.entry(sender).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= MINUTE) {
            q.pop_front();
        }
        if q.len() >= self.per_minute as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(MINUTE.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        Ok(())
    }

    /// Gives back the newest post of `sender` (it turned out to be a retry of one stored).
    pub fn give_back(&mut self, sender: Guid) {
        if let Some(q) = self.recent.get_mut(&sender) {
            q.pop_back();
        }
    }

    /// Forgets senders with no post in the last minute (called now and then).
    pub fn prune(&mut self, now: Instant) {
        self.recent
            .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < MINUTE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sliding_minute_per_sender() {
        let mut r = PostRate::new(3);
        let (a, b) = (Guid::new_v4(), Guid::new_v4());
        let t0 = Instant::now();
        for s in [0, 10, 20] {
            r.try_take(a, t0 + Duration::from_secs(s))
                .expect("within the limit");
        }
        let wait = r
            .try_take(a, t0 + Duration::from_secs(30))
            .expect_err("over the limit");
        assert_eq!(
            wait,
            Duration::from_secs(30),
            "until the first leaves the minute"
        );
        r.try_take(b, t0 + Duration::from_secs(30))
            .expect("another sender");
        r.try_take(a, t0 + Duration::from_secs(60))
            .expect("the first left");
        assert!(r.try_take(a, t0 + Duration::from_secs(61)).is_err());
        r.give_back(a);
        r.try_take(a, t0 + Duration::from_secs(61))
            .expect("a retry gave it back");
    }

    #[test]
    fn zero_means_no_limit_and_prune_forgets() {
        let mut r = PostRate::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            r.try_take(Guid::new_v4(), t0).expect("no limit");
        }
        assert!(r.recent.is_empty());
        let mut r = PostRate::new(2);
        r.try_take(Guid::new_v4(), t0).expect("ok");
        r.prune(t0 + Duration::from_secs(61));
        assert!(r.recent.is_empty());
    }
}
