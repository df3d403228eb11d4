//! Presence: subscriptions to contacts' status, status changes, and phones as a source of presence.

use std::sync::Arc;

use actix::prelude::*;
use ivm_wire::object::push;
use ivm_wire::{Guid, Status};

use super::{ClientActor, ClientError, SessionId};
use crate::database::users::{Followable, SaveStatus, StoredStatus};

/// Follow the presence of `targets` (all the user's contacts when empty). The current status of
/// each is pushed at once, then every change.
#[derive(Message)]
#[rtype(result = "Result<(), ClientError>")]
pub struct Subscribe {
    /// The session that follows.
    pub session: SessionId,
    /// Users to follow.
    pub targets: Vec<Guid>,
}

/// Registers the watch and pushes the current presence of each target.
impl Handler<Subscribe> for ClientActor {
    type Result = ResponseActFuture<Self, Result<(), ClientError>>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        let Some(user) = self.sessions.get(&msg.session).map(|c| c.user) else {
            return Box::pin(actix::fut::ready(Err(ClientError::NoSession)));
        };
        let db = self.db.clone();
        let targets = msg.targets;
        let fut = async move { db.call(Followable { user, targets }).await };
        Box::pin(fut.into_actor(self).map(move |res, act, _| {
            let targets = res?;
            let Some(conn) = act.sessions.get_mut(&msg.session) else {
                return Err(ClientError::NoSession);
            };
            conn.watching.extend(targets.iter().copied());
            for t in &targets {
                act.watchers.entry(*t).or_default().insert(msg.session);
            }
            for t in targets {
                let frame: Arc<str> = push::presence(t, act.presence_of(t)).to_text().into();
                act.send_to(msg.session, frame);
            }
            Ok(())
        }))
    }
}

/// Stop following `targets` (everyone when empty).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The session.
    pub session: SessionId,
    /// Users to stop following.
    pub targets: Vec<Guid>,
}

/// Removes the watches.
impl Handler<Unsubscribe> for ClientActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        let Some(conn) = self.sessions.get_mut(&msg.session) else {
            return;
        };
        let targets: Vec<Guid> = if msg.targets.is_empty() {
            conn.watching.drain().collect()
        } else {
            msg.targets
        };
        for t in &targets {
            conn.watching.remove(t);
        }
        for t in targets {
            if let Some(w) = self.watchers.get_mut(&t) {
                w.remove(&msg.session);
                if w.is_empty() {
                    self.watchers.remove(&t);
                }
            }
        }
    }
}

/// A user sets their status. Available, busy and away are kept across restarts; offline hides
/// the user until they set another status or reconnect.
#[derive(Message)]
#[rtype(result = "Result<(), ClientError>")]
pub struct SetStatus {
    /// The user.
    pub user: Guid,
    /// The status chosen.
    pub status: Status,
}

/// Persists the choice, then tells the watchers.
impl Handler<SetStatus> for ClientActor {
    type Result = ResponseActFuture<Self, Result<(), ClientError>>;

    fn handle(&mut self, msg: SetStatus, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let fut = async move {
            if msg.status != Status::Offline {
                db.call(SaveStatus {
                    user: msg.user,
                    status: msg.status,
                })
                .await?;
            }
            Ok::<_, ClientError>(())
        };
        Box::pin(fut.into_actor(self).map(move |res, act, _| {
            res?;
            // A user online only through a desk phone counts too: `ivm dnd on` (or `*24`)
            // must show as busy to their contacts while they have no client open.
            if act.by_user.contains_key(&msg.user) || act.reported.contains_key(&msg.user) {
                let before = act.presence_of(msg.user);
                act.chosen.insert(msg.user, msg.status);
                if act.presence_of(msg.user) != before {
                    act.announce_presence(msg.user);
                }
            }
            Ok(())
        }))
    }
}

impl ClientActor {
    /// A user online only through phones (or other sources) shows the status they chose
    /// (do-not-disturb is "busy"), read from the store: a client session would have
    /// brought it at connect. Until the read returns they show as available.
    fn load_chosen(&mut self, user: Guid, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move { db.call(StoredStatus { user }).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let stored = match res {
                Ok(Status::Offline) => return,
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, %user, "cannot read the user's chosen status");
                    return;
                }
            };
            // Only if nothing newer decided it meanwhile (a session, a SetStatus, gone).
            if act.reported.contains_key(&user)
                && !act.by_user.contains_key(&user)
                && !act.chosen.contains_key(&user)
            {
                act.chosen.insert(user, stored);
                if stored != Status::Available {
                    act.announce_presence(user);
                }
            }
        }));
    }
}

