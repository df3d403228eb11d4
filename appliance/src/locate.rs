//! Which box an admin command (`ivmd user|phone|status|config`) works on.
//!
//! In this order:
//! 1. `--data DIR` / `--config FILE` (or `IVMD_DATA` / `IVMD_CONFIG`): that folder, or the
//!    one the file names; the box running on it if one answers at `<data>/admin.sock`.
//! 2. The running box at the well-known socket ([`crate::runtime_dir`]); it says which data
//!    folder and settings it has.
//! 3. The installed config, `/etc/ivm/ivmd.toml` (`$IVM_INSTALLED_CONFIG` overrides the
//!    path), when it exists: the box it describes, running or not.
//! 4. `./ivm-data`, only when it exists (a box started here with the embedded defaults).
//!
//! Otherwise the command fails and says where it looked. It never makes a data folder: the
//! store is opened with [`ivm_store::OpenOptions::create`] off, so a mistyped path cannot
//! become a new, empty box with its own master key while the real one goes on without the
//! change.

use std::path::{Path, PathBuf};

use crate::admin::socket::{hello, socket_path};
use crate::admin::BoxInfo;
use crate::config::{Config, ConfigError};

/// The variable that overrides the installed config's path.
pub const INSTALLED_CONFIG_ENV: &str = "IVM_INSTALLED_CONFIG";
/// Where the appliance image installs its config.
pub const INSTALLED_CONFIG: &str = "/etc/ivm/ivmd.toml";

/// The installed config's path (`$IVM_INSTALLED_CONFIG`, else `/etc/ivm/ivmd.toml`).
pub fn installed_config() -> PathBuf {
    std::env::var_os(INSTALLED_CONFIG_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(INSTALLED_CONFIG))
}

/// Where the settings of a stopped box come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--config FILE` and/or `--data DIR`.
    Given {
        /// The file, when given.
        config: Option<PathBuf>,
        /// The folder, when given.
        data: Option<PathBuf>,
    },
    /// The installed config.
    Installed(PathBuf),
    /// The embedded defaults, `./ivm-data` being here.
    CurrentFolder,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Given { config, data } => {
                match config {
                    Some(c) => write!(f, "--config {}", c.display())?,
                    None => write!(f, "the embedded defaults")?,
                }
                if let Some(d) = data {
                    write!(f, ", --data {}", d.display())?;
                }
                Ok(())
            }
            Source::Installed(p) => write!(f, "{} (the installed config)", p.display()),
            Source::CurrentFolder => write!(f, "the embedded defaults (./ivm-data is here)"),
        }
    }
}

/// The box a command works on.
#[derive(Debug)]
pub enum Target {
    /// A running box answered.
    Running {
        /// Its socket (as reached: the well-known link, or `<data>/admin.sock`).
        socket: PathBuf,
        /// What it said about itself.
        info: Box<BoxInfo>,
    },
    /// No box runs on the folder: the command opens it itself.
    Stopped {
        /// The settings the box would run with (its data folder among them).
        cfg: Box<Config>,
        /// Where they come from.
        source: Source,
    },
}

/// Why no box was found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The config file could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A socket exists but could not be used (permission, no answer).
    #[error("cannot reach the box at {}: {source}{}", path.display(), hint(source))]
    Socket {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing found anywhere.
    #[error("no box found: no ivmd answers at {}, there is no {}, and no ./ivm-data here; give --data DIR or --config FILE", sockets.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or "), installed.display())]
    NotFound {
        /// The well-known sockets looked at.
        sockets: Vec<PathBuf>,
        /// The installed config's path.
        installed: PathBuf,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        " (run this as root or as the box's own user)"
    } else {
        ""
    }
}

/// Asks the box at `socket` who it is: `Ok(None)` when nobody answers there.
fn running_at(socket: &Path) -> Result<Option<Target>, LocateError> {
    match hello(socket) {
        Ok(Some(info)) => Ok(Some(Target::Running {
            socket: socket.to_owned(),
            info: Box::new(info),
        })),
        Ok(None) => Ok(None),
        Err(source) => Err(LocateError::Socket {
            path: socket.to_owned(),
            source,
        }),
    }
}

/// The box on `cfg`'s data folder: running if its socket answers, else stopped.
fn on_folder(cfg: Config, source: Source) -> Result<Target, LocateError> {
    if let Some(t) = running_at(&socket_path(&cfg.data_dir))? {
        return Ok(t);
    }
    Ok(Target::Stopped {
        cfg: Box::new(cfg),
        source,
    })
}

/// Finds the box (see the module's order). `config` and `data` are the command line's.
pub fn locate(config: Option<&Path>, data: Option<&Path>) -> Result<Target, LocateError> {
    if config.is_some() || data.is_some() {
        let mut cfg = Config::load(config)?;
        if let Some(d) = data {
            cfg.data_dir = d.to_owned();
        }
        let source = Source::Given {
            config: config.map(Path::to_owned),
            data: data.map(Path::to_owned),
        };
        return on_folder(cfg, source);
    }
    let sockets = crate::runtime_dir::sockets();
    for s in &sockets {
        if let Some(t) = running_at(s)? {
            return Ok(t);
        }
    }
    let installed = installed_config();
    if installed.exists() {
        let cfg = Config::load(Some(&installed))?;
        return on_folder(cfg, Source::Installed(installed));
    }
    let cfg = Config::default();
    if cfg.data_dir.is_dir() {
        return on_folder(cfg, Source::CurrentFolder);
    }
    Err(LocateError::NotFound {
        sockets: crate::runtime_dir::candidates()
            .into_iter()
            .map(|d| d.join(crate::admin::socket::SOCKET_NAME))
            .collect(),
        installed,
    })
}

/// Run as root on a folder that belongs to another user (the box's own, `ivm` on the
/// image): become that user, so what the command writes (the lock file, the database) stays
/// the box's and the box can open it again. Returns the uid taken on, if any.
pub fn become_folder_owner(data: &Path) -> Result<Option<u32>, String> {
    use nix::unistd::{Gid, Uid};
    use std::os::unix::fs::MetadataExt as _;
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let meta = match std::fs::metadata(data) {
        Ok(m) => m,
        Err(_) => return Ok(None),
    };
    if meta.uid() == 0 {
        return Ok(None);
    }
    let (uid, gid) = (Uid::from_raw(meta.uid()), Gid::from_raw(meta.gid()));
    nix::unistd::setgroups(&[gid])
        .and_then(|()| nix::unistd::setgid(gid))
        .and_then(|()| nix::unistd::setuid(uid))
        .map_err(|e| {
            format!(
                "cannot become uid {} (the owner of {}): {e}",
                meta.uid(),
                data.display()
            )
        })?;
    Ok(Some(meta.uid()))
}
