//! Blob files: audio and attachments, encrypted at rest, one file per blob.
//!
//! # Format
//! Each blob has its own random 256-bit file key. The file key is wrapped (sealed format of
//! `keys.rs`, under the `ivm blob wrap v1` key, aad `"ivm blob key v1" ‖ id`) and kept in the
//! [`BlobRef`] that the database record holds, not beside the file.
//!
//! The file `blobs/<first two hex of id>/<id as 32 hex>` is:
//! - header, 16 bytes: `"IVMB"`, version `1`, 3 zero bytes, 8-byte random nonce prefix;
//! - chunks: the plaintext cut in 64 KiB pieces (an empty blob has one empty chunk), each
//!   AES-256-GCM encrypted with nonce `prefix ‖ chunk counter (u32 BE)` and aad
//!   `id ‖ counter (u32 BE) ‖ final flag (1 on the last chunk, else 0)`, followed by its tag.
//!
//! Every chunk but the last is exactly 64 KiB + 16 bytes, so the reader knows which chunk is
//! last from the file length; the final flag in the aad then makes truncation at a chunk
//! boundary fail authentication, and the counter makes reordering fail.
//!
//! # Durability
//! `tmp/<id>` is written and fsynced, renamed into `blobs/xx/`, and both folders are fsynced
//! before [`Store::put_blob`] returns.

use std::fs;
use std::io;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ivm_wire::Guid;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::keys::{self, TAG_LEN};
use crate::{dirs, Store, StoreError};

/// Plaintext bytes per chunk.
const CHUNK: usize = 64 * 1024;
/// Header length.
const HEADER_LEN: usize = 16;
/// Header magic.
const MAGIC: &[u8; 4] = b"IVMB";
/// File format version.
const VERSION: u8 = 1;
/// Purpose bound into the wrapped file key.
const WRAP_AAD: &[u8] = b"ivm blob key v1";

/// A stored blob as the database records it: which file, the key to open it, and its size.
/// Keep it in the record that owns the blob (a message's audio, an attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Names the file (`blobs/xx/<id>`).
    pub id: Guid,
    /// The file's key, wrapped by a key derived from the master key.
    pub wrapped_key: Vec<u8>,
    /// Plaintext size in bytes (checked on read).
    pub size: u64,
}

impl Store {
    /// Where a blob's file lives: `blobs/<first two hex chars>/<32 hex chars>`.
    fn blob_path(&self, id: Guid) -> PathBuf {
        let hex = id.simple().to_string();
        self.data_dir.join(dirs::BLOBS).join(&hex[..2]).join(hex)
    }

    /// Encrypts `plaintext` under a fresh file key and stores it durably (written, fsynced,
    /// renamed, folders fsynced) before returning. Record the returned [`BlobRef`] in a
    /// database record; a blob nobody records is an orphan file.
    pub fn put_blob(&self, plaintext: &[u8]) -> Result<BlobRef, StoreError> {
        let id = Guid::new_v4();
        let mut file_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut file_key);
        let cipher = keys::cipher(&file_key)?;
        let mut wrap_aad = WRAP_AAD.to_vec();
        wrap_aad.extend_from_slice(id.as_bytes());
        let wrapped_key = keys::seal_with(&self.keys.wrap, &wrap_aad, &file_key)?;
        file_key.fill(0);

