//! `ivmd run`: take the data folder's lock and open it, make the first-start secrets (and an
//! administrator whenever there is none), bind every socket, start the engine and hand it
//! every service, serve until SIGTERM or Ctrl-C (or the front panel's restart or factory
//! reset), then the engine's one stop, and exit 0.
//!
//! ```text
//! run: open_store -> ensure_admin -> recover_talks -> TLS -> Sockets::bind -> start -> wait_for_exit -> stop
//! start: engine_config, http_config, provisioner -> Engine::start -> Launch(services)
//!        -> DHCP control + front panel (under the engine's token) -> Launch -> ready line
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::Addr;
use anyhow::Context as _;
use ivm_actors::client::ClientConfig;
use ivm_actors::engine::{
    Engine, EngineConfig, GatewaySetup, Handles, Launch, Shutdown, StationSetup,
};
use ivm_actors::gateway::GatewayConfig;
use ivm_actors::provisioning::{FlushService, Leases, ProvisionFront, Sightings};
use ivm_actors::station::StationConfig;
use ivm_http::{Backend, HttpConfig, HttpService, Phones};
use ivm_phones::{SipService, SipServiceSockets, UdpMediaSockets};
use ivm_provision::{Provisioner, Settings, Templates};
use ivm_service::Service;
use ivm_store::{OpenOptions, Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::status::{Listeners, Live};
use crate::admin::{AdminSocket, BoxInfo};
use crate::config::Config;
use crate::dhcp::{DhcpControl, DhcpControlService};
use crate::display::PanelService;
use crate::panel::Exit;

/// Raises the soft limit on open files to the hard limit. Each connection, WebSocket, blob
/// being written and the database hold a descriptor; at the usual soft limit of 1024, a few
/// hundred half-open connections used to take every service down together (TFTP too). The
/// unit file raises the hard limit (`LimitNOFILE=65536`); the connection caps stay well below.
fn raise_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open-file limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "could not raise the open-file limit"),
        },
        Ok((soft, _)) => tracing::info!(limit = soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not read the open-file limit"),
    }
}

/// How long `ivmd run` waits for another process to let go of the data folder: a restart
/// that races the old process (SIGTERM, then an immediate start) waits for it to finish
/// storing what it acknowledged; an admin command holds the lock for a moment.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Where the settings came from, for `ivmd status` and `ivmd config`.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The config file, absolute; `None`: the embedded defaults.
    pub config_file: Option<PathBuf>,
    /// The command-line options laid over it (`--data DIR`, `--sip "ADDR"`, ...).
    pub command_line: Vec<String>,
}

/// Runs the box until a stop signal, or until the front panel asks for a restart or a
/// factory reset (which `main` carries out once everything here is closed).
pub fn run(cfg: Config, origin: Origin) -> anyhow::Result<Exit> {
    raise_file_limit();
    let store = open_store(&cfg)?;
    crate::first_start::ensure_admin(&store)?;
    // Talks a crash cut off become partial messages before anyone can connect.
    match ivm_actors::client::recover_talks(&store) {
        Ok(r) if !r.is_empty() => tracing::info!(
            talks = r.len(),
            "talks cut off by a crash or a stop: what arrived is stored"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not look for talks cut off by a crash (tried again at the next start)")
        }
    }
    // Absolute, so the published socket link and `ivmd status` name it from anywhere.
    let data_abs = std::fs::canonicalize(&cfg.data_dir)
        .unwrap_or_else(|_| crate::cli::absolute(&cfg.data_dir));
    let (tls, identities) = crate::tls::load_or_create(&store, &cfg.data_dir, &cfg.http.names)
        .context("TLS certificate")?;
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ivmd")
            .build()
            .expect("tokio runtime")
    });
    // Each control socket opens when a gateway speaking its protocol is configured (two
    // boxes on one host, or a box beside another controller, do not fight over 2944).
    let protocols: Vec<ivm_store::GatewayProtocol> = store
        .gateways()
        .context("gateways")?
        .iter()
        .map(|g| g.protocol)
        .collect();
    system.block_on(async move {
        let sockets = Sockets::bind(&cfg, &protocols).await?;
        let tls = Tls {
            config: tls,
            identities,
        };
        let (engine, exit) = start(&cfg, &origin, store, data_abs, sockets, tls).await?;
        let exit = wait_for_exit(exit).await;
        stop(engine).await;
        tracing::info!(?exit, "stopped cleanly");
        Ok::<_, anyhow::Error>(exit)
    })
}

