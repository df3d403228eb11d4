//! Pending talks: a live talk's stored copy made durable while it is spoken, so a crash or a
//! power cut keeps what arrived (issue 13: "a talk cut off ... keeps what arrived, marked as
//! partial").
//!
//! A talk in progress is a row of `pending_talks` (speaker, recipients, start time, the
//! journal's wrapped key) and a journal file `talks/<id>`. The talk core hands out its Ogg
//! pages as they close (every 500 ms of audio); the client manager appends them with
//! [`Store::append_talk`], which writes one encrypted record and `fdatasync`s it before it
//! returns. The end commits the message and removes the row in one transaction
//! ([`crate::CommitRules::talk`]), then the file; at start-up every row still there is a talk
//! a crash cut off: [`Store::read_talk`] gives back the whole records (a torn last one is
//! dropped), which the caller turns into a partial message.
//!
//! # Journal format
//! - header, 16 bytes: `"IVMT"`, version `1`, 3 zero bytes, 8-byte random nonce prefix;
//! - records: ciphertext length (u32 BE, at most [`MAX_RECORD`] + 16), then the pages
//!   AES-256-GCM encrypted under the talk's own key, nonce `prefix ‖ record counter (u32 BE)`,
//!   aad `id ‖ counter`. The counter makes a reordered or repeated record fail; a torn last
//!   record fails its tag (or is short) and ends the read.
//!
//! # Durability
//! The file is created (mode 0600) with its header, fsynced, and `talks/` fsynced before the
//! row is committed: a row always names a file that exists. Each append is `write` then
//! `fdatasync` (the file's length is data, so `fdatasync` covers the growth). A file without a
//! row (a crash between the two steps of opening or of ending) is removed at start-up.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ivm_wire::Guid;
use rand::RngCore;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::keys::{self, TAG_LEN};
use crate::tables::{decode, encode, guid_key};
use crate::{dirs, Store, StoreError};

/// Talks in progress: talk id → JSON [`PendingTalk`].
pub(crate) const PENDING_TALKS: TableDefinition<[u8; 16], &[u8]> =
    TableDefinition::new("pending_talks");

/// Folder of talk journals.
pub(crate) const TALKS: &str = "talks";
/// Header magic.
const MAGIC: &[u8; 4] = b"IVMT";
/// Header length.
const HEADER_LEN: usize = 16;
/// Journal format version.
const VERSION: u8 = 1;
/// Purpose bound into the wrapped journal key.
const WRAP_AAD: &[u8] = b"ivm talk key v1";
/// Largest plaintext of one record: far above a batch of pages (16 kbit/s of speech is
/// 1 KB a half second; a talk's whole copy is at most 9.6 MB at the default limit).
pub const MAX_RECORD: usize = 16 << 20;

/// A talk in progress, as its row records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTalk {
    /// The talk (names the journal file; not the wire's stream id, which a restart reuses).
    pub id: Guid,
    /// The speaker.
    pub speaker: Guid,
    /// Every recipient (live and stored alike get the copy).
    pub recipients: Vec<Guid>,
    /// When it started, unix milliseconds.
    pub started_at: u64,
    /// An all-call: its stored copy is marked urgent, after a crash too (rows written
    /// before this field read as not urgent).
    #[serde(default)]
    pub urgent: bool,
    /// The journal's key, wrapped by a key derived from the master key.
    wrapped_key: Vec<u8>,
}

/// An open journal: where the next record goes. Held by the one task that appends to it.
pub struct TalkJournal {
    id: Guid,
    file: File,
    cipher: Aes256Gcm,
    prefix: [u8; 8],
    next: u32,
    /// Plaintext bytes appended.
    bytes: u64,
}

