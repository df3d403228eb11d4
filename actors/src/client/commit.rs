//! The client manager's database operations for a post: [`FindKey`] (a keyed retry's
//! lookup) and [`CommitPost`], the post itself in one trip.
//!
//! [`CommitPost`] does, on one database thread, everything a post asks of the store once its
//! audio is ready: resolve the recipients, check the sender's quota and the disk, write and
//! fsync the encrypted files, commit the record (with the quota's exact check and the
//! idempotency key), and build the views the sender and the recipients get. A refusal
//! anywhere leaves nothing behind: files written before a refused commit are removed.

use std::time::{SystemTime, UNIX_EPOCH};

use ivm_global::address::Address;
use ivm_store::{
    BlobRef, CommitRules, Committed, IdempotencyKey, KeyUse, RemoteUser, Store, StoreError,
    StoredAttachment, StoredMessage,
};
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Guid, MailboxState};

use super::post::{NewAttachment, PreparedAudio};
use crate::database::Op;
use crate::views::{self, Viewer};

/// What a keyed retry finds under its key.
pub(super) enum KeyFound {
    /// Nothing: a new message.
    Nothing,
    /// The message this key stored for the same request, as its sender sees it.
    Same(MessageInfo),
    /// The key stored another message.
    Other(Guid),
}

/// Looks an idempotency key up among `sender`'s messages.
pub(super) struct FindKey {
    pub sender: Guid,
    pub key: IdempotencyKey,
}

impl Op for FindKey {
    type Output = KeyFound;
    fn run(self, s: &Store) -> Result<KeyFound, StoreError> {
        Ok(match s.message_for_key(self.sender, &self.key)? {
            Some(KeyUse::Same(m)) => KeyFound::Same(views::message_info(s, &m, Viewer::Sender)?),
            Some(KeyUse::Different(id)) => KeyFound::Other(id),
            None => KeyFound::Nothing,
        })
    }
}

/// The post, ready to store.
pub(super) struct CommitPost {
    pub sender: Guid,
    /// Recipients as given (names, extensions or GUIDs).
    pub to: Vec<String>,
    pub audio: PreparedAudio,
    pub attachments: Vec<NewAttachment>,
    /// The sender's quota (`None`: none) and the idempotency key.
    pub rules: CommitRules,
    /// How the stored message is marked.
    pub marks: Marks,
    /// The box's global name when linked ([`super::ClientConfig::global_box`]).
    pub global_box: Option<String>,
    /// Set for a message that came in from another box.
    pub incoming: Option<Incoming>,
}

/// A message from another box: stored under its own id (the same on every box, so a
/// redelivery is recognised and receipts name it), from a remote user.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The message id.
    pub id: Guid,
    /// Its sender, recorded (or renamed) as a user of another box.
    pub sender: RemoteUser,
}

/// How a stored message is marked: a live talk cut off before its speaker ended it
/// (`partial`, stored as what arrived), an all-call (`urgent`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Marks {
    pub partial: bool,
    pub urgent: bool,
    /// The id to store it under (a message from another box keeps its own); `None`: a new one.
    pub id: Option<Guid>,
}

/// What [`CommitPost`] came to, short of a store error.
pub(super) enum Outcome {
    /// Stored now.
    New(Stored),
    /// Already stored under its idempotency key (the commit found it: a retry raced the
    /// first request); as its sender sees it.
    Raced(MessageInfo),
    /// A recipient is not a user of this box (as given, shortened).
    UnknownUser(String),
    /// A recipient is a user of another box and the sender is not published to the global
    /// directory (the transport would refuse the message on the way).
    NotPublished(String),
    /// No recipient was named.
    NoRecipients,
}

/// A committed message, as its sender and its recipients see it.
pub(super) struct Stored {
    pub for_sender: MessageInfo,
    pub for_recipients: MessageInfo,
    pub recipients: Vec<Guid>,
}

impl Op for CommitPost {
    type Output = Outcome;
    fn run(self, s: &Store) -> Result<Outcome, StoreError> {
        if let Some(incoming) = &self.incoming {
            // A redelivery of a message already stored: nothing new.
            if let Some(existing) = s.message(incoming.id)? {
                return Ok(Outcome::Raced(views::message_info(
                    s,
                    &existing,
                    Viewer::Sender,
                )?));
            }
            s.put_remote_user(&incoming.sender)?;
        }
        // Only a published sender may write to another box: the transport refuses anyone
        // else's messages, so taking the post would be acknowledging a message that is lost.
        let goes_out = self.incoming.is_none() && s.user(self.sender)?.is_some_and(|u| u.global);
        let recipients = match resolve(s, &self.to, self.global_box.as_deref(), goes_out)? {
            Ok(r) if r.is_empty() => return Ok(Outcome::NoRecipients),
            Ok(r) => r,
            Err(Unresolved::Unknown(name)) => return Ok(Outcome::UnknownUser(name)),
            Err(Unresolved::NotPublished(name)) => return Ok(Outcome::NotPublished(name)),
        };
        if let Some(quota) = self.rules.quota {
            // The attachments alone first: when they are already too much, the refusal names
            // them (what the sender can drop), as it did when this ran before the audio was
            // prepared. The exact check, audio included, is the commit's.
            let attached: u64 = self.attachments.iter().map(|a| a.data.len() as u64).sum();
            let used = s.usage(self.sender)?;
            if used.saturating_add(attached) > quota {
                return Err(StoreError::QuotaExceeded {
                    used,
                    adding: attached,
                    quota,
                });
            }
        }
        let talk = self.rules.talk;
        let outcome = store_message(
            s,
            self.sender,
            recipients,
            self.audio,
            self.attachments,
            &self.rules,
            Marks {
                id: self.incoming.map(|i| i.id),
                ..self.marks
            },
        )?;
        // A live talk's copy: the commit removed its pending row, so its journal goes now.
        if let (Some(t), Outcome::New(_)) = (talk, &outcome) {
            if let Err(e) = s.remove_talk_file(t) {
                tracing::warn!(talk = %t, error = %e, "could not remove a stored talk's journal (dropped at the next start)");
            }
        }
        Ok(outcome)
    }
}

