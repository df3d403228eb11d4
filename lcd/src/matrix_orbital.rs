//! Matrix Orbital text protocol (LK/GLK/VK series), the second panel driver.
//!
//! # Format
//!
//! Text is sent as plain bytes; commands start with 0xFE:
//!
//! | command | bytes |
//! |---|---|
//! | clear screen | `FE 58` |
//! | go home | `FE 48` |
//! | set cursor (1-based col, row) | `FE 47 col row` |
//! | backlight on for `minutes` (0 = stay on) | `FE 42 minutes` |
//! | backlight off | `FE 46` |
//!
//! There are no replies, so there are no retries or timeouts. Keys arrive as single bytes; a
//! keypad sends one byte per press (no release). The driver reports a press and a synthesised
//! release for each byte so menus see the same events as from a Crystalfontz module.
//!
//! # Key mapping
//!
//! Matrix Orbital keypads send 'A'..='Y' by their row/column wiring. The default
//! [`MoKeymap`] follows the common 6-key layout on LK/GLK modules:
//! `'B'` up, `'H'` down, `'D'` left, `'C'` right, `'E'` enter, `'A'` exit. Any byte can be
//! remapped with [`MoKeymap::set`]; unmapped bytes are ignored.

use crate::{Key, KeyEvent, Panel, PanelError};
use std::collections::VecDeque;
use std::time::Instant;

/// Command prefix.
pub const PREFIX: u8 = 0xFE;

/// Byte → key mapping for the keypad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoKeymap {
    map: Vec<(u8, Key)>,
}

impl Default for MoKeymap {
    fn default() -> Self {
        MoKeymap {
            map: vec![
                (b'B', Key::Up),
                (b'H', Key::Down),
                (b'D', Key::Left),
                (b'C', Key::Right),
                (b'E', Key::Enter),
                (b'A', Key::Exit),
            ],
        }
    }
}

impl MoKeymap {
    /// An empty map.
    pub fn empty() -> Self {
        MoKeymap { map: Vec::new() }
    }
    /// Maps `byte` to `key` (replacing an earlier mapping of that byte).
    pub fn set(&mut self, byte: u8, key: Key) -> &mut Self {
        self.map.retain(|(b, _)| *b != byte);
        self.map.push((byte, key));
        self
    }
    /// The key for `byte`.
    pub fn get(&self, byte: u8) -> Option<Key> {
        self.map.iter().find(|(b, _)| *b == byte).map(|(_, k)| *k)
    }
}

/// Encodes "clear screen".
pub fn clear() -> [u8; 2] {
    [PREFIX, 0x58]
}
/// Encodes "go home".
pub fn home() -> [u8; 2] {
    [PREFIX, 0x48]
}
/// Encodes "set cursor" from 0-based (col, row) to the wire's 1-based values.
pub fn set_cursor(col: u8, row: u8) -> [u8; 4] {
    [PREFIX, 0x47, col.saturating_add(1), row.saturating_add(1)]
}
/// Encodes "backlight on" (`minutes` 0 = stay on).
pub fn backlight_on(minutes: u8) -> [u8; 3] {
    [PREFIX, 0x42, minutes]
}
/// Encodes "backlight off".
pub fn backlight_off() -> [u8; 2] {
    [PREFIX, 0x46]
}

/// Matrix Orbital driver.
#[derive(Debug)]
pub struct MatrixOrbital {
    size: (u8, u8),
    keymap: MoKeymap,
    out: Vec<u8>,
    keys: VecDeque<KeyEvent>,
}

/// Bytes that may wait for the line before output is dropped (a screen is ~100 bytes).
const MAX_OUT: usize = 4096;
const MAX_KEYS: usize = 64;

impl MatrixOrbital {
    /// A driver for a `cols` x `rows` module with `keymap`.
    pub fn new(cols: u8, rows: u8, keymap: MoKeymap) -> Self {
        MatrixOrbital {
            size: (cols, rows),
            keymap,
            out: Vec::new(),
            keys: VecDeque::new(),
        }
    }

