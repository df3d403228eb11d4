//! Typed views of the headers the box uses. Each accessor parses on demand from the stored
//! text and reports a [`HeaderError`] naming the header, so a bad value in a header nobody
//! reads never rejects a message.

use std::fmt;

use super::name_addr::NameAddr;
use super::params::Params;
use super::syntax::{is_token, read_quoted, split_outside, trim_ws};
use super::via::Via;
use super::{Headers, Method};

/// A header that is missing or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header's value does not follow its grammar.
    #[error("malformed {name} header: {reason}")]
    Invalid {
        /// Canonical header name.
        name: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

fn invalid(name: &'static str) -> impl Fn(&'static str) -> HeaderError {
    move |reason| HeaderError::Invalid { name, reason }
}

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (32-bit unsigned; RFC 4475 `scalar02` overflows it).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `number LWS method`; leading zeros allowed.
    pub fn parse(s: &str) -> Result<CSeq, &'static str> {
        let s = trim_ws(s);
        let ws = s.find(super::syntax::is_ws).ok_or("missing method")?;
        let (n, m) = (&s[..ws], trim_ws(&s[ws..]));
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err("sequence number is not a number");
        }
        let seq = parse_u32(n).ok_or("sequence number out of range")?;
        if !is_token(m) {
            return Err("malformed method");
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(m),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Digits to u32 with leading zeros allowed; `None` on overflow.
fn parse_u32(n: &str) -> Option<u32> {
    let t = n.trim_start_matches('0');
    if t.is_empty() {
        return Some(0);
    }
    if t.len() > 10 {
        return None;
    }
    t.parse().ok()
}

/// `delta-seconds`: digits; values past 2^32-1 saturate (RFC 3261 §20.19 asks for leniency).
pub fn parse_delta_seconds(s: &str) -> Result<u32, &'static str> {
    let s = trim_ws(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number of seconds");
    }
    Ok(parse_u32(s).unwrap_or(u32::MAX))
}

/// The Contact header: `*` (remove all bindings) or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *`.
    Star,
    /// One or more addresses (possibly none if the header is absent).
    List(Vec<NameAddr>),
}

/// An auth header's scheme and `name=value` parameters (quotes removed), for
/// Authorization, Proxy-Authorization, WWW-Authenticate and Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// Scheme, e.g. `Digest`.
    pub scheme: String,
    /// Parameters in order, names as written, values unquoted.
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    /// Parses `Scheme name=value, name="value", ...`.
    pub fn parse(s: &str) -> Result<AuthParams, &'static str> {
        let s = trim_ws(s);
        let (scheme, rest) = match s.find(super::syntax::is_ws) {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        if !is_token(scheme) {
            return Err("malformed scheme");
        }
        let mut params = Vec::new();
        let rest = trim_ws(rest);
        if !rest.is_empty() {
            for item in split_outside(rest, ',') {
                let (n, v) = item.split_once('=').ok_or("parameter without value")?;
                let (n, v) = (trim_ws(n), trim_ws(v));
                if !is_token(n) || v.is_empty() {
                    return Err("malformed parameter");
                }
                let value = if v.starts_with('"') {
                    match read_quoted(v) {
                        Some((q, rest)) if trim_ws(rest).is_empty() => q,
                        _ => return Err("unterminated quoted value"),
                    }
                } else {
                    v.to_owned()
                };
                params.push((n.to_owned(), value));
            }
        }
        Ok(AuthParams {
            scheme: scheme.to_owned(),
            params,
        })
    }

    /// A parameter by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

/// `type/subtype;params`, as in Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// Type, lower-cased.
    pub kind: String,
    /// Subtype, lower-cased.
    pub subtype: String,
    /// Parameters (boundary, charset, ...).
    pub params: Params,
}

impl MediaType {
    /// Parses `application/sdp;charset=utf-8`.
    pub fn parse(s: &str) -> Result<MediaType, &'static str> {
        let s = trim_ws(s);
        let semi = s.find(';').unwrap_or(s.len());
        let (t, st) = s[..semi].split_once('/').ok_or("missing '/'")?;
        let (t, st) = (trim_ws(t), trim_ws(st));
        if !is_token(t) || !is_token(st) {
            return Err("malformed media type");
        }
        Ok(MediaType {
            kind: t.to_ascii_lowercase(),
            subtype: st.to_ascii_lowercase(),
            params: Params::parse(&s[semi..])?,
        })
    }

    /// True for `type/subtype` (case-insensitive).
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

