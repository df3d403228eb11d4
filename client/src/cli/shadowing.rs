//! No argument of any command may shadow a global option.
//!
//! clap stores a global option's value under its argument id and, after parsing, copies the
//! value found under that id in a subcommand's matches up to the top-level matches. So any
//! subcommand argument that shares the id of a global option silently replaces it: that is how
//! `ivm --user ann contacts add bob` logged in as bob with ann's password (issue 10, item 10).
//! A shared long name, short name or environment variable confuses the two the same way.
//! clap's `Command::debug_assert` checks none of this, so these tests walk the command tree
//! themselves, and parse every command with every one of its arguments given to show that the
//! global options come through untouched.

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, CommandFactory};

use super::*;

/// The global options of `root` (declared with `global = true`).
fn globals(root: &clap::Command) -> Vec<&Arg> {
    root.get_arguments().filter(|a| a.is_global_set()).collect()
}

/// Every place below `root` where an argument shares an id, long name, short name or
/// environment variable with a global option, one line each.
fn clashes(root: &clap::Command) -> Vec<String> {
    let globals = globals(root);
    let mut out = Vec::new();
    for sub in root.get_subcommands() {
        walk(sub, root.get_name(), &globals, &mut out);
    }
    out
}

fn walk(cmd: &clap::Command, parent: &str, globals: &[&Arg], out: &mut Vec<String>) {
    let path = format!("{parent} {}", cmd.get_name());
    for arg in cmd.get_arguments() {
        for global in globals {
            for what in shared(arg, global) {
                out.push(format!(
                    "`{path}`: argument {:?} has the same {what} as the global option {:?}",
                    arg.get_id().as_str(),
                    global.get_id().as_str()
                ));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        walk(sub, &path, globals, out);
    }
}

/// What `a` and `b` have in common that lets one stand for the other.
fn shared(a: &Arg, b: &Arg) -> Vec<&'static str> {
    fn longs(x: &Arg) -> Vec<&str> {
        x.get_long()
            .into_iter()
            .chain(x.get_all_aliases().unwrap_or_default())
            .collect()
    }
    fn shorts(x: &Arg) -> Vec<char> {
        x.get_short()
            .into_iter()
            .chain(x.get_all_short_aliases().unwrap_or_default())
            .collect()
    }
    let mut what = Vec::new();
    if a.get_id() == b.get_id() {
        what.push("id");
    }
    if longs(a).iter().any(|l| longs(b).contains(l)) {
        what.push("long name");
    }
    if shorts(a).iter().any(|s| shorts(b).contains(s)) {
        what.push("short name");
    }
    if a.get_env().is_some() && a.get_env() == b.get_env() {
        what.push("environment variable");
    }
    what
}

#[test]
fn no_subcommand_argument_shadows_a_global_one() {
    let root = Cli::command();
    let ids: Vec<&str> = globals(&root).iter().map(|a| a.get_id().as_str()).collect();
    // The walk is only worth something if it sees the globals it guards.
    assert_eq!(ids, ["server", "user", "password", "cacert"]);
    let found = clashes(&root);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The shape `contacts add` had before the fix, to show the walk finds it and that it is a
/// real bug and not a style rule.
mod before_the_fix {
    use clap::{Parser, Subcommand};

    use crate::cli::Global;

    #[derive(Debug, Parser)]
    #[command(name = "ivm")]
    pub struct Cli {
        #[command(flatten)]
        pub global: Global,
        #[command(subcommand)]
        pub command: Command,
    }

    #[derive(Debug, Subcommand)]
    pub enum Command {
        Contacts {
            #[command(subcommand)]
            action: Action,
        },
    }

    #[derive(Debug, Subcommand)]
    pub enum Action {
        Add { user: String },
    }
}

#[test]
fn the_walk_finds_the_old_contacts_add_bug() {
    use clap::Parser;
    let found = clashes(&before_the_fix::Cli::command());
    assert_eq!(
        found,
        ["`ivm contacts add`: argument \"user\" has the same id as the global option \"user\""]
    );
    // What the clash did: the contact's name took the place of the user's.
    let old =
        before_the_fix::Cli::try_parse_from(["ivm", "--user", "ann", "contacts", "add", "bob"])
            .expect("parses");
    assert_eq!(old.global.user.as_deref(), Some("bob"));
}

/// Every command, with every one of its own arguments given (values chosen to look like the
/// global ones where they are free text). `rm` is the alias of `contacts remove`.
const EVERY_COMMAND: &[(&[&str], &[&str])] = &[
    (&["login"], &[]),
    (&["logout"], &[]),
    (&["whoami"], &[]),
    (&["passwd"], &["--new", "bob-password"]),
    (&["contacts"], &["--json"]),
    (&["contacts", "add"], &["bob"]),
    (&["contacts", "remove"], &["bob"]),
    (&["contacts", "rm"], &["bob"]),
    (&["users"], &["--json"]),
    (
        &["send"],
        &["--to", "bob", "bob.wav", "--attach", "bob.txt"],
    ),
    (&["inbox"], &["--json", "--limit", "5", "--all"]),
    (&["sent"], &["--json", "-n", "5", "--all"]),
    (
        &["get"],
        &["1a2b3c4d", "-o", "bob.opus", "--attachments", "bob"],
    ),
    (&["play"], &["1a2b3c4d", "-o", "bob.wav"]),
    (&["delete"], &["1a2b3c4d"]),
    (&["status"], &["busy"]),
    (&["forward"], &[]),
    (&["forward", "noanswer"], &["203", "--after", "10"]),
    (&["forward", "always"], &["203"]),
    (&["forward", "busy"], &["203"]),
    (&["forward", "off"], &["busy"]),
    (&["dnd"], &["on"]),
    (&["voicemail"], &["off"]),
    (&["calls"], &["--json"]),
    (&["talk"], &["--to", "bob", "bob.wav"]),
    (&["talk"], &["--group", "sales", "bob.wav"]),
    (&["watch"], &["--dir", "bob"]),
    (&["completions"], &["bash"]),
];

const GLOBALS: [&str; 8] = [
    "--server",
    "http://box",
    "--user",
    "ann",
    "--password",
    "ann-password",
    "--cacert",
    "ann.pem",
];

/// Every command path below the root (`["contacts", "add"]`, ...).
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

/// The command found at `path` (by name or alias) and its matches.
fn leaf<'a>(
    mut cmd: &'a clap::Command,
    mut m: &'a ArgMatches,
    path: &[&str],
) -> (&'a clap::Command, &'a ArgMatches) {
    for name in path {
        cmd = cmd
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no command {name:?}"));
        m = m
            .subcommand_matches(cmd.get_name())
            .unwrap_or_else(|| panic!("{name:?} not parsed"));
    }
    (cmd, m)
}

#[test]
fn the_sample_covers_every_command() {
    let mut paths = Vec::new();
    command_paths(&Cli::command(), &[], &mut paths);
    for path in &paths {
        assert!(
            EVERY_COMMAND.iter().any(|(p, _)| p == path),
            "`ivm {}` is missing from EVERY_COMMAND: add it with all its arguments",
            path.join(" ")
        );
    }
}

#[test]
fn every_command_keeps_the_global_options_before_or_after_it() {
    let root = Cli::command();
    for (path, args) in EVERY_COMMAND {
        let tail: Vec<&str> = path.iter().chain(args.iter()).copied().collect();
        let before: Vec<&str> = ["ivm"]
            .into_iter()
            .chain(GLOBALS)
            .chain(tail.iter().copied())
            .collect();
        let after: Vec<&str> = ["ivm"]
            .into_iter()
            .chain(tail.iter().copied())
            .chain(GLOBALS)
            .collect();
        for argv in [before, after] {
            let line = argv.join(" ");
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(cli.global.server.as_deref(), Some("http://box"), "{line}");
            assert_eq!(cli.global.user.as_deref(), Some("ann"), "{line}");
            assert_eq!(
                cli.global.password.as_deref(),
                Some("ann-password"),
                "{line}"
            );
            assert_eq!(
                cli.global.cacert.as_deref(),
                Some(std::path::Path::new("ann.pem")),
                "{line}"
            );
            // Every argument of the command was really given, so none of them can be the one
            // that would have shadowed a global.
            let matches = root
                .clone()
                .try_get_matches_from(&argv)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let (cmd, m) = leaf(&root, &matches, path);
            for arg in cmd.get_arguments() {
                if arg.get_id() == "help" || arg.get_id() == "version" {
                    continue;
                }
                // One of two arguments that exclude each other (`talk --to` / `--group`):
                // the other sample line gives it.
                let given = |a: &clap::Arg| {
                    m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)
                };
                let excluded = cmd.get_arguments().any(|other| {
                    given(other)
                        && (cmd.get_arg_conflicts_with(arg).contains(&other)
                            || cmd.get_arg_conflicts_with(other).contains(&arg))
                });
                if excluded {
                    continue;
                }
                assert_eq!(
                    m.value_source(arg.get_id().as_str()),
                    Some(ValueSource::CommandLine),
                    "{line}: argument {:?} not given",
                    arg.get_id().as_str()
                );
            }
        }
    }
}

#[test]
fn contacts_add_and_remove_name_the_contact_not_the_user() {
    for argv in [
        &["ivm", "--user", "ann", "contacts", "add", "bob"][..],
        &["ivm", "contacts", "add", "bob", "--user", "ann"],
        &["ivm", "-u", "ann", "contacts", "rm", "bob"],
        &["ivm", "contacts", "remove", "bob", "-u", "ann"],
    ] {
        let cli = Cli::try_parse_from(argv).expect("parses");
        assert_eq!(cli.global.user.as_deref(), Some("ann"), "{argv:?}");
        let Command::Contacts(ContactsArgs {
            action: Some(ContactsAction::Add { contact } | ContactsAction::Remove { contact }),
            ..
        }) = cli.command
        else {
            panic!("{argv:?}: not contacts add/remove")
        };
        assert_eq!(contact, "bob", "{argv:?}");
    }
}
