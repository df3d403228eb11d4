//! A new owner's first hour with `ivmd` (issue 11), against the real binaries:
//!
//! - admin commands run from another folder, without `--data`, find the running box through
//!   its published admin socket (the user then exists on that box); `ivmd user show` gives
//!   the running box's realm and SIP address; `ivmd status` and `ivmd config` describe it;
//!   with no box and no folder they fail clearly and create nothing; a stale link (a crash)
//!   misleads nobody; the installed config leads to a stopped box;
//! - a second `ivmd run` on the same data folder waits, touches nothing (sends in flight on
//!   the first all succeed) and exits with the holder's pid; a restart racing the old
//!   process waits for it and comes up;
//! - an administrator always exists: made at start when users were added before the first
//!   run (under another name when `admin` is someone else's); the last one cannot be
//!   removed, through the socket or on the stopped box's folder;
//! - `ivmd phone add` and the admin API refuse to take a phone from its user without
//!   `--reassign` / `"reassign": true`;
//! - `GET /api/health` without a login on both listeners;
//! - run as root on a folder owned by the box's own user, an admin command leaves every
//!   file it makes to that user.

#[path = "harness.rs"]
mod harness;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::{
    add_user, ivmd, ivmd_bin, ivmd_run, require_tool, run_bounded, runtime_dir, speech, tempdir,
    text, Person, Server, LOOPBACK_PORTS,
};

/// Where admin commands look for a box: the runtime dir (a test's own) and the installed
/// config (a path that may or may not exist); `ivmd` is run in `cwd` without `--data` or
/// `--config`, so it must find the box by itself.
struct Finder {
    runtime: PathBuf,
    installed: PathBuf,
}

