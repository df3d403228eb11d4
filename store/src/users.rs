//! Users (name, password hash, contact list), their extensions, contacts and chosen status.
//!
//! Rules: a name is 1-32 characters of `[a-z0-9._-]` starting with a letter or digit (so it is
//! safe in paths, URLs and SIP user parts); an extension is 2-8 digits; both are unique. A
//! password has at least 8 characters. Uniqueness is checked inside the write transaction, so
//! two concurrent creates cannot both win.

use std::time::{SystemTime, UNIX_EPOCH};

use ivm_wire::rest::CallSettings;
use ivm_wire::{Guid, Status};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, guid_key, USERS, USER_EXTENSIONS, USER_NAMES};
use crate::{passwords, Store, StoreError};

/// Longest login name.
const NAME_MAX: usize = 32;
/// Shortest delay before forward on no answer, seconds (less would not give the user time
/// to reach the phone).
pub const MIN_NO_ANSWER_AFTER: u32 = 5;
/// Longest delay before forward on no answer, seconds.
pub const MAX_NO_ANSWER_AFTER: u32 = 120;
/// Longest display name, in characters.
const DISPLAY_NAME_MAX: usize = 64;

/// A user as the rest of the box sees them. The password hash is never part of it, so it
/// cannot leak through `Debug`, logs or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identity, fixed for life; messages and sessions point at it.
    pub guid: Guid,
    /// Login name, unique.
    pub name: String,
    /// Extension number for phones, unique.
    pub extension: String,
    /// Name shown to others.
    pub display_name: String,
    /// May manage users and the box.
    pub admin: bool,
    /// The user's contact list, in the order they were added.
    pub contacts: Vec<Guid>,
    /// The status the user chose (available/busy/away), kept across restarts; whether they are
    /// connected is the client actor's business.
    pub status: Status,
    /// When the user was created, Unix seconds.
    pub created_at: u64,
    /// The password was set by someone else (the panel, or an admin's generated reset): it is
    /// one-time, and the user must choose a new one before using the box. Absent in records
    /// written before the flag existed, which load as `false`.
    #[serde(default)]
    pub must_change_password: bool,
    /// May start an all-call (a talk to a group, marked urgent) as set by an admin; `None`
    /// (never set, and every record written before the flag existed) follows the admin flag.
    /// Read it through [`User::may_all_call`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_call: Option<bool>,
    /// Forwards and message taking for calls to the user's extension; records written
    /// before they existed load as the defaults (nothing forwarded, messages taken).
    #[serde(default)]
    pub calls: CallSettings,
    /// Published to the global directory (`user@box` reaches them from other boxes), as an
    /// admin set it; off unless opted in.
    #[serde(default)]
    pub global: bool,
}

impl User {
    /// Whether the user may start an all-call: as an admin set it, else if they are an
    /// admin (admins may by default, others may not).
    pub fn may_all_call(&self) -> bool {
        self.all_call.unwrap_or(self.admin)
    }
}

/// What `create_user` needs.
#[derive(Clone)]
pub struct NewUser {
    /// Login name (see the module rules).
    pub name: String,
    /// Extension (2-8 digits).
    pub extension: String,
    /// Shown name; `None` uses the login name.
    pub display_name: Option<String>,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// Whether the user is an admin.
    pub admin: bool,
}

impl std::fmt::Debug for NewUser {
    /// Hides the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("extension", &self.extension)
            .field("display_name", &self.display_name)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// A change to a user; `None` fields stay as they are. Passwords change through
/// [`Store::set_password`] instead, since that also ends sessions.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New shown name.
    pub display_name: Option<String>,
    /// New extension (must be free).
    pub extension: Option<String>,
    /// New admin flag.
    pub admin: Option<bool>,
    /// New all-call permission (see [`User::may_all_call`]).
    pub may_all_call: Option<bool>,
}

/// The stored record: the user plus their password hash.
#[derive(Serialize, Deserialize)]
pub(crate) struct UserRecord {
    /// The public part.
    #[serde(flatten)]
    pub(crate) user: User,
    /// argon2id PHC string.
    pub(crate) password_hash: String,
    /// When the password is one-time: when it was set and whether a login has used it.
    /// Absent for a password its holder chose (and in records written before one-time
    /// passwords expired; such a one is still used up by its first login, see `logins.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) one_time: Option<crate::logins::OneTime>,
}

