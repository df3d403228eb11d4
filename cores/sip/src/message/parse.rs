//! Turning bytes into a [`Message`]: start line, header lines with folding, body by
//! `Content-Length`. Bounded by [`Limits`]; never panics (see `tests/fuzz.rs`).
//!
//! # Format
//! ```text
//! start-line CRLF *( header-name HCOLON value *( CRLF (SP / HT) continuation ) CRLF ) CRLF body
//! ```
//! Bare LF line ends are accepted as well as CRLF; leading CRLFs before the start line are
//! skipped (RFC 3261 §7.5), and a datagram holding only CRLFs is a keep-alive (RFC 5626).

use super::headers::Headers;
use super::syntax::{is_token, is_ws, trim_ws};
use super::uri::Uri;
use super::{Message, Method, Request, Response, Version};

/// Bounds on what the parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, head and body, in bytes.
    pub max_message: usize,
    /// Most header lines (after unfolding).
    pub max_headers: usize,
    /// Longest start line or header line (after unfolding), in bytes.
    pub max_line: usize,
}

impl Default for Limits {
    /// 64 KiB messages, 128 header lines, 8 KiB lines.
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_headers: 128,
            max_line: 8 * 1024,
        }
    }
}

/// Why bytes are not a SIP message. The connection or datagram is dropped; nothing is answered
/// because nothing trustworthy can be answered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Only CRLFs: a keep-alive ping, not an error to report.
    #[error("keep-alive (only CRLF)")]
    KeepAlive,
    /// Larger than [`Limits::max_message`].
    #[error("message larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {max} header lines")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// A line longer than [`Limits::max_line`].
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// No empty line ending the header section.
    #[error("no end of headers")]
    NoEndOfHeaders,
    /// The start line and headers are not UTF-8.
    #[error("header section is not UTF-8")]
    NotUtf8,
    /// A carriage return not followed by a line feed.
    #[error("bare CR in header section")]
    BareCr,
    /// Malformed request line (extra spaces, missing parts: RFC 4475 `lwsstart`, `trws`).
    #[error("malformed request line")]
    RequestLine,
    /// Malformed status line.
    #[error("malformed status line")]
    StatusLine,
    /// Status code not three digits from 100 to 699 (RFC 4475 `bigcode`).
    #[error("bad status code")]
    StatusCode,
    /// Not `SIP/x.y`.
    #[error("bad protocol version")]
    Version,
    /// Method is not a token.
    #[error("bad method")]
    Method,
    /// The Request-URI does not parse (RFC 4475 `ltgtruri`, `lwsruri`).
    #[error("bad Request-URI: {0}")]
    RequestUri(#[from] super::uri::UriError),
    /// A header line without a colon or with a name that is not a token.
    #[error("malformed header line")]
    HeaderLine,
    /// A continuation line before the first header.
    #[error("continuation line before any header")]
    Continuation,
    /// Two Content-Length headers: the body cannot be delimited (RFC 4475 `mcl01`).
    #[error("more than one Content-Length")]
    MultipleContentLength,
    /// Content-Length not a non-negative number (RFC 4475 `ncl`).
    #[error("bad Content-Length")]
    ContentLength,
    /// Content-Length larger than the bytes that arrived (RFC 4475 `clerr`).
    #[error("Content-Length {declared} but only {available} bytes of body")]
    Truncated {
        /// What the header says.
        declared: usize,
        /// What is there.
        available: usize,
    },
    /// A stream message without Content-Length (RFC 3261 §18.3 requires it on streams).
    #[error("Content-Length missing on a stream transport")]
    MissingContentLength,
}

