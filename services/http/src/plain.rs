//! What the plain-HTTP listener serves, and to whom.
//!
//! Plain HTTP crosses the office LAN in cleartext, so no login, token or WebSocket may use
//! it there. It exists for two kinds of peers:
//!
//! - phones fetching their files (`/provision/...`): served to anyone (the provisioning front
//!   has its own rules about which files carry a SIP password and to whom);
//! - monitoring: `GET /api/health` (`{"status":"ok"}`, nothing secret) to anyone;
//! - tools on the box itself (`ivm` with `IVM_SERVER=http://127.0.0.1:8080`, scripts, the
//!   tests): a peer on loopback gets the whole API, since its traffic never leaves the box.
//!
//! Any other peer asking for `/api/...` gets 403 with a JSON error naming the HTTPS port; a
//! browser asking for a page (from anywhere) is redirected to the HTTPS origin.
//!
//! Before any of that, the `Host` header is checked ([`HostNames`]): a web page a LAN user
//! opens can make their browser send requests to the box under the page's own DNS name
//! (DNS rebinding) and read the answers, phone files included. Such a request always carries
//! a DNS name the box does not own, and is refused with 421 Misdirected Request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The names the box answers to on plain HTTP, lowercase, without a trailing dot.
#[derive(Debug, Clone, Default)]
pub struct HostNames {
    names: Vec<String>,
}

impl HostNames {
    /// The box's host name (from the kernel) with and without its domain and with `.local`
    /// (mDNS), plus the names an admin configured (`[http] names`).
    pub fn for_box(configured: &[String]) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Self::new(host.trim(), configured)
    }

    /// As [`HostNames::for_box`], with the host name given.
    pub fn new(hostname: &str, configured: &[String]) -> Self {
        let mut names = Vec::new();
        let mut add = |n: &str| {
            let n = normalize(n);
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        };
        add("localhost");
        let host = normalize(hostname);
        if !host.is_empty() {
            add(&host);
            let short = host.split('.').next().unwrap_or_default().to_owned();
            add(&short);
            add(&format!("{short}.local"));
        }
        for n in configured {
            add(n);
        }
        HostNames { names }
    }

    /// The accepted names (for the log and the error message).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a request with this `Host` header value is for this box: no header, an IP
    /// literal (a browser sends one only when the page's own origin is that address, so a
    /// rebinding page never does), or one of [`HostNames::names`]. Ports are ignored.
    pub fn accepts(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let h = host_without_port(host.trim());
        if h.is_empty() {
            return true;
        }
        if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return inner.parse::<std::net::Ipv6Addr>().is_ok();
        }
        if h.parse::<std::net::Ipv4Addr>().is_ok() {
            return true;
        }
        let h = normalize(h);
        self.names.contains(&h)
    }
}

fn normalize(n: &str) -> String {
    n.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `host:port`, `[v6]:port` or `host` → the host part, brackets kept for IPv6.
pub fn host_without_port(h: &str) -> &str {
    if h.starts_with('[') {
        return match h.find(']') {
            Some(end) => &h[..=end],
            None => h,
        };
    }
    match h.rfind(':') {
        Some(i) => &h[..i],
        None => h,
    }
}

/// What the plain listener does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve it.
    Serve,
    /// 421: the Host names someone else.
    Misdirected,
    /// 403 JSON: the API is not served in cleartext to this peer.
    ApiOverHttps,
    /// 308 to the HTTPS origin.
    Redirect,
}

/// The plain listener's rule for a request from `peer` for `path` with `host` (pure, so it is
/// tested without sockets).
pub fn decide(names: &HostNames, peer: Option<IpAddr>, host: Option<&str>, path: &str) -> Decision {
    if !names.accepts(host) {
        return Decision::Misdirected;
    }
    // The health check carries nothing secret and takes no login: monitoring on the LAN
    // reads it over plain HTTP like a phone reads its files.
    if path.starts_with("/provision/") || path == crate::routes::HEALTH_PATH {
        return Decision::Serve;
    }
    let api = path == "/api" || path.starts_with("/api/");
    let local = peer.is_some_and(is_loopback);
    match (api, local) {
        (true, true) => Decision::Serve,
        (true, false) => Decision::ApiOverHttps,
        (false, _) => Decision::Redirect,
    }
}

/// Loopback, including an IPv4-mapped loopback address.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The plain listener's settings, shared by its middleware.
#[derive(Debug)]
pub struct PlainPolicy {
    /// Names accepted in `Host`.
    pub names: HostNames,
    /// Where browsers and API clients are sent.
    pub https_port: u16,
}