/// The live presence of each of these users, in order.
#[derive(Message)]
#[rtype(result = "Vec<Status>")]
pub struct GetPresence(pub Vec<Guid>);

/// Reads presence from the session table.
impl Handler<GetPresence> for ClientActor {
    type Result = MessageResult<GetPresence>;
    fn handle(&mut self, msg: GetPresence, _: &mut Context<Self>) -> Self::Result {
        MessageResult(msg.0.iter().map(|u| self.presence_of(*u)).collect())
    }
}

/// Where a user's presence comes from besides the client sessions this actor holds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceSource {
    /// A SIP desk phone (the station reports a user's registrations together).
    DeskPhone,
    /// An analog phone behind a media gateway.
    AnalogLine,
    /// A web or `ivm` client session held elsewhere (this actor's own sessions are counted
    /// by [`super::Connect`] and [`super::Disconnect`]).
    Browser,
    /// A session on another box of the global tier.
    RemoteBox,
}

impl PresenceSource {
    const ALL: [PresenceSource; 4] = [
        PresenceSource::DeskPhone,
        PresenceSource::AnalogLine,
        PresenceSource::Browser,
        PresenceSource::RemoteBox,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceSource::DeskPhone => "desk phone",
            PresenceSource::AnalogLine => "analog line",
            PresenceSource::Browser => "browser",
            PresenceSource::RemoteBox => "remote box",
        }
    }
}

/// One user's reported presence: how many of each source are online. Counted per source so
/// that two sources never clobber each other (an analog line going off-line does not take
/// the user's registered desk phone with it), and counted rather than flagged so a source
/// may report each of its devices.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sources([u32; 4]);

impl Sources {
    /// One more of `source` online.
    fn up(&mut self, source: PresenceSource) {
        let n = &mut self.0[source.index()];
        *n = n.saturating_add(1);
    }

    /// One fewer of `source`; a report of one that was never online changes nothing.
    fn down(&mut self, source: PresenceSource) {
        let n = &mut self.0[source.index()];
        *n = n.saturating_sub(1);
    }

    /// Nothing online.
    fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// What is online, for logs.
    fn online(&self) -> Vec<&'static str> {
        PresenceSource::ALL
            .iter()
            .filter(|s| self.0[s.index()] > 0)
            .map(|s| s.as_str())
            .collect()
    }
}

/// A device of `source` for `user` came online or went off-line: it counts as a session for
/// presence, so a user whose desk phone is registered shows as available. A source that reports
/// only its transitions for a user (the station: online at the first registration, off-line at the
/// end of the last) counts as one.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PhonePresence {
    /// The user.
    pub user: Guid,
    /// Which source reports.
    pub source: PresenceSource,
    /// Online (one more) or off-line (one fewer).
    pub online: bool,
}

/// Counts the report and tells watchers when presence changes.
impl Handler<PhonePresence> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: PhonePresence, ctx: &mut Context<Self>) {
        if self.going_down {
            return;
        }
        let before = self.presence_of(msg.user);
        if msg.online && before == Status::Offline && !self.chosen.contains_key(&msg.user) {
            self.load_chosen(msg.user, ctx);
        }
        let sources = self.reported.entry(msg.user).or_default();
        if msg.online {
            sources.up(msg.source);
        } else {
            sources.down(msg.source);
        }
        let online = sources.online();
        if sources.is_empty() {
            self.reported.remove(&msg.user);
            if !self.by_user.contains_key(&msg.user) {
                self.chosen.remove(&msg.user);
            }
        }
        match msg.source {
            // The end-to-end tests of desk phones wait for this line.
            PresenceSource::DeskPhone => {
                tracing::info!(user = %msg.user, online = msg.online, sources = ?online, "desk phone presence")
            }
            other => {
                tracing::info!(user = %msg.user, source = other.as_str(), online = msg.online, sources = ?online, "presence reported")
            }
        }
        if self.presence_of(msg.user) != before {
            self.announce_presence(msg.user);
        }
    }
}
