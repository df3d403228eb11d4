//! Posting a voice message (record mode, store-and-forward): the one path for the REST upload, the
//! WebSocket `post_message` and the phones.
//!
//! Order matters for durability: prepare the audio (off the async threads), then one
//! database trip ([`super::commit::CommitPost`]) resolves the recipients, checks the quota
//! and the disk, writes and fsyncs the encrypted files and commits the record; only then is
//! the sender answered and the message pushed to online recipients. A crash before the commit
//! leaves at most an unreferenced blob file and no acknowledgement; a crash after it loses
//! nothing.
//!
//! Three ways in: [`PostMessage`] (an upload: WAV or Ogg Opus, prepared here),
//! [`PostOnce`] (the same with the client's idempotency key) and [`PostPrepared`] (audio the
//! caller already prepared, the station's recorder: stored as given, never decoded again).
//!
//! Limits, each refused before anything is written and with the numbers in the error:
//! - a retry with the idempotency key of a stored message gets that message back
//!   ([`PostOnce`]), before any other check, so a lost answer never costs a second copy
//!   (that lookup is the one extra trip, and only keyed posts make it);
//! - messages per minute per sender ([`super::rate`]), before the audio work;
//! - the sender's storage quota (the attachments alone, then exactly in the commit);
//! - room on the data disk ([`ivm_store::FREE_SPACE_RESERVE`] stays free): 507-style
//!   [`PostError::DiskFull`], and a write that still meets a full disk removes what it wrote.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::fut::LocalBoxActorFuture;
use actix::prelude::*;
use ivm_media::MediaError;
use ivm_store::{CommitRules, IdempotencyKey, StoreError};
use ivm_wire::object::push;
use ivm_wire::rest::MessageInfo;
use ivm_wire::Guid;

pub use super::commit::Incoming;
use super::commit::{CommitPost, FindKey, KeyFound, Marks, Outcome};
use super::ClientActor;
use crate::database::{Db, DbError};

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

/// Send a recording the caller has already prepared (the station's recorder made the Ogg
/// Opus file, its length and its waveform while recording): it is stored as it is, without
/// being decoded again, through the same checks and the same one commit as an upload.
#[derive(Message)]
#[rtype(result = "Result<MessageInfo, PostError>")]
pub struct PostPrepared {
    /// The sender, as authenticated by the caller.
    pub sender: Guid,
    /// Recipients: names, extensions or GUIDs.
    pub to: Vec<String>,
    /// The recording.
    pub audio: PreparedAudio,
}

/// Audio ready to store: what [`ivm_media::prepare_upload`] makes of an upload, and what a
/// phone's recorder makes while recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedAudio {
    /// Ogg Opus (RFC 7845), mono.
    pub ogg: Vec<u8>,
    /// Playable length, in milliseconds.
    pub duration_ms: u32,
    /// Waveform summary ([`ivm_media::peaks`]).
    pub peaks: Vec<u8>,
}

