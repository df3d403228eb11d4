//! The DHCP server's life cycle: started at boot from `[dhcp]`, and turned on, off or given a
//! new range from the front panel while the box runs.
//!
//! What the panel sets is kept in `<data>/dhcp-server.json` (written temp → fsync → rename)
//! and laid over `[dhcp]` at every start, so it survives a restart. When `[dhcp]` names no
//! pool, the panel's range becomes a pool on the panel's network interface, with the box's
//! address as server identifier and router/DNS taken from the box's own settings.
//!
//! Every start, at boot or from the panel, runs the rogue-server probe first (unless
//! `[dhcp] force`): two DHCP servers on one LAN is an outage.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ivm_actors::provisioning::ProvisionFront;
use ivm_lcd::menu::DhcpInfo;
use ivm_service::Service;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DhcpPool};

/// The panel's DHCP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelDhcp {
    /// Serve DHCP.
    pub enabled: bool,
    /// First address handed out.
    pub start: Ipv4Addr,
    /// Last address handed out.
    pub end: Ipv4Addr,
}

const PANEL_FILE: &str = "dhcp-server.json";

/// Reads the panel's settings (`None` when the panel never set any, or the file is unreadable:
/// then `[dhcp]` alone counts, which is the safe side since it is off by default).
pub fn load_panel(data: &Path) -> Option<PanelDhcp> {
    let bytes = std::fs::read(data.join(PANEL_FILE)).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable {PANEL_FILE}");
            None
        }
    }
}

fn save_panel(data: &Path, p: &PanelDhcp) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?;
    let path = data.join(PANEL_FILE);
    let tmp = data.join(format!("{PANEL_FILE}.tmp"));
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(data)?.sync_all()
}

/// The box's own address on the panel's interface, for a pool made from the panel's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnAddress {
    /// Address.
    pub address: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// DNS server, if any.
    pub dns: Option<Ipv4Addr>,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Inner {
    running: Option<Running>,
    /// `off`, `refused`, `failed`, or the interfaces served.
    state: String,
    enabled: bool,
    range: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// Starts and stops the DHCP service.
pub struct DhcpControl {
    cfg: Config,
    interface: String,
    http: Option<std::net::SocketAddr>,
    front: Arc<ProvisionFront>,
    shutdown: CancellationToken,
    leases: Arc<AtomicUsize>,
    inner: tokio::sync::Mutex<Inner>,
}

impl DhcpControl {
    /// A control for the box described by `cfg`; `interface` is the panel's network interface
    /// (for a pool made from the panel's range); the DHCP server notes the phones it sees and
    /// its leases into `front`'s sightings and lease book; services stop when `shutdown`
    /// fires.
    pub fn new(
        cfg: Config,
        interface: String,
        http: Option<std::net::SocketAddr>,
        front: Arc<ProvisionFront>,
        shutdown: CancellationToken,
    ) -> Self {
        DhcpControl {
            cfg,
            interface,
            http,
            front,
            shutdown,
            leases: Arc::new(AtomicUsize::new(0)),
            inner: tokio::sync::Mutex::new(Inner {
                running: None,
                state: "off".into(),
                enabled: false,
                range: None,
            }),
        }
    }

    /// What the status page shows.
    pub async fn info(&self) -> DhcpInfo {
        let i = self.inner.lock().await;
        DhcpInfo {
            enabled: i.enabled,
            state: if i.running.is_some() {
                "on".into()
            } else {
                i.state.clone()
            },
            range: i.range,
            leases: self.leases.load(Ordering::Relaxed),
        }
    }

    /// The `[dhcp]` section with the panel's settings laid over it.
    fn effective(&self, panel: Option<PanelDhcp>, own: Option<OwnAddress>) -> Config {
        let mut cfg = self.cfg.clone();
        let Some(p) = panel else { return cfg };
        cfg.dhcp.enabled = p.enabled;
        if let Some(pool) = cfg.dhcp.pool.first_mut() {
            pool.start = p.start;
            pool.end = p.end;
        } else if let Some(own) = own {
            let mask = ivm_netcfg::prefix_to_mask(own.prefix);
            cfg.dhcp.pool.push(DhcpPool {
                interface: self.interface.clone(),
                network: Ipv4Addr::from(u32::from(own.address) & u32::from(mask)),
                mask,
                start: p.start,
                end: p.end,
                server_id: own.address,
                routers: own.gateway.into_iter().collect(),
                dns: own.dns.or(own.gateway).into_iter().collect(),
                domain: None,
                ntp: Vec::new(),
                lease_secs: 86_400,
            });
        }
        cfg
    }

    /// Starts the service when the (effective) settings say so. Returns the word for the ready
    /// line and the status page: `off`, `refused`, `failed`, or the interfaces served.
    pub async fn start(&self, own: Option<OwnAddress>) -> String {
        let mut inner = self.inner.lock().await;
        self.stop_locked(&mut inner).await;
        let cfg = self.effective(load_panel(&self.cfg.data_dir), own);
        inner.enabled = cfg.dhcp.enabled;
        inner.range = cfg.dhcp.pool.first().map(|p| (p.start, p.end));
        let state = match self.spawn(&cfg).await {
            Ok((word, running)) => {
                inner.running = running;
                word
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "DHCP server not started");
                "failed".into()
            }
        };
        inner.state = state.clone();
        state
    }

    /// The panel's on/off and range: validated, saved, then the service is restarted with
    /// them. `Err` carries a reason short enough for the panel.
    pub async fn set(&self, p: PanelDhcp, own: Option<OwnAddress>) -> Result<String, String> {
        if self.cfg.dhcp.pool.is_empty() && own.is_none() && p.enabled {
            return Err("the box has no address on its interface".into());
        }
        save_panel(&self.cfg.data_dir, &p).map_err(|e| format!("cannot save: {e}"))?;
        let state = self.start(own).await;
        let refused = match (p.enabled, state.as_str()) {
            (false, _) => return Ok("DHCP server off".into()),
            (true, "refused") => "another DHCP server answered: not started",
            (true, "failed" | "off") => "could not start; see the log",
            (true, _) => return Ok(format!("on\n{}-\n{}", p.start, p.end)),
        };
        // Not started: it stays off (also after a restart), so nothing changed but the range.
        let off = PanelDhcp {
            enabled: false,
            ..p
        };
        save_panel(&self.cfg.data_dir, &off).map_err(|e| format!("cannot save: {e}"))?;
        self.inner.lock().await.enabled = false;
        Err(refused.into())
    }

    /// Stops the service and waits for its last batch (leases written, replies sent).
    pub async fn stop(&self) {
        let mut inner = self.inner.lock().await;
        self.stop_locked(&mut inner).await;
    }

    async fn stop_locked(&self, inner: &mut Inner) {
        if let Some(r) = inner.running.take() {
            r.stop.cancel();
            let _ = r.task.await;
            self.leases.store(0, Ordering::Relaxed);
            // Its leases no longer bind a phone's first fetch to an address.
            self.front.leases().clear();
        }
        inner.state = "off".into();
    }

    async fn spawn(&self, cfg: &Config) -> anyhow::Result<(String, Option<Running>)> {
        let (parts, word) = start_dhcp(cfg, self.http).await?;
        let Some((server, sockets)) = parts else {
            return Ok((word, None));
        };
        let service = ivm_dhcpd::DhcpService::new(
            server,
            sockets,
            cfg.dhcp.port.wrapping_add(1),
            self.front.clone(),
        )
        .context("DHCP sockets unusable")?
        .with_lease_gauge(self.leases.clone());
        let stop = self.shutdown.child_token();
        let task = tokio::spawn(Box::new(service).run(stop.clone()));
        Ok((word, Some(Running { stop, task })))
    }
}

