//! A live talk's stored copy made durable while it is spoken, and talks a crash cut off
//! recovered at start-up (issue 13: "a talk cut off ... keeps what arrived, marked as
//! partial. Nothing acknowledged is lost").
//!
//! At `talk_start` a [`TalkWriter`] opens the talk's journal on a database thread (a
//! `pending_talks` row naming the speaker, the recipients and the start, and an encrypted
//! journal file: `ivm_store`'s `talks.rs`). Every [`ivm_talk::Pages`] the core hands out (the
//! header pages, then one page every [`ivm_talk::PAGE_MS`] of audio) goes to the writer's task,
//! which appends it and `fdatasync`s it on a database thread, one trip at a time so records
//! stay in order; pages that arrive while a trip is under way go together in the next one,
//! so a slow disk makes batches larger, never blocks the actor. At the end the message is
//! committed (with its waveform, decoded within the codec budget) and the row removed in the
//! same commit ([`ivm_store::CommitRules::talk`]), then the file.
//!
//! What a crash loses (`kill -9`, power cut) is what was not yet in a synced page: the open
//! page (at most [`ivm_talk::PAGE_MS`] of audio) and the one portion the Ogg writer holds
//! back, 520 ms at 20 ms portions; plus, only while the disk is slower than the talk, the
//! pages still waiting for their `fdatasync` (each takes milliseconds on a healthy disk).
//!
//! [`recover_talks`] runs once at start-up, before any service listens: each row left is a
//! talk a crash (or a shutdown mid-talk) cut off. Its journal is read (a torn last record
//! dropped), cut to its last whole page and finished as valid Ogg Opus with an EOS page
//! ([`ivm_media::salvage_ogg_opus`]), and committed as a partial message from the speaker to
//! every recipient, new for all of them (none is known to have heard it to the end); a talk
//! with no audio on disk leaves nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use ivm_store::{CommitRules, PendingTalk, Store, StoreError, StoredMessage, TalkJournal};
use ivm_talk::{Pages, Stored};
use ivm_wire::talk::StreamId;
use ivm_wire::Guid;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ClientActor, PreparedAudio};
use crate::database::{Db, Op};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Opens a talk's journal (file, then row).
struct OpenTalk {
    speaker: Guid,
    recipients: Vec<Guid>,
    started_at: u64,
}

impl Op for OpenTalk {
    type Output = TalkJournal;
    fn run(self, s: &Store) -> Result<TalkJournal, StoreError> {
        s.open_talk(self.speaker, &self.recipients, self.started_at)
    }
}

/// Appends pages and `fdatasync`s them. The journal travels with the trip and comes back
/// (with the append's own outcome), so its one task keeps it.
struct AppendTalk {
    journal: TalkJournal,
    pages: Vec<u8>,
}

impl Op for AppendTalk {
    type Output = (TalkJournal, Result<(), StoreError>);
    fn run(mut self, s: &Store) -> Result<Self::Output, StoreError> {
        let r = s.append_talk(&mut self.journal, &self.pages);
        Ok((self.journal, r))
    }
}

/// Ends a talk that stored no message (nothing was said): row, then file.
struct EndTalk {
    id: Guid,
}

impl Op for EndTalk {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.end_talk(self.id)
    }
}

/// One talk's journal, written by its own task so appends stay in order without the actor
/// waiting on any of them.
#[derive(Debug)]
pub(super) struct TalkWriter {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    task: JoinHandle<Option<Guid>>,
}

impl TalkWriter {
    /// Opens the journal and starts the task that appends to it.
    fn start(db: Db, stream: StreamId, speaker: Guid, recipients: Vec<Guid>) -> Self {
        // Unbounded, but what goes through it is bounded by the talk's size budget (the core
        // ends a talk at its length and size limits).
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let task = actix::spawn(async move {
            let opened = db
                .call(OpenTalk {
                    speaker,
                    recipients,
                    started_at: now_ms(),
                })
                .await;
            let mut journal = match opened {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(stream, error = %e, "the talk's journal could not be opened: a crash during this talk would lose it");
                    return None;
                }
            };
            let id = journal.id();
            while let Some(mut pages) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    pages.extend_from_slice(&more);
                }
                match db.call(AppendTalk { journal, pages }).await {
                    Ok((j, Ok(()))) => journal = j,
                    Ok((_, Err(e))) => {
                        tracing::warn!(stream, talk = %id, error = %e, "the talk's journal stopped: a crash now keeps only what it holds");
                        return Some(id);
                    }
                    Err(e) => {
                        tracing::warn!(stream, talk = %id, error = %e, "the talk's journal stopped (database gone)");
                        return Some(id);
                    }
                }
            }
            tracing::debug!(stream, talk = %id, bytes = journal.bytes(), "talk journal complete");
            Some(id)
        });
        TalkWriter { tx, task }
    }

    /// Closes the journal once every page handed to it is durable (or its task gave up):
    /// the pending talk's id, for the commit that removes its row.
    async fn finish(self) -> Option<Guid> {
        drop(self.tx);
        self.task.await.ok().flatten()
    }
}

