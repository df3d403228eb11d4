//! The connection object of the seed (socket, size of data to transfer, priority): the state
//! of one logical client connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ivm_wire::{Guid, Priority};
use tokio::sync::mpsc;

/// Identifies one connected session (one WebSocket) inside the client actor.
pub type SessionId = u64;

/// How many frames may wait for one slow client before the box gives up on it. Nothing is
/// lost by dropping such a client: its messages stay queued in the store until it checks in.
pub const OUTBOX_FRAMES: usize = 256;

/// How many live-talk portions may wait for one session (1 s of 20 ms portions). The portion
/// lane is lossy: when it is full a portion is dropped for that session alone and counted,
/// so a slow listener loses audio, never control frames, and never slows the others.
pub const PORTION_FRAMES: usize = 50;

/// What the client actor asks a session's socket task to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Send this JSON text frame.
    Frame(Arc<str>),
    /// Send this binary frame (a live talk's portion, from the lossy lane).
    Portion(Arc<[u8]>),
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
    portions: mpsc::Sender<Arc<[u8]>>,
    dropped: Arc<AtomicU64>,
}

/// The receiving half, kept by the socket task.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Outbound>,
    pending: Arc<AtomicUsize>,
    portions: mpsc::Receiver<Arc<[u8]>>,
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
    let (ptx, prx) = mpsc::channel(PORTION_FRAMES);
    let pending = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            pending: pending.clone(),
            portions: ptx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        OutboxReceiver {
            rx,
            pending,
            portions: prx,
        },
    )
}

impl Outbox {
    /// Queues a frame without waiting.
    pub fn push(&self, out: Outbound) -> Result<(), OutboxError> {
        let size = match &out {
            Outbound::Frame(f) => f.len(),
            Outbound::Portion(_) | Outbound::Close { .. } => 0,
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
            Outbound::Portion(_) | Outbound::Close { .. } => 0,
        };
        // Count first: the writer may take the frame and subtract before `send` returns.
        self.pending.fetch_add(size, Ordering::Relaxed);
        self.tx.send(out).await.map_err(|_| {
            self.pending.fetch_sub(size, Ordering::Relaxed);
            OutboxError::Closed
        })
    }

    /// Queues a live-talk portion on the lossy lane: dropped (and counted) when the lane is
    /// full. Returns whether it was queued.
    pub fn push_portion(&self, frame: Arc<[u8]>) -> bool {
        match self.portions.try_send(frame) {
            Ok(()) => true,
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Portions dropped for this session because its lane was full (or it had gone).
    pub fn portions_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Bytes queued and not yet written to the socket.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl OutboxReceiver {
    /// The next thing to send, or `None` when the client actor dropped this session.
    /// Queued portions go first: the portion lane holds at most [`PORTION_FRAMES`] small
    /// frames, so a control frame waits behind at most that, and a talk's `talk_end` never
    /// overtakes the portions queued before it.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let out = tokio::select! {
            biased;
            Some(p) = self.portions.recv() => Outbound::Portion(p),
            out = self.rx.recv() => out?,
        };
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
