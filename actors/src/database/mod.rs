//! The database manager (the founding document's "database manager"): a pool of blocking threads,
//! each holding the shared [`Store`], and the vocabulary of named operations it runs.
//!
//! Everything that touches redb or the blob files (commits, fsyncs, AES) runs here, so no
//! async thread ever blocks on the disk. The pool is small (two threads by default): redb
//! serialises write transactions anyway, and reads are quick. Password hashing (argon2) is
//! not done here: it runs on the HTTP service's own pool, between two operations.
//!
//! # The vocabulary
//! A caller asks for an operation by name, as plain data: `db.call(InboxPage { user, before,
//! limit })`. Each operation is a type implementing [`Op`]: what it reads and writes, in one
//! trip to a database thread, with its answer typed. `docs/decisions/0006-database-vocabulary.md`
//! says why operations and not closures or one message type per operation.
//! - [`users`]: logins, sessions, users, contacts, status, the admin's user management.
//! - [`messages`]: lists a page at a time, one message, its audio and attachments,
//!   receipts, deletion, what is queued for a client.
//! - [`groups`]: the groups an all-call reaches, as admins manage them, and who an
//!   all-call from a speaker reaches.
//! - [`phones`]: the phone registry as the admin API and the front panel change it.
//!
//! Operations private to one actor (the client manager's commit of a post, the provisioning
//! front's decision) sit beside that actor's code; the appliance's own (the admin socket's
//! requests, which the command line applies offline too) beside that code. [`Db`] is the
//! handle every caller holds; there is no closure form.

pub mod groups;
pub mod messages;
pub mod phones;
pub mod users;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};
use ivm_store::{Store, StoreError};

/// The database manager's threads. Own nothing but a handle to the store.
pub struct DatabaseActor {
    store: Arc<Store>,
}

impl Actor for DatabaseActor {
    type Context = SyncContext<Self>;
}

impl DatabaseActor {
    /// Starts `threads` database threads over `store`.
    pub fn start(store: Arc<Store>, threads: usize) -> Addr<DatabaseActor> {
        SyncArbiter::start(threads.max(1), move || DatabaseActor {
            store: store.clone(),
        })
    }
}

/// A named operation of the database manager: plain data in, run once on a database thread
/// against the store, its typed output back. One operation is one trip.
pub trait Op: Send + 'static {
    /// What it answers.
    type Output: Send + 'static;
    /// Runs it (on a database thread: blocking is fine here, and only here).
    fn run(self, store: &Store) -> Result<Self::Output, StoreError>;
}

/// The message that carries an operation to a database thread.
struct Run<O>(O);

impl<O: Op> Message for Run<O> {
    type Result = Result<O::Output, StoreError>;
}

/// Runs the operation against the store.
impl<O: Op> Handler<Run<O>> for DatabaseActor {
    type Result = Result<O::Output, StoreError>;

    fn handle(&mut self, msg: Run<O>, _: &mut SyncContext<Self>) -> Self::Result {
        msg.0.run(&self.store)
    }
}

/// Error of a trip to the database manager: it is gone, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database actor stopped (the box is shutting down).
    #[error("database unavailable: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The database manager as its callers hold it: cheap to clone, and counts its trips (for
/// tests that a path takes the trips it should, and for the status).
#[derive(Clone)]
pub struct Db {
    addr: Addr<DatabaseActor>,
    trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("trips", &self.trips()).finish()
    }
}

impl From<Addr<DatabaseActor>> for Db {
    fn from(addr: Addr<DatabaseActor>) -> Self {
        Db {
            addr,
            trips: Arc::default(),
        }
    }
}

impl Db {
    /// Starts `threads` database threads over `store`.
    pub fn start(store: Arc<Store>, threads: usize) -> Db {
        DatabaseActor::start(store, threads).into()
    }

    /// Runs `op` on a database thread and waits for its answer.
    pub async fn call<O: Op>(&self, op: O) -> Result<O::Output, DbError> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        Ok(self.addr.send(Run(op)).await??)
    }

    /// Trips made through this handle and its clones.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }
}

/// Answers whether the database answers: the lightest read (the health check).
#[derive(Debug, Clone, Copy)]
pub struct Ping;

impl Op for Ping {
    type Output = ();
    fn run(self, store: &Store) -> Result<(), StoreError> {
        store.user_count().map(|_| ())
    }
}
