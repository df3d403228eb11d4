//! Asking for a password on the terminal, without echo (issue 11, item 8).
//!
//! Only when standard input is a terminal: a script that forgot `--password` gets a clear
//! error at once instead of hanging on a prompt nobody sees.
//!
//! The terminal is put in non-canonical mode with echo and signals off, and the line is edited
//! here by [`LineEditor`] (a sans-IO core: bytes in, an outcome out) using the terminal's own
//! erase, kill, interrupt and end-of-file keys. Signals are off so that ctrl-C reaches us as a
//! byte: with them on, ctrl-C would kill the process with echo still off and leave the
//! person's shell typing blind. The terminal's settings are put back by a guard on every path.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices as Cc, Termios};

/// Longest password taken, in bytes; a bound on what is buffered.
pub const MAX_LEN: usize = 1024;

/// Why no password was read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Standard input is a pipe, a file or nothing: there is nobody to ask.
    #[error("standard input is not a terminal, so ivm cannot ask for a password")]
    NotATerminal,
    /// ctrl-C, or ctrl-D on an empty line.
    #[error("cancelled")]
    Cancelled,
    /// More than [`MAX_LEN`] bytes.
    #[error("the password is longer than {MAX_LEN} bytes")]
    TooLong,
    /// Not UTF-8.
    #[error("the password is not valid UTF-8")]
    NotUtf8,
    /// The two entries of a new password differ.
    #[error("the two entries differ; nothing was changed")]
    Mismatch,
    /// Reading or setting up the terminal failed.
    #[error("cannot read the password from the terminal: {0}")]
    Terminal(String),
}

/// Whether a prompt is possible: standard input is a terminal.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal()
}

/// Writes `prompt` and reads one line without echo. Blocking: call it off the async threads
/// ([`ask`]).
pub fn password(prompt: &str) -> Result<String, PromptError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(PromptError::NotATerminal);
    }
    let fd = stdin.as_fd();
    let saved = termios::tcgetattr(fd).map_err(|e| PromptError::Terminal(e.to_string()))?;
    let mut editor = LineEditor::new(Keys::of(&saved));
    let mut quiet = saved.clone();
    quiet
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
    quiet.control_chars[Cc::VMIN as usize] = 1;
    quiet.control_chars[Cc::VTIME as usize] = 0;
    // Echo off before the prompt shows, so nothing typed after it is echoed or lost;
    // TCSAFLUSH drops what was typed ahead of the prompt (it was echoed).
    termios::tcsetattr(fd, SetArg::TCSAFLUSH, &quiet)
        .map_err(|e| PromptError::Terminal(e.to_string()))?;
    let restore = Restore { fd, saved };
    let mut out = PromptOut::open();
    out.write(prompt);
    let result = read_line(fd, &mut editor);
    drop(restore);
    out.write("\n");
    result
}

/// [`password`] on a blocking thread.
pub async fn ask(prompt: String) -> Result<String, PromptError> {
    tokio::task::spawn_blocking(move || password(&prompt))
        .await
        .map_err(|e| PromptError::Terminal(e.to_string()))?
}

/// A new password, typed twice.
pub async fn ask_new(prompt: &str) -> Result<String, PromptError> {
    let first = ask(format!("{prompt}: ")).await?;
    let again = ask(format!("{prompt} (again): ")).await?;
    if first != again {
        return Err(PromptError::Mismatch);
    }
    Ok(first)
}

fn read_line(
    fd: std::os::fd::BorrowedFd<'_>,
    editor: &mut LineEditor,
) -> Result<String, PromptError> {
    let mut buf = [0u8; 64];
    loop {
        let n = match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Err(PromptError::Cancelled),
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(PromptError::Terminal(e.to_string())),
        };
        for &b in &buf[..n] {
            match editor.feed(b) {
                Outcome::More => {}
                Outcome::Done(line) => return Ok(line),
                Outcome::Cancelled => return Err(PromptError::Cancelled),
                Outcome::TooLong => return Err(PromptError::TooLong),
                Outcome::NotUtf8 => return Err(PromptError::NotUtf8),
            }
        }
    }
}

/// Puts the terminal's settings back when dropped.
struct Restore<'a> {
    fd: std::os::fd::BorrowedFd<'a>,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Err(e) = termios::tcsetattr(self.fd, SetArg::TCSANOW, &self.saved) {
            tracing::warn!(error = %e, "could not restore the terminal's settings");
        }
    }
}

/// Where the prompt goes: the controlling terminal, so that it shows even with stderr
/// redirected; stderr when there is none.
struct PromptOut(Option<std::fs::File>);

impl PromptOut {
    fn open() -> PromptOut {
        PromptOut(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/tty")
                .ok(),
        )
    }

    fn write(&mut self, text: &str) {
        let done = match &mut self.0 {
            Some(tty) => tty.write_all(text.as_bytes()).and_then(|()| tty.flush()),
            None => {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|()| err.flush())
            }
        };
        if let Err(e) = done {
            tracing::debug!(error = %e, "could not write the prompt");
        }
    }
}

/// The terminal's editing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    /// Delete the last character (VERASE, usually DEL).
    pub erase: u8,
    /// Delete the line (VKILL, usually ctrl-U).
    pub kill: u8,
    /// Cancel (VINTR, usually ctrl-C).
    pub interrupt: u8,
    /// End of input (VEOF, usually ctrl-D).
    pub eof: u8,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            erase: 0x7f,
            kill: 0x15,
            interrupt: 0x03,
            eof: 0x04,
        }
    }
}

