//! The station actor: the founding document's station manager, and the SIP adapter around the line
//! core. Desk phones are first-class clients: it owns the SIP transaction layer, the registrar's
//! bindings, the phones' message-waiting subscriptions, and every call leg's dialog and RTP
//! [`Session`](ivm_rtp::Session). What a call *does* (the dial plan, `*7`, `*97`, ring-my-phone,
//! calls between extensions) is the line core's ([`ivm_line`]): one line per leg in an
//! [`Exchange`], fed inputs, giving actions the station carries out
//! (`docs/decisions/0005-line-core.md`).
//!
//! The sockets are not here (DESIGN.md: actors own state, services own sockets). The SIP
//! service (crate `ivm-phones`) sends each datagram or TCP frame as [`SipIn`] and sends what
//! the actor queues on its [`SipOutbox`]; per-call RTP sockets come from a [`MediaSockets`]
//! factory and deliver [`RtpIn`]. Each handler reads the clock once and passes `now` into the
//! sans-IO cores (`ivm-sip`, `ivm-rtp`, `ivm-line`); a 10 ms tick drives their timers and paced
//! RTP sending. Codec work (Opus encode/decode) runs on the blocking pool within
//! [`crate::codec`]'s budget; store reads and writes go to the database manager
//! ([`crate::database::Db`]); voice messages go to the client manager (through its
//! [`ClientHandle`], no actor type) as [`PostPrepared`](crate::client::PostPrepared): the
//! recorder's Ogg, duration and peaks stored as made, through the browser's checks and commit.
//!
//! # Layout
//! - `mod.rs`: the actor, its settings and the messages it accepts.
//! - `requests.rs`: the transaction layer's events, and new requests dispatched by method.
//! - `auth.rs`: digest authentication with the failure limiter, and the credential cache.
//! - `registrar.rs`: REGISTER, bindings and their expiry, phone presence, SUBSCRIBE/NOTIFY
//!   `message-summary` (MWI); new registrations are reported to the phone registry (store),
//!   and [`GetRegistrations`] lists the live ones for the admin's phone list.
//! - `blf.rs`: the busy lamp field: SUBSCRIBE/NOTIFY `dialog` (RFC 4235) and `presence`
//!   (RFC 3856) to colleagues' extensions, following the line core's view of their lines
//!   and the web client's presence.
//! - `qualify.rs`: OPTIONS to registered phones, so a vanished one shows offline before
//!   its registration lapses.
//! - `hold.rs`: music on hold, to the other party of a phone that holds its call.
//! - `refer.rs`: blind transfer: REFER inside a call, its `Event: refer` NOTIFYs.
//! - `legs.rs`: the call legs (a dialog, its media, its INVITE), by line id and Call-ID.
//! - `dialogs.rs`: SIP dialogs <-> lines: INVITE, re-INVITE, BYE, CANCEL, the responses to
//!   our INVITEs, and carrying out the line's signalling (answer, reject, ringback, ring with
//!   the one outbound-INVITE builder, release).
//! - `media.rs`: the RTP session of each leg, bridging, what the media tells the lines.
//! - `effects.rs`: draining the exchange's actions, and the ones that go elsewhere: store
//!   lookups, posting, the mailbox, receipts.
//! - `intercom.rs`: desk phones in live talks: calling recipients' idle phones and playing
//!   the talk to them, and `*8` talks spoken from a phone; the Opus work on worker threads.
//! - `auto_answer.rs`: the headers that make each brand of phone answer by itself.
//! - `ops.rs`: the station's own database operations (credentials, recipients, the `*97`
//!   mailbox, lamp counts, the phone registry), one named trip each.
//! - `status.rs`: the line core's reasons and ring failures to and from SIP status codes.
//! - `sipmsg.rs`: building requests and responses, and matching in-dialog requests to a
//!   dialog (Call-ID, both tags, the phone's address).
//! - The byte budgets that keep SIP and RTP from crowding each other out of the actor's
//!   mailbox are in [`crate::budget`]; the media types ([`RtpIn`], [`MediaSockets`]) in
//!   [`crate::media`].
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
//! one (`call`, with its id, extension and dial string: the line's span, so what the line
//! core logs for a leg lands in it too).

