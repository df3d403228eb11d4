use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ivm_provision::Mac;
use serde::{Deserialize, Serialize};

use crate::lease::{Lease, LeaseState, LeaseStore, StoreError};

/// Leases as an append-only JSON-lines journal, `fdatasync`ed before every commit returns
/// (or, in a group commit, once for the whole batch in [`LeaseStore::sync`]).
///
/// Why not redb: a few hundred tiny records, written once per lease change; a journal is
/// easy to read with `cat` on a support call. Opening replays it (a torn last line from a
/// power cut mid-append is dropped: its ACK was never sent) and rewrites it compacted
/// through a temporary file, `fsync` and `rename`.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    file: File,
    leases: BTreeMap<Ipv4Addr, Lease>,
    /// Lines of the open group commit, if any.
    pending: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Put {
        ip: Ipv4Addr,
        client: String,
        mac: String,
        expires: u64,
        state: String,
    },
    Del {
        ip: Ipv4Addr,
    },
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 512 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Record {
    fn put(l: &Lease) -> Self {
        Record::Put {
            ip: l.ip,
            client: hex(&l.client),
            mac: l.mac.to_string(),
            expires: l.expires,
            state: match l.state {
                LeaseState::Bound => "bound",
                LeaseState::Released => "released",
                LeaseState::Declined => "declined",
            }
            .to_owned(),
        }
    }
}

impl FileStore {
    /// Opens (creating) the journal at `path`, replays and compacts it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut leases = BTreeMap::new();
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            let lines: Vec<String> = reader.lines().collect::<Result<_, _>>()?;
            let n = lines.len();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let corrupt = |reason: String| StoreError::Corrupt {
                    line: i + 1,
                    reason,
                };
                let rec: Record = match serde_json::from_str(line) {
                    Ok(r) => r,
                    // A torn final append: the commit never returned, so nothing was acked.
                    Err(_) if i + 1 == n => break,
                    Err(e) => return Err(corrupt(e.to_string())),
                };
                match rec {
                    Record::Del { ip } => {
                        leases.remove(&ip);
                    }
                    Record::Put {
                        ip,
                        client,
                        mac,
                        expires,
                        state,
                    } => {
                        let state = match state.as_str() {
                            "bound" => LeaseState::Bound,
                            "released" => LeaseState::Released,
                            "declined" => LeaseState::Declined,
                            s => return Err(corrupt(format!("state {s:?}"))),
                        };
                        let client = unhex(&client).ok_or_else(|| corrupt("client".into()))?;
                        let mac = Mac::parse_hex(&mac).map_err(|e| corrupt(e.to_string()))?;
                        leases.insert(
                            ip,
                            Lease {
                                ip,
                                client,
                                mac,
                                expires,
                                state,
                            },
                        );
                    }
                }
            }
        }
        let file = Self::compact(&path, &leases)?;
        Ok(Self {
            path,
            file,
            leases,
            pending: None,
        })
    }

    fn compact(path: &Path, leases: &BTreeMap<Ipv4Addr, Lease>) -> Result<File, StoreError> {
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        for l in leases.values() {
            let line = serde_json::to_string(&Record::put(l)).map_err(std::io::Error::other)?;
            writeln!(f, "{line}")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(OpenOptions::new().append(true).open(path)?)
    }

    fn append(&mut self, rec: &Record) -> Result<(), StoreError> {
        let mut line = serde_json::to_string(rec).map_err(std::io::Error::other)?;
        line.push('\n');
        if let Some(pending) = self.pending.as_mut() {
            // Group commit: written and synced once, in `sync`.
            pending.extend_from_slice(line.as_bytes());
            return Ok(());
        }
        self.write_synced(line.as_bytes())
    }

    /// Appends `bytes` and `fdatasync`s. On failure the journal is cut back to its length
    /// before the append (best effort), so a half-written line never sits in the middle.
    fn write_synced(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let before = self.file.metadata()?.len();
        let r = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = r {
            let _ = self.file.set_len(before);
            return Err(e.into());
        }
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl LeaseStore for FileStore {
    fn load(&mut self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.leases.values().cloned().collect())
    }

    fn commit(&mut self, lease: &Lease) -> Result<(), StoreError> {
        self.append(&Record::put(lease))?;
        self.leases.insert(lease.ip, lease.clone());
        Ok(())
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Result<(), StoreError> {
        self.append(&Record::Del { ip })?;
        self.leases.remove(&ip);
        Ok(())
    }

    fn begin_batch(&mut self) {
        if self.pending.is_none() {
            self.pending = Some(Vec::new());
        }
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        match self.pending.take() {
            Some(p) if !p.is_empty() => self.write_synced(&p),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn survives_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.jsonl");
        let mac = Mac::parse("001565000001").unwrap();
        let l = |ip: [u8; 4]| Lease {
            ip: ip.into(),
            client: vec![1, 0, 0x15],
            mac,
            expires: 99,
            state: LeaseState::Bound,
        };
        {
            let mut s = FileStore::open(&path).unwrap();
            s.commit(&l([10, 0, 0, 10])).unwrap();
            s.commit(&l([10, 0, 0, 11])).unwrap();
            s.remove([10, 0, 0, 10].into()).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"op\":\"put\",\"ip\"")
            .unwrap();
        let mut s = FileStore::open(&path).unwrap();
        assert_eq!(s.load().unwrap(), vec![l([10, 0, 0, 11])]);
        std::fs::write(&path, "garbage\n{\"op\":\"del\",\"ip\":\"10.0.0.1\"}\n").unwrap();
        assert!(matches!(
            FileStore::open(&path),
            Err(StoreError::Corrupt { line: 1, .. })
        ));
    }
}
