//! The call legs the station holds: each a phone's SIP dialog with the box, its media, and
//! the state of its INVITE, by line id and by Call-ID.

use std::collections::HashMap;

use ivm_line::Party;
use ivm_sdp::SessionDescription;
use ivm_sip::message::Request;
use ivm_sip::transaction::{Peer, TxId};

use super::media::Media;
use super::sipmsg::{self, Dialog};
use crate::media::LegId;

/// One call leg: a phone's dialog with the box, its media, and the state of its INVITE.
pub(super) struct Leg {
    /// Whose phone.
    pub party: Party,
    pub dialog: Dialog,
    /// The phone's INVITE (server transaction and request) until its final response.
    pub invite: Option<(TxId, Request)>,
    /// The phone's SDP offer, answered when the line answers.
    pub offer: Option<SessionDescription>,
    /// Our INVITE ringing the phone, until its final response.
    pub out_invite: Option<(TxId, Request)>,
    /// A 2xx was sent or received: the dialog is up.
    pub established: bool,
    /// The phone ended the dialog itself (BYE): no BYE back.
    pub hung_up: bool,
    pub media: Option<Media>,
    /// Our SDP (answer or offer), for re-INVITEs.
    pub local_sdp: Vec<u8>,
    /// The leg whose audio this one's goes to (a call between extensions).
    pub bridge: Option<LegId>,
    /// The user part of our Contact.
    pub contact_user: String,
    /// The line's span.
    pub span: tracing::Span,
}

/// Every leg, by id and by Call-ID.
#[derive(Default)]
pub(super) struct Legs {
    legs: HashMap<LegId, Leg>,
    by_call: HashMap<String, LegId>,
}

impl Legs {
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn get(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(&id)
    }

    pub fn get_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(&id)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (LegId, &mut Leg)> {
        self.legs.iter_mut().map(|(id, l)| (*id, l))
    }

    pub fn insert(&mut self, id: LegId, leg: Leg) {
        self.by_call.insert(leg.dialog.call_id.clone(), id);
        self.legs.insert(id, leg);
    }

    pub fn remove(&mut self, id: LegId) -> Option<Leg> {
        let leg = self.legs.remove(&id)?;
        self.by_call.remove(&leg.dialog.call_id);
        Some(leg)
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

    /// The leg whose phone's INVITE is server transaction `tx`, while unanswered.
    pub fn by_invite(&self, tx: TxId) -> Option<LegId> {
        self.legs
            .iter()
            .find(|(_, l)| l.invite.as_ref().is_some_and(|(t, _)| *t == tx))
            .map(|(id, _)| *id)
    }
}
