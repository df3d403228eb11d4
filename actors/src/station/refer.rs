//! Blind transfer over SIP (REFER, RFC 3515): a phone in a call between extensions sends
//! REFER with `Refer-To: <sip:EXT@box>` inside its dialog; the box accepts it (202), feeds
//! its line [`Input::Transfer`], and reports the progress with NOTIFYs of `Event: refer`
//! whose `message/sipfrag` bodies are the status lines of the box's call to the target:
//! `100 Trying` at once, then `200 OK` when the target answered (the other party is now
//! connected to it, and the box ends the transferor's leg) or the failure (`404`, `486`,
//! `480`, ...; the call goes on).
//!
//! Only from inside the dialog (Call-ID, both tags, the phone's address, else 481), from a
//! phone that authenticates as the leg's own user (else 401/403): a REFER makes the box
//! place a call, so it is held to the same standard as an INVITE. Out-of-dialog REFER
//! (a REFER creating its own dialog) is refused with 403.
//!
//! Attended transfer (RFC 5589): the phone has a second call, to the target, and names
//! that call's dialog in the Refer-To (`<sip:EXT@box?Replaces=call-id%3Bto-tag%3D..%3B
//! from-tag%3D..>`). It must be one of the same user's legs (both tags, either way
//! round); the line core joins the two other parties and both of the phone's legs end. A
//! dialog the box does not have is reported as `481` in the final NOTIFY.

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;
use ivm_line::{Input, Reason};
use ivm_sip::message::{Method, NameAddr, Request};
use ivm_sip::transaction::{Peer, TxId};

use super::auth::Authed;
use super::requests::Pending;
use super::{sipmsg, status, StationActor};
use crate::media::LegId;

/// Transfers in progress, by the transferor's leg: the `id` of their `Event: refer`
/// subscription (the REFER's CSeq number, RFC 3515 §2.4.6).
#[derive(Default)]
pub(super) struct Refers {
    pending: HashMap<LegId, u32>,
}

impl Refers {
    /// The leg is gone: its transfer (if any) with it.
    pub fn remove(&mut self, leg: LegId) {
        self.pending.remove(&leg);
    }
}

/// What a `Refer-To` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Blind: call this extension.
    Extension(String),
    /// Attended (`?Replaces=`, RFC 3891): the phone's other call, this dialog.
    Replaces { call_id: String, tags: [String; 2] },
}

/// What a `Refer-To` value asks for, or the status to refuse it with.
fn target_of(refer_to: Option<&str>) -> Result<Target, u16> {
    let na = NameAddr::parse(refer_to.ok_or(400u16)?).map_err(|_| 400u16)?;
    let uri = na.uri.as_sip().ok_or(416u16)?;
    if let Some((_, v)) = uri
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Replaces"))
    {
        return replaces(&percent_decode(v)).ok_or(400);
    }
    uri.user_unescaped()
        .filter(|u| !u.is_empty())
        .map(Target::Extension)
        .ok_or(404u16)
}

/// A `Replaces` value: `call-id;to-tag=..;from-tag=..` (either order, both needed).
fn replaces(v: &str) -> Option<Target> {
    let mut parts = v.split(';');
    let call_id = parts.next()?.trim().to_owned();
    let (mut to, mut from) = (None, None);
    for p in parts {
        match p.trim().split_once('=') {
            Some((n, t)) if n.eq_ignore_ascii_case("to-tag") => to = Some(t.to_owned()),
            Some((n, t)) if n.eq_ignore_ascii_case("from-tag") => from = Some(t.to_owned()),
            _ => {}
        }
    }
    (!call_id.is_empty()).then_some(())?;
    Some(Target::Replaces {
        call_id,
        tags: [to?, from?],
    })
}

/// `%XX` escapes decoded (a URI header's value); a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The NOTIFY body: the status line of the box's call to the target.
fn sipfrag(code: u16) -> Vec<u8> {
    let phrase = ivm_sip::message::reason_phrase(code);
    format!("SIP/2.0 {code} {phrase}\r\n").into_bytes()
}

