//! The station's own database operations ([`crate::database::Op`]): what a desk phone's
//! registration, lamp and keypad services read and write, each one named trip to a database
//! thread. They sit here, beside the only actor that asks for them (the database module's
//! rule for operations private to one actor); the shared ones it uses (`DeleteMessage`) are
//! in [`crate::database`].

use std::time::{Duration, SystemTime};

use ivm_line::{Extension, Forwarding, MailboxItem, Party, Recipients};
use ivm_store::{PhoneSighting, SipCredentials, Store, StoreError, StoredPhone};
use ivm_wire::{Guid, MailboxState, Status};

use ivm_line::{Failure, SettingChange};
use ivm_wire::rest::PatchCallSettings;

use ivm_rtp::Recorder;
use ivm_wire::rest::MessageInfo;

use crate::client::{ClientHandle, PostPrepared, SetStatus};
use crate::database::users::{LogCall, PatchCallSettingsOf};
use crate::database::{Db, Op};

/// Most messages a `*97` session goes through (unplayed first, newest first).
pub(super) const MAILBOX_ITEMS: usize = 200;

/// The SIP credentials of the user with `extension` for `realm` (made on first use); `None`
/// when no user has it.
pub(super) struct SipCredentialsOf {
    /// The phone's user name: an extension.
    pub extension: String,
    /// The box's SIP realm.
    pub realm: String,
}

impl Op for SipCredentialsOf {
    type Output = Option<SipCredentials>;
    fn run(self, s: &Store) -> Result<Self::Output, StoreError> {
        s.sip_credentials_by_extension(&self.extension, &self.realm)
    }
}

/// Whether every entry of a dialled recipient list names a user, by the rule the post itself
/// uses ([`Store::find_user`]); the first that does not, otherwise.
pub(crate) struct CheckRecipients(pub Vec<String>);

impl Op for CheckRecipients {
    type Output = Recipients;
    fn run(self, s: &Store) -> Result<Recipients, StoreError> {
        for t in self.0 {
            if s.find_user(&t)?.is_none() {
                return Ok(Recipients::Unknown(t));
            }
        }
        Ok(Recipients::Known)
    }
}

/// The users a dialled recipient list names (`*8`), by the post's rule
/// ([`Store::find_user`]); `Err` with the first entry that names nobody.
pub(super) struct ResolveRecipients(pub Vec<String>);

impl Op for ResolveRecipients {
    type Output = Result<Vec<Guid>, String>;
    fn run(self, s: &Store) -> Result<Self::Output, StoreError> {
        let mut users = Vec::with_capacity(self.0.len());
        for t in self.0 {
            match s.find_user(&t)? {
                Some(u) => users.push(u.guid),
                None => return Ok(Err(t)),
            }
        }
        Ok(Ok(users))
    }
}

/// The user with extension `ext`, as the line core knows a party, with their forwards and
/// do-not-disturb (their status "busy").
pub(crate) struct PartyAt(pub String);

impl Op for PartyAt {
    type Output = Option<Extension>;
    fn run(self, s: &Store) -> Result<Option<Extension>, StoreError> {
        Ok(s.user_by_extension(&self.0)?.map(|u| {
            let c = &u.calls;
            let forwarding = Forwarding {
                always: c.forward_always.clone(),
                busy: c.forward_busy.clone(),
                no_answer: c
                    .forward_no_answer
                    .clone()
                    .map(|to| (to, Duration::from_secs(u64::from(c.no_answer_after)))),
                dnd: u.status == Status::Busy,
                voicemail: c.voicemail,
            };
            Extension {
                party: Party {
                    user: u.guid,
                    ext: u.extension,
                },
                forwarding,
            }
        }))
    }
}

/// The mailbox as a phone hears it: not deleted, unplayed first, newest first, at most
/// [`MAILBOX_ITEMS`], each with its sender's extension.
pub(crate) struct PhoneMailbox {
    /// Whose mailbox.
    pub user: Guid,
}

impl Op for PhoneMailbox {
    type Output = Vec<MailboxItem>;
    fn run(self, s: &Store) -> Result<Vec<MailboxItem>, StoreError> {
        let mut inbox: Vec<_> = s
            .inbox(self.user)?
            .into_iter()
            .filter(|(_, st)| *st != MailboxState::Deleted)
            .collect();
        inbox.sort_by_key(|(m, st)| (*st == MailboxState::Played, std::cmp::Reverse(m.created_at)));
        let mut items = Vec::new();
        for (m, st) in inbox.into_iter().take(MAILBOX_ITEMS) {
            let sender_ext = s.user(m.sender)?.map(|u| u.extension).unwrap_or_default();
            items.push(MailboxItem {
                id: m.id,
                sender_ext,
                new: st != MailboxState::Played,
            });
        }
        Ok(items)
    }
}

/// The Ogg Opus audio of a message in `user`'s mailbox. The line asks only for messages it
/// listed from that mailbox; the check here keeps it so if that ever changes (a message
/// deleted meanwhile from the web is gone for the phone too).
pub(crate) struct AudioOf {
    /// Whose mailbox.
    pub user: Guid,
    /// Which message.
    pub message: Guid,
}

impl Op for AudioOf {
    type Output = Vec<u8>;
    fn run(self, s: &Store) -> Result<Vec<u8>, StoreError> {
        match s.mailbox_state(self.message, self.user)? {
            None | Some(MailboxState::Deleted) => return Err(StoreError::NotFound),
            Some(_) => {}
        }
        let m = s.message(self.message)?.ok_or(StoreError::NotFound)?;
        s.read_blob(&m.audio)
    }
}

