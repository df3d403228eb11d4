//! The box's durable store: users, sessions and voice messages in an embedded redb database,
//! audio and attachments as encrypted files, and sealing of small secrets (the TLS key).
//!
//! The store is synchronous and blocking: it runs on blocking threads behind the database
//! actor. [`Store`] is `Send + Sync` and every method takes `&self`; redb gives each write
//! transaction the whole database in turn, and readers see a consistent snapshot.
//!
//! # Layout
//! - `keys.rs`: `master.key`, the keys HKDF derives from it,
//!   `seal` / `unseal`.
//! - `blobs.rs`: [`BlobRef`], encrypted chunked blob files, written durably.
//! - `users.rs`: [`User`], [`NewUser`], [`UserUpdate`]; names, extensions, passwords (argon2id
//!   in `passwords.rs`), contacts, chosen status.
//! - `calls.rs`: call history, placed, received and missed, bounded per user.
//! - `groups.rs`: [`Group`]: named sets of users an all-call reaches, and the built-in
//!   [`EVERYONE`].
//! - `sessions.rs`: login tokens; the database keeps only their SHA-256.
//! - `sip.rs`: [`SipCredentials`]: each user's generated SIP password and digest HA1s, sealed.
//! - `phones.rs`: [`StoredPhone`]: the phone registry (MAC, assigned user, armed, bound);
//!   `phone_secrets.rs`: each phone's provisioning credential and admin password, sealed;
//!   `phone_sightings.rs`: last-seen data in batches, unassigned rows capped and expired.
//! - `logins.rs`: [`LoginCandidate`], [`Store::open_session`]: the password check split around
//!   argon2 (which runs on the caller's own pool), one-time passwords used up by their login.
//! - `messages.rs`: [`StoredMessage`], mailbox states, sent lists, deletion; commit rules
//!   ([`CommitRules`]: quota, idempotency key).
//! - `pages.rs`: inbox and sent lists a page at a time ([`Page`], [`Cursor`]) from indexes
//!   ordered by time, and each user's counts.
//! - `usage.rs`: bytes per sender (the quota) and the data disk's free-space reserve.
//! - `idempotency.rs`: [`IdempotencyKey`]: a retried send finds the message it stored.
//! - `talks.rs`: [`PendingTalk`], [`TalkJournal`]: a live talk's copy made durable as it is
//!   spoken (encrypted journal, fdatasync per batch), recovered after a crash.
//! - `tables.rs`: every redb table and its key/value shapes, in one place.
//! - `dirs.rs`: the data directory and the fsync steps; `error.rs`: [`StoreError`].
//! - `lock.rs`: [`DataLock`]: one process at a time on a data folder (`ivmd.lock`), taken
//!   before anything else in the folder is touched.
//!
//! # On disk (`<data>/`, see `docs/storage.md`)
//! ```text
//! ivmd.lock      flock(2)ed by the process working on the folder; holds its pid
//! master.key     32 random bytes, mode 0600; refused if group/other can read it
//! ivm.redb       the database (tables in tables.rs)
//! blobs/00..ff/  one encrypted file per blob, named by its id (32 hex), fanned out by its first two
//! talks/         one encrypted journal per live talk (`talks.rs`), removed when it is stored
//! tmp/           files being written; emptied at open (leftovers of a crash, never acked)
//! ```
//!
//! # Durability
//! A blob is written to `tmp/`, fsynced, renamed into `blobs/xx/` and both folders fsynced
//! before `put_blob` returns; then the record that names it is committed (redb's `commit()` is
//! durable when it returns); only then may the caller ack. `tests/e2e/durability.rs` proves
//! this order on the syscalls of the real `ivmd` (docs/storage.md, "How the order is proven").

mod blobs;
mod calls;
mod dirs;
mod error;
mod gateways;
mod global;
mod groups;
mod idempotency;
mod keys;
mod lock;
mod logins;
mod messages;
mod pages;
mod passwords;
mod phone_secrets;
mod phone_sightings;
mod phones;
mod sessions;
mod sip;
mod tables;
mod talks;
mod usage;
mod users;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable};