impl Finder {
    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        run_bounded(
            Command::new(ivmd_bin())
                .current_dir(cwd)
                .env("IVM_RUNTIME_DIR", &self.runtime)
                .env("IVM_INSTALLED_CONFIG", &self.installed)
                .env_remove("IVMD_DATA")
                .env_remove("IVMD_CONFIG")
                .args(args),
            Duration::from_secs(60),
        )
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.run(cwd, args);
        assert!(o.status.success(), "ivmd {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// The names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn admin_commands_find_the_running_box_from_any_folder() {
    let dir = tempdir();
    let toml = "[sip]\ndomain = \"office.example\"\n";
    let mut server = Server::start(dir.path(), toml);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let find = Finder {
        runtime: runtime_dir(&server.data),
        installed: dir.path().join("no-installed-config.toml"),
    };

    // The published socket is a link to the box's own.
    let link = find.runtime.join("admin.sock");
    assert_eq!(
        std::fs::read_link(&link).expect("published link"),
        std::fs::canonicalize(&server.data)
            .expect("data")
            .join("admin.sock")
    );

    // `ivmd user add` from another folder: the user exists on the running box, and no data
    // folder was made where the command ran.
    find.ok(
        &elsewhere,
        &[
            "user",
            "add",
            "ann",
            "--extension",
            "201",
            "--password",
            "ann-password-1",
        ],
    );
    assert!(entries(&elsewhere).is_empty(), "{:?}", entries(&elsewhere));
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    assert!(ann.ok(&["users"]).contains("ann"));

    // `ivmd user show`: the running box's realm and the SIP address phones must use.
    let shown = find.ok(&elsewhere, &["user", "show", "ann"]);
    assert!(shown.contains("SIP domain:    office.example"), "{shown}");
    assert!(
        shown.contains(&format!("SIP server:    {} ", server.sip)),
        "bound SIP port, not a default: {shown}"
    );
    assert!(!shown.contains("not running"), "{shown}");

    // `ivmd status`: the box, its listeners and figures; exit 0.
    let status = find.ok(&elsewhere, &["status"]);
    let data = std::fs::canonicalize(&server.data).expect("data");
    for want in [
        format!("running, pid {}", server.pid()),
        format!("data folder:  {}", data.display()),
        format!(
            "http:         {}",
            server.http.trim_start_matches("http://")
        ),
        format!("sip:          {} (domain office.example", server.sip),
        "users:        2 (1 administrator)".to_owned(),
        "clients:      0 connected".to_owned(),
        "messages:     0 waiting".to_owned(),
    ] {
        assert!(status.contains(&want), "{want:?} in:\n{status}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&find.ok(&elsewhere, &["status", "--json"])).expect("json");
    assert_eq!(json["info"]["pid"], server.pid());
    assert_eq!(json["users"], 2);
    assert!(
        json["disk_free_bytes"].as_u64().is_some_and(|b| b > 0),
        "{json}"
    );

    // `ivmd config`: the settings in effect, with where they came from; the TOML reads back.
    let config = find.ok(&elsewhere, &["config"]);
    assert!(
        config.starts_with(&format!(
            "# The settings in effect on the running box (pid {}",
            server.pid()
        )),
        "{config}"
    );
    assert!(config.contains("--sip \"127.0.0.1:0\""), "{config}");
    let parsed: toml::Value = toml::from_str(&config).expect("TOML");
    assert_eq!(parsed["sip"]["domain"].as_str(), Some("office.example"));
    assert_eq!(
        parsed["provision"]["arm_window_s"].as_integer(),
        Some(86_400),
        "defaults are shown too"
    );

    // Stopped: the link is gone, status says so with its own exit code.
    assert!(server.stop().success());
    assert!(!link.exists(), "link removed at stop");
    let o = find.run(&elsewhere, &["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not running"), "{}", text(&o));

    // A stale link (as a crash leaves it) is asked, nobody answers, nothing is trusted.
    std::os::unix::fs::symlink(server.data.join("admin.sock"), &link).expect("symlink");
    for args in [
        &["user", "list"][..],
        &["user", "add", "bob", "--extension", "202"],
    ] {
        let o = find.run(&elsewhere, args);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("no box found") && err.contains("give --data DIR or --config FILE"),
            "{err}"
        );
    }
    assert!(
        entries(&elsewhere).is_empty(),
        "nothing created: {:?}",
        entries(&elsewhere)
    );
    let o = find.run(&elsewhere, &["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // `ivmd config` there shows the embedded defaults and says so.
    let defaults = find.ok(&elsewhere, &["config"]);
    assert!(defaults.contains("the embedded defaults"), "{defaults}");

    // A mistyped --data is refused, not made.
    let typo = dir.path().join("ivm-dta");
    let o = find.run(
        &elsewhere,
        &["--data", typo.to_str().expect("path"), "user", "list"],
    );
    assert!(
        !o.status.success() && text(&o).contains("there is no data folder"),
        "{}",
        text(&o)
    );
    assert!(!typo.exists());

    // The stopped box, given its config: `user show` derives the address from it and says
    // the box is not running.
    let cfg = server.data.with_extension("toml");
    let shown = find.ok(
        &elsewhere,
        &[
            "--config",
            cfg.to_str().expect("path"),
            "--data",
            server.data.to_str().expect("path"),
            "user",
            "show",
            "ann",
        ],
    );
    assert!(shown.contains("SIP domain:    office.example"), "{shown}");
    assert!(shown.contains("the box is not running"), "{shown}");
}

#[test]
fn the_installed_config_leads_to_the_box_running_or_stopped() {
    let dir = tempdir();
    let data = dir.path().join("var-lib-ivm");
    let mut server = Server::start_on(&data, "");
    let installed = dir.path().join("etc-ivmd.toml");
    std::fs::write(
        &installed,
        format!(
            "data_dir = {:?}\n[sip]\ndomain = \"installed.example\"\n",
            data.display().to_string()
        ),
    )
    .expect("config");
    // The client's runtime dir is empty: the box is found through the installed config's
    // data folder, and asked there.
    let find = Finder {
        runtime: dir.path().join("empty-run"),
        installed,
    };
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    find.ok(
        &elsewhere,
        &[
            "user",
            "add",
            "cid",
            "--extension",
            "203",
            "--password",
            "cid-password-1",
        ],
    );
    Person::new(&server, dir.path(), "cid", "cid-password-1").ok(&["users"]);
    let status = find.ok(&elsewhere, &["status"]);
    assert!(
        status.contains(&format!("pid {}", server.pid())),
        "{status}"
    );
    // Stopped: the command works on the folder itself, under its lock.
    assert!(server.stop().success());
    let listed = find.ok(&elsewhere, &["user", "list"]);
    assert!(listed.contains("cid"), "{listed}");
    let shown = find.ok(&elsewhere, &["user", "show", "cid"]);
    assert!(
        shown.contains("SIP domain:    installed.example") && shown.contains("installed config"),
        "{shown}"
    );
    let config = find.ok(&elsewhere, &["config"]);
    assert!(
        config.starts_with("# The box is not running.") && config.contains("installed.example"),
        "{config}"
    );
    assert!(entries(&elsewhere).is_empty());
}

#[test]
fn a_second_run_waits_touches_nothing_and_names_the_holder() {
    require_tool("espeak-ng");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let wav = speech(dir.path(), "hello", "Hello Bob, this is a test message.");
    // A file the first box is writing (what the second used to delete).
    let in_flight = server.data.join("tmp").join("being-written");
    std::fs::write(&in_flight, b"half a blob").expect("write");

    // Six sends in flight while a second `ivmd run` starts on the same folder.
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let ann = Person::new(
                &server,
                &dir.path().join(format!("s{i}")),
                "ann",
                "ann-password-1",
            );
            let wav = wav.clone();
            std::thread::spawn(move || {
                (0..2)
                    .map(|_| ann.ivm(&["send", "--to", "bob", wav.to_str().expect("path")]))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let second = run_bounded(
        &mut ivmd_run(&[], None, &server.data, &LOOPBACK_PORTS, "info"),
        Duration::from_secs(60),
    );
    let waited = started.elapsed();
    for s in senders {
        for o in s.join().expect("sender") {
            assert!(o.status.success(), "a send failed: {}", text(&o));
        }
    }
    assert!(!second.status.success(), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "another ivmd (pid {}) runs on this data folder",
            server.pid()
        )),
        "{err}"
    );
    assert!(
        err.contains("waiting for it to let go"),
        "it said it waits: {err}"
    );
    assert!(waited >= Duration::from_secs(5), "it waited: {waited:?}");
    assert!(in_flight.exists(), "the second run left tmp/ alone");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_eq!(bob.inbox().len(), 6, "every send was stored");
    // The first box still serves, and its socket is still its own.
    let listed = ivmd(&server.data, &["user", "list"]);
    assert!(text(&listed).contains("bob"), "{}", text(&listed));
}

#[test]
fn a_restart_racing_the_old_process_waits_for_it() {
    let dir = tempdir();
    let mut old = Server::start(dir.path(), "");
    old.add_user("ann", "201", "ann-password-1");
    let data = old.data.clone();
    // SIGTERM, then at once a new box on the same folder (what `systemctl restart` and a
    // supervisor's quick restart do).
    let status = Command::new("kill")
        .args(["-TERM", &old.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let new = Server::start_on(&data, "");
    assert!(old.stop().success(), "the old one finished cleanly");
    Person::new(&new, dir.path(), "ann", "ann-password-1").ok(&["users"]);
    // The new box's socket and published link are in place (the old one's cleanup left
    // them alone).
    let find = Finder {
        runtime: runtime_dir(&data),
        installed: dir.path().join("none.toml"),
    };
    let status = find.ok(dir.path(), &["status"]);
    assert!(status.contains(&format!("pid {}", new.pid())), "{status}");
}

#[test]
fn an_administrator_is_always_there() {
    let dir = tempdir();
    let data = dir.path().join("data");
    // Before the box ever ran, on its (empty) folder: ann takes extension 100, and a user
    // called `admin` who is no administrator.
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for (name, ext) in [("ann", "100"), ("admin", "200")] {
        add_user(&data, name, ext, "a-password-1");
    }
    let mut server = Server::start_on(&data, "");
    let said = server
        .stdout
        .iter()
        .find(|l| l.contains("created user"))
        .cloned()
        .unwrap_or_default();
    assert!(
        said.contains("the box had no administrator: created user \"ivm-admin\" (extension 101)")
            && said.contains("the name \"admin\" belongs to a user who is not an administrator"),
        "{:?}",
        server.stdout
    );
    // Its one-time password is in the file, for that user, and works once.
    let file = std::fs::read_to_string(data.join("first-start-password")).expect("file");
    assert_eq!(file.lines().nth(2), Some("ivm-admin"), "{file}");
    let password = server.first_admin_password();
    let admin = Person::new(&server, dir.path(), "ivm-admin", &password);
    let login = admin.ivm(&["login"]);
    assert!(
        login.status.success() && text(&login).contains("set a new password first"),
        "{}",
        text(&login)
    );
    let listed = ivmd(&data, &["user", "list"]);
    assert!(
        text(&listed)
            .lines()
            .any(|l| l.starts_with("ivm-admin") && l.contains("yes")),
        "{}",
        text(&listed)
    );

    // The last administrator cannot be removed (through the running box's socket) ...
    let o = ivmd(&data, &["user", "remove", "ivm-admin"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("ivm-admin is the box's last administrator"),
        "{}",
        text(&o)
    );
    // ... until there is another; then that one is the last.
    let o = ivmd(
        &data,
        &[
            "user",
            "add",
            "boss",
            "--extension",
            "300",
            "--password",
            "boss-password-1",
            "--admin",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = ivmd(&data, &["user", "remove", "ivm-admin"]);
    assert!(o.status.success(), "{}", text(&o));
    // Nor on the stopped box's folder.
    assert!(server.stop().success());
    let o = ivmd(&data, &["user", "remove", "boss"]);
    assert!(
        !o.status.success() && text(&o).contains("boss is the box's last administrator"),
        "{}",
        text(&o)
    );
    // The documented recovery on the box: a new one-time password for the admin.
    let o = ivmd(&data, &["user", "passwd", "boss"]);
    assert!(o.status.success(), "{}", text(&o));
    let made = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password")
        .to_owned();
    // A start with an administrator makes none.
    let server = Server::start_on(&data, "");
    assert!(
        !server.stdout.iter().any(|l| l.contains("created user")),
        "{:?}",
        server.stdout
    );
    let boss = Person::new(&server, &dir.path().join("b"), "boss", &made);
    let login = boss.ivm(&["login"]);
    assert!(login.status.success(), "{}", text(&login));
}

#[test]
fn a_phone_is_not_taken_from_its_user_without_reassign() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ok = |args: &[&str]| {
        let o = ivmd(&server.data, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&["phone", "add", "00:15:65:AA:BB:CC", "--user", "ann"]);
    ok(&["phone", "add", "001565aabbcc", "--user", "ann"]);
    let o = ivmd(
        &server.data,
        &["phone", "add", "001565aabbcc", "--user", "bob"],
    );
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "ivmd: phone 001565aabbcc is assigned to ann (201); use --reassign to move it"
    );
    assert!(ok(&["phone", "list"]).contains(" ann "), "unchanged");
    let moved = ok(&[
        "phone",
        "add",
        "001565aabbcc",
        "--user",
        "bob",
        "--reassign",
    ]);
    assert!(moved.contains("\tbob\t202\t"), "{moved}");

    // The admin API: 409 unless "reassign": true.
    ok(&["user", "passwd", "admin", "--password", "admin-password-1"]);
    let login = run_bounded(
        Command::new("curl").args([
            "-sS",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"name":"admin","password":"admin-password-1"}"#,
            &format!("{}/api/login", server.http),
        ]),
        Duration::from_secs(30),
    );
    let token: serde_json::Value = serde_json::from_slice(&login.stdout).expect("login answer");
    let token = token["token"].as_str().expect("token").to_owned();
    let post = |body: &str| {
        let o = run_bounded(
            Command::new("curl").args([
                "-sS",
                "-w",
                "\n%{http_code}",
                "-H",
                &format!("authorization: Bearer {token}"),
                "-H",
                "content-type: application/json",
                "-d",
                body,
                &format!("{}/api/admin/phones", server.http),
            ]),
            Duration::from_secs(30),
        );
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = t.rsplit_once('\n').expect("status");
        (code.trim().parse::<u16>().unwrap_or(0), body.to_owned())
    };
    let (code, body) = post(r#"{"mac":"001565aabbcc","user":"ann"}"#);
    assert_eq!(code, 409, "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(e["error"], "phone_assigned", "{e}");
    assert!(
        e["message"].as_str().is_some_and(
            |m| m.contains("assigned to bob (202)") && m.contains("\"reassign\": true")
        ),
        "{e}"
    );
    assert!(ok(&["phone", "list"]).contains(" bob "), "unchanged");
    let (code, body) = post(r#"{"mac":"001565aabbcc","user":"ann","reassign":true}"#);
    assert_eq!(code, 201, "{body}");
    assert!(ok(&["phone", "list"]).contains(" ann "));
}

#[test]
fn health_answers_without_a_login_on_both_listeners() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    for url in [
        format!("{}/api/health", server.http),
        format!("{}/api/health", server.https),
    ] {
        let o = run_bounded(
            Command::new("curl").args(["-sSk", "-i", &url]),
            Duration::from_secs(30),
        );
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(t.starts_with("HTTP/") && t.contains(" 200"), "{url}: {t}");
        assert!(
            t.to_ascii_lowercase().contains("cache-control: no-store"),
            "{t}"
        );
        assert!(
            t.ends_with(r#"{"status":"ok"}"#),
            "nothing but the status: {t}"
        );
        assert!(!t.contains(env!("CARGO_PKG_VERSION")), "no version: {t}");
    }
}

#[test]
fn run_as_root_on_the_box_users_folder_keeps_its_files_the_boxs() {
    if !nix_is_root() {
        panic!("this test needs root (CI runs as root): it checks what root leaves behind");
    }
    const NOBODY: u32 = 65_534;
    let dir = tempdir();
    // Everything above the data folder only traversable, like /var/lib for /var/lib/ivm.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let data = dir.path().join("data");
    let mut server = Server::start_on(&data, "");
    assert!(server.stop().success());
    // The box's folder, owned by its own user (as StateDirectory= makes it); the files an
    // admin command makes anew when missing.
    let chown = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(&data)
        .status()
        .expect("chown");
    assert!(chown.success());
    std::fs::remove_file(data.join("ivmd.lock")).expect("rm lock");
    std::fs::remove_dir_all(data.join("tmp")).expect("rm tmp");
    add_user(&data, "dan", "204", "dan-password-1");
    let mut todo = vec![data.clone()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).expect("meta");
        assert_eq!(
            m.uid(),
            NOBODY,
            "{} belongs to uid {}",
            p.display(),
            m.uid()
        );
        if m.is_dir() {
            todo.extend(
                std::fs::read_dir(&p)
                    .expect("dir")
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
}

fn nix_is_root() -> bool {
    let o = Command::new("id").arg("-u").output().expect("id");
    String::from_utf8_lossy(&o.stdout).trim() == "0"
}
