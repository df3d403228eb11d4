//! The one error type of the store.

/// Everything that can go wrong in the store. Callers map it to their answers: `NotFound` →
/// 404, `Conflict` → 409, `Invalid` → 400, the rest → 500 (and a log line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file or folder of the data directory failed.
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded database (redb) failed; boxed because redb's error is large.
    #[error("database: {0}")]
    Db(Box<redb::Error>),
    /// An encryption, decryption or password-hashing step failed (for example `unseal` with
    /// the wrong purpose or tampered input).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The user, message, session or blob asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The name, extension or id is already taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Input that breaks a rule (a bad name, extension, password, recipient list); nothing
    /// was changed.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Data on disk failed its integrity check or cannot be decoded: a tampered or truncated
    /// blob, an undecodable record.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Storing this would take the sender past their quota; nothing was stored.
    #[error("storage quota: {used} bytes used, {adding} more asked, the quota is {quota}")]
    QuotaExceeded {
        /// Bytes the sender's existing messages hold.
        used: u64,
        /// Bytes the refused message would add.
        adding: u64,
        /// The quota.
        quota: u64,
    },
    /// The data disk has no room left for this (see `usage.rs`); nothing was stored.
    #[error("the box's disk is full")]
    DiskFull,
    /// An idempotency key the sender already used for another request (the message it
    /// stored is named).
    #[error("this idempotency key was already used for another message ({0})")]
    KeyReused(ivm_wire::Guid),
    /// `master.key` is unusable (wrong length, readable by group or others, missing while a
    /// database exists). The box refuses to start rather than run with a leaked or lost key.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Another process holds the data folder's lock (`ivmd.lock`): a running box, or an
    /// admin command working on the stopped box's folder. Nothing was touched.
    #[error("another ivmd{} runs on this data folder", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The holder's pid, as its lock file names it.
        pid: Option<u32>,
    },
    /// The data folder does not exist, and this open may not create one (admin commands:
    /// a mistyped path must not become a new, empty box with a master key of its own).
    #[error("there is no data folder at {}", .0.display())]
    NoDataFolder(std::path::PathBuf),
    /// Removing or demoting this user would leave the box without an administrator; nothing
    /// was changed.
    #[error("{0} is the box's last administrator: make another user an administrator first")]
    LastAdmin(String),
    /// The phone belongs to another user; moving it needs an explicit reassign.
    #[error("phone {mac} is assigned to {user} ({extension})")]
    PhoneAssigned {
        /// The phone's MAC.
        mac: String,
        /// Login name of its user.
        user: String,
        /// That user's extension.
        extension: String,
    },
}

impl StoreError {
    /// Whether this is the data disk running out of space: [`StoreError::DiskFull`], or an
    /// I/O error `ENOSPC` (`StorageFull`) from a file or the database.
    pub fn is_disk_full(&self) -> bool {
        let full = |e: &std::io::Error| e.kind() == std::io::ErrorKind::StorageFull;
        match self {
            StoreError::DiskFull => true,
            StoreError::Io(e) => full(e),
            StoreError::Db(e) => match e.as_ref() {
                redb::Error::Io(e) => full(e),
                _ => false,
            },
            _ => false,
        }
    }
}

/// redb has one error type per operation; all of them become [`StoreError::Db`].
macro_rules! from_redb {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(redb::Error::from(e)))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);
