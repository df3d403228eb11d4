//! What a user's lines look like from outside: the busy lamp field's view (RFC 4235 dialog
//! states). A watcher's key shows whether a colleague's phone is idle, ringing or in a
//! call; it does not need the service a line is in, only its phase, who started it and who
//! is on the other side. The exchange keeps the set of users whose view changed, so an
//! adapter notifies watchers without scanning every line on every packet.

use crate::input::{LineId, Party};

/// The phase of one line, in RFC 4235's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The phone is dialling or the box looks the number up (`trying`).
    Trying,
    /// Ringing: the callee's phone, or the caller's side while the callee rings (`early`).
    Early,
    /// In a call, or using a service of the box (`*7`, `*97`, a live talk) (`confirmed`).
    Confirmed,
}

/// Who started the line's call (RFC 4235 `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The user's phone called (or dialled a service).
    Initiator,
    /// The user's phone was called (by a colleague, ring-my-phone, an intercom talk).
    Recipient,
}

/// One open line of a user's, as a watcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The line (stable for the line's life: the dialog id a watcher sees).
    pub line: LineId,
    /// Its phase.
    pub phase: Phase,
    /// Who started it.
    pub direction: Direction,
    /// The other user in a call between extensions; `None` for the box's own services.
    pub peer: Option<Party>,
}
