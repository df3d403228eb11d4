//! End to end: every `ivm` command against the real `ivmd`, in each way a user can say who
//! they are, so that no argument can stand in for another (issue 10, item 10: the name given
//! to `contacts add` replaced `--user`, logged in as that contact with the caller's password
//! and fed the contact's lock-out).
//!
//! One box per way, the same walk through every command in each:
//! - saved login: `ivm login` once, then commands with no credentials at all;
//! - `--server/--user/--password` before the command, and after it;
//! - `IVM_SERVER/IVM_USER/IVM_PASSWORD` (and `IVM_NEW_PASSWORD` for `passwd`).
//!
//! Each command's effect is checked on the box itself over its REST API with curl (a client
//! that shares no code with `ivm`), and the commands run are checked against the list
//! `ivm --help` prints, so a new command without a test here fails. At the end the contact
//! (bob) can still log in and the box's log holds no failed login for him.

mod harness;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use harness::{
    bare_ivm, require_tool, run_bounded, speech, tempdir, texts, wav_seconds, Server, Watcher,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const ANN_PW: &str = "ann-password-1";
const ANN_NEW_PW: &str = "ann-password-2";
const BOB_PW: &str = "bob-password-1";
const CAROL_PW: &str = "carol-password-1";
/// The options that take a value and may come before the command.
const GLOBAL_OPTIONS: [&str; 6] = ["--server", "--user", "-u", "--password", "-p", "--cacert"];

/// How the person tells `ivm` who they are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Way {
    /// `ivm login` first; later commands carry no server, user or password.
    Saved,
    /// `ivm --server URL --user NAME --password PW <command> ...`.
    FlagsBefore,
    /// `ivm <command> ... --server URL --user NAME --password PW`.
    FlagsAfter,
    /// `IVM_SERVER`, `IVM_USER`, `IVM_PASSWORD` in the environment.
    Env,
}

#[test]
fn every_command_with_a_saved_login() {
    walk_every_command(Way::Saved);
}

#[test]
fn every_command_with_user_and_password_before_it() {
    walk_every_command(Way::FlagsBefore);
}

#[test]
fn every_command_with_user_and_password_after_it() {
    walk_every_command(Way::FlagsAfter);
}

#[test]
fn every_command_with_credentials_in_the_environment() {
    walk_every_command(Way::Env);
}

/// A person running `ivm` one way, with its own `IVM_HOME`.
struct Person {
    name: String,
    password: String,
    home: PathBuf,
    server: String,
    way: Way,
    /// The commands run so far (`"send"`, `"contacts add"`, ...), to compare with `--help`.
    ran: RefCell<BTreeSet<String>>,
}

impl Person {
    fn new(server: &Server, dir: &Path, name: &str, password: &str, way: Way) -> Person {
        let home = dir.join(format!("home-{name}"));
        std::fs::create_dir_all(&home).expect("home");
        Person {
            name: name.into(),
            password: password.into(),
            home,
            server: server.http.clone(),
            way,
            ran: RefCell::default(),
        }
    }

    /// `ivm` with nothing of the test's own environment and with this person's credentials
    /// given this person's way around `args`.
    fn command(&self, args: &[&str]) -> Command {
        self.record(args);
        let mut c = bare_ivm(&self.home);
        let globals = [
            "--server",
            &self.server,
            "--user",
            &self.name,
            "--password",
            &self.password,
        ];
        match self.way {
            Way::Saved => c.args(args),
            Way::FlagsBefore => c.args(globals).args(args),
            // clap's own `help` takes only command names after it: options go before.
            Way::FlagsAfter if args.contains(&"help") => c.args(globals).args(args),
            Way::FlagsAfter => c.args(args).args(globals),
            Way::Env => c
                .env("IVM_SERVER", &self.server)
                .env("IVM_USER", &self.name)
                .env("IVM_PASSWORD", &self.password)
                .args(args),
        };
        c
    }

