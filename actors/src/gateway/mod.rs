//! The gateway actor: the founding document's gateway manager. Analog phones on FXS media
//! gateways are lines of the line core ([`ivm_line`]) like desk phones: the actor owns the
//! configured gateways (from the store, `ivmd gateway add`), their endpoints and the users
//! their lines are assigned to (`ivmd line assign`), one MGCP transaction [`Agent`] and one
//! MEGACO [`Controller`] for their UDP sockets, an [`Exchange`] of lines, and each call's RTP
//! [`Session`].
//!
//! What MGCP and MEGACO say is translated in `mgcp.rs` and `megaco.rs` into protocol-neutral
//! requests and reports (`seam.rs`); this file only knows endpoints going off-hook,
//! dialling, ringing and hanging up. Each gateway speaks the protocol it was configured with
//! (`ivmd gateway add --protocol`); a MEGACO gateway's lines are its terminations
//! (`aaln/1`..), keyed like MGCP endpoints.
//!
//! The socket is not here (DESIGN.md: services own sockets): the MGCP service (crate
//! `ivm-phones`) sends each datagram as [`MgcpIn`] and sends what the actor queues on its
//! [`MgcpOutbox`]; the MEGACO one likewise with [`MegacoIn`]. A datagram from an address no configured gateway has is counted and dropped
//! before it is parsed (one hash lookup): strangers cannot fill the transaction layer's cache.
//!
//! # Layout
//! - `mod.rs`: the actor, the gateways and endpoints, the MGCP events, the media tick.
//! - `seam.rs`: the protocol-neutral requests and reports.
//! - `mgcp.rs`: the MGCP translator (commands out, reports in, the digit map).
//! - `megaco.rs`: the MEGACO translator (actions out, reports in, connections).
//! - `megaco_io.rs`: the MEGACO [`Controller`] in the actor: datagrams ([`MegacoIn`]), its
//!   requests and replies.
//! - `lines.rs`: carrying out the line core's actions on an endpoint.
//!
//! # A call from an analog phone
//! Off-hook (NTFY `L/hd`): dial tone and the digit map (RQNT). Digits (NTFY `D/...`): the box
//! opens the connection first (CRCX with its SDP offer; the gateway answers with its own),
//! then opens a line and feeds it `Input::Dialled`, so the line's first prompt plays on a
//! connection that exists. The line's release deletes the connection (DLCX); on-hook (NTFY
//! `L/hu`) is `Input::HungUp`.

mod lines;
pub mod megaco;
mod megaco_io;
pub mod mgcp;
pub mod seam;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_line::{Exchange, Input, LineId, Party};
use ivm_mgcp::endpoint::EndpointName;
use ivm_mgcp::message::{Response, Verb};
use ivm_mgcp::transaction::{Agent, Config as AgentConfig, Event as AgentEvent};
use ivm_rtp::Session;
use ivm_sdp::LocalMedia;
use ivm_store::{Gateway, Store, StoreError};
use ivm_wire::Guid;
use tokio::sync::mpsc;

use crate::client::{AddMailboxListener, ClientHandle, MailboxChanged};
use crate::database::{Db, Op};
use crate::media::{MediaPort, MediaSockets};
use crate::station::{RingMe, StationError};
use seam::{Protocol, Report, Request};

use ivm_megaco::Controller;
pub use megaco_io::MegacoIn;

/// Where the actor queues MGCP datagrams for the socket task: (destination, bytes).
pub type MgcpOutbox = mpsc::Sender<(SocketAddr, Vec<u8>)>;

/// Settings of the gateway manager (`[mgcp]` and the line settings of `[sip]`).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The line core's settings.
    pub lines: ivm_line::Config,
    /// No RTP from a line in a call for this long: hang up (a recording is kept).
    pub media_timeout: Duration,
    /// A gateway not heard from for this long is audited (keep-alive).
    pub keepalive: Duration,
    /// How often the gateway list is read again from the store (changes by `ivmd gateway`).
    pub reload: Duration,
    /// Confirm the gateways' responses with `K:` in the next command (`[mgcp] response_ack`).
    pub response_ack: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            lines: ivm_line::Config::default(),
            media_timeout: Duration::from_secs(20),
            keepalive: Duration::from_secs(60),
            reload: Duration::from_secs(2),
            response_ack: false,
        }
    }
}