/// Middleware of the plain listener, applying [`decide`].
pub async fn guard(policy: Arc<PlainPolicy>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned())
        .or_else(|| req.uri().host().map(str::to_owned));
    let path = req.uri().path().to_owned();
    let https_port = policy.https_port;
    match decide(&policy.names, peer, host.as_deref(), &path) {
        Decision::Serve => next.run(req).await,
        Decision::Misdirected => {
            tracing::info!(?peer, host = host.as_deref().unwrap_or(""), %path, "plain HTTP: refused a request for another host name");
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                format!(
                    "this box does not answer to the host name {:?}; use its IP address, or add the name to [http] names in its config",
                    host.as_deref().map(host_without_port).unwrap_or("")
                ),
            )
            .into_response()
        }
        Decision::ApiOverHttps => {
            tracing::info!(?peer, %path, "plain HTTP: API refused to a peer off the box");
            ApiError::new(
                StatusCode::FORBIDDEN,
                "https_required",
                format!("the API is served over HTTPS on port {https_port}; plain HTTP serves it only to the box itself"),
            )
            .into_response()
        }
        Decision::Redirect => {
            let host = host
                .as_deref()
                .map(host_without_port)
                .filter(|h| !h.is_empty())
                .unwrap_or("localhost")
                .to_owned();
            let target = format!(
                "https://{host}:{https_port}{}",
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            );
            (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, target)]).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> HostNames {
        HostNames::new("ivmbox.office.example", &["voice.office.example".into()])
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_without_port("box.local:8080"), "box.local");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("10.0.0.2"), "10.0.0.2");
    }

    #[test]
    fn the_box_own_names_and_addresses_are_accepted() {
        let n = names();
        for ok in [
            None,
            Some(""),
            Some("10.0.0.2"),
            Some("10.0.0.2:8080"),
            Some("[fe80::1]:8080"),
            Some("[::1]"),
            Some("localhost"),
            Some("LOCALHOST:8080"),
            Some("ivmbox"),
            Some("ivmbox.office.example"),
            Some("IVMBOX.office.example.:80"),
            Some("ivmbox.local"),
            Some("voice.office.example"),
        ] {
            assert!(n.accepts(ok), "{ok:?} refused");
        }
    }

    #[test]
    fn other_names_are_refused() {
        let n = names();
        for bad in [
            "attacker.example",
            "ivmbox.attacker.example",
            "10.0.0.2.attacker.example",
            "localhost.attacker.example",
            "[not-an-ip]",
            "ivmbox.local.attacker.example",
            "evil.localhost",
            "\u{fffd}",
        ] {
            assert!(!n.accepts(Some(bad)), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_box_without_a_host_name_still_has_localhost() {
        let n = HostNames::new("", &[]);
        assert_eq!(n.names(), ["localhost"]);
    }

    #[test]
    fn the_plain_listener_rules() {
        let n = names();
        let lan: Option<IpAddr> = Some("192.168.1.50".parse().expect("ip"));
        let lo: Option<IpAddr> = Some("127.0.0.1".parse().expect("ip"));
        let lo6: Option<IpAddr> = Some("::1".parse().expect("ip"));
        let mapped: Option<IpAddr> = Some("::ffff:127.0.0.1".parse().expect("ip"));
        let ip = Some("192.168.1.2");
        assert_eq!(
            decide(&n, lan, ip, "/provision/y000000000000.cfg"),
            Decision::Serve
        );
        assert_eq!(decide(&n, lan, ip, "/api/health"), Decision::Serve);
        assert_eq!(decide(&n, lan, ip, "/api/health/x"), Decision::ApiOverHttps);
        assert_eq!(
            decide(&n, lan, Some("attacker.example"), "/api/health"),
            Decision::Misdirected
        );
        assert_eq!(decide(&n, lan, ip, "/api/login"), Decision::ApiOverHttps);
        assert_eq!(decide(&n, lan, ip, "/api"), Decision::ApiOverHttps);
        assert_eq!(decide(&n, lan, ip, "/api/ws"), Decision::ApiOverHttps);
        assert_eq!(decide(&n, lan, ip, "/"), Decision::Redirect);
        assert_eq!(decide(&n, lan, ip, "/apiary"), Decision::Redirect);
        for local in [lo, lo6, mapped] {
            assert_eq!(
                decide(&n, local, Some("127.0.0.1:8080"), "/api/login"),
                Decision::Serve
            );
            assert_eq!(decide(&n, local, None, "/"), Decision::Redirect);
        }
        assert_eq!(
            decide(
                &n,
                lan,
                Some("rebound.attacker.example"),
                "/provision/y000000000000.cfg"
            ),
            Decision::Misdirected
        );
        assert_eq!(
            decide(&n, lo, Some("rebound.attacker.example"), "/api/me"),
            Decision::Misdirected,
            "a browser on the box itself can be rebound too"
        );
    }
}
