//! The client actor: the founding document's client manager.
//!
//! It keeps one [`Connection`] per connected session, derives each user's presence from their
//! sessions, their phones and their chosen status, pings every session periodically and drops those
//! that stop answering, pushes new messages to online recipients and receipts to senders, and hands
//! queued messages to a client when it checks in (store-and-forward: a recipient who is not
//! connected gets the message when they connect).
//!
//! The socket itself belongs to a task in the HTTP service; the actor only holds that task's
//! [`Outbox`]. Everything blocking goes to the database manager ([`Db`]) or
//! [`crate::codec::run`].
//!
//! # Layout
//! - this file: the actor, its state and the helpers its handlers share.
//! - `sessions.rs`: [`Connect`], [`Disconnect`], [`Seen`], [`CheckIn`], [`GetStats`],
//!   [`GoingDown`].
//! - `presence.rs`: [`Subscribe`], [`Unsubscribe`], [`SetStatus`], [`GetPresence`],
//!   [`PhonePresence`].
//! - `mailbox.rs`: who is told when a mailbox changes ([`MailboxChanged`]).
//! - `presence_feed.rs`: who is told each user's presence as it is announced
//!   ([`PresenceChanged`]: the station's contact keys).
//! - `post.rs`: [`PostMessage`], [`PostOnce`], [`PostPrepared`]; `commit.rs`: the post's
//!   one database trip; `receipts.rs`: [`Receipt`], [`Receipts`].
//! - `handle.rs`: [`ClientHandle`], the client manager as services reach it.
//! - `talk.rs`: intercom, [`TalkStart`], [`TalkPortion`], [`TalkEnd`] around one
//!   `ivm_talk::Talks`; `allcall.rs`: [`AllCallStart`], a talk to a group, marked urgent;
//!   `talk_store.rs`: each live talk's journal on disk, and
//!   [`recover_talks`], what a crash cut off stored at start-up.
//! - `connection.rs`: the connection object and its outbox (a lossless control lane and a
//!   lossy portion lane); `rate.rs`: posts per minute.

mod allcall;
mod commit;
mod connection;
mod handle;
mod mailbox;
mod post;
mod presence;
mod presence_feed;
pub mod rate;
mod receipts;
mod sessions;
mod talk;
mod talk_phones;
mod talk_store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use actix::WeakAddr;
use ivm_wire::object::{push, Envelope};
use ivm_wire::{Guid, Priority, Status};
use tokio::sync::oneshot;

use crate::database::users::EndedSessions;
use crate::database::{Db, DbError};

pub use allcall::{AllCallError, AllCallStart};
pub use connection::{
    outbox, Connection, Outbound, Outbox, OutboxError, OutboxReceiver, SessionId, PORTION_FRAMES,
};
pub use handle::{ClientHandle, Reaches};
pub use mailbox::{AddMailboxListener, MailboxChanged};
pub use post::{
    check_attachment_name, Incoming, NewAttachment, PostError, PostGlobal, PostMessage, PostOnce,
    PostPrepared, Posted, PreparedAudio,
};
pub use presence::{GetPresence, PhonePresence, PresenceSource, SetStatus, Subscribe, Unsubscribe};
pub use presence_feed::{AddPresenceListener, PresenceChanged};
pub use receipts::{Receipt, Receipts};
pub use sessions::{CheckIn, ClientStats, Connect, Disconnect, GetStats, GoingDown, Seen};
pub use talk::{TalkEnd, TalkPortion, TalkRequestError, TalkStart};
pub use talk_phones::{
    AddIntercomPhones, IntercomHeard, IntercomOver, IntercomPhones, IntercomPortion, IntercomRing,
    PhoneTalkEnd, PhoneTalkPortion, PhoneTalkStart,
};
pub use talk_store::{recover_talks, Recovered};

/// Settings of the client manager.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time between pings to each session.
    pub ping_interval: Duration,
    /// Longest voice message accepted, in seconds.
    pub max_message_seconds: u32,
    /// Bytes of audio and attachments a user's existing sent messages may hold; 0 = no quota.
    pub user_quota_bytes: u64,
    /// Messages a user may send per minute; 0 = no limit.
    pub messages_per_minute: u32,
    /// The box's global name when the global link is on: recipients `user@<other box>` are
    /// then users of other boxes (`docs/global.md`); `None`, they are refused as unknown.
    pub global_box: Option<String>,
}

/// Default per-user quota: 512 MiB, about 20 uploads at the largest size, or days of speech
/// (Opus at about 3 KB a second); sixteen users at their quota still fit an 8 GB data disk.
pub const DEFAULT_USER_QUOTA_BYTES: u64 = 512 * 1024 * 1024;
/// Default messages per user per minute: 30, one every two seconds; people recording and
/// sending by hand do not come near it.
pub const DEFAULT_MESSAGES_PER_MINUTE: u32 = 30;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ping_interval: Duration::from_secs(30),
            max_message_seconds: 600,
            user_quota_bytes: DEFAULT_USER_QUOTA_BYTES,
            messages_per_minute: DEFAULT_MESSAGES_PER_MINUTE,
            global_box: None,
        }
    }
}

