//! The server engine: start-up and shutdown of the server and its parts, in order.
//!
//! One start and one stop, both owned here:
//! - Start ([`Engine::start`]): database actor, client actor, station actor (when SIP is on);
//!   then every service the binary builds from the [`Handles`] is handed over ([`Launch`]):
//!   the socket servers (HTTP, SIP, TFTP), the admin socket, the sightings flush, and the
//!   parts that change while the box runs (DHCP control, front panel), which do their work
//!   under child tokens of the engine's one token ([`Handles::stop`]).
//! - Stop ([`Shutdown`]): one bounded grace ([`ivm_service::SHUTDOWN_GRACE`]) for the whole
//!   stop: tell every client the server is going down and wait for accepted posts to commit,
//!   then cancel the one token and wait for every service together until the same deadline
//!   (`ivm_service::Running::stop`), then return so the binary can stop the actor system and
//!   exit. No part of the box has a token or a grace of its own.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use ivm_service::{CancellationToken, Grace, Running, Service, SHUTDOWN_GRACE};
use ivm_store::Store;

use crate::client::{ClientActor, ClientConfig, ClientHandle, GetStats, GoingDown};
use crate::database::Db;
use crate::gateway::{GatewayActor, GatewayConfig, GetGateways, MegacoIn, MgcpIn, MgcpOutbox};
use crate::media::MediaSockets;
use crate::station::{GetRegistrations, RingMe, SipIn, SipOutbox, StationActor, StationConfig};

/// The engine's own bag of the core actors. What builds the services reads it and hands each
/// service the narrow handles it needs ([`Handles::client_handle`], [`Handles::registrations`],
/// ...); no service holds this bag or an actor's type.
#[derive(Clone)]
pub struct Handles {
    /// The database manager.
    pub db: Db,
    /// The client actor.
    pub clients: Addr<ClientActor>,
    /// The station actor (desk phones), when SIP is on.
    pub station: Option<Addr<StationActor>>,
    /// The gateway actor (analog phones), when the MGCP call agent runs.
    pub gateway: Option<Addr<GatewayActor>>,
    /// When the engine started, for uptime.
    pub started: Instant,
    /// The engine's one stop token. A part the binary starts before handing it over (the
    /// DHCP control, the front panel) runs its work under child tokens of this one, so the
    /// engine's stop ends it too.
    pub stop: CancellationToken,
}

impl Handles {
    /// The client manager's requests.
    pub fn client_handle(&self) -> ClientHandle {
        ClientHandle::new(&self.clients)
    }

    /// The client manager's counters (the status pages).
    pub fn client_stats(&self) -> Recipient<GetStats> {
        self.clients.clone().recipient()
    }

    /// The station's live registrations, when SIP is on.
    pub fn registrations(&self) -> Option<Recipient<GetRegistrations>> {
        self.station.clone().map(Addr::recipient)
    }

    /// Ring-my-phone, when SIP is on: through the gateway actor when it runs (a user with an
    /// analog line has it rung; anyone else's request goes on to the station).
    pub fn ring_me(&self) -> Option<Recipient<RingMe>> {
        let station = self.station.clone()?;
        Some(match &self.gateway {
            Some(g) => g.clone().recipient(),
            None => station.recipient(),
        })
    }

    /// The gateway actor's MGCP input (the MGCP socket service feeds it).
    pub fn mgcp_input(&self) -> Option<Recipient<MgcpIn>> {
        self.gateway.clone().map(Addr::recipient)
    }

    /// The gateway actor's MEGACO input (the MEGACO socket service feeds it).
    pub fn megaco_input(&self) -> Option<Recipient<MegacoIn>> {
        self.gateway.clone().map(Addr::recipient)
    }

    /// The gateways' live state (admin API, `ivmd gateway list`).
    pub fn gateways(&self) -> Option<Recipient<GetGateways>> {
        self.gateway.clone().map(Addr::recipient)
    }

    /// The station's SIP input (the SIP socket service feeds it), when SIP is on.
    pub fn sip_input(&self) -> Option<Recipient<SipIn>> {
        self.station.clone().map(Addr::recipient)
    }
}

/// The engine actor.
pub struct Engine {
    handles: Handles,
    /// The services, under the engine's one token (`None` once stopping).
    services: Option<Running>,
}

