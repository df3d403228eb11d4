//! The order docs/storage.md promises, checked on a syscall trace of the real `ivmd`:
//!
//! - a message: for each of its blobs, `write(tmp/<id>)` → `fsync(tmp/<id>)` →
//!   `rename(tmp/<id>, blobs/xx/<id>)` → `fsync(blobs/xx/)` and `fsync(tmp/)`; then the
//!   record written to `ivm.redb` → `fdatasync/fsync(ivm.redb)` (redb's commit); then, and
//!   only then, every ack (the HTTP 201, the WebSocket `ack`, the push to a recipient);
//! - a DHCP lease: its line written to `dhcp-leases.jsonl` → `fdatasync/fsync` of it → the
//!   DHCPACK that hands the address out.
//!
//! "A before B" means A returned before B was entered (see `strace.rs`). The blobs are tied
//! to the message by the database's own bytes: the record that redb writes names them. Each
//! check says, when it fails, which step is missing and what a power cut would then lose.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;

use crate::strace::{contains, Call, Trace, RENAMES, SYNCS, WRITES};

/// The calls that prove the order, one line each, for the test's output.
#[derive(Debug, Default)]
pub struct Proof {
    /// `what: the call`.
    pub steps: Vec<String>,
}

impl Proof {
    fn step(&mut self, what: &str, c: &Call) {
        self.steps.push(format!("{what}: {}", c.short()));
    }
}

impl std::fmt::Display for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.steps {
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}

fn syncs<'a>(trace: &'a Trace, path: &'a Path) -> impl Iterator<Item = &'a Call> {
    trace.find(move |c| c.is(SYNCS) && c.on(path))
}

/// Says which non-durable flushes were seen on `path`, if any (they do not count).
fn weak_flushes(trace: &Trace, path: &Path) -> String {
    let weak: Vec<String> = trace
        .find(|c| c.is(&["sync_file_range", "msync", "syncfs"]) && c.on(path))
        .map(|c| c.short())
        .collect();
    if weak.is_empty() {
        String::new()
    } else {
        format!(
            "; seen instead (NOT durable: no metadata, no drive cache flush): {}",
            weak.join(", ")
        )
    }
}

/// The ids (hyphenated) of the blobs that message `msg_id`'s record names (its audio and
/// attachments), read from the bytes redb wrote. A leaf page holds several records, so the
/// one JSON value starting at `{"id":"<msg_id>"` is parsed, not the whole buffer.
pub fn record_blobs(written: &[u8], msg_id: &str) -> Result<Vec<String>, String> {
    let start = format!("{{\"id\":\"{msg_id}\"");
    let at = written
        .windows(start.len())
        .position(|w| w == start.as_bytes())
        .ok_or_else(|| format!("no record of {msg_id} in the write"))?;
    let record: serde_json::Value = serde_json::Deserializer::from_slice(&written[at..])
        .into_iter()
        .next()
        .ok_or("empty record")?
        .map_err(|e| format!("the record of {msg_id} is not JSON: {e}"))?;
    let id = |v: &serde_json::Value| v["id"].as_str().map(str::to_owned);
    let mut ids: Vec<String> = id(&record["audio"]).into_iter().collect();
    for a in record["attachments"].as_array().into_iter().flatten() {
        ids.extend(id(&a["blob"]));
    }
    Ok(ids)
}