/// Checks a login name against the rules.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > NAME_MAX || !first_ok || !name.chars().all(ok_char) {
        return Err(StoreError::Invalid(format!(
            "name {name:?}: use 1-{NAME_MAX} characters a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// Checks an extension against the rules.
pub fn validate_extension(ext: &str) -> Result<(), StoreError> {
    if !(2..=8).contains(&ext.len()) || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Invalid(format!(
            "extension {ext:?}: use 2-8 digits"
        )));
    }
    Ok(())
}

/// Trims and checks a display name.
fn clean_display_name(s: &str) -> Result<String, StoreError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > DISPLAY_NAME_MAX || s.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "display name: use 1-{DISPLAY_NAME_MAX} characters, no control characters"
        )));
    }
    Ok(s.to_owned())
}

/// Reads one user record from any view of `users`.
pub(crate) fn get_record(
    table: &impl ReadableTable<[u8; 16], &'static [u8]>,
    guid: Guid,
) -> Result<Option<UserRecord>, StoreError> {
    match table.get(guid_key(guid))? {
        Some(v) => Ok(Some(decode("user", v.value())?)),
        None => Ok(None),
    }
}

/// Writes one user record.
pub(crate) fn put_record(
    table: &mut Table<[u8; 16], &'static [u8]>,
    rec: &UserRecord,
) -> Result<(), StoreError> {
    table.insert(guid_key(rec.user.guid), encode(rec)?.as_slice())?;
    Ok(())
}

/// Whether a user exists, inside a write transaction.
pub(crate) fn exists(txn: &WriteTransaction, guid: Guid) -> Result<bool, StoreError> {
    Ok(txn.open_table(USERS)?.get(guid_key(guid))?.is_some())
}

