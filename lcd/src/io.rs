//! The thin tokio part: a serial device (or pty) in, key events out.
//!
//! [`spawn`] opens [`PanelConfig::path`] at the model's baud (raw mode through termios; a pty
//! path works the same), runs the [`PanelDriver`] on it, and reconnects every
//! [`PanelConfig::reconnect_interval`] when the device is absent or vanishes (logged once per
//! outage). Screens sent through the [`PanelHandle`] are diffed by a [`ScreenWriter`]; while the
//! module is behind, only the newest screen is kept and drawn when it catches up. After a
//! reconnect the last screen and backlight are drawn again in full.
//!
//! [`open_pty`] and [`serve_soft_panel`] put a [`SoftPanel`] on a pty: the `ivm-panel` binary
//! and the tests use them.

use crate::{
    CfaModel, CfaPanel, KeyEvent, LinkConfig, MatrixOrbital, MoKeymap, Panel, PanelDriver, Screen,
    ScreenWriter, SoftPanel,
};
use nix::fcntl::OFlag;
use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which protocol and module the panel is.
#[derive(Debug, Clone)]
pub enum PanelModel {
    /// A Crystalfontz packet module.
    Cfa(CfaModel),
    /// A Matrix Orbital text module.
    MatrixOrbital {
        /// Columns.
        cols: u8,
        /// Rows.
        rows: u8,
        /// Line speed (19200 is the factory default).
        baud: u32,
        /// Keypad mapping.
        keymap: MoKeymap,
    },
}

impl PanelModel {
    /// The line speed.
    pub fn baud(&self) -> u32 {
        match self {
            PanelModel::Cfa(m) => m.baud(),
            PanelModel::MatrixOrbital { baud, .. } => *baud,
        }
    }

    /// A fresh driver.
    pub fn driver(&self, link: &LinkConfig) -> PanelDriver {
        match self {
            PanelModel::Cfa(m) => PanelDriver::Cfa(CfaPanel::new(*m, link.clone())),
            PanelModel::MatrixOrbital {
                cols, rows, keymap, ..
            } => PanelDriver::MatrixOrbital(MatrixOrbital::new(*cols, *rows, keymap.clone())),
        }
    }
}

/// Where and what the panel is.
#[derive(Debug, Clone)]
pub struct PanelConfig {
    /// Serial device or pty path (`/dev/ttyUSB0`, `/dev/pts/3`, a symlink to either).
    pub path: PathBuf,
    /// Protocol and model.
    pub model: PanelModel,
    /// Retry knobs of the Crystalfontz link.
    pub link: LinkConfig,
    /// How often to try the device again while it is absent.
    pub reconnect_interval: Duration,
}

