//! `ivmd run`: open the data folder, make the first-start secrets, start the engine, serve
//! until SIGTERM or Ctrl-C, then stop in order and exit 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ivm_actors::client::ClientConfig;
use ivm_actors::engine::{Engine, EngineConfig, Service, Shutdown, StationSetup};
use ivm_actors::station::StationConfig;
use ivm_http::{HttpConfig, HttpService};
use ivm_phones::{SipService, UdpMediaSockets};
use ivm_store::{NewUser, Store};

use crate::admin::AdminSocket;
use crate::config::Config;

/// On first start (no users yet) creates `admin` with a random password and prints it once.
fn first_start(store: &Store) -> anyhow::Result<()> {
    if store.user_count()? > 0 {
        return Ok(());
    }
    let password = ivm_store::generate_password();
    store.create_user(NewUser {
        name: "admin".into(),
        extension: "100".into(),
        display_name: Some("Administrator".into()),
        password: password.clone(),
        admin: true,
    })?;
    println!("ivmd: first start: created user \"admin\" (extension 100) with password: {password}");
    println!("ivmd: this password is shown only once; change it with `ivmd user passwd admin`");
    Ok(())
}

/// Runs the box until a stop signal.
pub fn run(cfg: Config) -> anyhow::Result<()> {
    let store = Arc::new(
        Store::open(&cfg.data_dir)
            .with_context(|| format!("cannot open the data folder {}", cfg.data_dir.display()))?,
    );
    first_start(&store)?;
    let tls = crate::tls::load_or_create(&store, &cfg.data_dir).context("TLS certificate")?;

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
        };
        // Desk phones: bind the SIP sockets first so the station knows the real address.
        let mut sip_parts = None;
        let mut sip_bound = "off".to_owned();
        let mut station = None;
        if let Some(addr) = cfg.sip_addr()? {
            let (sockets, local) = SipService::bind(addr, cfg.sip.tcp)
                .await
                .with_context(|| format!("cannot listen on {addr} (sip)"))?;
            let advertised = cfg.sip_advertised(Some(local)).unwrap_or(local);
            sip_bound = local.to_string();
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
                    digest: cfg.sip_digest()?.iter().filter_map(|a| ivm_sip::auth::Algorithm::parse(Some(a))).collect(),
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
            },
            station,
        };
        let data = cfg.data_dir.clone();
        let mut socket_error = None;
        let engine = Engine::start(store, engine_cfg, |h| {
            let mut services: Vec<Box<dyn Service>> =
                vec![Box::new(HttpService::new(h.clone(), http_cfg, Some(tls), http, https))];
            if let (Some((sockets, rx)), Some(st)) = (sip_parts.take(), h.station.clone()) {
                services.push(Box::new(SipService::new(sockets, st, rx)));
            }
            match AdminSocket::bind(&data, h.db.clone()) {
                Ok(s) => services.push(Box::new(s)),
                Err(e) => socket_error = Some(e),
            }
            services
        });
        if let Some(e) = socket_error {
            tracing::warn!(error = %e, "admin socket unavailable: `ivmd user` needs the box stopped");
        }
        println!("ivmd: ready http={http_bound} https={https_bound} sip={sip_bound} data={}", cfg.data_dir.display());
        tracing::info!(http = %http_bound, https = %https_bound, sip = %sip_bound, "ivmd ready");

        wait_for_stop_signal().await;
        tracing::info!("stop signal received");
        engine.send(Shutdown).await.ok();
        actix::System::current().stop();
        tracing::info!("stopped cleanly");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
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
