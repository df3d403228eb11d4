//! The box's link to the global tier (issue 15; design in `docs/global.md` and decision 0008):
//! one service inside `ivmd`, started and stopped by the engine like the others, off unless
//! `[global]` is enabled.
//!
//! It holds one TLS client connection to the cluster as the box's own NKey user, and:
//! - publishes the users an admin opted in (`ivmd user global NAME on`) to the directory at
//!   every link-up and every [`service::REFRESH`], and withdraws the ones opted out;
//! - sends the box's durable outbox (`ivm_store` `global_outbox`: messages to users of other
//!   boxes, receipts for messages from them) in order, one at a time, each with its
//!   `Nats-Msg-Id`, removing an entry only after the JetStream ack
//!   ([`ivm_global::outbox`] decides what to publish when);
//! - takes delivery from the box's durable consumer: each message is posted into the local
//!   inbox through the client manager's one post path ([`ivm_actors::client::PostGlobal`]),
//!   each receipt applied through the same path as a local one; acked to JetStream only after
//!   the local commit (a redelivery is recognised by the message id).
//!
//! # Layout
//! - [`ops`]: the database operations the link needs (outbox head and removal, building an
//!   envelope from a stored message, the published users).
//! - [`service`]: the [`Link`] service and its loop.
//! - [`status`]: its state for `ivmd status` ([`LinkStatus`]).

pub mod ops;
pub mod service;
pub mod status;

pub use service::Link;
pub use status::{GlobalView, LinkStatus};
