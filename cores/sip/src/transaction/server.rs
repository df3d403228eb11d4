//! Server transactions (RFC 3261 §17.2, with the RFC 6026 Accepted state for INVITE).
//!
//! ```text
//! INVITE:     Proceeding --2xx--> Accepted --L--> Terminated   (2xx resent T1..T2 until ACK, §13.3.1.4)
//!                  \--300-699--> Completed --ACK--> Confirmed --I--> Terminated
//!                                  G: resend (T1 doubling to T2), H: no ACK (64*T1)
//! non-INVITE: Trying --1xx--> Proceeding --final--> Completed --J--> Terminated
//! ```
//! Request retransmissions are absorbed, answered with the last response when there is one.
//! The 2xx retransmission is strictly the UAS core's job in RFC 3261; doing it here keeps
//! every UAS of the box (registrar, recorder, B2BUA legs) from re-implementing it.

use std::time::{Duration, Instant};

use super::{Config, Event, Out, Peer, Timer, Timers, TransactionError, TxId};
use crate::message::{Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// One server transaction.
#[derive(Debug)]
pub(crate) struct ServerTx {
    id: TxId,
    pub(crate) invite: bool,
    reliable: bool,
    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    pub(crate) reply_to: Peer,
    pub(crate) state: ServerState,
    last: Option<Vec<u8>>,
    timers: Timers,
    interval: Duration,
    acked: bool,
}

impl ServerTx {
    pub(crate) fn new(id: TxId, invite: bool, reply_to: Peer) -> ServerTx {
        ServerTx {
            id,
            invite,
            reliable: reply_to.transport.is_reliable(),
            reply_to,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            last: None,
            timers: Timers::default(),
            interval: Duration::ZERO,
            acked: false,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timers.deadline()
    }

    fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.timers.clear();
    }

    fn wait(&mut self, now: Instant, d: Duration) {
        if self.timers.wait(now, d, self.reliable) {
            self.terminate();
        }
    }

    /// The TU answers.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        resp: &Response,
        cfg: &Config,
        out: &mut Out<'_>,
    ) -> Result<(), TransactionError> {
        use ServerState::*;
        let bytes = resp.encode();
        match (self.invite, self.state) {
            (_, Trying | Proceeding) if resp.is_provisional() => self.state = Proceeding,
            (false, Trying | Proceeding) => {
                self.state = Completed;
                self.wait(now, cfg.t1 * 64); // Timer J
            }
            (true, Proceeding) if resp.is_success() => {
                self.state = Accepted;
                if !self.reliable {
                    self.timers.retransmit_at = Some(now + cfg.t1);
                    self.interval = cfg.t1;
                }
                self.timers.timeout_at = Some(now + cfg.t1 * 64); // Timer L
            }
            (true, Proceeding) => {
                self.state = Completed;
                if !self.reliable {
                    self.timers.retransmit_at = Some(now + cfg.t1); // Timer G
                    self.interval = cfg.t1;
                }
                self.timers.timeout_at = Some(now + cfg.t1 * 64); // Timer H
            }
            (true, Accepted) if resp.is_success() => {} // the TU may resend its 2xx
            _ => return Err(TransactionError::InvalidState),
        }
        out.send(self.reply_to, bytes.clone());
        self.last = Some(bytes);
        Ok(())
    }

    /// A retransmission of the request (or an ACK with this transaction's branch).
    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        req: Request,
        is_ack: bool,
        cfg: &Config,
        out: &mut Out<'_>,
    ) {
        use ServerState::*;
        if is_ack {
            match self.state {
                Completed if self.invite => {
                    self.state = Confirmed;
                    self.wait(now, cfg.t4); // Timer I
                }
                // Some UAs reuse the INVITE branch in the ACK for a 2xx.
                Accepted => self.on_ack_2xx(req, out),
                _ => {}
            }
            return;
        }
        if matches!(self.state, Proceeding | Completed) {
            if let Some(last) = &self.last {
                out.send(self.reply_to, last.clone());
            }
        }
    }

    /// The ACK for our 2xx arrived (matched by dialog): stop resending, tell the TU once.
    pub(crate) fn on_ack_2xx(&mut self, req: Request, out: &mut Out<'_>) {
        if self.state != ServerState::Accepted || self.acked {
            return;
        }
        self.acked = true;
        self.timers.retransmit_at = None;
        out.event(Event::Ack {
            id: Some(self.id),
            peer: self.reply_to,
            request: req,
        });
    }

    /// Fires due timers.
    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &Config, out: &mut Out<'_>) {
        if let Some(at) = self.timers.retransmit_at.filter(|at| *at <= now) {
            if let Some(last) = &self.last {
                out.send(self.reply_to, last.clone());
            }
            self.interval = (self.interval * 2).min(cfg.t2);
            let next = at + self.interval;
            self.timers.retransmit_at = Some(if next <= now {
                now + self.interval
            } else {
                next
            });
        }
        if self.timers.timeout_at.is_some_and(|at| at <= now) {
            match self.state {
                ServerState::Completed if self.invite => out.event(Event::Timeout {
                    id: self.id,
                    timer: Timer::H,
                }),
                ServerState::Accepted if !self.acked => out.event(Event::Timeout {
                    id: self.id,
                    timer: Timer::L,
                }),
                _ => {}
            }
            self.terminate();
        }
    }
}