/// Proves that message `msg_id` (its blobs, then its record) was durable in `data` before
/// each of `acks` (a name and the socket write) was sent.
pub fn message_durable_before_acks(
    trace: &Trace,
    data: &Path,
    msg_id: &str,
    acks: &[(&str, &Call)],
) -> Result<Proof, String> {
    let mut proof = Proof::default();
    let redb = data.join("ivm.redb");
    let needle = format!("{{\"id\":\"{msg_id}\",\"sender\"");
    let record = trace
        .find(|c| c.is(WRITES) && c.ok() && c.on(&redb) && c.writes(needle.as_bytes()))
        .next()
        .ok_or_else(|| {
            format!(
                "message {msg_id}: no write of its record to {} was traced: the commit never \
                 reached the file (a redb commit with `Durability::None` stays in memory)",
                redb.display()
            )
        })?;
    if record.strings.iter().any(|s| s.truncated) {
        return Err(format!(
            "message {msg_id}: strace cut the record's write short ({}); raise -s",
            record.short()
        ));
    }
    let blobs = record_blobs(&record.data(), msg_id)?;
    if blobs.is_empty() {
        return Err(format!(
            "message {msg_id}: its record names no blob: {}",
            record.short()
        ));
    }
    let tmp = data.join("tmp");
    for id in &blobs {
        let hex = id.replace('-', "");
        let tmp_file = tmp.join(&hex);
        let dir = data.join("blobs").join(&hex[..2]);
        let dest = dir.join(&hex);
        let named = |c: &Call, i: usize, p: &Path| {
            c.strings.get(i).map(|s| s.bytes.as_slice()) == p.to_str().map(str::as_bytes)
        };
        let rename = trace
            .find(|c| c.is(RENAMES) && c.ok() && named(c, 0, &tmp_file) && named(c, 1, &dest))
            .next()
            .ok_or_else(|| {
                format!(
                    "blob {hex}: no rename of {} to {}",
                    tmp_file.display(),
                    dest.display()
                )
            })?;
        let last_write = trace
            .find(|c| c.is(WRITES) && c.on(&tmp_file) && c.end < rename.begin)
            .last()
            .ok_or_else(|| format!("blob {hex}: nothing was written to {}", tmp_file.display()))?;
        let file_sync = syncs(trace, &tmp_file)
            .find(|c| c.ok() && c.begin > last_write.end && c.end < rename.begin)
            .ok_or_else(|| {
                format!(
                    "blob {hex}: {} was not fsynced between its last write ({}) and its rename \
                     ({}): after a power cut the renamed file could be empty or short{}",
                    tmp_file.display(),
                    last_write.short(),
                    rename.short(),
                    weak_flushes(trace, &tmp_file)
                )
            })?;
        let dir_sync = syncs(trace, &dir)
            .find(|c| c.ok() && c.begin > rename.end && c.end < record.begin)
            .ok_or_else(|| {
                format!(
                    "blob {hex}: the folder {} was not fsynced after the rename ({}) and before \
                     the record naming the blob was written ({}): after a power cut the record \
                     could name a file that is not there{}",
                    dir.display(),
                    rename.short(),
                    record.short(),
                    weak_flushes(trace, &dir)
                )
            })?;
        let tmp_sync = syncs(trace, &tmp)
            .find(|c| c.ok() && c.begin > rename.end && c.end < record.begin)
            .ok_or_else(|| {
                format!(
                    "blob {hex}: {} was not fsynced after the rename ({}) and before the record \
                     was written ({}) (docs/storage.md: the old name must be gone durably)",
                    tmp.display(),
                    rename.short(),
                    record.short()
                )
            })?;
        proof.step(&format!("blob {hex} written"), last_write);
        proof.step("  fsync of the file", file_sync);
        proof.step("  renamed", rename);
        proof.step("  fsync of its folder", dir_sync);
        proof.step("  fsync of tmp/", tmp_sync);
    }
    let commit = syncs(trace, &redb)
        .find(|c| c.begin > record.end)
        .ok_or_else(|| {
            format!(
                "message {msg_id}: no fsync/fdatasync of ivm.redb after its record was written \
                 ({}): the commit is not durable{}",
                record.short(),
                weak_flushes(trace, &redb)
            )
        })?;
    if !commit.ok() {
        return Err(format!(
            "message {msg_id}: redb's sync failed: {}",
            commit.short()
        ));
    }
    proof.step("record written to ivm.redb", record);
    proof.step("commit: sync of ivm.redb", commit);
    for (what, ack) in acks {
        if ack.begin < commit.end {
            return Err(format!(
                "message {msg_id}: {what} ({}) was sent before ivm.redb's commit returned \
                 ({}): an ack for something a power cut can lose",
                ack.short(),
                commit.short()
            ));
        }
        proof.step(what, ack);
    }
    Ok(proof)
}

/// `(message type, yiaddr)` of a BOOTREPLY with the DHCP magic cookie and option 53.
pub fn dhcp_reply(p: &[u8]) -> Option<(u8, Ipv4Addr)> {
    if p.len() < 240 || p[0] != 2 || p[236..240] != [99, 130, 83, 99] {
        return None;
    }
    let yiaddr = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let mut i = 240;
    while i < p.len() {
        match p[i] {
            255 => break,
            0 => i += 1,
            code => {
                let len = usize::from(*p.get(i + 1)?);
                if code == 53 && len == 1 {
                    return Some((*p.get(i + 2)?, yiaddr));
                }
                i += 2 + len;
            }
        }
    }
    None
}

/// DHCPACK is message type 5.
pub const DHCPACK: u8 = 5;

/// Every DHCPACK the box sent, with the address it hands out.
pub fn dhcp_acks(trace: &Trace) -> Vec<(&Call, Ipv4Addr)> {
    trace
        .find(|c| c.is(WRITES) && c.on_socket() && c.ok())
        .filter_map(|c| match dhcp_reply(&c.data()) {
            Some((DHCPACK, ip)) => Some((c, ip)),
            _ => None,
        })
        .collect()
}

