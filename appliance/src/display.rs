//! Boot-time wiring of the front panel: the network backend from `[network]`, then (when
//! `[panel] path` is set) the panel's I/O task and the display actor over a [`BoxControl`].
//!
//! A panel that is absent at boot or unplugged later does not stop the box: the I/O task logs
//! once and keeps trying the path, and the display actor keeps its state meanwhile.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor as _;
use ivm_actors::display::DisplayActor;
use ivm_actors::engine::Handles;
use ivm_actors::provisioning::ProvisionFront;
use ivm_lcd::io::{self, PanelConfig};
use ivm_lcd::menu::MenuConfig;
use ivm_lcd::{LinkConfig, Panel as _};
use ivm_netcfg::Network;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dhcp::DhcpControl;
use crate::panel::{host_name, BoxControl, Exit, NETWORK_STATE};

/// The interface holding the IPv4 default route (from `/proc/net/route`), else the first
/// non-loopback interface, else `lo`.
fn default_interface() -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            return f[0].to_owned();
        }
    }
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.into_iter().next().unwrap_or_else(|| "lo".into())
}

/// The network backend `[network]` asks for, remembering its settings in the data folder.
pub fn network(cfg: &Config) -> anyhow::Result<Network> {
    let interface = if cfg.network.interface.is_empty() {
        default_interface()
    } else {
        cfg.network.interface.clone()
    };
    Ok(Network::new(
        cfg.network_backend()?,
        interface,
        cfg.data_dir.join(NETWORK_STATE),
    ))
}

/// Starts the panel task and the display actor when `[panel] path` is set; the returned task
/// ends when `stop` fires.
pub fn start(
    cfg: &Config,
    h: &Handles,
    network: Arc<Network>,
    dhcp: Arc<DhcpControl>,
    front: Arc<ProvisionFront>,
    exit: watch::Sender<Option<Exit>>,
    stop: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if cfg.panel.path.is_empty() {
        return Ok(None);
    }
    let model = cfg.panel_model()?;
    let size = model.driver(&LinkConfig::default()).size();
    let (handle, keys, task) = io::spawn(PanelConfig::new(&cfg.panel.path, model), stop);
    let name = if cfg.panel.name.is_empty() {
        host_name()
    } else {
        cfg.panel.name.clone()
    };
    let control = BoxControl::new(
        name,
        h.started,
        cfg.data_dir.clone(),
        h.db.clone(),
        h.registrations(),
        network,
        dhcp,
        front,
        cfg.panel.reboot_command.clone(),
        cfg.panel.wipe_command.clone(),
        exit,
    );
    let menu = MenuConfig {
        dim_after: Duration::from_secs(cfg.panel.dim_after_s.into()),
        keep_timeout: Duration::from_secs(cfg.panel.keep_network_s.into()),
        ..MenuConfig::default()
    };
    DisplayActor::new(menu, handle, keys, size, Arc::new(control)).start();
    tracing::info!(path = %cfg.panel.path, model = %cfg.panel.model, "front panel started");
    Ok(Some(task))
}

/// The front panel's I/O task as one of the engine's services: it was started with a child
/// of the engine's token ([`start`]) and ends when that fires; the engine waits for it
/// within its one grace.
pub struct PanelService(pub JoinHandle<()>);

impl ivm_service::Service for PanelService {
    fn name(&self) -> &'static str {
        "front panel"
    }

    fn run(self: Box<Self>, _: CancellationToken) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.0.await;
        })
    }
}
