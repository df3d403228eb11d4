//! The command line: `ivm [--server URL] [--user U] [--password P] [--cacert PEM] <command>`.
//!
//! Global options may also come from the environment (`IVM_SERVER`, `IVM_USER`,
//! `IVM_PASSWORD`, `IVM_CACERT`) and may be written before or after the command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ivm_wire::Status;

/// Command-line client for the IVM box: contacts, voice messages, presence.
#[derive(Debug, Parser)]
#[command(name = "ivm", version, propagate_version = true)]
pub struct Cli {
    /// Where and as whom to connect.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// The box's base URL.
    #[arg(
        long,
        env = "IVM_SERVER",
        global = true,
        value_name = "URL",
        help = "The box, e.g. https://ivm.office.lan:8443 (default: the saved login's server)"
    )]
    pub server: Option<String>,
    /// User name; with --password, log in for this command only (nothing is saved).
    #[arg(
        long,
        short = 'u',
        env = "IVM_USER",
        global = true,
        value_name = "NAME"
    )]
    pub user: Option<String>,
    /// Password for --user; left out, `ivm` asks for it on the terminal (without echo).
    #[arg(
        long,
        short = 'p',
        env = "IVM_PASSWORD",
        global = true,
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// PEM file of the box's certificate (its <data>/tls/cert.pem) or its CA, to trust for
    /// https:// servers.
    #[arg(long, env = "IVM_CACERT", global = true, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and save the session to $IVM_HOME/session.json, so later commands need no password.
    Login,
    /// Log out: end the saved session on the box and forget it here.
    Logout,
    /// Show who the current session belongs to.
    Whoami,
    /// Change my password: the current one from --password (or IVM_PASSWORD), the new one
    /// from --new (or IVM_NEW_PASSWORD); either left out is asked for on the terminal.
    /// Needed first when the box set a one-time password.
    Passwd(PasswdArgs),
    /// List my contacts with their presence, or add / remove one.
    Contacts(ContactsArgs),
    /// List everyone on the box (the directory).
    Users(ListArgs),
    /// Send a voice message (WAV or Ogg Opus) to one or more users; a WAV is encoded to Ogg
    /// Opus here first, as the box would.
    Send(SendArgs),
    /// List received messages, newest first (the newest 50 unless --limit or --all).
    Inbox(MessageListArgs),
    /// List sent messages with each recipient's state, newest first (the newest 50 unless
    /// --limit or --all).
    Sent(MessageListArgs),
    /// Download a message's audio (Ogg Opus) and optionally its attachments.
    Get(GetArgs),
    /// Download a message, decode it to WAV and mark it played.
    Play(PlayArgs),
    /// Delete a message from my inbox.
    Delete(IdArg),
    /// Show or set my presence.
    Status(StatusArgs),
    /// Show or set where my calls go: forward always, on busy, or on no answer (after
    /// --after seconds, 5 to 120, default 20) to an extension; `forward off` turns them off.
    Forward(ForwardArgs),
    /// Show or set do-not-disturb: calls to me are not rung and the caller may leave a
    /// message (the same as `status busy`; `dnd off` sets `status available`).
    Dnd(DndArgs),
    /// Show or set message taking: a call to me that meets busy or no answer (and no
    /// forward) is answered by the box and the caller leaves a message (on by default);
    /// off, the caller hears busy or no answer. Do-not-disturb always takes a message.
    Voicemail(VoicemailArgs),
    /// List my calls between extensions (placed, received, missed), newest first; the box
    /// keeps the latest 100.
    Calls(ListArgs),
    /// Talk live: stream a WAV at real-time pace; recipients online hear it as it goes, the
    /// others get it as a stored message. `--group` makes it an all-call (urgent).
    Talk(TalkArgs),
    /// Stay connected: print every event as a JSON line, store new messages locally and save
    /// each live talk as a WAV (in DIR/talks).
    Watch(WatchArgs),
    /// Print a shell completion script, e.g. `ivm completions bash > /etc/bash_completion.d/ivm`.
    Completions(CompletionsArgs),
}