/// The stored copy ready to post: its waveform decoded within the codec budget (the talk's
/// packets are stored as sent, so nothing else has decoded them). A copy that does not decode
/// is still stored, with no waveform.
async fn with_peaks(stream: StreamId, stored: Stored) -> PreparedAudio {
    let Stored {
        ogg, duration_ms, ..
    } = stored;
    let (ogg, peaks) = match crate::codec::run(move || {
        let p = ivm_media::ogg_opus_peaks(&ogg);
        (ogg, p)
    })
    .await
    {
        Ok((ogg, Ok(p))) => (ogg, p),
        Ok((ogg, Err(e))) => {
            tracing::warn!(stream, error = %e, "talk's copy did not decode: stored without a waveform");
            (ogg, Vec::new())
        }
        Err(e) => {
            tracing::warn!(stream, error = %e, "no waveform for the talk's copy");
            return PreparedAudio {
                ogg: Vec::new(),
                duration_ms,
                peaks: Vec::new(),
            };
        }
    };
    PreparedAudio {
        ogg,
        duration_ms,
        peaks,
    }
}

impl ClientActor {
    /// `talk_start` accepted: open the talk's journal (its header pages follow as the core's
    /// first [`ivm_talk::Event::Pages`]).
    pub(super) fn open_journal(&mut self, stream: StreamId, speaker: Guid, recipients: &[Guid]) {
        let w = TalkWriter::start(self.db.clone(), stream, speaker, recipients.to_vec());
        self.talk_journals.insert(stream, w);
    }

    /// Pages of a live talk's copy: to its journal.
    pub(super) fn journal_pages(&mut self, p: Pages) {
        if let Some(w) = self.talk_journals.get(&p.stream) {
            if w.tx.send(p.bytes).is_err() {
                tracing::debug!(stream = p.stream, "talk journal already stopped");
            }
        }
    }

    /// The talk ended with something to store: once its journal is closed and its waveform
    /// made, the audio to post and the pending talk its commit ends.
    pub(super) fn close_journal(
        &mut self,
        stream: StreamId,
        stored: Stored,
    ) -> impl std::future::Future<Output = (Option<Guid>, PreparedAudio)> + 'static {
        let writer = self.talk_journals.remove(&stream);
        async move {
            let talk = match writer {
                Some(w) => w.finish().await,
                None => None,
            };
            (talk, with_peaks(stream, stored).await)
        }
    }

    /// The talk ended with nothing to store: remove its journal once its task is done.
    pub(super) fn drop_journal(&mut self, stream: StreamId) {
        let Some(w) = self.talk_journals.remove(&stream) else {
            return;
        };
        let db = self.db.clone();
        actix::spawn(async move {
            if let Some(id) = w.finish().await {
                if let Err(e) = db.call(EndTalk { id }).await {
                    tracing::warn!(talk = %id, error = %e, "could not remove an empty talk's journal (it is dropped at the next start)");
                }
            }
        });
    }
}

/// What [`recover_talks`] did with one pending talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Stored as a partial message.
    Stored {
        /// The talk.
        talk: Guid,
        /// The message.
        message: Guid,
        /// Its playable length.
        duration_ms: u32,
        /// Bytes at the journal's end that were not whole pages.
        torn_bytes: usize,
    },
    /// Nothing on disk to store (no audio yet, or its speaker or every recipient is gone):
    /// the row and the file are removed.
    Empty {
        /// The talk.
        talk: Guid,
    },
}

/// Stores what every talk a crash cut off had made durable, as partial messages; removes
/// journals nothing names. Blocking (disk and codec work): run it at start-up, before the
/// services listen. A talk that fails to store is left for the next start.
pub fn recover_talks(store: &Store) -> Result<Vec<Recovered>, StoreError> {
    let orphans = store.remove_orphan_talks()?;
    if orphans > 0 {
        tracing::info!(files = orphans, "removed talk journals no talk names");
    }
    let mut out = Vec::new();
    for t in store.pending_talks()? {
        match recover_one(store, &t) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::warn!(talk = %t.id, error = %e, "a talk cut off could not be stored now; tried again at the next start")
            }
        }
    }
    Ok(out)
}

