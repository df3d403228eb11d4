//! Transactions (H.248.1 clause 8 and Annex D.1, UDP): the controller's side.
//!
//! - Requests out ([`Controller::send_request`]) are retransmitted until their reply comes:
//!   the first after [`Config::initial_rto`], each later one after twice the wait before,
//!   capped at [`Config::max_rto`]; after [`Config::give_up`] the request is dropped with
//!   [`Event::TimedOut`]. A `TransactionPending` from the gateway stops retransmission for
//!   [`Config::max_rto`] and restarts the give-up clock, at most [`Config::max_pendings`]
//!   times (D.1.3: the sender must not retransmit while the receiver is working).
//! - Requests in are executed once: the first copy becomes [`Event::Request`]; while the
//!   box works on it, copies are answered with `TransactionPending` (and one is sent unasked
//!   every [`Config::pending_after`]); once [`Controller::send_reply`] answered it, copies get
//!   the same reply bytes from a cache keyed by (peer, transaction id), kept for
//!   [`Config::reply_keep`] (LONG-TIMER) or until the gateway's `TransactionResponseAck`.
//! - Replies that ask for `ImmAckRequired` are acknowledged at once.
//!
//! Bytes that do not decode are reported ([`Event::Malformed`]) and not answered: an answer
//! would go to an unverified source address, and a real gateway retransmits and then gives up
//! on its own. The cache of requests in is bounded ([`Config::max_incoming`]); a request
//! beyond it is refused with error 510 (insufficient resources), not queued.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::model::*;
use crate::token::Form;
use crate::{decode, encode, DecodeError};

/// Timers and bounds of the transaction layer.
#[derive(Debug, Clone)]
pub struct Config {
    /// Spelling of what the controller sends.
    pub form: Form,
    /// Version used towards a gateway that has not said its own (in a ServiceChange).
    pub version: u8,
    /// First retransmission wait.
    pub initial_rto: Duration,
    /// Longest retransmission wait.
    pub max_rto: Duration,
    /// A request unanswered this long is given up.
    pub give_up: Duration,
    /// Most `TransactionPending` honoured for one request.
    pub max_pendings: u32,
    /// A request in still unanswered after this gets a `TransactionPending`, and again after
    /// each further period; after [`Config::give_up`] it is answered with error 500.
    pub pending_after: Duration,
    /// How long a reply is kept for the request's duplicates (H.248 LONG-TIMER).
    pub reply_keep: Duration,
    /// Most requests in held at once (executing or replied).
    pub max_incoming: usize,
    /// Most gateways whose protocol version is remembered.
    pub max_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            form: Form::Compact,
            version: 1,
            initial_rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(4),
            give_up: Duration::from_secs(30),
            max_pendings: 10,
            pending_after: Duration::from_millis(500),
            reply_keep: Duration::from_secs(30),
            max_incoming: 4096,
            max_peers: 1024,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub peer: SocketAddr,
    /// The message text.
    pub payload: Vec<u8>,
}

/// What the controller tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request from a gateway: act on it, then [`Controller::send_reply`].
    Request {
        /// Its source.
        peer: SocketAddr,
        /// The gateway's identity from the message header.
        mid: MId,
        /// The message's version.
        version: u8,
        /// Transaction id.
        id: u32,
        /// The actions.
        actions: Vec<ActionRequest>,
    },
    /// The reply to one of our requests.
    Reply {
        /// Its source.
        peer: SocketAddr,
        /// Our transaction id.
        id: u32,
        /// What the gateway did.
        result: ReplyResult,
    },
    /// The gateway is still working on one of our requests.
    Pending {
        /// Its source.
        peer: SocketAddr,
        /// Our transaction id.
        id: u32,
    },
    /// One of our requests got no reply in time; it is forgotten.
    TimedOut {
        /// The gateway.
        peer: SocketAddr,
        /// Our transaction id.
        id: u32,
    },
    /// A gateway refused a whole message of ours.
    MessageError {
        /// The gateway.
        peer: SocketAddr,
        /// Its error.
        error: ErrorDescriptor,
    },
    /// Bytes that are not a MEGACO message (not answered).
    Malformed {
        /// Their source.
        peer: SocketAddr,
        /// Why.
        error: DecodeError,
    },
}

