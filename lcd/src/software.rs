//! The device side of a Crystalfontz module, sans-IO: a software CFA-635.
//!
//! [`SoftPanel`] takes the bytes the host writes, keeps the screen, cursor and backlight state
//! a real module would, and queues the replies (`0x40 | code`, or `0xC0 | code` for a command
//! it refuses) and key reports it would send. The `ivm-panel` binary puts it on a pty and draws
//! it in the terminal; tests drive it in memory or through a pty.
//!
//! Supported: ping (0, echo), version (1), clear (6), cursor position (11), cursor style (12),
//! backlight (14), send text (31). Other codes and malformed data get an error reply.

use crate::cfa::{code, key_report, CfaModel, CursorStyle, Decoder, Frame, PacketKind, MAX_DATA};
use crate::{Key, KeyEvent};

/// Bytes of replies and reports that may wait before the oldest output is dropped.
const MAX_OUT: usize = 8192;

/// A software Crystalfontz module (see the module doc).
#[derive(Debug)]
pub struct SoftPanel {
    model: CfaModel,
    cols: u8,
    rows: u8,
    cells: Vec<u8>,
    cursor: (u8, u8),
    cursor_style: u8,
    backlight: u8,
    decoder: Decoder,
    out: Vec<u8>,
    commands: u64,
    errors: u64,
    dirty: bool,
    /// Commands to ignore (no reply) from now on: a knob for the host's retry tests.
    pub drop_next: u32,
}

impl SoftPanel {
    /// A panel of `model` with a blank screen and full backlight.
    pub fn new(model: CfaModel) -> Self {
        let (cols, rows) = model.size();
        SoftPanel {
            model,
            cols,
            rows,
            cells: vec![b' '; usize::from(cols) * usize::from(rows)],
            cursor: (0, 0),
            cursor_style: 0,
            backlight: 100,
            decoder: Decoder::new(),
            out: Vec::new(),
            commands: 0,
            errors: 0,
            dirty: true,
            drop_next: 0,
        }
    }

    /// The model it plays.
    pub fn model(&self) -> CfaModel {
        self.model
    }

