//! Front-panel LCD driver for the IVM appliance.
//!
//! # Layout
//!
//! - [`crc`]: CRC-16 X.25 as the Crystalfontz modules use it.
//! - [`cfa`]: the Crystalfontz packet protocol (CFA-533/631/633/635): frames, a resynchronising
//!   decoder, commands, key reports, model metadata, and [`cfa::Link`], the sans-IO host side
//!   (command queue, one outstanding command, reply matching, retries on a reply timeout).
//! - [`matrix_orbital`]: the Matrix Orbital text protocol (0xFE commands, keys as single bytes).
//! - [`Panel`] / [`PanelDriver`]: one face over both drivers (write text at, clear, backlight,
//!   keys as events; bytes and `now` in, bytes and timeouts out).
//! - [`screen`]: a text frame buffer and the diff that turns a new screen into the few
//!   send-text commands that change what the module shows.
//! - [`software`]: [`software::SoftPanel`], the device side of a CFA-635 (bytes in → screen
//!   state and replies out), used by the `ivm-panel` binary and the tests.
//! - [`menu`]: the installer's menus, sans-IO: keys and a status snapshot in, screens and
//!   actions out.
//! - [`soft_pty`]: a software panel served on a new pty (`ivm-panel`, tests).
//! - [`io`]: the only part with tokio: opens the serial device or pty at the model's baud, runs
//!   the driver, reconnects when the device comes back, and hands out key events.
//!
//! # Run loop
//!
//! ```text
//! let (handle, mut keys, task) = io::spawn(PanelConfig::new(path, PanelModel::Cfa(CfaModel::Cfa635)), cancel);
//! handle.show(screen).await;               // diffed into send-text commands
//! while let Some(key) = keys.recv().await { ... }
//! ```
//!
//! Everything but `io` is sans-IO: no sockets, no clock; tests drive it with a virtual clock.

pub mod cfa;
pub mod crc;
pub mod io;
pub mod matrix_orbital;
pub mod menu;
pub mod screen;
pub mod soft_pty;
pub mod software;

use std::time::Instant;

pub use cfa::{CfaModel, Link, LinkConfig, LinkEvent};
pub use matrix_orbital::{MatrixOrbital, MoKeymap};
pub use screen::{Screen, ScreenWriter, TextRun};
pub use software::SoftPanel;

/// The six keys of the front panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Left arrow.
    Left,
    /// Right arrow.
    Right,
    /// Enter / check mark.
    Enter,
    /// Exit / cancel (X).
    Exit,
}

/// A key going down (`pressed`) or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyEvent {
    /// Which key.
    pub key: Key,
    /// `true` on press, `false` on release. Menus should act on presses.
    pub pressed: bool,
}

impl KeyEvent {
    /// A press of `key`.
    pub fn press(key: Key) -> Self {
        KeyEvent { key, pressed: true }
    }
    /// A release of `key`.
    pub fn release(key: Key) -> Self {
        KeyEvent {
            key,
            pressed: false,
        }
    }
}

/// Errors from a [`Panel`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PanelError {
    /// The Crystalfontz link refused the command.
    #[error(transparent)]
    Link(#[from] cfa::LinkError),
}

