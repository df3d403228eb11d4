//! The box's own NOTIFYs (message-waiting, busy lamps, presence) under a bound of their own.
//!
//! One event can make many NOTIFYs: a message to a group changes the lamp of every member's
//! phones, and each lamp change reaches every phone watching that user. Each NOTIFY is a client
//! transaction in the same table as the phones' REGISTERs and INVITEs, and a phone that does
//! not answer keeps its transaction for 32 s. So at most [`MAX_IN_FLIGHT`] NOTIFYs are
//! outstanding at once; the rest wait here in order (a dialog's NOTIFYs keep their CSeq order)
//! and go out as answers come back. Past [`MAX_WAITING`] a new NOTIFY is dropped and counted:
//! a lamp is set again by the next change, and a watcher's next NOTIFY carries the full state.

use std::collections::VecDeque;

/// NOTIFYs outstanding at once (sent, no final answer yet).
pub(crate) const MAX_IN_FLIGHT: usize = 128;
/// NOTIFYs waiting to be sent.
pub(crate) const MAX_WAITING: usize = 8192;

/// The in-flight count and the queue of what waits (`T`: a NOTIFY ready to send).
#[derive(Debug)]
pub(crate) struct NotifyGate<T> {
    in_flight: usize,
    waiting: VecDeque<T>,
    dropped: u64,
}

impl<T> Default for NotifyGate<T> {
    fn default() -> Self {
        NotifyGate {
            in_flight: 0,
            waiting: VecDeque::new(),
            dropped: 0,
        }
    }
}

impl<T> NotifyGate<T> {
    /// A new NOTIFY: `Some` to send now (counted in flight), `None` when it waits or, with
    /// the queue full, was dropped.
    pub fn offer(&mut self, n: T) -> Option<T> {
        if self.in_flight < MAX_IN_FLIGHT && self.waiting.is_empty() {
            self.in_flight += 1;
            return Some(n);
        }
        if self.waiting.len() >= MAX_WAITING {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(dropped = self.dropped, "NOTIFY queue full: NOTIFYs dropped");
            }
            return None;
        }
        self.waiting.push_back(n);
        None
    }

    /// One NOTIFY is done (answered, timed out, or could not be sent): the next that waits,
    /// to send now (counted in flight).
    pub fn done(&mut self) -> Option<T> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let next = self.waiting.pop_front()?;
        self.in_flight += 1;
        Some(next)
    }

    /// Outstanding now.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Waiting now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_bound_in_flight_the_rest_in_order_then_dropped() {
        let mut g = NotifyGate::default();
        let sent: Vec<usize> = (0..MAX_IN_FLIGHT + MAX_WAITING + 5)
            .filter_map(|i| g.offer(i))
            .collect();
        assert_eq!(sent, (0..MAX_IN_FLIGHT).collect::<Vec<_>>());
        assert_eq!((g.in_flight(), g.waiting()), (MAX_IN_FLIGHT, MAX_WAITING));
        assert_eq!(g.dropped, 5);
        // Each answer lets the oldest waiting one go, in order.
        assert_eq!(g.done(), Some(MAX_IN_FLIGHT));
        assert_eq!(g.done(), Some(MAX_IN_FLIGHT + 1));
        assert_eq!(g.in_flight(), MAX_IN_FLIGHT);
        while g.waiting() > 0 {
            g.done();
        }
        for _ in 0..MAX_IN_FLIGHT {
            g.done();
        }
        assert_eq!((g.in_flight(), g.waiting()), (0, 0));
        assert_eq!(g.offer(7), Some(7));
        assert_eq!(g.done(), None);
        assert_eq!(g.in_flight(), 0);
        assert_eq!(g.done(), None, "never below zero");
        assert_eq!(g.in_flight(), 0);
    }
}
