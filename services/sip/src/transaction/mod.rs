//! The transaction layer (RFC 3261 §17), sans-IO: it holds every client and server
//! transaction, matches messages to them, retransmits over UDP, and reports to the
//! transaction user (TU: registrar, call logic) through [`Event`]s.
//!
//! # Driving it
//! ```text
//! layer.handle_datagram(now, peer, bytes)      // or handle_incoming(now, peer, msg) for TCP frames
//! layer.handle_timeout(now)                    // when poll_timeout() has passed
//! layer.send_request(now, peer, req)? / layer.send_response(now, id, resp)?
//! while let Some(t) = layer.poll_transmit() { socket.send_to(&t.payload, t.peer.addr) }
//! while let Some(e) = layer.poll_event()     { tu.handle(e) }
//! sleep_until(layer.poll_timeout())
//! ```
//! Timers live in a heap keyed by deadline, so `poll_timeout` and `handle_timeout` cost
//! O(log n) per timer, not a scan over every transaction. The number of transactions is
//! bounded ([`Config::max_transactions`]); past it, new requests get a stateless 503.
//!
//! A non-INVITE server transaction that has sent its final response over UDP only waits for
//! Timer J (64*T1) to answer retransmissions with that response. Such *lingering*
//! transactions hold no work in progress, so they do not count against `max_transactions`
//! or `max_per_source`; they have their own bound ([`Config::max_lingering`]), and past it
//! the oldest is forgotten early (a late retransmission then reaches the TU as a new
//! request). A TU may also answer a request statelessly with
//! [`TransactionLayer::respond_and_forget`] (a digest challenge: a retransmission just gets
//! another challenge), which keeps no state at all.
//!
//! # Sources that have not authenticated
//! The TU tells the layer which addresses passed digest authentication
//! ([`TransactionLayer::mark_authenticated`]; remembered per IP address for
//! [`Config::trust_ttl`], bounded). Requests from any other address are *untrusted*:
//! - they share a small budget of their own ([`Config::max_untrusted`], and
//!   [`Config::max_untrusted_per_source`] per address), so a flood of unauthenticated
//!   INVITE/OPTIONS/REGISTER from one host, from many ports, or from many hosts cannot use the
//!   share of phones that have authenticated: their REGISTERs and INVITEs never get the 503;
//! - their INVITEs get no automatic 100 Trying (the TU's answer, a challenge, follows at
//!   once; a 100 would double what a spoofed source makes the box send to its victim);
//! - every final response to them goes out once and the transaction is forgotten at once
//!   (a stateless UAS, RFC 3261 §8.2.7): the box never retransmits toward an address that has
//!   not proven who it is, and an unanswered challenge holds nothing for Timer H or J. The
//!   ACK for such a non-2xx final matches nothing and is absorbed (no 481, no transaction).
//!
//! Caps are keyed by IP address, not address and port: a host opens as many ports as it likes.

mod client;
mod key;
mod server;
mod trust;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::message::parse::{parse_datagram, Limits, ParseError};
use crate::message::syntax_split_first;
use crate::message::{reason_phrase, Message, Method, Request, Response, Transport, Via};

use client::ClientTx;
use key::TxKey;
use server::ServerTx;
use trust::Trust;

/// The far end of a message: address and transport (for TCP, the I/O side maps it to its
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Socket address.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Udp,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Tcp,
        }
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub peer: Peer,
    /// The encoded message.
    pub payload: Vec<u8>,
}

/// Identifies one transaction for the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// RFC 3261 timer names, reported with [`Event::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// INVITE client: no final response in 64*T1.
    B,
    /// Non-INVITE client: no final response in 64*T1.
    F,
    /// INVITE server: no ACK for a 3xx-6xx in 64*T1.
    H,
    /// INVITE server: no ACK for a 2xx in 64*T1 (RFC 6026 Timer L; the TU should send BYE).
    L,
}

