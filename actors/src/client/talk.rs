//! Intercom (live talk, issue 13): the client manager drives one [`ivm_talk::Talks`].
//!
//! The core decides (order, size, pace, ownership, every way a talk ends); this file only
//! moves its inputs and outputs: [`TalkStart`] picks who hears it live (online and
//! available) and who gets the stored copy only, and tells the live listeners
//! (`talk_incoming`); [`TalkPortion`] and [`TalkEnd`] come from the speaker's socket with
//! the user that socket authenticated; each [`Event::Forward`] goes to every live listener's
//! sessions on their lossy portion lane ([`super::Outbox::push_portion`]), so a slow
//! listener loses portions for itself alone; each [`Event::Pages`] goes to the talk's journal
//! on disk (`talk_store.rs`: a crash keeps what arrived); each [`Event::Ended`] is committed
//! through the same path as any post ([`super::PostPrepared`]'s), with its waveform and the
//! journal's end in the same commit, then `talk_end` goes to the speaker and the listeners,
//! and those who heard it live to its end (still connected, never gone mid-talk) have it
//! marked played. Nothing here blocks:
//! building the Ogg copy is byte copying inside the core, the commit runs on the database
//! threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use ivm_store::Advanced;
use ivm_talk::{Ended, Event, TalkError};
use ivm_wire::object::{push, ReceiptObject};
use ivm_wire::talk::{
    talk_ended, talk_incoming, Portion, StreamId, TalkAcceptedObject, TalkEndedObject,
    TalkIncomingObject,
};
use ivm_wire::{Guid, MailboxState, Status};

use super::post::{Audio, Draft};
use super::{ClientActor, SessionId};
use crate::database::messages::PlayedBy;

/// What the actor keeps about a live talk beside the core's state.
#[derive(Debug, Clone)]
pub(super) struct LiveTalk {
    /// The speaker.
    speaker: Guid,
    /// Every recipient (live and stored): the stored copy goes to all of them.
    recipients: Vec<Guid>,
    /// Recipients who hear it live.
    live: Vec<Guid>,
    /// Of those, the ones with a browser or `ivm` session when it started.
    browsers: Vec<Guid>,
    /// Recipients whose desk phone answered it.
    heard: Vec<Guid>,
    /// The phones were called for it (they get its portions and its end).
    phones: bool,
    /// Spoken from a desk phone (`*8`): the speaker's sockets do not carry it.
    from_phone: bool,
    /// An all-call: the stored copy is marked urgent.
    urgent: bool,
    /// Live listeners whose last session closed during the talk: not marked played.
    left: Vec<Guid>,
}

/// Why a talk request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TalkRequestError {
    /// The session is not (or no longer) registered.
    #[error("no such session")]
    NoSession,
    /// The box is shutting down.
    #[error("the server is going down")]
    GoingDown,
    /// The core refused it (the message names the rule).
    #[error(transparent)]
    Talk(#[from] TalkError),
}

/// `talk_start` from a session: start a talk from its user to `recipients`.
#[derive(Message)]
#[rtype(result = "Result<TalkAcceptedObject, TalkRequestError>")]
pub struct TalkStart {
    /// The speaker's session (the speaker is its authenticated user).
    pub session: SessionId,
    /// Recipients' GUIDs.
    pub recipients: Vec<Guid>,
    /// Portion length: 20, 40 or 60 ms.
    pub frame_ms: u16,
    /// An all-call ([`super::AllCallStart`] expands the group and checks the permission):
    /// `talk_incoming` and the stored copy say so.
    pub urgent: bool,
}

/// A binary portion frame from a session, decoded.
#[derive(Message)]
#[rtype(result = "Result<(), TalkRequestError>")]
pub struct TalkPortion {
    /// The session it came on: its user is the only sender the core will accept.
    pub session: SessionId,
    /// The portion.
    pub portion: Portion,
}