impl StationActor {
    /// A REFER.
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        if sipmsg::tag_of(req.headers.get("To")).is_none() {
            tracing::info!(peer = %peer.addr, "REFER outside a call refused (403)");
            self.respond(now, id, req.make_response(403, None));
            return;
        }
        let Some(leg) = self.legs.in_dialog(&req, peer) else {
            tracing::info!(peer = %peer.addr, "REFER outside the call's dialog refused (481)");
            self.respond(now, id, req.make_response(481, None));
            return;
        };
        let user = match self.authenticate(now, id, peer, &req, ctx) {
            Authed::Yes(u, _) => u,
            Authed::Handled => return,
        };
        let Some(l) = self.legs.get(leg) else {
            self.respond(now, id, req.make_response(481, None));
            return;
        };
        let span = l.span.clone();
        let owner = l.party.user;
        let in_call = l.bridge.is_some() && l.established;
        let tag = sipmsg::tag_of(Some(&l.dialog.local)).unwrap_or_default();
        let contact = self.contact(&l.contact_user, peer.transport);
        let _entered = span.enter();
        if owner != user {
            tracing::warn!(peer = %peer.addr, "REFER authenticated as another user refused (403)");
            self.respond(now, id, req.make_response(403, None));
            return;
        }
        let target = match target_of(req.headers.get("Refer-To")) {
            Ok(t) => t,
            Err(code) => {
                tracing::info!(code, refer_to = ?req.headers.get("Refer-To"), "REFER refused");
                self.respond(now, id, req.make_response(code, None));
                return;
            }
        };
        if self.refers.pending.contains_key(&leg) {
            self.respond(now, id, req.make_response(491, None));
            return;
        }
        if !in_call {
            tracing::info!("REFER outside a call between extensions refused (403)");
            self.respond(now, id, req.make_response(403, None));
            return;
        }
        let r = sipmsg::with_contact(req.make_response(202, Some(&tag)), &contact);
        self.respond(now, id, r);
        let sub = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        self.refers.pending.insert(leg, sub);
        tracing::info!(?target, "REFER accepted");
        self.refer_notify(now, leg, 100);
        let input = match target {
            Target::Extension(ext) => Input::Transfer(ext),
            Target::Replaces { call_id, tags } => match self.replaced_leg(&call_id, &tags) {
                Some(other) if other != leg => Input::Replace(other),
                _ => {
                    tracing::info!("attended transfer: no such call");
                    self.refer_notify(now, leg, 481);
                    self.refers.pending.remove(&leg);
                    return;
                }
            },
        };
        drop(_entered);
        self.feed(now, leg, input, ctx);
    }

    /// The leg whose dialog a `Replaces` names: its Call-ID, and its two tags either way
    /// round (the line core checks it is the same user's call).
    fn replaced_leg(&self, call_id: &str, tags: &[String; 2]) -> Option<LegId> {
        let id = self.legs.by_call_id(call_id)?;
        let d = &self.legs.get(id)?.dialog;
        let ours = sipmsg::tag_of(Some(&d.local))?;
        let theirs = sipmsg::tag_of(Some(&d.remote))?;
        let matches =
            (tags[0] == ours && tags[1] == theirs) || (tags[0] == theirs && tags[1] == ours);
        matches.then_some(id)
    }

    /// The line's transfer ended: the final NOTIFY.
    pub(super) fn transferred(&mut self, now: Instant, leg: LegId, outcome: &Result<(), Reason>) {
        let code = match outcome {
            Ok(()) => 200,
            Err(r) => status::of_reason(r),
        };
        self.refer_notify(now, leg, code);
        self.refers.pending.remove(&leg);
    }

    /// A NOTIFY of the transfer's progress in the leg's dialog: `code` as a sipfrag, the
    /// subscription active while provisional and terminated with the final.
    fn refer_notify(&mut self, now: Instant, leg: LegId, code: u16) {
        let Some(&sub) = self.refers.pending.get(&leg) else {
            return;
        };
        let via = self.cfg.sip_addr;
        let Some(l) = self.legs.get_mut(leg) else {
            return;
        };
        if l.hung_up {
            return;
        }
        let contact = sipmsg::contact_uri_for(&l.contact_user, via, l.dialog.peer.transport);
        let mut n = sipmsg::in_dialog(&mut l.dialog, Method::Notify, via, &contact);
        n.headers.push("Event", format!("refer;id={sub}"));
        n.headers.push(
            "Subscription-State",
            if code < 200 {
                "active;expires=60".to_owned()
            } else {
                "terminated;reason=noresource".to_owned()
            },
        );
        n.headers
            .push("Content-Type", "message/sipfrag;version=2.0");
        n.body = sipfrag(code);
        let peer = l.dialog.peer;
        l.span
            .in_scope(|| tracing::info!(code, "transfer progress notified"));
        self.send_request(now, peer, n, Pending::Other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_names_an_extension_or_the_call_to_replace() {
        let ext = |e: &str| Ok(Target::Extension(e.into()));
        assert_eq!(target_of(Some("<sip:203@127.0.0.1:5060>")), ext("203"));
        assert_eq!(target_of(Some("sip:203@ivm")), ext("203"));
        assert_eq!(target_of(None), Err(400));
        assert_eq!(target_of(Some("<tel:+15551234>")), Err(416));
        assert_eq!(target_of(Some("<sip:ivm.example>")), Err(404));
        assert_eq!(
            target_of(Some(
                "<sip:203@ivm?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"
            )),
            Ok(Target::Replaces {
                call_id: "abc@h".into(),
                tags: ["1".into(), "2".into()]
            })
        );
        assert_eq!(
            target_of(Some("<sip:203@ivm?Replaces=abc%3Bto-tag%3D1>")),
            Err(400),
            "both tags"
        );
        assert_eq!(percent_decode("a%3Bb%zz%4"), "a;b%zz%4");
        assert_eq!(sipfrag(200), b"SIP/2.0 200 OK\r\n");
        assert_eq!(sipfrag(404), b"SIP/2.0 404 Not Found\r\n");
    }
}