/// Proves that the lease `ack` hands out was written to `journal` and synced before `ack`
/// was sent.
pub fn lease_durable_before_ack(
    trace: &Trace,
    journal: &Path,
    ack: &Call,
) -> Result<Proof, String> {
    let (_, ip) = dhcp_reply(&ack.data()).ok_or("not a DHCP reply")?;
    let mut proof = Proof::default();
    let put = format!("\"op\":\"put\",\"ip\":\"{ip}\"");
    let write = trace
        .find(|c| {
            c.is(WRITES)
                && c.ok()
                && c.on(journal)
                && c.end < ack.begin
                && contains(&c.data(), put.as_bytes())
                && contains(&c.data(), b"\"state\":\"bound\"")
        })
        .last()
        .ok_or_else(|| {
            format!(
                "lease {ip}: no line binding it was written to {} before its DHCPACK ({})",
                journal.display(),
                ack.short()
            )
        })?;
    let sync = syncs(trace, journal)
        .find(|c| c.ok() && c.begin > write.end && c.end < ack.begin)
        .ok_or_else(|| {
            format!(
                "lease {ip}: {} was not fsynced between the lease's write ({}) and the DHCPACK \
                 ({}): after a power cut the box could hand the same address to another phone{}",
                journal.display(),
                write.short(),
                ack.short(),
                weak_flushes(trace, journal)
            )
        })?;
    proof.step(&format!("lease {ip} written"), write);
    proof.step("  fsync of dhcp-leases.jsonl", sync);
    proof.step("  DHCPACK sent", ack);
    Ok(proof)
}

#[cfg(test)]
mod tests {
    //! The checks against hand-made traces shaped like the real one: the right order passes,
    //! and each missing or late sync is caught with its own message.
    use super::*;

    const MSG: &str = "7ff07bb1-56dd-4329-ba38-d18b41ae5df6";
    const BLOB: &str = "ea90069c4cfb462fa497d076dfbd2cb5";

    fn good() -> Vec<String> {
        let rec = format!(
            "{{\\\"id\\\":\\\"{MSG}\\\",\\\"sender\\\":\\\"c\\\",\\\"audio\\\":{{\\\"id\\\":\\\"ea90069c-4cfb-462f-a497-d076dfbd2cb5\\\"}}}}"
        );
        vec![
            format!("10 1.0 write(18</d/tmp/{BLOB}>, \"IVMB\\1\", 5) = 5"),
            format!("10 1.1 fsync(18</d/tmp/{BLOB}> <unfinished ...>"),
            "11 1.2 write(2</d.log>, \"x\", 1) = 1".into(),
            "10 1.3 <... fsync resumed>) = 0".into(),
            format!("10 1.4 rename(\"/d/tmp/{BLOB}\", \"/d/blobs/ea/{BLOB}\") = 0"),
            "10 1.5 fsync(18</d/blobs/ea>) = 0".into(),
            "10 1.6 fsync(18</d/tmp>) = 0".into(),
            format!("10 1.7 pwrite64(3</d/ivm.redb>, \"\\1\\377{rec}\", 4096, 8192) = 4096"),
            "10 1.8 fdatasync(3</d/ivm.redb> <unfinished ...>".into(),
            "10 1.9 <... fdatasync resumed>) = 0".into(),
            format!("12 2.0 writev(17<TCP:[127.0.0.1:80->127.0.0.1:5]>, [{{iov_base=\"HTTP/1.1 201 Created\\r\\n\\r\\n\", iov_len=25}}, {{iov_base=\"{{\\\"id\\\":\\\"{MSG}\\\"}}\", iov_len=44}}], 2) = 69"),
        ]
    }

    fn check(lines: &[String]) -> Result<Proof, String> {
        let t = Trace::parse(&lines.join("\n"));
        let ack = t
            .find(|c| c.writes(b"HTTP/1.1 201"))
            .next()
            .expect("ack in the trace")
            .clone();
        message_durable_before_acks(&t, Path::new("/d"), MSG, &[("HTTP 201", &ack)])
    }

