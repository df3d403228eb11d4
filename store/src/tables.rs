//! Every redb table of `ivm.redb`, in one place, with the key and value encodings.
//!
//! Keys are fixed-size byte arrays so that the B-tree order is byte order: a 16-byte UUID, or
//! two UUIDs side by side (32 bytes) where the first is the user, so a range scan over one
//! user's prefix lists their rows. Values are small fixed encodings or JSON records.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `&str` | `u64` (`schema_version`) |
//! | `users` | user `[u8;16]` | JSON `UserRecord` (with the argon2 hash) |
//! | `user_names` | name `&str` | user `[u8;16]` |
//! | `user_extensions` | extension `&str` | user `[u8;16]` |
//! | `sessions` | SHA-256(token) `[u8;32]` | (user `[u8;16]`, expires_at `u64`) |
//! | `user_sessions` | user ‖ SHA-256(token) `[u8;48]` | `()` |
//! | `messages` | message `[u8;16]` | JSON `StoredMessage` |
//! | `mailbox` | recipient ‖ message `[u8;32]` | state `u8` (0 queued, 1 delivered, 2 played, 3 deleted) |
//! | `sent` | sender ‖ message `[u8;32]` | `u8` (0 listed, 1 hidden by the sender) |
//! | `sip_credentials` | user `[u8;16]` | sealed JSON: SIP password and digest HA1s |
//! | `phones` | MAC `[u8;6]` | JSON `PhoneRecord` (vendor, model, user, status, last seen, armed, bound) |
//! | `phone_secrets` | MAC `[u8;6]` | sealed JSON: provisioning credential, admin password |
//! | `usage` | sender `[u8;16]` | `u64`: bytes of audio and attachments of their messages that still exist |
//! | `idempotency` | sender ‖ SHA-256(key) `[u8;48]` | (message `[u8;16]`, SHA-256 of the request `[u8;32]`) |
//! | `groups` | name `&str` | JSON `Group` (members' GUIDs) |
//! | `gateways` | name `&str` | JSON `Gateway` (protocol, address, endpoints, line assignments) |
//! | `inbox_by_time`, `sent_by_time` | user ‖ created_at (u64 BE) ‖ message `[u8;40]` | `()`: lists in time order (`pages.rs`) |

use ivm_wire::{Guid, MailboxState};
use redb::TableDefinition;
use serde::{de::DeserializeOwned, Serialize};

use crate::StoreError;

/// Schema facts (`schema_version`).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// User records by GUID.
pub(crate) const USERS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("users");
/// Unique index: login name → user.
pub(crate) const USER_NAMES: TableDefinition<&str, [u8; 16]> = TableDefinition::new("user_names");
/// Unique index: extension → user.
pub(crate) const USER_EXTENSIONS: TableDefinition<&str, [u8; 16]> =
    TableDefinition::new("user_extensions");
/// Sessions by token hash: (user, expires_at unix seconds).
pub(crate) const SESSIONS: TableDefinition<[u8; 32], ([u8; 16], u64)> =
    TableDefinition::new("sessions");
/// Index of one user's sessions, so they can be ended together.
pub(crate) const USER_SESSIONS: TableDefinition<[u8; 48], ()> =
    TableDefinition::new("user_sessions");
/// Message records by message GUID.
pub(crate) const MESSAGES: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("messages");
/// One row per (recipient, message): the recipient's mailbox state.
pub(crate) const MAILBOX: TableDefinition<[u8; 32], u8> = TableDefinition::new("mailbox");
/// One row per (sender, message): whether the sender still lists it.
pub(crate) const SENT: TableDefinition<[u8; 32], u8> = TableDefinition::new("sent");

/// SIP credentials by user: sealed JSON (password and HA1s), see `sip.rs`.
pub(crate) const SIP_CREDENTIALS: TableDefinition<[u8; 16], &[u8]> =
    TableDefinition::new("sip_credentials");

/// Phones by MAC: JSON `PhoneRecord`, see `phones.rs`.
pub(crate) const PHONES: TableDefinition<[u8; 6], &[u8]> = TableDefinition::new("phones");

/// Each phone's own secrets by MAC: sealed JSON, see `phone_secrets.rs`.
pub(crate) const PHONE_SECRETS: TableDefinition<[u8; 6], &[u8]> =
    TableDefinition::new("phone_secrets");
