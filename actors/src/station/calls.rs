//! Call legs and the keypad services, as a back-to-back user agent (B2BUA): every call ends
//! on the box, which holds one RTP [`Session`] per leg. Why a B2BUA and not a proxy:
//! `docs/decisions/0002-calls.md`.
//!
//! - `*7<ext>[*<ext>...]`: answer, "record after the tone" + beep, record until `#`, hang-up,
//!   the silence timeout or the length limit, post through the client actor, "message sent".
//! - `*97`: "you have N new messages", then each message (newest unplayed first) announced by
//!   the sender's extension; keys 1 replay, 2 next, 3 delete, 4 reply. Played messages are
//!   marked through the client actor's `Receipt`, so receipts and lamps follow.
//! - `<ext>`: ring the callee's registered phone; 180 back to the caller; on answer both legs
//!   are bridged through the box (decode, jitter buffer, re-encode: codecs may differ);
//!   486 when the callee is in a call, 480 when it has no phone registered or does not
//!   answer within the ring timeout, 404 for an unknown extension; CANCEL and BYE pass
//!   through.
//! - ring-my-phone: the box calls the user's phone; on answer, beep and record as for `*7`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_rtp::prompts::{self, Prompt};
use ivm_rtp::{tone, Digit, Event as MediaEvent, Latching, Recorder, Session, SessionConfig};
use ivm_sip::message::{Method, Request, Response};
use ivm_sip::sdp::{self, LocalMedia, Negotiated, SessionDescription};
use ivm_sip::transaction::{Peer, TxId};
use ivm_store::BlobRef;
use ivm_wire::{Guid, MailboxState};
use tokio::sync::oneshot;

use super::registrar::Authed;
use super::sipmsg::{self, Dialog};
use super::{RingMe, StationActor, StationError};
use crate::media::{LegId, MediaPort, RtpIn};
use crate::client::{MailboxChanged, PostMessage, Receipt};
use crate::database;

/// What a client transaction we started is for.
pub(crate) enum Pending {
    /// An INVITE for this leg.
    Invite(LegId),
    /// A message-waiting NOTIFY.
    Notify { user: Guid },
    /// BYE, CANCEL: nothing to do with the answer.
    Other,
}

/// A message in a `*97` session.
struct Item {
    id: Guid,
    sender_ext: String,
    audio: BlobRef,
}

enum Kind {
    Record,
    Mailbox {
        items: Vec<Item>,
    },
    RingMe {
        reply: Option<oneshot::Sender<Result<(), StationError>>>,
        to: Vec<String>,
    },
    Caller {
        callee: Option<LegId>,
        offer: SessionDescription,
    },
    Callee {
        caller: LegId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Setup,
    Greeting { to: Vec<String> },
    Recording { to: Vec<String> },
    Posting,
    Closing,
    Intro,
    Announce { idx: usize },
    Playing { idx: usize },
    Menu { idx: usize },
    Bridged,
}

struct Media {
    session: Option<Session>,
    port: MediaPort,
    local: LocalMedia,
}

struct Leg {
    user: Guid,
    ext: String,
    dialog: Dialog,
    /// The inbound INVITE's server transaction until its final response.
    inv_tx: Option<TxId>,
    /// Our outbound INVITE until its final response.
    out_invite: Option<(TxId, Request)>,
    established: bool,
    media: Media,
    /// Our SDP (answer or offer), for re-INVITEs.
    local_sdp: Vec<u8>,
    kind: Kind,
    phase: Phase,
    recorder: Option<Recorder>,
    deadline: Option<Instant>,
    gen: u64,
    span: tracing::Span,
}

/// Every leg.
#[derive(Default)]
pub(crate) struct Calls {
    legs: HashMap<LegId, Leg>,
    by_call: HashMap<String, LegId>,
    next: LegId,
}

impl Calls {
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn by_call_id(&self, call_id: &str) -> Option<LegId> {
        self.by_call.get(call_id).copied()
    }

    /// The leg whose dialog `req` (from `peer`) belongs to: Call-ID, both tags and the
    /// phone's address must match ([`sipmsg::dialog_matches`]).
    pub fn in_dialog(&self, req: &Request, peer: Peer) -> Option<LegId> {
        let id = self.by_call_id(req.headers.call_id().ok()?)?;
        let leg = self.legs.get(&id)?;
        sipmsg::dialog_matches(&leg.dialog, req, peer).then_some(id)
    }

    fn busy(&self, user: Guid) -> bool {
        self.legs.values().any(|l| l.user == user)
    }
}

/// Why a recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Pound,
    Silence,
    Full,
    HungUp,
}

fn rtp_codec(c: sdp::Codec) -> ivm_rtp::Codec {
    match c {
        sdp::Codec::Pcmu => ivm_rtp::Codec::Pcmu,
        sdp::Codec::Pcma => ivm_rtp::Codec::Pcma,
    }
}

fn session_for(neg: &Negotiated, peer: Peer, inactivity: Duration) -> Option<Session> {
    let remote = neg.remote.filter(|r| !r.ip().is_unspecified())?;
    let mut cfg = SessionConfig::new(remote);
    cfg.codec = rtp_codec(neg.codec);
    cfg.telephone_event = neg.telephone_event;
    cfg.latching = if remote.ip() == peer.addr.ip() {
        Latching::Strict
    } else {
        Latching::LatchFirst
    };
    cfg.inactivity = inactivity;
    Some(Session::new(cfg, Instant::now()))
}

fn greeting(prompt: bool) -> Vec<i16> {
    let mut pcm = if prompt {
        prompts::render(&[Prompt::RECORD_AFTER_TONE])
    } else {
        Vec::new()
    };
    pcm.extend(tone::silence(Duration::from_millis(200)));
    pcm.extend(tone::beep());
    pcm
}