/// Settings of the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Database threads.
    pub db_threads: usize,
    /// Client manager settings.
    pub clients: ClientConfig,
    /// Desk phones: the station actor's settings and I/O, `None` when SIP is off.
    pub station: Option<StationSetup>,
    /// Analog phones: the gateway actor's settings and I/O, `None` when MGCP is off.
    pub gateway: Option<GatewaySetup>,
}

/// What the gateway actor needs from the binary: settings, the MGCP socket's send queue,
/// and the RTP socket factory (the same one as the station's).
#[derive(Clone)]
pub struct GatewaySetup {
    /// Settings.
    pub cfg: GatewayConfig,
    /// MGCP send queue (the MGCP service holds the other end).
    pub out: MgcpOutbox,
    /// MEGACO send queue and the MEGACO socket's address, when MEGACO is on.
    pub megaco: Option<(MgcpOutbox, std::net::SocketAddr)>,
    /// RTP sockets.
    pub media: Arc<dyn MediaSockets>,
}

impl std::fmt::Debug for GatewaySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySetup")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// What the station actor needs from the binary: settings, the SIP service's send queue,
/// and the RTP socket factory.
#[derive(Clone)]
pub struct StationSetup {
    /// Settings.
    pub cfg: StationConfig,
    /// SIP send queue (the SIP service holds the other end).
    pub sip_out: SipOutbox,
    /// RTP sockets.
    pub media: Arc<dyn MediaSockets>,
}

impl std::fmt::Debug for StationSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationSetup")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts the actors; the services follow with [`Launch`], built from the returned
    /// handles. Must be called inside a running actix system on a tokio multi-thread runtime.
    pub fn start(store: Arc<Store>, cfg: EngineConfig) -> (Addr<Engine>, Handles) {
        let db = Db::start(store, cfg.db_threads.max(2));
        let clients = ClientActor::new(db.clone(), cfg.clients).start();
        let station = cfg.station.map(|st| {
            StationActor::new(
                st.cfg,
                db.clone(),
                ClientHandle::new(&clients),
                st.sip_out,
                st.media,
            )
            .start()
        });
        let gateway = cfg.gateway.map(|g| {
            let actor = GatewayActor::new(
                g.cfg,
                db.clone(),
                ClientHandle::new(&clients),
                g.out,
                g.media,
            )
            .with_fallback(station.clone().map(Addr::recipient));
            match g.megaco {
                Some((out, bound)) => actor.with_megaco(out, bound),
                None => actor,
            }
            .start()
        });
        let services = Running::new();
        let handles = Handles {
            db,
            clients,
            station,
            gateway,
            started: Instant::now(),
            stop: services.token().clone(),
        };
        let engine = Engine {
            handles: handles.clone(),
            services: Some(services),
        }
        .start();
        (engine, handles)
    }
}

impl Actor for Engine {
    type Context = Context<Self>;
}

/// Runs these services under the engine's token, in order, until the stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Launch(pub Vec<Box<dyn Service>>);

/// Starts each service; once the stop has begun, a late one is dropped unstarted.
impl Handler<Launch> for Engine {
    type Result = ();

    fn handle(&mut self, Launch(services): Launch, _: &mut Context<Self>) {
        match &mut self.services {
            Some(running) => services.into_iter().for_each(|s| running.start(s)),
            None => {
                for s in services {
                    tracing::warn!(service = s.name(), "not started: the box is stopping");
                }
            }
        }
    }
}

/// Stop everything in order (SIGTERM, Ctrl-C, the panel's restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Runs the ordered stop described in the module doc.
impl Handler<Shutdown> for Engine {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let clients = self.handles.clients.clone();
        let services = self.services.take();
        Box::pin(async move {
            // One deadline for the whole stop.
            let grace = Grace::new(SHUTDOWN_GRACE);
            tracing::info!("shutting down: notifying clients");
            let going_down = clients.send(GoingDown {
                reason: "the server is shutting down".into(),
            });
            if grace.within(going_down).await.is_none() {
                tracing::warn!("in-flight messages did not finish within the grace period");
            }
            if let Some(services) = services {
                services.stop(grace).await;
            }
        })
    }
}
