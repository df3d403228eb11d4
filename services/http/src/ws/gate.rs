//! The first frame's gate, sans-IO: before a socket has authenticated, its first frame must be
//! one small, unfragmented text frame (the `connect`).
//!
//! The WebSocket codec's size limit is set once per socket, and an authenticated client needs
//! the large one (`post_message` carries audio). Without this gate, anyone could make the box
//! buffer `max_ws_frame` bytes (4 MiB) per socket before showing a token. The gate reads the
//! client's first frame header as the bytes pass by and refuses it before its payload is
//! read. After that first frame it lets everything through: the session reads nothing more
//! until `connect` has been checked, and closes the socket if it was not a valid one.
//!
//! # Format (RFC 6455 section 5.2)
//! byte 0: FIN (0x80), RSV, opcode (low 4 bits; 1 = text); byte 1: MASK (0x80) and a 7-bit
//! length, where 126 means a 16-bit length follows and 127 a 64-bit one (network order).

/// Largest first frame, bytes of payload: a `connect` with its token is a few hundred.
pub const PRE_AUTH_FRAME: u64 = 4096;

/// Why the first frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// Larger than [`PRE_AUTH_FRAME`].
    #[error("a frame of {0} bytes before `connect` (at most {PRE_AUTH_FRAME})")]
    TooLarge(u64),
    /// Not a single text frame.
    #[error("the first frame must be one text frame holding `connect`")]
    NotText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the first frame's header.
    Header,
    /// The first frame's header was fine: everything passes.
    Open,
    /// Refused: every later read fails too.
    Shut,
}

/// Watches the bytes a client sends until its first frame header has been checked.
#[derive(Debug)]
pub struct FirstFrame {
    limit: u64,
    head: [u8; 10],
    have: usize,
    state: State,
}

impl Default for FirstFrame {
    fn default() -> Self {
        FirstFrame::new(PRE_AUTH_FRAME)
    }
}

impl FirstFrame {
    /// A gate letting a first frame of at most `limit` bytes through.
    pub fn new(limit: u64) -> Self {
        FirstFrame {
            limit,
            head: [0; 10],
            have: 0,
            state: State::Header,
        }
    }

    /// Whether the gate no longer looks at the bytes.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Takes the next bytes from the client.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), GateError> {
        match self.state {
            State::Open => return Ok(()),
            State::Shut => return Err(GateError::NotText),
            State::Header => {}
        }
        for &b in bytes {
            if self.have < self.head.len() {
                self.head[self.have] = b;
                self.have += 1;
            }
            if let Some(r) = self.check() {
                self.state = if r.is_ok() { State::Open } else { State::Shut };
                return r;
            }
        }
        Ok(())
    }

    /// The verdict once enough of the header is in; `None` while more is needed.
    fn check(&self) -> Option<Result<(), GateError>> {
        if self.have < 2 {
            return None;
        }
        let (b0, b1) = (self.head[0], self.head[1]);
        if b0 & 0x80 == 0 || b0 & 0x0f != 1 {
            return Some(Err(GateError::NotText));
        }
        let len = match b1 & 0x7f {
            126 => {
                if self.have < 4 {
                    return None;
                }
                u64::from(u16::from_be_bytes([self.head[2], self.head[3]]))
            }
            127 => {
                if self.have < 10 {
                    return None;
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        Some(if len > self.limit {
            Err(GateError::TooLarge(len))
        } else {
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header for `len` bytes.
    fn header(fin_opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![fin_opcode];
        if len < 126 {
            h.push(0x80 | len as u8);
        } else if len <= 0xffff {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn a_small_text_frame_opens_the_gate() {
        for len in [0, 125, 126, 4096] {
            let mut g = FirstFrame::default();
            g.feed(&header(0x81, len)).expect("small text");
            assert!(g.is_open(), "{len}");
            g.feed(&[0u8; 100_000]).expect("open: anything passes");
        }
    }

    #[test]
    fn a_large_first_frame_is_refused_from_its_header() {
        for len in [4097, 65_535, 65_536, 4 << 20, u64::MAX] {
            let mut g = FirstFrame::default();
            assert_eq!(g.feed(&header(0x81, len)), Err(GateError::TooLarge(len)));
            assert!(g.feed(b"more").is_err(), "stays shut");
        }
    }

    #[test]
    fn the_header_may_arrive_a_byte_at_a_time() {
        let mut g = FirstFrame::default();
        let h = header(0x81, 1 << 20);
        let mut verdict = Ok(());
        for b in &h {
            verdict = g.feed(std::slice::from_ref(b));
            if verdict.is_err() {
                break;
            }
        }
        assert_eq!(verdict, Err(GateError::TooLarge(1 << 20)));
        let mut g = FirstFrame::default();
        for b in header(0x81, 300) {
            g.feed(&[b]).expect("fine");
        }
        assert!(g.is_open());
    }

    #[test]
    fn binary_control_and_fragmented_first_frames_are_refused() {
        for b0 in [0x82, 0x89, 0x88, 0x01, 0x80] {
            let mut g = FirstFrame::default();
            assert_eq!(g.feed(&header(b0, 10)), Err(GateError::NotText), "{b0:#x}");
        }
    }
}