impl From<ivm_rtp::Recording> for PreparedAudio {
    fn from(r: ivm_rtp::Recording) -> Self {
        PreparedAudio {
            ogg: r.ogg,
            duration_ms: r.duration_ms,
            peaks: r.peaks,
        }
    }
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
    /// A recipient is a user of another box, and the sender is not published to the global
    /// directory (so the message could not go out).
    #[error("{0:?} is on another box, and you are not in the global directory; an administrator can add you (ivmd user global NAME on)")]
    NotPublished(String),
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

/// A post on its way: who, to whom, what, and in what state the audio is.
pub(super) struct Draft {
    pub(super) sender: Guid,
    pub(super) to: Vec<String>,
    pub(super) audio: Audio,
    pub(super) attachments: Vec<NewAttachment>,
    /// A live talk cut off before its speaker ended it.
    pub(super) partial: bool,
    /// An all-call's stored copy.
    pub(super) urgent: bool,
    /// The pending talk (journal) this is the copy of: its row goes in the same commit.
    pub(super) talk: Option<Guid>,
    /// Set for a message from another box ([`PostGlobal`]).
    pub(super) incoming: Option<Incoming>,
}

/// The audio of a post.
pub(super) enum Audio {
    /// As uploaded: WAV or Ogg Opus, to prepare.
    Upload(Vec<u8>),
    /// Prepared by the caller.
    Prepared(PreparedAudio),
}

impl From<PostMessage> for Draft {
    fn from(p: PostMessage) -> Self {
        Draft {
            sender: p.sender,
            to: p.to,
            audio: Audio::Upload(p.audio),
            attachments: p.attachments,
            partial: false,
            urgent: false,
            talk: None,
            incoming: None,
        }
    }
}

impl Draft {
    /// The fingerprint parts of a post: recipients as given, audio, each attachment.
    fn fingerprint_parts(&self) -> Vec<&[u8]> {
        let mut parts: Vec<&[u8]> = self.to.iter().map(|t| t.as_bytes()).collect();
        parts.push(b"audio");
        parts.push(match &self.audio {
            Audio::Upload(b) => b,
            Audio::Prepared(p) => &p.ogg,
        });
        for a in &self.attachments {
            parts.extend([a.name.as_bytes(), a.content_type.as_bytes(), &a.data[..]]);
        }
        parts
    }
}

/// First step of a post, before the rate is taken.
enum Start {
    /// Go on and store it.
    Store(Draft, Option<IdempotencyKey>),
    /// A retry of a message already stored.
    Replay(MessageInfo),
}

/// Checks the attachment names; with a key, looks it up (off the async threads: the
/// fingerprint hashes the whole upload).
async fn start(db: Db, draft: Draft, key: Option<String>) -> Result<Start, PostError> {
    for a in &draft.attachments {
        check_attachment_name(&a.name)?;
    }
    let Some(key) = key else {
        return Ok(Start::Store(draft, None));
    };
    let (draft, key) = tokio::task::spawn_blocking(move || {
        let k = IdempotencyKey::new(&key, draft.fingerprint_parts());
        (draft, k)
    })
    .await
    .map_err(|e| PostError::Internal(e.to_string()))?;
    let key = key.map_err(|e| match e {
        StoreError::Invalid(m) => PostError::BadKey(m),
        other => other.into(),
    })?;
    let found = db
        .call(FindKey {
            sender: draft.sender,
            key: key.clone(),
        })
        .await?;
    match found {
        KeyFound::Same(info) => Ok(Start::Replay(info)),
        KeyFound::Other(id) => Err(PostError::KeyReused(id)),
        KeyFound::Nothing => Ok(Start::Store(draft, Some(key))),
    }
}

/// Prepares the audio (within the codec budget, unless the caller did), then stores the post
/// in one database trip.
async fn store(
    db: Db,
    max_seconds: u32,
    quota: Option<u64>,
    global_box: Option<String>,
    draft: Draft,
    key: Option<IdempotencyKey>,
) -> Result<Outcome, PostError> {
    let audio = match draft.audio {
        // Within the codec budget: a burst of uploads queues instead of running every encode
        // at once on its own blocking thread.
        Audio::Upload(bytes) => {
            let p = crate::codec::run(move || ivm_media::prepare_upload(&bytes, max_seconds))
                .await
                .map_err(|e| PostError::Internal(e.to_string()))??;
            PreparedAudio {
                ogg: p.ogg,
                duration_ms: p.duration_ms,
                peaks: p.peaks,
            }
        }
        Audio::Prepared(p) => p.checked(max_seconds)?,
    };
    Ok(db
        .call(CommitPost {
            sender: draft.sender,
            to: draft.to,
            audio,
            attachments: draft.attachments,
            rules: CommitRules {
                quota,
                key,
                talk: draft.talk,
            },
            marks: Marks {
                partial: draft.partial,
                urgent: draft.urgent,
                id: None,
            },
            global_box,
            incoming: draft.incoming,
        })
        .await?)
}

impl PreparedAudio {
    /// What a caller's prepared audio must be: some audio, within the length limit.
    fn checked(self, max_seconds: u32) -> Result<PreparedAudio, PostError> {
        if self.ogg.is_empty() || self.duration_ms == 0 {
            return Err(MediaError::NoSound.into());
        }
        let max = max_seconds.min(ivm_media::MAX_SECONDS);
        if u64::from(self.duration_ms) > u64::from(max) * 1000 {
            return Err(MediaError::TooLong {
                seconds: u64::from(self.duration_ms / 1000),
                max_seconds: max,
            }
            .into());
        }
        Ok(self)
    }
}

impl ClientActor {
    /// The one post path: [`start`], the rate, [`store`], then delivery to online recipients.
    pub(super) fn post(
        &mut self,
        draft: Draft,
        key: Option<String>,
    ) -> LocalBoxActorFuture<Self, Result<Posted, PostError>> {
        if self.going_down {
            return Box::pin(actix::fut::ready(Err(PostError::GoingDown)));
        }
        self.in_flight += 1;
        let db = self.db.clone();
        let max_seconds = self.cfg.max_message_seconds;
        // A message from another box was its sender's box's to limit; the quota is the
        // sender's, and they are not a user here.
        let quota = (self.cfg.user_quota_bytes > 0 && draft.incoming.is_none())
            .then_some(self.cfg.user_quota_bytes);
        let global_box = self.cfg.global_box.clone();
        let sender = draft.sender;
        let first = start(db.clone(), draft, key).into_actor(self);
        let stored = first.then(
            move |res,
                  act: &mut ClientActor,
                  _|
                  -> LocalBoxActorFuture<Self, Result<Reached, PostError>> {
                match res {
                    Err(e) => Box::pin(actix::fut::ready(Err(e))),
                    Ok(Start::Replay(info)) => {
                        Box::pin(actix::fut::ready(Ok(Reached::Replay(info))))
                    }
                    Ok(Start::Store(draft, key)) if draft.incoming.is_some() => Box::pin(
                        store(db, max_seconds, quota, global_box, draft, key)
                            .into_actor(act)
                            .map(|r, _, _| r.map(Reached::Commit)),
                    ),
                    Ok(Start::Store(draft, key)) => {
                        match act.post_rate.try_take(sender, Instant::now()) {
                            Err(retry_after) => {
                                Box::pin(actix::fut::ready(Err(PostError::RateLimited {
                                    per_minute: act.post_rate.per_minute(),
                                    retry_after,
                                })))
                            }
                            Ok(()) => Box::pin(
                                store(db, max_seconds, quota, global_box, draft, key)
                                    .into_actor(act)
                                    .map(|r, _, _| r.map(Reached::Commit)),
                            ),
                        }
                    }
                }
            },
        );
        Box::pin(stored.map(move |res, act, _| {
            act.finish_post();
            match res? {
                Reached::Replay(info) => {
                    tracing::info!(message = %info.id, sender = %info.sender_name, "retry of a stored message: answered with it");
                    Ok(Posted { info, replayed: true })
                }
                Reached::Commit(Outcome::UnknownUser(name)) => Err(PostError::UnknownUser(name)),
                Reached::Commit(Outcome::NotPublished(name)) => Err(PostError::NotPublished(name)),
                Reached::Commit(Outcome::NoRecipients) => Err(PostError::NoRecipients),
                Reached::Commit(Outcome::Raced(info)) => {
                    // It took a place in the minute's count, but stored nothing.
                    act.post_rate.give_back(sender);
                    tracing::info!(message = %info.id, sender = %info.sender_name, "retry of a stored message: answered with it");
                    Ok(Posted { info, replayed: true })
                }
                Reached::Commit(Outcome::New(stored)) => {
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

/// Where a post got to.
enum Reached {
    /// A keyed retry found its message before anything else was done.
    Replay(MessageInfo),
    /// The commit's answer.
    Commit(Outcome),
}

/// Validates, prepares, stores, then delivers to online recipients.
impl Handler<PostMessage> for ClientActor {
    type Result = ResponseActFuture<Self, Result<MessageInfo, PostError>>;

    fn handle(&mut self, msg: PostMessage, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.post(msg.into(), None).map(|r, _, _| r.map(|p| p.info)))
    }
}

/// As [`PostMessage`], answering a retry with the message its key already stored.
impl Handler<PostOnce> for ClientActor {
    type Result = ResponseActFuture<Self, Result<Posted, PostError>>;

    fn handle(&mut self, msg: PostOnce, _: &mut Context<Self>) -> Self::Result {
        self.post(msg.post.into(), Some(msg.key))
    }
}

/// Stores the caller's prepared audio as it is, then delivers to online recipients.
/// A message that came in from another box (the global link): stored under its own id, from
/// its remote sender, to one local user, through the same checks and commit as any post. A
/// redelivery of a stored message is answered with it ([`Posted::replayed`]) and stores nothing.
#[derive(Message)]
#[rtype(result = "Result<Posted, PostError>")]
pub struct PostGlobal {
    /// The message id and its sender.
    pub incoming: Incoming,
    /// The local recipient.
    pub to: Guid,
    /// The audio as it came (Ogg Opus with its length and waveform).
    pub audio: PreparedAudio,
}

impl Handler<PostGlobal> for ClientActor {
    type Result = ResponseActFuture<Self, Result<Posted, PostError>>;

    fn handle(&mut self, msg: PostGlobal, _: &mut Context<Self>) -> Self::Result {
        let draft = Draft {
            sender: msg.incoming.sender.guid,
            to: vec![msg.to.to_string()],
            audio: Audio::Prepared(msg.audio),
            attachments: Vec::new(),
            partial: false,
            urgent: false,
            talk: None,
            incoming: Some(msg.incoming),
        };
        self.post(draft, None)
    }
}

impl Handler<PostPrepared> for ClientActor {
    type Result = ResponseActFuture<Self, Result<MessageInfo, PostError>>;

    fn handle(&mut self, msg: PostPrepared, _: &mut Context<Self>) -> Self::Result {
        let draft = Draft {
            sender: msg.sender,
            to: msg.to,
            audio: Audio::Prepared(msg.audio),
            attachments: Vec::new(),
            partial: false,
            urgent: false,
            talk: None,
            incoming: None,
        };
        Box::pin(self.post(draft, None).map(|r, _, _| r.map(|p| p.info)))
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
