//! Logins and own password changes, split so argon2 never runs inside the store's callers'
//! database threads: read the stored hash ([`Store::login_candidate`]), check the password
//! anywhere ([`LoginCandidate::verify`], slow on purpose), then commit the outcome
//! ([`Store::open_session`], [`Store::replace_own_password`]), which first makes sure the hash
//! is still the one that was checked.
//!
//! One-time passwords (set by the box for someone else: first start, generated resets, the
//! panel) open exactly one session: [`Store::open_session`] marks the password used in the
//! same write transaction that creates the session, so two logins racing with it cannot both
//! win. They expire a fixed time after they were set (24 h by the HTTP service's default).
//! The session they opened can still change the password with it (its holder typed it), and
//! only that (the HTTP layer's `must_change_password` rule).

use std::time::{Duration, SystemTime};

use ivm_wire::Guid;
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use crate::tables::{USERS, USER_NAMES};
use crate::users::{get_record, index_lookup, put_record, UserRecord};
use crate::{passwords, sessions, Store, StoreError, User};

/// A one-time password's state, kept in the user record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OneTime {
    /// When it was set, Unix seconds.
    pub(crate) set_at: u64,
    /// A login has used it.
    pub(crate) used: bool,
}

impl OneTime {
    /// A fresh one-time password set at `set_at`.
    pub(crate) fn new(set_at: u64) -> Self {
        OneTime {
            set_at,
            used: false,
        }
    }
}

/// What a password check needs: the user (if the name exists) and the stored hash (a dummy
/// one for an unknown name, so the check costs the same and timing tells nothing).
#[derive(Clone)]
pub struct LoginCandidate {
    user: Option<User>,
    phc: String,
}

impl std::fmt::Debug for LoginCandidate {
    /// Hides the hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCandidate")
            .field("user", &self.user.as_ref().map(|u| &u.name))
            .finish_non_exhaustive()
    }
}

impl LoginCandidate {
    /// The user, when the name exists.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// Checks `password` with argon2id: slow on purpose (tens of milliseconds, 12 MiB), so
    /// run it on a thread meant for it. `false` for an unknown name, after the same work.
    pub fn verify(&self, password: &str) -> Result<bool, StoreError> {
        if self.user.is_none() || password.len() > passwords::MAX_LEN {
            passwords::verify_dummy(password);
            return Ok(false);
        }
        passwords::verify(password, &self.phc)
    }
}

/// A new password, checked against the rules and hashed (slow: see [`hash_password`]).
pub struct NewPasswordHash(String);

impl std::fmt::Debug for NewPasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPasswordHash(..)")
    }
}

/// Checks a new password against the box's rules (length); nothing slow.
pub fn validate_password(password: &str) -> Result<(), StoreError> {
    passwords::validate(password)
}

/// Checks and hashes a new password with argon2id (slow, like [`LoginCandidate::verify`]).
pub fn hash_password(password: &str) -> Result<NewPasswordHash, StoreError> {
    passwords::validate(password)?;
    Ok(NewPasswordHash(passwords::hash(password)?))
}

/// Why a checked password still opens no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The password changed (or the user went) between the check and the commit: answer as
    /// for a wrong password.
    Changed,
    /// A one-time password that a login has already used: answer as for a wrong password.
    OneTimeUsed,
    /// A one-time password older than its lifetime: the holder must ask for a new one.
    OneTimeExpired,
}

/// The outcome of [`Store::open_session`]. One value per login, moved once: not worth a box
/// for the size difference between its variants.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    /// A new session: the token (not stored, only its hash), its expiry (Unix seconds) and
    /// the user as the commit left them.
    Session {
        /// The bearer token.
        token: String,
        /// Unix seconds.
        expires_at: u64,
        /// The user.
        user: User,
    },
    /// No session, and why.
    Refused(LoginRefusal),
}

