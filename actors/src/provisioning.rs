//! The provisioning front shared by the TFTP service and HTTP `GET /provision/{name}`: one
//! request name and peer address in, a generated file or a firmware file out.
//!
//! ```text
//! name -> ivm_provision::resolve(name)
//!   Some((kind, mac)) -> database thread: phone_seen(mac) ; account = user's SIP credentials
//!                        -> Provisioner::render -> secret? only to peers inside `subnets`
//!   None              -> a plain file in the firmware folder (no `..`, no absolute path,
//!                        no symlink leaving the folder)
//! ```
//!
//! Every request runs inside a `provision` tracing span with the peer, the name and (when the
//! name carries one) the phone's MAC; the phone's "last seen" and address are refreshed, and
//! a phone the box has never heard of is recorded as "seen, unassigned".
//!
//! Auto-assign ([`ProvisionFront::with_auto_assign`], off by default): when an unassigned
//! phone asks for its account file from inside the provisioning subnets, it gets a new user
//! on the next free extension of the configured range (like Cisco's auto-register) and the
//! file is rendered with that account. Only then: a phone outside the subnets, or one asking
//! for a common file, never creates a user.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use actix::Addr;
use ivm_provision::{Account, FileKind, Mac, Provisioner, RenderError, Rendered, Target};
use ivm_store::{PhoneSighting, StoreError};
use tracing::Instrument as _;

use crate::database::{self, DatabaseActor};

/// An IPv4 or IPv6 network, `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `addr/prefix` (or a bare address: a single host).
    pub fn parse(s: &str) -> Option<Subnet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Subnet { addr, prefix })
    }

    /// Whether `ip` is inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The default provisioning subnets: loopback, the private ranges (RFC 1918, RFC 4193),
/// link-local and CGNAT-free office space. Files with a SIP password go only to these.
pub const DEFAULT_SUBNETS: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// What a request is answered with.
#[derive(Debug)]
pub enum Served {
    /// A generated config file.
    Generated(Rendered),
    /// A file from the firmware folder (its canonical path and size).
    File(PathBuf, u64),
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a name the box serves (or a traversal attempt).
    #[error("file not found")]
    NotFound,
    /// A file with a SIP password asked from outside the provisioning subnets.
    #[error("access violation")]
    Forbidden,
    /// The phone has HTTP credentials and the request gave none or wrong ones.
    #[error("credentials required")]
    Unauthorized,
    /// The per-phone file of a phone that is not assigned to anyone.
    #[error("phone not assigned")]
    Unassigned,
    /// The database or a template failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shared by the TFTP and HTTP provisioning front-ends.
pub struct ProvisionFront {
    db: Addr<DatabaseActor>,
    provisioner: Arc<Provisioner>,
    realm: String,
    subnets: Vec<Subnet>,
    firmware: PathBuf,
    auto_assign: Option<RangeInclusive<u32>>,
}

impl std::fmt::Debug for ProvisionFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionFront")
            .field("subnets", &self.subnets)
            .field("firmware", &self.firmware)
            .field("auto_assign", &self.auto_assign)
            .finish_non_exhaustive()
    }
}

impl ProvisionFront {
    /// A front over the database actor; `realm` is the SIP digest realm, `firmware` the
    /// folder plain files are served from (created if missing).
    pub fn new(
        db: Addr<DatabaseActor>,
        provisioner: Provisioner,
        realm: String,
        subnets: Vec<Subnet>,
        firmware: PathBuf,
    ) -> Self {
        let _ = std::fs::create_dir_all(&firmware);
        Self {
            db,
            provisioner: Arc::new(provisioner),
            realm,
            subnets,
            firmware,
            auto_assign: None,
        }
    }

    /// Turns auto-assign on: unknown phones asking for their account file get a new user on
    /// the next free extension in `range`.
    pub fn with_auto_assign(mut self, range: Option<RangeInclusive<u32>>) -> Self {
        self.auto_assign = range;
        self
    }

    /// Whether `peer` may receive files carrying a SIP password.
    pub fn trusted(&self, peer: IpAddr) -> bool {
        self.subnets.iter().any(|s| s.contains(peer))
    }

    /// Answers a request for `name` from `peer` over `via` (`tftp`, `http`). `password` is the
    /// HTTP Basic password, if the request gave one: a phone with an HTTP password set gets
    /// its secret files only over HTTP with that password (never over TFTP, which cannot
    /// authenticate).
    pub async fn fetch(
        &self,
        name: &str,
        peer: IpAddr,
        via: &'static str,
        password: Option<String>,
    ) -> Result<Served, FetchError> {
        let resolved = ivm_provision::resolve(name);
        let mac = resolved.as_ref().and_then(|(_, m)| *m);
        let span = tracing::info_span!(
            "provision",
            via,
            %peer,
            name = %name.escape_debug(),
            mac = mac.map(|m| m.to_string()).unwrap_or_default()
        );
        async move {
            let r = match resolved {
                Some((kind, mac)) => self.generated(kind, mac, peer, via, password).await,
                None => self.firmware_file(name),
            };
            match &r {
                Ok(Served::Generated(g)) => {
                    tracing::info!(bytes = g.body.len(), secret = g.secret, "served")
                }
                Ok(Served::File(_, size)) => tracing::info!(bytes = size, "served firmware"),
                Err(e) => tracing::info!(error = %e, "refused"),
            }
            r
        }
        .instrument(span)
        .await
    }

