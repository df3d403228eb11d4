//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`).

use std::fmt;
use std::net::IpAddr;

use super::params::Params;
use super::syntax::{is_token, is_ws, trim_ws};
use super::uri::HostPort;

/// The RFC 3261 branch prefix: a branch starting with it is unique per transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Transport protocols a message travels on (Via transport and the I/O side's socket kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, the transaction layer retransmits.
    Udp,
    /// TCP: reliable stream, framed by Content-Length.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP (parsed, not served).
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    /// Reliable transports get no retransmissions and zero wait timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The Via token, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Recognises a Via transport token (case-insensitive).
    pub fn from_token(s: &str) -> Option<Transport> {
        Some(match s.to_ascii_uppercase().as_str() {
            "UDP" => Transport::Udp,
            "TCP" => Transport::Tcp,
            "TLS" => Transport::Tls,
            "SCTP" => Transport::Sctp,
            "WS" => Transport::Ws,
            "WSS" => Transport::Wss,
            _ => return None,
        })
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via element: `SIP/2.0/UDP host:port;branch=...;received=...;rport=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol version as written after `SIP/` (normally `2.0`).
    pub version: String,
    /// Transport token as written (unknown ones are kept: RFC 4475 `transports`).
    pub transport: String,
    /// Where the sender wants responses (before `received`/`rport` corrections).
    pub sent_by: HostPort,
    /// Parameters: branch, received, rport, maddr, ttl, others.
    pub params: Params,
}

impl Via {
    /// A Via for a request we send.
    pub fn new(transport: Transport, sent_by: HostPort, branch: &str) -> Via {
        let mut params = Params::default();
        params.set("branch", Some(branch));
        params.set("rport", None);
        Via {
            version: "2.0".into(),
            transport: transport.as_str().into(),
            sent_by,
            params,
        }
    }

    /// Parses one element. LWS is allowed around the slashes and `=` (RFC 4475 `wsinv`).
    pub fn parse(s: &str) -> Result<Via, &'static str> {
        let s = trim_ws(s);
        let semi = s.find(';').unwrap_or(s.len());
        let (head, rest) = s.split_at(semi);
        let mut parts = head.splitn(3, '/');
        let name = trim_ws(parts.next().unwrap_or_default());
        let version = trim_ws(parts.next().ok_or("missing protocol version")?);
        let tail = trim_ws(parts.next().ok_or("missing transport")?);
        if !name.eq_ignore_ascii_case("SIP") || !is_token(version) {
            return Err("malformed sent-protocol");
        }
        let ws = tail.find(is_ws).ok_or("missing sent-by")?;
        let transport = &tail[..ws];
        let sent_by = trim_ws(&tail[ws..]);
        if !is_token(transport) || sent_by.is_empty() {
            return Err("malformed transport or sent-by");
        }
        let sent_by = HostPort::parse(sent_by).map_err(|_| "malformed sent-by")?;
        let params = Params::parse(rest)?;
        Ok(Via {
            version: version.into(),
            transport: transport.into(),
            sent_by,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<String> {
        self.params.get("branch").filter(|b| !b.is_empty())
    }

    /// True if the branch carries the RFC 3261 magic cookie and something after it; otherwise
    /// transactions are matched the RFC 2543 way (RFC 4475 `badbranch`).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params
            .get("received")
            .and_then(|r| r.trim_matches(['[', ']']).parse().ok())
    }

    /// `Some(None)` for a bare `;rport` (the client asks for it), `Some(Some(port))` once filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        if !self.params.has("rport") {
            return None;
        }
        Some(self.params.get("rport").and_then(|p| p.parse().ok()))
    }

    /// The transport, if it is one we know.
    pub fn transport_kind(&self) -> Option<Transport> {
        Transport::from_token(&self.transport)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SIP/{}/{} {}{}",
            self.version, self.transport, self.sent_by, self.params
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_spacey() {
        let v = Via::parse("SIP  /   2.0 /UDP\t192.0.2.2;branch=390skdjuw").expect("ok");
        assert_eq!(v.transport, "UDP");
        assert!(!v.has_rfc3261_branch());
        let v =
            Via::parse("SIP  /  2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8")
                .expect("ok");
        assert_eq!(v.branch().as_deref(), Some("z9hG4bK9ikj8"));
        assert!(v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9]:5070;rport;branch=z9hG4bKx").expect("ok");
        assert_eq!(v.sent_by.port, Some(5070));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(Via::parse(&v.to_string()).expect("rt"), v);
        assert!(!Via::parse("SIP/2.0/UDP h;branch=z9hG4bK")
            .expect("ok")
            .has_rfc3261_branch());
    }

    #[test]
    fn rejects() {
        for s in [
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 UDP host",
            "HTTP/2.0/UDP h",
            "SIP/2.0/UDP h:99999",
        ] {
            assert!(Via::parse(s).is_err(), "{s}");
        }
    }
}
