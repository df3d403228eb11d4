//! Update bundles: one file with a whole system (the root slot's erofs image, the kernel and
//! its initrd), signed by the key of whoever built it. `scripts/build-image --bundle` makes
//! them; the appliance accepts only those its own public key (baked into the image at build
//! time) verifies.
//!
//! The format, all integers little-endian:
//!
//! ```text
//!   0   8  magic "IVMBNDL1"
//!   8  32  version: printable ASCII (the build's), NUL-padded
//!  40   8  root length (bytes)
//!  48   8  kernel length
//!  56   8  initrd length
//!  64      root, then kernel, then initrd
//! end-64 64  Ed25519 signature of the SHA-256 of everything before it
//! ```
//!
//! Why this shape: the lengths come first, so a bundle cut short is refused before anything
//! is read; one signature over one digest covers the header and every part, so nothing in the
//! file can be changed or moved without the signature failing; the digest (not the 300 MB
//! file) is what is signed, so signing is `openssl pkeyutl -sign -rawin` on 32 bytes and
//! verifying reads the file once, in pieces, without holding it in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"IVMBNDL1";
/// The header's length.
pub const HEADER_LEN: u64 = 64;
/// The signature's length (Ed25519).
pub const SIGNATURE_LEN: u64 = 64;
/// A root larger than a slot can never be installed (scripts/build-image: 256 MiB).
pub const MAX_ROOT: u64 = 256 << 20;
/// Kernel and initrd share the ESP's room with the other slot's (128 MiB in all).
pub const MAX_BOOT_FILE: u64 = 48 << 20;

/// Why a bundle is refused. Every one of them is found before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the bundle or the key failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a bundle at all.
    #[error("not an IVM update bundle (no IVMBNDL1 header)")]
    BadMagic,
    /// The version field is not printable ASCII.
    #[error("the bundle's version field is not printable text")]
    BadVersion,
    /// A part is larger than the box has room for.
    #[error("the bundle's {part} is {len} bytes, more than the {max} the box has room for")]
    TooLarge {
        /// root, kernel or initrd.
        part: &'static str,
        /// Its length in the header.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// An empty part.
    #[error("the bundle's {0} is empty")]
    Empty(&'static str),
    /// Shorter than its header says: cut short (an interrupted download or copy).
    #[error("the bundle is cut short: {actual} bytes, its header says {expected}")]
    Truncated {
        /// Length the header announces.
        expected: u64,
        /// Length of the file.
        actual: u64,
    },
    /// Longer than its header says.
    #[error("the bundle has {extra} bytes after its signature")]
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    /// The signature does not match this box's key: changed after signing, or signed by
    /// another key.
    #[error("the bundle's signature does not match this box's update key (changed, or signed by another key)")]
    BadSignature,
    /// The public key file is not an Ed25519 public key.
    #[error(
        "the update key {0} is not an Ed25519 public key (PEM, as `openssl pkey -pubout` writes)"
    )]
    BadKey(String),
}

/// A bundle's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The build's version.
    pub version: String,
    /// The root slot's erofs image.
    pub root_len: u64,
    /// The kernel.
    pub kernel_len: u64,
    /// The initrd.
    pub initrd_len: u64,
}

impl Header {
    /// Parses and checks a header (sans-IO: the first [`HEADER_LEN`] bytes).
    pub fn parse(b: &[u8; HEADER_LEN as usize]) -> Result<Header, BundleError> {
        if &b[..8] != MAGIC {
            return Err(BundleError::BadMagic);
        }
        let v = &b[8..40];
        let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
        if end == 0
            || !v[..end].iter().all(|c| c.is_ascii_graphic())
            || v[end..].iter().any(|&c| c != 0)
        {
            return Err(BundleError::BadVersion);
        }
        let n = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let h = Header {
            version: String::from_utf8_lossy(&v[..end]).into_owned(),
            root_len: n(40),
            kernel_len: n(48),
            initrd_len: n(56),
        };
        for (part, len, max) in [
            ("root", h.root_len, MAX_ROOT),
            ("kernel", h.kernel_len, MAX_BOOT_FILE),
            ("initrd", h.initrd_len, MAX_BOOT_FILE),
        ] {
            if len == 0 {
                return Err(BundleError::Empty(part));
            }
            if len > max {
                return Err(BundleError::TooLarge { part, len, max });
            }
        }
        Ok(h)
    }

