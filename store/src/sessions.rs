//! Login sessions.
//!
//! A token is 32 random bytes, base64url without padding; the client keeps it, the database
//! keeps only SHA-256(token), so a copy of `ivm.redb` does not hand out live logins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ivm_wire::Guid;
use rand::RngCore;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};

use crate::tables::{
    guid_key, key_guid, user_session_key, user_session_range, SESSIONS, USERS, USER_SESSIONS,
};
use crate::{Store, StoreError};

/// Token length in bytes before encoding.
const TOKEN_BYTES: usize = 32;

/// SHA-256 of a token's bytes, or `None` if the text is not a token we could have issued.
fn token_hash(token: &str) -> Option<[u8; 32]> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    if raw.len() != TOKEN_BYTES {
        return None;
    }
    Some(Sha256::digest(&raw).into())
}

/// Unix seconds of `t` (0 before 1970).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Removes one session's two rows.
fn remove(txn: &WriteTransaction, hash: &[u8; 32], user: Guid) -> Result<(), StoreError> {
    txn.open_table(SESSIONS)?.remove(*hash)?;
    txn.open_table(USER_SESSIONS)?
        .remove(user_session_key(user, hash))?;
    Ok(())
}

/// Ends every session of `user` inside `txn` (password change, user deleted).
pub(crate) fn end_all(txn: &WriteTransaction, user: Guid) -> Result<(), StoreError> {
    let mut index = txn.open_table(USER_SESSIONS)?;
    let mut sessions = txn.open_table(SESSIONS)?;
    for row in index.extract_from_if(user_session_range(user), |_, ()| true)? {
        let (k, _) = row?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&k.value()[16..]);
        sessions.remove(hash)?;
    }
    Ok(())
}

/// Ends every session of `user` inside `txn` but the one holding `keep` (a user changing
/// their own password stays logged in where they did it). An unknown `keep` ends them all.
pub(crate) fn end_all_but(
    txn: &WriteTransaction,
    user: Guid,
    keep: &str,
) -> Result<(), StoreError> {
    let keep = token_hash(keep);
    let mut index = txn.open_table(USER_SESSIONS)?;
    let mut sessions = txn.open_table(SESSIONS)?;
    for row in index.extract_from_if(user_session_range(user), |k, ()| {
        Some(&k[16..]) != keep.as_ref().map(|h| &h[..])
    })? {
        let (k, _) = row?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&k.value()[16..]);
        sessions.remove(hash)?;
    }
    Ok(())
}

/// Adds a session for `user` lasting `ttl` from `now` inside `txn`: the token (for the client;
/// only its hash is stored) and when it expires, Unix seconds. The caller checked the user.
pub(crate) fn insert(
    txn: &WriteTransaction,
    user: Guid,
    ttl: Duration,
    now: SystemTime,
) -> Result<(String, u64), StoreError> {
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash: [u8; 32] = Sha256::digest(raw).into();
    let expires_at = unix_secs(now).saturating_add(ttl.as_secs());
    txn.open_table(SESSIONS)?
        .insert(hash, (guid_key(user), expires_at))?;
    txn.open_table(USER_SESSIONS)?
        .insert(user_session_key(user, &hash), ())?;
    Ok((token, expires_at))
}

impl Store {
    /// Starts a session for `user` lasting `ttl` from `now`. Returns the token (give it to the
    /// client, it is not stored) and when it expires, Unix seconds.
    pub fn create_session(
        &self,
        user: Guid,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<(String, u64), StoreError> {
        let txn = self.db.begin_write()?;
        if txn.open_table(USERS)?.get(guid_key(user))?.is_none() {
            return Err(StoreError::NotFound);
        }
        let made = insert(&txn, user, ttl, now)?;
        txn.commit()?;
        Ok(made)
    }

    /// Who a token belongs to. `None` if it is unknown, malformed or expired at `now`; an
    /// expired session is removed on the way.
    pub fn session_user(&self, token: &str, now: SystemTime) -> Result<Option<Guid>, StoreError> {
        let Some(hash) = token_hash(token) else {
            return Ok(None);
        };
        let row = {
            let txn = self.db.begin_read()?;
            let found = txn.open_table(SESSIONS)?.get(hash)?.map(|v| v.value());
            found
        };
        let Some((user, expires_at)) = row else {
            return Ok(None);
        };
        let user = key_guid(user);
        if unix_secs(now) < expires_at {
            return Ok(Some(user));
        }
        let txn = self.db.begin_write()?;
        remove(&txn, &hash, user)?;
        txn.commit()?;
        Ok(None)
    }

    /// The user a token belongs to, as stored now; `None` as for [`Store::session_user`], or
    /// when the user was deleted meanwhile.
    pub fn user_for_session(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Option<crate::User>, StoreError> {
        match self.session_user(token, now)? {
            Some(guid) => self.user(guid),
            None => Ok(None),
        }
    }

    /// Ends a session (logout). Unknown tokens are fine.
    pub fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        let Some(hash) = token_hash(token) else {
            return Ok(());
        };
        let txn = self.db.begin_write()?;
        let user = txn
            .open_table(SESSIONS)?
            .get(hash)?
            .map(|v| key_guid(v.value().0));
        if let Some(user) = user {
            remove(&txn, &hash, user)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes every session expired at `now`; returns how many. For a periodic sweep, so
    /// tokens nobody presents again do not pile up.
    pub fn purge_expired_sessions(&self, now: SystemTime) -> Result<u64, StoreError> {
        let now = unix_secs(now);
        let txn = self.db.begin_write()?;
        let mut expired = Vec::new();
        for row in txn
            .open_table(SESSIONS)?
            .extract_if(|_, (_, exp)| exp <= now)?
        {
            let (k, v) = row?;
            expired.push((k.value(), key_guid(v.value().0)));
        }
        {
            let mut index = txn.open_table(USER_SESSIONS)?;
            for (hash, user) in &expired {
                index.remove(user_session_key(*user, hash))?;
            }
        }
        txn.commit()?;
        Ok(expired.len() as u64)
    }
}
