//! Leases and the storage trait they live behind.
//!
//! The contract: [`LeaseStore::commit`] returns only once the lease is durable. The server
//! calls it before it encodes an ACK, so a client never holds an address the box would
//! forget after a power cut. In a group commit ([`LeaseStore::begin_batch`] ..
//! [`LeaseStore::sync`], used by [`Server::handle_batch`](crate::Server::handle_batch))
//! durability moves to `sync`, and no reply of the batch leaves before `sync` returned `Ok`.

use std::net::Ipv4Addr;

use ivm_provision::Mac;

/// Why the lease store failed. The request that needed it gets no reply.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or syncing the file failed.
    #[error("lease store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record could not be read back.
    #[error("lease store record {line}: {reason}")]
    Corrupt {
        /// 1-based line (or record) number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The store refused for its own reasons (tests use this to prove no ACK goes out).
    #[error("lease store unavailable: {0}")]
    Unavailable(String),
}

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Held by `client` until `expires`.
    Bound,
    /// Given back by the client; free, but offered to the same client first.
    Released,
    /// Declined (in use by someone else on the wire); out of use until `expires`.
    Declined,
}

/// One address's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// Client key: option 61 if the client sent one, else htype + chaddr (RFC 2131 4.2).
    pub client: Vec<u8>,
    /// The client's MAC.
    pub mac: Mac,
    /// Unix seconds when it ends (or the quarantine ends, for `Declined`).
    pub expires: u64,
    /// Where it stands.
    pub state: LeaseState,
}

impl Lease {
    /// True while it keeps the address from anyone else.
    pub fn blocks(&self, now: u64) -> bool {
        matches!(self.state, LeaseState::Bound | LeaseState::Declined) && self.expires > now
    }
}

/// Durable lease storage. Calls are synchronous: the I/O layer runs the server on a
/// blocking thread (or `spawn_blocking`), the way the database actor runs commits.
pub trait LeaseStore: Send {
    /// Every stored lease, read once when the server starts.
    fn load(&mut self) -> Result<Vec<Lease>, StoreError>;
    /// Stores (inserts or replaces by address) `lease`; durable when it returns.
    fn commit(&mut self, lease: &Lease) -> Result<(), StoreError>;
    /// Forgets the lease on `ip`; durable when it returns.
    fn remove(&mut self, ip: Ipv4Addr) -> Result<(), StoreError>;
    /// Group commit: until [`LeaseStore::sync`], [`commit`](LeaseStore::commit) and
    /// [`remove`](LeaseStore::remove) may return before their change is durable (a store
    /// that is always durable ignores this). The caller must not send any reply that
    /// depends on those changes until `sync` has returned `Ok`.
    fn begin_batch(&mut self) {}
    /// Makes every change since [`LeaseStore::begin_batch`] durable (one `fdatasync` for the
    /// whole batch) and ends the batch. On `Err` none of the batch may be treated as durable.
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
