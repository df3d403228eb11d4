//! End to end: the `ivm` client's traps for a new owner (issue 11, items 6, 7 and 8), each
//! against the real `ivmd` on its embedded defaults, with the box's answers checked through
//! curl (a client that shares no code with `ivm`):
//!
//! - a five-minute WAV is over the 25 MiB upload limit as PCM: `ivm send` encodes it to Ogg
//!   Opus first and it arrives, five minutes long, valid for opusinfo; the stored audio is
//!   byte for byte what the box makes of the same WAV, and an Ogg Opus file is stored as sent;
//! - too large or too long for the box: the error names the limit and the size;
//! - `send --to bob --attach menu.pdf hello.wav` (the recording after an attachment) works,
//!   like the other order;
//! - `http://` to the HTTPS port and `https://` to the HTTP port get a sentence saying which
//!   URL to use; an untrusted certificate names `--cacert` and `IVM_CACERT`;
//! - a missing password is asked for on a terminal (a pty: no echo, ctrl-C leaves the
//!   terminal as it was) and is a clear error without one;
//! - `ivm completions bash|zsh|fish` is accepted by each shell and completes the commands;
//! - a mistyped `IVM_LOG` is one warning, not silence.

mod harness;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{
    blob_count, ivm_bin, require_tool, run_bounded, speech, tempdir, texts, wav_seconds, Server,
};
use serde_json::Value;

const ANN_PW: &str = "ann-password-1";
const BOB_PW: &str = "bob-password-1";
/// The box's default `[limits] max_upload_bytes`.
const DEFAULT_MAX_UPLOAD: u64 = 26_214_400;
const WAIT: Duration = Duration::from_secs(30);

/// A box on its defaults with ann and bob.
fn box_with_ann_and_bob(dir: &Path) -> Server {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", ANN_PW);
    server.add_user("bob", "202", BOB_PW);
    server
}

/// `ivm` with `IVM_HOME` (made here) and none of the variables it reads from the test's
/// environment.
fn bare_ivm(home: &Path) -> Command {
    std::fs::create_dir_all(home).expect("home");
    harness::bare_ivm(home)
}

/// `ivm --server URL --user ann --password PW args...` (stdin: nothing), bounded.
fn ann(home: &Path, server: &str, args: &[&str]) -> Output {
    run_bounded(
        bare_ivm(home)
            .args(["--server", server, "--user", "ann", "--password", ANN_PW])
            .args(args),
        Duration::from_secs(120),
    )
}

/// Asserts success; returns stdout trimmed.
fn ok(out: &Output, what: &str) -> String {
    let (stdout, stderr) = texts(out);
    assert!(
        out.status.success(),
        "{what} failed ({}): {stderr}",
        out.status
    );
    stdout.trim().to_owned()
}

/// The box seen through curl.
struct Rest {
    base: String,
}

impl Rest {
    fn curl(&self, args: &[&str]) -> (u16, Vec<u8>) {
        self.try_curl(args)
            .unwrap_or_else(|e| panic!("curl {args:?}: {e}"))
    }

    /// Status and body; `Err` with curl's stderr when it got no answer.
    fn try_curl(&self, args: &[&str]) -> Result<(u16, Vec<u8>), String> {
        let out = run_bounded(
            Command::new("curl")
                .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
                .args(args),
            Duration::from_secs(120),
        );
        if !out.status.success() {
            return Err(texts(&out).1);
        }
        let body = out.stdout;
        let cut = body.iter().rposition(|&b| b == b'\n').expect("status line");
        let code = String::from_utf8_lossy(&body[cut + 1..])
            .trim()
            .parse()
            .expect("code");
        Ok((code, body[..cut].to_vec()))
    }

    fn login(&self, name: &str, password: &str) -> (u16, Value) {
        let body = serde_json::json!({"name": name, "password": password}).to_string();
        let url = format!("{}/api/login", self.base);
        let (code, text) = self.curl(&[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &body,
            &url,
        ]);
        (code, serde_json::from_slice(&text).unwrap_or(Value::Null))
    }

