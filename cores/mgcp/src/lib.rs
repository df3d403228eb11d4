//! MGCP 1.0 (RFC 3435) with the line package (RFC 3660), sans-IO: the box's call agent
//! speaks it to analog-line gateways (Cisco VG/ATA, Grandstream HT, AudioCodes MP, Patton)
//! on UDP 2727, the gateways listening on 2427. Bytes and `now` in; datagrams, events and the
//! next timeout out. No sockets, no clock, no tokio: everything here is deterministic and is
//! tested with byte vectors and a virtual clock (`tests/`).
//!
//! What is implemented, with RFC references, and what the gateway actor will do with it:
//! `docs/mgcp.md`.
//!
//! # Layout
//! - [`message`]: the codec. Commands (EPCF, CRCX, MDCX, DLCX, RQNT, NTFY, AUEP, AUCX, RSIP,
//!   and any other verb so it can be refused with 504), responses (including `000`), their
//!   parameter lines ([`message::Params`], typed [`message::ResponseAck`]), SDP bodies (parsed
//!   on demand by `ivm-sdp`), piggy-backed messages. Bounded; one error enum.
//! - [`endpoint`]: endpoint names `aaln/1@gw.example`, wildcards `*` and `$`.
//! - [`event`]: event and signal names with packages (`L/hd`, `D/[0-9#*T]`, `L/ci(...)`,
//!   `L/vmwi(+)`), requested events with their actions, the lists of `R:`, `S:`, `O:`.
//! - [`digitmap`]: digit maps and matching dialled digits against them, with the `T` timer.
//! - [`transaction`]: the [`transaction::Agent`]: transaction ids, retransmission with
//!   back-off and give-up, the response cache (at-most-once), provisional responses and the
//!   three-way handshake with `K:` and `000`.
//!
//! # The run loop (in the gateway actor's socket task)
//! ```no_run
//! # use std::net::SocketAddr;
//! # use std::time::Instant;
//! # use ivm_mgcp::transaction::{Agent, Config, Event};
//! # use ivm_mgcp::message::Response;
//! # fn recv() -> Option<(SocketAddr, Vec<u8>)> { None }
//! # fn send(_: SocketAddr, _: &[u8]) {}
//! let mut agent = Agent::new(Config::default(), 4711 /* random in the driver */);
//! loop {
//!     let now = Instant::now(); // the driver reads the clock, never the core
//!     if let Some((from, bytes)) = recv() {
//!         agent.handle_datagram(now, from, &bytes);
//!     }
//!     if agent.poll_timeout().is_some_and(|t| t <= now) {
//!         agent.handle_timeout(now);
//!     }
//!     while let Some(event) = agent.poll_event() {
//!         match event {
//!             // NTFY (hook, digits), RSIP: act on it, then answer once.
//!             Event::Command { from, command } => {
//!                 let _ = agent.respond(now, from, Response::new(200, command.id, "OK"));
//!             }
//!             // Responses to our CRCX/RQNT/AUEP...; TimedOut: mark the gateway down.
//!             _ => {}
//!         }
//!     }
//!     while let Some(t) = agent.poll_transmit() {
//!         send(t.to, &t.payload);
//!     }
//!     // then wait for a datagram or until agent.poll_timeout()
//!     # break;
//! }
//! ```

#![deny(missing_docs)]

pub mod digitmap;
pub mod endpoint;
pub mod event;
pub mod message;
pub mod transaction;

/// Every error of the crate, for callers that want one type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not MGCP.
    #[error(transparent)]
    Decode(#[from] message::DecodeError),
    /// A bad parameter line or value.
    #[error(transparent)]
    Param(#[from] message::ParamError),
    /// A bad endpoint name.
    #[error(transparent)]
    Endpoint(#[from] endpoint::EndpointError),
    /// A bad event, signal or action list.
    #[error(transparent)]
    Event(#[from] event::EventError),
    /// A bad digit map.
    #[error(transparent)]
    DigitMap(#[from] digitmap::DigitMapError),
    /// A refused transaction-layer call.
    #[error(transparent)]
    Agent(#[from] transaction::AgentError),
}
