//! Password hashing: argon2id with the crate's default parameters (m = 19456 KiB, t = 2,
//! p = 1), stored as a PHC string (`$argon2id$v=19$...`). Hashing is slow on purpose, so it
//! always runs outside any database transaction.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::StoreError;

/// Shortest password accepted, in characters.
pub(crate) const MIN_LEN: usize = 8;
/// Longest password accepted, in bytes: bounds the work one request can ask for.
pub(crate) const MAX_LEN: usize = 1024;

/// Checks the password rules; nothing is stored when they fail.
pub(crate) fn validate(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_LEN {
        return Err(StoreError::Invalid(format!(
            "password must be at least {MIN_LEN} characters"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(StoreError::Invalid(format!(
            "password must be at most {MAX_LEN} bytes"
        )));
    }
    Ok(())
}

/// Hashes a password with a fresh random salt.
pub(crate) fn hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Crypto(format!("argon2: {e}")))
}

/// Checks a password against a stored PHC string.
pub(crate) fn verify(password: &str, phc: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| StoreError::Corrupt(format!("stored password hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Spends the same work as a real check, for a user who does not exist: a login answer must
/// not reveal, by its timing, whether the name is taken.
pub(crate) fn verify_dummy(password: &str) {
    if let Some(phc) = dummy() {
        let _ = verify(password, phc);
    }
}

/// The hash `verify_dummy` checks against, made once per process. `Store::open` asks for it,
/// so the first failed login is not slower than the next.
pub(crate) fn dummy() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash("not a real password").ok())
        .as_deref()
}

/// A random password of 20 characters from an alphabet without look-alikes (about 115 bits),
/// for first start, `ivmd user add` without `--password`, and admin resets: the box never
/// has a default password.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}
