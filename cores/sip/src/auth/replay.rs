//! Bounded `nc` replay protection: for each nonce in use, the highest nonce-count seen.
//!
//! A response is accepted only with an `nc` above the last one seen for its nonce, so a
//! captured REGISTER cannot be played again. The table is capped: when it is full, the oldest
//! nonce is forgotten and every nonce issued up to then counts as stale, which forces those
//! clients to take a fresh challenge (stale=true: no password prompt) instead of opening a
//! replay window.

use std::collections::{HashMap, VecDeque};

use super::nonce::NonceId;

/// Outcome of presenting a nonce-count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcCheck {
    /// New, higher count: accepted and recorded.
    Fresh,
    /// Equal to or below a count already seen.
    Replay,
    /// The nonce was forgotten to keep the table bounded: re-challenge with stale=true.
    Forgotten,
}

/// Highest `nc` per nonce, bounded.
#[derive(Debug)]
pub struct ReplayGuard {
    max: usize,
    seen: HashMap<NonceId, u32>,
    order: VecDeque<NonceId>,
    floor: Option<NonceId>,
}

impl ReplayGuard {
    /// A guard remembering at most `max` nonces.
    pub fn new(max: usize) -> ReplayGuard {
        ReplayGuard {
            max: max.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
            floor: None,
        }
    }

    /// Nonces tracked.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Nothing tracked.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Drops nonces issued before `oldest_valid_ms` (they are stale anyway).
    pub fn expire(&mut self, oldest_valid_ms: u64) {
        while let Some(front) = self.order.front() {
            if front.issued_ms >= oldest_valid_ms {
                break;
            }
            self.seen.remove(front);
            self.order.pop_front();
        }
    }

    /// Checks `nc` for `id` and records it if fresh.
    pub fn check(&mut self, id: NonceId, nc: u32) -> NcCheck {
        if let Some(last) = self.seen.get_mut(&id) {
            if nc <= *last {
                return NcCheck::Replay;
            }
            *last = nc;
            return NcCheck::Fresh;
        }
        if self.floor.is_some_and(|f| id <= f) {
            return NcCheck::Forgotten;
        }
        while self.seen.len() >= self.max {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&old);
            self.floor = Some(self.floor.map_or(old, |f| f.max(old)));
        }
        if self.floor.is_some_and(|f| id <= f) {
            return NcCheck::Forgotten;
        }
        self.seen.insert(id, nc);
        // Nonces are first used roughly in issue order; keep the queue sorted by insertion.
        self.order.push_back(id);
        NcCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> NonceId {
        NonceId {
            issued_ms: ms,
            seq,
            offered: 1,
        }
    }

    #[test]
    fn replay_and_bound() {
        let mut g = ReplayGuard::new(2);
        assert_eq!(g.check(id(1, 1), 1), NcCheck::Fresh);
        assert_eq!(g.check(id(1, 1), 1), NcCheck::Replay);
        assert_eq!(g.check(id(1, 1), 2), NcCheck::Fresh);
        assert_eq!(g.check(id(2, 2), 1), NcCheck::Fresh);
        assert_eq!(g.check(id(3, 3), 1), NcCheck::Fresh); // evicts (1,1)
        assert_eq!(g.len(), 2);
        assert_eq!(g.check(id(1, 1), 3), NcCheck::Forgotten);
        g.expire(3);
        assert_eq!(g.len(), 1);
    }
}