/// `passwd --new PASSWORD`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The password to use from now on (at least 8 characters, not the current one); left
    /// out, it is asked for twice on the terminal.
    #[arg(
        long = "new",
        env = "IVM_NEW_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub new_password: Option<String>,
}

/// `--json` for listings.
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `inbox` and `sent`: `[--limit N | --all] [--json]`.
#[derive(Debug, Args)]
pub struct MessageListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show the newest N messages (the box sends them a page at a time; ivm fetches as many
    /// pages as that takes).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Show every message, however many (overrides --limit).
    #[arg(long)]
    pub all: bool,
}

/// `contacts [--json]`, `contacts add NAME`, `contacts remove NAME`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ContactsArgs {
    /// Add or remove instead of listing.
    #[command(subcommand)]
    pub action: Option<ContactsAction>,
    /// Listing options.
    #[command(flatten)]
    pub list: ListArgs,
}

/// Changes to the contact list.
///
/// The contact is `contact`, never `user`: clap keeps one value per argument id across a
/// command and its subcommands, so a positional with the id of the global `--user` overwrote
/// it (`ivm --user ann contacts add bob` logged in as bob with ann's password, and counted a
/// failed login against bob). The tests in `cli/shadowing.rs` keep every command so.
#[derive(Debug, Subcommand)]
pub enum ContactsAction {
    /// Add a user by name, extension or GUID.
    Add {
        /// Name, extension or GUID.
        #[arg(id = "contact", value_name = "NAME")]
        contact: String,
    },
    /// Remove a contact by name, extension or GUID.
    #[command(alias = "rm")]
    Remove {
        /// Name, extension or GUID.
        #[arg(id = "contact", value_name = "NAME")]
        contact: String,
    },
}

/// `send --to NAME[,NAME..] FILE [--attach FILE..]`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Recipients: names, extensions or GUIDs; comma-separated and/or repeated.
    #[arg(long, short = 't', required = true, value_name = "NAME[,NAME..]")]
    pub to: Vec<String>,
    /// The recording: WAV (encoded to Ogg Opus here) or Ogg Opus (sent as it is).
    #[arg(value_name = "FILE")]
    pub audio: PathBuf,
    /// A file to attach; repeat `--attach` for several.
    // One value per `--attach`: with `num_args = 1..` it took every word after it, so in
    // `send --to bob --attach menu.pdf hello.wav` the recording became a second attachment
    // and clap said the audio file was missing (issue 11, item 8).
    #[arg(long, short = 'a', value_name = "FILE")]
    pub attach: Vec<PathBuf>,
}

/// `completions bash|zsh|fish|elvish|powershell`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `get ID [-o FILE] [--attachments DIR]`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Message id or a unique prefix of it (8+ hex digits).
    pub id: String,
    /// Where to write the Ogg Opus audio (default `<ID>.opus`; `-` for stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also save the attachments into this folder.
    #[arg(long, value_name = "DIR")]
    pub attachments: Option<PathBuf>,
}

/// `play ID [-o out.wav]`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Message id or a unique prefix of it (8+ hex digits).
    pub id: String,
    /// Where to write the WAV (default `<ID>.wav`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A message id argument.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Message id or a unique prefix of it (8+ hex digits).
    pub id: String,
}

/// `status [available|busy|away|offline]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The new presence; without it, show the current one.
    #[arg(value_parser = parse_status, value_name = "available|busy|away|offline")]
    pub status: Option<Status>,
}

/// `talk --to NAME[,NAME..] FILE.wav` or `talk --group GROUP FILE.wav`.
#[derive(Debug, Args)]
pub struct TalkArgs {
    /// Recipients: names, extensions or GUIDs; comma-separated and/or repeated.
    #[arg(
        long,
        short = 't',
        value_name = "NAME[,NAME..]",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub to: Vec<String>,
    /// All-call: talk to this group (or `everyone`), marked urgent. Needs the all-call
    /// permission (admins have it; an admin grants it to others).
    #[arg(long, short = 'g', value_name = "GROUP")]
    pub group: Option<String>,
    /// The recording (WAV), sent in 20 ms portions as if spoken now.
    #[arg(value_name = "FILE")]
    pub audio: PathBuf,
}