impl PanelConfig {
    /// Defaults: 1 s reconnect, default link knobs.
    pub fn new(path: impl Into<PathBuf>, model: PanelModel) -> Self {
        PanelConfig {
            path: path.into(),
            model,
            link: LinkConfig::default(),
            reconnect_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
enum Request {
    Show(Screen),
    Backlight(u8),
}

/// The panel task is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("panel task stopped")]
pub struct Stopped;

/// Sends screens and backlight levels to the panel task. Dropping every handle stops the task.
#[derive(Debug, Clone)]
pub struct PanelHandle {
    tx: mpsc::Sender<Request>,
    connected: watch::Receiver<bool>,
}

impl PanelHandle {
    /// Shows `screen` (diffed against what the module shows).
    pub async fn show(&self, screen: Screen) -> Result<(), Stopped> {
        self.tx
            .send(Request::Show(screen))
            .await
            .map_err(|_| Stopped)
    }

    /// Sets the backlight, 0 (off) ..= 100.
    pub async fn backlight(&self, percent: u8) -> Result<(), Stopped> {
        self.tx
            .send(Request::Backlight(percent))
            .await
            .map_err(|_| Stopped)
    }

    /// Shows `screen` without waiting: `false` when the task's queue is full or it stopped
    /// (for callers that must not block, such as an actor's handler; try again later).
    pub fn try_show(&self, screen: Screen) -> bool {
        self.tx.try_send(Request::Show(screen)).is_ok()
    }

    /// Sets the backlight without waiting; `false` when the request could not be queued.
    pub fn try_backlight(&self, percent: u8) -> bool {
        self.tx.try_send(Request::Backlight(percent)).is_ok()
    }

    /// Whether the device is open now; watch it for changes.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }
}

/// Starts the panel task. Key events arrive on the receiver (bounded; when nobody reads, extra
/// keys are dropped). The task ends when `cancel` fires or every [`PanelHandle`] is dropped.
pub fn spawn(
    cfg: PanelConfig,
    cancel: CancellationToken,
) -> (PanelHandle, mpsc::Receiver<KeyEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let (keys_tx, keys_rx) = mpsc::channel(64);
    let (conn_tx, conn_rx) = watch::channel(false);
    let task = tokio::spawn(run(cfg, rx, keys_tx, conn_tx, cancel));
    (
        PanelHandle {
            tx,
            connected: conn_rx,
        },
        keys_rx,
        task,
    )
}

/// Opens `path` read/write, non-blocking, without becoming its controlling terminal; a tty is
/// put in raw mode at `baud`, 8N1, no flow control.
pub fn open_line(path: &Path, baud: u32) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits())
        .open(path)?;
    if nix::unistd::isatty(&f).unwrap_or(false) {
        set_raw(&f, Some(baud)).map_err(std::io::Error::from)?;
    }
    Ok(f)
}

fn baud_rate(baud: u32) -> BaudRate {
    match baud {
        9600 => BaudRate::B9600,
        19_200 => BaudRate::B19200,
        38_400 => BaudRate::B38400,
        57_600 => BaudRate::B57600,
        _ => BaudRate::B115200,
    }
}

fn set_raw(fd: impl AsFd, baud: Option<u32>) -> nix::Result<()> {
    let mut t = termios::tcgetattr(&fd)?;
    termios::cfmakeraw(&mut t);
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
    t.control_flags &= !ControlFlags::CRTSCTS;
    if let Some(b) = baud {
        termios::cfsetspeed(&mut t, baud_rate(b))?;
    }
    termios::tcsetattr(&fd, SetArg::TCSANOW, &t)
}

/// Registers `f` with the reactor. `AsyncFd::new` is deprecated for I/O safety (an fd closed
/// behind the reactor's back); here the `AsyncFd` owns the `File`, so nothing else can close it,
/// and the safe-code rule of the workspace rules out `AsyncFd::register`.
#[allow(deprecated)]
fn async_file(f: File) -> std::io::Result<AsyncFd<File>> {
    AsyncFd::new(f)
}

enum End {
    Gone(std::io::Error),
    Stop,
}

struct State {
    driver: PanelDriver,
    writer: ScreenWriter,
    current: Option<Screen>,
    stale: bool,
    backlight: Option<u8>,
}

/// Pending commands above which a new screen waits (only the newest is kept).
const BEHIND: usize = 8;

async fn run(
    cfg: PanelConfig,
    mut rx: mpsc::Receiver<Request>,
    keys: mpsc::Sender<KeyEvent>,
    connected: watch::Sender<bool>,
    cancel: CancellationToken,
) {
    let span = tracing::info_span!("panel", path = %cfg.path.display());
    let _g = span.enter();
    let mut st = State {
        driver: cfg.model.driver(&cfg.link),
        writer: ScreenWriter::new(),
        current: None,
        stale: false,
        backlight: None,
    };
    let mut absent_logged = false;
    loop {
        let line = open_line(&cfg.path, cfg.model.baud()).and_then(async_file);
        match line {
            Ok(fd) => {
                tracing::info!(baud = cfg.model.baud(), "panel connected");
                connected.send_replace(true);
                let end = session(&fd, &mut st, &mut rx, &keys, &cancel).await;
                connected.send_replace(false);
                match end {
                    End::Stop => return,
                    End::Gone(e) => {
                        tracing::warn!(error = %e, "panel gone; will reconnect");
                        absent_logged = true;
                    }
                }
            }
            Err(e) => {
                if !absent_logged {
                    tracing::warn!(error = %e, "panel absent; the box runs on and retries");
                    absent_logged = true;
                }
            }
        }
        // Wait before retrying; keep taking requests so senders never block.
        let retry = tokio::time::sleep(cfg.reconnect_interval);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut retry => break,
                req = rx.recv() => match req {
                    None => return,
                    Some(Request::Show(s)) => st.current = Some(s),
                    Some(Request::Backlight(b)) => st.backlight = Some(b),
                },
            }
        }
    }
}