/// `talk_end` from a session.
#[derive(Message)]
#[rtype(result = "Result<(), TalkRequestError>")]
pub struct TalkEnd {
    /// The session it came on.
    pub session: SessionId,
    /// The talk.
    pub stream: StreamId,
}

impl ClientActor {
    pub(super) fn session_user(&self, session: SessionId) -> Result<Guid, TalkRequestError> {
        self.sessions
            .get(&session)
            .map(|c| c.user)
            .ok_or(TalkRequestError::NoSession)
    }

    /// Acts on everything the core has to say, then sets the next timer.
    pub(super) fn drive_talks(&mut self, ctx: &mut Context<Self>) {
        while let Some(ev) = self.talks.poll_event() {
            match ev {
                Event::Forward(f) => self.forward_portion(f.stream, f.seq, f.opus),
                Event::Pages(p) => self.journal_pages(p),
                Event::Ended(e) => self.talk_ended(e, ctx),
            }
        }
        if let Some(h) = self.talk_timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(at) = self.talks.poll_timeout() {
            let wait = at.saturating_duration_since(Instant::now());
            self.talk_timer = Some(ctx.run_later(wait, |act, ctx| {
                act.talk_timer = None;
                act.talks.timeout(Instant::now());
                act.drive_talks(ctx);
            }));
        }
    }

    /// One portion to every session of every live listener, on their lossy lanes, and to
    /// the phones called for it.
    fn forward_portion(&mut self, stream: StreamId, seq: u32, opus: Vec<u8>) {
        let Some(live) = self.live_talks.get(&stream) else {
            return;
        };
        if live.phones {
            self.portion_to_phones(stream, seq, &opus);
        }
        let frame = match (Portion {
            stream,
            seq,
            last: false,
            opus,
        })
        .encode()
        {
            Ok(f) => Arc::<[u8]>::from(f),
            Err(e) => {
                tracing::warn!(stream, error = %e, "portion could not be re-encoded");
                return;
            }
        };
        for user in &live.live {
            for id in self.by_user.get(user).into_iter().flatten() {
                if let Some(c) = self.sessions.get(id) {
                    if !c.outbox.push_portion(frame.clone()) {
                        tracing::debug!(
                            stream,
                            seq,
                            session = id,
                            "listener slow: portion dropped"
                        );
                    }
                }
            }
        }
    }

