//! The state file: what was last applied through this crate and what came before it.
//!
//! # Format
//!
//! ```json
//! {"version":1,"applied":{"mode":"static",…},"previous":{"mode":"dhcp"},"lease_dns":[]}
//! ```
//!
//! Written whole, to a temporary file beside it that is fsynced and renamed over the old one
//! (and the directory fsynced), so a power cut leaves either the old or the new state.

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Addressing, NetError};

/// Largest state file read; anything bigger is refused as corrupt.
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// What this crate remembers between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version, 1.
    #[serde(default = "one")]
    pub version: u32,
    /// The settings last applied.
    #[serde(default)]
    pub applied: Option<Addressing>,
    /// The settings before those, for undo.
    #[serde(default)]
    pub previous: Option<Addressing>,
    /// Name servers the last DHCP lease gave (the `Ip` backend only; networkd keeps its own).
    #[serde(default)]
    pub lease_dns: Vec<Ipv4Addr>,
}

fn one() -> u32 {
    1
}

impl State {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, NetError> {
        let f = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: 1,
                    ..State::default()
                })
            }
            Err(e) => return Err(NetError::io(path, e)),
        };
        let len = f.metadata().map_err(|e| NetError::io(path, e))?.len();
        if len > MAX_STATE_BYTES {
            return Err(NetError::Parse {
                what: "state file",
                detail: format!("{len} bytes is too big"),
            });
        }
        let text = fs::read(path).map_err(|e| NetError::io(path, e))?;
        let st: State = serde_json::from_slice(&text).map_err(|e| NetError::Parse {
            what: "state file",
            detail: e.to_string(),
        })?;
        // Settings that do not validate are not re-applied by undo.
        for a in st.applied.iter().chain(st.previous.iter()) {
            a.validate()?;
        }
        Ok(st)
    }

    /// Writes the state file atomically (temp + fsync + rename + directory fsync).
    pub fn store(&self, path: &Path) -> Result<(), NetError> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| NetError::Parse {
            what: "state",
            detail: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomic(path, &text)
    }
}

/// Replaces `path` with `bytes`: a temporary file beside it, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| NetError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| NetError::io(&tmp, e))?;
        f.sync_all().map_err(|e| NetError::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| NetError::io(path, e))?;
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| NetError::io(&dir, e))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticV4;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("net.json");
        let empty = State::load(&path).expect("missing file is empty");
        assert_eq!(empty.applied, None);
        assert_eq!(empty.previous, None);
        let st = State {
            version: 1,
            applied: Some(Addressing::Static(StaticV4 {
                address: "10.1.2.3".parse().expect("ip"),
                prefix: 16,
                gateway: Some("10.1.0.1".parse().expect("ip")),
                dns: vec!["10.1.0.1".parse().expect("ip")],
            })),
            previous: Some(Addressing::Dhcp),
            lease_dns: vec!["192.0.2.53".parse().expect("ip")],
        };
        st.store(&path).expect("store");
        assert_eq!(State::load(&path).expect("load"), st);
        // Overwrite leaves no temporary file behind.
        st.store(&path).expect("store again");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("net.json")]);
    }

    #[test]
    fn corrupt_or_invalid_state_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("net.json");
        fs::write(&path, b"{not json").expect("write");
        assert!(matches!(State::load(&path), Err(NetError::Parse { .. })));
        fs::write(
            &path,
            br#"{"previous":{"mode":"static","address":"127.0.0.1","prefix":8}}"#,
        )
        .expect("write");
        assert!(matches!(State::load(&path), Err(NetError::Invalid(_))));
        fs::write(&path, vec![b' '; 70 * 1024]).expect("write");
        assert!(matches!(State::load(&path), Err(NetError::Parse { .. })));
    }
}