mod auth;
mod auto_answer;
mod blf;
mod dialogs;
mod effects;
mod hold;
mod intercom;
mod legs;
mod media;
mod notify_gate;
pub(crate) mod ops;
mod qualify;
mod refer;
mod registrar;
mod requests;
mod sipmsg;
mod status;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_line::{Exchange, Input, Party};
use ivm_sip::auth::{DigestConfig, DigestServer, Limiter, LimiterConfig, Offer};
use ivm_sip::message::via::Transport;
use ivm_sip::message::Message as SipMessage;
use ivm_sip::transaction::{Config as TxConfig, Peer, TransactionLayer, Transmit, TxId};
use ivm_wire::Guid;
use tokio::sync::{mpsc, oneshot};

use crate::budget::Permit;
use crate::client::{
    AddIntercomPhones, AddMailboxListener, AddPresenceListener, ClientHandle, IntercomPhones,
    MailboxChanged, PresenceChanged,
};
use crate::database::Db;
use crate::media::{LegId, MediaSockets, RtpIn};

pub use hold::{MusicError, MusicOnHold};

/// Errors of ring-my-phone (what the web client shows): the line core's.
pub use ivm_line::RingMeError as StationError;

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
    /// How often each registered phone is sent OPTIONS (jittered ±20%); zero: never.
    pub qualify_interval: Duration,
    /// OPTIONS unanswered in a row before the phone counts as gone (offline).
    pub qualify_misses: u32,
    /// What the other party hears while a phone holds the call (default: the melody the
    /// box ships).
    pub music_on_hold: MusicOnHold,
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
            qualify_interval: Duration::from_secs(30),
            qualify_misses: 3,
            music_on_hold: MusicOnHold::embedded(),
        }
    }
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

/// Ring `user`'s desk phone; on answer, beep and record a message to `to` (a desk phone used to
/// record, as the founding document's phone mode asks). Answers `Ok` once the phone is answered
/// (the message is posted when the user hangs up or presses `#`), or the reason it could not.
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
    /// Whether it answers the box's OPTIONS (qualify): false once it missed enough.
    pub reachable: bool,
}

/// Tick of the media and timer loop.
const TICK: Duration = Duration::from_millis(10);

/// The station manager.
pub struct StationActor {
    cfg: StationConfig,
    db: Db,
    clients: ClientHandle,
    sip_out: SipOutbox,
    media: Arc<dyn MediaSockets>,
    layer: TransactionLayer,
    digest: DigestServer,
    limiter: Limiter,
    creds: auth::Credentials,
    reg: registrar::Registrar,
    /// Phones watching colleagues' lines (the busy lamp field).
    blf: blf::Blf,
    /// The line core: one line per leg.
    exchange: Exchange,
    /// Each line's SIP dialog and media.
    legs: legs::Legs,
    /// Client transactions we started and what they are for.
    pending: HashMap<TxId, requests::Pending>,
    /// The NOTIFYs we send, at most so many outstanding (the rest wait their turn).
    notifies: notify_gate::NotifyGate<(Peer, ivm_sip::message::Request, Guid)>,
    /// Ring-my-phone requests waiting for their line's outcome.
    ring_me: HashMap<LegId, oneshot::Sender<Result<(), StationError>>>,
    /// Phones hearing and speaking live talks.
    intercom: intercom::Intercom,
    /// Transfers (REFER) in progress.
    refers: refer::Refers,
    /// Parties hearing music on hold.
    held: hold::Held,
    ticks: u64,
}

