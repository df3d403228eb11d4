//! Who we are and which box we talk to, for one command.
//!
//! Two ways in: `--user` + `--password` log in for this command only (the token is dropped at
//! the end, nothing is saved), or the saved login from `ivm login` is used as it is. A
//! `--server` or `--user` that does not match the saved login is refused rather than quietly
//! ignored, so nobody sends a message as the wrong person.

use std::path::PathBuf;

use crate::api::{normalize_server, Api, ApiError};
use crate::cli::Global;
use crate::prompt::{self, PromptError};
use crate::session::{self, Session, SessionError};
use crate::tls::{self, TlsError};

/// Why no usable session could be set up.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// No saved login and no password.
    #[error("not logged in: run `ivm login --server URL --user NAME --password ...` first, or give --user and --password")]
    NotLoggedIn,
    /// `--user` without a password, the saved login is someone else's (or none), and there
    /// is no terminal to ask on.
    #[error("no password for {0:?}: give --password (or IVM_PASSWORD), or `ivm login` as them (ivm asks for it only when standard input is a terminal)")]
    NoPassword(String),
    /// Asking for a password on the terminal failed or was cancelled.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// `--server` names another box than the saved login.
    #[error("the saved login is for {saved}, not {given}: log in to {given} with `ivm login`, or give --user and --password")]
    OtherServer {
        /// The saved login's server.
        saved: String,
        /// The one asked for.
        given: String,
    },
    /// `ivm passwd` needs the current password.
    #[error("ivm passwd needs the current password: give --password (or IVM_PASSWORD); ivm asks for it only when standard input is a terminal")]
    NoCurrentPassword,
    /// `ivm passwd` needs the new password.
    #[error("ivm passwd needs the new password: give --new (or IVM_NEW_PASSWORD); ivm asks for it only when standard input is a terminal")]
    NoNewPassword,
    /// A login needs a server.
    #[error("no server given: use --server URL or IVM_SERVER")]
    NoServer,
    /// `ivm login` needs a name.
    #[error("ivm login needs --user NAME (or IVM_USER), and --password (or IVM_PASSWORD) unless standard input is a terminal to ask on")]
    NoCredentials,
    /// The saved login could not be read.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `--cacert` could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Everything a command needs: the REST client with a token, and where local files go.
pub struct Context {
    /// `$IVM_HOME`.
    pub home: PathBuf,
    /// REST client, authenticated.
    pub api: Api,
    /// Login name.
    pub user: String,
    /// The password, when this command logged in on the fly (to log in again if needed).
    credentials: Option<(String, String)>,
}

impl Context {
    /// Sets up the session for a command other than `login`.
    pub async fn open(global: &Global) -> Result<Context, ContextError> {
        let home = session::ivm_home()?;
        let saved = session::load(&home)?;
        if let (Some(user), Some(password)) = (&global.user, &global.password) {
            let server = global
                .server
                .clone()
                .or_else(|| saved.as_ref().map(|s| s.server.clone()))
                .ok_or(ContextError::NoServer)?;
            let cacert = global.cacert.clone().or_else(|| {
                saved
                    .as_ref()
                    .filter(|s| same_server(&s.server, &server))
                    .and_then(|s| s.cacert.clone())
            });
            let api = Api::new(&server, tls_config(cacert.as_ref())?)?;
            let login = api.login(user, password).await?;
            return Ok(Context {
                home,
                api: api.with_token(login.token),
                user: login.user.name,
                credentials: Some((user.clone(), password.clone())),
            });
        }
        let Some(saved) = saved else {
            return Err(match &global.user {
                // Said before a password is asked for: it would be typed for nothing.
                Some(_) if global.server.is_none() => ContextError::NoServer,
                Some(user) => ContextError::NoPassword(user.clone()),
                None => ContextError::NotLoggedIn,
            });
        };
        if let Some(given) = &global.server {
            if !same_server(given, &saved.server) {
                return Err(ContextError::OtherServer {
                    saved: saved.server,
                    given: given.clone(),
                });
            }
        }
        if let Some(user) = &global.user {
            if *user != saved.user {
                return Err(ContextError::NoPassword(user.clone()));
            }
        }
        let cacert = global.cacert.clone().or(saved.cacert.clone());
        let api = Api::new(&saved.server, tls_config(cacert.as_ref())?)?.with_token(saved.token);
        Ok(Context {
            home,
            api,
            user: saved.user,
            credentials: None,
        })
    }