    /// Notes which command `args` runs: the first word that is neither an option nor the
    /// value of a global option.
    fn record(&self, args: &[&str]) {
        let mut words = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if GLOBAL_OPTIONS.contains(a) {
                it.next();
            } else if !a.starts_with('-') {
                words.push(a);
            }
        }
        let mut words = words.into_iter();
        if let Some(first) = words.next() {
            let name = match (*first, words.next()) {
                ("contacts", Some(&"rm")) => "contacts remove".to_owned(),
                ("contacts", Some(sub @ (&"add" | &"remove" | &"help"))) => {
                    format!("contacts {sub}")
                }
                (first, _) => first.to_owned(),
            };
            self.ran.borrow_mut().insert(name);
        }
    }

    fn ivm(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.command(args), Duration::from_secs(120))
    }

    /// Runs `ivm args...`, asserts success, returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.ivm(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "ivm {args:?} as {} ({:?}) failed ({}): {stderr}",
            self.name,
            self.way,
            out.status
        );
        (stdout, stderr)
    }

    fn json(&self, args: &[&str]) -> Value {
        let (stdout, _) = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("ivm {args:?}: {e}: {stdout}"))
    }

    /// `ivm login` this person's way (a saved login always needs the credentials once).
    fn login(&self) -> String {
        let mut c = match self.way {
            Way::Saved => {
                self.record(&["login"]);
                let mut c = bare_ivm(&self.home);
                c.args([
                    "--server",
                    &self.server,
                    "--user",
                    &self.name,
                    "--password",
                    &self.password,
                    "login",
                ]);
                c
            }
            _ => self.command(&["login"]),
        };
        let out = run_bounded(&mut c, Duration::from_secs(60));
        let (_, stderr) = texts(&out);
        assert!(out.status.success(), "ivm login as {}: {stderr}", self.name);
        stderr
    }

    /// The token `ivm login` saved.
    fn saved_token(&self) -> String {
        let text = std::fs::read_to_string(self.session_file()).expect("session.json");
        let v: Value = serde_json::from_str(&text).expect("session json");
        v["token"].as_str().expect("token").to_owned()
    }

    fn session_file(&self) -> PathBuf {
        self.home.join("session.json")
    }

    /// `ivm watch --dir DIR` in the background.
    fn watch(&self) -> Watcher {
        let dir = self.home.join("messages");
        let dir_arg = dir.to_str().expect("path").to_owned();
        Watcher::spawn(&mut self.command(&["watch", "--dir", &dir_arg]), dir)
    }
}