/// A call the controller refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No request with this id from this peer awaits a reply.
    #[error("no request {id} from {peer} awaits a reply")]
    UnknownRequest {
        /// The peer.
        peer: SocketAddr,
        /// The transaction id.
        id: u32,
    },
}

struct Outgoing {
    peer: SocketAddr,
    payload: Vec<u8>,
    next: Instant,
    rto: Duration,
    deadline: Instant,
    pendings: u32,
}

enum Incoming {
    Executing {
        version: u8,
        since: Instant,
        next_pending: Instant,
    },
    Replied {
        payload: Vec<u8>,
        expires: Instant,
    },
}

/// The controller (MGC) side of H.248 transactions over UDP.
pub struct Controller {
    config: Config,
    mid: MId,
    next_id: u32,
    outgoing: HashMap<u32, Outgoing>,
    incoming: HashMap<(SocketAddr, u32), Incoming>,
    versions: HashMap<SocketAddr, u8>,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
}

impl Controller {
    /// A controller that signs its messages with `mid`.
    pub fn new(config: Config, mid: MId) -> Self {
        Controller {
            config,
            mid,
            next_id: 1,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            versions: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
        }
    }

    /// The version spoken to `peer`: the one it last used, else [`Config::version`].
    pub fn version_of(&self, peer: SocketAddr) -> u8 {
        self.versions
            .get(&peer)
            .copied()
            .unwrap_or(self.config.version)
    }

    fn message(&self, version: u8, transactions: Vec<Transaction>) -> Vec<u8> {
        let msg = Message {
            version,
            mid: self.mid.clone(),
            body: Body::Transactions(transactions),
        };
        encode(&msg, self.config.form).into_bytes()
    }

