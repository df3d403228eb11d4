//! Password hashing: argon2id with m = 12 MiB, t = 3, p = 1 (one of OWASP's equivalent
//! argon2id settings, trading memory for passes: the box is a small appliance), stored as a
//! PHC string (`$argon2id$v=19$...`); hashes made with other parameters (the crate's default
//! m = 19 MiB, t = 2 among them) still verify. Hashing is slow on purpose, so it always runs
//! outside any database transaction.
//!
//! Allocating the working memory per login let the C allocator keep every freed block (the
//! box grew by the block size a login), so each thread that hashes keeps one working area and
//! reuses it: memory stays bounded by the number of database threads.

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Cost of new hashes: m = 12 MiB, t = 3, p = 1.
fn params() -> Params {
    Params::new(12 * 1024, 3, 1, None).unwrap_or_default()
}

thread_local! {
    /// This thread's argon2 working area, reused by every hash it computes.
    static WORK: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn crypto(e: impl std::fmt::Display) -> StoreError {
    StoreError::Crypto(format!("argon2: {e}"))
}

/// The raw argon2 output for `password` and `salt`, computed in this thread's working area.
fn raw(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), StoreError> {
    WORK.with(|w| {
        let mut w = w.borrow_mut();
        let need = params.block_count();
        if w.len() < need {
            w.resize(need, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut w[..need])
            .map_err(crypto)
    })
}

/// Hashes a password with a fresh random salt.
pub(crate) fn hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(crypto)?;
    let params = params();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    raw(&argon, &params, password.as_bytes(), salt_bytes, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(crypto)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(crypto)?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a stored PHC string (constant-time compare of the outputs).
pub(crate) fn verify(password: &str, phc: &str) -> Result<bool, StoreError> {
    let corrupt =
        |e: argon2::password_hash::Error| StoreError::Corrupt(format!("stored password hash: {e}"));
    let parsed = PasswordHash::new(phc).map_err(corrupt)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(corrupt)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(crypto)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(corrupt)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(StoreError::Corrupt(
            "stored password hash lacks salt or output".into(),
        ));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(corrupt)?;
    let mut out = vec![0u8; expected.len()];
    raw(
        &Argon2::new(algorithm, version, params.clone()),
        &params,
        password.as_bytes(),
        salt_bytes,
        &mut out,
    )?;
    Ok(Output::new(&out).map_err(crypto)? == expected)
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
        .get_or_init(|| {
            let h = hash("not a real password").ok();
            // Made on whichever thread opens the store, which never hashes again: give the
            // working area back instead of keeping it for the life of the process.
            WORK.with(|w| *w.borrow_mut() = Vec::new());
            h
        })
        .as_deref()
}

/// A random password of 20 characters from an alphabet without look-alikes (about 115 bits),
/// for first start, `ivmd user add` without `--password`, and admin resets: the box never
/// has a default password.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
