//! Qualify: OPTIONS to every registered phone, so a phone that vanished (unplugged, a dead
//! switch port, a power cut without a new REGISTER) shows offline long before its
//! registration lapses (up to an hour), and its calls go to another of the user's phones.
//!
//! Each binding is asked every `qualify_interval` (jittered by ±20% so phones registered
//! together do not get asked together), at most [`MAX_IN_FLIGHT`] at once. Any answer, even
//! an error status, is a sign of life. An OPTIONS still unanswered when the next one is due
//! counts as a miss (a UDP transaction gives up only after 32 s, longer than the interval);
//! one that could not be sent counts at once. After `qualify_misses` misses in a row the
//! binding is unreachable: the user's desk-phone presence goes offline when none of their
//! phones is reachable, and comes back with the next answer or REGISTER.

use std::time::{Duration, Instant};

use ivm_sip::message::{Method, Uri};
use ivm_wire::Guid;
use rand::Rng;

use super::requests::Pending;
use super::sipmsg;
use super::StationActor;

/// Most OPTIONS outstanding at once (the rest wait for the next second).
pub(crate) const MAX_IN_FLIGHT: usize = 32;

/// A binding's qualify state.
#[derive(Debug, Clone)]
pub(crate) struct Qualify {
    /// When the next OPTIONS is due.
    pub next_at: Instant,
    /// The OPTIONS sent and not answered yet.
    pub outstanding: bool,
    /// Misses in a row.
    pub misses: u32,
    /// Answered recently (or just registered).
    pub reachable: bool,
}

impl Qualify {
    /// A binding that just registered: reachable, first asked after one interval.
    pub fn new(now: Instant, interval: Duration) -> Qualify {
        Qualify {
            next_at: now + jittered(interval),
            outstanding: false,
            misses: 0,
            reachable: true,
        }
    }
}

/// `interval` ±20%.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

impl StationActor {
    /// Sends the OPTIONS that are due (every second, from the tick); counts misses and
    /// updates presence.
    pub(super) fn qualify(&mut self, now: Instant) {
        let interval = self.cfg.qualify_interval;
        if interval.is_zero() {
            return;
        }
        let misses_allowed = self.cfg.qualify_misses.max(1);
        let in_flight = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Qualify { .. }))
            .count();
        let mut budget = MAX_IN_FLIGHT.saturating_sub(in_flight);
        let mut due = Vec::new();
        let mut changed = Vec::new();
        for (user, b) in self.reg.all_mut() {
            if budget == 0 {
                break;
            }
            if b.qualify.next_at > now {
                continue;
            }
            if b.qualify.outstanding {
                b.qualify.misses += 1;
                if b.qualify.misses >= misses_allowed && b.qualify.reachable {
                    b.qualify.reachable = false;
                    tracing::info!(ext = %b.ext, peer = %b.peer.addr, misses = b.qualify.misses, "phone does not answer OPTIONS: unreachable");
                    changed.push(user);
                }
            }
            b.qualify.outstanding = true;
            b.qualify.next_at = now + jittered(interval);
            budget -= 1;
            due.push((user, b.contact.clone(), b.peer));
        }
        let via = self.cfg.sip_addr;
        let realm = self.cfg.realm.clone();
        for (user, contact, peer) in due {
            let from = format!("<sip:ivm@{realm}>;tag={}", sipmsg::token());
            let req = sipmsg::request(
                Method::Options,
                contact.clone(),
                via,
                peer,
                &from,
                &format!("<{contact}>"),
                &sipmsg::token(),
                1,
                &sipmsg::contact_uri_for("ivm", via, peer.transport),
            );
            let purpose = Pending::Qualify {
                user,
                contact: contact.clone(),
            };
            if self.send_request(now, peer, req, purpose).is_none() {
                // Not even sent (a TCP phone whose connection is gone): a miss now.
                if let Some(b) = self.reg.binding_mut(user, &contact) {
                    b.qualify.outstanding = false;
                    b.qualify.misses += 1;
                    if b.qualify.misses >= misses_allowed && b.qualify.reachable {
                        b.qualify.reachable = false;
                        changed.push(user);
                    }
                }
            }
        }
        for user in changed {
            self.sync_presence(user);
        }
    }

    /// Any answer to our OPTIONS: the phone is there.
    pub(super) fn qualified(&mut self, user: Guid, contact: &Uri) {
        let Some(b) = self.reg.binding_mut(user, contact) else {
            return;
        };
        b.qualify.outstanding = false;
        b.qualify.misses = 0;
        if !b.qualify.reachable {
            b.qualify.reachable = true;
            tracing::info!(ext = %b.ext, peer = %b.peer.addr, "phone answers OPTIONS again: reachable");
            self.sync_presence(user);
        }
    }
}
