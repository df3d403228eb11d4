//! Posting a voice message (S2, S3): the one path for the REST upload, the WebSocket
//! `post_message` and, later, phones.
//!
//! Order matters for durability: resolve recipients, prepare the audio (off the async
//! threads), write and fsync the encrypted files, commit the record, and only then answer the
//! sender and push to online recipients. A crash before the commit leaves at most an
//! unreferenced blob file and no acknowledgement; a crash after it loses nothing.
//!
//! Limits, each refused before anything is written and with the numbers in the error:
//! - a retry with the idempotency key of a stored message gets that message back
//!   ([`PostOnce`]), before any other check, so a lost answer never costs a second copy;
//! - messages per minute per sender ([`super::rate`]);
//! - the sender's storage quota (checked up front for the attachments, exactly in the commit);
//! - room on the data disk ([`ivm_store::FREE_SPACE_RESERVE`] stays free): 507-style
//!   [`PostError::DiskFull`], and a write that still meets a full disk removes what it wrote.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::fut::LocalBoxActorFuture;
use actix::prelude::*;
use ivm_media::MediaError;
use ivm_store::{
    CommitRules, Committed, IdempotencyKey, KeyUse, Store, StoreError, StoredAttachment,
    StoredMessage,
};
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

/// Send a voice message with a client-chosen idempotency key (REST `Idempotency-Key`): if
/// the sender already stored a message with this key and the same request, that message is
/// answered ([`Posted::replayed`]) and nothing new is stored.
#[derive(Message)]
#[rtype(result = "Result<Posted, PostError>")]
pub struct PostOnce {
    /// The post.
    pub post: PostMessage,
    /// The client's key (1-128 visible ASCII characters).
    pub key: String,
}

/// A post's answer.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The message as its sender sees it.
    pub info: MessageInfo,
    /// True when this was a retry of a message already stored (nothing new was stored).
    pub replayed: bool,
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
    /// The sender has sent their limit of messages this minute.
    #[error("at most {per_minute} messages a minute; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// The limit.
        per_minute: u32,
        /// When the next one will be taken.
        retry_after: Duration,
    },
    /// The message would take the sender past their storage quota.
    #[error("your messages would hold {} bytes, over your quota of {quota} bytes ({used} used now); delete some sent messages first", used.saturating_add(*adding))]
    QuotaExceeded {
        /// Bytes the sender's existing messages hold.
        used: u64,
        /// Bytes this message adds (attachments only when refused before the audio was
        /// prepared).
        adding: u64,
        /// The quota.
        quota: u64,
    },
    /// The box's data disk has no room: nothing was stored.
    #[error("the box's disk is full; nothing was stored (ask an administrator to free space)")]
    DiskFull,
    /// The idempotency key is not one the box accepts.
    #[error("{0}")]
    BadKey(String),
    /// The idempotency key was used before for another request (the message it stored).
    #[error("this Idempotency-Key was already used for another message ({0}); use a new key for each message")]
    KeyReused(Guid),
    /// The box is shutting down.
    #[error("the server is going down")]
    GoingDown,
    /// The store or a worker failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for PostError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return PostError::DiskFull;
        }
        match e {
            StoreError::NotFound => PostError::UnknownUser(String::new()),
            StoreError::QuotaExceeded {
                used,
                adding,
                quota,
            } => PostError::QuotaExceeded {
                used,
                adding,
                quota,
            },
            StoreError::KeyReused(id) => PostError::KeyReused(id),
            other => PostError::Internal(other.to_string()),
        }
    }
}

impl From<DbError> for PostError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Store(s) => s.into(),
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

