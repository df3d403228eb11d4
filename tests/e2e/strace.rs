//! Runs the real `ivmd` under `strace` and reads the trace back as a list of system calls in
//! the order they happened, so a test can prove the order of fsyncs, renames and acks.
//!
//! # Why the line order of one trace file is a proof of order
//! With `-f`, one strace process handles every thread's syscall stops and writes one line
//! per event: a complete call, or an `<unfinished ...>` entry and a later `<... resumed>`
//! exit. A thread stopped at a syscall's exit runs on only after strace has written that
//! exit line. So if call B's entry line comes after call A's exit line, B may have waited for
//! A; if B's entry line comes *before* A's exit line, B was entered while A had not returned
//! yet, and cannot have depended on A's result. "A returned before B started" is therefore
//! `a.end < b.begin`, with line numbers.
//!
//! # What is traced
//! Syscalls that sync (`fsync`, `fdatasync`, and `sync_file_range`, `syncfs`, `msync` so a
//! non-durable flush would be seen), that rename, and that write to files or sockets. `-yy`
//! annotates each descriptor with its path or socket endpoints; `-s 1048576` prints whole
//! buffers, so a record or a reply can be recognised by its bytes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Syscalls traced: syncs, renames, writes to files and sockets. `?` tells strace not to
/// refuse a name this architecture lacks (`rename` does not exist on arm64).
const TRACED: &str = "trace=?fsync,?fdatasync,?sync_file_range,?syncfs,?msync,\
?rename,?renameat,?renameat2,\
?write,?writev,?pwrite64,?pwritev,?pwritev2,?sendto,?sendmsg,?sendmmsg";

/// Calls that make data durable. `sync_file_range` is not one of them: it neither writes
/// the file's metadata nor flushes the drive's cache.
pub const SYNCS: &[&str] = &["fsync", "fdatasync"];
/// Calls that write a buffer through a descriptor.
pub const WRITES: &[&str] = &[
    "write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg", "sendmmsg",
];
/// Calls that rename.
pub const RENAMES: &[&str] = &["rename", "renameat", "renameat2"];

/// Panics unless `strace` is installed: without it nothing here can be proven, and a skip
/// would hide that (scripts/setup --tests installs it).
pub fn require() {
    crate::harness::require_tool("strace");
}