    /// A talk ended: store what arrived as an ordinary message, then tell everyone.
    fn talk_ended(&mut self, e: Ended, ctx: &mut Context<Self>) {
        let Some(live) = self.live_talks.remove(&e.stream) else {
            return;
        };
        if live.phones || live.from_phone {
            self.talk_over_for_phones(e.stream);
        }
        tracing::info!(stream = e.stream, reason = ?e.reason, lost = e.lost, refused = e.refused, "talk ended");
        let Some(stored) = e.stored else {
            self.drop_journal(e.stream);
            self.announce_end(&live, e.stream, e.reason, 0, None);
            return;
        };
        let duration_ms = stored.duration_ms;
        let to: Vec<String> = live.recipients.iter().map(Guid::to_string).collect();
        let (sender, partial, urgent) = (live.speaker, e.reason.is_partial(), live.urgent);
        let reason = e.reason;
        let stream = e.stream;
        // The journal closed and the waveform made (codec budget), then the one post path.
        let post = self.close_journal(stream, stored).into_actor(self).then(
            move |(talk, audio), act: &mut ClientActor, _| {
                let draft = Draft {
                    sender,
                    to,
                    audio: Audio::Prepared(audio),
                    attachments: Vec::new(),
                    partial,
                    urgent,
                    talk,
                    incoming: None,
                };
                act.post(draft, None)
            },
        );
        let db = self.db.clone();
        // Only listeners still there at the end heard it: one whose sessions all closed
        // during the talk stays `new` (it missed the rest, whether or not it came back).
        let listeners = self.heard_to_the_end(&live);
        // Commit, then mark it played for those who heard it live, then tell everyone: a
        // `talk_end` names a message that is already in every inbox in its final state.
        let done = post.then(move |res, act: &mut ClientActor, _| {
            let message = match res {
                Ok(p) => Some(p.info.id),
                Err(err) => {
                    tracing::warn!(stream, error = %err, "talk's stored copy was not committed");
                    None
                }
            };
            let marks = async move {
                let Some(message) = message else {
                    return (None, Vec::new());
                };
                let users = listeners.clone();
                let marked = match db.call(PlayedBy { message, users }).await {
                    Ok(done) => listeners
                        .into_iter()
                        .zip(done)
                        .filter_map(|(user, d)| match d {
                            Advanced::Done {
                                sender,
                                changed: true,
                            } => Some((user, sender)),
                            _ => None,
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(%message, error = %e, "could not mark a heard talk played");
                        Vec::new()
                    }
                };
                (Some(message), marked)
            };
            marks.into_actor(act)
        });
        ctx.spawn(done.map(move |(message, marked), act, _| {
            for (user, sender) in marked {
                act.mailbox_changed(user);
                if let Some(message) = message {
                    act.push_to_user(
                        sender,
                        &push::receipt(ReceiptObject {
                            message,
                            recipient: user,
                            state: MailboxState::Played,
                        }),
                    );
                }
            }
            act.announce_end(&live, stream, reason, duration_ms, message);
        }));
    }

    /// A user's last session closed: they stop being a listener who hears a talk to its end.
    pub(super) fn listener_left(&mut self, user: Guid) {
        for t in self.live_talks.values_mut() {
            if t.live.contains(&user) && !t.left.contains(&user) {
                t.left.push(user);
            }
        }
    }

    /// Live listeners who heard `live` to its end: never left, and connected now.
    fn heard_to_the_end(&self, live: &LiveTalk) -> Vec<Guid> {
        let mut heard: Vec<Guid> = live
            .browsers
            .iter()
            .filter(|u| !live.left.contains(u))
            .filter(|u| self.by_user.get(u).is_some_and(|s| !s.is_empty()))
            .copied()
            .collect();
        // A desk phone that answered heard it to its end (the line is released only then).
        for u in &live.heard {
            if !heard.contains(u) {
                heard.push(*u);
            }
        }
        heard
    }

    /// `talk_end` to the speaker and every live listener.
    fn announce_end(
        &mut self,
        live: &LiveTalk,
        stream: StreamId,
        reason: ivm_wire::talk::TalkEndReason,
        duration_ms: u32,
        message: Option<Guid>,
    ) {
        let frame: Arc<str> = talk_ended(&TalkEndedObject {
            stream,
            reason,
            partial: reason.is_partial(),
            duration_ms,
            message,
        })
        .to_text()
        .into();
        self.push_frame_to_user(live.speaker, frame.clone());
        for u in &live.live {
            for id in self.by_user.get(u).into_iter().flatten() {
                if let Some(c) = self.sessions.get(id) {
                    let dropped = c.outbox.portions_dropped();
                    if dropped > 0 {
                        tracing::info!(stream, session = id, user = %u, dropped, "slow listener: portions dropped on its lane (this session, so far)");
                    }
                }
            }
            self.push_frame_to_user(*u, frame.clone());
        }
    }
}

/// Starts the talk in the core, splits the recipients into live and stored, tells the live.
impl Handler<TalkStart> for ClientActor {
    type Result = Result<TalkAcceptedObject, TalkRequestError>;