type DhcpParts = (ivm_dhcp::Server, Vec<(String, std::net::UdpSocket)>);

/// `[dhcp]`: nothing unless enabled. Then, per interface, the rogue-server probe (skipped with
/// `force = true`): if another server answers, the DHCP service is not started and the box
/// runs without it, saying so. Otherwise the sockets are bound and the lease journal opened.
/// Returns the parts and a word for the ready line (`off`, `refused`, the interfaces).
async fn start_dhcp(
    cfg: &Config,
    http: Option<std::net::SocketAddr>,
) -> anyhow::Result<(Option<DhcpParts>, String)> {
    if !cfg.dhcp.enabled {
        return Ok((None, "off".into()));
    }
    let host = cfg
        .dhcp
        .pool
        .first()
        .map(|p| p.server_id.to_string())
        .unwrap_or_default();
    let base = format!(
        "http://{host}:{}/provision/",
        http.map(|a| a.port()).unwrap_or(80)
    );
    let dcfg = cfg.dhcp_config(Some(&base))?;
    let mut interfaces: Vec<String> = cfg.dhcp.pool.iter().map(|p| p.interface.clone()).collect();
    interfaces.dedup();
    let own: Vec<Ipv4Addr> = cfg.dhcp.pool.iter().map(|p| p.server_id).collect();
    if !cfg.dhcp.force {
        for i in &interfaces {
            let wait = Duration::from_millis(cfg.dhcp.probe_ms);
            match ivm_dhcpd::probe(i, &own, cfg.dhcp.port.wrapping_add(1), cfg.dhcp.port, wait)
                .await
            {
                Ok(None) => {
                    tracing::info!(interface = %i, "no other DHCP server answered the probe")
                }
                Ok(Some(server)) => {
                    tracing::error!(interface = %i, other_server = %server, "another DHCP server answered on this LAN: NOT starting the box's DHCP server (two servers on one LAN is an outage); set [dhcp] force = true to override");
                    println!("ivmd: dhcp refused: another DHCP server ({server}) answered on {i}");
                    return Ok((None, "refused".into()));
                }
                Err(e) => {
                    tracing::error!(interface = %i, error = %e, "DHCP probe failed: NOT starting the DHCP server");
                    return Ok((None, "failed".into()));
                }
            }
        }
    }
    let mut sockets = Vec::new();
    for i in &interfaces {
        match ivm_dhcpd::bind(i, cfg.dhcp.port) {
            Ok(s) => sockets.push((i.clone(), s)),
            Err(e) => {
                tracing::error!(error = %e, "cannot bind the DHCP socket: NOT starting the DHCP server");
                return Ok((None, "failed".into()));
            }
        }
    }
    let leases =
        ivm_dhcp::FileStore::open(lease_file(&cfg.data_dir)).context("DHCP lease journal")?;
    let server = ivm_dhcp::Server::new(dcfg, Box::new(leases)).context("DHCP server")?;
    Ok((Some((server, sockets)), interfaces.join(",")))
}

fn lease_file(data: &Path) -> PathBuf {
    data.join("dhcp-leases.jsonl")
}

/// The DHCP control as one of the engine's services: its DHCP server runs under a child of
/// the engine's token (given to [`DhcpControl::new`]); at the engine's stop this waits for
/// it (within the engine's grace) and marks it off.
pub struct DhcpControlService(pub Arc<DhcpControl>);

impl Service for DhcpControlService {
    fn name(&self) -> &'static str {
        "dhcp control"
    }

    fn run(
        self: Box<Self>,
        shutdown: CancellationToken,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            shutdown.cancelled().await;
            self.0.stop().await;
        })
    }
}
