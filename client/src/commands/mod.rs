//! One file per command. Each takes the parsed arguments and a [`Context`] and returns
//! `anyhow::Result<()>`; [`crate::exit`] turns a failure into the `ivm: ` line and exit code.
//!
//! - [`login`] runs `login`, `logout`, `whoami`, `passwd`
//! - [`contacts`] runs `contacts [add|remove]`, `users`
//! - [`send`] runs `send`
//! - [`list`] runs `inbox`, `sent`
//! - [`get`] runs `get`
//! - [`play`] runs `play`
//! - [`delete`] runs `delete`
//! - [`status`] runs `status`
//! - [`forward`] runs `forward`, `dnd` and `voicemail`
//! - [`talk`] runs `talk` (a live talk from a WAV)
//! - [`watch`] runs `watch` (the driver around [`crate::watch::Watch`])
//! - [`completions`] runs `completions` (no server needed)

pub mod calls;
pub mod completions;
pub mod contacts;
pub mod delete;
pub mod forward;
pub mod get;
pub mod list;
pub mod login;
pub mod play;
pub mod send;
pub mod status;
pub mod talk;
pub mod watch;

use std::path::PathBuf;

use ivm_wire::Guid;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::ids::{self, IdArg};

/// Failures of the commands themselves (not of the server or the session).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A local file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A local file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `contacts remove` named someone not in the list.
    #[error("{0:?} is not one of your contacts")]
    NotAContact(String),
    /// The audio could not be decoded.
    #[error("cannot decode the audio of {id}: {cause}")]
    Decode {
        /// The message.
        id: Guid,
        /// What the decoder said.
        cause: String,
    },
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut global = cli.global;
    match cli.command {
        Command::Completions(args) => return completions::completions(args),
        Command::Login => return login::login(&mut global).await,
        Command::Logout => return login::logout(&global).await,
        _ => {}
    }
    let mut ctx = Context::open_or_ask(&mut global).await?;
    let result = match cli.command {
        Command::Login | Command::Logout | Command::Completions(_) => Ok(()),
        Command::Whoami => login::whoami(&ctx).await,
        Command::Passwd(args) => login::passwd(&ctx, &global, args).await,
        Command::Contacts(args) => contacts::contacts(&ctx, args).await,
        Command::Users(args) => contacts::users(&ctx, args).await,
        Command::Send(args) => send::send(&ctx, args).await,
        Command::Inbox(args) => list::inbox(&ctx, args).await,
        Command::Sent(args) => list::sent(&ctx, args).await,
        Command::Get(args) => get::get(&ctx, args).await,
        Command::Play(args) => play::play(&ctx, args).await,
        Command::Delete(args) => delete::delete(&ctx, args).await,
        Command::Status(args) => status::status(&ctx, args).await,
        Command::Forward(args) => forward::forward(&ctx, args).await,
        Command::Dnd(args) => forward::dnd(&ctx, args).await,
        Command::Voicemail(args) => forward::voicemail(&ctx, args).await,
        Command::Calls(args) => calls::calls(&ctx, args).await,
        Command::Talk(args) => talk::talk(&ctx, args).await,
        Command::Watch(args) => watch::watch(&mut ctx, args).await,
    };
    ctx.finish().await;
    result
}

/// A message id from the command line: a whole GUID as is, a prefix against inbox + sent
/// (every page of both: a prefix must be unique among all of them, not just the newest).
pub async fn resolve_id(ctx: &Context, arg: &str) -> anyhow::Result<Guid> {
    match ids::parse(arg)? {
        IdArg::Full(id) => Ok(id),
        IdArg::Prefix(prefix) => {
            let ((inbox, _), (sent, _)) =
                tokio::try_join!(ctx.api.inbox(None), ctx.api.sent(None))?;
            let all = inbox.iter().chain(&sent).map(|m| m.id);
            Ok(ids::resolve(&prefix, all)?)
        }
    }
}

/// Writes a downloaded file: to stdout for `-`, else through a temp file and a rename so a
/// half-written file never carries the final name.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), CommandError> {
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|source| CommandError::Write {
                path: path.to_owned(),
                source,
            });
    }
    crate::mailbox::write_atomic(path, bytes).map_err(|source| CommandError::Write {
        path: path.to_owned(),
        source,
    })
}
