//! URIs (RFC 3261 §19.1, §25.1; RFC 3966 for `tel:`).
//!
//! Components are kept as they were written (escapes included) so that a URI prints back the
//! way it came in; [`unescape`](super::unescape) decodes a component when a comparison needs it.
//! Any scheme other than `sip`, `sips` and `tel` is kept opaque so that a request carrying one
//! can still be answered `416 Unsupported URI Scheme` rather than dropped.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::syntax::{check_escaped, is_ws};

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix, or a scheme with characters a scheme cannot have.
    #[error("missing or malformed scheme")]
    Scheme,
    /// Whitespace or control characters inside the URI (RFC 4475 `lwsruri`).
    #[error("whitespace or control character in URI")]
    Whitespace,
    /// A character or `%` escape not allowed in the user or password part.
    #[error("malformed user part")]
    User,
    /// Empty host, bad IPv6 reference, or characters a host name cannot have.
    #[error("malformed host")]
    Host,
    /// A port that is not a number from 0 to 65535.
    #[error("malformed port")]
    Port,
    /// An empty or malformed `;param`.
    #[error("malformed URI parameter")]
    Param,
    /// A malformed `?header=value`.
    #[error("malformed URI header")]
    Header,
    /// A `tel:` number with characters a number cannot have.
    #[error("malformed telephone number")]
    Tel,
    /// Nothing after the scheme.
    #[error("empty URI")]
    Empty,
}

/// Host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name, as written.
    Domain(String),
    /// A dotted-quad address.
    V4(Ipv4Addr),
    /// An IPv6 reference (written in brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host name, an IPv4 address or a bracketed IPv6 reference.
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::Host)?;
            return inner.parse().map(Host::V6).map_err(|_| UriError::Host);
        }
        if let Ok(a) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(a));
        }
        let ok = !s.is_empty()
            && s.len() <= 255
            && !s.starts_with('.')
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if ok {
            Ok(Host::Domain(s.to_owned()))
        } else {
            Err(UriError::Host)
        }
    }

    /// True for the IPv4 limited broadcast address and multicast groups: a response must never
    /// be sent there (RFC 4475 `bcast`).
    pub fn is_broadcast_or_multicast(&self) -> bool {
        match self {
            Host::V4(a) => a.is_broadcast() || a.is_multicast(),
            Host::V6(a) => a.is_multicast(),
            Host::Domain(_) => false,
        }
    }

    /// Case-insensitive comparison for names, exact for addresses.
    pub fn matches(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// `host[:port]`, as in a URI or a Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host.
    pub host: Host,
    /// The port, if written.
    pub port: Option<u16>,
}

impl HostPort {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<HostPort, UriError> {
        let (host, port) = if s.starts_with('[') {
            let end = s.find(']').ok_or(UriError::Host)?;
            let rest = &s[end + 1..];
            let port = match rest.strip_prefix(':') {
                Some(p) => Some(p),
                None if rest.is_empty() => None,
                None => return Err(UriError::Host),
            };
            (&s[..=end], port)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| UriError::Port)?)
            }
            Some(_) => return Err(UriError::Port),
            None => None,
        };
        Ok(HostPort {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, escapes kept (may contain `;` as in RFC 4475 `semiuri`).
    pub user: Option<String>,
    /// Password part, escapes kept (deprecated, but legal).
    pub password: Option<String>,
    /// Host and port.
    pub host_port: HostPort,
    /// `;name[=value]` parameters, in order, escapes kept.
    pub params: Vec<(String, Option<String>)>,
    /// `?name=value` headers, in order, escapes kept.
    pub headers: Vec<(String, String)>,
}

const USER_EXTRA: &str = "&=+$,;?/";
const PASSWORD_EXTRA: &str = "&=+$,";
const PARAM_EXTRA: &str = "[]/:&+$";
const HEADER_EXTRA: &str = "[]/?:+$";

impl SipUri {
    /// A plain `sip:user@host` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(str::to_owned),
            password: None,
            host_port: HostPort { host, port },
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn parse_after_scheme(s: &str, secure: bool) -> Result<SipUri, UriError> {
        if s.is_empty() {
            return Err(UriError::Empty);
        }
        // '@' cannot appear unescaped after the userinfo, so the first one ends it.
        let (userinfo, rest) = match s.find('@') {
            Some(i) => (Some(&s[..i]), &s[i + 1..]),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() || !check_escaped(u, USER_EXTRA) {
                    return Err(UriError::User);
                }
                if let Some(p) = p {
                    if !check_escaped(p, PASSWORD_EXTRA) {
                        return Err(UriError::User);
                    }
                }
                (Some(u.to_owned()), p.map(str::to_owned))
            }
        };
        let hp_end = rest.find([';', '?']).unwrap_or(rest.len());
        let host_port = HostPort::parse(&rest[..hp_end])?;
        let mut rest = &rest[hp_end..];
        let mut params = Vec::new();
        if let Some(p) = rest.strip_prefix(';') {
            let end = p.find('?').unwrap_or(p.len());
            for item in p[..end].split(';') {
                let (n, v) = match item.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (item, None),
                };
                if n.is_empty() || !check_escaped(n, PARAM_EXTRA) {
                    return Err(UriError::Param);
                }
                if let Some(v) = v {
                    if v.is_empty() || !check_escaped(v, PARAM_EXTRA) {
                        return Err(UriError::Param);
                    }
                }
                params.push((n.to_owned(), v.map(str::to_owned)));
            }
            rest = &p[end..];
        }
        let mut headers = Vec::new();
        if let Some(h) = rest.strip_prefix('?') {
            for item in h.split('&') {
                let (n, v) = item.split_once('=').ok_or(UriError::Header)?;
                if n.is_empty()
                    || !check_escaped(n, HEADER_EXTRA)
                    || !check_escaped(v, HEADER_EXTRA)
                {
                    return Err(UriError::Header);
                }
                headers.push((n.to_owned(), v.to_owned()));
            }
        } else if !rest.is_empty() {
            return Err(UriError::Host);
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host_port,
            params,
            headers,
        })
    }

    /// The value of a URI parameter (name compared case-insensitively); `Some(None)` for a
    /// parameter without a value such as `;lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The `transport` parameter, lower-cased.
    pub fn transport(&self) -> Option<String> {
        self.param("transport")
            .flatten()
            .map(|t| t.to_ascii_lowercase())
    }

    /// The user part with escapes decoded, as text (lossy for non-UTF-8 octets).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user
            .as_deref()
            .map(|u| String::from_utf8_lossy(&super::syntax::unescape(u)).into_owned())
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host_port)?;
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