    fn token(&self, name: &str, password: &str) -> String {
        let (code, v) = self.login(name, password);
        assert_eq!(code, 200, "login {name}: {v}");
        v["token"].as_str().expect("token").to_owned()
    }

    fn get(&self, token: &str, path: &str) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        self.curl(&["-H", &format!("authorization: Bearer {token}"), &url])
    }

    fn json(&self, token: &str, path: &str) -> Value {
        let (code, body) = self.get(token, path);
        assert_eq!(code, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("json")
    }

    /// `POST /api/messages` as curl sends it: the audio as it is, no encoding on this side.
    fn upload(&self, token: &str, to: &str, audio: &Path, kind: &str) -> (u16, Value) {
        self.try_upload(token, to, audio, kind)
            .unwrap_or_else(|e| panic!("curl upload: {e}"))
    }

    /// [`Rest::upload`]; `Err` with curl's complaint when the request could not be sent.
    fn try_upload(
        &self,
        token: &str,
        to: &str,
        audio: &Path,
        kind: &str,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}/api/messages", self.base);
        let (code, body) = self.try_curl(&[
            "-H",
            &format!("authorization: Bearer {token}"),
            "-F",
            &format!("to={to}"),
            "-F",
            &format!("audio=@{};type={kind}", audio.display()),
            &url,
        ])?;
        Ok((code, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

/// What opusinfo says about a file: (is valid Ogg Opus, channels, playback seconds).
fn opusinfo(path: &Path) -> (bool, u32, f64) {
    let out = run_bounded(Command::new("opusinfo").arg(path), Duration::from_secs(60));
    let (stdout, stderr) = texts(&out);
    let text = format!("{stdout}{stderr}");
    let valid = out.status.success() && !text.contains("WARNING") && !text.contains("ERROR");
    let channels = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Channels: "))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    // "Playback length: 5m:00.77s"
    let length = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playback length: "))
        .map(|l| {
            let (m, s) = l
                .trim()
                .trim_end_matches('s')
                .split_once("m:")
                .expect("m:s");
            m.parse::<f64>().expect("minutes") * 60.0 + s.parse::<f64>().expect("seconds")
        })
        .unwrap_or(0.0);
    (valid, channels, length)
}

/// `seconds` (at least) of speech as a 48 kHz mono 16-bit WAV: what a recorder makes.
fn long_speech(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let one = speech(
        dir,
        &format!("{name}-one"),
        "Hello Bob, this is Ann with the long update on the office move, the new phones \
         and the schedule for next week.",
    );
    let once = wav_seconds(&one);
    let repeats = (seconds / once).ceil() as u32;
    let path = dir.join(format!("{name}.wav"));
    harness::sox(
        &one,
        &["-r", "48000", "-b", "16", "-c", "1"],
        &path,
        &["repeat", &repeats.to_string()],
    );
    path
}

#[test]
fn a_five_minute_wav_is_encoded_here_and_sent() {
    for tool in ["curl", "espeak-ng", "sox", "opusinfo"] {
        require_tool(tool);
    }
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let rest = Rest {
        base: server.http.clone(),
    };
    let wav = long_speech(dir.path(), "five-minutes", 300.0);
    let seconds = wav_seconds(&wav);
    assert!((300.0..320.0).contains(&seconds), "{seconds} s");
    let raw = std::fs::metadata(&wav).expect("wav").len();
    assert!(
        raw > DEFAULT_MAX_UPLOAD,
        "as PCM it is over the limit: {raw} bytes"
    );

    // Sent as it is (what `ivm` did before), the box refuses it by size: a 413, or the
    // connection closed under curl while it still sends (the box stops reading at the limit).
    let ann_tok = rest.token("ann", ANN_PW);
    match rest.try_upload(&ann_tok, "bob", &wav, "audio/wav") {
        Ok((code, body)) => assert_eq!(code, 413, "{body}"),
        Err(curl_says) => assert!(curl_says.contains("Send failure"), "{curl_says}"),
    }

    // `ivm send` encodes it first; the debug log shows it was done here.
    let home = dir.path().join("home-ann");
    let out = run_bounded(
        bare_ivm(&home)
            .env("IVM_LOG", "ivm_client=debug")
            .args([
                "--server",
                &server.http,
                "--user",
                "ann",
                "--password",
                ANN_PW,
            ])
            .args(["send", "--to", "bob"])
            .arg(&wav),
        Duration::from_secs(300),
    );
    let id = ok(&out, "ivm send of five minutes");
    let (_, log) = texts(&out);
    assert!(
        log.contains("recording ready") && log.contains("encoded_here=true"),
        "{log}"
    );

    // Bob's copy, fetched by curl: valid Ogg Opus, mono, five minutes, a fraction of the WAV.
    let bob_tok = rest.token("bob", BOB_PW);
    let info = rest.json(&bob_tok, &format!("/api/messages/{id}"));
    let ms = info["duration_ms"].as_u64().expect("duration_ms");
    assert!((295_000..=320_000).contains(&ms), "{info}");
    let (code, audio) = rest.get(&bob_tok, &format!("/api/messages/{id}/audio"));
    assert_eq!(code, 200);
    assert!(audio.len() * 10 < raw as usize, "{} bytes", audio.len());
    let stored = dir.path().join("stored.opus");
    std::fs::write(&stored, &audio).expect("write");
    let (valid, channels, length) = opusinfo(&stored);
    assert!(valid, "opusinfo refused the stored audio");
    assert_eq!(channels, 1);
    assert!((295.0..=320.0).contains(&length), "{length} s");
}

#[test]
fn the_box_stores_what_it_would_have_made_itself() {
    for tool in ["curl", "espeak-ng", "opusinfo", "opusenc"] {
        require_tool(tool);
    }
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let rest = Rest {
        base: server.http.clone(),
    };
    let (ann_tok, bob_tok) = (rest.token("ann", ANN_PW), rest.token("bob", BOB_PW));
    let home = dir.path().join("home-ann");
    let wav = speech(dir.path(), "hello", "Hello Bob, lunch at noon?");
    let audio_of = |id: &str| {
        let (code, bytes) = rest.get(&bob_tok, &format!("/api/messages/{id}/audio"));
        assert_eq!(code, 200);
        bytes
    };

    // The same WAV encoded by the box (curl uploads the WAV) and by `ivm`: the same bytes.
    let (code, by_box) = rest.upload(&ann_tok, "bob", &wav, "audio/wav");
    assert_eq!(code, 201, "{by_box}");
    let by_box = audio_of(by_box["id"].as_str().expect("id"));
    let by_ivm = ok(
        &ann(
            &home,
            &server.http,
            &["send", "--to", "bob", wav.to_str().expect("path")],
        ),
        "send wav",
    );
    let by_ivm = audio_of(&by_ivm);
    assert_eq!(by_ivm, by_box, "ivm's encoding differs from the box's");
    let stored = dir.path().join("by-ivm.opus");
    std::fs::write(&stored, &by_ivm).expect("write");
    let (valid, channels, length) = opusinfo(&stored);
    assert!(
        valid && channels == 1 && length > 1.0,
        "{valid} {channels} {length}"
    );

    // An Ogg Opus file (opusenc's) is sent as it is and stored as it is.
    let ogg = dir.path().join("hello.opus");
    harness::opusenc(&wav, &ogg);
    let id = ok(
        &ann(
            &home,
            &server.http,
            &["send", "--to", "bob", ogg.to_str().expect("path")],
        ),
        "send ogg",
    );
    assert_eq!(audio_of(&id), std::fs::read(&ogg).expect("ogg"));

    // Not audio: refused here, naming the file, nothing sent.
    let pdf = dir.path().join("menu.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% a menu\n").expect("write");
    let blobs = blob_count(&server.data);
    let out = ann(
        &home,
        &server.http,
        &["send", "--to", "bob", pdf.to_str().expect("path")],
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("menu.pdf: unsupported audio"), "{err}");
    assert_eq!(blob_count(&server.data), blobs, "nothing stored");
}

#[test]
fn the_recording_may_come_after_an_attachment() {
    for tool in ["curl", "espeak-ng"] {
        require_tool(tool);
    }
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let rest = Rest {
        base: server.http.clone(),
    };
    let bob_tok = rest.token("bob", BOB_PW);
    let home = dir.path().join("home-ann");
    let wav = speech(dir.path(), "hello", "Hello Bob, the menu is attached.");
    let (wav, pdf) = (
        wav.to_str().expect("path").to_owned(),
        dir.path().join("menu.pdf"),
    );
    std::fs::write(&pdf, b"%PDF-1.4\n% lunch menu\n").expect("write");
    let pdf = pdf.to_str().expect("path").to_owned();
    for args in [
        ["send", "--to", "bob", "--attach", &pdf, &wav],
        ["send", "--to", "bob", &wav, "--attach", &pdf],
    ] {
        let id = ok(&ann(&home, &server.http, &args), &format!("{args:?}"));
        let info = rest.json(&bob_tok, &format!("/api/messages/{id}"));
        let attachments = info["attachments"].as_array().expect("attachments");
        assert_eq!(attachments.len(), 1, "{args:?}: {info}");
        assert_eq!(attachments[0]["name"], "menu.pdf", "{info}");
        let (code, bytes) = rest.get(&bob_tok, &format!("/api/messages/{id}/attachments/0"));
        assert_eq!((code, bytes), (200, std::fs::read(&pdf).expect("pdf")));
    }
}

#[test]
fn over_the_box_limits_the_error_names_the_limit_and_the_size() {
    for tool in ["curl", "espeak-ng", "sox", "opusenc"] {
        require_tool(tool);
    }
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let rest = Rest {
        base: server.http.clone(),
    };
    let bob_tok = rest.token("bob", BOB_PW);
    let home = dir.path().join("home-ann");
    let wav = speech(dir.path(), "hello", "Hello Bob, see the scan.");

    // An attachment over the size limit: the limit's name and what was sent.
    let scan = dir.path().join("scan.bin");
    std::fs::write(&scan, vec![0x5a; DEFAULT_MAX_UPLOAD as usize + 1024 * 1024]).expect("write");
    let out = ann(
        &home,
        &server.http,
        &[
            "send",
            "--to",
            "bob",
            wav.to_str().expect("path"),
            "--attach",
            scan.to_str().expect("path"),
        ],
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("max_upload_bytes"), "names the limit: {err}");
    // The box's 413, or (when a reset overtakes it) the cut upload: both give the figures.
    assert!(
        err.contains("this message") && err.contains(" 26.") && err.contains("in 1 attachment"),
        "{err}"
    );

    // Longer than the box's `max_message_seconds` (600 s by default): the box's answer, with
    // the limit in it. An Ogg Opus file, so the test does not wait for an encoder.
    let long = long_speech(dir.path(), "eleven-minutes", 660.0);
    let ogg = dir.path().join("eleven-minutes.opus");
    harness::opusenc(&long, &ogg);
    let out = ann(
        &home,
        &server.http,
        &["send", "--to", "bob", ogg.to_str().expect("path")],
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too long") && err.contains("600 s"), "{err}");

    assert_eq!(blob_count(&server.data), 0, "nothing stored for either");
    let inbox = rest.json(&bob_tok, "/api/messages/inbox");
    assert_eq!(inbox.as_array().map(Vec::len), Some(0), "{inbox}");
}

#[test]
fn a_wrong_scheme_or_an_untrusted_certificate_says_what_to_do() {
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let home = dir.path().join("home-ann");
    let port = |url: &str| url.rsplit(':').next().expect("port").to_owned();
    let cert = server.data.join("tls").join("cert.pem");

    // http:// to the HTTPS port.
    let wrong = format!("http://127.0.0.1:{}", port(&server.https));
    let out = ann(&home, &wrong, &["whoami"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains(&format!(
            "the box answered in TLS on this port: use {}",
            server.https
        )),
        "{err}"
    );
    assert!(
        err.contains("--cacert") && !err.contains("invalid HTTP version"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // https:// to the HTTP port.
    let wrong = format!("https://127.0.0.1:{}", port(&server.http));
    let out = ann(&home, &wrong, &["whoami"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains(&format!(
            "the box answered plain HTTP on this port: use {}",
            server.http
        )),
        "{err}"
    );
    assert!(!err.contains("InvalidContentType"), "{err}");

    // Nothing answers: still the plain "cannot reach", no guess.
    let out = ann(&home, "http://127.0.0.1:9", &["whoami"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot reach") && !err.contains("answered"),
        "{err}"
    );

    // The right URL without --cacert: the box's certificate is its own; say how to trust it.
    let out = ann(&home, &server.https, &["whoami"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "UnknownIssuer",
        "self-signed",
        "--cacert",
        "tls/cert.pem",
        "IVM_CACERT",
    ] {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
    // Doing what it says works, by flag and by variable.
    let me = ok(
        &ann(
            &home,
            &server.https,
            &["--cacert", cert.to_str().expect("path"), "whoami"],
        ),
        "whoami with --cacert",
    );
    assert!(me.starts_with("ann ("), "{me}");
    let out = run_bounded(
        bare_ivm(&home).env("IVM_CACERT", &cert).args([
            "--server",
            &server.https,
            "-u",
            "ann",
            "-p",
            ANN_PW,
            "whoami",
        ]),
        Duration::from_secs(60),
    );
    ok(&out, "whoami with IVM_CACERT");

    // A login saved over HTTPS, then `watch` given another box's certificate (same subject,
    // another key: what an old copy looks like after a factory reset): the socket says the
    // certificate is not the one given, and to fetch the box's again. The same over REST.
    let saved = dir.path().join("home-saved");
    let out = run_bounded(
        bare_ivm(&saved)
            .args(["--server", &server.https, "-u", "ann", "-p", ANN_PW])
            .arg("--cacert")
            .arg(&cert)
            .arg("login"),
        Duration::from_secs(60),
    );
    ok(&out, "login over https");
    let other_dir = tempdir();
    let other = Server::start(other_dir.path(), "");
    let other_cert = other.data.join("tls").join("cert.pem");
    let out = run_bounded(
        bare_ivm(&saved)
            .arg("--cacert")
            .arg(&other_cert)
            .args(["watch", "--dir"])
            .arg(dir.path().join("messages")),
        Duration::from_secs(60),
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not signed by the one given with --cacert")
            && err.contains("tls/cert.pem again"),
        "{err}"
    );
    let out = ann(
        &home,
        &server.https,
        &["--cacert", other_cert.to_str().expect("path"), "whoami"],
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not signed by the one given with --cacert"),
        "{err}"
    );
}

#[test]
fn without_a_terminal_a_missing_password_is_a_clear_error() {
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let home = dir.path().join("home-ann");
    let run = |args: &[&str]| {
        run_bounded(
            bare_ivm(&home).args(["--server", &server.http]).args(args),
            Duration::from_secs(60),
        )
    };
    for args in [
        &["--user", "ann", "whoami"][..],
        &["--user", "ann", "login"],
    ] {
        let out = run(args);
        let (_, err) = texts(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("no password for \"ann\"") && err.contains("--password"),
            "{args:?}: {err}"
        );
        assert!(err.contains("terminal"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!home.join("session.json").exists(), "nothing saved");
    // No server at all: said first (on a terminal, before a password is typed for nothing).
    for args in [
        &["--user", "ann", "whoami"][..],
        &["--user", "ann", "login"],
    ] {
        let out = run_bounded(bare_ivm(&home).args(args), Duration::from_secs(60));
        let (_, err) = texts(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains("no server given"), "{args:?}: {err}");
    }

    // passwd: the current and the new password each named when missing; nothing changes.
    ok(
        &run(&["--user", "ann", "--password", ANN_PW, "login"]),
        "login",
    );
    let out = run(&["passwd", "--new", "ann-password-2"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("needs the current password"), "{err}");
    let out = run(&["--password", ANN_PW, "passwd"]);
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("needs the new password") && err.contains("--new"),
        "{err}"
    );
    let rest = Rest {
        base: server.http.clone(),
    };
    assert_eq!(rest.login("ann", ANN_PW).0, 200, "password unchanged");
}

/// `ivm` on a pseudo-terminal of its own (its controlling terminal, through `setsid -c`), as
/// a person at a shell would run it.
struct Pty {
    child: Child,
    keys: std::fs::File,
    slave: std::os::fd::OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Pty {
    fn spawn(cmd: &mut Command) -> Pty {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let stdio = || Stdio::from(pty.slave.try_clone().expect("dup slave"));
        let child = cmd
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("spawn on the pty");
        let master = std::fs::File::from(pty.master);
        let keys = master.try_clone().expect("dup master");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buf = [0u8; 4096];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            keys,
            slave: pty.slave,
            output: rx,
            seen: Vec::new(),
        }
    }

    /// Everything the terminal showed so far.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Waits (bounded) until the terminal shows `needle` (after what was seen before).
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        let from = self.seen.len();
        while !String::from_utf8_lossy(&self.seen[from..]).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(_) => panic!(
                    "the terminal never showed {needle:?}; it shows:\n{}",
                    self.screen()
                ),
            }
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.keys.write_all(keys).expect("type");
        self.keys.flush().expect("flush");
    }

    /// Waits (bounded) for the exit; returns the status, what the terminal showed and
    /// whether the terminal echoes again.
    fn finish(mut self) -> (ExitStatus, String, bool) {
        let status = harness::wait_bounded(&mut self.child, WAIT)
            .unwrap_or_else(|| panic!("ivm did not exit; the terminal shows:\n{}", self.screen()));
        // What was written before the exit is in the pty already.
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(300)) {
            self.seen.extend(bytes);
        }
        let mode = nix::sys::termios::tcgetattr(&self.slave).expect("tcgetattr");
        let echo = mode
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ECHO);
        let screen = self.screen();
        (status, screen, echo)
    }
}

#[test]
fn on_a_terminal_the_password_is_asked_for_without_echo() {
    require_tool("setsid");
    let dir = tempdir();
    let server = box_with_ann_and_bob(dir.path());
    let rest = Rest {
        base: server.http.clone(),
    };
    let on_tty = |home: &Path, args: &[&str]| {
        let mut c = Command::new("setsid");
        c.args(["-w", "-c", ivm_bin()]).args(args);
        harness::isolate_ivm(&mut c, home);
        std::fs::create_dir_all(home).expect("home");
        Pty::spawn(&mut c)
    };

    // login: asked once, not echoed, the session saved; the terminal echoes again after.
    let home = dir.path().join("home-ann");
    let mut t = on_tty(&home, &["--server", &server.http, "--user", "ann", "login"]);
    t.wait_for(&format!("Password for ann on {}: ", server.http));
    t.type_keys(format!("{ANN_PW}\r").as_bytes());
    let (status, screen, echo) = t.finish();
    assert!(status.success(), "{status}: {screen}");
    assert!(screen.contains("logged in as ann"), "{screen}");
    assert!(
        !screen.contains(ANN_PW),
        "the password was echoed: {screen}"
    );
    assert!(echo, "echo left off");
    assert!(home.join("session.json").is_file());

    // ctrl-C at the prompt: exit 130, nothing saved, the terminal as it was.
    let home = dir.path().join("home-interrupted");
    let mut t = on_tty(
        &home,
        &["--server", &server.http, "--user", "ann", "whoami"],
    );
    t.wait_for("Password for ann");
    t.type_keys(b"half-typed\x03");
    let (status, screen, echo) = t.finish();
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(!screen.contains("half-typed"), "{screen}");
    assert!(echo, "echo left off after ctrl-C");
    assert!(!home.join("session.json").exists());

    // passwd with nothing given: the login password once (kept for the current one), then
    // the new one twice; typed with a correction (erase) on the way.
    let home = dir.path().join("home-passwd");
    let mut t = on_tty(
        &home,
        &["--server", &server.http, "--user", "ann", "passwd"],
    );
    t.wait_for("Password for ann");
    t.type_keys(format!("{ANN_PW}\r").as_bytes());
    t.wait_for("New password for ann: ");
    t.type_keys(b"ann-new-passx\x7fword\r");
    t.wait_for("New password for ann (again): ");
    t.type_keys(b"ann-new-password\r");
    let (status, screen, echo) = t.finish();
    assert!(status.success(), "{status}: {screen}");
    assert!(screen.contains("password changed for ann"), "{screen}");
    assert!(
        !screen.contains("Current password"),
        "asked twice for it: {screen}"
    );
    assert!(!screen.contains("ann-new-pass"), "echoed: {screen}");
    assert!(echo);
    assert_eq!(rest.login("ann", "ann-new-password").0, 200);
    assert_eq!(rest.login("ann", ANN_PW).0, 401);

    // Two different entries: refused, nothing changed.
    let mut t = on_tty(
        &home,
        &["--server", &server.http, "--user", "ann", "passwd"],
    );
    t.wait_for("Password for ann");
    t.type_keys(b"ann-new-password\r");
    t.wait_for("New password for ann: ");
    t.type_keys(b"one-new-password\r");
    t.wait_for("(again): ");
    t.type_keys(b"another-password\r");
    let (status, screen, _) = t.finish();
    assert_eq!(status.code(), Some(1), "{screen}");
    assert!(screen.contains("the two entries differ"), "{screen}");
    assert_eq!(rest.login("ann", "ann-new-password").0, 200);
}

#[test]
fn completions_are_accepted_by_each_shell_and_complete_the_commands() {
    for tool in ["bash", "zsh", "fish"] {
        require_tool(tool);
    }
    let dir = tempdir();
    let script = |shell: &str| {
        let out = run_bounded(
            bare_ivm(&dir.path().join("home")).args(["completions", shell]),
            Duration::from_secs(30),
        );
        let text = ok(&out, &format!("completions {shell}"));
        let path = dir.path().join(format!("ivm.{shell}"));
        std::fs::write(&path, text).expect("write");
        path
    };
    let shell = |cmd: &mut Command| {
        let out = run_bounded(cmd, Duration::from_secs(30));
        ok(&out, &format!("{cmd:?}"))
    };

    // bash: the syntax, then a real completion of `ivm se<TAB>` and `ivm send --<TAB>`.
    let bash = script("bash");
    shell(Command::new("bash").arg("-n").arg(&bash));
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| {
        let code = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; _ivm ivm '{cur}' '{prev}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        );
        shell(Command::new("bash").args(["-c", &code]))
    };
    let got = complete("ivm se", 1, "se", "ivm");
    assert_eq!(got.lines().collect::<Vec<_>>(), ["send", "sent"], "{got}");
    let got = complete("ivm send --", 2, "--", "send");
    for flag in ["--to", "--attach", "--server", "--cacert"] {
        assert!(got.lines().any(|l| l == flag), "no {flag}: {got}");
    }
    let got = complete("ivm completions ''", 2, "", "completions");
    for sh in ["bash", "zsh", "fish"] {
        assert!(got.lines().any(|l| l == sh), "no {sh}: {got}");
    }

    // zsh: the syntax, and it defines the completion function.
    let zsh = script("zsh");
    shell(Command::new("zsh").arg("-n").arg(&zsh));
    let defined = shell(Command::new("zsh").args([
        "-fc",
        &format!(
            "autoload -U compinit; compinit -u; source '{}'; whence -w _ivm",
            zsh.display()
        ),
    ]));
    assert_eq!(defined, "_ivm: function");

    // fish: the syntax, and fish's own completer lists the commands.
    let fish = script("fish");
    shell(Command::new("fish").arg("--no-execute").arg(&fish));
    let got = shell(Command::new("fish").args([
        "--no-config",
        "-c",
        &format!("source '{}'; complete -C 'ivm se'", fish.display()),
    ]));
    let words: Vec<&str> = got.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(words, ["send", "sent"], "{got}");
}

#[test]
fn a_mistyped_ivm_log_is_one_warning_and_errors_still_show() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let out = run_bounded(
        bare_ivm(&home).env("IVM_LOG", "debgu").args([
            "--server",
            "http://127.0.0.1:9",
            "-u",
            "ann",
            "-p",
            ANN_PW,
            "whoami",
        ]),
        Duration::from_secs(60),
    );
    let (_, err) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("ivm: warning: IVM_LOG=\"debgu\" ignored: \"debgu\" is not a level"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("ivm: cannot reach the server"),
        "{err}"
    );
}
