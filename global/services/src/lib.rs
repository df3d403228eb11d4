//! The global tier's services (issue 15): `ivm-transport` and `ivm-directory`.
//!
//! Each binary is a thin `main` around one module here, so several instances can run side by
//! side: the transport instances share one durable JetStream consumer (JetStream hands each
//! message to one of them), the directory instances one queue group.
//!
//! # Layout
//! - [`transport`]: routes envelopes from `IVM_OUT` to the recipient box's `ivm.in.<box>`,
//!   after checking the sender belongs to the box that sent it.
//! - [`directory`]: answers boxes' publish/unpublish requests, owns the `ivm_users` and
//!   `ivm_boxes` buckets, creates each box's consumer.
//! - [`args`]: the command line both binaries share.
//! - [`devfiles`]: a loopback cluster's CA, keys and node configs (`scripts/global-dev`, tests).
//! - [`devcluster`]: that cluster running, with the services (this package's tests and the
//!   box's end-to-end tests).

pub mod args;
pub mod devcluster;
pub mod devfiles;
pub mod directory;
pub mod transport;

/// Milliseconds since the Unix epoch (for records and logs).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
