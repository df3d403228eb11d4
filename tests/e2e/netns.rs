//! Two network namespaces joined by a veth pair, made (and removed) by the test itself, and
//! `ivmd` running inside one of them. Nothing here touches the machine's own interfaces: the
//! DHCP server, its rogue-server probe and every broadcast stay on the pair.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness;

/// Runs `ip ARGS`; the error carries ip's own message.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `prog` run inside the namespace `ns` (`ip netns exec` execs it: its pid is `prog`'s).
pub fn in_ns(ns: &str, prog: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, prog]);
    c
}

/// A server namespace and a client namespace, joined by a veth pair.
pub struct Segment {
    /// Where the box runs.
    pub server_ns: String,
    /// Where the phones (DHCP clients, TFTP and SIP peers) run.
    pub client_ns: String,
    /// The server's end of the pair.
    pub server_if: String,
    /// The client's end of the pair.
    pub client_if: String,
}

impl Segment {
    /// A new segment: `server_cidr` (`10.77.0.1/24`) on the server's end, the client's end
    /// up with `client_mac` and no address (its DHCP client asks for one). `None`, through
    /// [`harness::cannot_run`], where namespaces cannot be made (not root).
    pub fn new(tag: &str, server_cidr: &str, client_mac: &str) -> Option<Segment> {
        let id = std::process::id() % 100_000;
        let s = Segment {
            server_ns: format!("ivm-s{tag}-{id}"),
            client_ns: format!("ivm-c{tag}-{id}"),
            server_if: format!("ivs{tag}{id}"),
            client_if: format!("ivc{tag}{id}"),
        };
        if let Err(e) = ip(&["netns", "add", &s.server_ns]) {
            harness::cannot_run(&format!("cannot create a network namespace here ({e})"));
            return None;
        }
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &s.client_ns])?;
            ip(&[
                "link",
                "add",
                &s.server_if,
                "netns",
                &s.server_ns,
                "type",
                "veth",
                "peer",
                "name",
                &s.client_if,
                "netns",
                &s.client_ns,
            ])?;
            let sx = |args: &[&str]| ip(&[&["-n", s.server_ns.as_str()], args].concat());
            let cx = |args: &[&str]| ip(&[&["-n", s.client_ns.as_str()], args].concat());
            sx(&["link", "set", "lo", "up"])?;
            sx(&["addr", "add", server_cidr, "dev", &s.server_if])?;
            sx(&["link", "set", &s.server_if, "up"])?;
            cx(&["link", "set", "lo", "up"])?;
            cx(&["link", "set", &s.client_if, "address", client_mac])?;
            cx(&["link", "set", &s.client_if, "up"])?;
            Ok(())
        };
        if let Err(e) = setup() {
            harness::cannot_run(&format!("cannot set up the veth pair ({e})"));
            return None;
        }
        Some(s)
    }

    /// `prog` run inside the client namespace.
    pub fn in_client(&self, prog: &str) -> Command {
        in_ns(&self.client_ns, prog)
    }

    /// busybox `udhcpc` in the client namespace on the client's end, for one lease and out
    /// (`-f -q -n`, 4 tries 2 s apart), with `extra` options and `script` as its hook.
    pub fn udhcpc(&self, extra: &[&str], script: &Path) -> Command {
        let mut c = self.in_client("udhcpc");
        c.args([
            "-f",
            "-q",
            "-n",
            "-t",
            "4",
            "-T",
            "2",
            "-i",
            &self.client_if,
        ])
        .args(extra)
        .arg("-s")
        .arg(script);
        c
    }

    /// `prog` run inside the server namespace.
    pub fn in_server(&self, prog: &str) -> Command {
        in_ns(&self.server_ns, prog)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.client_ns]);
        let _ = ip(&["netns", "del", &self.server_ns]);
    }
}

/// `ivmd run` inside a namespace (optionally through a wrapper such as `setpriv`); killed
/// on drop.
pub struct NsBox {
    child: Child,
    /// The `ivmd: ready ...` line.
    pub ready: String,
    /// Every stdout line up to and including the ready line.
    pub stdout: Vec<String>,
    log: PathBuf,
}

impl NsBox {
    /// Starts `ivmd --config <data>.toml --data <data> run RUN_ARGS` in `ns`, through
    /// `wrapper` (a program and its arguments, put before `ivmd`) when not empty; waits
    /// (bounded) for its ready line.
    pub fn start(ns: &str, data: &Path, toml: &str, wrapper: &[&str], run_args: &[&str]) -> NsBox {
        let config = data.with_extension("toml");
        std::fs::write(&config, toml).expect("config");
        let log = data.with_extension("log");
        let in_ns = [&["ip", "netns", "exec", ns], wrapper].concat();
        let mut child = harness::ivmd_run(
            &in_ns,
            Some(&config),
            data,
            run_args,
            "info,ivm_dhcpd=debug",
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn ivmd");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut ready = String::new();
        let mut stdout = Vec::new();
        while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            stdout.push(l.clone());
            if l.starts_with("ivmd: ready") {
                ready = l;
                break;
            }
        }
        let b = NsBox {
            child,
            ready,
            stdout,
            log,
        };
        assert!(!b.ready.is_empty(), "ivmd not ready: {}", b.log());
        b
    }

    /// The box's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id of the process the namespace wrapper started: `ip netns exec` and
    /// `setpriv` both exec, so it is ivmd's own.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NsBox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = harness::wait_bounded(&mut self.child, Duration::from_secs(10));
    }
}
