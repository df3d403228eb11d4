//! The password-check pool: argon2 verification (and hashing a new password) on threads of
//! its own, behind a short queue.
//!
//! argon2 is slow on purpose (tens of milliseconds and 12 MiB a check). It used to run on the
//! two database threads, so a stream of unauthenticated wrong passwords stalled every
//! logged-in user's request behind it (issue 10: `GET /api/me` went from 4 ms to 1.9 s). Now
//! the database threads only read the stored hash and write the session; the check runs
//! here. When the queue is full the caller is told at once ([`PoolBusy`], answered 503 with
//! `Retry-After`) instead of waiting in an unbounded line.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// One unit of work for a pool thread.
type Job = Box<dyn FnOnce() + Send>;

/// The pool refused the job: its queue is full (or it has stopped).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the box is busy checking passwords; try again in a moment")]
pub struct PoolBusy;

/// A fixed set of threads and a bounded queue. Cheap to clone.
#[derive(Clone)]
pub struct PasswordPool {
    queue: SyncSender<Job>,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool").finish_non_exhaustive()
    }
}

/// Threads of the default pool: one, so password checks can use at most one core of the box's
/// few while everything else runs on.
pub const THREADS: usize = 1;
/// Checks that may wait for a thread: a handful of people logging in at once.
pub const QUEUE: usize = 8;

impl Default for PasswordPool {
    fn default() -> Self {
        PasswordPool::new(THREADS, QUEUE)
    }
}

impl PasswordPool {
    /// Starts `threads` threads fed by a queue of `queue` jobs. The threads end when the last
    /// clone of the pool is dropped.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ivm-passwords-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-check thread");
            }
        }
        PasswordPool { queue: tx }
    }

    /// Runs `f` on a pool thread and returns its result; [`PoolBusy`] at once when the queue
    /// is full.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolBusy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                return Err(PoolBusy)
            }
        }
        rx.await.map_err(|_| PoolBusy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_jobs_and_refuses_past_the_queue() {
        let pool = PasswordPool::new(1, 2);
        assert_eq!(pool.run(|| 2 + 2).await.expect("runs"), 4);
        // Hold the one thread, fill the queue, and the next job is refused at once.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let blocker = tokio::spawn(async move {
            p.run(move || {
                let _ = started_tx.send(());
                let _ = hold.recv_timeout(Duration::from_secs(10));
            })
            .await
        });
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the blocker runs");
        let queued: Vec<_> = (0..2)
            .map(|i| {
                let p = pool.clone();
                tokio::spawn(async move { p.run(move || i).await })
            })
            .collect();
        // Let the queued jobs reach the queue.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(pool.run(|| 0).await.is_err(), "the queue is full");
        release.send(()).expect("release");
        blocker.await.expect("join").expect("blocker ran");
        for (i, q) in queued.into_iter().enumerate() {
            assert_eq!(q.await.expect("join").expect("queued job ran"), i);
        }
    }
}