/// The command to put before `ivmd` so that it runs traced into `out`.
pub fn wrapper(out: &Path) -> Vec<String> {
    [
        "strace",
        "-f",
        // Trace only the syscalls named: the others do not stop the process at all.
        "--seccomp-bpf",
        "-ttt",
        "-yy",
        "-s",
        "1048576",
        "-e",
        TRACED,
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

/// One quoted buffer of a call, with the name of the field it was printed in
/// (`iov_base` for the pieces of a `writev`/`sendmsg`; empty for a plain argument).
#[derive(Debug, Clone)]
pub struct Str {
    /// Field name before `=`, or empty.
    pub key: String,
    /// The bytes, C escapes decoded.
    pub bytes: Vec<u8>,
    /// strace cut it (it printed `...` after the quote).
    pub truncated: bool,
}

/// One system call, from entry to exit.
#[derive(Debug, Clone)]
pub struct Call {
    /// Thread id.
    pub pid: u32,
    /// Line number (1-based) of its entry.
    pub begin: usize,
    /// Line number of its exit (the same line unless it was `<unfinished ...>`).
    pub end: usize,
    /// Syscall name.
    pub name: String,
    /// What the first argument's descriptor is (`-yy`): a path, or `TCP:[a->b]`.
    pub fd: Option<String>,
    /// Every quoted argument, in order.
    pub strings: Vec<Str>,
    /// The return value; `None` when the process went away inside the call (`= ?`).
    pub ret: Option<i64>,
    /// The call as strace printed it (entry and exit joined), for messages.
    pub text: String,
}

impl Call {
    /// Whether this is one of `names`.
    pub fn is(&self, names: &[&str]) -> bool {
        names.contains(&self.name.as_str())
    }

    /// Whether it returned success (0 or a byte count).
    pub fn ok(&self) -> bool {
        self.ret.is_some_and(|r| r >= 0)
    }

    /// Whether its descriptor is `path`.
    pub fn on(&self, path: &Path) -> bool {
        self.fd.as_deref() == path.to_str()
    }

    /// Whether its descriptor is a TCP or UDP socket.
    pub fn on_socket(&self) -> bool {
        self.fd
            .as_deref()
            .is_some_and(|f| f.starts_with("TCP") || f.starts_with("UDP"))
    }

    /// The buffer written: the one string of `write`/`pwrite64`/`sendto`, or the `iov_base`
    /// pieces of a vectored call, joined.
    pub fn data(&self) -> Vec<u8> {
        if matches!(self.name.as_str(), "write" | "pwrite64" | "sendto") {
            return self
                .strings
                .first()
                .map(|s| s.bytes.clone())
                .unwrap_or_default();
        }
        self.strings
            .iter()
            .filter(|s| s.key == "iov_base")
            .flat_map(|s| s.bytes.iter().copied())
            .collect()
    }

    /// Whether the written buffer contains `needle`.
    pub fn writes(&self, needle: &[u8]) -> bool {
        self.is(WRITES) && contains(&self.data(), needle)
    }

    /// One line for a message: where, who, what (long buffers shortened).
    pub fn short(&self) -> String {
        let mut t: String = self.text.chars().take(160).collect();
        if t.len() < self.text.len() {
            t.push_str(" ...");
        }
        if self.begin == self.end {
            format!("line {} [tid {}] {t}", self.begin, self.pid)
        } else {
            format!("lines {}-{} [tid {}] {t}", self.begin, self.end, self.pid)
        }
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A parsed trace: every completed call, ordered by entry.
#[derive(Debug, Default)]
pub struct Trace {
    /// The calls.
    pub calls: Vec<Call>,
}

impl Trace {
    /// Parses strace output written with `-f` (and optionally `-ttt`, `-yy`).
    pub fn parse(text: &str) -> Trace {
        let mut calls = Vec::new();
        // An entry waiting for its exit, per thread: (line, name, text so far).
        let mut open: HashMap<u32, (usize, String, String)> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let Some((pid, rest)) = split_prefix(line) else {
                continue;
            };
            if let Some(after) = rest.strip_prefix("<... ") {
                let Some((name, tail)) = after.split_once(" resumed>") else {
                    continue;
                };
                match open.remove(&pid) {
                    Some((begin, opened, head)) if opened == name => {
                        let tail = tail.trim_start_matches(" <unavailable>");
                        calls.push(call(pid, begin, n, name, &format!("{head}{tail}")));
                    }
                    _ => {}
                }
                continue;
            }
            let Some((name, body)) = rest.split_once('(') else {
                continue;
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
                let head = &head[name.len() + 1..];
                open.insert(pid, (n, name.to_owned(), head.to_owned()));
            } else {
                calls.push(call(pid, n, n, name, body));
            }
        }
        calls.sort_by_key(|c| c.begin);
        Trace { calls }
    }

    /// Reads and parses a trace file.
    pub fn read(path: &Path) -> Trace {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Trace::parse(&String::from_utf8_lossy(&text))
    }

    /// Calls matching `f`.
    pub fn find<'a>(&'a self, f: impl Fn(&Call) -> bool + 'a) -> impl Iterator<Item = &'a Call> {
        self.calls.iter().filter(move |c| f(c))
    }
}

/// `PID [TIMESTAMP] REST` or `[pid PID] [TIMESTAMP] REST`.
fn split_prefix(line: &str) -> Option<(u32, &str)> {
    let line = line.trim_start();
    let (pid, rest) = if let Some(r) = line.strip_prefix("[pid") {
        let (p, r) = r.trim_start().split_once(']')?;
        (p.trim().parse().ok()?, r.trim_start())
    } else {
        let (p, r) = line.split_once(char::is_whitespace)?;
        (p.parse().ok()?, r.trim_start())
    };
    // `-ttt`: seconds.micros before the call.
    let rest = match rest.split_once(' ') {
        Some((t, r)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            r.trim_start()
        }
        _ => rest,
    };
    Some((pid, rest))
}

/// Builds a call from its name and everything after `name(`.
fn call(pid: u32, begin: usize, end: usize, name: &str, body: &str) -> Call {
    let (strings, outside) = strings_of(body);
    let ret = outside.rsplit_once(") = ").and_then(|(_, r)| {
        r.split_whitespace()
            .next()
            .and_then(|v| v.parse::<i64>().ok())
    });
    Call {
        pid,
        begin,
        end,
        name: name.to_owned(),
        fd: fd_annotation(&outside),
        strings,
        ret,
        text: format!("{name}({body}"),
    }
}

/// Splits `body` into its quoted strings (decoded) and the text outside them.
fn strings_of(body: &str) -> (Vec<Str>, String) {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut outside = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            let start = i;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            outside.push_str(&body[start..i]);
            continue;
        }
        let key = outside
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '='))
            .next()
            .and_then(|k| k.strip_suffix('='))
            .unwrap_or("")
            .to_owned();
        let (bytes, next) = unquote(b, i + 1);
        i = next;
        let truncated = b[i..].starts_with(b"...");
        if truncated {
            i += 3;
        }
        out.push(Str {
            key,
            bytes,
            truncated,
        });
    }
    (out, outside)
}

