//! Running the external tools (`ip`, `networkctl`, `udhcpc`) with a time limit.

use std::time::Duration;

use tokio::process::Command;

use crate::NetError;

/// "Text file busy" (Linux errno 26).
const ETXTBSY: i32 = 26;

/// Most bytes of a failing command's stderr kept in the error.
const MAX_STDERR: usize = 512;

/// What a command printed, when it succeeded.
#[derive(Debug)]
pub(crate) struct Ran {
    /// Standard output.
    pub stdout: String,
}

/// Runs `prog args…`, killing it after `limit`. A missing program is [`NetError::MissingTool`];
/// a non-zero exit is [`NetError::Command`] with its stderr.
pub(crate) async fn run(prog: &str, args: &[String], limit: Duration) -> Result<Ran, NetError> {
    let line = std::iter::once(prog)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!(cmd = %line, "running");
    let spawn = || {
        Command::new(prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
    };
    let mut child = spawn();
    // ETXTBSY: a script just written is still open in a child forked by another thread
    // between its fork and exec; that lasts microseconds.
    for _ in 0..5 {
        match &child {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                child = spawn();
            }
            _ => break,
        }
    }
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NetError::MissingTool {
                tool: prog.to_string(),
            })
        }
        Err(e) => {
            return Err(NetError::Io {
                path: prog.to_string(),
                source: e,
            })
        }
    };
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(r) => r.map_err(|e| NetError::Io {
            path: prog.to_string(),
            source: e,
        })?,
        // Dropping the future drops the child, and kill_on_drop kills it.
        Err(_) => {
            return Err(NetError::Timeout {
                cmd: line,
                secs: limit.as_secs(),
            })
        }
    };
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        if stderr.len() > MAX_STDERR {
            let mut cut = MAX_STDERR;
            while !stderr.is_char_boundary(cut) {
                cut -= 1;
            }
            stderr.truncate(cut);
        }
        tracing::warn!(cmd = %line, status = %out.status, %stderr, "command failed");
        return Err(NetError::Command {
            cmd: line,
            status: out.status,
            stderr,
        });
    }
    Ok(Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

/// Builds an argument vector from string slices.
pub(crate) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}