    fn handle(&mut self, msg: TalkStart, ctx: &mut Context<Self>) -> Self::Result {
        let speaker = self.session_user(msg.session)?;
        self.start_talk(
            speaker,
            msg.recipients,
            msg.frame_ms,
            false,
            msg.urgent,
            ctx,
        )
    }
}

impl ClientActor {
    /// Starts a talk from `speaker` (a session's user, or a desk phone's): splits the
    /// recipients into live (available: their sessions and idle phones) and stored, tells
    /// the live sessions and asks the station to call the phones.
    pub(super) fn start_talk(
        &mut self,
        speaker: Guid,
        recipients: Vec<Guid>,
        frame_ms: u16,
        from_phone: bool,
        urgent: bool,
        ctx: &mut Context<Self>,
    ) -> Result<TalkAcceptedObject, TalkRequestError> {
        if self.going_down {
            return Err(TalkRequestError::GoingDown);
        }
        let stream = self
            .talks
            .start(Instant::now(), speaker, recipients, frame_ms)?;
        let Some(talk) = self.talks.get(stream) else {
            return Err(TalkError::UnknownStream(stream).into());
        };
        let recipients = talk.recipients().to_vec();
        let max_ms = talk.config().max_ms;
        let (live, stored): (Vec<Guid>, Vec<Guid>) = recipients
            .iter()
            .partition(|r| self.presence_of(**r) == Status::Available);
        let incoming: Arc<str> = talk_incoming(&TalkIncomingObject {
            stream,
            from: speaker,
            frame_ms,
            codec: "opus".into(),
            urgent,
        })
        .to_text()
        .into();
        for u in &live {
            self.push_frame_to_user(*u, incoming.clone());
        }
        let browsers: Vec<Guid> = live
            .iter()
            .copied()
            .filter(|u| self.by_user.get(u).is_some_and(|s| !s.is_empty()))
            .collect();
        let phones = self.ring_phones(stream, speaker, &live, ctx);
        tracing::info!(stream, %speaker, live = live.len(), stored = stored.len(), phones, urgent, "talk started");
        self.open_journal(stream, speaker, &recipients, urgent);
        self.live_talks.insert(
            stream,
            LiveTalk {
                speaker,
                recipients,
                live: live.clone(),
                browsers,
                heard: Vec::new(),
                phones,
                from_phone,
                urgent,
                left: Vec::new(),
            },
        );
        self.drive_talks(ctx);
        Ok(TalkAcceptedObject {
            stream,
            frame_ms,
            max_ms,
            live,
            stored,
        })
    }

    /// The station called no phone for the talk: its portions stay here.
    pub(super) fn no_phones_rung(&mut self, stream: StreamId) {
        if let Some(t) = self.live_talks.get_mut(&stream) {
            t.phones = false;
        }
    }

    /// Whether `user` speaks a talk from a desk phone now.
    pub(super) fn talks_from_phone(&self, user: Guid) -> bool {
        self.live_talks
            .values()
            .any(|t| t.speaker == user && t.from_phone)
    }

    /// A recipient's phone answered the talk: they count as having heard it live.
    pub(super) fn heard_on_phone(&mut self, stream: StreamId, user: Guid) {
        if let Some(t) = self.live_talks.get_mut(&stream) {
            if t.recipients.contains(&user) && !t.heard.contains(&user) {
                tracing::info!(stream, %user, "talk heard on a desk phone");
                t.heard.push(user);
            }
        }
    }
}

/// One portion into the core, from the user of the session it came on.
impl Handler<TalkPortion> for ClientActor {
    type Result = Result<(), TalkRequestError>;

    fn handle(&mut self, msg: TalkPortion, ctx: &mut Context<Self>) -> Self::Result {
        let sender = self.session_user(msg.session)?;
        let r = self.talks.portion(Instant::now(), sender, msg.portion);
        self.drive_talks(ctx);
        Ok(r?)
    }
}

/// `talk_end` into the core.
impl Handler<TalkEnd> for ClientActor {
    type Result = Result<(), TalkRequestError>;

    fn handle(&mut self, msg: TalkEnd, ctx: &mut Context<Self>) -> Self::Result {
        let sender = self.session_user(msg.session)?;
        let r = self.talks.end(Instant::now(), sender, msg.stream);
        self.drive_talks(ctx);
        Ok(r?)
    }
}

/// The actor's live talks, beside the core's table.
pub(super) type LiveTalks = HashMap<StreamId, LiveTalk>;
