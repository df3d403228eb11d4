//! The media plumbing every phone adapter shares: a leg's RTP socket ([`MediaPort`]), the
//! factory that opens one ([`MediaSockets`]), and the datagrams it delivers ([`RtpIn`]).
//!
//! Why here and not in the station: the SIP adapter (the station actor) is one user; the
//! gateway adapters for analog phones (MGCP, MEGACO) open RTP sockets toward a gateway the same
//! way and run the same `ivm_rtp::Session` per endpoint. Why not in `ivm-rtp`: [`MediaPort`]
//! holds a tokio sender and [`MediaSockets`] hands out an actix [`Recipient`], and the RTP
//! core stays free of both (`docs/decisions/0005-line-core.md`).

use std::net::{IpAddr, SocketAddr};

use actix::prelude::*;
use tokio::sync::mpsc;

use crate::budget::Permit;

/// Identifies a call leg; also names its RTP socket. An adapter's leg id is the id of its
/// line in the line core (`ivm_line::LineId`, the same integer).
pub type LegId = u64;

/// A leg's media port: the RTP socket task's send queue. Dropping it closes the socket.
pub struct MediaPort {
    /// The local address phones send RTP to.
    pub local: SocketAddr,
    /// Datagrams to send: (destination, bytes).
    pub tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

/// Opens per-call RTP sockets (implemented by the phones service, which owns sockets).
pub trait MediaSockets: Send + Sync + 'static {
    /// Binds a socket for `leg`, reachable from `toward`; its datagrams go to `to` as [`RtpIn`].
    fn open(&self, leg: LegId, toward: IpAddr, to: Recipient<RtpIn>) -> std::io::Result<MediaPort>;
}

/// An RTP/RTCP datagram on a leg's media port.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RtpIn {
    /// The leg.
    pub leg: LegId,
    /// Source.
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Its room in the RTP budget, given back once handled (`None`: not budgeted).
    pub permit: Option<Permit>,
}