async fn write_all(fd: &AsyncFd<File>, mut bytes: &[u8]) -> std::io::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !bytes.is_empty() {
        let mut g = tokio::time::timeout_at(deadline, fd.writable())
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "panel write stalled")
            })??;
        match g.try_io(|f| f.get_ref().write(bytes)) {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

fn draw(st: &mut State) {
    if let Some(s) = st.current.as_ref() {
        if let Err(e) = st.writer.draw(&mut st.driver, s) {
            tracing::debug!(error = %e, "screen not queued; will redraw");
            st.stale = true;
            return;
        }
    }
    st.stale = false;
}

async fn session(
    fd: &AsyncFd<File>,
    st: &mut State,
    rx: &mut mpsc::Receiver<Request>,
    keys: &mpsc::Sender<KeyEvent>,
    cancel: &CancellationToken,
) -> End {
    st.driver.reset();
    st.writer.invalidate();
    if let Some(b) = st.backlight {
        let _ = st.driver.set_backlight(b);
    }
    st.stale = st.current.is_some();
    let mut buf = [0u8; 512];
    loop {
        if st.stale && st.driver.pending() < BEHIND {
            draw(st);
        }
        let now = Instant::now();
        // Bounded: each transmit is one queued command (or the MO output buffer).
        while let Some(bytes) = st.driver.poll_transmit(now) {
            if let Err(e) = write_all(fd, &bytes).await {
                return End::Gone(e);
            }
        }
        while let Some(k) = st.driver.poll_key() {
            if keys.try_send(k).is_err() {
                tracing::debug!(?k, "key dropped: nobody reading");
            }
        }
        let deadline = st.driver.poll_timeout();
        let sleep = tokio::time::sleep_until(
            deadline
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
        );
        tokio::select! {
            _ = cancel.cancelled() => return End::Stop,
            r = fd.readable() => {
                let mut g = match r {
                    Ok(g) => g,
                    Err(e) => return End::Gone(e),
                };
                match g.try_io(|f| f.get_ref().read(&mut buf)) {
                    Ok(Ok(0)) => return End::Gone(std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(Ok(n)) => st.driver.handle_bytes(Instant::now(), &buf[..n]),
                    Ok(Err(e)) => return End::Gone(e),
                    Err(_would_block) => {}
                }
            }
            req = rx.recv() => match req {
                None => return End::Stop,
                Some(Request::Show(s)) => {
                    st.current = Some(s);
                    st.stale = true;
                }
                Some(Request::Backlight(b)) => {
                    st.backlight = Some(b);
                    let _ = st.driver.set_backlight(b);
                }
            },
            _ = sleep, if deadline.is_some() => st.driver.handle_timeout(Instant::now()),
        }
    }
}

/// A pty pair for a software panel: the panel reads and writes `master`; the box opens `path`.
#[derive(Debug)]
pub struct Pty {
    /// The panel's side.
    pub master: OwnedFd,
    /// Kept open so the master does not see a hang-up while the box reconnects.
    pub slave: OwnedFd,
    /// The slave's path, e.g. `/dev/pts/3`.
    pub path: PathBuf,
}

/// Opens a pty pair with the slave in raw mode.
pub fn open_pty() -> std::io::Result<Pty> {
    let p = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
    set_raw(&p.slave, None).map_err(std::io::Error::from)?;
    let path = nix::unistd::ttyname(&p.slave).map_err(std::io::Error::from)?;
    Ok(Pty {
        master: p.master,
        slave: p.slave,
        path,
    })
}

/// Locks, ignoring poisoning (the panel state stays usable).
pub fn lock(p: &Mutex<SoftPanel>) -> std::sync::MutexGuard<'_, SoftPanel> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves `panel` on a pty master until `cancel` fires. Inject keys by calling
/// [`SoftPanel::tap`] under the lock and then `kick.notify_one()`. `changed` is bumped whenever
/// the screen or backlight changed.
pub async fn serve_soft_panel(
    master: OwnedFd,
    panel: Arc<Mutex<SoftPanel>>,
    kick: Arc<Notify>,
    changed: watch::Sender<u64>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK | OFlag::O_RDWR),
    )
    .map_err(std::io::Error::from)?;
    let fd = async_file(File::from(master))?;
    let mut buf = [0u8; 512];
    loop {
        let out = lock(&panel).poll_transmit();
        if let Some(bytes) = out {
            write_all(&fd, &bytes).await?;
        }
        if lock(&panel).take_dirty() {
            changed.send_modify(|n| *n += 1);
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = kick.notified() => {}
            r = fd.readable() => {
                let mut g = r?;
                match g.try_io(|f| f.get_ref().read(&mut buf)) {
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(n)) => lock(&panel).handle_bytes(&buf[..n]),
                    // EIO: no slave open right now (we keep one, so rare); retry shortly.
                    Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => {
                        g.clear_ready();
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => {}
                }
            }
        }
    }
}