/// Bytes each sender's existing messages hold (audio and attachments, plaintext sizes): the
/// per-user quota. Kept in step by `commit_message_with` and the collection of a message.
pub(crate) const USAGE: TableDefinition<[u8; 16], u64> = TableDefinition::new("usage");

/// Client-chosen idempotency keys of stored messages: (sender ‖ SHA-256(key)) → (message,
/// SHA-256 fingerprint of the request), written in the message's own commit.
pub(crate) const IDEMPOTENCY: TableDefinition<[u8; 48], ([u8; 16], [u8; 32])> =
    TableDefinition::new("idempotency");

/// Groups by name: JSON `Group`, see `groups.rs` (the built-in `everyone` is not stored).
pub(crate) const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");

/// Media gateways by name: JSON `Gateway` with its line assignments, see `gateways.rs`.
pub(crate) const GATEWAYS: TableDefinition<&str, &[u8]> = TableDefinition::new("gateways");

/// `meta` key set once `usage` has been counted from the messages (databases written before
/// the table existed are counted at open).
pub(crate) const USAGE_COUNTED: &str = "usage_counted";

/// The schema this code writes. Bumped when an encoding changes or a new table must be kept
/// in step by every writer; `open` refuses a newer one. 2: `inbox_by_time` and `sent_by_time`
/// (see `pages.rs`).
pub(crate) const SCHEMA_VERSION: u64 = 2;

/// `sent` value: the sender lists the message.
pub(crate) const SENT_LISTED: u8 = 0;
/// `sent` value: the sender deleted it from their view.
pub(crate) const SENT_HIDDEN: u8 = 1;

/// A GUID as a key.
pub(crate) fn guid_key(g: Guid) -> [u8; 16] {
    *g.as_bytes()
}

/// A key back to a GUID.
pub(crate) fn key_guid(k: [u8; 16]) -> Guid {
    Guid::from_bytes(k)
}

/// `a ‖ b`, the composite key of `mailbox` and `sent`.
pub(crate) fn pair_key(a: Guid, b: Guid) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(a.as_bytes());
    k[16..].copy_from_slice(b.as_bytes());
    k
}

/// The second GUID of a composite key.
pub(crate) fn pair_second(k: [u8; 32]) -> Guid {
    let mut b = [0u8; 16];
    b.copy_from_slice(&k[16..]);
    Guid::from_bytes(b)
}

/// The inclusive key range of every composite key starting with `a`.
pub(crate) fn pair_range(a: Guid) -> std::ops::RangeInclusive<[u8; 32]> {
    let mut lo = [0u8; 32];
    lo[..16].copy_from_slice(a.as_bytes());
    let mut hi = [0xffu8; 32];
    hi[..16].copy_from_slice(a.as_bytes());
    lo..=hi
}

/// `user ‖ token hash`, the key of `user_sessions`.
pub(crate) fn user_session_key(user: Guid, hash: &[u8; 32]) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..16].copy_from_slice(user.as_bytes());
    k[16..].copy_from_slice(hash);
    k
}

/// The inclusive key range of one user's `user_sessions` rows.
pub(crate) fn user_session_range(user: Guid) -> std::ops::RangeInclusive<[u8; 48]> {
    let mut lo = [0u8; 48];
    lo[..16].copy_from_slice(user.as_bytes());
    let mut hi = [0xffu8; 48];
    hi[..16].copy_from_slice(user.as_bytes());
    lo..=hi
}

/// A mailbox state as stored.
pub(crate) fn state_byte(s: MailboxState) -> u8 {
    match s {
        MailboxState::Queued => 0,
        MailboxState::Delivered => 1,
        MailboxState::Played => 2,
        MailboxState::Deleted => 3,
        MailboxState::Undeliverable => 4,
    }
}

/// A stored mailbox state back; an unknown byte is corruption.
pub(crate) fn byte_state(b: u8) -> Result<MailboxState, StoreError> {
    Ok(match b {
        0 => MailboxState::Queued,
        1 => MailboxState::Delivered,
        2 => MailboxState::Played,
        3 => MailboxState::Deleted,
        4 => MailboxState::Undeliverable,
        other => return Err(StoreError::Corrupt(format!("mailbox state byte {other}"))),
    })
}

/// Encodes a record value (JSON: self-describing, so fields can be added later).
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Invalid(format!("cannot encode record: {e}")))
}

/// Decodes a record value; failure means the database holds something we did not write.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what} record: {e}")))
}