/// Whether an administrator other than `guid` exists. Checked inside the write transaction
/// that removes or demotes `guid`, so two admins demoting each other at once cannot both
/// win and leave the box with none (nobody could then manage it from the web or the API).
fn another_admin(
    users: &impl ReadableTable<[u8; 16], &'static [u8]>,
    guid: Guid,
) -> Result<bool, StoreError> {
    for row in users.iter()? {
        let (_, v) = row?;
        let r: UserRecord = decode("user", v.value())?;
        if r.user.admin && r.user.guid != guid {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How many users are administrators (`ivmd status`; the first start's check).
pub(crate) fn admin_count(
    users: &impl ReadableTable<[u8; 16], &'static [u8]>,
) -> Result<u32, StoreError> {
    let mut n = 0;
    for row in users.iter()? {
        let (_, v) = row?;
        if decode::<UserRecord>("user", v.value())?.user.admin {
            n += 1;
        }
    }
    Ok(n)
}

/// Looks a GUID up in a unique index.
pub(crate) fn index_lookup(
    table: &impl ReadableTable<&'static str, [u8; 16]>,
    key: &str,
) -> Result<Option<Guid>, StoreError> {
    Ok(table.get(key)?.map(|v| Guid::from_bytes(v.value())))
}

impl Store {
    /// Creates a user. [`StoreError::Invalid`] for a bad name, extension, display name or
    /// password; [`StoreError::Conflict`] when the name or extension is taken.
    pub fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        self.create_user_with(new, false)
    }

    /// Creates a user whose password the box made up (first start's `admin`, a new user
    /// without a chosen password): it works for one login, then they must choose their own
    /// ([`User::must_change_password`], raised in the same commit).
    pub fn create_user_one_time(&self, new: NewUser) -> Result<User, StoreError> {
        self.create_user_with(new, true)
    }

    fn create_user_with(&self, new: NewUser, one_time: bool) -> Result<User, StoreError> {
        validate_name(&new.name)?;
        validate_extension(&new.extension)?;
        passwords::validate(&new.password)?;
        let display_name = match &new.display_name {
            Some(d) => clean_display_name(d)?,
            None => new.name.clone(),
        };
        let password_hash = passwords::hash(&new.password)?;
        let user = User {
            guid: Guid::new_v4(),
            name: new.name,
            extension: new.extension,
            display_name,
            admin: new.admin,
            contacts: Vec::new(),
            status: Status::Available,
            created_at: unix_now(),
            must_change_password: one_time,
            all_call: None,
            calls: CallSettings::default(),
            global: false,
        };
        let txn = self.db.begin_write()?;
        {
            let mut names = txn.open_table(USER_NAMES)?;
            let mut exts = txn.open_table(USER_EXTENSIONS)?;
            if names.get(user.name.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "name {:?} is taken",
                    user.name
                )));
            }
            if exts.get(user.extension.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "extension {} is taken",
                    user.extension
                )));
            }
            names.insert(user.name.as_str(), guid_key(user.guid))?;
            exts.insert(user.extension.as_str(), guid_key(user.guid))?;
        }
        let rec = UserRecord {
            one_time: one_time.then(|| crate::logins::OneTime::new(user.created_at)),
            user,
            password_hash,
        };
        put_record(&mut txn.open_table(USERS)?, &rec)?;
        txn.commit()?;
        tracing::info!(user = %rec.user.guid, name = %rec.user.name, "user created");
        Ok(rec.user)
    }

    /// The user with this GUID, if any.
    pub fn user(&self, guid: Guid) -> Result<Option<User>, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(get_record(&txn.open_table(USERS)?, guid)?.map(|r| r.user))
    }

    /// The user with this login name, if any (exact match: names are lowercase).
    pub fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(guid) = index_lookup(&txn.open_table(USER_NAMES)?, name)? else {
            return Ok(None);
        };
        Ok(get_record(&txn.open_table(USERS)?, guid)?.map(|r| r.user))
    }

    /// The user with this extension, if any (phones dial extensions).
    pub fn user_by_extension(&self, ext: &str) -> Result<Option<User>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(guid) = index_lookup(&txn.open_table(USER_EXTENSIONS)?, ext)? else {
            return Ok(None);
        };
        Ok(get_record(&txn.open_table(USERS)?, guid)?.map(|r| r.user))
    }

    /// The user a person means by `key`: a GUID, an extension (digits only) or a login name
    /// in any case. The one rule for recipients, contacts and the admin's user routes, so a
    /// name that works in one place works in all.
    pub fn find_user(&self, key: &str) -> Result<Option<User>, StoreError> {
        let key = key.trim();
        if let Ok(g) = key.parse::<Guid>() {
            self.user(g)
        } else if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            self.user_by_extension(key)
        } else {
            self.user_by_name(&key.to_ascii_lowercase())
        }
    }

    /// Every user, sorted by name (the directory).
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            out.push(decode::<UserRecord>("user", v.value())?.user);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// How many users there are (status page; "is this a fresh box?").
    pub fn user_count(&self) -> Result<u32, StoreError> {
        let txn = self.db.begin_read()?;
        let n = txn.open_table(USERS)?.len()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// How many administrators there are.
    pub fn admin_count(&self) -> Result<u32, StoreError> {
        let txn = self.db.begin_read()?;
        admin_count(&txn.open_table(USERS)?)
    }

    /// Changes a user's display name, extension or admin flag. [`StoreError::LastAdmin`]
    /// when it would take the admin flag from the last administrator.
    pub fn update_user(&self, guid: Guid, upd: UserUpdate) -> Result<User, StoreError> {
        let display_name = upd
            .display_name
            .as_deref()
            .map(clean_display_name)
            .transpose()?;
        if let Some(ext) = &upd.extension {
            validate_extension(ext)?;
        }
        let txn = self.db.begin_write()?;
        let rec = {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            if let Some(ext) = upd.extension {
                if ext != rec.user.extension {
                    let mut exts = txn.open_table(USER_EXTENSIONS)?;
                    if exts.get(ext.as_str())?.is_some() {
                        return Err(StoreError::Conflict(format!("extension {ext} is taken")));
                    }
                    exts.remove(rec.user.extension.as_str())?;
                    exts.insert(ext.as_str(), guid_key(guid))?;
                    rec.user.extension = ext;
                }
            }
            if let Some(d) = display_name {
                rec.user.display_name = d;
            }
            if let Some(a) = upd.admin {
                if rec.user.admin && !a && !another_admin(&users, guid)? {
                    return Err(StoreError::LastAdmin(rec.user.name));
                }
                rec.user.admin = a;
            }
            if let Some(c) = upd.may_all_call {
                rec.user.all_call = Some(c);
            }
            put_record(&mut users, &rec)?;
            rec
        };
        txn.commit()?;
        Ok(rec.user)
    }

    /// Deletes a user: their record, name and extension, their place in others' contact lists,
    /// their sessions, and their side of every message (as if they deleted each one; messages
    /// nobody keeps any more are removed with their files). [`StoreError::LastAdmin`] for
    /// the last administrator.
    pub fn delete_user(&self, guid: Guid) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        let freed = {
            let mut users = txn.open_table(USERS)?;
            let rec = get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            if rec.user.admin && !another_admin(&users, guid)? {
                return Err(StoreError::LastAdmin(rec.user.name));
            }
            users.remove(guid_key(guid))?;
            txn.open_table(USER_NAMES)?.remove(rec.user.name.as_str())?;
            txn.open_table(USER_EXTENSIONS)?
                .remove(rec.user.extension.as_str())?;
            txn.open_table(crate::tables::SIP_CREDENTIALS)?
                .remove(guid_key(guid))?;
            let mut changed = Vec::new();
            for row in users.iter()? {
                let (_, v) = row?;
                let mut other: UserRecord = decode("user", v.value())?;
                if other.user.contacts.contains(&guid) {
                    other.user.contacts.retain(|c| *c != guid);
                    changed.push(other);
                }
            }
            for other in &changed {
                put_record(&mut users, other)?;
            }
            drop(users);
            crate::groups::forget_member(&txn, guid)?;
            crate::calls::forget_user(&txn, guid)?;
            crate::sessions::end_all(&txn, guid)?;
            crate::messages::delete_all_for(&txn, guid)?
        };
        txn.commit()?;
        self.remove_blobs_logged(&freed);
        tracing::info!(user = %guid, "user deleted");
        Ok(())
    }

    /// Checks a login. `Some(user)` when the password is right; `None` when it is wrong or the
    /// name is unknown. An unknown name costs one argon2 hash too, so timing does not tell
    /// which.
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        let rec = {
            let txn = self.db.begin_read()?;
            match index_lookup(&txn.open_table(USER_NAMES)?, name)? {
                Some(guid) => get_record(&txn.open_table(USERS)?, guid)?,
                None => None,
            }
        };
        match rec {
            Some(rec) if password.len() <= passwords::MAX_LEN => {
                Ok(passwords::verify(password, &rec.password_hash)?.then_some(rec.user))
            }
            _ => {
                passwords::verify_dummy(password);
                Ok(None)
            }
        }
    }

    /// Sets a password its holder chose (an admin for themself or for a user who told them
    /// theirs) and ends every session of the user (a changed password must lock out whoever
    /// had the old one). Clears [`User::must_change_password`].
    pub fn set_password(&self, guid: Guid, password: &str) -> Result<(), StoreError> {
        self.write_password(guid, password, false, None)?;
        tracing::info!(user = %guid, "password changed; sessions ended");
        Ok(())
    }

    /// Sets a password the box made up for someone else (the panel's "Admin password", an
    /// admin's reset without a chosen password): it works for one login, after which the user
    /// must choose their own ([`User::must_change_password`] is raised). Ends every session
    /// of the user, like [`Store::set_password`].
    pub fn set_one_time_password(&self, guid: Guid, password: &str) -> Result<(), StoreError> {
        self.write_password(guid, password, true, None)?;
        tracing::info!(user = %guid, "one-time password set; sessions ended");
        Ok(())
    }

    /// A user changes their own password: `Ok(false)` (nothing changed) when `current` is
    /// wrong; [`StoreError::Invalid`] when `new` breaks the rules or equals `current`.
    /// Otherwise sets it, clears [`User::must_change_password`] and ends every session of the
    /// user except the one holding `keep_token` (the one asking).
    pub fn change_own_password(
        &self,
        guid: Guid,
        current: &str,
        new: &str,
        keep_token: &str,
    ) -> Result<bool, StoreError> {
        let rec = {
            let txn = self.db.begin_read()?;
            get_record(&txn.open_table(USERS)?, guid)?.ok_or(StoreError::NotFound)?
        };
        if current.len() > passwords::MAX_LEN || !passwords::verify(current, &rec.password_hash)? {
            return Ok(false);
        }
        if new == current {
            return Err(StoreError::Invalid(
                "the new password must differ from the current one".into(),
            ));
        }
        self.write_password(guid, new, false, Some(keep_token))?;
        tracing::info!(user = %guid, "password changed by its holder; other sessions ended");
        Ok(true)
    }

    /// Validates, hashes (outside the transaction) and stores a password with the flag
    /// `one_time`; ends the user's sessions except `keep_token`'s.
    fn write_password(
        &self,
        guid: Guid,
        password: &str,
        one_time: bool,
        keep_token: Option<&str>,
    ) -> Result<(), StoreError> {
        passwords::validate(password)?;
        let password_hash = passwords::hash(password)?;
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            rec.password_hash = password_hash;
            rec.user.must_change_password = one_time;
            rec.one_time = one_time.then(|| crate::logins::OneTime::new(unix_now()));
            put_record(&mut users, &rec)?;
        }
        match keep_token {
            Some(token) => crate::sessions::end_all_but(&txn, guid, token)?,
            None => crate::sessions::end_all(&txn, guid)?,
        }
        txn.commit()?;
        Ok(())
    }

    /// Adds `contact` to `owner`'s contact list. Idempotent. [`StoreError::NotFound`] if
    /// either is unknown, [`StoreError::Invalid`] for oneself.
    pub fn add_contact(&self, owner: Guid, contact: Guid) -> Result<(), StoreError> {
        if owner == contact {
            return Err(StoreError::Invalid(
                "a user cannot be their own contact".into(),
            ));
        }
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            if users.get(guid_key(contact))?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut rec = get_record(&users, owner)?.ok_or(StoreError::NotFound)?;
            if rec.user.contacts.contains(&contact) {
                return Ok(());
            }
            rec.user.contacts.push(contact);
            put_record(&mut users, &rec)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes `contact` from `owner`'s list; removing someone not in the list is fine.
    /// [`StoreError::NotFound`] if the owner is unknown.
    pub fn remove_contact(&self, owner: Guid, contact: Guid) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, owner)?.ok_or(StoreError::NotFound)?;
            if !rec.user.contacts.contains(&contact) {
                return Ok(());
            }
            rec.user.contacts.retain(|c| *c != contact);
            put_record(&mut users, &rec)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores a user's call settings. Each forward target must be another user's extension
    /// and the delay 5 to 120 seconds, else [`StoreError::Invalid`] and nothing changes.
    pub fn set_call_settings(&self, guid: Guid, calls: CallSettings) -> Result<User, StoreError> {
        if !(MIN_NO_ANSWER_AFTER..=MAX_NO_ANSWER_AFTER).contains(&calls.no_answer_after) {
            return Err(StoreError::Invalid(format!(
                "no_answer_after must be {MIN_NO_ANSWER_AFTER} to {MAX_NO_ANSWER_AFTER} seconds"
            )));
        }
        let txn = self.db.begin_write()?;
        let rec = {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            let exts = txn.open_table(USER_EXTENSIONS)?;
            for target in [
                &calls.forward_always,
                &calls.forward_busy,
                &calls.forward_no_answer,
            ]
            .into_iter()
            .flatten()
            {
                validate_extension(target)?;
                if *target == rec.user.extension {
                    return Err(StoreError::Invalid(format!(
                        "{target} is your own extension: calls cannot be forwarded to it"
                    )));
                }
                if exts.get(target.as_str())?.is_none() {
                    return Err(StoreError::Invalid(format!(
                        "no user has extension {target}"
                    )));
                }
            }
            rec.user.calls = calls;
            put_record(&mut users, &rec)?;
            rec
        };
        txn.commit()?;
        Ok(rec.user)
    }

    /// Records the status the user chose, so it is the same after a restart.
    pub fn set_status(&self, guid: Guid, status: Status) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let mut rec = get_record(&users, guid)?.ok_or(StoreError::NotFound)?;
            if rec.user.status == status {
                return Ok(());
            }
            rec.user.status = status;
            put_record(&mut users, &rec)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Now, Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Store {
    /// A stamp of the user's current password: the SHA-256 of its stored hash (salted, so
    /// every password write changes it) and of whether a one-time password was used up (its
    /// first login does that without rewriting the hash). `None` for an unknown user. It lets
    /// the first-start password file tell, without an argon2 run, whether the password it
    /// holds is still the admin's and still works; it reveals nothing about the password.
    pub fn password_stamp(&self, guid: Guid) -> Result<Option<[u8; 32]>, StoreError> {
        use sha2::Digest as _;
        let txn = self.db.begin_read()?;
        Ok(get_record(&txn.open_table(USERS)?, guid)?.map(|r| {
            let used = r.one_time.is_some_and(|o| o.used);
            let mut h = sha2::Sha256::new();
            h.update(r.password_hash.as_bytes());
            h.update([u8::from(used)]);
            h.finalize().into()
        }))
    }
}
