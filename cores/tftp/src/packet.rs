//! TFTP packets (RFC 1350, OACK from RFC 2347): bounded parsing and encoding, no I/O.
//!
//! # Format
//! ```text
//! RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
//! DATA     | 03 | block (u16) | 0..blksize bytes
//! ACK      | 04 | block (u16)
//! ERROR    | 05 | code (u16) | message | 0
//! OACK     | 06 | opt1 | 0 | value1 | 0 | ...
//! ```
//! Every number is big-endian. A request is at most [`MAX_REQUEST_LEN`] bytes (RFC 2347), a
//! file name at most [`MAX_NAME_LEN`], and at most [`MAX_OPTIONS`] options are read.

/// Longest request accepted (RFC 2347: "must not exceed 512 octets").
pub const MAX_REQUEST_LEN: usize = 512;
/// Longest file name accepted.
pub const MAX_NAME_LEN: usize = 255;
/// Most options read from one request.
pub const MAX_OPTIONS: usize = 16;

/// Opcodes.
pub mod opcode {
    /// Read request.
    pub const RRQ: u16 = 1;
    /// Write request.
    pub const WRQ: u16 = 2;
    /// Data block.
    pub const DATA: u16 = 3;
    /// Acknowledgement.
    pub const ACK: u16 = 4;
    /// Error.
    pub const ERROR: u16 = 5;
    /// Option acknowledgement (RFC 2347).
    pub const OACK: u16 = 6;
}

/// TFTP error codes (RFC 1350, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// Not defined, see the message.
    Undefined = 0,
    /// File not found.
    FileNotFound = 1,
    /// Access violation.
    AccessViolation = 2,
    /// Illegal TFTP operation.
    IllegalOperation = 4,
    /// Unknown transfer ID.
    UnknownTid = 5,
    /// Option negotiation refused (RFC 2347).
    OptionsRefused = 8,
}

impl ErrorCode {
    /// The RFC's text for the code.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::Undefined => "Undefined error",
            ErrorCode::FileNotFound => "File not found",
            ErrorCode::AccessViolation => "Access violation",
            ErrorCode::IllegalOperation => "Illegal TFTP operation",
            ErrorCode::UnknownTid => "Unknown transfer ID",
            ErrorCode::OptionsRefused => "Option negotiation refused",
        }
    }
}

/// Why a packet was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its fixed part.
    #[error("packet truncated")]
    Truncated,
    /// Longer than [`MAX_REQUEST_LEN`], or a field longer than its bound.
    #[error("request too long")]
    TooLong,
    /// A string field without its terminating zero byte.
    #[error("unterminated field")]
    Unterminated,
    /// A file name or option that is not UTF-8 text, or an empty file name.
    #[error("bad text field")]
    BadText,
    /// A mode other than octet or netascii.
    #[error("unsupported mode")]
    BadMode,
    /// An option name without its value.
    #[error("option without value")]
    OptionWithoutValue,
    /// More than [`MAX_OPTIONS`] options.
    #[error("too many options")]
    TooManyOptions,
    /// An opcode this server does not expect here.
    #[error("unknown opcode {0}")]
    BadOpcode(u16),
}

/// A transfer mode (both are served as the file's bytes; netascii is not translated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `octet`.
    Octet,
    /// `netascii`.
    Netascii,
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `true` for WRQ.
    pub write: bool,
    /// The file name as sent.
    pub name: String,
    /// The transfer mode.
    pub mode: Mode,
    /// Options in the order sent, names lower-cased.
    pub options: Vec<(String, String)>,
}

