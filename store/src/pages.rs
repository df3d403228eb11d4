//! Inbox and sent lists a page at a time, newest first, from time-ordered indexes.
//!
//! `mailbox` and `sent` are keyed user ‖ message GUID, and message GUIDs are UUIDv4 (random),
//! so their order says nothing about time: listing the newest 50 of 10,000 that way means
//! loading all 10,000 and sorting. Two index tables keyed user ‖ created_at ‖ message keep
//! each user's listed messages in time order instead, so a page is a reverse range scan that
//! reads only the rows it returns (plus one, to know whether more follow):
//!
//! | table | key | holds a row while |
//! |---|---|---|
//! | `inbox_by_time` | recipient ‖ created_at (u64 big-endian) ‖ message `[u8;40]` | the recipient has not deleted it |
//! | `sent_by_time` | sender ‖ created_at ‖ message `[u8;40]` | the sender has not hidden it |
//!
//! The rows are written in the message's own commit and removed in the transaction that
//! deletes or hides it (`messages.rs`), so a list never disagrees with the mailbox. A database
//! from before these tables is indexed once at open ([`index_once`]), like `usage.rs` counts
//! the quota; `schema_version` 2 then keeps an older build (which would not maintain them)
//! from opening it.
//!
//! A [`Cursor`] is the (created_at, message) of the last row of a page; the next page is what
//! lies strictly before it. It stays valid when that message is deleted meanwhile, and a
//! message committed meanwhile (always newer) never shifts a later page.

use std::ops::Bound;

use base64::Engine as _;
use ivm_wire::{Guid, MailboxState};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::messages::StoredMessage;
use crate::tables::{
    byte_state, decode, guid_key, pair_key, pair_range, pair_second, MAILBOX, MESSAGES, META, SENT,
    SENT_LISTED,
};
use crate::{Store, StoreError};

/// Recipient ‖ created_at ‖ message → `()`: each user's inbox in time order.
pub(crate) const INBOX_BY_TIME: TableDefinition<[u8; 40], ()> =
    TableDefinition::new("inbox_by_time");
/// Sender ‖ created_at ‖ message → `()`: each user's sent list in time order.
pub(crate) const SENT_BY_TIME: TableDefinition<[u8; 40], ()> = TableDefinition::new("sent_by_time");

/// `meta` key set once the time indexes hold every listed message.
const TIME_INDEXED: &str = "time_indexed";

/// Most messages one page may hold.
pub const MAX_PAGE: usize = 200;

/// Where a page ends: the (created_at, id) of its last message. Clients see it only as an
/// opaque token ([`Cursor::token`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The message's `created_at`, Unix milliseconds.
    pub created_at: u64,
    /// The message's id (orders messages committed in the same millisecond).
    pub id: Guid,
}

/// Why a cursor token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from this box: pass back the `before` of a Link the box sent")]
pub struct BadCursor;

impl Cursor {
    /// The cursor of `msg`.
    pub fn of(msg: &StoredMessage) -> Cursor {
        Cursor {
            created_at: msg.created_at,
            id: msg.id,
        }
    }

    /// URL-safe base64 (no padding) of created_at (8 bytes, big-endian) ‖ id (16 bytes):
    /// 32 characters, usable as a query value as it is.
    pub fn token(&self) -> String {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.created_at.to_be_bytes());
        b[8..].copy_from_slice(self.id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    /// Reads a token made by [`Cursor::token`].
    pub fn parse(token: &str) -> Result<Cursor, BadCursor> {
        if token.len() != 32 {
            return Err(BadCursor);
        }
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| BadCursor)?;
        let b: [u8; 24] = b.try_into().map_err(|_| BadCursor)?;
        let mut at = [0u8; 8];
        at.copy_from_slice(&b[..8]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[8..]);
        Ok(Cursor {
            created_at: u64::from_be_bytes(at),
            id: Guid::from_bytes(id),
        })
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The messages of this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this is the last one.
    pub next: Option<Cursor>,
}

/// How many messages a user has listed, and how many of their inbox wait to be played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListCounts {
    /// Messages in the inbox (not deleted).
    pub inbox: u64,
    /// Of those, not played yet (queued or delivered).
    pub unplayed: u64,
    /// Messages in the sent list (not hidden).
    pub sent: u64,
}