/// What the TU learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request: a server transaction was created; answer with `send_response(id, ..)`.
    /// Its top Via already carries `received`/`rport` (RFC 3261 §18.2.1, RFC 3581).
    Request {
        /// The server transaction.
        id: TxId,
        /// Where it came from.
        peer: Peer,
        /// The request.
        request: Request,
    },
    /// A response for a client transaction (every 2xx retransmission too: ACK each one).
    Response {
        /// The client transaction.
        id: TxId,
        /// The response.
        response: Response,
    },
    /// An ACK for a 2xx: `id` is the INVITE server transaction when it is still known.
    Ack {
        /// The INVITE transaction acknowledged, if known.
        id: Option<TxId>,
        /// Where it came from.
        peer: Peer,
        /// The ACK.
        request: Request,
    },
    /// A transaction timed out (see [`Timer`]).
    Timeout {
        /// The transaction.
        id: TxId,
        /// Which timer.
        timer: Timer,
    },
    /// A transaction ended and was forgotten; its id will not appear again.
    Terminated {
        /// The transaction.
        id: TxId,
    },
    /// A response no client transaction matches (a late 2xx for an INVITE: ACK it again).
    StrayResponse {
        /// Where it came from.
        peer: Peer,
        /// The response.
        response: Response,
    },
    /// Input refused: unparseable (dropped) or invalid (answered statelessly with `status`).
    Rejected {
        /// Where it came from.
        peer: Peer,
        /// Why.
        reason: String,
        /// The status sent back, if any.
        status: Option<u16>,
    },
}

/// Why the TU's call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No such transaction (finished, or never existed).
    #[error("unknown transaction")]
    Unknown,
    /// The transaction is a client one, or cannot send this response now (e.g. after a final).
    #[error("response not allowed in this transaction state")]
    InvalidState,
    /// Too many transactions.
    #[error("transaction table full")]
    Full,
    /// The request's top Via has no RFC 3261 branch, or is missing.
    #[error("request needs a top Via with a z9hG4bK branch")]
    Branch,
    /// A transaction with this branch and method already exists.
    #[error("duplicate branch")]
    Duplicate,
    /// ACK for a 2xx is sent outside transactions: use `send_stateless`.
    #[error("ACK is not sent in a transaction")]
    Ack,
}

/// The two timers every transaction runs: the retransmission timer (A, E, G) and the one
/// that ends a state (B, F, H, D, I, J, K, L, M). Shared by the client and server machines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    pub(crate) retransmit_at: Option<Instant>,
    pub(crate) timeout_at: Option<Instant>,
}

impl Timers {
    /// The earlier of the two, if any is armed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.retransmit_at, self.timeout_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Disarms both.
    pub(crate) fn clear(&mut self) {
        *self = Timers::default();
    }

    /// Stops retransmitting and waits `d` before the transaction ends; `true` when it must end
    /// at once (reliable transports and zero waits, RFC 3261 §17).
    pub(crate) fn wait(&mut self, now: Instant, d: Duration, reliable: bool) -> bool {
        self.retransmit_at = None;
        if reliable || d.is_zero() {
            return true;
        }
        self.timeout_at = Some(now + d);
        false
    }
}

/// Timer values and bounds.
#[derive(Debug, Clone)]
pub struct Config {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
    /// Most transactions held at once.
    pub max_transactions: usize,
    /// Most server transactions held at once for one authenticated source address: one
    /// looping or hostile phone must not fill the table and lock every other phone out. Keyed
    /// by IP address: a host can open any number of ports.
    pub max_per_source: usize,
    /// Most server transactions held at once for all untrusted sources together (addresses
    /// that have not authenticated within `trust_ttl`; see the module docs).
    pub max_untrusted: usize,
    /// Most server transactions held at once for one untrusted source address.
    pub max_untrusted_per_source: usize,
    /// How long an address stays trusted after it last passed authentication (phones
    /// re-register well within it).
    pub trust_ttl: Duration,
    /// Most trusted addresses remembered.
    pub max_trusted: usize,
    /// Most completed non-INVITE server transactions kept for Timer J (see the module
    /// docs); the oldest is forgotten early past it. Each holds its final response.
    pub max_lingering: usize,
    /// Answer a new INVITE with 100 Trying at once (RFC 3261 §17.2.1).
    pub auto_trying: bool,
    /// Parser limits for `handle_datagram`.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            max_transactions: 16_384,
            max_per_source: 4_096,
            max_untrusted: 1_024,
            max_untrusted_per_source: 64,
            trust_ttl: Duration::from_secs(2 * 3600),
            max_trusted: 4_096,
            max_lingering: 65_536,
            auto_trying: true,
            limits: Limits::default(),
        }
    }
}

