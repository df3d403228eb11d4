//! The SDP subset desk phones use (RFC 4566, offer/answer per RFC 3264): `v o s c t m=audio`
//! with `a=rtpmap`, `a=fmtp`, `a=ptime` and a direction attribute. Other lines are kept so an
//! offer prints back whole; only audio over RTP/AVP with G.711 is ever accepted.
//!
//! Bounded like the SIP parser: size, line count, media count and formats per media line.
//!
//! A crate of its own (it was `ivm_sip::sdp`) because SIP is not the only signalling that
//! carries it: MGCP and MEGACO gateways describe their endpoints' media in SDP too, and their
//! adapters should not depend on the SIP core for it. Pure: no I/O, no clock
//! (`docs/decisions/0005-line-core.md`).
//!
//! # Layout
//! - [`SessionDescription`]: bounded parse ([`SessionDescription::parse`]) and print
//!   ([`SessionDescription::encode`]) of a body, with [`MediaDescription`] per `m=` line.
//! - [`offer`], [`answer`], [`accept_answer`]: the G.711 (PCMU, PCMA) + telephone-event
//!   offer/answer, giving what both sides agreed on as [`Negotiated`].
//!
//! # Use
//! ```
//! # use ivm_sdp::{answer, LocalMedia, SessionDescription};
//! let offer = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\n\
//!     c=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\n\
//!     a=rtpmap:101 telephone-event/8000\r\n")?;
//! let local = LocalMedia {
//!     address: [192, 0, 2, 1].into(),
//!     port: 16384,
//!     session_id: 1,
//!     session_version: 1,
//!     ptime: 20,
//! };
//! let (answer, agreed) = answer(&offer, &local)?;   // Err(NoCommonCodec): answer 488
//! assert_eq!(agreed.remote, Some("192.0.2.7:4000".parse().unwrap()));
//! let body: Vec<u8> = answer.encode();
//! # let _ = body;
//! # Ok::<(), ivm_sdp::SdpError>(())
//! ```

#![deny(missing_docs)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Largest SDP body accepted.
pub const MAX_SDP: usize = 16 * 1024;
const MAX_LINES: usize = 256;
const MAX_MEDIA: usize = 16;
const MAX_FORMATS: usize = 64;

/// Why an SDP body was refused or no answer could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Over the size, line, media or format bounds.
    #[error("SDP exceeds bounds")]
    TooLarge,
    /// Not UTF-8.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// A line not of the form `x=value`.
    #[error("malformed SDP line {0}")]
    Line(usize),
    /// `v=`, `o=` or `s=` missing, or `v=` not first.
    #[error("missing mandatory SDP line {0}=")]
    Missing(char),
    /// A malformed `o=`, `c=` or `m=` line.
    #[error("malformed {0}= line")]
    Field(char),
    /// No audio stream with PCMU or PCMA over RTP/AVP: answer 488.
    #[error("no acceptable audio stream (PCMU/PCMA over RTP/AVP)")]
    NoCommonCodec,
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// a=sendrecv (the default).
    SendRecv,
    /// a=sendonly.
    SendOnly,
    /// a=recvonly.
    RecvOnly,
    /// a=inactive.
    Inactive,
}

impl Direction {
    /// The answerer's direction for this offered one (RFC 3264 §6.1).
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// `c=IN IP4 192.0.2.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address (a multicast TTL suffix is kept as written).
    pub address: String,
}

impl Connection {
    fn parse(v: &str) -> Result<Connection, SdpError> {
        let f: Vec<&str> = v.split_whitespace().collect();
        match f.as_slice() {
            ["IN", t, a] => Ok(Connection {
                addr_type: (*t).to_owned(),
                address: (*a).to_owned(),
            }),
            _ => Err(SdpError::Field('c')),
        }
    }

    fn for_ip(ip: IpAddr) -> Connection {
        Connection {
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, if it is one (and not a name or a multicast form with TTL).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", self.addr_type, self.address)
    }
}

/// `o=username sess-id sess-version IN IP4 address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Username (`-` if none).
    pub username: String,
    /// Session id, as written.
    pub session_id: String,
    /// Session version, as written.
    pub session_version: String,
    /// The origin's address.
    pub connection: Connection,
}

/// An `a=name[:value]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Value after the colon.
    pub value: Option<String>,
}

