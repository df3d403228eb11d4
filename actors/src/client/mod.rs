//! The client actor: the client manager of the seed (S13).
//!
//! It keeps one [`Connection`] per connected session (S16), derives each user's presence from
//! their sessions and chosen status (S25), pings every session periodically and drops those
//! that stop answering, pushes new messages to online recipients and receipts to senders, and
//! hands queued messages to a client when it checks in (store-and-forward, S3 and S26).
//!
//! The socket itself belongs to a task in the HTTP service; the actor only holds that task's
//! [`Outbox`]. Everything blocking goes to the database actor or [`crate::codec::run`].

mod connection;
mod post;
mod presence;
pub mod rate;
mod receipts;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_store::User;
use ivm_wire::object::{push, Envelope, ReceiptObject};
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Guid, MailboxState, Priority, Status};
use tokio::sync::oneshot;

use crate::database::{self, DatabaseActor, DbError};
use crate::views::{self, Viewer};

pub use connection::{
    outbox, Connection, Outbound, Outbox, OutboxError, OutboxReceiver, SessionId,
};
pub use post::{check_attachment_name, NewAttachment, PostError, PostMessage, PostOnce, Posted};
pub use presence::{GetPresence, SetStatus, Subscribe, Unsubscribe};
pub use receipts::Receipts;

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
        }
    }
}

/// The client manager.
pub struct ClientActor {
    db: Addr<DatabaseActor>,
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
    /// Registered desk phones per user: a phone counts as a session for presence (S25).
    phones: HashMap<Guid, u32>,
    /// Told when a user's mailbox changes (the station actor's message-waiting lamps).
    mailbox_listener: Option<Recipient<MailboxChanged>>,
    /// Posts per sender in the last minute.
    post_rate: rate::PostRate,
}

impl ClientActor {
    /// A client manager over the database actor `db`.
    pub fn new(db: Addr<DatabaseActor>, cfg: ClientConfig) -> Self {
        ClientActor {
            post_rate: rate::PostRate::new(cfg.messages_per_minute),
            db,
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
            phones: HashMap::new(),
            mailbox_listener: None,
        }
    }

    /// Tells the mailbox listener (if any) that `user`'s mailbox changed.
    fn mailbox_changed(&self, user: Guid) {
        if let Some(l) = &self.mailbox_listener {
            l.do_send(MailboxChanged { user });
        }
    }

    /// The presence others see for `user` now.
    fn presence_of(&self, user: Guid) -> Status {
        if self.by_user.get(&user).is_some_and(|s| !s.is_empty()) || self.phones.contains_key(&user)
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
            self.by_user.remove(&conn.user);
            if !self.phones.contains_key(&conn.user) {
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
            database::run(&db, move |s| {
                let now = std::time::SystemTime::now();
                let mut ended = Vec::new();
                for (id, user, token) in held {
                    if s.session_user(&token, now)? != Some(user) {
                        ended.push(id);
                    }
                }
                Ok(ended)
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
        ctx.run_interval(self.cfg.ping_interval, |act, ctx| {
            act.ping_all();
            act.revalidate(ctx);
            act.post_rate.prune(Instant::now());
        });
    }
}

/// A socket authenticated as `user`: register its session. Refused while shutting down.
#[derive(Message)]
#[rtype(result = "Result<SessionId, ClientError>")]
pub struct Connect {
    /// The user, as loaded when the token was checked.
    pub user: User,
    /// Client software, for logs.
    pub client: String,
    /// S16 priority.
    pub priority: Priority,
    /// Where to send frames.
    pub outbox: Outbox,
    /// The login token the session was opened with, checked again every ping interval so a
    /// logout, a password change or a deleted account also ends open sockets. `None` for
    /// sessions that are not tied to a token.
    pub token: Option<String>,
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

/// Registers the session; the user comes online if this is their first.
impl Handler<Connect> for ClientActor {
    type Result = Result<SessionId, ClientError>;

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        if self.going_down {
            return Err(ClientError::GoingDown);
        }
        let id = self.next_session;
        self.next_session += 1;
        let user = msg.user.guid;
        let first = !self.by_user.contains_key(&user);
        self.by_user.entry(user).or_default().push(id);
        if first {
            // A stored "offline" means the user never chose, or chose to hide for one session.
            let s = match msg.user.status {
                Status::Offline => Status::Available,
                s => s,
            };
            self.chosen.insert(user, s);
        }
        tracing::info!(session = id, user = %msg.user.name, client = %msg.client, priority = ?msg.priority, "client connected");
        self.sessions.insert(
            id,
            Connection {
                user,
                client: msg.client,
                priority: msg.priority,
                outbox: msg.outbox,
                last_seen: Instant::now(),
                watching: HashSet::new(),
                token: msg.token,
            },
        );
        if first {
            self.announce_presence(user);
        }
        Ok(id)
    }
}

/// The session's socket closed (or the client sent `disconnect`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect(pub SessionId);

/// Forgets the session.
impl Handler<Disconnect> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.remove_session(msg.0);
    }
}

/// The session sent something: it is awake (S25).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Seen(pub SessionId);

/// Refreshes the session's liveness.
impl Handler<Seen> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Seen, _: &mut Context<Self>) {
        if let Some(c) = self.sessions.get_mut(&msg.0) {
            c.last_seen = Instant::now();
        }
    }
}

/// A recipient's mailbox state moves forward (delivered or played), from REST or WebSocket.
#[derive(Message)]
#[rtype(result = "Result<(), ClientError>")]
pub struct Receipt {
    /// The recipient.
    pub user: Guid,
    /// The message.
    pub message: Guid,
    /// The new state (`delivered` or `played`).
    pub state: MailboxState,
}