/// Output queues handed to the state machines.
pub(crate) struct Out<'a> {
    transmits: &'a mut VecDeque<Transmit>,
    events: &'a mut VecDeque<Event>,
}

impl Out<'_> {
    pub(crate) fn send(&mut self, peer: Peer, payload: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, payload });
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }
}

// Both kinds are a few hundred bytes and live in one map; no boxing needed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Tx {
    Client(ClientTx),
    Server(ServerTx),
}

/// Where a server transaction came from, as its budgets count it.
#[derive(Debug, Clone, Copy)]
struct Source {
    ip: IpAddr,
    trusted: bool,
}

#[derive(Debug)]
struct Entry {
    tx: Tx,
    key: TxKey,
    /// (Call-ID, CSeq) of an INVITE server transaction in Accepted, for matching ACKs to 2xx.
    dialog: Option<(String, u32)>,
    /// The source of a server transaction, counted in `per_source` (and in `untrusted`).
    source: Option<Source>,
    /// A completed non-INVITE server transaction waiting for Timer J, counted in `lingering`.
    lingering: bool,
}

impl Entry {
    fn deadline(&self) -> Option<Instant> {
        match &self.tx {
            Tx::Client(c) => c.deadline(),
            Tx::Server(s) => s.deadline(),
        }
    }

    fn terminated(&self) -> bool {
        match &self.tx {
            Tx::Client(c) => c.state == client::ClientState::Terminated,
            Tx::Server(s) => s.state == server::ServerState::Terminated,
        }
    }

    fn completed_non_invite(&self) -> bool {
        matches!(&self.tx, Tx::Server(s) if !s.invite && s.state == server::ServerState::Completed)
    }
}