pub use blobs::BlobRef;
pub use error::StoreError;
pub use gateways::{
    parse_endpoint_range, parse_gateway_address, parse_gateway_address_for, Gateway,
    GatewayProtocol, MAX_ENDPOINTS as MAX_GATEWAY_ENDPOINTS, MAX_GATEWAYS,
};
pub use global::{OutboxEntry, RemoteUser};
pub use groups::{validate_group_name, Group, EVERYONE, MAX_MEMBERS as MAX_GROUP_MEMBERS};
pub use idempotency::{IdempotencyKey, KeyUse, MAX_KEY_LEN as MAX_IDEMPOTENCY_KEY_LEN};
pub use lock::{holder as lock_holder, DataLock, LOCK_FILE};
pub use logins::{
    hash_password, validate_password, LoginCandidate, LoginRefusal, NewPasswordHash, Opened,
};
pub use messages::{Advanced, CommitRules, Committed, Party, StoredAttachment, StoredMessage};
pub use pages::{BadCursor, Cursor, ListCounts, Page, MAX_PAGE};
pub use passwords::generate as generate_password;
pub use phone_sightings::{SightingLimits, SightingsFlushed};
pub use phones::{PhoneSighting, PhoneStatus, StoredPhone};
pub use sip::{sip_ha1s, SipCredentials};
pub use talks::{PendingTalk, TalkJournal, MAX_RECORD as MAX_TALK_RECORD};
pub use usage::{free_bytes, FREE_SPACE_RESERVE};
pub use users::{validate_extension, validate_name, NewUser, User, UserUpdate};

/// Most memory redb keeps for database pages (its read cache plus writes not yet flushed).
/// redb's default is 1 GiB: a growing database fills it as it is read (inbox listings, a
/// backup) and the process keeps it for good, against the box's goal of under 100 MB in all
/// (issue 10, item 7). The working set is far smaller (1,113 users make a 1 MB database); pages
/// past the bound are read from the file again, from the kernel's page cache in practice.
pub const DB_CACHE_BYTES: usize = 16 << 20;

/// The open store of one data directory. Cheap to share behind an `Arc`; one per process
/// (redb locks the database file against a second opener).
pub struct Store {
    /// The data directory.
    data_dir: PathBuf,
    /// `ivm.redb`.
    db: Database,
    /// Ciphers derived from `master.key`.
    keys: keys::Keys,
    /// The folder's lock, held as long as the store is open. Declared last, so it is
    /// released after the database is closed.
    _lock: DataLock,
}

/// How [`Store::open_with`] opens a data folder.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Create the folder when it is missing (`ivmd run`). Admin commands do not: a
    /// mistyped or relative path must not become a new box with a master key of its own.
    pub create: bool,
    /// How long to wait for another process to let go of the folder's lock.
    pub lock_wait: std::time::Duration,
}

