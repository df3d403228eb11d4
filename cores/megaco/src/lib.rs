//! The box's MEGACO / H.248.1 controller core, sans-IO: bytes and `now` in; datagrams,
//! events and the next timeout out. No sockets, no clock: everything here is deterministic
//! and tested with byte vectors and a virtual clock; the gateway actor (a later change) wraps
//! it in a UDP task, and Erlang/OTP's megaco application is the real peer of its tests
//! (`tests/erlang.rs`, `tests/peers/megaco/`). What is implemented, clause by clause:
//! `docs/megaco.md`.
//!
//! # Layout
//! - [`model`]: what a message means ([`Message`], transactions, actions, commands,
//!   descriptors), independent of its spelling.
//! - [`decode()`] (`decode/`: the message, transactions and commands in `mod.rs`, the
//!   descriptors in `descriptor.rs`; on the lexer `cursor.rs`): the text encoding of H.248.1
//!   Annex B, pretty or compact, versions 1-3, keywords in any case, comments; bounded in
//!   size, depth and list length; one [`DecodeError`] says what was expected where.
//! - [`encode()`] (`encode.rs`): the model back to text in either [`Form`]; decoding what it
//!   writes gives the same model (tests, and the `megaco_message` fuzz target).
//! - `token.rs`: the keyword table, long and short forms.
//! - [`digitmap`]: digit maps (7.1.14): parse, write, and match a dialled string (complete,
//!   partial with the timer to run, or none).
//! - [`transaction`]: the controller ([`Controller`]): requests out with retransmission and
//!   a give-up event, requests in answered once with a reply cache per (peer, transaction),
//!   TransactionPending while the box is still working, response acks.
//!
//! # The run loop (in the gateway task)
//! ```no_run
//! # use std::time::Instant;
//! # use ivm_megaco::{Config, Controller, Event, MId};
//! # fn recv() -> Option<(std::net::SocketAddr, Vec<u8>)> { None }
//! # fn send(_: std::net::SocketAddr, _: &[u8]) {}
//! let mid = MId::Ip { addr: "10.0.0.1".parse().unwrap(), port: Some(2944) };
//! let mut mgc = Controller::new(Config::default(), mid);
//! loop {
//!     let now = Instant::now(); // the driver reads the clock, never the core
//!     if let Some((from, bytes)) = recv() {
//!         mgc.handle_datagram(now, from, &bytes);
//!     }
//!     if mgc.poll_timeout().is_some_and(|t| t <= now) {
//!         mgc.handle_timeout(now);
//!     }
//!     while let Some(event) = mgc.poll_event() {
//!         // Event::Request: act, then mgc.send_reply(now, peer, id, result)
//!         // Event::Reply / Event::TimedOut: the answer to mgc.send_request(...)
//!         # let _ = event;
//!     }
//!     while let Some(t) = mgc.poll_transmit() {
//!         send(t.peer, &t.payload);
//!     }
//!     // then wait for a datagram or until mgc.poll_timeout()
//!     # break;
//! }
//! ```

#![deny(missing_docs)]

mod cursor;
mod decode;
pub mod digitmap;
mod encode;
pub mod model;
mod token;
pub mod transaction;

pub use decode::{decode, DecodeError, MAX_ITEMS, MAX_MESSAGE};
pub use encode::encode;
pub use model::*;
pub use token::Form;
pub use transaction::{Config, Controller, Event, Transmit};

/// Deepest brace nesting a message may have.
pub const MAX_DEPTH: usize = cursor::MAX_DEPTH;

/// Every error of the crate, for callers that want one type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not a MEGACO message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A bad digit map.
    #[error(transparent)]
    DigitMap(#[from] digitmap::DigitMapError),
    /// A transaction refused.
    #[error(transparent)]
    Transaction(#[from] transaction::TransactionError),
}