/// `a=rtpmap:pt encoding/clock[/channels]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels, if written.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub kind: String,
    /// Port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// `/count` after the port, if any.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: String,
    /// Formats (payload types for RTP) in preference order.
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Other lines of the section (`b=`, `i=`, ...), kept as `x=value`.
    pub other: Vec<String>,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// All `a=rtpmap` lines that parse.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| {
                let v = a.value.as_deref()?;
                let (pt, enc) = v.split_once(' ')?;
                let mut parts = enc.trim().split('/');
                let encoding = parts.next()?.to_owned();
                let clock_rate = parts.next()?.parse().ok()?;
                let channels = parts.next().and_then(|c| c.parse().ok());
                Some(RtpMap {
                    payload_type: pt.parse().ok()?,
                    encoding,
                    clock_rate,
                    channels,
                })
            })
            .collect()
    }

    /// The `a=fmtp` parameters for a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .find_map(|a| {
                let (p, rest) = a.value.as_deref()?.split_once(' ')?;
                (p.parse::<u8>().ok()? == pt).then_some(rest.trim())
            })
    }

    /// The direction attribute, if present.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| match a.name.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes
            .iter()
            .find(|a| a.name == "ptime")
            .and_then(|a| a.value.as_deref()?.trim().parse().ok())
    }

    /// The encoding of a payload type: the rtpmap, or the static assignment for 0 and 8.
    fn encoding_of(&self, pt: u8) -> Option<(String, u32)> {
        if let Some(m) = self.rtpmaps().into_iter().find(|m| m.payload_type == pt) {
            return Some((m.encoding.to_ascii_uppercase(), m.clock_rate));
        }
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            _ => None,
        }
    }
}

/// A whole SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=` lines, as written (`0 0` when absent).
    pub timing: Vec<String>,
    /// Other session-level lines (`i=`, `b=`, ...), kept as `x=value`.
    pub other: Vec<String>,
    /// Session-level attributes.
    pub attributes: Vec<Attribute>,
    /// `m=` sections in order.
    pub media: Vec<MediaDescription>,
}

fn attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, v)) => Attribute {
            name: n.to_owned(),
            value: Some(v.to_owned()),
        },
        None => Attribute {
            name: v.to_owned(),
            value: None,
        },
    }
}

impl SessionDescription {
    /// Parses an SDP body.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        if body.len() > MAX_SDP {
            return Err(SdpError::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut origin = None;
        let mut name = None;
        let mut seen_v = false;
        let mut session = SessionDescription {
            origin: Origin {
                username: String::new(),
                session_id: String::new(),
                session_version: String::new(),
                connection: Connection {
                    addr_type: String::new(),
                    address: String::new(),
                },
            },
            name: String::new(),
            connection: None,
            timing: Vec::new(),
            other: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for (i, line) in text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
        {
            if i >= MAX_LINES {
                return Err(SdpError::TooLarge);
            }
            if line.is_empty() {
                continue;
            }
            let b = line.as_bytes();
            if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
                return Err(SdpError::Line(i + 1));
            }
            let (kind, value) = (b[0] as char, &line[2..]);
            if !seen_v {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::Missing('v'));
                }
                seen_v = true;
                continue;
            }
            let in_media = !session.media.is_empty();
            match kind {
                'o' if !in_media => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    let [u, id, ver, "IN", t, a] = f.as_slice() else {
                        return Err(SdpError::Field('o'));
                    };
                    origin = Some(Origin {
                        username: (*u).to_owned(),
                        session_id: (*id).to_owned(),
                        session_version: (*ver).to_owned(),
                        connection: Connection {
                            addr_type: (*t).to_owned(),
                            address: (*a).to_owned(),
                        },
                    });
                }
                's' if !in_media => name = Some(value.to_owned()),
                't' if !in_media => session.timing.push(value.to_owned()),
                'c' => {
                    let c = Connection::parse(value)?;
                    match session.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => session.connection = Some(c),
                    }
                }
                'a' => match session.media.last_mut() {
                    Some(m) => m.attributes.push(attribute(value)),
                    None => session.attributes.push(attribute(value)),
                },
                'm' => {
                    if session.media.len() >= MAX_MEDIA {
                        return Err(SdpError::TooLarge);
                    }
                    let mut f = value.split_whitespace();
                    let (Some(kind), Some(port), Some(proto)) = (f.next(), f.next(), f.next())
                    else {
                        return Err(SdpError::Field('m'));
                    };
                    let (port, port_count) = match port.split_once('/') {
                        Some((p, n)) => (p, Some(n.parse().map_err(|_| SdpError::Field('m'))?)),
                        None => (port, None),
                    };
                    let formats: Vec<String> = f.map(str::to_owned).collect();
                    if formats.len() > MAX_FORMATS {
                        return Err(SdpError::TooLarge);
                    }
                    session.media.push(MediaDescription {
                        kind: kind.to_owned(),
                        port: port.parse().map_err(|_| SdpError::Field('m'))?,
                        port_count,
                        proto: proto.to_owned(),
                        formats,
                        connection: None,
                        other: Vec::new(),
                        attributes: Vec::new(),
                    });
                }
                _ => match session.media.last_mut() {
                    Some(m) => m.other.push(line.to_owned()),
                    None => session.other.push(line.to_owned()),
                },
            }
        }
        if !seen_v {
            return Err(SdpError::Missing('v'));
        }
        session.origin = origin.ok_or(SdpError::Missing('o'))?;
        session.name = name.ok_or(SdpError::Missing('s'))?;
        Ok(session)
    }

    /// Serialises with CRLF line ends.
    pub fn encode(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The address RTP should go to for a media section (media `c=` over session `c=`).
    pub fn rtp_destination(&self, m: &MediaDescription) -> Option<SocketAddr> {
        let c = m.connection.as_ref().or(self.connection.as_ref())?;
        Some(SocketAddr::new(c.ip()?, m.port))
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} {}\r\ns={}\r\n",
            o.username, o.session_id, o.session_version, o.connection, self.name
        )?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        if self.timing.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={t}\r\n")?;
        }
        for l in &self.other {
            write!(f, "{l}\r\n")?;
        }
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.kind, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            f.write_str("\r\n")?;
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            for l in &m.other {
                write!(f, "{l}\r\n")?;
            }
            write_attributes(f, &m.attributes)?;
        }
        Ok(())
    }
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

