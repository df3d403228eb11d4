//! SIP dialogs <-> lines. Every call leg is one line of the exchange (the same id) and one
//! SIP dialog: an inbound INVITE opens a line and feeds it what was dialled; a line's
//! signalling actions become SIP here (answer with SDP, refuse, 180, ring a phone with an
//! INVITE, end the dialog); BYE, CANCEL and the answers to our INVITEs go back to the line.
//! Why every call ends on the box (a B2BUA): `docs/decisions/0002-calls.md`.

use std::time::Instant;

use actix::prelude::*;
use ivm_line::{Input, Origin, Party, Reason, RingFailure};
use ivm_sdp::{Direction, LocalMedia, SessionDescription};
use ivm_sip::message::{Message, Method, Request, Response};
use ivm_sip::transaction::{canonical_ip, Peer, TxId};

use super::auth::Authed;
use super::legs::Leg;
use super::media;
use super::registrar::Binding;
use super::requests::Pending;
use super::sipmsg::{self, Dialog};
use super::{auto_answer, status, StationActor};
use crate::media::LegId;

impl StationActor {
    /// An INVITE: a re-INVITE inside one of our dialogs, or a new call, which opens a line
    /// once the phone has authenticated and offered media the box can answer.
    pub(super) fn on_invite(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        if sipmsg::tag_of(req.headers.get("To")).is_some() {
            self.on_reinvite(now, id, peer, &req);
            return;
        }
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        if self.legs.by_call_id(&call_id).is_some() {
            self.respond(now, id, req.make_response(482, None));
            return;
        }
        let (user, ext) = match self.authenticate(now, id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let offer = match SessionDescription::parse(&req.body) {
            Ok(o) if media::acceptable(&o) => o,
            _ => {
                tracing::info!(%ext, peer = %peer.addr, "INVITE with media the box cannot answer (488)");
                self.respond(now, id, req.make_response(488, None));
                return;
            }
        };
        let dial = sipmsg::request_user(&req).unwrap_or_default();
        let party = Party { user, ext };
        let line = self.exchange.open(party.clone(), &dial);
        let span = self
            .exchange
            .span(line)
            .cloned()
            .unwrap_or_else(tracing::Span::none);
        span.in_scope(|| tracing::info!(peer = %peer.addr, %call_id, "INVITE"));
        let tag = sipmsg::token();
        let dialog = Dialog {
            call_id,
            local: sipmsg::with_tag(req.headers.get("To").unwrap_or_default(), &tag),
            remote: req.headers.get("From").unwrap_or_default().to_owned(),
            target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
            cseq: 0,
            peer,
        };
        self.legs.insert(
            line,
            Leg {
                party,
                dialog,
                invite: Some((id, req)),
                offer: Some(offer),
                out_invite: None,
                established: false,
                hung_up: false,
                media: None,
                local_sdp: Vec::new(),
                bridge: None,
                contact_user: dial.clone(),
                span,
            },
        );
        self.feed(now, line, Input::Dialled(dial), ctx);
    }

    /// A re-INVITE (session refresh, hold, resume): answered like [`Self::on_update`], 200
    /// with our SDP, which answers the phone's offer or, when it made none, is our offer
    /// (its answer comes in the ACK; the box's media stays as it is).
    fn on_reinvite(&mut self, now: Instant, id: TxId, peer: Peer, req: &Request) {
        match self.renegotiate(now, peer, req) {
            Ok((tag, contact, body)) => {
                let mut r = sipmsg::with_contact(req.make_response(200, Some(&tag)), &contact);
                sipmsg::push_capabilities(&mut r.headers);
                let r = sipmsg::with_body(r, "application/sdp", body);
                self.respond(now, id, r);
            }
            Err(status) => self.refuse_offer(now, id, req, status),
        }
    }

    /// UPDATE (RFC 3311): an SDP offer inside the dialog gets 200 with our answer, as a
    /// re-INVITE would; one without SDP (a refresh) a bare 200.
    pub(super) fn on_update(&mut self, now: Instant, id: TxId, peer: Peer, req: &Request) {
        if req.body.is_empty() {
            let status = if self.legs.in_dialog(req, peer).is_some() {
                200
            } else {
                481
            };
            self.respond(now, id, req.make_response(status, None));
            return;
        }
        match self.renegotiate(now, peer, req) {
            Ok((tag, contact, body)) => {
                let r = sipmsg::with_contact(req.make_response(200, Some(&tag)), &contact);
                let r = sipmsg::with_body(r, "application/sdp", body);
                self.respond(now, id, r);
            }
            Err(status) => self.refuse_offer(now, id, req, status),
        }
    }

    /// Refuses an in-dialog offer; the call goes on as it was (RFC 3261 §14.2). A 500
    /// (an offer before the call has media) says when to try again (RFC 3311 §5.2).
    fn refuse_offer(&mut self, now: Instant, id: TxId, req: &Request, status: u16) {
        let mut r = req.make_response(status, None);
        if status == 500 {
            r.headers.push("Retry-After", "1");
        }
        self.respond(now, id, r);
    }

    /// The answer to an offer inside a call (re-INVITE or UPDATE), applied to the leg's
    /// media: our tag, our Contact and the SDP to send, or the status to refuse with. Only
    /// inside the dialog (Call-ID, both tags, the phone's address): else 481.
    ///
    /// Hold (RFC 3264 §6.1, §8.4): an offer `sendonly` is answered `recvonly` and
    /// `inactive` `inactive`; the box then sends no RTP toward the phone and does not take
    /// its silence for a vanished phone until an offer `sendrecv` resumes the call. The old
    /// hold (`c=0.0.0.0`, RFC 2543) stops sending too. The other party of a call between
    /// extensions hears music on hold meanwhile (`hold.rs`).
    fn renegotiate(
        &mut self,
        now: Instant,
        peer: Peer,
        req: &Request,
    ) -> Result<(String, String, Vec<u8>), u16> {
        let id = self.legs.in_dialog(req, peer).ok_or(481u16)?;
        let via = self.cfg.sip_addr;
        let timeout = self.cfg.media_timeout;
        let leg = self.legs.get_mut(id).ok_or(481u16)?;
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        let contact = sipmsg::contact_uri_for(&leg.contact_user, via, leg.dialog.peer.transport);
        if req.body.is_empty() {
            return Ok((tag, contact, leg.local_sdp.clone()));
        }
        let offer = SessionDescription::parse(&req.body).map_err(|_| 488u16)?;
        let media = match leg.media.as_mut() {
            Some(m) if leg.established => m,
            _ => return Err(500),
        };
        let mut local = media.local.clone();
        local.session_version += 1;
        let (answer, neg) = ivm_sdp::answer(&offer, &local).map_err(|_| 488u16)?;
        media.local = local;
        let remote = media::usable_remote(&neg);
        let send =
            remote.is_some() && matches!(neg.direction, Direction::SendRecv | Direction::SendOnly);
        let receive = matches!(neg.direction, Direction::SendRecv | Direction::RecvOnly);
        match media.session.as_mut() {
            Some(s) => {
                let codec = media::rtp_codec(neg.codec);
                if remote.is_some_and(|r| r != s.remote()) || codec != s.codec() {
                    if let Some(r) = remote {
                        s.set_remote(r, codec);
                    }
                }
                s.set_direction(now, send, receive);
            }
            None => {
                media.session = media::session_for(&neg, peer, timeout, now);
                if let Some(s) = media.session.as_mut() {
                    s.set_direction(now, send, receive);
                }
            }
        }
        let held = !(send && receive);
        leg.span.in_scope(|| {
            tracing::info!(
                direction = neg.direction.as_str(),
                held,
                "media renegotiated"
            )
        });
        let body = answer.encode();
        leg.local_sdp = body.clone();
        // The box no longer sends to the phone: it holds, the other party hears music.
        self.hold_changed(now, id, !send);
        Ok((tag, contact, body))
    }

    /// The line answers its phone's INVITE: a media port, the SDP answer, 200.
    pub(super) fn answer(&mut self, now: Instant, id: LegId, ctx: &mut Context<Self>) {
        let Some(leg) = self.legs.get(id) else {
            return;
        };
        let Some((tx, _)) = leg.invite else {
            return;
        };
        if !self.layer.is_pending(tx) {
            // Gone meanwhile (the transaction ended): as if cancelled.
            self.exchange.handle(now, id, Input::Cancelled);
            return;
        }
        let peer = leg.dialog.peer;
        let Some(mut media) = self.open_media(id, peer, ctx) else {
            self.exchange
                .handle(now, id, Input::AnswerFailed(Reason::NoResources));
            return;
        };
        let timeout = self.cfg.media_timeout;
        let contact = self.contact(&leg.contact_user, peer.transport);
        let answered = leg
            .offer
            .as_ref()
            .and_then(|offer| ivm_sdp::answer(offer, &media.local).ok())
            .and_then(|(answer, neg)| {
                media::session_for(&neg, peer, timeout, now).map(|s| (answer, s))
            });
        let Some((answer, session)) = answered else {
            self.exchange
                .handle(now, id, Input::AnswerFailed(Reason::NotAcceptable));
            return;
        };
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let Some((tx, req)) = leg.invite.take() else {
            return;
        };
        let body = answer.encode();
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        leg.span
            .in_scope(|| tracing::info!(remote = %session.remote(), "answered"));
        media.session = Some(session);
        leg.media = Some(media);
        leg.offer = None;
        leg.local_sdp = body.clone();
        leg.established = true;
        let mut r = sipmsg::with_contact(req.make_response(200, Some(&tag)), &contact);
        sipmsg::push_capabilities(&mut r.headers);
        let r = sipmsg::with_body(r, "application/sdp", body);
        self.respond(now, tx, r);
    }

    /// The line refuses its phone's INVITE.
    pub(super) fn reject(&mut self, now: Instant, id: LegId, reason: &Reason) {
        self.final_response(now, id, status::of_reason(reason));
    }

    /// The callee's phone rings: 180 to the caller, with our tag.
    pub(super) fn ringback(&mut self, now: Instant, id: LegId) {
        let Some(leg) = self.legs.get(id) else {
            return;
        };
        let Some((tx, req)) = &leg.invite else {
            return;
        };
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        let r = req.make_response(180, Some(&tag));
        let tx = *tx;
        self.respond(now, tx, r);
    }

    /// A final response to the phone's INVITE, if it has had none.
    fn final_response(&mut self, now: Instant, id: LegId, status: u16) {
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let Some((tx, req)) = leg.invite.take() else {
            return;
        };
        let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
        self.respond(now, tx, req.make_response(status, Some(&tag)));
    }

    /// The line rings its phone: the user's latest registration, a media port, our INVITE.
    pub(super) fn ring(
        &mut self,
        now: Instant,
        id: LegId,
        to: Party,
        from: Origin,
        ctx: &mut Context<Self>,
    ) {
        let span = self
            .exchange
            .span(id)
            .cloned()
            .unwrap_or_else(tracing::Span::none);
        let Some(binding) = self.reg.latest(to.user).cloned() else {
            span.in_scope(|| tracing::info!("no registered phone to ring"));
            self.exchange
                .handle(now, id, Input::RingFailed(RingFailure::Unreachable));
            return;
        };
        let Some(media) = self.open_media(id, binding.peer, ctx) else {
            self.exchange
                .handle(now, id, Input::RingFailed(RingFailure::NoResources));
            return;
        };
        let realm = &self.cfg.realm;
        let (from_hdr, contact_user) = match &from {
            Origin::Service => (
                format!(
                    "\"Record a message\" <sip:ivm@{realm}>;tag={}",
                    sipmsg::token()
                ),
                "ivm".to_owned(),
            ),
            Origin::Party(p) => (
                format!("\"{0}\" <sip:{0}@{realm}>;tag={1}", p.ext, sipmsg::token()),
                p.ext.clone(),
            ),
            Origin::Intercom(p) => {
                let user = if p.ext.is_empty() { "intercom" } else { &p.ext };
                (
                    format!(
                        "\"Intercom {0}\" <sip:{user}@{realm}>;tag={1}",
                        p.ext,
                        sipmsg::token()
                    ),
                    user.to_owned(),
                )
            }
        };
        let to_hdr = format!("<sip:{}@{realm}>", binding.ext);
        let call_id = sipmsg::token();
        let (mut inv, body) = self.invite(
            &binding,
            &from_hdr,
            &to_hdr,
            &call_id,
            &contact_user,
            &media.local,
        );
        if matches!(from, Origin::Intercom(_)) {
            let vendor = self.intercom.vendor(to.user);
            let box_uri = format!("sip:{}", self.cfg.sip_addr);
            for (name, value) in auto_answer::headers(vendor, &box_uri) {
                inv.headers.push(name, value);
            }
            span.in_scope(|| tracing::info!(?vendor, "intercom: auto-answer asked"));
        }
        let Some(tx) = self.send_request(now, binding.peer, inv.clone(), Pending::Invite(id))
        else {
            self.exchange.handle(
                now,
                id,
                Input::RingFailed(RingFailure::Internal("cannot send INVITE".into())),
            );
            return;
        };
        self.legs.insert(
            id,
            Leg {
                party: to,
                dialog: Dialog {
                    call_id,
                    local: from_hdr,
                    remote: to_hdr,
                    target: binding.contact.clone(),
                    cseq: 1,
                    peer: binding.peer,
                },
                invite: None,
                offer: None,
                out_invite: Some((tx, inv)),
                established: false,
                hung_up: false,
                media: Some(media),
                local_sdp: body,
                bridge: None,
                contact_user,
                span,
            },
        );
        self.exchange.handle(now, id, Input::Alerting);
    }

    /// The one outbound INVITE: from us to a registered phone, with our SDP offer.
    fn invite(
        &self,
        binding: &Binding,
        from: &str,
        to: &str,
        call_id: &str,
        contact_user: &str,
        local: &LocalMedia,
    ) -> (Request, Vec<u8>) {
        let mut inv = sipmsg::request(
            Method::Invite,
            binding.contact.clone(),
            self.cfg.sip_addr,
            binding.peer,
            from,
            to,
            call_id,
            1,
            &self.contact(contact_user, binding.peer.transport),
        );
        // RFC 3261 §13.2.1: an INVITE says what its sender handles, so the phone knows
        // which requests it may send inside the call (UPDATE, INFO, ...).
        sipmsg::push_capabilities(&mut inv.headers);
        let body = ivm_sdp::offer(local).encode();
        inv.headers.push("Content-Type", "application/sdp");
        inv.body = body.clone();
        (inv, body)
    }

    /// The line is finished: end what is still up toward the phone (BYE, CANCEL, a final
    /// response), free its media, unbridge.
    pub(super) fn release(&mut self, now: Instant, id: LegId) {
        self.ring_me.remove(&id);
        self.refers.remove(id);
        self.music_ends_for(now, id);
        self.intercom_released(id);
        let Some(mut leg) = self.legs.remove(id) else {
            return;
        };
        let via = self.cfg.sip_addr;
        let contact = self.contact(&leg.contact_user, leg.dialog.peer.transport);
        if leg.established && !leg.hung_up {
            let bye = sipmsg::in_dialog(&mut leg.dialog, Method::Bye, via, &contact);
            self.send_request(now, leg.dialog.peer, bye, Pending::Other);
        }
        if let Some((_, inv)) = leg.out_invite.take() {
            self.send_request(
                now,
                leg.dialog.peer,
                sipmsg::cancel_for(&inv),
                Pending::Other,
            );
        }
        if let Some((tx, req)) = leg.invite.take() {
            let tag = sipmsg::tag_of(Some(&leg.dialog.local)).unwrap_or_default();
            self.respond(now, tx, req.make_response(480, Some(&tag)));
        }
        // Unless a transfer has bridged that leg to another meanwhile.
        if let Some(peer) = leg.bridge.and_then(|b| self.legs.get_mut(b)) {
            if peer.bridge == Some(id) {
                peer.bridge = None;
            }
        }
        let stats = leg
            .media
            .as_ref()
            .and_then(|m| m.session.as_ref())
            .map(|s| s.stats());
        leg.span
            .in_scope(|| tracing::info!(ext = %leg.party.ext, ?stats, "call ended"));
    }

    /// A response to our INVITE ringing leg `id`'s phone.
    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        id: LegId,
        resp: Response,
        ctx: &mut Context<Self>,
    ) {
        if resp.status < 200 {
            // The caller already heard 180 when our INVITE went out.
            return;
        }
        if !resp.is_success() {
            self.on_invite_failure(now, id, resp.status, ctx);
            return;
        }
        let via = self.cfg.sip_addr;
        let timeout = self.cfg.media_timeout;
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        let peer = leg.dialog.peer;
        let contact = sipmsg::contact_uri_for(&leg.contact_user, via, peer.transport);
        let Some((_, inv)) = leg.out_invite.take() else {
            // A retransmitted 2xx: ACK again.
            self.reack(peer, &resp);
            return;
        };
        let ack = sipmsg::ack_for(&inv, &resp, via, peer, &contact);
        self.layer.send_stateless(peer, &Message::Request(ack));
        leg.dialog.remote = resp.headers.get("To").unwrap_or_default().to_owned();
        if let Some(t) = sipmsg::contact_uri(&resp.headers) {
            leg.dialog.target = t;
        }
        leg.established = true;
        let session = leg.media.as_mut().and_then(|m| {
            let neg = SessionDescription::parse(&resp.body)
                .ok()
                .and_then(|a| ivm_sdp::accept_answer(&a, &m.local).ok())?;
            m.session = media::session_for(&neg, peer, timeout, now);
            m.session.as_ref().map(|s| s.remote())
        });
        let input = match session {
            Some(_) => {
                leg.span.in_scope(|| tracing::info!("answered"));
                Input::Answered
            }
            None => {
                leg.span
                    .in_scope(|| tracing::warn!("answer without usable SDP; hanging up"));
                Input::RingFailed(RingFailure::NoAnswer)
            }
        };
        self.feed(now, id, input, ctx);
    }