/// All transactions of one SIP endpoint.
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    next_id: u64,
    txs: HashMap<TxId, Entry>,
    keys: HashMap<TxKey, TxId>,
    accepted: HashMap<(String, u32), TxId>,
    per_source: HashMap<IpAddr, usize>,
    /// Server transactions counted against `max_untrusted`.
    untrusted: usize,
    trust: Trust,
    /// Lingering transactions, oldest first (ids already gone are skipped lazily).
    lingering: VecDeque<TxId>,
    lingering_count: usize,
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: Config) -> TransactionLayer {
        let trust = Trust::new(config.trust_ttl, config.max_trusted);
        TransactionLayer {
            config,
            next_id: 0,
            txs: HashMap::new(),
            keys: HashMap::new(),
            accepted: HashMap::new(),
            per_source: HashMap::new(),
            untrusted: 0,
            trust,
            lingering: VecDeque::new(),
            lingering_count: 0,
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// No transactions held.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Completed non-INVITE server transactions waiting for Timer J (part of [`len`](Self::len)).
    pub fn lingering(&self) -> usize {
        self.lingering_count
    }

    /// `ip` passed digest authentication at `now`: it is trusted for [`Config::trust_ttl`]
    /// (its requests get the full per-address share and stateful, retransmitted answers).
    pub fn mark_authenticated(&mut self, ip: IpAddr, now: Instant) {
        self.trust.mark(ip, now);
    }

    /// Whether `ip` passed authentication within [`Config::trust_ttl`] of `now`.
    pub fn is_authenticated(&self, ip: IpAddr, now: Instant) -> bool {
        self.trust.contains(ip, now)
    }

    /// Server transactions held for untrusted sources (see the module docs).
    pub fn untrusted(&self) -> usize {
        self.untrusted
    }

    /// Transactions with work in progress: the ones `max_transactions` bounds.
    fn active(&self) -> usize {
        self.txs.len() - self.lingering_count
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if self.txs.get(&id).and_then(Entry::deadline) == Some(at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.txs.get_mut(&id) else {
                continue;
            };
            if entry.deadline() != Some(at) {
                continue; // stale heap entry
            }
            let mut out = Out {
                transmits: &mut self.transmits,
                events: &mut self.events,
            };
            match &mut entry.tx {
                Tx::Client(c) => c.on_timeout(now, &self.config, &mut out),
                Tx::Server(s) => s.on_timeout(now, &self.config, &mut out),
            }
            self.after(id);
        }
        self.shrink_after_burst();
    }

    /// Gives back the table space a burst left behind. Hash maps and queues never shrink by
    /// themselves: after a REGISTER storm filled `max_lingering` (65,536 transactions waiting
    /// out Timer J), the emptied tables held tens of MB for the life of the process (issue 10,
    /// item 7). A table shrinks only once it is a quarter full or less, to twice its length, so
    /// steady traffic never shrinks and regrows in turn, and small tables are left alone.
    fn shrink_after_burst(&mut self) {
        /// Tables of at most this many slots are never shrunk.
        const KEEP: usize = 1024;
        fn sparse(len: usize, capacity: usize) -> bool {
            capacity > KEEP && len <= capacity / 4
        }
        fn map<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
            if sparse(m.len(), m.capacity()) {
                m.shrink_to(m.len() * 2);
            }
        }
        fn deque<T>(q: &mut VecDeque<T>) {
            if sparse(q.len(), q.capacity()) {
                q.shrink_to(q.len() * 2);
            }
        }
        // Ids of expired transactions stay in `lingering` until new ones push them out: drop
        // them once they outnumber the live ones, so the queue can shrink too.
        if self.lingering.len() > 2 * self.lingering_count + KEEP {
            let txs = &self.txs;
            self.lingering
                .retain(|id| txs.get(id).is_some_and(|e| e.lingering));
        }
        map(&mut self.txs);
        map(&mut self.keys);
        map(&mut self.accepted);
        map(&mut self.per_source);
        deque(&mut self.lingering);
        deque(&mut self.transmits);
        deque(&mut self.events);
        if sparse(self.timers.len(), self.timers.capacity()) {
            self.timers.shrink_to(self.timers.len() * 2);
        }
    }

    /// Parses a datagram and handles it; keep-alives are ignored, garbage is reported.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        match parse_datagram(bytes, &self.config.limits) {
            Ok(m) => self.handle_incoming(now, peer, m),
            Err(ParseError::KeepAlive) => {}
            Err(e) => {
                tracing::debug!(peer = %peer.addr, error = %e, "unparseable SIP datagram dropped");
                self.events.push_back(Event::Rejected {
                    peer,
                    reason: e.to_string(),
                    status: None,
                });
            }
        }
    }

    /// Handles a parsed message from `peer`.
    pub fn handle_incoming(&mut self, now: Instant, peer: Peer, msg: Message) {
        match msg {
            Message::Request(r) => self.on_request(now, peer, r),
            Message::Response(r) => self.on_response(now, peer, r),
        }
    }

    /// Sends a request in a new client transaction.
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Request,
    ) -> Result<TxId, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::Ack);
        }
        if self.active() >= self.config.max_transactions {
            return Err(TransactionError::Full);
        }
        let via = request
            .headers
            .top_via()
            .map_err(|_| TransactionError::Branch)?;
        if !via.has_rfc3261_branch() {
            return Err(TransactionError::Branch);
        }
        let key = TxKey::Client {
            branch: via.branch().unwrap_or_default(),
            method: request.method.clone(),
        };
        if self.keys.contains_key(&key) {
            return Err(TransactionError::Duplicate);
        }
        let id = self.new_id();
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        let tx = ClientTx::start(id, peer, request, now, &self.config, &mut out);
        self.keys.insert(key.clone(), id);
        self.txs.insert(
            id,
            Entry {
                tx: Tx::Client(tx),
                key,
                dialog: None,
                source: None,
                lingering: false,
            },
        );
        self.after(id);
        Ok(id)
    }

    /// Sends a response in server transaction `id`.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TxId,
        response: Response,
    ) -> Result<(), TransactionError> {
        let entry = self.txs.get_mut(&id).ok_or(TransactionError::Unknown)?;
        let Tx::Server(s) = &mut entry.tx else {
            return Err(TransactionError::InvalidState);
        };
        // A final answer to a source that has not authenticated goes out once, statelessly
        // (module docs). A 2xx to an INVITE keeps its transaction: it is resent until the ACK
        // and anchors the dialog (the TU only accepts a call after authentication anyway).
        let untrusted = !self.trust.contains(s.reply_to.addr.ip(), now);
        if untrusted && !response.is_provisional() && !(s.invite && response.is_success()) {
            return self.respond_and_forget(id, response);
        }
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        s.send_response(now, &response, &self.config, &mut out)?;
        if s.invite && response.is_success() && entry.dialog.is_none() {
            if let (Ok(call_id), Ok(cseq)) = (response.headers.call_id(), response.headers.cseq()) {
                let d = (call_id.to_owned(), cseq.seq);
                self.accepted.insert(d.clone(), id);
                entry.dialog = Some(d);
            }
        }
        self.after(id);
        Ok(())
    }

    /// Answers server transaction `id` with a final response (for an INVITE, a non-2xx one)
    /// and forgets it at once, as a stateless UAS would (RFC 3261 §8.2.7): a retransmission
    /// of the request reaches the TU again as a new request, and the ACK for an INVITE's
    /// non-2xx matches nothing and is absorbed. Meant for digest challenges, where the answer
    /// to a retransmission is simply another challenge, so that a REGISTER or INVITE flood
    /// keeps nothing for Timer J or H and draws no retransmitted 401s toward its source.
    pub fn respond_and_forget(
        &mut self,
        id: TxId,
        response: Response,
    ) -> Result<(), TransactionError> {
        let entry = self.txs.get(&id).ok_or(TransactionError::Unknown)?;
        let Tx::Server(s) = &entry.tx else {
            return Err(TransactionError::InvalidState);
        };
        if (s.invite && response.is_success())
            || response.is_provisional()
            || !matches!(
                s.state,
                server::ServerState::Trying | server::ServerState::Proceeding
            )
        {
            return Err(TransactionError::InvalidState);
        }
        let to = s.reply_to;
        self.transmits.push_back(Transmit {
            peer: to,
            payload: response.encode(),
        });
        self.forget(id);
        Ok(())
    }

    /// Queues a message outside any transaction (ACK for a 2xx, stateless replies).
    pub fn send_stateless(&mut self, peer: Peer, msg: &Message) {
        self.transmits.push_back(Transmit {
            peer,
            payload: msg.encode(),
        });
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2), if still there.
    pub fn cancel_target(&self, cancel: &Request) -> Option<TxId> {
        let via = cancel.headers.top_via().ok()?;
        let id = *self
            .keys
            .get(&TxKey::server(cancel, &via, &Method::Invite))?;
        match &self.txs.get(&id)?.tx {
            Tx::Server(s) if s.invite => Some(id),
            _ => None,
        }
    }

    /// Where server transaction `id`'s request came from (its responses' destination: the
    /// source address, with the Via port when `rport` was not asked for).
    pub fn server_peer(&self, id: TxId) -> Option<Peer> {
        match &self.txs.get(&id)?.tx {
            Tx::Server(s) => Some(s.reply_to),
            Tx::Client(_) => None,
        }
    }

    /// True if server transaction `id` can still take a final response (for CANCEL → 487).
    pub fn is_pending(&self, id: TxId) -> bool {
        matches!(self.txs.get(&id), Some(Entry { tx: Tx::Server(s), .. })
            if matches!(s.state, server::ServerState::Trying | server::ServerState::Proceeding))
    }

    fn new_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    /// Stops counting `source` against its per-source share (and the untrusted budget).
    fn release_source(&mut self, source: Option<Source>) {
        if let Some(src) = source {
            if !src.trusted {
                self.untrusted -= 1;
            }
            if let Some(n) = self.per_source.get_mut(&src.ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&src.ip);
                }
            }
        }
    }

    /// Removes `id` and everything indexing it, and tells the TU.
    fn forget(&mut self, id: TxId) {
        if let Some(entry) = self.txs.remove(&id) {
            self.keys.remove(&entry.key);
            self.release_source(entry.source);
            if entry.lingering {
                self.lingering_count -= 1;
            }
            if let Some(d) = entry.dialog {
                if self.accepted.get(&d) == Some(&id) {
                    self.accepted.remove(&d);
                }
            }
            self.events.push_back(Event::Terminated { id });
        }
    }

    /// `id` just completed (non-INVITE, UDP): count it as lingering, not as work in
    /// progress, and forget the oldest lingering ones past `max_lingering`.
    fn linger(&mut self, id: TxId) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        entry.lingering = true;
        let source = entry.source.take();
        self.release_source(source);
        self.lingering_count += 1;
        self.lingering.push_back(id);
        while let Some(&old) = self.lingering.front() {
            let live = self.txs.get(&old).is_some_and(|e| e.lingering);
            if live && self.lingering_count <= self.config.max_lingering {
                break;
            }
            self.lingering.pop_front();
            if live {
                self.forget(old);
            }
        }
    }

    /// After any change to `id`: re-arm its timer or remove it if terminated.
    fn after(&mut self, id: TxId) {
        let Some(entry) = self.txs.get(&id) else {
            return;
        };
        if entry.terminated() {
            self.forget(id);
        } else if let Some(d) = entry.deadline() {
            if !entry.lingering && entry.completed_non_invite() {
                self.linger(id);
                if !self.txs.contains_key(&id) {
                    return; // max_lingering is 0
                }
            }
            self.timers.push(Reverse((d, id)));
        }
        if self.timers.len() > 4 * self.txs.len() + 64 {
            let txs = &self.txs;
            self.timers = txs
                .iter()
                .filter_map(|(id, e)| e.deadline().map(|d| Reverse((d, *id))))
                .collect();
        }
    }

    fn reject(&mut self, peer: Peer, req: &Request, status: u16, why: String) {
        let mut status_sent = None;
        let via = (req.method != Method::Ack)
            .then(|| req.headers.top_via().ok())
            .flatten();
        if let Some(via) = via {
            let mut resp = req.make_response(status, None);
            resp.reason = format!("{} ({why})", reason_phrase(status));
            if status == 503 {
                resp.headers.push("Retry-After", "5");
            }
            if let Some(to) = reply_peer(peer, &via) {
                self.transmits.push_back(Transmit {
                    peer: to,
                    payload: resp.encode(),
                });
                status_sent = Some(status);
            }
        }
        tracing::debug!(peer = %peer.addr, method = %req.method, status = ?status_sent, reason = %why, "SIP request rejected");
        self.events.push_back(Event::Rejected {
            peer,
            reason: why,
            status: status_sent,
        });
    }

    fn on_request(&mut self, now: Instant, peer: Peer, mut req: Request) {
        if let Err(e) = req.validate() {
            self.reject(peer, &req, e.status(), e.to_string());
            return;
        }
        let Ok(via) = req.headers.top_via() else {
            return;
        };
        let key = TxKey::server(&req, &via, &req.method);
        let is_ack = req.method == Method::Ack;
        if let Some(&id) = self.keys.get(&key) {
            if let Some(Entry {
                tx: Tx::Server(s), ..
            }) = self.txs.get_mut(&id)
            {
                let mut out = Out {
                    transmits: &mut self.transmits,
                    events: &mut self.events,
                };
                s.on_request(now, req, is_ack, &self.config, &mut out);
                self.after(id);
            }
            return;
        }
        stamp_via(&mut req, peer);
        if is_ack {
            let dialog = (
                req.headers.call_id().unwrap_or_default().to_owned(),
                req.headers.cseq().map(|c| c.seq).unwrap_or_default(),
            );
            match self.accepted.get(&dialog).copied() {
                Some(id) => {
                    if let Some(Entry {
                        tx: Tx::Server(s), ..
                    }) = self.txs.get_mut(&id)
                    {
                        let mut out = Out {
                            transmits: &mut self.transmits,
                            events: &mut self.events,
                        };
                        s.on_ack_2xx(req, &mut out);
                        self.after(id);
                    }
                }
                None => self.events.push_back(Event::Ack {
                    id: None,
                    peer,
                    request: req,
                }),
            }
            return;
        }
        if self.active() >= self.config.max_transactions {
            self.reject(peer, &req, 503, "transaction table full".into());
            return;
        }
        let ip = trust::canonical(peer.addr.ip());
        let trusted = self.trust.contains(ip, now);
        let held = self.per_source.get(&ip).copied().unwrap_or(0);
        let over = if trusted {
            (held >= self.config.max_per_source)
                .then_some("too many transactions from this address")
        } else if held >= self.config.max_untrusted_per_source {
            Some("too many unauthenticated transactions from this address")
        } else {
            (self.untrusted >= self.config.max_untrusted)
                .then_some("too many unauthenticated transactions")
        };
        if let Some(why) = over {
            self.reject(peer, &req, 503, why.into());
            return;
        }
        // The Via parsed above: stamping it changes neither sent-by nor whether rport was asked.
        let Some(reply_to) = reply_peer(peer, &via) else {
            self.events.push_back(Event::Rejected {
                peer,
                reason: "no usable response address".into(),
                status: None,
            });
            return;
        };
        let id = self.new_id();
        let invite = req.method == Method::Invite;
        self.keys.insert(key.clone(), id);
        self.txs.insert(
            id,
            Entry {
                tx: Tx::Server(ServerTx::new(id, invite, reply_to)),
                key,
                dialog: None,
                source: Some(Source { ip, trusted }),
                lingering: false,
            },
        );
        *self.per_source.entry(ip).or_insert(0) += 1;
        if !trusted {
            self.untrusted += 1;
        }
        // No automatic 100 toward an untrusted source (module docs).
        let trying =
            (invite && trusted && self.config.auto_trying).then(|| req.make_response(100, None));
        self.events.push_back(Event::Request {
            id,
            peer,
            request: req,
        });
        if let Some(t) = trying {
            let _ = self.send_response(now, id, t);
        }
    }

    fn on_response(&mut self, now: Instant, peer: Peer, resp: Response) {
        if let Err(e) = resp.validate() {
            self.events.push_back(Event::Rejected {
                peer,
                reason: e.to_string(),
                status: None,
            });
            return;
        }
        let (Ok(via), Ok(cseq)) = (resp.headers.top_via(), resp.headers.cseq()) else {
            return;
        };
        let key = TxKey::Client {
            branch: via.branch().unwrap_or_default(),
            method: cseq.method,
        };
        match self.keys.get(&key).copied() {
            Some(id) => {
                if let Some(Entry {
                    tx: Tx::Client(c), ..
                }) = self.txs.get_mut(&id)
                {
                    let mut out = Out {
                        transmits: &mut self.transmits,
                        events: &mut self.events,
                    };
                    c.on_response(now, resp, &self.config, &mut out);
                    self.after(id);
                }
            }
            None => self.events.push_back(Event::StrayResponse {
                peer,
                response: resp,
            }),
        }
    }
}