/// The G.711 codecs the box speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 mu-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Our side of a media session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address phones send RTP to.
    pub address: IpAddr,
    /// RTP port.
    pub port: u16,
    /// `o=` session id (stable for the call).
    pub session_id: u64,
    /// `o=` version (increment on each new offer/answer in the call).
    pub session_version: u64,
    /// Packet time we send, ms.
    pub ptime: u32,
}

/// What both sides agreed on, for the RTP core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The voice codec.
    pub codec: Codec,
    /// Its payload type (0 or 8, or the dynamic number the peer chose).
    pub payload_type: u8,
    /// RFC 4733 telephone-event payload type, if both sides have it.
    pub telephone_event: Option<u8>,
    /// Where to send RTP (`None` if the peer gave no usable address; 0.0.0.0 means hold).
    pub remote: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    /// Packet time to send, ms.
    pub ptime: u32,
}

/// Default RFC 4733 payload type in our offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;

fn base(local: &LocalMedia) -> SessionDescription {
    let c = Connection::for_ip(local.address);
    SessionDescription {
        origin: Origin {
            username: "ivm".into(),
            session_id: local.session_id.to_string(),
            session_version: local.session_version.to_string(),
            connection: c.clone(),
        },
        name: "ivm".into(),
        connection: Some(c),
        timing: vec!["0 0".into()],
        other: Vec::new(),
        attributes: Vec::new(),
        media: Vec::new(),
    }
}

fn audio_attributes(
    codecs: &[(u8, Codec)],
    te: Option<u8>,
    ptime: u32,
    dir: Direction,
) -> Vec<Attribute> {
    let mut a = Vec::new();
    for (pt, c) in codecs {
        a.push(Attribute {
            name: "rtpmap".into(),
            value: Some(format!("{pt} {}/8000", c.name())),
        });
    }
    if let Some(te) = te {
        a.push(Attribute {
            name: "rtpmap".into(),
            value: Some(format!("{te} telephone-event/8000")),
        });
        a.push(Attribute {
            name: "fmtp".into(),
            value: Some(format!("{te} 0-16")),
        });
    }
    a.push(Attribute {
        name: "ptime".into(),
        value: Some(ptime.to_string()),
    });
    a.push(Attribute {
        name: dir.as_str().into(),
        value: None,
    });
    a
}

/// An offer for calls the box places (ring-my-phone): PCMU, PCMA, telephone-event 101.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let mut s = base(local);
    let codecs = [(0, Codec::Pcmu), (8, Codec::Pcma)];
    s.media.push(MediaDescription {
        kind: "audio".into(),
        port: local.port,
        port_count: None,
        proto: "RTP/AVP".into(),
        formats: vec!["0".into(), "8".into(), TELEPHONE_EVENT_PT.to_string()],
        connection: None,
        other: Vec::new(),
        attributes: audio_attributes(
            &codecs,
            Some(TELEPHONE_EVENT_PT),
            local.ptime,
            Direction::SendRecv,
        ),
    });
    s
}

