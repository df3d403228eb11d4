//! The box's HTTP service (one of the set-up servers beside DHCP, TFTP and the panel): the REST
//! API, the client WebSocket, and the OpenAPI document, over plain HTTP and over TLS.
//!
//! # Layout
//! - [`serve`]: accept loops (plain and TLS) on hyper-util, one task per connection, with
//!   graceful shutdown: stop accepting, let in-flight requests finish (bounded); the table of
//!   every bound a connection runs under (timeouts, buffers, HTTP/2 limits).
//! - [`conns`]: connection caps, in all and per client address (sans-IO counter).
//! - [`idle`]: per-connection activity and the watchdog that closes silent connections.
//! - [`body`]: request body size and time limits (small everywhere; the upload, after auth).
//! - [`plain`]: what the plain-HTTP listener serves to whom, and its `Host` check.
//! - [`auth`]: the bearer-token extractor used by every `/api` route but login.
//! - [`ratelimit`]: sans-IO password-guessing budgets, reserved before a password is checked.
//! - [`password_pool`]: argon2 on threads of its own behind a short queue.
//! - [`json`]: the JSON body extractor, refusals as API errors.
//! - [`routes`]: one file per resource (session, contacts, messages, admin, health), and
//!   [`routes::web`]: the web client (`web/` at the top of the repository, embedded at build
//!   time, served with a strict Content-Security-Policy).
//! - [`ws`]: the WebSocket session task: decodes message objects (action, id, source, destination,
//!   object) and talks to the
//!   client actor, which owns all session state.
//! - [`error`]: the one error type every handler returns, rendered as `ErrorBody` JSON.
//!
//! Plain HTTP serves phone provisioning (`/provision/...`, through
//! [`ivm_actors::provisioning`]) to anyone and the API to tools on the box itself (loopback);
//! the LAN gets 403 for the API and browsers a redirect to HTTPS, where the web client lives.
//! No login or token crosses the LAN in cleartext ([`plain`]).

pub mod auth;
pub mod body;
pub mod conns;
pub mod error;
pub mod idle;
pub mod json;
pub mod password_pool;
pub mod plain;
pub mod ratelimit;
pub mod routes;
pub mod serve;
pub mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use futures_util::future::BoxFuture;
use ivm_actors::client::ClientHandle;
use ivm_actors::database::Db;
use ivm_actors::provisioning::ProvisionFront;
use ivm_actors::station::{GetRegistrations, RingMe};
use ivm_service::Service;
use tokio_util::sync::CancellationToken;

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Plain HTTP listener (phone files for all; the API for the box itself; browsers are
    /// redirected).
    pub http: Option<SocketAddr>,
    /// HTTPS listener.
    pub https: Option<SocketAddr>,
    /// Port browsers are redirected to (the HTTPS port as seen from outside).
    pub https_port: u16,
    /// Largest upload (audio plus attachments), bytes.
    pub max_upload_bytes: usize,
    /// Largest WebSocket text frame, bytes.
    pub max_ws_frame: usize,
    /// How long a login token lasts.
    pub session_ttl: Duration,
    /// Seconds between the server's pings, told to clients on connect.
    pub ping_interval_s: u32,
    /// Open connections at once, both listeners together.
    pub max_connections: usize,
    /// Open connections at once from one client address (an IPv6 /64).
    pub max_connections_per_address: usize,
    /// Host names the plain listener answers to besides its own (`[http] names`).
    pub names: Vec<String>,
    /// How long a one-time password works after it was set.
    pub one_time_password_ttl: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            http: Some(SocketAddr::from(([0, 0, 0, 0], 8080))),
            https: Some(SocketAddr::from(([0, 0, 0, 0], 8443))),
            https_port: 8443,
            max_upload_bytes: 25 * 1024 * 1024,
            max_ws_frame: ivm_wire::object::DEFAULT_MAX_FRAME,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            ping_interval_s: 30,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            names: Vec::new(),
            one_time_password_ttl: DEFAULT_ONE_TIME_PASSWORD_TTL,
        }
    }
}

/// Default cap on open connections: twice the 1,000 client sessions the box is benchmarked
/// with, well inside the file limit it raises at start.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;
/// Default cap per client address: a browser opens at most a handful (six HTTP/1.1
/// connections per origin and a WebSocket), `ivm watch` one; 64 leaves room for a desk with
/// many tabs and tools while one host can hold at most 1/32 of the box.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// Default lifetime of a one-time password: a day.
pub const DEFAULT_ONE_TIME_PASSWORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// What the HTTP service reaches outside itself, each part as narrow as its routes need:
/// the database manager's vocabulary, the client manager's requests, the two requests the
/// routes make of the desk phones. No actor type.
#[derive(Clone)]
pub struct Backend {
    /// The database manager.
    pub db: Db,
    /// The client manager.
    pub clients: ClientHandle,
    /// Desk phones, when SIP is on.
    pub phones: Option<Phones>,
    /// The gateways' live state, when the MGCP call agent runs.
    pub gateways: Option<Recipient<ivm_actors::gateway::GetGateways>>,
    /// When the box started (the admin status page's uptime).
    pub started: Instant,
}

