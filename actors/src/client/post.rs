//! Posting a voice message (S2, S3): the one path for the REST upload, the WebSocket
//! `post_message` and, later, phones.
//!
//! Order matters for durability: resolve recipients, prepare the audio (off the async
//! threads), write and fsync the encrypted files, commit the record, and only then answer the
//! sender and push to online recipients. A crash before the commit leaves at most an
//! unreferenced blob file and no acknowledgement; a crash after it loses nothing.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use ivm_media::MediaError;
use ivm_store::{Store, StoreError, StoredAttachment, StoredMessage};
use ivm_wire::object::push;
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Guid, MailboxState};

use super::ClientActor;
use crate::database::{self, DbError};
use crate::views::{self, Viewer};

/// Longest attachment name accepted, in bytes.
pub const MAX_ATTACHMENT_NAME: usize = 255;

/// An attached file as received.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// File name as the sender had it; checked by [`check_attachment_name`].
    pub name: String,
    /// MIME type (`application/octet-stream` when empty).
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Send a voice message from `sender` to `to`.
#[derive(Message)]
#[rtype(result = "Result<MessageInfo, PostError>")]
pub struct PostMessage {
    /// The sender, from the authenticated session (never from the client's claim).
    pub sender: Guid,
    /// Recipients: names, extensions or GUIDs.
    pub to: Vec<String>,
    /// WAV or Ogg Opus bytes.
    pub audio: Vec<u8>,
    /// Attached files.
    pub attachments: Vec<NewAttachment>,
}

/// Why a post was refused. Nothing is stored when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// A recipient is not a user of this box.
    #[error("unknown recipient {0:?}")]
    UnknownUser(String),
    /// No recipient was named.
    #[error("a message needs at least one recipient")]
    NoRecipients,
    /// The audio is not usable.
    #[error("{0}")]
    BadAudio(#[from] MediaError),
    /// An attachment name is empty, too long, or tries to name a path.
    #[error("bad attachment name {0:?}: names must be plain file names")]
    BadAttachmentName(String),
    /// The box is shutting down.
    #[error("the server is going down")]
    GoingDown,
    /// The store or a worker failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for PostError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Store(StoreError::NotFound) => PostError::UnknownUser(String::new()),
            other => PostError::Internal(other.to_string()),
        }
    }
}

/// Refuses names that are not plain file names: empty, over-long, `.`/`..`, path separators,
/// control characters. Checked before anything is written.
pub fn check_attachment_name(name: &str) -> Result<(), PostError> {
    let bad = name.is_empty()
        || name.len() > MAX_ATTACHMENT_NAME
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(|c| c.is_control());
    if bad {
        Err(PostError::BadAttachmentName(
            name.chars().take(80).collect(),
        ))
    } else {
        Ok(())
    }
}

/// Looks each recipient up by GUID, extension (digits) or name; keeps the first of duplicates.
fn resolve(store: &Store, to: &[String]) -> Result<Result<Vec<Guid>, String>, StoreError> {
    let mut out = Vec::new();
    for t in to.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let user = if let Ok(g) = t.parse::<Guid>() {
            store.user(g)?
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            store.user_by_extension(t)?
        } else {
            store.user_by_name(&t.to_ascii_lowercase())?
        };
        match user {
            Some(u) if !out.contains(&u.guid) => out.push(u.guid),
            Some(_) => {}
            None => return Ok(Err(t.chars().take(64).collect())),
        }
    }
    Ok(Ok(out))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes the blobs and commits the record; removes the blobs again if the commit fails.
fn store_message(
    s: &Store,
    sender: Guid,
    recipients: Vec<Guid>,
    prepared: ivm_media::Prepared,
    attachments: Vec<NewAttachment>,
) -> Result<Stored, StoreError> {
    let mut written = Vec::new();
    let result = (|| {
        let audio = s.put_blob(&prepared.ogg)?;
        written.push(audio.clone());
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
            id: Guid::new_v4(),
            sender,
            recipients: recipients.clone(),
            created_at: now_ms(),
            duration_ms: prepared.duration_ms,
            peaks: prepared.peaks,
            audio,
            attachments: stored_atts,
        };
        s.commit_message(&msg)?;
        Ok(msg)
    })();
    let msg = match result {
        Ok(m) => m,
        Err(e) => {
            for b in &written {
                let _ = s.remove_blob(b);
            }
            return Err(e);
        }
    };
    let for_sender = views::message_info(s, &msg, Viewer::Sender)?;
    // Just committed, every recipient is `queued`: each one's view is the sender's with their
    // own state set, the same for all, so one frame serves every recipient.
    let mut for_recipients = for_sender.clone();
    for_recipients.state = Some(MailboxState::Queued);
    Ok(Stored {
        for_sender,
        for_recipients,
        recipients,
    })
}

/// A committed message, as its sender and its recipients see it.
struct Stored {
    for_sender: MessageInfo,
    for_recipients: MessageInfo,
    recipients: Vec<Guid>,
}

/// Validates, prepares, stores, then delivers to online recipients.
impl Handler<PostMessage> for ClientActor {
    type Result = ResponseActFuture<Self, Result<MessageInfo, PostError>>;

    fn handle(&mut self, msg: PostMessage, _: &mut Context<Self>) -> Self::Result {
        if self.going_down {
            return Box::pin(actix::fut::ready(Err(PostError::GoingDown)));
        }
        self.in_flight += 1;
        let db = self.db.clone();
        let max_seconds = self.cfg.max_message_seconds;
        let fut = async move {
            for a in &msg.attachments {
                check_attachment_name(&a.name)?;
            }
            let to = msg.to;
            let recipients = database::run(&db, move |s| resolve(s, &to))
                .await?
                .map_err(PostError::UnknownUser)?;
            if recipients.is_empty() {
                return Err(PostError::NoRecipients);
            }
            let audio = msg.audio;
            let prepared =
                crate::codec::run(move || ivm_media::prepare_upload(&audio, max_seconds))
                    .await
                    .map_err(|e| PostError::Internal(e.to_string()))??;
            let (sender, attachments) = (msg.sender, msg.attachments);
            let stored = database::run(&db, move |s| {
                store_message(s, sender, recipients, prepared, attachments)
            })
            .await?;
            Ok(stored)
        };
        Box::pin(fut.into_actor(self).map(|res, act, _| {
            act.finish_post();
            let stored = res?;
            let info = stored.for_sender;
            tracing::info!(message = %info.id, sender = %info.sender_name, recipients = stored.recipients.len(), duration_ms = info.duration_ms, "message committed");
            let frame: Arc<str> = push::message(&stored.for_recipients).to_text().into();
            for r in stored.recipients {
                act.push_frame_to_user(r, frame.clone());
                act.mailbox_changed(r);
            }
            Ok(info)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_must_be_plain() {
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "x\u{0}y",
            "x\ny",
            &"a".repeat(256),
        ] {
            assert!(check_attachment_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["notes.txt", "Report (final).pdf", "..hidden", "été.odt"] {
            assert!(check_attachment_name(good).is_ok(), "{good:?} refused");
        }
    }
}