/// Why a recipient could not be resolved (the name as given, shortened).
enum Unresolved {
    /// Nobody by that name here, or a malformed or unlinked `user@box`.
    Unknown(String),
    /// A user of another box, and the sender may not write to other boxes.
    NotPublished(String),
}

/// Looks each recipient up ([`Store::find_user`]; `user@box` through [`remote`], allowed
/// only when `goes_out`); keeps the first of duplicates. `Err` names the first refused one.
fn resolve(
    store: &Store,
    to: &[String],
    global_box: Option<&str>,
    goes_out: bool,
) -> Result<Result<Vec<Guid>, Unresolved>, StoreError> {
    let mut out = Vec::new();
    for t in to.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let shown = || t.chars().take(64).collect::<String>();
        let found = if t.contains('@') {
            match remote(store, t, global_box, goes_out)? {
                Remote::Found(g) => Some(g),
                Remote::Unknown => None,
                Remote::Refused => return Ok(Err(Unresolved::NotPublished(shown()))),
            }
        } else {
            store.find_user(t)?.map(|u| u.guid)
        };
        match found {
            Some(g) if !out.contains(&g) => out.push(g),
            Some(_) => {}
            None => return Ok(Err(Unresolved::Unknown(shown()))),
        }
    }
    Ok(Ok(out))
}

/// What `user@box` names.
enum Remote {
    /// A local user (`box` is this box) or a user of another box.
    Found(Guid),
    /// The box is not linked, the address is malformed, or no such local user.
    Unknown,
    /// A user of another box, and the sender may not write out.
    Refused,
}

/// The user `user@box` names: a local user when `box` is this box, else (if `goes_out`) a
/// user of another box, recorded as one if new (their GUID follows from the address, so the
/// post is taken while the link is down; whether they exist is the directory's to say when it
/// goes out, and the transport returns the message as undeliverable if not).
fn remote(
    store: &Store,
    t: &str,
    global_box: Option<&str>,
    goes_out: bool,
) -> Result<Remote, StoreError> {
    let (Some(own), Ok(address)) = (global_box, Address::parse(t)) else {
        return Ok(Remote::Unknown);
    };
    if address.box_name == own {
        return Ok(match store.user_by_name(&address.user)? {
            Some(u) => Remote::Found(u.guid),
            None => Remote::Unknown,
        });
    }
    if !goes_out {
        return Ok(Remote::Refused);
    }
    let guid = address.user_id();
    if store.remote_user(guid)?.is_none() {
        store.put_remote_user(&RemoteUser {
            guid,
            address: address.to_string(),
            display_name: address.to_string(),
        })?;
    }
    Ok(Remote::Found(guid))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes the blobs and commits the record under `rules`; removes the blobs again if the
/// commit fails or finds the message already stored (a retry with its key).
fn store_message(
    s: &Store,
    sender: Guid,
    recipients: Vec<Guid>,
    audio: PreparedAudio,
    attachments: Vec<NewAttachment>,
    rules: &CommitRules,
    marks: Marks,
) -> Result<Outcome, StoreError> {
    let bytes =
        audio.ogg.len() as u64 + attachments.iter().map(|a| a.data.len() as u64).sum::<u64>();
    s.ensure_free_space(bytes)?;
    let mut written = Vec::new();
    let result = (|| {
        let blob = s.put_blob(&audio.ogg)?;
        written.push(blob.clone());
        let mut stored_atts = Vec::with_capacity(attachments.len());
        for a in attachments {
            let blob = s.put_blob(&a.data)?;
            written.push(blob.clone());
            let content_type = if a.content_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                a.content_type
            };
            stored_atts.push(StoredAttachment {
                name: a.name,
                content_type,
                blob,
            });
        }
        let msg = StoredMessage {
            id: marks.id.unwrap_or_else(Guid::new_v4),
            sender,
            recipients: recipients.clone(),
            created_at: now_ms(),
            duration_ms: audio.duration_ms,
            peaks: audio.peaks,
            audio: blob,
            attachments: stored_atts,
            idempotency_key: None,
            partial: marks.partial,
            urgent: marks.urgent,
        };
        let committed = s.commit_message_with(&msg, rules)?;
        Ok((msg, committed))
    })();
    let msg = match result {
        Ok((msg, Committed::New)) => msg,
        Ok((_, Committed::Existing(existing))) => {
            remove_written(s, &written);
            return Ok(Outcome::Raced(views::message_info(
                s,
                &existing,
                Viewer::Sender,
            )?));
        }
        Err(e) => {
            remove_written(s, &written);
            return Err(e);
        }
    };
    let for_sender = views::message_info(s, &msg, Viewer::Sender)?;
    // Just committed, every recipient is `queued`: each one's view is the sender's with their
    // own state set, the same for all, so one frame serves every recipient.
    let mut for_recipients = for_sender.clone();
    for_recipients.state = Some(MailboxState::Queued);
    Ok(Outcome::New(Stored {
        for_sender,
        for_recipients,
        recipients,
    }))
}

/// Removes blob files no record will name (a refused or duplicate commit).
fn remove_written(s: &Store, written: &[BlobRef]) {
    for b in written {
        if let Err(e) = s.remove_blob(b) {
            tracing::warn!(blob = %b.id, error = %e, "could not remove an unused blob file");
        }
    }
}
