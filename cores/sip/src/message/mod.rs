//! SIP messages (RFC 3261 §7, §25): parsing, typed header access, serialisation.
//!
//! - [`parse`]: datagram parsing with [`Limits`]; every failure is a [`ParseError`].
//! - [`framer`]: finds message boundaries in a TCP byte stream by `Content-Length`.
//! - [`validate`]: the checks that make a parseable request acceptable (mandatory headers,
//!   CSeq method, version); failures carry the status to answer with.
//! - [`headers`], [`typed`], [`uri`], [`via`], [`name_addr`], [`params`]: the header model.
//!
//! Parsing is two-level on purpose: [`parse`] only decides where the message is and what its
//! lines say, typed accessors parse a header when somebody asks. A phone that sends an odd
//! `Date` is not refused for it (RFC 4475 `baddate`), while one with a bad `CSeq` is.

pub mod framer;
pub mod headers;
pub mod name_addr;
pub mod params;
pub mod parse;
mod syntax;
pub mod typed;
pub mod uri;
pub mod validate;
pub mod via;

use std::fmt;

pub use framer::{Framed, Framer, FramerError};
pub use headers::{Header, Headers};
pub use name_addr::NameAddr;
pub use params::{Param, Params};
pub use parse::{Limits, ParseError};
pub use syntax::unescape;

/// Splits a list header value at its first top-level comma: (first element, rest).
pub(crate) fn syntax_split_first(v: &str) -> (&str, Option<&str>) {
    let parts = syntax::split_outside(v, ',');
    match parts.first() {
        Some(first) if parts.len() > 1 => (
            syntax::trim_ws(first),
            Some(syntax::trim_ws(&v[first.len() + 1..])),
        ),
        _ => (syntax::trim_ws(v), None),
    }
}
pub use typed::{
    AuthParams, CSeq, Contacts, EventHeader, HeaderError, MediaType, SubscriptionState,
};
pub use uri::{Host, HostPort, SipUri, TelUri, Uri, UriError};
pub use validate::Invalid;
pub use via::{Transport, Via, MAGIC_COOKIE};

/// A request method. Methods are case-sensitive (RFC 3261 §7.1); unknown ones are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// OPTIONS
    Options,
    /// INFO
    Info,
    /// UPDATE
    Update,
    /// PRACK
    Prack,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// PUBLISH
    Publish,
    /// MESSAGE
    Message,
    /// REFER
    Refer,
    /// Any other token.
    Extension(String),
}

impl Method {
    /// Maps a token to a method (exact case).
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "MESSAGE" => Method::Message,
            "REFER" => Method::Refer,
            other => Method::Extension(other.to_owned()),
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `SIP/major.minor`. Anything but 2.0 parses, and is answered 505 by validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
}

impl Version {
    /// SIP/2.0.
    pub const SIP_2_0: Version = Version { major: 2, minor: 0 };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Protocol version.
    pub version: Version,
    /// Headers.
    pub headers: Headers,
    /// Body (exactly Content-Length octets).
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Protocol version.
    pub version: Version,
    /// Status code, 100 to 699.
    pub status: u16,
    /// Reason phrase (may be empty, may be any UTF-8: RFC 4475 `unreason`, `noreason`).
    pub reason: String,
    /// Headers.
    pub headers: Headers,
    /// Body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// The usual reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

fn write_headers_and_body(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Always written, always true: the receiver of a stream needs it to find the next message.
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            version: Version::SIP_2_0,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serialises; `Content-Length` is always written from the body's length.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.method, self.uri, self.version).as_bytes(),
        );
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }

    /// A response to this request (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and CSeq copied;
    /// `to_tag` added to To when given and To has none.
    pub fn make_response(&self, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for v in self.headers.get_all("Via") {
            headers.push("Via", v);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = self.headers.get(name) {
                let mut v = v.to_owned();
                if name == "To" {
                    if let Some(tag) = to_tag {
                        if NameAddr::parse(&v)
                            .map(|n| n.tag().is_none())
                            .unwrap_or(false)
                        {
                            v = format!("{v};tag={tag}");
                        }
                    }
                }
                headers.push(name, v);
            }
        }
        Response {
            version: Version::SIP_2_0,
            status,
            reason: reason_phrase(status).to_owned(),
            headers,
            body: Vec::new(),
        }
    }
}

impl Response {
    /// Serialises; `Content-Length` is always written from the body's length.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.version, self.status, self.reason).as_bytes(),
        );
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }

    /// 1xx.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Message {
    /// Parses one datagram with the default [`Limits`].
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        parse::parse_datagram(buf, &Limits::default())
    }

    /// Serialises.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }

    /// The headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The body of either kind.
    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }
}