/// Decodes a C string literal as strace prints it, from `i` (just after the opening quote);
/// returns the bytes and the index after the closing quote.
fn unquote(b: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut v = Vec::new();
    while i < b.len() {
        match b[i] {
            b'"' => return (v, i + 1),
            b'\\' if i + 1 < b.len() => {
                i += 1;
                match b[i] {
                    b'n' => v.push(b'\n'),
                    b't' => v.push(b'\t'),
                    b'r' => v.push(b'\r'),
                    b'v' => v.push(0x0b),
                    b'f' => v.push(0x0c),
                    b'x' => {
                        let hex = b.get(i + 1..i + 3).unwrap_or(b"00");
                        let s = std::str::from_utf8(hex).unwrap_or("00");
                        v.push(u8::from_str_radix(s, 16).unwrap_or(0));
                        i += 2;
                    }
                    b'0'..=b'7' => {
                        let mut n: u32 = 0;
                        let mut digits = 0;
                        while digits < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                            n = n * 8 + u32::from(b[i] - b'0');
                            i += 1;
                            digits += 1;
                        }
                        v.push(n as u8);
                        continue;
                    }
                    other => v.push(other),
                }
                i += 1;
            }
            c => {
                v.push(c);
                i += 1;
            }
        }
    }
    (v, i)
}

/// The `-yy` annotation of the first argument: `18</a/b>` gives `/a/b`,
/// `17<TCP:[127.0.0.1:80->127.0.0.1:5000]>` gives `TCP:[...]` (its `->` is not the end).
fn fd_annotation(outside: &str) -> Option<String> {
    let rest = match outside.strip_prefix("AT_FDCWD") {
        Some(r) => r,
        None => {
            let r = outside.strip_prefix('-').unwrap_or(outside);
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &r[digits..]
        }
    };
    let inner = rest.strip_prefix('<')?;
    let b = inner.as_bytes();
    let end = (0..b.len()).find(|&j| {
        b[j] == b'>' && matches!(b.get(j + 1), None | Some(b',') | Some(b')') | Some(b' '))
    })?;
    Some(inner[..end].to_owned())
}

/// `ivmd` running under strace: ends it cleanly, waits for the trace to be complete, and
/// kills it if the test fails first (strace does not take its tracee down when it is killed).
pub struct Traced {
    /// ivmd's pid (strace's child).
    pub pid: u32,
    /// The trace file.
    pub out: PathBuf,
    done: bool,
}