/// An IP address as the per-address tables key it: an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, what a dual-stack socket reports) is its IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    trust::canonical(ip)
}

/// A fresh RFC 3261 branch (`z9hG4bK` + 64 random bits) for a request we send. The RNG is
/// passed in so tests stay deterministic.
pub fn new_branch<R: rand::RngCore>(rng: &mut R) -> String {
    format!("{}{:016x}", crate::message::MAGIC_COOKIE, rng.next_u64())
}

/// A fresh random token for From/To tags and Call-IDs (64 random bits, hex).
pub fn new_token<R: rand::RngCore>(rng: &mut R) -> String {
    format!("{:016x}", rng.next_u64())
}

/// Where responses to `req` go (RFC 3261 §18.2.2, RFC 3581): the connection on streams; on
/// UDP the source address when `rport` was asked for, else the source IP and the sent-by port.
/// `None` for broadcast or multicast destinations (RFC 4475 `bcast`).
fn reply_peer(peer: Peer, via: &Via) -> Option<Peer> {
    let ip = peer.addr.ip();
    let bad = match ip {
        std::net::IpAddr::V4(a) => a.is_broadcast() || a.is_multicast() || a.is_unspecified(),
        std::net::IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
    };
    if bad {
        return None;
    }
    if peer.transport.is_reliable() {
        return Some(peer);
    }
    if via.rport().is_some() {
        return Some(peer);
    }
    Some(Peer {
        addr: SocketAddr::new(ip, via.sent_by.port.unwrap_or(5060)),
        transport: peer.transport,
    })
}