fn recover_one(store: &Store, t: &PendingTalk) -> Result<Recovered, StoreError> {
    let pages = store.read_talk(t)?;
    let salvaged = match ivm_media::salvage_ogg_opus(&pages) {
        Ok(s) => s,
        Err(e) => {
            // The core writes only Ogg Opus: a journal that is not is damaged beyond use.
            tracing::warn!(talk = %t.id, error = %e, "a talk's journal is not Ogg Opus; dropped");
            None
        }
    };
    let mut recipients = Vec::new();
    for r in &t.recipients {
        if store.user(*r)?.is_some() && !recipients.contains(r) {
            recipients.push(*r);
        }
    }
    let speaker_here = store.user(t.speaker)?.is_some();
    let Some(s) = salvaged.filter(|_| speaker_here && !recipients.is_empty()) else {
        store.end_talk(t.id)?;
        return Ok(Recovered::Empty { talk: t.id });
    };
    let peaks = ivm_media::ogg_opus_peaks(&s.ogg).unwrap_or_default();
    let audio = store.put_blob(&s.ogg)?;
    let msg = StoredMessage {
        id: Guid::new_v4(),
        sender: t.speaker,
        recipients,
        created_at: t.started_at,
        duration_ms: s.duration_ms,
        peaks,
        audio: audio.clone(),
        attachments: Vec::new(),
        idempotency_key: None,
        partial: true,
        urgent: false,
    };
    let rules = CommitRules {
        talk: Some(t.id),
        ..CommitRules::default()
    };
    if let Err(e) = store.commit_message_with(&msg, &rules) {
        let _ = store.remove_blob(&audio);
        return Err(e);
    }
    if let Err(e) = store.remove_talk_file(t.id) {
        tracing::warn!(talk = %t.id, error = %e, "could not remove a stored talk's journal (dropped at the next start)");
    }
    tracing::info!(talk = %t.id, message = %msg.id, duration_ms = s.duration_ms, torn_bytes = s.torn_bytes, "a talk cut off by a crash stored as a partial message");
    Ok(Recovered::Stored {
        talk: t.id,
        message: msg.id,
        duration_ms: s.duration_ms,
        torn_bytes: s.torn_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_store::NewUser;

    fn user(s: &Store, name: &str, ext: &str) -> Guid {
        s.create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: format!("password-{name}"),
            admin: false,
        })
        .expect("user")
        .guid
    }

    /// `frames` 20 ms packets of a tone, through the writer a talk uses (pages of 25).
    fn talk_pages(frames: usize) -> Vec<u8> {
        let mut enc = ivm_media::OpusFrameEncoder::new().expect("encoder");
        let mut w = ivm_media::OggOpusWriter::new(5, 312, 48_000)
            .expect("writer")
            .with_page_packets(25);
        for f in 0..frames {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f32 / 48_000.0;
                    (9_000.0 * (2.0 * std::f32::consts::PI * 330.0 * t).sin()) as i16
                })
                .collect();
            w.push(&enc.encode(&pcm).expect("encode")).expect("push");
        }
        w.closed().to_vec()
    }

    #[test]
    fn a_cut_talk_becomes_a_partial_message_for_all_and_an_empty_one_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (ann, bob, carol, cut, empty) = {
            let s = Store::open(dir.path()).expect("store");
            let (ann, bob, carol) = (
                user(&s, "ann", "201"),
                user(&s, "bob", "202"),
                user(&s, "carol", "203"),
            );
            let mut j = s.open_talk(ann, &[bob, carol], 42).expect("open");
            // 110 portions: four whole audio pages (100 portions) closed and appended, as
            // the core pages them; then a record torn by the crash.
            s.append_talk(&mut j, &talk_pages(110)).expect("append");
            let path = dir.path().join("talks").join(j.id().simple().to_string());
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .expect("journal");
            std::io::Write::write_all(&mut f, &[0, 0, 4, 0, 1, 2, 3]).expect("torn");
            let cut = j.id();
            let mut e = s.open_talk(bob, &[ann], 43).expect("open");
            s.append_talk(&mut e, &talk_pages(10))
                .expect("headers only");
            (ann, bob, carol, cut, e.id())
        };
        let s = Store::open(dir.path()).expect("reopen");
        let mut got = recover_talks(&s).expect("recover");
        got.sort_by_key(|r| matches!(r, Recovered::Empty { .. }));
        let message = match &got[..] {
            [Recovered::Stored {
                talk,
                message,
                duration_ms,
                ..
            }, Recovered::Empty { talk: e }] => {
                assert_eq!((*talk, *e), (cut, empty));
                assert_eq!(*duration_ms, ((100 * 960 - 312) * 1000 / 48_000) as u32);
                *message
            }
            other => panic!("{other:?}"),
        };
        let m = s.message(message).expect("read").expect("stored");
        assert!(m.partial);
        assert_eq!(m.sender, ann);
        assert_eq!(m.recipients, vec![bob, carol]);
        assert_eq!(m.created_at, 42);
        assert!(m.peaks.iter().any(|&p| p > 100), "{:?}", m.peaks);
        for r in [bob, carol] {
            assert_eq!(
                s.mailbox_state(message, r).expect("state"),
                Some(ivm_wire::MailboxState::Queued)
            );
        }
        let ogg = s.read_blob(&m.audio).expect("audio");
        let info = ivm_media::ogg_opus_info(&ogg).expect("valid Ogg Opus");
        assert!(info.has_eos);
        assert_eq!(info.packets, 100);
        // Nothing left pending, no journal, nothing stored twice at the next start.
        assert!(s.pending_talks().expect("pending").is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("talks"))
                .expect("dir")
                .count(),
            0
        );
        assert!(recover_talks(&s).expect("again").is_empty());
        assert_eq!(s.inbox(bob).expect("inbox").len(), 1);
    }
}