/// A datagram from the MGCP socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MgcpIn {
    /// Source.
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
}

impl From<(SocketAddr, Vec<u8>)> for MgcpIn {
    fn from((from, bytes): (SocketAddr, Vec<u8>)) -> Self {
        MgcpIn { from, bytes }
    }
}

/// The live state of every gateway, for the admin API and `ivmd gateway list`.
#[derive(Message)]
#[rtype(result = "Vec<GatewayState>")]
pub struct GetGateways;

/// One gateway now.
#[derive(Debug, Clone)]
pub struct GatewayState {
    /// Its name.
    pub name: String,
    /// Registered (RSIP) and answering.
    pub up: bool,
    /// Each endpoint: (local name, `idle` / `off-hook` / `ringing` / `in-call`).
    pub lines: Vec<(String, &'static str)>,
    /// MGCP datagrams from unconfigured addresses dropped since start (the same on every row).
    pub dropped: u64,
    /// MEGACO datagrams from unconfigured addresses dropped since start (likewise).
    pub megaco_dropped: u64,
}

/// What an endpoint is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hook {
    Idle,
    /// Off-hook, collecting digits (or refused, waiting for on-hook).
    Lifted,
    /// Digits complete: CRCX sent, waiting for its answer.
    Connecting,
    /// Rung by the box (for `line`).
    Ringing,
    /// In a call (a line is open).
    InCall,
}

/// One endpoint (analog line).
struct Endpoint {
    name: EndpointName,
    user: Option<Party>,
    hook: Hook,
    line: Option<LineId>,
    call_id: String,
    connection: Option<String>,
    media: Option<Media>,
    /// Messages waiting, for the lamp.
    lamp: Option<bool>,
    request_id: u32,
}

/// A call's media: our socket and offer, and the session once the gateway answered.
struct Media {
    port: MediaPort,
    local: LocalMedia,
    session: Option<Session>,
}

/// One gateway.
struct Gw {
    name: String,
    protocol: Protocol,
    up: bool,
    heard: Instant,
    audit_sent: bool,
    endpoints: BTreeMap<String, Endpoint>,
}

/// What a command the actor sent was for.
enum Pending {
    /// A CRCX for a call: on answer, the line is opened (dial) or answered (ringing).
    Connect { gw: SocketAddr, ep: String },
    /// Anything else (audits, RQNT, DLCX): a failure is logged; a time-out marks it down.
    Other,
}

/// The gateway manager.
pub struct GatewayActor {
    cfg: GatewayConfig,
    db: Db,
    clients: ClientHandle,
    out: MgcpOutbox,
    media: Arc<dyn MediaSockets>,
    agent: Agent,
    gateways: HashMap<SocketAddr, Gw>,
    exchange: Exchange,
    /// Line -> (gateway, endpoint).
    lines: HashMap<LineId, (SocketAddr, String)>,
    /// Bridged lines (calls between analog lines).
    bridges: HashMap<LineId, LineId>,
    pending: HashMap<(Protocol, u32), Pending>,
    /// Lines opened for a dial string, fed `Input::Dialled` once their connection is up.
    pending_dial: HashMap<LineId, String>,
    /// Ring-my-phone requests waiting for their line's outcome.
    ring_me: HashMap<LineId, tokio::sync::oneshot::Sender<Result<(), StationError>>>,
    /// Where ring-my-phone goes for a user without an analog line (the station).
    fallback: Option<Recipient<RingMe>>,
    dropped: u64,
    megaco_dropped: u64,
    /// Datagrams that came before the gateway list was first read (bounded), run after it.
    early: Option<Vec<(Protocol, MgcpIn)>>,
    /// The MEGACO controller and its socket's send queue, when MEGACO is on.
    megaco: Option<(Controller, MgcpOutbox)>,
    last_reload: Option<Instant>,
    next_request: u32,
}

