//! MGCP messages (RFC 3435 §3.1-§3.4): commands, responses, and datagrams holding several
//! of them ("piggy-backing", §3.5.5: messages separated by a line holding a single `.`).
//!
//! # Format
//! ```text
//! CRCX 1204 aaln/1@rgw-2567.whatever.net MGCP 1.0     <- verb, transaction id, endpoint, version
//! C: A3C47F21456789F0                                 <- parameter lines (params.rs)
//! M: recvonly
//!                                                     <- empty line, then SDP (RC / LC)
//! v=0
//! .                                                   <- next piggy-backed message follows
//! 200 1204 OK                                         <- code, transaction id, [/pkg], comment
//! ```
//! Lines end in CRLF or LF (§3.1); verbs and parameter names are case-insensitive (§3.1,
//! §3.2.1.1); this codec upper-cases them and writes CRLF. A body is kept as lines; what is
//! decoded encodes to bytes that decode to the same [`Message`] (the fuzz target checks it).
//!
//! Bounded before anything is allocated per line: [`MAX_DATAGRAM`] bytes, [`MAX_LINES`] lines,
//! [`MAX_MESSAGES`] messages, [`params::MAX_PARAMS`] parameters per message.

pub mod params;

use std::fmt::Write as _;

use crate::endpoint::{EndpointError, EndpointName};
pub use params::{ParamError, Params, ResponseAck};

/// Largest datagram read. RFC 3435 §3.5.4 (MaxMGCPDatagram) defaults to 4000 octets; twice
/// that leaves room for gateways that piggy-back generously, and no more.
pub const MAX_DATAGRAM: usize = 8192;
/// Most lines in one datagram.
pub const MAX_LINES: usize = 256;
/// Most messages piggy-backed in one datagram.
pub const MAX_MESSAGES: usize = 16;
/// Largest transaction id (§3.2.1.2: 1 to 999,999,999).
pub const MAX_TRANSACTION_ID: u32 = 999_999_999;

/// Why bytes are not MGCP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`MAX_DATAGRAM`], [`MAX_LINES`] or [`MAX_MESSAGES`].
    #[error("datagram exceeds bounds")]
    TooLarge,
    /// No message at all (empty datagram, or an empty piggy-backed part).
    #[error("empty message")]
    Empty,
    /// MGCP is text; SDP is UTF-8.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// A NUL or other control character inside a line (1-based line number in the datagram).
    #[error("control character in line {0}")]
    ControlChar(usize),
    /// The first line is neither `VERB id endpoint MGCP 1.0` nor `code id [comment]`.
    #[error("malformed first line")]
    FirstLine,
    /// A verb that is not four letters.
    #[error("malformed verb")]
    Verb,
    /// Not 1 to 999999999 (a response acknowledgement may not carry 0 either).
    #[error("bad transaction id")]
    TransactionId,
    /// A bad endpoint name in a command line.
    #[error("bad endpoint name: {0}")]
    Endpoint(#[from] EndpointError),
    /// Not `MGCP 1.0` (an optional profile such as `NCS 1.0` may follow).
    #[error("unsupported protocol version")]
    Version,
    /// A response code that is not three digits.
    #[error("bad response code")]
    ResponseCode,
    /// A bad parameter line.
    #[error("bad parameter: {0}")]
    Param(#[from] ParamError),
}

/// The command verbs of RFC 3435 §2.3 and §3.2.1.1, plus any other four-letter verb so the
/// receiver can answer 504 (unknown command) rather than drop it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verb {
    /// EndpointConfiguration.
    Epcf,
    /// CreateConnection.
    Crcx,
    /// ModifyConnection.
    Mdcx,
    /// DeleteConnection.
    Dlcx,
    /// NotificationRequest.
    Rqnt,
    /// Notify.
    Ntfy,
    /// AuditEndpoint.
    Auep,
    /// AuditConnection.
    Aucx,
    /// RestartInProgress.
    Rsip,
    /// Message (MESG, used by some profiles) or an extension verb (`X...`), upper-cased.
    Other(String),
}

impl Verb {
    fn parse(s: &str) -> Result<Verb, DecodeError> {
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(DecodeError::Verb);
        }
        let up = s.to_ascii_uppercase();
        Ok(match up.as_str() {
            "EPCF" => Verb::Epcf,
            "CRCX" => Verb::Crcx,
            "MDCX" => Verb::Mdcx,
            "DLCX" => Verb::Dlcx,
            "RQNT" => Verb::Rqnt,
            "NTFY" => Verb::Ntfy,
            "AUEP" => Verb::Auep,
            "AUCX" => Verb::Aucx,
            "RSIP" => Verb::Rsip,
            _ => Verb::Other(up),
        })
    }

    /// The verb as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Verb::Epcf => "EPCF",
            Verb::Crcx => "CRCX",
            Verb::Mdcx => "MDCX",
            Verb::Dlcx => "DLCX",
            Verb::Rqnt => "RQNT",
            Verb::Ntfy => "NTFY",
            Verb::Auep => "AUEP",
            Verb::Aucx => "AUCX",
            Verb::Rsip => "RSIP",
            Verb::Other(v) => v,
        }
    }
}