        let mut prefix = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        let chunks = plaintext.len().div_ceil(CHUNK).max(1);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + chunks * TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, 0, 0, 0]);
        out.extend_from_slice(&prefix);
        for i in 0..chunks {
            let piece = &plaintext
                [(i * CHUNK).min(plaintext.len())..((i + 1) * CHUNK).min(plaintext.len())];
            let counter =
                u32::try_from(i).map_err(|_| StoreError::Invalid("blob too large".into()))?;
            let ct = cipher
                .encrypt(
                    &chunk_nonce(&prefix, counter),
                    Payload {
                        msg: piece,
                        aad: &chunk_aad(id, counter, i + 1 == chunks),
                    },
                )
                .map_err(|_| StoreError::Crypto("blob encryption failed".into()))?;
            out.extend_from_slice(&ct);
        }

        let dest = self.blob_path(id);
        dirs::write_durably(
            &self.data_dir.join(dirs::TMP),
            &id.simple().to_string(),
            &dest,
            &out,
        )?;
        Ok(BlobRef {
            id,
            wrapped_key,
            size: plaintext.len() as u64,
        })
    }

    /// Reads and decrypts a blob. [`StoreError::NotFound`] if the file is gone,
    /// [`StoreError::Corrupt`] if it was altered, truncated or extended.
    pub fn read_blob(&self, blob: &BlobRef) -> Result<Vec<u8>, StoreError> {
        let data = match fs::read(self.blob_path(blob.id)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |why: &str| StoreError::Corrupt(format!("blob {}: {why}", blob.id));
        let mut wrap_aad = WRAP_AAD.to_vec();
        wrap_aad.extend_from_slice(blob.id.as_bytes());
        let mut file_key: [u8; 32] =
            keys::unseal_with(&self.keys.wrap, &wrap_aad, &blob.wrapped_key)
                .map_err(|_| corrupt("wrapped key does not open"))?
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("wrapped key has the wrong length"))?;
        let cipher: Aes256Gcm = keys::cipher(&file_key)?;
        file_key.fill(0);

        if data.len() < HEADER_LEN || &data[..4] != MAGIC {
            return Err(corrupt("bad header"));
        }
        if data[4] != VERSION || data[5..8] != [0, 0, 0] {
            return Err(corrupt(&format!("unknown version {}", data[4])));
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&data[8..16]);
        let size = usize::try_from(blob.size).map_err(|_| corrupt("size"))?;
        let chunks = size.div_ceil(CHUNK).max(1);
        if data.len() != HEADER_LEN + size + chunks * TAG_LEN {
            return Err(corrupt(
                "file length does not match its size (truncated or extended)",
            ));
        }
        let mut out = Vec::with_capacity(size);
        let body = &data[HEADER_LEN..];
        let mut offset = 0;
        for i in 0..chunks {
            let len = (body.len() - offset).min(CHUNK + TAG_LEN);
            let counter = u32::try_from(i).map_err(|_| corrupt("too many chunks"))?;
            let final_chunk = offset + len == body.len();
            let pt = cipher
                .decrypt(
                    &chunk_nonce(&prefix, counter),
                    Payload {
                        msg: &body[offset..offset + len],
                        aad: &chunk_aad(blob.id, counter, final_chunk),
                    },
                )
                .map_err(|_| corrupt(&format!("chunk {i} fails authentication")))?;
            out.extend_from_slice(&pt);
            offset += len;
        }
        if out.len() != size {
            return Err(corrupt("decrypted size differs"));
        }
        Ok(out)
    }

    /// Removes a blob's file durably. Removing a blob that is already gone is not an error.
    pub fn remove_blob(&self, blob: &BlobRef) -> Result<(), StoreError> {
        let path = self.blob_path(blob.id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(parent) = path.parent() {
            dirs::fsync_dir(parent)?;
        }
        Ok(())
    }

    /// Removes blobs whose record is already gone; failures are logged, not returned, since
    /// the record (the thing that matters) is committed and an orphan file is harmless.
    pub(crate) fn remove_blobs_logged(&self, blobs: &[BlobRef]) {
        for b in blobs {
            if let Err(e) = self.remove_blob(b) {
                tracing::warn!(blob = %b.id, error = %e, "could not remove a blob file");
            }
        }
    }
}

/// `prefix ‖ counter`.
fn chunk_nonce(prefix: &[u8; 8], counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(n)
}

/// `id ‖ counter ‖ final`.
fn chunk_aad(id: Guid, counter: u32, final_chunk: bool) -> [u8; 21] {
    let mut a = [0u8; 21];
    a[..16].copy_from_slice(id.as_bytes());
    a[16..20].copy_from_slice(&counter.to_be_bytes());
    a[20] = u8::from(final_chunk);
    a
}
