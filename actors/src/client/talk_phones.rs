//! Desk phones in live talks (intercom, issue 13): the client manager's side.
//!
//! The talk core ([`ivm_talk::Talks`]) and the live/stored split stay in `talk.rs`; this file
//! is what phones add. As listeners: when a talk starts, the station (registered with
//! [`AddIntercomPhones`]) is asked to call the idle phones of the recipients who are
//! available ([`IntercomRing`]); each accepted portion goes to it too ([`IntercomPortion`],
//! decoded and played as G.711 off the actors), and the end ([`IntercomOver`]). A phone that
//! answered reports [`IntercomHeard`]: its user is marked as having played the stored copy,
//! as a browser listener is; a phone that is busy or does not answer reports nothing, so its
//! user finds the copy as new (the fallback). As speakers (`*8`): [`PhoneTalkStart`],
//! [`PhoneTalkPortion`] and [`PhoneTalkEnd`] feed the same core with the phone's user as the
//! speaker, the station having authenticated the phone, where a browser's come with its
//! WebSocket session.

use actix::prelude::*;
use ivm_wire::talk::{Portion, StreamId};
use ivm_wire::Guid;

use super::talk::TalkRequestError;
use super::ClientActor;

/// A live talk is for these users: call their idle desk phones with the auto-answer. The
/// answer says whether any phone is being called (if none, the talk's portions need not go
/// to the station).
#[derive(Message, Debug, Clone)]
#[rtype(result = "bool")]
pub struct IntercomRing {
    /// The talk.
    pub stream: StreamId,
    /// Who speaks.
    pub speaker: Guid,
    /// Recipients who are available (not on do-not-disturb, not offline).
    pub users: Vec<Guid>,
}

/// One accepted portion of a talk whose recipients' phones were called.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct IntercomPortion {
    /// The talk.
    pub stream: StreamId,
    /// Its sequence number (gaps are portions lost on the speaker's side).
    pub seq: u32,
    /// One Opus packet.
    pub opus: Vec<u8>,
}

/// A talk the phones were told about has ended (its phones finish playing, then hang up; a
/// phone speaking it hangs up).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct IntercomOver {
    /// The talk.
    pub stream: StreamId,
}

/// Where the client manager reaches the desk phones (the station actor).
#[derive(Clone)]
pub struct IntercomPhones {
    /// Call the phones.
    pub ring: Recipient<IntercomRing>,
    /// The talk's audio.
    pub portion: Recipient<IntercomPortion>,
    /// The talk's end.
    pub over: Recipient<IntercomOver>,
}

/// The station registers itself as the box's desk phones.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddIntercomPhones(pub IntercomPhones);

/// A user's phone answered a talk: they heard it live.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct IntercomHeard {
    /// The talk.
    pub stream: StreamId,
    /// Whose phone.
    pub user: Guid,
}

/// A desk phone dialled `*8`: start a talk from its (authenticated) user.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<StreamId, TalkRequestError>")]
pub struct PhoneTalkStart {
    /// The phone's user.
    pub speaker: Guid,
    /// Recipients, resolved from what was dialled.
    pub recipients: Vec<Guid>,
}

/// One portion of a phone's talk.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), TalkRequestError>")]
pub struct PhoneTalkPortion {
    /// The phone's user: the only sender the core accepts for the stream.
    pub speaker: Guid,
    /// The portion.
    pub portion: Portion,
}

/// The phone hung up or pressed `#`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(), TalkRequestError>")]
pub struct PhoneTalkEnd {
    /// The phone's user.
    pub speaker: Guid,
    /// The talk.
    pub stream: StreamId,
}

impl ClientActor {
    /// Asks the station to call the idle phones of `users`; whether it was asked. The
    /// portions go to it until it answers that it called none.
    pub(super) fn ring_phones(
        &self,
        stream: StreamId,
        speaker: Guid,
        users: &[Guid],
        ctx: &mut Context<Self>,
    ) -> bool {
        let Some(p) = &self.phones else {
            return false;
        };
        if users.is_empty() {
            return false;
        }
        let asked = p.ring.send(IntercomRing {
            stream,
            speaker,
            users: users.to_vec(),
        });
        ctx.spawn(asked.into_actor(self).map(move |rang, act, _| {
            if !matches!(rang, Ok(true)) {
                act.no_phones_rung(stream);
            }
        }));
        true
    }

    /// One portion to the phones of a talk they were called for.
    pub(super) fn portion_to_phones(&self, stream: StreamId, seq: u32, opus: &[u8]) {
        if let Some(p) = &self.phones {
            p.portion.do_send(IntercomPortion {
                stream,
                seq,
                opus: opus.to_vec(),
            });
        }
    }

    /// The talk ended: the phones that hear or speak it hang up.
    pub(super) fn talk_over_for_phones(&self, stream: StreamId) {
        if let Some(p) = &self.phones {
            p.over.do_send(IntercomOver { stream });
        }
    }
}

/// Keeps the station as the box's desk phones.
impl Handler<AddIntercomPhones> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: AddIntercomPhones, _: &mut Context<Self>) {
        self.phones = Some(msg.0);
    }
}

/// Counts the user as a live listener of the talk (played when it is stored).
impl Handler<IntercomHeard> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: IntercomHeard, _: &mut Context<Self>) {
        self.heard_on_phone(msg.stream, msg.user);
    }
}

/// Starts a talk whose speaker is a phone's user.
impl Handler<PhoneTalkStart> for ClientActor {
    type Result = Result<StreamId, TalkRequestError>;
    fn handle(&mut self, msg: PhoneTalkStart, ctx: &mut Context<Self>) -> Self::Result {
        self.start_talk(msg.speaker, msg.recipients, 20, true, false, ctx)
            .map(|a| a.stream)
    }
}

/// A phone's portion into the core.
impl Handler<PhoneTalkPortion> for ClientActor {
    type Result = Result<(), TalkRequestError>;
    fn handle(&mut self, msg: PhoneTalkPortion, ctx: &mut Context<Self>) -> Self::Result {
        let r = self
            .talks
            .portion(std::time::Instant::now(), msg.speaker, msg.portion);
        self.drive_talks(ctx);
        Ok(r?)
    }
}

/// A phone's end of talk into the core.
impl Handler<PhoneTalkEnd> for ClientActor {
    type Result = Result<(), TalkRequestError>;
    fn handle(&mut self, msg: PhoneTalkEnd, ctx: &mut Context<Self>) -> Self::Result {
        let r = self
            .talks
            .end(std::time::Instant::now(), msg.speaker, msg.stream);
        self.drive_talks(ctx);
        Ok(r?)
    }
}