/// `watch [--dir DIR]`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The local message database (default `$IVM_HOME/messages`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `forward [always|busy|noanswer EXT [--after N] | off [KIND]]`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// What to set; without it, show my call settings.
    #[command(subcommand)]
    pub set: Option<ForwardSet>,
}

/// One forward to set.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ForwardSet {
    /// Every call goes to EXT; my phone does not ring.
    Always {
        /// The extension.
        ext: String,
    },
    /// A call that finds me busy goes to EXT.
    Busy {
        /// The extension.
        ext: String,
    },
    /// A call I do not answer goes to EXT.
    #[command(name = "noanswer")]
    NoAnswer {
        /// The extension.
        ext: String,
        /// Seconds of ringing first (5 to 120; unchanged when left out, 20 at first).
        #[arg(long, value_name = "SECONDS")]
        after: Option<u32>,
    },
    /// Turn forwards off: all of them, or one kind.
    Off {
        /// always, busy or noanswer; all three when left out.
        #[arg(value_parser = ["always", "busy", "noanswer"])]
        kind: Option<String>,
    },
}

/// `dnd [on|off]`.
#[derive(Debug, Args)]
pub struct DndArgs {
    /// on or off; without it, show it.
    #[arg(value_parser = ["on", "off"])]
    pub state: Option<String>,
}

/// `voicemail [on|off]`.
#[derive(Debug, Args)]
pub struct VoicemailArgs {
    /// on or off; without it, show it.
    #[arg(value_parser = ["on", "off"])]
    pub state: Option<String>,
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse()
}