    async fn generated(
        &self,
        kind: FileKind,
        mac: Option<Mac>,
        peer: IpAddr,
        via: &'static str,
        password: Option<String>,
    ) -> Result<Served, FetchError> {
        let provisioner = Arc::clone(&self.provisioner);
        let realm = self.realm.clone();
        let trusted = self.trusted(peer);
        let auto_assign = self.auto_assign.clone().filter(|_| trusted);
        let r = database::run(&self.db, move |s| {
            let now = SystemTime::now();
            let sighting = PhoneSighting {
                vendor: kind.vendor(),
                address: Some(peer),
                ..Default::default()
            };
            let mut phone = match mac {
                Some(m) => Some(s.phone_seen(m, sighting, false, now)?),
                None => None,
            };
            let account = |s: &ivm_store::Store, phone: Option<&ivm_store::StoredPhone>| {
                let Some(g) = phone.and_then(|p| p.user) else {
                    return Ok(None);
                };
                let Some(u) = s.user(g)? else { return Ok(None) };
                let c = s.sip_credentials(g, &realm)?;
                Ok::<_, StoreError>(Some(Account {
                    user: c.username.clone(),
                    auth_user: c.username,
                    password: c.password,
                    display_name: u.display_name,
                }))
            };
            let render = |phone: Option<&ivm_store::StoredPhone>, account: Option<&Account>| {
                provisioner.render(
                    &kind,
                    Target {
                        mac,
                        vendor: phone.and_then(|p| p.vendor),
                        model: phone.and_then(|p| p.model.as_deref()),
                        account,
                    },
                )
            };
            let mut acct = account(s, phone.as_ref())?;
            let mut result = render(phone.as_ref(), acct.as_ref());
            // The file needs an account the phone lacks: auto-assign one if configured.
            if let (Err(RenderError::Unassigned(m)), Some(range)) = (&result, auto_assign) {
                if let Some(p) = s.auto_assign_phone(*m, range)? {
                    phone = Some(p);
                    acct = account(s, phone.as_ref())?;
                    result = render(phone.as_ref(), acct.as_ref());
                }
            }
            let rendered = match result {
                Ok(r) => r,
                Err(RenderError::Unassigned(_)) => return Ok(Err(FetchError::Unassigned)),
                Err(RenderError::WrongVendor { .. } | RenderError::NoMac(_)) => {
                    return Ok(Err(FetchError::NotFound))
                }
                Err(e) => return Ok(Err(FetchError::Internal(e.to_string()))),
            };
            if rendered.secret {
                if !trusted {
                    return Ok(Err(FetchError::Forbidden));
                }
                if let (Some(m), Some(p)) = (mac, phone.as_ref()) {
                    if p.http_auth {
                        if via != "http" {
                            return Ok(Err(FetchError::Forbidden));
                        }
                        let good = match password.as_deref() {
                            Some(pw) => s.check_phone_http_password(m, pw)?,
                            None => false,
                        };
                        if !good {
                            return Ok(Err(FetchError::Unauthorized));
                        }
                    }
                }
                if let Some(m) = mac {
                    s.phone_seen(m, PhoneSighting::default(), true, now)?;
                }
            }
            Ok::<_, StoreError>(Ok(rendered))
        })
        .await
        .map_err(|e| FetchError::Internal(e.to_string()))??;
        Ok(Served::Generated(r))
    }

    /// A plain file under the firmware folder: relative, no `..`, no hidden names, and its
    /// canonical path (symlinks followed) still inside the folder.
    fn firmware_file(&self, name: &str) -> Result<Served, FetchError> {
        let rel = name.trim_start_matches("/provision/");
        if rel.is_empty() || rel.len() > 255 || rel.contains(['\\', '\0']) {
            return Err(FetchError::NotFound);
        }
        let path = Path::new(rel);
        if !path
            .components()
            .all(|c| matches!(c, Component::Normal(n) if !n.to_string_lossy().starts_with('.')))
        {
            return Err(FetchError::NotFound);
        }
        let root = self
            .firmware
            .canonicalize()
            .map_err(|_| FetchError::NotFound)?;
        let full = root
            .join(path)
            .canonicalize()
            .map_err(|_| FetchError::NotFound)?;
        if !full.starts_with(&root) {
            return Err(FetchError::NotFound);
        }
        let meta = std::fs::metadata(&full).map_err(|_| FetchError::NotFound)?;
        if !meta.is_file() {
            return Err(FetchError::NotFound);
        }
        Ok(Served::File(full, meta.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.0.0.0/8").expect("parse");
        assert!(s.contains("10.1.2.3".parse().expect("ip")));
        assert!(!s.contains("11.0.0.1".parse().expect("ip")));
        assert!(s.contains("::ffff:10.0.0.1".parse().expect("ip")));
        let any = Subnet::parse("0.0.0.0/0").expect("parse");
        assert!(any.contains("8.8.8.8".parse().expect("ip")));
        let host = Subnet::parse("192.168.1.5").expect("parse");
        assert!(host.contains("192.168.1.5".parse().expect("ip")));
        assert!(!host.contains("192.168.1.6".parse().expect("ip")));
        assert!(Subnet::parse("10.0.0.0/33").is_none());
        assert!(Subnet::parse("fc00::/7")
            .expect("v6")
            .contains("fd12::1".parse().expect("ip")));
        for d in DEFAULT_SUBNETS {
            assert!(Subnet::parse(d).is_some(), "{d}");
        }
    }
}