/// user ‖ created_at ‖ message.
pub(crate) fn time_key(user: Guid, created_at: u64, msg: Guid) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..16].copy_from_slice(user.as_bytes());
    k[16..24].copy_from_slice(&created_at.to_be_bytes());
    k[24..].copy_from_slice(msg.as_bytes());
    k
}

/// The (created_at, message) of a time key.
fn key_cursor(k: &[u8; 40]) -> Cursor {
    let mut at = [0u8; 8];
    at.copy_from_slice(&k[16..24]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&k[24..]);
    Cursor {
        created_at: u64::from_be_bytes(at),
        id: Guid::from_bytes(id),
    }
}

/// Every time key of `user` strictly before `before` (all of them without one).
fn before_range(user: Guid, before: Option<Cursor>) -> (Bound<[u8; 40]>, Bound<[u8; 40]>) {
    let lo = Bound::Included(time_key(user, 0, Guid::nil()));
    match before {
        Some(c) => (lo, Bound::Excluded(time_key(user, c.created_at, c.id))),
        None => (lo, Bound::Included(time_key(user, u64::MAX, Guid::max()))),
    }
}

/// Lists `msg` for its recipients and sender (inside its commit).
pub(crate) fn index_message(txn: &WriteTransaction, msg: &StoredMessage) -> Result<(), StoreError> {
    let mut inbox = txn.open_table(INBOX_BY_TIME)?;
    for r in &msg.recipients {
        inbox.insert(time_key(*r, msg.created_at, msg.id), ())?;
    }
    txn.open_table(SENT_BY_TIME)?
        .insert(time_key(msg.sender, msg.created_at, msg.id), ())?;
    Ok(())
}

/// `recipient` deleted `msg`: it leaves their inbox list.
pub(crate) fn unlist_inbox(
    txn: &WriteTransaction,
    recipient: Guid,
    msg: &StoredMessage,
) -> Result<(), StoreError> {
    txn.open_table(INBOX_BY_TIME)?
        .remove(time_key(recipient, msg.created_at, msg.id))?;
    Ok(())
}

/// The sender hid `msg`: it leaves their sent list.
pub(crate) fn unlist_sent(txn: &WriteTransaction, msg: &StoredMessage) -> Result<(), StoreError> {
    txn.open_table(SENT_BY_TIME)?
        .remove(time_key(msg.sender, msg.created_at, msg.id))?;
    Ok(())
}

/// Fills the time indexes from `mailbox` and `sent`, once (a database from before them).
pub(crate) fn index_once(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    if meta.get(TIME_INDEXED)?.is_some() {
        return Ok(());
    }
    let messages = txn.open_table(MESSAGES)?;
    let mut created: std::collections::HashMap<Guid, u64> = std::collections::HashMap::new();
    let mut created_at = |id: Guid| -> Result<u64, StoreError> {
        if let Some(at) = created.get(&id) {
            return Ok(*at);
        }
        let v = messages
            .get(guid_key(id))?
            .ok_or_else(|| StoreError::Corrupt(format!("row points at missing message {id}")))?;
        let m: StoredMessage = decode("message", v.value())?;
        created.insert(id, m.created_at);
        Ok(m.created_at)
    };
    let mut rows = 0u64;
    {
        let mut inbox = txn.open_table(INBOX_BY_TIME)?;
        for row in txn.open_table(MAILBOX)?.iter()? {
            let (k, v) = row?;
            if byte_state(v.value())? == MailboxState::Deleted {
                continue;
            }
            let k = k.value();
            let (user, id) = (pair_first(&k), pair_second(k));
            inbox.insert(time_key(user, created_at(id)?, id), ())?;
            rows += 1;
        }
        let mut sent = txn.open_table(SENT_BY_TIME)?;
        for row in txn.open_table(SENT)?.iter()? {
            let (k, v) = row?;
            if v.value() != SENT_LISTED {
                continue;
            }
            let k = k.value();
            let (user, id) = (pair_first(&k), pair_second(k));
            sent.insert(time_key(user, created_at(id)?, id), ())?;
            rows += 1;
        }
    }
    meta.insert(TIME_INDEXED, 1)?;
    if rows > 0 {
        tracing::info!(rows, "indexed inbox and sent lists by time");
    }
    Ok(())
}

