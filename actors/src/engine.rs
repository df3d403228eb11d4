//! The server engine (S13): start-up and shutdown of the server and its parts, in order.
//!
//! Start: database actor, client actor, station actor (when SIP is on), then the network
//! services (which need them).
//! Stop: tell every client the server is going down and wait for accepted posts to commit,
//! then cancel the services and wait (bounded) for their in-flight requests, then return so
//! the binary can stop the actor system and exit 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::BoxFuture;
use ivm_store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientActor, ClientConfig, GoingDown};
use crate::database::DatabaseActor;
use crate::media::MediaSockets;
use crate::station::{SipOutbox, StationActor, StationConfig};

/// How long shutdown waits for services to finish their in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A network service (HTTP, later SIP, DHCP, TFTP) run by the engine.
pub trait Service: Send + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Serves until `shutdown` is cancelled, then finishes in-flight work and returns.
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()>;
}

/// Addresses of the core actors, handed to the services.
#[derive(Clone)]
pub struct Handles {
    /// The database actor.
    pub db: Addr<DatabaseActor>,
    /// The client actor.
    pub clients: Addr<ClientActor>,
    /// The station actor (desk phones), when SIP is on.
    pub station: Option<Addr<StationActor>>,
    /// The store, for what is not a query (its data folder's path). Every read and write
    /// goes through `db`, never through this handle on an async thread.
    pub store: Arc<Store>,
    /// When the engine started, for uptime.
    pub started: Instant,
}

/// The engine actor.
pub struct Engine {
    handles: Handles,
    services: Vec<(&'static str, JoinHandle<()>)>,
    shutdown: CancellationToken,
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
    /// Starts the actors, then the services built by `make_services` from their addresses.
    /// Must be called inside a running actix system on a tokio multi-thread runtime.
    pub fn start(
        store: Arc<Store>,
        cfg: EngineConfig,
        make_services: impl FnOnce(&Handles) -> Vec<Box<dyn Service>>,
    ) -> Addr<Engine> {
        let db = DatabaseActor::start(store.clone(), cfg.db_threads.max(2));
        let clients = ClientActor::new(db.clone(), cfg.clients).start();
        let station = cfg.station.map(|st| {
            StationActor::new(st.cfg, db.clone(), clients.clone(), st.sip_out, st.media).start()
        });
        let handles = Handles {
            db,
            clients,
            station,
            store,
            started: Instant::now(),
        };
        let shutdown = CancellationToken::new();
        let services = make_services(&handles)
            .into_iter()
            .map(|s| {
                let name = s.name();
                tracing::info!(service = name, "starting");
                (name, tokio::spawn(s.run(shutdown.clone())))
            })
            .collect();
        Engine {
            handles,
            services,
            shutdown,
        }
        .start()
    }
}

impl Actor for Engine {
    type Context = Context<Self>;
}

/// Stop everything in order (SIGTERM).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Runs the ordered stop described in the module doc.
impl Handler<Shutdown> for Engine {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let clients = self.handles.clients.clone();
        let shutdown = self.shutdown.clone();
        let services = std::mem::take(&mut self.services);
        Box::pin(async move {
            tracing::info!("shutting down: notifying clients");
            let going_down = clients.send(GoingDown {
                reason: "the server is shutting down".into(),
            });
            if tokio::time::timeout(SHUTDOWN_GRACE, going_down)
                .await
                .is_err()
            {
                tracing::warn!("in-flight messages did not finish within the grace period");
            }
            shutdown.cancel();
            for (name, handle) in services {
                match tokio::time::timeout(SHUTDOWN_GRACE, handle).await {
                    Ok(_) => tracing::info!(service = name, "stopped"),
                    Err(_) => {
                        tracing::warn!(service = name, "did not stop within the grace period")
                    }
                }
            }
        })
    }
}

/// The engine's handles, for the admin socket and tests.
#[derive(Message)]
#[rtype(result = "Handles")]
pub struct GetHandles;

/// Returns a copy of the handles.
impl Handler<GetHandles> for Engine {
    type Result = MessageResult<GetHandles>;
    fn handle(&mut self, _: GetHandles, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handles.clone())
    }
}