/// The client manager.
pub struct ClientActor {
    db: Db,
    cfg: ClientConfig,
    sessions: HashMap<SessionId, Connection>,
    by_user: HashMap<Guid, Vec<SessionId>>,
    /// Status chosen by each online user (what contacts see while they are connected).
    chosen: HashMap<Guid, Status>,
    /// For each user, the sessions that follow their presence.
    watchers: HashMap<Guid, HashSet<SessionId>>,
    next_session: SessionId,
    next_ping: u64,
    /// Posts accepted and not yet committed: shutdown waits for them.
    in_flight: usize,
    drained: Vec<oneshot::Sender<()>>,
    going_down: bool,
    /// Presence reported by other sources (desk phones, analog lines, ...), counted per source for
    /// each user: any of them counts as a session for presence.
    reported: HashMap<Guid, presence::Sources>,
    /// Told when a user's mailbox changes (the station actor's message-waiting lamps).
    mailbox_listeners: Vec<Recipient<MailboxChanged>>,
    /// Told every user's presence as it is announced (the station's contact keys).
    presence_listeners: Vec<Recipient<PresenceChanged>>,
    /// Posts per sender in the last minute.
    post_rate: rate::PostRate,
    /// Live talks (intercom): the core's table and what the actor keeps beside it.
    talks: ivm_talk::Talks,
    live_talks: talk::LiveTalks,
    /// The timer set at the core's `poll_timeout`.
    talk_timer: Option<SpawnHandle>,
    /// The desk phones (the station), for talks to and from them.
    phones: Option<IntercomPhones>,
    /// This actor, for the messages it sends itself ([`DriveTalks`]); weak, so it does not
    /// keep itself alive.
    me: Option<WeakAddr<ClientActor>>,
    /// Each live talk's journal (its copy made durable as it is spoken).
    talk_journals: HashMap<ivm_wire::talk::StreamId, talk_store::TalkWriter>,
}

impl ClientActor {
    /// A client manager over the database manager `db` (a [`Db`], or the database actor's
    /// address).
    pub fn new(db: impl Into<Db>, cfg: ClientConfig) -> Self {
        let talk_cfg = ivm_talk::TalkConfig::new(20)
            .unwrap_or_else(|_| unreachable!())
            .with_max_ms(cfg.max_message_seconds.saturating_mul(1000));
        ClientActor {
            post_rate: rate::PostRate::new(cfg.messages_per_minute),
            db: db.into(),
            cfg,
            sessions: HashMap::new(),
            by_user: HashMap::new(),
            chosen: HashMap::new(),
            watchers: HashMap::new(),
            next_session: 1,
            next_ping: 1,
            in_flight: 0,
            drained: Vec::new(),
            going_down: false,
            reported: HashMap::new(),
            mailbox_listeners: Vec::new(),
            presence_listeners: Vec::new(),
            talks: ivm_talk::Talks::with_config(talk_cfg, ivm_talk::DEFAULT_MAX_TALKS),
            live_talks: HashMap::new(),
            talk_timer: None,
            phones: None,
            talk_journals: HashMap::new(),
            me: None,
        }
    }

    /// The presence others see for `user` now.
    fn presence_of(&self, user: Guid) -> Status {
        if self.by_user.get(&user).is_some_and(|s| !s.is_empty())
            || self.reported.contains_key(&user)
        {
            self.chosen.get(&user).copied().unwrap_or(Status::Available)
        } else {
            Status::Offline
        }
    }

    /// Queues `env` to one session; drops the session if it cannot keep up.
    fn send_to(&mut self, session: SessionId, frame: Arc<str>) {
        let Some(conn) = self.sessions.get(&session) else {
            return;
        };
        match conn.outbox.push(Outbound::Frame(frame)) {
            Ok(()) => {}
            Err(OutboxError::Full) => {
                tracing::warn!(
                    session,
                    pending = conn.outbox.pending_bytes(),
                    "client too slow; dropping its session (its messages stay queued)"
                );
                let _ = conn.outbox.push(Outbound::Close {
                    code: 1008,
                    reason: "too slow".into(),
                });
                self.remove_session(session);
            }
            Err(OutboxError::Closed) => self.remove_session(session),
        }
    }

    /// Queues `env` to every session of `user`, higher priority first.
    fn push_to_user(&mut self, user: Guid, env: &Envelope) {
        self.push_frame_to_user(user, env.to_text().into());
    }

    /// Queues an encoded frame to every session of `user`, higher priority first.
    fn push_frame_to_user(&mut self, user: Guid, frame: Arc<str>) {
        let Some(ids) = self.by_user.get(&user) else {
            return;
        };
        let mut ids = ids.clone();
        ids.sort_by_key(|id| {
            self.sessions
                .get(id)
                .map(|c| c.priority)
                .unwrap_or(Priority::Unknown)
        });
        for id in ids {
            self.send_to(id, frame.clone());
        }
    }

    /// Tells everyone watching `user` their presence now.
    fn announce_presence(&mut self, user: Guid) {
        let status = self.presence_of(user);
        self.feed_presence(user, status);
        let Some(w) = self.watchers.get(&user) else {
            return;
        };
        let frame: Arc<str> = push::presence(user, status).to_text().into();
        for id in w.clone() {
            self.send_to(id, frame.clone());
        }
    }

