//! The global tier's shared vocabulary (issue 15; design in `docs/global.md` and
//! `docs/decisions/0008-global-tier.md`).
//!
//! Boxes and the global services (`ivm-transport`, `ivm-directory`) meet on a NATS JetStream
//! cluster. Everything they must agree on lives here, so the two sides cannot drift apart.
//!
//! # Layout
//! - [`address`]: global names (`user@box`) and the GUIDs derived from them.
//! - [`subject`]: subject, stream, bucket and consumer names, and reading a box back out of a
//!   subject (the subject, not the payload, is what the server's permissions vouch for).
//! - [`envelope`]: what travels in a stream: a message or a receipt, JSON, bounded and
//!   validated on decode.
//! - [`directory`]: the directory's request and reply bodies and the `ivm_users` records.
//! - [`perms`]: per-box publish/subscribe permissions and the `nats-server` authorization
//!   block that admits boxes and services by NKey.
//! - [`config`]: how a box or a service reaches the cluster (URLs, CA, NKey seed file).
//! - [`outbox`]: when a box publishes which entry of its durable outbox (sans-IO; the link
//!   actor in `ivmd` drives it).
//! - [`nats`]: connecting with that config and creating the streams and buckets (the only
//!   I/O in the crate).

pub mod address;
pub mod config;
pub mod directory;
pub mod envelope;
pub mod nats;
pub mod outbox;
pub mod perms;
pub mod subject;
