//! Voice messages (the server's message database): the record, one mailbox row per recipient, one
//! sent row for the sender, and the rules for moving and deleting them.
//!
//! A message's audio and attachments are blobs written (durably) before
//! [`Store::commit_message`]; the commit is one redb write transaction, durable when it returns,
//! so a caller that acks after it never acks something a power cut can lose.
//!
//! A message lives until every recipient has it `Deleted` and the sender has hidden it; then
//! the record and its rows go in one transaction, and its blob files after that commit (a
//! crash in between leaves an orphan file, never a record without its file).

use ivm_wire::{Guid, MailboxState};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::blobs::BlobRef;
use crate::idempotency::{self, IdempotencyKey, KeyUse};
use crate::tables::{
    byte_state, decode, encode, guid_key, pair_key, pair_range, pair_second, state_byte, MAILBOX,
    MESSAGES, SENT, SENT_HIDDEN, SENT_LISTED,
};
use crate::{pages, usage, users, Store, StoreError};

/// Rules a commit checks inside its transaction.
#[derive(Debug, Clone, Default)]
pub struct CommitRules {
    /// The sender's quota in bytes ([`Store::usage`] plus this message must fit).
    pub quota: Option<u64>,
    /// The client's idempotency key.
    pub key: Option<IdempotencyKey>,
    /// The pending talk this message is the copy of: its row is removed in the same commit,
    /// so a restart never stores the talk a second time ([`Store::open_talk`]). The caller
    /// removes its journal file after the commit.
    pub talk: Option<Guid>,
}

/// The outcome of [`Store::commit_message_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The message is stored.
    New,
    /// Nothing was stored: the key already stands for this message (the same request, sent
    /// again). Its blobs are the caller's to remove.
    Existing(StoredMessage),
}

/// What one receipt of [`Store::advance_many`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// The user is not a recipient of that message, or it no longer exists.
    NotFound,
    /// The receipt is recorded.
    Done {
        /// Who sent the message (to tell them).
        sender: Guid,
        /// The state moved; false when it was already there or past it.
        changed: bool,
    },
}

/// Who a user is to a message they may see ([`Store::message_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// They sent it (and keep it in their sent list).
    Sender,
    /// It is in their inbox.
    Recipient,
}

/// A stored voice message: what the server committed, with references to its encrypted files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Message GUID, chosen by the caller (unique).
    pub id: Guid,
    /// Who sent it.
    pub sender: Guid,
    /// Who it is for, in the order given (no duplicates).
    pub recipients: Vec<Guid>,
    /// When the box committed it, Unix milliseconds.
    pub created_at: u64,
    /// Audio length, milliseconds.
    pub duration_ms: u32,
    /// Waveform summary, a peak level 0-255 per slice.
    pub peaks: Vec<u8>,
    /// The Ogg Opus audio.
    pub audio: BlobRef,
    /// Attached files.
    pub attachments: Vec<StoredAttachment>,
    /// SHA-256 (hex) of the client's idempotency key, when it sent one: its row goes when the
    /// message goes. Set by [`Store::commit_message_with`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A live talk cut off before its speaker ended it (speaker gone, idle, length limit):
    /// the audio is what arrived. Absent (false) in records written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// An all-call (a priority talk to a group): inboxes mark it. Absent (false) in records
    /// written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    /// File name as the sender gave it (no path).
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The encrypted file.
    pub blob: BlobRef,
}

impl StoredMessage {
    /// Bytes the message holds on disk in its sender's quota: audio and attachments,
    /// plaintext sizes.
    pub fn stored_bytes(&self) -> u64 {
        self.audio
            .size
            .saturating_add(self.attachments.iter().map(|a| a.blob.size).sum::<u64>())
    }

    /// Every blob the message owns.
    fn blobs(&self) -> Vec<BlobRef> {
        std::iter::once(self.audio.clone())
            .chain(self.attachments.iter().map(|a| a.blob.clone()))
            .collect()
    }
}

/// Reads a message record from any view of `messages`.
fn get_message(
    table: &impl ReadableTable<[u8; 16], &'static [u8]>,
    id: Guid,
) -> Result<Option<StoredMessage>, StoreError> {
    match table.get(guid_key(id))? {
        Some(v) => Ok(Some(decode("message", v.value())?)),
        None => Ok(None),
    }
}

