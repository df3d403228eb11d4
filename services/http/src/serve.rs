//! Accept loops: one tokio task per connection, TLS handshake inside that task (a slow client
//! never stalls the accept loop), graceful shutdown through hyper-util's watcher.
//!
//! Every connection first takes a slot from the shared [`ConnLimiter`] (over the cap it is
//! closed at once, before TLS or hyper spend anything on it), then runs under these bounds:
//!
//! | what | bound |
//! |---|---|
//! | TLS handshake | [`HANDSHAKE_TIMEOUT`] |
//! | first request head, from accept | [`FIRST_REQUEST_TIMEOUT`] (the watchdog in [`crate::idle`]) |
//! | an HTTP/1 request head, also between keep-alive requests | [`HEADER_READ_TIMEOUT`] (hyper's timer) |
//! | silence with no request being answered (HTTP/2, stalled responses) | [`IDLE_TIMEOUT`] |
//! | request bodies | [`crate::body`]: size and a deadline on the whole body |
//! | HTTP/1 read buffer | [`MAX_BUF`] |
//! | HTTP/2 | [`H2_MAX_STREAMS`] concurrent streams, 16 KiB of headers, reset-flood limits |
//!
//! An upgraded WebSocket leaves these (it has its own pings and frame limits) but keeps its
//! slot until it closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::Instrument;

use crate::conns::ConnLimiter;
use crate::idle::{Activity, TrackedIo, Watch};

/// How long in-flight requests may run on after shutdown is asked.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// From accept to the first complete request head (TLS handshake included).
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an HTTP/1 request head may take once the connection waits for one; this is also
/// how long an idle keep-alive connection stays open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence (no byte either way) allowed while no request is being answered.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// HTTP/1 read buffer: request heads larger than this are refused (431).
pub const MAX_BUF: usize = 64 * 1024;
/// HTTP/2 streams one connection may have open at once.
pub const H2_MAX_STREAMS: u32 = 32;

/// The hyper connection settings every listener uses.
fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .max_headers(64);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(16 * 1024)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(64)
        .max_send_buf_size(256 * 1024)
        // No keep-alive pings: they would count as traffic and keep an idle connection
        // open for ever; the idle watchdog closes it instead.
        .keep_alive_interval(None);
    b
}

/// Serves `app` on `listener` (over TLS when `tls` is set) until `shutdown`, then waits up to
/// [`GRACE`] for open requests. `conns` is shared by every listener of the service.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    conns: Arc<ConnLimiter>,
    shutdown: CancellationToken,
) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, scheme, "listening");
    }
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(builder());
    let watch = Watch {
        first_request: FIRST_REQUEST_TIMEOUT,
        idle: IDLE_TIMEOUT,
    };
    let mut last_refusal_log: Option<tokio::time::Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let slot = match conns.try_acquire(peer.ip()) {
            Ok(s) => s,
            Err(why) => {
                // Closed at once: the cheapest answer to a flood. Logged at most every 10 s.
                drop(tcp);
                let now = tokio::time::Instant::now();
                if last_refusal_log.is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
                {
                    last_refusal_log = Some(now);
                    tracing::warn!(%peer, scheme, reason = %why, refused = conns.refused(), "connection refused");
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let activity = Activity::new();
        let io = TrackedIo::new(tcp, activity.clone(), slot);
        tokio::spawn(async move {
            let requests = activity.clone();
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                let answering = requests.begin_request();
                req.extensions_mut().insert(ConnectInfo(peer));
                let span = tracing::debug_span!("request", %peer, method = %req.method(), path = %req.uri().path());
                let app = app.clone();
                async move {
                    let r = app.oneshot(req).await;
                    drop(answering);
                    r
                }
                .instrument(span)
            });
            let idle = watch.expired(activity);
            match acceptor {
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        _ = idle => tracing::debug!(%peer, "idle connection closed"),
                    }
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        _ = idle => tracing::debug!(%peer, "idle connection closed"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            scheme,
            "some requests were still open after the grace period"
        );
    }
    tracing::info!(scheme, "listener stopped");
}

/// The peer address of a request, as inserted by [`serve`].
pub fn peer_of(req_ext: &axum::http::Extensions) -> Option<SocketAddr> {
    req_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
