//! Client transactions (RFC 3261 §17.1, with the RFC 6026 Accepted state for INVITE).
//!
//! ```text
//! INVITE:     Calling --1xx--> Proceeding --2xx--> Accepted --M--> Terminated
//!               |  A: retransmit (T1, doubling)    --300-699 / send ACK--> Completed --D--> Terminated
//!               B: timeout (64*T1)
//! non-INVITE: Trying --1xx--> Proceeding --final--> Completed --K--> Terminated
//!               E: retransmit (T1 doubling to T2; T2 in Proceeding), F: timeout (64*T1)
//! ```
//! On reliable transports A and E are never set and D and K are zero.

use std::time::{Duration, Instant};

use super::{Config, Event, Out, Peer, Timer, Timers, TxId};
use crate::message::{Method, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// One client transaction.
#[derive(Debug)]
pub(crate) struct ClientTx {
    id: TxId,
    invite: bool,
    reliable: bool,
    peer: Peer,
    request: Request,
    bytes: Vec<u8>,
    pub(crate) state: ClientState,
    timers: Timers,
    interval: Duration,
    ack: Option<Vec<u8>>,
}

impl ClientTx {
    /// Sends the request and arms A/E and B/F.
    pub(crate) fn start(
        id: TxId,
        peer: Peer,
        request: Request,
        now: Instant,
        cfg: &Config,
        out: &mut Out<'_>,
    ) -> ClientTx {
        let invite = request.method == Method::Invite;
        let reliable = peer.transport.is_reliable();
        let bytes = request.encode();
        out.send(peer, bytes.clone());
        ClientTx {
            id,
            invite,
            reliable,
            peer,
            request,
            bytes,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            timers: Timers {
                retransmit_at: (!reliable).then(|| now + cfg.t1),
                timeout_at: Some(now + cfg.t1 * 64),
            },
            interval: cfg.t1,
            ack: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timers.deadline()
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timers.clear();
    }

    fn wait(&mut self, now: Instant, d: Duration) {
        if self.timers.wait(now, d, self.reliable) {
            self.terminate();
        }
    }

    /// A response matched to this transaction.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        resp: Response,
        cfg: &Config,
        out: &mut Out<'_>,
    ) {
        use ClientState::*;
        let id = self.id;
        match (self.invite, self.state) {
            (true, Calling | Proceeding) => {
                if resp.is_provisional() {
                    self.state = Proceeding;
                    self.timers.retransmit_at = None;
                } else if resp.is_success() {
                    self.state = Accepted;
                    self.timers.retransmit_at = None;
                    self.timers.timeout_at = Some(now + cfg.t1 * 64); // Timer M
                } else {
                    let ack = build_ack(&self.request, &resp).encode();
                    out.send(self.peer, ack.clone());
                    self.ack = Some(ack);
                    self.state = Completed;
                    self.wait(now, Duration::from_secs(32).max(cfg.t1 * 64)); // Timer D
                }
                out.event(Event::Response { id, response: resp });
            }
            (true, Accepted) if resp.is_success() => {
                out.event(Event::Response { id, response: resp })
            }
            (true, Completed) if resp.status >= 300 => {
                if let Some(ack) = &self.ack {
                    out.send(self.peer, ack.clone());
                }
            }
            (false, Trying | Proceeding) => {
                if resp.is_provisional() {
                    self.state = Proceeding;
                } else {
                    self.state = Completed;
                    self.wait(now, cfg.t4); // Timer K
                }
                out.event(Event::Response { id, response: resp });
            }
            _ => {} // retransmissions absorbed
        }
    }

    /// Fires due timers.
    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &Config, out: &mut Out<'_>) {
        if let Some(at) = self.timers.retransmit_at.filter(|at| *at <= now) {
            out.send(self.peer, self.bytes.clone());
            self.interval = if self.invite {
                self.interval * 2 // Timer A doubles without a cap
            } else if self.state == ClientState::Proceeding {
                cfg.t2
            } else {
                (self.interval * 2).min(cfg.t2)
            };
            let next = at + self.interval;
            self.timers.retransmit_at = Some(if next <= now {
                now + self.interval
            } else {
                next
            });
        }
        if self.timers.timeout_at.is_some_and(|at| at <= now) {
            match self.state {
                ClientState::Calling | ClientState::Trying | ClientState::Proceeding => {
                    let timer = if self.invite { Timer::B } else { Timer::F };
                    out.event(Event::Timeout { id: self.id, timer });
                }
                _ => {}
            }
            self.terminate();
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, top Via,
/// Call-ID, From, CSeq number and Route as the INVITE; To from the response.
pub(crate) fn build_ack(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(v) = invite.headers.values("Via").first() {
        ack.headers.push("Via", *v);
    }
    for name in ["From", "Call-ID"] {
        if let Some(v) = invite.headers.get(name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(v) = resp.headers.get("To") {
        ack.headers.push("To", v);
    }
    if let Ok(c) = invite.headers.cseq() {
        ack.headers.push("CSeq", format!("{} ACK", c.seq));
    }
    for r in invite.headers.get_all("Route") {
        ack.headers.push("Route", r);
    }
    ack.headers.push("Max-Forwards", "70");
    ack
}
