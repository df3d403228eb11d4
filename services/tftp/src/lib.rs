//! The box's TFTP server: read-only, serving generated per-phone files and the firmware
//! folder through [`ivm_actors::provisioning::ProvisionFront`].
//!
//! # Layout
//! - [`TftpService`]: an engine [`Service`]; a socket bound by the caller (so a port in use is
//!   reported before the box says it is ready) and async-tftp's server, which does the
//!   protocol: RFC 1350 transfers, option negotiation (RFC 2347), blksize (2348, clamped to
//!   [`MAX_BLOCK_SIZE`]), timeout and tsize (2349), windowsize (7440, up to
//!   [`MAX_WINDOW_SIZE`]).
//! - `Front`: async-tftp's `Handler`, which asks the front for the file and refuses every
//!   write with a TFTP error.
//!
//! # Run loop
//! ```text
//! serve() (async-tftp: one task per transfer) raced against the shutdown token
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use futures_util::future::BoxFuture;
use ivm_actors::engine::Service;
use ivm_actors::provisioning::{FetchError, ProvisionFront, Served};
use tokio_util::sync::CancellationToken;

/// Largest block size granted (a phone asking for more gets this).
pub const MAX_BLOCK_SIZE: u16 = 8192;
/// Largest window granted.
pub const MAX_WINDOW_SIZE: u16 = 64;

type Reader = Box<dyn futures_lite::AsyncRead + Unpin + Send>;

struct Front(Arc<ProvisionFront>);

impl Handler for Front {
    type Reader = Reader;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Reader, Option<u64>), packet::Error> {
        let Some(name) = path.to_str() else {
            return Err(packet::Error::FileNotFound);
        };
        match self.0.fetch(name, client.ip(), "tftp", None).await {
            Ok(Served::Generated(r)) => {
                let body = r.body.into_bytes();
                let len = body.len() as u64;
                Ok((Box::new(futures_lite::io::Cursor::new(body)), Some(len)))
            }
            Ok(Served::File(path, size)) => match std::fs::File::open(&path) {
                Ok(f) => Ok((Box::new(blocking::Unblock::new(f)), Some(size))),
                Err(_) => Err(packet::Error::FileNotFound),
            },
            Err(FetchError::NotFound | FetchError::Unassigned) => Err(packet::Error::FileNotFound),
            Err(FetchError::Forbidden | FetchError::Unauthorized) => {
                Err(packet::Error::PermissionDenied)
            }
            Err(FetchError::Internal(m)) => Err(packet::Error::Msg(m)),
        }
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        tracing::info!(peer = %client, name = %path.display(), "TFTP write refused");
        Err(packet::Error::IllegalOperation)
    }
}

/// The TFTP server as the engine runs it.
pub struct TftpService {
    socket: UdpSocket,
    front: Arc<ProvisionFront>,
}

impl TftpService {
    /// Binds `addr` (call before the engine starts, to report a port in use).
    pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(addr)
    }

    /// A service over a bound socket.
    pub fn new(socket: UdpSocket, front: Arc<ProvisionFront>) -> Self {
        Self { socket, front }
    }
}

impl Service for TftpService {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let builder =
                match TftpServerBuilder::with_handler(Front(self.front)).std_socket(self.socket) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, "TFTP socket unusable");
                        return;
                    }
                };
            let server = match builder
                .block_size_limit(MAX_BLOCK_SIZE)
                .window_size_limit(MAX_WINDOW_SIZE)
                .build()
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "TFTP server failed to start");
                    return;
                }
            };
            tokio::select! {
                r = server.serve() => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "TFTP server stopped");
                    }
                }
                _ = shutdown.cancelled() => {}
            }
            tracing::info!("TFTP server stopped");
        })
    }
}