/// Writes the blobs and commits the record under `rules`; removes the blobs again if the
/// commit fails or finds the message already stored (a retry with its key).
fn store_message(
    s: &Store,
    sender: Guid,
    recipients: Vec<Guid>,
    prepared: ivm_media::Prepared,
    attachments: Vec<NewAttachment>,
    rules: &CommitRules,
) -> Result<Outcome, StoreError> {
    let bytes =
        prepared.ogg.len() as u64 + attachments.iter().map(|a| a.data.len() as u64).sum::<u64>();
    s.ensure_free_space(bytes)?;
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
            idempotency_key: None,
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
fn remove_written(s: &Store, written: &[ivm_store::BlobRef]) {
    for b in written {
        if let Err(e) = s.remove_blob(b) {
            tracing::warn!(blob = %b.id, error = %e, "could not remove an unused blob file");
        }
    }
}

/// What a post ended in.
enum Outcome {
    /// Stored now.
    New(Stored),
    /// Already stored under its idempotency key (found before storing); as its sender sees it.
    Replay(MessageInfo),
    /// The same, found by the commit: a retry raced the first request.
    Raced(MessageInfo),
}

/// A committed message, as its sender and its recipients see it.
struct Stored {
    for_sender: MessageInfo,
    for_recipients: MessageInfo,
    recipients: Vec<Guid>,
}

/// The fingerprint parts of a post: recipients as given, audio, each attachment.
fn fingerprint_parts(p: &PostMessage) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = p.to.iter().map(|t| t.as_bytes()).collect();
    parts.push(b"audio");
    parts.push(&p.audio);
    for a in &p.attachments {
        parts.extend([a.name.as_bytes(), a.content_type.as_bytes(), &a.data[..]]);
    }
    parts
}

/// First step of a post, before the rate is taken.
enum Start {
    /// Go on and store it.
    Store(PostMessage, Option<IdempotencyKey>),
    /// A retry of a message already stored.
    Replay(MessageInfo),
}

/// Checks the attachment names; with a key, looks it up (off the async threads: the
/// fingerprint hashes the whole upload).
async fn start(
    db: Addr<crate::database::DatabaseActor>,
    msg: PostMessage,
    key: Option<String>,
) -> Result<Start, PostError> {
    for a in &msg.attachments {
        check_attachment_name(&a.name)?;
    }
    let Some(key) = key else {
        return Ok(Start::Store(msg, None));
    };
    let (msg, key) = tokio::task::spawn_blocking(move || {
        let k = IdempotencyKey::new(&key, fingerprint_parts(&msg));
        (msg, k)
    })
    .await
    .map_err(|e| PostError::Internal(e.to_string()))?;
    let key = key.map_err(|e| match e {
        StoreError::Invalid(m) => PostError::BadKey(m),
        other => other.into(),
    })?;
    let sender = msg.sender;
    let k = key.clone();
    let found = database::run(&db, move |s| match s.message_for_key(sender, &k)? {
        Some(KeyUse::Same(m)) => Ok(Some(Ok(views::message_info(s, &m, Viewer::Sender)?))),
        Some(KeyUse::Different(id)) => Ok(Some(Err(id))),
        None => Ok(None),
    })
    .await?;
    match found {
        Some(Ok(info)) => Ok(Start::Replay(info)),
        Some(Err(id)) => Err(PostError::KeyReused(id)),
        None => Ok(Start::Store(msg, Some(key))),
    }
}

/// Resolves, checks quota and disk, prepares the audio, stores.
async fn store(
    db: Addr<crate::database::DatabaseActor>,
    max_seconds: u32,
    quota: Option<u64>,
    msg: PostMessage,
    key: Option<IdempotencyKey>,
) -> Result<Outcome, PostError> {
    let (sender, to) = (msg.sender, msg.to);
    let raw: u64 = msg.audio.len() as u64
        + msg
            .attachments
            .iter()
            .map(|a| a.data.len() as u64)
            .sum::<u64>();
    let attached: u64 = msg.attachments.iter().map(|a| a.data.len() as u64).sum();
    let recipients = database::run(&db, move |s| {
        let r = resolve(s, &to)?;
        if let (Ok(_), Some(quota)) = (&r, quota) {
            let used = s.usage(sender)?;
            // The audio's stored size is known only once prepared; the attachments are
            // stored as they are, so they alone can already be too much.
            if used.saturating_add(attached) > quota {
                return Err(StoreError::QuotaExceeded {
                    used,
                    adding: attached,
                    quota,
                });
            }
        }
        // The upload as received bounds what preparing it can write.
        s.ensure_free_space(raw)?;
        Ok(r)
    })
    .await?
    .map_err(PostError::UnknownUser)?;
    if recipients.is_empty() {
        return Err(PostError::NoRecipients);
    }
    let audio = msg.audio;
    // Within the codec budget: a burst of uploads queues instead of running every encode at
    // once on its own blocking thread.
    let prepared = crate::codec::run(move || ivm_media::prepare_upload(&audio, max_seconds))
        .await
        .map_err(|e| PostError::Internal(e.to_string()))??;
    let attachments = msg.attachments;
    let rules = CommitRules { quota, key };
    Ok(database::run(&db, move |s| {
        store_message(s, sender, recipients, prepared, attachments, &rules)
    })
    .await?)
}