/// The installer of `PUT /api/admin/update`, when `[update] command` is set.
fn updater(cfg: &Config) -> Option<ivm_http::routes::update::SharedUpdater> {
    (!cfg.update.command.is_empty()).then(|| {
        Arc::new(crate::update::Installer {
            data_dir: cfg.data_dir.clone(),
            key: cfg.update.key.clone(),
            command: cfg.update.command.clone(),
        }) as ivm_http::routes::update::SharedUpdater
    })
}

/// `POST /api/admin/restart`: the panel's *Reboot* (see [`crate::panel::reboot`]).
fn restarter(
    cfg: &Config,
    exit: &watch::Sender<Option<crate::panel::Exit>>,
) -> ivm_http::routes::restart::SharedRestarter {
    let (command, exit) = (cfg.panel.reboot_command.clone(), exit.clone());
    Arc::new(move || {
        let (command, exit) = (command.clone(), exit.clone());
        Box::pin(async move { crate::panel::reboot(&command, &exit).await.map(drop) })
    })
}

/// Takes the data folder's lock (waiting [`LOCK_WAIT`] for another process) and opens it.
fn open_store(cfg: &Config) -> anyhow::Result<Arc<Store>> {
    let opened = Store::open_with(
        &cfg.data_dir,
        &OpenOptions {
            create: true,
            lock_wait: LOCK_WAIT,
        },
    );
    match opened {
        Ok(s) => Ok(Arc::new(s)),
        Err(e @ StoreError::Locked { .. }) => anyhow::bail!(
            "{e} ({}); waited {} s for it",
            cfg.data_dir.display(),
            LOCK_WAIT.as_secs()
        ),
        Err(e) => Err(e)
            .with_context(|| format!("cannot open the data folder {}", cfg.data_dir.display())),
    }
}

/// The HTTPS certificate, and the store of identities `ivmd tls` swaps.
struct Tls {
    config: Arc<rustls::ServerConfig>,
    identities: Arc<crate::tls::Identities>,
}

/// The SIP sockets, bound, and the addresses they give.
struct Sip {
    sockets: SipServiceSockets,
    /// Where they are bound (the ready line, `ivmd status`).
    local: SocketAddr,
    /// What phones are told (`[sip] advertise`, else `local`).
    advertised: SocketAddr,
}

/// Every listening socket, bound before the box claims to be up (a port in use fails the
/// start with its name; tests use port 0 and read the real ports from the ready line).
struct Sockets {
    http: Option<TcpListener>,
    https: Option<TcpListener>,
    sip: Option<Sip>,
    tftp: Option<std::net::UdpSocket>,
    /// The MGCP call agent's socket, when an MGCP gateway is configured.
    mgcp: Option<(tokio::net::UdpSocket, SocketAddr)>,
    /// The MEGACO controller's socket, when a MEGACO gateway is configured.
    megaco: Option<(tokio::net::UdpSocket, SocketAddr)>,
}

impl Sockets {
    async fn bind(
        cfg: &Config,
        protocols: &[ivm_store::GatewayProtocol],
    ) -> anyhow::Result<Sockets> {
        let has = |p| protocols.contains(&p);
        let mgcp = match cfg
            .mgcp_addr()?
            .filter(|_| has(ivm_store::GatewayProtocol::Mgcp))
        {
            Some(a) => Some(
                ivm_phones::MgcpService::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (mgcp)"))?,
            ),
            None => None,
        };
        let megaco = match cfg
            .megaco_addr()?
            .filter(|_| has(ivm_store::GatewayProtocol::Megaco))
        {
            Some(a) => Some(
                ivm_phones::MegacoService::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (megaco)"))?,
            ),
            None => None,
        };
        let http = match cfg.http_addr()? {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (http)"))?,
            ),
            None => None,
        };
        let https = match cfg.https_addr()? {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (https)"))?,
            ),
            None => None,
        };
        let sip = match cfg.sip_addr()? {
            Some(addr) => {
                let (sockets, local) = SipService::bind(addr, cfg.sip.tcp)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (sip)"))?;
                let advertised = cfg.sip_advertised(Some(local)).unwrap_or(local);
                Some(Sip {
                    sockets,
                    local,
                    advertised,
                })
            }
            None => None,
        };
        let tftp = match cfg.tftp_addr()? {
            Some(a) => Some(
                ivm_tftpd::TftpService::bind(a)
                    .with_context(|| format!("cannot listen on {a} (tftp)"))?,
            ),
            None => None,
        };
        Ok(Sockets {
            http,
            https,
            sip,
            tftp,
            mgcp,
            megaco,
        })
    }

    /// The bound addresses, for `ivmd status` and the ready line.
    fn listeners(&self) -> Listeners {
        let tcp = |l: &Option<TcpListener>| {
            l.as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.to_string())
        };
        Listeners {
            http: tcp(&self.http),
            https: tcp(&self.https),
            sip: self.sip.as_ref().map(|s| s.local.to_string()),
            tftp: self
                .tftp
                .as_ref()
                .and_then(|s| s.local_addr().ok())
                .map(|a| a.to_string()),
        }
    }
}