    /// Our INVITE failed with `status` (408 when it timed out).
    pub(super) fn on_invite_failure(
        &mut self,
        now: Instant,
        id: LegId,
        status: u16,
        ctx: &mut Context<Self>,
    ) {
        let Some(leg) = self.legs.get_mut(id) else {
            return;
        };
        leg.out_invite = None;
        leg.span
            .in_scope(|| tracing::info!(status, "call not answered"));
        self.feed(
            now,
            id,
            Input::RingFailed(status::ring_failure(status)),
            ctx,
        );
    }

    /// ACKs a retransmitted 2xx to our INVITE again.
    pub(super) fn reack(&mut self, peer: Peer, resp: &Response) {
        let call_id = resp.headers.call_id().unwrap_or_default();
        let Some(leg) = self.legs.by_call_id(call_id).and_then(|l| self.legs.get(l)) else {
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
            &self.contact(&leg.contact_user, peer.transport),
        );
        ack.headers.set("CSeq", format!("{seq} ACK"));
        self.layer.send_stateless(peer, &Message::Request(ack));
    }

    /// A BYE ends its leg only from inside the dialog (Call-ID, both tags, the phone's
    /// address); anything else gets 481 and the call stays up.
    pub(super) fn on_bye(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        match self.legs.in_dialog(&req, peer) {
            Some(leg) => {
                self.respond(now, id, req.make_response(200, None));
                if let Some(l) = self.legs.get_mut(leg) {
                    l.hung_up = true;
                    l.span.in_scope(|| tracing::info!("hung up by the phone"));
                }
                self.feed(now, leg, Input::HungUp, ctx);
            }
            None => {
                if self
                    .legs
                    .by_call_id(req.headers.call_id().unwrap_or_default())
                    .is_some()
                {
                    tracing::info!(peer = %peer.addr, "BYE outside the call's dialog refused (481)");
                }
                self.respond(now, id, req.make_response(481, None))
            }
        }
    }

    /// A CANCEL must come from the address the INVITE came from (its branch alone can be
    /// sniffed).
    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let ip = canonical_ip(peer.addr.ip());
        let target = self.layer.cancel_target(&req).filter(|t| {
            self.layer
                .server_peer(*t)
                .is_some_and(|p| canonical_ip(p.addr.ip()) == ip)
        });
        let Some(target) = target else {
            self.respond(now, id, req.make_response(481, None));
            return;
        };
        self.respond(now, id, req.make_response(200, None));
        if let Some(leg) = self.legs.by_invite(target) {
            if let Some(l) = self.legs.get(leg) {
                l.span
                    .in_scope(|| tracing::info!("cancelled by the caller"));
            }
            self.feed(now, leg, Input::Cancelled, ctx);
        }
    }
}
