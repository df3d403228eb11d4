//! `ivmd run`: take the data folder's lock and open it, make the first-start secrets (and an
//! administrator whenever there is none), start the engine, serve until SIGTERM or Ctrl-C,
//! then stop in order and exit 0.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use ivm_actors::client::ClientConfig;
use ivm_actors::engine::{Engine, EngineConfig, Shutdown, StationSetup};
use ivm_actors::provisioning::{FlushService, Leases, ProvisionFront, Sightings};
use ivm_actors::station::StationConfig;
use ivm_http::{Backend, HttpConfig, HttpService, Phones};
use ivm_phones::{SipService, UdpMediaSockets};
use ivm_provision::{Provisioner, Settings, Templates};
use ivm_service::Service;
use ivm_store::{OpenOptions, Store, StoreError};

use crate::admin::status::{Listeners, Live};
use crate::admin::{AdminSocket, BoxInfo};
use crate::config::Config;
use crate::dhcp::DhcpControl;
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
    let opened = Store::open_with(
        &cfg.data_dir,
        &OpenOptions {
            create: true,
            lock_wait: LOCK_WAIT,
        },
    );
    let store = Arc::new(match opened {
        Ok(s) => s,
        Err(e @ StoreError::Locked { .. }) => {
            anyhow::bail!(
                "{e} ({}); waited {} s for it",
                cfg.data_dir.display(),
                LOCK_WAIT.as_secs()
            )
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the data folder {}", cfg.data_dir.display()))
        }
    });
    crate::first_start::ensure_admin(&store)?;
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
    system.block_on(async move {
        let http_addr = cfg.http_addr()?;
        let https_addr = cfg.https_addr()?;
        let http = match http_addr {
            Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| format!("cannot listen on {a} (http)"))?),
            None => None,
        };
        let https = match https_addr {
            Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| format!("cannot listen on {a} (https)"))?),
            None => None,
        };
        let bound = |l: &Option<tokio::net::TcpListener>| {
            l.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string()).unwrap_or_else(|| "off".into())
        };
        let (http_bound, https_bound) = (bound(&http), bound(&https));
        let https_port = https.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port()).unwrap_or(443);
        let http_cfg = HttpConfig {
            http: http_addr,
            https: https_addr,
            https_port,
            max_upload_bytes: cfg.limits.max_upload_bytes,
            max_ws_frame: cfg.limits.max_ws_frame,
            session_ttl: cfg.session_ttl(),
            ping_interval_s: cfg.clients.ping_interval_s,
            max_connections: cfg.limits.max_connections,
            max_connections_per_address: cfg.limits.max_connections_per_address,
            names: cfg.http.names.clone(),
            one_time_password_ttl: cfg.one_time_password_ttl(),
        };
        // Desk phones: bind the SIP sockets first so the station knows the real address.
        let mut sip_parts = None;
        let mut sip_bound = "off".to_owned();
        let mut station = None;
        let mut sip_advertised = None;
        if let Some(addr) = cfg.sip_addr()? {
            let (sockets, local) = SipService::bind(addr, cfg.sip.tcp)
                .await
                .with_context(|| format!("cannot listen on {addr} (sip)"))?;
            let advertised = cfg.sip_advertised(Some(local)).unwrap_or(local);
            sip_bound = local.to_string();
            sip_advertised = Some(advertised);
            let (tx, rx) = tokio::sync::mpsc::channel(65_536);
            let media = Arc::new(UdpMediaSockets::new(local.ip(), cfg.sip.rtp_port_min, cfg.sip.rtp_port_max));
            station = Some(StationSetup {
                cfg: StationConfig {
                    realm: cfg.sip.domain.clone(),
                    sip_addr: advertised,
                    silence_timeout: Duration::from_secs(cfg.sip.silence_timeout_s.into()),
                    max_recording: Duration::from_secs(cfg.sip.max_recording_s.into()),
                    ring_timeout: Duration::from_secs(cfg.sip.ring_timeout_s.into()),
                    media_timeout: Duration::from_secs(cfg.sip.media_timeout_s.into()),
                    digest: cfg.sip_digest()?,
                    ..StationConfig::default()
                },
                sip_out: tx,
                media,
            });
            sip_parts = Some((sockets, rx));
        }
        let engine_cfg = EngineConfig {
            db_threads: 2,
            clients: ClientConfig {
                ping_interval: Duration::from_secs(cfg.clients.ping_interval_s.into()),
                max_message_seconds: cfg.limits.max_message_seconds,
                user_quota_bytes: cfg.limits.user_quota_bytes,
                messages_per_minute: cfg.limits.messages_per_minute,
            },
            station,
        };
        // Provisioning: TFTP socket bound now (a port in use fails the start), files rendered
        // with the advertised SIP address.
        let tftp_socket = match cfg.tftp_addr()? {
            Some(a) => Some(ivm_tftp::TftpService::bind(a).with_context(|| format!("cannot listen on {a} (tftp)"))?),
            None => None,
        };
        let tftp_bound = tftp_socket.as_ref().and_then(|s| s.local_addr().ok()).map(|a| a.to_string()).unwrap_or_else(|| "off".into());
        let http_local = http.as_ref().and_then(|l| l.local_addr().ok());
        let provisioner = provisioner(&cfg, http_local, sip_advertised)?;
        let subnets = cfg.provision_subnets()?;
        tracing::info!(subnets = %subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "), arm_window_s = cfg.provision.arm_window_s, "phone provisioning");
        let auto_assign = cfg.auto_assign_range()?;
        let arm_window = cfg.arm_window();
        let sightings = Arc::new(Sightings::default());
        let leases = Arc::new(Leases::new());
        let realm = cfg.sip.domain.clone();
        let data = cfg.data_dir.clone();
        let info = Arc::new(BoxInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            started_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            data_dir: data_abs,
            config_file: origin.config_file.clone(),
            command_line: origin.command_line.clone(),
            listeners: Listeners {
                http: http.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string()),
                https: https.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string()),
                sip: (sip_bound != "off").then(|| sip_bound.clone()),
                tftp: (tftp_bound != "off").then(|| tftp_bound.clone()),
            },
            sip_domain: cfg.sip.domain.clone(),
            sip_server: sip_advertised.map(|a| a.to_string()),
            provision_url: provisioner.settings.provision_url.clone(),
            config: cfg.to_toml().context("config as TOML")?,
        });
        let dhcp_slot: Arc<OnceLock<Arc<DhcpControl>>> = Arc::default();
        let mut socket_error = None;
        let mut published = None;
        let mut handles = None;
        let mut provision_front = None;
        let engine = Engine::start(store, engine_cfg, |h| {
            let front = Arc::new(
                ProvisionFront::new(h.db.clone(), provisioner, realm, subnets, data.join("firmware"))
                    .with_auto_assign(auto_assign)
                    .with_arm_window(arm_window)
                    .with_sightings(sightings.clone())
                    .with_leases(leases),
            );
            provision_front = Some(front.clone());
            let mut services: Vec<Box<dyn Service>> = vec![
                Box::new(HttpService::new(http_backend(h), http_cfg, Some(tls), http, https).with_provisioning(Some(front.clone()))),
                Box::new(FlushService::new(sightings, h.db.clone())),
            ];
            handles = Some(h.clone());
            if let Some(sock) = tftp_socket {
                services.push(Box::new(ivm_tftp::TftpService::new(sock, front.clone())));
            }
            if let (Some((sockets, rx)), Some(st)) = (sip_parts.take(), h.sip_input()) {
                services.push(Box::new(SipService::new(sockets, st, rx)));
            }
            let live = Live { db: h.db.clone(), clients: h.client_stats(), registrations: h.registrations(), started: h.started, dhcp: dhcp_slot.clone(), tls: identities.clone(), names: cfg.http.names.clone() };
            match AdminSocket::bind(info.clone(), live, front) {
                Ok(s) => {
                    published = s.published().map(|p| p.to_owned());
                    services.push(Box::new(s));
                }
                Err(e) => socket_error = Some(e),
            }
            services
        });
        if let Some(e) = socket_error {
            tracing::warn!(error = %e, "admin socket unavailable: `ivmd user` needs the box stopped");
        }
        if let Some(p) = &published {
            tracing::info!(path = %p.display(), "admin commands find this box from any folder");
        }
        let h = handles.context("engine handles")?;
        let front = provision_front.context("provisioning front")?;
        // The DHCP server and the front panel: both can change while the box runs.
        let stop = tokio_util::sync::CancellationToken::new();
        let network = Arc::new(crate::display::network(&cfg)?);
        let dhcp = Arc::new(DhcpControl::new(cfg.clone(), network.interface().to_owned(), http_local, front.clone(), stop.clone()));
        let _ = dhcp_slot.set(dhcp.clone());
        let dhcp_state = dhcp.start(crate::panel::own_address(&network).await).await;
        let (exit_tx, mut exit_rx) = tokio::sync::watch::channel(None);
        let panel = crate::display::start(&cfg, &h, network, dhcp.clone(), front, exit_tx, stop.clone())?;
        println!("ivmd: ready http={http_bound} https={https_bound} sip={sip_bound} tftp={tftp_bound} dhcp={dhcp_state} data={}", cfg.data_dir.display());
        tracing::info!(http = %http_bound, https = %https_bound, sip = %sip_bound, tftp = %tftp_bound, "ivmd ready");

        let exit = tokio::select! {
            _ = wait_for_stop_signal() => {
                tracing::info!("stop signal received");
                Exit::Stop
            }
            Ok(e) = exit_rx.wait_for(Option::is_some) => e.unwrap_or(Exit::Stop),
        };
        engine.send(Shutdown).await.ok();
        dhcp.stop().await;
        stop.cancel();
        if let Some(p) = panel {
            let _ = p.await;
        }
        actix::System::current().stop();
        tracing::info!(?exit, "stopped cleanly");
        Ok::<_, anyhow::Error>(exit)
    })
}

/// What the HTTP service reaches: the database manager, the client manager's requests, and
/// ring-my-phone and the registrations when desk phones are on.
fn http_backend(h: &ivm_actors::engine::Handles) -> Backend {
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
