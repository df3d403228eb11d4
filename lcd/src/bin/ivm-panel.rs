//! `ivm-panel`: a software Crystalfontz panel on a pty.
//!
//! Prints the pty path (first line of stdout) so the box can be pointed at it, draws the screen
//! in the terminal and sends arrow keys, Enter and Esc as key reports. `q` or Ctrl-C quits.
//!
//! ```text
//! ivm-panel [--model 635|633|631|533] [--link PATH] [--plain]
//! ```
//! `--link PATH` also makes PATH a symlink to the pty, so a config can name a fixed path.
//! `--plain` is for scripts (scripts/boot-image drives the box's panel with it): keys are read
//! from stdin even when it is not a terminal, and each new screen is printed as one line,
//! `screen: <line 1> | <line 2> | ...`, instead of being drawn.

use anyhow::Context;
use ivm_lcd::io::lock;
use ivm_lcd::soft_pty::SoftPty;
use ivm_lcd::software::{terminal_keys, TermInput};
use ivm_lcd::{CfaModel, SoftPanel};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use tokio::sync::mpsc;

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
    let mut plain = false;
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
            "--plain" => plain = true,
            _ => {
                anyhow::bail!("usage: ivm-panel [--model 635|633|631|533] [--link PATH] [--plain]")
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut soft = {
        let _in_runtime = rt.enter();
        SoftPty::start(model).context("open pty")?
    };
    let path = soft.path.clone();
    println!("{}", path.display());
    std::io::stdout().flush()?;
    if let Some(l) = &link {
        let _ = std::fs::remove_file(l);
        std::os::unix::fs::symlink(&path, l).context("symlink")?;
    }
    let tty = !plain && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
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

    let res = rt.block_on(async move {
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        if tty || plain {
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
        let mut last = Vec::new();
        let mut draw = |p: &SoftPanel| {
            if plain {
                let lines = p.lines();
                if lines != last {
                    println!("screen: {}", lines.join(" | "));
                    let _ = std::io::stdout().flush();
                    last = lines;
                }
            } else if tty {
                print!("{}pty: {}\x1b[K\r\n", p.render_ansi(), path.display());
                let _ = std::io::stdout().flush();
            }
        };
        draw(&lock(&soft.panel));
        let stopped = soft.cancel_token();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = stopped.cancelled() => break,
                r = soft.changed.changed() => {
                    if r.is_err() { break; }
                    draw(&lock(&soft.panel));
                }
                bytes = in_rx.recv() => {
                    let Some(bytes) = bytes else { break };
                    if terminal_keys(&bytes).into_iter().any(|input| match input {
                        TermInput::Quit => true,
                        TermInput::Key(k) => { soft.tap(k); false }
                    }) {
                        break;
                    }
                }
            }
        }
        soft.stop().await.context("panel line")
    });
    if let Some(l) = &link {
        let _ = std::fs::remove_file(l);
    }
    res
}