/// `Event: message-summary;id=1` (RFC 6665).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    /// Event package, e.g. `message-summary`.
    pub package: String,
    /// Parameters (`id`, ...).
    pub params: Params,
}

/// `Subscription-State: active;expires=3600` (RFC 6665).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// `active`, `pending`, `terminated` or an extension, lower-cased.
    pub state: String,
    /// Parameters (`expires`, `reason`, `retry-after`).
    pub params: Params,
}

fn token_and_params(s: &str) -> Result<(String, Params), &'static str> {
    let s = trim_ws(s);
    let semi = s.find(';').unwrap_or(s.len());
    let t = trim_ws(&s[..semi]);
    if !is_token(t) {
        return Err("malformed token");
    }
    Ok((t.to_owned(), Params::parse(&s[semi..])?))
}

impl Headers {
    fn single(&self, name: &'static str) -> Result<&str, HeaderError> {
        self.get(name).ok_or(HeaderError::Missing(name))
    }

    /// Call-ID (`word[@word]`, kept opaque).
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self.single("Call-ID")?;
        if v.is_empty() || v.chars().any(|c| super::syntax::is_ws(c) || c.is_control()) {
            return Err(HeaderError::Invalid {
                name: "Call-ID",
                reason: "empty or contains whitespace",
            });
        }
        Ok(v)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(self.single("CSeq")?).map_err(invalid("CSeq"))
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.single("From")?).map_err(invalid("From"))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.single("To")?).map_err(invalid("To"))
    }

    /// Every Via element, top first.
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        let v = self.values("Via");
        if v.is_empty() {
            return Err(HeaderError::Missing("Via"));
        }
        v.into_iter()
            .map(|e| Via::parse(e).map_err(invalid("Via")))
            .collect()
    }

    /// The topmost Via element.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let v = self.values("Via");
        Via::parse(v.first().ok_or(HeaderError::Missing("Via"))?).map_err(invalid("Via"))
    }

    /// Contact: `*` or the list (empty if absent). `*` mixed with addresses is an error.
    pub fn contacts(&self) -> Result<Contacts, HeaderError> {
        let v = self.values("Contact");
        if v.contains(&"*") {
            return if v.len() == 1 {
                Ok(Contacts::Star)
            } else {
                Err(HeaderError::Invalid {
                    name: "Contact",
                    reason: "'*' mixed with addresses",
                })
            };
        }
        v.into_iter()
            .map(|e| NameAddr::parse(e).map_err(invalid("Contact")))
            .collect::<Result<_, _>>()
            .map(Contacts::List)
    }

    /// Expires, if present.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.get("Expires")
            .map(|v| parse_delta_seconds(v).map_err(invalid("Expires")))
            .transpose()
    }

    /// Max-Forwards (0 to 255), if present.
    pub fn max_forwards(&self) -> Result<Option<u8>, HeaderError> {
        self.get("Max-Forwards")
            .map(|v| {
                let v = trim_ws(v);
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeaderError::Invalid {
                        name: "Max-Forwards",
                        reason: "not a number",
                    });
                }
                parse_u32(v)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or(HeaderError::Invalid {
                        name: "Max-Forwards",
                        reason: "larger than 255",
                    })
            })
            .transpose()
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        self.get("Content-Length")
            .map(|v| {
                let v = trim_ws(v);
                if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeaderError::Invalid {
                        name: "Content-Length",
                        reason: "not a small non-negative number",
                    });
                }
                v.parse().map_err(|_| HeaderError::Invalid {
                    name: "Content-Length",
                    reason: "not a number",
                })
            })
            .transpose()
    }

    /// Route elements, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.values("Route")
            .into_iter()
            .map(|e| NameAddr::parse(e).map_err(invalid("Route")))
            .collect()
    }

    /// Record-Route elements, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.values("Record-Route")
            .into_iter()
            .map(|e| NameAddr::parse(e).map_err(invalid("Record-Route")))
            .collect()
    }

    fn auth(&self, name: &'static str) -> Result<Vec<AuthParams>, HeaderError> {
        self.get_all(name)
            .map(|v| AuthParams::parse(v).map_err(invalid(name)))
            .collect()
    }

    /// Every Authorization header.
    pub fn authorization(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.auth("Authorization")
    }

    /// Every Proxy-Authorization header.
    pub fn proxy_authorization(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.auth("Proxy-Authorization")
    }

    /// Every WWW-Authenticate challenge.
    pub fn www_authenticate(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.auth("WWW-Authenticate")
    }

    /// Every Proxy-Authenticate challenge.
    pub fn proxy_authenticate(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.auth("Proxy-Authenticate")
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<MediaType>, HeaderError> {
        self.get("Content-Type")
            .map(|v| MediaType::parse(v).map_err(invalid("Content-Type")))
            .transpose()
    }

    /// Event, if present.
    pub fn event(&self) -> Result<Option<EventHeader>, HeaderError> {
        self.get("Event")
            .map(|v| {
                token_and_params(v)
                    .map(|(package, params)| EventHeader { package, params })
                    .map_err(invalid("Event"))
            })
            .transpose()
    }

    /// Subscription-State, if present.
    pub fn subscription_state(&self) -> Result<Option<SubscriptionState>, HeaderError> {
        self.get("Subscription-State")
            .map(|v| {
                token_and_params(v)
                    .map(|(s, params)| SubscriptionState {
                        state: s.to_ascii_lowercase(),
                        params,
                    })
                    .map_err(invalid("Subscription-State"))
            })
            .transpose()
    }

    fn tokens(&self, name: &'static str) -> Result<Vec<String>, HeaderError> {
        self.values(name)
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| {
                if is_token(v) {
                    Ok(v.to_owned())
                } else {
                    Err(HeaderError::Invalid {
                        name,
                        reason: "not a token",
                    })
                }
            })
            .collect()
    }

    /// Allow: the methods listed.
    pub fn allow(&self) -> Result<Vec<Method>, HeaderError> {
        Ok(self
            .tokens("Allow")?
            .iter()
            .map(|m| Method::from_token(m))
            .collect())
    }

    /// Supported option tags.
    pub fn supported(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens("Supported")
    }

    /// Require option tags.
    pub fn require(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens("Require")
    }

    /// Proxy-Require option tags.
    pub fn proxy_require(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens("Proxy-Require")
    }

    /// User-Agent, as written.
    pub fn user_agent(&self) -> Option<&str> {
        self.get("User-Agent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse("0009  INVITE").expect("ok"),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("4294967295 X").is_ok());
        assert!(CSeq::parse("4294967296 X").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn auth_params() {
        let a =
            AuthParams::parse(r#"Digest username="bob", realm="ivm, box", nc=00000001, qop=auth"#)
                .expect("ok");
        assert!(a.is_digest());
        assert_eq!(a.get("realm"), Some("ivm, box"));
        assert_eq!(a.get("NC"), Some("00000001"));
        assert!(AuthParams::parse(r#"Digest username="bob"#).is_err());
        assert!(AuthParams::parse("Digest ,").is_err());
    }

    #[test]
    fn misc() {
        let mut h = Headers::new();
        h.push("Expires", "1000000000000000000000000000000000000000000");
        h.push("Max-Forwards", "0068");
        h.push("c", "Application/SDP");
        h.push("o", "message-summary;id=3");
        h.push("Subscription-State", "Active;expires=600");
        h.push("m", "*");
        h.push("Allow", "INVITE, ACK ,BYE");
        assert_eq!(h.expires().expect("ok"), Some(u32::MAX));
        assert_eq!(h.max_forwards().expect("ok"), Some(68));
        assert!(h
            .content_type()
            .expect("ok")
            .expect("some")
            .is("application", "sdp"));
        assert_eq!(
            h.event()
                .expect("ok")
                .expect("some")
                .params
                .get("id")
                .as_deref(),
            Some("3")
        );
        assert_eq!(
            h.subscription_state().expect("ok").expect("some").state,
            "active"
        );
        assert_eq!(h.contacts().expect("ok"), Contacts::Star);
        assert_eq!(
            h.allow().expect("ok"),
            vec![Method::Invite, Method::Ack, Method::Bye]
        );
        h.push("Max-Forwards", "300");
        h.set("Max-Forwards", "300");
        assert!(h.max_forwards().is_err());
    }
}
