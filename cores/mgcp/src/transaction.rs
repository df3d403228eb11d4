//! The transaction layer (RFC 3435 §3.5): transaction ids, retransmission of commands over
//! UDP, at-most-once execution of incoming commands, provisional responses and the
//! three-way handshake. Sans-IO: datagrams and `now` in; datagrams, events and the next
//! deadline out.
//!
//! # What it does
//! - Outgoing commands ([`Agent::send`]) get the next transaction id (1..=999999999, wrapping)
//!   and are retransmitted while no response came: first after [`Config::initial_rto`], then
//!   doubling up to [`Config::max_rto`] (§3.5.3; no random jitter here, the core has no
//!   randomness: the driver may vary the initial value). After
//!   [`Config::max_retransmissions`] ("Max2", §3.5.5) the command is abandoned with
//!   [`Event::TimedOut`], which tells the gateway actor the gateway is unreachable.
//! - A provisional response (1xx) stops the retransmissions; the final response is then
//!   awaited for [`Config::final_wait`] (§3.5.6).
//! - A final response is reported once ([`Event::Response`]); its id is confirmed to the
//!   gateway in the `K:` (ResponseAck) of the next command sent to it (§3.5.6), so the gateway
//!   can forget it early. A final response carrying an empty `K:` (it followed a provisional)
//!   is answered with `000` at once, and again whenever it is retransmitted.
//! - Incoming commands are answered at most once: the response cache keyed by (source,
//!   transaction id) answers duplicates from the cache without reporting them again, and
//!   keeps each answer for [`Config::history`] (T-HIST, §3.5.5). A duplicate of a command
//!   still being executed gets a provisional `100`. A `K:` in an incoming command drops the
//!   confirmed answers early. A command answered after a provisional carries an empty `K:`
//!   and is retransmitted until its `000` comes (§3.5.6).
//! - Unknown verbs get `504`, an unsupported version `528`, other malformed commands `510`
//!   (§2.4), from this layer; nothing malformed reaches the caller as a command.
//! - Bounded: [`Config::max_outstanding`] commands in flight ([`AgentError::Busy`] beyond),
//!   [`Config::max_cache`] cached incoming transactions (`409` beyond), a few dozen ids to
//!   confirm per peer.
//!
//! Responses are matched on the source address as well as the id: a response from another
//! address than the command went to is dropped, so a third party cannot complete or cancel
//! the box's transactions by guessing ids.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::endpoint::EndpointName;
use crate::message::{
    self, params::name, Command, DecodeError, Message, Response, ResponseAck, Verb,
    MAX_TRANSACTION_ID,
};

/// Most ids remembered per peer for the next command's `K:`.
const MAX_CONFIRM: usize = 64;

/// Timers and bounds (the defaults are RFC 3435's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// First retransmission after this (§3.5.3: 200 ms).
    pub initial_rto: Duration,
    /// Retransmission interval cap (4 s).
    pub max_rto: Duration,
    /// Retransmissions before giving up ("Max2", §3.5.5: 7).
    pub max_retransmissions: u32,
    /// How long answers stay in the response cache (T-HIST, §3.5.5: 30 s).
    pub history: Duration,
    /// How long a final response is awaited after a provisional one (30 s).
    pub final_wait: Duration,
    /// Commands in flight at once.
    pub max_outstanding: usize,
    /// Incoming transactions remembered at once.
    pub max_cache: usize,
    /// Confirm final responses in the `K:` of the next command (§3.5.6). The RFC lets every
    /// command carry `K:`, but it is only an optimisation (the peer forgets answers after
    /// T-HIST anyway) and some gateways refuse a command that has it (osmo-mgw answers
    /// `539`): `false` never sends it.
    pub response_ack: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(4),
            max_retransmissions: 7,
            history: Duration::from_secs(30),
            final_wait: Duration::from_secs(30),
            max_outstanding: 1024,
            max_cache: 4096,
            response_ack: true,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: SocketAddr,
    /// The bytes.
    pub payload: Vec<u8>,
}

