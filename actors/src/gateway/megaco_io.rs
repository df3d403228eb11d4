//! The MEGACO controller ([`Controller`], `ivm-megaco`) inside the gateway actor: datagrams
//! from the MEGACO socket ([`MegacoIn`]), the gateways' requests (ServiceChange, Notify)
//! answered and turned into reports through the translator (`megaco.rs`), and the replies to
//! the box's own requests (a connect's context, RTP termination and SDP).
//!
//! As for MGCP, a datagram from an address no MEGACO gateway is configured with is counted
//! and dropped before it is decoded.

use std::net::SocketAddr;
use std::time::Instant;

use actix::prelude::*;
use ivm_megaco::{
    ActionReply, ActionRequest, Command, CommandKind, Config, Controller, Descriptor,
    ErrorDescriptor, Event, MId, ReplyResult, ServiceChange,
};

use super::seam::Protocol;
use super::{megaco, GatewayActor, MgcpIn, MgcpOutbox, Pending, EARLY};

/// A datagram from the MEGACO socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MegacoIn {
    /// Source.
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
}

impl From<(SocketAddr, Vec<u8>)> for MegacoIn {
    fn from((from, bytes): (SocketAddr, Vec<u8>)) -> Self {
        MegacoIn { from, bytes }
    }
}

/// A datagram from the MEGACO socket: strangers are counted and dropped before decoding.
impl Handler<MegacoIn> for GatewayActor {
    type Result = ();
    fn handle(&mut self, msg: MegacoIn, ctx: &mut Context<Self>) {
        let msg = MgcpIn {
            from: msg.from,
            bytes: msg.bytes,
        };
        if let Some(early) = self.early.as_mut() {
            if early.len() < EARLY {
                early.push((Protocol::Megaco, msg));
            }
            return;
        }
        self.megaco_datagram(msg, ctx);
    }
}

impl GatewayActor {
    /// Turns MEGACO on: the controller signs its messages with `bound` (the socket's
    /// address) and queues its datagrams on `out`.
    pub fn with_megaco(mut self, out: MgcpOutbox, bound: SocketAddr) -> GatewayActor {
        let mid = MId::Ip {
            addr: bound.ip(),
            port: Some(bound.port()),
        };
        self.megaco = Some((Controller::new(Config::default(), mid), out));
        self
    }

    pub(super) fn megaco_datagram(&mut self, msg: MgcpIn, ctx: &mut Context<Self>) {
        if self
            .gateways
            .get(&msg.from)
            .is_none_or(|g| g.protocol != Protocol::Megaco)
        {
            self.megaco_dropped += 1;
            if self.megaco_dropped.is_power_of_two() {
                tracing::info!(from = %msg.from, dropped = self.megaco_dropped, "MEGACO from an unconfigured address dropped");
            }
            return;
        }
        let now = Instant::now();
        let Some((ctl, _)) = self.megaco.as_mut() else {
            return;
        };
        ctl.handle_datagram(now, msg.from, &msg.bytes);
        self.megaco_pump(now, ctx);
        self.flush();
    }

    /// The controller's retransmissions and give-ups.
    pub(super) fn megaco_tick(&mut self, now: Instant, ctx: &mut Context<Self>) {
        if let Some((ctl, _)) = self.megaco.as_mut() {
            if ctl.poll_timeout().is_some_and(|t| t <= now) {
                ctl.handle_timeout(now);
            }
        }
        self.megaco_pump(now, ctx);
    }

    fn megaco_pump(&mut self, now: Instant, ctx: &mut Context<Self>) {
        while let Some(ev) = self.megaco.as_mut().and_then(|(c, _)| c.poll_event()) {
            match ev {
                Event::Request {
                    peer, id, actions, ..
                } => self.megaco_request(now, peer, id, actions, ctx),
                Event::Reply { peer, id, result } => self.megaco_reply(now, peer, id, result, ctx),
                Event::Pending { .. } => {}
                Event::TimedOut { peer, id } => {
                    self.pending.remove(&(Protocol::Megaco, id));
                    if let Some(gw) = self.gateways.get_mut(&peer) {
                        if gw.up {
                            tracing::warn!(gateway = %gw.name, "gateway does not answer: down");
                        }
                        gw.up = false;
                    }
                    self.gateway_down(now, peer);
                }
                Event::MessageError { peer, error } => {
                    tracing::warn!(%peer, code = error.code, text = ?error.text, "gateway refused a message");
                }
                Event::Malformed { peer, error } => {
                    tracing::info!(%peer, %error, "malformed MEGACO");
                }
            }
        }
        self.drive(now, ctx);
    }