/// What the routes ask of the desk phones (the station).
#[derive(Clone)]
pub struct Phones {
    /// `POST /api/ring-me`.
    pub ring_me: Recipient<RingMe>,
    /// The live registrations, for the phone list.
    pub registrations: Recipient<GetRegistrations>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database manager.
    pub db: Db,
    /// The client manager.
    pub clients: ClientHandle,
    /// Desk phones, when SIP is on (behind an `Arc`: the state is cloned per request).
    pub phones: Option<Arc<Phones>>,
    /// The gateways' live state, when the MGCP call agent runs.
    pub gateways: Option<Recipient<ivm_actors::gateway::GetGateways>>,
    /// When the box started.
    pub started: Instant,
    /// Settings.
    pub cfg: Arc<HttpConfig>,
    /// Login throttling, shared by both listeners.
    pub logins: Arc<Mutex<ratelimit::LoginLimiter>>,
    /// Where passwords are checked (argon2), off the database threads.
    pub passwords: password_pool::PasswordPool,
    /// Phone provisioning (`GET /provision/{name}`); `None` answers 404.
    pub provision: Option<Arc<ProvisionFront>>,
    /// The WebSocket writers. Upgraded sockets outlive hyper's graceful shutdown, so the
    /// service's `run` waits for these before it returns (within the engine's one grace):
    /// their last frames (`server_going_down`, the close) must reach the clients before the
    /// process ends.
    pub sockets: tokio_util::task::TaskTracker,
    /// `GET /api/health`'s last database probe.
    pub health: Arc<routes::health::Health>,
    /// What installs an uploaded update bundle (`PUT /api/admin/update`); `None` answers 404.
    pub updater: Option<routes::update::SharedUpdater>,
    /// What restarts the box (`POST /api/admin/restart`); `None` answers 404.
    pub restarter: Option<routes::restart::SharedRestarter>,
    /// The global link's state for the admin status, when `[global]` is on.
    pub global: Option<ivm_link::GlobalView>,
}

/// The HTTP service as the engine runs it.
pub struct HttpService {
    state: AppState,
    conns: Arc<conns::ConnLimiter>,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: Option<tokio::net::TcpListener>,
    https: Option<tokio::net::TcpListener>,
}

impl HttpService {
    /// Builds the service over already-bound listeners (bound by the caller so that a port in
    /// use is reported before the box claims to be up, and so tests can use port 0).
    pub fn new(
        backend: Backend,
        cfg: HttpConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        http: Option<tokio::net::TcpListener>,
        https: Option<tokio::net::TcpListener>,
    ) -> Self {
        let conns = conns::ConnLimiter::new(cfg.max_connections, cfg.max_connections_per_address);
        let state = AppState {
            db: backend.db,
            clients: backend.clients,
            phones: backend.phones.map(Arc::new),
            gateways: backend.gateways,
            started: backend.started,
            cfg: Arc::new(cfg),
            logins: Arc::new(Mutex::new(ratelimit::LoginLimiter::default())),
            passwords: password_pool::PasswordPool::default(),
            provision: None,
            sockets: tokio_util::task::TaskTracker::new(),
            health: Arc::default(),
            updater: None,
            restarter: None,
            global: None,
        };
        HttpService {
            state,
            conns,
            tls,
            http,
            https,
        }
    }

    /// Serves `GET /provision/{name}` through `front` (the same front the TFTP server uses).
    pub fn with_provisioning(mut self, front: Option<Arc<ProvisionFront>>) -> Self {
        self.state.provision = front;
        self
    }

    /// Installs update bundles uploaded by an admin through `updater`.
    pub fn with_updater(mut self, updater: Option<routes::update::SharedUpdater>) -> Self {
        self.state.updater = updater;
        self
    }

    /// Restarts the box on an admin's `POST /api/admin/restart` through `restarter`.
    pub fn with_restarter(mut self, restarter: Option<routes::restart::SharedRestarter>) -> Self {
        self.state.restarter = restarter;
        self
    }

    /// Shows the global link (`global`) in the admin status.
    pub fn with_global(mut self, global: Option<ivm_link::GlobalView>) -> Self {
        self.state.global = global;
        self
    }

    /// The full application: API, WebSocket, and the web client. Bodies are small and
    /// timed everywhere but on the upload (see [`body`]).
    pub fn router(state: AppState) -> Router {
        let upload = state.cfg.max_upload_bytes;
        routes::api(upload)
            .route("/api/ws", axum::routing::get(ws::upgrade))
            .merge(routes::pages())
            .layer(DefaultBodyLimit::max(body::SMALL_BODY))
            .layer(axum::middleware::from_fn(body::deadline))
            .with_state(state)
    }
}

impl Service for HttpService {
    fn name(&self) -> &'static str {
        "http"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let HttpService {
            state,
            conns,
            tls,
            http,
            https,
        } = *self;
        let policy = Arc::new(plain::PlainPolicy {
            names: plain::HostNames::for_box(&state.cfg.names),
            https_port: state.cfg.https_port,
        });
        let sockets = state.sockets.clone();
        let app = Self::router(state);
        Box::pin(async move {
            let mut tasks = Vec::new();
            if let Some(l) = http {
                tracing::info!(names = ?policy.names.names(), "plain HTTP answers to these host names and any IP address");
                let app = app
                    .clone()
                    .layer(axum::middleware::from_fn(move |req, next| {
                        plain::guard(policy.clone(), req, next)
                    }));
                tasks.push(tokio::spawn(serve::serve(
                    l,
                    None,
                    app,
                    conns.clone(),
                    shutdown.clone(),
                )));
            }
            if let (Some(l), Some(tls)) = (https, tls) {
                tasks.push(tokio::spawn(serve::serve(
                    l,
                    Some(tls),
                    app,
                    conns,
                    shutdown.clone(),
                )));
            }
            for t in tasks {
                let _ = t.await;
            }
            // The client actor has queued `server_going_down` and a close on every socket.
            // No timeout of its own: the engine's one grace bounds the whole stop, this wait
            // included (a socket still open at its deadline is logged there as this
            // service not stopping in time).
            sockets.close();
            sockets.wait().await;
        })
    }
}
