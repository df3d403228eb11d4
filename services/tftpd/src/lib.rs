//! The box's TFTP server: read-only, serving generated per-phone files and the firmware
//! folder through the provisioning front's port ([`ivm_provision::PhoneFiles`]; the box's
//! front is `ivm_actors::provisioning::ProvisionFront`). It depends on no actor.
//!
//! # Layout
//! - The protocol is the sans-IO core in `cores/tftp` (crate `ivm-tftp`): packets and one
//!   read transfer as a state machine, bytes and `now` in, datagrams and a deadline out.
//! - `server` (private): the thin tokio layer. The listening socket parses requests, refuses
//!   writes and malformed requests with a TFTP ERROR and spawns one task per read request, up
//!   to [`MAX_TRANSFERS`] at once ("server busy" beyond). Each transfer asks the front for the
//!   file, answers from a socket of its own (a new TID, RFC 1350) on the request's local
//!   address, and drives its [`ivm_tftp::transfer::Transfer`]; a firmware file is read in
//!   [`READ_CHUNK`] pieces on the blocking pool, one ahead.
//! - [`TftpService`]: the engine [`Service`] over a socket bound by the caller (so a port in
//!   use is reported before the box says it is ready).
//!
//! # Run loop
//! ```text
//! listener task:  recv_from -> parse -> ERROR (WRQ, malformed, busy) | spawn transfer task
//! transfer task:  loop { feed file bytes; send core.poll_transmit(); stop when done/failed;
//!                        select { shutdown, recv -> core.handle, next file chunk,
//!                                 timer -> core.handle_timeout } }
//! ```
//! Transfers are ordinary tokio tasks, so the runtime's workers share them (the box has two
//! cores); `docs/decisions/0003-tftp.md` says why this replaced async-tftp.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use ivm_provision::PhoneFiles;
use ivm_service::Service;
use tokio_util::sync::CancellationToken;

mod server;

/// How much of a firmware file one blocking read fetches.
pub const READ_CHUNK: usize = 128 * 1024;
/// Transfers served at once; a request beyond gets ERROR 0 "server busy".
pub const MAX_TRANSFERS: usize = 256;

/// The TFTP server as the engine runs it.
pub struct TftpService {
    socket: UdpSocket,
    front: Arc<dyn PhoneFiles>,
}

impl TftpService {
    /// Binds `addr` (call before the engine starts, to report a port in use).
    pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(addr)
    }

    /// A service over a bound socket.
    pub fn new(socket: UdpSocket, front: Arc<dyn PhoneFiles>) -> Self {
        Self { socket, front }
    }
}

impl Service for TftpService {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let Self { socket, front } = *self;
        Box::pin(async move {
            server::serve(socket, front, shutdown).await;
            tracing::info!("TFTP server stopped");
        })
    }
}