    fn without(lines: &[String], needle: &str) -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.contains(needle))
            .cloned()
            .collect()
    }

    #[test]
    fn the_promised_order_passes() {
        let p = check(&good()).expect("good order");
        assert_eq!(p.steps.len(), 8, "{p}");
    }

    #[test]
    fn only_the_message_s_own_record_names_its_blobs() {
        // A redb leaf page: binary around two records side by side.
        let mut page = vec![1u8, 0xff];
        page.extend_from_slice(
            br#"{"id":"m1","sender":"s","audio":{"id":"A"},"attachments":[{"name":"x","blob":{"id":"B"}}]}"#,
        );
        page.extend_from_slice(&[0, 7]);
        page.extend_from_slice(br#"{"id":"m2","sender":"s","audio":{"id":"C"},"attachments":[]}"#);
        page.extend_from_slice(&[0xff; 8]);
        assert_eq!(record_blobs(&page, "m1").expect("m1"), ["A", "B"]);
        assert_eq!(record_blobs(&page, "m2").expect("m2"), ["C"]);
        assert!(record_blobs(&page, "m3").is_err());
    }

    #[test]
    fn a_missing_file_fsync_is_caught() {
        let lines: Vec<String> = good()
            .into_iter()
            .filter(|l| !l.contains("fsync(18</d/tmp/") && !l.contains("fsync resumed"))
            .collect();
        let e = check(&lines).expect_err("caught");
        assert!(e.contains("was not fsynced between its last write"), "{e}");
    }

    #[test]
    fn a_missing_folder_fsync_is_caught() {
        let e = check(&without(&good(), "</d/blobs/ea>")).expect_err("caught");
        assert!(e.contains("the folder /d/blobs/ea was not fsynced"), "{e}");
    }

    #[test]
    fn a_missing_commit_sync_is_caught() {
        let e = check(&without(&good(), "fdatasync")).expect_err("caught");
        assert!(e.contains("no fsync/fdatasync of ivm.redb"), "{e}");
    }

    #[test]
    fn sync_file_range_does_not_count() {
        let mut lines = without(&good(), "fdatasync");
        lines.insert(
            8,
            "10 1.8 sync_file_range(3</d/ivm.redb>, 0, 0, SYNC_FILE_RANGE_WRITE) = 0".into(),
        );
        let e = check(&lines).expect_err("caught");
        assert!(
            e.contains("NOT durable") && e.contains("sync_file_range"),
            "{e}"
        );
    }

    #[test]
    fn an_ack_sent_while_the_commit_runs_is_caught() {
        let mut lines = good();
        let ack = lines.pop().expect("ack");
        lines.insert(9, ack); // between the fdatasync's entry and its exit
        let e = check(&lines).expect_err("caught");
        assert!(
            e.contains("was sent before ivm.redb's commit returned"),
            "{e}"
        );
    }

    /// A DHCPACK for 10.77.0.100 as strace prints it (octal escapes).
    fn ack_line(pid: u32, ts: &str) -> String {
        let mut p = vec![0u8; 240];
        p[0] = 2;
        p[16..20].copy_from_slice(&[10, 77, 0, 100]);
        p[236..240].copy_from_slice(&[99, 130, 83, 99]);
        p.extend_from_slice(&[53, 1, DHCPACK, 255]);
        let quoted: String = p
            .iter()
            .map(|b| match b {
                b'"' | b'\\' => format!("\\{}", *b as char),
                0x20..=0x7e => (*b as char).to_string(),
                // Three digits, so a digit after it is not read into it.
                _ => format!("\\{b:03o}"),
            })
            .collect();
        format!(
            "{pid} {ts} sendto(9<UDP:[10.77.0.1:67]>, \"{quoted}\", {}, 0, {{sa_family=AF_INET, sin_port=htons(68), sin_addr=inet_addr(\"255.255.255.255\")}}, 16) = {}",
            p.len(),
            p.len()
        )
    }

    fn lease(lines: &[String]) -> Result<Proof, String> {
        let t = Trace::parse(&lines.join("\n"));
        let acks = dhcp_acks(&t);
        assert_eq!(acks.len(), 1, "one DHCPACK parsed");
        assert_eq!(acks[0].1, Ipv4Addr::new(10, 77, 0, 100));
        lease_durable_before_ack(&t, Path::new("/d/dhcp-leases.jsonl"), acks[0].0)
    }

    fn lease_lines() -> Vec<String> {
        vec![
            "20 1.0 write(7</d/dhcp-leases.jsonl>, \"{\\\"op\\\":\\\"put\\\",\\\"ip\\\":\\\"10.77.0.100\\\",\\\"state\\\":\\\"bound\\\"}\\n\", 60) = 60".into(),
            "20 1.1 fdatasync(7</d/dhcp-leases.jsonl>) = 0".into(),
            ack_line(21, "1.2"),
        ]
    }

    #[test]
    fn a_lease_synced_before_its_ack_passes() {
        let p = lease(&lease_lines()).expect("good order");
        assert_eq!(p.steps.len(), 3, "{p}");
    }

    #[test]
    fn a_lease_not_synced_before_its_ack_is_caught() {
        let e = lease(&without(&lease_lines(), "fdatasync")).expect_err("caught");
        assert!(
            e.contains("was not fsynced between the lease's write"),
            "{e}"
        );
        let mut late = lease_lines();
        late.swap(1, 2);
        let e = lease(&late).expect_err("caught");
        assert!(
            e.contains("was not fsynced between the lease's write"),
            "{e}"
        );
    }
}
