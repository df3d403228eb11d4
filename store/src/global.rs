//! The box's side of the global tier (issue 15, `docs/global.md`): users of other boxes as
//! this box knows them, and the durable outbox of what waits to go to the cluster.
//!
//! Both are written inside the transactions that make them necessary, so the outbox can
//! never miss something the box acknowledged: a message to a remote user gets its outbox
//! entry in the message's own commit ([`queue_message`]), and a receipt for a message from a
//! remote user gets its entry in the receipt's own commit ([`queue_receipt`]). The link
//! (`global/link`) reads the outbox in order and removes an entry only after the cluster
//! acknowledged it.
//!
//! | table | key | value |
//! |---|---|---|
//! | `remote_users` | global user `[u8;16]` | JSON [`RemoteUser`] |
//! | `global_outbox` | sequence `u64` (in the order queued) | JSON [`OutboxEntry`] |

use ivm_wire::{Guid, MailboxState};
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, guid_key, MESSAGES};
use crate::{Store, StoreError, StoredMessage};

/// Users of other boxes by their global GUID.
pub(crate) const REMOTE_USERS: TableDefinition<[u8; 16], &[u8]> =
    TableDefinition::new("remote_users");
/// What waits to be published to the cluster, in order.
pub(crate) const GLOBAL_OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("global_outbox");

/// A user of another box: the sender of a message that came in, or the recipient of one
/// sent out. They cannot log in; they appear as senders and recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteUser {
    /// Their global GUID (`ivm_global::address`).
    pub guid: Guid,
    /// `user@box`.
    pub address: String,
    /// The name their box gave (their address until their box tells us).
    pub display_name: String,
}

/// One thing waiting to go to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutboxEntry {
    /// Message `message` for remote user `to`.
    Message {
        /// The message.
        message: Guid,
        /// The remote recipient.
        to: Guid,
    },
    /// A receipt from local user `from` for message `message` of remote user `to`.
    Receipt {
        /// The message.
        message: Guid,
        /// The local recipient who got or played it.
        from: Guid,
        /// The remote sender.
        to: Guid,
        /// Delivered or played.
        state: MailboxState,
    },
}

/// Whether `guid` is a remote user, inside a write transaction.
pub(crate) fn is_remote(txn: &WriteTransaction, guid: Guid) -> Result<bool, StoreError> {
    Ok(txn.open_table(REMOTE_USERS)?.get(guid_key(guid))?.is_some())
}

fn push(txn: &WriteTransaction, entry: &OutboxEntry) -> Result<(), StoreError> {
    let mut outbox = txn.open_table(GLOBAL_OUTBOX)?;
    let next = outbox.last()?.map_or(1, |(k, _)| k.value() + 1);
    outbox.insert(next, encode(entry)?.as_slice())?;
    Ok(())
}

/// Queues `msg` for each of its remote recipients (called in the message's commit).
pub(crate) fn queue_message(txn: &WriteTransaction, msg: &StoredMessage) -> Result<(), StoreError> {
    for &to in &msg.recipients {
        if is_remote(txn, to)? {
            push(
                txn,
                &OutboxEntry::Message {
                    message: msg.id,
                    to,
                },
            )?;
        }
    }
    Ok(())
}

/// Queues a receipt when `recipient`'s state of message `id` moved to delivered or played and
/// its sender is remote (called in the receipt's commit).
pub(crate) fn queue_receipt(
    txn: &WriteTransaction,
    id: Guid,
    sender: Guid,
    recipient: Guid,
    state: MailboxState,
) -> Result<(), StoreError> {
    if matches!(state, MailboxState::Delivered | MailboxState::Played) && is_remote(txn, sender)? {
        push(
            txn,
            &OutboxEntry::Receipt {
                message: id,
                from: recipient,
                to: sender,
                state,
            },
        )?;
    }
    Ok(())
}

/// The sender of message `id`, inside a write transaction.
pub(crate) fn sender_of(txn: &WriteTransaction, id: Guid) -> Result<Option<Guid>, StoreError> {
    let messages = txn.open_table(MESSAGES)?;
    let found = messages.get(guid_key(id))?;
    Ok(match found {
        Some(v) => Some(decode::<StoredMessage>("message", v.value())?.sender),
        None => None,
    })
}

impl Store {
    /// Publishes a local user to the global directory or withdraws them (the admin's
    /// opt-in, `ivmd user global NAME on|off`).
    pub fn set_global(&self, guid: Guid, on: bool) -> Result<crate::User, StoreError> {
        let txn = self.db.begin_write()?;
        let user = {
            let mut users = txn.open_table(crate::tables::USERS)?;
            let mut rec = crate::users::get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            rec.user.global = on;
            crate::users::put_record(&mut users, &rec)?;
            rec.user
        };
        txn.commit()?;
        Ok(user)
    }

    /// The local users published to the global directory.
    pub fn global_users(&self) -> Result<Vec<crate::User>, StoreError> {
        Ok(self.users()?.into_iter().filter(|u| u.global).collect())
    }

    /// Records (or renames) a user of another box.
    pub fn put_remote_user(&self, user: &RemoteUser) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(REMOTE_USERS)?
            .insert(guid_key(user.guid), encode(user)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The user of another box with this global GUID, if known.
    pub fn remote_user(&self, guid: Guid) -> Result<Option<RemoteUser>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REMOTE_USERS);
        let table = match table {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let found = table.get(guid_key(guid))?;
        Ok(match found {
            Some(v) => Some(decode("remote user", v.value())?),
            None => None,
        })
    }