const TICK: Duration = Duration::from_millis(10);

impl GatewayActor {
    /// A gateway manager; `out` is the MGCP socket task's send queue.
    pub fn new(
        cfg: GatewayConfig,
        db: Db,
        clients: ClientHandle,
        out: MgcpOutbox,
        media: Arc<dyn MediaSockets>,
    ) -> GatewayActor {
        let response_ack = cfg.response_ack;
        GatewayActor {
            exchange: Exchange::new(cfg.lines.clone()),
            cfg,
            db,
            clients,
            out,
            media,
            agent: Agent::new(
                AgentConfig {
                    response_ack,
                    ..AgentConfig::default()
                },
                rand::random::<u32>() % 900_000_000 + 1,
            ),
            gateways: HashMap::new(),
            lines: HashMap::new(),
            bridges: HashMap::new(),
            pending: HashMap::new(),
            pending_dial: HashMap::new(),
            ring_me: HashMap::new(),
            fallback: None,
            dropped: 0,
            megaco_dropped: 0,
            early: Some(Vec::new()),
            megaco: None,
            last_reload: None,
            next_request: 1,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.agent.poll_timeout().is_some_and(|t| t <= now) {
            self.agent.handle_timeout(now);
        }
        self.pump(now, ctx);
        self.megaco_tick(now, ctx);
        self.media_tick(now, ctx);
        if self.exchange.poll_timeout().is_some_and(|t| t <= now) {
            self.exchange.handle_timeout(now);
            self.drive(now, ctx);
        }
        self.keepalive(now);
        if self
            .last_reload
            .is_none_or(|t| now.duration_since(t) >= self.cfg.reload)
        {
            self.last_reload = Some(now);
            self.reload(ctx);
        }
        self.flush();
    }

    /// Ring-my-phone for users without an analog line goes to `station` (desk phones).
    pub fn with_fallback(mut self, station: Option<Recipient<RingMe>>) -> GatewayActor {
        self.fallback = station;
        self
    }

    /// Reads the configured gateways again: new ones are added (down until they restart),
    /// removed ones forgotten, line assignments updated.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(
            async move { db.call(LoadGateways).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(list) => {
                        act.apply_config(list);
                        for (protocol, msg) in act.early.take().unwrap_or_default() {
                            match protocol {
                                Protocol::Mgcp => act.datagram(msg, ctx),
                                Protocol::Megaco => act.megaco_datagram(msg, ctx),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "gateways not read"),
                }),
        );
    }

    fn apply_config(&mut self, list: Vec<(Gateway, HashMap<Guid, String>)>) {
        let now = Instant::now();
        let keep: Vec<SocketAddr> = list.iter().map(|(g, _)| g.address).collect();
        self.gateways.retain(|a, _| keep.contains(a));
        for (g, exts) in list {
            let gw = self.gateways.entry(g.address).or_insert_with(|| {
                tracing::info!(gateway = %g.name, address = %g.address, "gateway configured");
                Gw {
                    name: g.name.clone(),
                    protocol: g.protocol,
                    up: false,
                    heard: now,
                    audit_sent: false,
                    endpoints: BTreeMap::new(),
                }
            });
            gw.name = g.name.clone();
            gw.protocol = g.protocol;
            let names: Vec<String> = g.endpoint_names().collect();
            gw.endpoints.retain(|k, _| names.contains(k));
            for local in names {
                let user = g.lines.get(&local).map(|u| Party {
                    user: *u,
                    ext: exts.get(u).cloned().unwrap_or_default(),
                });
                let domain = format!("[{}]:{}", g.address.ip(), g.address.port());
                let ep = gw
                    .endpoints
                    .entry(local.clone())
                    .or_insert_with(|| Endpoint {
                        name: EndpointName::parse(&format!("{local}@{domain}"))
                            .unwrap_or_else(|_| EndpointName::parse("aaln/1@gw").expect("static")),
                        user: None,
                        hook: Hook::Idle,
                        line: None,
                        call_id: String::new(),
                        connection: None,
                        media: None,
                        lamp: None,
                        request_id: 0,
                    });
                ep.user = user;
            }
        }
    }