/// Records the state and tells the sender's sessions.
impl Handler<Receipt> for ClientActor {
    type Result = ResponseActFuture<Self, Result<(), ClientError>>;

    fn handle(&mut self, r: Receipt, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let fut = async move {
            database::run(&db, move |s| {
                let Some(msg) = s.message(r.message)? else {
                    return Ok(None);
                };
                if s.mailbox_state(r.message, r.user)?.is_none() {
                    return Ok(None);
                }
                let changed = s.advance(r.message, r.user, r.state)?;
                Ok(Some((msg.sender, changed)))
            })
            .await
        };
        Box::pin(fut.into_actor(self).map(move |res, act, _| match res? {
            None => Err(ClientError::NotFound),
            Some((sender, changed)) => {
                if changed {
                    act.mailbox_changed(r.user);
                    let receipt = ReceiptObject {
                        message: r.message,
                        recipient: r.user,
                        state: r.state,
                    };
                    act.push_to_user(sender, &push::receipt(receipt));
                }
                Ok(())
            }
        }))
    }
}

/// The client checks in (S15): everything still queued for its user, oldest first. The
/// socket task sends them itself, with back-pressure, so a long absence cannot overflow the
/// outbox and get the client dropped.
#[derive(Message)]
#[rtype(result = "Result<Vec<MessageInfo>, ClientError>")]
pub struct CheckIn(pub SessionId);

/// Loads the queued messages as the user sees them.
impl Handler<CheckIn> for ClientActor {
    type Result = ResponseFuture<Result<Vec<MessageInfo>, ClientError>>;

    fn handle(&mut self, msg: CheckIn, _: &mut Context<Self>) -> Self::Result {
        let Some(user) = self.sessions.get(&msg.0).map(|c| c.user) else {
            return Box::pin(async { Err(ClientError::NoSession) });
        };
        let db = self.db.clone();
        Box::pin(async move {
            Ok(database::run(&db, move |s| {
                let mut views = views::Views::new(s);
                s.queued_for(user)?
                    .iter()
                    .map(|m| views.message(m, Viewer::Recipient(user)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?)
        })
    }
}

/// Counters for the status page.
#[derive(Message)]
#[rtype(result = "ClientStats")]
pub struct GetStats;

/// What the client manager reports about itself.
#[derive(Debug, Clone, Copy)]
pub struct ClientStats {
    /// Sessions connected now.
    pub sessions: u32,
    /// Users with at least one session.
    pub online_users: u32,
}

/// Reports the counters.
impl Handler<GetStats> for ClientActor {
    type Result = MessageResult<GetStats>;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(ClientStats {
            sessions: self.sessions.len() as u32,
            online_users: self.by_user.len() as u32,
        })
    }
}

/// Shutdown (S15): tell every client the server is going down, close their sockets, refuse new
/// sessions, and answer once every accepted post has been committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct GoingDown {
    /// Reason given to clients.
    pub reason: String,
}

/// Broadcasts `server_going_down` and waits for in-flight posts.
impl Handler<GoingDown> for ClientActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: GoingDown, _: &mut Context<Self>) -> Self::Result {
        self.going_down = true;
        let frame: Arc<str> = push::server_going_down(&msg.reason).to_text().into();
        for (_, conn) in self.sessions.drain() {
            let _ = conn.outbox.push(Outbound::Frame(frame.clone()));
            let _ = conn.outbox.push(Outbound::Close {
                code: 1001,
                reason: "server going down".into(),
            });
        }
        self.by_user.clear();
        self.watchers.clear();
        self.chosen.clear();
        tracing::info!(
            in_flight = self.in_flight,
            "told clients the server is going down"
        );
        if self.in_flight == 0 {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.drained.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// A user's mailbox changed (a message arrived, was played or deleted): the station actor
/// updates their phones' message-waiting lamps.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct MailboxChanged {
    /// Whose mailbox.
    pub user: Guid,
}

/// Who to tell about [`MailboxChanged`] (the station actor, at start-up).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetMailboxListener(pub Recipient<MailboxChanged>);

/// Keeps the listener.
impl Handler<SetMailboxListener> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: SetMailboxListener, _: &mut Context<Self>) {
        self.mailbox_listener = Some(msg.0);
    }
}

/// Something outside the client actor changed a mailbox (a deletion through REST, a phone's
/// `*97` delete): pass it on to the listener.
impl Handler<MailboxChanged> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, _: &mut Context<Self>) {
        self.mailbox_changed(msg.user);
    }
}

/// A desk phone of `user` registered (`online`) or its last registration ended: a phone
/// counts as a session for presence (S25), so a user whose phone is registered is available.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PhonePresence {
    /// The user.
    pub user: Guid,
    /// True when the user now has at least one registered phone.
    pub online: bool,
}

/// Updates the phone count and tells watchers when presence changes.
impl Handler<PhonePresence> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: PhonePresence, _: &mut Context<Self>) {
        if self.going_down {
            return;
        }
        let before = self.presence_of(msg.user);
        if msg.online {
            self.phones.insert(msg.user, 1);
        } else {
            self.phones.remove(&msg.user);
            if !self.by_user.contains_key(&msg.user) {
                self.chosen.remove(&msg.user);
            }
        }
        tracing::info!(user = %msg.user, online = msg.online, "desk phone presence");
        if self.presence_of(msg.user) != before {
            self.announce_presence(msg.user);
        }
    }
}
