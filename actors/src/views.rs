//! Stored records as the clients see them: messages, users, phones. Runs on a database
//! thread (it reads users).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ivm_store::{PhoneStatus, Store, StoreError, StoredMessage, StoredPhone, User};
use ivm_wire::rest::{
    AttachmentInfo, Contact, MessageInfo, PhoneInfo, PhoneRegistration, PhoneState, RecipientState,
    UserInfo,
};
use ivm_wire::{Guid, MailboxState, Status};

use crate::station::Registration;

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
        let n = match self.store.user(guid)? {
            Some(u) => Some((u.name, u.display_name)),
            // A user of another box: their address is their name here.
            None => self
                .store
                .remote_user(guid)?
                .map(|r| (r.address, r.display_name)),
        };
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
            partial: msg.partial,
            urgent: msg.urgent,
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
        may_all_call: u.may_all_call(),
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

/// A stored phone as the admin API shows it: its user looked up, and joined with the
/// station's `live` registrations (whether it is registered now). The phone is linked to a
/// registration by its user; when the user has several (a desk phone and a softphone), the
/// one from the phone's own last address wins.
pub fn phone_info(
    s: &Store,
    p: &StoredPhone,
    live: &[Registration],
) -> Result<PhoneInfo, StoreError> {
    let user = match p.user {
        Some(g) => s.user(g)?,
        None => None,
    };
    let registration = user.as_ref().and_then(|u| {
        let mine = || live.iter().filter(|r| r.user == u.guid);
        mine()
            .find(|r| Some(r.source.ip()) == p.address)
            .or_else(|| mine().max_by_key(|r| r.expires_in))
            .map(|r| PhoneRegistration {
                address: r.source.to_string(),
                user_agent: r.user_agent.clone(),
                expires_in_s: r.expires_in.as_secs(),
                reachable: r.reachable,
            })
    });
    let state = match (&user, &registration, p.status) {
        (None, _, _) => PhoneState::Unassigned,
        (Some(_), Some(_), _) => PhoneState::Registered,
        // Registered before, not now: it has its account.
        (Some(_), None, PhoneStatus::Provisioned | PhoneStatus::Registered) => {
            PhoneState::Provisioned
        }
        (Some(_), None, PhoneStatus::Seen) => PhoneState::Seen,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(PhoneInfo {
        mac: p.mac.to_string(),
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        firmware: p.firmware.clone(),
        user: user.as_ref().map(|u| u.name.clone()),
        extension: user.map(|u| u.extension),
        state,
        last_seen: p.last_seen,
        address: p.address.map(|a| a.to_string()),
        registration,
        armed_until: p.armed(now).then_some(p.armed_until).flatten(),
        bound_at: p.bound_at,
        bound_address: p.bound_address.map(|a| a.to_string()),
        manual_credential: p.manual_credential,
    })
}