#[cfg(test)]
mod shadowing;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ivm").chain(args.iter().copied()))
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let a = parse(&["--server", "http://box", "-u", "amy", "inbox"]).expect("parses");
        let b = parse(&["inbox", "--server", "http://box", "--user", "amy"]).expect("parses");
        assert_eq!(a.global.server.as_deref(), Some("http://box"));
        assert_eq!(b.global.server.as_deref(), Some("http://box"));
        assert_eq!(b.global.user.as_deref(), Some("amy"));
    }

    #[test]
    fn send_takes_recipients_audio_and_attachments() {
        let c = parse(&[
            "send",
            "--to",
            "bob,carol",
            "--to",
            "201",
            "hi.wav",
            "--attach",
            "a.pdf",
            "--attach",
            "b.txt",
        ])
        .expect("parses");
        let Command::Send(s) = c.command else {
            panic!("not send")
        };
        assert_eq!(s.to, ["bob,carol", "201"]);
        assert_eq!(s.audio, PathBuf::from("hi.wav"));
        assert_eq!(s.attach, [PathBuf::from("a.pdf"), PathBuf::from("b.txt")]);
    }

    #[test]
    fn send_takes_the_recording_after_an_attachment() {
        // Issue 11, item 8: the positional after `--attach FILE` was eaten as a second
        // attachment. Both orders, and the short flags, give the same command.
        for args in [
            &["send", "--to", "bob", "--attach", "menu.pdf", "hello.wav"][..],
            &["send", "--to", "bob", "hello.wav", "--attach", "menu.pdf"],
            &["send", "-a", "menu.pdf", "-t", "bob", "hello.wav"],
        ] {
            let Command::Send(s) = parse(args).expect("parses").command else {
                panic!("not send")
            };
            assert_eq!(s.audio, PathBuf::from("hello.wav"), "{args:?}");
            assert_eq!(s.attach, [PathBuf::from("menu.pdf")], "{args:?}");
            assert_eq!(s.to, ["bob"], "{args:?}");
        }
        // Two files after one --attach are a mistake clap names, not a missing recording.
        let err = parse(&[
            "send", "--to", "bob", "--attach", "a.pdf", "b.pdf", "hi.wav",
        ])
        .expect_err("refused");
        assert!(err.to_string().contains("unexpected argument"), "{err}");
    }

    #[test]
    fn completions_name_a_shell() {
        let Command::Completions(c) = parse(&["completions", "bash"]).expect("parses").command
        else {
            panic!("not completions")
        };
        assert_eq!(c.shell, clap_complete::Shell::Bash);
        assert!(parse(&["completions", "tcsh"]).is_err());
        assert!(parse(&["completions"]).is_err());
    }

    #[test]
    fn passwd_may_leave_the_new_password_out() {
        let Command::Passwd(p) = parse(&["passwd"]).expect("parses").command else {
            panic!("not passwd")
        };
        assert_eq!(p.new_password, None);
    }

    #[test]
    fn send_needs_a_recipient() {
        assert!(parse(&["send", "hi.wav"]).is_err());
    }

    #[test]
    fn contacts_lists_adds_and_removes() {
        let Command::Contacts(c) = parse(&["contacts", "--json"]).expect("parses").command else {
            panic!("not contacts")
        };
        assert!(c.list.json && c.action.is_none());
        let Command::Contacts(c) = parse(&["contacts", "add", "bob"]).expect("parses").command
        else {
            panic!("not contacts")
        };
        assert!(matches!(c.action, Some(ContactsAction::Add { contact }) if contact == "bob"));
        let Command::Contacts(c) = parse(&["contacts", "remove", "201"])
            .expect("parses")
            .command
        else {
            panic!("not contacts")
        };
        assert!(matches!(c.action, Some(ContactsAction::Remove { contact }) if contact == "201"));
    }

    #[test]
    fn forward_and_dnd_parse() {
        let Command::Forward(f) = parse(&["forward", "noanswer", "203", "--after", "10"])
            .expect("parses")
            .command
        else {
            panic!("not forward")
        };
        assert_eq!(
            f.set,
            Some(ForwardSet::NoAnswer {
                ext: "203".into(),
                after: Some(10)
            })
        );
        assert!(parse(&["forward", "off"]).is_ok());
        assert!(parse(&["forward", "off", "busy"]).is_ok());
        assert!(parse(&["forward", "off", "sometimes"]).is_err());
        assert!(parse(&["forward", "always"]).is_err(), "needs an extension");
        assert!(parse(&["dnd", "on"]).is_ok());
        assert!(parse(&["dnd", "maybe"]).is_err());
        assert!(parse(&["voicemail", "off"]).is_ok());
        assert!(parse(&["voicemail", "maybe"]).is_err());
    }

    #[test]
    fn status_is_checked_against_the_four_values() {
        let Command::Status(s) = parse(&["status", "busy"]).expect("parses").command else {
            panic!("not status")
        };
        assert_eq!(s.status, Some(Status::Busy));
        assert!(parse(&["status", "sleepy"]).is_err());
        let Command::Status(s) = parse(&["status"]).expect("parses").command else {
            panic!("not status")
        };
        assert_eq!(s.status, None);
    }

    #[test]
    fn get_play_and_watch_flags() {
        let Command::Get(g) = parse(&["get", "1a2b3c4d", "-o", "m.opus", "--attachments", "att"])
            .expect("parses")
            .command
        else {
            panic!("not get")
        };
        assert_eq!(g.id, "1a2b3c4d");
        assert_eq!(g.output, Some(PathBuf::from("m.opus")));
        assert_eq!(g.attachments, Some(PathBuf::from("att")));
        let Command::Play(p) = parse(&["play", "1a2b3c4d"]).expect("parses").command else {
            panic!("not play")
        };
        assert_eq!(p.output, None);
        let Command::Watch(w) = parse(&["watch", "--dir", "/tmp/m"])
            .expect("parses")
            .command
        else {
            panic!("not watch")
        };
        assert_eq!(w.dir, Some(PathBuf::from("/tmp/m")));
    }

    #[test]
    fn unknown_command_is_a_usage_error() {
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&[]).is_err());
    }
}
