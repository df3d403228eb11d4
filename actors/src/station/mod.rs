//! The station actor: the station manager of the seed (S13). Desk phones are first-class
//! clients: it owns the SIP transaction layer, the registrar's bindings, the phones'
//! message-waiting subscriptions, every call leg with its RTP [`Session`], and the keypad
//! services (`*7` record, `*97` mailbox, ring-my-phone).
//!
//! The sockets are not here (DESIGN.md: actors own state, services own sockets). The SIP
//! service (crate `ivm-phones`) sends each datagram or TCP frame as [`SipIn`] and sends what
//! the actor queues on its [`SipOutbox`]; per-call RTP sockets come from a [`MediaSockets`]
//! factory and deliver [`RtpIn`]. The actor reads the clock and passes `now` into the sans-IO
//! cores (`ivm-sip`, `ivm-rtp`); a 10 ms tick drives their timers and paced RTP sending.
//! Codec work (Opus encode/decode) runs on the blocking pool within [`crate::codec`]'s
//! budget; store reads and writes go to the database actor; voice messages go through the
//! client actor's [`PostMessage`], the same path as the browser's.
//!
//! # Layout
//! - `registrar.rs`: REGISTER with digest auth and the failure limiter (per address and
//!   user, and per address), bindings and their expiry, phone presence, OPTIONS, SUBSCRIBE/NOTIFY `message-summary` (MWI);
//!   new registrations are reported to the phone registry (store), and [`GetRegistrations`]
//!   lists the live ones for the admin's phone list.
//! - `calls.rs`: INVITE handling, the call legs, B2BUA calls between extensions, `*7`,
//!   `*97`, ring-my-phone, recording and playback.
//! - `sipmsg.rs`: building requests and responses, and matching in-dialog requests to a
//!   dialog (Call-ID, both tags, the phone's address).
//! - `budget.rs`: the byte budgets that keep SIP and RTP from crowding each other out of
//!   the actor's mailbox ([`Budget`], [`Permit`]).
//!
//! # On a hostile LAN
//! Digest authentication is the line between the two kinds of peer. A request from an
//! address that has not authenticated recently gets only stateless answers and a small
//! transaction budget (the transaction layer's rules, `ivm_sip::transaction`); challenges are
//! always stateless; failed passwords are counted per (address, user) with a growing delay
//! and per address across users ([`ivm_sip::auth::Limiter`]); in-dialog requests must name
//! the dialog by Call-ID and both tags and come from the phone's address, else 481.
//!
//! Each phone has a tracing span (`phone`, with its extension and address) and each call leg
//! one (`call`, with its id, extension and dial string).

mod budget;
mod calls;
mod registrar;
mod sipmsg;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_sip::auth::{DigestConfig, DigestServer, Limiter, LimiterConfig, Offer};
use ivm_sip::message::Message as SipMessage;
use ivm_sip::transaction::{Config as TxConfig, Event, Peer, TransactionLayer, Transmit, TxId};
use ivm_store::SipCredentials;
use ivm_wire::Guid;
use tokio::sync::{mpsc, oneshot};

use crate::client::{AddMailboxListener, ClientActor, MailboxChanged};
use crate::database::DatabaseActor;

pub use budget::{Budget, Permit, RTP_BUDGET, SIP_BUDGET};
pub use calls::LegId;

/// Where the actor queues SIP datagrams and frames for the SIP service to send.
pub type SipOutbox = mpsc::Sender<Transmit>;

