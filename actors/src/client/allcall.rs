//! All-call (issue 13): a priority talk to a group (or the built-in `everyone`) from a user
//! allowed to make one (admins by default).
//!
//! [`AllCallStart`] checks the permission and expands the group in one database trip
//! ([`AllCallRecipients`]), then starts an ordinary talk to the members (the speaker left
//! out) through [`TalkStart`] with `urgent` set, in the same actor turn that read the
//! answer: the split into live and stored is the plain talk's (online and available hear
//! it live; offline, busy and do-not-disturb get the stored copy), `talk_incoming` says
//! `urgent`, and the stored copy is marked urgent in every inbox.

use actix::prelude::*;
use ivm_wire::talk::TalkAcceptedObject;

use super::talk::{TalkRequestError, TalkStart};
use super::{ClientActor, SessionId};
use crate::database::groups::{AllCallRecipients, AllCallRefused};
use crate::database::DbError;

/// Why an all-call was refused.
#[derive(Debug, thiserror::Error)]
pub enum AllCallError {
    /// Not allowed, no such group, nobody in it but the speaker.
    #[error(transparent)]
    Refused(#[from] AllCallRefused),
    /// The talk itself was refused (already talking, the box is busy, too many members).
    #[error(transparent)]
    Talk(#[from] TalkRequestError),
    /// The database could not answer.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// `talk_start` with a group: an all-call from the session's user.
#[derive(Message)]
#[rtype(result = "Result<TalkAcceptedObject, AllCallError>")]
pub struct AllCallStart {
    /// The speaker's session (the speaker is its authenticated user).
    pub session: SessionId,
    /// A group's name, or `everyone`.
    pub group: String,
    /// Portion length: 20, 40 or 60 ms.
    pub frame_ms: u16,
}

/// Checks and expands on a database thread, then starts the talk as urgent.
impl Handler<AllCallStart> for ClientActor {
    type Result = ResponseActFuture<Self, Result<TalkAcceptedObject, AllCallError>>;

    fn handle(&mut self, msg: AllCallStart, _: &mut Context<Self>) -> Self::Result {
        let speaker = match self.session_user(msg.session) {
            Ok(s) => s,
            Err(e) => return Box::pin(fut::ready(Err(e.into()))),
        };
        let db = self.db.clone();
        let group = msg.group.clone();
        let lookup = async move { db.call(AllCallRecipients { speaker, group }).await };
        Box::pin(lookup.into_actor(self).map(move |res, act, ctx| {
            let recipients = res??;
            tracing::info!(%speaker, group = %msg.group, members = recipients.len(), "all-call");
            let start = TalkStart {
                session: msg.session,
                recipients,
                frame_ms: msg.frame_ms,
                urgent: true,
            };
            Ok(<ClientActor as Handler<TalkStart>>::handle(
                act, start, ctx,
            )?)
        }))
    }
}