impl StationActor {
    /// A station manager; `sip_out` is the SIP service's send queue.
    pub fn new(
        cfg: StationConfig,
        db: Db,
        clients: ClientHandle,
        sip_out: SipOutbox,
        media: Arc<dyn MediaSockets>,
    ) -> StationActor {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let now = Instant::now();
        let lines = ivm_line::Config {
            silence_timeout: cfg.silence_timeout,
            max_recording: cfg.max_recording,
            ring_timeout: cfg.ring_timeout,
            ..ivm_line::Config::default()
        };
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
            creds: auth::Credentials::default(),
            reg: registrar::Registrar::default(),
            blf: blf::Blf::default(),
            exchange: Exchange::new(lines),
            legs: legs::Legs::default(),
            pending: HashMap::new(),
            notifies: Default::default(),
            ring_me: HashMap::new(),
            intercom: intercom::Intercom::default(),
            refers: refer::Refers::default(),
            held: hold::Held::default(),
            ticks: 0,
        }
    }

    /// Our Contact URI toward a phone reached over `transport`. It names the transport
    /// when it is not UDP: a phone resolves our Contact as the target of its in-dialog
    /// requests (ACK, BYE, re-INVITE, RFC 3261 §12.1.1), and without `;transport=tcp` a
    /// TCP-only phone sends them over UDP, so its hang-up never arrives.
    fn contact(&self, user: &str, transport: Transport) -> String {
        sipmsg::contact_uri_for(user, self.cfg.sip_addr, transport)
    }

    /// The 10 ms tick: SIP timers, every leg's media, the lines' ring deadlines; every
    /// second, lapsed registrations.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.layer.poll_timeout().is_some_and(|t| t <= now) {
            self.layer.handle_timeout(now);
        }
        self.pump(now, ctx);
        self.media_tick(now, ctx);
        if self.exchange.poll_timeout().is_some_and(|t| t <= now) {
            self.exchange.handle_timeout(now);
            self.drive(now, ctx);
        }
        self.blf_sync(now);
        self.ticks += 1;
        if self.ticks >= 100 {
            self.ticks = 0;
            self.expire_bindings(now);
            self.expire_watches(now);
            self.qualify(now);
            self.creds.trim();
        }
        self.flush_sip();
    }
}

impl Actor for StationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A backstop only: the SIP and RTP byte budgets (`crate::budget`) bound what the
        // socket tasks queue here to well below this many items.
        ctx.set_mailbox_capacity(100_000);
        self.clients
            .do_send(AddMailboxListener(ctx.address().recipient()));
        self.clients
            .do_send(AddPresenceListener(ctx.address().recipient()));
        self.clients.do_send(AddIntercomPhones(IntercomPhones {
            ring: ctx.address().recipient(),
            portion: ctx.address().recipient(),
            over: ctx.address().recipient(),
        }));
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
        self.pump(now, ctx);
    }
}

/// Media for a leg.
impl Handler<RtpIn> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: RtpIn, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.on_rtp(now, msg, ctx);
        self.flush_sip();
    }
}

/// Updates the user's phones' lamps.
impl Handler<MailboxChanged> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, ctx: &mut Context<Self>) {
        self.update_mwi(msg.user, ctx);
    }
}

/// A user's presence, for the contact keys watching it.
impl Handler<PresenceChanged> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: PresenceChanged, _: &mut Context<Self>) {
        self.presence_changed(Instant::now(), msg);
        self.flush_sip();
    }
}

/// Rings the user's phone (record from a desk phone): a line for it, fed [`Input::RingMe`]; the
/// answer comes with the line's `RingMeResult`.
impl Handler<RingMe> for StationActor {
    type Result = ResponseFuture<Result<(), StationError>>;
    fn handle(&mut self, msg: RingMe, ctx: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let (tx, rx) = oneshot::channel();
        let ext = self
            .reg
            .latest(msg.user)
            .map(|b| b.ext.clone())
            .unwrap_or_default();
        let line = self.exchange.open(
            Party {
                user: msg.user,
                ext,
            },
            "ring-me",
        );
        self.ring_me.insert(line, tx);
        self.feed(now, line, Input::RingMe(msg.to), ctx);
        self.flush_sip();
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
                    reachable: b.qualify.reachable,
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
            legs: self.legs.len() as u32,
            transactions: self.layer.len() as u32,
        })
    }
}
