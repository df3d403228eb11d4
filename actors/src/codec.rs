//! Codec work (resampling, conditioning, Opus encode and decode) off the async threads, a
//! few jobs at a time.
//!
//! Why a budget rather than a bare `spawn_blocking`: a job holds its whole message in memory
//! several times over while it works (an 8 s phone recording is about 4 MB of 48 kHz float
//! samples during conditioning and encoding; a 10-minute upload about 300 MB), and tokio's
//! blocking pool runs as many jobs at once as are asked for, on up to 512 threads. When 300
//! `*7` recordings ended together, 300 encodes ran at once on 300 threads: the box peaked far
//! above its working size and the C allocator kept much of it afterwards (issue 10, item 7).
//! The CPU time is the same either way (the cores are the limit), so a budget of a few jobs
//! per core changes when a job starts, not how long the burst takes, and bounds both the peak
//! memory and the blocking threads. Jobs start in the order they asked (the semaphore is
//! fair), so a burst drains first come, first served.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

/// Jobs allowed to run at once per core: two, so a long job (a 10-minute upload) does not
/// hold every slot on a small box while short ones (a prompt to decode for `*97`) wait.
const JOBS_PER_CORE: usize = 2;

static BUDGET: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(budget()));

/// Why a codec job gave no result.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The job panicked (or the runtime is shutting down).
    #[error("codec job failed: {0}")]
    Failed(String),
}

/// How many codec jobs run at once: [`JOBS_PER_CORE`] per core the process may use.
pub fn budget() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * JOBS_PER_CORE
}

/// Runs `job` on tokio's blocking pool once a slot of the budget is free. Waiting for the
/// slot is asynchronous: no thread is held while a job queues.
pub async fn run<T, F>(job: F) -> Result<T, CodecError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let _slot = BUDGET
        .acquire()
        .await
        .map_err(|e| CodecError::Failed(e.to_string()))?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| CodecError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Many jobs asked for at once never run more than the budget at a time, and all finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_budget_runs_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = budget() * 4 + 3;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..jobs {
            let (running, most) = (running.clone(), most.clone());
            set.spawn(run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }));
        }
        let mut done = Vec::new();
        while let Some(r) = set.join_next().await {
            done.push(r.expect("task").expect("job"));
        }
        done.sort_unstable();
        assert_eq!(done, (0..jobs).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= budget(),
            "{most} jobs ran at once, budget {}",
            budget()
        );
        assert!(most >= 2, "jobs ran one at a time: no parallelism left");
    }

    /// A job that panics is an error for its caller and gives its slot back.
    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_frees_its_slot() {
        let r = run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(r, Err(CodecError::Failed(_))));
        assert_eq!(run(|| 7).await.expect("job"), 7);
        // Every slot can be had again (other tests may hold some for a moment: wait, bounded).
        let all = u32::try_from(budget()).expect("budget fits u32");
        let every = tokio::time::timeout(Duration::from_secs(30), BUDGET.acquire_many(all))
            .await
            .expect("a slot was not given back")
            .expect("semaphore open");
        drop(every);
    }
}
