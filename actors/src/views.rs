//! Stored records as the clients see them. Runs on a database thread (it reads users).

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

/// Builds the [`MessageInfo`] of `msg` for `viewer`.
pub fn message_info(store: &Store, msg: &StoredMessage, viewer: Viewer) -> Result<MessageInfo, StoreError> {
    let sender = store.user(msg.sender)?;
    let states = store.recipient_states(msg.id)?;
    let mut recipients = Vec::with_capacity(msg.recipients.len());
    let mut own = None;
    for guid in &msg.recipients {
        let actual = states
            .iter()
            .find(|(g, _)| g == guid)
            .map(|(_, s)| *s)
            .unwrap_or(MailboxState::Queued);
        let state = match viewer {
            Viewer::Sender => actual,
            Viewer::Recipient(me) if me == *guid => {
                own = Some(actual);
                actual
            }
            Viewer::Recipient(_) => MailboxState::Queued,
        };
        let name = store.user(*guid)?.map(|u| u.name).unwrap_or_else(|| "(deleted)".into());
        recipients.push(RecipientState { guid: *guid, name, state });
    }
    Ok(MessageInfo {
        id: msg.id,
        sender: msg.sender,
        sender_name: sender.as_ref().map(|u| u.name.clone()).unwrap_or_else(|| "(deleted)".into()),
        sender_display_name: sender
            .as_ref()
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| "(deleted user)".into()),
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

/// The user as they see themself, with `status` as the live presence.
pub fn user_info(u: &User, status: Status) -> UserInfo {
    UserInfo {
        guid: u.guid,
        name: u.name.clone(),
        extension: u.extension.clone(),
        display_name: u.display_name.clone(),
        status,
        admin: u.admin,
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