/// Adds `received` (and fills `rport`) to the top Via of a request from `peer`.
fn stamp_via(req: &mut Request, peer: Peer) {
    let lines = req.headers.lines_mut();
    let Some(line) = lines.iter_mut().find(|h| h.name == "Via") else {
        return;
    };
    let (first, rest) = syntax_split_first(&line.value);
    let Ok(mut via) = Via::parse(first) else {
        return;
    };
    let ip = peer.addr.ip();
    let host_is_source = matches!(via.sent_by.host, crate::message::Host::V4(a) if std::net::IpAddr::V4(a) == ip)
        || matches!(via.sent_by.host, crate::message::Host::V6(a) if std::net::IpAddr::V6(a) == ip);
    let wants_rport = via.rport().is_some();
    if !host_is_source || wants_rport {
        via.params.set("received", Some(&ip.to_string()));
    }
    if wants_rport {
        via.params.set("rport", Some(&peer.addr.port().to_string()));
    }
    line.value = match rest {
        Some(rest) => format!("{via}, {rest}"),
        None => via.to_string(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_rfc3261() {
        let mut rng = rand::rngs::mock::StepRng::new(1, 1);
        let b = new_branch(&mut rng);
        assert!(b.starts_with("z9hG4bK") && b.len() == 23);
        assert_ne!(new_branch(&mut rng), b);
        assert_eq!(new_token(&mut rng).len(), 16);
    }

    /// A burst of REGISTERs that all linger for Timer J leaves no oversized tables once they
    /// have expired. The phones have authenticated (an untrusted source's answers are
    /// stateless and never linger), and there are ten of them: each address's table share is
    /// capped.
    #[test]
    fn tables_shrink_after_a_burst_expires() {
        let t0 = Instant::now();
        let mut l = TransactionLayer::new(Config::default());
        let peers: Vec<Peer> = (1..=10u8)
            .map(|n| Peer::udp(std::net::SocketAddr::from(([10, 0, 0, n], 5060))))
            .collect();
        for p in &peers {
            l.mark_authenticated(p.addr.ip(), t0);
        }
        let burst = 20_000;
        for i in 0..burst {
            let peer = peers[i % peers.len()];
            let from = peer.addr;
            let raw = format!(
                "REGISTER sip:ivm SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKb{i}\r\n\
                 From: <sip:201@ivm>;tag=f{i}\r\nTo: <sip:201@ivm>\r\nCall-ID: c{i}\r\n\
                 CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            l.handle_datagram(t0, peer, raw.as_bytes());
            while let Some(e) = l.poll_event() {
                if let Event::Request { id, request, .. } = e {
                    l.send_response(t0, id, request.make_response(200, Some("r")))
                        .expect("respond");
                }
            }
            while l.poll_transmit().is_some() {}
        }
        assert_eq!(l.lingering(), burst, "every REGISTER waits out Timer J");
        let full = l.txs.capacity();
        assert!(full >= burst);
        // Past Timer J (64 x T1 = 32 s) every one is gone, and so is their table space.
        l.handle_timeout(t0 + Duration::from_secs(33));
        while l.poll_event().is_some() {}
        assert!(l.is_empty());
        // The TU drains the Terminated events; the next tick finds the queues empty.
        l.handle_timeout(t0 + Duration::from_millis(33_010));
        for (name, capacity) in [
            ("txs", l.txs.capacity()),
            ("keys", l.keys.capacity()),
            ("lingering", l.lingering.capacity()),
            ("timers", l.timers.capacity()),
            ("events", l.events.capacity()),
        ] {
            assert!(
                capacity <= 1024,
                "{name} keeps {capacity} slots after the burst (was {full} for txs)"
            );
        }
    }

    #[test]
    fn stamps_received_and_rport() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP phone.local;rport;branch=z9hG4bK1, SIP/2.0/UDP x\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Request(mut r)) = Message::parse(raw) else {
            panic!("parse")
        };
        stamp_via(&mut r, Peer::udp("10.0.0.7:40000".parse().expect("addr")));
        let vias = r.headers.vias().expect("vias");
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].received(), Some("10.0.0.7".parse().expect("ip")));
        assert_eq!(vias[0].rport(), Some(Some(40000)));
        assert_eq!(vias[0].branch().as_deref(), Some("z9hG4bK1"));
    }
}
