//! The box's HTTP service (S18 "HTTP server"): the REST API, the client WebSocket, and the
//! OpenAPI document, over plain HTTP and over TLS.
//!
//! # Layout
//! - [`serve`]: accept loops (plain and TLS) on hyper-util, one task per connection, with
//!   graceful shutdown: stop accepting, let in-flight requests finish (bounded).
//! - [`auth`]: the bearer-token extractor used by every `/api` route but login.
//! - [`ratelimit`]: a sans-IO failure counter that throttles password guessing.
//! - [`routes`]: one file per resource (session, contacts, messages, admin), and
//!   [`routes::web`]: the web client (`web/` at the top of the repository, embedded at build
//!   time, served with a strict Content-Security-Policy).
//! - [`ws`]: the WebSocket session task: decodes message objects (S15) and talks to the
//!   client actor, which owns all session state.
//! - [`error`]: the one error type every handler returns, rendered as `ErrorBody` JSON.
//!
//! Plain HTTP serves the API for local tools and phone provisioning (`/provision/...`, through
//! [`ivm_actors::provisioning`]); anything else
//! asked of it by a browser is redirected to HTTPS, where the web client lives.

pub mod auth;
pub mod error;
pub mod ratelimit;
pub mod routes;
pub mod serve;
pub mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use futures_util::future::BoxFuture;
use ivm_actors::engine::{Handles, Service};
use tokio_util::sync::CancellationToken;

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Plain HTTP listener (API for local tools; browsers are redirected).
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
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Actor addresses.
    pub handles: Handles,
    /// Settings.
    pub cfg: Arc<HttpConfig>,
    /// Login throttling, shared by both listeners.
    pub logins: Arc<Mutex<ratelimit::LoginLimiter>>,
    /// Phone provisioning (`GET /provision/{name}`); `None` answers 404.
    pub provision: Option<Arc<ivm_actors::provisioning::ProvisionFront>>,
    /// The WebSocket writers. Upgraded sockets outlive hyper's graceful shutdown, so the
    /// service waits for these itself: their last frames (`server_going_down`, the close)
    /// must reach the clients before the process ends.
    pub sockets: tokio_util::task::TaskTracker,
}

/// The HTTP service as the engine runs it.
pub struct HttpService {
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: Option<tokio::net::TcpListener>,
    https: Option<tokio::net::TcpListener>,
}

impl HttpService {
    /// Builds the service over already-bound listeners (bound by the caller so that a port in
    /// use is reported before the box claims to be up, and so tests can use port 0).
    pub fn new(
        handles: Handles,
        cfg: HttpConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        http: Option<tokio::net::TcpListener>,
        https: Option<tokio::net::TcpListener>,
    ) -> Self {
        let state = AppState {
            handles,
            cfg: Arc::new(cfg),
            logins: Arc::new(Mutex::new(ratelimit::LoginLimiter::default())),
            provision: None,
            sockets: tokio_util::task::TaskTracker::new(),
        };
        HttpService {
            state,
            tls,
            http,
            https,
        }
    }

    /// Serves `GET /provision/{name}` through `front` (the same front the TFTP server uses).
    pub fn with_provisioning(
        mut self,
        front: Option<Arc<ivm_actors::provisioning::ProvisionFront>>,
    ) -> Self {
        self.state.provision = front;
        self
    }

    /// The full application: API, WebSocket, and the web client.
    pub fn router(state: AppState) -> Router {
        let limit = state.cfg.max_upload_bytes;
        routes::api()
            .route("/api/ws", axum::routing::get(ws::upgrade))
            .merge(routes::pages())
            .layer(DefaultBodyLimit::max(limit))
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
            tls,
            http,
            https,
        } = *self;
        let https_port = state.cfg.https_port;
        let sockets = state.sockets.clone();
        let app = Self::router(state);
        Box::pin(async move {
            let mut tasks = Vec::new();
            if let Some(l) = http {
                let app = app
                    .clone()
                    .layer(axum::middleware::from_fn(move |req, next| {
                        serve::redirect_browsers(req, next, https_port)
                    }));
                tasks.push(tokio::spawn(serve::serve(l, None, app, shutdown.clone())));
            }
            if let (Some(l), Some(tls)) = (https, tls) {
                tasks.push(tokio::spawn(serve::serve(
                    l,
                    Some(tls),
                    app,
                    shutdown.clone(),
                )));
            }
            for t in tasks {
                let _ = t.await;
            }
            // The client actor has queued `server_going_down` and a close on every socket.
            sockets.close();
            if tokio::time::timeout(serve::GRACE, sockets.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    open = sockets.len(),
                    "WebSockets still open after the grace period"
                );
            }
        })
    }
}
