//! Harness for the end-to-end tests: starts the real `ivmd` on ephemeral loopback ports with
//! a temporary data folder, and runs the real `ivm` against it.
//!
//! Every wait is bounded; every child is killed when its handle drops.
//!
//! # Missing tools
//! One rule for every test file: a peer tool is checked here, never with a test's own
//! `command -v`. [`available`] is for a test that may be skipped without the tool (it says
//! `SKIPPED`, and fails under `IVM_TEST_STRICT=1`, as CI runs); [`require_tool`] is for a
//! test that fails without it, strict or not.
//!
//! # Shared helpers beside this file
//! `netns.rs` (namespaces, veth pairs, a box inside one), `rest.rs` (the REST API and the
//! WebSocket as a raw client sees them), `sipp.rs` (SIPp runs), `rtp.rs` (speech as PCMU
//! RTP), `baresip.rs` (headless desk phones), `provision_peers.rs` (TFTP and provisioning
//! peers), `strace.rs` and `fsync_order.rs` (syscall traces).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Path of a binary built by this package.
pub fn ivmd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ivmd")
}

/// Path of the command-line client.
pub fn ivm_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ivm")
}

/// Whether missing peers must fail the run: `IVM_TEST_STRICT=1` (what `.ci/run` sets). A
/// test that prints "skipped" and passes hides a missing install step, so under CI every such
/// skip is a failure.
pub fn strict() -> bool {
    std::env::var("IVM_TEST_STRICT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Reports that a test cannot run here (`why`). Under [`strict`] this panics; otherwise it
/// prints the reason so a developer without the peer still sees what was not tested.
pub fn cannot_run(why: &str) {
    if strict() {
        panic!(
            "IVM_TEST_STRICT: {why} (scripts/setup --tests installs every peer; CI runs as root)"
        );
    }
    eprintln!("SKIPPED: {why} (scripts/setup --tests installs it)");
}

/// Whether `tool` is on the PATH (no report either way).
fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `tool` is on the PATH; a missing one goes through [`cannot_run`] (the caller
/// then returns: skipped, or failed under [`strict`]).
pub fn available(tool: &str) -> bool {
    let found = on_path(tool);
    if !found {
        cannot_run(&format!("`{tool}` is not installed"));
    }
    found
}

/// Fails the test unless `tool` is on the PATH, strict or not: for tests that never skip.
pub fn require_tool(tool: &str) {
    assert!(
        on_path(tool),
        "`{tool}` is not installed: this test needs it (scripts/setup --tests installs every peer)"
    );
}

/// `ivmd run` arguments that put every listener on an ephemeral loopback port.
pub const LOOPBACK_PORTS: [&str; 8] = [
    "--http",
    "127.0.0.1:0",
    "--https",
    "127.0.0.1:0",
    "--sip",
    "127.0.0.1:0",
    "--tftp",
    "127.0.0.1:0",
];

/// The box's `IVM_LOG`: `IVM_E2E_LOG` when a developer sets it, else `default`.
pub fn log_filter(default: &str) -> String {
    std::env::var("IVM_E2E_LOG").unwrap_or_else(|_| default.to_owned())
}

/// `WRAPPER... ivmd [--config CONFIG] --data DATA run RUN_ARGS`, with the box's own runtime
/// dir ([`runtime_dir`]) and `IVM_LOG` = `log`. The one place a test builds an `ivmd run`.
pub fn ivmd_run(
    wrapper: &[&str],
    config: Option<&Path>,
    data: &Path,
    run_args: &[&str],
    log: &str,
) -> Command {
    let mut cmd = match wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args).arg(ivmd_bin());
            c
        }
        None => Command::new(ivmd_bin()),
    };
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("--data")
        .arg(data)
        .arg("run")
        .args(run_args)
        .env("IVM_LOG", log)
        .env("IVM_RUNTIME_DIR", runtime_dir(data));
    cmd
}