    /// The oldest entry of the outbox with its sequence number.
    pub fn outbox_head(&self) -> Result<Option<(u64, OutboxEntry)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(GLOBAL_OUTBOX) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let first = table.first()?;
        Ok(match first {
            Some((k, v)) => Some((k.value(), decode("outbox entry", v.value())?)),
            None => None,
        })
    }

    /// How many entries wait in the outbox.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        match txn.open_table(GLOBAL_OUTBOX) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes outbox entry `seq` (after the cluster acknowledged it; removing a missing one
    /// is not an error).
    pub fn outbox_remove(&self, seq: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(GLOBAL_OUTBOX)?.remove(seq)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, StoredMessage};

    fn message(s: &Store, id: u128, sender: Guid, to: Guid) -> StoredMessage {
        StoredMessage {
            id: Guid::from_u128(id),
            sender,
            recipients: vec![to],
            created_at: 1,
            duration_ms: 1000,
            peaks: Vec::new(),
            audio: s.put_blob(b"OggS").expect("blob"),
            attachments: Vec::new(),
            idempotency_key: None,
            partial: false,
            urgent: false,
        }
    }

    fn ann(s: &Store) -> crate::User {
        s.create_user(NewUser {
            name: "ann".into(),
            extension: "201".into(),
            display_name: None,
            password: "correct horse battery".into(),
            admin: false,
        })
        .expect("ann")
    }

    #[test]
    fn remote_messages_and_receipts_queue_in_their_own_commits_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(dir.path()).expect("store");
        let ann = ann(&s);
        let bob = RemoteUser {
            guid: Guid::from_u128(0xb0b),
            address: "bob@office-b".into(),
            display_name: "Bob".into(),
        };
        assert_eq!(
            s.outbox_head().expect("head"),
            None,
            "empty before any table"
        );
        // Unknown remote users are still refused as recipients.
        assert!(s
            .commit_message(&message(&s, 1, ann.guid, bob.guid))
            .is_err());
        s.put_remote_user(&bob).expect("bob");
        assert_eq!(s.remote_user(bob.guid).expect("read"), Some(bob.clone()));

        s.commit_message(&message(&s, 2, ann.guid, bob.guid))
            .expect("to bob");
        // bob's box tells us he played it: a receipt for a remote recipient queues nothing.
        assert!(s
            .advance(Guid::from_u128(2), bob.guid, MailboxState::Played)
            .expect("advance"));
        // A message from bob to ann, then ann's receipts for it.
        s.commit_message(&message(&s, 3, bob.guid, ann.guid))
            .expect("from bob");
        s.advance(Guid::from_u128(3), ann.guid, MailboxState::Delivered)
            .expect("delivered");
        s.advance_many(ann.guid, &[(Guid::from_u128(3), MailboxState::Played)])
            .expect("played");
        assert_eq!(s.outbox_len().expect("len"), 3);

        let mut got = Vec::new();
        while let Some((seq, entry)) = s.outbox_head().expect("head") {
            got.push(entry);
            s.outbox_remove(seq).expect("remove");
        }
        let receipt = |state| OutboxEntry::Receipt {
            message: Guid::from_u128(3),
            from: ann.guid,
            to: bob.guid,
            state,
        };
        assert_eq!(
            got,
            vec![
                OutboxEntry::Message {
                    message: Guid::from_u128(2),
                    to: bob.guid
                },
                receipt(MailboxState::Delivered),
                receipt(MailboxState::Played),
            ]
        );
        assert!(s.set_global(ann.guid, true).expect("on").global);
        assert_eq!(s.global_users().expect("users").len(), 1);
    }

    #[test]
    fn messages_to_and_from_another_box_go_once_this_box_is_done_with_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(dir.path()).expect("store");
        let ann = ann(&s).guid;
        let remote = |n: u128, name: &str| {
            let u = RemoteUser {
                guid: Guid::from_u128(n),
                address: format!("{name}@office-b"),
                display_name: name.into(),
            };
            s.put_remote_user(&u).expect("remote user");
            u.guid
        };
        let (bob, nobody) = (remote(0xb0b, "bob"), remote(0x0, "nobody"));
        let gone = |id: u128| {
            let m = s.message(Guid::from_u128(id)).expect("read");
            m.is_none()
        };

        // To bob, deleted by ann while still queued: kept for the outbox, and gone with
        // bob's box's receipt, blob included.
        let to_bob = message(&s, 10, ann, bob);
        s.commit_message(&to_bob).expect("to bob");
        assert!(s.delete_for(to_bob.id, ann).expect("delete"));
        assert!(!gone(10), "the outbox still needs it");
        assert!(s
            .advance(to_bob.id, bob, MailboxState::Delivered)
            .expect("receipt"));
        assert!(gone(10));
        assert!(matches!(
            s.read_blob(&to_bob.audio),
            Err(StoreError::NotFound)
        ));

        // Undeliverable: kept while ann lists it, gone when she deletes it.
        s.commit_message(&message(&s, 11, ann, nobody))
            .expect("to nobody");
        assert!(s
            .advance(Guid::from_u128(11), nobody, MailboxState::Undeliverable)
            .expect("bounce"));
        assert!(!gone(11));
        assert!(s.delete_for(Guid::from_u128(11), ann).expect("delete"));
        assert!(gone(11));

        // From bob: gone when ann deletes it (bob's box keeps his original).
        s.commit_message(&message(&s, 12, bob, ann))
            .expect("from bob");
        assert!(s.delete_for(Guid::from_u128(12), ann).expect("delete"));
        assert!(gone(12));
        // No list entry is left pointing at them.
        for user in [ann, bob, nobody] {
            assert!(s
                .inbox_page(user, None, 10)
                .expect("inbox")
                .items
                .is_empty());
            assert!(s.sent_page(user, None, 10).expect("sent").items.is_empty());
        }
    }
}