/// The engine's settings from the config; the station's, with its SIP send queue (the SIP
/// service gets the other end) and RTP sockets, when SIP is on.
fn engine_config(
    cfg: &Config,
    sip: Option<&Sip>,
) -> anyhow::Result<(EngineConfig, Option<SipQueue>)> {
    let mut queue = None;
    let station = match sip {
        Some(sip) => {
            let (tx, rx) = tokio::sync::mpsc::channel(65_536);
            queue = Some(rx);
            Some(StationSetup {
                cfg: StationConfig {
                    realm: cfg.sip.domain.clone(),
                    sip_addr: sip.advertised,
                    silence_timeout: Duration::from_secs(cfg.sip.silence_timeout_s.into()),
                    max_recording: Duration::from_secs(cfg.sip.max_recording_s.into()),
                    ring_timeout: Duration::from_secs(cfg.sip.ring_timeout_s.into()),
                    media_timeout: Duration::from_secs(cfg.sip.media_timeout_s.into()),
                    digest: cfg.sip_digest()?,
                    qualify_interval: Duration::from_secs(cfg.sip.qualify_s.into()),
                    qualify_misses: cfg.sip.qualify_misses,
                    music_on_hold: cfg.sip_music_on_hold()?,
                    ..StationConfig::default()
                },
                sip_out: tx,
                media: Arc::new(UdpMediaSockets::new(
                    sip.local.ip(),
                    cfg.sip.rtp_port_min,
                    cfg.sip.rtp_port_max,
                )),
            })
        }
        None => None,
    };
    let engine = EngineConfig {
        db_threads: 2,
        clients: ClientConfig {
            ping_interval: Duration::from_secs(cfg.clients.ping_interval_s.into()),
            max_message_seconds: cfg.limits.max_message_seconds,
            user_quota_bytes: cfg.limits.user_quota_bytes,
            messages_per_minute: cfg.limits.messages_per_minute,
            global_box: cfg
                .global
                .enabled
                .then(|| cfg.global.box_name.clone())
                .flatten(),
        },
        station,
        gateway: None,
    };
    Ok((engine, queue))
}

/// The receiving end of a gateway control socket's send queue.
type ControlQueue = tokio::sync::mpsc::Receiver<(SocketAddr, Vec<u8>)>;

/// The gateway actor's settings, when the MGCP or the MEGACO socket is bound: the line
/// settings of `[sip]`, and the station's RTP sockets (one port range for every call) or,
/// with SIP off, RTP sockets of its own on the control socket's address. Returns the MGCP
/// and MEGACO services' send queues.
fn gateway_setup(
    cfg: &Config,
    engine: &mut EngineConfig,
    mgcp_bound: Option<SocketAddr>,
    megaco_bound: Option<SocketAddr>,
    sip: Option<&Sip>,
) -> (Option<ControlQueue>, Option<ControlQueue>) {
    let Some(bound) = mgcp_bound.or(megaco_bound) else {
        return (None, None);
    };
    let (tx, rx) = tokio::sync::mpsc::channel(65_536);
    let (megaco_tx, megaco_rx) = tokio::sync::mpsc::channel(65_536);
    let media = match &engine.station {
        Some(st) => st.media.clone(),
        None => Arc::new(UdpMediaSockets::new(
            sip.map_or(bound.ip(), |s| s.local.ip()),
            cfg.sip.rtp_port_min,
            cfg.sip.rtp_port_max,
        )),
    };
    engine.gateway = Some(GatewaySetup {
        cfg: GatewayConfig {
            lines: ivm_line::Config {
                silence_timeout: Duration::from_secs(cfg.sip.silence_timeout_s.into()),
                max_recording: Duration::from_secs(cfg.sip.max_recording_s.into()),
                ring_timeout: Duration::from_secs(cfg.sip.ring_timeout_s.into()),
                ..ivm_line::Config::default()
            },
            media_timeout: Duration::from_secs(cfg.sip.media_timeout_s.into()),
            keepalive: Duration::from_secs(cfg.mgcp.keepalive_s.into()),
            response_ack: cfg.mgcp.response_ack,
            ..GatewayConfig::default()
        },
        out: tx,
        megaco: megaco_bound.map(|b| (megaco_tx, b)),
        media,
    });
    (mgcp_bound.map(|_| rx), megaco_bound.map(|_| megaco_rx))
}

