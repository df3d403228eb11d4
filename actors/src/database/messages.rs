//! Operations on voice messages as their users see them: inbox and sent lists a page at a
//! time, counts, one message, its audio and attachments, receipts, deletion, and what is
//! queued for a client that checks in.
//!
//! A user sees only messages sent by or to them ([`Store::message_for`]); every operation
//! here that takes a message id and a user applies that rule and answers `None` (or `false`)
//! otherwise, so a stranger learns nothing, not even that the message exists.

use ivm_store::{Advanced, Cursor, ListCounts, Page, Party, Store, StoreError};
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Guid, MailboxState};

use super::Op;
use crate::views::{self, Viewer};

fn viewer(party: Party, user: Guid) -> Viewer {
    match party {
        Party::Sender => Viewer::Sender,
        Party::Recipient => Viewer::Recipient(user),
    }
}

/// One page of `user`'s inbox, newest first, as they see it.
#[derive(Debug, Clone)]
pub struct InboxPage {
    /// Whose inbox.
    pub user: Guid,
    /// Older than this (the newest without it).
    pub before: Option<Cursor>,
    /// At most this many (1 to [`ivm_store::MAX_PAGE`]).
    pub limit: usize,
}

impl Op for InboxPage {
    type Output = Page<MessageInfo>;
    fn run(self, s: &Store) -> Result<Page<MessageInfo>, StoreError> {
        let page = s.inbox_page(self.user, self.before, self.limit)?;
        let mut views = views::Views::new(s);
        let items = page
            .items
            .iter()
            .map(|(m, _)| views.message(m, Viewer::Recipient(self.user)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }
}

/// One page of what `user` sent, newest first, with every recipient's state.
#[derive(Debug, Clone)]
pub struct SentPage {
    /// Whose sent list.
    pub user: Guid,
    /// Older than this (the newest without it).
    pub before: Option<Cursor>,
    /// At most this many (1 to [`ivm_store::MAX_PAGE`]).
    pub limit: usize,
}

impl Op for SentPage {
    type Output = Page<MessageInfo>;
    fn run(self, s: &Store) -> Result<Page<MessageInfo>, StoreError> {
        let page = s.sent_page(self.user, self.before, self.limit)?;
        let mut views = views::Views::new(s);
        let items = page
            .items
            .iter()
            .map(|m| views.message(m, Viewer::Sender))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }
}

/// How many messages `user`'s inbox (and of them unplayed) and sent list hold.
#[derive(Debug, Clone, Copy)]
pub struct CountsOf {
    /// Whose lists.
    pub user: Guid,
}

impl Op for CountsOf {
    type Output = ListCounts;
    fn run(self, s: &Store) -> Result<ListCounts, StoreError> {
        s.list_counts(self.user)
    }
}

/// Message `id` as `user` sees it, if they may.
#[derive(Debug, Clone, Copy)]
pub struct MessageView {
    /// The message.
    pub id: Guid,
    /// Who asks.
    pub user: Guid,
}

impl Op for MessageView {
    type Output = Option<MessageInfo>;
    fn run(self, s: &Store) -> Result<Option<MessageInfo>, StoreError> {
        match s.message_for(self.id, self.user)? {
            Some((m, party)) => views::message_info(s, &m, viewer(party, self.user)).map(Some),
            None => Ok(None),
        }
    }
}

/// The Ogg Opus audio of message `id`, decrypted, if `user` may have it.
#[derive(Debug, Clone, Copy)]
pub struct MessageAudio {
    /// The message.
    pub id: Guid,
    /// Who asks.
    pub user: Guid,
}

impl Op for MessageAudio {
    type Output = Option<Vec<u8>>;
    fn run(self, s: &Store) -> Result<Option<Vec<u8>>, StoreError> {
        match s.message_for(self.id, self.user)? {
            Some((m, _)) => s.read_blob(&m.audio).map(Some),
            None => Ok(None),
        }
    }
}

/// Attachment `index` of message `id`, decrypted, if `user` may have it.
#[derive(Debug, Clone, Copy)]
pub struct MessageAttachment {
    /// The message.
    pub id: Guid,
    /// Who asks.
    pub user: Guid,
    /// Which attachment (from 0).
    pub index: usize,
}

/// An attachment's name, type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// File name as the sender had it.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Op for MessageAttachment {
    type Output = Option<AttachmentFile>;
    fn run(self, s: &Store) -> Result<Option<AttachmentFile>, StoreError> {
        let Some((m, _)) = s.message_for(self.id, self.user)? else {
            return Ok(None);
        };
        let Some(a) = m.attachments.get(self.index) else {
            return Ok(None);
        };
        Ok(Some(AttachmentFile {
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            bytes: s.read_blob(&a.blob)?,
        }))
    }
}

/// Removes message `id` from `user`'s inbox or sent list; `false` when they may not see it.
#[derive(Debug, Clone, Copy)]
pub struct DeleteMessage {
    /// The message.
    pub id: Guid,
    /// Whose copy.
    pub user: Guid,
}

impl Op for DeleteMessage {
    type Output = bool;
    fn run(self, s: &Store) -> Result<bool, StoreError> {
        if s.message_for(self.id, self.user)?.is_none() {
            return Ok(false);
        }
        s.delete_for(self.id, self.user)
    }
}

/// Everything still queued for `user`, oldest first, as they see it (a client checks in).
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    /// Whose.
    pub user: Guid,
}

