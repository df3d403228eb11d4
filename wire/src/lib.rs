//! Wire types shared by the box (`ivmd`) and its clients (`ivm`, the web client).
//!
//! # Layout
//! - [`object`]: the WebSocket message object the founding document defines (`action`, `id`,
//!   `source` and `destination` GUIDs, and an `object` block of data), with a bounded,
//!   validating decoder ([`object::decode`]).
//! - [`talk`]: intercom (live talk): the binary "voice message portion" frame and the talk
//!   control objects.
//! - [`rest`]: the JSON bodies of the REST API (`/api/...`).
//! - [`phone`]: a phone's MAC, vendor and box-made secrets, the nouns the store, provisioning
//!   and the protocols share.
//! - This file: the small vocabulary both use: [`Guid`], [`Status`], [`Priority`],
//!   [`MailboxState`].
//!
//! Nothing here does I/O: the server and the clients parse and build these, and the
//! protocol is documented with examples in `docs/protocol.md`.

pub mod object;
pub mod phone;
pub mod rest;
pub mod talk;

use serde::{Deserialize, Serialize};

/// A globally unique identifier of a user, a server or a message (the seed's GUID: message
/// objects name their sender and recipient by it).
pub type Guid = uuid::Uuid;

/// The GUID that marks the server itself as the source of a message object (the seed: "a
/// special value marks privileged senders", servers). It is the nil UUID, which no user can have.
pub const SERVER_GUID: Guid = uuid::Uuid::nil();

/// Presence of a user as shown to their contacts (who is available to receive, live or as a
/// stored message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Connected and willing to take messages.
    Available,
    /// Connected, but asks not to be disturbed.
    Busy,
    /// Connected, but away from the device.
    Away,
    /// Not connected (or chose to appear so).
    #[default]
    Offline,
}

impl Status {
    /// The lowercase name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Available => "available",
            Status::Busy => "busy",
            Status::Away => "away",
            Status::Offline => "offline",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "available" => Ok(Status::Available),
            "busy" => Ok(Status::Busy),
            "away" => Ok(Status::Away),
            "offline" => Ok(Status::Offline),
            other => Err(format!(
                "unknown status {other:?}: expected available, busy, away or offline"
            )),
        }
    }
}

/// Priority of a client connection (the seed's connection objects: socket, size of data to
/// transfer, priority high, normal, low or unknown). Higher-priority connections get
/// their pushes first when the server has a backlog.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served first.
    High,
    /// The default.
    #[default]
    Normal,
    /// Background clients (for example a recorder).
    Low,
    /// The client did not say.
    Unknown,
}

/// Where a message stands for one recipient. Moves only forward:
/// queued → delivered → played, and any state → deleted; queued → undeliverable when the
/// global tier has no such recipient (a user of another box who is not, or no longer, in
/// its directory), and nothing after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxState {
    /// Stored on the box; the recipient's client has not confirmed receipt.
    Queued,
    /// The recipient's client confirmed it has the message.
    Delivered,
    /// The recipient played it.
    Played,
    /// The recipient deleted it from their inbox.
    Deleted,
    /// It could not reach the recipient: another box's user the global directory does not
    /// know (the transport sent it back). Final.
    Undeliverable,
}

impl MailboxState {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxState::Queued => "queued",
            MailboxState::Delivered => "delivered",
            MailboxState::Played => "played",
            MailboxState::Deleted => "deleted",
            MailboxState::Undeliverable => "undeliverable",
        }
    }

    /// Whether moving from `self` to `next` is a step forward (receipts never go back).
    /// Only a message nobody has received can turn out undeliverable.
    pub fn can_advance_to(self, next: MailboxState) -> bool {
        match (self, next) {
            (MailboxState::Undeliverable, _) => false,
            (_, MailboxState::Undeliverable) => self == MailboxState::Queued,
            _ => next > self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MailboxState::{self, *};

    #[test]
    fn states_move_only_forward_and_undeliverable_only_from_queued() {
        let all = [Queued, Delivered, Played, Deleted, Undeliverable];
        let allowed: Vec<(MailboxState, MailboxState)> = all
            .iter()
            .flat_map(|&a| all.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| a.can_advance_to(b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Queued, Delivered),
                (Queued, Played),
                (Queued, Deleted),
                (Queued, Undeliverable),
                (Delivered, Played),
                (Delivered, Deleted),
                (Played, Deleted),
            ]
        );
        assert_eq!(
            serde_json::to_string(&Undeliverable).expect("json"),
            "\"undeliverable\""
        );
    }
}