/// Parses one UDP datagram. Octets past `Content-Length` are ignored (RFC 4475 `dblreq`);
/// with no `Content-Length`, the rest of the datagram is the body.
pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    if buf.len() > limits.max_message {
        return Err(ParseError::TooLarge {
            max: limits.max_message,
        });
    }
    let start = skip_crlf(buf);
    if start == buf.len() {
        return Err(ParseError::KeepAlive);
    }
    let (head_end, body_start) =
        find_head_end(buf, start, buf.len()).ok_or(ParseError::NoEndOfHeaders)?;
    let (start_line, headers) = parse_head(&buf[start..head_end], limits)?;
    let available = buf.len() - body_start;
    let body = match content_length(&headers)? {
        Some(n) if n > available => {
            return Err(ParseError::Truncated {
                declared: n,
                available,
            })
        }
        Some(n) => buf[body_start..body_start + n].to_vec(),
        None => buf[body_start..].to_vec(),
    };
    Ok(assemble(start_line, headers, body))
}

/// Number of leading CR/LF bytes.
pub(crate) fn skip_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()
}

/// Finds the empty line ending the head in `buf[from..limit]`: returns the end of the head
/// (after its last line's LF) and the start of the body.
pub(crate) fn find_head_end(buf: &[u8], from: usize, limit: usize) -> Option<(usize, usize)> {
    let limit = limit.min(buf.len());
    let mut i = from;
    while i < limit {
        if buf[i] == b'\n' {
            let rest = &buf[i + 1..limit];
            if rest.starts_with(b"\r\n") {
                return Some((i + 1, i + 3));
            }
            if rest.starts_with(b"\n") {
                return Some((i + 1, i + 2));
            }
        }
        i += 1;
    }
    None
}

/// The first line, parsed.
pub(crate) enum StartLine {
    Request {
        method: Method,
        uri: Uri,
        version: Version,
    },
    Response {
        version: Version,
        status: u16,
        reason: String,
    },
}

/// Parses the start line and the header lines (`head` ends with the last header's line end).
pub(crate) fn parse_head(head: &[u8], limits: &Limits) -> Result<(StartLine, Headers), ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    if first.len() > limits.max_line {
        return Err(ParseError::LineTooLong {
            max: limits.max_line,
        });
    }
    if first.contains('\r') {
        return Err(ParseError::BareCr);
    }
    let start = parse_start_line(first)?;
    // Unfold into (name, value) pairs first, then store: continuation lines extend the last.
    let mut raw: Vec<(&str, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue; // only the final line end produces an empty piece
        }
        if line.len() > limits.max_line {
            return Err(ParseError::LineTooLong {
                max: limits.max_line,
            });
        }
        if line.contains('\r') {
            return Err(ParseError::BareCr);
        }
        if line.starts_with(is_ws) {
            let last = raw.last_mut().ok_or(ParseError::Continuation)?;
            let more = trim_ws(line);
            if !more.is_empty() {
                if !last.1.is_empty() {
                    last.1.push(' ');
                }
                last.1.push_str(more);
            }
            if last.1.len() > limits.max_line {
                return Err(ParseError::LineTooLong {
                    max: limits.max_line,
                });
            }
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
        let name = trim_ws(name);
        if !is_token(name) {
            return Err(ParseError::HeaderLine);
        }
        if raw.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        raw.push((name, trim_ws(value).to_owned()));
    }
    let mut headers = Headers::new();
    for (n, v) in raw {
        headers.push(n, v);
    }
    Ok((start, headers))
}

fn parse_version(s: &str) -> Result<Version, ParseError> {
    let rest = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &s[4..])
        .ok_or(ParseError::Version)?;
    let (maj, min) = rest.split_once('.').ok_or(ParseError::Version)?;
    let num = |x: &str| {
        if x.is_empty() || x.len() > 3 || !x.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::Version);
        }
        x.parse::<u8>().map_err(|_| ParseError::Version)
    };
    Ok(Version {
        major: num(maj)?,
        minor: num(min)?,
    })
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.len() >= 4
        && line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (v, rest) = line.split_once(' ').ok_or(ParseError::StatusLine)?;
        let version = parse_version(v)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StatusCode);
        }
        let status: u16 = code.parse().map_err(|_| ParseError::StatusCode)?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::StatusCode);
        }
        return Ok(StartLine::Response {
            version,
            status,
            reason: reason.to_owned(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version, exactly one SP each.
    let (method, rest) = line.split_once(' ').ok_or(ParseError::RequestLine)?;
    let (uri, version) = rest.rsplit_once(' ').ok_or(ParseError::RequestLine)?;
    if !is_token(method) {
        return Err(ParseError::Method);
    }
    if uri.is_empty() || uri.contains([' ', '\t']) || version.is_empty() {
        return Err(ParseError::RequestLine);
    }
    let version = parse_version(version)?;
    let uri = Uri::parse(uri)?;
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri,
        version,
    })
}