/// Reads a message that a mailbox or sent row points at; a dangling row is corruption.
fn must_get(
    table: &impl ReadableTable<[u8; 16], &'static [u8]>,
    id: Guid,
) -> Result<StoredMessage, StoreError> {
    get_message(table, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("row points at missing message {id}")))
}

/// Newest first (ties by id, so the order is stable).
fn newest_first(a: &StoredMessage, b: &StoredMessage) -> std::cmp::Ordering {
    b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))
}

/// If everyone is done with `msg`, removes its record and rows and returns its blobs (to be
/// removed once the transaction commits).
///
/// A user of another box never deletes anything here: as a recipient they are done once their
/// box has its own copy (delivered, played) or never will (undeliverable), while still queued
/// the outbox needs the record; as a sender they are done at once (their box keeps the
/// original). Without this, every message to or from another box stayed on disk for good.
fn collect_if_done(
    txn: &WriteTransaction,
    msg: &StoredMessage,
) -> Result<Vec<BlobRef>, StoreError> {
    let mut mailbox = txn.open_table(MAILBOX)?;
    let mut sent = txn.open_table(SENT)?;
    for r in &msg.recipients {
        if let Some(v) = mailbox.get(pair_key(*r, msg.id))? {
            let done = match byte_state(v.value())? {
                MailboxState::Deleted => true,
                MailboxState::Queued => false,
                _ => crate::global::is_remote(txn, *r)?,
            };
            if !done {
                return Ok(Vec::new());
            }
        }
    }
    if let Some(v) = sent.get(pair_key(msg.sender, msg.id))? {
        if v.value() != SENT_HIDDEN && !crate::global::is_remote(txn, msg.sender)? {
            return Ok(Vec::new());
        }
    }
    for r in &msg.recipients {
        mailbox.remove(pair_key(*r, msg.id))?;
        // A remote recipient's list entry (local ones left theirs when they deleted).
        pages::unlist_inbox(txn, *r, msg)?;
    }
    sent.remove(pair_key(msg.sender, msg.id))?;
    pages::unlist_sent(txn, msg)?;
    txn.open_table(MESSAGES)?.remove(guid_key(msg.id))?;
    usage::sub(txn, msg.sender, msg.stored_bytes())?;
    idempotency::release(txn, msg)?;
    tracing::debug!(message = %msg.id, "message removed: every party deleted it");
    Ok(msg.blobs())
}

/// `user` deletes `id` inside `txn`. Returns whether they had it, and the blobs freed.
fn delete_in(
    txn: &WriteTransaction,
    id: Guid,
    user: Guid,
) -> Result<(bool, Vec<BlobRef>), StoreError> {
    let Some(msg) = get_message(&txn.open_table(MESSAGES)?, id)? else {
        return Ok((false, Vec::new()));
    };
    let mut involved = false;
    {
        let mut mailbox = txn.open_table(MAILBOX)?;
        let row = mailbox.get(pair_key(user, id))?.map(|v| v.value());
        if let Some(b) = row {
            involved = true;
            if byte_state(b)? != MailboxState::Deleted {
                mailbox.insert(pair_key(user, id), state_byte(MailboxState::Deleted))?;
                pages::unlist_inbox(txn, user, &msg)?;
            }
        }
    }
    if msg.sender == user {
        involved = true;
        txn.open_table(SENT)?
            .insert(pair_key(user, id), SENT_HIDDEN)?;
        pages::unlist_sent(txn, &msg)?;
    }
    if !involved {
        return Ok((false, Vec::new()));
    }
    Ok((true, collect_if_done(txn, &msg)?))
}

/// Deletes `user`'s side of every message they sent or received (the user is being deleted).
pub(crate) fn delete_all_for(
    txn: &WriteTransaction,
    user: Guid,
) -> Result<Vec<BlobRef>, StoreError> {
    let mut ids = Vec::new();
    for row in txn.open_table(MAILBOX)?.range(pair_range(user))? {
        ids.push(pair_second(row?.0.value()));
    }
    for row in txn.open_table(SENT)?.range(pair_range(user))? {
        ids.push(pair_second(row?.0.value()));
    }
    ids.sort_unstable();
    ids.dedup();
    let mut freed = Vec::new();
    for id in ids {
        freed.extend(delete_in(txn, id, user)?.1);
    }
    Ok(freed)
}