impl Request {
    /// Parses an RRQ or WRQ.
    pub fn parse(p: &[u8]) -> Result<Request, PacketError> {
        if p.len() > MAX_REQUEST_LEN {
            return Err(PacketError::TooLong);
        }
        if p.len() < 2 {
            return Err(PacketError::Truncated);
        }
        let op = u16::from_be_bytes([p[0], p[1]]);
        let write = match op {
            opcode::RRQ => false,
            opcode::WRQ => true,
            other => return Err(PacketError::BadOpcode(other)),
        };
        let mut fields = Fields(&p[2..]);
        let name = fields.next_text()?.ok_or(PacketError::Truncated)?;
        if name.is_empty() {
            return Err(PacketError::BadText);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(PacketError::TooLong);
        }
        let mode = fields.next_text()?.ok_or(PacketError::Truncated)?;
        let mode = if mode.eq_ignore_ascii_case("octet") {
            Mode::Octet
        } else if mode.eq_ignore_ascii_case("netascii") {
            Mode::Netascii
        } else {
            return Err(PacketError::BadMode);
        };
        let mut options = Vec::new();
        while let Some(k) = fields.next_text()? {
            let v = fields.next_text()?.ok_or(PacketError::OptionWithoutValue)?;
            if options.len() == MAX_OPTIONS {
                return Err(PacketError::TooManyOptions);
            }
            options.push((k.to_ascii_lowercase(), v.to_owned()));
        }
        Ok(Request {
            write,
            name: name.to_owned(),
            mode,
            options,
        })
    }

    /// The request's bytes (for tests and clients).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let op = if self.write { opcode::WRQ } else { opcode::RRQ };
        out.extend_from_slice(&op.to_be_bytes());
        let mode = match self.mode {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
        };
        for s in [self.name.as_str(), mode].into_iter().chain(
            self.options
                .iter()
                .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        ) {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
    }
}

/// Zero-terminated text fields.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    /// The next field, `None` at the end of the packet.
    fn next_text(&mut self) -> Result<Option<&'a str>, PacketError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let end = self
            .0
            .iter()
            .position(|b| *b == 0)
            .ok_or(PacketError::Unterminated)?;
        let s = std::str::from_utf8(&self.0[..end]).map_err(|_| PacketError::BadText)?;
        self.0 = &self.0[end + 1..];
        Ok(Some(s))
    }
}

/// A packet a client sends during a read transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPacket<'a> {
    /// ACK of a block (0 acknowledges an OACK).
    Ack(u16),
    /// The client ends the transfer.
    Error(u16, &'a [u8]),
}

