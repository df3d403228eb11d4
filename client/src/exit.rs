//! How a failure reaches the person: one line on stderr starting `ivm: `, and an exit code a
//! script can act on. Never a backtrace or a debug dump.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (also: ctrl-C in `watch`, or stdout closed by the reader) |
//! | 1 | anything else, with the server's message |
//! | 2 | the server cannot be reached (or its certificate is not trusted) |
//! | 3 | login refused, not logged in, or the session was refused |
//! | 4 | unknown recipient or user |
//! | 5 | the box asks for a new password first (the one in use was set for you): run `ivm passwd` |
//! | 130 | a password prompt was cancelled (ctrl-C) |
//! | 64 | bad command line (clap's own message), or a server URL whose scheme the port does not speak |

use std::process::ExitCode;

use crate::api::ApiError;
use crate::context::ContextError;
use crate::output::OutputError;
use crate::prompt::PromptError;
use crate::watch::Stop;
use crate::ws::WsError;

/// Exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Done.
    Ok = 0,
    /// Any other failure.
    Failed = 1,
    /// The server cannot be reached.
    Unreachable = 2,
    /// Authentication failed.
    Auth = 3,
    /// Unknown recipient or user.
    UnknownUser = 4,
    /// The password in use is one-time: `ivm passwd` first.
    PasswordChange = 5,
    /// Bad command line.
    Usage = 64,
    /// A password prompt was cancelled with ctrl-C (the shell's 128 + SIGINT).
    Interrupted = 130,
}

/// Reports a command's result and returns its exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let status = classify(&err);
    if status != ExitStatus::Ok {
        eprintln!("ivm: {err:#}");
    }
    ExitCode::from(status as u8)
}

/// A clap error: help and version go to stdout with 0, mistakes to stderr with 64 (clap's own
/// 2 would read as "server unreachable").
pub fn usage(err: clap::Error) -> ExitCode {
    let _ = err.print();
    if err.use_stderr() {
        ExitCode::from(ExitStatus::Usage as u8)
    } else {
        ExitCode::SUCCESS
    }
}

/// The exit status for an error, from the first cause in its chain that says.
pub fn classify(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ApiError>() {
            return api_status(e);
        }
        if let Some(e) = cause.downcast_ref::<ContextError>() {
            match e {
                ContextError::NotLoggedIn
                | ContextError::NoPassword(_)
                | ContextError::OtherServer { .. }
                | ContextError::NoCredentials => return ExitStatus::Auth,
                ContextError::Api(api) => return api_status(api),
                ContextError::NoServer
                | ContextError::NoCurrentPassword
                | ContextError::NoNewPassword => return ExitStatus::Usage,
                ContextError::Prompt(PromptError::Cancelled) => return ExitStatus::Interrupted,
                ContextError::Session(_) | ContextError::Tls(_) | ContextError::Prompt(_) => {
                    return ExitStatus::Failed
                }
            }
        }
        if let Some(e) = cause.downcast_ref::<WsError>() {
            return match e {
                WsError::Connect { .. } => ExitStatus::Unreachable,
                _ => ExitStatus::Failed,
            };
        }
        if let Some(stop) = cause.downcast_ref::<Stop>() {
            return match stop {
                Stop::Interrupted => ExitStatus::Ok,
                Stop::Refused(_) => ExitStatus::Auth,
                Stop::PasswordChangeRequired => ExitStatus::PasswordChange,
                Stop::Unreachable(_) => ExitStatus::Unreachable,
                Stop::Closed(_) => ExitStatus::Failed,
            };
        }
        if let Some(OutputError::Stdout(io)) = cause.downcast_ref::<OutputError>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitStatus::Ok;
            }
        }
    }
    ExitStatus::Failed
}

fn api_status(e: &ApiError) -> ExitStatus {
    match e {
        ApiError::Unreachable { .. } => ExitStatus::Unreachable,
        ApiError::LoginRefused | ApiError::Unauthorized(_) | ApiError::WrongPassword => {
            ExitStatus::Auth
        }
        ApiError::PasswordChangeRequired => ExitStatus::PasswordChange,
        ApiError::UnknownUser { .. } => ExitStatus::UnknownUser,
        ApiError::BadUrl(_) | ApiError::WrongScheme { .. } => ExitStatus::Usage,
        ApiError::Untrusted { .. } | ApiError::Cut { .. } => ExitStatus::Unreachable,
        _ => ExitStatus::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_code() {
        let unreachable = anyhow::Error::new(ApiError::Unreachable {
            url: "http://box".into(),
            cause: "Connection refused (os error 111)".into(),
        });
        assert_eq!(classify(&unreachable), ExitStatus::Unreachable);
        assert_eq!(
            format!("{unreachable:#}"),
            "cannot reach the server at http://box: Connection refused (os error 111)"
        );
        let refused = anyhow::Error::new(ContextError::Api(ApiError::LoginRefused));
        assert_eq!(classify(&refused), ExitStatus::Auth);
        assert_eq!(
            format!("{refused:#}"),
            "login refused: wrong user name or password"
        );
        let unknown = anyhow::Error::new(ApiError::UnknownUser {
            role: "recipient",
            name: Some("bob".into()),
            message: "x".into(),
        });
        assert_eq!(classify(&unknown), ExitStatus::UnknownUser);
        assert_eq!(format!("{unknown:#}"), r#"unknown recipient "bob""#);
        let other = anyhow::Error::new(ApiError::Server {
            status: 400,
            error: "bad_audio".into(),
            message: "the audio holds no sound".into(),
        });
        assert_eq!(classify(&other), ExitStatus::Failed);
        assert_eq!(
            classify(&anyhow::Error::new(Stop::Interrupted)),
            ExitStatus::Ok
        );
        let change = anyhow::Error::new(ApiError::PasswordChangeRequired);
        assert_eq!(classify(&change), ExitStatus::PasswordChange);
        assert_eq!(
            format!("{change:#}"),
            "the box asks you to set a new password first: run `ivm passwd`"
        );
        assert_eq!(
            classify(&anyhow::Error::new(Stop::PasswordChangeRequired)),
            ExitStatus::PasswordChange
        );
        let pipe = OutputError::Stdout(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(classify(&anyhow::Error::new(pipe)), ExitStatus::Ok);
    }
}
