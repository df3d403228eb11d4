//! The database actor: a pool of blocking threads, each holding the shared [`Store`].
//!
//! Everything that touches redb or the blob files (commits, fsyncs, argon2 hashing, AES) is
//! sent here as a [`Query`], so no async thread ever blocks on the disk. The pool is small
//! (two threads by default): redb serialises write transactions anyway, and reads are quick.

use std::sync::Arc;

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};
use ivm_store::{Store, StoreError};

/// The database manager (S13). Owns nothing but a handle to the store.
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

/// A unit of blocking work against the store, run on a database thread. A closure keeps the
/// callers' code next to the data it needs while still never running on an async thread.
pub struct Query<R>(Box<dyn FnOnce(&Store) -> Result<R, StoreError> + Send>);

impl<R> Query<R> {
    /// Wraps `f` to run on a database thread.
    pub fn new(f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static) -> Self {
        Query(Box::new(f))
    }
}

impl<R: Send + 'static> Message for Query<R> {
    type Result = Result<R, StoreError>;
}

/// Runs the closure against the store.
impl<R: Send + 'static> Handler<Query<R>> for DatabaseActor {
    type Result = Result<R, StoreError>;

    fn handle(&mut self, q: Query<R>, _: &mut SyncContext<Self>) -> Self::Result {
        (q.0)(&self.store)
    }
}

/// Error of a round trip to the database actor: the actor is gone, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database actor stopped (the box is shutting down).
    #[error("database unavailable: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends `f` to the database actor and waits for its result.
pub async fn run<R: Send + 'static>(
    db: &Addr<DatabaseActor>,
    f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, DbError> {
    Ok(db.send(Query::new(f)).await??)
}
