//! Byte budgets for what waits in a phone adapter's mailbox (the station's today): one for
//! SIP, one for RTP.
//!
//! Why not the mailbox's own bound: actix counts items, and SIP and RTP share one mailbox,
//! so a flood of either (an RTP flood at a call's port, a REGISTER flood) filled it and the
//! other was dropped with it. Each socket task now takes a [`Permit`] for the bytes it hands
//! the actor from its class's [`Budget`] and drops the datagram when the budget is spent
//! (counted in [`Budget::dropped`]); the permit rides in the message and gives the bytes
//! back when the actor has handled it (or when the message is dropped unread). An RTP flood
//! therefore cannot starve SIP, nor SIP starve the media.
//!
//! Each message is charged its length plus [`OVERHEAD`] (the envelope, the message and the
//! buffer's header), so a flood of tiny datagrams is bounded in items as well as bytes: the
//! two budgets together stay well below the mailbox's item bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes charged per message on top of its payload.
pub const OVERHEAD: usize = 256;

/// Default budget for SIP waiting in the mailbox (about 16,000 small requests).
pub const SIP_BUDGET: usize = 8 << 20;

/// Default budget for RTP waiting in the mailbox (about 20,000 packets of 20 ms G.711).
pub const RTP_BUDGET: usize = 8 << 20;

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
    dropped: AtomicU64,
}

/// A shared budget of bytes in flight toward the actor.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Inner>);

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget(Arc::new(Inner {
            limit,
            used: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }))
    }

    /// Takes room for a message of `len` payload bytes, or counts a drop and returns `None`
    /// when the budget is spent.
    pub fn try_take(&self, len: usize) -> Option<Permit> {
        let bytes = len.saturating_add(OVERHEAD);
        let taken = self
            .0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = used.checked_add(bytes)?;
                (next <= self.0.limit).then_some(next)
            })
            .is_ok();
        if taken {
            Some(Permit {
                budget: self.0.clone(),
                bytes,
            })
        } else {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Counts a message dropped for another reason (the mailbox refused it).
    pub fn count_drop(&self) {
        self.0.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Bytes charged to messages not handled yet.
    pub fn in_flight(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }
}

/// Room taken in a [`Budget`]; given back on drop.
#[derive(Debug)]
pub struct Permit {
    budget: Arc<Inner>,
    bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_until_spent_and_gives_back_on_drop() {
        let b = Budget::new(3 * (100 + OVERHEAD));
        let p: Vec<Permit> = (0..3).filter_map(|_| b.try_take(100)).collect();
        assert_eq!(p.len(), 3);
        assert!(b.try_take(1).is_none());
        assert_eq!(b.dropped(), 1);
        drop(p);
        assert_eq!(b.in_flight(), 0);
        assert!(b.try_take(100).is_some());
        // Tiny datagrams are charged the overhead: the item count is bounded too.
        let tiny = Budget::new(10 * OVERHEAD);
        let held: Vec<Permit> = (0..100).filter_map(|_| tiny.try_take(0)).collect();
        assert_eq!(held.len(), 10);
    }
}