    /// Sends `req` to an endpoint.
    fn request(&mut self, now: Instant, gw: SocketAddr, ep: &str, req: Request) -> Option<u32> {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let g = self.gateways.get_mut(&gw)?;
        let protocol = g.protocol;
        let e = g.endpoints.get_mut(ep)?;
        e.request_id = id;
        let pending = match req {
            Request::Connect { .. } => Pending::Connect {
                gw,
                ep: ep.to_owned(),
            },
            _ => Pending::Other,
        };
        if protocol == Protocol::Megaco {
            let actions = megaco::actions(ep, &req, id, e.connection.as_deref());
            let (ctl, _) = self.megaco.as_mut().filter(|_| !actions.is_empty())?;
            let tx = ctl.send_request(now, gw, actions);
            self.pending.insert((Protocol::Megaco, tx), pending);
            return Some(tx);
        }
        let cmd = mgcp::command(&e.name, &req, id);
        match self.agent.send(now, gw, cmd) {
            Ok(tx) => {
                self.pending.insert((Protocol::Mgcp, tx), pending);
                Some(tx)
            }
            Err(e) => {
                tracing::warn!(error = %e, "MGCP command not sent");
                None
            }
        }
    }

    /// Sends what the agent queued.
    fn flush(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            if self.out.try_send((t.to, t.payload)).is_err() {
                tracing::warn!("MGCP send queue full: datagram dropped (retransmitted)");
            }
        }
        if let Some((ctl, out)) = self.megaco.as_mut() {
            while let Some(t) = ctl.poll_transmit() {
                if out.try_send((t.peer, t.payload)).is_err() {
                    tracing::warn!("MEGACO send queue full: datagram dropped (retransmitted)");
                }
            }
        }
    }

    /// Runs the agent's events.
    fn pump(&mut self, now: Instant, ctx: &mut Context<Self>) {
        while let Some(ev) = self.agent.poll_event() {
            match ev {
                AgentEvent::Command { from, command } => self.on_command(now, from, command, ctx),
                AgentEvent::Response {
                    from,
                    verb,
                    endpoint,
                    response,
                } => self.on_response(now, from, verb, &endpoint, response, ctx),
                AgentEvent::Provisional { .. } => {}
                AgentEvent::TimedOut { to, id, verb, .. } => {
                    self.pending.remove(&(Protocol::Mgcp, id));
                    if let Some(gw) = self.gateways.get_mut(&to) {
                        if gw.up {
                            tracing::warn!(gateway = %gw.name, verb = verb.as_str(), "gateway does not answer: down");
                        }
                        gw.up = false;
                    }
                    self.gateway_down(now, to);
                }
                AgentEvent::Malformed { from, error } => {
                    tracing::info!(%from, %error, "malformed MGCP");
                }
            }
        }
        // What ended lines above (a gateway down, a restart) set off.
        self.drive(now, ctx);
    }

    /// A gateway went down: its calls end (recordings are kept).
    fn gateway_down(&mut self, now: Instant, addr: SocketAddr) {
        let lines: Vec<LineId> = self
            .lines
            .iter()
            .filter(|(_, (g, _))| *g == addr)
            .map(|(l, _)| *l)
            .collect();
        for l in lines {
            self.exchange.handle(now, l, Input::MediaInactive);
        }
    }

    fn on_command(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: ivm_mgcp::message::Command,
        ctx: &mut Context<Self>,
    ) {
        let reports = match mgcp::reports(&cmd) {
            Ok(r) => r,
            Err(e) => {
                let _ = self
                    .agent
                    .respond(now, from, Response::new(538, cmd.id, &e.to_string()));
                return;
            }
        };
        let Some(gw) = self.gateways.get_mut(&from) else {
            return;
        };
        gw.heard = now;
        gw.audit_sent = false;
        let local = cmd.endpoint.local().to_ascii_lowercase();
        let wildcard = cmd.endpoint.is_wildcard();
        let known = wildcard || gw.endpoints.contains_key(&local);
        let (code, text) = match cmd.verb {
            Verb::Rsip | Verb::Ntfy if known => (200, "OK"),
            Verb::Rsip | Verb::Ntfy => (500, "Endpoint unknown"),
            _ => (504, "Unknown or unsupported command"),
        };
        let _ = self
            .agent
            .respond(now, from, Response::new(code, cmd.id, text));
        if code != 200 {
            return;
        }
        let span = tracing::info_span!("gateway", name = %gw.name, endpoint = %cmd.endpoint);
        let _entered = span.enter();
        self.on_reports(now, from, &local, wildcard, reports, ctx);
    }

    /// Acts on what a gateway reported about its line `local` (all of them when `wildcard`),
    /// whatever protocol said it.
    fn on_reports(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: &str,
        wildcard: bool,
        reports: Vec<Report>,
        ctx: &mut Context<Self>,
    ) {
        for r in reports {
            match r {
                Report::Restarted => {
                    tracing::info!("gateway restarted: auditing its endpoints");
                    let gw = self.gateways.get_mut(&from).expect("checked");
                    gw.up = true;
                    let eps: Vec<String> = gw
                        .endpoints
                        .keys()
                        .filter(|k| wildcard || k.as_str() == local)
                        .cloned()
                        .collect();
                    for ep in eps {
                        self.reset_endpoint(now, from, &ep);
                        self.request(now, from, &ep, Request::Audit);
                        let lamp = self.endpoint(from, &ep).and_then(|e| e.lamp);
                        self.request(now, from, &ep, Request::WaitOffHook { lamp });
                        if let Some(user) = self.endpoint(from, &ep).and_then(|e| e.user.clone()) {
                            self.update_lamp(user.user, ctx);
                        }
                    }
                }
                Report::OutOfService => {
                    tracing::info!("gateway out of service");
                    self.gateway_down(now, from);
                    if let Some(gw) = self.gateways.get_mut(&from) {
                        gw.up = false;
                    }
                }
                Report::OffHook => self.off_hook(now, from, local, ctx),
                Report::OnHook => self.on_hook(now, from, local, ctx),
                Report::Flash => {}
                Report::Digits(d) => self.digits(now, from, local, d, ctx),
            }
        }
    }

    fn endpoint(&self, gw: SocketAddr, ep: &str) -> Option<&Endpoint> {
        self.gateways.get(&gw)?.endpoints.get(ep)
    }

    fn endpoint_mut(&mut self, gw: SocketAddr, ep: &str) -> Option<&mut Endpoint> {
        self.gateways.get_mut(&gw)?.endpoints.get_mut(ep)
    }

    /// A restarted endpoint has no calls: end what the box thought it had.
    fn reset_endpoint(&mut self, now: Instant, gw: SocketAddr, ep: &str) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        e.hook = Hook::Idle;
        e.connection = None;
        e.media = None;
        if let Some(l) = e.line.take() {
            self.lines.remove(&l);
            self.exchange.handle(now, l, Input::MediaInactive);
        }
    }

    fn off_hook(&mut self, now: Instant, gw: SocketAddr, ep: &str, ctx: &mut Context<Self>) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        match e.hook {
            Hook::Idle => {
                let lamp = e.lamp.unwrap_or(false);
                if e.user.is_none() {
                    tracing::info!("off-hook on a line assigned to nobody: busy tone");
                    e.hook = Hook::Lifted;
                    self.request(now, gw, ep, Request::Busy);
                    return;
                }
                tracing::info!("off-hook: dial tone");
                e.hook = Hook::Lifted;
                self.request(now, gw, ep, Request::CollectDigits { lamp });
            }
            Hook::Ringing => {
                tracing::info!("answered");
                self.connect(now, gw, ep, ctx);
            }
            _ => {}
        }
    }

    fn on_hook(&mut self, now: Instant, gw: SocketAddr, ep: &str, ctx: &mut Context<Self>) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        tracing::info!("on-hook");
        let line = e.line;
        let was = std::mem::replace(&mut e.hook, Hook::Idle);
        match (was, line) {
            (Hook::InCall | Hook::Connecting, Some(l)) => {
                self.exchange.handle(now, l, Input::HungUp);
                self.drive(now, ctx);
            }
            _ => {
                self.disconnect(now, gw, ep);
                let lamp = self.endpoint(gw, ep).and_then(|e| e.lamp);
                self.request(now, gw, ep, Request::WaitOffHook { lamp });
            }
        }
    }

    fn digits(
        &mut self,
        now: Instant,
        gw: SocketAddr,
        ep: &str,
        digits: String,
        ctx: &mut Context<Self>,
    ) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        match e.hook {
            Hook::Lifted if e.user.is_some() => {
                let dial: String = digits
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '*')
                    .collect();
                if dial.is_empty() {
                    return;
                }
                tracing::info!(dial = %dial, "dialled");
                let party = e.user.clone().expect("checked");
                let line = self.exchange.open(party, &dial);
                let e = self.endpoint_mut(gw, ep).expect("checked");
                e.line = Some(line);
                e.hook = Hook::Connecting;
                self.lines.insert(line, (gw, ep.to_owned()));
                // The line starts once the connection is up (`connected`).
                self.pending_dial.insert(line, dial);
                self.connect(now, gw, ep, ctx);
            }
            Hook::InCall => {
                if let Some(l) = e.line {
                    for c in digits.chars() {
                        if let Some(d) = ivm_rtp::Digit::from_char(c) {
                            self.exchange.handle(now, l, Input::Digit(d));
                        }
                    }
                    self.drive(now, ctx);
                }
            }
            _ => {}
        }
    }

    /// Opens the endpoint's connection: an RTP port and a CRCX with our offer.
    fn connect(&mut self, now: Instant, gw: SocketAddr, ep: &str, ctx: &mut Context<Self>) {
        let Some(line) = self.endpoint(gw, ep).and_then(|e| e.line) else {
            return;
        };
        let port = match self.media.open(
            line,
            gw.ip(),
            ctx.address().recipient::<crate::media::RtpIn>(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port available");
                self.connect_failed(now, gw, ep, ctx);
                return;
            }
        };
        let local = LocalMedia {
            address: port.local.ip(),
            port: port.local.port(),
            session_id: rand::random::<u32>().into(),
            session_version: 1,
            ptime: 20,
        };
        let sdp = String::from_utf8_lossy(&ivm_sdp::offer(&local).encode()).into_owned();
        let call_id = format!("{:x}", rand::random::<u64>());
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        e.call_id = call_id.clone();
        e.media = Some(Media {
            port,
            local,
            session: None,
        });
        self.request(now, gw, ep, Request::Connect { call_id, sdp });
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        verb: Verb,
        endpoint: &EndpointName,
        response: Response,
        ctx: &mut Context<Self>,
    ) {
        if let Some(gw) = self.gateways.get_mut(&from) {
            gw.heard = now;
            gw.audit_sent = false;
            gw.up = true;
        }
        let pending = self.pending.remove(&(Protocol::Mgcp, response.id));
        if !(200..300).contains(&response.code) {
            tracing::warn!(%endpoint, verb = verb.as_str(), code = response.code, comment = %response.comment, "gateway refused");
        }
        if let Some(Pending::Connect { gw, ep }) = pending {
            if (200..300).contains(&response.code) {
                let connection = response.params.get("I").map(str::to_owned);
                let sdp = response.sdp().and_then(Result::ok);
                self.connected(now, gw, &ep, connection, sdp, ctx);
            } else {
                self.connect_failed(now, gw, &ep, ctx);
            }
        }
    }
}