    /// [`Context::open`], asking for the password on the terminal when `--user` came
    /// without one that a saved login could stand in for. The password asked for is put in
    /// `global`, so that `ivm passwd` does not ask for it twice.
    pub async fn open_or_ask(global: &mut Global) -> Result<Context, ContextError> {
        match Context::open(global).await {
            Err(ContextError::NoPassword(user)) if prompt::can_ask() => {
                global.password = Some(ask_password(&user, global.server.as_deref()).await?);
                Context::open(global).await
            }
            other => other,
        }
    }

    /// Whether a password is at hand to log in again.
    pub fn can_relogin(&self) -> bool {
        self.credentials.is_some()
    }

    /// Logs in again with the password given on the command line; returns the new token.
    pub async fn relogin(&mut self) -> Result<String, ApiError> {
        let Some((user, password)) = &self.credentials else {
            return Err(ApiError::Unauthorized("no password to log in again".into()));
        };
        let login = self.api.login(user, password).await?;
        self.api = self.api.clone().with_token(login.token.clone());
        Ok(login.token)
    }

    /// Ends an on-the-fly login so its token does not outlive the command. A saved login is
    /// left alone.
    pub async fn finish(&self) {
        if self.credentials.is_some() {
            if let Err(e) = self.api.logout().await {
                tracing::debug!(error = %e, "logout of the on-the-fly session failed");
            }
        }
    }
}

/// `ivm login`: logs in and saves the session. Returns what was saved, where, and whether the
/// box asks for a new password first.
pub async fn login_and_save(global: &Global) -> Result<(Session, PathBuf, bool), ContextError> {
    let home = session::ivm_home()?;
    let Some(user) = &global.user else {
        return Err(ContextError::NoCredentials);
    };
    // The server first: a bad URL is better said before anyone types a password.
    let server = global.server.clone().ok_or(ContextError::NoServer)?;
    let server = normalize_server(&server)?;
    let Some(password) = &global.password else {
        return Err(ContextError::NoPassword(user.clone()));
    };
    // Saved as an absolute path, so it still works from another folder.
    let cacert = global
        .cacert
        .as_ref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let api = Api::new(&server, tls_config(cacert.as_ref())?)?;
    let login = api.login(user, password).await?;
    let must_change = login.must_change_password;
    let saved = Session {
        server,
        token: login.token,
        user: login.user.name,
        guid: Some(login.user.guid),
        expires_at: login.expires_at,
        cacert,
    };
    let path = session::save(&home, &saved)?;
    Ok((saved, path, must_change))
}

/// [`login_and_save`], asking for the password on the terminal when `--user` came without
/// one.
pub async fn login_and_save_or_ask(
    global: &mut Global,
) -> Result<(Session, PathBuf, bool), ContextError> {
    match login_and_save(global).await {
        Err(ContextError::NoPassword(user)) if prompt::can_ask() => {
            global.password = Some(ask_password(&user, global.server.as_deref()).await?);
            login_and_save(global).await
        }
        other => other,
    }
}

/// Asks for `user`'s password on the terminal, naming the server when known.
pub async fn ask_password(user: &str, server: Option<&str>) -> Result<String, PromptError> {
    let text = match server {
        Some(s) => format!("Password for {user} on {}: ", s.trim_end_matches('/')),
        None => format!("Password for {user}: "),
    };
    prompt::ask(text).await
}

fn tls_config(
    cacert: Option<&PathBuf>,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, TlsError> {
    cacert.map(|p| tls::client_config(p)).transpose()
}

fn same_server(a: &str, b: &str) -> bool {
    match (normalize_server(a), normalize_server(b)) {
        (Ok(a), Ok(b)) => a.eq_ignore_ascii_case(&b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_compare_without_trailing_slash_or_case() {
        assert!(same_server("https://Box:8443/", "https://box:8443"));
        assert!(!same_server("https://box:8443", "http://box:8443"));
    }
}