/// A command (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What to do.
    pub verb: Verb,
    /// 1..=999999999; the transaction layer assigns it on send.
    pub id: u32,
    /// Which endpoint(s).
    pub endpoint: EndpointName,
    /// What follows `MGCP`: `1.0`, possibly with a profile (`1.0 NCS 1.0`).
    pub version: String,
    /// Parameter lines.
    pub params: Params,
    /// Session description(s) after the empty line, lines joined with CRLF (no final one).
    pub body: Option<String>,
}

impl Command {
    /// A command with no parameters yet, version `1.0`, id 0 (set when sent).
    pub fn new(verb: Verb, endpoint: EndpointName) -> Command {
        Command {
            verb,
            id: 0,
            endpoint,
            version: "1.0".into(),
            params: Params::new(),
            body: None,
        }
    }
}

/// A response (§3.3), including the response acknowledgement `000` (§3.5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Three digits: 000 ack, 1xx provisional, 2xx success, 4xx transient, 5xx permanent,
    /// 8xx package-specific (§2.4).
    pub code: u16,
    /// The command's transaction id.
    pub id: u32,
    /// Package of an 8xx code (`/L`), without the slash.
    pub package: Option<String>,
    /// Free text after the id (`OK`), may be empty.
    pub comment: String,
    /// Parameter lines.
    pub params: Params,
    /// Session description(s) after the empty line (LC of CRCX/MDCX, audits).
    pub body: Option<String>,
}

impl Response {
    /// A response without parameters.
    pub fn new(code: u16, id: u32, comment: &str) -> Response {
        Response {
            code,
            id,
            package: None,
            comment: comment.trim().to_owned(),
            params: Params::new(),
            body: None,
        }
    }

    /// `100`, `101`: the command is being executed (§3.5.6).
    pub fn is_provisional(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// `000`: the three-way handshake's acknowledgement of a final response (§3.5.6).
    pub fn is_ack(&self) -> bool {
        self.code == 0
    }

    /// The SDP body parsed (LocalConnectionDescriptor of a CRCX/MDCX response). For audit
    /// responses carrying two descriptions, this is the first.
    pub fn sdp(&self) -> Option<Result<ivm_sdp::SessionDescription, ivm_sdp::SdpError>> {
        sdp_of(self.body.as_deref())
    }
}

/// One MGCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A command.
    Command(Command),
    /// A response.
    Response(Response),
}

impl Command {
    /// The SDP body parsed (RemoteConnectionDescriptor of CRCX/MDCX).
    pub fn sdp(&self) -> Option<Result<ivm_sdp::SessionDescription, ivm_sdp::SdpError>> {
        sdp_of(self.body.as_deref())
    }
}

fn sdp_of(body: Option<&str>) -> Option<Result<ivm_sdp::SessionDescription, ivm_sdp::SdpError>> {
    let body = body?;
    // Two descriptions (LC and RC in an audit) are separated by an empty line: the first.
    let first = body.split("\r\n\r\n").next().unwrap_or(body);
    let mut text = first.to_owned();
    text.push_str("\r\n");
    Some(ivm_sdp::SessionDescription::parse(text.as_bytes()))
}

/// Reads a transaction id: 1 to 9 digits, 1..=999999999.
pub(crate) fn transaction_id(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    (n >= 1).then_some(n)
}

/// Decodes one datagram: every piggy-backed message in it, in order.
pub fn decode(bytes: &[u8]) -> Result<Vec<Message>, DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
    let mut messages = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    // 1-based number of the current message's first line, for error positions.
    let mut first = 1;
    for (i, line) in text.split('\n').enumerate() {
        if i >= MAX_LINES {
            return Err(DecodeError::TooLarge);
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "." {
            if messages.len() + 1 >= MAX_MESSAGES {
                return Err(DecodeError::TooLarge);
            }
            messages.push(decode_one(&lines, first)?);
            lines.clear();
            first = i + 2;
        } else {
            lines.push(line);
        }
    }
    // The final line ending leaves one empty "line" behind: not part of the message.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    messages.push(decode_one(&lines, first)?);
    Ok(messages)
}