/// Reads the gateways and the extensions of the users their lines are assigned to.
struct LoadGateways;

impl Op for LoadGateways {
    type Output = Vec<(Gateway, HashMap<Guid, String>)>;
    fn run(self, s: &Store) -> Result<Self::Output, StoreError> {
        let mut out = Vec::new();
        for g in s.gateways()? {
            let mut exts = HashMap::new();
            for u in g.lines.values() {
                if let Some(user) = s.user(*u)? {
                    exts.insert(*u, user.extension);
                }
            }
            out.push((g, exts));
        }
        Ok(out)
    }
}

impl Actor for GatewayActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(100_000);
        self.clients
            .do_send(AddMailboxListener(ctx.address().recipient()));
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
        tracing::info!("gateway manager started");
    }
}

/// A datagram from the MGCP socket: strangers are counted and dropped before parsing.
impl Handler<MgcpIn> for GatewayActor {
    type Result = ();
    fn handle(&mut self, msg: MgcpIn, ctx: &mut Context<Self>) {
        if let Some(early) = self.early.as_mut() {
            if early.len() < EARLY {
                early.push((Protocol::Mgcp, msg));
            }
            return;
        }
        self.datagram(msg, ctx);
    }
}

/// Most datagrams kept while the gateway list is first read (a few milliseconds).
const EARLY: usize = 256;