impl Keys {
    /// The keys the terminal is set to; a key switched off (`_POSIX_VDISABLE`, 0) keeps its
    /// usual value.
    fn of(t: &Termios) -> Keys {
        let d = Keys::default();
        let key = |i: Cc, default: u8| match t.control_chars[i as usize] {
            0 => default,
            c => c,
        };
        Keys {
            erase: key(Cc::VERASE, d.erase),
            kill: key(Cc::VKILL, d.kill),
            interrupt: key(Cc::VINTR, d.interrupt),
            eof: key(Cc::VEOF, d.eof),
        }
    }
}

/// What one byte did to the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep reading.
    More,
    /// Enter: the line.
    Done(String),
    /// ctrl-C, or ctrl-D on an empty line.
    Cancelled,
    /// Enter after more than [`MAX_LEN`] bytes.
    TooLong,
    /// Enter after bytes that are not UTF-8.
    NotUtf8,
}

/// The line being typed: bytes in, [`Outcome`] out. No terminal, no clock.
#[derive(Debug)]
pub struct LineEditor {
    keys: Keys,
    line: Vec<u8>,
    overflow: bool,
}

impl LineEditor {
    /// An empty line edited with `keys`.
    pub fn new(keys: Keys) -> LineEditor {
        LineEditor {
            keys,
            line: Vec::new(),
            overflow: false,
        }
    }

    /// Takes one byte from the terminal.
    pub fn feed(&mut self, b: u8) -> Outcome {
        let k = self.keys;
        match b {
            b'\r' | b'\n' => {
                if self.overflow {
                    return Outcome::TooLong;
                }
                match String::from_utf8(std::mem::take(&mut self.line)) {
                    Ok(s) => Outcome::Done(s),
                    Err(_) => Outcome::NotUtf8,
                }
            }
            _ if b == k.interrupt => Outcome::Cancelled,
            _ if b == k.eof && self.line.is_empty() => Outcome::Cancelled,
            _ if b == k.eof => Outcome::More,
            _ if b == k.erase || b == 0x08 => {
                // One character: its continuation bytes, then its first byte.
                while let Some(last) = self.line.pop() {
                    if last & 0xC0 != 0x80 {
                        break;
                    }
                }
                Outcome::More
            }
            _ if b == k.kill => {
                self.line.clear();
                self.overflow = false;
                Outcome::More
            }
            _ if self.line.len() >= MAX_LEN => {
                self.overflow = true;
                Outcome::More
            }
            _ => {
                self.line.push(b);
                Outcome::More
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> Outcome {
        let mut e = LineEditor::new(Keys::default());
        for &b in bytes {
            match e.feed(b) {
                Outcome::More => {}
                done => return done,
            }
        }
        Outcome::More
    }

    #[test]
    fn enter_ends_the_line() {
        assert_eq!(typed(b"s3cret pass\r"), Outcome::Done("s3cret pass".into()));
        assert_eq!(typed(b"abc\n"), Outcome::Done("abc".into()));
        assert_eq!(typed(b"\r"), Outcome::Done(String::new()));
        assert_eq!(typed(b"no enter yet"), Outcome::More);
    }

    #[test]
    fn erase_and_kill_edit_the_line() {
        assert_eq!(typed(b"abx\x7fc\r"), Outcome::Done("abc".into()));
        assert_eq!(typed(b"abx\x08c\r"), Outcome::Done("abc".into()));
        assert_eq!(typed(b"wrong\x15right\r"), Outcome::Done("right".into()));
        assert_eq!(typed(b"\x7f\x7fok\r"), Outcome::Done("ok".into()));
        // Erase takes a whole character, not one byte of it.
        assert_eq!(
            typed("pässé\x7f\x7f\r".as_bytes()),
            Outcome::Done("päs".into())
        );
    }

    #[test]
    fn ctrl_c_and_ctrl_d_cancel() {
        assert_eq!(typed(b"half\x03"), Outcome::Cancelled);
        assert_eq!(typed(b"\x04"), Outcome::Cancelled);
        // ctrl-D inside a line does nothing (as in a shell).
        assert_eq!(typed(b"ab\x04c\r"), Outcome::Done("abc".into()));
    }

    #[test]
    fn the_terminal_keys_are_used() {
        let keys = Keys {
            erase: 0x08,
            kill: b'@',
            interrupt: 0x1b,
            eof: 0x1a,
        };
        let mut e = LineEditor::new(keys);
        for &b in b"x@ab" {
            assert_eq!(e.feed(b), Outcome::More);
        }
        assert_eq!(e.feed(0x1b), Outcome::Cancelled);
    }

    #[test]
    fn bounded_and_utf8_only() {
        let mut long = vec![b'a'; MAX_LEN + 10];
        long.push(b'\r');
        assert_eq!(typed(&long), Outcome::TooLong);
        let mut exact = vec![b'a'; MAX_LEN];
        exact.push(b'\r');
        assert_eq!(typed(&exact), Outcome::Done("a".repeat(MAX_LEN)));
        assert_eq!(typed(b"\xff\xfe\r"), Outcome::NotUtf8);
    }
}
