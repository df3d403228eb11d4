//! Stored records as the clients see them. Runs on a database thread (it reads users).

use std::collections::HashMap;

use ivm_store::{Store, StoreError, StoredMessage, User};
use ivm_wire::rest::{AttachmentInfo, Contact, MessageInfo, RecipientState, UserInfo};
use ivm_wire::{Guid, MailboxState, Status};

/// Who is looking at a message decides which recipient states they may see.
#[derive(Debug, Clone, Copy)]
pub enum Viewer {
    /// The sender sees every recipient's state (receipts).
    Sender,
    /// A recipient sees their own state; the others show as `queued`.
    Recipient(Guid),
}

/// Builds [`MessageInfo`]s, remembering the names it has looked up: a list of messages, or a
/// message to many recipients, reads each user once rather than once per mention.
pub struct Views<'a> {
    store: &'a Store,
    names: HashMap<Guid, Option<(String, String)>>,
}

impl<'a> Views<'a> {
    /// A builder over `store`.
    pub fn new(store: &'a Store) -> Self {
        Views {
            store,
            names: HashMap::new(),
        }
    }

    /// `(name, display name)` of a user, `None` if deleted.
    fn names(&mut self, guid: Guid) -> Result<Option<(String, String)>, StoreError> {
        if let Some(n) = self.names.get(&guid) {
            return Ok(n.clone());
        }
        let n = self.store.user(guid)?.map(|u| (u.name, u.display_name));
        self.names.insert(guid, n.clone());
        Ok(n)
    }

    /// The [`MessageInfo`] of `msg` for `viewer`.
    pub fn message(
        &mut self,
        msg: &StoredMessage,
        viewer: Viewer,
    ) -> Result<MessageInfo, StoreError> {
        let states: HashMap<Guid, MailboxState> =
            self.store.recipient_states(msg.id)?.into_iter().collect();
        let mut recipients = Vec::with_capacity(msg.recipients.len());
        let mut own = None;
        for guid in &msg.recipients {
            let actual = states.get(guid).copied().unwrap_or(MailboxState::Queued);
            let state = match viewer {
                Viewer::Sender => actual,
                Viewer::Recipient(me) if me == *guid => {
                    own = Some(actual);
                    actual
                }
                Viewer::Recipient(_) => MailboxState::Queued,
            };
            let name = self
                .names(*guid)?
                .map(|n| n.0)
                .unwrap_or_else(|| "(deleted)".into());
            recipients.push(RecipientState {
                guid: *guid,
                name,
                state,
            });
        }
        let (sender_name, sender_display_name) = self
            .names(msg.sender)?
            .unwrap_or_else(|| ("(deleted)".into(), "(deleted user)".into()));
        Ok(MessageInfo {
            id: msg.id,
            sender: msg.sender,
            sender_name,
            sender_display_name,
            recipients,
            created_at: msg.created_at,
            duration_ms: msg.duration_ms,
            peaks: msg.peaks.clone(),
            audio_bytes: msg.audio.size,
            attachments: msg
                .attachments
                .iter()
                .zip(0u32..)
                .map(|(a, index)| AttachmentInfo {
                    index,
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    size: a.blob.size,
                })
                .collect(),
            state: own,
        })
    }
}

/// The [`MessageInfo`] of one message for `viewer`.
pub fn message_info(
    store: &Store,
    msg: &StoredMessage,
    viewer: Viewer,
) -> Result<MessageInfo, StoreError> {
    Views::new(store).message(msg, viewer)
}

/// The user as they see themself, with `status` as the live presence.
pub fn user_info(u: &User, status: Status) -> UserInfo {
    UserInfo {
        guid: u.guid,
        name: u.name.clone(),
        extension: u.extension.clone(),
        display_name: u.display_name.clone(),
        status,
        admin: u.admin,
        must_change_password: u.must_change_password,
    }
}

/// The user as others see them, with `status` as the live presence.
pub fn contact(u: &User, status: Status) -> Contact {
    Contact {
        guid: u.guid,
        name: u.name.clone(),
        extension: u.extension.clone(),
        display_name: u.display_name.clone(),
        status,
    }
}