    fn queue(&mut self, bytes: &[u8]) {
        if self.out.len() + bytes.len() <= MAX_OUT {
            self.out.extend_from_slice(bytes);
        } else {
            tracing::debug!("matrix orbital output full, dropping");
        }
    }
}

impl Panel for MatrixOrbital {
    fn size(&self) -> (u8, u8) {
        self.size
    }
    fn clear(&mut self) -> Result<(), PanelError> {
        self.queue(&clear());
        Ok(())
    }
    fn write_text(&mut self, col: u8, row: u8, text: &[u8]) -> Result<(), PanelError> {
        self.queue(&set_cursor(col, row));
        // Keep 0xFE and control bytes out of the text: they would start commands.
        let clean: Vec<u8> = text
            .iter()
            .map(|&b| if (0x20..0x7F).contains(&b) { b } else { b'?' })
            .collect();
        self.queue(&clean);
        Ok(())
    }
    fn set_backlight(&mut self, percent: u8) -> Result<(), PanelError> {
        if percent == 0 {
            self.queue(&backlight_off());
        } else {
            self.queue(&backlight_on(0));
        }
        Ok(())
    }
    fn handle_bytes(&mut self, _now: Instant, bytes: &[u8]) {
        for &b in bytes {
            if let Some(key) = self.keymap.get(b) {
                if self.keys.len() + 2 > MAX_KEYS {
                    self.keys.pop_front();
                    self.keys.pop_front();
                }
                self.keys.push_back(KeyEvent::press(key));
                self.keys.push_back(KeyEvent::release(key));
            }
        }
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_key(&mut self) -> Option<KeyEvent> {
        self.keys.pop_front()
    }
    fn reset(&mut self) {
        self.out.clear();
    }
    fn pending(&self) -> usize {
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn byte_sequences() {
        let now = Instant::now();
        let mut mo = MatrixOrbital::new(20, 4, MoKeymap::default());
        mo.clear().unwrap();
        mo.write_text(0, 0, b"Hi").unwrap();
        mo.write_text(19, 3, b"\xFEx").unwrap();
        mo.set_backlight(80).unwrap();
        mo.set_backlight(0).unwrap();
        assert_eq!(
            mo.poll_transmit(now).unwrap(),
            vec![
                0xFE, 0x58, // clear
                0xFE, 0x47, 1, 1, b'H', b'i', // cursor (1,1) + text
                0xFE, 0x47, 20, 4, b'?', b'x', // cursor (20,4), 0xFE replaced
                0xFE, 0x42, 0, // backlight on, no timeout
                0xFE, 0x46, // backlight off
            ]
        );
        assert_eq!(mo.poll_transmit(now), None);
        assert_eq!(home(), [0xFE, 0x48]);
    }

    #[test]
    fn keys_default_and_remapped() {
        let now = Instant::now();
        let mut mo = MatrixOrbital::new(20, 4, MoKeymap::default());
        mo.handle_bytes(now, b"BZE");
        let got: Vec<_> = std::iter::from_fn(|| mo.poll_key()).collect();
        assert_eq!(
            got,
            vec![
                KeyEvent::press(Key::Up),
                KeyEvent::release(Key::Up),
                KeyEvent::press(Key::Enter),
                KeyEvent::release(Key::Enter)
            ]
        );
        let mut map = MoKeymap::empty();
        map.set(b'Y', Key::Exit);
        let mut mo = MatrixOrbital::new(20, 4, map);
        mo.handle_bytes(now, b"AY");
        assert_eq!(mo.poll_key(), Some(KeyEvent::press(Key::Exit)));
        assert_eq!(mo.poll_key(), Some(KeyEvent::release(Key::Exit)));
        assert_eq!(mo.poll_key(), None);
    }
}