fn candidate_of(rec: Option<UserRecord>) -> LoginCandidate {
    match rec {
        Some(r) => LoginCandidate {
            user: Some(r.user),
            phc: r.password_hash,
        },
        None => LoginCandidate {
            user: None,
            phc: String::new(),
        },
    }
}

impl Store {
    /// The stored hash for a login by `name` (exact, names are lowercase). Quick: one read.
    pub fn login_candidate(&self, name: &str) -> Result<LoginCandidate, StoreError> {
        let txn = self.db.begin_read()?;
        let rec = match index_lookup(&txn.open_table(USER_NAMES)?, name)? {
            Some(guid) => get_record(&txn.open_table(USERS)?, guid)?,
            None => None,
        };
        Ok(candidate_of(rec))
    }

    /// The stored hash of user `guid` (to check their current password before a change).
    pub fn password_candidate(&self, guid: Guid) -> Result<LoginCandidate, StoreError> {
        let txn = self.db.begin_read()?;
        let rec = get_record(&txn.open_table(USERS)?, guid)?;
        if rec.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(candidate_of(rec))
    }

    /// Opens a session for a candidate whose password [`LoginCandidate::verify`] accepted,
    /// in one write transaction: the hash must still be the one checked, and a one-time
    /// password must be unused and younger than `one_time_ttl`; it is then marked used.
    pub fn open_session(
        &self,
        checked: &LoginCandidate,
        ttl: Duration,
        now: SystemTime,
        one_time_ttl: Duration,
    ) -> Result<Opened, StoreError> {
        let Some(user) = &checked.user else {
            return Ok(Opened::Refused(LoginRefusal::Changed));
        };
        let txn = self.db.begin_write()?;
        let rec = {
            let mut users = txn.open_table(USERS)?;
            let Some(mut rec) = get_record(&users, user.guid)? else {
                return Ok(Opened::Refused(LoginRefusal::Changed));
            };
            if rec.password_hash != checked.phc {
                return Ok(Opened::Refused(LoginRefusal::Changed));
            }
            if rec.user.must_change_password {
                let now_s = sessions::unix_secs(now);
                match rec.one_time {
                    Some(ot) if ot.used => return Ok(Opened::Refused(LoginRefusal::OneTimeUsed)),
                    Some(ot) if now_s >= ot.set_at.saturating_add(one_time_ttl.as_secs()) => {
                        return Ok(Opened::Refused(LoginRefusal::OneTimeExpired))
                    }
                    _ => {}
                }
                // A record from before one-time passwords kept their age has none: it is
                // used up now, with its age counted from now.
                let set_at = rec.one_time.map_or(now_s, |o| o.set_at);
                rec.one_time = Some(OneTime { set_at, used: true });
                put_record(&mut users, &rec)?;
            }
            rec
        };
        let (token, expires_at) = sessions::insert(&txn, rec.user.guid, ttl, now)?;
        txn.commit()?;
        Ok(Opened::Session {
            token,
            expires_at,
            user: rec.user,
        })
    }

    /// A user changes their own password after [`LoginCandidate::verify`] accepted their
    /// current one: sets `new` unless the stored hash changed since it was read (`Ok(false)`,
    /// nothing changed), clears the one-time state, and ends every session of the user except
    /// `keep_token`'s (the one asking). [`StoreError::NotFound`] if the user is gone.
    pub fn replace_own_password(
        &self,
        checked: &LoginCandidate,
        new: NewPasswordHash,
        keep_token: &str,
    ) -> Result<bool, StoreError> {
        let Some(user) = &checked.user else {
            return Err(StoreError::NotFound);
        };
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, user.guid)?.ok_or(StoreError::NotFound)?;
            if rec.password_hash != checked.phc {
                return Ok(false);
            }
            rec.password_hash = new.0;
            rec.user.must_change_password = false;
            rec.one_time = None;
            put_record(&mut users, &rec)?;
        }
        sessions::end_all_but(&txn, user.guid, keep_token)?;
        txn.commit()?;
        tracing::info!(user = %user.guid, "password changed by its holder; other sessions ended");
        Ok(true)
    }
}