/// Settings of the station manager (`[sip]` in the config).
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Realm for digest auth and the domain of the phones' accounts.
    pub realm: String,
    /// The SIP address phones reach the box at (Via sent-by, Contact).
    pub sip_addr: SocketAddr,
    /// A recording stops after this much silence.
    pub silence_timeout: Duration,
    /// Longest recording from a phone.
    pub max_recording: Duration,
    /// How long a phone rings before the box gives up (calls, ring-my-phone).
    pub ring_timeout: Duration,
    /// No RTP from a phone in a call for this long: hang up (a recording is kept).
    pub media_timeout: Duration,
    /// Shortest registration accepted (423 below it).
    pub min_expires: u32,
    /// Longest registration granted.
    pub max_expires: u32,
    /// Most bindings (phones) per user.
    pub max_bindings: usize,
    /// Failed-password budgets: per (address, user) with a growing delay, and per address.
    pub auth: LimiterConfig,
    /// Digest challenges offered (default: by User-Agent, see `ivm_sip::auth::offer`).
    pub digest: Offer,
    /// Longest registration granted to a phone registered over TCP: it refreshes at least
    /// this often, which keeps its connection inside the SIP service's idle timeout (the box
    /// cannot open a TCP connection toward a phone, so a closed one loses its calls).
    pub tcp_max_expires: u32,
}

impl Default for StationConfig {
    fn default() -> Self {
        StationConfig {
            realm: "ivm".into(),
            sip_addr: SocketAddr::from(([127, 0, 0, 1], 5060)),
            silence_timeout: Duration::from_secs(5),
            max_recording: Duration::from_secs(300),
            ring_timeout: Duration::from_secs(30),
            media_timeout: Duration::from_secs(20),
            min_expires: 60,
            max_expires: 3600,
            max_bindings: 8,
            auth: LimiterConfig::default(),
            digest: Offer::Auto,
            tcp_max_expires: 240,
        }
    }
}

/// A leg's media port: the RTP socket task's send queue. Dropping it closes the socket.
pub struct MediaPort {
    /// The local address phones send RTP to.
    pub local: SocketAddr,
    /// Datagrams to send: (destination, bytes).
    pub tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

/// Opens per-call RTP sockets (implemented by the phones service, which owns sockets).
pub trait MediaSockets: Send + Sync + 'static {
    /// Binds a socket for `leg`, reachable from `toward`; its datagrams go to `to` as [`RtpIn`].
    fn open(&self, leg: LegId, toward: IpAddr, to: Recipient<RtpIn>) -> std::io::Result<MediaPort>;
}

/// Errors of the station's requests (ring-my-phone).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StationError {
    /// The user has no registered desk phone.
    #[error("your desk phone is not registered")]
    NotRegistered,
    /// The phone is in a call.
    #[error("your desk phone is busy")]
    Busy,
    /// Not answered in time.
    #[error("your desk phone was not answered within {0} seconds")]
    NoAnswer(u64),
    /// The phone refused the call.
    #[error("your desk phone declined the call ({0})")]
    Declined(u16),
    /// A recipient is unknown.
    #[error("unknown recipient {0:?}")]
    UnknownRecipient(String),
    /// No recipients.
    #[error("a message needs at least one recipient")]
    NoRecipients,
    /// The box could not set up the call.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A SIP datagram (UDP) or frame (TCP) from a phone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SipIn {
    /// Source and transport.
    pub peer: Peer,
    /// What arrived.
    pub input: SipInput,
    /// Its room in the SIP budget, given back once handled (`None`: not budgeted).
    pub permit: Option<Permit>,
}

/// The two shapes SIP input arrives in.
pub enum SipInput {
    /// Raw UDP datagram (parsed by the transaction layer).
    Datagram(Vec<u8>),
    /// A message framed from a TCP stream.
    Message(SipMessage),
}

/// An RTP/RTCP datagram on a leg's media port.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RtpIn {
    /// The leg.
    pub leg: LegId,
    /// Source.
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Its room in the RTP budget, given back once handled (`None`: not budgeted).
    pub permit: Option<Permit>,
}

/// Ring `user`'s desk phone; on answer, beep and record a message to `to` (S5). Answers
/// `Ok` once the phone is answered (the message is posted when the user hangs up or
/// presses `#`), or the reason it could not.
#[derive(Message)]
#[rtype(result = "Result<(), StationError>")]
pub struct RingMe {
    /// The user whose phone rings.
    pub user: Guid,
    /// Recipients (names, extensions or GUIDs).
    pub to: Vec<String>,
}

/// Counters for status pages and benchmarks.
#[derive(Message)]
#[rtype(result = "StationStats")]
pub struct GetStationStats;