/// What the station queues for the SIP service to send.
type SipQueue = tokio::sync::mpsc::Receiver<ivm_sip::transaction::Transmit>;

/// The HTTP service's settings from the config; `https_port` is the bound one (redirects).
fn http_config(cfg: &Config, https_port: u16) -> anyhow::Result<HttpConfig> {
    Ok(HttpConfig {
        http: cfg.http_addr()?,
        https: cfg.https_addr()?,
        https_port,
        max_upload_bytes: cfg.limits.max_upload_bytes,
        max_ws_frame: cfg.limits.max_ws_frame,
        session_ttl: cfg.session_ttl(),
        ping_interval_s: cfg.clients.ping_interval_s,
        max_connections: cfg.limits.max_connections,
        max_connections_per_address: cfg.limits.max_connections_per_address,
        names: cfg.http.names.clone(),
        one_time_password_ttl: cfg.one_time_password_ttl(),
    })
}

/// Starts the engine and hands it every service: the socket servers, the sightings flush,
/// the admin socket, then the parts that change while the box runs (DHCP control, front
/// panel). Prints the ready line once all run. Answers the engine and where the front panel
/// asks for a restart or a factory reset.
async fn start(
    cfg: &Config,
    origin: &Origin,
    store: Arc<Store>,
    data_abs: PathBuf,
    sockets: Sockets,
    tls: Tls,
) -> anyhow::Result<(Addr<Engine>, watch::Receiver<Option<Exit>>)> {
    let listeners = sockets.listeners();
    let Sockets {
        http,
        https,
        sip,
        tftp,
        mgcp,
        megaco,
    } = sockets;
    let mgcp_bound = mgcp.as_ref().map(|(_, a)| *a);
    let megaco_bound = megaco.as_ref().map(|(_, a)| *a);
    let http_local = http.as_ref().and_then(|l| l.local_addr().ok());
    let https_port = https
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(443);
    let http_cfg = http_config(cfg, https_port)?;
    let sip_advertised = sip.as_ref().map(|s| s.advertised);
    let (mut engine_cfg, sip_queue) = engine_config(cfg, sip.as_ref())?;
    let (mgcp_queue, megaco_queue) =
        gateway_setup(cfg, &mut engine_cfg, mgcp_bound, megaco_bound, sip.as_ref());
    let https_bound = https.as_ref().and_then(|l| l.local_addr().ok());
    let provisioner = provisioner(cfg, http_local, https_bound, sip_advertised)?;
    let info = Arc::new(BoxInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        started_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        data_dir: data_abs,
        config_file: origin.config_file.clone(),
        command_line: origin.command_line.clone(),
        listeners: listeners.clone(),
        sip_domain: cfg.sip.domain.clone(),
        sip_server: sip_advertised.map(|a| a.to_string()),
        provision_url: provisioner.settings.provision_url.clone(),
        config: cfg.to_toml().context("config as TOML")?,
    });

    let front_cfg = FrontConfig::from(cfg)?;

    let (engine, h) = Engine::start(store, engine_cfg);
    // How `run` ends: the panel's menus and the admin page's restart.
    let (exit_tx, exit_rx) = watch::channel(None);
    let sightings = Arc::new(Sightings::default());
    let front = front_cfg.start(&h, provisioner, sightings.clone());
    let link = match (cfg.global.enabled, &cfg.global.box_name) {
        (true, Some(name)) => Some(ivm_link::Link::new(
            cfg.global.clone(),
            name,
            h.db.clone(),
            h.client_handle(),
        )),
        _ => None,
    };
    let global = link.as_ref().map(ivm_link::Link::view);
    let mut services: Vec<Box<dyn Service>> = vec![
        Box::new(
            HttpService::new(http_backend(&h), http_cfg, Some(tls.config), http, https)
                .with_provisioning(Some(front.clone()))
                .with_updater(updater(cfg))
                .with_restarter(Some(restarter(cfg, &exit_tx)))
                .with_global(global.clone()),
        ),
        Box::new(FlushService::new(sightings, h.db.clone())),
    ];
    if let Some(sock) = tftp {
        services.push(Box::new(ivm_tftpd::TftpService::new(sock, front.clone())));
    }
    if let (Some(sip), Some(queue), Some(input)) = (sip, sip_queue, h.sip_input()) {
        services.push(Box::new(SipService::new(sip.sockets, input, queue)));
    }
    if let (Some((sock, _)), Some(queue), Some(input)) = (mgcp, mgcp_queue, h.mgcp_input()) {
        services.push(Box::new(ivm_phones::MgcpService::new(
            "mgcp", sock, input, queue,
        )));
    }
    if let (Some((sock, _)), Some(queue), Some(input)) = (megaco, megaco_queue, h.megaco_input()) {
        services.push(Box::new(ivm_phones::MegacoService::new(
            "megaco", sock, input, queue,
        )));
    }
    if let Some(link) = link {
        services.push(Box::new(link));
    }
    let dhcp_slot: Arc<OnceLock<Arc<DhcpControl>>> = Arc::default();
    let live = Live {
        db: h.db.clone(),
        clients: h.client_stats(),
        registrations: h.registrations(),
        gateways: h.gateways(),
        global,
        started: h.started,
        dhcp: dhcp_slot.clone(),
        tls: tls.identities,
        names: cfg.http.names.clone(),
    };
    match AdminSocket::bind(info, live, front.clone()) {
        Ok(s) => {
            if let Some(p) = s.published() {
                tracing::info!(path = %p.display(), "admin commands find this box from any folder");
            }
            services.push(Box::new(s));
        }
        Err(e) => tracing::warn!(
            error = %e,
            "admin socket unavailable: `ivmd user` needs the box stopped"
        ),
    }
    engine.send(Launch(services)).await.context("engine")?;

    // The DHCP server and the front panel: both can change while the box runs, both under
    // the engine's token.
    let network = Arc::new(crate::display::network(cfg)?);
    let dhcp = Arc::new(DhcpControl::new(
        cfg.clone(),
        network.interface().to_owned(),
        http_local,
        front.clone(),
        h.stop.clone(),
    ));
    let _ = dhcp_slot.set(dhcp.clone());
    let dhcp_state = dhcp.start(crate::panel::own_address(&network).await).await;
    let panel = crate::display::start(
        cfg,
        &h,
        network,
        dhcp.clone(),
        front,
        exit_tx,
        h.stop.child_token(),
    )?;
    let mut parts: Vec<Box<dyn Service>> = vec![Box::new(DhcpControlService(dhcp))];
    if let Some(p) = panel {
        parts.push(Box::new(PanelService(p)));
    }
    engine.send(Launch(parts)).await.context("engine")?;

    let off = |a: &Option<String>| a.clone().unwrap_or_else(|| "off".into());
    let (http_bound, https_bound) = (off(&listeners.http), off(&listeners.https));
    let (sip_bound, tftp_bound) = (off(&listeners.sip), off(&listeners.tftp));
    let mgcp_bound = mgcp_bound.map_or_else(|| "off".to_owned(), |a| a.to_string());
    let megaco_bound = megaco_bound.map_or_else(|| "off".to_owned(), |a| a.to_string());
    println!("ivmd: ready http={http_bound} https={https_bound} sip={sip_bound} tftp={tftp_bound} dhcp={dhcp_state} mgcp={mgcp_bound} megaco={megaco_bound} data={}", cfg.data_dir.display());
    tracing::info!(http = %http_bound, https = %https_bound, sip = %sip_bound, tftp = %tftp_bound, "ivmd ready");
    Ok((engine, exit_rx))
}