    /// The header's bytes (what `scripts/build-image --bundle` writes).
    pub fn encode(&self) -> Result<[u8; HEADER_LEN as usize], BundleError> {
        let v = self.version.as_bytes();
        if v.is_empty() || v.len() > 32 || !v.iter().all(|c| c.is_ascii_graphic()) {
            return Err(BundleError::BadVersion);
        }
        let mut b = [0u8; HEADER_LEN as usize];
        b[..8].copy_from_slice(MAGIC);
        b[8..8 + v.len()].copy_from_slice(v);
        b[40..48].copy_from_slice(&self.root_len.to_le_bytes());
        b[48..56].copy_from_slice(&self.kernel_len.to_le_bytes());
        b[56..64].copy_from_slice(&self.initrd_len.to_le_bytes());
        Ok(b)
    }

    /// The whole bundle's length, signature included.
    pub fn total_len(&self) -> u64 {
        HEADER_LEN + self.root_len + self.kernel_len + self.initrd_len + SIGNATURE_LEN
    }

    /// Where the root is in the file.
    pub fn root(&self) -> Range<u64> {
        HEADER_LEN..HEADER_LEN + self.root_len
    }

    /// Where the kernel is in the file.
    pub fn kernel(&self) -> Range<u64> {
        let s = self.root().end;
        s..s + self.kernel_len
    }

    /// Where the initrd is in the file.
    pub fn initrd(&self) -> Range<u64> {
        let s = self.kernel().end;
        s..s + self.initrd_len
    }

    /// Checks the file's length against the header's (sans-IO).
    pub fn check_len(&self, actual: u64) -> Result<(), BundleError> {
        let expected = self.total_len();
        if actual < expected {
            return Err(BundleError::Truncated { expected, actual });
        }
        if actual > expected {
            return Err(BundleError::TrailingBytes {
                extra: actual - expected,
            });
        }
        Ok(())
    }
}

/// An Ed25519 public key that bundles must be signed with.
#[derive(Debug, Clone)]
pub struct UpdateKey([u8; 32]);

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow.
const SPKI_ED25519: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl UpdateKey {
    /// From raw key bytes.
    pub fn from_bytes(b: [u8; 32]) -> UpdateKey {
        UpdateKey(b)
    }

    /// From a PEM `PUBLIC KEY` (as `openssl pkey -pubout` writes it); `name` is for errors.
    pub fn from_pem(pem: &str, name: &str) -> Result<UpdateKey, BundleError> {
        use base64::Engine as _;
        let bad = || BundleError::BadKey(name.to_owned());
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad())?;
        if der.len() != 44 || der[..12] != SPKI_ED25519 {
            return Err(bad());
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&der[12..]);
        Ok(UpdateKey(k))
    }

    /// Reads a PEM key file.
    pub fn load(path: &Path) -> Result<UpdateKey, BundleError> {
        let text = std::fs::read_to_string(path)?;
        UpdateKey::from_pem(&text, &path.display().to_string())
    }

    /// Checks `signature` over `digest` (sans-IO).
    pub fn verify(&self, digest: &[u8; 32], signature: &[u8]) -> Result<(), BundleError> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.0)
            .verify(digest, signature)
            .map_err(|_| BundleError::BadSignature)
    }
}

/// Verifies the bundle in `file` against `key`, reading it once from the start; returns its
/// header. The caller must install from the same open file it verified (not the path again),
/// so the file cannot be swapped in between.
pub fn verify(file: &mut File, key: &UpdateKey) -> Result<Header, BundleError> {
    file.seek(SeekFrom::Start(0))?;
    let actual = file.metadata()?.len();
    let mut head = [0u8; HEADER_LEN as usize];
    if actual < HEADER_LEN {
        // Too short for a header: garbage, or a bundle cut within its first bytes.
        let n = usize::try_from(actual).unwrap_or(0).min(MAGIC.len());
        file.read_exact(&mut head[..n])?;
        if head[..n] != MAGIC[..n] {
            return Err(BundleError::BadMagic);
        }
        return Err(BundleError::Truncated {
            expected: HEADER_LEN + SIGNATURE_LEN,
            actual,
        });
    }
    file.read_exact(&mut head)?;
    let header = Header::parse(&head)?;
    header.check_len(actual)?;
    let mut hash = Sha256::new();
    hash.update(head);
    let mut left = actual - HEADER_LEN - SIGNATURE_LEN;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact(&mut buf[..n])?;
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    let mut sig = [0u8; SIGNATURE_LEN as usize];
    file.read_exact(&mut sig)?;
    key.verify(&hash.finalize().into(), &sig)?;
    Ok(header)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