impl Store {
    /// Commits a message: its record, a `Queued` mailbox row per recipient and a sent row, in
    /// one durable transaction. Write its blobs with [`Store::put_blob`] first; ack the sender
    /// only after this returns. [`StoreError::Invalid`] for no or duplicate recipients,
    /// [`StoreError::NotFound`] for an unknown sender or recipient, [`StoreError::Conflict`] for
    /// a reused id.
    pub fn commit_message(&self, msg: &StoredMessage) -> Result<(), StoreError> {
        match self.commit_message_with(msg, &CommitRules::default())? {
            Committed::New => Ok(()),
            Committed::Existing(m) => Err(StoreError::Conflict(format!("message {} exists", m.id))),
        }
    }

    /// [`Store::commit_message`] with rules checked in the same transaction: the sender's
    /// quota ([`StoreError::QuotaExceeded`], nothing stored), and an idempotency key
    /// ([`Committed::Existing`] when the key already stands for the same request;
    /// [`StoreError::KeyReused`] when it stands for another).
    pub fn commit_message_with(
        &self,
        msg: &StoredMessage,
        rules: &CommitRules,
    ) -> Result<Committed, StoreError> {
        if msg.recipients.is_empty() {
            return Err(StoreError::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        let mut seen = msg.recipients.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != msg.recipients.len() {
            return Err(StoreError::Invalid("a recipient is listed twice".into()));
        }
        let mut msg = msg.clone();
        msg.idempotency_key = rules.key.as_ref().map(IdempotencyKey::hash_hex);
        let txn = self.db.begin_write()?;
        for u in std::iter::once(&msg.sender).chain(&msg.recipients) {
            if !users::exists(&txn, *u)? && !crate::global::is_remote(&txn, *u)? {
                return Err(StoreError::NotFound);
            }
        }
        if let Some(key) = &rules.key {
            match idempotency::claim(&txn, &msg, key)? {
                None => {}
                Some(KeyUse::Same(existing)) => return Ok(Committed::Existing(existing)),
                Some(KeyUse::Different(id)) => return Err(StoreError::KeyReused(id)),
            }
        }
        let bytes = msg.stored_bytes();
        if let Some(quota) = rules.quota {
            let used = usage::get(&txn, msg.sender)?;
            if used.saturating_add(bytes) > quota {
                return Err(StoreError::QuotaExceeded {
                    used,
                    adding: bytes,
                    quota,
                });
            }
        }
        usage::add(&txn, msg.sender, bytes)?;
        {
            let mut messages = txn.open_table(MESSAGES)?;
            if messages.get(guid_key(msg.id))?.is_some() {
                return Err(StoreError::Conflict(format!("message {} exists", msg.id)));
            }
            messages.insert(guid_key(msg.id), encode(&msg)?.as_slice())?;
            let mut mailbox = txn.open_table(MAILBOX)?;
            for r in &msg.recipients {
                mailbox.insert(pair_key(*r, msg.id), state_byte(MailboxState::Queued))?;
            }
            txn.open_table(SENT)?
                .insert(pair_key(msg.sender, msg.id), SENT_LISTED)?;
        }
        pages::index_message(&txn, &msg)?;
        crate::global::queue_message(&txn, &msg)?;
        if let Some(talk) = rules.talk {
            crate::talks::remove_pending(&txn, talk)?;
        }
        txn.commit()?;
        tracing::debug!(message = %msg.id, sender = %msg.sender, recipients = msg.recipients.len(), bytes, "message committed");
        Ok(Committed::New)
    }

    /// The message with this id, if it still exists.
    pub fn message(&self, id: Guid) -> Result<Option<StoredMessage>, StoreError> {
        let txn = self.db.begin_read()?;
        get_message(&txn.open_table(MESSAGES)?, id)
    }

    /// `user`'s inbox with their state of each message, newest first, without deleted ones.
    pub fn inbox(&self, user: Guid) -> Result<Vec<(StoredMessage, MailboxState)>, StoreError> {
        let txn = self.db.begin_read()?;
        let messages = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for row in txn.open_table(MAILBOX)?.range(pair_range(user))? {
            let (k, v) = row?;
            let state = byte_state(v.value())?;
            if state != MailboxState::Deleted {
                out.push((must_get(&messages, pair_second(k.value()))?, state));
            }
        }
        out.sort_by(|a, b| newest_first(&a.0, &b.0));
        Ok(out)
    }

    /// What `user` sent, newest first, without the ones they deleted.
    pub fn sent(&self, user: Guid) -> Result<Vec<StoredMessage>, StoreError> {
        let txn = self.db.begin_read()?;
        let messages = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for row in txn.open_table(SENT)?.range(pair_range(user))? {
            let (k, v) = row?;
            if v.value() == SENT_LISTED {
                out.push(must_get(&messages, pair_second(k.value()))?);
            }
        }
        out.sort_by(newest_first);
        Ok(out)
    }

    /// Whether `msg` is in `user`'s sent list (they sent it and have not deleted it): the
    /// access check for a sender, without loading the whole list.
    pub fn in_sent(&self, user: Guid, msg: Guid) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let row = txn
            .open_table(SENT)?
            .get(pair_key(user, msg))?
            .map(|v| v.value());
        Ok(row == Some(SENT_LISTED))
    }

    /// The message `id` if `user` may see it, and as whom: a recipient who has not deleted
    /// it (their own view wins when they sent it to themself), or its sender while it is in
    /// their sent list. The one access rule for reading, downloading and deleting a message.
    pub fn message_for(
        &self,
        id: Guid,
        user: Guid,
    ) -> Result<Option<(StoredMessage, Party)>, StoreError> {
        let Some(msg) = self.message(id)? else {
            return Ok(None);
        };
        if let Some(state) = self.mailbox_state(id, user)? {
            if state != MailboxState::Deleted {
                return Ok(Some((msg, Party::Recipient)));
            }
        }
        if msg.sender == user && self.in_sent(user, id)? {
            return Ok(Some((msg, Party::Sender)));
        }
        Ok(None)
    }

    /// Each recipient of `msg` with their state, in the message's recipient order (receipts
    /// for the sender). [`StoreError::NotFound`] if the message is gone.
    pub fn recipient_states(&self, msg: Guid) -> Result<Vec<(Guid, MailboxState)>, StoreError> {
        let txn = self.db.begin_read()?;
        let m = get_message(&txn.open_table(MESSAGES)?, msg)?.ok_or(StoreError::NotFound)?;
        let mailbox = txn.open_table(MAILBOX)?;
        let mut out = Vec::with_capacity(m.recipients.len());
        for r in m.recipients {
            let b = mailbox
                .get(pair_key(r, msg))?
                .ok_or_else(|| StoreError::Corrupt(format!("message {msg} lacks a mailbox row")))?
                .value();
            out.push((r, byte_state(b)?));
        }
        Ok(out)
    }

    /// `user`'s state of `msg`; `None` if they are not a recipient (or it is gone).
    pub fn mailbox_state(&self, msg: Guid, user: Guid) -> Result<Option<MailboxState>, StoreError> {
        let txn = self.db.begin_read()?;
        let row = txn
            .open_table(MAILBOX)?
            .get(pair_key(user, msg))?
            .map(|v| v.value());
        row.map(byte_state).transpose()
    }

    /// Moves `recipient`'s state of `msg` forward (queued < delivered < played < deleted);
    /// a step back or sideways changes nothing. Returns whether it changed.
    /// [`StoreError::NotFound`] if they are not a recipient. Advancing to `Deleted` is the
    /// same as [`Store::delete_for`] by the recipient.
    pub fn advance(
        &self,
        msg: Guid,
        recipient: Guid,
        state: MailboxState,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let current = {
            let row = txn
                .open_table(MAILBOX)?
                .get(pair_key(recipient, msg))?
                .map(|v| v.value());
            byte_state(row.ok_or(StoreError::NotFound)?)?
        };
        if !current.can_advance_to(state) {
            return Ok(false);
        }
        let freed = if state == MailboxState::Deleted {
            delete_in(&txn, msg, recipient)?.1
        } else {
            txn.open_table(MAILBOX)?
                .insert(pair_key(recipient, msg), state_byte(state))?;
            if let Some(sender) = crate::global::sender_of(&txn, msg)? {
                crate::global::queue_receipt(&txn, msg, sender, recipient, state)?;
            }
            // A receipt from another box's user may be the last thing the message waited
            // for (its sender here deleted it already).
            let message = if crate::global::is_remote(&txn, recipient)? {
                get_message(&txn.open_table(MESSAGES)?, msg)?
            } else {
                None
            };
            match message {
                Some(m) => collect_if_done(&txn, &m)?,
                None => Vec::new(),
            }
        };
        txn.commit()?;
        self.remove_blobs_logged(&freed);
        Ok(true)
    }

    /// Moves `recipient`'s state of many messages forward at once (a client's batch of
    /// delivered and played receipts): one write transaction, one fsync, for the lot.
    /// Each receipt is answered in order: [`Advanced::NotFound`] when they are not a recipient
    /// of that message (or it is gone), else whether the state moved (a receipt for a state
    /// already reached or passed is done, not an error, so a retried batch is harmless).
    /// Only `Delivered` and `Played` may be asked for ([`StoreError::Invalid`] otherwise,
    /// and nothing changes); deleting goes through [`Store::delete_for`].
    pub fn advance_many(
        &self,
        recipient: Guid,
        receipts: &[(Guid, MailboxState)],
    ) -> Result<Vec<Advanced>, StoreError> {
        let receipts: Vec<_> = receipts
            .iter()
            .map(|&(msg, state)| (recipient, msg, state))
            .collect();
        self.advance_receipts(&receipts)
    }

    /// [`Store::advance_many`] for receipts of any recipients, each `(recipient, message,
    /// state)`: one write transaction for the lot (the listeners of a live talk all heard it).
    pub fn advance_receipts(
        &self,
        receipts: &[(Guid, Guid, MailboxState)],
    ) -> Result<Vec<Advanced>, StoreError> {
        if receipts
            .iter()
            .any(|(_, _, s)| !matches!(s, MailboxState::Delivered | MailboxState::Played))
        {
            return Err(StoreError::Invalid(
                "a receipt is `delivered` or `played`".into(),
            ));
        }
        let txn = self.db.begin_write()?;
        let mut out = Vec::with_capacity(receipts.len());
        let mut changed_any = false;
        {
            let messages = txn.open_table(MESSAGES)?;
            let mut mailbox = txn.open_table(MAILBOX)?;
            for &(recipient, id, state) in receipts {
                let row = mailbox.get(pair_key(recipient, id))?.map(|v| v.value());
                let (Some(row), Some(msg)) = (row, get_message(&messages, id)?) else {
                    out.push(Advanced::NotFound);
                    continue;
                };
                let changed = byte_state(row)?.can_advance_to(state);
                if changed {
                    mailbox.insert(pair_key(recipient, id), state_byte(state))?;
                    crate::global::queue_receipt(&txn, id, msg.sender, recipient, state)?;
                    changed_any = true;
                }
                out.push(Advanced::Done {
                    sender: msg.sender,
                    changed,
                });
            }
        }
        if changed_any {
            txn.commit()?;
        }
        Ok(out)
    }

    /// Messages still `Queued` for `user`, oldest first: what to push when they connect.
    pub fn queued_for(&self, user: Guid) -> Result<Vec<StoredMessage>, StoreError> {
        let txn = self.db.begin_read()?;
        let messages = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for row in txn.open_table(MAILBOX)?.range(pair_range(user))? {
            let (k, v) = row?;
            if byte_state(v.value())? == MailboxState::Queued {
                out.push(must_get(&messages, pair_second(k.value()))?);
            }
        }
        out.sort_by(|a, b| newest_first(b, a));
        Ok(out)
    }

    /// `user` deletes `msg`: as a recipient its state becomes `Deleted`, as the sender it
    /// leaves their sent list. When every recipient and the sender have deleted it, the record
    /// and its blob files are removed. Returns false if the user neither sent nor received it
    /// (or it no longer exists).
    pub fn delete_for(&self, msg: Guid, user: Guid) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let (involved, freed) = delete_in(&txn, msg, user)?;
        if !involved {
            return Ok(false);
        }
        txn.commit()?;
        self.remove_blobs_logged(&freed);
        Ok(true)
    }

    /// How many (recipient, message) pairs are still `Queued` (the status page).
    pub fn queued_count(&self) -> Result<u64, StoreError> {
        self.count_states(|s| s == MailboxState::Queued)
    }

    /// How many (recipient, message) pairs wait to be heard: queued or delivered, not yet
    /// played or deleted (the front panel's "messages waiting", the lamps' sum).
    pub fn waiting_count(&self) -> Result<u64, StoreError> {
        self.count_states(|s| matches!(s, MailboxState::Queued | MailboxState::Delivered))
    }

    fn count_states(&self, want: impl Fn(MailboxState) -> bool) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let mut n = 0;
        for row in txn.open_table(MAILBOX)?.iter()? {
            if want(byte_state(row?.1.value())?) {
                n += 1;
            }
        }
        Ok(n)
    }
}
