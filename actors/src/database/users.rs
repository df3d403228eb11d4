//! Operations on users: logins and sessions, the directory and contact lists, chosen
//! status, and the administrator's user management.
//!
//! Users are named by a `key` wherever a person types one (a GUID, an extension or a login
//! name: [`Store::find_user`]); by GUID where the box already knows who it is.

use std::time::{Duration, SystemTime};

use ivm_store::{
    LoginCandidate, NewPasswordHash, NewUser, Opened, Store, StoreError, User, UserUpdate,
};
use ivm_wire::rest::{CallRecord, CallSettings, PatchCallSettings};
use ivm_wire::{Guid, Status};

use super::Op;

/// Changes the fields of `user`'s call settings that `patch` names (a forward set to `""`
/// is turned off), checked by the store; the settings after.
pub struct PatchCallSettingsOf {
    /// Whose.
    pub user: Guid,
    /// What changes.
    pub patch: PatchCallSettings,
}

impl Op for PatchCallSettingsOf {
    type Output = CallSettings;
    fn run(self, s: &Store) -> Result<CallSettings, StoreError> {
        let u = s.user(self.user)?.ok_or(StoreError::NotFound)?;
        let p = self.patch;
        let mut c = u.calls;
        let target = |v: String| {
            let v = v.trim().to_owned();
            (!v.is_empty()).then_some(v)
        };
        if let Some(v) = p.forward_always {
            c.forward_always = target(v);
        }
        if let Some(v) = p.forward_busy {
            c.forward_busy = target(v);
        }
        if let Some(v) = p.forward_no_answer {
            c.forward_no_answer = target(v);
        }
        if let Some(v) = p.no_answer_after {
            c.no_answer_after = v;
        }
        if let Some(v) = p.voicemail {
            c.voicemail = v;
        }
        Ok(s.set_call_settings(self.user, c)?.calls)
    }
}

/// Adds a call between extensions to both users' call history (see [`Store::log_call`]).
pub struct LogCall {
    /// Who dialled.
    pub caller: Guid,
    /// Who answered, or whom it was for.
    pub callee: Guid,
    /// Whether it was answered.
    pub answered: bool,
    /// When, for the entries.
    pub at: SystemTime,
}

impl Op for LogCall {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        let at_ms = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        s.log_call(self.caller, self.callee, self.answered, at_ms)
    }
}

/// A user's call history, newest first.
pub struct CallsOf {
    /// Whose.
    pub user: Guid,
}

impl Op for CallsOf {
    type Output = Vec<CallRecord>;
    fn run(self, s: &Store) -> Result<Vec<CallRecord>, StoreError> {
        s.calls(self.user)
    }
}

/// The user a login token belongs to now (`None`: unknown, expired, or the user is gone).
pub struct UserForToken {
    /// The bearer token.
    pub token: String,
    /// Now, for the expiry.
    pub now: SystemTime,
}

impl Op for UserForToken {
    type Output = Option<User>;
    fn run(self, s: &Store) -> Result<Option<User>, StoreError> {
        s.user_for_session(&self.token, self.now)
    }
}

/// The stored hash a login by `name` is checked against (one read; argon2 runs elsewhere).
pub struct LoginCandidateFor {
    /// Login name, lowercase.
    pub name: String,
}

impl Op for LoginCandidateFor {
    type Output = LoginCandidate;
    fn run(self, s: &Store) -> Result<LoginCandidate, StoreError> {
        s.login_candidate(&self.name)
    }
}

/// Opens a session for a candidate whose password was verified ([`Store::open_session`]:
/// the hash must be unchanged, a one-time password unused and young enough).
pub struct OpenSession {
    /// What was verified.
    pub candidate: LoginCandidate,
    /// How long the token lasts.
    pub ttl: Duration,
    /// How long a one-time password works after it was set.
    pub one_time_ttl: Duration,
    /// Now.
    pub now: SystemTime,
}

impl Op for OpenSession {
    type Output = Opened;
    fn run(self, s: &Store) -> Result<Opened, StoreError> {
        s.open_session(&self.candidate, self.ttl, self.now, self.one_time_ttl)
    }
}

/// The stored hash of `user`, to check their current password before they change it.
pub struct PasswordCandidateFor {
    /// The user.
    pub user: Guid,
}

impl Op for PasswordCandidateFor {
    type Output = LoginCandidate;
    fn run(self, s: &Store) -> Result<LoginCandidate, StoreError> {
        s.password_candidate(self.user)
    }
}

/// A user's own new password, once their current one was verified: `false` when the stored
/// hash changed meanwhile ([`Store::replace_own_password`]); ends their other sessions.
pub struct ReplaceOwnPassword {
    /// What was verified.
    pub candidate: LoginCandidate,
    /// The new hash (made on the password pool).
    pub hash: NewPasswordHash,
    /// The session that asked, which stays.
    pub keep_token: String,
}

