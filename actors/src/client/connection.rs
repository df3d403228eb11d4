//! The connection object of the seed (socket, size of data to transfer, priority): the state
//! of one logical client connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ivm_wire::{Guid, Priority};
use tokio::sync::mpsc;

/// Identifies one connected session (one WebSocket) inside the client actor.
pub type SessionId = u64;

/// How many frames may wait for one slow client before the box gives up on it. Nothing is
/// lost by dropping such a client: its messages stay queued in the store until it checks in.
pub const OUTBOX_FRAMES: usize = 256;

/// What the client actor asks a session's socket task to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Send this JSON text frame.
    Frame(Arc<str>),
    /// Close the socket with this WebSocket close code and reason.
    Close {
        /// Close code (1001 going away, 1008 policy, 1011 error, ...).
        code: u16,
        /// Reason text.
        reason: String,
    },
}

/// The sending half a socket task hands to the client actor: the connection object's
/// "socket", plus the
/// count of bytes queued and not yet written ("size of data to transfer").
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    pending: Arc<AtomicUsize>,
}

/// The receiving half, kept by the socket task.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Outbound>,
    pending: Arc<AtomicUsize>,
}

/// Why a frame could not be queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// The client is not reading fast enough.
    #[error("client outbox full")]
    Full,
    /// The socket task has ended.
    #[error("client gone")]
    Closed,
}

/// A new outbox pair.
pub fn outbox() -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    let pending = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            pending: pending.clone(),
        },
        OutboxReceiver { rx, pending },
    )
}

impl Outbox {
    /// Queues a frame without waiting.
    pub fn push(&self, out: Outbound) -> Result<(), OutboxError> {
        let size = match &out {
            Outbound::Frame(f) => f.len(),
            Outbound::Close { .. } => 0,
        };
        self.pending.fetch_add(size, Ordering::Relaxed);
        self.tx.try_send(out).map_err(|e| {
            self.pending.fetch_sub(size, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => OutboxError::Full,
                mpsc::error::TrySendError::Closed(_) => OutboxError::Closed,
            }
        })
    }

    /// Queues a frame, waiting while the outbox is full: for the socket task's own bulk
    /// sends (check-in), where back-pressure is right and dropping the client is not.
    pub async fn send(&self, out: Outbound) -> Result<(), OutboxError> {
        let size = match &out {
            Outbound::Frame(f) => f.len(),
            Outbound::Close { .. } => 0,
        };
        // Count first: the writer may take the frame and subtract before `send` returns.
        self.pending.fetch_add(size, Ordering::Relaxed);
        self.tx.send(out).await.map_err(|_| {
            self.pending.fetch_sub(size, Ordering::Relaxed);
            OutboxError::Closed
        })
    }

    /// Bytes queued and not yet written to the socket.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl OutboxReceiver {
    /// The next thing to send, or `None` when the client actor dropped this session.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let out = self.rx.recv().await?;
        if let Outbound::Frame(f) = &out {
            self.pending.fetch_sub(f.len(), Ordering::Relaxed);
        }
        Some(out)
    }
}

/// One connected session as the client actor keeps it.
#[derive(Debug)]
pub struct Connection {
    /// The authenticated user.
    pub user: Guid,
    /// Client software, for logs.
    pub client: String,
    /// The connection object's priority: pushes go to higher-priority sessions first.
    pub priority: Priority,
    /// Where frames for this client go.
    pub outbox: Outbox,
    /// Last time the client showed it was awake (any frame, or a `pong`).
    pub last_seen: Instant,
    /// Users whose presence this session follows.
    pub watching: HashSet<Guid>,
    /// The login token, re-checked periodically (see `Connect::token`).
    pub token: Option<String>,
}
