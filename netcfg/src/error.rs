//! The crate's one error type.

use std::process::ExitStatus;

/// Everything that can go wrong showing or changing the network settings.
///
/// [`Display`](std::fmt::Display) gives a full sentence for logs; [`NetError::short`] gives text
/// that fits one 20-column LCD line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The requested settings were refused; nothing was changed. The text fits an LCD line.
    #[error("{0}")]
    Invalid(String),
    /// This box does not manage its own network ([`BackendKind::None`](crate::BackendKind)).
    #[error("network is managed by the host")]
    NotManaged,
    /// There are no earlier settings to go back to.
    #[error("no previous settings to undo to")]
    NoPrevious,
    /// A tool this backend needs is not installed.
    #[error("{tool} not found: install it or pick another network backend")]
    MissingTool {
        /// The program that could not be started.
        tool: String,
    },
    /// A command ran and failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for logs.
        cmd: String,
        /// How it ended.
        status: ExitStatus,
        /// Its standard error (trimmed, bounded).
        stderr: String,
    },
    /// A command did not finish in time and was killed.
    #[error("`{cmd}` timed out after {secs} s")]
    Timeout {
        /// The command line, for logs.
        cmd: String,
        /// The limit it ran into.
        secs: u64,
    },
    /// DHCP was asked for but no server answered.
    #[error("no DHCP lease on {interface}: {detail}")]
    NoLease {
        /// The interface.
        interface: String,
        /// What udhcpc said.
        detail: String,
    },
    /// Output of `ip -j` or the state file could not be understood.
    #[error("could not parse {what}: {detail}")]
    Parse {
        /// What was being read.
        what: &'static str,
        /// Why it was refused.
        detail: String,
    },
    /// The interface asked about does not exist.
    #[error("no interface {0}")]
    NoInterface(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    /// Text for one 20-column LCD line.
    pub fn short(&self) -> String {
        let s = match self {
            NetError::Invalid(m) => return truncate(m, 20),
            NetError::NotManaged => "managed by host",
            NetError::NoPrevious => "nothing to undo",
            NetError::MissingTool { tool } => return truncate(&format!("no {tool}"), 20),
            NetError::Command { .. } => "command failed",
            NetError::Timeout { .. } => "timed out",
            NetError::NoLease { .. } => "no DHCP answer",
            NetError::Parse { .. } => "unreadable state",
            NetError::NoInterface(_) => "no such interface",
            NetError::Io { .. } => "file error",
        };
        s.to_string()
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        NetError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