/// Picks the first G.711 format in the peer's order and its telephone-event type.
fn pick(m: &MediaDescription) -> Option<(Codec, u8, Option<u8>)> {
    if m.kind != "audio" || m.port == 0 || !m.proto.eq_ignore_ascii_case("RTP/AVP") {
        return None;
    }
    let mut chosen = None;
    let mut te = None;
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let Some((enc, clock)) = m.encoding_of(pt) else {
            continue;
        };
        if clock != 8000 {
            continue;
        }
        match enc.as_str() {
            "PCMU" if chosen.is_none() => chosen = Some((Codec::Pcmu, pt)),
            "PCMA" if chosen.is_none() => chosen = Some((Codec::Pcma, pt)),
            "TELEPHONE-EVENT" if te.is_none() => te = Some(pt),
            _ => {}
        }
    }
    chosen.map(|(c, pt)| (c, pt, te))
}

/// Answers an offer (RFC 3264 §6): one answer line per offered line, the first acceptable
/// audio stream accepted with one G.711 codec (the offerer's preferred one) and
/// telephone-event at the offerer's payload type, every other stream rejected with port 0.
/// `Err(NoCommonCodec)` means answer the INVITE with 488.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let mut s = base(local);
    let mut negotiated = None;
    for m in &offer.media {
        let accepted = if negotiated.is_none() { pick(m) } else { None };
        match accepted {
            Some((codec, pt, te)) => {
                let offered_dir = m
                    .direction()
                    .or_else(|| session_direction(offer))
                    .unwrap_or(Direction::SendRecv);
                let dir = offered_dir.reverse();
                let mut formats = vec![pt.to_string()];
                formats.extend(te.map(|t| t.to_string()));
                s.media.push(MediaDescription {
                    kind: m.kind.clone(),
                    port: local.port,
                    port_count: None,
                    proto: m.proto.clone(),
                    formats,
                    connection: None,
                    other: Vec::new(),
                    attributes: audio_attributes(&[(pt, codec)], te, local.ptime, dir),
                });
                negotiated = Some(Negotiated {
                    codec,
                    payload_type: pt,
                    telephone_event: te,
                    remote: offer.rtp_destination(m),
                    direction: dir,
                    ptime: m
                        .ptime()
                        .filter(|p| (10..=60).contains(p))
                        .unwrap_or(local.ptime),
                });
            }
            None => s.media.push(MediaDescription {
                kind: m.kind.clone(),
                port: 0,
                port_count: None,
                proto: m.proto.clone(),
                formats: m.formats.first().cloned().into_iter().collect(),
                connection: None,
                other: Vec::new(),
                attributes: Vec::new(),
            }),
        }
    }
    let n = negotiated.ok_or(SdpError::NoCommonCodec)?;
    Ok((s, n))
}

