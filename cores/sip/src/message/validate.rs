//! Whether a parsed message is one the box will act on (RFC 3261 §8.1.1, §8.2, §16.3), and
//! if not, which status to answer with. Kept apart from parsing so that a message that parses
//! but breaks a rule can still be answered (400, 416, 420, 505) instead of silently dropped.

use super::typed::HeaderError;
use super::{Method, Request, Response, Uri, Version};

/// Why a parsed message is refused, with the status to answer (requests) or drop (responses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A mandatory header is missing or malformed (RFC 4475 `insuf`, `badinv01`, `scalar02`).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A header that may appear once appears more often (RFC 4475 `multi01`).
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    /// CSeq names another method than the request line (RFC 4475 `mismatch01/02`).
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    /// CSeq sequence number must be below 2^31 in requests (RFC 3261 §8.1.1.5).
    #[error("CSeq number too large")]
    CSeqRange,
    /// SIP version other than 2.0 (RFC 4475 `badvers`).
    #[error("unsupported SIP version {0}")]
    Version(Version),
    /// Request-URI scheme other than sip, sips, tel (RFC 4475 `unksm`).
    #[error("unsupported URI scheme {0}")]
    Scheme(String),
    /// A Request-URI with `?headers` (RFC 4475 `escruri`).
    #[error("Request-URI carries headers")]
    UriHeaders,
}

impl Invalid {
    /// The status code and reason to answer a request with.
    pub fn status(&self) -> u16 {
        match self {
            Invalid::Version(_) => 505,
            Invalid::Scheme(_) => 416,
            _ => 400,
        }
    }
}

const SINGLE: &[&str] = &[
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Type",
    "Content-Length",
    "Expires",
];

fn check_common(headers: &super::Headers, version: Version) -> Result<(), Invalid> {
    if version != Version::SIP_2_0 {
        return Err(Invalid::Version(version));
    }
    for name in SINGLE {
        if headers.count(name) > 1 {
            return Err(Invalid::Duplicate(name));
        }
    }
    headers.call_id()?;
    headers.from()?;
    headers.to()?;
    headers.vias()?;
    headers.content_length()?;
    Ok(())
}

impl Request {
    /// Checks the rules a UAS or proxy applies before processing: version, mandatory headers
    /// (To, From, CSeq, Call-ID, Via; Max-Forwards only checked if present, since some UAs
    /// omit it), single headers once, CSeq method equal to the request method, URI scheme.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_common(&self.headers, self.version)?;
        let cseq = self.headers.cseq()?;
        if cseq.method != self.method {
            return Err(Invalid::CSeqMethod);
        }
        if cseq.seq >= 1 << 31 {
            return Err(Invalid::CSeqRange);
        }
        self.headers.max_forwards()?;
        match &self.uri {
            Uri::Sip(u) if !u.headers.is_empty() => return Err(Invalid::UriHeaders),
            Uri::Other { scheme, .. } => return Err(Invalid::Scheme(scheme.clone())),
            _ => {}
        }
        if matches!(
            self.method,
            Method::Register | Method::Invite | Method::Subscribe
        ) {
            self.headers.contacts()?;
        }
        Ok(())
    }

    /// Option tags in Require and Proxy-Require that are not in `supported`: answer
    /// `420 Bad Extension` with them in `Unsupported` (RFC 4475 `bext01`). The box is both the
    /// registrar and the proxy, so it checks both headers.
    pub fn unsupported_extensions(&self, supported: &[&str]) -> Vec<String> {
        let mut tags = self.headers.require().unwrap_or_default();
        if self.method != Method::Ack && self.method != Method::Cancel {
            tags.extend(self.headers.proxy_require().unwrap_or_default());
        } else {
            tags.clear();
        }
        tags.retain(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)));
        tags
    }
}

impl Response {
    /// Checks a response before the transaction layer acts on it; failures are dropped.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_common(&self.headers, self.version)?;
        self.headers.cseq()?;
        Ok(())
    }
}