    /// Forgets a session and updates presence if it was the user's last one.
    fn remove_session(&mut self, session: SessionId) {
        let Some(conn) = self.sessions.remove(&session) else {
            return;
        };
        for target in &conn.watching {
            if let Some(w) = self.watchers.get_mut(target) {
                w.remove(&session);
                if w.is_empty() {
                    self.watchers.remove(target);
                }
            }
        }
        let last = match self.by_user.get_mut(&conn.user) {
            Some(ids) => {
                ids.retain(|id| *id != session);
                ids.is_empty()
            }
            None => true,
        };
        if last {
            // The speaker's last socket closed: their talk ends as partial, now, whichever
            // path removed the session (a close, a ping timeout, a login that ended, a client
            // too slow): the core's events are acted on by the next message, since paths
            // without a context get here too. Not a talk they speak from a desk phone, which
            // the phone's call ends. A live listener no longer hears it to the end.
            if !self.talks_from_phone(conn.user) {
                self.talks.speaker_gone(Instant::now(), conn.user);
            }
            self.listener_left(conn.user);
            if let Some(me) = self.me.as_ref().and_then(WeakAddr::upgrade) {
                me.do_send(DriveTalks);
            }
            self.by_user.remove(&conn.user);
            if !self.reported.contains_key(&conn.user) {
                self.chosen.remove(&conn.user);
            }
            self.announce_presence(conn.user);
        }
        tracing::info!(session, user = %conn.user, "client session ended");
    }

    fn finish_post(&mut self) {
        self.in_flight -= 1;
        if self.in_flight == 0 {
            for w in self.drained.drain(..) {
                let _ = w.send(());
            }
        }
    }

    /// Pings every session and drops those that have not been heard from for two intervals.
    fn ping_all(&mut self) {
        let deadline = self.cfg.ping_interval * 2 + Duration::from_secs(1);
        let now = Instant::now();
        let (dead, alive): (Vec<_>, Vec<_>) = self
            .sessions
            .iter()
            .map(|(id, c)| (*id, now.duration_since(c.last_seen) > deadline))
            .partition(|(_, dead)| *dead);
        for (id, _) in dead {
            if let Some(c) = self.sessions.get(&id) {
                tracing::info!(session = id, user = %c.user, "no answer to pings; marking offline");
                let _ = c.outbox.push(Outbound::Close {
                    code: 1001,
                    reason: "ping timeout".into(),
                });
            }
            self.remove_session(id);
        }
        let frame: Arc<str> = push::ping(&format!("p{}", self.next_ping)).to_text().into();
        self.next_ping += 1;
        for (id, _) in alive {
            self.send_to(id, frame.clone());
        }
    }

    /// Checks every session's login token against the store (off this thread) and closes
    /// the sessions whose token was logged out, expired, or ended by a password change or a
    /// deleted account: an open socket must not outlive its credentials.
    fn revalidate(&mut self, ctx: &mut Context<Self>) {
        let held: Vec<(SessionId, Guid, String)> = self
            .sessions
            .iter()
            .filter_map(|(id, c)| c.token.clone().map(|t| (*id, c.user, t)))
            .collect();
        if held.is_empty() {
            return;
        }
        let db = self.db.clone();
        let check = async move {
            db.call(EndedSessions {
                held,
                now: SystemTime::now(),
            })
            .await
        };
        ctx.spawn(check.into_actor(self).map(|res, act, _| {
            let ended = match res {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-check session tokens");
                    return;
                }
            };
            let frame: Arc<str> =
                push::disconnect("your login has ended (logged out, password changed or account removed)")
                    .to_text()
                    .into();
            for id in ended {
                if let Some(c) = act.sessions.get(&id) {
                    tracing::info!(session = id, user = %c.user, "login ended; closing its session");
                    let _ = c.outbox.push(Outbound::Frame(frame.clone()));
                    let _ = c.outbox.push(Outbound::Close { code: 1008, reason: "login ended".into() });
                }
                act.remove_session(id);
            }
        }));
    }
}

impl Actor for ClientActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address().downgrade());
        ctx.run_interval(self.cfg.ping_interval, |act, ctx| {
            act.ping_all();
            act.revalidate(ctx);
            act.drive_talks(ctx);
            act.post_rate.prune(Instant::now());
        });
    }
}

/// Act on what the talk core has to say (a session was removed where no context was at hand).
#[derive(Message)]
#[rtype(result = "()")]
struct DriveTalks;

/// Drives the talks.
impl Handler<DriveTalks> for ClientActor {
    type Result = ();
    fn handle(&mut self, _: DriveTalks, ctx: &mut Context<Self>) {
        self.drive_talks(ctx);
    }
}

/// Errors of the client actor's requests.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The box is shutting down.
    #[error("the server is going down")]
    GoingDown,
    /// The session is not (or no longer) registered.
    #[error("no such session")]
    NoSession,
    /// The message does not exist or is not this user's.
    #[error("no such message")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Db(#[from] DbError),
}