/// What the station reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct StationStats {
    /// Registered bindings.
    pub bindings: u32,
    /// Users with a registered phone.
    pub users: u32,
    /// Call legs up or being set up.
    pub legs: u32,
    /// SIP transactions held.
    pub transactions: u32,
}

/// Every live registration, for the admin's phone list (which links phones to them by
/// user).
#[derive(Message)]
#[rtype(result = "Vec<Registration>")]
pub struct GetRegistrations;

/// One live registration (binding).
#[derive(Debug, Clone)]
pub struct Registration {
    /// The registered user.
    pub user: Guid,
    /// Where the REGISTER came from.
    pub source: SocketAddr,
    /// Its `User-Agent`, when sent.
    pub user_agent: Option<String>,
    /// Time left before it lapses.
    pub expires_in: Duration,
}

/// Cached credentials: `None` for an unknown extension.
struct CachedCred {
    cred: Option<SipCredentials>,
    loaded: Instant,
}

/// How long credentials are cached (a `ivmd user` change takes effect within this).
const CRED_TTL: Duration = Duration::from_secs(30);
/// Most cached credential entries (unknown names included) before the cache is cleared.
const MAX_CRED_CACHE: usize = 20_000;
/// Tick of the media and timer loop.
const TICK: Duration = Duration::from_millis(10);

/// The station manager.
pub struct StationActor {
    cfg: StationConfig,
    db: Addr<DatabaseActor>,
    clients: Addr<ClientActor>,
    sip_out: SipOutbox,
    media: Arc<dyn MediaSockets>,
    layer: TransactionLayer,
    digest: DigestServer,
    limiter: Limiter,
    creds: HashMap<String, CachedCred>,
    /// Extensions whose credentials are being loaded, with the requests waiting for them.
    loading: HashMap<String, Vec<(TxId, Peer, ivm_sip::message::Request)>>,
    reg: registrar::Registrar,
    calls: calls::Calls,
    /// Client transactions we started and what they are for.
    pending: HashMap<TxId, calls::Pending>,
    /// Inbound INVITEs not yet answered with a final response, by server transaction.
    invites: HashMap<TxId, ivm_sip::message::Request>,
    ticks: u64,
}

impl StationActor {
    /// A station manager; `sip_out` is the SIP service's send queue.
    pub fn new(
        cfg: StationConfig,
        db: Addr<DatabaseActor>,
        clients: Addr<ClientActor>,
        sip_out: SipOutbox,
        media: Arc<dyn MediaSockets>,
    ) -> StationActor {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let now = Instant::now();
        StationActor {
            digest: DigestServer::new(
                DigestConfig {
                    offer: cfg.digest.clone(),
                    ..DigestConfig::new(cfg.realm.clone())
                },
                secret,
                now,
            ),
            limiter: Limiter::new(cfg.auth.clone()),
            cfg,
            db,
            clients,
            sip_out,
            media,
            layer: TransactionLayer::new(TxConfig::default()),
            creds: HashMap::new(),
            loading: HashMap::new(),
            reg: registrar::Registrar::default(),
            calls: calls::Calls::default(),
            pending: HashMap::new(),
            invites: HashMap::new(),
            ticks: 0,
        }
    }