impl Op for Queued {
    type Output = Vec<MessageInfo>;
    fn run(self, s: &Store) -> Result<Vec<MessageInfo>, StoreError> {
        let mut views = views::Views::new(s);
        s.queued_for(self.user)?
            .iter()
            .map(|m| views.message(m, Viewer::Recipient(self.user)))
            .collect()
    }
}

/// Moves `user`'s state of `message` forward (delivered, played). Answers the sender and
/// whether the state moved; `None` when `user` is not a recipient or the message is gone.
#[derive(Debug, Clone, Copy)]
pub struct Advance {
    /// The recipient.
    pub user: Guid,
    /// The message.
    pub message: Guid,
    /// The new state.
    pub state: MailboxState,
}

impl Op for Advance {
    type Output = Option<(Guid, bool)>;
    fn run(self, s: &Store) -> Result<Option<(Guid, bool)>, StoreError> {
        let Some(msg) = s.message(self.message)? else {
            return Ok(None);
        };
        if s.mailbox_state(self.message, self.user)?.is_none() {
            return Ok(None);
        }
        let changed = s.advance(self.message, self.user, self.state)?;
        Ok(Some((msg.sender, changed)))
    }
}

/// A batch of [`Advance`]s in one commit ([`Store::advance_many`]).
#[derive(Debug, Clone)]
pub struct AdvanceMany {
    /// The recipient.
    pub user: Guid,
    /// (message, new state), each.
    pub receipts: Vec<(Guid, MailboxState)>,
}

impl Op for AdvanceMany {
    type Output = Vec<Advanced>;
    fn run(self, s: &Store) -> Result<Vec<Advanced>, StoreError> {
        s.advance_many(self.user, &self.receipts)
    }
}

/// Many recipients' receipts of one message in one commit ([`Store::advance_receipts`]):
/// everyone who heard a live talk has its stored copy played.
pub struct PlayedBy {
    /// The message.
    pub message: Guid,
    /// Who heard it.
    pub users: Vec<Guid>,
}

impl Op for PlayedBy {
    type Output = Vec<Advanced>;
    fn run(self, s: &Store) -> Result<Vec<Advanced>, StoreError> {
        let receipts: Vec<_> = self
            .users
            .iter()
            .map(|&u| (u, self.message, MailboxState::Played))
            .collect();
        s.advance_receipts(&receipts)
    }
}