/// The box seen through curl: status code and body.
fn curl(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(t) = token {
        c.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    let out = run_bounded(&mut c, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "curl {method} {url}: {text}");
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status code"), body.to_owned())
}

/// The REST API of one box, for checks.
struct Rest {
    base: String,
}

impl Rest {
    fn login(&self, name: &str, password: &str) -> u16 {
        let body = serde_json::json!({"name": name, "password": password}).to_string();
        curl(
            "POST",
            &format!("{}/api/login", self.base),
            None,
            Some(&body),
        )
        .0
    }

    fn token(&self, name: &str, password: &str) -> String {
        let body = serde_json::json!({"name": name, "password": password}).to_string();
        let (code, text) = curl(
            "POST",
            &format!("{}/api/login", self.base),
            None,
            Some(&body),
        );
        assert_eq!(code, 200, "login {name}: {text}");
        let v: Value = serde_json::from_str(&text).expect("login json");
        v["token"].as_str().expect("token").to_owned()
    }

    fn get(&self, token: &str, path: &str) -> Value {
        let (code, text) = curl("GET", &format!("{}{path}", self.base), Some(token), None);
        assert_eq!(code, 200, "GET {path}: {text}");
        serde_json::from_str(&text).expect("json")
    }

    fn status_of(&self, token: &str, path: &str) -> u16 {
        curl("GET", &format!("{}{path}", self.base), Some(token), None).0
    }

    /// The bytes of a download.
    fn bytes(&self, token: &str, path: &str, to: &Path) -> Vec<u8> {
        let out = run_bounded(
            Command::new("curl")
                .args(["-sS", "--fail", "-o"])
                .arg(to)
                .args(["-H", &format!("authorization: Bearer {token}")])
                .arg(format!("{}{path}", self.base)),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "GET {path}: {}", texts(&out).1);
        std::fs::read(to).expect("download")
    }

    /// The sorted names in a list of users or contacts.
    fn names(&self, token: &str, path: &str) -> Vec<String> {
        sorted_names(&self.get(token, path))
    }
}

fn sorted_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

/// The commands `ivm [SUB] --help` lists.
fn listed_commands(sub: &[&str]) -> Vec<String> {
    let out = run_bounded(
        bare_ivm(Path::new("/nonexistent")).args(sub).arg("--help"),
        Duration::from_secs(30),
    );
    let (text, _) = texts(&out);
    assert!(out.status.success(), "ivm {sub:?} --help: {text}");
    let names: Vec<String> = text
        .lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(!names.is_empty(), "no commands in: {text}");
    names
}

/// The box's log without terminal colours, one entry per line.
fn log_lines(server: &Server) -> Vec<String> {
    server.plain_log().lines().map(str::to_owned).collect()
}

/// Log lines of failed or refused logins naming `user`.
fn failed_logins(server: &Server, user: &str) -> Vec<String> {
    let field = format!("user={user}");
    log_lines(server)
        .into_iter()
        .filter(|l| l.contains("login failed") || l.contains("login refused"))
        .filter(|l| l.split_whitespace().any(|w| w == field))
        .collect()
}

/// One box, ann and bob on it, running `ivm` one way; the steps below run in order.
struct Walk {
    way: Way,
    dir: tempfile::TempDir,
    server: Server,
    rest: Rest,
    ann: Person,
    bob: Person,
    /// Tokens of curl's own sessions, for checks on the box (ann's ends with her `passwd`).
    ann_tok: String,
    bob_tok: String,
}

fn walk_every_command(way: Way) {
    require_tool("curl");
    require_tool("espeak-ng");
    let mut w = Walk::new(way);
    w.help();
    w.completions();
    w.login();
    w.whoami_and_users();
    w.contacts();
    let id = w.send_and_read();
    w.watch_and_status();
    w.forward_dnd_and_calls();
    w.delete(&id);
    w.passwd();
    w.logout();
    w.every_listed_command_ran();
    w.contacts_accounts_untouched();
}

impl Walk {
    fn new(way: Way) -> Walk {
        let dir = tempdir();
        let server = Server::start(dir.path(), "");
        server.add_user("ann", "201", ANN_PW);
        server.add_user("bob", "202", BOB_PW);
        server.add_user("carol", "203", CAROL_PW);
        let rest = Rest {
            base: server.http.clone(),
        };
        let ann = Person::new(&server, dir.path(), "ann", ANN_PW, way);
        let bob = Person::new(&server, dir.path(), "bob", BOB_PW, way);
        let ann_tok = rest.token("ann", ANN_PW);
        let bob_tok = rest.token("bob", BOB_PW);
        Walk {
            way,
            dir,
            server,
            rest,
            ann,
            bob,
            ann_tok,
            bob_tok,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `help` lists the commands; `contacts help` lists add and remove.
    fn help(&self) {
        let (help, _) = self.ann.ok(&["help"]);
        assert!(
            help.contains("contacts") && help.contains("watch"),
            "{help}"
        );
        let (help, _) = self.ann.ok(&["contacts", "help"]);
        assert!(help.contains("add") && help.contains("remove"), "{help}");
    }

    /// `completions bash` prints a script naming the commands, with whatever credentials
    /// come with it (it needs no server).
    fn completions(&self) {
        let (script, _) = self.ann.ok(&["completions", "bash"]);
        assert!(script.contains("_ivm()"), "{script}");
        for command in ["send", "inbox", "contacts", "completions"] {
            assert!(script.contains(command), "no {command:?} in the script");
        }
    }

    /// `login` saves a session the box honours. For the ways without a saved login it goes
    /// into a scratch home that is then logged out, so the rest of the walk really runs on
    /// the flags or the environment.
    fn login(&self) {
        if self.way == Way::Saved {
            for p in [&self.ann, &self.bob] {
                let said = p.login();
                assert!(said.contains(&format!("logged in as {}", p.name)), "{said}");
                let me = self.rest.get(&p.saved_token(), "/api/me");
                assert_eq!(me["name"], p.name.as_str());
            }
            return;
        }
        let scratch = Person::new(&self.server, &self.path("scratch"), "ann", ANN_PW, self.way);
        let said = scratch.login();
        assert!(said.contains("logged in as ann"), "{said}");
        let token = scratch.saved_token();
        assert_eq!(self.rest.get(&token, "/api/me")["name"], "ann");
        scratch.ok(&["logout"]);
        assert!(
            !scratch.session_file().exists(),
            "logout forgets the session"
        );
        assert_eq!(
            self.rest.status_of(&token, "/api/me"),
            401,
            "logout ends it on the box"
        );
        self.ann.ran.borrow_mut().extend(scratch.ran.take());
    }

    fn whoami_and_users(&self) {
        let (me, _) = self.ann.ok(&["whoami"]);
        assert!(
            me.starts_with("ann (") && me.contains("extension 201"),
            "{me}"
        );
        let users = sorted_names(&self.ann.json(&["users", "--json"]));
        assert_eq!(users, ["admin", "ann", "bob", "carol"]);
        let (table, _) = self.ann.ok(&["users"]);
        assert!(table.contains("carol") && table.contains("203"), "{table}");
    }

    /// `contacts add / list / remove`, by name and by extension, three rounds: with the old
    /// bug every one of these logged in as bob (or carol) with ann's password, and six
    /// failures lock the address out.
    fn contacts(&self) {
        let (ann, rest, tok) = (&self.ann, &self.rest, &self.ann_tok);
        for _ in 0..3 {
            let (_, said) = ann.ok(&["contacts", "add", "bob"]);
            assert!(said.contains("added bob"), "{said}");
            ann.ok(&["contacts", "add", "203"]);
            assert_eq!(rest.names(tok, "/api/contacts"), ["bob", "carol"]);
            assert_eq!(
                sorted_names(&ann.json(&["contacts", "--json"])),
                ["bob", "carol"]
            );
            let (table, _) = ann.ok(&["contacts"]);
            assert!(table.contains("bob") && table.contains("carol"), "{table}");
            let (_, said) = ann.ok(&["contacts", "remove", "bob"]);
            assert!(said.contains("removed bob"), "{said}");
            assert_eq!(rest.names(tok, "/api/contacts"), ["carol"]);
            ann.ok(&["contacts", "rm", "203"]);
            assert!(rest.names(tok, "/api/contacts").is_empty());
        }
        // Nobody's contact list but ann's changed.
        assert!(rest.names(&self.bob_tok, "/api/contacts").is_empty());
    }

    /// `send` (with an attachment), `sent`, `inbox`, `get`, `play`; returns the message id.
    fn send_and_read(&self) -> String {
        let (ann, bob, rest) = (&self.ann, &self.bob, &self.rest);
        let wav = speech(self.dir.path(), "hello", "Hello Bob, this is Ann.");
        let notes = self.path("notes.txt");
        std::fs::write(&notes, b"agenda: lunch\n").expect("write");
        let (id, _) = ann.ok(&[
            "send",
            "--to",
            "bob",
            wav.to_str().expect("path"),
            "--attach",
            notes.to_str().expect("path"),
        ]);
        let id = id.trim().to_owned();
        assert_eq!(id.len(), 36, "send prints the id: {id:?}");
        let inbox = rest.get(&self.bob_tok, "/api/messages/inbox");
        assert_eq!(inbox[0]["id"], id.as_str());
        assert_eq!(inbox[0]["sender_name"], "ann");
        assert_eq!(inbox[0]["attachments"].as_array().expect("att").len(), 1);

        // sent (ann) and inbox (bob), as JSON and as tables with the short id.
        let sent = ann.json(&["sent", "--json"]);
        assert_eq!(sent[0]["id"], id.as_str());
        assert_eq!(sent[0]["recipients"][0]["name"], "bob");
        let (table, _) = ann.ok(&["sent"]);
        assert!(
            table.contains(&id[..8]) && table.contains("bob ("),
            "{table}"
        );
        assert_eq!(bob.json(&["inbox", "--json"])[0]["id"], id.as_str());
        let (table, _) = bob.ok(&["inbox"]);
        assert!(table.contains(&id[..8]) && table.contains("ann"), "{table}");

        // get by a short id: the audio is the box's, byte for byte, and so is the attachment.
        let (got, att) = (self.path("got.opus"), self.path("got-att"));
        bob.ok(&[
            "get",
            &id[..8],
            "-o",
            got.to_str().expect("path"),
            "--attachments",
            att.to_str().expect("path"),
        ]);
        let audio = format!("/api/messages/{id}/audio");
        let on_box = rest.bytes(&self.bob_tok, &audio, &self.path("box.opus"));
        assert_eq!(std::fs::read(&got).expect("got"), on_box);
        assert_eq!(
            std::fs::read(att.join("notes.txt")).expect("attachment"),
            std::fs::read(&notes).expect("notes")
        );

        // play: a WAV of the speech, and the box marks it played for the sender.
        let played = self.path("played.wav");
        bob.ok(&["play", &id, "-o", played.to_str().expect("path")]);
        assert!(wav_seconds(&played) > 0.5);
        let sent = rest.get(&self.ann_tok, "/api/messages/sent");
        assert_eq!(sent[0]["recipients"][0]["state"], "played");
        id
    }

    /// `watch` in the background (bounded): bob's presence while connected follows `status`,
    /// a new message is pushed and saved in the local folder, and a `talk` is heard live.
    fn watch_and_status(&self) {
        let (ann, bob, rest) = (&self.ann, &self.bob, &self.rest);
        let mut watch = bob.watch();
        watch.wait_for(&["\"ack\""], WAIT);
        bob.ok(&["status", "busy"]);
        assert_eq!(rest.get(&self.bob_tok, "/api/me")["status"], "busy");
        let (status, _) = bob.ok(&["status"]);
        assert_eq!(status.trim(), "busy");
        let wav = speech(self.dir.path(), "again", "One more thing.");
        let (id, _) = ann.ok(&["send", "--to", "bob", wav.to_str().expect("path")]);
        let id = id.trim().to_owned();
        watch.wait_for(&["\"message\"", &id], WAIT);
        watch.wait_for(&["saved", &id], WAIT);
        assert!(watch.dir.join(&id).join("audio.opus").is_file());
        bob.ok(&["status", "available"]);
        assert_eq!(rest.get(&self.bob_tok, "/api/me")["status"], "available");
        // `talk`: bob, available and watching, hears it live; his watch saves it as a WAV.
        let (talked, _) = ann.ok(&["talk", "--to", "bob", wav.to_str().expect("path")]);
        assert!(
            talked.contains("talk_accepted") && talked.contains("\"finished\""),
            "{talked}"
        );
        watch.wait_for(&["talk_incoming"], WAIT);
        let saved = watch.wait_for(&["talk_saved"], WAIT);
        let saved: Value = serde_json::from_str(&saved).expect("json");
        assert!(wav_seconds(Path::new(saved["path"].as_str().expect("path"))) > 0.5);
        watch.stop();
    }

    /// `delete`: gone from bob's inbox; the sender sees "deleted".
    fn delete(&self, id: &str) {
        let (_, said) = self.bob.ok(&["delete", id]);
        assert!(said.contains(id), "{said}");
        let inbox = self.rest.get(&self.bob_tok, "/api/messages/inbox");
        let inbox = inbox.as_array().expect("inbox");
        assert!(inbox.iter().all(|m| m["id"] != id), "{inbox:?}");
        let sent = self.rest.get(&self.ann_tok, "/api/messages/sent");
        let first = sent
            .as_array()
            .expect("sent")
            .iter()
            .find(|m| m["id"] == id)
            .expect("still in sent");
        assert_eq!(first["recipients"][0]["state"], "deleted");
    }

    /// `passwd`: the current password comes from --password / IVM_PASSWORD even with a saved
    /// login; the new one works on the box and the old one no longer does.
    fn passwd(&mut self) {
        let ann = &self.ann;
        let out = match self.way {
            Way::Saved => ann.ivm(&["--password", ANN_PW, "passwd", "--new", ANN_NEW_PW]),
            Way::Env => {
                let mut c = ann.command(&["passwd"]);
                c.env("IVM_NEW_PASSWORD", ANN_NEW_PW);
                run_bounded(&mut c, Duration::from_secs(60))
            }
            Way::FlagsBefore | Way::FlagsAfter => ann.ivm(&["passwd", "--new", ANN_NEW_PW]),
        };
        assert!(out.status.success(), "passwd: {}", texts(&out).1);
        assert_eq!(self.rest.login("ann", ANN_NEW_PW), 200);
        assert_eq!(self.rest.login("ann", ANN_PW), 401);
        self.ann.password = ANN_NEW_PW.into();
        let (me, _) = self.ann.ok(&["whoami"]);
        assert!(me.starts_with("ann ("), "after passwd: {me}");
    }

    /// `forward`, `dnd`, `voicemail` and `calls`: ann's call settings change on the box and
    /// show back (message taking on by default);
    /// her call history is empty (no call was made here; tests/e2e/forward.rs makes them).
    fn forward_dnd_and_calls(&self) {
        let (ann, rest) = (&self.ann, &self.rest);
        let (shown, _) = ann.ok(&["forward", "always", "202"]);
        assert!(shown.contains("always 202"), "{shown}");
        assert_eq!(
            rest.get(&self.ann_tok, "/api/me/settings")["forward_always"],
            "202"
        );
        let (shown, _) = ann.ok(&["forward", "off"]);
        assert!(shown.contains("always off"), "{shown}");
        assert_eq!(ann.ok(&["dnd", "on"]).0.trim(), "on");
        assert_eq!(rest.get(&self.ann_tok, "/api/me/settings")["dnd"], true);
        assert_eq!(ann.ok(&["dnd", "off"]).0.trim(), "off");
        assert_eq!(ann.ok(&["voicemail"]).0.trim(), "on", "on by default");
        assert_eq!(ann.ok(&["voicemail", "off"]).0.trim(), "off");
        assert_eq!(
            rest.get(&self.ann_tok, "/api/me/settings")["voicemail"],
            false
        );
        let (shown, _) = ann.ok(&["forward"]);
        assert!(shown.contains("voicemail off"), "{shown}");
        assert_eq!(ann.ok(&["voicemail", "on"]).0.trim(), "on");
        assert_eq!(ann.ok(&["calls", "--json"]).0.trim(), "[]");
        let (table, _) = ann.ok(&["calls"]);
        assert!(table.contains("KIND"), "{table}");
    }

    /// `logout`: with a saved login it ends the session on the box and here; without one
    /// there is nothing to end, and nothing was ever saved.
    fn logout(&self) {
        let ann = &self.ann;
        if self.way == Way::Saved {
            let token = ann.saved_token();
            ann.ok(&["logout"]);
            assert!(!ann.session_file().exists());
            assert_eq!(self.rest.status_of(&token, "/api/me"), 401);
            let out = ann.ivm(&["whoami"]);
            assert!(!out.status.success());
            assert!(texts(&out).1.contains("not logged in"), "{}", texts(&out).1);
        } else {
            let (_, said) = ann.ok(&["logout"]);
            assert!(said.contains("not logged in"), "{said}");
            for p in [ann, &self.bob] {
                assert!(!p.session_file().exists(), "{:?} saved a session", self.way);
            }
        }
    }

    /// Every command `ivm --help` and `ivm contacts --help` list was run in this walk.
    fn every_listed_command_ran(&self) {
        let mut listed: BTreeSet<String> = listed_commands(&[]).into_iter().collect();
        listed.extend(
            listed_commands(&["contacts"])
                .into_iter()
                .map(|c| format!("contacts {c}")),
        );
        let (by_ann, by_bob) = (self.ann.ran.borrow(), self.bob.ran.borrow());
        let ran: BTreeSet<&String> = by_ann.iter().chain(by_bob.iter()).collect();
        let missing: Vec<&String> = listed.iter().filter(|c| !ran.contains(c)).collect();
        assert!(missing.is_empty(), "{:?}: never ran {missing:?}", self.way);
    }

    /// The contacts' accounts were never touched: they log in, and the box logged no failed
    /// login for them. (ann's one wrong password in `passwd` is there: the log check does
    /// see failures.)
    fn contacts_accounts_untouched(&self) {
        assert_eq!(self.rest.login("bob", BOB_PW), 200);
        assert_eq!(self.rest.login("carol", CAROL_PW), 200);
        assert_eq!(failed_logins(&self.server, "bob"), Vec::<String>::new());
        assert_eq!(failed_logins(&self.server, "carol"), Vec::<String>::new());
        assert_eq!(
            failed_logins(&self.server, "ann").len(),
            1,
            "{:?}",
            log_lines(&self.server)
        );
    }
}
