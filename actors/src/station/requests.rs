//! The transaction layer's events, and new requests dispatched by method; sending responses
//! and starting client transactions.

use std::time::Instant;

use actix::prelude::*;
use ivm_sip::message::{Method, Request, Response};
use ivm_sip::transaction::{Event, Peer, TxId};
use ivm_wire::Guid;

use super::{sipmsg, StationActor};
use crate::media::LegId;

/// What a client transaction we started is for.
pub(super) enum Pending {
    /// An INVITE ringing this leg's phone.
    Invite(LegId),
    /// A message-waiting NOTIFY.
    Notify { user: Guid },
    /// An OPTIONS qualifying this binding of `user`'s.
    Qualify {
        user: Guid,
        contact: ivm_sip::message::Uri,
    },
    /// BYE, CANCEL: nothing to do with the answer.
    Other,
}

impl StationActor {
    /// Runs the transaction layer's events through the TU and sends what it queued.
    pub(super) fn pump(&mut self, now: Instant, ctx: &mut Context<Self>) {
        for _ in 0..100_000 {
            let Some(ev) = self.layer.poll_event() else {
                break;
            };
            self.on_event(now, ev, ctx);
        }
        self.flush_sip();
    }

    /// Hands what the transaction layer queued to the SIP service.
    pub(super) fn flush_sip(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            if self.sip_out.try_send(t).is_err() {
                tracing::debug!("SIP send queue full; datagram dropped");
            }
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event, ctx: &mut Context<Self>) {
        match ev {
            Event::Request { id, peer, request } => self.on_request(now, id, peer, request, ctx),
            Event::Response { id, response } => self.on_response(now, id, response, ctx),
            Event::Ack { .. } => {}
            Event::Timeout { id, timer } => {
                tracing::debug!(tx = %id, ?timer, "transaction timed out");
                self.on_client_failure(now, id, 408, ctx);
            }
            Event::Terminated { id } => {
                self.notify_finished(now, id);
                self.pending.remove(&id);
            }
            Event::StrayResponse { peer, response } => {
                // A 2xx retransmission for an INVITE we already ACKed: ACK again.
                if response.is_success()
                    && response
                        .headers
                        .cseq()
                        .is_ok_and(|c| c.method == Method::Invite)
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

    /// Dispatches a new server transaction.
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        // RFC 3261 §8.2.2.3: option tags we do not support in Require (or Proxy-Require: we
        // are the last hop) get 420 with Unsupported (RFC 4475 `bext01`). None is supported.
        let unsupported = req.unsupported_extensions(&[]);
        if !unsupported.is_empty() {
            let mut r = req.make_response(420, None);
            r.headers.push("Unsupported", unsupported.join(", "));
            self.respond(now, id, r);
            return;
        }
        match req.method {
            Method::Register => self.on_register(now, id, peer, req, ctx),
            Method::Options => {
                // What the box offers (RFC 3261 §11.2): the methods it handles, the bodies
                // it reads, its option tags and event packages.
                let mut r = req.make_response(200, Some(&sipmsg::token()));
                sipmsg::push_capabilities(&mut r.headers);
                r.headers.push("Accept", "application/sdp");
                self.respond(now, id, r);
            }
            Method::Subscribe => self.on_subscribe(now, id, peer, req, ctx),
            Method::Invite => self.on_invite(now, id, peer, req, ctx),
            Method::Bye => self.on_bye(now, id, peer, req, ctx),
            Method::Cancel => self.on_cancel(now, id, peer, req, ctx),
            Method::Update => self.on_update(now, id, peer, &req),
            Method::Refer => self.on_refer(now, id, peer, req, ctx),
            Method::Notify | Method::Info | Method::Prack => {
                // In-dialog housekeeping we do not use: accept politely if it is one of our
                // dialogs (Call-ID, both tags, the phone's address), else 481.
                let status = if self.legs.in_dialog(&req, peer).is_some() {
                    200
                } else {
                    481
                };
                self.respond(now, id, req.make_response(status, None));
            }
            _ => {
                let mut r = req.make_response(405, None);
                r.headers.push("Allow", sipmsg::ALLOW);
                self.respond(now, id, r);
            }
        }
    }

    /// A response to a request we sent.
    fn on_response(&mut self, now: Instant, id: TxId, resp: Response, ctx: &mut Context<Self>) {
        match self.pending.get(&id) {
            Some(Pending::Invite(leg)) => {
                let leg = *leg;
                self.on_invite_response(now, leg, resp, ctx);
            }
            Some(Pending::Qualify { user, contact }) => {
                let (user, contact) = (*user, contact.clone());
                self.qualified(user, &contact);
            }
            Some(Pending::Notify { user }) if resp.status >= 200 => {
                if resp.status == 481 {
                    // The subscription is gone.
                    let user = *user;
                    self.notify_failed(user, resp.headers.call_id().unwrap_or_default());
                }
                self.notify_finished(now, id);
            }
            _ => {}
        }
    }

    /// A request we sent got no answer (`status` 408) or could not be sent.
    fn on_client_failure(&mut self, now: Instant, id: TxId, status: u16, ctx: &mut Context<Self>) {
        self.notify_finished(now, id);
        if let Some(Pending::Invite(leg)) = self.pending.get(&id) {
            let leg = *leg;
            self.on_invite_failure(now, leg, status, ctx);
        }
    }

    /// Sends a final or provisional response, logging a refused one.
    pub(super) fn respond(&mut self, now: Instant, id: TxId, resp: Response) {
        if let Err(e) = self.layer.send_response(now, id, resp) {
            tracing::debug!(tx = %id, error = %e, "response not sent");
        }
    }

    /// Sends a NOTIFY of `user`'s (message waiting, busy lamp, presence) through the NOTIFY
    /// gate: now, or once earlier ones are answered ([`super::notify_gate`]).
    pub(super) fn send_notify(&mut self, now: Instant, peer: Peer, req: Request, user: Guid) {
        let now_ready = self.notifies.offer((peer, req, user));
        self.start_notifies(now, now_ready);
    }

    /// Sends `next`, and whatever the gate lets go in place of one that could not be sent.
    fn start_notifies(&mut self, now: Instant, mut next: Option<(Peer, Request, Guid)>) {
        while let Some((peer, req, user)) = next.take() {
            if self
                .send_request(now, peer, req, Pending::Notify { user })
                .is_none()
            {
                next = self.notifies.done();
            }
        }
    }

    /// Transaction `id` ended or got its final answer: if it was a NOTIFY, it no longer counts
    /// in flight (its entry is kept as `Other` until the transaction is gone) and the next
    /// waiting one goes.
    fn notify_finished(&mut self, now: Instant, id: TxId) {
        if let Some(p @ Pending::Notify { .. }) = self.pending.get_mut(&id) {
            *p = Pending::Other;
            let next = self.notifies.done();
            self.start_notifies(now, next);
        }
    }

    /// Starts a client transaction for `req` to `peer`, remembering its purpose.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        req: Request,
        purpose: Pending,
    ) -> Option<TxId> {
        match self.layer.send_request(now, peer, req) {
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
}
