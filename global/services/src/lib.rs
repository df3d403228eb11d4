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

/// Logs to standard error (`RUST_LOG`, `info` by default), coloured only at a terminal.
/// Standard error, not out: a service's log is where its supervisor (systemd, the test
/// cluster) keeps it, and the dev cluster discards standard output.
pub fn init_logging() {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// The longest pause between two tries of [`until_ready`].
pub const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `prepare` until it succeeds, pausing longer after each failure (up to
/// [`MAX_RETRY_DELAY`]), and returns what it made.
///
/// A service waits for its cluster rather than exiting: right after the cluster starts, or
/// while most of its nodes are down, JetStream has no leaders, and on a loaded machine electing
/// them takes tens of seconds. A service that gave up would leave its queue group without
/// members, and boxes would get "no responders" until someone started it again.
pub async fn until_ready<T, E, F, Fut>(what: &str, mut prepare: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut delay = std::time::Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match prepare().await {
            Ok(made) => return made,
            Err(e) => {
                tracing::warn!(error = %e, attempt, ?delay, "{what} not ready; trying again")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
        attempt = attempt.saturating_add(1);
    }
}

/// Milliseconds since the Unix epoch (for records and logs).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