impl StationActor {
    fn alloc_leg(&mut self) -> LegId {
        self.calls.next += 1;
        self.calls.next
    }

    fn open_media(
        &mut self,
        leg: LegId,
        peer: Peer,
        ctx: &mut Context<Self>,
    ) -> Option<(MediaPort, LocalMedia)> {
        match self
            .media
            .open(leg, peer.addr.ip(), ctx.address().recipient::<RtpIn>())
        {
            Ok(port) => {
                let local = LocalMedia {
                    address: port.local.ip(),
                    port: port.local.port(),
                    session_id: rand::random::<u32>().into(),
                    session_version: 1,
                    ptime: 20,
                };
                Some((port, local))
            }
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port available");
                None
            }
        }
    }

    pub(super) fn on_invite(
        &mut self,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        if sipmsg::tag_of(req.headers.get("To")).is_some() {
            // Re-INVITE (session refresh, hold): keep our media as it is. Only inside the
            // dialog (Call-ID, both tags, the phone's address): else 481.
            match self
                .calls
                .in_dialog(&req, peer)
                .and_then(|l| self.calls.legs.get(&l))
            {
                Some(leg) => {
                    let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
                    let contact = self.contact("ivm");
                    let body = leg.local_sdp.clone();
                    let r = sipmsg::with_body(
                        sipmsg::with_contact(req.make_response(200, Some(&tag)), &contact),
                        "application/sdp",
                        body,
                    );
                    self.respond(id, r);
                }
                None => self.respond(id, req.make_response(481, None)),
            }
            return;
        }
        if self.calls.by_call_id(&call_id).is_some() {
            self.respond(id, req.make_response(482, None));
            return;
        }
        let (user, ext) = match self.authenticate(id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let dial: String = sipmsg::request_user(&req)
            .unwrap_or_default()
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '.'))
            .collect();
        let offer = match SessionDescription::parse(&req.body) {
            Ok(o) => o,
            Err(_) => {
                self.respond(id, req.make_response(488, None));
                return;
            }
        };
        let span = tracing::info_span!("call", ext = %ext, dial = %dial, call_id = %call_id);
        span.in_scope(|| tracing::info!(peer = %peer.addr, "INVITE"));
        self.invites.insert(id, req.clone());
        if dial == "*97" {
            self.answer_service(
                id,
                peer,
                req,
                user,
                ext,
                Kind::Mailbox { items: Vec::new() },
                offer,
                ctx,
            );
        } else if let Some(rest) = dial.strip_prefix("*7") {
            let to: Vec<String> = rest
                .split('*')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if to.is_empty() || to.len() > 32 {
                self.respond(id, req.make_response(484, None));
                return;
            }
            let db = self.db.clone();
            let check = to.clone();
            let fut = async move {
                database::run(&db, move |s| {
                    for t in &check {
                        if s.user_by_extension(t)?.is_none() && s.user_by_name(t)?.is_none() {
                            return Ok(Some(t.clone()));
                        }
                    }
                    Ok(None)
                })
                .await
            };
            ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                match res {
                    Ok(None) => {
                        act.answer_service(id, peer, req, user, ext, Kind::Record, offer, ctx)
                    }
                    Ok(Some(unknown)) => {
                        tracing::info!(%unknown, "*7 to an unknown extension");
                        act.respond(id, req.make_response(404, None));
                    }
                    Err(_) => act.respond(id, req.make_response(500, None)),
                }
                act.flush_sip();
            }));
        } else if !dial.is_empty() && dial.len() <= 8 && dial.bytes().all(|b| b.is_ascii_digit()) {
            let db = self.db.clone();
            let d = dial.clone();
            let fut = async move { database::run(&db, move |s| s.user_by_extension(&d)).await };
            ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                match res {
                    Ok(Some(callee)) => {
                        act.call_extension(id, peer, req, user, ext, callee, offer, ctx)
                    }
                    Ok(None) => act.respond(id, req.make_response(404, None)),
                    Err(_) => act.respond(id, req.make_response(500, None)),
                }
                act.flush_sip();
            }));
        } else {
            self.respond(id, req.make_response(404, None));
        }
    }

    /// Answers a keypad service (`*7`, `*97`) at once: the box is the far end.
    #[allow(clippy::too_many_arguments)]
    fn answer_service(
        &mut self,
        id: TxId,
        peer: Peer,
        req: Request,
        user: Guid,
        ext: String,
        kind: Kind,
        offer: SessionDescription,
        ctx: &mut Context<Self>,
    ) {
        if !self.layer.is_pending(id) {
            return; // cancelled meanwhile
        }
        let leg_id = self.alloc_leg();
        let Some((port, local)) = self.open_media(leg_id, peer, ctx) else {
            self.respond(id, req.make_response(503, None));
            return;
        };
        let (answer, neg) = match sdp::answer(&offer, &local) {
            Ok(a) => a,
            Err(_) => {
                self.respond(id, req.make_response(488, None));
                return;
            }
        };
        let Some(mut session) = session_for(&neg, peer, self.cfg.media_timeout) else {
            self.respond(id, req.make_response(488, None));
            return;
        };
        let tag = sipmsg::token();
        let local_hdr = sipmsg::with_tag(req.headers.get("To").unwrap_or_default(), &tag);
        let dial = sipmsg::request_user(&req).unwrap_or_default();
        let dialog = Dialog {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            local: local_hdr,
            remote: req.headers.get("From").unwrap_or_default().to_owned(),
            target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
            cseq: 0,
            peer,
        };
        let body = answer.encode();
        let contact = self.contact(&dial);
        let r = sipmsg::with_body(
            sipmsg::with_contact(req.make_response(200, Some(&tag)), &contact),
            "application/sdp",
            body.clone(),
        );
        self.respond(id, r);
        let now = Instant::now();
        let phase = match &kind {
            Kind::Record => {
                let to = dial
                    .strip_prefix("*7")
                    .unwrap_or_default()
                    .split('*')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                session.play(now, &greeting(true));
                Phase::Greeting { to }
            }
            _ => Phase::Setup,
        };
        let span = tracing::info_span!("call", leg = leg_id, ext = %ext, dial = %dial);
        span.in_scope(|| tracing::info!(remote = %session.remote(), "answered"));
        self.calls.by_call.insert(dialog.call_id.clone(), leg_id);
        let is_mailbox = matches!(kind, Kind::Mailbox { .. });
        self.calls.legs.insert(
            leg_id,
            Leg {
                user,
                ext,
                dialog,
                inv_tx: None,
                out_invite: None,
                established: true,
                media: Media {
                    session: Some(session),
                    port,
                    local,
                },
                local_sdp: body,
                kind,
                phase,
                recorder: None,
                deadline: None,
                gen: 0,
                span,
            },
        );
        if is_mailbox {
            self.load_mailbox(leg_id, ctx);
        }
    }

    // ----- calls between extensions -----

    #[allow(clippy::too_many_arguments)]
    fn call_extension(
        &mut self,
        id: TxId,
        peer: Peer,
        req: Request,
        user: Guid,
        ext: String,
        callee: ivm_store::User,
        offer: SessionDescription,
        ctx: &mut Context<Self>,
    ) {
        if !self.layer.is_pending(id) {
            return;
        }
        let Some(binding) = self.reg.latest(callee.guid).cloned() else {
            tracing::info!(callee = %callee.extension, "callee has no registered phone");
            self.respond(id, req.make_response(480, None));
            return;
        };
        if self.calls.busy(callee.guid) {
            tracing::info!(callee = %callee.extension, "callee busy");
            self.respond(id, req.make_response(486, None));
            return;
        }
        let a = self.alloc_leg();
        let b = self.alloc_leg();
        let Some((a_port, a_local)) = self.open_media(a, peer, ctx) else {
            self.respond(id, req.make_response(503, None));
            return;
        };
        let Some((b_port, b_local)) = self.open_media(b, binding.peer, ctx) else {
            self.respond(id, req.make_response(503, None));
            return;
        };
        let tag = sipmsg::token();
        let a_dialog = Dialog {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            local: sipmsg::with_tag(req.headers.get("To").unwrap_or_default(), &tag),
            remote: req.headers.get("From").unwrap_or_default().to_owned(),
            target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
            cseq: 0,
            peer,
        };
        let realm = self.cfg.realm.clone();
        let b_call_id = sipmsg::token();
        let from = format!("\"{ext}\" <sip:{ext}@{realm}>;tag={}", sipmsg::token());
        let to = format!("<sip:{}@{realm}>", callee.extension);
        let contact = self.contact(&ext);
        let mut inv = sipmsg::request(
            Method::Invite,
            binding.contact.clone(),
            self.cfg.sip_addr,
            binding.peer,
            &from,
            &to,
            &b_call_id,
            1,
            &contact,
        );
        let b_sdp = sdp::offer(&b_local).encode();
        inv.headers.push("Content-Type", "application/sdp");
        inv.body = b_sdp.clone();
        let Some(b_tx) = self.send_request(binding.peer, inv.clone(), Pending::Invite(b)) else {
            self.respond(id, req.make_response(500, None));
            return;
        };
        let deadline = Some(Instant::now() + self.cfg.ring_timeout);
        tracing::info!(leg = a, callee = %callee.extension, callee_leg = b, "ringing");
        self.respond(id, req.make_response(180, Some(&tag)));
        self.calls.by_call.insert(a_dialog.call_id.clone(), a);
        self.calls.by_call.insert(b_call_id.clone(), b);
        self.calls.legs.insert(
            a,
            Leg {
                user,
                ext: ext.clone(),
                dialog: a_dialog,
                inv_tx: Some(id),
                out_invite: None,
                established: false,
                media: Media {
                    session: None,
                    port: a_port,
                    local: a_local,
                },
                local_sdp: Vec::new(),
                kind: Kind::Caller {
                    callee: Some(b),
                    offer,
                },
                phase: Phase::Setup,
                recorder: None,
                deadline,
                gen: 0,
                span: tracing::info_span!("call", leg = a, ext = %ext, dial = %callee.extension),
            },
        );
        self.calls.legs.insert(
            b,
            Leg {
                user: callee.guid,
                ext: callee.extension.clone(),
                dialog: Dialog { call_id: b_call_id, local: from, remote: to, target: binding.contact, cseq: 1, peer: binding.peer },
                inv_tx: None,
                out_invite: Some((b_tx, inv)),
                established: false,
                media: Media { session: None, port: b_port, local: b_local },
                local_sdp: b_sdp,
                kind: Kind::Callee { caller: a },
                phase: Phase::Setup,
                recorder: None,
                deadline: None,
                gen: 0,
                span: tracing::info_span!("call", leg = b, ext = %callee.extension, dial = "incoming"),
            },
        );
    }

    // ----- ring my phone -----

    pub(super) fn ring_me(
        &mut self,
        msg: RingMe,
        reply: oneshot::Sender<Result<(), StationError>>,
        ctx: &mut Context<Self>,
    ) {
        let to: Vec<String> = msg
            .to
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if to.is_empty() {
            let _ = reply.send(Err(StationError::NoRecipients));
            return;
        }
        let db = self.db.clone();
        let check = to.clone();
        let fut = async move {
            database::run(&db, move |s| {
                for t in &check {
                    let found = if let Ok(g) = t.parse::<Guid>() {
                        s.user(g)?.is_some()
                    } else {
                        s.user_by_extension(t)?.is_some()
                            || s.user_by_name(&t.to_ascii_lowercase())?.is_some()
                    };
                    if !found {
                        return Ok(Some(t.clone()));
                    }
                }
                Ok(None)
            })
            .await
        };
        let user = msg.user;
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(None) => act.ring_me_checked(user, to, reply, ctx),
                Ok(Some(u)) => {
                    let _ = reply.send(Err(StationError::UnknownRecipient(u)));
                }
                Err(e) => {
                    let _ = reply.send(Err(StationError::Internal(e.to_string())));
                }
            }
            act.flush_sip();
        }));
    }

    fn ring_me_checked(
        &mut self,
        user: Guid,
        to: Vec<String>,
        reply: oneshot::Sender<Result<(), StationError>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(binding) = self.reg.latest(user).cloned() else {
            let _ = reply.send(Err(StationError::NotRegistered));
            return;
        };
        if self.calls.busy(user) {
            let _ = reply.send(Err(StationError::Busy));
            return;
        }
        let leg_id = self.alloc_leg();
        let Some((port, local)) = self.open_media(leg_id, binding.peer, ctx) else {
            let _ = reply.send(Err(StationError::Internal("no RTP port".into())));
            return;
        };
        let realm = self.cfg.realm.clone();
        let call_id = sipmsg::token();
        let from = format!(
            "\"Record a message\" <sip:ivm@{realm}>;tag={}",
            sipmsg::token()
        );
        let to_hdr = format!("<sip:{}@{realm}>", binding.ext);
        let contact = self.contact("ivm");
        let mut inv = sipmsg::request(
            Method::Invite,
            binding.contact.clone(),
            self.cfg.sip_addr,
            binding.peer,
            &from,
            &to_hdr,
            &call_id,
            1,
            &contact,
        );
        let body = sdp::offer(&local).encode();
        inv.headers.push("Content-Type", "application/sdp");
        inv.body = body.clone();
        let Some(tx) = self.send_request(binding.peer, inv.clone(), Pending::Invite(leg_id)) else {
            let _ = reply.send(Err(StationError::Internal("cannot send INVITE".into())));
            return;
        };
        let span = tracing::info_span!("call", leg = leg_id, ext = %binding.ext, dial = "ring-me");
        span.in_scope(|| {
            tracing::info!(recipients = to.len(), "ringing the user's phone to record")
        });
        self.calls.by_call.insert(call_id.clone(), leg_id);
        self.calls.legs.insert(
            leg_id,
            Leg {
                user,
                ext: binding.ext.clone(),
                dialog: Dialog {
                    call_id,
                    local: from,
                    remote: to_hdr,
                    target: binding.contact,
                    cseq: 1,
                    peer: binding.peer,
                },
                inv_tx: None,
                out_invite: Some((tx, inv)),
                established: false,
                media: Media {
                    session: None,
                    port,
                    local,
                },
                local_sdp: body,
                kind: Kind::RingMe {
                    reply: Some(reply),
                    to,
                },
                phase: Phase::Setup,
                recorder: None,
                deadline: Some(Instant::now() + self.cfg.ring_timeout),
                gen: 0,
                span,
            },
        );
    }

    // ----- responses to our requests -----

    pub(super) fn on_response(&mut self, id: TxId, resp: Response, ctx: &mut Context<Self>) {
        match self.pending.get(&id) {
            Some(Pending::Invite(leg)) => {
                let leg = *leg;
                self.on_invite_response(leg, resp, ctx);
            }
            Some(Pending::Notify { user }) => {
                if resp.status == 481 {
                    let user = *user;
                    self.notify_failed(user, resp.headers.call_id().unwrap_or_default());
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_client_failure(&mut self, id: TxId, status: u16, ctx: &mut Context<Self>) {
        if let Some(Pending::Invite(leg)) = self.pending.get(&id) {
            let leg = *leg;
            let mut r = Response {
                version: ivm_sip::message::Version::SIP_2_0,
                status,
                reason: ivm_sip::message::reason_phrase(status).into(),
                headers: Default::default(),
                body: Vec::new(),
            };
            r.headers.push("CSeq", "1 INVITE");
            self.on_invite_response(leg, r, ctx);
        }
    }

    fn on_invite_response(&mut self, leg_id: LegId, resp: Response, ctx: &mut Context<Self>) {
        let via = self.cfg.sip_addr;
        let contact = self.contact("ivm");
        let silence = self.cfg.media_timeout;
        let Some(leg) = self.calls.legs.get_mut(&leg_id) else {
            return;
        };
        if resp.status < 200 {
            // The caller already heard 180 when the callee's INVITE went out.
            return;
        }
        if resp.is_success() {
            let Some((_, inv)) = leg.out_invite.take() else {
                // A retransmitted 2xx: ACK again.
                let peer = leg.dialog.peer;
                self.reack(peer, &resp);
                return;
            };
            let peer = leg.dialog.peer;
            let ack = sipmsg::ack_for(&inv, &resp, via, peer, &contact);
            self.layer
                .send_stateless(peer, &ivm_sip::message::Message::Request(ack));
            leg.dialog.remote = resp.headers.get("To").unwrap_or_default().to_owned();
            if let Some(t) = sipmsg::contact_uri(&resp.headers) {
                leg.dialog.target = t;
            }
            leg.established = true;
            leg.deadline = None;
            let neg = SessionDescription::parse(&resp.body)
                .ok()
                .and_then(|a| sdp::accept_answer(&a, &leg.media.local).ok());
            let session = neg.as_ref().and_then(|n| session_for(n, peer, silence));
            let Some(session) = session else {
                leg.span
                    .in_scope(|| tracing::warn!("answer without usable SDP; hanging up"));
                self.hangup(leg_id, true, ctx);
                return;
            };
            leg.media.session = Some(session);
            leg.span.in_scope(|| tracing::info!("answered"));
            match &mut leg.kind {
                Kind::RingMe { reply, to } => {
                    if let Some(r) = reply.take() {
                        let _ = r.send(Ok(()));
                    }
                    let to = to.clone();
                    if let Some(s) = leg.media.session.as_mut() {
                        s.play(Instant::now(), &greeting(false));
                    }
                    leg.phase = Phase::Greeting { to };
                }
                Kind::Callee { caller } => {
                    let caller = *caller;
                    leg.phase = Phase::Bridged;
                    self.answer_caller(caller, leg_id, ctx);
                }
                _ => {}
            }
            return;
        }
        // Final failure.
        let status = resp.status;
        leg.out_invite = None;
        leg.span
            .in_scope(|| tracing::info!(status, "call not answered"));
        match &mut leg.kind {
            Kind::RingMe { reply, .. } => {
                if let Some(r) = reply.take() {
                    let secs = self.cfg.ring_timeout.as_secs();
                    let _ = r.send(Err(match status {
                        408 | 480 | 487 => StationError::NoAnswer(secs),
                        486 | 600 => StationError::Busy,
                        s => StationError::Declined(s),
                    }));
                }
                self.hangup(leg_id, false, ctx);
            }
            Kind::Callee { caller } => {
                let caller = *caller;
                let to_caller = match status {
                    486 | 600 => 486,
                    603 => 603,
                    487 => 487,
                    _ => 480,
                };
                self.reject(caller, to_caller);
                self.hangup(leg_id, false, ctx);
                self.hangup(caller, false, ctx);
            }
            _ => self.hangup(leg_id, false, ctx),
        }
    }

    /// The callee answered: answer the caller and bridge.
    fn answer_caller(&mut self, caller: LegId, _callee: LegId, ctx: &mut Context<Self>) {
        let silence = self.cfg.media_timeout;
        let contact = self.contact("ivm");
        let Some(leg) = self.calls.legs.get_mut(&caller) else {
            return;
        };
        let Kind::Caller { offer, .. } = &leg.kind else {
            return;
        };
        let Some(tx) = leg.inv_tx.take() else { return };
        let peer = leg.dialog.peer;
        let answer = sdp::answer(offer, &leg.media.local);
        let Ok((answer, neg)) = answer else {
            leg.inv_tx = Some(tx);
            self.reject(caller, 488);
            self.hangup(caller, false, ctx);
            return;
        };
        leg.media.session = session_for(&neg, peer, silence);
        leg.local_sdp = answer.encode();
        leg.established = true;
        leg.deadline = None;
        leg.phase = Phase::Bridged;
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        let body = leg.local_sdp.clone();
        leg.span.in_scope(|| tracing::info!("bridged"));
        self.respond_invite(tx, 200, &tag, Some((contact, body)));
    }

    /// Answers an INVITE server transaction the layer still holds.
    fn respond_invite(
        &mut self,
        tx: TxId,
        status: u16,
        tag: &str,
        body: Option<(String, Vec<u8>)>,
    ) {
        let Some(req) = self.invites.get(&tx).cloned() else {
            return;
        };
        let mut r = req.make_response(status, Some(tag));
        if let Some((contact, body)) = body {
            r = sipmsg::with_body(sipmsg::with_contact(r, &contact), "application/sdp", body);
        }
        self.respond(tx, r);
        if status >= 200 {
            self.invites.remove(&tx);
        }
    }

    /// Sends a final failure to a pending inbound INVITE.
    fn reject(&mut self, leg_id: LegId, status: u16) {
        let Some(leg) = self.calls.legs.get_mut(&leg_id) else {
            return;
        };
        let Some(tx) = leg.inv_tx.take() else { return };
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        self.respond_invite(tx, status, &tag, None);
    }

    pub(super) fn reack(&mut self, peer: Peer, resp: &Response) {
        let call_id = resp.headers.call_id().unwrap_or_default();
        let Some(leg) = self
            .calls
            .by_call_id(call_id)
            .and_then(|l| self.calls.legs.get(&l))
        else {
            return;
        };
        let seq = resp.headers.cseq().map(|c| c.seq).unwrap_or(1);
        let mut ack = sipmsg::request(
            Method::Ack,
            leg.dialog.target.clone(),
            self.cfg.sip_addr,
            peer,
            &leg.dialog.local,
            resp.headers.get("To").unwrap_or_default(),
            call_id,
            seq,
            &self.contact("ivm"),
        );
        ack.headers.set("CSeq", format!("{seq} ACK"));
        self.layer
            .send_stateless(peer, &ivm_sip::message::Message::Request(ack));
    }

    pub(super) fn on_ack(&mut self, _req: &Request) {}

    /// A BYE ends its leg only from inside the dialog (Call-ID, both tags, the phone's
    /// address); anything else gets 481 and the call stays up.
    pub(super) fn on_bye(&mut self, id: TxId, peer: Peer, req: Request, ctx: &mut Context<Self>) {
        match self.calls.in_dialog(&req, peer) {
            Some(leg) => {
                self.respond(id, req.make_response(200, None));
                if let Some(l) = self.calls.legs.get(&leg) {
                    l.span.in_scope(|| tracing::info!("hung up by the phone"));
                }
                self.hangup(leg, false, ctx);
            }
            None => {
                if self
                    .calls
                    .by_call_id(req.headers.call_id().unwrap_or_default())
                    .is_some()
                {
                    tracing::info!(peer = %peer.addr, "BYE outside the call's dialog refused (481)");
                }
                self.respond(id, req.make_response(481, None))
            }
        }
    }

    /// A CANCEL must come from the address the INVITE came from (its branch alone can be
    /// sniffed).
    pub(super) fn on_cancel(
        &mut self,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let ip = ivm_sip::transaction::canonical_ip(peer.addr.ip());
        let target = self.layer.cancel_target(&req).filter(|t| {
            self.layer
                .server_peer(*t)
                .is_some_and(|p| ivm_sip::transaction::canonical_ip(p.addr.ip()) == ip)
        });
        let Some(target) = target else {
            self.respond(id, req.make_response(481, None));
            return;
        };
        self.respond(id, req.make_response(200, None));
        let leg = self
            .calls
            .legs
            .iter()
            .find(|(_, l)| l.inv_tx == Some(target))
            .map(|(id, _)| *id);
        match leg {
            Some(leg) => {
                if let Some(l) = self.calls.legs.get(&leg) {
                    l.span
                        .in_scope(|| tracing::info!("cancelled by the caller"));
                }
                self.reject(leg, 487);
                self.hangup(leg, false, ctx);
            }
            None => {
                if let Some(inv) = self.invites.remove(&target) {
                    let r = inv.make_response(487, Some(&sipmsg::token()));
                    self.respond(target, r);
                }
            }
        }
    }

    /// Ends a leg: BYE or CANCEL toward its phone as needed, keeps a recording in progress,
    /// ends the other leg of a bridged call.
    pub(super) fn hangup(&mut self, leg_id: LegId, send_bye: bool, ctx: &mut Context<Self>) {
        let Some(mut leg) = self.calls.legs.remove(&leg_id) else {
            return;
        };
        self.calls.by_call.remove(&leg.dialog.call_id);
        let via = self.cfg.sip_addr;
        let contact = self.contact("ivm");
        if leg.established && send_bye {
            let bye = sipmsg::in_dialog(&mut leg.dialog, Method::Bye, via, &contact);
            self.send_request(leg.dialog.peer, bye, Pending::Other);
        }
        if let Some((_, inv)) = leg.out_invite.take() {
            self.send_request(leg.dialog.peer, sipmsg::cancel_for(&inv), Pending::Other);
        }
        if let Some(tx) = leg.inv_tx.take() {
            let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
            self.respond_invite(tx, 480, &tag, None);
        }
        if let Phase::Recording { .. } = leg.phase {
            if let Some((rec, to)) = take_recording(&mut leg, Stop::HungUp) {
                self.post_recording(leg_id, leg.user, to, rec, ctx);
            }
        }
        match &mut leg.kind {
            Kind::RingMe { reply, .. } => {
                if let Some(r) = reply.take() {
                    let _ = r.send(Err(StationError::NoAnswer(self.cfg.ring_timeout.as_secs())));
                }
            }
            Kind::Caller {
                callee: Some(b), ..
            } => {
                let b = *b;
                self.hangup(b, true, ctx);
            }
            Kind::Callee { caller } => {
                let a = *caller;
                self.reject(a, 480);
                self.hangup(a, true, ctx);
            }
            _ => {}
        }
        leg.span.in_scope(|| tracing::info!(ext = %leg.ext, stats = ?leg.media.session.as_ref().map(|s| s.stats()), "call ended"));
    }

    // ----- media -----

    pub(super) fn on_rtp(&mut self, msg: RtpIn, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(leg) = self.calls.legs.get_mut(&msg.leg) else {
            return;
        };
        let Some(s) = leg.media.session.as_mut() else {
            return;
        };
        s.handle_packet(now, msg.from, &msg.bytes);
        let mut events = Vec::new();
        while let Some(e) = s.poll_event() {
            events.push(e);
        }
        for e in events {
            self.on_media_event(msg.leg, e, ctx);
        }
    }

    /// Drives every leg's media and timers.
    pub(super) fn calls_tick(&mut self, now: Instant, ctx: &mut Context<Self>) {
        let ids: Vec<LegId> = self.calls.legs.keys().copied().collect();
        for id in ids {
            let mut events = Vec::new();
            let mut expired = false;
            {
                let Some(leg) = self.calls.legs.get_mut(&id) else {
                    continue;
                };
                if leg.deadline.is_some_and(|d| d <= now) {
                    leg.deadline = None;
                    expired = true;
                }
                if let Some(s) = leg.media.session.as_mut() {
                    s.handle_timeout(now);
                    while let Some(t) = s.poll_transmit(now) {
                        let _ = leg.media.port.tx.try_send((t.destination, t.payload));
                    }
                    while let Some(e) = s.poll_event() {
                        events.push(e);
                    }
                }
            }
            for e in events {
                self.on_media_event(id, e, ctx);
            }
            if expired {
                self.ring_timeout(id, ctx);
            }
        }
    }

    fn ring_timeout(&mut self, id: LegId, ctx: &mut Context<Self>) {
        let Some(leg) = self.calls.legs.get(&id) else {
            return;
        };
        leg.span
            .in_scope(|| tracing::info!("no answer within the ring timeout"));
        match &leg.kind {
            Kind::Caller { callee, .. } => {
                let callee = *callee;
                self.reject(id, 480);
                if let Some(b) = callee {
                    self.hangup(b, false, ctx);
                }
                self.hangup(id, false, ctx);
            }
            _ => self.hangup(id, false, ctx),
        }
    }

    fn play(&mut self, id: LegId, pcm: &[i16]) {
        if let Some(s) = self
            .calls
            .legs
            .get_mut(&id)
            .and_then(|l| l.media.session.as_mut())
        {
            s.play(Instant::now(), pcm);
        }
    }

    fn on_media_event(&mut self, id: LegId, ev: MediaEvent, ctx: &mut Context<Self>) {
        let silence_timeout = self.cfg.silence_timeout;
        let max = self.cfg.max_recording;
        let Some(leg) = self.calls.legs.get_mut(&id) else {
            return;
        };
        match ev {
            MediaEvent::Audio(pcm) => match &leg.phase {
                Phase::Recording { .. } => {
                    let Some(rec) = leg.recorder.as_mut() else {
                        return;
                    };
                    rec.push(&pcm);
                    let stop = if rec.is_full() {
                        Some(Stop::Full)
                    } else if rec.silence_for(silence_timeout) {
                        Some(Stop::Silence)
                    } else {
                        None
                    };
                    if let Some(stop) = stop {
                        self.stop_recording(id, stop, ctx);
                    }
                }
                Phase::Bridged => {
                    let other = match leg.kind {
                        Kind::Caller {
                            callee: Some(b), ..
                        } => b,
                        Kind::Callee { caller } => caller,
                        _ => return,
                    };
                    self.play(other, &pcm);
                }
                _ => {}
            },
            MediaEvent::Digit(d) => {
                leg.span
                    .in_scope(|| tracing::debug!(digit = %d.as_char(), "key"));
                match leg.phase.clone() {
                    Phase::Recording { .. } if d == Digit::Pound => {
                        self.stop_recording(id, Stop::Pound, ctx)
                    }
                    Phase::Intro
                    | Phase::Announce { .. }
                    | Phase::Playing { .. }
                    | Phase::Menu { .. } => self.mailbox_key(id, d, ctx),
                    _ => {}
                }
            }
            MediaEvent::PlaybackDone => match leg.phase.clone() {
                Phase::Greeting { to } => {
                    leg.phase = Phase::Recording { to };
                    leg.recorder = Some(Recorder::new(max));
                    leg.span.in_scope(|| tracing::info!("recording"));
                }
                Phase::Closing => self.hangup(id, true, ctx),
                Phase::Intro => self.mailbox_next(id, 0, ctx),
                Phase::Playing { idx } => {
                    let (user, msg) = match &leg.kind {
                        Kind::Mailbox { items } => (leg.user, items.get(idx).map(|i| i.id)),
                        _ => return,
                    };
                    leg.phase = Phase::Menu { idx };
                    if let Some(message) = msg {
                        self.clients.do_send(Receipt {
                            user,
                            message,
                            state: MailboxState::Played,
                        });
                    }
                    self.play(id, &prompts::render(&[Prompt::MENU]));
                }
                _ => {}
            },
            MediaEvent::Inactive => {
                leg.span
                    .in_scope(|| tracing::info!("no media from the phone: hanging up"));
                self.hangup(id, true, ctx);
            }
            MediaEvent::Latched(a) => leg
                .span
                .in_scope(|| tracing::debug!(source = %a, "media latched")),
        }
    }

    fn stop_recording(&mut self, id: LegId, stop: Stop, ctx: &mut Context<Self>) {
        let Some(leg) = self.calls.legs.get_mut(&id) else {
            return;
        };
        let Some((rec, to)) = take_recording(leg, stop) else {
            return;
        };
        leg.phase = Phase::Posting;
        let user = leg.user;
        leg.span.in_scope(|| {
            tracing::info!(
                ?stop,
                seconds = rec.duration().as_secs_f32(),
                "recording stopped"
            )
        });
        self.post_recording(id, user, to, rec, ctx);
    }

    /// Encodes off the async threads and posts through the client actor; then tells the
    /// phone (if it is still there).
    fn post_recording(
        &mut self,
        id: LegId,
        sender: Guid,
        to: Vec<String>,
        rec: Recorder,
        ctx: &mut Context<Self>,
    ) {
        let clients = self.clients.clone();
        let fut = async move {
            let rec = tokio::task::spawn_blocking(move || rec.finish())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let Some(rec) = rec else { return Ok(None) };
            let info = clients
                .send(PostMessage {
                    sender,
                    to,
                    audio: rec.ogg,
                    attachments: Vec::new(),
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Some(info))
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let sent = match &res {
                Ok(Some(info)) => {
                    tracing::info!(leg = id, message = %info.id, duration_ms = info.duration_ms, "message from a phone posted");
                    true
                }
                Ok(None) => {
                    tracing::info!(leg = id, "recording held no speech: dropped");
                    false
                }
                Err(e) => {
                    tracing::warn!(leg = id, error = %e, "message from a phone not posted");
                    false
                }
            };
            let Some(leg) = act.calls.legs.get_mut(&id) else { return };
            let prompt = if sent { Prompt::MESSAGE_SENT } else { Prompt::NOT_SENT };
            let mailbox = matches!(leg.kind, Kind::Mailbox { .. });
            if leg.phase != Phase::Posting {
                return;
            }
            if mailbox {
                let cur = leg.gen as usize;
                leg.phase = Phase::Menu { idx: cur };
                act.play(id, &prompts::render(&[prompt, Prompt::MENU]));
            } else {
                leg.phase = Phase::Closing;
                act.play(id, &prompts::render(&[prompt, Prompt::GOODBYE]));
            }
        }));
    }

    // ----- *97 -----

    fn load_mailbox(&mut self, id: LegId, ctx: &mut Context<Self>) {
        let Some(user) = self.calls.legs.get(&id).map(|l| l.user) else {
            return;
        };
        let db = self.db.clone();
        let fut = async move {
            database::run(&db, move |s| {
                let mut inbox: Vec<_> = s
                    .inbox(user)?
                    .into_iter()
                    .filter(|(_, st)| *st != MailboxState::Deleted)
                    .collect();
                inbox.sort_by_key(|(m, st)| {
                    (*st == MailboxState::Played, std::cmp::Reverse(m.created_at))
                });
                let mut items = Vec::new();
                let mut new = 0u32;
                for (m, st) in inbox.into_iter().take(200) {
                    if st != MailboxState::Played {
                        new += 1;
                    }
                    let sender_ext = s.user(m.sender)?.map(|u| u.extension).unwrap_or_default();
                    items.push(Item {
                        id: m.id,
                        sender_ext,
                        audio: m.audio,
                    });
                }
                Ok((items, new))
            })
            .await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let Ok((items, new)) = res else { return };
            let Some(leg) = act.calls.legs.get_mut(&id) else {
                return;
            };
            leg.span
                .in_scope(|| tracing::info!(messages = items.len(), new, "mailbox"));
            let empty = items.is_empty();
            leg.kind = Kind::Mailbox { items };
            if empty {
                leg.phase = Phase::Closing;
                act.play(
                    id,
                    &prompts::render(&[Prompt::NO_MESSAGES, Prompt::GOODBYE]),
                );
            } else {
                leg.phase = Phase::Intro;
                act.play(id, &prompts::render(&prompts::you_have(new)));
            }
        }));
    }

    /// Plays message `idx` (announcement, then its audio), or says goodbye past the end.
    fn mailbox_next(&mut self, id: LegId, idx: usize, ctx: &mut Context<Self>) {
        let Some(leg) = self.calls.legs.get_mut(&id) else {
            return;
        };
        let Kind::Mailbox { items } = &leg.kind else {
            return;
        };
        let Some(item) = items.get(idx) else {
            leg.phase = Phase::Closing;
            self.play(
                id,
                &prompts::render(&[Prompt::END_OF_MESSAGES, Prompt::GOODBYE]),
            );
            return;
        };
        let blob = item.audio.clone();
        let announce = prompts::render(&prompts::message_from_extension(&item.sender_ext));
        leg.gen = idx as u64;
        leg.phase = Phase::Announce { idx };
        self.play(id, &announce);
        let db = self.db.clone();
        let fut = async move {
            let ogg = database::run(&db, move |s| s.read_blob(&blob))
                .await
                .map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || ivm_rtp::transcode::ogg_to_pcm8k(&ogg))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let Some(leg) = act.calls.legs.get_mut(&id) else {
                return;
            };
            if leg.phase != (Phase::Announce { idx }) {
                return; // a key moved on meanwhile
            }
            match res {
                Ok(pcm) => {
                    leg.phase = Phase::Playing { idx };
                    let mut audio = tone::silence(Duration::from_millis(300));
                    audio.extend(pcm);
                    act.play(id, &audio);
                }
                Err(e) => {
                    tracing::warn!(leg = id, error = %e, "cannot play a message");
                    leg.phase = Phase::Menu { idx };
                    act.play(id, &prompts::render(&[Prompt::MENU]));
                }
            }
        }));
    }

    fn mailbox_key(&mut self, id: LegId, d: Digit, ctx: &mut Context<Self>) {
        let Some(leg) = self.calls.legs.get_mut(&id) else {
            return;
        };
        let idx = match leg.phase {
            Phase::Announce { idx } | Phase::Playing { idx } | Phase::Menu { idx } => idx,
            Phase::Intro => 0,
            _ => return,
        };
        let Kind::Mailbox { items } = &leg.kind else {
            return;
        };
        let Some(item) = items.get(idx) else { return };
        let (msg, sender_ext, user) = (item.id, item.sender_ext.clone(), leg.user);
        if let Some(s) = leg.media.session.as_mut() {
            s.stop_playback(Instant::now());
        }
        match d {
            Digit::Num(1) => self.mailbox_next(id, idx, ctx),
            Digit::Num(2) => self.mailbox_next(id, idx + 1, ctx),
            Digit::Num(3) => {
                let db = self.db.clone();
                let clients = self.clients.clone();
                ctx.spawn(
                    async move {
                        if database::run(&db, move |s| s.delete_for(msg, user))
                            .await
                            .is_ok()
                        {
                            clients.do_send(MailboxChanged { user });
                        }
                    }
                    .into_actor(self),
                );
                self.play(id, &prompts::render(&[Prompt::DELETED]));
                self.mailbox_next(id, idx + 1, ctx);
            }
            Digit::Num(4) if !sender_ext.is_empty() => {
                if let Some(leg) = self.calls.legs.get_mut(&id) {
                    leg.gen = idx as u64;
                    leg.phase = Phase::Greeting {
                        to: vec![sender_ext],
                    };
                }
                self.play(id, &greeting(true));
            }
            _ => {}
        }
    }
}

/// Takes the recorder out of a leg, with the last buffered audio and without the tail that
/// is not part of the message (the `#` click, the silence that ended it).
fn take_recording(leg: &mut Leg, stop: Stop) -> Option<(Recorder, Vec<String>)> {
    let Phase::Recording { to } = std::mem::replace(&mut leg.phase, Phase::Posting) else {
        return None;
    };
    let mut rec = leg.recorder.take()?;
    if let Some(s) = leg.media.session.as_mut() {
        s.flush();
        while let Some(e) = s.poll_event() {
            if let MediaEvent::Audio(pcm) = e {
                rec.push(&pcm);
            }
        }
    }
    let tail = match stop {
        Stop::Pound => Duration::from_millis(300),
        Stop::Silence => rec.silence().saturating_sub(Duration::from_millis(500)),
        Stop::HungUp => Duration::from_millis(200),
        Stop::Full => Duration::ZERO,
    };
    rec.drop_tail(tail);
    Some((rec, to))
}