    /// A gateway's request: each ServiceChange and Notify on a known line (or `ROOT`, or a
    /// wildcard) is answered and acted on; an unknown termination gets error 430 and an
    /// unsupported command 501, which end their action (H.248.1 7.1.2).
    fn megaco_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        id: u32,
        actions: Vec<ActionRequest>,
        ctx: &mut Context<Self>,
    ) {
        let Some(gw) = self.gateways.get_mut(&peer) else {
            return;
        };
        gw.heard = now;
        gw.audit_sent = false;
        let mut replies = Vec::new();
        let mut todo = Vec::new();
        for a in &actions {
            let mut commands = Vec::new();
            let mut error = None;
            for c in &a.commands {
                let local = c.termination.0.to_ascii_lowercase();
                let wildcard = c.termination.is_root() || c.termination.is_wildcard();
                let known = wildcard || gw.endpoints.contains_key(&local);
                match c.kind {
                    CommandKind::ServiceChange | CommandKind::Notify if known => {
                        commands.push(Command {
                            kind: c.kind,
                            optional: false,
                            wildcard_reply: false,
                            termination: c.termination.clone(),
                            descriptors: service_change_reply(c),
                        });
                        todo.push((local, wildcard, megaco::reports(c)));
                    }
                    CommandKind::ServiceChange | CommandKind::Notify => {
                        error = Some(ErrorDescriptor {
                            code: 430,
                            text: Some("Unknown TerminationID".into()),
                        });
                        break;
                    }
                    _ => {
                        error = Some(ErrorDescriptor {
                            code: 501,
                            text: Some("Not Implemented".into()),
                        });
                        break;
                    }
                }
            }
            replies.push(ActionReply {
                context: a.context,
                props: Vec::new(),
                commands,
                error,
            });
        }
        let name = gw.name.clone();
        if let Some((ctl, _)) = self.megaco.as_mut() {
            if let Err(e) = ctl.send_reply(now, peer, id, ReplyResult::Actions(replies)) {
                tracing::warn!(error = %e, "MEGACO reply not sent");
            }
        }
        for (local, wildcard, reports) in todo {
            let span = tracing::info_span!("gateway", name = %name, termination = %local);
            let _entered = span.enter();
            self.on_reports(now, peer, &local, wildcard, reports, ctx);
        }
    }

    fn megaco_reply(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        id: u32,
        result: ReplyResult,
        ctx: &mut Context<Self>,
    ) {
        if let Some(gw) = self.gateways.get_mut(&peer) {
            gw.heard = now;
            gw.audit_sent = false;
            gw.up = true;
        }
        let pending = self.pending.remove(&(Protocol::Megaco, id));
        let replies = match &result {
            ReplyResult::Actions(r) if r.iter().all(|a| a.error.is_none()) => Some(r),
            other => {
                tracing::warn!(%peer, id, reply = ?other, "gateway refused");
                None
            }
        };
        if let Some(Pending::Connect { gw, ep }) = pending {
            match replies.and_then(|r| megaco::connected(r)) {
                Some((connection, sdp)) => {
                    let sdp = match sdp
                        .as_deref()
                        .map(|s| ivm_sdp::SessionDescription::parse(s.as_bytes()))
                    {
                        Some(Ok(sdp)) => Some(sdp),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, sdp = ?sdp, "the gateway's SDP does not parse");
                            None
                        }
                        None => {
                            tracing::warn!(reply = ?replies, "the gateway's reply has no Local SDP");
                            None
                        }
                    };
                    self.connected(now, gw, &ep, Some(connection.to_text()), sdp, ctx);
                }
                None => self.connect_failed(now, gw, &ep, ctx),
            }
        }
    }
}

/// A ServiceChange is answered with the version it offered (the box speaks 1 to 3); a
/// Notify's reply has no descriptors.
fn service_change_reply(c: &Command) -> Vec<Descriptor> {
    c.descriptors
        .iter()
        .find_map(|d| match d {
            Descriptor::Services(sc) if c.kind == CommandKind::ServiceChange => {
                sc.version.map(|v| {
                    Descriptor::Services(ServiceChange {
                        version: Some(v.min(3)),
                        ..ServiceChange::default()
                    })
                })
            }
            _ => None,
        })
        .into_iter()
        .collect()
}