impl ClientActor {
    /// The one post path: [`start`], the rate, [`store`], then delivery to online recipients.
    fn post(
        &mut self,
        msg: PostMessage,
        key: Option<String>,
    ) -> LocalBoxActorFuture<Self, Result<Posted, PostError>> {
        if self.going_down {
            return Box::pin(actix::fut::ready(Err(PostError::GoingDown)));
        }
        self.in_flight += 1;
        let db = self.db.clone();
        let max_seconds = self.cfg.max_message_seconds;
        let quota = (self.cfg.user_quota_bytes > 0).then_some(self.cfg.user_quota_bytes);
        let sender = msg.sender;
        let first = start(db.clone(), msg, key).into_actor(self);
        let stored = first.then(
            move |res,
                  act: &mut ClientActor,
                  _|
                  -> LocalBoxActorFuture<Self, Result<Outcome, PostError>> {
                match res {
                    Err(e) => Box::pin(actix::fut::ready(Err(e))),
                    Ok(Start::Replay(info)) => {
                        Box::pin(actix::fut::ready(Ok(Outcome::Replay(info))))
                    }
                    Ok(Start::Store(msg, key)) => match act
                        .post_rate
                        .try_take(sender, Instant::now())
                    {
                        Err(retry_after) => {
                            Box::pin(actix::fut::ready(Err(PostError::RateLimited {
                                per_minute: act.post_rate.per_minute(),
                                retry_after,
                            })))
                        }
                        Ok(()) => Box::pin(store(db, max_seconds, quota, msg, key).into_actor(act)),
                    },
                }
            },
        );
        Box::pin(stored.map(move |res, act, _| {
            act.finish_post();
            let outcome = res?;
            if matches!(outcome, Outcome::Raced(_)) {
                // It took a place in the minute's count, but stored nothing.
                act.post_rate.give_back(sender);
            }
            match outcome {
                Outcome::Replay(info) | Outcome::Raced(info) => {
                    tracing::info!(message = %info.id, sender = %info.sender_name, "retry of a stored message: answered with it");
                    Ok(Posted { info, replayed: true })
                }
                Outcome::New(stored) => {
                    let info = stored.for_sender;
                    tracing::info!(message = %info.id, sender = %info.sender_name, recipients = stored.recipients.len(), duration_ms = info.duration_ms, "message committed");
                    let frame: Arc<str> = push::message(&stored.for_recipients).to_text().into();
                    for r in stored.recipients {
                        act.push_frame_to_user(r, frame.clone());
                        act.mailbox_changed(r);
                    }
                    Ok(Posted { info, replayed: false })
                }
            }
        }))
    }
}

/// Validates, prepares, stores, then delivers to online recipients.
impl Handler<PostMessage> for ClientActor {
    type Result = ResponseActFuture<Self, Result<MessageInfo, PostError>>;

    fn handle(&mut self, msg: PostMessage, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.post(msg, None).map(|r, _, _| r.map(|p| p.info)))
    }
}

/// As [`PostMessage`], answering a retry with the message its key already stored.
impl Handler<PostOnce> for ClientActor {
    type Result = ResponseActFuture<Self, Result<Posted, PostError>>;

    fn handle(&mut self, msg: PostOnce, _: &mut Context<Self>) -> Self::Result {
        self.post(msg.post, Some(msg.key))
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