/// `lines` of one message; `first_no` is the 1-based datagram line number of the first.
fn decode_one(lines: &[&str], first_no: usize) -> Result<Message, DecodeError> {
    for (i, l) in lines.iter().enumerate() {
        if l.chars().any(|c| c.is_control() && c != '\t') {
            return Err(DecodeError::ControlChar(first_no + i));
        }
    }
    let (first, rest) = lines.split_first().ok_or(DecodeError::Empty)?;
    if first.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut params = Params::new();
    let mut body_lines: Option<&[&str]> = None;
    for (i, line) in rest.iter().enumerate() {
        if line.trim().is_empty() {
            body_lines = Some(&rest[i + 1..]);
            break;
        }
        params.push_line(line)?;
    }
    let body = body_lines.and_then(|b| {
        let mut b = b;
        while let Some((last, init)) = b.split_last() {
            if last.trim().is_empty() {
                b = init;
            } else {
                break;
            }
        }
        (!b.is_empty()).then(|| b.join("\r\n"))
    });
    let words: Vec<&str> = first.split_whitespace().collect();
    let lead = words.first().ok_or(DecodeError::FirstLine)?;
    if lead.len() == 3 && lead.bytes().all(|b| b.is_ascii_digit()) {
        let code: u16 = lead.parse().map_err(|_| DecodeError::ResponseCode)?;
        let id = words
            .get(1)
            .and_then(|w| transaction_id(w))
            .ok_or(DecodeError::TransactionId)?;
        // The comment is the rest of the line after the id, spacing kept.
        let after_id = after_words(first, 2);
        let (package, comment) = match after_id.strip_prefix('/') {
            Some(p) => {
                let (pkg, c) = p.split_once(char::is_whitespace).unwrap_or((p, ""));
                if pkg.is_empty() || !pkg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(DecodeError::FirstLine);
                }
                (Some(pkg.to_owned()), c.trim())
            }
            None => (None, after_id),
        };
        return Ok(Message::Response(Response {
            code,
            id,
            package,
            comment: comment.to_owned(),
            params,
            body,
        }));
    }
    if lead.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::ResponseCode);
    }
    if words.len() < 5 {
        return Err(DecodeError::FirstLine);
    }
    let verb = Verb::parse(words[0])?;
    let id = transaction_id(words[1]).ok_or(DecodeError::TransactionId)?;
    let endpoint = EndpointName::parse(words[2])?;
    if !words[3].eq_ignore_ascii_case("MGCP") || !valid_version(&words[4..]) {
        return Err(DecodeError::Version);
    }
    Ok(Message::Command(Command {
        verb,
        id,
        endpoint,
        version: words[4..].join(" "),
        params,
        body,
    }))
}

/// What follows the first `n` whitespace-separated words of `line`, trimmed.
fn after_words(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

/// `1.0` and an optional profile name and version (`NCS 1.0`, §3.2.1).
fn valid_version(words: &[&str]) -> bool {
    let number = |w: &str| {
        w.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 3
                && b.len() <= 3
                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
    };
    match words {
        [v] => *v == "1.0",
        [v, profile, pv] => {
            *v == "1.0"
                && !profile.is_empty()
                && profile.len() <= 16
                && profile.bytes().all(|b| b.is_ascii_alphanumeric())
                && number(pv)
        }
        _ => false,
    }
}

impl Message {
    /// The transaction id.
    pub fn id(&self) -> u32 {
        match self {
            Message::Command(c) => c.id,
            Message::Response(r) => r.id,
        }
    }

    /// The message's bytes, CRLF line endings, no trailing separator.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        self.write(&mut s);
        s.into_bytes()
    }

    fn write(&self, s: &mut String) {
        let (params, body) = match self {
            Message::Command(c) => {
                let _ = write!(
                    s,
                    "{} {} {} MGCP {}\r\n",
                    c.verb.as_str(),
                    c.id,
                    c.endpoint,
                    c.version
                );
                (&c.params, &c.body)
            }
            Message::Response(r) => {
                let _ = write!(s, "{:03} {}", r.code, r.id);
                if let Some(p) = &r.package {
                    let _ = write!(s, " /{p}");
                }
                if !r.comment.is_empty() {
                    let _ = write!(s, " {}", r.comment);
                }
                s.push_str("\r\n");
                (&r.params, &r.body)
            }
        };
        for (n, v) in params.iter() {
            if v.is_empty() {
                let _ = write!(s, "{n}:\r\n");
            } else {
                let _ = write!(s, "{n}: {v}\r\n");
            }
        }
        if let Some(b) = body {
            s.push_str("\r\n");
            s.push_str(b);
            s.push_str("\r\n");
        }
    }
}

/// Encodes several messages into one datagram, separated by `.` lines (§3.5.5).
pub fn encode(messages: &[Message]) -> Vec<u8> {
    let mut s = String::new();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            s.push_str(".\r\n");
        }
        m.write(&mut s);
    }
    s.into_bytes()
}
