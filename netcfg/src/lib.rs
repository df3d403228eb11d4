//! The box's own IPv4 settings, for the front panel.
//!
//! The installer sets the appliance's address from the LCD panel (DHCP client or static
//! address, mask, gateway, DNS) and can undo a wrong setting from there. This crate is the one
//! place that knows how: it checks settings before anything is touched, reads the live state
//! with `ip -j`, applies settings through a backend, and remembers the settings before the last
//! change in a small state file so that [`Network::undo`] can put them back. It is its own crate
//! because it runs external tools and owns files outside the data folder, which neither the
//! panel driver (`lcd/`) nor the display actor should know about.
//!
//! # Layout
//!
//! - [`addr`]: [`Addressing`] and [`StaticV4`] with [`StaticV4::validate`] (messages fit a
//!   20-column LCD line), [`mask_to_prefix`] / [`prefix_to_mask`]. Pure.
//! - [`networkd`]: the appliance backend; [`render_networkd`] is the pure file renderer, the
//!   file is written atomically and `networkctl reload` + `reconfigure` pick it up.
//! - `ip`: live state from `ip -j addr` / `ip -j route` (pure parsers plus the calls), and
//!   the `ip` + `udhcpc` backend used by tests (in network namespaces) and hosts without
//!   networkd.
//! - [`state`]: the state file (applied and previous settings), written temp + fsync + rename.
//! - `cmd`: running a tool under a time limit; failures become [`NetError::Command`].
//! - [`NetError`]: the one error type, with [`NetError::short`] for the LCD.
//!
//! # Use
//!
//! ```no_run
//! # async fn f() -> Result<(), ivm_netcfg::NetError> {
//! use ivm_netcfg::{Addressing, BackendKind, Network, StaticV4};
//! let net = Network::new(
//!     BackendKind::Networkd { dir: "/etc/systemd/network".into() },
//!     "eth0".into(),
//!     "/var/lib/ivm/network.json".into(),
//! );
//! let now = net.status().await?;                  // idle screen, status pages
//! let s = StaticV4 { address: "192.168.1.20".parse().unwrap(), prefix: 24,
//!                    gateway: Some("192.168.1.1".parse().unwrap()), dns: vec![] };
//! Addressing::Static(s.clone()).validate()?;      // refuse on the spot while editing
//! net.apply(Addressing::Static(s)).await?;        // validates again, applies, remembers
//! net.undo().await?;                              // back to what was there before
//! # Ok(()) }
//! ```
//!
//! Calls to [`Network::apply`] and [`Network::undo`] are serialised by a lock inside
//! [`Network`]; every external command runs under a time limit.

pub mod addr;
mod cmd;
mod error;
mod ip;
pub mod networkd;
pub mod state;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use addr::{mask_to_prefix, prefix_to_mask, Addressing, StaticV4};
pub use error::NetError;
pub use networkd::render_networkd;
use state::State;

/// Which way settings are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The host manages the network; status only, [`Network::apply`] returns
    /// [`NetError::NotManaged`].
    None,
    /// systemd-networkd: write `<dir>/10-ivm-<interface>.network`, then `networkctl`.
    Networkd {
        /// The networkd configuration directory, usually `/etc/systemd/network`.
        dir: PathBuf,
    },
    /// `ip` commands (and `udhcpc` for DHCP), optionally inside a named network namespace.
    Ip {
        /// The namespace (`ip -n NS`, `ip netns exec NS`), or the current one.
        netns: Option<String>,
    },
}

/// What the panel shows about the interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStatus {
    /// The interface name.
    pub interface: String,
    /// Administratively up and with carrier.
    pub up: bool,
    /// Its Ethernet address, if it has one.
    pub mac: Option<String>,
    /// IPv4 addresses with their prefix lengths, as the kernel has them now.
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// The default gateway on this interface, as the kernel has it now.
    pub gateway: Option<Ipv4Addr>,
    /// Name servers: the applied static ones, the last DHCP lease's (`Ip` backend), or those in
    /// resolv.conf (`None` / `Networkd` when not static).
    pub dns: Vec<Ipv4Addr>,
    /// What was last applied through this crate (from the state file), if anything.
    pub mode: Option<Addressing>,
}

/// The interface's network settings, through one backend.
#[derive(Debug)]
pub struct Network {
    kind: BackendKind,
    interface: String,
    state_path: PathBuf,
    resolv_conf: PathBuf,
    command_timeout: Duration,
    dhcp_tries: u32,
    dhcp_wait: Duration,
    networkctl: String,
    lock: tokio::sync::Mutex<()>,
}