/// Where a test box on `data` publishes its admin socket (`IVM_RUNTIME_DIR`): a folder of
/// its own beside the data folder, so tests never touch the real `/run/ivm` and parallel
/// boxes never meet there.
pub fn runtime_dir(data: &Path) -> PathBuf {
    data.with_extension("run")
}

/// A running box.
pub struct Server {
    child: Option<Child>,
    /// Data folder.
    pub data: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub http: String,
    /// `https://127.0.0.1:PORT`.
    pub https: String,
    /// `127.0.0.1:PORT` of the SIP service (UDP and TCP).
    pub sip: String,
    /// `127.0.0.1:PORT` of the TFTP service (phone provisioning).
    pub tftp: String,
    config: PathBuf,
    /// Lines the box printed on stdout (first-start password, ready line).
    pub stdout: Vec<String>,
    /// The `ivmd: ready ...` line.
    pub ready: String,
    lines: Option<mpsc::Receiver<String>>,
}

/// A temporary folder removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ivm-e2e-")
        .tempdir()
        .expect("tempdir")
}

impl Server {
    /// Starts a box on a new data folder inside `dir` with extra config TOML.
    pub fn start(dir: &Path, extra_toml: &str) -> Server {
        Self::start_on(&dir.join("data"), extra_toml)
    }

    /// Starts a box on `data` (kept from an earlier run or new).
    pub fn start_on(data: &Path, extra_toml: &str) -> Server {
        Self::start_wrapped(data, extra_toml, &[])
    }

    /// Starts a box inside the network namespace `ns` (which the test made, with `lo` up).
    pub fn start_in_netns(dir: &Path, extra_toml: &str, ns: &str) -> Server {
        Self::start_wrapped(&dir.join("data"), extra_toml, &["ip", "netns", "exec", ns])
    }

    /// Starts `ivmd` on `data`, run through `wrapper` (a command and its arguments, such as
    /// `strace ...`) when not empty.
    pub fn start_wrapped(data: &Path, extra_toml: &str, wrapper: &[&str]) -> Server {
        Self::start_with(
            data,
            extra_toml,
            wrapper,
            &LOOPBACK_PORTS,
            &log_filter("info,ivm_http=debug"),
        )
    }