impl Op for ReplaceOwnPassword {
    type Output = bool;
    fn run(self, s: &Store) -> Result<bool, StoreError> {
        s.replace_own_password(&self.candidate, self.hash, &self.keep_token)
    }
}

/// Logs a token out (unknown tokens are fine).
pub struct EndSession {
    /// The token.
    pub token: String,
}

impl Op for EndSession {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.delete_session(&self.token)
    }
}

/// Of these sessions' tokens, those no longer valid for their user (logged out, expired, a
/// password change, a deleted account): the client manager closes their sockets.
pub struct EndedSessions {
    /// (session, user, token) of every session tied to a token.
    pub held: Vec<(u64, Guid, String)>,
    /// Now.
    pub now: SystemTime,
}

impl Op for EndedSessions {
    type Output = Vec<u64>;
    fn run(self, s: &Store) -> Result<Vec<u64>, StoreError> {
        let mut ended = Vec::new();
        for (id, user, token) in self.held {
            if s.session_user(&token, self.now)? != Some(user) {
                ended.push(id);
            }
        }
        Ok(ended)
    }
}

/// Every user, by name (the directory, the admin's list).
#[derive(Debug, Clone, Copy)]
pub struct AllUsers;

impl Op for AllUsers {
    type Output = Vec<User>;
    fn run(self, s: &Store) -> Result<Vec<User>, StoreError> {
        s.users()
    }
}

/// `user`'s contacts that still exist, by name.
#[derive(Debug, Clone, Copy)]
pub struct ContactsOf {
    /// Whose list.
    pub user: Guid,
}

