//! The master key and what is derived from it.
//!
//! `master.key` holds 32 random bytes, mode 0600. It never encrypts anything itself: HKDF-SHA256
//! derives one key per use, so a flaw in one use cannot leak another's key.
//!
//! - `ivm seal v1`: [`Store::seal`] / [`Store::unseal`], small secrets at rest (TLS key, SIP
//!   credentials).
//! - `ivm blob wrap v1`: wraps the random per-file keys of blob files (see `blobs.rs`).
//!
//! # Sealed format
//! `version (1 byte, = 1) ‖ nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16)`.
//! The caller's `aad` names the purpose (`b"tls-key"`), so a value sealed for one purpose does
//! not open as another.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

use crate::{dirs, Store, StoreError};

/// Length of the master key file.
const MASTER_KEY_LEN: usize = 32;
/// First byte of every sealed value.
const SEAL_VERSION: u8 = 1;
/// AES-GCM nonce length.
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// The ciphers derived from the master key. Holds no raw master key bytes after `derive`.
pub(crate) struct Keys {
    /// For `seal` / `unseal`.
    seal: Aes256Gcm,
    /// For wrapping blob file keys.
    pub(crate) wrap: Aes256Gcm,
}

impl Keys {
    /// Derives every purpose key from the master key.
    fn derive(master: &[u8; MASTER_KEY_LEN]) -> Result<Keys, StoreError> {
        let hk = Hkdf::<Sha256>::new(None, master);
        let mut seal = [0u8; 32];
        let mut wrap = [0u8; 32];
        hk.expand(b"ivm seal v1", &mut seal)
            .and_then(|()| hk.expand(b"ivm blob wrap v1", &mut wrap))
            .map_err(|e| StoreError::Crypto(format!("hkdf: {e}")))?;
        let keys = Keys {
            seal: cipher(&seal)?,
            wrap: cipher(&wrap)?,
        };
        seal.fill(0);
        wrap.fill(0);
        Ok(keys)
    }
}

/// An AES-256-GCM cipher for a 32-byte key.
pub(crate) fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm, StoreError> {
    Aes256Gcm::new_from_slice(key).map_err(|e| StoreError::Crypto(format!("aes key: {e}")))
}

/// Loads `master.key`, or creates it when this is a fresh data directory.
///
/// A new key is written to `tmp/` with mode 0600, fsynced, renamed into place and the folder
/// fsynced, so a crash never leaves a short key file behind. An existing key is refused if it
/// has any group/other permission bit or the wrong length. A missing key next to an existing
/// database is refused too: making a new one would silently orphan every sealed secret and blob.
pub(crate) fn load_or_create(data_dir: &Path) -> Result<Keys, StoreError> {
    let path = data_dir.join(dirs::MASTER_KEY);
    let master = match fs::metadata(&path) {
        Ok(meta) => {
            if !meta.is_file() {
                return Err(StoreError::MasterKey(format!(
                    "{} is not a file",
                    path.display()
                )));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StoreError::MasterKey(format!(
                    "{} has mode {mode:03o}; it must be readable by its owner only (chmod 600)",
                    path.display()
                )));
            }
            let mut bytes = Vec::with_capacity(MASTER_KEY_LEN + 1);
            fs::File::open(&path)?
                .take(MASTER_KEY_LEN as u64 + 1)
                .read_to_end(&mut bytes)?;
            let key: [u8; MASTER_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                StoreError::MasterKey(format!(
                    "{} must hold exactly {MASTER_KEY_LEN} bytes",
                    path.display()
                ))
            })?;
            bytes.fill(0);
            key
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if data_dir.join(dirs::DATABASE).exists() {
                return Err(StoreError::MasterKey(format!(
                    "{} is missing but {} exists: restore the key from a backup",
                    path.display(),
                    dirs::DATABASE
                )));
            }
            let mut key = [0u8; MASTER_KEY_LEN];
            rand::rngs::OsRng.fill_bytes(&mut key);
            dirs::write_durably(&data_dir.join(dirs::TMP), "master.key.new", &path, &key)?;
            tracing::info!(path = %path.display(), "created a new master key");
            key
        }
        Err(e) => return Err(e.into()),
    };
    let mut master = master;
    let keys = Keys::derive(&master);
    master.fill(0);
    keys
}

/// Encrypts under `cipher` in the sealed format.
pub(crate) fn seal_with(
    cipher: &Aes256Gcm,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts the sealed format under `cipher`; any mismatch (version, length, tag, aad) fails.
pub(crate) fn unseal_with(
    cipher: &Aes256Gcm,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN {
        return Err(StoreError::Crypto("sealed value too short".into()));
    }
    if sealed[0] != SEAL_VERSION {
        return Err(StoreError::Crypto(format!(
            "unknown sealed version {}",
            sealed[0]
        )));
    }
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| {
            StoreError::Crypto("authentication failed (tampered, or wrong purpose)".into())
        })
}

impl Store {
    /// Encrypts a secret at rest (TLS key, SIP credentials) under a key derived from the master
    /// key. `aad` names the purpose (e.g. `b"tls-key"`) and must be given again to unseal.
    /// Output: `1 ‖ 12-byte random nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        seal_with(&self.keys.seal, aad, plaintext)
    }

    /// Opens what [`Store::seal`] made. [`StoreError::Crypto`] if it was altered, sealed for
    /// another purpose (`aad`), or by another box's master key.
    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        unseal_with(&self.keys.seal, aad, sealed)
    }
}
