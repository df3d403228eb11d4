//! Message boundaries on a byte stream (TCP, TLS), mini-redis style: feed bytes with
//! [`Framer::extend`], then call [`Framer::next`] until it returns `Ok(None)`, which means
//! "incomplete, read more" and is the normal state between messages.
//!
//! On a stream, `Content-Length` is mandatory (RFC 3261 §18.3): without it the next message
//! cannot be found, so the connection is closed. Any error poisons the framer for the same
//! reason; the I/O task drops the connection.

use super::parse::{assemble, content_length, find_head_end, parse_head, Limits, ParseError};
use super::Message;

/// What the stream yielded.
// Ping is rare and tiny; boxing every message to shrink it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A complete message.
    Message(Message),
    /// A double-CRLF keep-alive ping (RFC 5626 §3.5.1): answer with a single CRLF.
    Ping,
}

/// The stream cannot be read any further; close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramerError {
    /// The message at the head of the stream is malformed or too large.
    #[error("stream framing: {0}")]
    Parse(#[from] ParseError),
    /// An earlier error already ended this stream.
    #[error("stream already failed")]
    Poisoned,
}

/// Buffers stream bytes and cuts them into messages.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    limits: Limits,
    failed: bool,
}

impl Framer {
    /// A framer with the given limits.
    pub fn new(limits: Limits) -> Framer {
        Framer {
            buf: Vec::new(),
            limits,
            failed: false,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete item, `Ok(None)` if more bytes are needed.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Framed>, FramerError> {
        if self.failed {
            return Err(FramerError::Poisoned);
        }
        let r = self.step();
        if r.is_err() {
            self.failed = true;
            self.buf = Vec::new();
        }
        r
    }

    fn step(&mut self) -> Result<Option<Framed>, FramerError> {
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.drain(..4);
                return Ok(Some(Framed::Ping));
            }
            match self.buf.as_slice() {
                [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Ok(None),
                [b'\r', b'\n', ..] => {
                    self.buf.drain(..2); // a stray CRLF between messages
                }
                [b'\n', ..] => {
                    self.buf.drain(..1);
                }
                _ => break,
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let max = self.limits.max_message;
        let Some((head_end, body_start)) = find_head_end(&self.buf, 0, max) else {
            if self.buf.len() >= max {
                return Err(ParseError::TooLarge { max }.into());
            }
            return Ok(None);
        };
        let (start, headers) = parse_head(&self.buf[..head_end], &self.limits)?;
        let len = content_length(&headers)?.ok_or(ParseError::MissingContentLength)?;
        let total = body_start
            .checked_add(len)
            .filter(|t| *t <= max)
            .ok_or(ParseError::TooLarge { max })?;
        if self.buf.len() < total {
            return Ok(None);
        }
        let body = self.buf[body_start..total].to_vec();
        self.buf.drain(..total);
        Ok(Some(Framed::Message(assemble(start, headers, body))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn byte_by_byte_then_two_at_once() {
        let mut f = Framer::default();
        for (i, b) in MSG.iter().enumerate() {
            f.extend(&[*b]);
            let r = f.next().expect("no error");
            if i + 1 < MSG.len() {
                assert_eq!(r, None, "at {i}");
            } else {
                assert!(matches!(r, Some(Framed::Message(m)) if m.body() == b"body"));
            }
        }
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(MSG);
        two.extend_from_slice(b"\r\n");
        two.extend_from_slice(MSG);
        f.extend(&two);
        assert_eq!(f.next(), Ok(Some(Framed::Ping)));
        assert!(matches!(f.next(), Ok(Some(Framed::Message(_)))));
        assert!(matches!(f.next(), Ok(Some(Framed::Message(_)))));
        assert_eq!(f.next(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn errors_poison() {
        let mut f = Framer::default();
        f.extend(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(
            f.next(),
            Err(FramerError::Parse(ParseError::MissingContentLength))
        );
        assert_eq!(f.next(), Err(FramerError::Poisoned));

        let mut f = Framer::new(Limits {
            max_message: 64,
            ..Limits::default()
        });
        f.extend(&[b'A'; 64]);
        assert!(matches!(
            f.next(),
            Err(FramerError::Parse(ParseError::TooLarge { .. }))
        ));

        let mut f = Framer::new(Limits {
            max_message: 100,
            ..Limits::default()
        });
        f.extend(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n");
        assert!(matches!(
            f.next(),
            Err(FramerError::Parse(ParseError::TooLarge { .. }))
        ));
    }
}