impl GatewayActor {
    fn datagram(&mut self, msg: MgcpIn, ctx: &mut Context<Self>) {
        if self
            .gateways
            .get(&msg.from)
            .is_none_or(|g| g.protocol != Protocol::Mgcp)
        {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::info!(from = %msg.from, dropped = self.dropped, "MGCP from an unconfigured address dropped");
            }
            return;
        }
        let now = Instant::now();
        self.agent.handle_datagram(now, msg.from, &msg.bytes);
        self.pump(now, ctx);
        self.flush();
    }
}

/// The lamps follow the mailbox.
impl Handler<MailboxChanged> for GatewayActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, ctx: &mut Context<Self>) {
        self.update_lamp(msg.user, ctx);
    }
}

/// Ring-my-phone: a user with an idle analog line on a gateway that is up has it rung
/// (`L/rg` with caller id); off-hook connects and records. Anyone else's request goes to the
/// station (desk phones).
impl Handler<RingMe> for GatewayActor {
    type Result = ResponseFuture<Result<(), StationError>>;
    fn handle(&mut self, msg: RingMe, ctx: &mut Context<Self>) -> Self::Result {
        let party = self.gateways.values().filter(|g| g.up).find_map(|g| {
            g.endpoints
                .values()
                .filter_map(|e| e.user.clone())
                .find(|p| p.user == msg.user)
        });
        let Some(party) = party else {
            let fallback = self.fallback.clone();
            return Box::pin(async move {
                match fallback {
                    Some(station) => station
                        .send(msg)
                        .await
                        .unwrap_or_else(|_| Err(StationError::Internal("shutting down".into()))),
                    None => Err(StationError::NotRegistered),
                }
            });
        };
        let now = Instant::now();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let line = self.exchange.open(party, "ring-me");
        self.ring_me.insert(line, tx);
        self.exchange.handle(now, line, Input::RingMe(msg.to));
        self.drive(now, ctx);
        self.flush();
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StationError::Internal("the call ended".into())))
        })
    }
}

/// The live state.
impl Handler<GetGateways> for GatewayActor {
    type Result = MessageResult<GetGateways>;
    fn handle(&mut self, _: GetGateways, _: &mut Context<Self>) -> Self::Result {
        let mut out: Vec<GatewayState> = self
            .gateways
            .values()
            .map(|g| GatewayState {
                name: g.name.clone(),
                up: g.up,
                lines: g
                    .endpoints
                    .iter()
                    .map(|(k, e)| {
                        (
                            k.clone(),
                            match e.hook {
                                Hook::Idle => "idle",
                                Hook::Lifted | Hook::Connecting => "off-hook",
                                Hook::Ringing => "ringing",
                                Hook::InCall => "in-call",
                            },
                        )
                    })
                    .collect(),
                dropped: self.dropped,
                megaco_dropped: self.megaco_dropped,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        MessageResult(out)
    }
}
