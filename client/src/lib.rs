//! `ivm`: the command-line IVM client (the seed's softphone client: record and send,
//! attachments, review, a local message database, a notice on receipt).
//!
//! It talks to the box (`ivmd`) over its REST API for everything a person asks for once
//! (contacts, send, inbox, play, ...) and over the WebSocket `/api/ws` for `ivm watch`, which
//! stays connected, stores each new message in a local message database and answers the
//! server's pings.
//!
//! # Layout
//! - [`cli`]: the command line (clap): global options, commands and their flags. Its tests in
//!   `cli/shadowing.rs` walk every command so that no argument can stand in for a global one.
//! - [`context`]: turns the global options and the saved login into a server address, a TLS
//!   setup and a bearer token, logging in on the fly when a password is given.
//! - [`session`]: the saved login, `$IVM_HOME/session.json` (mode 0600).
//! - [`tls`]: trust for the box's self-signed certificate (`--cacert`).
//! - [`api`]: the REST client; maps the server's `ErrorBody` into [`api::ApiError`].
//! - [`diagnose`]: plain words for a wrong scheme (`http://` to the HTTPS port and the other
//!   way round) and for a certificate the client refused (`--cacert`).
//! - [`ids`]: message ids given as a unique prefix, resolved like git does.
//! - [`recipients`]: `--to bob,carol --to 201` into a recipient list.
//! - [`recording`]: the audio `ivm send` uploads: a WAV encoded to Ogg Opus here with the
//!   box's own pipeline (so a long WAV fits the upload limit), an Ogg Opus file checked.
//! - [`logging`]: the `IVM_LOG` filter, checked so that a mistyped level warns instead of
//!   hiding every line (shared with `ivmd`).
//! - [`mailbox`]: the local message database: `<dir>/<id>/{meta.json,audio.opus,attachments/}`,
//!   every file written to a temp name, fsynced and renamed.
//! - [`watch`]: the sans-IO core of `ivm watch`: server events in, [`watch::Action`]s out
//!   (send a frame, save a message, ring the bell, reconnect after a back-off). No sockets,
//!   no clock.
//! - [`ws`]: the WebSocket connection itself (URL, TLS, frames).
//! - [`prompt`]: a password asked for on the terminal without echo, only when stdin is one;
//!   its line editing is a sans-IO core ([`prompt::LineEditor`]).
//! - [`output`]: tables, times and durations for people; JSON lines for programs.
//! - [`commands`]: one file per command; each runs against a [`context::Context`].
//! - [`exit`]: how a failure becomes one `ivm: ...` line on stderr and an exit code.
//!
//! # Run loop
//! [`main`] parses the command line, builds a tokio runtime, runs one command and maps its
//! error to an exit code ([`exit::ExitStatus`]). `ivm watch` loops: connect → `connect` →
//! `check_in` + `subscribe` → for each frame, [`watch::Watch::on_event`] → carry out the
//! actions → on `server_going_down` or a dropped socket, wait the back-off and connect again.

pub mod api;
pub mod cli;
pub mod commands;
pub mod context;
pub mod diagnose;
pub mod exit;
pub mod ids;
pub mod live;
pub mod logging;
pub mod mailbox;
pub mod output;
pub mod prompt;
pub mod recipients;
pub mod recording;
pub mod session;
pub mod tls;
pub mod watch;
pub mod ws;

use std::process::ExitCode;

use clap::Parser;

/// The client name sent in the WebSocket `connect` (`ivm/<version>`).
pub const CLIENT_NAME: &str = concat!("ivm/", env!("CARGO_PKG_VERSION"));

/// Entry point of the `ivm` binary: parse, run one command, report.
pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit::usage(e),
    };
    init_logging();
    // One crypto provider for every TLS client in the process (reqwest and tungstenite both
    // build rustls configs); failing means one is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ivm: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Don't wait for stray tasks (a download cut off by ctrl-C) to finish.
    runtime.shutdown_background();
    exit::report(result)
}

/// Logs go to stderr and are off unless `IVM_LOG` asks for them (e.g. `IVM_LOG=debug`), so that
/// people see only the one-line `ivm: ...` messages. A value that is not a filter is warned
/// about once, not taken silently ([`logging`]).
fn init_logging() {
    logging::init("ivm", "IVM_LOG", "off");
}

/// A bug must still end in one line, never a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        eprintln!("ivm: internal error: {what}");
    }));
}