impl<'a> ClientPacket<'a> {
    /// Parses an ACK or ERROR; any other packet is an error.
    pub fn parse(p: &'a [u8]) -> Result<ClientPacket<'a>, PacketError> {
        if p.len() < 4 {
            return Err(PacketError::Truncated);
        }
        let op = u16::from_be_bytes([p[0], p[1]]);
        let n = u16::from_be_bytes([p[2], p[3]]);
        match op {
            opcode::ACK => Ok(ClientPacket::Ack(n)),
            // The message is informative only: an unterminated one is taken as it is.
            opcode::ERROR => {
                let m = &p[4..];
                let m = m.split(|b| *b == 0).next().unwrap_or(m);
                Ok(ClientPacket::Error(n, m))
            }
            other => Err(PacketError::BadOpcode(other)),
        }
    }
}

/// Writes the header of DATA block `block` (the caller appends the bytes).
pub fn encode_data_header(block: u16, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&opcode::DATA.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Writes an ACK (used by tests playing the client).
pub fn encode_ack(block: u16, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&opcode::ACK.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Writes an ERROR packet; the message is cut at 255 bytes and at any zero byte.
pub fn encode_error(code: u16, message: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&opcode::ERROR.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    let m = message.as_bytes();
    let m = &m[..m.len().min(255)];
    let m = m.split(|b| *b == 0).next().unwrap_or(m);
    out.extend_from_slice(m);
    out.push(0);
}

/// Writes an OACK with `options` (name, value) in order.
pub fn encode_oack(options: &[(&str, String)], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&opcode::OACK.to_be_bytes());
    for (k, v) in options {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(parts: &[&str], op: u8) -> Vec<u8> {
        let mut p = vec![0, op];
        for s in parts {
            p.extend_from_slice(s.as_bytes());
            p.push(0);
        }
        p
    }

    #[test]
    fn rrq_with_options() {
        let p = req(
            &[
                "0015656aabbcc.cfg",
                "OCTET",
                "BlkSize",
                "1468",
                "tsize",
                "0",
            ],
            1,
        );
        let r = Request::parse(&p).expect("parses");
        assert!(!r.write);
        assert_eq!(r.name, "0015656aabbcc.cfg");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(
            r.options,
            vec![
                ("blksize".to_owned(), "1468".to_owned()),
                ("tsize".to_owned(), "0".to_owned())
            ]
        );
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(Request::parse(&out).expect("round trip"), r);
    }

    #[test]
    fn rrq_without_options_and_wrq() {
        let r = Request::parse(b"\x00\x01a.cfg\x00netascii\x00").expect("parses");
        assert_eq!(r.mode, Mode::Netascii);
        assert!(r.options.is_empty());
        let w = Request::parse(b"\x00\x02evil\x00octet\x00").expect("parses");
        assert!(w.write);
    }

    #[test]
    fn malformed_requests() {
        use PacketError::*;
        for (p, want) in [
            (&b""[..], Truncated),
            (b"\x00", Truncated),
            (b"\x00\x01", Truncated),
            (b"\x00\x01name", Unterminated),
            (b"\x00\x01name\x00", Truncated),
            (b"\x00\x01name\x00octet", Unterminated),
            (b"\x00\x01\x00octet\x00", BadText),
            (b"\x00\x01name\x00mail\x00", BadMode),
            (b"\x00\x01name\x00octet\x00blksize\x00", OptionWithoutValue),
            (b"\x00\x01name\x00octet\x00blksize\x00512", Unterminated),
            (b"\x00\x01n\xffme\x00octet\x00", BadText),
            (b"\x00\x03\x00\x01", BadOpcode(3)),
            (b"\x00\x09x\x00octet\x00", BadOpcode(9)),
        ] {
            assert_eq!(Request::parse(p), Err(want), "{p:?}");
        }
        // Overlong: the packet, and a name within a packet of legal size.
        let long = req(&["a".repeat(600).as_str(), "octet"], 1);
        assert_eq!(Request::parse(&long), Err(TooLong));
        let name = req(&["a".repeat(300).as_str(), "octet"], 1);
        assert_eq!(Request::parse(&name), Err(TooLong));
        let mut many = vec!["f", "octet"];
        for _ in 0..=MAX_OPTIONS {
            many.extend(["x", "1"]);
        }
        assert_eq!(Request::parse(&req(&many, 1)), Err(TooManyOptions));
    }

    #[test]
    fn client_packets() {
        assert_eq!(
            ClientPacket::parse(b"\x00\x04\x01\x02"),
            Ok(ClientPacket::Ack(0x0102))
        );
        assert_eq!(
            ClientPacket::parse(b"\x00\x05\x00\x08no\x00"),
            Ok(ClientPacket::Error(8, b"no"))
        );
        assert_eq!(
            ClientPacket::parse(b"\x00\x05\x00\x00cut"),
            Ok(ClientPacket::Error(0, b"cut"))
        );
        assert_eq!(
            ClientPacket::parse(b"\x00\x04\x01"),
            Err(PacketError::Truncated)
        );
        assert_eq!(
            ClientPacket::parse(b"\x00\x03\x00\x01data"),
            Err(PacketError::BadOpcode(3))
        );
    }

    #[test]
    fn encodings() {
        let mut out = Vec::new();
        encode_oack(
            &[("blksize", "8192".to_owned()), ("tsize", "42".to_owned())],
            &mut out,
        );
        assert_eq!(out, b"\x00\x06blksize\x008192\x00tsize\x0042\x00");
        encode_error(1, "File not found", &mut out);
        assert_eq!(out, b"\x00\x05\x00\x01File not found\x00");
        encode_error(0, "a\0b", &mut out);
        assert_eq!(out, b"\x00\x05\x00\x00a\x00");
        encode_data_header(0xfffe, &mut out);
        assert_eq!(out, b"\x00\x03\xff\xfe");
        encode_ack(7, &mut out);
        assert_eq!(out, b"\x00\x04\x00\x07");
    }
}