/// The provisioning front's settings, read before anything starts (a bad value fails the
/// start with nothing running).
struct FrontConfig {
    realm: String,
    subnets: Vec<ivm_actors::provisioning::Subnet>,
    auto_assign: Option<std::ops::RangeInclusive<u32>>,
    arm_window: Option<Duration>,
    firmware: PathBuf,
    certificate: Option<PathBuf>,
}

impl FrontConfig {
    fn from(cfg: &Config) -> anyhow::Result<FrontConfig> {
        let subnets = cfg.provision_subnets()?;
        tracing::info!(subnets = %subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "), arm_window_s = cfg.provision.arm_window_s, "phone provisioning");
        Ok(FrontConfig {
            realm: cfg.sip.domain.clone(),
            subnets,
            auto_assign: cfg.auto_assign_range()?,
            arm_window: cfg.arm_window(),
            firmware: cfg.data_dir.join("firmware"),
            certificate: cfg
                .provision
                .https
                .then(|| cfg.data_dir.join("tls/cert.pem")),
        })
    }

    /// The provisioning front (TFTP, HTTP `/provision/`, the admin's and the panel's phone
    /// actions), over the database manager.
    fn start(
        self,
        h: &Handles,
        provisioner: Provisioner,
        sightings: Arc<Sightings>,
    ) -> Arc<ProvisionFront> {
        Arc::new(
            ProvisionFront::new(
                h.db.clone(),
                provisioner,
                self.realm,
                self.subnets,
                self.firmware,
            )
            .with_auto_assign(self.auto_assign)
            .with_arm_window(self.arm_window)
            .with_certificate(self.certificate)
            .with_sightings(sightings)
            .with_leases(Arc::new(Leases::new())),
        )
    }
}

/// Until SIGTERM or Ctrl-C, or the front panel's restart or factory reset.
async fn wait_for_exit(mut exit: watch::Receiver<Option<Exit>>) -> Exit {
    tokio::select! {
        _ = wait_for_stop_signal() => {
            tracing::info!("stop signal received");
            Exit::Stop
        }
        Ok(e) = exit.wait_for(Option::is_some) => e.unwrap_or(Exit::Stop),
    }
}

/// The engine's one stop (every actor and service, one token, one grace), then the actor
/// system's.
async fn stop(engine: Addr<Engine>) {
    engine.send(Shutdown).await.ok();
    actix::System::current().stop();
}

/// What the HTTP service reaches: the database manager, the client manager's requests, and
/// ring-my-phone and the registrations when desk phones are on.
fn http_backend(h: &Handles) -> Backend {
    Backend {
        db: h.db.clone(),
        clients: h.client_handle(),
        phones: h
            .ring_me()
            .zip(h.registrations())
            .map(|(ring_me, registrations)| Phones {
                ring_me,
                registrations,
            }),
        gateways: h.gateways(),
        started: h.started,
    }
}

/// The provisioning renderer: templates built in (overridable from `<data>/templates/`), the
/// phones' SIP server and provisioning URL from the advertised addresses. `sip` is the
/// station's advertised address (from the bound socket, so `--sip 127.0.0.1:0` gives the
/// phones the real port); without SIP, the configured one.
fn provisioner(
    cfg: &Config,
    http: Option<std::net::SocketAddr>,
    https: Option<std::net::SocketAddr>,
    sip: Option<std::net::SocketAddr>,
) -> anyhow::Result<Provisioner> {
    let sip = sip.or_else(|| cfg.sip_advertised(None));
    let host = sip
        .map(|a| a.ip())
        .or_else(|| {
            cfg.sip_advertised(Some(std::net::SocketAddr::from(([0, 0, 0, 0], 5060))))
                .map(|a| a.ip())
        })
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let http_port = http.map(|a| a.port()).unwrap_or(80);
    let templates =
        Templates::with_overrides(&cfg.data_dir.join("templates")).context("phone templates")?;
    Ok(Provisioner::new(
        Settings {
            sip_server: host.to_string(),
            sip_port: sip.map(|a| a.port()).unwrap_or(5060),
            voicemail: "*97".into(),
            ntp_server: cfg.provision.ntp_server.clone(),
            timezone: cfg.provision.timezone.clone(),
            provision_url: format!("http://{host}:{http_port}/provision/"),
            https_url: https
                .filter(|_| cfg.provision.https)
                .map(|a| format!("https://{host}:{}/provision/", a.port())),
        },
        templates,
    ))
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
