//! The box's SIP protocol core, sans-IO: bytes and `now` in; transmits, events and the next
//! timeout out. No sockets, no clock, no tokio: everything here is deterministic and is tested
//! with byte vectors and a virtual clock (see `tests/`). The SIP server task (UDP/TCP I/O) and
//! the station actor (registrar, calls, MWI) sit on top of it.
//!
//! Why our own stack rather than rsipstack or ezk-sip: `docs/decisions/0001-sip-stack.md`.
//!
//! # Layout
//! - [`message`]: the SIP message model (RFC 3261 §7, §25). Bounded parser for datagrams,
//!   [`message::Framer`] for streams, serializer, typed header accessors (Via, From/To,
//!   CSeq, Contact, auth headers, ...), URIs, and [`message::Request::validate`] which maps
//!   broken requests to the status to answer (400, 416, 505). Tested against the RFC 4475
//!   torture messages in `tests/torture/` and a seeded mutation loop in `tests/fuzz.rs`.
//! - [`transaction`]: RFC 3261 §17 client and server transactions (INVITE and non-INVITE,
//!   UDP retransmissions, zero timers on reliable transports, RFC 6026 Accepted state) held in
//!   one [`transaction::TransactionLayer`], which also keeps sources that have not
//!   authenticated to stateless answers and a small budget of their own.
//! - [`auth`]: digest authentication for the registrar (MD5 and SHA-256, RFC 7616/8760), the
//!   challenge offer by User-Agent ([`auth::offer`]), stateless HMAC nonces bound to the
//!   client's address and the offered algorithms, bounded `nc` replay protection, and a
//!   failure [`auth::Limiter`] per (address, user) and per address.
//! - [`dialog_info`]: the busy lamp field's NOTIFY bodies: RFC 4235 `dialog-info` and
//!   RFC 3863 PIDF documents, escaped and in the schema's element order.
//! - [`sdp`]: the `ivm-sdp` crate, re-exported. SDP moved out of this crate (MGCP and MEGACO
//!   carry it too, `docs/decisions/0005-line-core.md`); the path stays for code written
//!   against `ivm_sip::sdp` on other branches. New code imports `ivm_sdp`.
//!
//! # The run loop (in the server task)
//! ```no_run
//! # use std::time::Instant;
//! # use ivm_sip::transaction::{Config, Event, Peer, TransactionLayer};
//! # fn recv() -> Option<(Peer, Vec<u8>)> { None }
//! # fn send(_: Peer, _: &[u8]) {}
//! # fn tu(_: &mut TransactionLayer, _: Event) {}
//! let mut layer = TransactionLayer::new(Config::default());
//! loop {
//!     let now = Instant::now(); // the driver reads the clock, never the core
//!     if let Some((peer, bytes)) = recv() {            // UDP datagram, or a TCP frame
//!         layer.handle_datagram(now, peer, &bytes);     // via message::Framer
//!     }
//!     if layer.poll_timeout().is_some_and(|t| t <= now) {
//!         layer.handle_timeout(now);
//!     }
//!     while let Some(event) = layer.poll_event() {
//!         tu(&mut layer, event); // registrar / calls: send_response, send_request
//!     }
//!     while let Some(t) = layer.poll_transmit() {
//!         send(t.peer, &t.payload);
//!     }
//!     // then wait for a datagram or until layer.poll_timeout()
//!     # break;
//! }
//! ```

#![deny(missing_docs)]

pub mod auth;
pub mod dialog_info;
pub mod message;
pub mod transaction;

/// SDP, now the `ivm-sdp` crate (see the crate docs).
pub use ivm_sdp as sdp;

/// Every error of the crate, for callers that want one type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not a SIP message.
    #[error(transparent)]
    Parse(#[from] message::ParseError),
    /// A stream that cannot be framed.
    #[error(transparent)]
    Framer(#[from] message::FramerError),
    /// A header that cannot be read.
    #[error(transparent)]
    Header(#[from] message::HeaderError),
    /// A message that breaks a protocol rule.
    #[error(transparent)]
    Invalid(#[from] message::Invalid),
    /// A bad URI.
    #[error(transparent)]
    Uri(#[from] message::UriError),
    /// Authentication refused.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// A refused transaction call.
    #[error(transparent)]
    Transaction(#[from] transaction::TransactionError),
    /// Bad SDP or no common codec.
    #[error(transparent)]
    Sdp(#[from] sdp::SdpError),
}