/// Replaces what a character LCD cannot show: anything but printable ASCII becomes `?`.
pub fn sanitize(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

/// What a panel driver does, whichever protocol it speaks. Sans-IO.
pub trait Panel {
    /// (columns, rows).
    fn size(&self) -> (u8, u8);
    /// Clears the screen.
    fn clear(&mut self) -> Result<(), PanelError>;
    /// Writes printable ASCII at (col, row), 0-based.
    fn write_text(&mut self, col: u8, row: u8, text: &[u8]) -> Result<(), PanelError>;
    /// Backlight 0 (off) ..= 100.
    fn set_backlight(&mut self, percent: u8) -> Result<(), PanelError>;
    /// Bytes read from the line.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]);
    /// Bytes to write to the line.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When to call [`Panel::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// Advances timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The next key event.
    fn poll_key(&mut self) -> Option<KeyEvent>;
    /// Forgets queued output and partial input (after reopening the line).
    fn reset(&mut self);
    /// Commands queued or awaiting a reply (0 for protocols without replies).
    fn pending(&self) -> usize;
}

/// A Crystalfontz module behind [`Panel`].
#[derive(Debug)]
pub struct CfaPanel {
    /// The protocol link.
    pub link: Link,
    model: CfaModel,
    failures: u64,
}

impl CfaPanel {
    /// A driver for `model`.
    pub fn new(model: CfaModel, cfg: LinkConfig) -> Self {
        CfaPanel {
            link: Link::new(cfg),
            model,
            failures: 0,
        }
    }
    /// The model.
    pub fn model(&self) -> CfaModel {
        self.model
    }
    /// Commands that were refused or timed out.
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

impl Panel for CfaPanel {
    fn size(&self) -> (u8, u8) {
        self.model.size()
    }
    fn clear(&mut self) -> Result<(), PanelError> {
        self.link.send(&cfa::Command::Clear)?;
        Ok(())
    }
    fn write_text(&mut self, col: u8, row: u8, text: &[u8]) -> Result<(), PanelError> {
        for (i, chunk) in text.chunks(cfa::MAX_TEXT).enumerate() {
            let c = col.saturating_add((i * cfa::MAX_TEXT).min(255) as u8);
            self.link.send(&cfa::Command::SendText {
                col: c,
                row,
                text: chunk.to_vec(),
            })?;
        }
        Ok(())
    }
    fn set_backlight(&mut self, percent: u8) -> Result<(), PanelError> {
        self.link.send(&cfa::Command::Backlight(percent.min(100)))?;
        Ok(())
    }
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.link.handle_bytes(now, bytes)
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.link.poll_transmit(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now)
    }
    fn poll_key(&mut self) -> Option<KeyEvent> {
        // Bounded: each turn removes one event.
        while let Some(ev) = self.link.poll_event() {
            match ev {
                LinkEvent::Key(k) => return Some(k),
                LinkEvent::Rejected { id, data } => {
                    self.failures += 1;
                    tracing::debug!(id, ?data, "panel refused a command");
                }
                LinkEvent::TimedOut { id, code } => {
                    self.failures += 1;
                    tracing::debug!(id, code, "panel did not answer");
                }
                LinkEvent::Reply { .. } | LinkEvent::Report(_) => {}
            }
        }
        None
    }
    fn reset(&mut self) {
        self.link.reset()
    }
    fn pending(&self) -> usize {
        self.link.pending()
    }
}

/// Either driver, chosen by configuration.
#[derive(Debug)]
pub enum PanelDriver {
    /// Crystalfontz packet protocol.
    Cfa(CfaPanel),
    /// Matrix Orbital text protocol.
    MatrixOrbital(MatrixOrbital),
}

macro_rules! each {
    ($s:expr, $p:ident => $e:expr) => {
        match $s {
            PanelDriver::Cfa($p) => $e,
            PanelDriver::MatrixOrbital($p) => $e,
        }
    };
}

impl Panel for PanelDriver {
    fn size(&self) -> (u8, u8) {
        each!(self, p => p.size())
    }
    fn clear(&mut self) -> Result<(), PanelError> {
        each!(self, p => p.clear())
    }
    fn write_text(&mut self, col: u8, row: u8, text: &[u8]) -> Result<(), PanelError> {
        each!(self, p => p.write_text(col, row, text))
    }
    fn set_backlight(&mut self, percent: u8) -> Result<(), PanelError> {
        each!(self, p => p.set_backlight(percent))
    }
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        each!(self, p => p.handle_bytes(now, bytes))
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        each!(self, p => p.poll_transmit(now))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        each!(self, p => p.poll_timeout())
    }
    fn handle_timeout(&mut self, now: Instant) {
        each!(self, p => p.handle_timeout(now))
    }
    fn poll_key(&mut self) -> Option<KeyEvent> {
        each!(self, p => p.poll_key())
    }
    fn reset(&mut self) {
        each!(self, p => p.reset())
    }
    fn pending(&self) -> usize {
        each!(self, p => p.pending())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_non_ascii() {
        assert_eq!(sanitize("a\u{e9}b\tc~"), b"a?b?c~".to_vec());
    }
}
