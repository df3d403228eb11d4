//! `ivm completions bash|zsh|fish|elvish|powershell`: print the shell's completion script,
//! generated from the same clap definition that parses the command line, so it never
//! disagrees with it. Needs no server and no login.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::output;

/// Prints the script for `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ivm", &mut script);
    let text = String::from_utf8_lossy(&script);
    output::line(text.trim_end_matches('\n'))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ivm", &mut script);
            let text = String::from_utf8(script).expect("utf-8");
            for command in ["send", "inbox", "contacts", "completions", "--attach"] {
                assert!(text.contains(command), "{shell}: no {command:?}");
            }
        }
    }
}