    /// Our Contact URI.
    fn contact(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.cfg.sip_addr)
    }

    /// Runs the transaction layer's events through the TU and sends what it queued.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        for _ in 0..100_000 {
            let Some(ev) = self.layer.poll_event() else {
                break;
            };
            self.on_event(ev, ctx);
        }
        self.flush_sip();
    }

    fn flush_sip(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            if self.sip_out.try_send(t).is_err() {
                tracing::debug!("SIP send queue full; datagram dropped");
            }
        }
    }

    fn on_event(&mut self, ev: Event, ctx: &mut Context<Self>) {
        match ev {
            Event::Request { id, peer, request } => self.on_request(id, peer, request, ctx),
            Event::Response { id, response } => self.on_response(id, response, ctx),
            Event::Ack {
                peer: _, request, ..
            } => self.on_ack(&request),
            Event::Timeout { id, timer } => {
                tracing::debug!(tx = %id, ?timer, "transaction timed out");
                self.on_client_failure(id, 408, ctx);
            }
            Event::Terminated { id } => {
                self.pending.remove(&id);
                self.invites.remove(&id);
            }
            Event::StrayResponse { peer, response } => {
                // A 2xx retransmission for an INVITE we already ACKed: ACK again.
                if response.is_success()
                    && response
                        .headers
                        .cseq()
                        .is_ok_and(|c| c.method == ivm_sip::message::Method::Invite)
                {
                    self.reack(peer, &response);
                }
            }
            Event::Rejected {
                peer,
                reason,
                status,
            } => {
                tracing::debug!(peer = %peer.addr, %reason, ?status, "SIP input refused");
            }
        }
    }

    /// Sends a final or provisional response, logging a refused one.
    fn respond(&mut self, id: TxId, resp: ivm_sip::message::Response) {
        if let Err(e) = self.layer.send_response(Instant::now(), id, resp) {
            tracing::debug!(tx = %id, error = %e, "response not sent");
        }
    }

    /// Starts a client transaction for `req` to `peer`, remembering its purpose.
    fn send_request(
        &mut self,
        peer: Peer,
        req: ivm_sip::message::Request,
        purpose: calls::Pending,
    ) -> Option<TxId> {
        match self.layer.send_request(Instant::now(), peer, req) {
            Ok(id) => {
                self.pending.insert(id, purpose);
                Some(id)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not send a SIP request");
                None
            }
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.layer.poll_timeout().is_some_and(|t| t <= now) {
            self.layer.handle_timeout(now);
        }
        self.pump(ctx);
        self.calls_tick(now, ctx);
        self.ticks += 1;
        if self.ticks % 100 == 0 {
            self.expire_bindings(now, ctx);
            if self.creds.len() > MAX_CRED_CACHE {
                self.creds.clear();
            }
        }
        self.flush_sip();
    }
}

impl Actor for StationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A backstop only: the SIP and RTP byte budgets (`budget.rs`) bound what the socket
        // tasks queue here to well below this many items.
        ctx.set_mailbox_capacity(100_000);
        self.clients
            .do_send(AddMailboxListener(ctx.address().recipient()));
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
        tracing::info!(sip = %self.cfg.sip_addr, realm = %self.cfg.realm, "station manager started");
    }
}

/// Feeds the transaction layer.
impl Handler<SipIn> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: SipIn, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match msg.input {
            SipInput::Datagram(b) => self.layer.handle_datagram(now, msg.peer, &b),
            SipInput::Message(m) => self.layer.handle_incoming(now, msg.peer, m),
        }
        self.pump(ctx);
    }
}

/// Media for a leg.
impl Handler<RtpIn> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: RtpIn, ctx: &mut Context<Self>) {
        self.on_rtp(msg, ctx);
    }
}

/// Updates the user's phones' lamps.
impl Handler<MailboxChanged> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, ctx: &mut Context<Self>) {
        self.update_mwi(msg.user, ctx);
    }
}

/// Rings the user's phone (S5).
impl Handler<RingMe> for StationActor {
    type Result = ResponseFuture<Result<(), StationError>>;
    fn handle(&mut self, msg: RingMe, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.ring_me(msg, tx, ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StationError::Internal("the call ended".into())))
        })
    }
}

/// Lists the live bindings.
impl Handler<GetRegistrations> for StationActor {
    type Result = MessageResult<GetRegistrations>;
    fn handle(&mut self, _: GetRegistrations, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        MessageResult(
            self.reg
                .all()
                .map(|(user, b)| Registration {
                    user,
                    source: b.peer.addr,
                    user_agent: b.user_agent.clone(),
                    expires_in: b.expires_at.saturating_duration_since(now),
                })
                .collect(),
        )
    }
}

/// Reports the counters.
impl Handler<GetStationStats> for StationActor {
    type Result = MessageResult<GetStationStats>;
    fn handle(&mut self, _: GetStationStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(StationStats {
            bindings: self.reg.binding_count() as u32,
            users: self.reg.user_count() as u32,
            legs: self.calls.len() as u32,
            transactions: self.layer.len() as u32,
        })
    }
}
