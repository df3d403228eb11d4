//! The box's one config file (TOML) and its embedded defaults: with no file, `ivmd run`
//! starts a working box on unprivileged ports with its data in `./ivm-data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Everything `ivmd run` can be told. Every field has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Data folder (database, master key, encrypted audio).
    pub data_dir: PathBuf,
    /// Plain HTTP: the API for local tools; browsers are redirected to HTTPS.
    pub http: Listener,
    /// HTTPS: the API and the web client.
    pub https: Listener,
    /// Size and length limits.
    pub limits: Limits,
    /// Client sessions.
    pub clients: Clients,
}

/// One listening socket; `listen = ""` turns it off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address and port, e.g. `0.0.0.0:8443`.
    pub listen: String,
}

/// Limits on what clients may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest upload (audio plus attachments), bytes.
    pub max_upload_bytes: usize,
    /// Largest WebSocket frame, bytes.
    pub max_ws_frame: usize,
    /// Longest voice message, seconds.
    pub max_message_seconds: u32,
}

/// Client session settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Clients {
    /// Seconds between pings; a client silent for two intervals is marked offline.
    pub ping_interval_s: u32,
    /// Seconds a login token lasts.
    pub session_ttl_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./ivm-data"),
            http: Listener { listen: "0.0.0.0:8080".into() },
            https: Listener { listen: "0.0.0.0:8443".into() },
            limits: Limits::default(),
            clients: Clients::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_upload_bytes: 25 * 1024 * 1024, max_ws_frame: 4 * 1024 * 1024, max_message_seconds: 600 }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Clients { ping_interval_s: 30, session_ttl_s: 30 * 24 * 3600 }
    }
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this config.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path`, or the embedded defaults when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: p.to_owned(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: p.to_owned(), message: e.to_string() })?
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.clients.ping_interval_s == 0 {
            return Err(ConfigError::Invalid("clients.ping_interval_s must be at least 1".into()));
        }
        if self.clients.session_ttl_s == 0 {
            return Err(ConfigError::Invalid("clients.session_ttl_s must be at least 1".into()));
        }
        if self.limits.max_ws_frame < 1024 {
            return Err(ConfigError::Invalid("limits.max_ws_frame must be at least 1024".into()));
        }
        self.http_addr()?;
        self.https_addr()?;
        Ok(())
    }

    /// The HTTP listen address, `None` when turned off.
    pub fn http_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("http.listen", &self.http.listen)
    }

    /// The HTTPS listen address, `None` when turned off.
    pub fn https_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("https.listen", &self.https.listen)
    }

    /// Token lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.clients.session_ttl_s)
    }
}

fn parse_listen(key: &str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| ConfigError::Invalid(format!("{key} = {v:?} is not an address:port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c.http_addr().expect("ok"), Some("0.0.0.0:8080".parse().expect("addr")));
        assert_eq!(c.https_addr().expect("ok"), Some("0.0.0.0:8443".parse().expect("addr")));
        assert_eq!(c.data_dir, PathBuf::from("./ivm-data"));
    }

    #[test]
    fn partial_files_and_bad_values() {
        let c: Config = toml::from_str("[clients]\nping_interval_s = 5\n").expect("parses");
        assert_eq!(c.clients.ping_interval_s, 5);
        assert_eq!(c.limits.max_message_seconds, 600);
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
        let bad: Config = toml::from_str("[http]\nlisten = \"nowhere\"\n").expect("parses");
        assert!(bad.validate().is_err());
    }
}
