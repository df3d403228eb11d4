//! The data folder's lock: one process at a time works on a data folder.
//!
//! Two `ivmd run` on one folder used to meet only at redb's own lock on `ivm.redb`, which
//! comes after `tmp/` is emptied: the second process deleted the files the first was writing
//! (sends in flight failed) before it found out. So [`Store::open`](crate::Store::open) takes
//! this lock first, before it touches anything else in the folder.
//!
//! The lock is `flock(2)` on `<data>/ivmd.lock`. The kernel drops it when the process ends,
//! however it ends (a crash, SIGKILL, a power cut), so there is never a stale lock to clean
//! up; the file stays and is reused. The holder writes its pid into the file, so a refused
//! second process can say who holds it. A waiting process re-tries every 100 ms: a restart
//! that races the old process (SIGTERM, then an immediate start) waits for the old one to
//! finish storing what it acknowledged instead of failing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::StoreError;

/// Name of the lock file inside the data folder.
pub const LOCK_FILE: &str = "ivmd.lock";

/// How often a waiting process tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// The held lock; released when dropped (or when the process ends).
pub struct DataLock {
    /// The locked file (unlocked on drop).
    _file: Flock<File>,
    /// Its path, for the log.
    path: PathBuf,
}

impl std::fmt::Debug for DataLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLock")
            .field("path", &self.path)
            .finish()
    }
}

impl DataLock {
    /// Takes the lock of the (existing) folder `data`, waiting up to `wait` for another
    /// holder to let go. [`StoreError::Locked`] with the holder's pid when it does not.
    pub fn acquire(data: &Path, wait: Duration) -> Result<DataLock, StoreError> {
        let path = data.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        let deadline = Instant::now() + wait;
        let mut told = false;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut locked) => {
                    // Our pid, for whoever is refused next. The file was opened at offset 0.
                    locked.set_len(0)?;
                    locked.write_all(format!("{}\n", std::process::id()).as_bytes())?;
                    return Ok(DataLock {
                        _file: locked,
                        path,
                    });
                }
                Err((f, Errno::EWOULDBLOCK)) => {
                    file = f;
                    let pid = holder(&path);
                    if Instant::now() >= deadline {
                        return Err(StoreError::Locked { pid });
                    }
                    if !told {
                        told = true;
                        tracing::warn!(
                            pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                            folder = %data.display(),
                            wait_s = wait.as_secs_f32(),
                            "another ivmd holds the data folder: waiting for it to let go"
                        );
                    }
                    std::thread::sleep(
                        RETRY.min(deadline.saturating_duration_since(Instant::now())),
                    );
                }
                Err((_, e)) => return Err(StoreError::Io(std::io::Error::from(e))),
            }
        }
    }
}

/// The pid the lock file names (its holder, or the last one), if it reads as one.
pub fn holder(path: &Path) -> Option<u32> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let d = tempfile::tempdir().expect("tempdir");
        let first = DataLock::acquire(d.path(), Duration::ZERO).expect("first");
        assert_eq!(holder(&d.path().join(LOCK_FILE)), Some(std::process::id()));
        let t = Instant::now();
        match DataLock::acquire(d.path(), Duration::from_millis(300)) {
            Err(StoreError::Locked { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("second holder: {other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(300), "it waited");
        // A holder that lets go while another waits: the waiter gets it.
        let waiter = {
            let p = d.path().to_owned();
            std::thread::spawn(move || DataLock::acquire(&p, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        waiter
            .join()
            .expect("thread")
            .expect("got it after the drop");
    }

    #[test]
    fn a_second_open_is_refused_before_it_touches_anything() {
        use crate::{OpenOptions, Store};
        let d = tempfile::tempdir().expect("tempdir");
        let data = d.path().join("data");
        let store = Store::open(&data).expect("first open");
        // A file being written by the first process.
        std::fs::write(data.join("tmp").join("in-flight"), b"x").expect("write");
        match Store::open(&data) {
            Err(StoreError::Locked { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("second open: {other:?}"),
        }
        assert!(
            data.join("tmp").join("in-flight").exists(),
            "tmp/ left alone"
        );
        drop(store);
        let again = Store::open(&data).expect("open after the first closed");
        assert!(!data.join("tmp").join("in-flight").exists(), "now emptied");
        drop(again);
        // Without `create`, a missing folder is refused and not made.
        let missing = d.path().join("typo");
        let opts = OpenOptions {
            create: false,
            lock_wait: Duration::ZERO,
        };
        assert!(matches!(
            Store::open_with(&missing, &opts),
            Err(StoreError::NoDataFolder(_))
        ));
        assert!(!missing.exists());
        Store::open_with(&data, &opts).expect("an existing folder opens");
    }
}