/// A `tel:` URI (RFC 3966), kept simple: the number and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number as written (`+1-201-555-0123` or a local number).
    pub number: String,
    /// `;name[=value]` parameters, raw.
    pub params: Vec<(String, Option<String>)>,
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}", self.number)?;
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Any URI a SIP message can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` / `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Any other absolute URI, kept opaque (answered 416 where a SIP URI is needed).
    Other {
        /// The scheme as written.
        scheme: String,
        /// Everything after the colon.
        rest: String,
    },
}

impl Uri {
    /// Parses a URI. Whitespace anywhere is an error: a URI in a request line or inside `<>`
    /// never contains LWS (RFC 4475 `lwsruri`, `badaspec`).
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        if s.chars().any(|c| is_ws(c) || c.is_control()) {
            return Err(UriError::Whitespace);
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError::Scheme)?;
        let mut sc = scheme.chars();
        let scheme_ok = sc.next().is_some_and(|c| c.is_ascii_alphabetic())
            && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(UriError::Scheme);
        }
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_after_scheme(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            let mut parts = rest.split(';');
            let number = parts.next().unwrap_or_default();
            let ok = !number.is_empty()
                && number.chars().all(|c| {
                    c.is_ascii_hexdigit() || matches!(c, '+' | '-' | '.' | '(' | ')' | '*' | '#')
                });
            if !ok {
                return Err(UriError::Tel);
            }
            let mut params = Vec::new();
            for p in parts {
                let (n, v) = match p.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (p, None),
                };
                if n.is_empty() {
                    return Err(UriError::Param);
                }
                params.push((n.to_owned(), v));
            }
            Ok(Uri::Tel(TelUri {
                number: number.to_owned(),
                params,
            }))
        } else if rest.is_empty() || rest.contains(['<', '>', '"']) {
            Err(UriError::Empty)
        } else {
            Ok(Uri::Other {
                scheme: scheme.to_owned(),
                rest: rest.to_owned(),
            })
        }
    }

    /// The SIP URI inside, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme, lower-cased.
    pub fn scheme(&self) -> String {
        match self {
            Uri::Sip(u) if u.secure => "sips".into(),
            Uri::Sip(_) => "sip".into(),
            Uri::Tel(_) => "tel".into(),
            Uri::Other { scheme, .. } => scheme.to_ascii_lowercase(),
        }
    }
}

impl std::str::FromStr for Uri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn basic_and_roundtrip() {
        for s in [
            "sip:alice@example.com",
            "sips:alice:secret@example.com:5061;transport=tcp;lr?subject=hi&priority=urgent",
            "sip:[2001:db8::1]:5070;maddr=239.255.255.1",
            "sip:192.0.2.4",
            "sip:user;par=u%40example.net@example.com",
            "tel:+1-201-555-0123;phone-context=example.com",
        ] {
            assert_eq!(Uri::parse(s).expect(s).to_string(), s);
        }
        let u = sip("sip:[2001:db8::1]:5070");
        assert_eq!(u.host_port.port, Some(5070));
        assert!(matches!(u.host_port.host, Host::V6(_)));
        assert_eq!(
            sip("sip:user;par=u%40example.net@example.com")
                .user
                .as_deref(),
            Some("user;par=u%40example.net")
        );
    }

    #[test]
    fn rfc4475_intmeth_uri() {
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
    }

    #[test]
    fn escapes_and_null() {
        let u = sip("sip:null-%00-null@example.com");
        assert_eq!(unescape_user(&u), b"null-\0-null");
        let u = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(u.user_unescaped().as_deref(), Some("caller"));
        assert_eq!(u.params.len(), 2);
    }

    fn unescape_user(u: &SipUri) -> Vec<u8> {
        super::super::syntax::unescape(u.user.as_deref().unwrap_or_default())
    }

    #[test]
    fn rejects() {
        for s in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:@example.com",
            "sip:user@",
            "sip:user@exa mple.com",
            "sip:user@example.com:99999",
            "sip:user@example.com:",
            "sip:user@[::1",
            "sip:user@example.com;;",
            "sip:us%zzer@example.com",
            "sip:user@example.com?noequals",
            "1sip:foo",
            "tel:abc;",
            "nobodyKnowsThisScheme:",
        ] {
            assert!(Uri::parse(s).is_err(), "{s} should be rejected");
        }
        assert!(matches!(
            Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(Uri::Other { .. })
        ));
    }
}