    /// Starts `WRAPPER... ivmd --config <data>.toml --data DATA run RUN_ARGS` with `IVM_LOG` =
    /// `log`, and waits (bounded) for its ready line. Its stderr goes to `<data>.log`.
    pub fn start_with(
        data: &Path,
        extra_toml: &str,
        wrapper: &[&str],
        run_args: &[&str],
        log: &str,
    ) -> Server {
        let config = data.with_extension("toml");
        std::fs::write(&config, extra_toml).expect("write config");
        let mut child = ivmd_run(wrapper, Some(&config), data, run_args, log)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data.with_extension("log"))
                    .expect("log file"),
            ))
            .spawn()
            .expect("spawn ivmd");
        let out = child.stdout.take().expect("stdout");
        let rx = lines_of(out);
        let mut server = Server {
            child: Some(child),
            data: data.to_owned(),
            http: String::new(),
            https: String::new(),
            sip: String::new(),
            tftp: String::new(),
            config,
            stdout: Vec::new(),
            ready: String::new(),
            lines: Some(rx),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match server.lines.as_ref().expect("lines").recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("ivmd did not become ready; log:\n{}", server.log()),
            };
            server.stdout.push(line.clone());
            if let Some(rest) = line.strip_prefix("ivmd: ready ") {
                for part in rest.split_whitespace() {
                    if let Some(a) = part.strip_prefix("http=") {
                        server.http = format!("http://{a}");
                    } else if let Some(a) = part.strip_prefix("https=") {
                        server.https = format!("https://{a}");
                    } else if let Some(a) = part.strip_prefix("tftp=") {
                        server.tftp = a.to_owned();
                    } else if let Some(a) = part.strip_prefix("sip=") {
                        server.sip = a.to_owned();
                    }
                }
                server.ready = line;
                break;
            }
        }
        server
    }

    /// Waits (bounded) for a stdout line containing `needle`; returns it. Lines read on the
    /// way are kept in `stdout`.
    pub fn wait_stdout(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.as_ref().expect("lines").recv_timeout(left) {
                Ok(l) => {
                    self.stdout.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "ivmd printed no line with {needle:?} within {limit:?}; stdout: {:?}\nlog:\n{}",
                    self.stdout,
                    self.log()
                ),
            }
        }
    }

    /// The first-start admin's one-time password, from `<data>/first-start-password` (the
    /// box writes it there and on the panel, never to its output when that is not a terminal).
    pub fn first_admin_password(&self) -> String {
        let text = std::fs::read_to_string(self.data.join("first-start-password"))
            .expect("first-start password file");
        text.lines().next().unwrap_or_default().trim().to_owned()
    }

    /// The box's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// The box's log without terminal colour codes.
    pub fn plain_log(&self) -> String {
        let log = self.log();
        let mut plain = String::with_capacity(log.len());
        let mut chars = log.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' && chars.peek() == Some(&'[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Waits (at most `limit`) until the log holds `needle`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        until(limit, || self.log().contains(needle))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `ivmd user add` (goes through the running box's admin socket).
    pub fn add_user(&self, name: &str, extension: &str, password: &str) {
        add_user(&self.data, name, extension, password);
    }

    /// `name`'s SIP password, as `ivmd user show` prints it.
    pub fn sip_password(&self, name: &str) -> String {
        sip_password(&self.data, name)
    }

    /// SIGTERM and wait (bounded) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        wait_bounded(&mut child, Duration::from_secs(30))
            .expect("ivmd did not stop within 30 s after SIGTERM")
    }

    /// SIGKILL: a crash or power cut, as far as the process can tell.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the box's log for the post-mortem (the temporary folder goes away).
            let keep = std::env::temp_dir().join("ivm-e2e-failed-logs");
            let _ = std::fs::create_dir_all(&keep);
            let name = format!(
                "ivmd-{}.log",
                std::process::id() ^ (self.http.len() as u32) ^ rand_suffix()
            );
            let _ = std::fs::write(keep.join(name), self.log());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// The lines a child prints, read on a thread of their own so its pipe never fills.
fn lines_of(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a child at most `limit`.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `ivmd --data DATA args...` (a stopped box's data folder, or through the running box).
pub fn ivmd(data: &Path, args: &[&str]) -> Output {
    run_bounded(
        Command::new(ivmd_bin()).arg("--data").arg(data).args(args),
        Duration::from_secs(60),
    )
}

/// `ivmd user add NAME --extension EXT --password PW` on `data` (through the running box, or
/// on the stopped box's folder), asserted to succeed.
pub fn add_user(data: &Path, name: &str, extension: &str, password: &str) {
    user_add(data, name, extension, password, false);
}

/// [`add_user`] with `--admin`.
pub fn add_admin(data: &Path, name: &str, extension: &str, password: &str) {
    user_add(data, name, extension, password, true);
}

fn user_add(data: &Path, name: &str, extension: &str, password: &str, admin: bool) {
    let mut args = vec![
        "user",
        "add",
        name,
        "--extension",
        extension,
        "--password",
        password,
    ];
    if admin {
        args.push("--admin");
    }
    let out = ivmd(data, &args);
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `name`'s SIP password, as `ivmd user show` on `data` prints it.
pub fn sip_password(data: &Path, name: &str) -> String {
    let out = ivmd(data, &["user", "show", name]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "user show {name}: {}", text(&out));
    assert!(shown.contains("SIP user:"), "{shown}");
    shown
        .lines()
        .find_map(|l| l.strip_prefix("SIP password:").map(|p| p.trim().to_owned()))
        .unwrap_or_else(|| panic!("no SIP password in {shown}"))
}

/// A child's stdout and stderr, one after the other (for messages and `contains` checks).
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A child's stdout and stderr, apart.
pub fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `ivm` with `IVM_HOME` = `home` (not created here) and none of the variables it reads from
/// the test's environment: what it does then comes from its arguments alone.
pub fn bare_ivm(home: &Path) -> Command {
    let mut c = Command::new(ivm_bin());
    isolate_ivm(&mut c, home);
    c
}

/// Gives `cmd` (an `ivm`, or a program that runs one) `IVM_HOME` = `home` and removes `HOME`
/// and every `IVM_*` variable `ivm` reads.
pub fn isolate_ivm<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env("IVM_HOME", home).env_remove("HOME");
    for var in [
        "IVM_SERVER",
        "IVM_USER",
        "IVM_PASSWORD",
        "IVM_CACERT",
        "IVM_NEW_PASSWORD",
        "IVM_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Polls `f` every 100 ms until it holds (`true`) or `limit` passes (`false`).
pub fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// VmRSS of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The port of `addr` (`127.0.0.1:8080`, `https://127.0.0.1:8443`).
pub fn port(addr: &str) -> String {
    addr.rsplit(':').next().expect("port").to_owned()
}

/// Writes an executable shell script (a DHCP client's hook, say) to `path`.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, body).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A user of the `ivm` client: its own IVM_HOME (saved login, local message folder).
pub struct Person {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// IVM_HOME.
    pub home: PathBuf,
    /// Server URL.
    pub server: String,
}

impl Person {
    /// A person on `server` with a home folder under `dir`.
    pub fn new(server: &Server, dir: &Path, name: &str, password: &str) -> Person {
        let home = dir.join(format!("home-{name}"));
        std::fs::create_dir_all(&home).expect("home");
        Person {
            name: name.into(),
            password: password.into(),
            home,
            server: server.http.clone(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(ivm_bin());
        c.env("IVM_HOME", &self.home)
            .env("IVM_SERVER", &self.server)
            .env("IVM_USER", &self.name)
            .env("IVM_PASSWORD", &self.password)
            .env_remove("HOME");
        c
    }

    /// `ivm` with this person's home and server but no user or password: it runs on the
    /// login `ivm login` saved there.
    pub fn saved(&self) -> Command {
        let mut c = self.command();
        c.env_remove("IVM_USER").env_remove("IVM_PASSWORD");
        c
    }

    /// Runs `ivm args...` and waits (bounded).
    pub fn ivm(&self, args: &[&str]) -> Output {
        run_bounded(self.command().args(args), Duration::from_secs(120))
    }

    /// Runs `ivm args...`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ivm(args);
        assert!(
            out.status.success(),
            "ivm {args:?} as {} failed ({}): {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ivm inbox --json` parsed.
    pub fn inbox(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["inbox", "--json"])).expect("inbox json")
    }

    /// The ids in `ivm inbox --json`.
    pub fn inbox_ids(&self) -> Vec<String> {
        self.inbox()
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// The newest message in the inbox (a phone's voice message): from `sender`, within 2 s
    /// of `spoken` seconds long, and fetched into `dir/file` valid Ogg Opus for opusinfo.
    pub fn check_newest_voice_message(&self, dir: &Path, sender: &str, spoken: f64, file: &str) {
        let inbox = self.inbox();
        let newest = inbox.first().expect("a message in the inbox");
        assert_eq!(newest["sender_name"], sender, "newest first: {inbox:?}");
        let got = newest["duration_ms"].as_f64().expect("duration") / 1000.0;
        assert!(
            (got - spoken).abs() < 2.0,
            "stored {got} s for {spoken} s spoken"
        );
        let id = newest["id"].as_str().expect("id");
        let opus = dir.join(file);
        self.ok(&["get", id, "-o", opus.to_str().expect("path")]);
        let out = run_bounded(Command::new("opusinfo").arg(&opus), Duration::from_secs(30));
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success() && !stdout.contains("WARNING") && !stderr.contains("ERROR"),
            "opusinfo:\n{stdout}{stderr}"
        );
    }

    /// `ivm sent --json` parsed.
    pub fn sent(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["sent", "--json"])).expect("sent json")
    }

    /// Starts `ivm watch --dir DIR`; its stdout lines arrive on the returned watcher.
    pub fn watch(&self) -> Watcher {
        self.watch_with(&[])
    }

    /// `ivm OPTIONS... watch --dir DIR`.
    pub fn watch_with(&self, options: &[&str]) -> Watcher {
        let dir = self.home.join("messages");
        let mut child = self
            .command()
            .args(options)
            .args(["watch", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ivm watch");
        let out = child.stdout.take().expect("stdout");
        let rx = lines_of(out);
        Watcher {
            child,
            lines: rx,
            seen: Vec::new(),
            dir,
        }
    }
}

/// A running `ivm watch`.
pub struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line printed so far.
    pub seen: Vec<String>,
    /// Its local message folder.
    pub dir: PathBuf,
}

impl Watcher {
    /// Starts `cmd`, an `ivm ... watch --dir DIR` the caller built (its own credentials and
    /// environment); its stdout lines arrive on the returned watcher.
    pub fn spawn(cmd: &mut Command, dir: PathBuf) -> Watcher {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ivm watch");
        let lines = lines_of(child.stdout.take().expect("stdout"));
        Watcher {
            child,
            lines,
            seen: Vec::new(),
            dir,
        }
    }

    /// Waits (at most `limit`) for a line containing all of `needles`; returns it.
    pub fn wait_for(&mut self, needles: &[&str], limit: Duration) -> String {
        if let Some(l) = self
            .seen
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return l.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if needles.iter().all(|n| l.contains(n)) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {needles:?} within {limit:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Stops the watcher.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a time limit; panics if it overruns.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let status =
        wait_bounded(&mut child, limit).unwrap_or_else(|| panic!("{cmd:?} ran over {limit:?}"));
    Output {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}

/// `sox INPUT <format> OUTPUT <effects>` (bounded); fails the test when sox is missing or fails.
/// The suite's one way to make its test audio from espeak-ng's WAVs.
pub fn sox(input: &Path, format: &[&str], output: &Path, effects: &[&str]) {
    require_tool("sox");
    let out = run_bounded(
        Command::new("sox")
            .arg(input)
            .args(format)
            .arg(output)
            .args(effects),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "sox: {}", texts(&out).1);
}

/// Speaks `text` into a WAV file with espeak-ng (22.05 kHz mono).
pub fn speech(dir: &Path, name: &str, text: &str) -> PathBuf {
    require_tool("espeak-ng");
    let path = dir.join(format!("{name}.wav"));
    let out = run_bounded(
        Command::new("espeak-ng").arg("-w").arg(&path).arg(text),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "espeak-ng failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Encodes `wav` to Ogg Opus at `out` with opusenc (bounded), asserted to succeed.
pub fn opusenc(wav: &Path, out: &Path) {
    let run = run_bounded(
        Command::new("opusenc").arg("--quiet").arg(wav).arg(out),
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "opusenc: {}", text(&run));
}

/// Duration in seconds of a WAV file (16-bit PCM), from its header.
pub fn wav_seconds(path: &Path) -> f64 {
    let b = std::fs::read(path).expect("wav");
    assert_eq!(&b[0..4], b"RIFF");
    let channels = u16::from_le_bytes([b[22], b[23]]) as f64;
    let rate = u32::from_le_bytes([b[24], b[25], b[26], b[27]]) as f64;
    let bits = u16::from_le_bytes([b[34], b[35]]) as f64;
    // Find the data chunk.
    let mut i = 12;
    while i + 8 <= b.len() {
        let size = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if &b[i..i + 4] == b"data" {
            let size = size.min(b.len() - i - 8);
            return size as f64 / (channels * rate * bits / 8.0);
        }
        i += 8 + size + (size & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// Number of blob files in a data folder (to check that refused input stored nothing).
pub fn blob_count(data: &Path) -> usize {
    let mut n = 0;
    if let Ok(fan) = std::fs::read_dir(data.join("blobs")) {
        for d in fan.flatten() {
            n += std::fs::read_dir(d.path()).map(|r| r.count()).unwrap_or(0);
        }
    }
    n
}