impl Network {
    /// A handle for `interface`, remembering settings in `state_path`. Nothing is run yet.
    pub fn new(kind: BackendKind, interface: String, state_path: PathBuf) -> Network {
        Network {
            kind,
            interface,
            state_path,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            command_timeout: Duration::from_secs(10),
            dhcp_tries: 3,
            dhcp_wait: Duration::from_secs(2),
            networkctl: "networkctl".into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads name servers from this file instead of /etc/resolv.conf.
    pub fn with_resolv_conf(mut self, path: PathBuf) -> Network {
        self.resolv_conf = path;
        self
    }

    /// Time limit for each `ip` / `networkctl` command (default 10 s).
    pub fn with_command_timeout(mut self, limit: Duration) -> Network {
        self.command_timeout = limit;
        self
    }

    /// DHCP discovery attempts and the wait after each (udhcpc `-t` / `-T`; default 3 × 2 s).
    pub fn with_dhcp_attempts(mut self, tries: u32, wait: Duration) -> Network {
        self.dhcp_tries = tries.clamp(1, 20);
        self.dhcp_wait = wait.clamp(Duration::from_secs(1), Duration::from_secs(30));
        self
    }

    /// Runs this program instead of `networkctl` from `PATH` (tests, unusual installs).
    pub fn with_networkctl(mut self, program: impl Into<String>) -> Network {
        self.networkctl = program.into();
        self
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The backend.
    pub fn kind(&self) -> &BackendKind {
        &self.kind
    }

    /// Whether [`Network::apply`] can change anything (false for [`BackendKind::None`]).
    pub fn can_apply(&self) -> bool {
        !matches!(self.kind, BackendKind::None)
    }

    /// The live state of the interface plus what was last applied.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        self.check_names()?;
        let ip = self.ip();
        let link = ip.link().await?;
        let gateway = ip.gateway().await?;
        let st = match self.load_state().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "network state file unreadable; showing live state only");
                State::default()
            }
        };
        let dns = match (&st.applied, &self.kind) {
            (Some(Addressing::Static(s)), _) => s.dns.clone(),
            (Some(Addressing::Dhcp), BackendKind::Ip { .. }) => st.lease_dns.clone(),
            (_, BackendKind::Ip { .. }) => Vec::new(),
            _ => self.resolv_dns().await,
        };
        Ok(NetStatus {
            interface: self.interface.clone(),
            up: link.up,
            mac: link.mac,
            addresses: link.addrs.iter().map(|(a, p, _)| (*a, *p)).collect(),
            gateway,
            dns,
            mode: st.applied,
        })
    }

    /// Validates and applies `new`, remembering the settings before it for [`Network::undo`].
    ///
    /// Invalid settings are refused before anything runs. If the backend fails part-way, the
    /// `Ip` backend puts the addresses and gateway it saw back, the `Networkd` backend puts the
    /// old file back; the state file is only written after success.
    pub async fn apply(&self, new: Addressing) -> Result<(), NetError> {
        new.validate()?;
        self.check_names()?;
        if !self.can_apply() {
            return Err(NetError::NotManaged);
        }
        let _g = self.lock.lock().await;
        let st = match self.load_state().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "network state file unreadable; replacing it");
                State::default()
            }
        };
        // The first change through this crate: remember what the box had, if it can be told.
        let previous = match st.applied {
            Some(a) => Some(a),
            None => self.infer_live().await,
        };
        tracing::info!(interface = %self.interface, settings = ?new, "applying network settings");
        let lease_dns = self.apply_backend(&new).await?;
        self.store_state(State {
            version: 1,
            applied: Some(new),
            previous,
            lease_dns,
        })
        .await
    }

    /// Re-applies the settings before the last change and returns them. The undone settings
    /// become the new "previous", so a second undo redoes.
    pub async fn undo(&self) -> Result<Addressing, NetError> {
        self.check_names()?;
        if !self.can_apply() {
            return Err(NetError::NotManaged);
        }
        let _g = self.lock.lock().await;
        let st = self.load_state().await?;
        let prev = st.previous.clone().ok_or(NetError::NoPrevious)?;
        prev.validate()?;
        tracing::info!(interface = %self.interface, settings = ?prev, "undoing network settings");
        let lease_dns = self.apply_backend(&prev).await?;
        self.store_state(State {
            version: 1,
            applied: Some(prev.clone()),
            previous: st.applied,
            lease_dns,
        })
        .await?;
        Ok(prev)
    }

    fn ip(&self) -> ip::Ip<'_> {
        let netns = match &self.kind {
            BackendKind::Ip { netns } => netns.as_deref(),
            _ => None,
        };
        ip::Ip {
            netns,
            interface: &self.interface,
            limit: self.command_timeout,
        }
    }

    async fn apply_backend(&self, new: &Addressing) -> Result<Vec<Ipv4Addr>, NetError> {
        match &self.kind {
            BackendKind::None => Err(NetError::NotManaged),
            BackendKind::Networkd { dir } => {
                networkd::apply(
                    &self.networkctl,
                    dir,
                    &self.interface,
                    new,
                    self.command_timeout,
                )
                .await?;
                Ok(Vec::new())
            }
            BackendKind::Ip { .. } => {
                let ip = self.ip();
                let before = ip.link().await?;
                let gw_before = ip.gateway().await?;
                let res = match new {
                    Addressing::Static(s) => ip.apply_static(s).await.map(|()| Vec::new()),
                    Addressing::Dhcp => {
                        ip.apply_dhcp(self.state_dir(), self.dhcp_tries, self.dhcp_wait)
                            .await
                    }
                };
                if let Err(e) = &res {
                    tracing::warn!(error = %e, "applying failed; restoring the addresses seen before");
                    if let Err(e2) = ip.restore(&before, gw_before).await {
                        tracing::error!(error = %e2, "could not restore the earlier addresses");
                    }
                }
                res
            }
        }
    }

    /// What the interface has now, as settings: DHCP if an address has a lifetime, else the
    /// first address with the gateway and name servers.
    async fn infer_live(&self) -> Option<Addressing> {
        let ip = self.ip();
        let link = ip.link().await.ok()?;
        if link.addrs.iter().any(|(_, _, dynamic)| *dynamic) {
            return Some(Addressing::Dhcp);
        }
        let (address, prefix, _) = *link.addrs.first()?;
        let gateway = ip.gateway().await.ok().flatten();
        let dns = match self.kind {
            BackendKind::Ip { .. } => Vec::new(),
            _ => self.resolv_dns().await,
        };
        StaticV4::salvage(address, prefix, gateway, dns).map(Addressing::Static)
    }

    async fn resolv_dns(&self) -> Vec<Ipv4Addr> {
        match tokio::fs::read_to_string(&self.resolv_conf).await {
            Ok(t) => ip::parse_resolv_conf(&t),
            Err(_) => Vec::new(),
        }
    }

    fn state_dir(&self) -> &Path {
        match self.state_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    }

    async fn load_state(&self) -> Result<State, NetError> {
        let p = self.state_path.clone();
        blocking(move || State::load(&p)).await
    }

    async fn store_state(&self, st: State) -> Result<(), NetError> {
        let p = self.state_path.clone();
        blocking(move || st.store(&p)).await
    }

    /// Interface and namespace names go into argument lists and a file name: refuse odd ones.
    fn check_names(&self) -> Result<(), NetError> {
        if !valid_name(&self.interface, 15) {
            return Err(NetError::Invalid("bad interface name".into()));
        }
        if let BackendKind::Ip { netns: Some(ns) } = &self.kind {
            if !valid_name(ns, 64) {
                return Err(NetError::Invalid("bad namespace name".into()));
            }
        }
        Ok(())
    }
}

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s != "."
        && s != ".."
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Runs file work (fsync) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NetError::Io {
            path: "blocking task".into(),
            source: std::io::Error::other(e),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn none_backend_refuses_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = Network::new(BackendKind::None, "eth0".into(), dir.path().join("s.json"));
        assert!(!net.can_apply());
        assert!(matches!(
            net.apply(Addressing::Dhcp).await,
            Err(NetError::NotManaged)
        ));
        assert!(matches!(net.undo().await, Err(NetError::NotManaged)));
        assert_eq!(
            NetError::NotManaged.to_string(),
            "network is managed by the host"
        );
    }

    #[tokio::test]
    async fn invalid_settings_are_refused_before_anything_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The interface does not exist: an invalid setting must fail on validation, not on `ip`.
        let net = Network::new(
            BackendKind::Networkd {
                dir: dir.path().into(),
            },
            "nosuch0".into(),
            dir.path().join("s.json"),
        );
        let bad = StaticV4 {
            address: "10.0.0.0".parse().expect("ip"),
            prefix: 24,
            gateway: None,
            dns: vec![],
        };
        match net.apply(Addressing::Static(bad)).await {
            Err(NetError::Invalid(m)) => assert_eq!(m, "address is network"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "nothing written"
        );
    }

    #[tokio::test]
    async fn names_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "-n", "../etc", "a b", "sixteencharsname"] {
            let net = Network::new(
                BackendKind::Ip { netns: None },
                bad.into(),
                dir.path().join("s.json"),
            );
            assert!(
                matches!(net.status().await, Err(NetError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(valid_name("enp1s0", 15) && valid_name("veth-a.1", 15));
    }

    #[test]
    fn short_texts_fit_the_lcd() {
        let errs = [
            NetError::NotManaged,
            NetError::NoPrevious,
            NetError::MissingTool {
                tool: "networkctl".into(),
            },
            NetError::Timeout {
                cmd: "x".into(),
                secs: 1,
            },
            NetError::NoLease {
                interface: "eth0".into(),
                detail: String::new(),
            },
            NetError::NoInterface("eth0".into()),
            NetError::Invalid("a message that is far too long for the panel".into()),
        ];
        for e in errs {
            assert!(e.short().chars().count() <= 20, "{e:?}: {}", e.short());
        }
    }
}