impl Op for ContactsOf {
    type Output = Vec<User>;
    fn run(self, s: &Store) -> Result<Vec<User>, StoreError> {
        let contacts = s.user(self.user)?.map(|u| u.contacts).unwrap_or_default();
        let mut out = Vec::new();
        for c in contacts {
            if let Some(u) = s.user(c)? {
                out.push(u);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// Adds the user `key` names to `user`'s contacts; `None` when nobody is called that.
#[derive(Debug, Clone)]
pub struct AddContact {
    /// Whose list.
    pub user: Guid,
    /// GUID, extension or name.
    pub key: String,
}

impl Op for AddContact {
    type Output = Option<User>;
    fn run(self, s: &Store) -> Result<Option<User>, StoreError> {
        let Some(u) = s.find_user(&self.key)? else {
            return Ok(None);
        };
        s.add_contact(self.user, u.guid)?;
        Ok(Some(u))
    }
}

/// Removes the user `key` names from `user`'s contacts; `false` when nobody is called that.
#[derive(Debug, Clone)]
pub struct RemoveContact {
    /// Whose list.
    pub user: Guid,
    /// GUID, extension or name.
    pub key: String,
}

impl Op for RemoveContact {
    type Output = bool;
    fn run(self, s: &Store) -> Result<bool, StoreError> {
        let Some(u) = s.find_user(&self.key)? else {
            return Ok(false);
        };
        s.remove_contact(self.user, u.guid)?;
        Ok(true)
    }
}

/// Of `targets`, the users whose presence `user` may follow: those that exist; all of
/// `user`'s contacts when `targets` is empty.
#[derive(Debug, Clone)]
pub struct Followable {
    /// Who follows.
    pub user: Guid,
    /// Whom, or nobody for "my contacts".
    pub targets: Vec<Guid>,
}

impl Op for Followable {
    type Output = Vec<Guid>;
    fn run(self, s: &Store) -> Result<Vec<Guid>, StoreError> {
        if self.targets.is_empty() {
            return Ok(s.user(self.user)?.map(|u| u.contacts).unwrap_or_default());
        }
        // Only real users can be followed; unknown GUIDs are skipped.
        let mut known = Vec::new();
        for t in self.targets {
            if s.user(t)?.is_some() {
                known.push(t);
            }
        }
        Ok(known)
    }
}

/// Keeps the status a user chose across restarts.
#[derive(Debug, Clone, Copy)]
pub struct SaveStatus {
    /// The user.
    pub user: Guid,
    /// Their choice.
    pub status: Status,
}

impl Op for SaveStatus {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.set_status(self.user, self.status)
    }
}

/// The status a user chose, as stored (offline when they never chose, or are gone).
#[derive(Debug, Clone, Copy)]
pub struct StoredStatus {
    /// The user.
    pub user: Guid,
}

impl Op for StoredStatus {
    type Output = Status;
    fn run(self, s: &Store) -> Result<Status, StoreError> {
        Ok(s.user(self.user)?.map_or(Status::Offline, |u| u.status))
    }
}

/// What the admin status page counts: messages queued for delivery, users.
#[derive(Debug, Clone, Copy)]
pub struct ServerCounts;

/// The answer to [`ServerCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Messages some recipient has not received yet.
    pub queued: u64,
    /// Users.
    pub users: u32,
    /// Entries waiting in the global outbox.
    pub outbox: u64,
}

impl Op for ServerCounts {
    type Output = Counted;
    fn run(self, s: &Store) -> Result<Counted, StoreError> {
        Ok(Counted {
            queued: s.queued_count()?,
            users: s.user_count()?,
            outbox: s.outbox_len()?,
        })
    }
}

/// Creates a user; with `one_time`, their password works for one login (the box made it up).
pub struct CreateUser {
    /// The new user.
    pub new: NewUser,
    /// The password is one-time.
    pub one_time: bool,
}

impl Op for CreateUser {
    type Output = User;
    fn run(self, s: &Store) -> Result<User, StoreError> {
        if self.one_time {
            s.create_user_one_time(self.new)
        } else {
            s.create_user(self.new)
        }
    }
}

/// Changes the display name, extension or admin flag of the user `key` names
/// ([`StoreError::NotFound`] when nobody is called that).
#[derive(Debug, Clone)]
pub struct UpdateUser {
    /// GUID, extension or name.
    pub key: String,
    /// What changes.
    pub update: UserUpdate,
}

impl Op for UpdateUser {
    type Output = User;
    fn run(self, s: &Store) -> Result<User, StoreError> {
        let u = s.find_user(&self.key)?.ok_or(StoreError::NotFound)?;
        s.update_user(u.guid, self.update)
    }
}

/// A password an administrator sets for someone.
pub enum NewPassword {
    /// Chosen by the administrator: the user's own from now on.
    Chosen(String),
    /// Made up by the box: works for one login, then the user must choose their own.
    OneTime(String),
}

/// Sets the password of the user `key` names (ending their sessions) and answers the user as
/// stored now.
pub struct SetPassword {
    /// GUID, extension or name.
    pub key: String,
    /// The password.
    pub password: NewPassword,
}

impl Op for SetPassword {
    type Output = User;
    fn run(self, s: &Store) -> Result<User, StoreError> {
        let u = s.find_user(&self.key)?.ok_or(StoreError::NotFound)?;
        match &self.password {
            NewPassword::Chosen(p) => s.set_password(u.guid, p)?,
            NewPassword::OneTime(p) => s.set_one_time_password(u.guid, p)?,
        }
        Ok(s.user(u.guid)?.unwrap_or(u))
    }
}

/// Deletes the user `key` names; answers their login name.
#[derive(Debug, Clone)]
pub struct DeleteUser {
    /// GUID, extension or name.
    pub key: String,
}

impl Op for DeleteUser {
    type Output = String;
    fn run(self, s: &Store) -> Result<String, StoreError> {
        let u = s.find_user(&self.key)?.ok_or(StoreError::NotFound)?;
        s.delete_user(u.guid)?;
        Ok(u.name)
    }
}

/// Whether `key` names `user` (an administrator must not demote or delete themself).
#[derive(Debug, Clone)]
pub struct NamesUser {
    /// GUID, extension or name.
    pub key: String,
    /// The user.
    pub user: Guid,
}

impl Op for NamesUser {
    type Output = bool;
    fn run(self, s: &Store) -> Result<bool, StoreError> {
        Ok(s.find_user(&self.key)?.is_some_and(|u| u.guid == self.user))
    }
}

/// Which of these GUIDs are not users of this box (a live talk is refused before it starts
/// rather than accepted and then failing to store).
#[derive(Debug, Clone)]
pub struct UnknownUsers(pub Vec<Guid>);

impl Op for UnknownUsers {
    type Output = Vec<Guid>;
    fn run(self, s: &Store) -> Result<Vec<Guid>, StoreError> {
        let mut unknown = Vec::new();
        for g in self.0 {
            if s.user(g)?.is_none() {
                unknown.push(g);
            }
        }
        Ok(unknown)
    }
}

/// A new one-time password for the box's administrator (`admin` when that one is an
/// administrator, else the first administrator): the front panel's "Admin password".
/// Answers whose it is.
pub struct NewAdminPassword {
    /// The password (made up by the caller, shown on the panel only).
    pub password: String,
}

impl Op for NewAdminPassword {
    type Output = String;
    fn run(self, s: &Store) -> Result<String, StoreError> {
        let users = s.users()?;
        let admin = users
            .iter()
            .find(|u| u.name == "admin" && u.admin)
            .or_else(|| users.iter().find(|u| u.admin))
            .ok_or(StoreError::NotFound)?;
        s.set_one_time_password(admin.guid, &self.password)?;
        Ok(admin.name.clone())
    }
}
