//! A sans-IO DHCPv4 server core for the office LAN, over `dhcproto`, shaped after BlueCat's
//! dora: a handler chain per datagram, leases behind a trait.
//!
//! No sockets, no clock, no threads: [`Server::handle`] takes the time and one datagram with
//! what the socket knew (source, interface, broadcast or not) and returns the [`Reply`]s to
//! send, each with its [`Destination`] already decided (RFC 2131 4.1). What happened comes
//! out of [`Server::poll_event`] (pool exhausted, bound, declined, phone seen).
//!
//! The one blocking call is [`LeaseStore::commit`]: it must return only once the lease is
//! durable, and the server calls it before it encodes an ACK. The I/O layer therefore runs
//! `handle` off the async runtime (a dedicated thread or `spawn_blocking`).
//! [`Server::handle_batch`] is the group-commit form: many datagrams, one
//! [`LeaseStore::sync`], and no reply returned before that sync succeeded.
//!
//! # Layout
//! - [`wire`]: bounded [`wire::check`] of the raw bytes (sizes, option lengths, magic cookie,
//!   message type), then decode/encode through `dhcproto`.
//! - [`config`]: [`Pool`]s per interface or relayed subnet, [`Reservation`]s by MAC,
//!   [`VendorOptions`] per phone vendor.
//! - [`handler`]: [`Handler`], [`Action`], [`Context`]: the chain's contract.
//! - [`handlers`]: the default chain: classify, leases (the RFC 2131 state machine),
//!   options, vendor options.
//! - [`lease`]: [`Lease`], [`LeaseStore`], [`StoreError`].
//! - [`store`]: [`MemoryStore`] for tests, [`FileStore`] (fsynced JSON lines) for the box.
//! - [`reply`]: [`Reply`] and [`Destination`].
//! - [`server`]: [`Server`], [`Request`], [`Event`], the crate [`Error`].
//! - [`rogue`]: [`RogueProbe`], the "is another DHCP server on this LAN?" check.
//!
//! # Run loop (the I/O layer's)
//! ```text
//! probe = RogueProbe::new(if_mac); broadcast probe.discover(); any probe.offer_from(..) -> refuse to start
//! loop: (bytes, src, ifindex, dst) = recvmsg(IP_PKTINFO)
//!       replies = server.handle(SystemTime::now(), Request { bytes, src, interface, to_broadcast })
//!       for r in replies: sendmsg(r.bytes, r.destination.socket_addr(), out of r.interface, from r.source)
//!       while let Some(ev) = server.poll_event(): log / update phone registry
//! ```

pub mod config;
pub mod handler;
pub mod handlers;
pub mod lease;
pub mod reply;
pub mod rogue;
pub mod server;
pub mod store;
pub mod wire;

pub use config::{Config, ConfigError, Pool, Reservation, VendorOptions};
pub use handler::{Action, Context, Handler, HandlerError};
pub use lease::{Lease, LeaseState, LeaseStore, StoreError};
pub use reply::{Destination, Reply, CLIENT_PORT, SERVER_PORT};
pub use rogue::RogueProbe;
pub use server::{Error, Event, Request, Server, State};
pub use store::{FileStore, MemoryStore};
pub use wire::WireError;

pub use dhcproto;
