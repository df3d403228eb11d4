//! The flow of a box's durable outbox onto the cluster, as a sans-IO state machine (the link
//! actor in `ivmd` drives it; it holds no data and reads no clock).
//!
//! The entries themselves live in the box's store, numbered in the order they were queued.
//! This core decides only *which* entry to publish *when*: one at a time (so they reach
//! `IVM_OUT` in order), the head again after a failure (same `Nats-Msg-Id`, so a publish whose
//! ack was lost is de-duplicated by JetStream), after a backoff that doubles up to a cap, and
//! nothing while the link is down. An entry leaves the store only when [`Outbox::acked`] says
//! so, which is after the JetStream publish ack: nothing acknowledged to the user is lost.

use std::time::{Duration, Instant};

/// The first wait after a failed publish.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts (under JetStream's duplicate window).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Publish the store entry with this number and report [`Outbox::acked`] or
    /// [`Outbox::failed`].
    Publish(u64),
    /// Nothing before this instant (a backoff).
    WaitUntil(Instant),
    /// Nothing until the link comes up, an entry is queued, or a publish finishes.
    Idle,
}

/// The state of one box's outbox flow.
#[derive(Debug, Default)]
pub struct Outbox {
    up: bool,
    in_flight: Option<u64>,
    retry_at: Option<Instant>,
    backoff: Option<Duration>,
}

impl Outbox {
    /// A flow for a link that is not up yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The link is connected: flowing may start (at once, forgetting any backoff).
    pub fn link_up(&mut self) {
        self.up = true;
        self.retry_at = None;
        self.backoff = None;
    }

    /// The link is down: nothing is published; a publish in flight will be retried.
    pub fn link_down(&mut self) {
        self.up = false;
        self.in_flight = None;
    }

    /// What to do, given the number of the oldest entry in the store (`None`: empty).
    pub fn poll(&mut self, now: Instant, head: Option<u64>) -> Action {
        let Some(head) = head else {
            return Action::Idle;
        };
        if !self.up || self.in_flight.is_some() {
            return Action::Idle;
        }
        if let Some(at) = self.retry_at {
            if now < at {
                return Action::WaitUntil(at);
            }
            self.retry_at = None;
        }
        self.in_flight = Some(head);
        Action::Publish(head)
    }

    /// Entry `entry`'s publish was acknowledged by JetStream. Returns whether the driver must
    /// now delete it from the store (`false` for an ack of something not in flight, such as a
    /// late ack from before a reconnect, which is then retried and de-duplicated).
    pub fn acked(&mut self, entry: u64) -> bool {
        if self.in_flight != Some(entry) {
            return false;
        }
        self.in_flight = None;
        self.backoff = None;
        true
    }

    /// Entry `entry`'s publish failed (no ack in time, refused, the stream full): it stays at
    /// the head and is published again after the backoff.
    pub fn failed(&mut self, entry: u64, now: Instant) {
        if self.in_flight != Some(entry) {
            return;
        }
        self.in_flight = None;
        let wait = self
            .backoff
            .map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
        self.backoff = Some(wait);
        self.retry_at = Some(now + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_flow_one_at_a_time_in_order() {
        let t = Instant::now();
        let mut o = Outbox::new();
        assert_eq!(
            o.poll(t, Some(1)),
            Action::Idle,
            "not before the link is up"
        );
        o.link_up();
        assert_eq!(o.poll(t, Some(1)), Action::Publish(1));
        assert_eq!(o.poll(t, Some(1)), Action::Idle, "one in flight");
        assert!(o.acked(1));
        assert_eq!(o.poll(t, Some(2)), Action::Publish(2));
        assert!(o.acked(2));
        assert_eq!(o.poll(t, None), Action::Idle);
    }

    #[test]
    fn a_failure_retries_the_head_after_a_growing_capped_backoff() {
        let t = Instant::now();
        let mut o = Outbox::new();
        o.link_up();
        assert_eq!(o.poll(t, Some(7)), Action::Publish(7));
        o.failed(7, t);
        assert_eq!(o.poll(t, Some(7)), Action::WaitUntil(t + FIRST_BACKOFF));
        let t1 = t + FIRST_BACKOFF;
        assert_eq!(
            o.poll(t1, Some(7)),
            Action::Publish(7),
            "the same entry again"
        );
        o.failed(7, t1);
        assert_eq!(
            o.poll(t1, Some(7)),
            Action::WaitUntil(t1 + FIRST_BACKOFF * 2)
        );
        let mut now = t1;
        for _ in 0..20 {
            now += MAX_BACKOFF;
            assert_eq!(o.poll(now, Some(7)), Action::Publish(7));
            o.failed(7, now);
        }
        assert_eq!(o.poll(now, Some(7)), Action::WaitUntil(now + MAX_BACKOFF));
        now += MAX_BACKOFF;
        assert_eq!(o.poll(now, Some(7)), Action::Publish(7));
        assert!(o.acked(7));
        o.failed(8, now);
        assert_eq!(
            o.poll(now, Some(8)),
            Action::Publish(8),
            "an ack resets the backoff"
        );
    }

    #[test]
    fn a_link_down_stops_the_flow_and_a_stale_ack_deletes_nothing() {
        let t = Instant::now();
        let mut o = Outbox::new();
        o.link_up();
        assert_eq!(o.poll(t, Some(1)), Action::Publish(1));
        o.link_down();
        assert_eq!(o.poll(t, Some(1)), Action::Idle);
        assert!(!o.acked(1), "an ack from before the drop is not trusted");
        o.link_up();
        assert_eq!(o.poll(t, Some(1)), Action::Publish(1), "retried, same id");
        assert!(!o.acked(2));
        assert!(o.acked(1));
    }

    #[test]
    fn reconnecting_forgets_the_backoff() {
        let t = Instant::now();
        let mut o = Outbox::new();
        o.link_up();
        assert_eq!(o.poll(t, Some(1)), Action::Publish(1));
        o.failed(1, t);
        o.link_down();
        o.link_up();
        assert_eq!(o.poll(t, Some(1)), Action::Publish(1));
    }
}
