//! A [`SoftPanel`] served on a new pty: what the `ivm-panel` binary and the tests run. The box
//! opens [`SoftPty::path`] as it would a serial device.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::io::{lock, open_pty, serve_soft_panel};
use crate::{CfaModel, Key, SoftPanel};

/// A software panel on a pty. Dropping it stops serving (the slave stays open until then, so
/// the box's reconnects never see a hang-up in between).
#[derive(Debug)]
pub struct SoftPty {
    /// The panel's state: screen, backlight, counters; lock with [`lock`].
    pub panel: Arc<Mutex<SoftPanel>>,
    /// Bumped whenever the screen or backlight changed.
    pub changed: watch::Receiver<u64>,
    /// The slave's path, for the box's `[panel] path`.
    pub path: PathBuf,
    kick: Arc<Notify>,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
    slave: Option<OwnedFd>,
}

impl SoftPty {
    /// Opens a pty and serves a `model` panel on it (inside a tokio runtime).
    pub fn start(model: CfaModel) -> std::io::Result<SoftPty> {
        let pty = open_pty()?;
        let panel = Arc::new(Mutex::new(SoftPanel::new(model)));
        let kick = Arc::new(Notify::new());
        let (tx, changed) = watch::channel(0);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve_soft_panel(
            pty.master,
            panel.clone(),
            kick.clone(),
            tx,
            cancel.clone(),
        ));
        Ok(SoftPty {
            panel,
            changed,
            path: pty.path,
            kick,
            cancel,
            task: Some(task),
            slave: Some(pty.slave),
        })
    }

    /// Presses and releases `key`.
    pub fn tap(&self, key: Key) {
        lock(&self.panel).tap(key);
        self.kick();
    }

    /// Sends what was queued on the panel under its lock (keys, raw bytes).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// The screen rows.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.panel).lines()
    }

    /// Whether serving was stopped (Ctrl-C, `q` in `ivm-panel`).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Unplugs the panel: stops serving and closes both ends of the pty.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.cancel.cancel();
        let r = match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        };
        self.slave.take();
        r
    }
}

impl Drop for SoftPty {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