    /// Bytes from the host.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
        while let Some(f) = self.decoder.next_frame() {
            if f.kind() != PacketKind::Command {
                continue;
            }
            self.commands += 1;
            if self.drop_next > 0 {
                self.drop_next -= 1;
                continue;
            }
            match self.execute(&f) {
                Ok(data) => self.emit(PacketKind::Reply, f.code(), &data),
                Err(()) => {
                    self.errors += 1;
                    self.emit(PacketKind::Error, f.code(), &[]);
                }
            }
        }
    }

    fn execute(&mut self, f: &Frame) -> Result<Vec<u8>, ()> {
        let d = &f.data;
        match f.code() {
            code::PING => {
                if d.len() > 16 {
                    return Err(());
                }
                Ok(d.clone())
            }
            code::VERSION => Ok(format!("{}:h1.0,v1.0", self.model.name()).into_bytes()),
            code::CLEAR => {
                self.cells.fill(b' ');
                self.cursor = (0, 0);
                self.dirty = true;
                Ok(Vec::new())
            }
            code::CURSOR_POSITION => {
                if d.len() != 2 || d[0] >= self.cols || d[1] >= self.rows {
                    return Err(());
                }
                self.cursor = (d[0], d[1]);
                self.dirty = true;
                Ok(Vec::new())
            }
            code::CURSOR_STYLE => {
                if d.len() != 1 || d[0] > CursorStyle::BlinkingUnderscore as u8 + 1 {
                    return Err(());
                }
                self.cursor_style = d[0];
                self.dirty = true;
                Ok(Vec::new())
            }
            code::BACKLIGHT => {
                if d.is_empty() || d.len() > 2 || d[0] > 100 {
                    return Err(());
                }
                self.backlight = d[0];
                self.dirty = true;
                Ok(Vec::new())
            }
            code::SEND_TEXT => {
                if d.len() < 2 || d.len() > MAX_DATA || d[0] >= self.cols || d[1] >= self.rows {
                    return Err(());
                }
                let (col, row) = (usize::from(d[0]), usize::from(d[1]));
                let start = row * usize::from(self.cols);
                let line = &mut self.cells[start..start + usize::from(self.cols)];
                // Text past the right edge is dropped, as on the module.
                for (i, &b) in d[2..].iter().enumerate() {
                    if col + i < line.len() {
                        line[col + i] = b;
                    }
                }
                self.dirty = true;
                Ok(Vec::new())
            }
            _ => Err(()),
        }
    }

    fn emit(&mut self, kind: PacketKind, code: u8, data: &[u8]) {
        let Ok(frame) = Frame::new(kind, code, data.to_vec()) else {
            return;
        };
        let bytes = frame.encode();
        if self.out.len() + bytes.len() > MAX_OUT {
            return;
        }
        self.out.extend_from_slice(&bytes);
    }

    /// Queues the key report for `ev`.
    pub fn key(&mut self, ev: KeyEvent) {
        let bytes = key_report(ev).encode();
        if self.out.len() + bytes.len() <= MAX_OUT {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Queues a press and a release of `key`.
    pub fn tap(&mut self, key: Key) {
        self.key(KeyEvent::press(key));
        self.key(KeyEvent::release(key));
    }

    /// Queues raw bytes for the host as if the line carried them (line noise, a truncated
    /// frame): for tests that the host's driver rides over them.
    pub fn inject_raw(&mut self, bytes: &[u8]) {
        if self.out.len() + bytes.len() <= MAX_OUT {
            self.out.extend_from_slice(bytes);
        }
    }

    /// Bytes for the host, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The screen rows as strings.
    pub fn lines(&self) -> Vec<String> {
        self.cells
            .chunks(usize::from(self.cols))
            .map(|r| {
                r.iter()
                    .map(|&b| {
                        if (0x20..0x7F).contains(&b) {
                            b as char
                        } else {
                            '?'
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Cursor (col, row).
    pub fn cursor(&self) -> (u8, u8) {
        self.cursor
    }

    /// Cursor style code (0 = hidden).
    pub fn cursor_style(&self) -> u8 {
        self.cursor_style
    }

    /// Backlight 0..=100.
    pub fn backlight(&self) -> u8 {
        self.backlight
    }

    /// Commands received (good CRC).
    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Commands refused with an error reply.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// `true` once if the screen changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The panel drawn with ANSI escapes: a frame, the rows, the backlight level. Starts with
    /// "cursor home" so it can be printed over the previous drawing.
    pub fn render_ansi(&self) -> String {
        let w = usize::from(self.cols);
        let (on, off) = if self.backlight > 0 {
            ("\x1b[30;42m", "\x1b[0m")
        } else {
            ("\x1b[37;40m", "\x1b[0m")
        };
        let mut s = String::from("\x1b[H");
        s.push_str(&format!("+{}+\r\n", "-".repeat(w)));
        for line in self.lines() {
            s.push_str(&format!("|{on}{line}{off}|\r\n"));
        }
        s.push_str(&format!("+{}+\r\n", "-".repeat(w)));
        s.push_str(&format!(
            "{} backlight {:3}%  arrows/Enter/Esc, q quits\x1b[K\r\n",
            self.model.name(),
            self.backlight
        ));
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cfa::Command;

    fn run(p: &mut SoftPanel, c: Command) -> Frame {
        p.handle_bytes(&c.to_frame().unwrap().encode());
        let out = p.poll_transmit().unwrap();
        Frame::parse(&out).unwrap().0
    }

    #[test]
    fn answers_like_a_module() {
        let mut p = SoftPanel::new(CfaModel::Cfa635);
        let r = run(&mut p, Command::Ping(b"ab".to_vec()));
        assert_eq!((r.ty, r.data.as_slice()), (0x40, &b"ab"[..]));
        let r = run(
            &mut p,
            Command::SendText {
                col: 18,
                row: 3,
                text: b"xyz".to_vec(),
            },
        );
        assert_eq!(r.ty, 0x40 | 31);
        assert_eq!(p.lines()[3], format!("{}xy", " ".repeat(18)));
        let r = run(
            &mut p,
            Command::SendText {
                col: 0,
                row: 4,
                text: b"x".to_vec(),
            },
        );
        assert_eq!(r.ty, 0xC0 | 31);
        let r = run(&mut p, Command::Backlight(30));
        assert_eq!(r.ty, 0x4E);
        assert_eq!(p.backlight(), 30);
        let r = run(&mut p, Command::CursorPosition { col: 3, row: 2 });
        assert_eq!(r.ty, 0x4B);
        assert_eq!(p.cursor(), (3, 2));
        let r = run(&mut p, Command::Clear);
        assert_eq!(r.ty, 0x46);
        assert_eq!(p.lines()[3], " ".repeat(20));
        let r = run(
            &mut p,
            Command::Raw {
                code: 50,
                data: vec![],
            },
        );
        assert_eq!(r.ty, 0xC0 | 50);
        assert!(p.render_ansi().contains("CFA635"));
    }
}

/// What a terminal keystroke means to the software panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermInput {
    /// A panel key (tapped: press and release).
    Key(Key),
    /// Quit the software panel (`q` or Ctrl-C).
    Quit,
}

/// Maps terminal input (raw mode) to panel keys: arrows (`ESC [ A..D` or `ESC O A..D`), Enter
/// (CR or LF), Esc (a lone ESC at the end of a read, as terminals send arrows in one write),
/// `q`/Ctrl-C to quit. Other bytes are ignored.
pub fn terminal_keys(bytes: &[u8]) -> Vec<TermInput> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1B if i + 2 < bytes.len() && (bytes[i + 1] == b'[' || bytes[i + 1] == b'O') => {
                let k = match bytes[i + 2] {
                    b'A' => Some(Key::Up),
                    b'B' => Some(Key::Down),
                    b'C' => Some(Key::Right),
                    b'D' => Some(Key::Left),
                    _ => None,
                };
                out.extend(k.map(TermInput::Key));
                i += 3;
                continue;
            }
            0x1B => out.push(TermInput::Key(Key::Exit)),
            b'\r' | b'\n' => out.push(TermInput::Key(Key::Enter)),
            b'q' | 0x03 => out.push(TermInput::Quit),
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod term_tests {
    use super::*;

    #[test]
    fn arrows_enter_esc() {
        assert_eq!(
            terminal_keys(b"\x1b[A\x1bOB\x1b[C\x1b[D\r\x1bq"),
            vec![
                TermInput::Key(Key::Up),
                TermInput::Key(Key::Down),
                TermInput::Key(Key::Right),
                TermInput::Key(Key::Left),
                TermInput::Key(Key::Enter),
                TermInput::Key(Key::Exit),
                TermInput::Quit
            ]
        );
    }
}