/// What the caller (the gateway actor) hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new command to execute; answer with [`Agent::respond`] (or [`Agent::provisional`]
    /// first for long work). Duplicates never come here.
    Command {
        /// Its source.
        from: SocketAddr,
        /// The command.
        command: Command,
    },
    /// The final response to a command the caller sent.
    Response {
        /// The gateway.
        from: SocketAddr,
        /// The command's verb.
        verb: Verb,
        /// The command's endpoint.
        endpoint: EndpointName,
        /// The response.
        response: Response,
    },
    /// A provisional response: the gateway is working on it.
    Provisional {
        /// The gateway.
        from: SocketAddr,
        /// The transaction id.
        id: u32,
    },
    /// No final response came despite the retransmissions: the gateway is unreachable.
    TimedOut {
        /// The gateway.
        to: SocketAddr,
        /// The transaction id.
        id: u32,
        /// The command's verb.
        verb: Verb,
        /// The command's endpoint.
        endpoint: EndpointName,
    },
    /// A datagram that is not MGCP (already answered if it was a recognisable command).
    Malformed {
        /// Its source.
        from: SocketAddr,
        /// Why.
        error: DecodeError,
    },
}

/// Why the agent refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// [`Config::max_outstanding`] commands are already in flight.
    #[error("too many commands in flight")]
    Busy,
    /// No command with that id from that peer is being executed (never came, or answered).
    #[error("no command {id} from {from} awaits an answer")]
    NotExecuting {
        /// The peer.
        from: SocketAddr,
        /// The id.
        id: u32,
    },
    /// [`Agent::respond`] takes final responses only (not 000 or 1xx).
    #[error("response code {0} is not final")]
    NotFinal(u16),
}

#[derive(Debug)]
struct Outgoing {
    to: SocketAddr,
    verb: Verb,
    endpoint: EndpointName,
    payload: Vec<u8>,
    rto: Duration,
    next: Instant,
    retransmissions: u32,
    provisional: bool,
}

#[derive(Debug)]
struct Resend {
    next: Instant,
    rto: Duration,
    count: u32,
}

#[derive(Debug)]
enum Incoming {
    Executing {
        provisional: bool,
    },
    Answered {
        payload: Vec<u8>,
        expires: Instant,
        awaiting_ack: Option<Resend>,
    },
}