impl Default for OpenOptions {
    /// Create when missing; do not wait for the lock.
    fn default() -> Self {
        OpenOptions {
            create: true,
            lock_wait: std::time::Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for Store {
    /// Names the directory only; never the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the data directory, creating what is missing: the folder itself (mode 0700, and
    /// tightened to it if it was opened up since),
    /// `tmp/` (emptied: leftovers of a crash), `blobs/00..ff`, `master.key` (32 random bytes,
    /// mode 0600, fsynced, folder fsynced) and `ivm.redb` with every table.
    ///
    /// Refuses to start ([`StoreError::MasterKey`]) if `master.key` has group/other permission
    /// bits or the wrong length, or is missing while `ivm.redb` exists; and
    /// ([`StoreError::Corrupt`]) if the database was written by a newer schema.
    ///
    /// The folder's lock is taken before anything in it is touched ([`StoreError::Locked`]
    /// when another process holds it).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(data_dir, &OpenOptions::default())
    }

    /// [`Store::open`] with options: whether a missing folder is created
    /// ([`StoreError::NoDataFolder`] otherwise), how long to wait for the lock.
    pub fn open_with(data_dir: &Path, opts: &OpenOptions) -> Result<Store, StoreError> {
        if opts.create {
            dirs::ensure_dir(data_dir)?;
        } else if !data_dir.is_dir() {
            return Err(StoreError::NoDataFolder(data_dir.to_owned()));
        }
        // First of all: a second process must not empty tmp/ under the first one's feet.
        let lock = DataLock::acquire(data_dir, opts.lock_wait)?;
        // The folder's 0700 is what keeps other users out of everything below it; the
        // database is also made 0600 on its own (redb creates it with the process umask).
        dirs::restrict_mode(data_dir, 0o700)?;
        let tmp = data_dir.join(dirs::TMP);
        dirs::ensure_dir(&tmp)?;
        let cleared = dirs::clear_tmp(&tmp)?;
        if cleared > 0 {
            tracing::warn!(
                files = cleared,
                "removed unfinished files from tmp/ (a crash or power cut)"
            );
        }
        let blobs = data_dir.join(dirs::BLOBS);
        dirs::ensure_dir(&blobs)?;
        dirs::ensure_fanout(&blobs)?;
        // Not under tmp/: a journal outlives a crash on purpose.
        dirs::ensure_dir(&data_dir.join(talks::TALKS))?;
        let keys = keys::load_or_create(data_dir)?;
        dirs::fsync_dir(data_dir)?;

        let db = Database::builder()
            .set_cache_size(DB_CACHE_BYTES)
            .create(data_dir.join(dirs::DATABASE))?;
        dirs::restrict_mode(&data_dir.join(dirs::DATABASE), 0o600)?;
        init_schema(&db)?;
        dirs::fsync_dir(data_dir)?;
        // Make the "unknown user" password check as slow as a real one from the start.
        let _ = passwords::dummy();
        tracing::info!(data_dir = %data_dir.display(), "store open");
        Ok(Store {
            data_dir: data_dir.to_path_buf(),
            db,
            keys,
            _lock: lock,
        })
    }

    /// The data directory this store was opened on (backups, the TLS files beside it).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Creates every table (readers can then open them all), and records or checks the schema
/// version.
fn init_schema(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(tables::USERS)?;
        txn.open_table(tables::USER_NAMES)?;
        txn.open_table(tables::USER_EXTENSIONS)?;
        txn.open_table(tables::SESSIONS)?;
        txn.open_table(tables::USER_SESSIONS)?;
        txn.open_table(tables::MESSAGES)?;
        txn.open_table(tables::MAILBOX)?;
        txn.open_table(tables::SENT)?;
        txn.open_table(tables::SIP_CREDENTIALS)?;
        txn.open_table(tables::PHONES)?;
        txn.open_table(tables::PHONE_SECRETS)?;
        txn.open_table(tables::USAGE)?;
        txn.open_table(tables::IDEMPOTENCY)?;
        txn.open_table(tables::GROUPS)?;
        txn.open_table(talks::PENDING_TALKS)?;
        txn.open_table(tables::GATEWAYS)?;
        txn.open_table(pages::INBOX_BY_TIME)?;
        txn.open_table(pages::SENT_BY_TIME)?;
        txn.open_table(calls::CALLS)?;
        let meta = txn.open_table(tables::META)?;
        let found = meta.get("schema_version")?.map(|v| v.value());
        if let Some(v) = found.filter(|v| *v > tables::SCHEMA_VERSION) {
            return Err(StoreError::Corrupt(format!(
                "ivm.redb has schema version {v}; this build knows up to {}",
                tables::SCHEMA_VERSION
            )));
        }
    }
    usage::count_once(&txn)?;
    pages::index_once(&txn)?;
    // Recorded after the upgrades above: version 2 says the time indexes are kept, so a
    // build from before them (which would not keep them) refuses the database.
    txn.open_table(tables::META)?
        .insert("schema_version", tables::SCHEMA_VERSION)?;
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const FILL: TableDefinition<u32, &[u8]> = TableDefinition::new("test_fill");

    /// Writing and reading back three times the bound leaves redb's cache within it.
    #[test]
    fn database_cache_stays_within_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let value = vec![0x5a_u8; 64 * 1024];
        let count = u32::try_from(3 * DB_CACHE_BYTES / value.len()).expect("count");
        for batch in 0..count / 64 {
            let txn = store.db.begin_write().expect("write");
            {
                let mut t = txn.open_table(FILL).expect("table");
                for i in batch * 64..(batch + 1) * 64 {
                    t.insert(i, value.as_slice()).expect("insert");
                }
            }
            txn.commit().expect("commit");
        }
        let txn = store.db.begin_read().expect("read");
        let t = txn.open_table(FILL).expect("table");
        let mut read = 0usize;
        for i in 0..count / 64 * 64 {
            read += t.get(i).expect("get").expect("present").value().len();
        }
        assert_eq!(read, 3 * DB_CACHE_BYTES);
        let used = store.db.cache_stats().used_bytes();
        assert!(used > 0, "redb's cache figures are not collected");
        assert!(
            used <= DB_CACHE_BYTES,
            "redb's cache holds {used} bytes, bound {DB_CACHE_BYTES}"
        );
    }
}
