//! The saved login: `$IVM_HOME/session.json`, written by `ivm login`, removed by `ivm logout`.
//!
//! It holds a bearer token, which is as good as the password until it expires, so the file is
//! created with mode 0600 (never readable by others, not even for a moment: the mode is set
//! when the temp file is created, before the token is written) and replaced by a rename.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ivm_wire::Guid;
use serde::{Deserialize, Serialize};

/// Why the saved login could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Neither `IVM_HOME` nor `HOME` is set.
    #[error("cannot find a home folder: set IVM_HOME or HOME")]
    NoHome,
    /// The file exists but is not a session.
    #[error("{path} is damaged ({source}); run `ivm login` again")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What `ivm login` saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The box's base URL as given to `ivm login`.
    pub server: String,
    /// Bearer token.
    pub token: String,
    /// Login name.
    pub user: String,
    /// The user's GUID.
    #[serde(default)]
    pub guid: Option<Guid>,
    /// When the token stops working, Unix seconds.
    #[serde(default)]
    pub expires_at: u64,
    /// The `--cacert` used at login, so later commands trust the same certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<PathBuf>,
}

/// `$IVM_HOME`, else `$HOME/.ivm`.
pub fn ivm_home() -> Result<PathBuf, SessionError> {
    if let Some(h) = std::env::var_os("IVM_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".ivm"))
        .ok_or(SessionError::NoHome)
}

/// Where the saved login lives under `home`.
pub fn path_in(home: &Path) -> PathBuf {
    home.join("session.json")
}

/// Reads the saved login; `None` when there is none.
pub fn load(home: &Path) -> Result<Option<Session>, SessionError> {
    let path = path_in(home);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| SessionError::Damaged { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SessionError::Io { path, source }),
    }
}

/// Saves the login with mode 0600 (temp file, fsync, rename).
pub fn save(home: &Path, session: &Session) -> Result<PathBuf, SessionError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SessionError::Io { path, source }
    };
    create_private_dir(home).map_err(io(home))?;
    let path = path_in(home);
    let tmp = home.join(format!(".session.json.tmp-{}", std::process::id()));
    let text = serde_json::to_vec_pretty(session).unwrap_or_default();
    let write = || -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut f = private_file(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(dir) = fs::File::open(home) {
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(&path)(e)
    })?;
    Ok(path)
}

/// Forgets the saved login. `true` when there was one.
pub fn remove(home: &Path) -> Result<bool, SessionError> {
    let path = path_in(home);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SessionError::Io { path, source }),
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The home folder holds the token and received messages: keep it to its owner (0700) when we
/// are the ones creating it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        Session {
            server: "https://box:8443".into(),
            token: "secret".into(),
            user: "amy".into(),
            guid: Some(Guid::from_u128(0x1a2b)),
            expires_at: 1_900_000_000,
            cacert: None,
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("ivm");
        assert_eq!(load(&home).expect("loads"), None);
        save(&home, &sample()).expect("saves");
        assert_eq!(load(&home).expect("loads"), Some(sample()));
        assert!(remove(&home).expect("removes"));
        assert!(!remove(&home).expect("removes"));
        assert_eq!(load(&home).expect("loads"), None);
    }

    #[cfg(unix)]
    #[test]
    fn session_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("ivm");
        let path = save(&home, &sample()).expect("saves");
        let mode = fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Saving again over an existing file keeps it private and leaves no temp file behind.
        save(&home, &sample()).expect("saves again");
        assert_eq!(
            fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&home)
            .expect("lists")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("session.json")]);
        let home_mode = fs::metadata(&home).expect("stat").permissions().mode();
        assert_eq!(home_mode & 0o777, 0o700);
    }

    #[test]
    fn damaged_file_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(path_in(dir.path()), b"{not json").expect("writes");
        assert!(matches!(
            load(dir.path()),
            Err(SessionError::Damaged { .. })
        ));
    }
}
