//! Storage use: bytes per sender (the per-user quota) and free space on the data disk.
//!
//! A user's use is the plaintext size of the audio and attachments of every message they sent
//! that still exists (someone still has it). It is kept in the `usage` table, changed in the
//! same transaction as the message record, so it never drifts from what is stored.
//!
//! Disk space: the data disk filling up must not half-store a message nor stop the database.
//! redb refuses every later transaction after an I/O error until it is reopened, so the box
//! keeps [`FREE_SPACE_RESERVE`] free: a message is refused ([`StoreError::DiskFull`]) before
//! anything is written if storing it would eat into the reserve, and the reserve is what the
//! small writes (sessions, receipts, deletions) use meanwhile.

use std::path::Path;

use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::messages::StoredMessage;
use crate::tables::{decode, guid_key, MESSAGES, META, USAGE, USAGE_COUNTED};
use crate::{Store, StoreError};

/// Space kept free on the data disk for the database's own writes.
pub const FREE_SPACE_RESERVE: u64 = 64 * 1024 * 1024;

/// Adds `delta` bytes to `user`'s use inside `txn`.
pub(crate) fn add(txn: &WriteTransaction, user: Guid, delta: u64) -> Result<u64, StoreError> {
    let mut t = txn.open_table(USAGE)?;
    let now = t.get(guid_key(user))?.map_or(0, |v| v.value());
    let next = now.saturating_add(delta);
    t.insert(guid_key(user), next)?;
    Ok(next)
}

/// Takes `delta` bytes off `user`'s use inside `txn` (a message of theirs was removed).
pub(crate) fn sub(txn: &WriteTransaction, user: Guid, delta: u64) -> Result<(), StoreError> {
    let mut t = txn.open_table(USAGE)?;
    let now = t.get(guid_key(user))?.map_or(0, |v| v.value());
    let next = now.saturating_sub(delta);
    if next == 0 {
        t.remove(guid_key(user))?;
    } else {
        t.insert(guid_key(user), next)?;
    }
    Ok(())
}

/// `user`'s use inside `txn`.
pub(crate) fn get(txn: &WriteTransaction, user: Guid) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(USAGE)?
        .get(guid_key(user))?
        .map_or(0, |v| v.value()))
}

/// Counts `usage` from every message, once (a database from before the table existed).
pub(crate) fn count_once(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    if meta.get(USAGE_COUNTED)?.is_some() {
        return Ok(());
    }
    let mut totals: std::collections::HashMap<Guid, u64> = std::collections::HashMap::new();
    for row in txn.open_table(MESSAGES)?.iter()? {
        let (_, v) = row?;
        let m: StoredMessage = decode("message", v.value())?;
        *totals.entry(m.sender).or_default() += m.stored_bytes();
    }
    let mut usage = txn.open_table(USAGE)?;
    for (user, bytes) in &totals {
        usage.insert(guid_key(*user), *bytes)?;
    }
    meta.insert(USAGE_COUNTED, 1)?;
    if !totals.is_empty() {
        tracing::info!(senders = totals.len(), "counted each sender's storage use");
    }
    Ok(())
}

/// Bytes the file system holding `path` can still give an unprivileged writer.
pub fn free_bytes(path: &Path) -> Result<u64, StoreError> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| StoreError::Io(std::io::Error::from_raw_os_error(e as i32)))?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

impl Store {
    /// Bytes of audio and attachments of `user`'s sent messages that still exist.
    pub fn usage(&self, user: Guid) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn
            .open_table(USAGE)?
            .get(guid_key(user))?
            .map_or(0, |v| v.value()))
    }

    /// [`StoreError::DiskFull`] unless `bytes` more fit on the data disk with
    /// [`FREE_SPACE_RESERVE`] left over.
    pub fn ensure_free_space(&self, bytes: u64) -> Result<(), StoreError> {
        let free = free_bytes(&self.data_dir)?;
        if free < bytes.saturating_add(FREE_SPACE_RESERVE) {
            tracing::warn!(
                free,
                needed = bytes,
                reserve = FREE_SPACE_RESERVE,
                "data disk full: refusing to store"
            );
            return Err(StoreError::DiskFull);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, StoredAttachment};

    #[test]
    fn a_database_from_before_the_table_is_counted_once() {
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
        let m = StoredMessage {
            id: Guid::new_v4(),
            sender: a.guid,
            recipients: vec![b.guid],
            created_at: 1,
            duration_ms: 1,
            peaks: vec![],
            audio: store.put_blob(&[0u8; 700]).expect("blob"),
            attachments: vec![StoredAttachment {
                name: "x".into(),
                content_type: "text/plain".into(),
                blob: store.put_blob(&[0u8; 300]).expect("blob"),
            }],
            idempotency_key: None,
            partial: false,
            urgent: false,
        };
        store.commit_message(&m).expect("commit");
        // Make it look like a database written before `usage` existed.
        let txn = store.db.begin_write().expect("txn");
        txn.delete_table(USAGE).expect("drop usage");
        txn.open_table(META)
            .expect("meta")
            .remove(USAGE_COUNTED)
            .expect("unmark");
        txn.commit().expect("commit");
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.usage(a.guid).expect("usage"), 1000);
        assert_eq!(store.usage(b.guid).expect("usage"), 0);
    }
}