impl Traced {
    /// Finds strace's child, bounded: ivmd was forked before it printed its ready line.
    pub fn of(strace_pid: u32, out: &Path) -> Traced {
        let children = format!("/proc/{strace_pid}/task/{strace_pid}/children");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
                return Traced {
                    pid,
                    out: out.to_owned(),
                    done: false,
                };
            }
            assert!(
                Instant::now() < deadline,
                "strace (pid {strace_pid}) has no child process"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to ivmd, then waits (bounded) until strace has written its exit, and parses.
    pub fn finish(mut self) -> Trace {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let exited = [format!("{} ", self.pid), format!("[pid {}]", self.pid)];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            let ended = text.lines().any(|l| {
                exited.iter().any(|p| l.starts_with(p.as_str()))
                    && (l.contains("+++ exited with") || l.contains("+++ killed by"))
            });
            if ended {
                self.done = true;
                return Trace::parse(&text);
            }
            assert!(
                Instant::now() < deadline,
                "ivmd (pid {}) did not exit within 30 s of SIGTERM",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Only if the pid is still ivmd (not a reused pid).
        let cmd = std::fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
        if contains(&cmd, b"ivmd") {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_and_resumed_calls_are_joined_per_thread() {
        let t = Trace::parse(
            "12656 1.0 fsync(18</d/tmp/ab> <unfinished ...>\n\
             12650 1.1 write(2</d.log>, \"x\\n\", 2) = 2\n\
             12656 1.2 <... fsync resumed>) = 0\n\
             12656 1.3 rename(\"/d/tmp/ab\", \"/d/blobs/ab/ab\") = 0\n\
             12656 1.4 +++ exited with 0 +++\n",
        );
        assert_eq!(t.calls.len(), 3);
        let f = &t.calls[0];
        assert_eq!((f.name.as_str(), f.begin, f.end), ("fsync", 1, 3));
        assert_eq!(f.fd.as_deref(), Some("/d/tmp/ab"));
        assert_eq!(f.ret, Some(0));
        assert_eq!(t.calls[1].data(), b"x\n");
        let r = &t.calls[2];
        assert_eq!(r.strings[0].bytes, b"/d/tmp/ab");
        assert_eq!(r.strings[1].bytes, b"/d/blobs/ab/ab");
    }

    #[test]
    fn escapes_sockets_and_vectored_writes() {
        let t = Trace::parse(concat!(
            "7 writev(17<TCP:[127.0.0.1:80->127.0.0.1:41712]>, [{iov_base=\"HTTP/1.1 201 Created\\r\\n\", iov_len=22}, ",
            "{iov_base=\"{\\\"id\\\":\\\"a\\\"}\", iov_len=10}], 2) = 32\n",
            "7 pwrite64(3</d/ivm.redb>, \"\\1\\377\\0000\\33\\x41\\t\"..., 4096, 0) = 4096\n",
            "8 sendto(9<UDP:[10.0.0.1:67]>, \"\\2\", 1, 0, {sa_family=AF_INET, sin_port=htons(68), sin_addr=inet_addr(\"255.255.255.255\")}, 16) = 1\n",
            "8 fdatasync(3</d/ivm.redb>) = ?\n",
        ));
        let w = &t.calls[0];
        assert_eq!(w.fd.as_deref(), Some("TCP:[127.0.0.1:80->127.0.0.1:41712]"));
        assert!(w.on_socket());
        assert_eq!(w.data(), b"HTTP/1.1 201 Created\r\n{\"id\":\"a\"}");
        let p = &t.calls[1];
        assert_eq!(p.data(), [1, 0xff, 0, b'0', 0x1b, b'A', b'\t']);
        assert!(p.strings[0].truncated);
        assert_eq!(
            t.calls[2].data(),
            [2],
            "the address is not part of the datagram"
        );
        assert_eq!(
            t.calls[3].ret, None,
            "`= ?`: the process went away inside the call"
        );
        assert!(!t.calls[3].ok());
    }

    #[test]
    fn bracketed_pid_prefix_and_an_exit_without_entry() {
        let t = Trace::parse(
            "[pid  42] fdatasync(5</x/dhcp-leases.jsonl>) = 0\n\
             <... write resumed>) = 1\n\
             43 <... write resumed>) = 1\n",
        );
        assert_eq!(t.calls.len(), 1);
        assert_eq!(t.calls[0].pid, 42);
        assert!(t.calls[0].on(Path::new("/x/dhcp-leases.jsonl")));
    }
}