/// Both directions of MGCP transactions for one UDP socket (the call agent's).
#[derive(Debug)]
pub struct Agent {
    config: Config,
    next_id: u32,
    outgoing: BTreeMap<u32, Outgoing>,
    incoming: BTreeMap<(SocketAddr, u32), Incoming>,
    confirm: HashMap<SocketAddr, Vec<u32>>,
    /// The last final responses taken per peer, to answer their retransmissions with `000`
    /// even after `confirm` was sent. Only peers the box sent commands to are keys.
    recent: HashMap<SocketAddr, VecDeque<u32>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Agent {
    /// A layer whose first transaction id is `first_id` (clamped into 1..=999999999). The
    /// driver passes a random one so a restarted box does not reuse ids a gateway still has
    /// in its response cache (§3.5.5).
    pub fn new(config: Config, first_id: u32) -> Agent {
        Agent {
            config,
            next_id: first_id.clamp(1, MAX_TRANSACTION_ID),
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            confirm: HashMap::new(),
            recent: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Sends a command to `to`, giving its transaction id. The id in `command` is replaced;
    /// a `K:` confirming the responses received from `to` since the last command is added.
    pub fn send(
        &mut self,
        now: Instant,
        to: SocketAddr,
        mut command: Command,
    ) -> Result<u32, AgentError> {
        if self.outgoing.len() >= self.config.max_outstanding {
            return Err(AgentError::Busy);
        }
        let mut id = self.next_id;
        while self.outgoing.contains_key(&id) {
            id = next(id);
        }
        self.next_id = next(id);
        command.id = id;
        if !self.config.response_ack {
            self.confirm.remove(&to);
        } else if let Some(ids) = self.confirm.get(&to).filter(|ids| !ids.is_empty()) {
            // No room for K (32 parameters) only costs the gateway cache space: keep going.
            let k = ResponseAck::from_ids(ids).to_string();
            if command.params.set(name::RESPONSE_ACK, k).is_ok() {
                self.confirm.remove(&to);
            }
        }
        let payload = Message::Command(command.clone()).encode();
        self.transmits.push_back(Transmit {
            to,
            payload: payload.clone(),
        });
        self.outgoing.insert(
            id,
            Outgoing {
                to,
                verb: command.verb,
                endpoint: command.endpoint,
                payload,
                rto: self.config.initial_rto,
                next: now + self.config.initial_rto,
                retransmissions: 0,
                provisional: false,
            },
        );
        Ok(id)
    }

    /// Answers an incoming command with its final response (caching it for duplicates).
    pub fn respond(
        &mut self,
        now: Instant,
        to: SocketAddr,
        mut response: Response,
    ) -> Result<(), AgentError> {
        if response.code < 200 {
            return Err(AgentError::NotFinal(response.code));
        }
        let key = (to, response.id);
        let Some(Incoming::Executing { provisional }) = self.incoming.get(&key) else {
            return Err(AgentError::NotExecuting {
                from: to,
                id: response.id,
            });
        };
        let awaiting_ack = if *provisional {
            // §3.5.6: after a provisional response the final one asks for a 000.
            let _ = response.params.set(name::RESPONSE_ACK, "");
            Some(Resend {
                next: now + self.config.initial_rto,
                rto: self.config.initial_rto,
                count: 0,
            })
        } else {
            None
        };
        let payload = Message::Response(response).encode();
        self.transmits.push_back(Transmit {
            to,
            payload: payload.clone(),
        });
        self.incoming.insert(
            key,
            Incoming::Answered {
                payload,
                expires: now + self.config.history,
                awaiting_ack,
            },
        );
        Ok(())
    }

    /// Sends `100` for a command whose execution takes a while (§3.5.6).
    pub fn provisional(&mut self, to: SocketAddr, id: u32) -> Result<(), AgentError> {
        match self.incoming.get_mut(&(to, id)) {
            Some(Incoming::Executing { provisional }) => {
                *provisional = true;
                self.send_plain(to, Response::new(100, id, "Pending"));
                Ok(())
            }
            _ => Err(AgentError::NotExecuting { from: to, id }),
        }
    }

    /// Takes one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        match message::decode(bytes) {
            Ok(messages) => {
                for m in messages {
                    match m {
                        Message::Command(c) => self.on_command(now, from, c),
                        Message::Response(r) => self.on_response(now, from, r),
                    }
                }
            }
            Err(error) => {
                if let Some(id) = command_id(bytes) {
                    let code = match error {
                        DecodeError::Version => 528,
                        _ => 510,
                    };
                    self.send_plain(from, Response::new(code, id, "Protocol error"));
                }
                self.events.push_back(Event::Malformed { from, error });
            }
        }
    }

    fn on_command(&mut self, now: Instant, from: SocketAddr, command: Command) {
        if let Some(Ok(k)) = command.params.response_ack() {
            // §3.5.6: the peer has these answers; no need to keep them for duplicates.
            self.incoming.retain(|&(peer, id), entry| {
                !(peer == from && k.contains(id) && matches!(entry, Incoming::Answered { .. }))
            });
        }
        let key = (from, command.id);
        match self.incoming.get_mut(&key) {
            Some(Incoming::Answered { payload, .. }) => {
                let payload = payload.clone();
                self.transmits.push_back(Transmit { to: from, payload });
                return;
            }
            Some(Incoming::Executing { provisional }) => {
                *provisional = true;
                self.send_plain(from, Response::new(100, command.id, "Pending"));
                return;
            }
            None => {}
        }
        if self.incoming.len() >= self.config.max_cache {
            self.expire(now);
            if self.incoming.len() >= self.config.max_cache {
                self.send_plain(from, Response::new(409, command.id, "Overloaded"));
                return;
            }
        }
        self.incoming
            .insert(key, Incoming::Executing { provisional: false });
        if let Verb::Other(_) = command.verb {
            let _ = self.respond(now, from, Response::new(504, command.id, "Unknown command"));
            return;
        }
        self.events.push_back(Event::Command { from, command });
    }

    fn on_response(&mut self, now: Instant, from: SocketAddr, response: Response) {
        let id = response.id;
        if response.is_ack() {
            if let Some(Incoming::Answered { awaiting_ack, .. }) =
                self.incoming.get_mut(&(from, id))
            {
                *awaiting_ack = None;
            }
            return;
        }
        let wants_ack = response
            .params
            .response_ack()
            .is_some_and(|k| k.is_ok_and(|k| k.is_empty()));
        let ours = self.outgoing.get(&id).is_some_and(|o| o.to == from);
        if !ours {
            // A late duplicate of a final response we already took: its 000 was lost.
            if wants_ack && self.recent.get(&from).is_some_and(|c| c.contains(&id)) {
                self.send_plain(from, Response::new(0, id, ""));
            }
            return;
        }
        if response.is_provisional() {
            if let Some(o) = self.outgoing.get_mut(&id) {
                if !o.provisional {
                    o.provisional = true;
                    o.next = now + self.config.final_wait;
                    self.events.push_back(Event::Provisional { from, id });
                }
            }
            return;
        }
        let Some(o) = self.outgoing.remove(&id) else {
            return;
        };
        let confirm = self.confirm.entry(from).or_default();
        if confirm.len() >= MAX_CONFIRM {
            confirm.remove(0);
        }
        confirm.push(id);
        let recent = self.recent.entry(from).or_default();
        if recent.len() >= MAX_CONFIRM {
            recent.pop_front();
        }
        recent.push_back(id);
        if wants_ack {
            self.send_plain(from, Response::new(0, id, ""));
        }
        self.events.push_back(Event::Response {
            from,
            verb: o.verb,
            endpoint: o.endpoint,
            response,
        });
    }

    fn send_plain(&mut self, to: SocketAddr, response: Response) {
        self.transmits.push_back(Transmit {
            to,
            payload: Message::Response(response).encode(),
        });
    }

    /// Runs the timers due at `now`: retransmissions, give-ups, cache expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.next <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(o) = self.outgoing.get_mut(&id) else {
                continue;
            };
            if o.provisional || o.retransmissions >= self.config.max_retransmissions {
                if let Some(o) = self.outgoing.remove(&id) {
                    self.events.push_back(Event::TimedOut {
                        to: o.to,
                        id,
                        verb: o.verb,
                        endpoint: o.endpoint,
                    });
                }
                continue;
            }
            o.retransmissions += 1;
            o.rto = (o.rto * 2).min(self.config.max_rto);
            o.next = now + o.rto;
            self.transmits.push_back(Transmit {
                to: o.to,
                payload: o.payload.clone(),
            });
        }
        let max = self.config.max_retransmissions;
        let cap = self.config.max_rto;
        for (&(to, _), entry) in self.incoming.iter_mut() {
            let Incoming::Answered {
                payload,
                awaiting_ack,
                ..
            } = entry
            else {
                continue;
            };
            let give_up = match awaiting_ack.as_mut() {
                Some(r) if r.next <= now && r.count < max => {
                    r.count += 1;
                    r.rto = (r.rto * 2).min(cap);
                    r.next = now + r.rto;
                    self.transmits.push_back(Transmit {
                        to,
                        payload: payload.clone(),
                    });
                    false
                }
                Some(r) => r.next <= now,
                None => false,
            };
            if give_up {
                *awaiting_ack = None;
            }
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        self.incoming.retain(|_, e| match e {
            Incoming::Answered { expires, .. } => *expires > now,
            Incoming::Executing { .. } => true,
        });
    }

    /// When [`Agent::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let out = self.outgoing.values().map(|o| o.next);
        let inc = self.incoming.values().filter_map(|e| match e {
            Incoming::Answered {
                expires,
                awaiting_ack,
                ..
            } => Some(
                awaiting_ack
                    .as_ref()
                    .map_or(*expires, |r| r.next.min(*expires)),
            ),
            Incoming::Executing { .. } => None,
        });
        out.chain(inc).min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Commands in flight.
    pub fn outstanding(&self) -> usize {
        self.outgoing.len()
    }

    /// Incoming transactions remembered (executing or answered).
    pub fn cached(&self) -> usize {
        self.incoming.len()
    }
}

fn next(id: u32) -> u32 {
    if id >= MAX_TRANSACTION_ID {
        1
    } else {
        id + 1
    }
}

/// The transaction id of a datagram whose first line looks like a command (`VERB id ...`),
/// so a malformed command can still be answered.
fn command_id(bytes: &[u8]) -> Option<u32> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(&bytes[..end.min(512)]).ok()?;
    let mut words = line.split_whitespace();
    let verb = words.next()?;
    if verb.len() != 4 || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    message::transaction_id(words.next()?)
}