impl std::fmt::Debug for TalkJournal {
    /// Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalkJournal")
            .field("id", &self.id)
            .field("records", &self.next)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl TalkJournal {
    /// The talk's id (its row, its file).
    pub fn id(&self) -> Guid {
        self.id
    }

    /// Plaintext bytes made durable so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn nonce(prefix: &[u8; 8], counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(n)
}

fn aad(id: Guid, counter: u32) -> [u8; 20] {
    let mut a = [0u8; 20];
    a[..16].copy_from_slice(id.as_bytes());
    a[16..].copy_from_slice(&counter.to_be_bytes());
    a
}

fn wrap_aad(id: Guid) -> Vec<u8> {
    let mut a = WRAP_AAD.to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

/// Removes the row of talk `id` inside `txn` (the commit that stores its message).
pub(crate) fn remove_pending(txn: &WriteTransaction, id: Guid) -> Result<bool, StoreError> {
    Ok(txn
        .open_table(PENDING_TALKS)?
        .remove(guid_key(id))?
        .is_some())
}

impl Store {
    fn talk_path(&self, id: Guid) -> PathBuf {
        self.data_dir.join(TALKS).join(id.simple().to_string())
    }

    /// Starts a talk's journal: the file (header, fsynced, folder fsynced), then its row
    /// (committed). From here until [`Store::end_talk`] or a commit with
    /// [`crate::CommitRules::talk`], a restart finds it.
    pub fn open_talk(
        &self,
        speaker: Guid,
        recipients: &[Guid],
        started_at: u64,
        urgent: bool,
    ) -> Result<TalkJournal, StoreError> {
        let id = Guid::new_v4();
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let cipher = keys::cipher(&key)?;
        let wrapped_key = keys::seal_with(&self.keys.wrap, &wrap_aad(id), &key)?;
        key.fill(0);
        let mut prefix = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut prefix);

        let path = self.talk_path(id);
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&[VERSION, 0, 0, 0]);
        header.extend_from_slice(&prefix);
        let written = file.write_all(&header).and_then(|()| file.sync_all());
        if let Err(e) = written.and_then(|()| dirs::fsync_dir(&self.data_dir.join(TALKS))) {
            let _ = fs::remove_file(&path);
            return Err(e.into());
        }
        let row = PendingTalk {
            id,
            speaker,
            recipients: recipients.to_vec(),
            started_at,
            urgent,
            wrapped_key,
        };
        let committed = (|| {
            let txn = self.db.begin_write()?;
            txn.open_table(PENDING_TALKS)?
                .insert(guid_key(id), encode(&row)?.as_slice())?;
            txn.commit()?;
            Ok::<_, StoreError>(())
        })();
        if let Err(e) = committed {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(TalkJournal {
            id,
            file,
            cipher,
            prefix,
            next: 0,
            bytes: 0,
        })
    }

    /// Appends `pages` to the journal as one record and `fdatasync`s it: when this returns,
    /// a crash keeps them. An error leaves the journal unusable for further appends (its
    /// tail may be torn); what was appended before stays readable.
    pub fn append_talk(&self, j: &mut TalkJournal, pages: &[u8]) -> Result<(), StoreError> {
        if pages.is_empty() {
            return Ok(());
        }
        if pages.len() > MAX_RECORD {
            return Err(StoreError::Invalid(format!(
                "a talk journal record of {} bytes (at most {MAX_RECORD})",
                pages.len()
            )));
        }
        let ct = j
            .cipher
            .encrypt(
                &nonce(&j.prefix, j.next),
                Payload {
                    msg: pages,
                    aad: &aad(j.id, j.next),
                },
            )
            .map_err(|_| StoreError::Crypto("talk journal encryption failed".into()))?;
        let len = u32::try_from(ct.len())
            .map_err(|_| StoreError::Invalid("talk journal record too large".into()))?;
        let mut record = Vec::with_capacity(4 + ct.len());
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(&ct);
        j.file.write_all(&record)?;
        j.file.sync_data()?;
        j.next += 1;
        j.bytes += pages.len() as u64;
        Ok(())
    }

    /// Talks whose row is still there: at start-up, the talks a crash cut off.
    pub fn pending_talks(&self) -> Result<Vec<PendingTalk>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PENDING_TALKS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(decode::<PendingTalk>("pending talk", v.value())?);
        }
        Ok(out)
    }

    /// The pages a talk's journal made durable, in order: every whole record up to the first
    /// one that is short or fails its tag (a torn write at the crash), which ends the read.
    /// A missing file reads as nothing (a crash before its first fsync can leave the row
    /// only if the folder's entry was lost, which the open's order prevents; be lenient).
    pub fn read_talk(&self, t: &PendingTalk) -> Result<Vec<u8>, StoreError> {
        let data = match fs::read(self.talk_path(t.id)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |why: &str| StoreError::Corrupt(format!("talk journal {}: {why}", t.id));
        let mut key: [u8; 32] = keys::unseal_with(&self.keys.wrap, &wrap_aad(t.id), &t.wrapped_key)
            .map_err(|_| corrupt("wrapped key does not open"))?
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("wrapped key has the wrong length"))?;
        let cipher = keys::cipher(&key)?;
        key.fill(0);
        if data.len() < HEADER_LEN {
            // Torn before the header's fsync returned: nothing was appended.
            return Ok(Vec::new());
        }
        if &data[..4] != MAGIC || data[4] != VERSION || data[5..8] != [0, 0, 0] {
            return Err(corrupt("bad header"));
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&data[8..16]);
        let mut out = Vec::new();
        let mut pos = HEADER_LEN;
        let mut counter = 0u32;
        while let Some(len) = data.get(pos..pos + 4) {
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if !(TAG_LEN..=MAX_RECORD + TAG_LEN).contains(&len) {
                break;
            }
            let Some(ct) = data.get(pos + 4..pos + 4 + len) else {
                break;
            };
            let Ok(pt) = cipher.decrypt(
                &nonce(&prefix, counter),
                Payload {
                    msg: ct,
                    aad: &aad(t.id, counter),
                },
            ) else {
                break;
            };
            out.extend_from_slice(&pt);
            pos += 4 + len;
            counter += 1;
        }
        if pos < data.len() {
            tracing::warn!(talk = %t.id, torn = data.len() - pos, "talk journal ends in a torn record (cut by the crash); dropped");
        }
        Ok(out)
    }

    /// Ends talk `id` without a message (nothing was said, or its copy was stored another
    /// way): removes the row, then the file.
    pub fn end_talk(&self, id: Guid) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        remove_pending(&txn, id)?;
        txn.commit()?;
        self.remove_talk_file(id)
    }

    /// Removes a talk's journal file (after the commit that removed its row).
    pub fn remove_talk_file(&self, id: Guid) -> Result<(), StoreError> {
        match fs::remove_file(self.talk_path(id)) {
            Ok(()) => dirs::fsync_dir(&self.data_dir.join(TALKS))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Removes journal files no row names (a crash between the two steps of an open or an
    /// end). Returns how many.
    pub fn remove_orphan_talks(&self) -> Result<usize, StoreError> {
        let pending: Vec<String> = self
            .pending_talks()?
            .iter()
            .map(|t| t.id.simple().to_string())
            .collect();
        let dir = self.data_dir.join(TALKS);
        let mut removed = 0;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !pending.contains(&name) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            dirs::fsync_dir(&dir)?;
        }
        Ok(removed)
    }
}
