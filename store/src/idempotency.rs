//! Client-chosen idempotency keys on messages: a client that lost the answer to a send can
//! send again with the same key and get the message already stored instead of a duplicate.
//!
//! A key is scoped to its sender (two users may pick the same one) and stored, hashed, with a
//! fingerprint of the request, in the same commit as the message; a retry with the same key
//! but another request is told so rather than handed a message it did not send. The row goes
//! when the message goes.

use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};

use crate::messages::StoredMessage;
use crate::tables::{guid_key, key_guid, user_session_key, IDEMPOTENCY, MESSAGES};
use crate::{Store, StoreError};

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// A key as the store keeps it: SHA-256 of the client's text, and of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    hash: [u8; 32],
    fingerprint: [u8; 32],
}

impl IdempotencyKey {
    /// Checks the client's `key` (1-128 visible ASCII characters) and keeps it with a
    /// fingerprint of the request made of `parts` (each length-prefixed, so parts cannot run
    /// into each other). [`StoreError::Invalid`] for a bad key.
    pub fn new<'a>(
        key: &str,
        parts: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, StoreError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Invalid(format!(
                "idempotency key: use 1-{MAX_KEY_LEN} visible ASCII characters (a UUID is fine)"
            )));
        }
        let mut f = Sha256::new();
        for p in parts {
            f.update((p.len() as u64).to_be_bytes());
            f.update(p);
        }
        Ok(IdempotencyKey {
            hash: Sha256::digest(key.as_bytes()).into(),
            fingerprint: f.finalize().into(),
        })
    }

    /// The hash kept in the message record, hex.
    pub(crate) fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a key already stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUse {
    /// The same request: here is the message it stored.
    Same(StoredMessage),
    /// Another request used this key (a client bug, or a key reused by mistake).
    Different(Guid),
}

/// The message `key` stands for inside a read or write, if any.
fn lookup(
    table: &impl ReadableTable<[u8; 48], ([u8; 16], [u8; 32])>,
    messages: &impl ReadableTable<[u8; 16], &'static [u8]>,
    sender: Guid,
    key: &IdempotencyKey,
) -> Result<Option<KeyUse>, StoreError> {
    let Some((id, fingerprint)) = table
        .get(user_session_key(sender, &key.hash))?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    let id = key_guid(id);
    if fingerprint != key.fingerprint {
        return Ok(Some(KeyUse::Different(id)));
    }
    match messages.get(guid_key(id))? {
        Some(v) => Ok(Some(KeyUse::Same(crate::tables::decode(
            "message",
            v.value(),
        )?))),
        // The row goes with its message; a dangling one means the message is gone.
        None => Ok(None),
    }
}

/// Inside the message's commit: the key's use so far, or the row written for `msg`.
pub(crate) fn claim(
    txn: &WriteTransaction,
    msg: &StoredMessage,
    key: &IdempotencyKey,
) -> Result<Option<KeyUse>, StoreError> {
    let mut table = txn.open_table(IDEMPOTENCY)?;
    if let Some(found) = lookup(&table, &txn.open_table(MESSAGES)?, msg.sender, key)? {
        return Ok(Some(found));
    }
    table.insert(
        user_session_key(msg.sender, &key.hash),
        (guid_key(msg.id), key.fingerprint),
    )?;
    Ok(None)
}

/// Inside the commit that removes `msg`: its key's row, if it had one.
pub(crate) fn release(txn: &WriteTransaction, msg: &StoredMessage) -> Result<(), StoreError> {
    let Some(hex) = &msg.idempotency_key else {
        return Ok(());
    };
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("message {}: idempotency key", msg.id)))?;
    }
    txn.open_table(IDEMPOTENCY)?
        .remove(user_session_key(msg.sender, &hash))?;
    Ok(())
}

impl Store {
    /// What `key` of `sender` already stands for (a quick read before preparing a retry).
    pub fn message_for_key(
        &self,
        sender: Guid,
        key: &IdempotencyKey,
    ) -> Result<Option<KeyUse>, StoreError> {
        let txn = self.db.begin_read()?;
        lookup(
            &txn.open_table(IDEMPOTENCY)?,
            &txn.open_table(MESSAGES)?,
            sender,
            key,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_fingerprints_separate_parts() {
        assert!(IdempotencyKey::new("", [&b"x"[..]]).is_err());
        assert!(IdempotencyKey::new("has space", [&b"x"[..]]).is_err());
        assert!(IdempotencyKey::new(&"k".repeat(129), [&b"x"[..]]).is_err());
        let a = IdempotencyKey::new("k1", [&b"ab"[..], &b"c"[..]]).expect("key");
        let b = IdempotencyKey::new("k1", [&b"a"[..], &b"bc"[..]]).expect("key");
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a.hash_hex().len(), 64);
    }
}