/// Reads the answer to an offer made with [`offer`]: what the phone chose.
pub fn accept_answer(
    answer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, SdpError> {
    for m in &answer.media {
        if let Some((codec, pt, te)) = pick(m) {
            let dir = m
                .direction()
                .or_else(|| session_direction(answer))
                .unwrap_or(Direction::SendRecv)
                .reverse();
            return Ok(Negotiated {
                codec,
                payload_type: pt,
                telephone_event: te,
                remote: answer.rtp_destination(m),
                direction: dir,
                ptime: m
                    .ptime()
                    .filter(|p| (10..=60).contains(p))
                    .unwrap_or(local.ptime),
            });
        }
    }
    Err(SdpError::NoCommonCodec)
}

fn session_direction(s: &SessionDescription) -> Option<Direction> {
    let m = MediaDescription {
        kind: String::new(),
        port: 0,
        port_count: None,
        proto: String::new(),
        formats: Vec::new(),
        connection: None,
        other: Vec::new(),
        attributes: s.attributes.clone(),
    };
    m.direction()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as baresip sends it (Opus first, then G.711, telephone-event 101), plus video.
    const BARESIP: &str = "v=0\r\n\
o=- 1143376358 1847063468 IN IP4 192.168.1.23\r\n\
s=-\r\n\
c=IN IP4 192.168.1.23\r\n\
t=0 0\r\n\
m=audio 10490 RTP/AVP 96 0 8 101\r\n\
b=AS:64\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
m=video 10492 RTP/AVP 97\r\n\
a=rtpmap:97 H264/90000\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            address: "192.168.1.2".parse().expect("ip"),
            port: 40000,
            session_id: 7,
            session_version: 1,
            ptime: 20,
        }
    }

    #[test]
    fn parse_baresip_offer() {
        let s = SessionDescription::parse(BARESIP.as_bytes()).expect("parse");
        assert_eq!(s.media.len(), 2);
        let a = &s.media[0];
        assert_eq!(a.formats, vec!["96", "0", "8", "101"]);
        assert_eq!(a.rtpmaps().len(), 4);
        assert_eq!(a.fmtp(101), Some("0-15"));
        assert_eq!(a.direction(), Some(Direction::SendRecv));
        assert_eq!(a.ptime(), Some(20));
        assert_eq!(a.other, vec!["b=AS:64".to_owned()]);
        let again = SessionDescription::parse(&s.encode()).expect("reparse");
        assert_eq!(again, s);
    }

    #[test]
    fn answer_baresip_offer() {
        let offer = SessionDescription::parse(BARESIP.as_bytes()).expect("parse");
        let (ans, n) = answer(&offer, &local()).expect("answer");
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.payload_type, 0);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, Some("192.168.1.23:10490".parse().expect("addr")));
        assert_eq!(n.direction, Direction::SendRecv);
        let text = String::from_utf8(ans.encode()).expect("utf8");
        assert!(text.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:0 PCMU/8000\r\n"));
        assert!(text.contains("a=fmtp:101 0-16\r\n"));
        assert!(text.contains("m=video 0 RTP/AVP 97\r\n"));
        assert!(text.contains("c=IN IP4 192.168.1.2\r\n"));
    }

    #[test]
    fn answer_prefers_offer_order_and_reverses_direction() {
        let o = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 8 0 96\r\nc=IN IP4 10.0.0.5\r\n\
a=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n";
        let offer = SessionDescription::parse(o.as_bytes()).expect("parse");
        let (_, n) = answer(&offer, &local()).expect("answer");
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcma, 8, Some(96))
        );
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!(n.remote, Some("10.0.0.5:5004".parse().expect("addr")));
    }

    #[test]
    fn hold_offers_are_answered_per_rfc_3264() {
        for (offered, answered) in [
            ("sendonly", Direction::RecvOnly),
            ("inactive", Direction::Inactive),
            ("recvonly", Direction::SendOnly),
            ("sendrecv", Direction::SendRecv),
        ] {
            let o = format!(
                "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
                 m=audio 5004 RTP/AVP 0\r\na={offered}\r\n"
            );
            let offer = SessionDescription::parse(o.as_bytes()).expect("parse");
            let (a, n) = answer(&offer, &local()).expect("answer");
            assert_eq!(n.direction, answered, "{offered}");
            let text = String::from_utf8(a.encode()).expect("utf8");
            assert!(
                text.contains(&format!("a={}\r\n", answered.as_str())),
                "{offered}: {text}"
            );
        }
    }

    #[test]
    fn no_common_codec() {
        let o = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 5004 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
        let offer = SessionDescription::parse(o.as_bytes()).expect("parse");
        assert_eq!(
            answer(&offer, &local()).map(|_| ()),
            Err(SdpError::NoCommonCodec)
        );
        let srtp = o.replace("RTP/AVP 96", "RTP/SAVP 0");
        let offer = SessionDescription::parse(srtp.as_bytes()).expect("parse");
        assert_eq!(
            answer(&offer, &local()).map(|_| ()),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn our_offer_and_their_answer() {
        let o = offer(&local());
        let text = String::from_utf8(o.encode()).expect("utf8");
        assert!(text.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
        let their = "v=0\r\no=- 5 5 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 3000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let n = accept_answer(
            &SessionDescription::parse(their.as_bytes()).expect("parse"),
            &local(),
        )
        .expect("ok");
        assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(101)));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "o=x\r\n",
            "v=0\r\n",
            "v=0\r\no=a b\r\ns=-\r\n",
            "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio x RTP/AVP 0\r\n",
            "v=0\r\nbad\r\n",
        ] {
            assert!(
                SessionDescription::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        let many = format!(
            "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n{}",
            "m=audio 1 RTP/AVP 0\r\n".repeat(17)
        );
        assert_eq!(
            SessionDescription::parse(many.as_bytes()),
            Err(SdpError::TooLarge)
        );
    }
}