/// The first GUID of a composite key.
fn pair_first(k: &[u8; 32]) -> Guid {
    let mut b = [0u8; 16];
    b.copy_from_slice(&k[..16]);
    Guid::from_bytes(b)
}

/// Reads one page of `table` for `user`: up to `limit` cursors before `before`, newest
/// first, and the cursor to continue from.
fn page_of(
    table: &impl ReadableTable<[u8; 40], ()>,
    user: Guid,
    before: Option<Cursor>,
    limit: usize,
) -> Result<Page<Cursor>, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut items = Vec::with_capacity(limit);
    let mut more = false;
    for row in table.range(before_range(user, before))?.rev() {
        let (k, _) = row?;
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(key_cursor(&k.value()));
    }
    let next = if more { items.last().copied() } else { None };
    Ok(Page { items, next })
}

fn count_prefix(table: &impl ReadableTable<[u8; 40], ()>, user: Guid) -> Result<u64, StoreError> {
    let mut n = 0;
    for row in table.range(before_range(user, None))? {
        row?;
        n += 1;
    }
    Ok(n)
}

impl Store {
    /// One page of `user`'s inbox, newest first: up to `limit` (1 to [`MAX_PAGE`]) messages
    /// older than `before` (the newest without it), each with `user`'s state.
    pub fn inbox_page(
        &self,
        user: Guid,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<(StoredMessage, MailboxState)>, StoreError> {
        let txn = self.db.begin_read()?;
        let page = page_of(&txn.open_table(INBOX_BY_TIME)?, user, before, limit)?;
        let messages = txn.open_table(MESSAGES)?;
        let mailbox = txn.open_table(MAILBOX)?;
        let mut items = Vec::with_capacity(page.items.len());
        for c in &page.items {
            let m = load(&messages, c.id)?;
            let state = mailbox
                .get(pair_key(user, c.id))?
                .ok_or_else(|| StoreError::Corrupt(format!("inbox lists {} without a row", c.id)))?
                .value();
            items.push((m, byte_state(state)?));
        }
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// One page of what `user` sent, newest first (see [`Store::inbox_page`]).
    pub fn sent_page(
        &self,
        user: Guid,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<StoredMessage>, StoreError> {
        let txn = self.db.begin_read()?;
        let page = page_of(&txn.open_table(SENT_BY_TIME)?, user, before, limit)?;
        let messages = txn.open_table(MESSAGES)?;
        let items = page
            .items
            .iter()
            .map(|c| load(&messages, c.id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// How many messages `user` has in their inbox (and unplayed) and sent list: one scan of
    /// their own small rows, no message records read.
    pub fn list_counts(&self, user: Guid) -> Result<ListCounts, StoreError> {
        let txn = self.db.begin_read()?;
        let mut c = ListCounts::default();
        for row in txn.open_table(MAILBOX)?.range(pair_range(user))? {
            match byte_state(row?.1.value())? {
                // Undeliverable: a remote user's row, never an inbox shown here.
                MailboxState::Deleted | MailboxState::Undeliverable => {}
                MailboxState::Played => c.inbox += 1,
                MailboxState::Queued | MailboxState::Delivered => {
                    c.inbox += 1;
                    c.unplayed += 1;
                }
            }
        }
        c.sent = count_prefix(&txn.open_table(SENT_BY_TIME)?, user)?;
        Ok(c)
    }
}

fn load(
    table: &impl ReadableTable<[u8; 16], &'static [u8]>,
    id: Guid,
) -> Result<StoredMessage, StoreError> {
    match table.get(guid_key(id))? {
        Some(v) => decode("message", v.value()),
        None => Err(StoreError::Corrupt(format!(
            "a list points at missing message {id}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tokens_round_trip_and_refuse_junk() {
        let c = Cursor {
            created_at: 1_795_000_000_123,
            id: Guid::new_v4(),
        };
        let t = c.token();
        assert_eq!(t.len(), 32);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::parse(&t), Ok(c));
        for junk in [
            "",
            "abc",
            &t[1..],
            &format!("{t}A"),
            &t.replace(&t[..1], "*"),
        ] {
            assert_eq!(Cursor::parse(junk), Err(BadCursor), "{junk:?}");
        }
    }

    #[test]
    fn time_keys_sort_by_user_then_time_then_id() {
        let (u, v) = (Guid::from_u128(1), Guid::from_u128(2));
        let mut keys = [
            time_key(v, 1, Guid::from_u128(9)),
            time_key(u, 300, Guid::from_u128(1)),
            time_key(u, 2, Guid::from_u128(7)),
            time_key(u, 300, Guid::from_u128(0)),
        ];
        keys.sort();
        let cursors: Vec<_> = keys.iter().map(key_cursor).collect();
        assert_eq!(
            cursors.iter().map(|c| c.created_at).collect::<Vec<_>>(),
            [2, 300, 300, 1]
        );
        use std::ops::RangeBounds;
        assert!(before_range(u, None).contains(&time_key(u, u64::MAX, Guid::max())));
        assert!(!before_range(u, None).contains(&time_key(v, 0, Guid::nil())));
        let c = Cursor {
            created_at: 300,
            id: Guid::from_u128(1),
        };
        assert!(before_range(u, Some(c)).contains(&time_key(u, 300, Guid::from_u128(0))));
        assert!(!before_range(u, Some(c)).contains(&time_key(u, 300, Guid::from_u128(1))));
    }

    #[test]
    fn a_database_from_before_the_indexes_is_indexed_once_and_marked_version_2() {
        use crate::{NewUser, Store};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let user = |name: &str, ext: &str| {
            store
                .create_user(NewUser {
                    name: name.into(),
                    extension: ext.into(),
                    display_name: None,
                    password: "long enough".into(),
                    admin: false,
                })
                .expect("user")
        };
        let (a, b) = (user("alice", "101"), user("bob", "102"));
        let mut ids = Vec::new();
        for i in 0..30u64 {
            let m = StoredMessage {
                id: Guid::new_v4(),
                sender: a.guid,
                recipients: vec![b.guid],
                created_at: 1000 + i % 7,
                duration_ms: 1,
                peaks: vec![],
                audio: store.put_blob(&[0u8; 10]).expect("blob"),
                attachments: vec![],
                idempotency_key: None,
                partial: false,
                urgent: false,
            };
            store.commit_message(&m).expect("commit");
            ids.push(m.id);
        }
        store.delete_for(ids[0], b.guid).expect("delete");
        store.delete_for(ids[1], a.guid).expect("hide");
        let before: Vec<Guid> = store
            .inbox(b.guid)
            .expect("inbox")
            .iter()
            .map(|(m, _)| m.id)
            .collect();
        let sent_before: Vec<Guid> = store
            .sent(a.guid)
            .expect("sent")
            .iter()
            .map(|m| m.id)
            .collect();
        // Make it look like a version-1 database, written before the indexes existed.
        let txn = store.db.begin_write().expect("txn");
        txn.delete_table(INBOX_BY_TIME).expect("drop");
        txn.delete_table(SENT_BY_TIME).expect("drop");
        {
            let mut meta = txn.open_table(META).expect("meta");
            meta.remove(TIME_INDEXED).expect("unmark");
            meta.insert("schema_version", 1).expect("v1");
        }
        txn.commit().expect("commit");
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        let page = store.inbox_page(b.guid, None, MAX_PAGE).expect("page");
        let got: Vec<Guid> = page.items.iter().map(|(m, _)| m.id).collect();
        assert_eq!(got, before);
        assert_eq!(got.len(), 29, "the deleted one stays out");
        let sent = store.sent_page(a.guid, None, MAX_PAGE).expect("page");
        assert_eq!(
            sent.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            sent_before
        );
        let txn = store.db.begin_read().expect("read");
        let meta = txn.open_table(META).expect("meta");
        assert_eq!(
            meta.get("schema_version").expect("get").map(|v| v.value()),
            Some(2)
        );
    }
}