/// The single Content-Length, if any.
pub(crate) fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    if headers.count("Content-Length") > 1 {
        return Err(ParseError::MultipleContentLength);
    }
    headers
        .content_length()
        .map_err(|_| ParseError::ContentLength)
}

pub(crate) fn assemble(start: StartLine, headers: Headers, body: Vec<u8>) -> Message {
    match start {
        StartLine::Request {
            method,
            uri,
            version,
        } => Message::Request(Request {
            method,
            uri,
            version,
            headers,
            body,
        }),
        StartLine::Response {
            version,
            status,
            reason,
        } => Message::Response(Response {
            version,
            status,
            reason,
            headers,
            body,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Message, ParseError> {
        parse_datagram(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn request_roundtrip() {
        let m = p("\r\nOPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 3\r\nX:  y\r\n  z\r\n\r\nabcdef")
            .expect("parse");
        let Message::Request(r) = &m else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.body, b"abc");
        assert_eq!(r.headers.get("x"), Some("y z"));
        let again = Message::parse(&m.encode()).expect("reparse");
        assert_eq!(again.body(), b"abc");
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_message: 100,
            max_headers: 2,
            max_line: 40,
        };
        let big = vec![b'a'; 101];
        assert_eq!(
            parse_datagram(&big, &l),
            Err(ParseError::TooLarge { max: 100 })
        );
        let many = "OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_datagram(many.as_bytes(), &l),
            Err(ParseError::TooManyHeaders { max: 2 })
        );
        let long = format!("OPTIONS sip:a@b SIP/2.0\r\nA: {}\r\n\r\n", "x".repeat(50));
        assert_eq!(
            parse_datagram(long.as_bytes(), &l),
            Err(ParseError::LineTooLong { max: 40 })
        );
        let folded = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nA: {}\r\n {}\r\n\r\n",
            "x".repeat(30),
            "y".repeat(30)
        );
        assert_eq!(
            parse_datagram(folded.as_bytes(), &l),
            Err(ParseError::LineTooLong { max: 40 })
        );
    }

    #[test]
    fn start_lines() {
        assert_eq!(p("\r\n\r\n"), Err(ParseError::KeepAlive));
        assert!(
            matches!(p("SIP/2.0 100 \r\n\r\n"), Ok(Message::Response(r)) if r.reason.is_empty())
        );
        assert!(matches!(p("SIP/2.0 180\r\n\r\n"), Ok(Message::Response(r)) if r.status == 180));
        assert_eq!(
            p("SIP/2.0 4294967301 x\r\n\r\n"),
            Err(ParseError::StatusCode)
        );
        assert_eq!(p("SIP/2.0 099 x\r\n\r\n"), Err(ParseError::StatusCode));
        assert_eq!(
            p("INVITE  sip:a@b  SIP/2.0\r\n\r\n"),
            Err(ParseError::RequestLine)
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0 \r\n\r\n"),
            Err(ParseError::RequestLine)
        );
        assert_eq!(
            p("INVITE sip:a@b HTTP/1.1\r\n\r\n"),
            Err(ParseError::Version)
        );
        assert!(p("INVITE <sip:a@b> SIP/2.0\r\n\r\n").is_err());
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\n bad\r\n\r\n"),
            Err(ParseError::Continuation)
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n"),
            Err(ParseError::HeaderLine)
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\nVia: x"),
            Err(ParseError::NoEndOfHeaders)
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nab"),
            Err(ParseError::Truncated {
                declared: 5,
                available: 2
            })
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\nl: -5\r\n\r\nab"),
            Err(ParseError::ContentLength)
        );
        assert_eq!(
            p("INVITE sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nab"),
            Err(ParseError::MultipleContentLength)
        );
    }
}
