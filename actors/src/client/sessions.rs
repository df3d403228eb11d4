//! Sessions (one connection object per logical client connection): a socket connects, is seen,
//! checks in, disconnects; the counters; and the shutdown that tells every session the server is
//! going down.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use ivm_store::User;
use ivm_wire::object::push;
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Priority, Status};
use tokio::sync::oneshot;

use super::{ClientActor, ClientError, Connection, Outbound, Outbox, SessionId};
use crate::database::messages::Queued;

/// A socket authenticated as `user`: register its session. Refused while shutting down.
#[derive(Message)]
#[rtype(result = "Result<SessionId, ClientError>")]
pub struct Connect {
    /// The user, as loaded when the token was checked.
    pub user: User,
    /// Client software, for logs.
    pub client: String,
    /// The connection's priority.
    pub priority: Priority,
    /// Where to send frames.
    pub outbox: Outbox,
    /// The login token the session was opened with, checked again every ping interval so a
    /// logout, a password change or a deleted account also ends open sockets. `None` for
    /// sessions that are not tied to a token.
    pub token: Option<String>,
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
    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        self.remove_session(msg.0);
        self.drive_talks(ctx);
    }
}

/// The session sent something: it is awake (connection status per client).
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

/// The client checks in (the `check_in` action): everything still queued for its user, oldest
/// first. The socket task sends them itself, with back-pressure, so a long absence cannot overflow
/// the outbox and get the client dropped.
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
        Box::pin(async move { Ok(db.call(Queued { user }).await?) })
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
    /// Listeners told about mailbox changes (see [`super::AddMailboxListener`]).
    pub mailbox_listeners: u32,
}

/// Reports the counters.
impl Handler<GetStats> for ClientActor {
    type Result = MessageResult<GetStats>;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(ClientStats {
            sessions: self.sessions.len() as u32,
            online_users: self.by_user.len() as u32,
            mailbox_listeners: self.mailbox_listeners.len() as u32,
        })
    }
}

/// Shutdown (the server's `going_down` notice): tell every client the server is going down, close
/// their sockets, refuse new sessions, and answer once every accepted post has been committed.
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
