//! The well-known place where a running box can be found: `<runtime dir>/admin.sock`, a
//! symlink to the box's `<data>/admin.sock`.
//!
//! Admin commands used to look for `./ivm-data`: run from another folder, `ivmd user add`
//! made a new data folder with a master key of its own and reported success, and the user
//! never existed on the running box. Now `ivmd run` publishes its socket here and admin
//! commands look here first (see [`crate::locate`]).
//!
//! The runtime dir is the first usable of:
//! 1. `$IVM_RUNTIME_DIR` when set (and then only it): tests, several boxes on one machine;
//! 2. `/run/ivm` (the unit's `RuntimeDirectory=ivm`; made when missing if we may, as root);
//! 3. `$XDG_RUNTIME_DIR/ivm` (a desktop session);
//! 4. `/tmp/ivm-<uid>`, made with mode 0700.
//!
//! A symlink rather than a second listening socket: it names the data folder it leads to
//! (`ls -l`), and there is one socket to clean up. A link may outlive its box (a crash), so
//! nobody trusts it for being there: commands ask the box behind it who it is
//! ([`crate::admin::socket::hello`]), and a link nobody answers at is ignored and replaced
//! by the next box. A folder someone else could have planted (group- or world-writable, or
//! in `/tmp` and not ours) is not used at all: a socket there could collect the passwords
//! admin commands send.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use crate::admin::socket::SOCKET_NAME;

/// The variable that overrides the runtime dir.
pub const ENV: &str = "IVM_RUNTIME_DIR";

/// The candidate runtime dirs, in order.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(d) = std::env::var_os(ENV).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(d)];
    }
    let mut v = vec![PathBuf::from("/run/ivm")];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        v.push(Path::new(&x).join("ivm"));
    }
    v.push(PathBuf::from(format!(
        "/tmp/ivm-{}",
        nix::unistd::geteuid()
    )));
    v
}

/// The published socket paths to look at, in order (only in folders that pass [`trusted`]).
pub fn sockets() -> Vec<PathBuf> {
    candidates()
        .into_iter()
        .filter(|d| trusted(d).is_ok())
        .map(|d| d.join(SOCKET_NAME))
        .collect()
}

/// Whether `dir` may hold our socket: a real folder (not a symlink), writable by nobody but
/// its owner, owned by us or root, or made in a folder only root controls (`/run`).
pub fn trusted(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.file_type().is_dir() {
        return Err("not a folder".into());
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() == me || meta.uid() == 0 {
        return Ok(());
    }
    let parent = dir.parent().map(std::fs::symlink_metadata);
    match parent {
        Some(Ok(p)) if p.uid() == 0 && p.mode() & 0o002 == 0 => Ok(()),
        _ => Err(format!(
            "owned by uid {} in a folder others may write to",
            meta.uid()
        )),
    }
}

/// Makes `dir` (mode 0700) when missing, then checks it is [`trusted`] and writable.
fn prepare(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Only the last level: `/run` or `$XDG_RUNTIME_DIR` must exist already; the
            // override may name a deeper folder (a test's temporary one).
            let mut b = std::fs::DirBuilder::new();
            b.mode(0o700).recursive(std::env::var_os(ENV).is_some());
            b.create(dir).map_err(|e| e.to_string())?;
        }
        Err(e) => return Err(e.to_string()),
    }
    trusted(dir)?;
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).map_err(|e| e.to_string())
}

/// A published link, removed by [`Published::remove`] at stop.
#[derive(Debug)]
pub struct Published {
    link: PathBuf,
    target: PathBuf,
    /// (device, inode) of the socket the link leads to.
    inode: (u64, u64),
}

impl Published {
    /// The link's path.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Removes the link if it still leads to this process's socket. A new box on the same
    /// data folder (a restart) may have replaced the socket, and then the link is its.
    pub fn remove(&self) {
        let same_link = std::fs::read_link(&self.link).is_ok_and(|t| t == self.target);
        let same_socket = match std::fs::metadata(&self.target) {
            Ok(m) => (m.dev(), m.ino()) == self.inode,
            Err(_) => true,
        };
        if same_link && same_socket {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

/// Publishes `socket` (absolute: `<data>/admin.sock`, already listening) in the first usable
/// runtime dir. Leaves alone a link at which another live box answers (admin commands
/// without `--data` keep reaching that one; this box says so in its log). `None` when it
/// could not publish: the box runs on, and commands find it through its config or `--data`.
pub fn publish(socket: &Path, own_pid: u32) -> Option<Published> {
    let inode = match std::fs::metadata(socket) {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => {
            tracing::warn!(error = %e, "admin socket not published");
            return None;
        }
    };
    let mut why = Vec::new();
    for dir in candidates() {
        if let Err(e) = prepare(&dir) {
            why.push(format!("{}: {e}", dir.display()));
            continue;
        }
        let link = dir.join(SOCKET_NAME);
        let points_here = std::fs::read_link(&link).is_ok_and(|t| t == socket);
        if !points_here {
            if let Ok(Some(other)) = crate::admin::socket::hello(&link) {
                if other.pid != own_pid {
                    tracing::warn!(
                        link = %link.display(),
                        pid = other.pid,
                        data = %other.data_dir.display(),
                        "another ivmd already answers at the well-known admin socket: admin commands without --data reach that one, not this box"
                    );
                    return None;
                }
            }
        }
        // Made beside it and renamed over it: the link is never missing or half made.
        let tmp = dir.join(format!(".{SOCKET_NAME}.{own_pid}"));
        let _ = std::fs::remove_file(&tmp);
        let made =
            std::os::unix::fs::symlink(socket, &tmp).and_then(|()| std::fs::rename(&tmp, &link));
        match made {
            Ok(()) => {
                tracing::info!(link = %link.display(), socket = %socket.display(), "admin socket published");
                return Some(Published {
                    link,
                    target: socket.to_owned(),
                    inode,
                });
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                why.push(format!("{}: {e}", dir.display()));
            }
        }
    }
    tracing::warn!(tried = %why.join("; "), "admin socket not published: admin commands need --data or --config to find this box");
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn only_private_folders_are_trusted() {
        let d = tempfile::tempdir().expect("tempdir");
        let ok = d.path().join("ok");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&ok)
            .expect("mkdir");
        assert_eq!(trusted(&ok), Ok(()));
        let open = d.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(trusted(&open)
            .expect_err("open folder")
            .contains("writable by others"));
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&ok, &link).expect("symlink");
        assert_eq!(trusted(&link), Err("not a folder".into()));
        assert!(trusted(&d.path().join("missing")).is_err());
    }

    #[test]
    fn the_override_is_the_only_candidate() {
        // The test binary's environment is shared by its threads: read, don't set.
        match std::env::var_os(ENV) {
            Some(d) if !d.is_empty() => assert_eq!(candidates(), vec![PathBuf::from(d)]),
            _ => {
                let c = candidates();
                assert_eq!(c[0], PathBuf::from("/run/ivm"));
                assert!(c
                    .last()
                    .is_some_and(|l| l.to_string_lossy().starts_with("/tmp/ivm-")));
            }
        }
    }
}
