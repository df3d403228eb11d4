//! `ivm-panel`: a software Crystalfontz panel on a pty.
//!
//! Prints the pty path (first line of stdout) so the box can be pointed at it, draws the screen
//! in the terminal and sends arrow keys, Enter and Esc as key reports. `q` or Ctrl-C quits.
//!
//! ```text
//! ivm-panel [--model 635|633|631|533] [--link PATH]
//! ```
//! `--link PATH` also makes PATH a symlink to the pty, so a config can name a fixed path.

use anyhow::Context;
use ivm_lcd::io::{lock, open_pty, serve_soft_panel};
use ivm_lcd::software::{terminal_keys, TermInput};
use ivm_lcd::{CfaModel, SoftPanel};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

/// Restores the terminal on drop.
struct RawGuard(Termios);

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
        print!("\x1b[?25h\r\n");
        let _ = std::io::stdout().flush();
    }
}

fn main() -> anyhow::Result<()> {
    let mut model = CfaModel::Cfa635;
    let mut link: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => {
                model = match args.next().as_deref() {
                    Some("533") => CfaModel::Cfa533,
                    Some("631") => CfaModel::Cfa631,
                    Some("633") => CfaModel::Cfa633,
                    Some("635") => CfaModel::Cfa635,
                    other => anyhow::bail!("unknown model {other:?}"),
                }
            }
            "--link" => link = args.next().map(Into::into),
            _ => anyhow::bail!("usage: ivm-panel [--model 635|633|631|533] [--link PATH]"),
        }
    }
    let pty = open_pty().context("open pty")?;
    println!("{}", pty.path.display());
    std::io::stdout().flush()?;
    if let Some(l) = &link {
        let _ = std::fs::remove_file(l);
        std::os::unix::fs::symlink(&pty.path, l).context("symlink")?;
    }
    let tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let _guard = if tty {
        let old = termios::tcgetattr(std::io::stdin())?;
        let mut raw = old.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw)?;
        print!("\x1b[2J\x1b[?25l");
        Some(RawGuard(old))
    } else {
        None
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(async move {
        let panel = Arc::new(Mutex::new(SoftPanel::new(model)));
        let kick = Arc::new(Notify::new());
        let (changed_tx, mut changed) = watch::channel(0u64);
        let cancel = CancellationToken::new();
        let path = pty.path.clone();
        let server = tokio::spawn(serve_soft_panel(
            pty.master,
            panel.clone(),
            kick.clone(),
            changed_tx,
            cancel.clone(),
        ));
        let _slave = pty.slave;
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        if tty {
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let mut stdin = std::io::stdin();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 || in_tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
        } else {
            // Keep the channel open: run until a signal.
            std::mem::forget(in_tx);
        }
        let draw = |p: &SoftPanel| {
            if tty {
                print!("{}pty: {}\x1b[K\r\n", p.render_ansi(), path.display());
                let _ = std::io::stdout().flush();
            }
        };
        draw(&lock(&panel));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                r = changed.changed() => {
                    if r.is_err() { break; }
                    draw(&lock(&panel));
                }
                bytes = in_rx.recv() => {
                    let Some(bytes) = bytes else { break };
                    for input in terminal_keys(&bytes) {
                        match input {
                            TermInput::Quit => { cancel.cancel(); }
                            TermInput::Key(k) => { lock(&panel).tap(k); kick.notify_one(); }
                        }
                    }
                    if cancel.is_cancelled() { break; }
                }
            }
        }
        cancel.cancel();
        server.await?.context("panel line")
    });
    if let Some(l) = &link {
        let _ = std::fs::remove_file(l);
    }
    res
}