    fn transmit(&mut self, peer: SocketAddr, payload: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, payload });
    }

    /// Sends a request; returns its transaction id. The answer comes as [`Event::Reply`] or
    /// [`Event::TimedOut`].
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        actions: Vec<ActionRequest>,
    ) -> u32 {
        let mut id = self.next_id;
        while id == 0 || self.outgoing.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        let payload = self.message(
            self.version_of(peer),
            vec![Transaction::Request { id, actions }],
        );
        self.transmit(peer, payload.clone());
        let rto = self.config.initial_rto;
        self.outgoing.insert(
            id,
            Outgoing {
                peer,
                payload,
                next: now + rto,
                rto,
                deadline: now + self.config.give_up,
                pendings: 0,
            },
        );
        id
    }

    /// Answers request `id` from `peer` (once; its duplicates get the same bytes).
    pub fn send_reply(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        id: u32,
        result: ReplyResult,
    ) -> Result<(), TransactionError> {
        let Some(Incoming::Executing { version, .. }) = self.incoming.get(&(peer, id)) else {
            return Err(TransactionError::UnknownRequest { peer, id });
        };
        let payload = self.message(
            *version,
            vec![Transaction::Reply {
                id,
                imm_ack: false,
                result,
            }],
        );
        self.transmit(peer, payload.clone());
        self.incoming.insert(
            (peer, id),
            Incoming::Replied {
                payload,
                expires: now + self.config.reply_keep,
            },
        );
        Ok(())
    }

    /// Takes in one datagram.
    pub fn handle_datagram(&mut self, now: Instant, peer: SocketAddr, bytes: &[u8]) {
        let span = tracing::debug_span!("megaco", %peer);
        let _enter = span.enter();
        let msg = match decode(bytes) {
            Ok(m) => m,
            Err(error) => {
                tracing::debug!(%error, "malformed message");
                self.events.push_back(Event::Malformed { peer, error });
                return;
            }
        };
        let transactions = match msg.body {
            Body::Error(error) => {
                self.events.push_back(Event::MessageError { peer, error });
                return;
            }
            Body::Transactions(t) => t,
        };
        for t in transactions {
            match t {
                Transaction::Request { id, actions } => {
                    self.request_in(now, peer, &msg.mid, msg.version, id, actions)
                }
                Transaction::Reply {
                    id,
                    imm_ack,
                    result,
                } => {
                    if imm_ack {
                        let ack = self
                            .message(msg.version, vec![Transaction::ResponseAck(vec![(id, id)])]);
                        self.transmit(peer, ack);
                    }
                    if self.outgoing.get(&id).is_some_and(|o| o.peer == peer) {
                        self.outgoing.remove(&id);
                        self.events.push_back(Event::Reply { peer, id, result });
                    } else {
                        tracing::debug!(id, "reply to no request of ours (a duplicate?)");
                    }
                }
                Transaction::Pending { id } => {
                    let max_pendings = self.config.max_pendings;
                    if let Some(o) = self.outgoing.get_mut(&id).filter(|o| o.peer == peer) {
                        if o.pendings < max_pendings {
                            o.pendings += 1;
                            o.rto = self.config.max_rto;
                            o.next = now + o.rto;
                            o.deadline = now + self.config.give_up;
                        }
                        self.events.push_back(Event::Pending { peer, id });
                    }
                }
                Transaction::ResponseAck(ranges) => {
                    self.incoming.retain(|(p, id), state| {
                        !(*p == peer
                            && matches!(state, Incoming::Replied { .. })
                            && ranges.iter().any(|(a, b)| (a..=b).contains(&id)))
                    });
                }
            }
        }
    }

    fn request_in(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mid: &MId,
        version: u8,
        id: u32,
        actions: Vec<ActionRequest>,
    ) {
        match self.incoming.get(&(peer, id)) {
            Some(Incoming::Replied { payload, .. }) => {
                tracing::debug!(id, "duplicate request: cached reply");
                let payload = payload.clone();
                self.transmit(peer, payload);
                return;
            }
            Some(Incoming::Executing { .. }) => {
                tracing::debug!(id, "duplicate request while executing: pending");
                let pending = self.message(version, vec![Transaction::Pending { id }]);
                self.transmit(peer, pending);
                return;
            }
            None => {}
        }
        if self.incoming.len() >= self.config.max_incoming {
            tracing::warn!(id, "request cache full: refused with 510");
            let error = ErrorDescriptor {
                code: 510,
                text: Some("Insufficient resources".into()),
            };
            let reply = self.message(
                version,
                vec![Transaction::Reply {
                    id,
                    imm_ack: false,
                    result: ReplyResult::Error(error),
                }],
            );
            self.transmit(peer, reply);
            return;
        }
        if self.versions.len() < self.config.max_peers || self.versions.contains_key(&peer) {
            self.versions.insert(peer, version);
        }
        self.incoming.insert(
            (peer, id),
            Incoming::Executing {
                version,
                since: now,
                next_pending: now + self.config.pending_after,
            },
        );
        self.events.push_back(Event::Request {
            peer,
            mid: mid.clone(),
            version,
            id,
            actions,
        });
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Controller::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let out = self.outgoing.values().map(|o| o.next.min(o.deadline));
        let inc = self.incoming.values().map(|i| match i {
            Incoming::Executing { next_pending, .. } => *next_pending,
            Incoming::Replied { expires, .. } => *expires,
        });
        out.chain(inc).min()
    }

    /// Runs the timers due at `now`: retransmissions, give-ups, pendings, cache expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, o) in &mut self.outgoing {
            if now >= o.deadline {
                expired.push(*id);
            } else if now >= o.next {
                self.transmits.push_back(Transmit {
                    peer: o.peer,
                    payload: o.payload.clone(),
                });
                o.rto = (o.rto * 2).min(self.config.max_rto);
                o.next = now + o.rto;
            }
        }
        expired.sort_unstable();
        for id in expired {
            if let Some(o) = self.outgoing.remove(&id) {
                tracing::info!(id, peer = %o.peer, "request timed out");
                self.events.push_back(Event::TimedOut { peer: o.peer, id });
            }
        }
        let mut due = Vec::new();
        self.incoming.retain(|key, state| match state {
            Incoming::Replied { expires, .. } => now < *expires,
            Incoming::Executing {
                version,
                since,
                next_pending,
            } => {
                if now >= *next_pending {
                    due.push((*key, *version, now >= *since + self.config.give_up));
                    *next_pending = now + self.config.pending_after;
                }
                true
            }
        });
        due.sort_unstable_by_key(|((p, id), _, _)| (*p, *id));
        for ((peer, id), version, too_late) in due {
            if too_late {
                tracing::warn!(id, %peer, "request unanswered: error 500");
                let error = ErrorDescriptor {
                    code: 500,
                    text: Some("Internal software failure".into()),
                };
                let _ = self.send_reply(now, peer, id, ReplyResult::Error(error));
            } else {
                let pending = self.message(version, vec![Transaction::Pending { id }]);
                self.transmit(peer, pending);
            }
        }
    }
}