/// A registration of `user` succeeded: their phone takes what it told (see
/// [`Store::phone_registered`]); `None` when the user has no phone.
pub(super) struct PhoneRegistered {
    /// Who registered.
    pub user: Guid,
    /// What the REGISTER said about the phone.
    pub sighting: PhoneSighting,
}

impl Op for PhoneRegistered {
    type Output = Option<StoredPhone>;
    fn run(self, s: &Store) -> Result<Option<StoredPhone>, StoreError> {
        s.phone_registered(self.user, self.sighting, SystemTime::now())
    }
}

/// The message-waiting lamp's counts of `user`'s inbox: (new, old).
pub(crate) struct LampCounts(pub Guid);

impl Op for LampCounts {
    type Output = (u32, u32);
    fn run(self, s: &Store) -> Result<(u32, u32), StoreError> {
        let inbox = s.inbox(self.0)?;
        let new = inbox
            .iter()
            .filter(|(_, st)| matches!(st, MailboxState::Queued | MailboxState::Delivered))
            .count();
        let old = inbox
            .iter()
            .filter(|(_, st)| matches!(st, MailboxState::Played))
            .count();
        Ok((new as u32, old as u32))
    }
}

/// Stores a setting changed from the keypad (a forward, or do-not-disturb, which is the
/// status "busy" and so goes through the client manager like the web client's): the answer
/// the line waits for. Shared by every adapter of the line core (desk phones, analog lines).
pub(crate) async fn change_setting(
    db: Db,
    clients: ClientHandle,
    user: Guid,
    change: SettingChange,
) -> Result<(), Failure> {
    let off_or = |t: Option<String>| Some(t.unwrap_or_default());
    let patch = match change {
        SettingChange::Dnd(on) => {
            let status = if on { Status::Busy } else { Status::Available };
            return match clients.send(SetStatus { user, status }).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Failure(e.to_string())),
                Err(e) => Err(Failure(e.to_string())),
            };
        }
        SettingChange::ForwardAlways(t) => PatchCallSettings {
            forward_always: off_or(t),
            ..PatchCallSettings::default()
        },
        SettingChange::ForwardBusy(t) => PatchCallSettings {
            forward_busy: off_or(t),
            ..PatchCallSettings::default()
        },
        SettingChange::ForwardNoAnswer(t) => PatchCallSettings {
            forward_no_answer: off_or(t),
            ..PatchCallSettings::default()
        },
    };
    db.call(PatchCallSettingsOf { user, patch })
        .await
        .map(drop)
        .map_err(|e| Failure(e.to_string()))
}

/// Writes a call into both users' call history. A record, not a step of the call: a store
/// failure is only logged (the call goes on).
pub(crate) async fn log_call(db: Db, caller: Guid, callee: Guid, answered: bool) {
    let op = LogCall {
        caller,
        callee,
        answered,
        at: SystemTime::now(),
    };
    if let Err(e) = db.call(op).await {
        tracing::warn!(error = %e, "cannot store the call in the call history");
    }
}

/// A recording ended: encoded on the codec pool (the recorder's Ogg, length and waveform are
/// stored as made, no second decode), then posted through the client actor with the same
/// checks and the one commit a browser's message takes. `None`: nothing was recorded.
/// Shared by every adapter of the line core.
pub(crate) async fn post_recording(
    clients: ClientHandle,
    sender: Guid,
    to: Vec<String>,
    recorder: Recorder,
) -> Result<Option<MessageInfo>, String> {
    let rec = crate::codec::run(move || recorder.finish())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let Some(rec) = rec else { return Ok(None) };
    let info = clients
        .send(PostPrepared {
            sender,
            to,
            audio: rec.into(),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ivm_store::{NewUser, StoredMessage, User};

    use super::*;

    fn user(store: &Store, name: &str, ext: &str) -> User {
        store
            .create_user(NewUser {
                name: name.into(),
                extension: ext.into(),
                display_name: None,
                password: format!("password-{name}"),
                admin: false,
            })
            .unwrap()
    }

    #[test]
    fn audio_is_read_only_from_the_users_own_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (ann, bob, eve) = (
            user(&store, "ann", "201"),
            user(&store, "bob", "202"),
            user(&store, "eve", "203"),
        );
        let m = StoredMessage {
            id: Guid::new_v4(),
            sender: ann.guid,
            recipients: vec![bob.guid],
            created_at: 1,
            duration_ms: 1000,
            peaks: vec![1, 2],
            audio: store.put_blob(b"OggS bob's audio").unwrap(),
            attachments: vec![],
            idempotency_key: None,
            partial: false,
            urgent: false,
        };
        store.commit_message(&m).unwrap();
        let audio_of = |user: &User| {
            AudioOf {
                user: user.guid,
                message: m.id,
            }
            .run(&store)
        };

        assert_eq!(audio_of(&bob).unwrap(), b"OggS bob's audio");
        assert!(matches!(audio_of(&eve), Err(StoreError::NotFound)));
        // The sender has it in Sent, not in a mailbox: not for their *97 either.
        assert!(matches!(audio_of(&ann), Err(StoreError::NotFound)));
        assert!(store.delete_for(m.id, bob.guid).unwrap());
        assert!(matches!(audio_of(&bob), Err(StoreError::NotFound)));
    }
}
